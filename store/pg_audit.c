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
 * Appends: with a spool (ts_audit_set_spool, the daemon's), a write(2) to
 * a local file, shipped in batches by a thread of pg_audit_ship.c, which
 * then holds the chain's lock on a connection of its own; without one
 * (the tools, the unit tests), each append is a round trip.  Rows go in
 * through ts_audit_append() of store/pg_schema.sql (one entry) or
 * ts_audit_append_batch() (a shipped batch), each statement its own
 * transaction: pg_advisory_xact_lock on one key for all hosts (so
 * gseq order is commit order: a reader of audit.log never sees an entry
 * appear before one it has read), synchronous_commit off (like write(2)
 * without fsync: an error reaches the caller, who refuses the operation).
 * ts_audit_sync's checkpoint row commits synchronously, which flushes the
 * entries before it.  The chain is guarded by a session advisory lock on
 * hashtext('ticketfs-audit:' || host); after a reconnect it is taken
 * again and the chain's tail re-read (an append whose COMMIT was lost may
 * have committed) before the next append, which fails if it cannot be.
 *
 * audit.log (pg_audit_view.c): every host's lines in gseq order, as one
 * append-only file.
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

#include "store/audit_priv.h"
#include "store/pg_audit_priv.h"
#include "store/pg_conn.h"
#include "store/util.h"

/* Text result "\x<hex>" of a bytea into n bytes: 0 or -EBADMSG. */
static int
bytea_get(const char *v, unsigned char *b, size_t n)
{
	if (v == NULL || strncmp(v, "\\x", 2) != 0 ||
	    ts_audit_unhex(v + 2, strlen(v + 2), b, n) < 0)
		return -EBADMSG;
	return 0;
}

/* ---- opening: the lock, the verify key, the chain's tail ---- */

/* The chain's session lock on the current connection: 0, -EBUSY if
 * another session holds it, -errno. */
static int
chain_lock(struct ts_audit *a)
{
	struct pg_sink *s = pg_sink_of(a);
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
	struct pg_sink *s = pg_sink_of(a);
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

int
ts_pg_audit_marks_load(struct ts_pg *pg, const char *host, struct ts_audit_checkpoint *cp,
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
	struct pg_sink *s = pg_sink_of(a);
	const char *v[1] = { a->host };
	struct ts_audit_checkpoint an;
	int have_an, rc;
	PGresult *r;

	if ((rc = ts_pg_audit_marks_load(s->pg, a->host, cp, have_cp, &an, &have_an)) < 0)
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

static int
pg_set_spool(struct ts_audit *a, const char *path, char *msg, size_t msglen)
{
	struct pg_sink *s = pg_sink_of(a);

	if (s->ship != NULL)
		return -EALREADY;
	return ts_pg_ship_start(a, &s->pg, path, &s->ship, msg, msglen);
}

static int
pg_start(struct ts_audit *a)
{
	struct pg_sink *s = pg_sink_of(a);

	return s->ship != NULL ? ts_pg_ship_run(s->ship) : 0;
}

static void
pg_close(struct ts_audit *a)
{
	struct pg_sink *s = pg_sink_of(a);

	if (s == NULL)
		return;
	ts_pg_ship_stop(s->ship);
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
	struct pg_sink *s = pg_sink_of(a);
	struct ts_audit_checkpoint cp;
	unsigned char hash[HASHBYTES];
	uint64_t seq;
	int have_cp, rc;

	if (s->ship != NULL)
		return ts_pg_ship_ready(s->ship);
	if (ts_pg_conn(s->pg) == NULL)
		return -EIO;
	if (s->locked_gen == ts_pg_generation(s->pg))
		return 0;
	s->locked_gen = 0;
	if ((rc = chain_lock(a)) < 0)
		return rc == -EBUSY ? -EIO : rc;
	/* Rows removed while this process was away: as at open, no more
	 * appends (nor checkpoints) over the gap; the chain as it knew it
	 * stays, and every append fails (closed) until a restart. */
	seq = a->seq;
	memcpy(hash, a->hash, HASHBYTES);
	if ((rc = tail_load(a, &cp, &have_cp)) < 0 ||
	    (have_cp && cp.seq > a->seq && (rc = -EBADMSG))) {
		a->seq = seq;
		memcpy(a->hash, hash, HASHBYTES);
		s->locked_gen = 0;
		return rc;
	}
	s->first_ms = 0;
	return 0;
}

static int
pg_append(struct ts_audit *a, const char *line, size_t len)
{
	struct pg_sink *s = pg_sink_of(a);
	char seq[24];
	const char *v[3] = { a->host, seq, NULL };
	int lens[3] = { 0, 0, (int)len - 1 }, fmts[3] = { 0, 0, 1 };
	unsigned long gen = ts_pg_generation(s->pg);
	int rc;

	if (s->ship != NULL) {
		/* To the spool; the shipper sends it. */
		if ((rc = ts_pg_ship_append(s->ship, a->seq + 1, line,
		                            len)) < 0)
			return rc;
		goto out_dirty;
	}
	snprintf(seq, sizeof(seq), "%" PRIu64, a->seq + 1);
	v[2] = line;	/* without its '\n' (binary text: no NUL needed) */
	rc = ts_pg_query(s->pg, "SELECT ts_audit_append($1, $2, $3)", 3, v,
	                 lens, fmts, 0, NULL);
	/* Run on a new connection (another statement's reconnect): the
	 * lock must be taken again before the next. */
	if (ts_pg_generation(s->pg) != gen)
		s->locked_gen = 0;
out_dirty:
	if (rc == 0) {
		pthread_mutex_lock(&s->vlock);
		s->dirty = 1;
		pthread_mutex_unlock(&s->vlock);
	}
	return rc;
}

/* With a spool: everything queued committed first (the checkpoint's
 * synchronous commit then makes it durable). */
static int
pg_flush(struct ts_audit *a)
{
	struct pg_sink *s = pg_sink_of(a);

	return s->ship != NULL ? ts_pg_ship_flush(s->ship) : 0;
}

/* The chain's last entry in the database (a->lock held): with a spool,
 * what is shipped; a prune never removes it. */
static uint64_t
db_last(struct ts_audit *a)
{
	struct pg_sink *s = pg_sink_of(a);
	uint64_t shipped;

	if (s->ship == NULL)
		return a->seq;
	shipped = ts_pg_ship_shipped(s->ship);
	return shipped < a->seq ? shipped : a->seq;
}

/* The checkpoint row, committed synchronously: the entries before it
 * are flushed with it. */
static int
pg_checkpoint_put(struct ts_audit *a, const struct ts_audit_checkpoint *cp,
                  const char *text, size_t len)
{
	struct pg_sink *s = pg_sink_of(a);
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
	                      "sig = EXCLUDED.sig WHERE ts_audit_checkpoint.seq "
	                      "<= EXCLUDED.seq", 4, v, lens, fmts, 0,
	                      NULL)) < 0) {
		ts_pg_rollback(s->pg);
		return rc;
	}
	return ts_pg_commit(s->pg);
}

static int
pg_hash_at(struct ts_audit *a, uint64_t seq, unsigned char out[HASHBYTES])
{
	struct pg_sink *s = pg_sink_of(a);
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

/* ---- prune, per host ---- */

/* The oldest prunable row's time; a row that does not chain from the
 * anchor (its time edited) refuses the prune once: INT64_MIN. */
static int64_t
pg_prune_next(struct ts_audit *a)
{
	struct pg_sink *s = pg_sink_of(a);
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
	snprintf(last, sizeof(last), "%" PRIu64, db_last(a));
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
	struct pg_sink *s = pg_sink_of(a);
	char from[24], last[24];
	const char *v[3] = { a->host, from, last };
	int more = 1, rc = 0;

	*seq = a->have_anchor ? a->anchor_seq : 0;
	memset(hash, 0, HASHBYTES);
	if (a->have_anchor)
		memcpy(hash, a->anchor_hash, HASHBYTES);
	snprintf(last, sizeof(last), "%" PRIu64, db_last(a));
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
	struct pg_sink *s = pg_sink_of(a);
	struct ts_audit_checkpoint an;
	unsigned char hash[HASHBYTES];
	char text[512], sq[24];
	const char *v[4] = { a->host, sq, (const char *)an.hash,
	                     (const char *)an.sig };
	int lens[4] = { 0, 0, HASHBYTES, (int)sizeof(an.sig) };
	int fmts[4] = { 0, 0, 1, 1 };
	uint64_t seq, from;
	int rc;

	/* What is queued, in the database first (not under a->lock: the
	 * appends go on meanwhile). */
	if (s->ship != NULL && (rc = ts_pg_ship_flush(s->ship)) < 0) {
		out->entries = 0;
		pthread_mutex_lock(&a->lock);
		out->first_seq = (a->have_anchor ? a->anchor_seq : 0) + 1;
		pthread_mutex_unlock(&a->lock);
		return rc;
	}
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
	struct pg_sink *s = pg_sink_of(a);
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
	struct pg_sink *s = pg_sink_of(a);
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
	.flush = pg_flush,
	.checkpoint_put = pg_checkpoint_put,
	.hash_at = pg_hash_at,
	.size = ts_pg_audit_view_size,
	.read = ts_pg_audit_view_read,
	.view_idle = ts_pg_audit_view_idle,
	.prune_next = pg_prune_next,
	.prune = pg_prune,
	.seals_read = pg_seals_read,
	.seal_put = pg_seal_put,
	.start = pg_start,
	.set_spool = pg_set_spool,
	.close = pg_close,
};

