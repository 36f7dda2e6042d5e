/*
 * file_tickets: the file backend's tickets/: loading every record (from
 * the snapshot where it still holds), reading a box, writing a record
 * (carrying its old boxes over), removing one, listing, the snapshot's
 * key and save, and removing dead writes' temporaries.
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
		int kind, err;

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
			err = ts_record_decode(buf, len, &kind, &t);
		if (err == 0 && (kind != TS_REC_TICKET || strcmp(t.id, id) != 0)) {
			ts_ticket_release(&t);
			err = -EBADMSG;
		}
		/* Well formed, but is it the daemon's own? */
		if (err == 0 && fs->reckey != NULL &&
		    (err = ts_record_verify_mac(buf, len, fs->reckey)) < 0)
			ts_ticket_release(&t);
		free(buf);
		rc = fn(arg, id, err == 0 ? &t : NULL, err);
	}
	ts_file_free_name_inos(names, n);
	ts_snapshot_free(snap, nsnap);
	return rc;
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
	    (rc = ts_seal_derive(key, TS_RECORD_MAC_PURPOSE,
	                         k + TS_SNAPSHOT_KEYBYTES,
	                         TS_RECORD_MACKEYBYTES)) < 0) {
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

int
ts_file_read_box(struct ts_store *st, const char *id, const struct ts_box *box,
                 uint8_t *buf)
{
	struct file_store *fs = fs_of(st);
	ssize_t n;
	int fd;

	if ((fd = ts_sysio_openat(fs->ticketsfd, id, O_RDONLY, 0)) < 0)
		return fd;
	n = ts_sysio_pread(fd, buf, box->len, box->off);
	close(fd);
	if (n < 0)
		return (int)n;
	return (size_t)n == box->len ? 0 : -EIO;
}

/* Points box at the merged blob: old record first, then extra. */
static void
remap(struct ts_box *box, size_t oldlen)
{
	if (box->len != 0 && (box->off & TS_BOX_NEW))
		box->off = (uint32_t)(oldlen + (box->off & ~TS_BOX_NEW));
}

/* Largest end of a TS_BOX_NEW box; whether any box is old. */
static size_t
extra_extent(const struct ts_ticket *t, int *needs_old)
{
	size_t end = 0;

#define SEE(b) do { \
		if ((b).len == 0) \
			break; \
		if ((b).off & TS_BOX_NEW) { \
			size_t e = ((b).off & ~TS_BOX_NEW) + (size_t)(b).len; \
			end = e > end ? e : end; \
		} else { \
			*needs_old = 1; \
		} \
	} while (0)
	*needs_old = 0;
	for (int f = 0; f < TS_F_COUNT; f++)
		SEE(t->field[f]);
	for (size_t i = 0; i < t->nmsg; i++)
		SEE(t->msg[i].box);
	for (size_t i = 0; i < t->nauth; i++)
		for (int f = 0; f < TS_A_COUNT; f++)
			SEE(t->auth[i].box[f]);
#undef SEE
	return end;
}

/* 1 if box b is new, absent, or exactly cur: where the stored record has
 * the same item's box (cur NULL: the record has no such item). */
static int
carried(const struct ts_box *b, const struct ts_box *cur)
{
	return b->len == 0 || (b->off & TS_BOX_NEW) ||
	       (cur != NULL && b->off == cur->off && b->len == cur->len);
}

/*
 * 1 if every box t carries over from the stored record cur is that item's
 * box there.  Offsets from an older version of the record (a write that
 * failed after its rename, a record replaced behind the daemon's back)
 * would otherwise copy the wrong bytes, or bytes past the end, into the
 * new record.
 */
static int
carried_all(const struct ts_ticket *t, const struct ts_ticket *cur)
{
	for (int f = 0; f < TS_F_COUNT; f++)
		if (!carried(&t->field[f], &cur->field[f]))
			return 0;
	/* Messages keep their order across rewrites: look ahead from the
	 * last match first, so 65,535 messages cost a pass, not n^2. */
	for (size_t i = 0, j = 0; i < t->nmsg; i++) {
		const struct ts_message *m = NULL;

		for (size_t k = j; k < cur->nmsg && m == NULL; k++)
			if (strcmp(cur->msg[k].name, t->msg[i].name) == 0) {
				m = &cur->msg[k];
				j = k + 1;
			}
		if (m == NULL)
			m = ts_ticket_find_msg(cur, t->msg[i].name);
		if (!carried(&t->msg[i].box, m ? &m->box : NULL))
			return 0;
	}
	for (size_t i = 0; i < t->nauth; i++) {
		const struct ts_auth *a = ts_ticket_find_auth(cur,
		                                              t->auth[i].name);

		for (int f = 0; f < TS_A_COUNT; f++)
			if (!carried(&t->auth[i].box[f], a ? &a->box[f] : NULL))
				return 0;
	}
	return 1;
}

int
ts_file_write(struct ts_store *st, struct ts_ticket *t, const uint8_t *extra)
{
	struct file_store *fs = fs_of(st);
	struct ts_ticket tmp, fresh;
	uint8_t *old = NULL, *blob = NULL, *rec = NULL;
	size_t oldlen = 0, extlen, reclen;
	int needs_old, kind, rc;

	if (!ts_id_valid(t->id))
		return -EINVAL;
	extlen = extra_extent(t, &needs_old);
	if (needs_old) {
		struct ts_ticket check;

		rc = ts_sysio_read_file(fs->ticketsfd, t->id, TS_RECORD_MAX,
		                        &old, &oldlen);
		if (rc < 0)
			return rc;
		/* Never carry boxes over from a record that fails its check,
		 * nor from one the daemon did not write. */
		if ((rc = ts_record_decode(old, oldlen, &kind, &check)) < 0)
			goto out;
		if (fs->reckey != NULL &&
		    (rc = ts_record_verify_mac(old, oldlen, fs->reckey)) < 0) {
			ts_ticket_release(&check);
			goto out;
		}
		rc = carried_all(t, &check) ? 0 : -ESTALE;
		ts_ticket_release(&check);
		if (rc < 0)
			goto out;
	}
	rc = -ENOMEM;
	if ((blob = malloc(oldlen + extlen + 1)) == NULL)
		goto out;
	if (oldlen)
		memcpy(blob, old, oldlen);
	if (extlen)
		memcpy(blob + oldlen, extra, extlen);
	if ((rc = ts_ticket_copy(&tmp, t)) < 0)
		goto out;
	for (int f = 0; f < TS_F_COUNT; f++)
		remap(&tmp.field[f], oldlen);
	for (size_t i = 0; i < tmp.nmsg; i++)
		remap(&tmp.msg[i].box, oldlen);
	for (size_t i = 0; i < tmp.nauth; i++)
		for (int f = 0; f < TS_A_COUNT; f++)
			remap(&tmp.auth[i].box[f], oldlen);
	rc = ts_record_encode(TS_REC_TICKET, &tmp, blob, fs->reckey, &rec,
	                      &reclen);
	ts_ticket_release(&tmp);
	if (rc < 0)
		goto out;
	if ((rc = ts_record_decode(rec, reclen, &kind, &fresh)) < 0)
		goto out;	/* t did not make a valid ticket */
	if (fresh.nmsg != t->nmsg || fresh.nauth != t->nauth) {
		rc = -EINVAL;
		goto out_fresh;
	}
	rc = ts_sysio_write_atomic(fs->ticketsfd, t->id, rec, reclen, 0600, 0);
	if (rc < 0)
		goto out_fresh;
	for (int f = 0; f < TS_F_COUNT; f++)
		t->field[f] = fresh.field[f];
	for (size_t i = 0; i < t->nmsg; i++)
		t->msg[i].box = fresh.msg[i].box;
	for (size_t i = 0; i < t->nauth; i++)
		memcpy(t->auth[i].box, fresh.auth[i].box,
		       sizeof(t->auth[i].box));
out_fresh:
	ts_ticket_release(&fresh);
out:
	free(rec);
	free(blob);
	free(old);
	return rc;
}

int
ts_file_remove(struct ts_store *st, const char *id)
{
	if (!ts_id_valid(id))
		return -ENOENT;
	return ts_sysio_remove_durable(fs_of(st)->ticketsfd, id);
}
