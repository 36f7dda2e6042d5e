/*
 * pg_migrate: a PostgreSQL store's rows written as they are, for
 * store/migrate.c (contract in store/migrate_priv.h).  Each insert is
 * keyed as the table is (a ticket by id, a key by (id, next), an audit
 * entry by (host, seq), a checkpoint by (host, kind)) and does nothing if
 * the row is there: a migration killed part way is run again and goes on
 * where it stopped.  Its own connection (store/pg_conn.h); no statement
 * logs its data.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/migrate_priv.h"
#include "store/pg_conn.h"

struct ts_pg_mig {
	struct ts_pg *pg;
};

int
ts_pg_mig_open(const char *uri, struct ts_pg_mig **out, char *err,
               size_t errlen)
{
	struct ts_pg_mig *m = calloc(1, sizeof(*m));
	int rc;

	if (m == NULL)
		return -ENOMEM;
	if ((rc = ts_pg_open(uri, &m->pg, err, errlen)) < 0) {
		free(m);
		return rc;
	}
	*out = m;
	return 0;
}

void
ts_pg_mig_close(struct ts_pg_mig *m)
{
	if (m == NULL)
		return;
	ts_pg_close(m->pg);
	free(m);
}

const char *
ts_pg_mig_error(struct ts_pg_mig *m)
{
	return ts_pg_error(m->pg);
}

/* One value of a one-row, one-column query, malloc'd; -ENOENT if no row. */
static int
scalar(struct ts_pg_mig *m, const char *sql, int n, const char *const *v,
       char **out)
{
	PGresult *res;
	int rc;

	if ((rc = ts_pg_query(m->pg, sql, n, v, NULL, NULL, 0, &res)) < 0)
		return rc;
	if (PQntuples(res) < 1 || PQgetisnull(res, 0, 0)) {
		PQclear(res);
		return -ENOENT;
	}
	*out = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return *out ? 0 : -ENOMEM;
}

int
ts_pg_mig_has_schema(struct ts_pg_mig *m)
{
	char *v;
	int rc;

	rc = scalar(m, "SELECT to_regclass('ts_schema_version') IS NOT NULL",
	            0, NULL, &v);
	if (rc < 0)
		return rc;
	rc = strcmp(v, "t") == 0;
	free(v);
	return rc;
}

int
ts_pg_mig_pubkey(struct ts_pg_mig *m, char **text)
{
	return scalar(m, "SELECT pk FROM ts_public_key LIMIT 1", 0, NULL, text);
}

int
ts_pg_mig_ticket_ids(struct ts_pg_mig *m, char ***ids, size_t *n)
{
	PGresult *res;
	char **v;
	int rc, rows;

	rc = ts_pg_query(m->pg, "SELECT id FROM ts_tickets ORDER BY id "
	                 "COLLATE \"C\"", 0, NULL, NULL, NULL, 0, &res);
	if (rc < 0)
		return rc;
	rows = PQntuples(res);
	if ((v = calloc((size_t)rows + 1, sizeof(*v))) == NULL) {
		PQclear(res);
		return -ENOMEM;
	}
	for (int i = 0; i < rows; i++) {
		if ((v[i] = strdup(PQgetvalue(res, i, 0))) == NULL) {
			while (i-- > 0)
				free(v[i]);
			free(v);
			PQclear(res);
			return -ENOMEM;
		}
	}
	PQclear(res);
	*ids = v;
	*n = (size_t)rows;
	return 0;
}

int
ts_pg_mig_begin(struct ts_pg_mig *m)
{
	return ts_pg_begin(m->pg);
}

int
ts_pg_mig_commit(struct ts_pg_mig *m)
{
	return ts_pg_commit(m->pg);
}

void
ts_pg_mig_rollback(struct ts_pg_mig *m)
{
	ts_pg_rollback(m->pg);
}

/* Runs sql with text parameters t[0..nt) then binary b (blen bytes):
 * how many rows it wrote (an insert skipped on conflict: 0). */
static int
run(struct ts_pg_mig *m, const char *sql, int nt, const char *const *t,
    const uint8_t *b, size_t blen)
{
	const char *v[8];
	int len[8] = { 0 }, fmt[8] = { 0 };
	PGresult *res;
	int rc;

	for (int i = 0; i < nt; i++)
		v[i] = t[i];
	if (b != NULL) {
		if (blen > INT32_MAX)
			return -EFBIG;
		v[nt] = (const char *)b;
		len[nt] = (int)blen;
		fmt[nt] = 1;
		nt++;
	}
	if ((rc = ts_pg_query(m->pg, sql, nt, v, len, fmt, 0, &res)) < 0)
		return rc;
	rc = atoi(PQcmdTuples(res));
	PQclear(res);
	return rc;
}

int
ts_pg_mig_ticket(struct ts_pg_mig *m, const char *id, const uint8_t *rec,
                 size_t len)
{
	const char *t[1] = { id };

	return run(m, "INSERT INTO ts_tickets (id, ver, rec) VALUES ($1, 1, "
	           "$2) ON CONFLICT (id) DO NOTHING", 1, t, rec, len);
}

int
ts_pg_mig_key(struct ts_pg_mig *m, const char *id, int next,
              const uint8_t *key, size_t len)
{
	const char *t[2] = { id, next ? "t" : "f" };

	return run(m, "INSERT INTO ts_ticket_keys (id, next, key) VALUES ($1, "
	           "$2, $3) ON CONFLICT (id, next) DO NOTHING", 2, t, key, len);
}

int
ts_pg_mig_audit_line(struct ts_pg_mig *m, const char *host, uint64_t seq,
                     const char *line, size_t len)
{
	char s[24], *l = malloc(len + 1);
	const char *t[3] = { host, s, l };
	int rc;

	if (l == NULL)
		return -ENOMEM;
	memcpy(l, line, len);
	l[len] = '\0';
	snprintf(s, sizeof(s), "%" PRIu64, seq);
	rc = run(m, "INSERT INTO ts_audit (host, seq, line) VALUES ($1, $2, "
	         "$3) ON CONFLICT (host, seq) DO NOTHING", 3, t, NULL, 0);
	free(l);
	return rc;
}

int
ts_pg_mig_seal(struct ts_pg_mig *m, const char *host, const char *seals,
               uint64_t epoch, const char *line, size_t len)
{
	char e[24], *l = malloc(len + 1);
	const char *t[4] = { host, seals, e, l };
	int rc;

	if (l == NULL)
		return -ENOMEM;
	memcpy(l, line, len);
	l[len] = '\0';
	snprintf(e, sizeof(e), "%" PRIu64, epoch);
	rc = run(m, "INSERT INTO ts_audit_seals (host, seals, epoch, line) "
	         "VALUES ($1, $2, $3, $4) ON CONFLICT (host, seals, epoch) DO "
	         "NOTHING", 4, t, NULL, 0);
	free(l);
	return rc;
}

int
ts_pg_mig_audit_mark(struct ts_pg_mig *m, const char *host, const char *kind,
                     const struct ts_audit_checkpoint *cp)
{
	const char *v[5];
	int len[5] = { 0 }, fmt[5] = { 0 };
	char s[24];

	snprintf(s, sizeof(s), "%" PRIu64, cp->seq);
	v[0] = host;
	v[1] = kind;
	v[2] = s;
	v[3] = (const char *)cp->hash;
	len[3] = sizeof(cp->hash);
	fmt[3] = 1;
	v[4] = (const char *)cp->sig;
	len[4] = sizeof(cp->sig);
	fmt[4] = 1;
	return ts_pg_query(m->pg, "INSERT INTO ts_audit_checkpoint (host, "
	                   "kind, seq, hash, sig) VALUES ($1, $2, $3, $4, $5) "
	                   "ON CONFLICT (host, kind) DO NOTHING", 5, v, len,
	                   fmt, 0, NULL);
}

int
ts_pg_mig_in_use(struct ts_pg_mig *m)
{
	uint64_t n;
	int rc;

	/* A daemon holds its host's advisory lock as long as it runs
	 * (store_pg.c; a one-key lock: objsubid 1); the audit's ordering
	 * lock, two keys, is held for a statement. */
	rc = ts_pg_mig_count(m, "SELECT count(*) FROM pg_locks WHERE locktype "
	                     "= 'advisory' AND objsubid = 1 AND granted AND "
	                     "pid <> "
	                     "pg_backend_pid() AND database = (SELECT oid FROM "
	                     "pg_database WHERE datname = current_database())",
	                     NULL, &n);
	return rc < 0 ? rc : n > 0;
}

int
ts_pg_mig_policy(struct ts_pg_mig *m, const char *text, size_t len)
{
	char *copy;
	int rc;

	if (memchr(text, '\0', len) != NULL)
		return -EINVAL;
	if ((copy = malloc(len + 1)) == NULL)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	rc = ts_pg_mig_meta_set(m, "policy", copy);
	free(copy);
	return rc;
}

int
ts_pg_mig_intake(struct ts_pg_mig *m, int kind, const char *id,
                 const uint8_t *rec, size_t len)
{
	char k[8];
	const char *t[2] = { k, id };

	snprintf(k, sizeof(k), "%d", kind);
	return run(m, "INSERT INTO ts_intake (kind, id, rec) VALUES ($1, $2, "
	           "$3)", 2, t, rec, len);
}

int
ts_pg_mig_rejected(struct ts_pg_mig *m, int kind, const char *id,
                   const uint8_t *rec, size_t len, const char *why)
{
	char k[8];
	const char *t[3] = { k, id, why };

	snprintf(k, sizeof(k), "%d", kind);
	/* Numbered from the intake's sequence, as the daemons number theirs. */
	return run(m, "INSERT INTO ts_intake_rejected (seq, kind, id, at, why, "
	           "rec) VALUES (nextval(pg_get_serial_sequence('ts_intake', "
	           "'seq')), $1, $2, now(), $3, $4)", 3, t, rec, len);
}

int
ts_pg_mig_meta_get(struct ts_pg_mig *m, const char *name, char **value)
{
	const char *t[1] = { name };

	return scalar(m, "SELECT value FROM ts_meta WHERE name = $1", 1, t,
	              value);
}

int
ts_pg_mig_meta_set(struct ts_pg_mig *m, const char *name, const char *value)
{
	const char *t[2] = { name, value };

	int rc = run(m, "INSERT INTO ts_meta (name, value) VALUES ($1, $2) ON "
	             "CONFLICT (name) DO UPDATE SET value = EXCLUDED.value", 2,
	             t, NULL, 0);

	return rc < 0 ? rc : 0;
}

int
ts_pg_mig_meta_del(struct ts_pg_mig *m, const char *name)
{
	const char *t[1] = { name };
	int rc = run(m, "DELETE FROM ts_meta WHERE name = $1", 1, t, NULL, 0);

	return rc < 0 ? rc : 0;
}

int
ts_pg_mig_count(struct ts_pg_mig *m, const char *sql, const char *arg,
                uint64_t *n)
{
	const char *t[1] = { arg };
	char *v;
	int rc;

	if ((rc = scalar(m, sql, arg ? 1 : 0, t, &v)) < 0)
		return rc;
	*n = strtoull(v, NULL, 10);
	free(v);
	return 0;
}
