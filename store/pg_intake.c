/*
 * pg_intake: the PostgreSQL backend's intake (ts_intake), rejected intake
 * (ts_intake_rejected) and whether a ticket is known (pg_priv.h).
 *
 * A front end's role may only INSERT into ts_intake and call
 * ts_ticket_known, so the writer side reads no table: a batch (and
 * put_many) is INSERTs in one transaction, one COMMIT for the lot.
 *
 * The daemons share ts_intake, and each row is taken in by exactly one:
 * a poll claims up to a batch of rows in one statement (FOR UPDATE SKIP
 * LOCKED: two daemons polling at once claim disjoint rows), committed at
 * once, then hands them to fn one by one and, for each, deletes it (taken
 * in), moves it to ts_intake_rejected (refused) or gives up the claim
 * (-EAGAIN: offered again at the next pass: a poll goes on after the
 * last row it claimed, as a directory store's pass through intake/ does,
 * so rows given back never hold up the ones behind them).  Each of those
 * acts only while the claim is still this poll's (claimed_by and
 * claimed_at as claimed), and a claim held 30 s is renewed before its
 * row is handed over: a claim older than
 * 60 s is a dead daemon's and another daemon takes it over; so is, at
 * once, a claim whose host holds no host lock (pg_locks: that daemon is
 * gone, e.g. kill -9; a poll runs only with its own lock held,
 * store_pg.c), and a daemon that takes its host lock gives up the claims
 * its host name held before (ts_pg_intake_release_host).  A daemon
 * killed between taking a record in and deleting its row has it taken in
 * again, as a directory store's intake file would be.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/intake_rec.h"
#include "store/pg_priv.h"
#include "store/record.h"
#include "store/util.h"

#define CLAIM_RENEW_MS 30000	/* renew a claim this old before use */
#define PUT_ROWS 256		/* rows a put statement */
#define PUT_BYTES (8u << 20)	/* about the bytes a put statement */

struct pg_intake {
	int rejected_capped;	/* ts_intake_rejected capped since open */
	char after[24];		/* the pass under way goes on after this
				   seq ("0": a new pass, from the oldest) */
};

void
ts_pg_intake_free(struct pg_store *ps)
{
	free(ps->intake);
	ps->intake = NULL;
}

static long long
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the writer side ---- */

/* INSERTs v[0..n) in one statement (inside the caller's transaction). */
static int
put_rows(struct ts_pg *pg, const struct ts_intake_item *v, size_t n)
{
	const char **val = calloc(3 * n, sizeof(*val));
	int *len = calloc(3 * n, sizeof(*len)), *fmt = calloc(3 * n,
	                                                      sizeof(*fmt));
	char (*kind)[4] = calloc(n, sizeof(*kind));
	char *sql = malloc(64 + 48 * n), *p;
	int rc = -ENOMEM;

	if (val == NULL || len == NULL || fmt == NULL || kind == NULL ||
	    sql == NULL)
		goto out;
	p = sql + sprintf(sql, "INSERT INTO ts_intake (kind, id, rec) VALUES ");
	for (size_t i = 0; i < n; i++) {
		snprintf(kind[i], sizeof(kind[i]), "%d", v[i].kind);
		val[3 * i] = kind[i];
		val[3 * i + 1] = v[i].id;
		val[3 * i + 2] = (const char *)v[i].rec;
		len[3 * i + 2] = (int)v[i].len;
		fmt[3 * i + 2] = 1;
		p += sprintf(p, "%s($%zu::smallint, $%zu::text, $%zu::bytea)",
		             i ? ", " : "", 3 * i + 1, 3 * i + 2, 3 * i + 3);
	}
	rc = ts_pg_query(pg, sql, (int)(3 * n), val, len, fmt, 0, NULL);
out:
	free(val);
	free(len);
	free(fmt);
	free(kind);
	free(sql);
	return rc;
}

/* A batch: one transaction, open from begin to commit or abort. */
struct pg_batch {
	size_t n;		/* rows inserted */
	int failed;		/* an add failed: rolled back already */
};

int
ts_pg_intake_begin(struct ts_store *st, void **batch)
{
	struct pg_batch *b = calloc(1, sizeof(*b));
	int rc;

	if (b == NULL)
		return -ENOMEM;
	if ((rc = ts_pg_begin(pg_of(st)->pg)) < 0) {
		free(b);
		return rc;
	}
	*batch = b;
	return 0;
}

int
ts_pg_intake_add(struct ts_store *st, void *batch,
                 const struct ts_intake_item *v, size_t n)
{
	struct pg_store *ps = pg_of(st);
	struct pg_batch *b = batch;
	size_t i, j, bytes;
	int rc = -EINVAL;

	if (b->failed)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (ts_intake_rec_letter(v[i].kind) == 0 ||
		    !ts_id_valid(v[i].id) || v[i].len == 0 ||
		    v[i].len > TS_RECORD_MAX)
			goto out_fail;
	for (i = 0; i < n; i = j) {
		for (j = i, bytes = 0; j < n && j - i < PUT_ROWS &&
		     (j == i || bytes + v[j].len <= PUT_BYTES); j++)
			bytes += v[j].len;
		if ((rc = put_rows(ps->pg, v + i, j - i)) < 0)
			goto out_fail;
	}
	b->n += n;
	return 0;
out_fail:
	ts_pg_rollback(ps->pg);
	b->failed = 1;
	return rc;
}

int
ts_pg_intake_commit(struct ts_store *st, void *batch, size_t *done)
{
	struct pg_batch *b = batch;
	int rc = -EINVAL;

	*done = 0;
	/* A COMMIT that fails is reported (-EIO: lost, outcome unknown);
	 * nothing is acknowledged that is not committed. */
	if (!b->failed && (rc = ts_pg_commit(pg_of(st)->pg)) == 0)
		*done = b->n;
	free(b);
	return rc;
}

void
ts_pg_intake_abort(struct ts_store *st, void *batch)
{
	struct pg_batch *b = batch;

	if (!b->failed)
		ts_pg_rollback(pg_of(st)->pg);
	free(b);
}

int
ts_pg_intake_ticket_known(struct ts_store *st, const char *id)
{
	struct pg_store *ps = pg_of(st);
	const char *v[1] = { id };
	PGresult *r;
	int rc;

	if (!ts_id_valid(id))
		return 0;
	rc = ts_pg_query(ps->pg, "SELECT ts_ticket_known($1)", 1, v, NULL,
	                 NULL, 0, &r);
	if (rc < 0)
		return rc;
	rc = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return rc;
}

/* ---- the daemon side ---- */

/*
 * Claims the oldest rows after seq $5 that nobody holds (or whose claim
 * is a dead daemon's): at most TS_INTAKE_BATCH, and no more after the one
 * that reaches TS_INTAKE_BATCH_BYTES.  Result columns: seq, kind, id,
 * claimed_at (text), rec (NULL if over TS_RECORD_MAX: not fetched), and
 * how many rows were free to claim (one more than the batch: intake is
 * still waiting).
 */
static const char CLAIM_SQL[] =
	"WITH held AS MATERIALIZED ("
	"  SELECT (classid::bigint << 32) | objid::bigint AS k FROM pg_locks"
	"   WHERE locktype = 'advisory' AND objsubid = 1 AND granted"
	"     AND database = (SELECT oid FROM pg_database"
	"                      WHERE datname = current_database())),"
	" cand AS ("
	"  SELECT seq, octet_length(rec)::bigint AS len FROM ts_intake"
	"   WHERE seq > $5::bigint AND (claimed_by IS NULL"
	"      OR claimed_at < now() - interval '60 seconds'"
	"      OR NOT EXISTS (SELECT 1 FROM held WHERE held.k = "
	         PG_HOST_LOCK_KEY("claimed_by") "))"
	"   ORDER BY seq LIMIT $2::int + 1 FOR UPDATE SKIP LOCKED),"
	" pick AS ("
	"  SELECT seq FROM (SELECT seq, row_number() OVER w AS i,"
	"                          sum(len) OVER w - len AS before"
	"                     FROM cand WINDOW w AS"
	"                     (ORDER BY seq ROWS UNBOUNDED PRECEDING)) x"
	"   WHERE i <= $2::int AND before < $3::bigint),"
	" c AS ("
	"  UPDATE ts_intake t SET claimed_by = $1, claimed_at = now()"
	"    FROM pick WHERE t.seq = pick.seq"
	"  RETURNING t.seq, t.kind, t.id, t.claimed_at,"
	"            CASE WHEN octet_length(t.rec) <= $4::bigint"
	"                 THEN t.rec END AS rec)"
	" SELECT c.seq::text, c.kind::text, c.id, c.claimed_at::text, c.rec,"
	"        (SELECT count(*) FROM cand)::text"
	"   FROM c ORDER BY c.seq";

int
ts_pg_intake_release_host(struct pg_store *ps)
{
	const char *v[1] = { ts_store_host(&ps->base) };

	return ts_pg_query(ps->pg, "UPDATE ts_intake SET claimed_by = NULL, "
	                   "claimed_at = NULL WHERE claimed_by = $1", 1, v,
	                   NULL, NULL, 0, NULL);
}

/* Acts on row seq only while the claim (claimed_by, claimed_at) is ours. */
#define MINE "seq = $1::bigint AND claimed_by = $2 AND " \
             "claimed_at = $3::timestamptz"

static const char DELETE_SQL[] = "DELETE FROM ts_intake WHERE " MINE;
static const char RELEASE_SQL[] =
	"UPDATE ts_intake SET claimed_by = NULL, claimed_at = NULL WHERE " MINE;
static const char RENEW_SQL[] =
	"UPDATE ts_intake SET claimed_at = now() WHERE " MINE
	" RETURNING claimed_at::text";
static const char REJECT_SQL[] =
	"WITH d AS (DELETE FROM ts_intake WHERE " MINE
	"           RETURNING seq, kind, id, rec, at)"
	" INSERT INTO ts_intake_rejected (seq, kind, id, rec, at, why)"
	" SELECT seq, kind, id, rec, at, $4 FROM d";

/* Deletes the oldest rejected rows beyond the cap; returns them. */
static const char CAP_SQL[] =
	"WITH r AS ("
	"  SELECT seq, row_number() OVER w AS i,"
	"         sum(octet_length(rec)::bigint) OVER w AS run"
	"    FROM ts_intake_rejected WINDOW w AS"
	"    (ORDER BY rejected_at DESC, seq DESC ROWS UNBOUNDED PRECEDING)),"
	" d AS ("
	"  DELETE FROM ts_intake_rejected x USING r"
	"   WHERE x.seq = r.seq AND (r.i > $1::bigint OR r.run > $2::bigint)"
	"  RETURNING x.seq, x.kind, x.id, x.rejected_at)"
	" SELECT d.seq::text, d.kind::text, d.id FROM d"
	"  ORDER BY d.rejected_at, d.seq";

/* One claimed row. */
struct claim {
	const char *seq;	/* as text, into the claim's result */
	char at[64];		/* claimed_at as text: the claim's token */
	long long at_ms;	/* when it was claimed (CLOCK_MONOTONIC) */
};

/* Runs one of the MINE statements on c (why: REJECT_SQL's $4); 1 if it
 * hit the row (*res: RENEW's new token), 0 if the claim was lost. */
static int
on_claim(struct pg_store *ps, const char *sql, struct claim *c,
         const char *why)
{
	const char *v[4] = { c->seq, ts_store_host(&ps->base), c->at, why };
	PGresult *r;
	int rc;

	rc = ts_pg_query(ps->pg, sql, why ? 4 : 3, v, NULL, NULL, 0, &r);
	if (rc < 0)
		return rc;
	if (PQresultStatus(r) == PGRES_TUPLES_OK) {
		rc = PQntuples(r) == 1;
		if (rc)
			snprintf(c->at, sizeof(c->at), "%s",
			         PQgetvalue(r, 0, 0));
	} else {
		rc = strcmp(PQcmdTuples(r), "1") == 0;
	}
	PQclear(r);
	return rc;
}

/* "SEQ-K-ID", the name fn is given (the daemon shows it as intake/NAME);
 * an id that is none (a front end's INSERT is free text) is not copied. */
static void
row_name(char *out, size_t outlen, const char *prefix, const char *seq,
         const char *kind, const char *id)
{
	char k = ts_intake_rec_letter(atoi(kind));

	snprintf(out, outlen, "%s%s-%c-%s", prefix, seq, k ? k : 'x',
	         ts_id_valid(id) ? id : "invalid-id");
}

static void
cap_rejected(struct pg_store *ps, ts_store_intake_fn fn, void *arg)
{
	char files[24], bytes[24], name[TS_NAME_MAX + 64];
	const char *v[2] = { files, bytes };
	PGresult *r;

	snprintf(files, sizeof(files), "%d", TS_INTAKE_REJECTED_FILES);
	snprintf(bytes, sizeof(bytes), "%lu", TS_INTAKE_REJECTED_BYTES);
	if (ts_pg_query(ps->pg, CAP_SQL, 2, v, NULL, NULL, 0, &r) < 0)
		return;		/* again after the next rejection */
	for (int i = 0; fn != NULL && i < PQntuples(r); i++) {
		row_name(name, sizeof(name), "rejected/", PQgetvalue(r, i, 0),
		         PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
		fn(arg, name, TS_INTAKE_DROPPED, NULL, NULL, 0);
	}
	PQclear(r);
	ps->intake->rejected_capped = 1;
}

/*
 * Hands claimed row i of r to fn and settles it.  Returns 1 if taken in,
 * 2 if moved to ts_intake_rejected, else 0.
 */
static int
take_row(struct pg_store *ps, PGresult *r, int i, long long at_ms,
         ts_store_intake_fn fn, void *arg)
{
	struct claim c = { PQgetvalue(r, i, 0), "", at_ms };
	const uint8_t *buf = NULL;
	char name[TS_NAME_MAX + 64], why[160];
	struct ts_ticket t;
	size_t len = 0;
	int kind = 0, err, res;

	snprintf(c.at, sizeof(c.at), "%s", PQgetvalue(r, i, 3));
	row_name(name, sizeof(name), "", c.seq, PQgetvalue(r, i, 1),
	         PQgetvalue(r, i, 2));
	if (mono_ms() - c.at_ms >= CLAIM_RENEW_MS &&
	    on_claim(ps, RENEW_SQL, &c, NULL) != 1)
		return 0;	/* lost (taken over), or unreachable */
	if (PQgetisnull(r, i, 4)) {
		err = -EBADMSG;	/* over TS_RECORD_MAX: no record */
	} else {
		buf = (const uint8_t *)PQgetvalue(r, i, 4);
		len = (size_t)PQgetlength(r, i, 4);
		err = ts_intake_rec_decode(name, buf, len, &kind, &t);
	}
	if (err < 0 && err != -EBADMSG && err != -EACCES) {
		fn(arg, name, TS_INTAKE_DEFERRED, NULL, NULL, err);
		on_claim(ps, RELEASE_SQL, &c, NULL);
		return 0;
	}
	if (err < 0)
		kind = 0;
	res = fn(arg, name, kind, err == 0 ? &t : NULL, buf, err);
	if (res == -EAGAIN) {
		on_claim(ps, RELEASE_SQL, &c, NULL);
		return 0;
	}
	if (res == 0)
		return on_claim(ps, DELETE_SQL, &c, NULL) == 1 ? 1 : 0;
	snprintf(why, sizeof(why), "refused by host %s: %s",
	         ts_store_host(&ps->base), strerror(res < 0 ? -res : res));
	return on_claim(ps, REJECT_SQL, &c, why) == 1 ? 2 : 0;
}

int
ts_pg_intake_poll(struct ts_store *st, ts_store_intake_fn fn, void *arg,
                  int *more)
{
	struct pg_store *ps = pg_of(st);
	char batch[24], bytes[24], max[24];
	const char *v[5] = { ts_store_host(st), batch, bytes, max, NULL };
	int rc, n, taken = 0, rejected = 0;
	long long at_ms;
	PGresult *r;

	*more = 0;
	if (ps->mode != TS_STORE_DAEMON)
		return -EPERM;
	if (ps->intake == NULL) {
		if ((ps->intake = calloc(1, sizeof(*ps->intake))) == NULL)
			return -ENOMEM;
		strcpy(ps->intake->after, "0");
	}
	if (fn == NULL)
		goto out_cap;
	snprintf(batch, sizeof(batch), "%d", TS_INTAKE_BATCH);
	snprintf(bytes, sizeof(bytes), "%lu", TS_INTAKE_BATCH_BYTES);
	snprintf(max, sizeof(max), "%u", TS_RECORD_MAX);
	/*
	 * A pass goes through the rows in order, a batch a call, as a
	 * directory store's does through intake/: rows given back (-EAGAIN)
	 * wait for the next pass, and cannot hold up the ones behind them.
	 * Binary results: rec as its bytes (the others are text anyway).
	 */
	for (;;) {
		v[4] = ps->intake->after;
		at_ms = mono_ms();
		rc = ts_pg_query(ps->pg, CLAIM_SQL, 5, v, NULL, NULL, 1, &r);
		if (rc < 0)
			return rc;
		n = PQntuples(r);
		if (n > 0 || strcmp(ps->intake->after, "0") == 0)
			break;
		PQclear(r);
		strcpy(ps->intake->after, "0");	/* a new pass */
	}
	if (n > 0 && atoi(PQgetvalue(r, 0, 5)) > n)
		*more = 1;
	snprintf(ps->intake->after, sizeof(ps->intake->after), "%s",
	         *more ? PQgetvalue(r, n - 1, 0) : "0");
	for (int i = 0; i < n; i++) {
		rc = take_row(ps, r, i, at_ms, fn, arg);
		taken += rc == 1;
		rejected |= rc == 2;
	}
	PQclear(r);
out_cap:
	if (rejected || !ps->intake->rejected_capped)
		cap_rejected(ps, fn, arg);
	return taken;
}
