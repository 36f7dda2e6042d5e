/*
 * stats: the daemon's published counters (fs/stats.h).  Its files are
 * written with plain system calls, not through store/sysio.h: they are
 * not the store's, and a fault injected there is meant for the store.
 */
#define FUSE_USE_VERSION 314
#include "fs/stats.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fs/cache.h"
#include "store/store.h"

#define PUBLISH_MS 1000
#define STALE_S 600

struct ts_stats {
	struct ts_store *st;		/* its statements counted */
	int dirfd;			/* TS_STORE_RUN_DIR */
	char name[TS_STORE_RUN_NAME_MAX + 8];	/* NAME.stats */
	char tmp[TS_STORE_RUN_NAME_MAX + 16];	/* .NAME.stats.tmp */
	atomic_uint_fast64_t requests;	/* served by the loop thread */
	int64_t last_ms;		/* the last write; ticker only */
	int failed;			/* the last write failed; ticker */
};

/* Removes the files of daemons gone without their unmount (kill -9): a
 * live one rewrites its file every second, so one untouched for
 * STALE_S is no live daemon's. */
static void
sweep_stale(int dirfd)
{
	time_t now = time(NULL);
	struct dirent *de;
	struct stat sb;
	DIR *d;
	int fd;

	if ((fd = dup(dirfd)) < 0)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		size_t n = strlen(de->d_name);

		if (n > 6 && strcmp(de->d_name + n - 6, ".stats") == 0 &&
		    fstatat(dirfd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sb.st_mode) && now - sb.st_mtime > STALE_S)
			unlinkat(dirfd, de->d_name, 0);
	}
	closedir(d);
}

/* The run directory, made if missing: 0 if it is a directory of this
 * uid's that nobody else may enter. */
static int
open_run_dir(void)
{
	struct stat sb;
	int fd;

	if (mkdir(TS_STORE_RUN_DIR, 0700) < 0 && errno != EEXIST)
		return -errno;
	fd = open(TS_STORE_RUN_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	          O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0 || sb.st_uid != geteuid() ||
	    (sb.st_mode & 077) != 0) {
		close(fd);
		return -EPERM;
	}
	return fd;
}

int
ts_stats_new(struct ts_store *st, struct ts_stats **out)
{
	char run[TS_STORE_RUN_NAME_MAX];
	struct ts_stats *s;
	int rc;

	if ((rc = ts_store_run_name(st, run)) < 0)
		return rc;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	if ((s->dirfd = open_run_dir()) < 0) {
		rc = s->dirfd;
		free(s);
		return rc;
	}
	sweep_stale(s->dirfd);
	snprintf(s->name, sizeof(s->name), "%s.stats", run);
	snprintf(s->tmp, sizeof(s->tmp), ".%s.stats.tmp", run);
	atomic_init(&s->requests, 0);
	s->st = st;
	*out = s;
	return 0;
}

void
ts_stats_free(struct ts_stats *s)
{
	if (s == NULL)
		return;
	unlinkat(s->dirfd, s->name, 0);
	unlinkat(s->dirfd, s->tmp, 0);
	close(s->dirfd);
	free(s);
}

/* sched_setattr(2)'s argument (no libc wrapper). */
struct slice_attr {
	uint32_t size, policy;
	uint64_t flags;
	int32_t nice;
	uint32_t priority;
	uint64_t runtime, deadline, period;
};

/*
 * Asks the scheduler for a short slice (0.1 ms, Linux 6.12's EEVDF custom
 * slice) for the calling thread, at its nice value and policy: its
 * virtual deadline comes sooner after a wake-up, so a request that wakes
 * it while both cores are busy is served after less waiting in the run
 * queue.  Its share of the CPU is unchanged.  Only under the default
 * policy (one chosen by the operator, e.g. systemd's CPUSchedulingPolicy=,
 * is left alone).  Older kernels ignore the runtime or refuse; either way
 * nothing else changes.
 */
static void
short_slice(void)
{
	struct slice_attr a = { .size = sizeof(a), .policy = SCHED_OTHER,
	                        .runtime = 100 * 1000 };

	if (sched_getscheduler(0) != SCHED_OTHER)
		return;
	errno = 0;
	a.nice = getpriority(PRIO_PROCESS, 0);
	if (errno == 0)
		(void)syscall(SYS_sched_setattr, 0, &a, 0);
}

int
ts_stats_session_loop(struct fuse_session *se, struct ts_stats *s)
{
	struct fuse_buf fbuf = { .mem = NULL };
	int res = 0;

	short_slice();

	while (!fuse_session_exited(se)) {
		res = fuse_session_receive_buf(se, &fbuf);
		if (res == -EINTR)
			continue;
		if (res <= 0)
			break;
		fuse_session_process_buf(se, &fbuf);
		if (s != NULL)
			atomic_fetch_add_explicit(&s->requests, 1,
			                          memory_order_relaxed);
	}
	free(fbuf.mem);
	fuse_session_reset(se);
	return res < 0 ? res : 0;
}

int
ts_stats_publish(struct ts_stats *s, struct ts_cache *c, int64_t mounted_ms,
                 int64_t now_ms)
{
	uint64_t hits = 0, misses = 0;
	char buf[512];
	int fd, n, rc;

	if (s == NULL || now_ms - s->last_ms < PUBLISH_MS)
		return 0;
	s->last_ms = now_ms;
	if (c != NULL)
		ts_cache_counts(c, &hits, &misses);
	n = snprintf(buf, sizeof(buf),
	             "{\"pid\":%ld,\"updated_ms\":%lld,\"mounted_ms\":%lld,"
	             "\"requests\":%llu,\"cache_hits\":%llu,"
	             "\"cache_misses\":%llu,\"cache_bytes\":%zu,"
	             "\"cache_limit\":%zu,\"db_statements\":%llu}\n",
	             (long)getpid(),
	             (long long)now_ms, (long long)mounted_ms,
	             (unsigned long long)atomic_load(&s->requests),
	             (unsigned long long)hits, (unsigned long long)misses,
	             c ? ts_cache_used(c) : 0, c ? ts_cache_limit(c) : 0,
	             ts_store_statements(s->st));
	fd = openat(s->dirfd, s->tmp, O_WRONLY | O_CREAT | O_TRUNC |
	            O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		goto fail;
	if (write(fd, buf, (size_t)n) != n) {
		close(fd);
		goto fail;
	}
	if (close(fd) < 0 || renameat(s->dirfd, s->tmp, s->dirfd, s->name) < 0)
		goto fail;
	s->failed = 0;
	return 0;
fail:
	rc = -errno;
	unlinkat(s->dirfd, s->tmp, 0);
	if (s->failed)
		return 0;	/* told already */
	s->failed = 1;
	return rc;
}
