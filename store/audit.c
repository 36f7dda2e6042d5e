/*
 * audit: the live trail's core, whatever sink holds it (audit_priv.h):
 * the handle, the chain's state, entries formatted, chained and appended
 * (fail closed), free space, and audit.log read through the sink.  The
 * segment files are audit_file.c, the checkpoint audit_checkpoint.c, the
 * text audit_format.c, verifying audit_verify.c.
 */
#include "store/audit.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "store/audit_priv.h"
#include "store/util.h"

static int
host_ok(const char *h)
{
	size_t n = h != NULL ? strlen(h) : 0;

	return n > 0 && n <= TS_AUDIT_HOST_MAX &&
	       strspn(h, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	                 "0123456789._-") == n;
}

int
ts_audit_new(const char *host, const struct ts_seckey *key,
             size_t segment_max, const struct audit_sink_ops *ops,
             struct ts_audit **out)
{
	unsigned char seed[crypto_sign_SEEDBYTES];
	struct ts_audit *a;

	if (!host_ok(host))
		return -EINVAL;
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return -ENOMEM;
	if ((a->sign_sk = sodium_malloc(crypto_sign_SECRETKEYBYTES)) == NULL) {
		free(a);
		return -ENOMEM;
	}
	pthread_mutex_init(&a->lock, NULL);
	pthread_mutex_init(&a->sync_lock, NULL);
	a->ops = ops;
	strcpy(a->host, host);
	a->fd = -1;
	a->dirfd = -1;
	a->copy_dirfd = -1;
	a->first = 1;
	a->segment_max = segment_max;
	ts_seal_derive(key, "ticketfs-audit-sign-v1", seed, sizeof(seed));
	crypto_sign_seed_keypair(a->sign_pk, a->sign_sk, seed);
	sodium_memzero(seed, sizeof(seed));
	*out = a;
	return 0;
}

int
ts_audit_opened(struct ts_audit *a, const struct ts_audit_checkpoint *cp)
{
	/*
	 * A checkpoint is only signed over entries already stored, so a chain
	 * shorter than its checkpoint lost entries: refuse to go on (and sign
	 * over the gap) until someone has looked (ticketctl audit verify).
	 */
	if (cp != NULL) {
		if (cp->seq > a->seq)
			return -EBADMSG;
		a->cp_seq = cp->seq;
		a->have_cp = 1;
	}
	a->synced_seq = a->seq;
	a->ready = 1;
	return 0;
}

int
ts_audit_set_spool(struct ts_audit *a, const char *path, char *msg,
                   size_t msglen)
{
	if (a->ops->set_spool == NULL)
		return 0;
	return a->ops->set_spool(a, path, msg, msglen);
}

int
ts_audit_start(struct ts_audit *a)
{
	return a->ops->start != NULL ? a->ops->start(a) : 0;
}

void
ts_audit_close(struct ts_audit *a)
{
	if (a == NULL)
		return;
	if (a->ready)
		ts_audit_sync_closing(a);
	if (a->ops->close != NULL)
		a->ops->close(a);
	if (a->copy_dirfd >= 0)
		close(a->copy_dirfd);
	free(a->copy_name);
	ts_audit_fss_free(a->fss);
	sodium_free(a->sign_sk);
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
	/* The sink may have to find its chain's tail again first. */
	if (a->ops->prepare != NULL && (rc = a->ops->prepare(a)) < 0)
		goto out;
	ts_time_format_ms(ts_now_ms(), t);
	n = snprintf(line, sizeof(line), "{\"seq\":%llu,\"time\":\"%s\","
	             "\"host\":\"%s\",\"uid\":%u,\"pid\":%d,\"comm\":\"%s\","
	             "\"op\":\"%s\",\"path\":\"%s\",\"result\":\"%s\"",
	             (unsigned long long)a->seq + 1, t, a->host,
	             (unsigned)e->uid, (int)e->pid, comm, e->op, path, result);
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
		if (a->ops->abort != NULL)
			a->ops->abort(a);
		rc = -E2BIG;
		goto out;
	}
	ts_audit_chain(a->hash, line, (size_t)n, next);
	ts_audit_hex(next, HASHBYTES, h);
	n += snprintf(line + n, sizeof(line) - (size_t)n, ",\"hash\":\"%s\"}\n",
	              h);
	if ((rc = a->ops->append(a, line, (size_t)n)) < 0)
		goto out;
	a->seq++;
	memcpy(a->hash, next, HASHBYTES);
out:
	pthread_mutex_unlock(&a->lock);
	return rc;
}

int
ts_audit_space_low(struct ts_audit *a, int64_t now_ms, uint64_t *avail,
                   uint64_t *threshold)
{
	uint64_t total;
	int rc;

	*avail = *threshold = 0;
	if (a->ops->space == NULL)
		return 0;
	if ((rc = a->ops->space(a, avail, &total)) < 0)
		return rc;
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
	return a->ops->size(a);
}

ssize_t
ts_audit_read(struct ts_audit *a, void *buf, size_t len, uint64_t off)
{
	return a->ops->read(a, buf, len, off);
}

void
ts_audit_view_open(struct ts_audit *a)
{
	pthread_mutex_lock(&a->lock);
	a->readers++;
	pthread_mutex_unlock(&a->lock);
}

void
ts_audit_view_close(struct ts_audit *a)
{
	pthread_mutex_lock(&a->lock);
	/* Nobody holds an offset: the view may be what remains again. */
	if (a->readers > 0 && --a->readers == 0 && a->ops->view_idle != NULL)
		a->ops->view_idle(a);
	pthread_mutex_unlock(&a->lock);
}
