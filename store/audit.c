/*
 * audit: the hash-chained, checkpoint-signed audit trail.
 */
#include "store/audit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <jansson.h>

#include "store/sysio.h"
#include "store/util.h"

#define HASHBYTES 32
#define LINE_MAX_AUDIT 4096
#define SUFFIX_LEN (9 + 2 * HASHBYTES + 3)	/* ,"hash":"<hex>"}\n */
#define VERIFY_KEY "verify.key"
#define CHECKPOINT "checkpoint"

static const char SIG_DOMAIN[] = "ticketfs-audit-checkpoint-v1";

struct ts_audit {
	pthread_mutex_t lock;
	int dirfd;		/* STORE/audit */
	int fd;			/* the current segment, O_APPEND; guarded */
	unsigned segno;		/* its number; guarded by lock */
	uint64_t *segsize;	/* bytes of segment i+1; guarded by lock */
	uint64_t total;		/* all segments; guarded by lock */
	uint64_t seq;		/* the last entry's seq; guarded by lock */
	unsigned char hash[HASHBYTES];	/* the last entry's hash; guarded */
	uint64_t synced_seq;	/* covered by the last checkpoint; guarded */
	uint64_t cp_seq;	/* the store's checkpoint's seq at open */
	int have_cp;		/* there was one */
	pthread_mutex_t sync_lock;	/* one ts_audit_sync at a time */
	int copy_dirfd;		/* the checkpoint copy's directory, or -1 */
	char *copy_name;	/* its name there; set once, before appends */
	int space_warned;	/* under the line since the last warning;
				   ts_audit_space_low's caller only */
	int64_t space_warn_ms;	/* when it last warned */
	size_t segment_max;	/* rotate past this many bytes */
	unsigned char *sign_sk;	/* Ed25519, sodium_malloc'd */
	unsigned char sign_pk[crypto_sign_PUBLICKEYBYTES];
};

static void
ts_audit_hex(const unsigned char *b, size_t n, char *out)
{
	sodium_bin2hex(out, 2 * n + 1, b, n);
}

static int
ts_audit_unhex(const char *s, size_t slen, unsigned char *b, size_t n)
{
	size_t got;

	return sodium_hex2bin(b, n, s, slen, NULL, &got, NULL) == 0 && got == n
	       ? 0 : -1;
}

static void
ts_audit_chain(const unsigned char prev[HASHBYTES], const char *body,
               size_t len, unsigned char out[HASHBYTES])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, HASHBYTES);
	crypto_generichash_update(&st, prev, HASHBYTES);
	crypto_generichash_update(&st, (const unsigned char *)body, len);
	crypto_generichash_final(&st, out, HASHBYTES);
}

static void
sig_message(uint64_t seq, const unsigned char hash[HASHBYTES],
            unsigned char msg[sizeof(SIG_DOMAIN) + 8 + HASHBYTES])
{
	memcpy(msg, SIG_DOMAIN, sizeof(SIG_DOMAIN));
	ts_le64_put(msg + sizeof(SIG_DOMAIN), seq);
	memcpy(msg + sizeof(SIG_DOMAIN) + 8, hash, HASHBYTES);
}

/* Parses a checkpoint file's text (not its signature). */
static int
ts_audit_checkpoint_parse(const unsigned char *text, size_t len,
                          struct ts_audit_checkpoint *cp)
{
	json_t *j = json_loadb((const char *)text, len, 0, NULL);
	json_t *seq = json_object_get(j, "seq");
	const char *hs = json_string_value(json_object_get(j, "hash"));
	const char *ss = json_string_value(json_object_get(j, "sig"));
	int rc = -EBADMSG;

	if (json_is_integer(seq) && json_integer_value(seq) >= 0 && hs != NULL &&
	    ss != NULL &&
	    ts_audit_unhex(hs, strlen(hs), cp->hash, HASHBYTES) == 0 &&
	    ts_audit_unhex(ss, strlen(ss), cp->sig, sizeof(cp->sig)) == 0) {
		cp->seq = (uint64_t)json_integer_value(seq);
		rc = 0;
	}
	json_decref(j);
	return rc;
}

/* 0 if cp is signed by verify key vk. */
static int
ts_audit_checkpoint_check(const struct ts_audit_checkpoint *cp,
                          const unsigned char vk[32])
{
	unsigned char msg[sizeof(SIG_DOMAIN) + 8 + HASHBYTES];

	sig_message(cp->seq, cp->hash, msg);
	return crypto_sign_verify_detached(cp->sig, msg, sizeof(msg), vk) == 0 ?
	       0 : -EBADMSG;
}

/* Signs (seq, hash) into checkpoint text; returns its length. */
static size_t
cp_format(const struct ts_audit *a, uint64_t seq,
          const unsigned char hash[HASHBYTES], char text[512])
{
	unsigned char msg[sizeof(SIG_DOMAIN) + 8 + HASHBYTES];
	unsigned char sig[crypto_sign_BYTES];
	char hh[2 * HASHBYTES + 1], sh[2 * crypto_sign_BYTES + 1];

	sig_message(seq, hash, msg);
	crypto_sign_detached(sig, NULL, msg, sizeof(msg), a->sign_sk);
	ts_audit_hex(hash, HASHBYTES, hh);
	ts_audit_hex(sig, sizeof(sig), sh);
	snprintf(text, 512, "{\"seq\":%llu,\"hash\":\"%s\",\"sig\":\"%s\"}\n",
	         (unsigned long long)seq, hh, sh);
	return strlen(text);
}

static int
ts_audit_segment_name(unsigned n, char name[32])
{
	return snprintf(name, 32, "%06u.log", n);
}

/* The sorted segment numbers under dirfd, which must run 1..n. */
static int
ts_audit_list_segments(int dirfd, unsigned *n)
{
	int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	unsigned max = 0, count = 0;

	if (dfd < 0 || (d = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		return -errno;
	}
	while ((de = readdir(d)) != NULL) {
		unsigned v;
		char tail[8];

		if (sscanf(de->d_name, "%6u.lo%1s", &v, tail) == 2 &&
		    strlen(de->d_name) == 10 && tail[0] == 'g') {
			count++;
			max = v > max ? v : max;
		}
	}
	closedir(d);
	*n = max;
	return count == max ? 0 : -EBADMSG;	/* a gap: a segment is missing */
}

void
ts_audit_verify_key(const struct ts_seckey *key, unsigned char vk[32])
{
	unsigned char seed[crypto_sign_SEEDBYTES], sk[crypto_sign_SECRETKEYBYTES];

	ts_seal_derive(key, "ticketfs-audit-sign-v1", seed, sizeof(seed));
	crypto_sign_seed_keypair(vk, sk, seed);
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(sk, sizeof(sk));
}

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
	fd = ts_sysio_openat(a->dirfd, name, O_WRONLY | O_APPEND |
	                     (create ? O_CREAT | O_EXCL : 0), 0600);
	if (fd < 0)
		return fd;
	if (create)
		ts_sysio_fsync(a->dirfd);
	if (a->fd >= 0)
		close(a->fd);
	a->fd = fd;
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
	if ((rc = ts_audit_list_segments(a->dirfd, &a->segno)) < 0)
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
		for (unsigned i = 1; i <= a->segno; i++) {
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
		for (unsigned i = a->segno; i >= 1; i--) {
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
		ts_audit_sync(a);
		close(a->fd);
	}
	if (a->dirfd >= 0)
		close(a->dirfd);
	if (a->copy_dirfd >= 0)
		close(a->copy_dirfd);
	free(a->copy_name);
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
	char h[2 * HASHBYTES + 1];
	unsigned char next[HASHBYTES];
	const char *result;
	int n, rc;

	escape(comm, sizeof(comm), e->comm ? e->comm : "");
	escape(path, sizeof(path), e->path ? e->path : "");
	escape(detail, sizeof(detail), e->detail ? e->detail : "");
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
ts_audit_sync(struct ts_audit *a)
{
	unsigned char hash[HASHBYTES];
	char text[512];
	uint64_t seq;
	size_t len;
	int fd, rc;

	/* Two syncs at once could put an older checkpoint over a newer one,
	 * or the copy ahead of the store's. */
	pthread_mutex_lock(&a->sync_lock);
	pthread_mutex_lock(&a->lock);
	seq = a->seq;
	memcpy(hash, a->hash, HASHBYTES);
	fd = dup(a->fd);
	pthread_mutex_unlock(&a->lock);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	if (seq == a->synced_seq) {
		close(fd);
		rc = 0;
		goto out;
	}
	/* Group commit: one fdatasync for all entries of the last second. */
	rc = fdatasync(fd) < 0 ? -errno : 0;
	close(fd);
	if (rc < 0)
		goto out;
	len = cp_format(a, seq, hash, text);
	rc = ts_sysio_write_atomic(a->dirfd, CHECKPOINT, text, len, 0644, 0);
	if (rc == 0) {
		pthread_mutex_lock(&a->lock);
		if (seq > a->synced_seq)
			a->synced_seq = seq;
		pthread_mutex_unlock(&a->lock);
	}
	/* The copy after the store's: it is never ahead of it. */
	if (rc == 0 && a->copy_dirfd >= 0)
		rc = ts_sysio_write_atomic(a->copy_dirfd, a->copy_name, text,
		                           len, 0600, 0);
out:
	pthread_mutex_unlock(&a->sync_lock);
	return rc;
}

/*
 * The hash of entry seq (1..a->seq) into out: the tail's, or read from the
 * segment that holds it (seqs run on by one within a segment).  -ENOENT if
 * no entry has that seq.  Before appends only (no lock).
 */
static int
hash_at(struct ts_audit *a, uint64_t seq, unsigned char out[HASHBYTES])
{
	if (seq == a->seq) {
		memcpy(out, a->hash, HASHBYTES);
		return 0;
	}
	for (unsigned i = a->segno; i >= 1; i--) {
		char name[32], *p, *end, *h;
		unsigned char *text;
		uint64_t first, k = 0;
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
			j = json_loadb(p, (size_t)(end - p), 0, NULL);
			rc = (uint64_t)json_integer_value(json_object_get(j,
			        "seq")) == seq && end - p > SUFFIX_LEN - 1 ?
			     0 : -ENOENT;
			json_decref(j);
			h = end - (SUFFIX_LEN - 1) + 9;
			if (rc == 0 && ts_audit_unhex(h, 2 * HASHBYTES, out,
			                              HASHBYTES) < 0)
				rc = -ENOENT;
			free(text);
			return rc;
		}
		free(text);
		return -ENOENT;
	}
	return -ENOENT;
}

int
ts_audit_checkpoint_load(const char *path, struct ts_audit_checkpoint *cp)
{
	unsigned char *text;
	size_t len;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -errno;
	rc = ts_sysio_read_all(fd, 4096, &text, &len);
	close(fd);
	if (rc < 0)
		return rc;
	rc = ts_audit_checkpoint_parse(text, len, cp);
	free(text);
	return rc;
}

int
ts_audit_set_copy(struct ts_audit *a, const char *path, char *msg,
                  size_t msglen)
{
	const char *slash = strrchr(path, '/');
	struct ts_audit_checkpoint copy;
	unsigned char h[HASHBYTES];
	unsigned long long cs;
	char dir[4096], text[512];
	unsigned char *raw;
	size_t len;
	int dfd, rc;

	if (slash == NULL || slash[1] == '\0' ||
	    (size_t)(slash - path) >= sizeof(dir)) {
		snprintf(msg, msglen, "checkpoint copy %s: not an absolute file "
		         "path", path);
		return -EINVAL;
	}
	snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 :
	         (int)(slash - path), path);
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = -errno;
		snprintf(msg, msglen, "checkpoint copy %s: %s", path,
		         strerror(-rc));
		return rc;
	}
	rc = ts_sysio_read_file(dfd, slash + 1, 4096, &raw, &len);
	if (rc == -ENOENT) {
		/* The first start with a copy: vouch for the trail as it is. */
		len = cp_format(a, a->seq, a->hash, text);
		rc = ts_sysio_write_atomic(dfd, slash + 1, text, len, 0600, 1);
		if (rc < 0) {
			snprintf(msg, msglen, "cannot write the checkpoint copy "
			         "%s: %s", path, strerror(-rc));
			goto out_close;
		}
		goto out_keep;
	}
	if (rc < 0) {
		snprintf(msg, msglen, "cannot read the checkpoint copy %s: %s",
		         path, strerror(-rc));
		goto out_close;
	}
	rc = ts_audit_checkpoint_parse(raw, len, &copy);
	free(raw);
	if (rc < 0 || ts_audit_checkpoint_check(&copy, a->sign_pk) < 0) {
		snprintf(msg, msglen, "the checkpoint copy %s is %s", path,
		         rc < 0 ? "damaged" : "not signed by this store's key");
		rc = -EBADMSG;
		goto out_close;
	}
	cs = (unsigned long long)copy.seq;
	if (a->seq < copy.seq) {
		snprintf(msg, msglen, "the audit trail ends at entry %llu but "
		         "the checkpoint copy %s covers entry %llu: entries were "
		         "removed (an old checkpoint put back?)",
		         (unsigned long long)a->seq, path, cs);
		rc = -ESTALE;
		goto out_close;
	}
	if ((a->have_cp ? a->cp_seq : 0) < copy.seq) {
		snprintf(msg, msglen, "the trail's signed checkpoint is at entry "
		         "%llu but the checkpoint copy %s at entry %llu: an old "
		         "checkpoint was put back",
		         (unsigned long long)a->cp_seq, path, cs);
		rc = -ESTALE;
		goto out_close;
	}
	if (copy.seq > 0 && ((rc = hash_at(a, copy.seq, h)) < 0 ||
	                     sodium_memcmp(h, copy.hash, HASHBYTES) != 0)) {
		snprintf(msg, msglen, "entry %llu of the audit trail differs from "
		         "the checkpoint copy %s: the trail was rewritten", cs,
		         path);
		rc = -EBADMSG;
		goto out_close;
	}
out_keep:
	if ((a->copy_name = strdup(slash + 1)) == NULL) {
		rc = -ENOMEM;
		snprintf(msg, msglen, "out of memory");
		goto out_close;
	}
	a->copy_dirfd = dfd;
	return 0;
out_close:
	close(dfd);
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
	n = a->total;
	pthread_mutex_unlock(&a->lock);
	return n;
}

ssize_t
ts_audit_read(struct ts_audit *a, void *buf, size_t len, uint64_t off)
{
	size_t done = 0;
	uint64_t base = 0;

	pthread_mutex_lock(&a->lock);
	for (unsigned i = 1; i <= a->segno && done < len; i++) {
		uint64_t sz = a->segsize[i - 1];
		char name[32];
		ssize_t r;
		int fd;

		if (off + done >= base + sz) {
			base += sz;
			continue;
		}
		ts_audit_segment_name(i, name);
		if ((fd = ts_sysio_openat(a->dirfd, name, O_RDONLY, 0)) < 0) {
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

static int bad(char *msg, size_t msglen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Says what is wrong; returns 1, verify's "not intact". */
static int
bad(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	return 1;
}

int
ts_audit_verify(int storefd, const unsigned char *verify_key,
                const struct ts_audit_checkpoint *copy, char *msg,
                size_t msglen, uint64_t *entries)
{
	unsigned char hash[HASHBYTES] = { 0 }, vk[32], cphash[HASHBYTES];
	struct ts_audit_checkpoint cp;
	unsigned char *text = NULL;
	unsigned long long seq = 0, cpseq = 0;
	int found_cp = 0, dirfd, rc;
	unsigned nseg;
	size_t len;

	*entries = 0;
	if ((dirfd = ts_sysio_openat(storefd, "audit", O_RDONLY | O_DIRECTORY,
	                             0)) < 0) {
		snprintf(msg, msglen, "no audit trail: %s", strerror(-dirfd));
		return dirfd;
	}
	rc = ts_audit_list_segments(dirfd, &nseg);
	if (rc == -EBADMSG) {
		rc = bad(msg, msglen, "a segment is missing (numbering has a "
		         "gap)");
		goto out;
	}
	if (rc < 0)
		goto out;
	/* The key to trust, and the latest signed checkpoint. */
	if (verify_key != NULL) {
		memcpy(vk, verify_key, sizeof(vk));
	} else if (ts_sysio_read_file(dirfd, VERIFY_KEY, 1024, &text, &len) < 0 ||
	           len < 64 ||
	           ts_audit_unhex((char *)text, 64, vk, sizeof(vk)) < 0) {
		free(text);
		rc = bad(msg, msglen, "audit/verify.key is missing or damaged"
		         );
		goto out;
	} else {
		free(text);
	}
	text = NULL;
	if (ts_sysio_read_file(dirfd, CHECKPOINT, 4096, &text, &len) == 0) {
		rc = ts_audit_checkpoint_parse(text, len, &cp);
		free(text);
		if (rc < 0) {
			rc = bad(msg, msglen, "audit/checkpoint is damaged");
			goto out;
		}
		cpseq = (unsigned long long)cp.seq;
		memcpy(cphash, cp.hash, HASHBYTES);
		if (ts_audit_checkpoint_check(&cp, vk) < 0) {
			rc = bad(msg, msglen, "audit/checkpoint (seq %llu) is not "
			         "signed by the store's key", cpseq);
			goto out;
		}
		found_cp = 1;
	}
	if (copy != NULL && ts_audit_checkpoint_check(copy, vk) < 0) {
		rc = bad(msg, msglen, "the checkpoint copy (seq %llu) is not "
		         "signed by the store's key",
		         (unsigned long long)copy->seq);
		goto out;
	}
	for (unsigned i = 1; i <= nseg; i++) {
		char name[32], *p, *end;
		unsigned lineno = 0;

		ts_audit_segment_name(i, name);
		if ((rc = ts_sysio_read_file(dirfd, name, 1u << 30, &text,
		                             &len)) < 0)
			goto out;
		for (p = (char *)text; p < (char *)text + len; p = end + 1) {
			unsigned char want[HASHBYTES], got[HASHBYTES];
			json_t *j;
			json_error_t je;
			size_t ll;
			char *h;

			lineno++;
			if ((end = memchr(p, '\n', (size_t)((char *)text + len - p)))
			    == NULL) {
				free(text);
				rc = bad(msg, msglen, "entry %llu (segment %u line "
				         "%u): cut short", seq + 1, i, lineno);
				goto out;
			}
			*end = '\0';
			ll = (size_t)(end - p);
			h = ll > SUFFIX_LEN - 1 ? p + ll - (SUFFIX_LEN - 1) : NULL;
			j = json_loads(p, 0, &je);
			if (h == NULL || strncmp(h, ",\"hash\":\"", 9) != 0 ||
			    strcmp(h + 9 + 2 * HASHBYTES, "\"}") != 0 ||
			    ts_audit_unhex(h + 9, 2 * HASHBYTES, got,
			                   HASHBYTES) < 0 ||
			    j == NULL) {
				json_decref(j);
				free(text);
				rc = bad(msg, msglen, "entry %llu (segment %u line "
				         "%u): not an audit entry", seq + 1, i,
				         lineno);
				goto out;
			}
			if ((unsigned long long)json_integer_value(
			        json_object_get(j, "seq")) != seq + 1) {
				json_decref(j);
				free(text);
				rc = bad(msg, msglen, "entry %llu (segment %u line "
				         "%u): out of sequence (removed, inserted "
				         "or reordered)", seq + 1, i, lineno);
				goto out;
			}
			json_decref(j);
			ts_audit_chain(hash, p, (size_t)(h - p), want);
			if (sodium_memcmp(want, got, HASHBYTES) != 0) {
				free(text);
				rc = bad(msg, msglen, "entry %llu (segment %u line "
				         "%u): hash chain broken (edited, removed, "
				         "inserted or reordered)", seq + 1, i, lineno);
				goto out;
			}
			memcpy(hash, got, HASHBYTES);
			seq++;
			if (found_cp && seq == cpseq &&
			    sodium_memcmp(hash, cphash, HASHBYTES) != 0) {
				free(text);
				rc = bad(msg, msglen, "entry %llu (segment %u line "
				         "%u): differs from the signed checkpoint "
				         "(the chain was rewritten)", seq, i, lineno);
				goto out;
			}
			if (copy != NULL && seq == copy->seq &&
			    sodium_memcmp(hash, copy->hash, HASHBYTES) != 0) {
				free(text);
				rc = bad(msg, msglen, "entry %llu (segment %u line "
				         "%u): differs from the checkpoint copy (the "
				         "chain was rewritten)", seq, i, lineno);
				goto out;
			}
		}
		free(text);
	}
	*entries = seq;
	if (!found_cp && seq > 0) {
		rc = bad(msg, msglen, "no signed checkpoint: the tail cannot be "
		         "checked");
		goto out;
	}
	if (found_cp && seq < cpseq) {
		rc = bad(msg, msglen, "the trail ends at entry %llu but the signed "
		         "checkpoint covers entry %llu: entries were removed",
		         seq, cpseq);
		goto out;
	}
	if (copy != NULL && seq < copy->seq) {
		rc = bad(msg, msglen, "the trail ends at entry %llu but the "
		         "checkpoint copy covers entry %llu: entries were removed "
		         "(an old checkpoint put back?)", seq,
		         (unsigned long long)copy->seq);
		goto out;
	}
	if (copy != NULL && cpseq < copy->seq) {
		rc = bad(msg, msglen, "the signed checkpoint is at entry %llu but "
		         "the checkpoint copy at entry %llu: an old checkpoint was "
		         "put back", cpseq, (unsigned long long)copy->seq);
		goto out;
	}
	snprintf(msg, msglen, "audit trail intact: %llu entries in %u "
	         "segment%s, signed checkpoint at entry %llu%s", seq, nseg,
	         nseg == 1 ? "" : "s", cpseq, copy != NULL ?
	         ", not behind the checkpoint copy" : "");
	rc = 0;
out:
	close(dirfd);
	return rc;
}
