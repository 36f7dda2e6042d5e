/*
 * rekey: the store's key pair replaced (contract in store/rekey.h).  The
 * journal's text, the hand-over and the commit, and the conversion: every
 * key file rewrapped, then every record re-MAC'd (resealed, for a ticket
 * of before), each through a backend's compare and swap
 * (store/rekey_priv.h).  Knows neither backend's insides.
 */
#include "store/rekey.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/audit_rekey.h"
#include "store/record.h"
#include "store/record_write.h"
#include "store/rekey_priv.h"
#include "store/store_backend.h"
#include "store/util.h"

#define MAGIC "ticketfs-rekey 1"
#define OLDKEY_TICKET "rekey"	/* the old key's box binding */
#define OLDKEY_FIELD "old-key"
#define SKB crypto_box_SECRETKEYBYTES

static void
hex(const unsigned char *b, size_t n, char *out)
{
	sodium_bin2hex(out, 2 * n + 1, b, n);
}

static int
unhex(const char *s, size_t slen, unsigned char *b, size_t n)
{
	size_t got;

	if (slen != 2 * n || sodium_hex2bin(b, n, s, slen, NULL, &got,
	                                    NULL) != 0 || got != n)
		return -EBADMSG;
	return 0;
}

int
ts_rekey_journal_encode(const struct ts_rekey_journal *j, char **text)
{
	char o[2 * TS_SEAL_PKBYTES + 1], n[2 * TS_SEAL_PKBYTES + 1];
	char k[2 * TS_TKEY_BOXBYTES + 1], m[2 * TS_REKEY_MACBYTES + 1], t[32];
	char *s = malloc(512);

	if (s == NULL)
		return -ENOMEM;
	hex(j->old_pk, TS_SEAL_PKBYTES, o);
	hex(j->new_pk, TS_SEAL_PKBYTES, n);
	hex(j->oldkey, TS_TKEY_BOXBYTES, k);
	hex(j->mac, TS_REKEY_MACBYTES, m);
	ts_time_format(j->ms, t);
	if (j->done)
		snprintf(s, 512, MAGIC "\nstate done\nold %s\nnew %s\ntime %s\n",
		         o, n, t);
	else
		snprintf(s, 512, MAGIC "\nstate begun\nold %s\nnew %s\n"
		         "oldkey %s\nmac %s\ntime %s\n", o, n, k, m, t);
	*text = s;
	return 0;
}

/* The next line of [*p, end) if it starts with word and a space: its
 * value (vlen bytes), and *p past it; NULL if not. */
static const char *
field(const char **p, const char *end, const char *word, size_t *vlen)
{
	size_t w = strlen(word);
	const char *nl = memchr(*p, '\n', (size_t)(end - *p)), *v;

	if (nl == NULL || (size_t)(nl - *p) < w + 1 ||
	    memcmp(*p, word, w) != 0 || (*p)[w] != ' ')
		return NULL;
	v = *p + w + 1;
	*vlen = (size_t)(nl - v);
	*p = nl + 1;
	return v;
}

int
ts_rekey_journal_decode(const char *text, size_t len,
                        struct ts_rekey_journal *j)
{
	const char *p = text, *end = text + len, *v;
	char t[40];
	size_t vl;

	memset(j, 0, sizeof(*j));
	if (len < sizeof(MAGIC) || memcmp(p, MAGIC "\n", sizeof(MAGIC)) != 0)
		return -EBADMSG;
	p += sizeof(MAGIC);
	if ((v = field(&p, end, "state", &vl)) == NULL)
		return -EBADMSG;
	if (vl == 4 && memcmp(v, "done", 4) == 0)
		j->done = 1;
	else if (vl != 5 || memcmp(v, "begun", 5) != 0)
		return -EBADMSG;
	if ((v = field(&p, end, "old", &vl)) == NULL ||
	    unhex(v, vl, j->old_pk, TS_SEAL_PKBYTES) < 0 ||
	    (v = field(&p, end, "new", &vl)) == NULL ||
	    unhex(v, vl, j->new_pk, TS_SEAL_PKBYTES) < 0)
		return -EBADMSG;
	if (!j->done && ((v = field(&p, end, "oldkey", &vl)) == NULL ||
	                 unhex(v, vl, j->oldkey, TS_TKEY_BOXBYTES) < 0 ||
	                 (v = field(&p, end, "mac", &vl)) == NULL ||
	                 unhex(v, vl, j->mac, TS_REKEY_MACBYTES) < 0))
		return -EBADMSG;
	if ((v = field(&p, end, "time", &vl)) == NULL || vl >= sizeof(t))
		return -EBADMSG;
	memcpy(t, v, vl);
	t[vl] = '\0';
	if (ts_time_parse(t, &j->ms) < 0 || p != end)
		return -EBADMSG;
	return 0;
}

static const struct ts_rekey_ops *
ops_of(struct ts_store *st)
{
	return st->ops->rekey;
}

int
ts_store_rekey_journal(struct ts_store *st, struct ts_rekey_journal *j)
{
	char *text;
	size_t len;
	int rc;

	if (ops_of(st) == NULL)
		return -EOPNOTSUPP;
	if ((rc = ops_of(st)->journal_get(st, &text, &len)) < 0)
		return rc;
	rc = ts_rekey_journal_decode(text, len, j);
	free(text);
	return rc;
}

static int
journal_put(struct ts_store *st, const struct ts_rekey_journal *j)
{
	char *text;
	int rc;

	if ((rc = ts_rekey_journal_encode(j, &text)) < 0)
		return rc;
	rc = ops_of(st)->journal_put(st, text, strlen(text));
	sodium_memzero(text, strlen(text));
	free(text);
	return rc;
}

/* The mac of a begun journal: old, new and oldkey, keyed from key (the
 * new secret key), which only the rekey's own process holds. */
static int
journal_mac(const struct ts_rekey_journal *j, const struct ts_seckey *key,
            unsigned char out[TS_REKEY_MACBYTES])
{
	unsigned char *mk = sodium_malloc(32);
	crypto_generichash_state h;
	int rc;

	if (mk == NULL)
		return -ENOMEM;
	if ((rc = ts_seal_derive(key, TS_REKEY_MAC_PURPOSE, mk, 32)) == 0) {
		crypto_generichash_init(&h, mk, 32, TS_REKEY_MACBYTES);
		crypto_generichash_update(&h, (const unsigned char *)MAGIC,
		                          sizeof(MAGIC) - 1);
		crypto_generichash_update(&h, j->old_pk, TS_SEAL_PKBYTES);
		crypto_generichash_update(&h, j->new_pk, TS_SEAL_PKBYTES);
		crypto_generichash_update(&h, j->oldkey, TS_TKEY_BOXBYTES);
		crypto_generichash_final(&h, out, TS_REKEY_MACBYTES);
		sodium_memzero(&h, sizeof(h));
	}
	sodium_free(mk);
	return rc;
}

int
ts_store_rekey_begin(struct ts_store *st, const struct ts_seckey *old,
                     const struct ts_seckey *key)
{
	struct ts_rekey_journal j = { .ms = ts_now_ms() };
	int rc;

	if (ops_of(st) == NULL)
		return -EOPNOTSUPP;
	memcpy(j.old_pk, ts_seal_seckey_pk(old), TS_SEAL_PKBYTES);
	memcpy(j.new_pk, ts_seal_seckey_pk(key), TS_SEAL_PKBYTES);
	/* Sealed for the new key only: whoever holds the old one learns
	 * nothing of the new from the journal. */
	if ((rc = ts_seal_box(j.new_pk, OLDKEY_TICKET, OLDKEY_FIELD,
	                      ts_seal_seckey_sk(old), SKB, j.oldkey)) < 0 ||
	    (rc = journal_mac(&j, key, j.mac)) < 0)
		return rc;
	return journal_put(st, &j);
}

int
ts_store_rekey_old_key(const struct ts_rekey_journal *j,
                       const struct ts_seckey *key, struct ts_seckey **old)
{
	unsigned char mac[TS_REKEY_MACBYTES];
	int rc;

	*old = NULL;
	if (j->done || sodium_memcmp(j->new_pk, ts_seal_seckey_pk(key),
	                             TS_SEAL_PKBYTES) != 0)
		return -EKEYREJECTED;
	/* Anyone may seal a key of theirs for the public one: only a mac
	 * made with key says its holder put this old key there. */
	if ((rc = journal_mac(j, key, mac)) < 0)
		return rc;
	if (sodium_memcmp(mac, j->mac, TS_REKEY_MACBYTES) != 0)
		return -EKEYREJECTED;
	rc = ts_seal_open_seckey(key, OLDKEY_TICKET, OLDKEY_FIELD, j->oldkey,
	                         TS_TKEY_BOXBYTES, old);
	if (rc < 0)
		return rc == -EBADMSG ? -EKEYREJECTED : rc;
	if (sodium_memcmp(ts_seal_seckey_pk(*old), j->old_pk,
	                  TS_SEAL_PKBYTES) != 0) {
		ts_seal_seckey_free(*old);
		*old = NULL;
		return -EKEYREJECTED;
	}
	return 0;
}

int
ts_store_rekey_intake(struct ts_store *st, uint64_t *n)
{
	if (ops_of(st) == NULL)
		return -EOPNOTSUPP;
	return ops_of(st)->intake_count(st, n);
}

int
ts_store_rekey_in_use(struct ts_store *st)
{
	if (ops_of(st) == NULL)
		return -EOPNOTSUPP;
	return ops_of(st)->in_use(st);
}

int
ts_store_rekey_handover(struct ts_store *st, const struct ts_seckey *old,
                        const struct ts_seckey *key,
                        const struct ts_audit_entry *who)
{
	unsigned char ovk[32], nvk[32];
	char sig[TS_AUDIT_HANDOVER_SIGHEX], ov[65], nv[65], op[65], np[65];
	char detail[512];
	struct ts_audit_entry e = *who;
	struct ts_audit *a;
	int rc;

	ts_audit_verify_key(old, ovk);
	ts_audit_verify_key(key, nvk);
	ts_audit_handover_sign(old, nvk, sig);
	hex(ovk, 32, ov);
	hex(nvk, 32, nv);
	hex(ts_seal_seckey_pk(old), TS_SEAL_PKBYTES, op);
	hex(ts_seal_seckey_pk(key), TS_SEAL_PKBYTES, np);
	snprintf(detail, sizeof(detail), "store key replaced: verify key %s -> "
	         "%s, handover %s; public key %s -> %s", ov, nv, sig, op, np);
	e.op = "rekey";
	e.path = "";
	e.err = 0;
	e.detail = detail;
	if ((rc = ts_store_audit_open(st, old, 64u << 20, &a)) < 0)
		return rc;
	rc = ts_audit_append(a, &e);
	if (rc == 0)
		rc = ts_audit_sync(a);
	ts_audit_close(a);	/* a final checkpoint, signed with old */
	return rc;
}

int
ts_store_rekey_commit(struct ts_store *st, const struct ts_seckey *key)
{
	if (ops_of(st) == NULL)
		return -EOPNOTSUPP;
	return ops_of(st)->pubkey_set(st, ts_seal_seckey_pk(key));
}

/* ---- the conversion ---- */

struct rk {
	struct ts_store *st;
	const struct ts_seckey *old, *key;
	struct ts_rekey_counts *c;
	ts_rekey_progress_fn progress;
	void *arg;
	uint64_t done, total;
	unsigned char *secret;	/* one sodium_malloc'd block: */
	unsigned char *omac, *nmac;	/*   both keys' record MAC keys */
	unsigned char *owrap, *nwrap;	/*   and ticket key wrapping keys */
	unsigned char *ik, *sk;	/*   scratch */
};

static void
step(struct rk *r)
{
	r->done++;
	if (r->progress != NULL)
		r->progress(r->arg, r->done, r->total);
}

static void
damaged(struct rk *r, const char *what)
{
	if (r->c->damaged++ == 0)
		snprintf(r->c->first_damaged, sizeof(r->c->first_damaged),
		         "%s", what);
}

/* Key file (id, next) wrapped with the new key if the old one wraps it. */
static int
rewrap(struct rk *r, const char *id, int next)
{
	struct ts_tkey_file kf, nk;
	uint8_t *buf, out[TS_TKEY_FILEBYTES];
	size_t len;
	int rc;

	for (int tries = 0; tries < 3; tries++) {
		rc = r->st->ops->key_get(r->st, id, next, &buf, &len);
		if (rc < 0)
			return rc == -ENOENT ? 0 : rc;
		if ((rc = ts_tkey_decode(buf, len, &kf)) < 0) {
			free(buf);
			damaged(r, id);
			return 0;
		}
		if (ts_tkey_unwrap(r->nwrap, id, &kf, r->sk, r->ik) == 0) {
			sodium_memzero(r->sk, SKB);
			free(buf);
			return 0;	/* the new key's already */
		}
		if (ts_tkey_rewrap(r->owrap, r->nwrap, id, &kf, &nk, r->sk,
		                   r->ik) < 0) {
			free(buf);
			damaged(r, id);
			return 0;
		}
		ts_tkey_encode(&nk, out);
		rc = ops_of(r->st)->key_swap(r->st, id, next, buf, len, out,
		                             sizeof(out));
		free(buf);
		if (rc == 0)
			r->c->keys++;
		if (rc != -EAGAIN)
			return rc;
	}
	return -EAGAIN;
}

/* ---- a record ---- */

struct conv {
	struct rk *r;
	struct ts_ticket *t;
	const uint8_t *rec;	/* the stored record */
	size_t len;
	const unsigned char *tpk, *tsk;	/* what opens t's boxes */
	int reseal;		/* a ticket of before: every box for the new
				   store key, into blob */
	uint8_t *blob;
	size_t bloblen;
	unsigned char *plain;	/* sodium_malloc'd */
	size_t plaincap;
};

static int
conv_box(void *arg, struct ts_box *b, const char *path)
{
	struct conv *v = arg;
	int is_user = strcmp(path, ts_field_names[TS_F_USERNAME]) == 0;
	size_t plen;
	uint8_t *nb;
	int rc;

	if (b->len < TS_SEAL_OVERHEAD || (size_t)b->off + b->len > v->len)
		return -EBADMSG;
	if (!v->reseal && !is_user) {
		b->off |= TS_BOX_NEW;	/* as it is, from the old record */
		return 0;
	}
	plen = b->len - TS_SEAL_OVERHEAD;
	if (v->plaincap < b->len) {
		sodium_free(v->plain);
		v->plaincap = 0;
		if ((v->plain = sodium_malloc(b->len)) == NULL)
			return -ENOMEM;
		v->plaincap = b->len;
	}
	if ((rc = ts_seal_open_raw(v->tpk, v->tsk, v->t->id, path,
	                           v->rec + b->off, b->len, v->plain)) < 0)
		return rc;
	if (is_user) {
		if ((rc = ts_store_uhash(v->r->st, (const char *)v->plain,
		                         plen, v->t->uhash)) < 0)
			goto out;
		v->t->has_uhash = 1;
	}
	if (!v->reseal) {
		b->off |= TS_BOX_NEW;
		goto out;
	}
	if ((nb = realloc(v->blob, v->bloblen + b->len)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	v->blob = nb;
	rc = ts_seal_box(ts_seal_seckey_pk(v->r->key), v->t->id, path,
	                 v->plain, plen, v->blob + v->bloblen);
	if (rc == 0) {
		b->off = (uint32_t)v->bloblen | TS_BOX_NEW;
		v->bloblen += b->len;
	}
out:
	sodium_memzero(v->plain, plen);
	return rc;
}

/* A box carried into the new record as it is. */
static int
carry_box(void *arg, struct ts_box *b, const char *path)
{
	(void)arg;
	(void)path;
	b->off |= TS_BOX_NEW;
	return 0;
}

/* The secret half of keyed ticket t's key (the new key's wrapping: key
 * files go first) into r->sk: its current key file, else the next one. */
static int
ticket_sk(struct rk *r, const struct ts_ticket *t)
{
	struct ts_tkey_file kf;
	uint8_t *buf;
	size_t len;
	int rc = -ENOKEY;

	for (int next = 0; next < 2 && rc < 0; next++) {
		if (r->st->ops->key_get(r->st, t->id, next, &buf, &len) < 0)
			continue;
		if (ts_tkey_decode(buf, len, &kf) == 0 &&
		    sodium_memcmp(kf.tpk, t->tpk, TS_TPK_BYTES) == 0)
			rc = ts_tkey_unwrap(r->nwrap, t->id, &kf, r->sk, r->ik);
		free(buf);
	}
	return rc;
}

/* Ticket id's record re-MAC'd (resealed, for one of before) if it is
 * still the old key's; -EAGAIN if it changed while being converted. */
static int
convert_once(struct rk *r, const char *id)
{
	struct conv v = { .r = r };
	struct ts_ticket t;
	struct ts_record_built b = { 0 };
	uint8_t *rec;
	size_t len;
	int rc, shredded = 0;

	if ((rc = r->st->ops->read_record(r->st, id, &rec, &len)) < 0)
		return rc == -ENOENT ? 0 : rc;
	rc = ts_record_decode_ticket(rec, len, id, r->nmac, &t);
	if (rc == 0) {
		ts_ticket_release(&t);
		free(rec);
		return 0;	/* the new key's already */
	}
	if (rc != -EKEYREJECTED ||
	    ts_record_decode_ticket(rec, len, id, r->omac, &t) < 0) {
		free(rec);
		damaged(r, id);	/* neither key's: left for fsck */
		return 0;
	}
	v.t = &t;
	v.rec = rec;
	v.len = len;
	t.has_uhash = 0;
	memset(t.uhash, 0, TS_UHASH_BYTES);
	if (t.keyed) {
		rc = ticket_sk(r, &t);
		if (rc == -ENOKEY) {
			shredded = 1;	/* its key is gone: nothing opens */
		} else if (rc < 0) {
			damaged(r, id);
			rc = 0;
			goto out;
		}
		v.tpk = t.tpk;
		v.tsk = r->sk;
	} else {
		v.tpk = ts_seal_seckey_pk(r->old);
		v.tsk = ts_seal_seckey_sk(r->old);
		v.reseal = 1;
	}
	if (shredded) {
		/* Its key is gone: boxes carried as they are, nothing to
		 * hash (the record still goes to the new MAC key). */
		rc = ts_ticket_each_box(&t, carry_box, NULL);
	} else if ((rc = ts_ticket_each_box(&t, conv_box, &v)) < 0) {
		if (rc == -EBADMSG) {
			damaged(r, id);
			rc = 0;
		}
		goto out;
	}
	rc = ts_record_build(&t, v.reseal ? v.blob : rec, NULL, 0, r->nmac,
	                     &b);
	if (rc == 0)
		rc = ops_of(r->st)->record_swap(r->st, id, rec, len, b.rec,
		                                b.len);
	if (rc == 0) {
		r->c->records++;
		if (v.reseal)
			r->c->legacy++;
	}
	ts_record_built_release(&b);
out:
	sodium_memzero(r->sk, SKB);
	sodium_free(v.plain);
	free(v.blob);
	ts_ticket_release(&t);
	free(rec);
	return rc == -ENOENT ? 0 : rc;
}

static int
convert(struct rk *r, const char *id)
{
	int rc = -EAGAIN;

	for (int tries = 0; tries < 3 && rc == -EAGAIN; tries++)
		rc = convert_once(r, id);
	return rc;
}

/* ---- the walks ---- */

struct idv {
	char (*id)[TS_NAME_MAX + 1];
	int *next;
	size_t n, cap;
};

static int
idv_add(struct idv *v, const char *id, int next)
{
	if (v->n == v->cap) {
		size_t cap = v->cap ? 2 * v->cap : 256;
		char (*ni)[TS_NAME_MAX + 1] = realloc(v->id, cap * sizeof(*ni));
		int *nn;

		if (ni == NULL)
			return -ENOMEM;
		v->id = ni;
		if ((nn = realloc(v->next, cap * sizeof(*nn))) == NULL)
			return -ENOMEM;
		v->next = nn;
		v->cap = cap;
	}
	snprintf(v->id[v->n], sizeof(v->id[v->n]), "%s", id);
	v->next[v->n++] = next;
	return 0;
}

static int
key_seen(void *arg, const char *id, int next)
{
	return idv_add(arg, id, next);
}

static int
ticket_seen(void *arg, const char *id)
{
	return idv_add(arg, id, 0);
}

static int
cmp_id(const void *a, const void *b)
{
	return strcmp(a, b);
}

static void
idv_free(struct idv *v)
{
	free(v->id);
	free(v->next);
}

static int
rk_init(struct rk *r, struct ts_store *st, const struct ts_seckey *old,
        const struct ts_seckey *key, struct ts_rekey_counts *c)
{
	int rc;

	r->st = st;
	r->old = old;
	r->key = key;
	r->c = c;
	r->secret = sodium_malloc(2 * TS_RECORD_MACKEYBYTES +
	                          3 * TS_TKEY_WKEYBYTES + SKB);
	if (r->secret == NULL)
		return -ENOMEM;
	r->omac = r->secret;
	r->nmac = r->omac + TS_RECORD_MACKEYBYTES;
	r->owrap = r->nmac + TS_RECORD_MACKEYBYTES;
	r->nwrap = r->owrap + TS_TKEY_WKEYBYTES;
	r->ik = r->nwrap + TS_TKEY_WKEYBYTES;
	r->sk = r->ik + TS_TKEY_WKEYBYTES;
	if ((rc = ts_record_mackey(old, r->omac)) < 0 ||
	    (rc = ts_record_mackey(key, r->nmac)) < 0 ||
	    (rc = ts_tkey_wrap_key(old, r->owrap)) < 0 ||
	    (rc = ts_tkey_wrap_key(key, r->nwrap)) < 0)
		return rc;
	return 0;
}

int
ts_store_rekey_finish(struct ts_store *st, const struct ts_seckey *old,
                      const struct ts_seckey *key,
                      ts_rekey_progress_fn progress, void *arg,
                      struct ts_rekey_counts *out)
{
	struct rk r = { .progress = progress, .arg = arg };
	struct ts_rekey_journal j;
	struct idv keys = { 0 }, tickets = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	if (ops_of(st) == NULL)
		return -EOPNOTSUPP;
	if ((rc = ts_store_set_key(st, key)) < 0 ||
	    (rc = rk_init(&r, st, old, key, out)) < 0)
		goto out;
	if ((rc = ops_of(st)->audit_resign(st, old, key, &out->marks_bad)) < 0)
		goto out;
	/* Each ticket's key files first (its record's conversion reads its
	 * key with the new wrapping key: the username hash), then its
	 * record; then key files of no ticket (a removal's crash left
	 * them; the next load deletes them). */
	if ((rc = ts_store_list(st, ticket_seen, &tickets)) < 0 ||
	    (rc = st->ops->key_list(st, key_seen, &keys)) < 0)
		goto out;
	if (tickets.n > 0)
		qsort(tickets.id, tickets.n, sizeof(*tickets.id), cmp_id);
	for (size_t i = 0; i < keys.n; i++)
		if (tickets.n == 0 || bsearch(keys.id[i], tickets.id, tickets.n,
		                              sizeof(*tickets.id), cmp_id) == NULL)
			r.total++;
	r.total += tickets.n;
	out->tickets = tickets.n;
	if (progress != NULL)
		progress(arg, 0, r.total);
	for (size_t i = 0; i < tickets.n && rc == 0; i++) {
		if ((rc = rewrap(&r, tickets.id[i], 0)) == 0 &&
		    (rc = rewrap(&r, tickets.id[i], 1)) == 0)
			rc = convert(&r, tickets.id[i]);
		step(&r);
	}
	for (size_t i = 0; i < keys.n && rc == 0; i++) {
		if (tickets.n > 0 && bsearch(keys.id[i], tickets.id, tickets.n,
		                             sizeof(*tickets.id), cmp_id) != NULL)
			continue;
		rc = rewrap(&r, keys.id[i], keys.next[i]);
		step(&r);
	}
	if (rc < 0)
		goto out;
	/* Done: the old key goes from the journal. */
	if ((rc = ts_store_rekey_journal(st, &j)) < 0)
		goto out;
	if (!j.done) {
		j.done = 1;
		sodium_memzero(j.oldkey, sizeof(j.oldkey));
		sodium_memzero(j.mac, sizeof(j.mac));
		rc = journal_put(st, &j);
	}
out:
	idv_free(&keys);
	idv_free(&tickets);
	if (r.secret != NULL)
		sodium_free(r.secret);
	return rc;
}

int
ts_store_rekey_resume(struct ts_store *st, const struct ts_seckey *key,
                      struct ts_rekey_counts *out)
{
	unsigned char pk[TS_SEAL_PKBYTES];
	struct ts_rekey_journal j;
	struct ts_seckey *old;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = ts_store_rekey_journal(st, &j);
	if (rc == -ENOENT || rc == -EOPNOTSUPP)
		return 0;
	if (rc < 0)
		return rc;
	if (j.done || (rc = ts_store_pubkey(st, pk)) < 0 ||
	    sodium_memcmp(pk, j.new_pk, TS_SEAL_PKBYTES) != 0 ||
	    sodium_memcmp(pk, ts_seal_seckey_pk(key), TS_SEAL_PKBYTES) != 0)
		return rc < 0 ? rc : 0;	/* none, or not committed */
	if ((rc = ts_store_rekey_old_key(&j, key, &old)) < 0)
		return rc;
	rc = ts_store_rekey_finish(st, old, key, NULL, NULL, out);
	ts_seal_seckey_free(old);
	return rc < 0 ? rc : 1;
}
