/*
 * pg_grant: a role's privileges on a PostgreSQL store (contract in
 * pg_grant.h).  The daemon's privileges cover every ts_ table, sequence
 * and function of the store's schema as the catalogue lists them, so a
 * table a later schema version adds is covered without a change here; the
 * front end's are named one by one, and nothing else.
 */
#include "store/pg_grant.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_conn.h"

/* The store's own objects: ts_ names in the schema its tables are in. */
#define OWN_RELS \
	"SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) " \
	"FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace " \
	"WHERE c.relname LIKE 'ts\\_%' AND n.nspname = (SELECT n2.nspname " \
	"FROM pg_class c2 JOIN pg_namespace n2 ON n2.oid = c2.relnamespace " \
	"WHERE c2.oid = 'ts_tickets'::regclass) AND c.relkind = "
#define OWN_FUNCS \
	"SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.proname " \
	"LIKE 'ts\\_%' AND p.pronamespace = (SELECT relnamespace FROM " \
	"pg_class WHERE oid = 'ts_tickets'::regclass)"

struct grant {
	struct ts_pg *pg;
	char *qrole;		/* the role, quoted (PQescapeIdentifier) */
	char *err;
	size_t errlen;
};

static int
fail(struct grant *g, int rc, const char *what)
{
	if (rc == -EACCES)
		what = "the privileges were not granted: connect as the owner "
		       "of the store's tables";
	snprintf(g->err, g->errlen, "%s (%s)", what, ts_pg_error(g->pg));
	return rc;
}

/* Runs "PRE <object> POST role" for each object sql lists. */
static int
each(struct grant *g, const char *sql, const char *pre, const char *post)
{
	PGresult *res;
	char *stmt;
	int rc;

	if ((rc = ts_pg_query(g->pg, sql, 0, NULL, NULL, NULL, 0, &res)) < 0)
		return fail(g, rc, "cannot list the store's tables");
	for (int i = 0; i < PQntuples(res) && rc == 0; i++) {
		const char *obj = PQgetvalue(res, i, 0);
		size_t n = strlen(pre) + strlen(obj) + strlen(post) +
		           strlen(g->qrole) + 4;

		if ((stmt = malloc(n)) == NULL) {
			rc = -ENOMEM;
			snprintf(g->err, g->errlen, "out of memory");
			break;
		}
		snprintf(stmt, n, "%s %s %s %s", pre, obj, post, g->qrole);
		if ((rc = ts_pg_exec(g->pg, stmt)) < 0)
			fail(g, rc, "cannot grant");
		free(stmt);
	}
	PQclear(res);
	return rc;
}

/* Runs one statement "PRE OBJ POST role". */
static int
one(struct grant *g, const char *pre, const char *obj, const char *post)
{
	char stmt[512];
	int rc;

	if ((size_t)snprintf(stmt, sizeof(stmt), "%s %s %s %s", pre, obj, post,
	                     g->qrole) >= sizeof(stmt)) {
		snprintf(g->err, g->errlen, "role name too long");
		return -ENAMETOOLONG;
	}
	if ((rc = ts_pg_exec(g->pg, stmt)) < 0)
		return fail(g, rc, "cannot grant");
	return 0;
}

static int
revoke_all(struct grant *g)
{
	int rc;

	if ((rc = each(g, OWN_RELS "'r'", "REVOKE ALL ON TABLE", "FROM")) < 0 ||
	    (rc = each(g, OWN_RELS "'S'", "REVOKE ALL ON SEQUENCE",
	               "FROM")) < 0 ||
	    (rc = each(g, OWN_FUNCS, "REVOKE ALL ON FUNCTION", "FROM")) < 0)
		return rc;
	return 0;
}

static int
grant_frontend(struct grant *g)
{
	PGresult *res;
	char seq[256];
	int rc;

	rc = ts_pg_query(g->pg, "SELECT pg_get_serial_sequence('ts_intake', "
	                 "'seq')", 0, NULL, NULL, NULL, 0, &res);
	if (rc < 0)
		return fail(g, rc, "cannot find ts_intake's sequence");
	snprintf(seq, sizeof(seq), "%s", PQntuples(res) == 1 ?
	         PQgetvalue(res, 0, 0) : "");
	PQclear(res);
	if (seq[0] == '\0') {
		snprintf(g->err, g->errlen, "ts_intake has no sequence");
		return -EPROTO;
	}
	if ((rc = one(g, "GRANT INSERT ON TABLE", "ts_intake", "TO")) < 0 ||
	    (rc = one(g, "GRANT USAGE ON SEQUENCE", seq, "TO")) < 0 ||
	    (rc = one(g, "GRANT SELECT ON TABLE", "ts_public_key", "TO")) < 0 ||
	    (rc = one(g, "GRANT EXECUTE ON FUNCTION", "ts_ticket_known(text)",
	              "TO")) < 0)
		return rc;
	return 0;
}

static int
grant_daemon(struct grant *g)
{
	int rc;

	if ((rc = each(g, OWN_RELS "'r'", "GRANT SELECT, INSERT, UPDATE, "
	               "DELETE ON TABLE", "TO")) < 0 ||
	    (rc = each(g, OWN_RELS "'S'", "GRANT USAGE ON SEQUENCE",
	               "TO")) < 0 ||
	    (rc = each(g, OWN_FUNCS, "GRANT EXECUTE ON FUNCTION", "TO")) < 0)
		return rc;
	return 0;
}

/* The role exists and the database holds a ticketfs schema. */
static int
check(struct grant *g, const char *role)
{
	const char *v[1] = { role };
	PGresult *res;
	int rc, n;

	rc = ts_pg_query(g->pg, "SELECT 1 FROM pg_roles WHERE rolname = $1",
	                 1, v, NULL, NULL, 0, &res);
	if (rc < 0)
		return fail(g, rc, "cannot look the role up");
	n = PQntuples(res);
	PQclear(res);
	if (n != 1) {
		snprintf(g->err, g->errlen, "no role \"%s\" in the database "
		         "(CREATE ROLE it first)", role);
		return -ENOENT;
	}
	rc = ts_pg_query(g->pg, "SELECT to_regclass('ts_tickets') IS NOT NULL "
	                 "AND to_regclass('ts_intake') IS NOT NULL", 0, NULL,
	                 NULL, NULL, 0, &res);
	if (rc < 0)
		return fail(g, rc, "cannot read the schema");
	n = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	if (!n) {
		snprintf(g->err, g->errlen, "the database holds no ticketfs "
		         "store (ticketctl init it first)");
		return -ENOENT;
	}
	return 0;
}

/* The first column of sql's one row is "t"; 1, 0, or -errno. */
static int
is_true(struct grant *g, const char *sql, const char *role)
{
	const char *v[1] = { role };
	PGresult *res;
	int rc;

	if ((rc = ts_pg_query(g->pg, sql, 1, v, NULL, NULL, 0, &res)) < 0)
		return fail(g, rc, "cannot read the role's privileges");
	rc = PQntuples(res) == 1 && strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return rc;
}

/* A front end's role that is a superuser or owns the tables can do
 * anything: granting it "frontend" would be a lie. */
static int
check_frontend(struct grant *g, const char *role)
{
	int rc = is_true(g, "SELECT r.rolsuper OR pg_has_role(r.oid, "
	                 "c.relowner, 'USAGE') FROM pg_roles r, pg_class c "
	                 "WHERE r.rolname = $1 AND c.oid = "
	                 "'ts_tickets'::regclass", role);

	if (rc > 0) {
		snprintf(g->err, g->errlen, "role \"%s\" is a superuser or "
		         "owns the store's tables: it can read everything "
		         "whatever is granted; a front end needs a role of its "
		         "own", role);
		return -EINVAL;
	}
	return rc;
}

/* GRANT by a user who may not only warns: check it took. */
static int
check_granted(struct grant *g, const char *role, enum ts_pg_role kind)
{
	int rc = is_true(g, kind == TS_PG_FRONTEND ?
	                 "SELECT has_table_privilege($1, 'ts_intake', "
	                 "'INSERT') AND has_table_privilege($1, "
	                 "'ts_public_key', 'SELECT') AND "
	                 "has_function_privilege($1, "
	                 "'ts_ticket_known(text)', 'EXECUTE')" :
	                 "SELECT has_table_privilege($1, 'ts_tickets', "
	                 "'SELECT, INSERT, UPDATE, DELETE') AND "
	                 "has_table_privilege($1, 'ts_audit', 'INSERT')", role);

	if (rc == 0) {
		snprintf(g->err, g->errlen, "the privileges were not granted: "
		         "connect as the owner of the store's tables");
		return -EACCES;
	}
	return rc < 0 ? rc : 0;
}

int
ts_pg_grant(const char *uri, const char *role, enum ts_pg_role kind,
            char *err, size_t errlen)
{
	struct grant g = { .err = err, .errlen = errlen };
	PGconn *c;
	int rc;

	if ((rc = ts_pg_open(uri, &g.pg, err, errlen)) < 0)
		return rc;
	if ((rc = check(&g, role)) < 0 ||
	    (kind == TS_PG_FRONTEND && (rc = check_frontend(&g, role)) < 0))
		goto out;
	if ((c = ts_pg_conn(g.pg)) == NULL ||
	    (g.qrole = PQescapeIdentifier(c, role, strlen(role))) == NULL) {
		rc = fail(&g, -EPROTO, "cannot quote the role's name");
		goto out;
	}
	if ((rc = ts_pg_begin(g.pg)) < 0) {
		fail(&g, rc, "cannot begin");
		goto out;
	}
	rc = revoke_all(&g);
	if (rc == 0)
		rc = kind == TS_PG_FRONTEND ? grant_frontend(&g) :
		     grant_daemon(&g);
	if (rc < 0) {
		ts_pg_rollback(g.pg);
		goto out;
	}
	if ((rc = ts_pg_commit(g.pg)) < 0)
		fail(&g, rc, "cannot commit");
	else
		rc = check_granted(&g, role, kind);
out:
	PQfreemem(g.qrole);
	ts_pg_close(g.pg);
	return rc;
}
