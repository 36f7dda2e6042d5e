/*
 * store_file: the file backend.  One record file a ticket under tickets/,
 * replaced whole by write-then-rename; intake records dropped by ticketctl
 * under intake/.  Every file is opened relative to a directory fd held
 * from open, with O_NOFOLLOW (through sysio).  This file: the layout
 * (create), open and close, the store lock, the public key, and the ops
 * table, which names where each op lives (file_tickets.c, file_intake.c;
 * file_trash.c and file_dir.c below them; store_file_priv.h the state).
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
#include "store/store_file_priv.h"
#include "store/rekey_priv.h"
#include "store/sysio.h"

#define PUBKEY_FILE "public.key"
#define TRASH_DIR ".trash"
#define LOCK_FILE "lock"
#define KEYS_DIR "keys"
#define WHITELIST_TEXT \
	"# ticketfs whitelist: one entry a line, then its role\n" \
	"# (reader, agent or auditor).  Entries: a numeric uid, a user name,\n" \
	"# or @group for every member of a group.  '#' starts a comment.\n" \
	"#   1001        agent\n" \
	"#   jdoe        reader\n" \
	"#   @support    agent\n" \
	"#   auditbot    auditor\n"

static const struct ts_store_ops file_ops;

static int
opendir_at(int dirfd, const char *name)
{
	return ts_sysio_openat(dirfd, name, O_RDONLY | O_DIRECTORY, 0);
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
	    (rc = ts_sysio_mkdirat(dirfd, KEYS_DIR, 0700)) < 0 ||
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
	unlinkat(dirfd, KEYS_DIR, AT_REMOVEDIR);
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
	    fs->lockfd = fs->keysfd = -1;
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
		/* A store made before per-ticket keys has no keys/ yet. */
		fs->keysfd = opendir_at(fs->dirfd, KEYS_DIR);
		if (fs->keysfd == -ENOENT &&
		    ts_sysio_mkdirat(fs->dirfd, KEYS_DIR, 0700) == 0 &&
		    ts_sysio_fsync(fs->dirfd) == 0)
			fs->keysfd = opendir_at(fs->dirfd, KEYS_DIR);
		if (fs->keysfd < 0)	/* read-only: keyed tickets answer EIO */
			fs->keysfd = -1;
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

	ts_file_intake_end(fs);	/* before intake/ is closed */
	if (fs->rejectedfd >= 0)
		close(fs->rejectedfd);
	if (fs->trashfd >= 0)
		close(fs->trashfd);
	if (fs->intakefd >= 0)
		close(fs->intakefd);
	if (fs->ticketsfd >= 0)
		close(fs->ticketsfd);
	if (fs->keysfd >= 0)
		close(fs->keysfd);
	if (fs->dirfd >= 0)
		close(fs->dirfd);
	/* fs->lockfd stays open: the lock is the process's until it exits,
	 * after every write and every other teardown of the daemon. */
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
file_audit_open(struct ts_store *st, const struct ts_seckey *key,
                size_t segment_max, struct ts_audit **out)
{
	return ts_audit_open(fs_of(st)->dirfd, ts_store_host(st), key,
	                     segment_max, out);
}

static int
file_audit_verify(struct ts_store *st, const unsigned char *vk,
                  const struct ts_audit_checkpoint *copy, char *msg,
                  size_t msglen, uint64_t *entries)
{
	return ts_audit_verify_progress(fs_of(st)->dirfd, vk, copy, msg, msglen,
	                                entries, st->progress, st->progress_arg);
}

/* One flush of the filesystem holding tickets/ (and of keys/'s, if that
 * is another). */
static int
file_flush(struct ts_store *st)
{
	struct file_store *fs = fs_of(st);
	struct stat a, b;
	int rc = ts_sysio_syncfs(fs->ticketsfd);

	if (rc == 0 && fs->keysfd >= 0 && fstat(fs->ticketsfd, &a) == 0 &&
	    fstat(fs->keysfd, &b) == 0 && a.st_dev != b.st_dev)
		rc = ts_sysio_syncfs(fs->keysfd);
	return rc;
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
	.read_boxes = ts_file_read_boxes,
	.write = ts_file_write,
	.remove = ts_file_remove,
	.intake_poll = ts_file_intake_poll,
	.intake_begin = ts_file_intake_begin,
	.intake_add = ts_file_intake_add,
	.intake_commit = ts_file_intake_commit,
	.intake_abort = ts_file_intake_abort,
	.flush = file_flush,
	.ticket_known = ts_file_ticket_known,
	.read_record = ts_file_read_record,
	.list = ts_file_list,
	.audit_open = file_audit_open,
	.audit_verify = file_audit_verify,
	.key_get = ts_file_key_get,
	.key_put = ts_file_key_put,
	.key_promote = ts_file_key_promote,
	.key_del = ts_file_key_del,
	.key_list = ts_file_key_list,
	.load_one = ts_file_load_one,
	.policy_get = ts_file_policy_get,
	.policy_set = ts_file_policy_set,
	.policy_version = ts_file_policy_version,
	.stats = ts_file_stats,
	.run_name = ts_file_run_name,
	.held = ts_file_held,
	.rekey = &ts_file_rekey_ops,
};
