/*
 * test_audit_pg: the audit trail of a PostgreSQL store (store/pg_audit.h),
 * each test in a fresh database of the tests' cluster ($TS_PG_DIR, ctest
 * fixture "pg") with the schema applied: two hosts' chains appended
 * interleaved, each verifying; audit.log over both hosts, in commit
 * order, from either handle, growing when the other appends; rows edited
 * or deleted in SQL named by host and seq; a chain shorter than its
 * checkpoint refused at open; a second handle of one host refused; the
 * fail-closed path when the connection is killed, and the reconnect; the
 * verify key in ts_meta; the checkpoint copy; a prune per host.
 */
#include <check.h>

#include "tests/check_main.h"
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "pg_schema_sql.h"
#include "store/audit.h"
#include "store/pg_audit.h"
#include "store/pg_conn.h"
#include "store/seal.h"
#include "store/util.h"

#define SEG (64u << 20)

/* Per test (CK_FORK: each its own copy). */
static char dbname[64];
static char uri[512];
static struct ts_pg *db;	/* the test's own connection */
static struct ts_seckey *key;
static char tmp[64];		/* a directory for checkpoint copies */

static const char *
pgdir(void)
{
	const char *d = getenv("TS_PG_DIR");

	ck_assert_msg(d != NULL && d[0] != '\0', "TS_PG_DIR is not set (run "
	              "under ctest's pg fixture)");
	return d;
}

static void
sql(const char *q)
{
	int rc = ts_pg_exec(db, q);

	ck_assert_msg(rc == 0, "%s: %d %s", q, rc, ts_pg_error(db));
}

/* The first column of the first row of q, malloc'd ("" if no row). */
static char *
sql_value(const char *q)
{
	PGresult *r;
	char *v;
	int rc = ts_pg_query(db, q, 0, NULL, NULL, NULL, 0, &r);

	ck_assert_msg(rc == 0, "%s: %d %s", q, rc, ts_pg_error(db));
	v = strdup(PQntuples(r) > 0 ? PQgetvalue(r, 0, 0) : "");
	PQclear(r);
	return v;
}

static void
setup(void)
{
	char admin[512], q[128], err[256];
	struct ts_pg *a;

	snprintf(admin, sizeof(admin), "postgresql:///postgres?host=%s&"
	         "user=postgres", pgdir());
	snprintf(dbname, sizeof(dbname), "ts_audit_pg_%d_%u", (int)getpid(),
	         randombytes_random() % 100000);
	ck_assert_msg(ts_pg_open(admin, &a, err, sizeof(err)) == 0, "%s", err);
	snprintf(q, sizeof(q), "CREATE DATABASE %s", dbname);
	ck_assert_int_eq(ts_pg_exec(a, q), 0);
	ts_pg_close(a);
	snprintf(uri, sizeof(uri), "postgresql:///%s?host=%s&user=postgres",
	         dbname, pgdir());
	ck_assert_msg(ts_pg_open(uri, &db, err, sizeof(err)) == 0, "%s", err);
	/* The schema is several statements: the simple protocol. */
	{
		PGresult *r = PQexec(ts_pg_conn(db), ts_pg_schema_sql);

		ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "schema: %s",
		              PQresultErrorMessage(r));
		PQclear(r);
	}
	ck_assert_int_eq(ts_seal_keypair(&key), 0);
	strcpy(tmp, "/tmp/ts-test-audit-pg-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
}

static int
rm_one(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(p);
}

static void
teardown(void)
{
	char admin[512], q[128], err[256];
	struct ts_pg *a;

	ts_pg_close(db);
	db = NULL;
	ts_seal_seckey_free(key);
	key = NULL;
	nftw(tmp, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	snprintf(admin, sizeof(admin), "postgresql:///postgres?host=%s&"
	         "user=postgres", pgdir());
	if (ts_pg_open(admin, &a, err, sizeof(err)) == 0) {
		snprintf(q, sizeof(q), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
		         dbname);
		ts_pg_exec(a, q);
		ts_pg_close(a);
	}
}

static struct ts_audit *
open_host(const char *host)
{
	struct ts_audit *a = NULL;
	int rc = ts_pg_audit_open(uri, host, key, SEG, &a);

	ck_assert_msg(rc == 0, "open %s: %d", host, rc);
	return a;
}

/* Entry i of host: uid 1000 + i, path naming both. */
static void
append_one(struct ts_audit *a, const char *host, int i)
{
	char path[64];
	struct ts_audit_entry e = { .uid = (uid_t)(1000 + i),
	                            .pid = (pid_t)(4000 + i), .comm = "cat",
	                            .op = "open", .path = path };

	snprintf(path, sizeof(path), "tickets/%s-%d/email", host, i);
	ck_assert_int_eq(ts_audit_append(a, &e), 0);
}

static int
verify(char *msg, size_t msglen, uint64_t *n)
{
	msg[0] = '\0';
	return ts_pg_audit_verify(uri, NULL, NULL, msg, msglen, n);
}

static void
expect_intact(uint64_t want)
{
	char msg[1024];
	uint64_t n = 12345;
	int rc = verify(msg, sizeof(msg), &n);

	ck_assert_msg(rc == 0, "verify %d: %s", rc, msg);
	ck_assert_msg(n == want, "verify counted %llu entries, not %llu (%s)",
	              (unsigned long long)n, (unsigned long long)want, msg);
}

static void
expect_tampered(const char *needle, const char *needle2)
{
	char msg[1024];
	uint64_t n;
	int rc = verify(msg, sizeof(msg), &n);

	ck_assert_msg(rc == 1 && strstr(msg, needle) != NULL &&
	              (needle2 == NULL || strstr(msg, needle2) != NULL),
	              "verify %d: \"%s\", wanted 1 and \"%s\" \"%s\"", rc, msg,
	              needle, needle2 ? needle2 : "");
}

/* Two closed chains: h1 of n1 entries, h2 of n2, interleaved. */
static void
two_chains(int n1, int n2)
{
	struct ts_audit *a = open_host("h1"), *b = open_host("h2");

	for (int i = 1; i <= (n1 > n2 ? n1 : n2); i++) {
		if (i <= n1)
			append_one(a, "h1", i);
		if (i <= n2)
			append_one(b, "h2", i);
	}
	ts_audit_close(a);
	ts_audit_close(b);
}

/* The whole of audit.log through handle a. */
static char *
read_all(struct ts_audit *a, uint64_t *len)
{
	uint64_t size = ts_audit_size(a), got = 0;
	char *b = malloc(size + 1);

	ck_assert_ptr_nonnull(b);
	while (got < size) {
		/* Odd sizes: reads that start and end inside rows. */
		ssize_t r = ts_audit_read(a, b + got, size - got < 333 ?
		                          (size_t)(size - got) : 333, got);

		ck_assert_msg(r > 0, "read at %llu: %zd",
		              (unsigned long long)got, r);
		got += (uint64_t)r;
	}
	b[size] = '\0';
	*len = size;
	return b;
}

/* ---- chains ---- */

START_TEST(two_hosts_interleaved)
{
	char msg[1024], *v;
	uint64_t n;

	two_chains(10, 7);
	/* One chain a host, seq counting per host, rows in append order. */
	v = sql_value("SELECT string_agg(host || ':' || seq, ',' ORDER BY gseq) "
	              "FROM ts_audit");
	ck_assert_str_eq(v, "h1:1,h2:1,h1:2,h2:2,h1:3,h2:3,h1:4,h2:4,h1:5,h2:5,"
	                 "h1:6,h2:6,h1:7,h2:7,h1:8,h1:9,h1:10");
	free(v);
	/* Every line names its host, right after the time. */
	v = sql_value("SELECT count(*) FROM ts_audit WHERE line NOT LIKE "
	              "'{\"seq\":' || seq || ',\"time\":\"%\",\"host\":\"' || "
	              "host || '\",\"uid\":%'");
	ck_assert_str_eq(v, "0");
	free(v);
	v = sql_value("SELECT string_agg(host || ':' || seq, ',' ORDER BY host) "
	              "FROM ts_audit_checkpoint WHERE kind = 'checkpoint'");
	ck_assert_str_eq(v, "h1:10,h2:7");
	free(v);
	ck_assert_int_eq(verify(msg, sizeof(msg), &n), 0);
	ck_assert_uint_eq(n, 17);
	ck_assert_msg(strstr(msg, "h1: 10 entries") != NULL &&
	              strstr(msg, "h2: 7 entries") != NULL, "%s", msg);
	/* Reopened, each chain goes on from its own tail. */
	{
		struct ts_audit *a = open_host("h2");

		append_one(a, "h2", 8);
		ts_audit_close(a);
	}
	v = sql_value("SELECT line FROM ts_audit WHERE host = 'h2' AND seq = 8");
	ck_assert_ptr_nonnull(strstr(v, "\"seq\":8,"));
	free(v);
	expect_intact(18);
}
END_TEST

START_TEST(second_handle_of_a_host_refused)
{
	struct ts_audit *a = open_host("h1"), *b = NULL;

	ck_assert_int_eq(ts_pg_audit_open(uri, "h1", key, SEG, &b), -EBUSY);
	b = open_host("h2");	/* another host's chain: its own lock */
	ts_audit_close(b);
	ts_audit_close(a);
	b = open_host("h1");	/* released with the session */
	ts_audit_close(b);
	ck_assert_int_eq(ts_pg_audit_open(uri, "h 1", key, SEG, &b), -EINVAL);
}
END_TEST

START_TEST(verify_key_in_meta)
{
	struct ts_seckey *other;
	struct ts_audit *a = NULL;
	unsigned char vk[32], wrong[32];
	char msg[1024], hex[65], *v;
	uint64_t n;

	two_chains(2, 2);
	ts_audit_verify_key(key, vk);
	sodium_bin2hex(hex, sizeof(hex), vk, sizeof(vk));
	v = sql_value("SELECT value FROM ts_meta WHERE name = "
	              "'audit_verify_key'");
	ck_assert_str_eq(v, hex);
	free(v);
	/* Another store key: refused, the trail untouched. */
	ck_assert_int_eq(ts_seal_keypair(&other), 0);
	ck_assert_int_eq(ts_pg_audit_open(uri, "h3", other, SEG, &a),
	                 -EKEYREJECTED);
	ts_audit_verify_key(other, wrong);
	ts_seal_seckey_free(other);
	ck_assert_int_eq(ts_pg_audit_verify(uri, vk, NULL, msg, sizeof(msg), &n),
	                 0);
	ck_assert_int_eq(ts_pg_audit_verify(uri, wrong, NULL, msg, sizeof(msg),
	                                    &n), 1);
	ck_assert_msg(strstr(msg, "not signed by the store's key") != NULL, "%s",
	              msg);
	/* No key to trust: said so. */
	sql("DELETE FROM ts_meta WHERE name = 'audit_verify_key'");
	expect_tampered("verify key", NULL);
}
END_TEST

/* ---- audit.log over every host ---- */

START_TEST(view_across_hosts)
{
	struct ts_audit *a = open_host("h1"), *b = open_host("h2");
	char *ba, *bb, *want, *more;
	uint64_t la, lb, size;
	int64_t t0;
	ssize_t r;

	append_one(a, "h1", 1);
	append_one(a, "h1", 2);
	append_one(b, "h2", 1);
	append_one(a, "h1", 3);
	append_one(b, "h2", 2);
	ba = read_all(a, &la);
	bb = read_all(b, &lb);
	want = sql_value("SELECT string_agg(line || E'\\n', '' ORDER BY gseq) "
	                 "FROM ts_audit");
	ck_assert_str_eq(ba, want);
	ck_assert_str_eq(bb, want);
	ck_assert_uint_eq(la, strlen(want));
	free(want);
	free(bb);
	/* A follower on h1 sees h2's next entry within a second, after
	 * what it had, which stays where it was. */
	ts_audit_view_open(a);
	size = ts_audit_size(a);
	append_one(b, "h2", 3);
	t0 = ts_now_ms();
	while (ts_audit_size(a) == size && ts_now_ms() - t0 < 1000)
		usleep(20000);
	ck_assert_msg(ts_audit_size(a) > size, "h1's audit.log did not grow "
	              "within 1 s of h2's append");
	more = malloc(4096);
	r = ts_audit_read(a, more, 4096, size);
	ck_assert_int_gt(r, 0);
	more[r] = '\0';
	ck_assert_msg(strstr(more, "\"host\":\"h2\"") != NULL &&
	              strstr(more, "tickets/h2-3/email") != NULL, "%s", more);
	ck_assert_int_eq(more[r - 1], '\n');
	ck_assert_uint_eq(size + (uint64_t)r, ts_audit_size(a));
	bb = read_all(a, &lb);
	ck_assert_int_eq(memcmp(bb, ba, la), 0);
	free(bb);
	/* Its own appends show at once. */
	size = ts_audit_size(a);
	append_one(a, "h1", 4);
	ck_assert_uint_gt(ts_audit_size(a), size);
	r = ts_audit_read(a, more, 4096, size);
	ck_assert_int_gt(r, 0);
	ck_assert_ptr_nonnull(memmem(more, (size_t)r, "tickets/h1-4/email",
	                             18));
	/* Past the end: nothing. */
	ck_assert_int_eq(ts_audit_read(a, more, 4096, ts_audit_size(a) + 10), 0);
	free(more);
	free(ba);
	ts_audit_view_close(a);
	ts_audit_close(a);
	ts_audit_close(b);
}
END_TEST

/* ---- tampering, named by host and seq ---- */

START_TEST(tamper_edit_names_host_and_seq)
{
	two_chains(6, 6);
	expect_intact(12);
	sql("UPDATE ts_audit SET line = replace(line, '\"uid\":1003', "
	    "'\"uid\":9003') WHERE host = 'h2' AND seq = 3");
	expect_tampered("host h2: entry 3: ", "hash chain broken");
}
END_TEST

START_TEST(tamper_delete_detected)
{
	two_chains(6, 6);
	sql("DELETE FROM ts_audit WHERE host = 'h1' AND seq = 4");
	expect_tampered("host h1: entry 4: ", "out of sequence");
}
END_TEST

START_TEST(tamper_cut_tail_detected)
{
	two_chains(6, 6);
	sql("DELETE FROM ts_audit WHERE host = 'h2' AND seq >= 5");
	expect_tampered("host h2: ", "the signed checkpoint covers entry 6");
}
END_TEST

START_TEST(tamper_moved_between_hosts)
{
	two_chains(3, 0);
	/* h1's chain passed off as h3's, checkpoint and all. */
	sql("UPDATE ts_audit SET host = 'h3'");
	sql("UPDATE ts_audit_checkpoint SET host = 'h3'");
	expect_tampered("host h3: entry 1: ", "another host's entry");
}
END_TEST

START_TEST(tamper_row_seq_edited)
{
	two_chains(4, 0);
	sql("UPDATE ts_audit SET seq = 40 WHERE host = 'h1' AND seq = 4");
	expect_tampered("host h1: entry 4: ", "row says seq 40");
}
END_TEST

/* ---- opening ---- */

START_TEST(checkpoint_ahead_refuses_open)
{
	struct ts_audit *a = NULL;

	two_chains(5, 2);
	sql("DELETE FROM ts_audit WHERE host = 'h1' AND seq = 5");
	ck_assert_int_eq(ts_pg_audit_open(uri, "h1", key, SEG, &a), -EBADMSG);
	a = open_host("h2");	/* the other chain is not this one's */
	ts_audit_close(a);
	/* A checkpoint row not signed by the key (or none): the same. */
	sql("UPDATE ts_audit_checkpoint SET seq = 9 WHERE host = 'h2'");
	ck_assert_int_eq(ts_pg_audit_open(uri, "h2", key, SEG, &a), -EBADMSG);
}
END_TEST

/* ---- fail closed ---- */

static void
kill_backends(void)
{
	char *v = sql_value("SELECT count(pg_terminate_backend(pid)) FROM "
	                    "pg_stat_activity WHERE datname = current_database() "
	                    "AND pid <> pg_backend_pid()");

	ck_assert_str_ne(v, "0");
	free(v);
}

START_TEST(connection_killed_fails_closed)
{
	struct ts_audit *a = open_host("h1");
	struct ts_audit_entry e = { .comm = "cat", .op = "open",
	                            .path = "tickets/lost/email" };
	char *v;
	int rc = 0;

	append_one(a, "h1", 1);
	append_one(a, "h1", 2);
	kill_backends();
	/* The session is gone: the append fails and stores nothing, or, if
	 * the server's goodbye arrived before it (pg_conn finds a session
	 * ended while idle), it goes to a new session, the chain lock taken
	 * again and the tail re-read first, and is stored as entry 3.  Never
	 * 0 for an entry not stored. */
	rc = ts_audit_append(a, &e);
	v = sql_value("SELECT coalesce(string_agg(seq::text, ','), '') FROM "
	              "ts_audit WHERE line LIKE '%tickets/lost/email%'");
	ck_assert_str_eq(v, rc == 0 ? "3" : "");
	free(v);
	/* Then the trail reconnects by itself, its chain lock taken again,
	 * and goes on from its tail. */
	usleep((TS_PG_RETRY_MS + 50) * 1000);
	append_one(a, "h1", 3);
	v = sql_value("SELECT seq FROM ts_audit WHERE line LIKE "
	              "'%tickets/h1-3/email%'");
	ck_assert_str_eq(v, rc == 0 ? "4" : "3");
	free(v);
	v = sql_value("SELECT count(*) FROM pg_locks WHERE locktype = "
	              "'advisory' AND granted");
	ck_assert_str_ne(v, "0");
	free(v);
	ck_assert_int_eq(ts_audit_sync(a), 0);
	/* A checkpoint write on a killed connection fails too. */
	append_one(a, "h1", 4);
	kill_backends();
	ck_assert_int_lt(ts_audit_sync(a), 0);
	usleep((TS_PG_RETRY_MS + 50) * 1000);
	ck_assert_int_eq(ts_audit_sync(a), 0);
	ts_audit_close(a);
	expect_intact(rc == 0 ? 5 : 4);
}
END_TEST

START_TEST(commit_outcome_lost_chain_reread)
{
	struct ts_audit *a = open_host("h1");
	char *v;

	append_one(a, "h1", 1);
	/* As if an append had committed but its answer was lost: a row the
	 * handle does not know of, then a reconnect. */
	{
		struct ts_audit *b;

		kill_backends();
		usleep((TS_PG_RETRY_MS + 50) * 1000);
		/* Another handle of h1 can take the lock now (a's session is
		 * gone) and append entry 2; then it lets go. */
		b = open_host("h1");
		append_one(b, "h1", 2);
		ts_audit_close(b);
	}
	/* a's next append fails on its dead connection (or finds it ended
	 * first and makes a new one); then it finds the tail moved: its next
	 * entry is 3, chained from b's 2. */
	if (ts_audit_append(a, &(struct ts_audit_entry){ .uid = 1003,
	                    .pid = 4003, .comm = "cat", .op = "open",
	                    .path = "tickets/h1-3/email" }) < 0)
		append_one(a, "h1", 3);
	v = sql_value("SELECT seq FROM ts_audit WHERE line LIKE "
	              "'%tickets/h1-3/email%'");
	ck_assert_str_eq(v, "3");
	free(v);
	ts_audit_close(a);
	{
		char msg[1024];
		uint64_t n;

		ck_assert_msg(verify(msg, sizeof(msg), &n) == 0, "%s", msg);
	}
}
END_TEST

START_TEST(reconnect_finds_rows_removed)
{
	struct ts_audit *a = open_host("h1");
	struct ts_audit_entry e = { .comm = "cat", .op = "open",
	                            .path = "tickets/after/email" };
	char *v;
	int rc;

	for (int i = 1; i <= 3; i++)
		append_one(a, "h1", i);
	ck_assert_int_eq(ts_audit_sync(a), 0);
	kill_backends();
	/* While it is away, its last entry goes. */
	sql("DELETE FROM ts_audit WHERE host = 'h1' AND seq = 3");
	if ((rc = ts_audit_append(a, &e)) == -EIO)
		rc = ts_audit_append(a, &e);
	ck_assert_int_eq(rc, -EBADMSG);
	ck_assert_int_eq(ts_audit_append(a, &e), -EBADMSG);	/* still */
	v = sql_value("SELECT count(*) FROM ts_audit WHERE line LIKE "
	              "'%tickets/after/email%'");
	ck_assert_str_eq(v, "0");
	free(v);
	/* Nor is the gap signed over, at a sync or the close. */
	ck_assert_int_eq(ts_audit_sync(a), 0);
	ts_audit_close(a);
	v = sql_value("SELECT seq FROM ts_audit_checkpoint WHERE host = 'h1'");
	ck_assert_str_eq(v, "3");
	free(v);
	expect_tampered("host h1: the trail ends at entry 2 but the signed "
	                "checkpoint covers entry 3", NULL);
}
END_TEST

/* The same without a reconnect: the tail cut while the daemon runs is not
 * continued over (the database refuses an entry that does not follow the
 * chain's last row). */
START_TEST(rows_removed_while_connected_fails_closed)
{
	struct ts_audit *a = open_host("h1");
	struct ts_audit_entry e = { .comm = "cat", .op = "open",
	                            .path = "tickets/after/email" };
	char *v;

	for (int i = 1; i <= 3; i++)
		append_one(a, "h1", i);
	ck_assert_int_eq(ts_audit_sync(a), 0);
	sql("DELETE FROM ts_audit WHERE host = 'h1' AND seq = 3");
	ck_assert_int_eq(ts_audit_append(a, &e), -EBADMSG);
	v = sql_value("SELECT count(*) FROM ts_audit WHERE line LIKE "
	              "'%tickets/after/email%'");
	ck_assert_str_eq(v, "0");
	free(v);
	ts_audit_close(a);
	expect_tampered("host h1: the trail ends at entry 2 but the signed "
	                "checkpoint covers entry 3", NULL);
}
END_TEST

/* ---- the checkpoint copy, per host ---- */

START_TEST(checkpoint_copy_per_host)
{
	struct ts_audit *a = open_host("h1"), *b = open_host("h2");
	struct ts_audit_checkpoint cp;
	char p1[128], p2[128], msg[1024];
	uint64_t n;

	snprintf(p1, sizeof(p1), "%s/h1.checkpoint", tmp);
	snprintf(p2, sizeof(p2), "%s/h2.checkpoint", tmp);
	ck_assert_msg(ts_audit_set_copy(a, p1, msg, sizeof(msg)) == 0, "%s",
	              msg);
	ck_assert_msg(ts_audit_set_copy(b, p2, msg, sizeof(msg)) == 0, "%s",
	              msg);
	for (int i = 1; i <= 4; i++) {
		append_one(a, "h1", i);
		if (i <= 2)
			append_one(b, "h2", i);
	}
	ts_audit_close(a);
	ts_audit_close(b);
	ck_assert_int_eq(ts_audit_checkpoint_load(p1, &cp), 0);
	ck_assert_uint_eq(cp.seq, 4);
	ck_assert_int_eq(ts_pg_audit_verify(uri, NULL, &cp, msg, sizeof(msg),
	                                    &n), 0);
	/* h1's chain cut back to before its copy: found. */
	sql("DELETE FROM ts_audit WHERE host = 'h1' AND seq >= 3");
	sql("UPDATE ts_audit_checkpoint SET seq = 0 WHERE host = 'h1'");
	ck_assert_int_eq(ts_pg_audit_verify(uri, NULL, &cp, msg, sizeof(msg),
	                                    &n), 1);
	/* Reopened against its copy, h1 is refused as behind it. */
	a = open_host("h1");
	ck_assert_int_eq(ts_audit_set_copy(a, p1, msg, sizeof(msg)), -ESTALE);
	ts_audit_close(a);
}
END_TEST

/* ---- prune, per host ---- */

START_TEST(prune_per_host)
{
	struct ts_audit *a = open_host("h1"), *b = open_host("h2");
	struct ts_audit_entry who = { .comm = "ticketctl", .path = "" };
	struct ts_audit_pruned p;
	uint64_t size, len;
	char *before, *after, *v;

	for (int i = 1; i <= 5; i++) {
		append_one(a, "h1", i);
		if (i <= 3)
			append_one(b, "h2", i);
	}
	ck_assert_int_eq(ts_audit_sync(a), 0);
	ck_assert_int_eq(ts_audit_sync(b), 0);
	/* h2 follows audit.log while h1 prunes. */
	ts_audit_view_open(b);
	before = read_all(b, &size);
	free(read_all(a, &len));	/* h1's view, built before */
	ck_assert_int_lt(ts_audit_prune_next(a), ts_now_ms() + 1);
	ck_assert_int_eq(ts_audit_prune(a, ts_now_ms() + 60000, &who, &p), 0);
	/* Nobody had h1's audit.log open: it is what remains at once. */
	after = read_all(a, &len);
	v = sql_value("SELECT string_agg(line || E'\\n', '' ORDER BY gseq) "
	              "FROM ts_audit");
	ck_assert_str_eq(after, v);
	free(v);
	free(after);
	/* All of h1's but its last (which the rest chains on from). */
	ck_assert_uint_eq(p.entries, 4);
	ck_assert_uint_eq(p.first_seq, 5);
	v = sql_value("SELECT string_agg(host || ':' || seq, ',' ORDER BY gseq) "
	              "FROM ts_audit");
	ck_assert_str_eq(v, "h2:1,h2:2,h2:3,h1:5,h1:6");
	free(v);
	v = sql_value("SELECT line FROM ts_audit WHERE host = 'h1' AND seq = 6");
	ck_assert_msg(strstr(v, "\"op\":\"prune\"") != NULL &&
	              strstr(v, "4 entries pruned before seq 5") != NULL, "%s",
	              v);
	free(v);
	v = sql_value("SELECT seq FROM ts_audit_checkpoint WHERE host = 'h1' "
	              "AND kind = 'anchor'");
	ck_assert_str_eq(v, "4");
	free(v);
	/* The follower's offsets hold: what went reads as blanks (and the
	 * prune's own entry comes after, once the view is refreshed). */
	usleep(300000);
	after = read_all(b, &len);
	ck_assert_uint_gt(len, size);
	for (uint64_t i = 0; i < size; i++)
		ck_assert_msg(after[i] == before[i] || after[i] == ' ' ||
		              after[i] == '\n', "byte %llu",
		              (unsigned long long)i);
	{
		size_t at = (size_t)(strstr(before, "tickets/h1-1/email") -
		                     before);

		ck_assert_ptr_null(strstr(after, "tickets/h1-1/email"));
		ck_assert_int_eq(after[at], ' ');
		ck_assert_int_eq(memcmp(after + size, "{\"seq\":", 7), 0);
	}
	ck_assert_ptr_nonnull(strstr(after, "tickets/h2-1/email"));
	free(after);
	/* Closed: what remains, from the start. */
	ts_audit_view_close(b);
	after = read_all(b, &len);
	v = sql_value("SELECT string_agg(line || E'\\n', '' ORDER BY gseq) "
	              "FROM ts_audit");
	ck_assert_str_eq(after, v);
	free(v);
	free(after);
	free(before);
	ts_audit_close(a);
	ts_audit_close(b);
	expect_intact(5);	/* h1: 5 and 6 after the anchor; h2: 1 to 3 */
	/* An edited row refuses the next prune, and verify names it. */
	a = open_host("h1");
	append_one(a, "h1", 7);
	ts_audit_close(a);
	sql("UPDATE ts_audit SET line = regexp_replace(line, '\"time\":\"[^\"]*\"', "
	    "'\"time\":\"2000-01-01T00:00:00.000Z\"') WHERE host = 'h1' AND "
	    "seq = 5");
	a = open_host("h1");
	ck_assert_int_eq(ts_audit_prune_next(a), INT64_MIN);
	ck_assert_int_eq(ts_audit_prune(a, ts_now_ms() + 60000, &who, &p),
	                 -EBADMSG);
	ts_audit_close(a);
	expect_tampered("host h1: entry 5: ", "hash chain broken");
	/* Every row after the anchor gone: which ones, said. */
	sql("DELETE FROM ts_audit WHERE host = 'h1'");
	expect_tampered("host h1: entries 5 to 7 are missing: the signed anchor "
	                "covers entries up to 4 only", NULL);
}
END_TEST

/* ---- forward-secure seals, per host ---- */

/* A copy of the state at from, at to (mode 0600). */
static void
copy_file(const char *from, const char *to)
{
	char buf[4096];
	FILE *in = fopen(from, "r"), *out;
	size_t n;

	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(out = fopen(to, "w"));
	ck_assert_int_eq(chmod(to, 0600), 0);
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
	fclose(in);
	ck_assert_int_eq(fclose(out), 0);
}

START_TEST(seals_per_host)
{
	char seed[TS_AUDIT_SEED_MAX], p0[128], p1[128], p2[128], msg[1024], *v;
	struct ts_audit *a = open_host("h1"), *b = open_host("h2");

	/* One state from init, a copy for each host, 3-second epochs: the
	 * set-up below ends well within epoch 0 on a loaded machine (with
	 * 1-second ones it once did not, and every epoch number was off). */
	snprintf(p0, sizeof(p0), "%s/init.fss", tmp);
	snprintf(p1, sizeof(p1), "%s/h1.fss", tmp);
	snprintf(p2, sizeof(p2), "%s/h2.fss", tmp);
	ck_assert_int_eq(ts_audit_fss_create(p0, 3, seed), 0);
	copy_file(p0, p1);
	copy_file(p0, p2);
	ck_assert_msg(ts_audit_set_fss(a, p1, msg, sizeof(msg)) == 0, "%s", msg);
	ck_assert_msg(ts_audit_set_fss(b, p2, msg, sizeof(msg)) == 0, "%s", msg);
	for (int e = 0; e < 3; e++) {
		append_one(a, "h1", 1 + 2 * e);
		append_one(b, "h2", 1 + 2 * e);
		append_one(a, "h1", 2 + 2 * e);
		usleep(3100 * 1000);
		ck_assert_int_eq(ts_audit_sync(a), 0);
		ck_assert_int_eq(ts_audit_sync(b), 0);
	}
	ts_audit_close(a);
	ts_audit_close(b);
	v = sql_value("SELECT count(DISTINCT host) || ' ' || min(epoch) FROM "
	              "ts_audit_seals");
	ck_assert_str_eq(v, "2 0");
	free(v);
	msg[0] = '\0';
	ck_assert_msg(ts_pg_audit_verify_seed(uri, seed, msg, sizeof(msg)) == 0,
	              "%s", msg);
	ck_assert_msg(strstr(msg, "host h1: forward-secure seals intact: "
	                     "entries up to 6") != NULL &&
	              strstr(msg, "host h2: forward-secure seals intact: "
	                     "entries up to 3") != NULL, "%s", msg);
	/* A sealed entry rewritten, its chain and checkpoint made good again
	 * (as with the signing key): the seal still says no. */
	sql("UPDATE ts_audit SET line = replace(line, '\"uid\":1001', "
	    "'\"uid\":9001') WHERE host = 'h2' AND seq = 1");
	{
		/* Rechain h2 from entry 1, as someone with the key could. */
		char *line = sql_value("SELECT line FROM ts_audit WHERE host = "
		                       "'h2' AND seq = 1");
		unsigned char prev[32] = { 0 }, h[32];
		char hx[65], q[4096];
		char *hp = strstr(line, ",\"hash\":\"");

		crypto_generichash_state st;

		crypto_generichash_init(&st, NULL, 0, 32);
		crypto_generichash_update(&st, prev, 32);
		crypto_generichash_update(&st, (unsigned char *)line,
		                          (size_t)(hp - line));
		crypto_generichash_final(&st, h, 32);
		sodium_bin2hex(hx, sizeof(hx), h, 32);
		snprintf(q, sizeof(q), "UPDATE ts_audit SET line = substr(line, 1, "
		         "%zu) || '%s\"}' WHERE host = 'h2' AND seq = 1",
		         (size_t)(hp - line) + 9, hx);
		sql(q);
		free(line);
	}
	msg[0] = '\0';
	ck_assert_int_eq(ts_pg_audit_verify_seed(uri, seed, msg, sizeof(msg)), 1);
	ck_assert_msg(strstr(msg, "host h2: entries 1 to 1 (epoch 0) differ "
	                     "from their forward-secure seal") != NULL, "%s",
	              msg);
	/* h1's first seal removed: named. */
	sql("DELETE FROM ts_audit_seals WHERE host = 'h1' AND epoch = 0");
	ck_assert_int_eq(ts_pg_audit_verify_seed(uri, seed, msg, sizeof(msg)), 1);
	ck_assert_msg(strstr(msg, "host h1: its seals-") != NULL &&
	              strstr(msg, "where epoch 0 was due") != NULL, "%s", msg);
	/* h2's state put back to the start, behind its seals: refused. */
	copy_file(p0, p2);
	a = open_host("h2");
	ck_assert_int_eq(ts_audit_set_fss(a, p2, msg, sizeof(msg)), -ESTALE);
	ck_assert_msg(strstr(msg, "rolled back") != NULL, "%s", msg);
	ts_audit_close(a);
	ck_assert_int_eq(ts_pg_audit_verify_seed(uri, "zz", msg, sizeof(msg)),
	                 -EINVAL);
}
END_TEST

/* ---- a spool's batch: one call ---- */

/* N entries through a spool, shipped by one sync: one statement, one
 * call of ts_audit_append_batch() and none of ts_audit_append(), rows in
 * seq order by gseq, and the chain verifies; a batch that does not
 * continue the chain is refused, nothing added. */
START_TEST(spool_batch_one_call)
{
	enum { N = 1000 };
	struct ts_audit *a;
	char q[256], sp[128], msg[1024], *v;
	int calls = -1, single = -1;

	/* The shipper's session counts its function calls. */
	snprintf(q, sizeof(q), "ALTER DATABASE %s SET track_functions = 'pl'",
	         dbname);
	sql(q);
	a = open_host("h1");
	snprintf(sp, sizeof(sp), "%s/h1.spool", tmp);
	ck_assert_msg(ts_audit_set_spool(a, sp, msg, sizeof(msg)) >= 0, "%s",
	              msg);
	for (int i = 1; i <= N; i++)
		append_one(a, "h1", i);
	v = sql_value("SELECT count(*) FROM ts_audit");
	ck_assert_str_eq(v, "0");	/* queued, none sent yet */
	free(v);
	ck_assert_int_eq(ts_audit_sync(a), 0);
	/* One transaction (one statement: the shipper's are each their own). */
	v = sql_value("SELECT count(*) || ' ' || count(DISTINCT xmin::text) || "
	              "' ' || min(seq) || ' ' || max(seq) FROM ts_audit");
	ck_assert_str_eq(v, "1000 1 1 1000");
	free(v);
	v = sql_value("SELECT count(*) FROM (SELECT seq, row_number() OVER "
	              "(ORDER BY gseq) AS r FROM ts_audit) x WHERE seq <> r");
	ck_assert_str_eq(v, "0");	/* gseq follows seq */
	free(v);
	/* The shipper's session gone, its counts are published. */
	ts_audit_close(a);
	for (int t = 0; t < 100 && calls < 1; t++) {
		sql("SELECT pg_stat_clear_snapshot()");
		v = sql_value("SELECT coalesce(sum(calls) FILTER (WHERE funcname "
		              "= 'ts_audit_append_batch'), 0) || ' ' || "
		              "coalesce(sum(calls) FILTER (WHERE funcname = "
		              "'ts_audit_append'), 0) FROM pg_stat_user_functions");
		ck_assert_int_eq(sscanf(v, "%d %d", &calls, &single), 2);
		free(v);
		if (calls < 1)
			usleep(50000);
	}
	ck_assert_msg(calls == 1 && single == 0, "ts_audit_append_batch called "
	              "%d times, ts_audit_append %d", calls, single);
	expect_intact(N);
}
END_TEST

START_TEST(batch_refuses_a_gap)
{
	PGresult *r;
	char *v;

	sql("SELECT ts_audit_append_batch('h1', 1, ARRAY['a', 'b'])");
	/* Entry 4 after 2: refused as data_corrupted, nothing added. */
	ck_assert_int_eq(ts_pg_query(db, "SELECT ts_audit_append_batch('h1', "
	                             "4, ARRAY['c'])", 0, NULL, NULL, NULL, 0,
	                             &r), -EBADMSG);
	/* Entry 1 again: refused too. */
	ck_assert_int_eq(ts_pg_query(db, "SELECT ts_audit_append_batch('h1', "
	                             "1, ARRAY['c'])", 0, NULL, NULL, NULL, 0,
	                             &r), -EBADMSG);
	v = sql_value("SELECT string_agg(seq || line, ',' ORDER BY gseq) FROM "
	              "ts_audit");
	ck_assert_str_eq(v, "1a,2b");
	free(v);
	/* Another host's chain starts at 1, beside it. */
	sql("SELECT ts_audit_append_batch('h2', 1, ARRAY['x'])");
	v = sql_value("SELECT count(*) FROM ts_audit");
	ck_assert_str_eq(v, "3");
	free(v);
}
END_TEST

static Suite *
audit_pg_suite(void)
{
	Suite *s = suite_create("audit_pg");
	TCase *ch = tcase_create("chains"), *vw = tcase_create("view"),
	      *tp = tcase_create("tamper"), *op = tcase_create("open"),
	      *fc = tcase_create("fail_closed"), *pr = tcase_create("prune");
	TCase *all[] = { ch, vw, tp, op, fc, pr };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		tcase_set_timeout(all[i], 60);
		tcase_add_checked_fixture(all[i], setup, teardown);
		suite_add_tcase(s, all[i]);
	}
	tcase_add_test(ch, two_hosts_interleaved);
	tcase_add_test(ch, spool_batch_one_call);
	tcase_add_test(ch, batch_refuses_a_gap);
	tcase_add_test(ch, second_handle_of_a_host_refused);
	tcase_add_test(ch, verify_key_in_meta);
	tcase_add_test(ch, checkpoint_copy_per_host);
	tcase_add_test(vw, view_across_hosts);
	tcase_add_test(tp, tamper_edit_names_host_and_seq);
	tcase_add_test(tp, tamper_delete_detected);
	tcase_add_test(tp, tamper_cut_tail_detected);
	tcase_add_test(tp, tamper_moved_between_hosts);
	tcase_add_test(tp, tamper_row_seq_edited);
	tcase_add_test(op, checkpoint_ahead_refuses_open);
	tcase_add_test(fc, connection_killed_fails_closed);
	tcase_add_test(fc, commit_outcome_lost_chain_reread);
	tcase_add_test(fc, reconnect_finds_rows_removed);
	tcase_add_test(fc, rows_removed_while_connected_fails_closed);
	tcase_add_test(pr, prune_per_host);
	tcase_add_test(pr, seals_per_host);
	return s;
}

int
main(void)
{
	return ts_check_run(audit_pg_suite());
}
