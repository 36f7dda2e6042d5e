/*
 * pg_keys: a PostgreSQL store's ticket keys, one row of ts_ticket_keys
 * (id, next, key, at) for each key file a directory store's keys/ would
 * hold (key: the same bytes, store/tkey.h), apart from the records so
 * that they can be backed up apart.
 *
 * Several hosts share the table, so two things differ from keys/:
 *   - a next key (a rekey under way) is put only if there is none, or the
 *     one there is over PG_KEY_YOUNG old (a dead host's): two hosts
 *     rekeying one ticket at once would otherwise overwrite each other's
 *     next key, and the winner's record would name a key that is gone.
 *     The loser gets -EAGAIN (its write fails so, and is retried).
 *   - key_list leaves out keys put in the last PG_KEY_YOUNG: the load's
 *     clean-up (store/shred.c) deletes keys without a ticket and next keys
 *     the record does not name, and another host may be between putting
 *     a key and writing its record.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_priv.h"

#define PG_KEY_YOUNG "interval '60 seconds'"


int
ts_pg_key_get(struct ts_store *st, const char *id, int next, uint8_t **buf,
              size_t *len)
{
	const char *v[] = { id, next ? "t" : "f" };
	PGresult *r;
	int rc;

	if (!ts_id_valid(id))
		return -ENOENT;
	rc = pg_query_io(pg_of(st)->pg, "SELECT key FROM ts_ticket_keys WHERE "
	                 "id = $1 AND next = $2", 2, v, NULL, NULL, 1, &r);
	if (rc < 0)
		return rc;
	if (PQntuples(r) != 1) {
		rc = -ENOENT;
		goto out;
	}
	*len = (size_t)PQgetlength(r, 0, 0);
	if ((*buf = malloc(*len ? *len : 1)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(*buf, PQgetvalue(r, 0, 0), *len);
out:
	PQclear(r);
	return rc;
}

int
ts_pg_key_put(struct ts_store *st, const char *id, int next,
              const uint8_t *buf, size_t len)
{
	const char *v[] = { id, (const char *)buf };
	int lens[] = { 0, (int)len };
	int fmt[] = { 0, 1 };
	PGresult *r;
	int rc;

	if (!ts_id_valid(id))
		return -EINVAL;
	rc = pg_query_io(pg_of(st)->pg, next ?
	    "INSERT INTO ts_ticket_keys (id, next, key) VALUES ($1, true, $2) "
	    "ON CONFLICT (id, next) DO UPDATE SET key = EXCLUDED.key, "
	    "at = now() WHERE ts_ticket_keys.at < now() - " PG_KEY_YOUNG :
	    "INSERT INTO ts_ticket_keys (id, next, key) VALUES ($1, false, $2) "
	    "ON CONFLICT (id, next) DO UPDATE SET key = EXCLUDED.key, "
	    "at = now()", 2, v, lens, fmt, 0, &r);
	ts_pg_reccache_drop(pg_of(st), id);	/* its key row offered no more */
	if (rc < 0)
		return rc;
	rc = strcmp(PQcmdTuples(r), "0") == 0 ? -EAGAIN : 0;
	PQclear(r);
	return rc;
}

int
ts_pg_key_promote(struct ts_store *st, const char *id)
{
	struct ts_pg *pg = pg_of(st)->pg;
	const char *v[] = { id };
	PGresult *r;
	int rc;

	if (!ts_id_valid(id))
		return -ENOENT;
	if ((rc = ts_pg_begin(pg)) < 0)
		return rc;
	if ((rc = pg_query_io(pg, "DELETE FROM ts_ticket_keys WHERE id = $1 "
	                      "AND NOT next AND EXISTS (SELECT 1 FROM "
	                      "ts_ticket_keys WHERE id = $1 AND next)", 1, v,
	                      NULL, NULL, 0, NULL)) < 0 ||
	    (rc = pg_query_io(pg, "UPDATE ts_ticket_keys SET next = false, "
	                      "at = now() WHERE id = $1 AND next", 1, v, NULL,
	                      NULL, 0, &r)) < 0)
		goto out_rollback;
	rc = strcmp(PQcmdTuples(r), "0") == 0 ? -ENOENT : 0;
	PQclear(r);
	if (rc < 0)
		goto out_rollback;
	rc = ts_pg_commit(pg);
	ts_pg_reccache_drop(pg_of(st), id);
	return rc;
out_rollback:
	ts_pg_rollback(pg);
	return rc;
}

int
ts_pg_key_del(struct ts_store *st, const char *id, int what)
{
	const char *v[] = { id, (what & TS_KEY_NEXT) ? "t" : "f",
	                    (what & TS_KEY_CURRENT) ? "t" : "f" };

	int rc;

	if (!ts_id_valid(id))
		return 0;
	rc = pg_query_io(pg_of(st)->pg, "DELETE FROM ts_ticket_keys WHERE "
	                 "id = $1 AND ((next AND $2::boolean) OR (NOT next "
	                 "AND $3::boolean))", 3, v, NULL, NULL, 0, NULL);
	ts_pg_reccache_drop(pg_of(st), id);	/* a shredded key: wiped here */
	return rc;
}

int
ts_pg_key_list(struct ts_store *st,
               int (*fn)(void *arg, const char *id, int next), void *arg)
{
	PGresult *r;
	int rc, n;

	rc = pg_query_io(pg_of(st)->pg, "SELECT id, next FROM ts_ticket_keys "
	                 "WHERE at < now() - " PG_KEY_YOUNG, 0, NULL, NULL,
	                 NULL, 0, &r);
	if (rc < 0)
		return rc;
	n = PQntuples(r);
	for (int i = 0; i < n && rc == 0; i++)
		if (ts_id_valid(PQgetvalue(r, i, 0)))
			rc = fn(arg, PQgetvalue(r, i, 0),
			        strcmp(PQgetvalue(r, i, 1), "t") == 0);
	PQclear(r);
	return rc;
}
