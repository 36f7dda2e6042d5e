/*
 * file_tickets: the file backend's tickets/: loading every record (from
 * the snapshot where it still holds) or one, reading boxes, writing a
 * record (built by record_write.c, carrying its old boxes over), removing
 * one, listing, the snapshot's key and save, and removing dead writes'
 * temporaries.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "store/record.h"
#include "store/record_write.h"
#include "store/snapshot.h"
#include "store/store_file_priv.h"
#include "store/sysio.h"

#define SNAPSHOT_FILE "index.snap"
#define SNAPSHOT_MAX (1ul << 30)

int
ts_file_read_record(struct ts_store *st, const char *id, uint8_t **buf,
                    size_t *len)
{
	struct file_store *fs = fs_of(st);

	if (fs->ticketsfd < 0)
		return -EACCES;
	if (!ts_id_valid(id))
		return -ENOENT;
	return ts_sysio_read_file(fs->ticketsfd, id, TS_RECORD_MAX, buf, len);
}

int
ts_file_list(struct ts_store *st, int (*fn)(void *arg, const char *id),
             void *arg)
{
	struct file_store *fs = fs_of(st);
	char **names;
	size_t n;
	int rc;

	if (fs->ticketsfd < 0)
		return -EACCES;
	if ((rc = ts_file_list_dir(fs->ticketsfd, &names, &n)) < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = fn(arg, names[i]);
	ts_file_free_names(names, n);
	return rc;
}

/* Removes leftovers of writes that a crash interrupted: never acknowledged. */
static void
remove_stale_tmp(int dirfd, time_t min_age)
{
	int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	time_t now = time(NULL);
	DIR *d;
	struct dirent *de;

	if (dfd < 0 || (d = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat sb;

		if (strncmp(de->d_name, ".tmp-", 5) != 0)
			continue;
		if (min_age > 0 && (fstatat(dirfd, de->d_name, &sb,
		                            AT_SYMLINK_NOFOLLOW) < 0 ||
		                    now - sb.st_mtime < min_age))
			continue;
		unlinkat(dirfd, de->d_name, 0);
	}
	closedir(d);
}

/* The tickets directory's stamp: what the snapshot is checked against. */
static int
tickets_stamp(struct file_store *fs, struct ts_snapshot_stamp *stamp)
{
	struct stat sb;

	if (fstat(fs->ticketsfd, &sb) < 0)
		return -errno;
	stamp->dir_ino = sb.st_ino;
	stamp->mtime_sec = sb.st_mtim.tv_sec;
	stamp->mtime_nsec = (uint32_t)sb.st_mtim.tv_nsec;
	return 0;
}

/*
 * Reads the snapshot if there is a key, it is authentic and the tickets
 * directory has not changed since it was taken; else *v = NULL, *n = 0
 * and every record is read from its file.  fs->snapinfo says which, and
 * why.
 */
static void
snapshot_read(struct file_store *fs, struct ts_snapshot_entry **v, size_t *n)
{
	struct ts_store_snapinfo *si = &fs->snapinfo;
	struct ts_snapshot_stamp want = { 0 }, got = { 0 };
	unsigned char *buf;
	size_t len;
	int rc;

	*v = NULL;
	*n = 0;
	memset(si, 0, sizeof(*si));
	if (fs->snapkey == NULL) {
		snprintf(si->why, sizeof(si->why), "no key");
		return;
	}
	if ((rc = tickets_stamp(fs, &want)) < 0 ||
	    (rc = ts_sysio_read_file(fs->dirfd, SNAPSHOT_FILE, SNAPSHOT_MAX,
	                             &buf, &len)) < 0) {
		if (rc == -ENOENT)
			snprintf(si->why, sizeof(si->why), "no snapshot");
		else
			snprintf(si->why, sizeof(si->why), "unreadable: %s",
			         strerror(-rc));
		return;
	}
	rc = ts_snapshot_decode(fs->snapkey, buf, len, &got, v, n);
	free(buf);
	if (rc < 0) {
		if (rc == -EBADMSG)
			snprintf(si->why, sizeof(si->why), "not authentic "
			         "(damaged, truncated or made with another key)");
		else
			snprintf(si->why, sizeof(si->why), "unreadable: %s",
			         strerror(-rc));
		return;
	}
	if (got.dir_ino != want.dir_ino || got.mtime_sec != want.mtime_sec ||
	    got.mtime_nsec != want.mtime_nsec) {
		ts_snapshot_free(*v, *n);
		*v = NULL;
		*n = 0;
		snprintf(si->why, sizeof(si->why), "tickets/ changed since it "
		         "was taken");
		return;
	}
	si->used = 1;
	si->entries = *n;
}

static int
cmp_snap_id(const void *key, const void *elem)
{
	return strcmp(key, ((const struct ts_snapshot_entry *)elem)->t.id);
}

/*
 * Each ticket comes from the snapshot when its entry names the record
 * file's current inode, else from the file itself.
 */
int
ts_file_load(struct ts_store *st, ts_store_ticket_fn fn, void *arg)
{
	struct file_store *fs = fs_of(st);
	struct ts_snapshot_entry *snap;
	struct name_ino *names;
	size_t n, nsnap;
	int rc;

	snapshot_read(fs, &snap, &nsnap);
	remove_stale_tmp(fs->ticketsfd, 0);	/* the daemon's own, if it died */
	if ((rc = ts_file_list_dir_ino(fs->ticketsfd, &names, &n)) < 0) {
		ts_snapshot_free(snap, nsnap);
		return rc;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		const char *id = names[i].name;
		struct ts_snapshot_entry *se = NULL;
		struct ts_ticket t;
		uint8_t *buf = NULL;
		size_t len;
		int err;

		if (!ts_id_valid(id))
			continue;	/* not ours: leave it alone */
		if (nsnap > 0)
			se = bsearch(id, snap, nsnap, sizeof(*snap), cmp_snap_id);
		if (se != NULL && se->ino == names[i].ino) {
			t = se->t;
			memset(&se->t, 0, sizeof(se->t));	/* fn owns it now */
			fs->snapinfo.taken++;
			rc = fn(arg, id, &t, 0);
			continue;
		}
		fs->snapinfo.read++;
		err = ts_sysio_read_file(fs->ticketsfd, id, TS_RECORD_MAX,
		                         &buf, &len);
		if (err == 0)
			err = ts_record_decode_ticket(buf, len, id, fs->reckey,
			                              &t);
		free(buf);
		rc = fn(arg, id, err == 0 ? &t : NULL, err);
	}
	ts_file_free_name_inos(names, n);
	ts_snapshot_free(snap, nsnap);
	return rc;
}

int
ts_file_load_one(struct ts_store *st, const char *id, struct ts_ticket **out)
{
	struct file_store *fs = fs_of(st);
	struct ts_ticket *t;
	uint8_t *buf;
	size_t len;
	int rc;

	if (fs->ticketsfd < 0)
		return -EACCES;
	if (!ts_id_valid(id))
		return -ENOENT;
	if ((rc = ts_sysio_read_file(fs->ticketsfd, id, TS_RECORD_MAX, &buf,
	                             &len)) < 0)
		return rc;
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		free(buf);
		return -ENOMEM;
	}
	rc = ts_record_decode_ticket(buf, len, id, fs->reckey, t);
	free(buf);
	if (rc < 0) {
		free(t);
		return rc;
	}
	*out = t;
	return 0;
}

int
ts_file_set_key(struct ts_store *st, const struct ts_seckey *key)
{
	struct file_store *fs = fs_of(st);
	unsigned char *k = fs->snapkey;
	int rc;

	if (k == NULL && (k = sodium_malloc(TS_SNAPSHOT_KEYBYTES +
	                                    TS_RECORD_MACKEYBYTES)) == NULL)
		return -ENOMEM;
	if ((rc = ts_seal_derive(key, "index-snapshot", k,
	                         TS_SNAPSHOT_KEYBYTES)) < 0 ||
	    (rc = ts_record_mackey(key, k + TS_SNAPSHOT_KEYBYTES)) < 0) {
		sodium_free(k);
		fs->snapkey = fs->reckey = NULL;
		return rc;
	}
	fs->snapkey = k;
	fs->reckey = k + TS_SNAPSHOT_KEYBYTES;
	return 0;
}

int
ts_file_snapshot_save(struct ts_store *st, const struct ts_ticket *const *t,
                      size_t n)
{
	struct file_store *fs = fs_of(st);
	const struct ts_ticket **keep = NULL;
	struct ts_snapshot_stamp stamp;
	struct name_ino *names = NULL;
	uint64_t *inos = NULL;
	size_t nnames = 0, nkeep = 0, len;
	uint8_t *buf;
	int rc;

	if (fs->snapkey == NULL)
		return -ENOKEY;
	if ((rc = ts_file_list_dir_ino(fs->ticketsfd, &names, &nnames)) < 0 ||
	    (rc = tickets_stamp(fs, &stamp)) < 0)
		goto out;
	keep = malloc((n ? n : 1) * sizeof(*keep));
	inos = malloc((n ? n : 1) * sizeof(*inos));
	if (keep == NULL || inos == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	/* A ticket without a record file is left out: it loads from disk. */
	for (size_t i = 0; i < n; i++) {
		struct name_ino k = { (char *)t[i]->id, 0 }, *hit;

		hit = bsearch(&k, names, nnames, sizeof(*names),
		              ts_file_cmp_name_ino);
		if (hit != NULL) {
			keep[nkeep] = t[i];
			inos[nkeep++] = hit->ino;
		}
	}
	rc = ts_snapshot_encode(fs->snapkey, &stamp, keep, inos, nkeep, &buf,
	                        &len);
	if (rc == 0) {
		rc = ts_sysio_write_atomic(fs->dirfd, SNAPSHOT_FILE, buf, len,
		                           0600, 0);
		free(buf);
	}
out:
	free(keep);
	free(inos);
	ts_file_free_name_inos(names, nnames);
	return rc;
}

void
ts_file_snapshot_info(struct ts_store *st, struct ts_store_snapinfo *out)
{
	*out = fs_of(st)->snapinfo;
}

/*
 * One open of ticket id's record (O_NOFOLLOW, O_NONBLOCK: a FIFO planted
 * there is not waited on; only a regular file is read), then a pread a
 * box.  The key files are in keys/: never read here (*key stays NULL).
 */
int
ts_file_read_boxes(struct ts_store *st, const char *id,
                   const struct ts_box *boxes, size_t n, uint8_t *const *bufs,
                   uint8_t **key, size_t *keylen)
{
	struct file_store *fs = fs_of(st);
	struct stat sb;
	ssize_t got;
	int fd, rc = 0;

	(void)keylen;
	if (key != NULL)
		*key = NULL;
	if (fs->ticketsfd < 0)
		return -EACCES;
	if (!ts_id_valid(id))
		return -ENOENT;
	fd = ts_sysio_openat(fs->ticketsfd, id,
	                     O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	if (fd < 0)
		return fd == -ELOOP ? -EIO : fd;	/* a symlink: no record */
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		rc = -EIO;
		goto out;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		if ((uint64_t)boxes[i].off + boxes[i].len >
		    (uint64_t)sb.st_size) {
			rc = -EIO;	/* past the end: as a short read */
			break;
		}
		got = ts_sysio_pread(fd, bufs[i], boxes[i].len, boxes[i].off);
		if (got < 0)
			rc = (int)got;
		else if ((size_t)got != boxes[i].len)
			rc = -EIO;
	}
out:
	close(fd);
	return rc;
}

int
ts_file_read_box(struct ts_store *st, const char *id, const struct ts_box *box,
                 uint8_t *buf)
{
	return ts_file_read_boxes(st, id, box, 1, &buf, NULL, NULL);
}

int
ts_file_write(struct ts_store *st, struct ts_ticket *t, const uint8_t *extra)
{
	struct file_store *fs = fs_of(st);
	struct ts_record_built b;
	uint8_t *old = NULL;
	size_t oldlen = 0;
	int rc;

	if (!ts_id_valid(t->id))
		return -EINVAL;
	if (ts_record_needs_old(t) &&
	    (rc = ts_sysio_read_file(fs->ticketsfd, t->id, TS_RECORD_MAX,
	                             &old, &oldlen)) < 0)
		return rc;
	rc = ts_record_build(t, extra, old, oldlen, fs->reckey, &b);
	free(old);
	if (rc < 0)
		return rc;
	rc = ts_sysio_write_atomic(fs->ticketsfd, t->id, b.rec, b.len, 0600, 0);
	if (rc == 0)
		ts_record_built_apply(&b, t);
	ts_record_built_release(&b);
	return rc;
}

int
ts_file_remove(struct ts_store *st, const char *id)
{
	if (!ts_id_valid(id))
		return -ENOENT;
	return ts_sysio_remove_durable(fs_of(st)->ticketsfd, id);
}
