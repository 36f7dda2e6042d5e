/*
 * sysio: every system call of the storage layer goes through this table, so
 * a test can make the Nth write, fsync, rename or open fail with the errno
 * it chooses (after SQLite's os_unix.c).  It also holds the one durable
 * write primitive the store uses: write a temporary file, fsync it, rename
 * it over the target, fsync the directory.
 *
 * All functions return 0 (or a byte count / fd) on success and -errno on
 * failure; errno itself is never the channel.
 */
#ifndef TS_SYSIO_H
#define TS_SYSIO_H

#include <stddef.h>
#include <sys/types.h>

enum ts_sysio_op {
	TS_SYSIO_OPEN,
	TS_SYSIO_READ,
	TS_SYSIO_WRITE,
	TS_SYSIO_FSYNC,
	TS_SYSIO_RENAME,
	TS_SYSIO_UNLINK,
	TS_SYSIO_MKDIR,
	TS_SYSIO_NOPS
};

/*
 * Fault injection, for tests only: the nth (1-based, counted from this call)
 * call of op fails with -err; n = 0 disarms.  persistent != 0 makes every
 * call from the nth on fail until disarmed.  Thread-safe.
 */
void ts_sysio_inject(enum ts_sysio_op op, unsigned n, int err, int persistent);
/* 1 if the fault injected for op has not fired yet. */
int ts_sysio_armed(enum ts_sysio_op op);
/* Disarm every injected fault. */
void ts_sysio_reset(void);

int ts_sysio_openat(int dirfd, const char *name, int flags, mode_t mode);
ssize_t ts_sysio_pread(int fd, void *buf, size_t len, off_t off);
/* Reads the whole of fd (from offset 0) into a malloc'd buffer *out. */
int ts_sysio_read_all(int fd, size_t max, unsigned char **out, size_t *outlen);
/* Writes all of buf at the current offset, retrying short writes. */
int ts_sysio_write_all(int fd, const void *buf, size_t len);
int ts_sysio_fsync(int fd);
/* syncfs(2) of the filesystem holding fd; counted as an fsync for faults. */
int ts_sysio_syncfs(int fd);
int ts_sysio_renameat(int olddirfd, const char *oldname, int newdirfd,
                      const char *newname, unsigned flags);
int ts_sysio_unlinkat(int dirfd, const char *name, int flags);
int ts_sysio_mkdirat(int dirfd, const char *name, mode_t mode);

/*
 * Durably and atomically makes dirfd/name hold exactly buf: writes a
 * temporary file ".tmp-<name>-<random>" in dirfd with mode, fsyncs it,
 * renames it over name and fsyncs dirfd (no fsync while this thread
 * defers them, ts_sysio_defer).  With noreplace, fails with -EEXIST
 * if name exists.  On failure name is unchanged and the temporary is gone.
 */
int ts_sysio_write_atomic(int dirfd, const char *name, const void *buf,
                          size_t len, mode_t mode, int noreplace);

/*
 * Deferred durability, for the calling thread only (a thread-local flag):
 * while on, ts_sysio_write_atomic leaves out its two fsyncs (the write,
 * rename and all stay in order); the caller makes what it wrote durable
 * with one ts_sysio_syncfs before anything depends on it.  Other threads'
 * writes stay durable one by one.  ts_sysio_deferred() says whether it is
 * on.  What uses it: a batch of new tickets from intake (store.h,
 * ts_store_defer).
 */
void ts_sysio_defer(int on);
int ts_sysio_deferred(void);

/* Unlinks dirfd/name and fsyncs dirfd, so the removal is durable. */
int ts_sysio_remove_durable(int dirfd, const char *name);

/*
 * Reads a whole small file dirfd/name (O_NOFOLLOW, O_NONBLOCK) into *out
 * (malloc'd); -EINVAL if it is not a regular file, -EFBIG if over max.
 */
int ts_sysio_read_file(int dirfd, const char *name, size_t max,
                       unsigned char **out, size_t *outlen);

#endif
