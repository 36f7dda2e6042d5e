/*
 * store_file: the file backend.  One record file a ticket under tickets/,
 * replaced whole by write-then-rename; intake records dropped by ticketctl
 * under intake/.  Every file is opened relative to a directory fd held
 * from open, with O_NOFOLLOW (through sysio).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "store/audit.h"
#include "store/record.h"
#include "store/snapshot.h"
#include "store/store_backend.h"
#include "store/sysio.h"

struct file_store {
	struct ts_store base;	/* ops; must stay first */
	int dirfd;		/* STORE */
	int ticketsfd;		/* STORE/tickets; -1 if not reachable */
	int intakefd;		/* STORE/intake */
	int rejectedfd;		/* STORE/intake/rejected; -1 in intake mode */
	int trashfd;		/* STORE/.trash: what hostile intake left,
				   deleted a bounded amount a round; -1 in
				   intake mode */
	uint64_t trash_seq;	/* names the next entry moved to .trash */
	int trash_busy;		/* .trash may hold something */
	int lockfd;		/* STORE/lock, flock()ed; -1 if not locked;
				   never closed (held to the process's exit) */
	struct timespec intake_mtime;	/* intake/ mtime at the last poll */
	int intake_polled;	/* intake_mtime is valid */
	time_t tmp_swept;	/* when intake/ was last rid of dead submits'
				   temporaries */
	char **pass;		/* the intake names of the pass under way,
				   sorted; NULL between passes */
	size_t npass, ipass;	/* names in pass; the next one to handle */
	int rejected_capped;	/* rejected/ was brought within its cap */
	unsigned char *snapkey;	/* the snapshot's MAC key and */
	unsigned char *reckey;	/* the records' MAC key, both derived from
				   the secret key, in one sodium_malloc'd
				   block; NULL: no key given (ticketctl) */
	struct ts_store_snapinfo snapinfo;	/* of the last load */
};

static const char KIND_LETTER[] = { 0, 't', 'm', 'a', 'r' };

#define PUBKEY_FILE "public.key"
#define SNAPSHOT_FILE "index.snap"
#define TRASH_DIR ".trash"
#define TRASH_ROUND 1000	/* entries deleted from .trash a round */
#define DOTFILE_AGE 3600	/* a regular dotfile in intake/ lives this long */
#define LOCK_FILE "lock"
#define SNAPSHOT_MAX (1ul << 30)
#define WHITELIST_TEXT \
	"# ticketfs whitelist: one entry a line, then its role\n" \
	"# (reader, agent or auditor).  Entries: a numeric uid, a user name,\n" \
	"# or @group for every member of a group.  '#' starts a comment.\n" \
	"#   1001        agent\n" \
	"#   jdoe        reader\n" \
	"#   @support    agent\n" \
	"#   auditbot    auditor\n"

static const struct ts_store_ops file_ops;

static struct file_store *
fs_of(struct ts_store *st)
{
	return (struct file_store *)st;
}

static int
opendir_at(int dirfd, const char *name)
{
	return ts_sysio_openat(dirfd, name, O_RDONLY | O_DIRECTORY, 0);
}

static void
ts_file_free_names(char **v, size_t n)
{
	while (n > 0)
		free(v[--n]);
	free(v);
}

struct name_ino {
	char *name;
	uint64_t ino;
};

static int
ts_file_cmp_name_ino(const void *a, const void *b)
{
	return strcmp(((const struct name_ino *)a)->name,
	              ((const struct name_ino *)b)->name);
}

/*
 * The names in directory fd and their inode numbers, sorted, without
 * "rejected" and (unless dots) dotfiles.  Free with ts_file_free_name_inos().
 */
static int
list_dir_dots(int fd, int dots, struct name_ino **out, size_t *n)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct name_ino *v = NULL;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	if (dfd < 0)
		return -errno;
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return -errno;
	}
	while ((de = readdir(d)) != NULL) {
		if ((de->d_name[0] == '.' && (!dots || strcmp(de->d_name, ".") == 0 ||
		                              strcmp(de->d_name, "..") == 0)) ||
		    strcmp(de->d_name, "rejected") == 0)
			continue;
		if (cnt == cap) {
			struct name_ino *nv = realloc(v, (cap = cap ? 2 * cap : 64) *
			                                 sizeof(*v));
			if (nv == NULL)
				goto out_nomem;
			v = nv;
		}
		if ((v[cnt].name = strdup(de->d_name)) == NULL)
			goto out_nomem;
		v[cnt++].ino = de->d_ino;
	}
	closedir(d);
	if (cnt > 1)
		qsort(v, cnt, sizeof(*v), ts_file_cmp_name_ino);
	*out = v;
	*n = cnt;
	return 0;
out_nomem:
	closedir(d);
	while (cnt > 0)
		free(v[--cnt].name);
	free(v);
	return -ENOMEM;
}

static int
ts_file_list_dir_ino(int fd, struct name_ino **out, size_t *n)
{
	return list_dir_dots(fd, 0, out, n);
}

static void
ts_file_free_name_inos(struct name_ino *v, size_t n)
{
	while (n > 0)
		free(v[--n].name);
	free(v);
}

/* The sorted names in directory fd, without "rejected" and (unless dots)
 * dotfiles. */
static int
ts_file_list_dir_of(int fd, int dots, char ***names, size_t *n)
{
	struct name_ino *v;
	char **out;
	int rc;

	if ((rc = list_dir_dots(fd, dots, &v, n)) < 0)
		return rc;
	if ((out = malloc((*n ? *n : 1) * sizeof(*out))) == NULL) {
		ts_file_free_name_inos(v, *n);
		return -ENOMEM;
	}
	for (size_t i = 0; i < *n; i++)
		out[i] = v[i].name;	/* the strings move over */
	free(v);
	*names = out;
	return 0;
}

static int
ts_file_list_dir(int fd, char ***names, size_t *n)
{
	return ts_file_list_dir_of(fd, 0, names, n);
}

int
ts_store_file_create(const char *path, const unsigned char pk[TS_SEAL_PKBYTES],
                     const char *policy_text)
{
	char *pktext = NULL;
	int dirfd, fd, rc, made = 0;
	struct stat st;

	if (mkdir(path, 0700) == 0) {
		made = 1;
	} else if (errno != EEXIST) {
		return -errno;
	}
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return -errno;
	if (!made) {
		/* An existing directory must be empty: never clobber a store. */
		char **names;
		size_t n;

		if ((rc = ts_file_list_dir(dirfd, &names, &n)) < 0)
			goto out_close;
		ts_file_free_names(names, n);
		rc = -EEXIST;
		if (n > 0 || faccessat(dirfd, "rejected", F_OK, 0) == 0)
			goto out_close;
	}
	if (fstat(dirfd, &st) < 0 || fchmod(dirfd, 0700) < 0) {
		rc = -errno;
		goto out_close;
	}
	if ((rc = ts_seal_pubkey_encode(pk, &pktext)) < 0)
		goto out_clean;
	if ((rc = ts_sysio_write_atomic(dirfd, PUBKEY_FILE, pktext,
	                                strlen(pktext), 0644, 1)) < 0 ||
	    (rc = ts_sysio_write_atomic(dirfd, "whitelist", WHITELIST_TEXT,
	                                strlen(WHITELIST_TEXT), 0600, 1)) < 0 ||
	    (rc = ts_sysio_write_atomic(dirfd, "policy", policy_text,
	                                strlen(policy_text), 0600, 1)) < 0 ||
	    (rc = ts_sysio_mkdirat(dirfd, "tickets", 0700)) < 0 ||
	    (rc = ts_sysio_mkdirat(dirfd, "intake", 0700)) < 0)
		goto out_clean;
	if ((fd = opendir_at(dirfd, "intake")) < 0) {
		rc = fd;
		goto out_clean;
	}
	rc = ts_sysio_mkdirat(fd, "rejected", 0700);
	if (rc == 0)
		rc = ts_sysio_fsync(fd);
	close(fd);
	if (rc == 0)
		rc = ts_sysio_fsync(dirfd);
	if (rc == 0)
		goto out_close;
out_clean:
	/* Undo exactly what this call made. */
	fd = openat(dirfd, "intake", O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	if (fd >= 0) {
		unlinkat(fd, "rejected", AT_REMOVEDIR);
		close(fd);
	}
	unlinkat(dirfd, "intake", AT_REMOVEDIR);
	unlinkat(dirfd, "tickets", AT_REMOVEDIR);
	unlinkat(dirfd, "policy", 0);
	unlinkat(dirfd, "whitelist", 0);
	unlinkat(dirfd, PUBKEY_FILE, 0);
	if (made)
		rmdir(path);
out_close:
	free(pktext);
	close(dirfd);
	return rc;
}

int
ts_store_file_open(const char *path, enum ts_store_mode mode,
                   struct ts_store **out)
{
	struct file_store *fs = calloc(1, sizeof(*fs));
	int rc;

	if (fs == NULL)
		return -ENOMEM;
	fs->base.ops = &file_ops;
	fs->ticketsfd = fs->intakefd = fs->rejectedfd = fs->trashfd =
	    fs->lockfd = -1;
	fs->dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fs->dirfd < 0) {
		rc = -errno;
		goto out_free;
	}
	if ((fs->intakefd = opendir_at(fs->dirfd, "intake")) < 0) {
		rc = fs->intakefd;
		goto out_close;
	}
	fs->ticketsfd = opendir_at(fs->dirfd, "tickets");
	if (mode == TS_STORE_DAEMON) {
		if (fs->ticketsfd < 0) {
			rc = fs->ticketsfd;
			goto out_close;
		}
		fs->rejectedfd = opendir_at(fs->intakefd, "rejected");
		if (fs->rejectedfd == -ENOENT &&
		    ts_sysio_mkdirat(fs->intakefd, "rejected", 0700) == 0)
			fs->rejectedfd = opendir_at(fs->intakefd, "rejected");
		if (fs->rejectedfd < 0) {
			rc = fs->rejectedfd;
			goto out_close;
		}
		fs->trashfd = opendir_at(fs->dirfd, TRASH_DIR);
		if (fs->trashfd == -ENOENT &&
		    ts_sysio_mkdirat(fs->dirfd, TRASH_DIR, 0700) == 0)
			fs->trashfd = opendir_at(fs->dirfd, TRASH_DIR);
		if (fs->trashfd < 0)	/* a read-only store: none, nothing */
			fs->trashfd = -1;	/* goes there
						   (ts_file_to_trash) */
		fs->trash_busy = 1;	/* a previous run may have left some */
		fs->trash_seq = (uint64_t)time(NULL) << 24;
	}
	*out = &fs->base;
	return 0;
out_close:
	file_ops.close(&fs->base);
	return rc;
out_free:
	sodium_free(fs->snapkey);
	free(fs);
	return rc;
}

static void
file_close(struct ts_store *st)
{
	struct file_store *fs = fs_of(st);

	if (fs->rejectedfd >= 0)
		close(fs->rejectedfd);
	if (fs->trashfd >= 0)
		close(fs->trashfd);
	if (fs->intakefd >= 0)
		close(fs->intakefd);
	if (fs->ticketsfd >= 0)
		close(fs->ticketsfd);
	if (fs->dirfd >= 0)
		close(fs->dirfd);
	/* fs->lockfd stays open: the lock is the process's until it exits,
	 * after every write and every other teardown of the daemon. */
	if (fs->pass != NULL)
		ts_file_free_names(fs->pass, fs->npass);
	free(fs);
}

/* The lock file must be a regular file (not a FIFO planted there). */
static int
regular(int fd)
{
	struct stat sb;

	return fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode);
}

static int
file_lock(struct ts_store *st)
{
	struct file_store *fs = fs_of(st);
	int fd;

	if (fs->lockfd >= 0)
		return 0;
	fd = ts_sysio_openat(fs->dirfd, LOCK_FILE,
	                     O_RDONLY | O_CREAT | O_NONBLOCK, 0600);
	if (fd < 0)
		return fd;
	if (!regular(fd)) {
		close(fd);
		return -EINVAL;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int rc = errno == EWOULDBLOCK ? -EBUSY : -errno;

		close(fd);
		return rc;
	}
	fs->lockfd = fd;
	return 0;
}

static int
file_wait_released(struct ts_store *st, long timeout_ms)
{
	struct file_store *fs = fs_of(st);
	struct timespec tick = { 0, 20 * 1000000L };
	long waited = 0;
	int fd, rc;

	fd = ts_sysio_openat(fs->dirfd, LOCK_FILE, O_RDONLY | O_NONBLOCK, 0);
	if (fd == -ENOENT)
		return 0;	/* no daemon ever ran on it */
	if (fd < 0)
		return fd;
	if (!regular(fd)) {
		close(fd);
		return -EINVAL;
	}
	/* A shared lock is granted only while no daemon holds its own. */
	while ((rc = flock(fd, LOCK_SH | LOCK_NB)) < 0 &&
	       (errno == EWOULDBLOCK || errno == EINTR)) {
		if (timeout_ms >= 0 && waited >= timeout_ms) {
			close(fd);
			return -ETIMEDOUT;
		}
		nanosleep(&tick, NULL);
		waited += 20;
	}
	rc = rc < 0 ? -errno : 0;
	close(fd);	/* drops the shared lock at once */
	return rc;
}

static int
file_pubkey(struct ts_store *st, unsigned char pk[TS_SEAL_PKBYTES])
{
	unsigned char *buf;
	size_t len;
	int rc;

	rc = ts_sysio_read_file(fs_of(st)->dirfd, PUBKEY_FILE, 4096, &buf, &len);
	if (rc < 0)
		return rc;
	rc = ts_seal_pubkey_decode((const char *)buf, len, pk);
	free(buf);
	return rc;
}

static int
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

static int
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
static int
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

static int
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

static int
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

static void
ts_file_snapshot_info(struct ts_store *st, struct ts_store_snapinfo *out)
{
	*out = fs_of(st)->snapinfo;
}

static int
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

static int
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

static int
ts_file_remove(struct ts_store *st, const char *id)
{
	if (!ts_id_valid(id))
		return -ENOENT;
	return ts_sysio_remove_durable(fs_of(st)->ticketsfd, id);
}

/* Checks that intake file name "STAMP-K-ID" matches kind and t->id. */
static int
intake_name_matches(const char *name, int kind, const struct ts_ticket *t)
{
	char want[TS_NAME_MAX + 8];
	size_t nl = strlen(name), wl;

	snprintf(want, sizeof(want), "-%c-%s", KIND_LETTER[kind], t->id);
	wl = strlen(want);
	return nl > wl && strcmp(name + nl - wl, want) == 0;
}

/*
 * Moves dirfd/name into .trash under a fresh name: one rename, whatever
 * name is (a directory of any size or depth included).
 */
static int
ts_file_to_trash(struct file_store *fs, int dirfd, const char *name)
{
	char t[24];
	int rc, tries = 0;

	if (fs->trashfd < 0)
		return -EACCES;
	do {
		snprintf(t, sizeof(t), "%016llx",
		         (unsigned long long)fs->trash_seq++);
		rc = ts_sysio_renameat(dirfd, name, fs->trashfd, t,
		                       RENAME_NOREPLACE);
	} while (rc == -EEXIST && ++tries < 8);
	if (rc == 0)
		fs->trash_busy = 1;
	return rc;
}

/*
 * Empties .trash/name, a directory, by at most budget entries: files are
 * unlinked, subdirectories that will not go moved up to .trash itself
 * (one rename each), so the walk never goes deeper than one level nor up
 * through "..": a writer that kept a directory of the tree open cannot
 * lead it anywhere else.  Returns the entries handled.
 */
static size_t
trash_empty_dir(struct file_store *fs, const char *name, size_t budget)
{
	struct dirent *de;
	size_t done = 0;
	DIR *d;
	int fd;

	fd = openat(fs->trashfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	            O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return 1;
	}
	while (done < budget && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		done++;
		if (unlinkat(fd, de->d_name, 0) < 0 && errno == EISDIR &&
		    unlinkat(fd, de->d_name, AT_REMOVEDIR) < 0)
			ts_file_to_trash(fs, fd, de->d_name);
	}
	closedir(d);
	return done;
}

/*
 * Deletes at most TRASH_ROUND entries from .trash (directory trees moved
 * there whole by ts_file_to_trash); the next round goes on.  Nothing a
 * front end drops can make one round do more.
 */
static void
ts_file_trash_drain(struct file_store *fs)
{
	struct dirent *de = NULL;
	size_t done = 0;
	DIR *d;
	int fd;

	if (fs->trashfd < 0 || !fs->trash_busy)
		return;
	if ((fd = openat(fs->trashfd, ".", O_RDONLY | O_DIRECTORY |
	                 O_CLOEXEC)) < 0)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	do {	/* again while subdirectories were moved up, budget left */
		fs->trash_busy = 0;	/* ts_file_to_trash sets it again */
		rewinddir(d);
		while (done < TRASH_ROUND && (de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			done++;
			if (unlinkat(fs->trashfd, de->d_name, 0) == 0 ||
			    errno != EISDIR ||
			    unlinkat(fs->trashfd, de->d_name, AT_REMOVEDIR) == 0)
				continue;
			done += trash_empty_dir(fs, de->d_name,
			                        TRASH_ROUND - done);
			if (done < TRASH_ROUND)
				unlinkat(fs->trashfd, de->d_name, AT_REMOVEDIR);
		}
	} while (fs->trash_busy && de == NULL && done < TRASH_ROUND);
	/* Done when a round saw it whole, had budget left and moved
	 * nothing up. */
	if (done >= TRASH_ROUND || de != NULL)
		fs->trash_busy = 1;
	closedir(d);
}

/*
 * What intake/name is, from its inode alone (nothing opened): 0 for a
 * regular file with one link and no bigger than a record can be, else the
 * notice's err (store.h).
 */
static int
ts_file_intake_kind_of(const struct stat *sb)
{
	if (S_ISLNK(sb->st_mode))
		return -ELOOP;
	if (S_ISDIR(sb->st_mode))
		return -EISDIR;
	if (!S_ISREG(sb->st_mode))
		return -ENXIO;	/* FIFO, socket, device node */
	if (sb->st_nlink != 1)
		return -EMLINK;
	if ((uint64_t)sb->st_size > TS_RECORD_MAX)
		return -EFBIG;
	return 0;
}

/*
 * Removes intake/name, which is not a record (why:
 * ts_file_intake_kind_of), without opening it; a directory is moved to
 * .trash whole (one rename), to be deleted there a bounded amount a
 * round.
 */
static void
ts_file_intake_remove_odd(struct file_store *fs, const char *name, int why,
                          ts_store_intake_fn fn, void *arg)
{
	int rc;

	if (why == -EISDIR)
		rc = ts_file_to_trash(fs, fs->intakefd, name);
	else
		rc = ts_sysio_unlinkat(fs->intakefd, name, 0);
	if (rc < 0)
		return;	/* gone already, or tried again next pass */
	ts_sysio_fsync(fs->intakefd);
	if (fn != NULL)
		fn(arg, name, TS_INTAKE_REMOVED, NULL, NULL, why);
}

struct rejected_file {
	char *name;
	struct timespec ctime;	/* when it was moved in (rename sets it) */
	uint64_t size;
};

static int
cmp_rejected(const void *a, const void *b)
{
	const struct rejected_file *x = a, *y = b;

	if (x->ctime.tv_sec != y->ctime.tv_sec)
		return x->ctime.tv_sec < y->ctime.tv_sec ? -1 : 1;
	if (x->ctime.tv_nsec != y->ctime.tv_nsec)
		return x->ctime.tv_nsec < y->ctime.tv_nsec ? -1 : 1;
	return strcmp(x->name, y->name);
}

static void
note_dropped(const char *name, ts_store_intake_fn fn, void *arg)
{
	char shown[300];

	snprintf(shown, sizeof(shown), "rejected/%s", name);
	if (fn != NULL)
		fn(arg, shown, TS_INTAKE_DROPPED, NULL, NULL, 0);
}

/*
 * Deletes the oldest files of rejected/ (by ctime: when each was renamed
 * in, which a writer of intake/ cannot set) until it holds at most
 * TS_INTAKE_REJECTED_FILES files and TS_INTAKE_REJECTED_BYTES bytes.
 * Anything but a regular file of one link (a directory swapped in for a
 * record between its check and its move) goes to .trash at once: what is
 * kept is counted in bytes exactly.
 */
static void
cap_rejected(struct file_store *fs, ts_store_intake_fn fn, void *arg)
{
	struct rejected_file *v;
	uint64_t bytes = 0;
	char **names;
	size_t n, m = 0, dropped = 0;

	if (fs->rejectedfd < 0 ||
	    ts_file_list_dir(fs->rejectedfd, &names, &n) < 0)
		return;
	if ((v = calloc(n ? n : 1, sizeof(*v))) == NULL) {
		ts_file_free_names(names, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		struct stat sb;

		if (fstatat(fs->rejectedfd, names[i], &sb,
		            AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (!S_ISREG(sb.st_mode) || sb.st_nlink != 1) {
			if (ts_file_to_trash(fs, fs->rejectedfd,
			                     names[i]) == 0) {
				dropped++;
				note_dropped(names[i], fn, arg);
			}
			continue;
		}
		v[m].name = names[i];
		v[m].ctime = sb.st_ctim;
		v[m].size = (uint64_t)sb.st_size;
		bytes += v[m++].size;
	}
	if (m > 1)
		qsort(v, m, sizeof(*v), cmp_rejected);
	for (size_t i = 0; i < m && (m - i > TS_INTAKE_REJECTED_FILES ||
	                             bytes > TS_INTAKE_REJECTED_BYTES); i++) {
		if (ts_sysio_unlinkat(fs->rejectedfd, v[i].name, 0) < 0)
			continue;
		bytes -= v[i].size;
		dropped++;
		note_dropped(v[i].name, fn, arg);
	}
	if (dropped > 0)
		ts_sysio_fsync(fs->rejectedfd);
	fs->rejected_capped = 1;
	free(v);
	ts_file_free_names(names, n);
}

/*
 * Reads intake/name, a regular file with one link (sb, from fstatat): open
 * without blocking or following, and the open file must still be that
 * inode.  -EAGAIN: it changed under us, look again next pass.
 */
static int
intake_read(struct file_store *fs, const char *name, const struct stat *sb,
            uint8_t **buf, size_t *len)
{
	struct stat fsb;
	int fd, rc;

	fd = ts_sysio_openat(fs->intakefd, name, O_RDONLY | O_NONBLOCK |
	                     O_NOCTTY, 0);
	if (fd < 0)
		return fd == -ELOOP || fd == -ENXIO ? -EAGAIN : fd;
	if (fstat(fd, &fsb) < 0 || !S_ISREG(fsb.st_mode) || fsb.st_nlink != 1 ||
	    fsb.st_ino != sb->st_ino || fsb.st_dev != sb->st_dev)
		rc = -EAGAIN;
	else
		rc = ts_sysio_read_all(fd, TS_RECORD_MAX, buf, len);
	close(fd);
	if (rc == -EFBIG || rc == -EINVAL)
		rc = -EAGAIN;	/* it grew, or is no longer regular */
	return rc;
}

/*
 * A dotfile in intake/ is no record, only a front end's temporary
 * (".tmp-intake-*", renamed within minutes): anything but a regular file
 * goes at once, a regular one once it is DOTFILE_AGE old (by the older of
 * mtime and ctime: a writer can set the one back, not the other forward).
 */
static void
ts_file_intake_dotfile(struct file_store *fs, const char *name,
                       const struct stat *sb, ts_store_intake_fn fn, void *arg)
{
	time_t born = sb->st_mtime < sb->st_ctime ? sb->st_mtime : sb->st_ctime;
	int why = ts_file_intake_kind_of(sb);

	if (S_ISREG(sb->st_mode)) {
		if (time(NULL) - born < DOTFILE_AGE)
			return;
		why = -ETIMEDOUT;
	}
	ts_file_intake_remove_odd(fs, name, why, fn, arg);
}

/*
 * Handles intake/name: hands it to fn, then deletes it, rejects it or
 * leaves it.  Returns 1 if taken in, 2 if moved to rejected/, else 0.
 */
static int
intake_one(struct file_store *fs, const char *name, ts_store_intake_fn fn,
           void *arg, size_t *bytes)
{
	struct ts_ticket t;
	struct stat sb;
	uint8_t *buf = NULL;
	size_t len = 0;
	int kind = 0, err, res;

	if (fstatat(fs->intakefd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			fs->intake_polled = 0;	/* rescan next time */
		return 0;
	}
	if (name[0] == '.') {
		ts_file_intake_dotfile(fs, name, &sb, fn, arg);
		return 0;
	}
	if ((err = ts_file_intake_kind_of(&sb)) < 0) {
		ts_file_intake_remove_odd(fs, name, err, fn, arg);
		return 0;
	}
	err = intake_read(fs, name, &sb, &buf, &len);
	*bytes += len;
	if (err == 0)
		err = ts_record_decode(buf, len, &kind, &t);
	if (err == 0 && (kind < TS_REC_TICKET || kind > TS_REC_REVOKE ||
	                 !intake_name_matches(name, kind, &t))) {
		ts_ticket_release(&t);
		err = -EBADMSG;
	}
	/*
	 * Gone (raced with another poller), changed under us, or unreadable
	 * for now (EIO, ENOMEM...): left in place for the next poll, never
	 * rejected; only a record that is itself bad (EBADMSG) or that the
	 * store may not read (EACCES) is.
	 */
	if (err < 0 && err != -EBADMSG && err != -EACCES) {
		free(buf);
		if (err != -ENOENT)
			fs->intake_polled = 0;
		if (err != -ENOENT && err != -EAGAIN && fn != NULL)
			fn(arg, name, TS_INTAKE_DEFERRED, NULL, NULL, err);
		return 0;
	}
	if (err < 0)
		kind = 0;
	res = fn(arg, name, kind, err == 0 ? &t : NULL, buf, err);
	free(buf);
	if (res == -EAGAIN) {
		fs->intake_polled = 0;
		return 0;
	}
	if (res == 0)
		return ts_sysio_remove_durable(fs->intakefd, name) == 0 ? 1 : 0;
	if (ts_sysio_renameat(fs->intakefd, name, fs->rejectedfd, name, 0) < 0)
		return 0;
	ts_sysio_fsync(fs->intakefd);
	return 2;
}

static void
end_pass(struct file_store *fs)
{
	if (fs->pass != NULL)
		ts_file_free_names(fs->pass, fs->npass);
	fs->pass = NULL;
	fs->npass = fs->ipass = 0;
}

/*
 * A pass lists intake/ once and works through the names, a batch a call;
 * a new pass starts when one ends (and intake/ changed since).  Nothing
 * is opened that is not a regular file of one link, and that only with
 * O_NONBLOCK: a FIFO, a device or a link cannot block the poll or make it
 * read another file.
 */
static int
ts_file_intake_poll(struct ts_store *st, ts_store_intake_fn fn, void *arg,
                    int *more)
{
	struct file_store *fs = fs_of(st);
	size_t handled = 0, bytes = 0;
	int rc, taken = 0, rejected = 0;

	*more = 0;
	if (fs->pass == NULL) {
		struct stat sb;

		if (fstat(fs->intakefd, &sb) < 0)
			return -errno;
		/* A submit killed mid-batch leaves temporaries nobody will
		 * rename, and a dotfile ages without touching intake/'s
		 * mtime: a full pass every 5 minutes sees them (gone after an
		 * hour: a live batch renames within minutes). */
		if (time(NULL) - fs->tmp_swept >= 300) {
			fs->intake_polled = 0;
			fs->tmp_swept = time(NULL);
		}
		/*
		 * Skip the scan when intake/ has not changed; but a file
		 * renamed in within the timestamp granularity of the last scan
		 * would not move the mtime, so a recent mtime is always
		 * rescanned.
		 */
		if (fs->intake_polled &&
		    sb.st_mtim.tv_sec == fs->intake_mtime.tv_sec &&
		    sb.st_mtim.tv_nsec == fs->intake_mtime.tv_nsec &&
		    time(NULL) - sb.st_mtim.tv_sec > 2)
			goto out_cap;
		fs->intake_mtime = sb.st_mtim;
		fs->intake_polled = 1;
		if ((rc = ts_file_list_dir_of(fs->intakefd, 1, &fs->pass,
		                              &fs->npass)) < 0) {
			fs->pass = NULL;
			fs->npass = 0;
			return rc;
		}
		fs->ipass = 0;
	}
	while (fs->ipass < fs->npass && handled < TS_INTAKE_BATCH &&
	       bytes < TS_INTAKE_BATCH_BYTES) {
		rc = intake_one(fs, fs->pass[fs->ipass++], fn, arg, &bytes);
		taken += rc == 1;
		rejected |= rc == 2;
		handled++;
	}
	if (fs->ipass < fs->npass)
		*more = 1;
	else
		end_pass(fs);
out_cap:
	if (rejected || !fs->rejected_capped)
		cap_rejected(fs, fn, arg);
	ts_file_trash_drain(fs);
	return taken;
}

/*
 * Writes every record to a temporary file, flushes the filesystem once
 * (syncfs: one journal commit instead of one per file), then renames each
 * into place and syncs the directory: every record is whole when it
 * appears, and all are durable on return.
 */
static int
ts_file_intake_put_many(struct ts_store *st, const struct ts_intake_item *v,
                        size_t n, size_t *done)
{
	struct file_store *fs = fs_of(st);
	char (*tmp)[2 * TS_NAME_MAX + 32] = calloc(n, sizeof(*tmp));
	char stamp[TS_NAME_MAX + 1], name[2 * TS_NAME_MAX + 8];
	size_t made = 0;
	int fd, rc = 0;

	*done = 0;
	if (tmp == NULL)
		return -ENOMEM;
	for (; made < n && rc == 0; made++) {
		if (v[made].kind < TS_REC_TICKET || v[made].kind > TS_REC_REVOKE ||
		    !ts_id_valid(v[made].id)) {
			rc = -EINVAL;
			break;
		}
		snprintf(tmp[made], sizeof(tmp[made]), ".tmp-intake-%08x%08x",
		         randombytes_random(), randombytes_random());
		fd = ts_sysio_openat(fs->intakefd, tmp[made], O_WRONLY | O_CREAT |
		                     O_EXCL, 0644);
		if (fd < 0) {
			rc = fd;
			break;
		}
		rc = ts_sysio_write_all(fd, v[made].rec, v[made].len);
		close(fd);
	}
	if (rc == 0)
		rc = ts_sysio_syncfs(fs->intakefd);
	for (size_t i = 0; i < n && rc == 0; i++) {
		ts_id_new(stamp);
		snprintf(name, sizeof(name), "%s-%c-%s", stamp,
		         KIND_LETTER[v[i].kind], v[i].id);
		rc = ts_sysio_renameat(fs->intakefd, tmp[i], fs->intakefd, name,
		                       RENAME_NOREPLACE);
		if (rc == 0)
			tmp[i][0] = '\0';
	}
	if (rc == 0)
		rc = ts_sysio_fsync(fs->intakefd);
	for (size_t i = 0; i < made && i < n; i++) {
		if (tmp[i][0] != '\0')
			unlinkat(fs->intakefd, tmp[i], 0);	/* never shown */
		else
			(*done)++;
	}
	if (rc < 0 && *done > 0)
		ts_sysio_fsync(fs->intakefd);	/* what appeared, keep */
	if (rc == 0)
		*done = n;
	free(tmp);
	return rc;
}

static int
ts_file_ticket_known(struct ts_store *st, const char *id)
{
	struct file_store *fs = fs_of(st);
	char want[TS_NAME_MAX + 8];
	char **names;
	size_t n, wl;
	int rc, found = 0;

	if (!ts_id_valid(id))
		return 0;
	if (fs->ticketsfd >= 0 && faccessat(fs->ticketsfd, id, F_OK,
	                                    AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	snprintf(want, sizeof(want), "-t-%s", id);
	wl = strlen(want);
	if ((rc = ts_file_list_dir(fs->intakefd, &names, &n)) < 0)
		return rc;
	for (size_t i = 0; i < n && !found; i++) {
		size_t nl = strlen(names[i]);
		found = nl > wl && strcmp(names[i] + nl - wl, want) == 0;
	}
	ts_file_free_names(names, n);
	if (!found && fs->ticketsfd < 0)
		return -EACCES;	/* cannot tell: tickets/ is not ours to see */
	return found;
}

static int
file_audit_open(struct ts_store *st, const struct ts_seckey *key,
                size_t segment_max, struct ts_audit **out)
{
	return ts_audit_open(fs_of(st)->dirfd, key, segment_max, out);
}

static int
file_audit_verify(struct ts_store *st, const unsigned char *vk,
                  const struct ts_audit_checkpoint *copy, char *msg,
                  size_t msglen, uint64_t *entries)
{
	return ts_audit_verify(fs_of(st)->dirfd, vk, copy, msg, msglen,
	                       entries);
}

static const struct ts_store_ops file_ops = {
	.close = file_close,
	.lock = file_lock,
	.wait_released = file_wait_released,
	.pubkey = file_pubkey,
	.load = ts_file_load,
	.set_key = ts_file_set_key,
	.snapshot_save = ts_file_snapshot_save,
	.snapshot_info = ts_file_snapshot_info,
	.read_box = ts_file_read_box,
	.write = ts_file_write,
	.remove = ts_file_remove,
	.intake_poll = ts_file_intake_poll,
	.intake_put_many = ts_file_intake_put_many,
	.ticket_known = ts_file_ticket_known,
	.read_record = ts_file_read_record,
	.list = ts_file_list,
	.audit_open = file_audit_open,
	.audit_verify = file_audit_verify,
};
