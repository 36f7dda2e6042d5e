/*
 * pg_audit_spool: the audit trail's local spool file (contract in
 * store/pg_audit_spool.h).
 */
#include "store/pg_audit_spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "store/audit_priv.h"
#include "store/sysio.h"

#define SPOOL_MAX (64u << 20)	/* 10,000 lines of 4 KiB fit with room */

struct ts_spool {
	int dirfd;		/* the spool's directory */
	int fd;			/* the spool, O_APPEND, flock'd */
	char *name;		/* its name in dirfd */
	uint64_t size;		/* its length: what a failed append cuts
				   back to */
};

static int
lock_fd(int fd)
{
	return flock(fd, LOCK_EX | LOCK_NB) < 0 ?
	       (errno == EWOULDBLOCK ? -EBUSY : -errno) : 0;
}

int
ts_spool_open(const char *path, struct ts_spool **out, char **text,
              size_t *len, size_t *torn, char *msg, size_t msglen)
{
	const char *slash = strrchr(path, '/');
	struct ts_spool *sp;
	unsigned char *raw = NULL;
	char dir[4096], *end;
	size_t n = 0;
	struct stat st;
	int rc;

	*text = NULL;
	*len = *torn = 0;
	if (path[0] != '/' || slash == NULL || slash[1] == '\0' ||
	    (size_t)(slash - path) >= sizeof(dir)) {
		snprintf(msg, msglen, "audit spool %s: not an absolute file "
		         "path", path);
		return -EINVAL;
	}
	if ((sp = calloc(1, sizeof(*sp))) == NULL ||
	    (sp->name = strdup(slash + 1)) == NULL) {
		free(sp);
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	sp->fd = -1;
	snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 :
	         (int)(slash - path), path);
	if ((sp->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = -errno;
		goto out_say;
	}
	if ((rc = ts_sysio_openat(sp->dirfd, sp->name, O_RDWR | O_APPEND |
	                          O_CREAT | O_NONBLOCK, 0600)) < 0)
		goto out_say;
	sp->fd = rc;
	if (fstat(sp->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		snprintf(msg, msglen, "audit spool %s: not a regular file",
		         path);
		goto out_close;
	}
	if ((rc = lock_fd(sp->fd)) < 0) {
		if (rc == -EBUSY)
			snprintf(msg, msglen, "audit spool %s is in use by "
			         "another ticketfs (each daemon on this machine "
			         "needs its own -o audit_spool=FILE)", path);
		else
			snprintf(msg, msglen, "audit spool %s: cannot lock it: "
			         "%s", path, strerror(-rc));
		goto out_close;
	}
	if ((rc = ts_sysio_read_all(sp->fd, SPOOL_MAX, &raw, &n)) < 0)
		goto out_say;
	/* A last line a crash cut short was never acknowledged: dropped. */
	end = n > 0 ? memrchr(raw, '\n', n) : NULL;
	*torn = end == NULL ? n : n - (size_t)((unsigned char *)end + 1 - raw);
	n -= *torn;
	if (*torn > 0 && ftruncate(sp->fd, (off_t)n) < 0) {
		rc = -errno;
		goto out_say;
	}
	sp->size = n;
	if (n > 0) {
		raw[n] = '\0';
		*text = (char *)raw;
		*len = n;
	} else {
		free(raw);
	}
	*out = sp;
	return 0;
out_say:
	free(raw);
	snprintf(msg, msglen, "audit spool %s: %s", path, strerror(-rc));
out_close:
	ts_spool_close(sp);
	return rc;
}

void
ts_spool_close(struct ts_spool *sp)
{
	if (sp == NULL)
		return;
	if (sp->fd >= 0)
		close(sp->fd);	/* the lock goes with it */
	if (sp->dirfd >= 0)
		close(sp->dirfd);
	free(sp->name);
	free(sp);
}

int
ts_spool_append(struct ts_spool *sp, const char *buf, size_t len)
{
	int rc = ts_sysio_write_all(sp->fd, buf, len);

	if (rc < 0) {
		/* Part of it may be there: cut back to whole lines. */
		if (ftruncate(sp->fd, (off_t)sp->size) < 0)
			return -EIO;
		return rc;
	}
	sp->size += len;
	return 0;
}

int
ts_spool_clear(struct ts_spool *sp)
{
	if (sp->size == 0)
		return 0;
	if (ftruncate(sp->fd, 0) < 0)
		return -errno;
	sp->size = 0;
	return 0;
}

int
ts_spool_replace(struct ts_spool *sp, const char *buf, size_t len)
{
	char tmp[300];
	int fd, rc;

	if (len == 0)
		return ts_spool_clear(sp);
	snprintf(tmp, sizeof(tmp), ".tmp-%.200s-%08x", sp->name,
	         randombytes_random());
	if ((fd = ts_sysio_openat(sp->dirfd, tmp, O_WRONLY | O_APPEND |
	                          O_CREAT | O_EXCL, 0600)) < 0)
		return fd;
	/* Locked before its name is the spool's: never a moment unlocked. */
	if ((rc = lock_fd(fd)) < 0 ||
	    (rc = ts_sysio_write_all(fd, buf, len)) < 0 ||
	    (rc = ts_sysio_renameat(sp->dirfd, tmp, sp->dirfd, sp->name,
	                            0)) < 0) {
		close(fd);
		unlinkat(sp->dirfd, tmp, 0);
		return rc;
	}
	close(sp->fd);
	sp->fd = fd;
	sp->size = len;
	return 0;
}

uint64_t
ts_spool_size(const struct ts_spool *sp)
{
	return sp->size;
}

int
ts_spool_parse(const char *text, size_t len, struct ts_spool_run *run,
               char *msg, size_t msglen)
{
	unsigned char hash[HASHBYTES], want[HASHBYTES];
	const char *p = text, *end = text + len;
	uint64_t seq;

	memset(run, 0, sizeof(*run));
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll;

		if (nl == NULL) {
			snprintf(msg, msglen, "line %zu has no end", run->n + 1);
			return -EBADMSG;
		}
		ll = (size_t)(nl - p);
		if (ll < SUFFIX_LEN ||
		    ts_audit_line_parse(p, ll, &seq, hash, NULL) < 0) {
			snprintf(msg, msglen, "line %zu is not an audit entry",
			         run->n + 1);
			return -EBADMSG;
		}
		if (run->n > 0) {
			if (seq != run->last + 1) {
				snprintf(msg, msglen, "line %zu is entry %llu, "
				         "not %llu", run->n + 1,
				         (unsigned long long)seq,
				         (unsigned long long)run->last + 1);
				return -EBADMSG;
			}
			ts_audit_chain(run->last_hash, p, ll - (SUFFIX_LEN - 1),
			               want);
			if (sodium_memcmp(want, hash, HASHBYTES) != 0) {
				snprintf(msg, msglen, "line %zu (entry %llu): "
				         "hash chain broken", run->n + 1,
				         (unsigned long long)seq);
				return -EBADMSG;
			}
		} else {
			run->first = seq;
		}
		run->last = seq;
		memcpy(run->last_hash, hash, HASHBYTES);
		run->n++;
		p = nl + 1;
	}
	return 0;
}
