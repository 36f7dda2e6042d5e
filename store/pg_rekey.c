/*
 * pg_rekey: the PostgreSQL backend's side of ticketctl rekey
 * (store/rekey_priv.h): the journal (ts_meta row 'rekey'), ts_public_key
 * replaced, ts_intake counted, any host's daemon found by its advisory
 * lock, records and key rows swapped (an UPDATE ... WHERE the old bytes
 * are still there: a compare and swap in one statement), each host's
 * checkpoint and anchor rows re-signed and the verify key in ts_meta
 * replaced.  A swapped record is announced on ts_changes as any write
 * is, so a daemon of another host that started with the new key re-reads
 * it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/audit_rekey.h"
#include "store/pg_priv.h"
#include "store/rekey_priv.h"

#define VK_NAME "audit_verify_key"	/* store/pg_audit.c's */

static int
journal_get(struct ts_store *st, char **text, size_t *len)
{
	PGresult *r;
	size_t n;
	int rc;

	rc = pg_query_io(pg_of(st)->pg, "SELECT value FROM ts_meta WHERE "
	                 "name = 'rekey'", 0, NULL, NULL, NULL, 0, &r);
	if (rc < 0)
		return rc;
	if (PQntuples(r) != 1) {
		PQclear(r);
		return -ENOENT;
	}
	n = (size_t)PQgetlength(r, 0, 0);
	if ((*text = malloc(n + 1)) == NULL) {
		PQclear(r);
		return -ENOMEM;
	}
	memcpy(*text, PQgetvalue(r, 0, 0), n);
	(*text)[n] = '\0';
	*len = n;
	PQclear(r);
	return 0;
}

/* A NUL-terminated copy of text (a text parameter ends at its NUL). */
static char *
text_copy(const char *text, size_t len)
{
	char *c;

	if (memchr(text, '\0', len) != NULL || (c = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(c, text, len);
	c[len] = '\0';
	return c;
}

static int
journal_put(struct ts_store *st, const char *text, size_t len)
{
	const char *v[1];
	char *c = text_copy(text, len);
	int rc;

	if (c == NULL)
		return -ENOMEM;
	v[0] = c;
	rc = pg_query_io(pg_of(st)->pg, "INSERT INTO ts_meta (name, value) "
	                 "VALUES ('rekey', $1) ON CONFLICT (name) DO UPDATE "
	                 "SET value = EXCLUDED.value", 1, v, NULL, NULL, 0,
	                 NULL);
	sodium_memzero(c, len);
	free(c);
	return rc;
}

static int
pubkey_set(struct ts_store *st, const unsigned char pk[TS_SEAL_PKBYTES])
{
	const char *v[1];
	char *text;
	PGresult *r;
	int rc;

	if ((rc = ts_seal_pubkey_encode(pk, &text)) < 0)
		return rc;
	v[0] = text;
	rc = pg_query_io(pg_of(st)->pg, "UPDATE ts_public_key SET pk = $1", 1,
	                 v, NULL, NULL, 0, &r);
	free(text);
	if (rc < 0)
		return rc;
	rc = strcmp(PQcmdTuples(r), "1") == 0 ? 0 : -EBADMSG;
	PQclear(r);
	return rc;
}

/* The count the one-column, one-row query sql returns. */
static int
count(struct ts_store *st, const char *sql, uint64_t *n)
{
	PGresult *r;
	int rc;

	if ((rc = pg_query_io(pg_of(st)->pg, sql, 0, NULL, NULL, NULL, 0,
	                      &r)) < 0)
		return rc;
	*n = strtoull(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return 0;
}

static int
intake_count(struct ts_store *st, uint64_t *n)
{
	return count(st, "SELECT count(*) FROM ts_intake", n);
}

static int
in_use(struct ts_store *st)
{
	uint64_t n;
	int rc;

	/* A daemon holds its host's advisory lock (one key: objsubid 1) as
	 * long as it runs; this process's own session is not counted. */
	rc = count(st, "SELECT count(*) FROM pg_locks WHERE locktype = "
	           "'advisory' AND objsubid = 1 AND granted AND pid <> "
	           "pg_backend_pid() AND database = (SELECT oid FROM "
	           "pg_database WHERE datname = current_database())", &n);
	return rc < 0 ? rc : n > 0;
}

/* A swap's outcome: one row changed, or -EAGAIN / -ENOENT by whether the
 * row is there (exists: the query's result). */
static int
swapped(struct ts_store *st, PGresult *r, const char *exists, const char *id)
{
	const char *v[] = { id };
	PGresult *e;
	int rc;

	rc = PQntuples(r) == 1 || strcmp(PQcmdTuples(r), "1") == 0;
	PQclear(r);
	if (rc)
		return 0;
	if ((rc = pg_query_io(pg_of(st)->pg, exists, 1, v, NULL, NULL, 0,
	                      &e)) < 0)
		return rc;
	rc = PQntuples(e) > 0 ? -EAGAIN : -ENOENT;
	PQclear(e);
	return rc;
}

static int
record_swap(struct ts_store *st, const char *id, const uint8_t *old,
            size_t oldlen, const uint8_t *rec, size_t len)
{
	struct pg_store *ps = pg_of(st);
	const char *v[] = { id, (const char *)old, (const char *)rec,
	                    ts_store_host(st) };
	int lens[] = { 0, (int)oldlen, (int)len, 0 };
	int fmt[] = { 0, 1, 1, 0 };
	PGresult *r;
	int rc;

	rc = pg_query_io(ps->pg,
	    "WITH w AS (UPDATE ts_tickets SET rec = $3, ver = ver + 1 WHERE "
	    "id = $1::text AND rec = $2 RETURNING id, ver), c AS (INSERT INTO "
	    "ts_changes (id, host) SELECT w.id, $4::text FROM w RETURNING n, "
	    "id) SELECT w.ver, pg_notify('ts_changes', c.n || ' ' || c.id || "
	    "' ' || $4::text) FROM w, c", 4, v, lens, fmt, 0, &r);
	ts_pg_reccache_drop(ps, id);	/* a daemon's resume: kept no more */
	if (rc < 0)
		return rc;
	return swapped(st, r, "SELECT 1 FROM ts_tickets WHERE id = $1", id);
}

static int
key_swap(struct ts_store *st, const char *id, int next, const uint8_t *old,
         size_t oldlen, const uint8_t *key, size_t len)
{
	const char *v[] = { id, next ? "t" : "f", (const char *)old,
	                    (const char *)key };
	int lens[] = { 0, 0, (int)oldlen, (int)len };
	int fmt[] = { 0, 0, 1, 1 };
	PGresult *r;
	int rc;

	rc = pg_query_io(pg_of(st)->pg, "UPDATE ts_ticket_keys SET key = $4 "
	                 "WHERE id = $1 AND next = $2::boolean AND key = $3",
	                 4, v, lens, fmt, 0, &r);
	ts_pg_reccache_drop(pg_of(st), id);
	if (rc < 0)
		return rc;
	return swapped(st, r, next ?
	               "SELECT 1 FROM ts_ticket_keys WHERE id = $1 AND next" :
	               "SELECT 1 FROM ts_ticket_keys WHERE id = $1 AND NOT next",
	               id);
}

/* "\\x..." bytea text into exactly n bytes: 0 or -EBADMSG. */
static int
bytea_get(const char *s, unsigned char *b, size_t n)
{
	size_t got;

	if (strncmp(s, "\\x", 2) != 0 || strlen(s + 2) != 2 * n ||
	    sodium_hex2bin(b, n, s + 2, 2 * n, NULL, &got, NULL) != 0 ||
	    got != n)
		return -EBADMSG;
	return 0;
}

static int
audit_resign(struct ts_store *st, const struct ts_seckey *old,
             const struct ts_seckey *key, unsigned *bad)
{
	struct pg_store *ps = pg_of(st);
	unsigned char vk[32];
	char vh[65];
	PGresult *r;
	int rc;

	rc = pg_query_io(ps->pg, "SELECT host, kind, seq, hash, sig FROM "
	                 "ts_audit_checkpoint", 0, NULL, NULL, NULL, 0, &r);
	if (rc < 0)
		return rc;
	for (int i = 0; i < PQntuples(r) && rc == 0; i++) {
		struct ts_audit_checkpoint m;
		char text[512], seq[24];
		size_t len;
		int anchor = strcmp(PQgetvalue(r, i, 1), "anchor") == 0;
		const char *v[4];
		int lens[4] = { 0, 0, 0, sizeof(m.sig) };
		int fmt[4] = { 0, 0, 0, 1 };

		m.seq = strtoull(PQgetvalue(r, i, 2), NULL, 10);
		if (bytea_get(PQgetvalue(r, i, 3), m.hash, sizeof(m.hash)) < 0 ||
		    bytea_get(PQgetvalue(r, i, 4), m.sig, sizeof(m.sig)) < 0) {
			(*bad)++;
			continue;
		}
		rc = ts_audit_mark_resign(old, key, anchor, &m, text, &len);
		if (rc == -EBADMSG) {
			(*bad)++;
			rc = 0;
			continue;
		}
		if (rc <= 0)
			continue;
		snprintf(seq, sizeof(seq), "%llu", (unsigned long long)m.seq);
		v[0] = PQgetvalue(r, i, 0);
		v[1] = PQgetvalue(r, i, 1);
		v[2] = seq;
		v[3] = (const char *)m.sig;
		rc = pg_query_io(ps->pg, "UPDATE ts_audit_checkpoint SET sig = $4 "
		                 "WHERE host = $1 AND kind = $2 AND seq = "
		                 "$3::bigint", 4, v, lens, fmt, 0, NULL);
	}
	PQclear(r);
	if (rc < 0)
		return rc;
	ts_audit_verify_key(key, vk);
	sodium_bin2hex(vh, sizeof(vh), vk, sizeof(vk));
	{
		const char *v[] = { VK_NAME, vh };

		rc = pg_query_io(ps->pg, "INSERT INTO ts_meta (name, value) "
		                 "VALUES ($1, $2) ON CONFLICT (name) DO UPDATE "
		                 "SET value = EXCLUDED.value", 2, v, NULL, NULL,
		                 0, NULL);
	}
	return rc;
}

const struct ts_rekey_ops ts_pg_rekey_ops = {
	.journal_get = journal_get,
	.journal_put = journal_put,
	.pubkey_set = pubkey_set,
	.intake_count = intake_count,
	.in_use = in_use,
	.record_swap = record_swap,
	.key_swap = key_swap,
	.audit_resign = audit_resign,
};
