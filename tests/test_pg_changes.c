/*
 * test_pg_changes: the listener of other hosts' changes (store/pg_changes.c)
 * against the tests' real PostgreSQL (ctest fixture pg, $TS_PG_DIR), in a
 * fresh database a test with the schema.  Writers are other connections
 * doing what pg_tickets.c does: a ts_changes row and its NOTIFY in one
 * transaction.  Checked: other hosts' ids are offered once, this host's
 * never; a row whose n was taken before a larger one's but committed after
 * (bigserial order is not commit order) is offered, from its notification
 * and from a catch-up after a lost connection; a lost connection loses no
 * change; a stop asked by fn offers the rest next call; a payload that
 * does not parse makes it read the table.
 */
#include <check.h>

#include "tests/check_main.h"
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pg_schema_sql.h"
#include "store/pg_conn.h"
#include "store/pg_priv.h"

static char uri[512];
static char dbname[64];
static struct ts_pg *admin;	/* on the test's database */

static void
admin_exec(const char *sql)
{
	ck_assert_msg(ts_pg_exec(admin, sql) == 0, "%s: %s", sql,
	              ts_pg_error(admin));
}

static void
setup(void)
{
	const char *dir = getenv("TS_PG_DIR");
	char err[256], sql[128], root[512];
	struct ts_pg *pg;
	PGresult *res;
	static int seq;

	ck_assert_msg(dir != NULL, "TS_PG_DIR not set (ctest fixture pg)");
	snprintf(root, sizeof(root), "postgresql:///postgres?host=%s&"
	         "user=postgres", dir);
	snprintf(dbname, sizeof(dbname), "ts_unit_changes_%d_%d",
	         (int)getpid(), seq++);
	ck_assert_int_eq(ts_pg_open(root, &pg, err, sizeof(err)), 0);
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s", dbname);
	ts_pg_exec(pg, sql);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbname);
	ck_assert_int_eq(ts_pg_exec(pg, sql), 0);
	ts_pg_close(pg);
	snprintf(uri, sizeof(uri), "postgresql:///%s?host=%s&user=postgres",
	         dbname, dir);
	ck_assert_int_eq(ts_pg_open(uri, &admin, err, sizeof(err)), 0);
	/* Several statements: PQexec, not a parameterised query. */
	res = PQexec(ts_pg_conn(admin), ts_pg_schema_sql);
	ck_assert_int_eq(PQresultStatus(res), PGRES_COMMAND_OK);
	PQclear(res);
}

static void
teardown(void)
{
	const char *dir = getenv("TS_PG_DIR");
	char err[256], sql[160], root[512];
	struct ts_pg *pg;

	ts_pg_close(admin);
	snprintf(root, sizeof(root), "postgresql:///postgres?host=%s&"
	         "user=postgres", dir);
	if (ts_pg_open(root, &pg, err, sizeof(err)) == 0) {
		snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH "
		         "(FORCE)", dbname);
		ts_pg_exec(pg, sql);
		ts_pg_close(pg);
	}
}

/* A listener as host h: a backend handle with only what pg_changes.c
 * uses (its URI and host). */
static struct pg_store *
listener(const char *h)
{
	struct pg_store *ps = calloc(1, sizeof(*ps));

	ck_assert_ptr_nonnull(ps);
	ps->uri = uri;
	ck_assert_int_eq(ts_store_set_host(&ps->base, h), 0);
	ck_assert_int_eq(pg_changes_start(ps), 0);
	return ps;
}

static void
listener_free(struct pg_store *ps)
{
	pg_changes_free(ps);
	free(ps);
}

/* A writer: BEGIN, the row (its n returned), the NOTIFY; commit() ends. */
static long long
change_begin(struct ts_pg *pg, const char *id, const char *host)
{
	const char *v[2] = { id, host };
	PGresult *r;
	long long n;

	ck_assert_int_eq(ts_pg_begin(pg), 0);
	ck_assert_int_eq(ts_pg_query(pg, "WITH c AS (INSERT INTO ts_changes"
	                 "(id, host) VALUES ($1, $2) RETURNING n) SELECT n, "
	                 "pg_notify('ts_changes', n || ' ' || $1 || ' ' || $2) "
	                 "FROM c", 2, v, NULL, NULL, 0, &r), 0);
	n = atoll(PQgetvalue(r, 0, 0));
	PQclear(r);
	return n;
}

static long long
change(struct ts_pg *pg, const char *id, const char *host)
{
	long long n = change_begin(pg, id, host);

	ck_assert_int_eq(ts_pg_commit(pg), 0);
	return n;
}

struct got {
	char ids[64][TS_NAME_MAX + 1];
	int n;
	int stop_after;		/* fn returns 1 after this many; 0 never */
};

static int
collect(void *arg, const char *id)
{
	struct got *g = arg;

	if (g->stop_after && g->n == g->stop_after)
		return 1;
	ck_assert_int_lt(g->n, 64);
	snprintf(g->ids[g->n++], TS_NAME_MAX + 1, "%s", id);
	return 0;
}

static int
has(const struct got *g, const char *id)
{
	int k = 0;

	for (int i = 0; i < g->n; i++)
		k += strcmp(g->ids[i], id) == 0;
	return k;
}

/* Calls pg_changes (waiting on its descriptor, as the daemon does) until
 * want ids came or 3 s passed; the number of calls that failed. */
static int
wait_for(struct pg_store *ps, struct got *g, int want)
{
	int failed = 0;

	for (int i = 0; i < 60 && g->n < want; i++) {
		struct pollfd p = { pg_changes_fd(&ps->base), POLLIN, 0 };

		if (p.fd >= 0)
			poll(&p, 1, 50);
		else
			usleep(50000);
		if (pg_changes(&ps->base, collect, g) < 0)
			failed++;
	}
	return failed;
}

/* Ends the listener's session from the server side (a restart, a
 * network cut, as far as it can tell). */
static void
kill_listener(void)
{
	/* The listener is the one idle session but ours; a writer in a
	 * transaction is "idle in transaction". */
	admin_exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	           "WHERE pid <> pg_backend_pid() AND datname = "
	           "current_database() AND state = 'idle'");
}

START_TEST(others_offered_once_own_never)
{
	struct pg_store *ps = listener("h1");
	struct got g = { 0 };

	change(admin, "A", "h2");
	change(admin, "B", "h2");
	change(admin, "A", "h3");
	change(admin, "C", "h1");	/* this host's own */
	wait_for(ps, &g, 2);
	usleep(100000);
	ck_assert_int_ge(pg_changes(&ps->base, collect, &g), 0);
	ck_assert_int_eq(g.n, 2);
	ck_assert_int_eq(has(&g, "A"), 1);
	ck_assert_int_eq(has(&g, "B"), 1);
	ck_assert_int_eq(has(&g, "C"), 0);
	/* Nothing new: nothing offered. */
	ck_assert_int_eq(pg_changes(&ps->base, collect, &g), 0);
	ck_assert_int_eq(g.n, 2);
	listener_free(ps);
}
END_TEST

START_TEST(before_start_not_offered)
{
	struct pg_store *ps;
	struct got g = { 0 };

	change(admin, "OLD", "h2");	/* in what a load would read */
	ps = listener("h1");
	change(admin, "NEW", "h2");
	wait_for(ps, &g, 1);
	usleep(100000);
	pg_changes(&ps->base, collect, &g);
	ck_assert_int_eq(g.n, 1);
	ck_assert_str_eq(g.ids[0], "NEW");
	listener_free(ps);
}
END_TEST

/* n taken first, committed after a larger n: offered when it commits. */
START_TEST(late_commit_offered)
{
	struct pg_store *ps = listener("h1");
	struct got g = { 0 };
	struct ts_pg *slow;
	char err[256];
	long long n1, n2;

	ck_assert_int_eq(ts_pg_open(uri, &slow, err, sizeof(err)), 0);
	n1 = change_begin(slow, "SLOW", "h2");
	n2 = change(admin, "FAST", "h3");
	ck_assert_int_lt(n1, n2);
	wait_for(ps, &g, 1);
	ck_assert_int_eq(g.n, 1);
	ck_assert_str_eq(g.ids[0], "FAST");
	ck_assert_int_eq(ts_pg_commit(slow), 0);
	wait_for(ps, &g, 2);
	ck_assert_int_eq(g.n, 2);
	ck_assert_str_eq(g.ids[1], "SLOW");
	ts_pg_close(slow);
	listener_free(ps);
}
END_TEST

/* In flight when the listener starts (n below its max(n)): offered. */
START_TEST(in_flight_at_start_offered)
{
	struct pg_store *ps;
	struct got g = { 0 };
	struct ts_pg *slow;
	char err[256];

	ck_assert_int_eq(ts_pg_open(uri, &slow, err, sizeof(err)), 0);
	change_begin(slow, "SLOW", "h2");
	change(admin, "DONE", "h3");	/* committed before the start */
	ps = listener("h1");
	ck_assert_int_eq(ts_pg_commit(slow), 0);
	wait_for(ps, &g, 1);
	usleep(100000);
	pg_changes(&ps->base, collect, &g);
	ck_assert_int_eq(g.n, 1);
	ck_assert_str_eq(g.ids[0], "SLOW");
	ts_pg_close(slow);
	listener_free(ps);
}
END_TEST

/* Changes made while the listener's connection is gone are read from the
 * table once it is back, a late commit into a gap included. */
START_TEST(reconnect_catches_up)
{
	struct pg_store *ps = listener("h1");
	struct got g = { 0 };
	struct ts_pg *slow;
	char err[256];
	int fd0 = pg_changes_fd(&ps->base);

	ck_assert_int_ge(fd0, 0);
	ck_assert_int_eq(ts_pg_open(uri, &slow, err, sizeof(err)), 0);
	change_begin(slow, "GAP", "h2");
	change(admin, "FIRST", "h2");
	wait_for(ps, &g, 1);
	ck_assert_int_eq(g.n, 1);
	kill_listener();
	usleep(200000);
	ck_assert_int_eq(ts_pg_commit(slow), 0);	/* its NOTIFY is lost */
	change(admin, "AWAY1", "h3");
	change(admin, "AWAY2", "h1");	/* own: not offered */
	wait_for(ps, &g, 3);
	ck_assert_int_ge(pg_changes_fd(&ps->base), 0);
	ck_assert_int_eq(g.n, 3);
	ck_assert_int_eq(has(&g, "GAP"), 1);
	ck_assert_int_eq(has(&g, "AWAY1"), 1);
	ck_assert_int_eq(has(&g, "AWAY2"), 0);
	/* And it listens again. */
	change(admin, "AFTER", "h2");
	wait_for(ps, &g, 4);
	ck_assert_int_eq(has(&g, "AFTER"), 1);
	ck_assert_int_eq(g.n, 4);
	ts_pg_close(slow);
	listener_free(ps);
}
END_TEST

START_TEST(stop_offers_rest_next_call)
{
	struct pg_store *ps = listener("h1");
	struct got g = { .stop_after = 1 };

	change(admin, "X", "h2");
	change(admin, "Y", "h2");
	change(admin, "Z", "h2");
	usleep(200000);
	ck_assert_int_eq(pg_changes(&ps->base, collect, &g), 1);
	ck_assert_int_eq(g.n, 1);
	g.stop_after = 0;
	ck_assert_int_eq(pg_changes(&ps->base, collect, &g), 2);
	ck_assert_int_eq(g.n, 3);
	ck_assert_int_eq(has(&g, "X") + has(&g, "Y") + has(&g, "Z"), 3);
	listener_free(ps);
}
END_TEST

/* A row with no usable notification (payload garbage): read from the
 * table. */
START_TEST(bad_payload_reads_table)
{
	struct pg_store *ps = listener("h1");
	struct got g = { 0 };

	ck_assert_int_eq(ts_pg_begin(admin), 0);
	admin_exec("INSERT INTO ts_changes(id, host) VALUES ('Q', 'h2')");
	admin_exec("NOTIFY ts_changes, 'garbage'");
	ck_assert_int_eq(ts_pg_commit(admin), 0);
	wait_for(ps, &g, 1);
	ck_assert_int_eq(g.n, 1);
	ck_assert_str_eq(g.ids[0], "Q");
	listener_free(ps);
}
END_TEST

/* A forged notification (any role may NOTIFY, a front end's too) naming
 * an n above every real one and an id: neither offered nor blinding, the
 * next real change is still offered. */
START_TEST(forged_payload_not_trusted)
{
	struct pg_store *ps = listener("h1");
	struct got g = { 0 };

	admin_exec("NOTIFY ts_changes, '9223372036854775806 FAKE h2'");
	wait_for(ps, &g, 1);
	ck_assert_int_eq(g.n, 0);
	change(admin, "REAL", "h2");
	wait_for(ps, &g, 1);
	ck_assert_int_eq(g.n, 1);
	ck_assert_str_eq(g.ids[0], "REAL");
	listener_free(ps);
}
END_TEST

/* A row planted with an n beyond the sequence does not blind the host
 * to the real changes after it. */
START_TEST(planted_n_not_trusted)
{
	struct pg_store *ps = listener("h1");
	struct got g = { 0 };

	admin_exec("INSERT INTO ts_changes(n, id, host) VALUES "
	           "(9223372036854775000, 'PLANTED', 'h2')");
	admin_exec("NOTIFY ts_changes");
	wait_for(ps, &g, 1);
	ck_assert_int_eq(g.n, 0);
	change(admin, "REAL", "h2");
	wait_for(ps, &g, 1);
	ck_assert_int_eq(g.n, 1);
	ck_assert_str_eq(g.ids[0], "REAL");
	listener_free(ps);
}
END_TEST

/* The prune: rows over an hour old go, newer stay. */
START_TEST(old_rows_pruned)
{
	struct pg_store *ps;
	struct got g = { 0 };
	PGresult *r;

	admin_exec("INSERT INTO ts_changes(id, host, at) VALUES "
	           "('OLD', 'h2', now() - interval '2 hours')");
	change(admin, "NEW", "h2");
	ps = listener("h1");
	pg_changes(&ps->base, collect, &g);	/* the first call prunes */
	ck_assert_int_eq(ts_pg_query(admin, "SELECT string_agg(id, ',' ORDER "
	                 "BY n) FROM ts_changes", 0, NULL, NULL, NULL, 0, &r),
	                 0);
	ck_assert_str_eq(PQgetvalue(r, 0, 0), "NEW");
	PQclear(r);
	listener_free(ps);
}
END_TEST

static int
ignore_ticket(void *arg, const char *id, struct ts_ticket *t, int err)
{
	(void)arg;
	(void)id;
	(void)err;
	if (t != NULL)
		ts_ticket_release(t);
	return 0;
}

/*
 * Away for an hour (the rows of what changed meanwhile may be pruned):
 * every ticket is offered once, those it knew (changed or removed) and
 * those it did not (made meanwhile), though no row says so; then only
 * changes again.
 */
START_TEST(away_an_hour_offers_every_ticket)
{
	static unsigned char reckey[64];
	struct pg_store *ps = listener("h1");
	struct got g = { 0 };
	char err[256];

	ck_assert_int_eq(ts_pg_open(uri, &ps->pg, err, sizeof(err)), 0);
	ck_assert_int_eq(ts_pg_tickets_init(ps), 0);
	ps->reckey = reckey;
	admin_exec("INSERT INTO ts_tickets (id, ver, rec) VALUES "
	           "('20260101-000000-000001-aaaa', 1, '\\x00'), "
	           "('20260101-000000-000002-aaaa', 1, '\\x00')");
	ck_assert_int_eq(ts_pg_load(&ps->base, ignore_ticket, NULL), 0);
	ck_assert_int_eq(pg_changes(&ps->base, collect, &g), 0);
	/* Meanwhile, with their change rows pruned: one removed, one made. */
	admin_exec("DELETE FROM ts_tickets WHERE id = "
	           "'20260101-000000-000002-aaaa'");
	admin_exec("INSERT INTO ts_tickets (id, ver, rec) VALUES "
	           "('20260101-000000-000003-aaaa', 1, '\\x00')");
	pg_changes_backdate(ps, 51 * 60 * 1000);
	ck_assert_int_eq(pg_changes(&ps->base, collect, &g), 3);
	ck_assert_int_eq(has(&g, "20260101-000000-000001-aaaa"), 1);
	ck_assert_int_eq(has(&g, "20260101-000000-000002-aaaa"), 1);
	ck_assert_int_eq(has(&g, "20260101-000000-000003-aaaa"), 1);
	ck_assert_int_eq(pg_changes(&ps->base, collect, &g), 0);
	change(admin, "LATER", "h2");
	wait_for(ps, &g, 4);
	ck_assert_int_eq(g.n, 4);
	ts_pg_tickets_free(ps);
	ts_pg_close(ps->pg);
	listener_free(ps);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("pg_changes");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, others_offered_once_own_never);
	tcase_add_test(tc, before_start_not_offered);
	tcase_add_test(tc, late_commit_offered);
	tcase_add_test(tc, in_flight_at_start_offered);
	tcase_add_test(tc, reconnect_catches_up);
	tcase_add_test(tc, stop_offers_rest_next_call);
	tcase_add_test(tc, bad_payload_reads_table);
	tcase_add_test(tc, forged_payload_not_trusted);
	tcase_add_test(tc, old_rows_pruned);
	tcase_add_test(tc, planted_n_not_trusted);
	tcase_add_test(tc, away_an_hour_offers_every_ticket);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return ts_check_run(suite());
}
