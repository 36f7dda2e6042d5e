/*
 * audit: the live trail: open (the chain read back from the last
 * segment), close, append, segments and their rotation, free space, and
 * reading the trail as one file.  The checkpoint is audit_checkpoint.c,
 * the text audit_format.c, verifying audit_verify.c.
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
	char *end, *start, *h;
	json_t *j;
	json_error_t je;

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
	if ((h = strstr(start, ",\"hash\":\"")) == NULL ||
	    ts_audit_unhex(h + 9, 2 * HASHBYTES, hash, HASHBYTES) < 0)
		return -EBADMSG;
	if ((j = json_loads(start, 0, &je)) == NULL)
		return -EBADMSG;
	*seq = (uint64_t)json_integer_value(json_object_get(j, "seq"));
	json_decref(j);
	return 0;
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

int
ts_audit_open(int storefd, const struct ts_seckey *key, size_t segment_max,
              struct ts_audit **out)
{
	struct ts_audit *a = calloc(1, sizeof(*a));
	unsigned char seed[crypto_sign_SEEDBYTES], vk[32];
	unsigned char *text;
	size_t len;
	int rc;

	if (a == NULL)
		return -ENOMEM;
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->sync_lock, NULL);
	a->fd = -1;
	a->dirfd = -1;
	a->copy_dirfd = -1;
	a->segment_max = segment_max;
	rc = ts_sysio_mkdirat(storefd, "audit", 0700);
	if (rc < 0 && rc != -EEXIST)
		goto out_free;
	if ((a->dirfd = ts_sysio_openat(storefd, "audit", O_RDONLY |
	                                O_DIRECTORY, 0)) < 0) {
		rc = a->dirfd;
		goto out_free;
	}
	rc = -ENOMEM;
	if ((a->sign_sk = sodium_malloc(crypto_sign_SECRETKEYBYTES)) == NULL)
		goto out_close;
	ts_seal_derive(key, "ticketfs-audit-sign-v1", seed, sizeof(seed));
	crypto_sign_seed_keypair(a->sign_pk, a->sign_sk, seed);
	sodium_memzero(seed, sizeof(seed));
	/* The verify key: written once; a different one means another key. */
	rc = ts_sysio_read_file(a->dirfd, VERIFY_KEY, 1024, &text, &len);
	if (rc == -ENOENT) {
		char h[2 * sizeof(vk) + 2];

		ts_audit_hex(a->sign_pk, sizeof(a->sign_pk), h);
		strcat(h, "\n");
		rc = ts_sysio_write_atomic(a->dirfd, VERIFY_KEY, h, strlen(h),
		                           0644, 1);
	} else if (rc == 0) {
		rc = len < 64 ||
		     ts_audit_unhex((char *)text, 64, vk, sizeof(vk)) < 0 ||
		     memcmp(vk, a->sign_pk, sizeof(vk)) != 0 ? -EKEYREJECTED : 0;
		free(text);
	}
	if (rc < 0)
		goto out_close;
	if ((rc = ts_audit_list_segments(a->dirfd, &a->first, &a->segno)) < 0)
		goto out_close;
	/* Segments before first were pruned: the anchor vouches for them. */
	if ((rc = open_anchor(a)) < 0)
		goto out_close;
	if (a->segno == 0) {
		if ((rc = grow_sizes(a, 1)) < 0 ||
		    (rc = open_segment(a, 1, 1)) < 0)
			goto out_close;
		a->segno = 1;
		a->segsize[0] = 0;
	} else {
		if ((rc = grow_sizes(a, a->segno)) < 0)
			goto out_close;
		for (unsigned i = 1; i < a->first; i++)
			a->segsize[i - 1] = 0;
		for (unsigned i = a->first; i <= a->segno; i++) {
			char name[32];
			struct stat st;

			ts_audit_segment_name(i, name);
			if (fstatat(a->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				rc = -errno;
				goto out_close;
			}
			a->segsize[i - 1] = (uint64_t)st.st_size;
			a->total += (uint64_t)st.st_size;
		}
		if ((rc = open_segment(a, a->segno, 0)) < 0)
			goto out_close;
		/* Continue the chain from the last entry of the last segment
		 * that has one. */
		for (unsigned i = a->segno; i >= a->first; i--) {
			char name[32];
			uint64_t good;
			int fd;

			ts_audit_segment_name(i, name);
			fd = ts_sysio_openat(a->dirfd, name, O_RDWR, 0);
			if (fd < 0) {
				rc = fd;
				goto out_close;
			}
			rc = recover_tail(fd, a->segsize[i - 1], &a->seq,
			                  a->hash, &good);
			if (rc >= 0 && good < a->segsize[i - 1] &&
			    ftruncate(fd, (off_t)good) == 0) {
				a->total -= a->segsize[i - 1] - good;
				a->segsize[i - 1] = good;
			}
			close(fd);
			if (rc < 0)
				goto out_close;
			if (rc == 0)
				break;
		}
		a->synced_seq = a->seq;
	}
	/*
	 * A checkpoint is only signed over entries already on disk, so a trail
	 * shorter than its checkpoint lost entries: refuse to go on (and sign
	 * over the gap) until someone has looked (ticketctl audit verify).
	 */
	if ((rc = ts_sysio_read_file(a->dirfd, CHECKPOINT, 4096, &text,
	                             &len)) == 0) {
		struct ts_audit_checkpoint cp;

		rc = ts_audit_checkpoint_parse(text, len, &cp);
		free(text);
		if (rc < 0 || cp.seq > a->seq) {
			rc = -EBADMSG;
			goto out_close;
		}
		a->cp_seq = cp.seq;
		a->have_cp = 1;
	} else if (rc != -ENOENT) {
		goto out_close;
	}
	*out = a;
	return 0;
out_close:
	ts_audit_close(a);
	return rc;
out_free:
	pthread_mutex_destroy(&a->sync_lock);
	pthread_mutex_destroy(&a->lock);
	free(a);
	return rc;
}

void
ts_audit_close(struct ts_audit *a)
{
	if (a == NULL)
		return;
	if (a->fd >= 0) {
		ts_audit_sync_closing(a);
		close(a->fd);
	}
	if (a->dirfd >= 0)
		close(a->dirfd);
	if (a->copy_dirfd >= 0)
		close(a->copy_dirfd);
	free(a->copy_name);
	ts_audit_fss_free(a->fss);
	sodium_free(a->sign_sk);
	free(a->segsize);
	pthread_mutex_destroy(&a->sync_lock);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

/* Appends s to out as JSON string content; invalid UTF-8 becomes '?'. */
static size_t
escape(char *out, size_t cap, const char *s)
{
	json_t *probe = json_string(s);
	int utf8 = probe != NULL;
	size_t n = 0;

	json_decref(probe);
	for (; *s != '\0' && n + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[n++] = '\\';
			out[n++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
		} else if (c >= 0x80 && !utf8) {
			out[n++] = '?';
		} else {
			out[n++] = (char)c;
		}
	}
	/* Cut short inside a character: drop all of it, or the line would
	 * not be UTF-8, nor JSON. */
	if (utf8 && ((unsigned char)*s & 0xc0) == 0x80) {
		while (n > 0 && ((unsigned char)out[n - 1] & 0xc0) == 0x80)
			n--;
		if (n > 0)
			n--;
	}
	out[n] = '\0';
	return n;
}

int
ts_audit_append(struct ts_audit *a, const struct ts_audit_entry *e)
{
	char line[LINE_MAX_AUDIT], t[32], comm[128], path[2048], detail[512];
	char h[2 * HASHBYTES + 1], ip[64];
	unsigned char next[HASHBYTES];
	const char *result;
	int n, rc;

	escape(comm, sizeof(comm), e->comm ? e->comm : "");
	escape(path, sizeof(path), e->path ? e->path : "");
	escape(detail, sizeof(detail), e->detail ? e->detail : "");
	escape(ip, sizeof(ip), e->client_ip ? e->client_ip : "");
	result = e->err == 0 ? "ok" : e->err == EACCES || e->err == EPERM ?
	         "denied" : "error";
	pthread_mutex_lock(&a->lock);
	ts_time_format_ms(ts_now_ms(), t);
	n = snprintf(line, sizeof(line), "{\"seq\":%llu,\"time\":\"%s\","
	             "\"uid\":%u,\"pid\":%d,\"comm\":\"%s\",\"op\":\"%s\","
	             "\"path\":\"%s\",\"result\":\"%s\"",
	             (unsigned long long)a->seq + 1, t, (unsigned)e->uid,
	             (int)e->pid, comm, e->op, path, result);
	if (e->err != 0 && n > 0 && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n,
		              ",\"errno\":%d,\"error\":\"%s\"", e->err,
		              strerror(e->err));
	if (e->count > 0 && n > 0 && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n,
		              ",\"count\":%llu", (unsigned long long)e->count);
	if (detail[0] != '\0' && n > 0 && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n,
		              ",\"detail\":\"%s\"", detail);
	if (ip[0] != '\0' && n > 0 && (size_t)n < sizeof(line))
		n += snprintf(line + n, sizeof(line) - (size_t)n,
		              ",\"client_ip\":\"%s\"", ip);
	if (n < 0 || (size_t)n + SUFFIX_LEN >= sizeof(line)) {
		pthread_mutex_unlock(&a->lock);
		return -E2BIG;
	}
	ts_audit_chain(a->hash, line, (size_t)n, next);
	ts_audit_hex(next, HASHBYTES, h);
	n += snprintf(line + n, sizeof(line) - (size_t)n, ",\"hash\":\"%s\"}\n",
	              h);
	if (a->segsize[a->segno - 1] > 0 &&
	    a->segsize[a->segno - 1] + (size_t)n > a->segment_max) {
		if ((rc = grow_sizes(a, a->segno + 1)) < 0 ||
		    (rc = open_segment(a, a->segno + 1, 1)) < 0)
			goto out;
		a->segsize[a->segno++] = 0;
	}
	rc = ts_sysio_write_all(a->fd, line, (size_t)n);
	if (rc < 0) {
		/* Never leave half a line: the next entry must parse. */
		if (ftruncate(a->fd, (off_t)a->segsize[a->segno - 1]) < 0)
			rc = -EIO;
		goto out;
	}
	a->seq++;
	memcpy(a->hash, next, HASHBYTES);
	a->segsize[a->segno - 1] += (uint64_t)n;
	a->total += (uint64_t)n;
out:
	pthread_mutex_unlock(&a->lock);
	return rc;
}

int
ts_audit_space_low(struct ts_audit *a, int64_t now_ms, uint64_t *avail,
                   uint64_t *threshold)
{
	struct statvfs sv;
	uint64_t total;

	if (fstatvfs(a->dirfd, &sv) < 0)
		return -errno;
	*avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	total = (uint64_t)sv.f_blocks * sv.f_frsize;
	*threshold = total / 20 < (64u << 20) ? total / 20 : (64u << 20);
	if (*avail >= *threshold) {
		a->space_warned = 0;	/* back above the line: re-armed */
		return 0;
	}
	if (a->space_warned || (a->space_warn_ms != 0 &&
	                        now_ms - a->space_warn_ms < TS_AUDIT_WARN_MS))
		return 0;
	a->space_warned = 1;
	a->space_warn_ms = now_ms;
	return 1;
}

uint64_t
ts_audit_size(struct ts_audit *a)
{
	uint64_t n;

	pthread_mutex_lock(&a->lock);
	n = a->hole + a->total;
	pthread_mutex_unlock(&a->lock);
	return n;
}

ssize_t
ts_audit_read(struct ts_audit *a, void *buf, size_t len, uint64_t off)
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
