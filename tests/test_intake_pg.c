/*
 * test_intake_pg: the PostgreSQL backend's intake (store/pg_intake.c), in
 * a fresh database of the tests' cluster ($TS_PG_DIR, ctest fixture pg)
 * per test: a batch put in one transaction (all or nothing), the poll's
 * order and bounds, two daemons polling at once taking each record exactly
 * once, -EAGAIN giving a record back, rejection and the rejected cap,
 * claims (a live one respected, a dead daemon's taken over: after 60 s,
 * or at once when its host holds no host lock; a daemon restarted gives up
 * its own; a poll without the lock refused; a lost one not acted on; a
 * slow poll's renewed), ts_ticket_known, and a front end's role that may
 * only INSERT.  What the backend did is checked in the tables themselves.
 */
#include <check.h>

#include "tests/check_main.h"
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "store/intake.h"
#include "store/record.h"
#include "store/seal.h"
#include "store/store.h"
#include "store/ticket.h"

#define T0 INT64_C(1767225600000)	/* 2026-01-01T00:00:00Z */
#define NBIG 2000
static const char POLICY[] = "ticket processed+30d\n";

/* Per test (CK_FORK: each test in its own process). */
static char db[64];		/* the test's database */
static char uri[512];		/* as the superuser */
static char role[64];		/* a front end's role, if made */
static PGconn *adm;		/* the superuser on db */
static struct ts_seckey *key;

static void
conninfo(char *out, size_t len, const char *dbname, const char *user)
{
	const char *dir = getenv("TS_PG_DIR");

	ck_assert_msg(dir != NULL && dir[0] != '\0', "TS_PG_DIR is not set: "
	              "run under ctest (fixture pg), or start "
	              "tests/pg_fixture.sh and export TS_PG_DIR");
	snprintf(out, len, "postgresql:///%s?host=%s&user=%s", dbname, dir,
	         user);
}

static void
quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

static PGconn *
connect_to(const char *dbname)
{
	char ci[512];
	PGconn *c;

	conninfo(ci, sizeof(ci), dbname, "postgres");
	c = PQconnectdb(ci);
	ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect %s: %s", dbname,
	              PQerrorMessage(c));
	PQsetNoticeProcessor(c, quiet, NULL);
	return c;
}

/* Runs sql on c; its first value (static, "" if none). */
static const char *
sql_on(PGconn *c, const char *sql)
{
	static char out[256];
	PGresult *r = PQexec(c, sql);
	ExecStatusType s = PQresultStatus(r);

	ck_assert_msg(s == PGRES_TUPLES_OK || s == PGRES_COMMAND_OK,
	              "%s: %s", sql, PQerrorMessage(c));
	snprintf(out, sizeof(out), "%s", s == PGRES_TUPLES_OK &&
	         PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return out;
}

static const char *
sql(const char *q)
{
	return sql_on(adm, q);
}

static long
sql_long(const char *q)
{
	return atol(sql(q));
}

static void
setup(void)
{
	PGconn *c = connect_to("postgres");
	char q[128];

	snprintf(db, sizeof(db), "ts_intake_pg_%ld", (long)getpid());
	snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
	sql_on(c, q);
	snprintf(q, sizeof(q), "CREATE DATABASE %s", db);
	sql_on(c, q);
	PQfinish(c);
	conninfo(uri, sizeof(uri), db, "postgres");
	ck_assert_int_eq(ts_seal_keypair(&key), 0);
	ck_assert_int_eq(ts_store_create(uri, ts_seal_seckey_pk(key), POLICY),
	                 0);
	adm = connect_to(db);
	role[0] = '\0';
}

static void
teardown(void)
{
	PGconn *c;
	char q[128];

	if (adm != NULL)
		PQfinish(adm);
	adm = NULL;
	ts_seal_seckey_free(key);
	key = NULL;
	c = connect_to("postgres");
	snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS %s WITH (FORCE)", db);
	sql_on(c, q);
	if (role[0] != '\0') {
		snprintf(q, sizeof(q), "DROP ROLE IF EXISTS %s", role);
		sql_on(c, q);
	}
	PQfinish(c);
}

static struct ts_store *
open_as(enum ts_store_mode mode, const char *host)
{
	struct ts_store *st = NULL;

	ck_assert_int_eq(ts_store_open(uri, mode, &st), 0);
	if (host != NULL)
		ck_assert_int_eq(ts_store_set_host(st, host), 0);
	/* A daemon polls with its host lock held, as fs/main.c takes it. */
	if (mode == TS_STORE_DAEMON && host != NULL)
		ck_assert_int_eq(ts_store_lock(st), 0);
	return st;
}

static void
mk_id(char id[TS_NAME_MAX + 1], int i)
{
	snprintf(id, TS_NAME_MAX + 1, "20260101-000000-%06d-0001", i);
}

/* n revocation records (cheap: no sealing), ids mk_id(0..n), auth "a". */
struct batch {
	struct ts_intake_item *v;
	char (*id)[TS_NAME_MAX + 1];
	uint8_t **rec;
	size_t n;
};

static void
batch_make(struct batch *b, size_t n)
{
	char err[256];

	b->n = n;
	b->v = calloc(n, sizeof(*b->v));
	b->id = calloc(n, sizeof(*b->id));
	b->rec = calloc(n, sizeof(*b->rec));
	ck_assert(b->v && b->id && b->rec);
	for (size_t i = 0; i < n; i++) {
		mk_id(b->id[i], (int)i);
		ck_assert_int_eq(ts_intake_revoke(b->id[i], "a", &b->rec[i],
		                                  &b->v[i].len, err,
		                                  sizeof(err)), 0);
		b->v[i].kind = TS_REC_REVOKE;
		b->v[i].id = b->id[i];
		b->v[i].rec = b->rec[i];
	}
}

static void
batch_free(struct batch *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->rec[i]);
	free(b->v);
	free(b->id);
	free(b->rec);
}

static void
put_batch(size_t n)
{
	struct ts_store *w = open_as(TS_STORE_INTAKE, NULL);
	struct batch b;
	size_t done = 7;

	batch_make(&b, n);
	ck_assert_int_eq(ts_store_intake_put_many(w, b.v, n, &done), 0);
	ck_assert_uint_eq(done, n);
	batch_free(&b);
	ts_store_close(w);
}

/* What a poll's callback saw. */
struct seen {
	long long seq[NBIG + 16];	/* from the names */
	char name[NBIG + 16][128];
	int kind[NBIG + 16], err[NBIG + 16];
	char id[NBIG + 16][TS_NAME_MAX + 1];
	size_t n;
	size_t dropped;
	char dropname[8][128];
	int ret;		/* what the callback returns */
	int deferred;
};

static int
on_rec(void *arg, const char *name, int kind, struct ts_ticket *t,
       const uint8_t *buf, int err)
{
	struct seen *s = arg;

	(void)buf;
	if (kind == TS_INTAKE_DROPPED) {
		ck_assert_ptr_null(t);
		if (s->dropped < 8)
			snprintf(s->dropname[s->dropped], 128, "%s", name);
		s->dropped++;
		return 0;
	}
	if (kind == TS_INTAKE_DEFERRED) {
		s->deferred++;
		return 0;
	}
	ck_assert_uint_lt(s->n, NBIG + 16);
	ck_assert_msg((t == NULL) == (err < 0), "t %p with err %d", t, err);
	s->seq[s->n] = strtoll(name, NULL, 10);
	snprintf(s->name[s->n], 128, "%s", name);
	s->kind[s->n] = kind;
	s->err[s->n] = err;
	s->id[s->n][0] = '\0';
	if (t != NULL) {
		snprintf(s->id[s->n], TS_NAME_MAX + 1, "%s", t->id);
		ts_ticket_release(t);
	}
	s->n++;
	return s->ret;
}

/* ---- put ---- */

/* 2,000 records in one call: one transaction (one xmin), all there. */
START_TEST(put_many_one_commit)
{
	struct ts_store *w = open_as(TS_STORE_INTAKE, NULL);
	struct batch b;
	size_t done = 7;

	batch_make(&b, NBIG);
	ck_assert_int_eq(ts_store_intake_put_many(w, b.v, NBIG, &done), 0);
	ck_assert_uint_eq(done, NBIG);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake"), NBIG);
	ck_assert_int_eq(sql_long("SELECT count(DISTINCT xmin::text) "
	                          "FROM ts_intake"), 1);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake WHERE "
	                          "kind <> 4 OR claimed_by IS NOT NULL"), 0);
	/* In order: seq follows the batch. */
	ck_assert_str_eq(sql("SELECT id FROM ts_intake ORDER BY seq LIMIT 1"),
	                 b.id[0]);
	ck_assert_str_eq(sql("SELECT id FROM ts_intake ORDER BY seq DESC "
	                     "LIMIT 1"), b.id[NBIG - 1]);
	/* The bytes are the record's. */
	ck_assert_int_eq(sql_long("SELECT octet_length(rec) FROM ts_intake "
	                          "ORDER BY seq LIMIT 1"), (long)b.v[0].len);

	/* A bad item anywhere: nothing of the batch is written. */
	b.v[1500].kind = 0;
	ck_assert_int_eq(ts_store_intake_put_many(w, b.v, NBIG, &done),
	                 -EINVAL);
	ck_assert_uint_eq(done, 0);
	b.v[1500].kind = TS_REC_REVOKE;
	/* The database refusing row 1,500 of 2,000: none of them either. */
	sql("ALTER TABLE ts_intake ADD CONSTRAINT no_1500 CHECK "
	    "(id <> '20260101-000000-001500-0001') NOT VALID");
	ck_assert_int_lt(ts_store_intake_put_many(w, b.v, NBIG, &done), 0);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake"), NBIG);
	sql("ALTER TABLE ts_intake DROP CONSTRAINT no_1500");
	/* And the handle still works after the failed transaction. */
	ck_assert_int_eq(ts_store_intake_put_many(w, b.v, 10, &done), 0);
	ck_assert_uint_eq(done, 10);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake"), NBIG + 10);
	batch_free(&b);
	ts_store_close(w);
}
END_TEST

/* ---- poll ---- */

/* Taken in order, at most a batch a call, *more until the last. */
START_TEST(poll_in_order_bounded)
{
	struct ts_store *st;
	struct seen *s = calloc(1, sizeof(*s));
	int more = 0, rounds = 0, rc;
	char want[128];

	put_batch(NBIG);
	st = open_as(TS_STORE_DAEMON, "h1");
	do {
		size_t before = s->n;

		rc = ts_store_intake_poll(st, on_rec, s, &more);
		ck_assert_int_ge(rc, 0);
		ck_assert_uint_eq(s->n - before, (size_t)rc);
		ck_assert_int_le(rc, TS_INTAKE_BATCH);
		if (more)
			ck_assert_int_eq(rc, TS_INTAKE_BATCH);
		rounds++;
		ck_assert_int_le(rounds, 20);
	} while (more);
	ck_assert_uint_eq(s->n, NBIG);
	ck_assert_int_eq(rounds, (NBIG + TS_INTAKE_BATCH - 1) /
	                 TS_INTAKE_BATCH);
	for (size_t i = 0; i < s->n; i++) {
		char id[TS_NAME_MAX + 1];

		mk_id(id, (int)i);
		ck_assert_str_eq(s->id[i], id);
		ck_assert_int_eq(s->kind[i], TS_REC_REVOKE);
		ck_assert_int_eq(s->err[i], 0);
		if (i > 0)
			ck_assert_int_lt(s->seq[i - 1], s->seq[i]);
		/* Named SEQ-K-ID, as a directory store's STAMP-K-ID. */
		snprintf(want, sizeof(want), "%lld-r-%s", s->seq[i], id);
		ck_assert_str_eq(s->name[i], want);
	}
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake"), 0);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake_rejected"),
	                 0);
	ck_assert_int_eq(ts_store_intake_poll(st, on_rec, s, &more), 0);
	ck_assert_int_eq(more, 0);
	ck_assert_uint_eq(s->n, NBIG);
	ts_store_close(st);
	free(s);
}
END_TEST

/* The byte bound: no record after the one that reaches it. */
START_TEST(poll_bytes_bounded)
{
	struct ts_store *w = open_as(TS_STORE_INTAKE, NULL), *st;
	struct seen *s = calloc(1, sizeof(*s));
	size_t lens[20], sum = 0, want = 0;
	char *text = malloc(TS_MESSAGE_MAX), err[256], id[TS_NAME_MAX + 1];
	int more = 0;

	memset(text, 'x', TS_MESSAGE_MAX - 1);
	mk_id(id, 1);
	for (int i = 0; i < 20; i++) {
		uint8_t *rec;
		char name[16];

		snprintf(name, sizeof(name), "m%d", i);
		ck_assert_int_eq(ts_intake_message(ts_seal_seckey_pk(key), id,
		                                   name, text,
		                                   TS_MESSAGE_MAX - 1, T0, &rec,
		                                   &lens[i], err, sizeof(err)),
		                 0);
		ck_assert_int_eq(ts_store_intake_put(w, TS_REC_MESSAGE, id, rec,
		                                     lens[i]), 0);
		free(rec);
	}
	for (int i = 0; i < 20 && sum < TS_INTAKE_BATCH_BYTES; i++) {
		sum += lens[i];
		want++;
	}
	ck_assert_uint_lt(want, 20);
	st = open_as(TS_STORE_DAEMON, "h1");
	ck_assert_int_eq(ts_store_intake_poll(st, on_rec, s, &more),
	                 (int)want);
	ck_assert_int_eq(more, 1);
	ck_assert_int_eq(ts_store_intake_poll(st, on_rec, s, &more),
	                 (int)(20 - want));
	ck_assert_int_eq(more, 0);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake"), 0);
	ts_store_close(st);
	ts_store_close(w);
	free(text);
	free(s);
}
END_TEST

/* Two daemons polling at once: each record taken exactly once. */
struct poller {
	const char *host;
	atomic_int *count;	/* per record index: times taken */
	pthread_barrier_t *go;
	int taken, calls, err;
};

static int
on_race(void *arg, const char *name, int kind, struct ts_ticket *t,
        const uint8_t *buf, int err)
{
	struct poller *p = arg;
	struct timespec ts = { 0, 100 * 1000 };	/* interleave */
	int i;

	(void)name;
	(void)buf;
	if (kind < 0 || t == NULL) {
		p->err = err ? err : -EPROTO;
		return 0;
	}
	i = atoi(t->id + 16);	/* mk_id's number */
	if (i < 0 || i >= NBIG)
		p->err = -ERANGE;
	else
		atomic_fetch_add(&p->count[i], 1);
	ts_ticket_release(t);
	nanosleep(&ts, NULL);
	return 0;
}

static void *
poll_all(void *arg)
{
	struct poller *p = arg;
	struct ts_store *st = NULL;
	int rc, more;

	if ((rc = ts_store_open(uri, TS_STORE_DAEMON, &st)) < 0 ||
	    (rc = ts_store_set_host(st, p->host)) < 0 ||
	    (rc = ts_store_lock(st)) < 0) {
		p->err = rc;
		pthread_barrier_wait(p->go);
		ts_store_close(st);
		return NULL;
	}
	pthread_barrier_wait(p->go);
	do {
		rc = ts_store_intake_poll(st, on_race, p, &more);
		p->calls++;
		if (rc < 0)
			p->err = rc;
		else
			p->taken += rc;
	} while (rc > 0 || more);
	ts_store_close(st);
	return NULL;
}

START_TEST(two_pollers_exactly_once)
{
	static atomic_int count[NBIG];
	pthread_barrier_t go;
	struct poller p[2] = { { "h1", count, &go, 0, 0, 0 },
	                       { "h2", count, &go, 0, 0, 0 } };
	pthread_t th[2];

	put_batch(NBIG);
	pthread_barrier_init(&go, NULL, 2);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, poll_all, &p[i]),
		                 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	pthread_barrier_destroy(&go);
	for (int i = 0; i < 2; i++) {
		ck_assert_msg(p[i].err == 0, "%s: %s", p[i].host,
		              strerror(-p[i].err));
		ck_assert_msg(p[i].taken > 0, "%s took nothing", p[i].host);
	}
	ck_assert_int_eq(p[0].taken + p[1].taken, NBIG);
	for (int i = 0; i < NBIG; i++)
		ck_assert_msg(atomic_load(&count[i]) == 1, "record %d taken %d "
		              "times", i, atomic_load(&count[i]));
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake"), 0);
}
END_TEST

/* -EAGAIN: the claim is given back, the record offered again. */
START_TEST(eagain_releases)
{
	struct ts_store *st;
	struct seen *s = calloc(1, sizeof(*s));
	int more;

	put_batch(3);
	st = open_as(TS_STORE_DAEMON, "h1");
	s->ret = -EAGAIN;
	ck_assert_int_eq(ts_store_intake_poll(st, on_rec, s, &more), 0);
	ck_assert_uint_eq(s->n, 3);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake WHERE "
	                          "claimed_by IS NULL AND claimed_at IS NULL"),
	                 3);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake_rejected"),
	                 0);
	/* Another daemon may take it now: no claim stands in its way. */
	{
		struct ts_store *other = open_as(TS_STORE_DAEMON, "h2");

		s->ret = 0;
		s->n = 0;
		ck_assert_int_eq(ts_store_intake_poll(other, on_rec, s, &more),
		                 3);
		ts_store_close(other);
	}
	ck_assert_uint_eq(s->n, 3);
	ck_assert_int_eq(s->seq[0] < s->seq[1] && s->seq[1] < s->seq[2], 1);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake"), 0);
	ts_store_close(st);
	free(s);
}
END_TEST

/* Given back records wait for the next pass: they do not hold up the
 * ones behind them, even a whole batch of them. */
static int
on_first_batch_again(void *arg, const char *name, int kind,
                     struct ts_ticket *t, const uint8_t *buf, int err)
{
	struct seen *s = arg;
	int i = t != NULL ? atoi(t->id + 16) : -1;

	on_rec(arg, name, kind, t, buf, err);
	return i < TS_INTAKE_BATCH ? -EAGAIN : s->ret;
}

START_TEST(eagain_does_not_starve)
{
	struct ts_store *st;
	struct seen *s = calloc(1, sizeof(*s));
	int more;

	put_batch(TS_INTAKE_BATCH + 44);
	st = open_as(TS_STORE_DAEMON, "h1");
	ck_assert_int_eq(ts_store_intake_poll(st, on_first_batch_again, s,
	                                      &more), 0);
	ck_assert_uint_eq(s->n, TS_INTAKE_BATCH);
	ck_assert_int_eq(more, 1);
	ck_assert_int_eq(ts_store_intake_poll(st, on_first_batch_again, s,
	                                      &more), 44);
	ck_assert_int_eq(more, 0);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake"),
	                 TS_INTAKE_BATCH);
	/* The next pass starts from the oldest again. */
	s->n = 0;
	ck_assert_int_eq(ts_store_intake_poll(st, on_rec, s, &more),
	                 TS_INTAKE_BATCH);
	ck_assert_str_eq(s->id[0], "20260101-000000-000000-0001");
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake"), 0);
	ts_store_close(st);
	free(s);
}
END_TEST

/* Refused: moved whole to ts_intake_rejected, with why; damaged rows
 * and rows that are not what their kind and id say come with -EBADMSG. */
START_TEST(reject_moves_aside)
{
	struct ts_store *st;
	struct seen *s = calloc(1, sizeof(*s));
	char q[1024], id1[TS_NAME_MAX + 1], id2[TS_NAME_MAX + 1];
	int more;

	put_batch(3);
	mk_id(id1, 0);
	mk_id(id2, 1);
	sql("CREATE TABLE keep AS SELECT seq, rec FROM ts_intake");
	st = open_as(TS_STORE_DAEMON, "h1");
	s->ret = -EPERM;
	ck_assert_int_eq(ts_store_intake_poll(st, on_rec, s, &more), 0);
	ck_assert_uint_eq(s->n, 3);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake"), 0);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake_rejected r "
	                          "JOIN keep k USING (seq) WHERE r.rec = k.rec "
	                          "AND r.kind = 4"), 3);
	ck_assert_str_eq(sql("SELECT DISTINCT why FROM ts_intake_rejected"),
	                 "refused by host h1: Operation not permitted");
	s->n = 0;
	ck_assert_int_eq(ts_store_intake_poll(st, on_rec, s, &more), 0);
	ck_assert_uint_eq(s->n, 0);

	/* Damaged bytes; a revocation filed as a message; one for id1 filed
	 * under id2; an id that is none.  Each: t NULL, -EBADMSG. */
	sql("INSERT INTO ts_intake (kind, id, rec) VALUES "
	    "(1, '20260101-000000-000009-0001', '\\x544b465201'::bytea)");
	snprintf(q, sizeof(q), "INSERT INTO ts_intake (kind, id, rec) "
	         "SELECT 2, id, rec FROM ts_intake_rejected WHERE id = '%s'",
	         id1);
	sql(q);
	snprintf(q, sizeof(q), "INSERT INTO ts_intake (kind, id, rec) "
	         "SELECT 4, '%s', rec FROM ts_intake_rejected WHERE id = '%s'",
	         id2, id1);
	sql(q);
	snprintf(q, sizeof(q), "INSERT INTO ts_intake (kind, id, rec) "
	         "SELECT 4, 'no id' || chr(10), rec FROM ts_intake_rejected "
	         "WHERE id = '%s'", id1);
	sql(q);
	s->ret = -EBADMSG;
	ck_assert_int_eq(ts_store_intake_poll(st, on_rec, s, &more), 0);
	ck_assert_uint_eq(s->n, 4);
	for (size_t i = 0; i < 4; i++) {
		ck_assert_int_eq(s->err[i], -EBADMSG);
		ck_assert_int_eq(s->kind[i], 0);
	}
	ck_assert_ptr_nonnull(strstr(s->name[1], "-m-"));
	ck_assert_ptr_nonnull(strstr(s->name[2], id2));
	ck_assert_ptr_nonnull(strstr(s->name[3], "-r-invalid-id"));
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake"), 0);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake_rejected"),
	                 7);
	ts_store_close(st);
	free(s);
}
END_TEST

/* The cap: at most TS_INTAKE_REJECTED_FILES rows, the oldest rejected
 * go first, each told as TS_INTAKE_DROPPED; checked at the first poll
 * of a handle and after each rejection. */
START_TEST(rejected_cap_files)
{
	struct ts_store *st;
	struct seen *s = calloc(1, sizeof(*s));
	char q[512];
	int more;

	/* 1,005 rejected of before, the oldest rejected first; seq says
	 * otherwise, to show the order is by when they were rejected. */
	snprintf(q, sizeof(q), "INSERT INTO ts_intake_rejected (seq, kind, "
	         "id, rec, at, why, rejected_at) SELECT 200000 - g, 4, "
	         "'20260101-000000-000001-0001', '\\x00'::bytea, now(), 'old', "
	         "now() - (2000 - g) * interval '1 second' FROM "
	         "generate_series(1, %d) g", TS_INTAKE_REJECTED_FILES + 5);
	sql(q);
	st = open_as(TS_STORE_DAEMON, "h1");
	/* Nothing waiting: the first poll caps all the same. */
	ck_assert_int_eq(ts_store_intake_poll(st, on_rec, s, &more), 0);
	ck_assert_uint_eq(s->dropped, 5);
	ck_assert_str_eq(s->dropname[0],
	                 "rejected/199999-r-20260101-000000-000001-0001");
	ck_assert_str_eq(s->dropname[4],
	                 "rejected/199995-r-20260101-000000-000001-0001");
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake_rejected"),
	                 TS_INTAKE_REJECTED_FILES);
	ck_assert_int_eq(sql_long("SELECT max(seq) FROM ts_intake_rejected"),
	                 199994);
	/* Not again while nothing is rejected. */
	sql("INSERT INTO ts_intake_rejected (seq, kind, id, rec, at, why) "
	    "VALUES (1000000, 4, 'x', '\\x00', now(), 'planted')");
	s->dropped = 0;
	ck_assert_int_eq(ts_store_intake_poll(st, on_rec, s, &more), 0);
	ck_assert_uint_eq(s->dropped, 0);
	/* A rejection: the cap again, the oldest two go (the planted row
	 * and the new one are the newest). */
	put_batch(1);
	s->ret = -EINVAL;
	ck_assert_int_eq(ts_store_intake_poll(st, on_rec, s, &more), 0);
	ck_assert_uint_eq(s->n, 1);
	ck_assert_uint_eq(s->dropped, 2);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake_rejected"),
	                 TS_INTAKE_REJECTED_FILES);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake_rejected "
	                          "WHERE why <> 'old'"), 2);
	ts_store_close(st);
	free(s);
}
END_TEST

START_TEST(rejected_cap_bytes)
{
	struct ts_store *st;
	struct seen *s = calloc(1, sizeof(*s));
	int more;

	/* Three of 30 MB: 90 MB, over TS_INTAKE_REJECTED_BYTES. */
	sql("INSERT INTO ts_intake_rejected (seq, kind, id, rec, at, why, "
	    "rejected_at) SELECT 100000 + g, 4, 'x', convert_to(repeat('x', "
	    "30000000), 'UTF8'), now(), 'big', now() - (10 - g) * "
	    "interval '1 minute' FROM generate_series(1, 3) g");
	st = open_as(TS_STORE_DAEMON, "h1");
	ck_assert_int_eq(ts_store_intake_poll(st, on_rec, s, &more), 0);
	ck_assert_uint_eq(s->dropped, 1);
	ck_assert_str_eq(s->dropname[0], "rejected/100001-r-x");
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake_rejected"),
	                 2);
	ck_assert_int_le(sql_long("SELECT sum(octet_length(rec)) FROM "
	                          "ts_intake_rejected"),
	                 (long)TS_INTAKE_REJECTED_BYTES);
	ts_store_close(st);
	free(s);
}
END_TEST

/* ---- claims ---- */

/* The host lock of host NAME (store_pg.c's key), taken by the superuser's
 * session: NAME looks alive to the daemons. */
static void
hold_host_lock(const char *name, int hold)
{
	char q[160];

	snprintf(q, sizeof(q), "SELECT pg_advisory_%s(hashtext('ticketfs:%s'))",
	         hold ? "lock" : "unlock", name);
	ck_assert_str_eq(sql(q), hold ? "" : "t");
}

/* A live claim (its host holds its host lock) is respected; a dead
 * daemon's (over a minute) taken. */
START_TEST(stale_claim_taken_over)
{
	struct ts_store *st;
	struct seen *s = calloc(1, sizeof(*s));
	int more;

	put_batch(3);
	hold_host_lock("dead", 1);
	sql("UPDATE ts_intake SET claimed_by = 'dead', claimed_at = now()");
	st = open_as(TS_STORE_DAEMON, "h1");
	ck_assert_int_eq(ts_store_intake_poll(st, on_rec, s, &more), 0);
	ck_assert_uint_eq(s->n, 0);
	ck_assert_int_eq(more, 0);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake WHERE "
	                          "claimed_by = 'dead'"), 3);
	sql("UPDATE ts_intake SET claimed_at = now() - interval '59 seconds'");
	ck_assert_int_eq(ts_store_intake_poll(st, on_rec, s, &more), 0);
	ck_assert_uint_eq(s->n, 0);
	sql("UPDATE ts_intake SET claimed_at = now() - interval '1 hour'");
	ck_assert_int_eq(ts_store_intake_poll(st, on_rec, s, &more), 3);
	ck_assert_uint_eq(s->n, 3);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake"), 0);
	ts_store_close(st);
	free(s);
}
END_TEST

/* A claim by a host that holds no host lock (its daemon is gone: kill -9
 * ends its session) is taken over at once; one whose host holds it (in
 * this database) waits; a lock of that name in another database does
 * not count. */
START_TEST(dead_host_claim_taken_at_once)
{
	struct ts_store *st;
	struct seen *s = calloc(1, sizeof(*s));
	PGconn *other = connect_to("postgres");
	int more;

	put_batch(4);
	hold_host_lock("alive", 1);
	sql_on(other, "SELECT pg_advisory_lock(hashtext('ticketfs:gone'))");
	sql("UPDATE ts_intake SET claimed_by = 'alive', claimed_at = now() "
	    "WHERE seq IN (SELECT seq FROM ts_intake ORDER BY seq LIMIT 2)");
	sql("UPDATE ts_intake SET claimed_by = 'gone', claimed_at = now() "
	    "WHERE claimed_by IS NULL");
	st = open_as(TS_STORE_DAEMON, "h1");
	ck_assert_int_eq(ts_store_intake_poll(st, on_rec, s, &more), 2);
	ck_assert_uint_eq(s->n, 2);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake WHERE "
	                          "claimed_by = 'alive'"), 2);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake"), 2);
	/* The live host dies (its session lets go): taken at the next. */
	hold_host_lock("alive", 0);
	ck_assert_int_eq(ts_store_intake_poll(st, on_rec, s, &more), 2);
	ck_assert_uint_eq(s->n, 4);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake"), 0);
	ts_store_close(st);
	PQfinish(other);
	free(s);
}
END_TEST

/* A daemon killed with claims, started again under its host name: it
 * gives them up when it takes its lock, and takes them in at once. */
START_TEST(own_claims_released_at_lock)
{
	struct ts_store *st;
	struct seen *s = calloc(1, sizeof(*s));
	int more;

	put_batch(3);
	sql("UPDATE ts_intake SET claimed_by = 'h1', claimed_at = now()");
	sql("UPDATE ts_intake SET claimed_by = 'h2' WHERE seq = "
	    "(SELECT max(seq) FROM ts_intake)");
	hold_host_lock("h2", 1);
	st = open_as(TS_STORE_DAEMON, "h1");
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake WHERE "
	                          "claimed_by IS NULL"), 2);
	ck_assert_str_eq(sql("SELECT claimed_by FROM ts_intake WHERE seq = "
	                     "(SELECT max(seq) FROM ts_intake)"), "h2");
	ck_assert_int_eq(ts_store_intake_poll(st, on_rec, s, &more), 2);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake"), 1);
	ts_store_close(st);
	free(s);
}
END_TEST

/* A poll without the host lock is refused: its claims would look like a
 * dead daemon's to the others. */
START_TEST(poll_needs_host_lock)
{
	struct ts_store *st = open_as(TS_STORE_DAEMON, NULL);
	struct seen *s = calloc(1, sizeof(*s));
	int more = 7;

	put_batch(1);
	ck_assert_int_eq(ts_store_set_host(st, "h1"), 0);
	ck_assert_int_eq(ts_store_intake_poll(st, on_rec, s, &more), -ENOLCK);
	ck_assert_int_eq(more, 0);
	ck_assert_uint_eq(s->n, 0);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake WHERE "
	                          "claimed_by IS NULL"), 1);
	ts_store_close(st);
	free(s);
}
END_TEST

/* A claim taken over while the record is being handled (this daemon
 * stalled): the row is then not this poll's to delete or reject. */
static int
on_steal(void *arg, const char *name, int kind, struct ts_ticket *t,
         const uint8_t *buf, int err)
{
	struct seen *s = arg;
	char q[256];

	if (s->n == 0) {
		snprintf(q, sizeof(q), "UPDATE ts_intake SET claimed_by = "
		         "'thief', claimed_at = now() WHERE seq = %lld",
		         strtoll(name, NULL, 10));
		sql(q);
	}
	return on_rec(arg, name, kind, t, buf, err);
}

START_TEST(lost_claim_not_acted_on)
{
	struct ts_store *st;
	struct seen *s = calloc(1, sizeof(*s));
	int more;

	put_batch(3);
	st = open_as(TS_STORE_DAEMON, "h1");
	ck_assert_int_eq(ts_store_intake_poll(st, on_steal, s, &more), 2);
	ck_assert_uint_eq(s->n, 3);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake"), 1);
	ck_assert_str_eq(sql("SELECT claimed_by FROM ts_intake"), "thief");
	/* Rejecting it is not ours either. */
	sql("UPDATE ts_intake SET claimed_at = now() - interval '1 hour'");
	s->n = 0;
	s->ret = -EINVAL;
	ck_assert_int_eq(ts_store_intake_poll(st, on_steal, s, &more), 0);
	ck_assert_uint_eq(s->n, 1);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake_rejected"),
	                 0);
	ck_assert_str_eq(sql("SELECT claimed_by FROM ts_intake"), "thief");
	ts_store_close(st);
	free(s);
}
END_TEST

/* A poll held up over 30 s renews the claims it has yet to hand over,
 * so that no other daemon takes them over (at 60 s) meanwhile. */
static int
on_slow(void *arg, const char *name, int kind, struct ts_ticket *t,
        const uint8_t *buf, int err)
{
	struct seen *s = arg;
	char q[256];

	if (s->n == 0) {
		sleep(31);
	} else {
		snprintf(q, sizeof(q), "SELECT (now() - claimed_at < interval "
		         "'5 seconds')::text FROM ts_intake WHERE seq = %lld",
		         strtoll(name, NULL, 10));
		ck_assert_str_eq(sql(q), "true");
	}
	return on_rec(arg, name, kind, t, buf, err);
}

START_TEST(slow_poll_renews_claims)
{
	struct ts_store *st;
	struct seen *s = calloc(1, sizeof(*s));
	int more;

	put_batch(2);
	st = open_as(TS_STORE_DAEMON, "h1");
	ck_assert_int_eq(ts_store_intake_poll(st, on_slow, s, &more), 2);
	ck_assert_uint_eq(s->n, 2);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake"), 0);
	ts_store_close(st);
	free(s);
}
END_TEST

/* ---- ticket_known, and a front end's role ---- */

START_TEST(ticket_known)
{
	struct ts_store *w = open_as(TS_STORE_INTAKE, NULL);
	static const char json[] = "{\"username\":\"u\",\"subject\":\"s\"}";
	char id[TS_NAME_MAX + 1], err[256];
	uint8_t *rec;
	size_t len;

	mk_id(id, 7);
	ck_assert_int_eq(ts_store_ticket_known(w, id), 0);
	/* A revocation for it does not make it known; its intake does. */
	put_batch(8);
	ck_assert_int_eq(ts_store_ticket_known(w, id), 0);
	ck_assert_int_eq(ts_intake_ticket(ts_seal_seckey_pk(key), id, json,
	                                  strlen(json), T0, &rec, &len, err,
	                                  sizeof(err)), 0);
	ck_assert_int_eq(ts_store_intake_put(w, TS_REC_TICKET, id, rec, len),
	                 0);
	free(rec);
	ck_assert_int_eq(ts_store_ticket_known(w, id), 1);
	/* A ticket row. */
	mk_id(id, 9);
	ck_assert_int_eq(ts_store_ticket_known(w, id), 0);
	sql("INSERT INTO ts_tickets (id, ver, rec) VALUES "
	    "('20260101-000000-000009-0001', 1, '\\x00')");
	ck_assert_int_eq(ts_store_ticket_known(w, id), 1);
	ck_assert_int_eq(ts_store_ticket_known(w, "no id"), 0);
	ck_assert_int_eq(ts_store_ticket_known(w, "x' OR true --"), 0);
	ts_store_close(w);
	/* Owned by the store's owner, SECURITY DEFINER, not PUBLIC's. */
	ck_assert_str_eq(sql("SELECT prosecdef::text || ' ' || "
	                     "array_to_string(proconfig, ',') FROM pg_proc "
	                     "WHERE proname = 'ts_ticket_known'"),
	                 "true search_path=pg_catalog, public, pg_temp");
	ck_assert_str_eq(sql("SELECT has_function_privilege('public', "
	                     "'ts_ticket_known(text)', 'EXECUTE')::text"),
	                 "false");
}
END_TEST

/* A front end's role (what `ticketctl grant ROLE frontend` gives: INSERT
 * on ts_intake, its sequence, SELECT on ts_public_key, EXECUTE on
 * ts_ticket_known) is enough for intake mode; without EXECUTE the check
 * is refused (-EACCES), never guessed. */
START_TEST(frontend_role_suffices)
{
	struct ts_store *w = NULL;
	struct batch b;
	char q[512], feuri[512], id[TS_NAME_MAX + 1];
	size_t done = 0;
	unsigned char pk[TS_SEAL_PKBYTES];

	snprintf(role, sizeof(role), "ts_fe_%ld", (long)getpid());
	snprintf(q, sizeof(q), "DROP ROLE IF EXISTS %s; CREATE ROLE %s LOGIN; "
	         "GRANT INSERT ON ts_intake TO %s; GRANT USAGE ON SEQUENCE "
	         "ts_intake_seq_seq TO %s; GRANT SELECT ON ts_public_key TO %s",
	         role, role, role, role, role);
	sql(q);
	conninfo(feuri, sizeof(feuri), db, role);
	ck_assert_int_eq(ts_store_open(feuri, TS_STORE_INTAKE, &w), 0);
	ck_assert_int_eq(ts_store_pubkey(w, pk), 0);
	ck_assert_int_eq(memcmp(pk, ts_seal_seckey_pk(key), sizeof(pk)), 0);
	batch_make(&b, 100);
	ck_assert_int_eq(ts_store_intake_put_many(w, b.v, b.n, &done), 0);
	ck_assert_uint_eq(done, 100);
	ck_assert_int_eq(sql_long("SELECT count(*) FROM ts_intake"), 100);
	mk_id(id, 3);
	ck_assert_int_eq(ts_store_ticket_known(w, id), -EACCES);
	snprintf(q, sizeof(q), "GRANT EXECUTE ON FUNCTION "
	         "ts_ticket_known(text) TO %s", role);
	sql(q);
	ck_assert_int_eq(ts_store_ticket_known(w, id), 0);
	sql("INSERT INTO ts_tickets (id, ver, rec) VALUES "
	    "('20260101-000000-000003-0001', 1, '\\x00')");
	ck_assert_int_eq(ts_store_ticket_known(w, id), 1);
	batch_free(&b);
	ts_store_close(w);
}
END_TEST

static Suite *
intake_pg_suite(void)
{
	Suite *s = suite_create("intake_pg");
	TCase *tp = tcase_create("put"), *tq = tcase_create("poll"),
	      *tc = tcase_create("claims"), *tk = tcase_create("known");

	tcase_add_checked_fixture(tp, setup, teardown);
	tcase_add_test(tp, put_many_one_commit);
	tcase_set_timeout(tp, 120);
	suite_add_tcase(s, tp);
	tcase_add_checked_fixture(tq, setup, teardown);
	tcase_add_test(tq, poll_in_order_bounded);
	tcase_add_test(tq, poll_bytes_bounded);
	tcase_add_test(tq, two_pollers_exactly_once);
	tcase_add_test(tq, eagain_releases);
	tcase_add_test(tq, eagain_does_not_starve);
	tcase_add_test(tq, reject_moves_aside);
	tcase_add_test(tq, rejected_cap_files);
	tcase_add_test(tq, rejected_cap_bytes);
	tcase_set_timeout(tq, 120);
	suite_add_tcase(s, tq);
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, stale_claim_taken_over);
	tcase_add_test(tc, dead_host_claim_taken_at_once);
	tcase_add_test(tc, own_claims_released_at_lock);
	tcase_add_test(tc, poll_needs_host_lock);
	tcase_add_test(tc, lost_claim_not_acted_on);
	tcase_add_test(tc, slow_poll_renews_claims);
	tcase_set_timeout(tc, 90);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tk, setup, teardown);
	tcase_add_test(tk, ticket_known);
	tcase_add_test(tk, frontend_role_suffices);
	tcase_set_timeout(tk, 60);
	suite_add_tcase(s, tk);
	return s;
}

int
main(void)
{
	return ts_check_run(intake_pg_suite());
}
