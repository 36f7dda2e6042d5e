/*
 * file_migrate: a directory store read as it is on disk, for
 * store/migrate.c (contract in store/migrate_priv.h): the intake files
 * waiting and rejected, and the audit trail's lines, checkpoint, anchor,
 * verify key and forward-secure seals.  Reads only; every file relative
 * to the store's directory fds, O_NOFOLLOW, regular files of one link.
 * The trail's layout is the audit module's, so its helpers (audit_priv.h)
 * name the segments and parse the checkpoint: one reader of that format.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/audit_priv.h"
#include "store/migrate_priv.h"
#include "store/record.h"
#include "store/store_file_priv.h"
#include "store/sysio.h"

/* dirfd/name's bytes if it is a regular file of one link; 1 if it is
 * something else (skipped). */
static int
read_regular(int dirfd, const char *name, unsigned char **buf, size_t *len)
{
	struct stat sb;
	int fd, rc;

	fd = ts_sysio_openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	if (fd == -ELOOP || fd == -ENXIO)
		return 1;
	if (fd < 0)
		return fd;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_nlink != 1) {
		close(fd);
		return 1;
	}
	rc = ts_sysio_read_all(fd, TS_RECORD_MAX, buf, len);
	close(fd);
	return rc == -EFBIG ? 1 : rc;
}

int
ts_file_mig_intake(struct ts_store *st, int rejected, ts_mig_file_fn fn,
                   void *arg)
{
	struct file_store *fs = fs_of(st);
	int dirfd = rejected ? fs->rejectedfd : fs->intakefd;
	unsigned char *buf;
	char **names;
	size_t n, len;
	int rc;

	if (dirfd < 0)
		return -EBADF;	/* opened for intake only */
	if ((rc = ts_file_list_dir(dirfd, &names, &n)) < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		int r = read_regular(dirfd, names[i], &buf, &len);

		if (r == 1 || r == -ENOENT)
			continue;	/* no record, or gone meanwhile */
		if (r < 0) {
			rc = r;
			break;
		}
		rc = fn(arg, names[i], buf, len);
		free(buf);
	}
	ts_file_free_names(names, n);
	return rc;
}

/* The lines of file name under dirfd, each through fn. */
static int
segment_lines(int dirfd, const char *name, ts_mig_line_fn fn, void *arg)
{
	unsigned char *text;
	char *p, *end, *stop;
	size_t len;
	int rc;

	if ((rc = ts_sysio_read_file(dirfd, name, 1u << 30, &text, &len)) < 0)
		return rc;
	stop = (char *)text + len;
	for (p = (char *)text; p < stop && rc == 0; p = end + 1) {
		if ((end = memchr(p, '\n', (size_t)(stop - p))) == NULL) {
			rc = -EBADMSG;	/* cut short: verify says so first */
			break;
		}
		if (end > p)
			rc = fn(arg, p, (size_t)(end - p));
	}
	free(text);
	return rc;
}

int
ts_file_mig_audit(struct ts_store *st, ts_mig_line_fn fn, void *arg,
                  struct ts_audit_checkpoint *cp, int *have_cp,
                  struct ts_audit_checkpoint *an, int *have_an,
                  unsigned char vk[32], int *have_vk)
{
	unsigned char *text;
	unsigned first, nseg;
	size_t len;
	int dirfd, rc;

	*have_cp = *have_an = *have_vk = 0;
	if ((dirfd = ts_sysio_openat(fs_of(st)->dirfd, "audit",
	                             O_RDONLY | O_DIRECTORY, 0)) < 0)
		return dirfd;
	if ((rc = ts_audit_list_segments(dirfd, &first, &nseg)) < 0)
		goto out;
	if (ts_sysio_read_file(dirfd, VERIFY_KEY, 1024, &text, &len) == 0) {
		*have_vk = len >= 64 &&
		           ts_audit_unhex((char *)text, 64, vk, 32) == 0;
		free(text);
	}
	if (ts_sysio_read_file(dirfd, CHECKPOINT, 4096, &text, &len) == 0) {
		*have_cp = ts_audit_checkpoint_parse(text, len, cp) == 0;
		free(text);
	}
	*have_an = ts_audit_anchor_load(dirfd, NULL, an) == 0;
	for (unsigned i = first; i <= nseg && rc == 0; i++) {
		char name[32];

		ts_audit_segment_name(i, name);
		rc = segment_lines(dirfd, name, fn, arg);
	}
out:
	close(dirfd);
	return rc;
}

struct seal_walk {
	ts_mig_seal_fn fn;
	void *arg;
	const char *name;
};

static int
seal_line(void *arg, const char *line, size_t len)
{
	struct seal_walk *w = arg;

	return w->fn(w->arg, w->name, line, len);
}

/* "seals-" and 16 hex digits (store/audit_fss.c's names). */
static int
seals_name(const char *n)
{
	return strncmp(n, "seals-", 6) == 0 && strlen(n) == 22 &&
	       strspn(n + 6, "0123456789abcdef") == 16;
}

int
ts_file_mig_seals(struct ts_store *st, ts_mig_seal_fn fn, void *arg)
{
	struct seal_walk w = { fn, arg, NULL };
	char **names;
	size_t n;
	int dirfd, rc;

	if ((dirfd = ts_sysio_openat(fs_of(st)->dirfd, "audit",
	                             O_RDONLY | O_DIRECTORY, 0)) < 0)
		return dirfd;
	if ((rc = ts_file_list_dir(dirfd, &names, &n)) == 0) {
		for (size_t i = 0; i < n && rc == 0; i++) {
			if (!seals_name(names[i]))
				continue;
			w.name = names[i];
			rc = segment_lines(dirfd, names[i], seal_line, &w);
		}
		ts_file_free_names(names, n);
	}
	close(dirfd);
	return rc;
}
