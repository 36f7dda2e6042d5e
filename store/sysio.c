/*
 * sysio: the storage layer's system calls, through one table so tests can
 * inject faults, and the durable write-then-rename primitive.
 */
#include "store/sysio.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

/*
 * The fault injector is the one piece of process-wide mutable state in the
 * store: it has to reach every call site without being threaded through
 * every signature, as SQLite's syscall table does.  Atomics make it safe
 * to arm from a test thread while the daemon's threads run.
 */
struct fault {
	atomic_uint countdown;	/* calls left before the fault; 0 = disarmed */
	atomic_int err;		/* errno to fail with */
	atomic_int persistent;	/* keep failing once triggered */
	atomic_int firing;	/* triggered and persistent */
};

static struct fault faults[TS_SYSIO_NOPS];

void
ts_sysio_inject(enum ts_sysio_op op, unsigned n, int err, int persistent)
{
	struct fault *f = &faults[op];

	atomic_store(&f->firing, 0);
	atomic_store(&f->err, err);
	atomic_store(&f->persistent, persistent);
	atomic_store(&f->countdown, n);
}

int
ts_sysio_armed(enum ts_sysio_op op)
{
	return atomic_load(&faults[op].countdown) != 0;
}

void
ts_sysio_reset(void)
{
	for (int i = 0; i < TS_SYSIO_NOPS; i++)
		ts_sysio_inject(i, 0, 0, 0);
}

/* Returns -errno if the call of op should fail now, else 0. */
static int
fault_check(enum ts_sysio_op op)
{
	struct fault *f = &faults[op];
	unsigned c;

	if (atomic_load(&f->firing))
		return -atomic_load(&f->err);
	c = atomic_load(&f->countdown);
	while (c != 0) {
		if (atomic_compare_exchange_weak(&f->countdown, &c, c - 1)) {
			if (c != 1)
				return 0;
			if (atomic_load(&f->persistent))
				atomic_store(&f->firing, 1);
			return -atomic_load(&f->err);
		}
	}
	return 0;
}

int
ts_sysio_openat(int dirfd, const char *name, int flags, mode_t mode)
{
	int fd, rc;

	if ((rc = fault_check(TS_SYSIO_OPEN)) < 0)
		return rc;
	fd = openat(dirfd, name, flags | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0)
		return -errno;
	return fd;
}

ssize_t
ts_sysio_pread(int fd, void *buf, size_t len, off_t off)
{
	size_t done = 0;
	int rc;

	if ((rc = fault_check(TS_SYSIO_READ)) < 0)
		return rc;
	while (done < len) {
		ssize_t n = pread(fd, (char *)buf + done, len - done,
		                  off + (off_t)done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int
ts_sysio_read_all(int fd, size_t max, unsigned char **out, size_t *outlen)
{
	struct stat st;
	unsigned char *buf;
	ssize_t n;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((size_t)st.st_size > max)
		return -EFBIG;
	buf = malloc((size_t)st.st_size + 1);
	if (buf == NULL)
		return -ENOMEM;
	n = ts_sysio_pread(fd, buf, (size_t)st.st_size, 0);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	buf[n] = '\0';	/* convenience for text files; not counted */
	*out = buf;
	*outlen = (size_t)n;
	return 0;
}

int
ts_sysio_write_all(int fd, const void *buf, size_t len)
{
	size_t done = 0;
	int rc;

	if ((rc = fault_check(TS_SYSIO_WRITE)) < 0)
		return rc;
	while (done < len) {
		ssize_t n = write(fd, (const char *)buf + done, len - done);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	}
	return 0;
}

int
ts_sysio_fsync(int fd)
{
	int rc;

	if ((rc = fault_check(TS_SYSIO_FSYNC)) < 0)
		return rc;
	if (fsync(fd) < 0)
		return -errno;
	return 0;
}

int
ts_sysio_syncfs(int fd)
{
	int rc;

	if ((rc = fault_check(TS_SYSIO_FSYNC)) < 0)
		return rc;
	if (syncfs(fd) < 0)
		return -errno;
	return 0;
}

int
ts_sysio_renameat(int olddirfd, const char *oldname, int newdirfd,
                  const char *newname, unsigned flags)
{
	int rc;

	if ((rc = fault_check(TS_SYSIO_RENAME)) < 0)
		return rc;
	if (renameat2(olddirfd, oldname, newdirfd, newname, flags) < 0)
		return -errno;
	return 0;
}

int
ts_sysio_unlinkat(int dirfd, const char *name, int flags)
{
	int rc;

	if ((rc = fault_check(TS_SYSIO_UNLINK)) < 0)
		return rc;
	if (unlinkat(dirfd, name, flags) < 0)
		return -errno;
	return 0;
}

int
ts_sysio_mkdirat(int dirfd, const char *name, mode_t mode)
{
	int rc;

	if ((rc = fault_check(TS_SYSIO_MKDIR)) < 0)
		return rc;
	if (mkdirat(dirfd, name, mode) < 0)
		return -errno;
	return 0;
}

/* On while this thread defers the fsyncs of ts_sysio_write_atomic. */
static _Thread_local int defer_sync;

void
ts_sysio_defer(int on)
{
	defer_sync = on != 0;
}

int
ts_sysio_deferred(void)
{
	return defer_sync;
}

int
ts_sysio_write_atomic(int dirfd, const char *name, const void *buf,
                      size_t len, mode_t mode, int noreplace)
{
	char tmp[320];
	int fd, rc;

	if (strlen(name) > 255 - 24)
		return -ENAMETOOLONG;
	snprintf(tmp, sizeof(tmp), ".tmp-%s-%08x", name, randombytes_random());
	fd = ts_sysio_openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL, mode);
	if (fd < 0)
		return fd;
	if ((rc = ts_sysio_write_all(fd, buf, len)) < 0)
		goto out_unlink;
	if (!defer_sync && (rc = ts_sysio_fsync(fd)) < 0)
		goto out_unlink;
	close(fd);
	fd = -1;
	rc = ts_sysio_renameat(dirfd, tmp, dirfd, name,
	                       noreplace ? RENAME_NOREPLACE : 0);
	if (rc < 0)
		goto out_unlink;
	/* The rename is what makes the data visible; make it durable too
	 * (deferred: the caller's syncfs does). */
	return defer_sync ? 0 : ts_sysio_fsync(dirfd);

out_unlink:
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmp, 0);
	return rc;
}

int
ts_sysio_remove_durable(int dirfd, const char *name)
{
	int rc = ts_sysio_unlinkat(dirfd, name, 0);

	if (rc < 0)
		return rc;
	return ts_sysio_fsync(dirfd);
}

int
ts_sysio_read_file(int dirfd, const char *name, size_t max,
                   unsigned char **out, size_t *outlen)
{
	int fd, rc;

	/* Never blocks on a FIFO or device put in the file's place. */
	fd = ts_sysio_openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOCTTY, 0);
	if (fd < 0)
		return fd;
	rc = ts_sysio_read_all(fd, max, out, outlen);
	close(fd);
	return rc;
}
