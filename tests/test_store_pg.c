/*
 * test_store_pg: the PostgreSQL backend against the tests' private
 * cluster ($TS_PG_DIR, tests/pg_fixture.sh), a fresh database per test.
 * Creation (and refusal of a used database), opening (no schema, a newer
 * schema), tickets written, loaded, read back and removed, the versioned
 * write between two handles (two hosts), a row planted without the key
 * refused, ticket keys, a ticket's boxes (and key) in one statement on a
 * reader connection, the readers' pool, the host lock, the changes announced, no
 * plaintext in a pg_dump, and loading 100,000 tickets in under a second.
 */
#include <check.h>

#include "tests/check_main.h"
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "store/intake.h"
#include "store/pg_conn.h"
#include "store/record.h"
#include "store/record_write.h"
#include "store/seal.h"
#include "store/store.h"
#include "store/store_backend.h"
#include "store/ticket.h"
#include "store/tkey.h"

#define T0 INT64_C(1767225600000)	/* 2026-01-01T00:00:00Z */
#define FAR INT64_C(4102444800000)	/* 2100-01-01T00:00:00Z */
#define PG_DUMP "/usr/lib/postgresql/15/bin/pg_dump"
static const char POLICY[] = "ticket processed+30d\n";
static const char ID1[] = "20260101-000000-000001-0001";
static const char ID2[] = "20260101-000000-000002-0002";
static const char CANARY[] = "canary-7f3a9c2e51";

/* Per test; CK_FORK gives each test its own copy. */
static char dbname[64];
static char uri[512];
static struct ts_seckey *key;

/* The URI of database db on the cluster. */
static void
uri_of(const char *db, char *out, size_t outlen)
{
	const char *dir = getenv("TS_PG_DIR");

	ck_assert_msg(dir != NULL, "TS_PG_DIR is not set (ctest fixture pg)");
	snprintf(out, outlen, "postgresql:///%s?host=%s&user=postgres", db, dir);
}

/* Runs sql on the postgres database (CREATE / DROP DATABASE). */
static int
admin(const char *sql)
{
	char u[512];
	struct ts_pg *pg;
	int rc;

	uri_of("postgres", u, sizeof(u));
	if ((rc = ts_pg_open(u, &pg, NULL, 0)) < 0)
		return rc;
	rc = ts_pg_exec(pg, sql);
	ts_pg_close(pg);
	return rc;
}

/* Runs sql on the test's database. */
static void
sql_do(const char *sql)
{
	struct ts_pg *pg;

	ck_assert_int_eq(ts_pg_open(uri, &pg, NULL, 0), 0);
	ck_assert_msg(ts_pg_exec(pg, sql) == 0, "%s: %s", sql, ts_pg_error(pg));
	ts_pg_close(pg);
}

/* The first column of the first row of sql on the test's database. */
static long
sql_num(const char *sql)
{
	struct ts_pg *pg;
	PGresult *r;
	long v;

	ck_assert_int_eq(ts_pg_open(uri, &pg, NULL, 0), 0);
	ck_assert_int_eq(ts_pg_query(pg, sql, 0, NULL, NULL, NULL, 0, &r), 0);
	ck_assert_int_eq(PQntuples(r), 1);
	v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	ts_pg_close(pg);
	return v;
}

static void
setup(void)
{
	char sql[128];

	snprintf(dbname, sizeof(dbname), "ts_unit_%ld_%u", (long)getpid(),
	         (unsigned)randombytes_random() % 100000);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbname);
	ck_assert_int_eq(admin(sql), 0);
	uri_of(dbname, uri, sizeof(uri));
	ck_assert_int_eq(ts_seal_keypair(&key), 0);
}

static void
teardown(void)
{
	char sql[128];

	ts_seal_seckey_free(key);
	key = NULL;
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
	         dbname);
	admin(sql);
}

/* Creates the store and opens it as the daemon does, key given. */
static struct ts_store *
create_open(void)
{
	struct ts_store *st = NULL;

	ck_assert_int_eq(ts_store_create(uri, ts_seal_seckey_pk(key), POLICY),
	                 0);
	ck_assert_int_eq(ts_store_open(uri, TS_STORE_DAEMON, &st), 0);
	ck_assert_int_eq(ts_store_set_key(st, key), 0);
	return st;
}

/* ---- tickets with real sealed boxes, new ones flagged TS_BOX_NEW ---- */

struct built {
	struct ts_ticket t;
	uint8_t *extra;
	size_t extralen;
};

static void
seal_new(struct built *b, const char *field, const char *value,
         struct ts_box *box)
{
	ck_assert_int_eq(ts_intake_seal_append(ts_seal_seckey_pk(key), b->t.id,
	                                       field, value, strlen(value),
	                                       &b->extra, &b->extralen, box),
	                 0);
	box->off |= TS_BOX_NEW;
}

static void
built_clear_extra(struct built *b)
{
	free(b->extra);
	b->extra = NULL;
	b->extralen = 0;
}

static void
built_release(struct built *b)
{
	built_clear_extra(b);
	ts_ticket_release(&b->t);
}

/* A ticket: subject (the canary), username, one message. */
static void
build(struct built *b, const char *id)
{
	struct ts_message *m;

	memset(b, 0, sizeof(*b));
	strcpy(b->t.id, id);
	b->t.created_ms = T0;
	b->t.status = TS_OPEN;
	seal_new(b, "subject", CANARY, &b->t.field[TS_F_SUBJECT]);
	seal_new(b, "username", "alice", &b->t.field[TS_F_USERNAME]);
	ck_assert_ptr_nonnull(m = ts_ticket_add_msg(&b->t));
	strcpy(m->name, "m1");
	m->stored_ms = T0 + 1000;
	seal_new(b, "messages/m1", "hello", &m->box);
}

/* Reads box of t from the store and checks it opens to want. */
static void
check_box(struct ts_store *st, const struct ts_ticket *t,
          const struct ts_box *box, const char *field, const char *want)
{
	uint8_t *sealed = malloc(box->len);
	unsigned char *plain = calloc(1, box->len);

	ck_assert_ptr_nonnull(sealed);
	ck_assert_ptr_nonnull(plain);
	ck_assert_uint_eq(box->off & TS_BOX_NEW, 0);
	ck_assert_int_eq(ts_store_read_box(st, t->id, box, sealed), 0);
	ck_assert_msg(ts_store_open_box(st, t, field, sealed, box->len,
	                                plain) == 0, "%s does not open", field);
	ck_assert_uint_eq(ts_box_plain_len(box), strlen(want));
	ck_assert_mem_eq(plain, want, strlen(want));
	sodium_memzero(plain, box->len);
	free(sealed);
	free(plain);
}

static void
check_boxes(struct ts_store *st, const struct ts_ticket *t)
{
	char want[64];

	snprintf(want, sizeof(want), "%s\n", CANARY);
	check_box(st, t, &t->field[TS_F_SUBJECT], "subject", want);
	check_box(st, t, &t->field[TS_F_USERNAME], "username", "alice\n");
	check_box(st, t, &ts_ticket_find_msg(t, "m1")->box, "messages/m1",
	          "hello\n");
}

static void
check_same_ticket(const struct ts_ticket *a, const struct ts_ticket *b)
{
	ck_assert_str_eq(a->id, b->id);
	ck_assert_int_eq(a->created_ms, b->created_ms);
	ck_assert_int_eq(a->status, b->status);
	ck_assert_int_eq(a->keyed, b->keyed);
	ck_assert_mem_eq(a->field, b->field, sizeof(a->field));
	ck_assert_uint_eq(a->nmsg, b->nmsg);
	for (size_t i = 0; i < a->nmsg; i++) {
		ck_assert_str_eq(a->msg[i].name, b->msg[i].name);
		ck_assert_mem_eq(&a->msg[i].box, &b->msg[i].box,
		                 sizeof(struct ts_box));
	}
}

/* ---- what ts_store_load hands out ---- */

struct loaded {
	char id[TS_NAME_MAX + 1];
	int err;
	int has;
	struct ts_ticket t;
};

struct loadset {
	struct loaded v[8];
	size_t n;
};

static int
on_ticket(void *arg, const char *id, struct ts_ticket *t, int err)
{
	struct loadset *ls = arg;
	struct loaded *l;

	ck_assert_uint_lt(ls->n, 8);
	l = &ls->v[ls->n++];
	snprintf(l->id, sizeof(l->id), "%s", id);
	l->err = err;
	l->has = t != NULL;
	ck_assert_msg((t == NULL) == (err < 0), "t %p with err %d", t, err);
	if (t != NULL)
		l->t = *t;
	return 0;
}

static void
loadset_release(struct loadset *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		if (ls->v[i].has)
			ts_ticket_release(&ls->v[i].t);
	ls->n = 0;
}

static struct loaded *
load_find(struct loadset *ls, const char *id)
{
	for (size_t i = 0; i < ls->n; i++)
		if (strcmp(ls->v[i].id, id) == 0)
			return &ls->v[i];
	return NULL;
}

static int
on_id(void *arg, const char *id)
{
	char *out = arg;

	strcat(out, id);
	strcat(out, " ");
	return 0;
}

/* ---- create and open ---- */

START_TEST(create_refuses_used_database)
{
	struct ts_store *st;
	unsigned char pk[TS_SEAL_PKBYTES];
	char other[512], sql[128];

	/* A database with tables of its own, none ts_*: fine. */
	sql_do("CREATE TABLE customers (id integer)");
	ck_assert_int_eq(ts_store_create(uri, ts_seal_seckey_pk(key), POLICY),
	                 0);
	ck_assert_int_eq(sql_num("SELECT version FROM ts_schema_version"), 2);
	ck_assert_int_eq(sql_num("SELECT count(*) FROM ts_meta WHERE "
	                         "name = 'policy' AND value = "
	                         "'ticket processed+30d\n'"), 1);
	/* A second init: refused, the first store untouched. */
	ck_assert_int_eq(ts_store_create(uri, ts_seal_seckey_pk(key), POLICY),
	                 -EEXIST);
	ck_assert_int_eq(ts_store_open(uri, TS_STORE_DAEMON, &st), 0);
	ck_assert_int_eq(ts_store_pubkey(st, pk), 0);
	ck_assert_mem_eq(pk, ts_seal_seckey_pk(key), sizeof(pk));
	ck_assert_int_eq(ts_store_shared(st), 1);
	ts_store_close(st);

	/* Any ts_* table (a half-made store) is refused too, and nothing
	 * is created beside it. */
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s_b", dbname);
	ck_assert_int_eq(admin(sql), 0);
	snprintf(sql, sizeof(sql), "%s_b", dbname);
	uri_of(sql, other, sizeof(other));
	{
		struct ts_pg *pg;

		ck_assert_int_eq(ts_pg_open(other, &pg, NULL, 0), 0);
		ck_assert_int_eq(ts_pg_exec(pg, "CREATE TABLE ts_tickets "
		                            "(id text)"), 0);
		ck_assert_int_eq(ts_store_create(other, ts_seal_seckey_pk(key),
		                                 POLICY), -EEXIST);
		ck_assert_int_eq(ts_pg_exec(pg, "SELECT 1 FROM ts_meta"),
		                 -ENOENT);
		ts_pg_close(pg);
	}
	snprintf(sql, sizeof(sql), "DROP DATABASE %s_b WITH (FORCE)", dbname);
	ck_assert_int_eq(admin(sql), 0);
}
END_TEST

START_TEST(open_needs_schema)
{
	struct ts_store *st = NULL;
	struct ts_store_snapinfo si;
	char err[256] = "";
	char bad[600];

	/* An empty database: no store, and the message says what to do. */
	ck_assert_int_eq(ts_store_open_err(uri, TS_STORE_DAEMON, &st, err,
	                                   sizeof(err)), -ENOENT);
	ck_assert_ptr_null(st);
	ck_assert_msg(strstr(err, "holds no ticketfs store") != NULL &&
	              strstr(err, "ticketctl init") != NULL, "said: %s", err);
	ck_assert_int_eq(ts_store_open_err(uri, TS_STORE_INTAKE, &st, err,
	                                   sizeof(err)), -ENOENT);
	/* No such database: the connection's error, never the URI. */
	snprintf(bad, sizeof(bad), "%s", uri);
	memcpy(strstr(bad, "ts_unit_"), "nx_", 3);
	ck_assert_int_eq(ts_store_open_err(bad, TS_STORE_DAEMON, &st, err,
	                                   sizeof(err)), -EIO);
	ck_assert_msg(strncmp(err, "cannot connect: ", 16) == 0, "said: %s",
	              err);
	ck_assert_ptr_null(strstr(err, "postgresql://"));

	/* A newer schema than this code knows: refused, saying so. */
	ck_assert_int_eq(ts_store_create(uri, ts_seal_seckey_pk(key), POLICY),
	                 0);
	ck_assert_int_eq(ts_store_open(uri, TS_STORE_DAEMON, &st), 0);
	ts_store_snapshot_info(st, &si);
	ck_assert_int_eq(si.used, 0);
	ck_assert_str_eq(si.why, "no snapshot (shared store)");
	ts_store_close(st);
	sql_do("UPDATE ts_schema_version SET version = 99");
	st = NULL;
	ck_assert_int_eq(ts_store_open_err(uri, TS_STORE_DAEMON, &st, err,
	                                   sizeof(err)), -EPROTO);
	ck_assert_ptr_null(st);
	ck_assert_msg(strstr(err, "version 99, newer than this ticketfs") !=
	              NULL, "said: %s", err);
	ck_assert_int_eq(ts_store_open_err(uri, TS_STORE_INTAKE, &st, err,
	                                   sizeof(err)), -EPROTO);
}
END_TEST

/* A store of schema version 1 (before ts_audit_append_batch): a front
 * end's open is refused, saying a daemon migrates it; a daemon's open
 * migrates it to version 2, the function as a new store has it. */
START_TEST(migrate_from_version_1)
{
	struct ts_store *st = NULL;
	char err[256] = "";

	ck_assert_int_eq(ts_store_create(uri, ts_seal_seckey_pk(key), POLICY),
	                 0);
	sql_do("CREATE TABLE fresh AS SELECT pg_get_functiondef("
	       "'ts_audit_append_batch(text,bigint,text[])'::regprocedure) d");
	/* What version 1 was: this schema without the function. */
	sql_do("DROP FUNCTION ts_audit_append_batch(text, bigint, text[])");
	sql_do("UPDATE ts_schema_version SET version = 1");
	ck_assert_int_eq(ts_store_open_err(uri, TS_STORE_INTAKE, &st, err,
	                                   sizeof(err)), -EPROTO);
	ck_assert_ptr_null(st);
	ck_assert_msg(strstr(err, "older than this ticketfs") != NULL &&
	              strstr(err, "start a daemon") != NULL, "said: %s", err);
	ck_assert_int_eq(sql_num("SELECT version FROM ts_schema_version"), 1);
	ck_assert_int_eq(ts_store_open_err(uri, TS_STORE_DAEMON, &st, err,
	                                   sizeof(err)), 0);
	ts_store_close(st);
	ck_assert_int_eq(sql_num("SELECT version FROM ts_schema_version"), 2);
	ck_assert_int_eq(sql_num("SELECT count(*) FROM fresh WHERE d = "
	                         "pg_get_functiondef('ts_audit_append_batch("
	                         "text,bigint,text[])'::regprocedure)"), 1);
	/* And it appends as a new store's does. */
	ck_assert_int_eq(sql_num("SELECT ts_audit_append_batch('h1', 1, "
	                         "ARRAY['a', 'b', 'c'])"), 3);
	/* Opened again: nothing more to do. */
	ck_assert_int_eq(ts_store_open_err(uri, TS_STORE_INTAKE, &st, err,
	                                   sizeof(err)), 0);
	ts_store_close(st);
}
END_TEST

/* ---- tickets ---- */

START_TEST(write_load_read_remove)
{
	struct ts_store *st = create_open();
	struct loadset ls = { .n = 0 };
	struct ts_ticket *one = NULL;
	struct ts_message *m;
	struct built b;
	struct loaded *l;
	char ids[256] = "";
	uint8_t *rec;
	size_t len;

	build(&b, ID1);
	ck_assert_int_eq(ts_store_write(st, &b.t, b.extra), 0);
	built_clear_extra(&b);
	/* Written with the key: a ticket of its own key, one key row. */
	ck_assert_int_eq(b.t.keyed, 1);
	ck_assert_int_eq(sql_num("SELECT count(*) FROM ts_ticket_keys WHERE "
	                         "NOT next"), 1);
	ck_assert_int_eq(sql_num("SELECT count(*) FROM ts_ticket_keys WHERE "
	                         "next"), 0);
	check_boxes(st, &b.t);

	ck_assert_int_eq(ts_store_load(st, on_ticket, &ls), 0);
	ck_assert_uint_eq(ls.n, 1);
	ck_assert_ptr_nonnull(l = load_find(&ls, ID1));
	ck_assert_int_eq(l->err, 0);
	check_same_ticket(&l->t, &b.t);
	loadset_release(&ls);
	ck_assert_int_eq(ts_store_load_one(st, ID1, &one), 0);
	check_same_ticket(one, &b.t);
	check_boxes(st, one);
	ts_ticket_free(one);
	ck_assert_int_eq(ts_store_load_one(st, ID2, &one), -ENOENT);
	ck_assert_int_eq(ts_store_load_one(st, "../x", &one), -ENOENT);

	/* A rewrite: old boxes carried over from the row, a new one added. */
	b.t.status = TS_PROCESSING;
	b.t.processing_ms = T0 + 5000;
	ck_assert_ptr_nonnull(m = ts_ticket_add_msg(&b.t));
	strcpy(m->name, "m2");
	m->stored_ms = T0 + 6000;
	seal_new(&b, "messages/m2", "second", &m->box);
	m->box.off |= TS_BOX_STOREKEY;	/* resealed for the ticket's key */
	ck_assert_int_eq(ts_store_write(st, &b.t, b.extra), 0);
	built_clear_extra(&b);
	check_boxes(st, &b.t);
	check_box(st, &b.t, &b.t.msg[1].box, "messages/m2", "second\n");
	ck_assert_int_eq(sql_num("SELECT ver FROM ts_tickets"), 2);

	/* The record as fsck reads it; the list. */
	ck_assert_int_eq(ts_store_read_record(st, ID1, &rec, &len), 0);
	{
		struct ts_ticket dec;

		ck_assert_int_eq(ts_record_decode_ticket(rec, len, ID1, NULL,
		                                         &dec), 0);
		check_same_ticket(&dec, &b.t);
		ts_ticket_release(&dec);
	}
	free(rec);
	ck_assert_int_eq(ts_store_read_record(st, ID2, &rec, &len), -ENOENT);
	ck_assert_int_eq(ts_store_list(st, on_id, ids), 0);
	ck_assert_str_eq(ids, "20260101-000000-000001-0001 ");
	ck_assert_int_eq(ts_store_ticket_known(st, ID1), 1);
	ck_assert_int_eq(ts_store_ticket_known(st, ID2), 0);

	/* Each write was announced: a changes row naming id and host. */
	ck_assert_int_eq(sql_num("SELECT count(*) FROM ts_changes WHERE "
	                         "id = '20260101-000000-000001-0001'"), 2);

	/* Removed: the row and its key rows, in one go; announced. */
	ck_assert_int_eq(ts_store_remove(st, ID1), 0);
	ck_assert_int_eq(sql_num("SELECT count(*) FROM ts_tickets"), 0);
	ck_assert_int_eq(sql_num("SELECT count(*) FROM ts_ticket_keys"), 0);
	ck_assert_int_eq(sql_num("SELECT count(*) FROM ts_changes"), 3);
	ck_assert_int_eq(ts_store_remove(st, ID1), -ENOENT);
	ck_assert_int_eq(ts_store_load_one(st, ID1, &one), -ENOENT);
	ck_assert_int_eq(ts_store_load(st, on_ticket, &ls), 0);
	ck_assert_uint_eq(ls.n, 0);
	ts_store_close(st);
	built_release(&b);
}
END_TEST

/* A write and a removal NOTIFY ts_changes with "N ID HOST" once they
 * commit; a listener on another connection hears them. */
START_TEST(changes_notified)
{
	struct ts_store *st = create_open();
	char want[128];
	struct built b;
	PGnotify *n;
	PGconn *c;
	PGresult *r;
	struct pollfd p;

	ck_assert_int_eq(ts_store_set_host(st, "host-a"), 0);
	c = PQconnectdb(uri);
	ck_assert_int_eq(PQstatus(c), CONNECTION_OK);
	r = PQexec(c, "LISTEN ts_changes");
	ck_assert_int_eq(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	build(&b, ID1);
	ck_assert_int_eq(ts_store_write(st, &b.t, b.extra), 0);
	built_clear_extra(&b);
	snprintf(want, sizeof(want), "%ld %s host-a",
	         sql_num("SELECT max(n) FROM ts_changes"), ID1);
	p = (struct pollfd){ .fd = PQsocket(c), .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 5000), 1);
	ck_assert_int_eq(PQconsumeInput(c), 1);
	ck_assert_ptr_nonnull(n = PQnotifies(c));
	ck_assert_str_eq(n->relname, "ts_changes");
	ck_assert_str_eq(n->extra, want);
	PQfreemem(n);
	ck_assert_ptr_null(PQnotifies(c));
	PQfinish(c);
	ts_store_close(st);
	built_release(&b);
}
END_TEST

/*
 * Two handles stand for two hosts, each having loaded the ticket.  The
 * first to write wins; the second's write, from its older copy, fails
 * -EAGAIN and changes nothing; once it re-reads (load_one) it writes.
 * Two hosts making one new ticket: one INSERT wins, the other -EAGAIN.
 */
START_TEST(version_conflict)
{
	struct ts_store *a = create_open(), *b2 = NULL;
	struct loadset ls = { .n = 0 };
	struct ts_ticket *cur;
	struct built x, y, n1, n2;
	uint8_t *rec;
	size_t len;

	ck_assert_int_eq(ts_store_open(uri, TS_STORE_DAEMON, &b2), 0);
	ck_assert_int_eq(ts_store_set_key(b2, key), 0);
	ck_assert_int_eq(ts_store_set_host(a, "host-a"), 0);
	ck_assert_int_eq(ts_store_set_host(b2, "host-b"), 0);
	build(&x, ID1);
	ck_assert_int_eq(ts_store_write(a, &x.t, x.extra), 0);
	built_clear_extra(&x);
	ck_assert_int_eq(ts_store_load(b2, on_ticket, &ls), 0);
	ck_assert_uint_eq(ls.n, 1);
	memset(&y, 0, sizeof(y));
	y.t = ls.v[0].t;	/* host b's copy */
	ls.n = 0;

	x.t.status = TS_PROCESSING;
	x.t.processing_ms = T0 + 1;
	ck_assert_int_eq(ts_store_write(a, &x.t, NULL), 0);
	y.t.status = TS_PROCESSED;
	y.t.processed_ms = T0 + 2;
	ck_assert_int_eq(ts_store_write(b2, &y.t, NULL), -EAGAIN);
	/* Nothing of b's was written: the row is a's. */
	ck_assert_int_eq(ts_store_read_record(b2, ID1, &rec, &len), 0);
	{
		struct ts_ticket dec;

		ck_assert_int_eq(ts_record_decode_ticket(rec, len, ID1, NULL,
		                                         &dec), 0);
		ck_assert_int_eq(dec.status, TS_PROCESSING);
		ts_ticket_release(&dec);
	}
	free(rec);
	/* Re-read, b writes on top of a's. */
	ck_assert_int_eq(ts_store_load_one(b2, ID1, &cur), 0);
	ck_assert_int_eq(cur->status, TS_PROCESSING);
	cur->status = TS_PROCESSED;
	cur->processed_ms = T0 + 3;
	ck_assert_int_eq(ts_store_write(b2, cur, NULL), 0);
	check_boxes(b2, cur);
	ts_ticket_free(cur);
	/* Now a's copy is the old one. */
	ck_assert_int_eq(ts_store_write(a, &x.t, NULL), -EAGAIN);
	ck_assert_int_eq(sql_num("SELECT ver FROM ts_tickets"), 3);
	/* A removal from the old copy too: -EAGAIN, the row stays; after a
	 * re-read it goes. */
	ck_assert_int_eq(ts_store_remove(a, ID1), -EAGAIN);
	ck_assert_int_eq(sql_num("SELECT count(*) FROM ts_tickets"), 1);
	ck_assert_int_eq(ts_store_load_one(a, ID1, &cur), 0);
	ts_ticket_free(cur);
	ck_assert_int_eq(ts_store_remove(a, ID1), 0);
	ck_assert_int_eq(sql_num("SELECT count(*) FROM ts_tickets"), 0);
	ck_assert_int_eq(ts_store_remove(b2, ID1), -ENOENT);

	/* One new ticket made on both hosts at once. */
	build(&n1, ID2);
	build(&n2, ID2);
	ck_assert_int_eq(ts_store_write(a, &n1.t, n1.extra), 0);
	ck_assert_int_eq(ts_store_write(b2, &n2.t, n2.extra), -EAGAIN);
	ck_assert_int_eq(sql_num("SELECT count(*) FROM ts_tickets WHERE "
	                         "id = '20260101-000000-000002-0002'"), 1);
	check_boxes(a, &n1.t);

	built_release(&n1);
	built_release(&n2);
	built_release(&x);
	ts_ticket_release(&y.t);
	ts_store_close(a);
	ts_store_close(b2);
}
END_TEST

/*
 * A row planted by someone with INSERT on ts_tickets but without the key:
 * well formed, boxes sealed with the public key, no MAC.  The daemon
 * refuses it at load and load_one (-EKEYREJECTED), and never carries its
 * boxes into a write; the tools, without the key, see it well formed.
 */
START_TEST(planted_row_refused)
{
	struct ts_store *st = create_open();
	struct loadset ls = { .n = 0 };
	struct ts_ticket *one = NULL;
	struct built f, good;
	struct loaded *l;
	uint8_t *rec;
	size_t len;

	build(&good, ID1);
	ck_assert_int_eq(ts_store_write(st, &good.t, good.extra), 0);
	built_clear_extra(&good);
	build(&f, ID2);
	for (int k = 0; k < TS_F_COUNT; k++)
		f.t.field[k].off &= ~TS_BOX_NEW;
	f.t.msg[0].box.off &= ~TS_BOX_NEW;
	ck_assert_int_eq(ts_record_encode(TS_REC_TICKET, &f.t, f.extra, NULL,
	                                  &rec, &len), 0);
	{
		struct ts_pg *pg;
		const char *v[] = { ID2, (const char *)rec };
		int lens[] = { 0, (int)len }, fmt[] = { 0, 1 };

		ck_assert_int_eq(ts_pg_open(uri, &pg, NULL, 0), 0);
		ck_assert_int_eq(ts_pg_query(pg, "INSERT INTO ts_tickets "
		                             "(id, ver, rec) VALUES ($1, 1, $2)",
		                             2, v, lens, fmt, 0, NULL), 0);
		ts_pg_close(pg);
	}
	free(rec);
	ck_assert_int_eq(ts_store_load(st, on_ticket, &ls), 0);
	ck_assert_uint_eq(ls.n, 2);
	ck_assert_ptr_nonnull(l = load_find(&ls, ID1));
	ck_assert_int_eq(l->err, 0);
	ck_assert_ptr_nonnull(l = load_find(&ls, ID2));
	ck_assert_int_eq(l->err, -EKEYREJECTED);
	loadset_release(&ls);
	ck_assert_int_eq(ts_store_load_one(st, ID2, &one), -EKEYREJECTED);
	ck_assert_ptr_null(one);
	built_clear_extra(&f);
	f.t.status = TS_PROCESSED;
	ck_assert_int_eq(ts_store_write(st, &f.t, NULL), -EKEYREJECTED);
	ts_store_close(st);

	ck_assert_int_eq(ts_store_open(uri, TS_STORE_DAEMON, &st), 0);
	ck_assert_int_eq(ts_store_load(st, on_ticket, &ls), 0);
	ck_assert_uint_eq(ls.n, 2);
	ck_assert_int_eq(ls.v[0].err, 0);
	ck_assert_int_eq(ls.v[1].err, 0);
	loadset_release(&ls);
	ts_store_close(st);
	built_release(&f);
	built_release(&good);
}
END_TEST

/* ---- ticket keys ---- */

struct keyseen {
	char s[512];
};

static int
on_key(void *arg, const char *id, int next)
{
	struct keyseen *k = arg;
	char one[100];

	snprintf(one, sizeof(one), "%s/%d ", id, next);
	strcat(k->s, one);
	return 0;
}

START_TEST(keys_round_trip)
{
	struct ts_store *st = create_open();
	const struct ts_store_ops *ops = st->ops;
	uint8_t cur[40], nxt[40], *buf;
	struct keyseen ks = { "" };
	size_t len;

	memset(cur, 0xc1, sizeof(cur));
	memset(nxt, 0x4e, sizeof(nxt));
	cur[3] = 0;	/* binary: a NUL inside */
	ck_assert_int_eq(ops->key_get(st, ID1, 0, &buf, &len), -ENOENT);
	ck_assert_int_eq(ops->key_put(st, ID1, 0, cur, sizeof(cur)), 0);
	ck_assert_int_eq(ops->key_get(st, ID1, 0, &buf, &len), 0);
	ck_assert_uint_eq(len, sizeof(cur));
	ck_assert_mem_eq(buf, cur, sizeof(cur));
	free(buf);
	ck_assert_int_eq(ops->key_promote(st, ID1), -ENOENT);
	ck_assert_int_eq(ops->key_put(st, ID1, 1, nxt, sizeof(nxt)), 0);
	/* A second next key while one is young: another host's rekey. */
	ck_assert_int_eq(ops->key_put(st, ID1, 1, cur, sizeof(cur)), -EAGAIN);
	ck_assert_int_eq(ops->key_get(st, ID1, 1, &buf, &len), 0);
	ck_assert_mem_eq(buf, nxt, sizeof(nxt));
	free(buf);
	/* Young keys are not listed (another host may be mid-write). */
	ck_assert_int_eq(ops->key_list(st, on_key, &ks), 0);
	ck_assert_str_eq(ks.s, "");
	sql_do("UPDATE ts_ticket_keys SET at = now() - interval '2 minutes'");
	ck_assert_int_eq(ops->key_list(st, on_key, &ks), 0);
	ck_assert_msg(strcmp(ks.s, "20260101-000000-000001-0001/0 "
	                     "20260101-000000-000001-0001/1 ") == 0 ||
	              strcmp(ks.s, "20260101-000000-000001-0001/1 "
	                     "20260101-000000-000001-0001/0 ") == 0,
	              "listed %s", ks.s);
	ck_assert_int_eq(ops->key_promote(st, ID1), 0);
	ck_assert_int_eq(ops->key_get(st, ID1, 1, &buf, &len), -ENOENT);
	ck_assert_int_eq(ops->key_get(st, ID1, 0, &buf, &len), 0);
	ck_assert_mem_eq(buf, nxt, sizeof(nxt));
	free(buf);
	ck_assert_int_eq(ops->key_put(st, ID2, 0, cur, sizeof(cur)), 0);
	ck_assert_int_eq(ops->key_del(st, ID1, TS_KEY_NEXT), 0);
	ck_assert_int_eq(sql_num("SELECT count(*) FROM ts_ticket_keys"), 2);
	ck_assert_int_eq(ops->key_del(st, ID1, TS_KEY_CURRENT | TS_KEY_NEXT),
	                 0);
	ck_assert_int_eq(ops->key_get(st, ID1, 0, &buf, &len), -ENOENT);
	ck_assert_int_eq(sql_num("SELECT count(*) FROM ts_ticket_keys"), 1);
	ts_store_close(st);
}
END_TEST

/* ---- the host lock ---- */

START_TEST(host_lock)
{
	struct ts_store *a = create_open(), *b2, *c, *w;

	ck_assert_int_eq(ts_store_open(uri, TS_STORE_DAEMON, &b2), 0);
	ck_assert_int_eq(ts_store_open(uri, TS_STORE_DAEMON, &c), 0);
	ck_assert_int_eq(ts_store_open(uri, TS_STORE_DAEMON, &w), 0);
	ck_assert_int_eq(ts_store_set_host(a, "host-a"), 0);
	ck_assert_int_eq(ts_store_set_host(b2, "host-a"), 0);
	ck_assert_int_eq(ts_store_set_host(c, "host-c"), 0);
	ck_assert_int_eq(ts_store_set_host(w, "host-a"), 0);
	ck_assert_int_eq(ts_store_lock(a), 0);
	ck_assert_int_eq(ts_store_lock(a), 0);	/* once a process */
	ck_assert_int_eq(ts_store_lock(b2), -EBUSY);
	ck_assert_int_eq(ts_store_lock(c), 0);	/* another host's name */
	ck_assert_int_eq(ts_store_wait_released(w, 200), -ETIMEDOUT);
	ts_store_close(a);
	ck_assert_int_eq(ts_store_wait_released(w, 5000), 0);
	ck_assert_int_eq(ts_store_lock(b2), 0);	/* and waiting took none */
	ts_store_close(b2);
	ts_store_close(c);
	ts_store_close(w);
}
END_TEST

/* Ends every ticketfs session on the test's database but the caller's. */
static void
kill_sessions(void)
{
	sql_do("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
	       "datname = current_database() AND pid <> pg_backend_pid()");
}

/*
 * A lost connection loses the host lock with its session: the next write
 * takes it again before it writes, so a second daemon of the same name is
 * still refused; if one took the name meanwhile, writes fail -EIO.
 */
START_TEST(host_lock_after_reconnect)
{
	struct ts_store *a = create_open(), *b2;
	struct built x;
	int rc;

	ck_assert_int_eq(ts_store_set_host(a, "host-a"), 0);
	ck_assert_int_eq(ts_store_lock(a), 0);
	build(&x, ID1);
	ck_assert_int_eq(ts_store_write(a, &x.t, x.extra), 0);
	built_clear_extra(&x);

	kill_sessions();
	x.t.status = TS_PROCESSING;
	/* The write in flight when the connection broke: -EIO, not run
	 * again; the next one reconnects, relocks, writes. */
	rc = ts_store_write(a, &x.t, NULL);
	ck_assert_msg(rc == -EIO || rc == 0, "first write after: %d", rc);
	if (rc < 0)
		ck_assert_int_eq(ts_store_write(a, &x.t, NULL), 0);
	ck_assert_int_eq(ts_store_open(uri, TS_STORE_DAEMON, &b2), 0);
	ck_assert_int_eq(ts_store_set_host(b2, "host-a"), 0);
	ck_assert_int_eq(ts_store_lock(b2), -EBUSY);
	ts_store_close(b2);

	/* Lost again, and another daemon named host-a takes the name. */
	kill_sessions();
	ck_assert_int_eq(ts_store_open(uri, TS_STORE_DAEMON, &b2), 0);
	ck_assert_int_eq(ts_store_set_host(b2, "host-a"), 0);
	ck_assert_int_eq(ts_store_lock(b2), 0);
	x.t.status = TS_PROCESSED;
	ck_assert_int_eq(ts_store_write(a, &x.t, NULL), -EIO);
	ck_assert_int_eq(ts_store_write(a, &x.t, NULL), -EIO);
	{
		struct ts_ticket *cur;

		ck_assert_int_eq(ts_store_load_one(b2, ID1, &cur), 0);
		ck_assert_int_eq(cur->status, TS_PROCESSING);	/* not written */
		ts_ticket_free(cur);
	}
	ts_store_close(b2);
	ts_store_close(a);
	built_release(&x);
}
END_TEST

/* Sessions of the test's database (but the one asking), once there are
 * want (a closed handle's session may take a moment to go), or as many
 * as there are after 2 s. */
static long
sessions(long want)
{
	long n = -1;

	for (int i = 0; i < 50 && n != want; i++) {
		if (i > 0)
			usleep(40000);
		n = sql_num("SELECT count(*) FROM pg_stat_activity WHERE "
		            "datname = current_database() AND "
		            "pid <> pg_backend_pid()");
	}
	return n;
}

/*
 * ts_store_read_boxes: a ticket's boxes, and its key when it is not
 * cached, in one statement on a reader connection of its own, which
 * reconnects by itself; all or nothing on a box past the row's end and a
 * missing ticket; a shredded ticket's boxes read but do not open.
 */
START_TEST(read_boxes_one_statement)
{
	static const char *const fields[] = {
		"subject", "username", "messages/m1",
	};
	struct ts_store *st = create_open(), *rd;
	struct ts_ticket *t;
	struct ts_box bx[3];
	uint8_t *bufs[3], plain[64];
	char want0[64];
	struct built b;
	int rc;

	build(&b, ID1);
	ck_assert_int_eq(ts_store_write(st, &b.t, b.extra), 0);
	ts_store_close(st);

	/* A fresh handle: no key cached.  Only its main connection so far. */
	ck_assert_int_eq(ts_store_open(uri, TS_STORE_DAEMON, &rd), 0);
	ck_assert_int_eq(ts_store_set_key(rd, key), 0);
	ck_assert_int_eq(ts_store_load_one(rd, ID1, &t), 0);
	ck_assert_int_eq(t->keyed, 1);
	ck_assert_int_eq(sessions(1), 1);
	bx[0] = t->field[TS_F_SUBJECT];
	bx[1] = t->field[TS_F_USERNAME];
	bx[2] = ts_ticket_find_msg(t, "m1")->box;
	for (int i = 0; i < 3; i++)
		ck_assert_ptr_nonnull(bufs[i] = malloc(bx[i].len));
	ck_assert_int_eq(ts_store_read_boxes(rd, t, bx, 3, bufs), 0);
	/* ... on a second session, which stays for the next reads. */
	ck_assert_int_eq(sessions(2), 2);
	/* The key came with the boxes: gone from the table now, they
	 * still open. */
	sql_do("CREATE TABLE saved_keys AS SELECT * FROM ts_ticket_keys");
	sql_do("DELETE FROM ts_ticket_keys");
	snprintf(want0, sizeof(want0), "%s\n", CANARY);
	{
		const char *want[] = { want0, "alice\n", "hello\n" };

		for (int i = 0; i < 3; i++) {
			ck_assert_msg(ts_store_open_box(rd, t, fields[i],
			                                bufs[i], bx[i].len,
			                                plain) == 0,
			              "%s does not open", fields[i]);
			ck_assert_uint_eq(ts_box_plain_len(&bx[i]),
			                  strlen(want[i]));
			ck_assert_mem_eq(plain, want[i], strlen(want[i]));
		}
	}
	ts_store_close(rd);

	/* Without the key row, a fresh handle reads the boxes (they are
	 * there) but opens none: shredded. */
	ck_assert_int_eq(ts_store_open(uri, TS_STORE_DAEMON, &rd), 0);
	ck_assert_int_eq(ts_store_set_key(rd, key), 0);
	ck_assert_int_eq(ts_store_read_boxes(rd, t, bx, 3, bufs), 0);
	ck_assert_int_eq(ts_store_open_box(rd, t, fields[0], bufs[0],
	                                   bx[0].len, plain), -ENOKEY);
	sql_do("INSERT INTO ts_ticket_keys SELECT * FROM saved_keys");

	/* A box past the end of the row: -EIO, wherever it is, by
	 * read_box too; and past any record's end. */
	bx[1].off = (uint32_t)sql_num("SELECT length(rec) FROM ts_tickets") -
	            bx[1].len / 2;
	ck_assert_int_eq(ts_store_read_boxes(rd, t, bx, 3, bufs), -EIO);
	ck_assert_int_eq(ts_store_read_box(rd, ID1, &bx[1], bufs[1]), -EIO);
	bx[1].off = UINT32_MAX - 8;
	ck_assert_int_eq(ts_store_read_boxes(rd, t, bx, 3, bufs), -EIO);
	bx[1] = t->field[TS_F_USERNAME];
	ck_assert_int_eq(ts_store_read_boxes(rd, t, bx, 0, bufs), -EINVAL);

	/* A missing ticket. */
	{
		struct ts_ticket other = *t;

		strcpy(other.id, ID2);
		ck_assert_int_eq(ts_store_read_boxes(rd, &other, bx, 3, bufs),
		                 -ENOENT);
		strcpy(other.id, "../x");
		ck_assert_int_eq(ts_store_read_boxes(rd, &other, bx, 3, bufs),
		                 -ENOENT);
	}

	/* Every session killed: the read in flight on the lost one fails
	 * -EIO (not run again), the next reconnects. */
	kill_sessions();
	rc = ts_store_read_boxes(rd, t, bx, 3, bufs);
	ck_assert_msg(rc == -EIO || rc == 0, "first read after: %d", rc);
	ck_assert_int_eq(ts_store_read_boxes(rd, t, bx, 3, bufs), 0);
	ck_assert_int_eq(ts_store_open_box(rd, t, fields[2], bufs[2],
	                                   bx[2].len, plain), 0);
	ck_assert_mem_eq(plain, "hello\n", 6);

	for (int i = 0; i < 3; i++)
		free(bufs[i]);
	ts_ticket_free(t);
	built_release(&b);
	ts_store_close(rd);
}
END_TEST

/*
 * A daemon's records kept (store/pg_reccache.c): the first read of a
 * ticket's boxes is one statement (its row and key row), the reads after
 * it none, read_box's too, with the same bytes; another host's write
 * changes nothing here until this handle reloads the ticket, and then
 * the next read is one statement again, of the new row; a ticket removed
 * here is read from the database (-ENOENT), never from what was kept.
 */
START_TEST(records_kept)
{
	struct ts_store *a = create_open(), *rd;
	struct ts_ticket *t, *t2;
	struct ts_box bx[2];
	uint8_t *bufs[2], *again;
	unsigned long long s0;
	struct built x;

	build(&x, ID1);
	ck_assert_int_eq(ts_store_write(a, &x.t, x.extra), 0);
	built_clear_extra(&x);
	ck_assert_uint_gt(ts_store_statements(a), 0);	/* counted */
	ck_assert_int_eq(ts_store_open(uri, TS_STORE_DAEMON, &rd), 0);
	ck_assert_int_eq(ts_store_set_key(rd, key), 0);
	ck_assert_int_eq(ts_store_load_one(rd, ID1, &t), 0);
	bx[0] = t->field[TS_F_SUBJECT];
	bx[1] = ts_ticket_find_msg(t, "m1")->box;
	for (int i = 0; i < 2; i++)
		ck_assert_ptr_nonnull(bufs[i] = malloc(bx[i].len));
	ck_assert_ptr_nonnull(again = malloc(bx[1].len));

	s0 = ts_store_statements(rd);
	ck_assert_int_eq(ts_store_read_boxes(rd, t, bx, 2, bufs), 0);
	ck_assert_uint_eq(ts_store_statements(rd), s0 + 1);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(ts_store_read_boxes(rd, t, bx, 2, bufs), 0);
	ck_assert_int_eq(ts_store_read_box(rd, ID1, &bx[1], again), 0);
	ck_assert_mem_eq(again, bufs[1], bx[1].len);
	check_boxes(rd, t);
	ck_assert_uint_eq(ts_store_statements(rd), s0 + 1);

	/* Another host moves the status: the row's version goes up. */
	x.t.status = TS_PROCESSING;
	x.t.processing_ms = T0 + 1;
	ck_assert_int_eq(ts_store_write(a, &x.t, NULL), 0);
	ck_assert_int_eq(ts_store_read_boxes(rd, t, bx, 2, bufs), 0);
	ck_assert_uint_eq(ts_store_statements(rd), s0 + 1);
	/* Seen here (the change notice's reload): read afresh, once. */
	ck_assert_int_eq(ts_store_load_one(rd, ID1, &t2), 0);
	ck_assert_int_eq(t2->status, TS_PROCESSING);
	s0 = ts_store_statements(rd);
	bx[0] = t2->field[TS_F_SUBJECT];
	bx[1] = ts_ticket_find_msg(t2, "m1")->box;
	ck_assert_int_eq(ts_store_read_boxes(rd, t2, bx, 2, bufs), 0);
	ck_assert_uint_eq(ts_store_statements(rd), s0 + 1);
	check_boxes(rd, t2);
	ck_assert_uint_eq(ts_store_statements(rd), s0 + 1);

	/* Removed here: nothing kept is served. */
	ck_assert_int_eq(ts_store_remove(rd, ID1), 0);
	s0 = ts_store_statements(rd);
	ck_assert_int_eq(ts_store_read_boxes(rd, t2, bx, 2, bufs), -ENOENT);
	ck_assert_int_eq(ts_store_read_box(rd, ID1, &bx[1], again), -ENOENT);
	ck_assert_uint_eq(ts_store_statements(rd), s0 + 2);

	for (int i = 0; i < 2; i++)
		free(bufs[i]);
	free(again);
	ts_ticket_free(t);
	ts_ticket_free(t2);
	built_release(&x);
	ts_store_close(rd);
	ts_store_close(a);
}
END_TEST

/*
 * The readers' pool: a handle made at the first need, none before; a
 * second only while the first is held; one waiting for a held one gets
 * it when it is given back.
 */
struct pool_wait {
	struct ts_pg_pool *p;
	struct ts_pg *got;
};

static void *
pool_taker(void *arg)
{
	struct pool_wait *w = arg;

	w->got = ts_pg_pool_get(w->p);
	return NULL;
}

START_TEST(reader_pool)
{
	struct ts_pg_pool *p;
	struct ts_pg *a, *b2;
	struct pool_wait w;
	pthread_t th;
	PGresult *r;

	ck_assert_int_eq(ts_pg_pool_new(uri, 2, &p), 0);
	ck_assert_uint_eq(ts_pg_pool_made(p), 0);
	ck_assert_ptr_nonnull(a = ts_pg_pool_get(p));
	ck_assert_int_eq(ts_pg_query(a, "SELECT 1", 0, NULL, NULL, NULL, 0,
	                             &r), 0);
	PQclear(r);
	ts_pg_pool_put(p, a);
	ck_assert_ptr_eq(ts_pg_pool_get(p), a);	/* the same, not a new one */
	ck_assert_uint_eq(ts_pg_pool_made(p), 1);
	ck_assert_ptr_nonnull(b2 = ts_pg_pool_get(p));
	ck_assert_ptr_ne(b2, a);
	ck_assert_uint_eq(ts_pg_pool_made(p), 2);
	/* Both held, at the most: a third caller waits for one. */
	w.p = p;
	w.got = NULL;
	ck_assert_int_eq(pthread_create(&th, NULL, pool_taker, &w), 0);
	usleep(100000);
	ck_assert_ptr_null(w.got);
	ts_pg_pool_put(p, b2);
	pthread_join(th, NULL);
	ck_assert_ptr_eq(w.got, b2);
	ck_assert_uint_eq(ts_pg_pool_made(p), 2);
	ts_pg_pool_put(p, a);
	ts_pg_pool_put(p, b2);
	ts_pg_pool_free(p);
}
END_TEST

/* ---- no plaintext in the database ---- */

/* 1 if the text needle is in pg_dump's output, as text or as the hex
 * that a bytea shows (\x...). */
static int
dump_has(const char *needle, int *has_hex)
{
	char cmd[700], hex[128], line[65536];
	size_t found = 0;
	FILE *p;

	sodium_bin2hex(hex, sizeof(hex), (const unsigned char *)needle,
	               strlen(needle));
	*has_hex = 0;
	snprintf(cmd, sizeof(cmd), "%s --data-only '%s'", PG_DUMP, uri);
	ck_assert_ptr_nonnull(p = popen(cmd, "r"));
	while (fgets(line, sizeof(line), p) != NULL) {
		found += strstr(line, needle) != NULL;
		*has_hex += strstr(line, hex) != NULL;
	}
	ck_assert_int_eq(pclose(p), 0);
	return found > 0;
}

START_TEST(pg_dump_no_canary)
{
	struct ts_store *st = create_open();
	struct built b;
	int hex;

	ck_assert_int_eq(access(PG_DUMP, X_OK), 0);
	build(&b, ID1);
	ck_assert_int_eq(ts_store_write(st, &b.t, b.extra), 0);
	built_clear_extra(&b);
	check_boxes(st, &b.t);	/* the canary is in there, sealed */
	ck_assert_int_eq(sql_num("SELECT count(*) FROM ts_tickets"), 1);
	/* The dump has the ticket (its id) ... */
	ck_assert_int_eq(dump_has(ID1, &hex), 1);
	/* ... and not the canary, as text or as bytea hex. */
	ck_assert_int_eq(dump_has(CANARY, &hex), 0);
	ck_assert_int_eq(hex, 0);
	/* The check would see one: a plaintext planted as bytea. */
	sql_do("INSERT INTO ts_meta VALUES ('probe', "
	       "encode('canary-7f3a9c2e51'::bytea, 'hex'))");
	ck_assert_int_eq(dump_has(CANARY, &hex), 0);
	ck_assert_int_eq(hex, 1);
	ts_store_close(st);
	built_release(&b);
}
END_TEST

/* ---- scale: a mount of 100,000 tickets ---- */

/* Counts the good tickets (no ck_assert here: each is a write to
 * Check's pipe, which would be most of what is measured). */
static int
on_count(void *arg, const char *id, struct ts_ticket *t, int err)
{
	size_t *n = arg;

	(void)id;
	if (t != NULL)
		ts_ticket_release(t);
	*n += err == 0;
	return 0;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

#define NBIG 100000
/* The goal (a mount of 100,000 tickets under a second) is the optimised
 * build's; a sanitizer or unoptimised build gets a bound of its own. */
#if defined(__SANITIZE_ADDRESS__) || !defined(__OPTIMIZE__)
#define LOAD_MAX_S 6.0
#else
#define LOAD_MAX_S 1.0
#endif

/* COPYs NBIG tickets (subject, username, a message; MAC'd with the
 * store's key) into ts_tickets. */
static void
plant_many(void)
{
	unsigned char mk[TS_RECORD_MACKEYBYTES];
	struct ts_pg *pg;
	PGconn *c;
	PGresult *r;
	char *line;

	ck_assert_int_eq(ts_record_mackey(key, mk), 0);
	ck_assert_int_eq(ts_pg_open(uri, &pg, NULL, 0), 0);
	ck_assert_int_eq(ts_pg_exec(pg, "SET statement_timeout = 0"), 0);
	ck_assert_ptr_nonnull(c = ts_pg_conn(pg));
	r = PQexec(c, "COPY ts_tickets (id, ver, rec) FROM STDIN");
	ck_assert_int_eq(PQresultStatus(r), PGRES_COPY_IN);
	PQclear(r);
	ck_assert_ptr_nonnull(line = malloc(1 << 16));
	for (int i = 0; i < NBIG; i++) {
		struct built b;
		uint8_t *rec;
		size_t len, at;

		build(&b, ID1);
		snprintf(b.t.id, sizeof(b.t.id), "20260101-000000-%06d-0001", i);
		for (int k = 0; k < TS_F_COUNT; k++)
			b.t.field[k].off &= ~TS_BOX_NEW;
		b.t.msg[0].box.off &= ~TS_BOX_NEW;
		ck_assert_int_eq(ts_record_encode(TS_REC_TICKET, &b.t, b.extra,
		                                  mk, &rec, &len), 0);
		at = (size_t)snprintf(line, 1 << 16, "%s\t1\t\\\\x", b.t.id);
		sodium_bin2hex(line + at, (1 << 16) - at, rec, len);
		at += 2 * len;
		line[at++] = '\n';
		ck_assert_int_eq(PQputCopyData(c, line, (int)at), 1);
		free(rec);
		built_release(&b);
	}
	ck_assert_int_eq(PQputCopyEnd(c, NULL), 1);
	r = PQgetResult(c);
	ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK, "%s",
	              PQerrorMessage(c));
	PQclear(r);
	free(line);
	ts_pg_close(pg);
	sodium_memzero(mk, sizeof(mk));
}

START_TEST(load_100k_under_1s)
{
	struct ts_store *st = create_open();
	double t0, dt;
	size_t n = 0;

	plant_many();
	sql_do("ANALYZE ts_tickets");
	t0 = now_s();
	ck_assert_int_eq(ts_store_load(st, on_count, &n), 0);
	dt = now_s() - t0;
	fprintf(stderr, "load of %d tickets: %.3f s\n", NBIG, dt);
	ck_assert_uint_eq(n, NBIG);
	ck_assert_msg(dt < LOAD_MAX_S, "load of %d tickets took %.3f s (at "
	              "most %.1f)", NBIG, dt, LOAD_MAX_S);
	ts_store_close(st);
}
END_TEST

/*
 * A write the database cannot make in time (another session holds the
 * row) fails -EIO within the statement deadline (10 s), never hangs, and
 * writes nothing; once the row is free the retried write succeeds.
 */
START_TEST(write_times_out_eio)
{
	struct ts_store *st = create_open();
	struct ts_pg *hold;
	struct ts_ticket *cur;
	struct built x;
	double t0, dt;
	size_t n = 0;

	build(&x, ID1);
	ck_assert_int_eq(ts_store_write(st, &x.t, x.extra), 0);
	built_clear_extra(&x);
	ck_assert_int_eq(ts_store_load(st, on_count, &n), 0);	/* a daemon's */
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(ts_pg_open(uri, &hold, NULL, 0), 0);
	ck_assert_int_eq(ts_pg_begin(hold), 0);
	ck_assert_int_eq(ts_pg_exec(hold, "SELECT 1 FROM ts_tickets FOR UPDATE"),
	                 0);
	x.t.status = TS_PROCESSING;
	t0 = now_s();
	ck_assert_int_eq(ts_store_write(st, &x.t, NULL), -EIO);
	dt = now_s() - t0;
	ck_assert_msg(dt < 12.0, "the write took %.1f s", dt);
	ts_pg_rollback(hold);
	ts_pg_close(hold);
	/* Its outcome unknown to the writer, the next write re-reads. */
	ck_assert_int_eq(ts_store_write(st, &x.t, NULL), -EAGAIN);
	ck_assert_int_eq(ts_store_load_one(st, ID1, &cur), 0);
	ck_assert_int_eq(cur->status, TS_OPEN);	/* nothing was written */
	cur->status = TS_PROCESSING;
	ck_assert_int_eq(ts_store_write(st, cur, NULL), 0);
	ts_ticket_free(cur);
	ts_store_close(st);
	built_release(&x);
}
END_TEST

static Suite *
store_pg_suite(void)
{
	Suite *s = suite_create("store_pg");
	TCase *cr = tcase_create("create_open");
	TCase *tk = tcase_create("tickets");
	TCase *big = tcase_create("scale");

	tcase_add_checked_fixture(cr, setup, teardown);
	tcase_add_test(cr, create_refuses_used_database);
	tcase_add_test(cr, open_needs_schema);
	tcase_add_test(cr, migrate_from_version_1);
	tcase_add_test(cr, host_lock);
	tcase_add_test(cr, host_lock_after_reconnect);
	suite_add_tcase(s, cr);

	tcase_add_checked_fixture(tk, setup, teardown);
	tcase_add_test(tk, write_load_read_remove);
	tcase_add_test(tk, changes_notified);
	tcase_add_test(tk, version_conflict);
	tcase_add_test(tk, planted_row_refused);
	tcase_add_test(tk, keys_round_trip);
	tcase_add_test(tk, read_boxes_one_statement);
	tcase_add_test(tk, records_kept);
	tcase_add_test(tk, reader_pool);
	tcase_add_test(tk, pg_dump_no_canary);
	suite_add_tcase(s, tk);

	tcase_add_checked_fixture(big, setup, teardown);
	tcase_set_timeout(big, 240);
	tcase_add_test(big, load_100k_under_1s);
	tcase_add_test(big, write_times_out_eio);
	suite_add_tcase(s, big);
	return s;
}

int
main(void)
{
	return ts_check_run(store_pg_suite());
}
