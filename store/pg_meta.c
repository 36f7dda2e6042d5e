/*
 * pg_meta: the PostgreSQL backend's store-wide settings: the retention
 * policy, row 'policy' of ts_meta (the text a directory store's
 * STORE/policy holds).  Set in one statement (an upsert: atomic, durable
 * at its commit).  Its version is the first 64 bits of the md5 of the
 * text, computed by the server: one one-row query, and it changes exactly
 * when the text does, however it was changed (ticketctl policy, or an
 * UPDATE by hand), so no counter can fall out of step with the text.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_priv.h"

int
ts_pg_policy_get(struct ts_store *st, char **text, size_t *len)
{
	PGresult *res;
	size_t n;
	char *t;
	int rc;

	char max[24];
	const char *v[1] = { max };

	/* A row set by hand may be any size: over the cap, not fetched. */
	snprintf(max, sizeof(max), "%u", TS_POLICY_MAX);
	rc = ts_pg_query(pg_of(st)->pg, "SELECT CASE WHEN octet_length(value) "
	                 "<= $1::integer THEN value END FROM ts_meta WHERE "
	                 "name = 'policy'", 1, v, NULL, NULL, 0, &res);
	if (rc < 0)
		return rc;
	if (PQntuples(res) != 1) {
		PQclear(res);
		return -ENOENT;
	}
	if (PQgetisnull(res, 0, 0)) {
		PQclear(res);
		return -EFBIG;
	}
	n = (size_t)PQgetlength(res, 0, 0);
	if ((t = malloc(n + 1)) == NULL) {
		PQclear(res);
		return -ENOMEM;
	}
	memcpy(t, PQgetvalue(res, 0, 0), n);
	t[n] = '\0';
	PQclear(res);
	*text = t;
	*len = n;
	return 0;
}

int
ts_pg_policy_set(struct ts_store *st, const char *text, size_t len)
{
	const char *v[1];
	char *copy;
	int rc;

	if (len > TS_POLICY_MAX)
		return -EFBIG;
	/* A text parameter ends at its NUL: one inside would cut it. */
	if (memchr(text, '\0', len) != NULL)
		return -EINVAL;
	if ((copy = malloc(len + 1)) == NULL)
		return -ENOMEM;
	memcpy(copy, text, len);
	copy[len] = '\0';
	v[0] = copy;
	rc = ts_pg_query(pg_of(st)->pg, "INSERT INTO ts_meta (name, value) "
	                 "VALUES ('policy', $1) ON CONFLICT (name) DO UPDATE "
	                 "SET value = EXCLUDED.value", 1, v, NULL, NULL, 0,
	                 NULL);
	free(copy);
	return rc;
}

int
ts_pg_policy_version(struct ts_store *st, uint64_t *version)
{
	PGresult *res;
	uint64_t v = 0;
	const char *h;
	int rc;

	rc = ts_pg_query(pg_of(st)->pg, "SELECT left(md5(value), 16) FROM "
	                 "ts_meta WHERE name = 'policy'", 0, NULL, NULL, NULL,
	                 0, &res);
	if (rc < 0)
		return rc;
	if (PQntuples(res) == 1) {
		h = PQgetvalue(res, 0, 0);
		for (int i = 0; i < 16 && h[i] != '\0'; i++)
			v = v << 4 | (uint64_t)(h[i] <= '9' ? h[i] - '0' :
			                        h[i] - 'a' + 10);
		if (v == 0)
			v = 1;	/* 0 is "no policy" */
	}
	PQclear(res);
	*version = v;
	return 0;
}
