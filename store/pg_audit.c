/*
 * pg_audit: the audit trail of a PostgreSQL store (store/pg_audit.h): the
 * rows sink of the trail's core (store/audit_priv.h), so the chain, the
 * entries' text, checkpoints and their copy, fail-closed appends and the
 * prune's own entry are the directory store's; only where lines go
 * differs.  One chain a host: table ts_audit (host, seq, line without its
 * '\n'), gseq ordering every host's rows; each host's signed checkpoint
 * and prune anchor in ts_audit_checkpoint; the verify key in ts_meta
 * 'audit_verify_key' (hex, as audit/verify.key).
 *
 * Appends: one statement, ts_audit_append() of store/pg_schema.sql, its
 * own transaction: pg_advisory_xact_lock on one key for all hosts (so
 * gseq order is commit order: a reader of audit.log never sees an entry
 * appear before one it has read), synchronous_commit off (like write(2)
 * without fsync: an error reaches the caller, who refuses the operation).
 * ts_audit_sync's checkpoint row commits synchronously, which flushes the
 * entries before it.  The chain is guarded by a session advisory lock on
 * hashtext('ticketfs-audit:' || host); after a reconnect it is taken
 * again and the chain's tail re-read (an append whose COMMIT was lost may
 * have committed) before the next append, which fails if it cannot be.
 *
 * audit.log: every host's lines in gseq order, as one append-only file.
 * This process keeps each row's gseq and offset; the size is refreshed
 * from the database (rows after the last gseq seen) when asked for it or
 * for a read at the end, at most every REFRESH_MS (at once after an
 * append of its own).  Rows pruned (by any host) while known read as
 * blanks of their length, so offsets hold; once no descriptor is open
 * after a prune the view is rebuilt from what remains.
 *
 * Prune: per host, the oldest rows (never the chain's last) older than
 * the cut, each checked to chain from the anchor; the anchor row and the
 * deletion in one transaction.
 *
 * Forward-secure seals: rows of ts_audit_seals (host, seals, epoch,
 * line), each committed synchronously; each host seals its own chain
 * with its own sealing state, which must start at epoch 0 from the state
 * `ticketctl init` made (copy KEYFILE.fss to each host before its first
 * start; two daemons on one machine: -o fss= a copy each).
 *
 * Not here: free-space warnings (the database's disk is not ours to
 * watch).
 */
#include "store/pg_audit.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/audit_priv.h"
#include "store/pg_conn.h"
#include "store/util.h"

#define REFRESH_MS 200
#define VK_NAME "audit_verify_key"
#define BATCH "2000"

struct pg_sink {
	struct ts_pg *pg;		/* this trail's own connection */
	unsigned long locked_gen;	/* the connection generation the
					   chain lock was taken on (0: not
					   held); guarded by a->lock */
	int64_t first_ms;	/* time of the oldest prunable row; 0:
				   unknown, INT64_MAX: none / refused;
				   guarded by a->lock */
	pthread_mutex_t vlock;	/* the view's, inside a->lock */
	int64_t *gseq;		/* the view's rows, in order; guarded by
				   vlock */
	uint64_t *off;		/* where each starts in audit.log */
	size_t n, cap;		/* rows, room */
	uint64_t total;		/* audit.log's size */
	int64_t last_gseq;	/* the last row known */
	int64_t refresh_ms;	/* when the view last asked the database */
	int dirty;		/* appended since: refresh at once */
	int pruned;		/* rows known are gone: rebuild when idle */
	int stale;		/* rebuild at the next refresh */
};

static struct pg_sink *
sink_of(struct ts_audit *a)
{
	return a->sink;
}

/* Text result "\x<hex>" of a bytea into n bytes: 0 or -EBADMSG. */
static int
bytea_get(const char *v, unsigned char *b, size_t n)
{
	if (v == NULL || strncmp(v, "\\x", 2) != 0 ||
	    ts_audit_unhex(v + 2, strlen(v + 2), b, n) < 0)
		return -EBADMSG;
	return 0;
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- opening: the lock, the verify key, the chain's tail ---- */

/* The chain's session lock on the current connection: 0, -EBUSY if
 * another session holds it, -errno. */
static int
chain_lock(struct ts_audit *a)
{
	struct pg_sink *s = sink_of(a);
	const char *v[1] = { a->host };
	PGresult *r;
	int rc;

	rc = ts_pg_query(s->pg, "SELECT pg_try_advisory_lock(hashtext("
	                 "'ticketfs-audit:' || $1))", 1, v, NULL, NULL, 0, &r);
	if (rc < 0)
		return rc;
	rc = strcmp(PQgetvalue(r, 0, 0), "t") == 0 ? 0 : -EBUSY;
	PQclear(r);
	if (rc == 0)
		s->locked_gen = ts_pg_generation(s->pg);
	return rc;
}

/* The verify key in ts_meta: written at the first open; another one
 * means another store key (-EKEYREJECTED). */
static int
verify_key_check(struct ts_audit *a)
{
	struct pg_sink *s = sink_of(a);
	char h[2 * crypto_sign_PUBLICKEYBYTES + 1];
	const char *v[2] = { VK_NAME, h };
	unsigned char vk[32];
	PGresult *r;
	int rc;

	ts_audit_hex(a->sign_pk, sizeof(a->sign_pk), h);
	if ((rc = ts_pg_query(s->pg, "INSERT INTO ts_meta (name, value) "
	                      "VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
	                      2, v, NULL, NULL, 0, NULL)) < 0 ||
	    (rc = ts_pg_query(s->pg, "SELECT value FROM ts_meta WHERE name = $1",
	                      1, v, NULL, NULL, 0, &r)) < 0)
		return rc;
	rc = PQntuples(r) != 1 || strlen(PQgetvalue(r, 0, 0)) < 64 ||
	     ts_audit_unhex(PQgetvalue(r, 0, 0), 64, vk, sizeof(vk)) < 0 ||
	     memcmp(vk, a->sign_pk, sizeof(vk)) != 0 ? -EKEYREJECTED : 0;
	PQclear(r);
	return rc;
}

/* host's checkpoint and anchor rows (have_*: found), not checked. */
static int
marks_load(struct ts_pg *pg, const char *host, struct ts_audit_checkpoint *cp,
           int *have_cp, struct ts_audit_checkpoint *an, int *have_an)
{
	const char *v[1] = { host };
	PGresult *r;
	int rc;

	*have_cp = *have_an = 0;
	if ((rc = ts_pg_query(pg, "SELECT kind, seq, hash, sig FROM "
	                      "ts_audit_checkpoint WHERE host = $1", 1, v, NULL,
	                      NULL, 0, &r)) < 0)
		return rc;
	for (int i = 0; i < PQntuples(r); i++) {
		int is_cp = strcmp(PQgetvalue(r, i, 0), "checkpoint") == 0;
		struct ts_audit_checkpoint *m = is_cp ? cp : an;
		long long seq = strtoll(PQgetvalue(r, i, 1), NULL, 10);

		if (seq < 0 || bytea_get(PQgetvalue(r, i, 2), m->hash,
		                         HASHBYTES) < 0 ||
		    bytea_get(PQgetvalue(r, i, 3), m->sig, sizeof(m->sig)) < 0) {
			PQclear(r);
			return -EBADMSG;
		}
		m->seq = (uint64_t)seq;
		*(is_cp ? have_cp : have_an) = 1;
	}
	PQclear(r);
	return 0;
}

/* The chain's tail (a->seq, a->hash) and anchor from the database; cp:
 * the checkpoint row if have_cp. */
static int
tail_load(struct ts_audit *a, struct ts_audit_checkpoint *cp, int *have_cp)
{
	struct pg_sink *s = sink_of(a);
	const char *v[1] = { a->host };
	struct ts_audit_checkpoint an;
	int have_an, rc;
	PGresult *r;

	if ((rc = marks_load(s->pg, a->host, cp, have_cp, &an, &have_an)) < 0)
		return rc;
	if (have_an && ts_audit_anchor_check(&an, a->sign_pk) < 0)
		return -EBADMSG;
	a->have_anchor = have_an;
	a->anchor_seq = have_an ? an.seq : 0;
	memcpy(a->anchor_hash, an.hash, HASHBYTES);
	a->seq = a->anchor_seq;
	memset(a->hash, 0, HASHBYTES);
	if (have_an)
		memcpy(a->hash, an.hash, HASHBYTES);
	if ((rc = ts_pg_query(s->pg, "SELECT seq, line FROM ts_audit WHERE "
	                      "host = $1 ORDER BY seq DESC LIMIT 1", 1, v, NULL,
	                      NULL, 0, &r)) < 0)
		return rc;
	if (PQntuples(r) == 1) {
		const char *line = PQgetvalue(r, 0, 1);
		uint64_t seq;

		rc = ts_audit_line_parse(line, strlen(line), &seq, a->hash,
		                         NULL);
		if (rc == 0 && (seq != strtoull(PQgetvalue(r, 0, 0), NULL, 10) ||
		                seq < a->anchor_seq))
			rc = -EBADMSG;
		a->seq = seq;
	}
	PQclear(r);
	return rc;
}

static const struct audit_sink_ops pg_ops;

int
ts_pg_audit_open(const char *uri, const char *host,
                 const struct ts_seckey *key, size_t segment_max,
                 struct ts_audit **out)
{
	struct ts_audit_checkpoint cp;
	struct pg_sink *s;
	struct ts_audit *a;
	char err[256];
	int have_cp, rc;

	if ((rc = ts_audit_new(host, key, segment_max, &pg_ops, &a)) < 0)
		return rc;
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		rc = -ENOMEM;
		goto out_close;
	}
	pthread_mutex_init(&s->vlock, NULL);
	a->sink = s;
	if ((rc = ts_pg_open(uri, &s->pg, err, sizeof(err))) < 0)
		goto out_close;
	if ((rc = chain_lock(a)) < 0 || (rc = verify_key_check(a)) < 0 ||
	    (rc = tail_load(a, &cp, &have_cp)) < 0 ||
	    (rc = ts_audit_opened(a, have_cp ? &cp : NULL)) < 0)
		goto out_close;
	*out = a;
	return 0;
out_close:
	ts_audit_close(a);
	return rc;
}

static void
pg_close(struct ts_audit *a)
{
	struct pg_sink *s = sink_of(a);

	if (s == NULL)
		return;
	ts_pg_close(s->pg);	/* the chain's lock goes with the session */
	free(s->gseq);
	free(s->off);
	pthread_mutex_destroy(&s->vlock);
	free(s);
	a->sink = NULL;
}

/* ---- appending ---- */

/* A connection made since the chain lock was taken (a reconnect): take it
 * again and re-read the tail, which an append whose outcome was lost may
 * have moved.  a->lock held. */
static int
pg_prepare(struct ts_audit *a)
{
	struct pg_sink *s = sink_of(a);
	struct ts_audit_checkpoint cp;
	int have_cp, rc;

	if (ts_pg_conn(s->pg) == NULL)
		return -EIO;
	if (s->locked_gen == ts_pg_generation(s->pg))
		return 0;
	s->locked_gen = 0;
	if ((rc = chain_lock(a)) < 0)
		return rc == -EBUSY ? -EIO : rc;
	if ((rc = tail_load(a, &cp, &have_cp)) < 0) {
		s->locked_gen = 0;
		return rc;
	}
	s->first_ms = 0;
	return 0;
}

static int
pg_append(struct ts_audit *a, const char *line, size_t len)
{
	struct pg_sink *s = sink_of(a);
	char seq[24];
	const char *v[3] = { a->host, seq, NULL };
	int lens[3] = { 0, 0, (int)len - 1 }, fmts[3] = { 0, 0, 1 };
	unsigned long gen = ts_pg_generation(s->pg);
	int rc;

	snprintf(seq, sizeof(seq), "%" PRIu64, a->seq + 1);
	v[2] = line;	/* without its '\n' (binary text: no NUL needed) */
	rc = ts_pg_query(s->pg, "SELECT ts_audit_append($1, $2, $3)", 3, v,
	                 lens, fmts, 0, NULL);
	/* Run on a new connection (another statement's reconnect): the
	 * lock must be taken again before the next. */
	if (ts_pg_generation(s->pg) != gen)
		s->locked_gen = 0;
	if (rc == 0) {
		pthread_mutex_lock(&s->vlock);
		s->dirty = 1;
		pthread_mutex_unlock(&s->vlock);
	}
	return rc;
}

/* The checkpoint row, committed synchronously: the entries before it
 * are flushed with it. */
static int
pg_checkpoint_put(struct ts_audit *a, const struct ts_audit_checkpoint *cp,
                  const char *text, size_t len)
{
	struct pg_sink *s = sink_of(a);
	char seq[24];
	const char *v[4] = { a->host, seq, (const char *)cp->hash,
	                     (const char *)cp->sig };
	int lens[4] = { 0, 0, HASHBYTES, (int)sizeof(cp->sig) };
	int fmts[4] = { 0, 0, 1, 1 };
	int rc;

	(void)text;
	(void)len;
	snprintf(seq, sizeof(seq), "%" PRIu64, cp->seq);
	if ((rc = ts_pg_begin(s->pg)) < 0)
		return rc;
	if ((rc = ts_pg_exec(s->pg, "SET LOCAL synchronous_commit = on")) < 0 ||
	    (rc = ts_pg_query(s->pg, "INSERT INTO ts_audit_checkpoint (host, "
	                      "kind, seq, hash, sig) VALUES ($1, 'checkpoint', "
	                      "$2, $3, $4) ON CONFLICT (host, kind) DO UPDATE "
	                      "SET seq = EXCLUDED.seq, hash = EXCLUDED.hash, "
	                      "sig = EXCLUDED.sig", 4, v, lens, fmts, 0,
	                      NULL)) < 0) {
		ts_pg_rollback(s->pg);
		return rc;
	}
	return ts_pg_commit(s->pg);
}

static int
pg_hash_at(struct ts_audit *a, uint64_t seq, unsigned char out[HASHBYTES])
{
	struct pg_sink *s = sink_of(a);
	char sq[24];
	const char *v[2] = { a->host, sq };
	uint64_t got;
	PGresult *r;
	int rc;

	if (seq == a->seq) {
		memcpy(out, a->hash, HASHBYTES);
		return 0;
	}
	if (a->have_anchor && seq == a->anchor_seq) {
		memcpy(out, a->anchor_hash, HASHBYTES);
		return 0;
	}
	snprintf(sq, sizeof(sq), "%" PRIu64, seq);
	if ((rc = ts_pg_query(s->pg, "SELECT line FROM ts_audit WHERE host = $1 "
	                      "AND seq = $2", 2, v, NULL, NULL, 0, &r)) < 0)
		return rc;
	rc = PQntuples(r) == 1 &&
	     ts_audit_line_parse(PQgetvalue(r, 0, 0),
	                         (size_t)PQgetlength(r, 0, 0), &got, out,
	                         NULL) == 0 && got == seq ? 0 : -ENOENT;
	PQclear(r);
	return rc;
}

/* ---- audit.log: every host's rows in gseq order ---- */

static int
view_add(struct pg_sink *s, int64_t gseq, uint64_t len)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 1024;
		int64_t *g = realloc(s->gseq, cap * sizeof(*g));
		uint64_t *o;

		if (g == NULL)
			return -ENOMEM;
		s->gseq = g;
		if ((o = realloc(s->off, cap * sizeof(*o))) == NULL)
			return -ENOMEM;
		s->off = o;
		s->cap = cap;
	}
	s->gseq[s->n] = gseq;
	s->off[s->n++] = s->total;
	s->total += len;
	s->last_gseq = gseq;
	return 0;
}

/* The rows committed since the last refresh (vlock held); at most every
 * REFRESH_MS unless this process appended since.  A failure leaves the
 * view as it was (-errno). */
static int
view_refresh(struct pg_sink *s)
{
	int64_t now = mono_ms();
	char last[24];
	const char *v[1] = { last };
	PGresult *r;
	int rc;

	if (!s->dirty && !s->stale && s->refresh_ms != 0 &&
	    now - s->refresh_ms < REFRESH_MS)
		return 0;
	if (s->stale) {
		s->n = 0;
		s->total = 0;
		s->last_gseq = 0;
	}
	snprintf(last, sizeof(last), "%" PRId64, s->last_gseq);
	if ((rc = ts_pg_query(s->pg, "SELECT gseq, octet_length(line) + 1 FROM "
	                      "ts_audit WHERE gseq > $1 ORDER BY gseq", 1, v,
	                      NULL, NULL, 0, &r)) < 0)
		return rc;
	s->stale = 0;
	for (int i = 0; i < PQntuples(r) && rc == 0; i++)
		rc = view_add(s, strtoll(PQgetvalue(r, i, 0), NULL, 10),
		              strtoull(PQgetvalue(r, i, 1), NULL, 10));
	PQclear(r);
	if (rc == 0) {
		s->refresh_ms = now;
		s->dirty = 0;
	}
	return rc;
}

static uint64_t
pg_size(struct ts_audit *a)
{
	struct pg_sink *s = sink_of(a);
	uint64_t n;

	pthread_mutex_lock(&s->vlock);
	view_refresh(s);	/* unreachable: the size known */
	n = s->total;
	pthread_mutex_unlock(&s->vlock);
	return n;
}

/* The row holding offset off (off < total). */
static size_t
view_find(const struct pg_sink *s, uint64_t off)
{
	size_t lo = 0, hi = s->n;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->off[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static uint64_t
row_len(const struct pg_sink *s, size_t i)
{
	return (i + 1 < s->n ? s->off[i + 1] : s->total) - s->off[i];
}

static ssize_t
pg_read(struct ts_audit *a, void *buf, size_t len, uint64_t off)
{
	struct pg_sink *s = sink_of(a);
	size_t i, j, done = 0;
	char lo[24], hi[24];
	const char *v[2] = { lo, hi };
	PGresult *r;
	int k = 0, nt, rc;

	pthread_mutex_lock(&s->vlock);
	if (off + len > s->total && (rc = view_refresh(s)) < 0 &&
	    off >= s->total) {
		pthread_mutex_unlock(&s->vlock);
		return rc;
	}
	if (off >= s->total || len == 0) {
		pthread_mutex_unlock(&s->vlock);
		return 0;
	}
	if (off + len > s->total)
		len = (size_t)(s->total - off);
	i = view_find(s, off);
	j = view_find(s, off + len - 1);
	snprintf(lo, sizeof(lo), "%" PRId64, s->gseq[i]);
	snprintf(hi, sizeof(hi), "%" PRId64, s->gseq[j]);
	if ((rc = ts_pg_query(s->pg, "SELECT gseq, line FROM ts_audit WHERE "
	                      "gseq BETWEEN $1 AND $2 ORDER BY gseq", 2, v,
	                      NULL, NULL, 0, &r)) < 0) {
		pthread_mutex_unlock(&s->vlock);
		return rc;
	}
	nt = PQntuples(r);
	for (; i <= j; i++) {
		uint64_t rl = row_len(s, i), from, n;
		const char *line = NULL;
		size_t ll = 0;

		while (k < nt && strtoll(PQgetvalue(r, k, 0), NULL, 10) <
		       s->gseq[i])
			k++;
		if (k < nt && strtoll(PQgetvalue(r, k, 0), NULL, 10) ==
		    s->gseq[i]) {
			line = PQgetvalue(r, k, 1);
			ll = (size_t)PQgetlength(r, k, 1);
		} else {
			s->pruned = 1;	/* gone: a blank of its length */
		}
		from = off + done - s->off[i];
		n = rl - from < len - done ? rl - from : len - done;
		/* The row as it was when first seen: its text (an edited
		 * one cut or padded to that length), its '\n' last. */
		for (uint64_t b = from; b < from + n; b++)
			((char *)buf)[done++] = b == rl - 1 ? '\n' :
			                        b < ll ? line[b] : ' ';
	}
	PQclear(r);
	pthread_mutex_unlock(&s->vlock);
	return (ssize_t)done;
}

/* No descriptor holds an offset: after a prune, the view is rebuilt
 * from what remains.  a->lock held. */
static void
pg_view_idle(struct ts_audit *a)
{
	struct pg_sink *s = sink_of(a);

	pthread_mutex_lock(&s->vlock);
	if (s->pruned) {
		s->stale = 1;
		s->pruned = 0;
	}
	pthread_mutex_unlock(&s->vlock);
}

/* ---- prune, per host ---- */

/* The oldest prunable row's time; a row that does not chain from the
 * anchor (its time edited) refuses the prune once: INT64_MIN. */
static int64_t
pg_prune_next(struct ts_audit *a)
{
	struct pg_sink *s = sink_of(a);
	unsigned char prev[HASHBYTES] = { 0 }, want[HASHBYTES], got[HASHBYTES];
	char last[24];
	const char *v[2] = { a->host, last };
	int64_t ms = INT64_MAX;
	PGresult *r;

	pthread_mutex_lock(&a->lock);
	if (s->first_ms != 0) {
		ms = s->first_ms;
		goto out;
	}
	snprintf(last, sizeof(last), "%" PRIu64, a->seq);
	if (ts_pg_query(s->pg, "SELECT line FROM ts_audit WHERE host = $1 AND "
	                "seq < $2 ORDER BY seq LIMIT 1", 2, v, NULL, NULL, 0,
	                &r) < 0)
		goto out;	/* unreachable: asked again next time */
	if (PQntuples(r) == 1) {
		const char *line = PQgetvalue(r, 0, 0);
		size_t ll = (size_t)PQgetlength(r, 0, 0);
		uint64_t seq;

		if (a->have_anchor)
			memcpy(prev, a->anchor_hash, HASHBYTES);
		if (ts_audit_line_parse(line, ll, &seq, got, &ms) == 0 &&
		    seq == a->anchor_seq + 1) {
			ts_audit_chain(prev, line, ll - (SUFFIX_LEN - 1), want);
			if (sodium_memcmp(want, got, HASHBYTES) != 0)
				ms = INT64_MIN;
		} else {
			ms = INT64_MIN;
		}
	}
	PQclear(r);
	s->first_ms = ms == INT64_MIN ? INT64_MAX : ms;
out:
	pthread_mutex_unlock(&a->lock);
	return ms;
}

/* The last entry older than before_ms that a prune removes (never the
 * chain's last), each checked to be the chain's step from the one before:
 * *seq, *hash (*seq == the anchor's: none).  -EBADMSG if one is not. */
static int
prune_cut(struct ts_audit *a, int64_t before_ms, uint64_t *seq,
          unsigned char hash[HASHBYTES])
{
	struct pg_sink *s = sink_of(a);
	char from[24], last[24];
	const char *v[3] = { a->host, from, last };
	int more = 1, rc = 0;

	*seq = a->have_anchor ? a->anchor_seq : 0;
	memset(hash, 0, HASHBYTES);
	if (a->have_anchor)
		memcpy(hash, a->anchor_hash, HASHBYTES);
	snprintf(last, sizeof(last), "%" PRIu64, a->seq);
	while (more && rc == 0) {
		PGresult *r;
		int n;

		snprintf(from, sizeof(from), "%" PRIu64, *seq);
		if ((rc = ts_pg_query(s->pg, "SELECT seq, line FROM ts_audit "
		                      "WHERE host = $1 AND seq > $2 AND seq < $3 "
		                      "ORDER BY seq LIMIT " BATCH, 3, v, NULL,
		                      NULL, 0, &r)) < 0)
			return rc;
		n = PQntuples(r);
		more = n == atoi(BATCH);
		for (int i = 0; i < n; i++) {
			const char *line = PQgetvalue(r, i, 1);
			size_t ll = (size_t)PQgetlength(r, i, 1);
			unsigned char got[HASHBYTES], want[HASHBYTES];
			uint64_t q;
			int64_t ms;

			if (ts_audit_line_parse(line, ll, &q, got, &ms) < 0 ||
			    q != *seq + 1 ||
			    q != strtoull(PQgetvalue(r, i, 0), NULL, 10)) {
				rc = -EBADMSG;
				break;
			}
			if (ms >= before_ms) {
				more = 0;
				break;
			}
			ts_audit_chain(hash, line, ll - (SUFFIX_LEN - 1), want);
			if (sodium_memcmp(want, got, HASHBYTES) != 0) {
				rc = -EBADMSG;
				break;
			}
			*seq = q;
			memcpy(hash, got, HASHBYTES);
		}
		PQclear(r);
	}
	return rc;
}

static int
pg_prune(struct ts_audit *a, int64_t before_ms, struct ts_audit_pruned *out)
{
	struct pg_sink *s = sink_of(a);
	struct ts_audit_checkpoint an;
	unsigned char hash[HASHBYTES];
	char text[512], sq[24];
	const char *v[4] = { a->host, sq, (const char *)an.hash,
	                     (const char *)an.sig };
	int lens[4] = { 0, 0, HASHBYTES, (int)sizeof(an.sig) };
	int fmts[4] = { 0, 0, 1, 1 };
	uint64_t seq, from;
	int rc;

	pthread_mutex_lock(&a->lock);
	from = a->have_anchor ? a->anchor_seq : 0;
	if ((rc = prune_cut(a, before_ms, &seq, hash)) < 0) {
		if (rc == -EBADMSG)
			s->first_ms = INT64_MAX;	/* not every tick */
		goto out;
	}
	if (seq == from)
		goto out;	/* nothing old enough */
	ts_audit_anchor_sign(a, seq, hash, &an, text);
	snprintf(sq, sizeof(sq), "%" PRIu64, seq);
	if ((rc = ts_pg_begin(s->pg)) < 0)
		goto out;
	if ((rc = ts_pg_exec(s->pg, "SET LOCAL synchronous_commit = on")) < 0 ||
	    (rc = ts_pg_query(s->pg, "INSERT INTO ts_audit_checkpoint (host, "
	                      "kind, seq, hash, sig) VALUES ($1, 'anchor', $2, "
	                      "$3, $4) ON CONFLICT (host, kind) DO UPDATE SET "
	                      "seq = EXCLUDED.seq, hash = EXCLUDED.hash, sig = "
	                      "EXCLUDED.sig", 4, v, lens, fmts, 0, NULL)) < 0 ||
	    (rc = ts_pg_query(s->pg, "DELETE FROM ts_audit WHERE host = $1 AND "
	                      "seq <= $2", 2, v, NULL, NULL, 0, NULL)) < 0) {
		ts_pg_rollback(s->pg);
		goto out;
	}
	if ((rc = ts_pg_commit(s->pg)) < 0)
		goto out;
	a->have_anchor = 1;
	a->anchor_seq = seq;
	memcpy(a->anchor_hash, hash, HASHBYTES);
	s->first_ms = 0;
	/* Held open: blanks until closed; else what remains at once. */
	pthread_mutex_lock(&s->vlock);
	*(a->readers > 0 ? &s->pruned : &s->stale) = 1;
	pthread_mutex_unlock(&s->vlock);
out:
	out->entries = seq > from && rc == 0 ? seq - from : 0;
	out->first_seq = (a->have_anchor ? a->anchor_seq : 0) + 1;
	pthread_mutex_unlock(&a->lock);
	return rc;
}

/* ---- forward-secure seals: rows of ts_audit_seals ---- */

static int
pg_seals_read(struct ts_audit *a, const char *seals, unsigned char **text,
              size_t *len)
{
	struct pg_sink *s = sink_of(a);
	const char *v[2] = { a->host, seals };
	PGresult *r;
	int rc;

	if ((rc = ts_pg_query(s->pg, "SELECT string_agg(line || E'\\n', '' "
	                      "ORDER BY epoch) FROM ts_audit_seals WHERE host = "
	                      "$1 AND seals = $2", 2, v, NULL, NULL, 0, &r)) < 0)
		return rc;
	if (PQgetisnull(r, 0, 0)) {
		PQclear(r);
		return -ENOENT;
	}
	*len = (size_t)PQgetlength(r, 0, 0);
	if ((*text = malloc(*len + 1)) == NULL) {
		PQclear(r);
		return -ENOMEM;
	}
	memcpy(*text, PQgetvalue(r, 0, 0), *len + 1);
	PQclear(r);
	return 0;
}

/* A seal, committed synchronously before the key that made it goes. */
static int
pg_seal_put(struct ts_audit *a, const char *seals, uint64_t epoch,
            const char *line, size_t len)
{
	struct pg_sink *s = sink_of(a);
	char ep[24];
	const char *v[4] = { a->host, seals, ep, line };
	int lens[4] = { 0, 0, 0, (int)len - 1 }, fmts[4] = { 0, 0, 0, 1 };
	int rc;

	snprintf(ep, sizeof(ep), "%" PRIu64, epoch);
	if ((rc = ts_pg_begin(s->pg)) < 0)
		return rc;
	if ((rc = ts_pg_exec(s->pg, "SET LOCAL synchronous_commit = on")) < 0 ||
	    (rc = ts_pg_query(s->pg, "INSERT INTO ts_audit_seals (host, seals, "
	                      "epoch, line) VALUES ($1, $2, $3, $4)", 4, v, lens,
	                      fmts, 0, NULL)) < 0) {
		ts_pg_rollback(s->pg);
		return rc;
	}
	return ts_pg_commit(s->pg);
}

static const struct audit_sink_ops pg_ops = {
	.prepare = pg_prepare,
	.append = pg_append,
	.checkpoint_put = pg_checkpoint_put,
	.hash_at = pg_hash_at,
	.size = pg_size,
	.read = pg_read,
	.view_idle = pg_view_idle,
	.prune_next = pg_prune_next,
	.prune = pg_prune,
	.seals_read = pg_seals_read,
	.seal_put = pg_seal_put,
	.close = pg_close,
};

/* ---- verify: every host's chain ---- */

/* The verify key to trust: vk, else ts_meta's. */
static int
vk_get(struct ts_pg *pg, const unsigned char *given, unsigned char vk[32])
{
	const char *v[1] = { VK_NAME };
	PGresult *r;
	int rc;

	if (given != NULL) {
		memcpy(vk, given, 32);
		return 0;
	}
	if ((rc = ts_pg_query(pg, "SELECT value FROM ts_meta WHERE name = $1",
	                      1, v, NULL, NULL, 0, &r)) < 0)
		return rc;
	rc = PQntuples(r) == 1 && strlen(PQgetvalue(r, 0, 0)) >= 64 &&
	     ts_audit_unhex(PQgetvalue(r, 0, 0), 64, vk, 32) == 0 ? 0 : 1;
	PQclear(r);
	return rc;
}

/* Walks host's chain: 0 intact (*n entries, *cpseq), 1 not, -errno. */
static int
verify_host(struct ts_pg *pg, const char *host, const unsigned char vk[32],
            const struct ts_audit_checkpoint *copy, int *copy_matched,
            uint64_t *n, uint64_t *cpseq, char *msg, size_t msglen)
{
	char who[TS_AUDIT_HOST_MAX + 16], from[24];
	const char *v[2] = { host, from };
	struct ts_audit_walk w;
	int more = 1, rc;

	snprintf(who, sizeof(who), "host %s: ", host);
	ts_audit_walk_init(&w, who);
	w.host = host;
	w.copy = copy;
	w.copy_any = 1;
	if ((rc = marks_load(pg, host, &w.cp, &w.found_cp, &w.an,
	                     &w.have_an)) == -EBADMSG)
		return ts_audit_bad(msg, msglen, "%sits checkpoint or anchor row "
		                    "is damaged", who);
	if (rc < 0)
		return rc;
	if (w.found_cp && ts_audit_checkpoint_check(&w.cp, vk) < 0)
		return ts_audit_bad(msg, msglen, "%sits checkpoint (seq %llu) is "
		                    "not signed by the store's key", who,
		                    (unsigned long long)w.cp.seq);
	if (w.have_an && ts_audit_anchor_check(&w.an, vk) < 0)
		return ts_audit_bad(msg, msglen, "%sits prune anchor is damaged or "
		                    "not signed by the store's key (forged?)", who);
	/* A prune deletes the rows its anchor covers. */
	if (w.have_an)
		ts_audit_walk_from_anchor(&w);
	while (more) {
		PGresult *r;
		int nt;

		snprintf(from, sizeof(from), "%" PRIu64, w.seq);
		if ((rc = ts_pg_query(pg, "SELECT seq, line FROM ts_audit WHERE "
		                      "host = $1 AND seq > $2 ORDER BY seq LIMIT "
		                      BATCH, 2, v, NULL, NULL, 0, &r)) < 0)
			return rc;
		nt = PQntuples(r);
		more = nt == atoi(BATCH);
		for (int i = 0; i < nt; i++) {
			unsigned long long col = strtoull(PQgetvalue(r, i, 0),
			                                  NULL, 10);

			rc = ts_audit_walk_line(&w, PQgetvalue(r, i, 1),
			                        (size_t)PQgetlength(r, i, 1), "",
			                        msg, msglen);
			if (rc == 0 && col != w.seq)
				rc = ts_audit_bad(msg, msglen, "%sentry %llu: its "
				                  "row says seq %llu (edited)", who,
				                  (unsigned long long)w.seq, col);
			if (rc != 0) {
				PQclear(r);
				return rc;
			}
		}
		PQclear(r);
		/* Rows at or before the walk (seq edited down) would come
		 * again: the next batch starts after the last seq walked. */
	}
	*n = w.seq - w.base;
	*cpseq = w.cp.seq;
	if ((rc = ts_audit_walk_end(&w, msg, msglen)) != 0)
		return rc;
	*copy_matched |= w.copy_matched;
	return 0;
}

int
ts_pg_audit_verify(const char *uri, const unsigned char *vk,
                   const struct ts_audit_checkpoint *copy, char *msg,
                   size_t msglen, uint64_t *entries)
{
	unsigned char key[32];
	char err[256], list[768] = "";
	int copy_matched = 0, nh, rc;
	struct ts_pg *pg;
	PGresult *r;
	size_t used = 0;

	*entries = 0;
	msg[0] = '\0';
	if ((rc = ts_pg_open(uri, &pg, err, sizeof(err))) < 0) {
		snprintf(msg, msglen, "cannot reach the store's database: %s",
		         err);
		return rc;
	}
	if ((rc = vk_get(pg, vk, key)) != 0) {
		if (rc == 1)
			ts_audit_bad(msg, msglen, "the store's audit verify key "
			             "(ts_meta %s) is missing or damaged", VK_NAME);
		else
			snprintf(msg, msglen, "cannot read the audit trail: %s",
			         ts_pg_error(pg));
		goto out;
	}
	if (copy != NULL && ts_audit_checkpoint_check(copy, key) < 0) {
		rc = ts_audit_bad(msg, msglen, "the checkpoint copy (seq %llu) is "
		                  "not signed by the store's key",
		                  (unsigned long long)copy->seq);
		goto out;
	}
	if ((rc = ts_pg_query(pg, "SELECT host FROM ts_audit GROUP BY host "
	                      "UNION SELECT host FROM ts_audit_checkpoint "
	                      "ORDER BY 1", 0, NULL, NULL, NULL, 0, &r)) < 0) {
		snprintf(msg, msglen, "cannot read the audit trail: %s",
		         ts_pg_error(pg));
		goto out;
	}
	nh = PQntuples(r);
	for (int i = 0; i < nh; i++) {
		uint64_t n = 0, cpseq = 0;
		const char *host = PQgetvalue(r, i, 0);

		rc = verify_host(pg, host, key, copy, &copy_matched, &n, &cpseq,
		                 msg, msglen);
		if (rc < 0 && msg[0] == '\0')
			snprintf(msg, msglen, "cannot read host %s's audit trail: "
			         "%s", host, ts_pg_error(pg));
		if (rc != 0) {
			PQclear(r);
			goto out;
		}
		*entries += n;
		if (used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used,
			         "%s%s: %" PRIu64 " entr%s, signed checkpoint at "
			         "entry %" PRIu64, i ? "; " : "", host, n,
			         n == 1 ? "y" : "ies", cpseq);
	}
	PQclear(r);
	if (copy != NULL && !copy_matched) {
		rc = ts_audit_bad(msg, msglen, "the checkpoint copy (entry %llu) "
		                  "matches no host's chain: entries were removed "
		                  "or a chain rewritten",
		                  (unsigned long long)copy->seq);
		goto out;
	}
	snprintf(msg, msglen, "audit trail intact: %" PRIu64 " entr%s in %d "
	         "host chain%s (%s)%s", *entries, *entries == 1 ? "y" : "ies",
	         nh, nh == 1 ? "" : "s", list, copy != NULL ?
	         ", none behind the checkpoint copy" : "");
	rc = 0;
out:
	ts_pg_close(pg);
	return rc;
}

/* host's chain as (seq, hash), the anchor's first. */
static int
host_hashes(struct ts_pg *pg, const char *host, struct ts_audit_seqhash **out,
            size_t *n)
{
	struct ts_audit_checkpoint cp, an;
	struct ts_audit_seqhash *v = NULL;
	int have_cp, have_an, more = 1, rc;
	char from[24] = "0";
	const char *p[2] = { host, from };
	size_t cap = 0;

	*n = 0;
	if ((rc = marks_load(pg, host, &cp, &have_cp, &an, &have_an)) < 0)
		return rc;
	while (more) {
		PGresult *r;
		int nt;

		if ((rc = ts_pg_query(pg, "SELECT seq, line FROM ts_audit WHERE "
		                      "host = $1 AND seq > $2 ORDER BY seq LIMIT "
		                      BATCH, 2, p, NULL, NULL, 0, &r)) < 0)
			goto fail;
		nt = PQntuples(r);
		more = nt == atoi(BATCH);
		if (*n + (size_t)nt + 1 > cap) {
			struct ts_audit_seqhash *nv;

			cap = 2 * (*n + (size_t)nt + 1);
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				PQclear(r);
				rc = -ENOMEM;
				goto fail;
			}
			v = nv;
		}
		if (*n == 0 && have_an) {
			v[0].seq = an.seq;
			memcpy(v[0].hash, an.hash, HASHBYTES);
			*n = 1;
		}
		for (int i = 0; i < nt; i++) {
			uint64_t seq;

			if (ts_audit_line_parse(PQgetvalue(r, i, 1),
			                        (size_t)PQgetlength(r, i, 1), &seq,
			                        v[*n].hash, NULL) < 0)
				continue;	/* verify names it */
			v[(*n)++].seq = seq;
		}
		if (nt > 0)
			snprintf(from, sizeof(from), "%s",
			         PQgetvalue(r, nt - 1, 0));
		PQclear(r);
	}
	*out = v;
	return 0;
fail:
	free(v);
	return rc;
}

int
ts_pg_audit_verify_seed(const char *uri, const char *seed, char *msg,
                        size_t msglen)
{
	char seals[32], err[256], label[64], part[512];
	struct ts_pg *pg;
	PGresult *r;
	size_t used = 0;
	int nh, rc;

	msg[0] = '\0';
	if (ts_audit_seed_seals(seed, seals) < 0)
		return ts_audit_seals_verify(seed, "", "", NULL, 0, NULL, 0, msg,
		                             msglen);	/* says why */
	if ((rc = ts_pg_open(uri, &pg, err, sizeof(err))) < 0) {
		snprintf(msg, msglen, "cannot reach the store's database: %s",
		         err);
		return rc;
	}
	/* Every host that has entries or seals of this sealing. */
	{
		const char *v[1] = { seals };

		rc = ts_pg_query(pg, "SELECT host FROM ts_audit GROUP BY host "
		                 "UNION SELECT host FROM ts_audit_seals WHERE "
		                 "seals = $1 ORDER BY 1", 1, v, NULL, NULL, 0, &r);
	}
	if (rc < 0) {
		snprintf(msg, msglen, "cannot read the audit trail: %s",
		         ts_pg_error(pg));
		goto out;
	}
	nh = PQntuples(r);
	for (int i = 0; i < nh; i++) {
		const char *host = PQgetvalue(r, i, 0), *v[2] = { host, seals };
		struct ts_audit_seqhash *hv = NULL;
		char who[TS_AUDIT_HOST_MAX + 16];
		PGresult *sr;
		size_t n = 0;

		snprintf(who, sizeof(who), "host %s: ", host);
		snprintf(label, sizeof(label), "its %s", seals);
		if ((rc = host_hashes(pg, host, &hv, &n)) < 0 ||
		    (rc = ts_pg_query(pg, "SELECT string_agg(line || E'\\n', '' "
		                      "ORDER BY epoch) FROM ts_audit_seals WHERE "
		                      "host = $1 AND seals = $2", 2, v, NULL, NULL,
		                      0, &sr)) < 0) {
			free(hv);
			snprintf(msg, msglen, "cannot read host %s's audit trail: %s",
			         host, ts_pg_error(pg));
			break;
		}
		rc = ts_audit_seals_verify(seed, who, label, hv, n,
		                           PQgetisnull(sr, 0, 0) ? NULL :
		                           (unsigned char *)PQgetvalue(sr, 0, 0),
		                           (size_t)PQgetlength(sr, 0, 0), part,
		                           sizeof(part));
		PQclear(sr);
		free(hv);
		if (rc != 0) {
			snprintf(msg, msglen, "%s", part);
			break;
		}
		if (used < msglen)
			used += (size_t)snprintf(msg + used, msglen - used, "%s%s",
			                         i ? "; " : "", part);
	}
	PQclear(r);
	if (rc == 0 && nh == 0)
		snprintf(msg, msglen, "forward-secure seals: no host has an "
		         "entry yet");
out:
	ts_pg_close(pg);
	return rc;
}
