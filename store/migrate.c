/*
 * migrate: a directory store copied into a PostgreSQL store (contract in
 * store/migrate.h).  The source is read through the store's API where it
 * has one (records, ticket keys, the policy, the trail's verification)
 * and raw where it has none (intake and trail files: file_migrate.c); the
 * target is written raw (pg_migrate.c).  This file is the order of the
 * copy and its checks, and knows neither backend's insides.
 */
#include "store/migrate.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sodium.h>

#include "store/migrate_priv.h"
#include "store/pg_audit.h"
#include "store/pg_conn.h"
#include "store/record.h"
#include "store/store_backend.h"

const char *const ts_migrate_phase_names[TS_MIG_PHASES] = {
	"tickets", "keys", "intake", "audit"
};

/* ts_meta rows of a migration: under way (a daemon should not serve the
 * store yet), and the intake copied (it has no key of its own to skip
 * by: it goes in one transaction with this mark). */
#define META_RUNNING "migration"
#define META_INTAKE "migration_intake"
#define META_VK "audit_verify_key"	/* store/pg_audit.c's */

struct mig {
	struct ts_store *src;
	struct ts_pg_mig *m;
	const struct ts_migrate_opts *o;
	struct ts_migrate_counts *c;
	char *err;
	size_t errlen;
	uint64_t done;		/* rows of the phase under way */
	uint64_t in_batch;	/* rows in the open transaction */
	enum ts_migrate_phase ph;
};

static int __attribute__((format(printf, 3, 4)))
say(struct mig *g, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g->err, g->errlen, fmt, ap);
	va_end(ap);
	return rc;
}

/* A failed statement: what, and the server's reason. */
static int
db_fail(struct mig *g, int rc, const char *what)
{
	return say(g, rc, "%s: %s", what, *ts_pg_mig_error(g->m) ?
	           ts_pg_mig_error(g->m) : strerror(-rc));
}

static void
progress(struct mig *g, uint64_t total)
{
	if (g->o->progress != NULL)
		g->o->progress(g->o->arg, g->ph, g->done, total);
}

/* Commits every TS_MIGRATE_BATCH rows (force: whatever is open). */
static int
batch_step(struct mig *g, int force)
{
	int rc;

	if (g->in_batch == 0 || (!force && g->in_batch < TS_MIGRATE_BATCH))
		return 0;
	g->in_batch = 0;
	if ((rc = ts_pg_mig_commit(g->m)) < 0)
		return db_fail(g, rc, "cannot commit");
	return 0;
}

/* Opens a transaction if none is. */
static int
batch_row(struct mig *g)
{
	int rc;

	if (g->in_batch++ > 0)
		return 0;
	if ((rc = ts_pg_mig_begin(g->m)) < 0) {
		g->in_batch = 0;
		return db_fail(g, rc, "cannot begin a transaction");
	}
	return 0;
}

static void
batch_abort(struct mig *g)
{
	if (g->in_batch > 0)
		ts_pg_mig_rollback(g->m);
	g->in_batch = 0;
}

/* --- tickets -------------------------------------------------------- */

struct idlist {
	char **v;
	size_t n, cap;
};

static int
idlist_add(void *arg, const char *id)
{
	struct idlist *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 1024;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	if ((l->v[l->n] = strdup(id)) == NULL)
		return -ENOMEM;
	l->n++;
	return 0;
}

static void
free_ids(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int
copy_tickets(struct mig *g)
{
	struct idlist src = { 0 };
	char **dst = NULL;
	size_t ndst = 0, j = 0;
	int rc;

	if ((rc = ts_store_list(g->src, idlist_add, &src)) < 0) {
		say(g, rc, "cannot list the tickets of the directory store: %s",
		    strerror(-rc));
		goto out;
	}
	qsort(src.v, src.n, sizeof(*src.v), cmp_str);
	if ((rc = ts_pg_mig_ticket_ids(g->m, &dst, &ndst)) < 0) {
		db_fail(g, rc, "cannot list the target's tickets");
		goto out;
	}
	qsort(dst, ndst, sizeof(*dst), cmp_str);
	/* A ticket there that the source has not: another store's. */
	for (size_t i = 0; i < ndst; i++) {
		if (bsearch(&dst[i], src.v, src.n, sizeof(*src.v), cmp_str) ==
		    NULL) {
			rc = say(g, -EEXIST, "the target holds ticket %s, "
			         "which the directory store has not: it is not "
			         "an earlier copy of this store", dst[i]);
			goto out;
		}
	}
	g->c->tickets = src.n;
	g->ph = TS_MIG_TICKETS;
	g->done = 0;
	progress(g, src.n);
	for (size_t i = 0; i < src.n; i++, g->done++) {
		uint8_t *rec;
		size_t len;

		while (j < ndst && strcmp(dst[j], src.v[i]) < 0)
			j++;
		if (j < ndst && strcmp(dst[j], src.v[i]) == 0)
			goto next;	/* copied by an earlier run */
		if ((rc = ts_store_read_record(g->src, src.v[i], &rec,
		                               &len)) < 0) {
			say(g, rc, "cannot read ticket %s: %s", src.v[i],
			    strerror(-rc));
			goto out;
		}
		if ((rc = batch_row(g)) == 0 &&
		    (rc = ts_pg_mig_ticket(g->m, src.v[i], rec, len)) < 0)
			db_fail(g, rc, "cannot insert a ticket");
		free(rec);
		if (rc < 0)
			goto out;
		g->c->copied[TS_MIG_TICKETS] += (uint64_t)rc;
		if ((rc = batch_step(g, 0)) < 0)
			goto out;
next:
		progress(g, src.n);
	}
	rc = batch_step(g, 1);
	progress(g, src.n);	/* done == total: the bar full */
out:
	batch_abort(g);
	free_ids(src.v, src.n);
	free_ids(dst, ndst);
	return rc;
}

/* --- ticket keys ---------------------------------------------------- */

struct keyref {
	char *id;
	int next;
};

struct keylist {
	struct keyref *v;
	size_t n, cap;
};

static int
keylist_add(void *arg, const char *id, int next)
{
	struct keylist *l = arg;

	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 1024;
		struct keyref *v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	if ((l->v[l->n].id = strdup(id)) == NULL)
		return -ENOMEM;
	l->v[l->n++].next = next;
	return 0;
}

/*
 * The key files go as they are: each is wrapped with a key derived from
 * the store's secret key and bound to its ticket (store/tkey.h), and the
 * target has the same secret key.  Through the ops, as store/shred.c
 * reaches them: the one other caller of the generic layer's key ops.
 */
static int
copy_keys(struct mig *g)
{
	struct keylist l = { 0 };
	int rc;

	if ((rc = g->src->ops->key_list(g->src, keylist_add, &l)) < 0) {
		say(g, rc, "cannot list the ticket keys: %s", strerror(-rc));
		goto out;
	}
	g->c->keys = l.n;
	g->ph = TS_MIG_KEYS;
	g->done = 0;
	progress(g, l.n);
	for (size_t i = 0; i < l.n; i++, g->done++) {
		uint8_t *buf;
		size_t len;

		rc = g->src->ops->key_get(g->src, l.v[i].id, l.v[i].next, &buf,
		                          &len);
		if (rc == -ENOENT) {
			g->c->keys--;	/* gone since it was listed */
			continue;
		}
		if (rc < 0) {
			say(g, rc, "cannot read the key of ticket %s: %s",
			    l.v[i].id, strerror(-rc));
			goto out;
		}
		if ((rc = batch_row(g)) == 0 &&
		    (rc = ts_pg_mig_key(g->m, l.v[i].id, l.v[i].next, buf,
		                        len)) < 0)
			db_fail(g, rc, "cannot insert a ticket key");
		sodium_memzero(buf, len);	/* wrapped, but a key still */
		free(buf);
		if (rc < 0)
			goto out;
		g->c->copied[TS_MIG_KEYS] += (uint64_t)rc;
		if ((rc = batch_step(g, 0)) < 0)
			goto out;
		progress(g, l.n);
	}
	rc = batch_step(g, 1);
	progress(g, l.n);
out:
	batch_abort(g);
	for (size_t i = 0; i < l.n; i++)
		free(l.v[i].id);
	free(l.v);
	return rc;
}

/* --- intake --------------------------------------------------------- */

struct intake_walk {
	struct mig *g;
	int rejected;		/* walking intake/rejected/ */
	uint64_t n;
};

static int
intake_one(void *arg, const char *name, const uint8_t *rec, size_t len)
{
	struct intake_walk *w = arg;
	struct ts_ticket t = { 0 };
	int kind = 0, rc;
	char id[TS_NAME_MAX + 1];

	/* The kind and id the record says; one that does not decode is
	 * kept aside as the daemon would have (its name as its id). */
	if (ts_record_decode(rec, len, &kind, &t) == 0 &&
	    kind >= TS_REC_TICKET && kind <= TS_REC_PRUNE) {
		snprintf(id, sizeof(id), "%s", t.id);
		ts_ticket_release(&t);
	} else {
		snprintf(id, sizeof(id), "%s", name);
		if (!w->rejected) {
			w->n++;
			w->g->c->rejected++;
			return ts_pg_mig_rejected(w->g->m, 0, id, rec, len,
			                          "damaged (found by ticketctl "
			                          "migrate)") < 0 ? -EIO : 0;
		}
		kind = 0;
	}
	w->n++;
	if (w->rejected) {
		w->g->c->rejected++;
		rc = ts_pg_mig_rejected(w->g->m, kind, id, rec, len,
		                        "rejected in the directory store");
	} else {
		w->g->c->intake++;
		rc = ts_pg_mig_intake(w->g->m, kind, id, rec, len);
	}
	return rc < 0 ? -EIO : 0;
}

static int
copy_intake(struct mig *g)
{
	struct intake_walk w = { .g = g };
	char *mark, val[64];
	int rc;

	g->ph = TS_MIG_INTAKE;
	g->done = 0;
	if ((rc = ts_pg_mig_meta_get(g->m, META_INTAKE, &mark)) == 0) {
		/* An earlier run copied it: "N waiting, M rejected". */
		unsigned long long a = 0, b = 0;

		sscanf(mark, "%llu %llu", &a, &b);
		free(mark);
		g->c->intake = a;
		g->c->rejected = b;
		g->done = a + b;
		progress(g, a + b);
		return 0;
	}
	if (rc != -ENOENT)
		return db_fail(g, rc, "cannot read the target's ts_meta");
	progress(g, 0);
	if ((rc = ts_pg_mig_begin(g->m)) < 0)
		return db_fail(g, rc, "cannot begin a transaction");
	rc = ts_file_mig_intake(g->src, 0, intake_one, &w);
	if (rc == 0) {
		w.rejected = 1;
		rc = ts_file_mig_intake(g->src, 1, intake_one, &w);
	}
	if (rc < 0) {
		int r2 = rc == -EIO ? db_fail(g, rc, "cannot insert intake") :
		         say(g, rc, "cannot read the intake: %s",
		             strerror(-rc));

		ts_pg_mig_rollback(g->m);
		return r2;
	}
	snprintf(val, sizeof(val), "%llu %llu",
	         (unsigned long long)g->c->intake,
	         (unsigned long long)g->c->rejected);
	if ((rc = ts_pg_mig_meta_set(g->m, META_INTAKE, val)) < 0) {
		db_fail(g, rc, "cannot mark the intake copied");
		ts_pg_mig_rollback(g->m);
		return rc;
	}
	if ((rc = ts_pg_mig_commit(g->m)) < 0)
		return db_fail(g, rc, "cannot commit the intake");
	g->c->copied[TS_MIG_INTAKE] = w.n;
	g->done = w.n;
	progress(g, w.n);
	return 0;
}

/* --- the audit trail ------------------------------------------------ */

struct line_walk {
	struct mig *g;
	char host[TS_HOST_MAX + 1];	/* the first host an entry names */
	uint64_t total;
	int first_only;		/* only looking for the host */
};

/* The entry's seq, and its host (if it carries one). */
static int
line_fields(const char *line, size_t len, uint64_t *seq, char *host,
            size_t hostlen)
{
	json_t *j = json_loadb(line, len, 0, NULL), *s;
	const char *h;

	if (j == NULL)
		return -EBADMSG;
	s = json_object_get(j, "seq");
	if (!json_is_integer(s) || json_integer_value(s) < 1) {
		json_decref(j);
		return -EBADMSG;
	}
	*seq = (uint64_t)json_integer_value(s);
	if (host != NULL && (h = json_string_value(json_object_get(j, "host")))
	    != NULL)
		snprintf(host, hostlen, "%s", h);
	json_decref(j);
	return 0;
}

static int
line_one(void *arg, const char *line, size_t len)
{
	struct line_walk *w = arg;
	struct mig *g = w->g;
	uint64_t seq;
	int rc;

	if (w->first_only) {
		/* Entries of before "host" name none: the first that does. */
		line_fields(line, len, &seq, w->host, sizeof(w->host));
		return w->host[0] != '\0';	/* 1 stops the walk */
	}
	if (line_fields(line, len, &seq, NULL, 0) < 0)
		return say(g, -EBADMSG, "an audit entry has no seq");
	if ((rc = batch_row(g)) < 0)
		return rc;
	if ((rc = ts_pg_mig_audit_line(g->m, g->c->host, seq, line, len)) < 0)
		return db_fail(g, rc, "cannot insert an audit entry");
	g->c->copied[TS_MIG_AUDIT] += (uint64_t)rc;
	g->done++;
	if ((rc = batch_step(g, 0)) < 0)
		return rc;
	progress(g, w->total);
	return 0;
}

/* The chain's host: --host, else what the entries say, else ours. */
static int
pick_host(struct mig *g)
{
	struct line_walk lw = { .g = g, .first_only = 1 }, *w = &lw;
	struct ts_audit_checkpoint cp, an;
	unsigned char vk[32];
	int hc, ha, hv, rc;
	const char *h;

	rc = ts_file_mig_audit(g->src, line_one, w, &cp, &hc, &an, &ha, vk,
	                       &hv);
	if (rc < 0)
		return say(g, rc, "cannot read the audit trail: %s",
		           strerror(-rc));
	/* The entries' own name binds the chain (audit verify checks it). */
	if (g->o->host != NULL && w->host[0] != '\0' &&
	    strcmp(g->o->host, w->host) != 0)
		return say(g, -EINVAL, "the trail's entries name host %s: its "
		           "chain is that host's (leave --host out)", w->host);
	h = g->o->host != NULL ? g->o->host : w->host[0] != '\0' ? w->host :
	    ts_store_host(g->src);
	snprintf(g->c->host, sizeof(g->c->host), "%s", h);
	if ((rc = ts_store_set_host(g->src, g->c->host)) < 0)
		return say(g, rc, "\"%s\" is no host name ([A-Za-z0-9._-], at "
		           "most %d bytes): give --host NAME", h, TS_HOST_MAX);
	return 0;
}

/* The trail's verify key, where a shared store keeps it (ts_meta, hex,
 * store/pg_audit.c): one there already must be the same. */
static int
copy_verify_key(struct mig *g, const unsigned char vk[32])
{
	char hex[65], *there;
	int rc;

	sodium_bin2hex(hex, sizeof(hex), vk, 32);
	if ((rc = ts_pg_mig_meta_get(g->m, META_VK, &there)) == 0) {
		rc = strncmp(there, hex, 64) == 0 ? 0 :
		     say(g, -EKEYREJECTED, "the target's audit verify key is "
		         "not the directory store's");
		free(there);
		return rc;
	}
	if (rc != -ENOENT || (rc = ts_pg_mig_meta_set(g->m, META_VK, hex)) < 0)
		return db_fail(g, rc, "cannot write the audit verify key");
	return 0;
}

/* Each seal line as the host's row (its epoch from the line). */
static int
seal_one(void *arg, const char *name, const char *line, size_t len)
{
	struct mig *g = arg;
	json_t *j = json_loadb(line, len, 0, NULL);
	json_t *e = json_object_get(j, "epoch");
	int rc;

	if (!json_is_integer(e) || json_integer_value(e) < 0) {
		json_decref(j);
		return say(g, -EBADMSG, "audit/%s: a line that is no seal",
		           name);
	}
	rc = ts_pg_mig_seal(g->m, g->c->host, name,
	                    (uint64_t)json_integer_value(e), line, len);
	json_decref(j);
	if (rc < 0)
		return db_fail(g, rc, "cannot insert a seal");
	g->c->seals++;
	return 0;
}

/* The forward-secure seals, in one transaction: they vouch for the
 * chain (audit verify --seed) and the sealing state goes on from them. */
static int
copy_seals(struct mig *g)
{
	int rc;

	if ((rc = ts_pg_mig_begin(g->m)) < 0)
		return db_fail(g, rc, "cannot begin a transaction");
	if ((rc = ts_file_mig_seals(g->src, seal_one, g)) < 0) {
		ts_pg_mig_rollback(g->m);
		if (g->err[0] == '\0')
			say(g, rc, "cannot read the seals: %s", strerror(-rc));
		return rc;
	}
	if ((rc = ts_pg_mig_commit(g->m)) < 0)
		return db_fail(g, rc, "cannot commit the seals");
	return 0;
}

static int
copy_audit(struct mig *g, const char *uri, uint64_t entries)
{
	struct line_walk w = { .g = g, .total = entries };
	struct ts_audit_checkpoint cp, an;
	unsigned char vk[32];
	char msg[512];
	uint64_t n = 0;
	int hc, ha, hv, rc;

	g->c->audit = entries;
	g->ph = TS_MIG_AUDIT;
	g->done = 0;
	progress(g, entries);
	rc = ts_file_mig_audit(g->src, line_one, &w, &cp, &hc, &an, &ha, vk,
	                       &hv);
	if (rc == 0)
		rc = batch_step(g, 1);
	if (rc < 0) {
		batch_abort(g);
		if (g->err[0] == '\0')
			say(g, rc, "cannot read the audit trail: %s",
			    strerror(-rc));
		return rc;
	}
	if ((hv && (rc = copy_verify_key(g, vk)) < 0) ||
	    (rc = copy_seals(g)) < 0)
		return rc;
	/* The signed marks last: the chain they vouch for is all there. */
	if ((hc && (rc = ts_pg_mig_audit_mark(g->m, g->c->host, "checkpoint",
	                                      &cp)) < 0) ||
	    (ha && (rc = ts_pg_mig_audit_mark(g->m, g->c->host, "anchor",
	                                      &an)) < 0))
		return db_fail(g, rc, "cannot insert the audit checkpoint");
	rc = ts_pg_mig_count(g->m, "SELECT count(*) FROM ts_audit WHERE host = "
	                     "$1", g->c->host, &n);
	if (rc < 0)
		return db_fail(g, rc, "cannot count the copied entries");
	if (n != entries)
		return say(g, -EBADMSG, "the copy holds %llu audit entries of "
		           "host %s, the directory's trail %llu (a daemon of "
		           "that name wrote to the target?)",
		           (unsigned long long)n, g->c->host,
		           (unsigned long long)entries);
	msg[0] = '\0';
	rc = ts_pg_audit_verify(uri, hv ? vk : NULL, NULL, msg, sizeof(msg),
	                        &n);
	if (rc == 1)
		return say(g, -EBADMSG, "the copy's audit trail does not "
		           "verify: %s", msg);
	if (rc < 0)
		return say(g, rc, "cannot verify the copy's audit trail: %s",
		           msg[0] ? msg : strerror(-rc));
	return 0;
}

/* --- the whole ------------------------------------------------------ */

/* Creates the target's schema, or checks it is this store's. */
static int
target_ready(struct mig *g, const char *uri, const char *policy)
{
	unsigned char pk[TS_SEAL_PKBYTES], tpk[TS_SEAL_PKBYTES];
	char *text;
	int rc;

	if ((rc = ts_store_pubkey(g->src, pk)) < 0)
		return say(g, rc, "cannot read the directory store's public "
		           "key: %s", strerror(-rc));
	if ((rc = ts_pg_mig_has_schema(g->m)) < 0)
		return db_fail(g, rc, "cannot read the target's schema");
	if (rc == 0) {
		if ((rc = ts_store_create(uri, pk, policy)) < 0)
			return say(g, rc, "cannot create the store in the "
			           "target database: %s", rc == -EEXIST ?
			           "it is not empty" : strerror(-rc));
		g->c->created = 1;
	}
	if ((rc = ts_pg_mig_in_use(g->m)) != 0)
		return rc < 0 ? db_fail(g, rc, "cannot read pg_locks") :
		       say(g, -EBUSY, "a daemon serves the target (it holds "
		           "a lock): unmount it first");
	if ((rc = ts_pg_mig_pubkey(g->m, &text)) < 0)
		return db_fail(g, rc, "cannot read the target's public key");
	rc = ts_seal_pubkey_decode(text, strlen(text), tpk);
	free(text);
	if (rc < 0 || memcmp(pk, tpk, sizeof(pk)) != 0)
		return say(g, -EKEYREJECTED, "the target is another key's "
		           "store (its public key is not the directory "
		           "store's): migrate into an empty database");
	return 0;
}


/* 0 if table holds want rows, else says so (what: the rows' name). */
static int
same_count(struct mig *g, const char *table, const char *what,
           unsigned long long want)
{
	char q[96];
	uint64_t n;
	int rc;

	snprintf(q, sizeof(q), "SELECT count(*) FROM %s", table);
	if ((rc = ts_pg_mig_count(g->m, q, NULL, &n)) < 0) {
		db_fail(g, rc, "cannot count the copied rows");
		return rc;
	}
	if (n != want)
		return say(g, -EPROTO, "the copy holds %llu %s, the "
		           "directory store %llu", (unsigned long long)n, what,
		           want);
	return 0;
}

static int
migrate(struct mig *g, const char *uri)
{
	uint64_t entries = 0;
	char msg[512], *policy;
	size_t plen;
	int rc, trail;

	/* The source's trail verifies before anything is copied. */
	msg[0] = '\0';
	rc = ts_store_audit_verify(g->src, NULL, NULL, msg, sizeof(msg),
	                           &entries);
	if (rc == 1)
		return say(g, -EBADMSG, "the directory store's audit trail "
		           "does not verify, nothing copied: %s", msg);
	if (rc < 0 && rc != -ENOENT)
		return say(g, rc, "cannot verify the directory store's audit "
		           "trail: %s", msg);
	trail = rc == 0;
	/* The chain's host, before anything is copied: a bad one copies
	 * nothing. */
	if (trail && (rc = pick_host(g)) < 0)
		return rc;
	if ((rc = ts_store_policy_get(g->src, &policy, &plen)) < 0)
		return say(g, rc, "cannot read the directory store's policy: "
		           "%s", strerror(-rc));
	if ((rc = target_ready(g, uri, policy)) < 0)
		goto out;
	if ((rc = ts_pg_mig_meta_set(g->m, META_RUNNING, "from a directory "
	                             "store")) < 0 ||
	    (rc = ts_pg_mig_policy(g->m, policy, plen)) < 0) {
		db_fail(g, rc, "cannot write ts_meta");
		goto out;
	}
	if ((rc = copy_tickets(g)) < 0 || (rc = copy_keys(g)) < 0 ||
	    (rc = copy_intake(g)) < 0)
		goto out;
	if (trail && (rc = copy_audit(g, uri, entries)) < 0)
		goto out;
	/* What the target holds is what the source does. */
	if ((rc = same_count(g, "ts_tickets", "tickets",
	                     g->c->tickets)) < 0 ||
	    (rc = same_count(g, "ts_ticket_keys", "ticket keys",
	                     g->c->keys)) < 0)
		goto out;
	if ((rc = ts_pg_mig_meta_del(g->m, META_RUNNING)) < 0)
		db_fail(g, rc, "cannot mark the migration done");
out:
	free(policy);
	return rc;
}

int
ts_store_migrate(const char *dir, const char *uri,
                 const struct ts_migrate_opts *o,
                 struct ts_migrate_counts *out, char *err, size_t errlen)
{
	struct mig g = { .o = o, .c = out, .err = err, .errlen = errlen };
	int rc;

	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	if (ts_pg_is_uri(dir) || !ts_pg_is_uri(uri))
		return say(&g, -EINVAL, "migrate copies a directory store "
		           "into a PostgreSQL one: DIR, then URI");
	if ((rc = ts_store_open(dir, TS_STORE_DAEMON, &g.src)) < 0)
		return say(&g, rc, "cannot open store %s: %s", dir,
		           strerror(-rc));
	/* At rest: no daemon may change it while it is copied. */
	if ((rc = ts_store_lock(g.src)) < 0) {
		say(&g, rc, rc == -EBUSY ? "a daemon serves %s: unmount it "
		    "first" : "cannot lock %s", dir);
		goto out_close;
	}
	if ((rc = ts_pg_mig_open(uri, &g.m, err, errlen)) < 0) {
		char e2[512];

		snprintf(e2, sizeof(e2), "%s", err);
		say(&g, rc, "cannot connect to the target: %s", e2);
		goto out_close;
	}
	rc = migrate(&g, uri);
	ts_pg_mig_close(g.m);
out_close:
	ts_store_close(g.src);
	return rc;
}
