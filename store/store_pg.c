/*
 * store_pg: the PostgreSQL backend: several daemons, on several hosts,
 * serve one store held in one database.  This file: create (the schema,
 * in one transaction, refusing a database that holds one), open (the
 * schema's version checked, older ones migrated by the steps below),
 * close, the host lock, the public key, the records' MAC key, and the ops
 * table, which names where each op lives (pg_tickets.c, pg_keys.c,
 * pg_intake.c, pg_audit.c; pg_priv.h the state).  A URI is never put in
 * a message: it may hold a password.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "pg_schema_sql.h"
#include "store/pg_audit.h"
#include "store/pg_priv.h"
#include "store/rekey_priv.h"
#include "store/record_write.h"

/* The schema version this code writes (store/pg_schema.sql's). */
#define PG_SCHEMA_VERSION 2

/*
 * Migrations: the SQL that takes a store of schema version `from` to
 * from + 1, run in order in one transaction by the first daemon that
 * opens an older store.  A new version adds its step here and its changes
 * to pg_schema.sql (which makes a new store at the latest version
 * directly; tests/test_store_pg.c checks that a migrated store's functions
 * are a new one's).
 *
 * 1 -> 2: ts_audit_append_batch(), a shipped batch of audit entries in one
 * call (store/pg_audit_ship.c).  A daemon of version 1 still running on
 * the store keeps appending with ts_audit_append(), which is unchanged.
 */
struct pg_migration {
	int from;
	const char *sql;
};
static const struct pg_migration migrations[] = {
	{ 1,
	  "CREATE FUNCTION ts_audit_append_batch(h text, s bigint, ls text[])\n"
	  "RETURNS bigint LANGUAGE plpgsql AS $$\n"
	  "DECLARE\n"
	  "\tn bigint;\n"
	  "\tlast bigint;\n"
	  "BEGIN\n"
	  "\tPERFORM pg_advisory_xact_lock(hashtext('ticketfs-audit-order'), 0);\n"
	  "\tPERFORM set_config('synchronous_commit', 'off', true);\n"
	  "\tSELECT max(seq) INTO last FROM ts_audit WHERE host = h;\n"
	  "\tIF last IS DISTINCT FROM s - 1 AND NOT (last IS NULL AND s = 1) THEN\n"
	  "\t\tRAISE EXCEPTION 'audit chain of host % ends at entry %, not %',\n"
	  "\t\t\th, last, s - 1 USING ERRCODE = 'data_corrupted';\n"
	  "\tEND IF;\n"
	  "\tINSERT INTO ts_audit (host, seq, line)\n"
	  "\t\tSELECT h, s + u.o - 1, u.l\n"
	  "\t\tFROM unnest(ls) WITH ORDINALITY AS u(l, o) ORDER BY u.o;\n"
	  "\tGET DIAGNOSTICS n = ROW_COUNT;\n"
	  "\tRETURN n;\n"
	  "END\n"
	  "$$;\n" },
	{ 0, NULL },	/* end */
};

static const struct ts_store_ops pg_ops;

static void __attribute__((format(printf, 3, 4)))
say(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* 1 if the database (its current schema) holds any ts_* relation or
 * function: not ours to create a store in. */
static int
has_ts_objects(struct ts_pg *pg)
{
	PGresult *r;
	int rc;

	rc = ts_pg_query(pg,
	    "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n "
	    "ON n.oid = c.relnamespace WHERE n.nspname = current_schema() "
	    "AND c.relname LIKE 'ts\\_%') + (SELECT count(*) FROM pg_proc p "
	    "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE "
	    "n.nspname = current_schema() AND p.proname LIKE 'ts\\_%')",
	    0, NULL, NULL, NULL, 0, &r);
	if (rc < 0)
		return rc;
	rc = strcmp(PQgetvalue(r, 0, 0), "0") != 0;
	PQclear(r);
	return rc;
}

/* Runs a script of several statements (PQexec) inside the caller's
 * transaction. */
static int
run_script(struct ts_pg *pg, const char *sql)
{
	PGconn *c = ts_pg_conn(pg);
	PGresult *r;
	int rc;

	if (c == NULL)
		return -EIO;
	r = PQexec(c, sql);
	if (r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK)
		rc = 0;
	else if (PQstatus(c) != CONNECTION_OK)
		rc = -EIO;
	else if (r != NULL && PQresultErrorField(r, PG_DIAG_SQLSTATE) != NULL &&
	         strcmp(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42501") == 0)
		rc = -EACCES;	/* e.g. no CREATE on schema public */
	else
		rc = -EPROTO;
	PQclear(r);
	return rc;
}

int
ts_store_pg_create(const char *uri, const unsigned char pk[TS_SEAL_PKBYTES],
                   const char *policy_text)
{
	struct ts_pg *pg;
	char *pktext = NULL;
	int rc;

	if ((rc = ts_pg_open(uri, &pg, NULL, 0)) < 0)
		return rc;
	if ((rc = ts_seal_pubkey_encode(pk, &pktext)) < 0)
		goto out;
	if ((rc = ts_pg_begin(pg)) < 0)
		goto out;
	/* Two inits of one database at once: the second finds the first's. */
	if ((rc = ts_pg_exec(pg, "SELECT pg_advisory_xact_lock("
	                     "hashtext('ticketfs:init'))")) < 0)
		goto out_rollback;
	if ((rc = has_ts_objects(pg)) != 0) {
		if (rc > 0)
			rc = -EEXIST;
		goto out_rollback;
	}
	if ((rc = run_script(pg, ts_pg_schema_sql)) < 0)
		goto out_rollback;
	{
		const char *v[] = { pktext, policy_text };

		if ((rc = ts_pg_query(pg, "INSERT INTO ts_public_key (pk) "
		                      "VALUES ($1)", 1, v, NULL, NULL, 0,
		                      NULL)) < 0 ||
		    (rc = ts_pg_query(pg, "INSERT INTO ts_meta (name, value) "
		                      "VALUES ('policy', $1)", 1, v + 1, NULL,
		                      NULL, 0, NULL)) < 0)
			goto out_rollback;
	}
	rc = ts_pg_commit(pg);
	goto out;
out_rollback:
	ts_pg_rollback(pg);
out:
	free(pktext);
	ts_pg_close(pg);
	return rc;
}

/* The number in the first row's first column of r. */
static int
int_of(PGresult *r, long *v)
{
	char *end;

	if (PQntuples(r) < 1 || PQgetisnull(r, 0, 0))
		return -EPROTO;
	*v = strtol(PQgetvalue(r, 0, 0), &end, 10);
	return *end == '\0' ? 0 : -EPROTO;
}

/* Runs the migration steps from version `from` up, in one transaction. */
static int
migrate(struct ts_pg *pg, char *err, size_t errlen)
{
	char num[16];
	PGresult *r;
	long from;
	int rc;

	if ((rc = ts_pg_begin(pg)) < 0)
		return rc;
	/* One daemon migrates; the others wait, then find it done. */
	if ((rc = ts_pg_query(pg, "SELECT version FROM ts_schema_version "
	                      "FOR UPDATE", 0, NULL, NULL, NULL, 0, &r)) < 0)
		goto out_rollback;
	rc = int_of(r, &from);
	PQclear(r);
	if (rc < 0)
		goto out_rollback;
	for (const struct pg_migration *m = migrations; m->sql != NULL; m++) {
		if (m->from != from)
			continue;	/* steps are in order: each from where the
					   last left it */
		if ((rc = run_script(pg, m->sql)) < 0) {
			/* The script's error is the connection's (PQexec), not
			 * a ts_pg_query's. */
			PGconn *c = ts_pg_conn(pg);
			const char *e = c ? PQerrorMessage(c) : "";
			size_t n = strcspn(e, "\n");

			say(err, errlen, "migrating the schema to version %d "
			    "failed: %.*s", m->from + 1, (int)n, e);
			goto out_rollback;
		}
		from = m->from + 1;
	}
	if (from != PG_SCHEMA_VERSION) {
		rc = -EPROTO;
		say(err, errlen, "%s", "no migration to the current schema");
		goto out_rollback;
	}
	snprintf(num, sizeof(num), "%d", PG_SCHEMA_VERSION);
	{
		const char *v[] = { num };

		if ((rc = ts_pg_query(pg, "UPDATE ts_schema_version SET "
		                      "version = $1", 1, v, NULL, NULL, 0,
		                      NULL)) < 0)
			goto out_rollback;
	}
	return ts_pg_commit(pg);
out_rollback:
	ts_pg_rollback(pg);
	return rc;
}

/* Checks (and in daemon mode brings up to date) the schema's version. */
static int
check_schema(struct pg_store *ps, char *err, size_t errlen)
{
	PGresult *r;
	long v = 0;
	int rc;

	rc = ts_pg_query(ps->pg, "SELECT to_regclass('ts_schema_version') "
	                 "IS NOT NULL", 0, NULL, NULL, NULL, 0, &r);
	if (rc < 0) {
		say(err, errlen, "%s", ts_pg_error(ps->pg));
		return rc;
	}
	rc = strcmp(PQgetvalue(r, 0, 0), "t") == 0 ? 0 : -ENOENT;
	PQclear(r);
	if (rc < 0) {
		say(err, errlen, "%s", "the database holds no ticketfs store "
		    "(no table ts_schema_version): make one with ticketctl "
		    "init URI KEYFILE");
		return rc;
	}
	rc = ts_pg_query(ps->pg, "SELECT ts_schema_version_get()", 0, NULL,
	                 NULL, NULL, 0, &r);
	if (rc == 0) {
		rc = int_of(r, &v);
		PQclear(r);
	}
	if (rc < 0) {
		say(err, errlen, "cannot read the schema's version: %s",
		    ts_pg_error(ps->pg));
		return rc;
	}
	if (v > PG_SCHEMA_VERSION) {
		say(err, errlen, "the database's schema is version %ld, newer "
		    "than this ticketfs knows (%d): upgrade ticketfs", v,
		    PG_SCHEMA_VERSION);
		return -EPROTO;
	}
	if (v < 1) {
		say(err, errlen, "%s", "the database's schema version is not "
		    "a version");
		return -EPROTO;
	}
	if (v == PG_SCHEMA_VERSION)
		return 0;
	if (ps->mode != TS_STORE_DAEMON) {
		say(err, errlen, "%s", "the database's schema is older than "
		    "this ticketfs: start a daemon on it first (it migrates)");
		return -EPROTO;
	}
	return migrate(ps->pg, err, errlen);
}

int
ts_store_pg_open(const char *uri, enum ts_store_mode mode,
                 struct ts_store **out, char *err, size_t errlen)
{
	struct pg_store *ps = calloc(1, sizeof(*ps));
	char msg[256];
	int rc;

	if (ps == NULL)
		return -ENOMEM;
	ps->base.ops = &pg_ops;
	ps->mode = mode;
	if ((ps->uri = strdup(uri)) == NULL) {
		rc = -ENOMEM;
		goto out_free;
	}
	if ((rc = ts_pg_open(uri, &ps->pg, msg, sizeof(msg))) < 0) {
		say(err, errlen, "cannot connect: %s", msg);
		goto out_free;
	}
	if ((rc = check_schema(ps, err, errlen)) < 0 ||
	    (rc = ts_pg_tickets_init(ps)) < 0 ||
	    (rc = ts_pg_pool_new(uri, PG_READERS, &ps->readers)) < 0 ||
	    (mode == TS_STORE_DAEMON && (rc = ts_pg_reccache_init(ps)) < 0))
		goto out_close;
	*out = &ps->base;
	return 0;
out_close:
	ts_pg_pool_free(ps->readers);
	ts_pg_tickets_free(ps);
	ts_pg_close(ps->pg);
out_free:
	free(ps->uri);
	free(ps);
	return rc;
}

static void
pg_close(struct ts_store *st)
{
	struct pg_store *ps = pg_of(st);

	ts_pg_reccache_free(ps);
	ts_pg_tickets_free(ps);
	ts_pg_intake_free(ps);
	pg_changes_free(ps);
	ts_pg_pool_free(ps->readers);
	/* The host lock goes with the connection: after the last write. */
	ts_pg_close(ps->pg);
	sodium_free(ps->reckey);
	free(ps->uri);
	free(ps);
}

/* pg_try_advisory_lock on the host's name (pg_unlock too): 1 taken, 0
 * held by another session, or -errno. */
static int
try_host_lock(struct pg_store *ps, int unlock)
{
	const char *v[] = { ts_store_host(&ps->base) };
	PGresult *r;
	int rc;

	rc = ts_pg_query(ps->pg, unlock ?
	                 "SELECT pg_advisory_unlock(" PG_HOST_LOCK_KEY("$1") ")" :
	                 "SELECT pg_try_advisory_lock(" PG_HOST_LOCK_KEY("$1") ")",
	                 1, v, NULL, NULL, 0, &r);
	if (rc < 0)
		return rc;
	rc = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return rc;
}

static int
pg_lock(struct ts_store *st)
{
	struct pg_store *ps = pg_of(st);
	int rc;

	if (ps->locked)
		return 0;
	if ((rc = try_host_lock(ps, 0)) < 0)
		return rc;
	if (rc == 0)
		return -EBUSY;	/* another daemon named HOST holds this store */
	ps->locked = 1;
	ps->lock_gen = ts_pg_generation(ps->pg);
	/* Intake this host name claimed before (a killed daemon of this
	 * name) is nobody's now: offered again at once, not after the
	 * claims' 60 s.  Failing that, the claims age out. */
	(void)ts_pg_intake_release_host(ps);
	return 0;
}

/* After a reconnect the lock is gone with the old session: take it again
 * before writing.  -EIO if another daemon took this host's name meanwhile
 * (each write fails so until it lets go). */
static int
relock(struct pg_store *ps)
{
	int rc;

	if (!ps->locked)
		return 0;
	/* A connection found broken is made again here, not by the write's
	 * own statement: the write never runs on a session without it. */
	ts_pg_conn(ps->pg);
	if (ps->lock_gen == ts_pg_generation(ps->pg))
		return 0;
	if ((rc = try_host_lock(ps, 0)) < 0)
		return rc;
	if (rc == 0)
		return -EIO;
	ps->lock_gen = ts_pg_generation(ps->pg);
	return 0;
}

/* No round trip: the connection made again if it was found lost (at most
 * one try a TS_PG_RETRY_MS), and the host lock with it. */
static int
pg_reachable(struct ts_store *st)
{
	struct pg_store *ps = pg_of(st);

	if (ts_pg_conn(ps->pg) == NULL)
		return -EIO;
	return relock(ps);
}

static int
pg_wait_released(struct ts_store *st, long timeout_ms)
{
	struct pg_store *ps = pg_of(st);
	struct timespec tick = { 0, 50 * 1000000L };
	long waited = 0;
	int rc;

	/* The lock is free when this session can take it; drop it at once. */
	while ((rc = try_host_lock(ps, 0)) == 0) {
		if (timeout_ms >= 0 && waited >= timeout_ms)
			return -ETIMEDOUT;
		nanosleep(&tick, NULL);
		waited += 50;
	}
	if (rc < 0)
		return rc;
	if (!ps->locked)
		try_host_lock(ps, 1);
	return 0;
}

static int
pg_pubkey(struct ts_store *st, unsigned char pk[TS_SEAL_PKBYTES])
{
	struct pg_store *ps = pg_of(st);
	PGresult *r;
	int rc;

	rc = ts_pg_query(ps->pg, "SELECT pk FROM ts_public_key", 0, NULL,
	                 NULL, NULL, 0, &r);
	if (rc < 0)
		return rc;
	if (PQntuples(r) != 1)
		rc = -EBADMSG;
	else
		rc = ts_seal_pubkey_decode(PQgetvalue(r, 0, 0),
		                           (size_t)PQgetlength(r, 0, 0), pk);
	PQclear(r);
	return rc;
}

static int
pg_set_key(struct ts_store *st, const struct ts_seckey *key)
{
	struct pg_store *ps = pg_of(st);
	unsigned char *k = ps->reckey;
	int rc;

	if (k == NULL && (k = sodium_malloc(TS_RECORD_MACKEYBYTES)) == NULL)
		return -ENOMEM;
	if ((rc = ts_record_mackey(key, k)) < 0) {
		sodium_free(k);
		ps->reckey = NULL;
		return rc;
	}
	ps->reckey = k;
	return 0;
}

/* No snapshot: load reads every row in one query. */
static int
pg_snapshot_save(struct ts_store *st, const struct ts_ticket *const *t,
                 size_t n)
{
	(void)st;
	(void)t;
	(void)n;
	return 0;
}

static void
pg_snapshot_info(struct ts_store *st, struct ts_store_snapinfo *out)
{
	(void)st;
	memset(out, 0, sizeof(*out));
	snprintf(out->why, sizeof(out->why), "no snapshot (shared store)");
}

static int
pg_write(struct ts_store *st, struct ts_ticket *t, const uint8_t *extra)
{
	int rc = relock(pg_of(st));

	return rc < 0 ? rc : ts_pg_write(st, t, extra);
}

static int
pg_remove(struct ts_store *st, const char *id)
{
	int rc = relock(pg_of(st));

	return rc < 0 ? rc : ts_pg_remove(st, id);
}

/* Intake claims rows in the name of the host lock (pg_intake.c: a claim
 * whose host holds no lock is a dead daemon's): taken again first after a
 * reconnect. */
static int
pg_intake_poll(struct ts_store *st, ts_store_intake_fn fn, void *arg,
               int *more)
{
	struct pg_store *ps = pg_of(st);
	int rc = ps->mode != TS_STORE_DAEMON ? -EPERM :
	         !ps->locked ? -ENOLCK : relock(ps);

	if (rc < 0) {
		*more = 0;
		return rc;
	}
	return ts_pg_intake_poll(st, fn, arg, more);
}

static int
pg_known(struct ts_store *st, const char *id)
{
	if (pg_of(st)->mode == TS_STORE_INTAKE)
		return ts_pg_intake_ticket_known(st, id);
	return pg_ticket_known(st, id);
}

static int
pg_audit_open(struct ts_store *st, const struct ts_seckey *key,
              size_t segment_max, struct ts_audit **out)
{
	return ts_pg_audit_open(pg_of(st)->uri, ts_store_host(st), key,
	                        segment_max, out);
}

static int
pg_audit_verify(struct ts_store *st, const unsigned char *vk,
                const struct ts_audit_checkpoint *copy, char *msg,
                size_t msglen, uint64_t *entries)
{
	return ts_pg_audit_verify_progress(pg_of(st)->uri, vk, copy, msg,
	                                   msglen, entries, st->progress,
	                                   st->progress_arg);
}

/* The daemon's load (the host lock held): the listener of other hosts'
 * changes starts first, so that none made after the load is missed
 * (pg_changes.c). */
static int
pg_load(struct ts_store *st, ts_store_ticket_fn fn, void *arg)
{
	struct pg_store *ps = pg_of(st);
	int rc;

	if (ps->locked && (rc = pg_changes_start(ps)) < 0)
		return rc;
	return ts_pg_load(st, fn, arg);
}

/* Statements on the tickets' connections: the main one and the readers'
 * (not the audit trail's, nor the change listener's). */
static unsigned long long
pg_statements(struct ts_store *st)
{
	struct pg_store *ps = pg_of(st);

	return ts_pg_statements(ps->pg) + ts_pg_pool_statements(ps->readers);
}

static const struct ts_store_ops pg_ops = {
	.close = pg_close,
	.lock = pg_lock,
	.wait_released = pg_wait_released,
	.pubkey = pg_pubkey,
	.load = pg_load,
	.set_key = pg_set_key,
	.snapshot_save = pg_snapshot_save,
	.snapshot_info = pg_snapshot_info,
	.read_box = ts_pg_read_box,
	.read_boxes = ts_pg_read_boxes,
	.write = pg_write,
	.remove = pg_remove,
	.intake_poll = pg_intake_poll,
	.intake_begin = ts_pg_intake_begin,
	.intake_add = ts_pg_intake_add,
	.intake_commit = ts_pg_intake_commit,
	.intake_abort = ts_pg_intake_abort,
	.ticket_known = pg_known,
	.read_record = ts_pg_read_record,
	.list = ts_pg_list,
	.audit_open = pg_audit_open,
	.audit_verify = pg_audit_verify,
	.key_get = ts_pg_key_get,
	.key_put = ts_pg_key_put,
	.key_promote = ts_pg_key_promote,
	.key_del = ts_pg_key_del,
	.key_list = ts_pg_key_list,
	.shared = 1,
	.load_one = ts_pg_load_one,
	.changes_fd = pg_changes_fd,
	.changes = pg_changes,
	.read_for_write = ts_pg_read_for_write,
	.policy_get = ts_pg_policy_get,		/* pg_meta.c */
	.policy_set = ts_pg_policy_set,
	.policy_version = ts_pg_policy_version,
	.reachable = pg_reachable,
	.stats = ts_pg_stats,
	.held = ts_pg_held,
	.statements = pg_statements,
	.rekey = &ts_pg_rekey_ops,
};
