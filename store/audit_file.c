/*
 * audit_file: the directory store's sink of the audit trail
 * (audit_priv.h): the segment files STORE/audit/NNNNNN.log, their
 * rotation, the chain read back from the last one at open (a line cut by
 * a crash dropped), the checkpoint and verify key files, the forward-
 * secure seals file, and the segments read as one file.  Its prune is
 * audit_prune.c's.
 */
#include "store/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <jansson.h>

#include "store/audit_priv.h"
#include "store/sysio.h"
#include "store/util.h"

/* Reads the last complete line of segment fd: its seq and hash. */
static int
recover_tail(int fd, uint64_t size, uint64_t *seq, unsigned char *hash,
             uint64_t *good)
{
	/* Room for a whole last line and a cut one after it. */
	char buf[2 * LINE_MAX_AUDIT + 1];
	size_t n = size < 2 * LINE_MAX_AUDIT ? (size_t)size : 2 * LINE_MAX_AUDIT;
	ssize_t r;
	char *end, *start;

	*good = size;
	if (size == 0)
		return 1;	/* empty: the chain goes on from before */
	r = ts_sysio_pread(fd, buf, n, (off_t)(size - n));
	if (r < 0)
		return (int)r;
	buf[r] = '\0';
	/* A line cut by a crash mid-write was never acknowledged: drop it. */
	end = strrchr(buf, '\n');
	if (end == NULL) {
		/* Nothing but a cut line: the segment holds no entry yet. */
		if ((uint64_t)r < size)
			return -EBADMSG;
		*good = 0;
		return 1;
	}
	*good = size - (uint64_t)(buf + r - (end + 1));
	*end = '\0';
	start = strrchr(buf, '\n');
	start = start ? start + 1 : buf;
	return ts_audit_line_parse(start, (size_t)(end - start), seq, hash,
	                           NULL);
}

static int
open_segment(struct ts_audit *a, unsigned n, int create)
{
	char name[32];
	int fd;

	ts_audit_segment_name(n, name);
	fd = ts_sysio_openat(a->dirfd, name, O_WRONLY | O_APPEND | O_NONBLOCK
	                     | (create ? O_CREAT | O_EXCL : 0), 0600);
	if (fd < 0)
		return fd;
	if (create)
		ts_sysio_fsync(a->dirfd);
	if (a->fd >= 0)
		close(a->fd);
	a->fd = fd;
	return 0;
}

/* Loads the anchor of a pruned trail: the chain goes on from it.  A
 * trail whose first segments are gone without one lost them. */
static int
open_anchor(struct ts_audit *a)
{
	struct ts_audit_checkpoint an;
	int rc = ts_audit_anchor_load(a->dirfd, a->sign_pk, &an);

	if (rc == -ENOENT)
		return a->first > 1 ? -EBADMSG : 0;
	if (rc < 0)
		return rc;
	a->have_anchor = 1;
	a->anchor_seq = an.seq;
	memcpy(a->anchor_hash, an.hash, HASHBYTES);
	a->seq = an.seq;
	memcpy(a->hash, an.hash, HASHBYTES);
	return 0;
}

static int
grow_sizes(struct ts_audit *a, unsigned n)
{
	uint64_t *v = realloc(a->segsize, n * sizeof(*v));

	if (v == NULL)
		return -ENOMEM;
	a->segsize = v;
	return 0;
}

/* The verify key: written once; a different one means another key. */
static int
check_verify_key(struct ts_audit *a)
{
	unsigned char vk[32], *text;
	size_t len;
	int rc;

	rc = ts_sysio_read_file(a->dirfd, VERIFY_KEY, 1024, &text, &len);
	if (rc == -ENOENT) {
		char h[2 * sizeof(vk) + 2];

		ts_audit_hex(a->sign_pk, sizeof(a->sign_pk), h);
		strcat(h, "\n");
		return ts_sysio_write_atomic(a->dirfd, VERIFY_KEY, h, strlen(h),
		                             0644, 1);
	}
	if (rc < 0)
		return rc;
	rc = len < 64 || ts_audit_unhex((char *)text, 64, vk, sizeof(vk)) < 0 ||
	     memcmp(vk, a->sign_pk, sizeof(vk)) != 0 ? -EKEYREJECTED : 0;
	free(text);
	return rc;
}

/* The segments' sizes, and the chain continued from the last entry of the
 * last segment that has one (a cut line at its end dropped). */
static int
open_segments(struct ts_audit *a)
{
	int rc;

	if (a->segno == 0) {
		if ((rc = grow_sizes(a, 1)) < 0 ||
		    (rc = open_segment(a, 1, 1)) < 0)
			return rc;
		a->segno = 1;
		a->segsize[0] = 0;
		return 0;
	}
	if ((rc = grow_sizes(a, a->segno)) < 0)
		return rc;
	for (unsigned i = 1; i < a->first; i++)
		a->segsize[i - 1] = 0;
	for (unsigned i = a->first; i <= a->segno; i++) {
		char name[32];
		struct stat st;

		ts_audit_segment_name(i, name);
		if (fstatat(a->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -errno;
		a->segsize[i - 1] = (uint64_t)st.st_size;
		a->total += (uint64_t)st.st_size;
	}
	if ((rc = open_segment(a, a->segno, 0)) < 0)
		return rc;
	for (unsigned i = a->segno; i >= a->first; i--) {
		char name[32];
		uint64_t good;
		int fd;

		ts_audit_segment_name(i, name);
		if ((fd = ts_sysio_openat(a->dirfd, name, O_RDWR, 0)) < 0)
			return fd;
		rc = recover_tail(fd, a->segsize[i - 1], &a->seq, a->hash,
		                  &good);
		if (rc >= 0 && good < a->segsize[i - 1] &&
		    ftruncate(fd, (off_t)good) == 0) {
			a->total -= a->segsize[i - 1] - good;
			a->segsize[i - 1] = good;
		}
		close(fd);
		if (rc <= 0)
			return rc;
	}
	return 0;
}

static const struct audit_sink_ops file_ops;

int
ts_audit_open(int storefd, const char *host, const struct ts_seckey *key,
              size_t segment_max, struct ts_audit **out)
{
	struct ts_audit_checkpoint cp;
	struct ts_audit *a;
	unsigned char *text;
	size_t len;
	int rc, have_cp = 0;

	if ((rc = ts_audit_new(host, key, segment_max, &file_ops, &a)) < 0)
		return rc;
	rc = ts_sysio_mkdirat(storefd, "audit", 0700);
	if (rc < 0 && rc != -EEXIST)
		goto out_close;
	if ((a->dirfd = ts_sysio_openat(storefd, "audit", O_RDONLY |
	                                O_DIRECTORY, 0)) < 0) {
		rc = a->dirfd;
		goto out_close;
	}
	if ((rc = check_verify_key(a)) < 0 ||
	    (rc = ts_audit_list_segments(a->dirfd, &a->first, &a->segno)) < 0)
		goto out_close;
	/* Segments before first were pruned: the anchor vouches for them. */
	if ((rc = open_anchor(a)) < 0 || (rc = open_segments(a)) < 0)
		goto out_close;
	if ((rc = ts_sysio_read_file(a->dirfd, CHECKPOINT, 4096, &text,
	                             &len)) == 0) {
		rc = ts_audit_checkpoint_parse(text, len, &cp);
		free(text);
		if (rc < 0) {
			rc = -EBADMSG;
			goto out_close;
		}
		have_cp = 1;
	} else if (rc != -ENOENT) {
		goto out_close;
	}
	if ((rc = ts_audit_opened(a, have_cp ? &cp : NULL)) < 0)
		goto out_close;
	*out = a;
	return 0;
out_close:
	ts_audit_close(a);
	return rc;
}

static void
file_close(struct ts_audit *a)
{
	if (a->fd >= 0)
		close(a->fd);
	if (a->dirfd >= 0)
		close(a->dirfd);
	free(a->segsize);
}

static int
file_append(struct ts_audit *a, const char *line, size_t n)
{
	int rc;

	if (a->segsize[a->segno - 1] > 0 &&
	    a->segsize[a->segno - 1] + n > a->segment_max) {
		if ((rc = grow_sizes(a, a->segno + 1)) < 0 ||
		    (rc = open_segment(a, a->segno + 1, 1)) < 0)
			return rc;
		a->segsize[a->segno++] = 0;
	}
	rc = ts_sysio_write_all(a->fd, line, n);
	if (rc < 0) {
		/* Never leave half a line: the next entry must parse. */
		if (ftruncate(a->fd, (off_t)a->segsize[a->segno - 1]) < 0)
			rc = -EIO;
		return rc;
	}
	a->segsize[a->segno - 1] += (uint64_t)n;
	a->total += (uint64_t)n;
	return 0;
}

/* Group commit: one fdatasync for all entries of the last second (a
 * rotation fsynced the segments before). */
static int
file_flush(struct ts_audit *a)
{
	int fd, rc;

	pthread_mutex_lock(&a->lock);
	fd = dup(a->fd);
	pthread_mutex_unlock(&a->lock);
	if (fd < 0)
		return -errno;
	rc = fdatasync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

static int
file_checkpoint_put(struct ts_audit *a, const struct ts_audit_checkpoint *cp,
                    const char *text, size_t len)
{
	(void)cp;
	return ts_sysio_write_atomic(a->dirfd, CHECKPOINT, text, len, 0644, 0);
}

/*
 * The hash of entry seq (1..a->seq) into out: the tail's, or read from the
 * segment that holds it (seqs run on by one within a segment).  -ENOENT if
 * no entry has that seq.  Before appends only (no lock).
 */
static int
file_hash_at(struct ts_audit *a, uint64_t seq, unsigned char out[HASHBYTES])
{
	if (seq == a->seq) {
		memcpy(out, a->hash, HASHBYTES);
		return 0;
	}
	if (a->have_anchor && seq == a->anchor_seq) {
		memcpy(out, a->anchor_hash, HASHBYTES);
		return 0;
	}
	for (unsigned i = a->segno; i >= a->first; i--) {
		char name[32], *p, *end;
		unsigned char *text;
		uint64_t first, k = 0, got;
		size_t len;
		json_t *j;
		int rc;

		ts_audit_segment_name(i, name);
		if ((rc = ts_sysio_read_file(a->dirfd, name, 1u << 30, &text,
		                             &len)) < 0)
			return rc;
		end = memchr(text, '\n', len);
		j = end ? json_loadb((char *)text, (size_t)(end - (char *)text),
		                     0, NULL) : NULL;
		first = (uint64_t)json_integer_value(json_object_get(j, "seq"));
		json_decref(j);
		if (j == NULL || first > seq) {
			free(text);
			continue;	/* empty, or seq is in an earlier one */
		}
		/* Line seq - first (0-based) of this segment. */
		for (p = (char *)text; p < (char *)text + len; p = end + 1, k++) {
			end = memchr(p, '\n', (size_t)((char *)text + len - p));
			if (end == NULL)
				break;
			if (k < seq - first)
				continue;
			rc = ts_audit_line_parse(p, (size_t)(end - p), &got, out,
			                         NULL) == 0 && got == seq ?
			     0 : -ENOENT;
			free(text);
			return rc;
		}
		free(text);
		return -ENOENT;
	}
	return -ENOENT;
}

static int
file_space(struct ts_audit *a, uint64_t *avail, uint64_t *total)
{
	struct statvfs sv;

	if (fstatvfs(a->dirfd, &sv) < 0)
		return -errno;
	*avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	*total = (uint64_t)sv.f_blocks * sv.f_frsize;
	return 0;
}

static uint64_t
file_size(struct ts_audit *a)
{
	uint64_t n;

	pthread_mutex_lock(&a->lock);
	n = a->hole + a->total;
	pthread_mutex_unlock(&a->lock);
	return n;
}

static ssize_t
file_read(struct ts_audit *a, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	uint64_t base;

	pthread_mutex_lock(&a->lock);
	/* What was pruned under an open descriptor reads as one blank line,
	 * so that a follower's offset still points where it did. */
	if (off < a->hole) {
		done = a->hole - off < len ? (size_t)(a->hole - off) : len;
		memset(buf, ' ', done);
		if (off + done == a->hole)
			((char *)buf)[done - 1] = '\n';
	}
	base = a->hole;
	for (unsigned i = a->first; i <= a->segno && done < len; i++) {
		uint64_t sz = a->segsize[i - 1];
		char name[32];
		ssize_t r;
		int fd;

		if (off + done >= base + sz) {
			base += sz;
			continue;
		}
		ts_audit_segment_name(i, name);
		/* Never blocks on a FIFO put in a segment's place. */
		if ((fd = ts_sysio_openat(a->dirfd, name, O_RDONLY |
		                          O_NONBLOCK, 0)) < 0) {
			pthread_mutex_unlock(&a->lock);
			return fd;
		}
		r = ts_sysio_pread(fd, (char *)buf + done,
		                   (size_t)(sz - (off + done - base)) < len - done ?
		                   (size_t)(sz - (off + done - base)) : len - done,
		                   (off_t)(off + done - base));
		close(fd);
		if (r < 0) {
			pthread_mutex_unlock(&a->lock);
			return r;
		}
		done += (size_t)r;
		base += sz;
	}
	pthread_mutex_unlock(&a->lock);
	return (ssize_t)done;
}

/* Nobody holds an offset: the view is what remains again. */
static void
file_view_idle(struct ts_audit *a)
{
	a->hole = 0;
}

/* STORE/audit/seals-ID: the seals, a line each. */
static int
file_seals_read(struct ts_audit *a, const char *seals, unsigned char **text,
                size_t *len)
{
	return ts_sysio_read_file(a->dirfd, seals, 1u << 30, text, len);
}

static int
file_seal_put(struct ts_audit *a, const char *seals, uint64_t epoch,
              const char *line, size_t len)
{
	int fd, rc;

	(void)epoch;
	if ((fd = ts_sysio_openat(a->dirfd, seals, O_WRONLY | O_APPEND |
	                          O_NONBLOCK | O_CREAT, 0644)) < 0)
		return fd;
	rc = ts_sysio_write_all(fd, line, len);
	if (rc == 0)
		rc = ts_sysio_fsync(fd);
	close(fd);
	if (rc == 0)
		rc = ts_sysio_fsync(a->dirfd);
	return rc;
}

static const struct audit_sink_ops file_ops = {
	.append = file_append,
	.flush = file_flush,
	.checkpoint_put = file_checkpoint_put,
	.hash_at = file_hash_at,
	.space = file_space,
	.size = file_size,
	.read = file_read,
	.view_idle = file_view_idle,
	.prune_next = ts_audit_file_prune_next,
	.prune = ts_audit_file_prune,
	.seals_read = file_seals_read,
	.seal_put = file_seal_put,
	.close = file_close,
	.segmented = 1,
};
