/*
 * pg_stats: what ticketctl stats reads of a PostgreSQL store besides its
 * tickets (store.h's ts_store_stats), in one statement: the counts of
 * ts_intake and ts_intake_rejected, ts_audit's size on disk (no row
 * read), and this host's checkpoint row with the time of the entry it
 * covers (one row by its key).  Reads only; no lock taken.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/audit_priv.h"
#include "store/pg_priv.h"

/* The host lock (store_pg.c's, PG_HOST_LOCK_KEY) among pg_locks' granted
 * advisory locks of this database: a one-int8 key shows as classid (its
 * high 32 bits) and objid (its low), objsubid 1. */
int
ts_pg_held(struct ts_store *st)
{
	const char *v[] = { ts_store_host(st) };
	PGresult *r;
	int rc;

	rc = pg_query_io(pg_of(st)->pg,
	        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
	        "AND granted AND objsubid = 1 AND database = (SELECT oid FROM "
	        "pg_database WHERE datname = current_database()) AND "
	        "((classid::int8 << 32) | objid::int8) = "
	        "(" PG_HOST_LOCK_KEY("$1") ")::int8",
	        1, v, NULL, NULL, 0, &r);
	if (rc < 0)
		return rc;
	rc = PQntuples(r) == 1 && strcmp(PQgetvalue(r, 0, 0), "0") != 0;
	PQclear(r);
	return rc;
}

int
ts_pg_stats(struct ts_store *st, struct ts_store_stats *out)
{
	struct pg_store *ps = pg_of(st);
	const char *v[] = { ts_store_host(st) };
	unsigned char hash[HASHBYTES];
	uint64_t seq;
	int64_t ms;
	PGresult *r;
	int rc;

	rc = pg_query_io(ps->pg,
	        "SELECT (SELECT count(*) FROM ts_intake), "
	        "(SELECT count(*) FROM ts_intake_rejected), "
	        "pg_total_relation_size('ts_audit'), c.seq, "
	        "(SELECT line FROM ts_audit a WHERE a.host = $1 AND "
	        "a.seq = c.seq), "
	        "(SELECT max(seq) FROM ts_audit WHERE host = $1) "
	        "FROM (SELECT 1) one LEFT JOIN ts_audit_checkpoint c "
	        "ON c.host = $1 AND c.kind = 'checkpoint'",
	        1, v, NULL, NULL, 0, &r);
	if (rc < 0)
		return rc;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return -EPROTO;
	}
	out->intake_waiting = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	out->intake_rejected = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
	out->trail_bytes = strtoull(PQgetvalue(r, 0, 2), NULL, 10);
	out->last_seq = strtoull(PQgetvalue(r, 0, 5), NULL, 10);	/* "" 0 */
	if (!PQgetisnull(r, 0, 3)) {
		out->checkpoint_seq = strtoull(PQgetvalue(r, 0, 3), NULL, 10);
		/* The entry it covers was pruned or is damaged: no time. */
		if (!PQgetisnull(r, 0, 4) &&
		    ts_audit_line_parse(PQgetvalue(r, 0, 4),
		                        (size_t)PQgetlength(r, 0, 4), &seq, hash,
		                        &ms) == 0 && seq == out->checkpoint_seq)
			out->checkpoint_ms = ms;
	}
	PQclear(r);
	return 0;
}
