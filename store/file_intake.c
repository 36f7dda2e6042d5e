/*
 * file_intake: the file backend's intake/: the poll (a pass over intake/ a
 * batch a call, each record handed over, then deleted or moved to
 * rejected/), rejected/ kept within its cap, ticketctl's durable put, and
 * whether a ticket is known.  What is no record goes to file_trash.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "store/intake_rec.h"
#include "store/record.h"
#include "store/store_file_priv.h"
#include "store/sysio.h"

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
 * Handles intake/name: hands it to fn, then rejects it or leaves it.
 * Returns 1 if taken in (the poll deletes it, delete_taken), 2 if moved to
 * rejected/, else 0.
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
		err = ts_intake_rec_decode(name, buf, len, &kind, &t);
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
		return 1;
	if (ts_sysio_renameat(fs->intakefd, name, fs->rejectedfd, name, 0) < 0)
		return 0;
	ts_sysio_fsync(fs->intakefd);
	return 2;
}

/*
 * The records fn took in this poll (names, n of them) wait for fn's
 * TS_INTAKE_COMMIT to say that what they changed is durable: then they
 * join fs->took, deleted when the pass ends (end_pass).  Returns how
 * many were committed; a failed commit leaves them all for the next pass.
 *
 * Why at the end of the pass: on an ext4 without a journal (as on the
 * machines this was measured on), creating a file scans past every inode
 * freed in the last 30 s of its block group, so deleting intake while
 * taking it in, whose records and key files are new files, made take-in
 * quadratic (3,000 tickets: a third of the time in the kernel's
 * recently_deleted).  A crash before the delete only offers the records
 * again: taken in already, each changes nothing.
 */
static int
commit_taken(struct file_store *fs, char **names, size_t n,
             ts_store_intake_fn fn, void *arg)
{
	if (n == 0 || fn == NULL)
		return 0;
	if (fn(arg, "", TS_INTAKE_COMMIT, NULL, NULL, 0) < 0) {
		fs->intake_polled = 0;	/* all offered again */
		return 0;
	}
	if (fs->took == NULL &&
	    (fs->took = calloc(fs->npass, sizeof(*fs->took))) == NULL) {
		/* No room to wait: deleted now. */
		for (size_t i = 0; i < n; i++)
			ts_sysio_unlinkat(fs->intakefd, names[i], 0);
		ts_sysio_fsync(fs->intakefd);
		return (int)n;
	}
	for (size_t i = 0; i < n; i++)
		fs->took[fs->ntook++] = names[i];
	return (int)n;
}

/* Deletes what the pass took in (one fsync of intake/ for the lot: a
 * lost delete only offers a record again), and ends it. */
static void
end_pass(struct file_store *fs)
{
	size_t deleted = 0;

	for (size_t i = 0; i < fs->ntook && fs->intakefd >= 0; i++)
		deleted += ts_sysio_unlinkat(fs->intakefd, fs->took[i], 0) == 0;
	if (deleted > 0)
		ts_sysio_fsync(fs->intakefd);
	free(fs->took);
	fs->took = NULL;
	fs->ntook = 0;
	if (fs->pass != NULL)
		ts_file_free_names(fs->pass, fs->npass);
	fs->pass = NULL;
	fs->npass = fs->ipass = 0;
}

void
ts_file_intake_end(struct file_store *fs)
{
	end_pass(fs);
}

/*
 * A pass lists intake/ once and works through the names, a batch a call;
 * a new pass starts when one ends (and intake/ changed since).  Nothing
 * is opened that is not a regular file of one link, and that only with
 * O_NONBLOCK: a FIFO, a device or a link cannot block the poll or make it
 * read another file.
 */
int
ts_file_intake_poll(struct ts_store *st, ts_store_intake_fn fn, void *arg,
                    int *more)
{
	struct file_store *fs = fs_of(st);
	char *took[TS_INTAKE_BATCH];	/* names of fs->pass taken in */
	size_t handled = 0, bytes = 0, ntook = 0;
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
		char *name = fs->pass[fs->ipass++];

		rc = intake_one(fs, name, fn, arg, &bytes);
		if (rc == 1)
			took[ntook++] = name;
		rejected |= rc == 2;
		handled++;
	}
	taken = commit_taken(fs, took, ntook, fn, arg);
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
 * A batch (ts_store_intake_begin...): _add writes each record to a
 * temporary file (.tmp-intake-*: a poll leaves it, and sweeps what a
 * killed submit left, file_trash.c); _commit flushes the filesystem once
 * (syncfs: one journal commit instead of one per file), renames each
 * into place in the order added and syncs the directory: every record is
 * whole when it appears, and all are durable on return.
 */
struct file_batch {
	struct {
		char tmp[40];	/* the temporary; "" once renamed or gone */
		char kid[TS_NAME_MAX + 4];	/* K-ID; stamped at commit */
	} *v;
	size_t n, cap;		/* staged; room */
	int failed;		/* an add failed: only abort is left */
};

int
ts_file_intake_begin(struct ts_store *st, void **batch)
{
	(void)st;
	return (*batch = calloc(1, sizeof(struct file_batch))) == NULL ?
	       -ENOMEM : 0;
}

int
ts_file_intake_add(struct ts_store *st, void *batch,
                   const struct ts_intake_item *v, size_t n)
{
	struct file_store *fs = fs_of(st);
	struct file_batch *b = batch;
	int fd, rc = 0;

	if (b->failed)
		return -EINVAL;
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		void *nv;

		while (cap < b->n + n)
			cap *= 2;
		if ((nv = realloc(b->v, cap * sizeof(*b->v))) == NULL)
			return -ENOMEM;	/* b as it was */
		b->v = nv;
		b->cap = cap;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		char *tmp = b->v[b->n].tmp;

		if (ts_intake_rec_letter(v[i].kind) == 0 ||
		    !ts_id_valid(v[i].id)) {
			rc = -EINVAL;
			break;
		}
		snprintf(tmp, sizeof(b->v[0].tmp), ".tmp-intake-%08x%08x",
		         randombytes_random(), randombytes_random());
		fd = ts_sysio_openat(fs->intakefd, tmp, O_WRONLY | O_CREAT |
		                     O_EXCL, 0644);
		if (fd < 0) {
			rc = fd;	/* not ours: nothing to unlink */
			break;
		}
		rc = ts_sysio_write_all(fd, v[i].rec, v[i].len);
		close(fd);
		if (rc < 0) {
			unlinkat(fs->intakefd, tmp, 0);
			break;
		}
		snprintf(b->v[b->n].kid, sizeof(b->v[0].kid), "%c-%s",
		         ts_intake_rec_letter(v[i].kind), v[i].id);
		b->n++;
	}
	b->failed = rc < 0;
	return rc;
}

/* Unlinks the temporaries still there, and frees b. */
static void
batch_free(struct file_store *fs, struct file_batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		if (b->v[i].tmp[0] != '\0')
			unlinkat(fs->intakefd, b->v[i].tmp, 0);	/* never shown */
	free(b->v);
	free(b);
}

int
ts_file_intake_commit(struct ts_store *st, void *batch, size_t *done)
{
	struct file_store *fs = fs_of(st);
	struct file_batch *b = batch;
	char stamp[TS_NAME_MAX + 1], name[2 * TS_NAME_MAX + 8];
	int rc = b->failed ? -EINVAL : 0;

	*done = 0;
	if (rc == 0 && b->n > 0)
		rc = ts_sysio_syncfs(fs->intakefd);
	for (size_t i = 0; i < b->n && rc == 0; i++) {
		ts_id_new(stamp);	/* in the order added */
		snprintf(name, sizeof(name), "%s-%s", stamp, b->v[i].kid);
		rc = ts_sysio_renameat(fs->intakefd, b->v[i].tmp, fs->intakefd,
		                       name, RENAME_NOREPLACE);
		if (rc == 0) {
			b->v[i].tmp[0] = '\0';
			(*done)++;
		}
	}
	if (rc == 0 && b->n > 0)
		rc = ts_sysio_fsync(fs->intakefd);
	else if (rc < 0 && *done > 0)
		ts_sysio_fsync(fs->intakefd);	/* what appeared, keep */
	if (rc == 0)
		*done = b->n;
	batch_free(fs, b);
	return rc;
}

void
ts_file_intake_abort(struct ts_store *st, void *batch)
{
	batch_free(fs_of(st), batch);
}

int
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
