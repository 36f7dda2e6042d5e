/*
 * pg_audit_verify: ts_pg_audit_verify and ts_pg_audit_verify_seed
 * (store/pg_audit.h): every host's chain walked as a directory store's
 * (audit_verify.c's walk), against its checkpoint, anchor and a copy, and
 * its forward-secure seals (audit_fss.c's check); the first bad entry
 * named with its host.
 */
#include "store/pg_audit.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/audit_priv.h"
#include "store/pg_audit_priv.h"
#include "store/pg_conn.h"

/* The verify key to trust: vk, else ts_meta's. */
static int
vk_get(struct ts_pg *pg, const unsigned char *given, unsigned char vk[32])
{
	const char *v[1] = { VK_NAME };
	PGresult *r;
	int rc;

	if (given != NULL) {
		memcpy(vk, given, 32);
		return 0;
	}
	if ((rc = ts_pg_query(pg, "SELECT value FROM ts_meta WHERE name = $1",
	                      1, v, NULL, NULL, 0, &r)) < 0)
		return rc;
	rc = PQntuples(r) == 1 && strlen(PQgetvalue(r, 0, 0)) >= 64 &&
	     ts_audit_unhex(PQgetvalue(r, 0, 0), 64, vk, 32) == 0 ? 0 : 1;
	PQclear(r);
	return rc;
}

/* Walks host's chain: 0 intact (*n entries, *cpseq), 1 not, -errno. */
static int
verify_host(struct ts_pg *pg, const char *host, const unsigned char vk[32],
            const struct ts_audit_checkpoint *copy, int *copy_matched,
            uint64_t *n, uint64_t *cpseq, char *msg, size_t msglen,
            ts_audit_progress_fn fn, void *arg)
{
	char who[TS_AUDIT_HOST_MAX + 16], from[24];
	const char *v[2] = { host, from };
	struct ts_audit_walk w;
	int more = 1, rc;

	snprintf(who, sizeof(who), "host %s: ", host);
	ts_audit_walk_init(&w, who);
	w.host = host;
	w.copy = copy;
	w.copy_any = 1;
	w.progress = fn;
	w.progress_arg = arg;
	if ((rc = ts_pg_audit_marks_load(pg, host, &w.cp, &w.found_cp, &w.an,
	                     &w.have_an)) == -EBADMSG)
		return ts_audit_bad(msg, msglen, "%sits checkpoint or anchor row "
		                    "is damaged", who);
	if (rc < 0)
		return rc;
	if (w.found_cp && ts_audit_checkpoint_check(&w.cp, vk) < 0)
		return ts_audit_bad(msg, msglen, "%sits checkpoint (seq %llu) is "
		                    "not signed by the store's key", who,
		                    (unsigned long long)w.cp.seq);
	if (w.have_an && ts_audit_anchor_check(&w.an, vk) < 0)
		return ts_audit_bad(msg, msglen, "%sits prune anchor is damaged or "
		                    "not signed by the store's key (forged?)", who);
	/* A prune deletes the rows its anchor covers. */
	if (w.have_an)
		ts_audit_walk_from_anchor(&w);
	while (more) {
		PGresult *r;
		int nt;

		snprintf(from, sizeof(from), "%" PRIu64, w.seq);
		if ((rc = ts_pg_query(pg, "SELECT seq, line FROM ts_audit WHERE "
		                      "host = $1 AND seq > $2 ORDER BY seq LIMIT "
		                      BATCH, 2, v, NULL, NULL, 0, &r)) < 0)
			return rc;
		nt = PQntuples(r);
		more = nt == atoi(BATCH);
		for (int i = 0; i < nt; i++) {
			unsigned long long col = strtoull(PQgetvalue(r, i, 0),
			                                  NULL, 10);

			rc = ts_audit_walk_line(&w, PQgetvalue(r, i, 1),
			                        (size_t)PQgetlength(r, i, 1), "",
			                        msg, msglen);
			if (rc == 0 && col != w.seq)
				rc = ts_audit_bad(msg, msglen, "%sentry %llu: its "
				                  "row says seq %llu (edited)", who,
				                  (unsigned long long)w.seq, col);
			if (rc != 0) {
				PQclear(r);
				return rc;
			}
		}
		PQclear(r);
		/* Rows at or before the walk (seq edited down) would come
		 * again: the next batch starts after the last seq walked. */
	}
	*n = w.seq - w.base;
	*cpseq = w.cp.seq;
	if ((rc = ts_audit_walk_end(&w, msg, msglen)) != 0)
		return rc;
	*copy_matched |= w.copy_matched;
	return 0;
}

int
ts_pg_audit_verify(const char *uri, const unsigned char *vk,
                   const struct ts_audit_checkpoint *copy, char *msg,
                   size_t msglen, uint64_t *entries)
{
	return ts_pg_audit_verify_progress(uri, vk, copy, msg, msglen, entries,
	                                   NULL, NULL);
}

int
ts_pg_audit_verify_progress(const char *uri, const unsigned char *vk,
                            const struct ts_audit_checkpoint *copy,
                            char *msg, size_t msglen, uint64_t *entries,
                            ts_audit_progress_fn fn, void *arg)
{
	unsigned char key[32];
	char err[256], list[768] = "";
	int copy_matched = 0, nh, rc;
	struct ts_pg *pg;
	PGresult *r;
	size_t used = 0;

	*entries = 0;
	msg[0] = '\0';
	if ((rc = ts_pg_open(uri, &pg, err, sizeof(err))) < 0) {
		snprintf(msg, msglen, "cannot reach the store's database: %s",
		         err);
		return rc;
	}
	if ((rc = vk_get(pg, vk, key)) != 0) {
		if (rc == 1)
			ts_audit_bad(msg, msglen, "the store's audit verify key "
			             "(ts_meta %s) is missing or damaged", VK_NAME);
		else
			snprintf(msg, msglen, "cannot read the audit trail: %s",
			         ts_pg_error(pg));
		goto out;
	}
	if (copy != NULL && ts_audit_checkpoint_check(copy, key) < 0) {
		rc = ts_audit_bad(msg, msglen, "the checkpoint copy (seq %llu) is "
		                  "not signed by the store's key",
		                  (unsigned long long)copy->seq);
		goto out;
	}
	if ((rc = ts_pg_query(pg, "SELECT host FROM ts_audit GROUP BY host "
	                      "UNION SELECT host FROM ts_audit_checkpoint "
	                      "ORDER BY 1", 0, NULL, NULL, NULL, 0, &r)) < 0) {
		snprintf(msg, msglen, "cannot read the audit trail: %s",
		         ts_pg_error(pg));
		goto out;
	}
	nh = PQntuples(r);
	for (int i = 0; i < nh; i++) {
		uint64_t n = 0, cpseq = 0;
		const char *host = PQgetvalue(r, i, 0);

		rc = verify_host(pg, host, key, copy, &copy_matched, &n, &cpseq,
		                 msg, msglen, fn, arg);
		if (rc < 0 && msg[0] == '\0')
			snprintf(msg, msglen, "cannot read host %s's audit trail: "
			         "%s", host, ts_pg_error(pg));
		if (rc != 0) {
			PQclear(r);
			goto out;
		}
		*entries += n;
		if (used < sizeof(list))
			used += (size_t)snprintf(list + used, sizeof(list) - used,
			         "%s%s: %" PRIu64 " entr%s, signed checkpoint at "
			         "entry %" PRIu64, i ? "; " : "", host, n,
			         n == 1 ? "y" : "ies", cpseq);
	}
	PQclear(r);
	if (copy != NULL && !copy_matched) {
		rc = ts_audit_bad(msg, msglen, "the checkpoint copy (entry %llu) "
		                  "matches no host's chain: entries were removed "
		                  "or a chain rewritten",
		                  (unsigned long long)copy->seq);
		goto out;
	}
	snprintf(msg, msglen, "audit trail intact: %" PRIu64 " entr%s in %d "
	         "host chain%s (%s)%s", *entries, *entries == 1 ? "y" : "ies",
	         nh, nh == 1 ? "" : "s", list, copy != NULL ?
	         ", none behind the checkpoint copy" : "");
	rc = 0;
out:
	ts_pg_close(pg);
	return rc;
}

/* host's chain as (seq, hash), the anchor's first. */
static int
host_hashes(struct ts_pg *pg, const char *host, struct ts_audit_seqhash **out,
            size_t *n)
{
	struct ts_audit_checkpoint cp, an;
	struct ts_audit_seqhash *v = NULL;
	int have_cp, have_an, more = 1, rc;
	char from[24] = "0";
	const char *p[2] = { host, from };
	size_t cap = 0;

	*n = 0;
	if ((rc = ts_pg_audit_marks_load(pg, host, &cp, &have_cp, &an, &have_an)) < 0)
		return rc;
	while (more) {
		PGresult *r;
		int nt;

		if ((rc = ts_pg_query(pg, "SELECT seq, line FROM ts_audit WHERE "
		                      "host = $1 AND seq > $2 ORDER BY seq LIMIT "
		                      BATCH, 2, p, NULL, NULL, 0, &r)) < 0)
			goto fail;
		nt = PQntuples(r);
		more = nt == atoi(BATCH);
		if (*n + (size_t)nt + 1 > cap) {
			struct ts_audit_seqhash *nv;

			cap = 2 * (*n + (size_t)nt + 1);
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				PQclear(r);
				rc = -ENOMEM;
				goto fail;
			}
			v = nv;
		}
		if (*n == 0 && have_an) {
			v[0].seq = an.seq;
			memcpy(v[0].hash, an.hash, HASHBYTES);
			*n = 1;
		}
		for (int i = 0; i < nt; i++) {
			uint64_t seq;

			if (ts_audit_line_parse(PQgetvalue(r, i, 1),
			                        (size_t)PQgetlength(r, i, 1), &seq,
			                        v[*n].hash, NULL) < 0)
				continue;	/* verify names it */
			v[(*n)++].seq = seq;
		}
		if (nt > 0)
			snprintf(from, sizeof(from), "%s",
			         PQgetvalue(r, nt - 1, 0));
		PQclear(r);
	}
	*out = v;
	return 0;
fail:
	free(v);
	return rc;
}

int
ts_pg_audit_verify_seed(const char *uri, const char *seed, char *msg,
                        size_t msglen)
{
	char seals[32], err[256], label[64], part[512];
	struct ts_pg *pg;
	PGresult *r;
	size_t used = 0;
	int nh, rc;

	msg[0] = '\0';
	if (ts_audit_seed_seals(seed, seals) < 0)
		return ts_audit_seals_verify(seed, "", "", NULL, 0, NULL, 0, msg,
		                             msglen);	/* says why */
	if ((rc = ts_pg_open(uri, &pg, err, sizeof(err))) < 0) {
		snprintf(msg, msglen, "cannot reach the store's database: %s",
		         err);
		return rc;
	}
	/* Every host that has entries or seals of this sealing. */
	{
		const char *v[1] = { seals };

		rc = ts_pg_query(pg, "SELECT host FROM ts_audit GROUP BY host "
		                 "UNION SELECT host FROM ts_audit_seals WHERE "
		                 "seals = $1 ORDER BY 1", 1, v, NULL, NULL, 0, &r);
	}
	if (rc < 0) {
		snprintf(msg, msglen, "cannot read the audit trail: %s",
		         ts_pg_error(pg));
		goto out;
	}
	nh = PQntuples(r);
	for (int i = 0; i < nh; i++) {
		const char *host = PQgetvalue(r, i, 0), *v[2] = { host, seals };
		struct ts_audit_seqhash *hv = NULL;
		char who[TS_AUDIT_HOST_MAX + 16];
		PGresult *sr;
		size_t n = 0;

		snprintf(who, sizeof(who), "host %s: ", host);
		snprintf(label, sizeof(label), "its %s", seals);
		/* A host sealed only with another seed: its seals cannot be
		 * checked with this one, and that is no pass. */
		if ((rc = ts_pg_query(pg, "SELECT string_agg(DISTINCT seals, ', ') "
		                      "FROM ts_audit_seals WHERE host = $1 HAVING "
		                      "bool_and(seals <> $2)", 2, v, NULL, NULL,
		                      0, &sr)) < 0) {
			snprintf(msg, msglen, "cannot read host %s's seals: %s",
			         host, ts_pg_error(pg));
			break;
		}
		if (PQntuples(sr) == 1 && !PQgetisnull(sr, 0, 0)) {
			snprintf(msg, msglen, "host %s: sealed with another seed "
			         "(seals %s), not with this one (%s): give that "
			         "host's seed", host, PQgetvalue(sr, 0, 0), seals);
			PQclear(sr);
			rc = 1;
			break;
		}
		PQclear(sr);
		if ((rc = host_hashes(pg, host, &hv, &n)) < 0 ||
		    (rc = ts_pg_query(pg, "SELECT string_agg(line || E'\\n', '' "
		                      "ORDER BY epoch) FROM ts_audit_seals WHERE "
		                      "host = $1 AND seals = $2", 2, v, NULL, NULL,
		                      0, &sr)) < 0) {
			free(hv);
			snprintf(msg, msglen, "cannot read host %s's audit trail: %s",
			         host, ts_pg_error(pg));
			break;
		}
		rc = ts_audit_seals_verify(seed, who, label, hv, n,
		                           PQgetisnull(sr, 0, 0) ? NULL :
		                           (unsigned char *)PQgetvalue(sr, 0, 0),
		                           (size_t)PQgetlength(sr, 0, 0), part,
		                           sizeof(part));
		PQclear(sr);
		free(hv);
		if (rc != 0) {
			snprintf(msg, msglen, "%s", part);
			break;
		}
		if (used < msglen)
			used += (size_t)snprintf(msg + used, msglen - used, "%s%s",
			                         i ? "; " : "", part);
	}
	PQclear(r);
	if (rc == 0 && nh == 0)
		snprintf(msg, msglen, "forward-secure seals: no host has an "
		         "entry yet");
out:
	ts_pg_close(pg);
	return rc;
}
