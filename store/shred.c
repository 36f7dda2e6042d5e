/*
 * shred: per-ticket keys in the generic store layer, above any backend
 * (store_backend.h key ops), so that every backend crypto-shreds alike.
 *
 * A ticket's values are sealed for its own public key (t->tpk); its secret
 * key, sealed for the store's key, is in a key file apart from the record.
 * Writing a ticket that drops any box its stored record has (an item
 * removed or replaced), or a ticket of before (sealed for the store key),
 * reseals every remaining value for a fresh ticket key:
 *   1. key_put(next)   the new key, durably
 *   2. write           the record, every box sealed for the new tpk
 *   3. key_promote     next -> current; the old key is gone
 * A crash after 1 leaves a next key that matches no record (deleted at the
 * next load); after 2 one that matches its record (promoted at load, and
 * used by readers meanwhile).  Removing a ticket removes the record, then
 * its keys; a crash between leaves an orphan key, deleted at the next load.
 *
 * A removal from a ticket re-sealed less than TS_SHRED_BATCH_MS ago is
 * not re-sealed at once: the record is written without the item and with
 * t->shred_due_ms, and the write that the daemon's sweep makes at that
 * time with shred_due_ms cleared (fs/mutate.c) re-seals what is left
 * once.  So `rm -r` of a ticket
 * of n messages costs O(n) re-sealings a second rather than O(n^2); the
 * old key outlives a removal by at most about two seconds, across a
 * crash too (the due time is in the record).
 *
 * ts_store_read_boxes (here, as it fills the cache of opened keys) reads
 * several boxes of a ticket at once, with its key file where it is not
 * cached and the backend can fetch both in one go.
 *
 * Plaintext exists only in sodium_malloc'd scratch memory (and in
 * ts_seal_open's wiped buffer), wiped before it is freed.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/record.h"
#include "store/store_backend.h"
#include "store/tkey.h"

#define CACHE_N 64	/* opened ticket keys kept */
#define RECENT_N 64	/* tickets whose last re-sealing time is kept */
#define BOX_FLAGS (TS_BOX_NEW | TS_BOX_STOREKEY)
#define SKB crypto_box_SECRETKEYBYTES

/* One opened ticket key; its secret half is in the shred's secret block. */
struct tk_ent {
	unsigned refs;		/* holders now */
	int used, dead;		/* holds a key; evicted, wiped once unheld */
	char id[TS_NAME_MAX + 1];
	unsigned char tpk[TS_TPK_BYTES];
};

struct ts_shred {
	pthread_mutex_t mu;	/* guards ent, hand, ik */
	struct tk_ent ent[CACHE_N];
	unsigned hand;		/* where to look for a slot to reuse */
	unsigned char *secret;	/* one sodium_malloc'd block: */
	unsigned char *reckey;	/*   records' MAC key */
	unsigned char *wkey;	/*   what wraps ticket keys (tkey.h) */
	unsigned char *ik;	/*   scratch of wrap and unwrap */
	unsigned char *sk;	/*   CACHE_N secret keys */
	struct {		/* the last re-sealings (guarded by mu) */
		char id[TS_NAME_MAX + 1];
		int64_t ms;
	} recent[RECENT_N];
	unsigned recent_hand;
};

/* When ticket id was last re-sealed for a fresh key, if lately; else 0. */
static int64_t
resealed_at(struct ts_store *st, const char *id)
{
	struct ts_shred *s = st->shred;
	int64_t ms = 0;

	pthread_mutex_lock(&s->mu);
	for (unsigned i = 0; i < RECENT_N; i++)
		if (s->recent[i].ms != 0 && strcmp(s->recent[i].id, id) == 0)
			ms = s->recent[i].ms;
	pthread_mutex_unlock(&s->mu);
	return ms;
}

static void
note_resealed(struct ts_store *st, const char *id, int64_t ms)
{
	struct ts_shred *s = st->shred;
	unsigned i;

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < RECENT_N; i++)
		if (s->recent[i].ms != 0 && strcmp(s->recent[i].id, id) == 0)
			break;
	if (i == RECENT_N)
		i = s->recent_hand++ % RECENT_N;
	snprintf(s->recent[i].id, sizeof(s->recent[i].id), "%s", id);
	s->recent[i].ms = ms;
	pthread_mutex_unlock(&s->mu);
}

/* A held ticket key: the slot, and its halves. */
struct tk_ref {
	int slot;
	const unsigned char *pk, *sk;
};

int
ts_shred_init(struct ts_store *st)
{
	struct ts_shred *s = st->shred;
	int rc;

	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return -ENOMEM;
		s->secret = sodium_malloc(TS_RECORD_MACKEYBYTES +
		                          2 * TS_TKEY_WKEYBYTES + CACHE_N * SKB);
		if (s->secret == NULL) {
			free(s);
			return -ENOMEM;
		}
		s->reckey = s->secret;
		s->wkey = s->reckey + TS_RECORD_MACKEYBYTES;
		s->ik = s->wkey + TS_TKEY_WKEYBYTES;
		s->sk = s->ik + TS_TKEY_WKEYBYTES;
		pthread_mutex_init(&s->mu, NULL);
		st->shred = s;
	}
	if ((rc = ts_seal_derive(st->key, TS_RECORD_MAC_PURPOSE, s->reckey,
	                         TS_RECORD_MACKEYBYTES)) < 0 ||
	    (rc = ts_tkey_wrap_key(st->key, s->wkey)) < 0)
		return rc;
	return 0;
}

void
ts_shred_free(struct ts_store *st)
{
	struct ts_shred *s = st->shred;

	if (s == NULL)
		return;
	sodium_free(s->secret);	/* wipes */
	pthread_mutex_destroy(&s->mu);
	free(s);
	st->shred = NULL;
}

static void
slot_wipe(struct ts_shred *s, int i)
{
	sodium_memzero(s->sk + (size_t)i * SKB, SKB);
	s->ent[i].used = s->ent[i].dead = 0;
}

static void
ent_put(struct ts_store *st, const struct tk_ref *k)
{
	struct ts_shred *s = st->shred;
	struct tk_ent *e = &s->ent[k->slot];

	pthread_mutex_lock(&s->mu);
	if (--e->refs == 0 && e->dead)
		slot_wipe(s, k->slot);
	pthread_mutex_unlock(&s->mu);
}

/* Drops id's keys from the cache (a rekey or removal). */
static void
evict(struct ts_store *st, const char *id)
{
	struct ts_shred *s = st->shred;

	if (s == NULL)
		return;
	pthread_mutex_lock(&s->mu);
	for (int i = 0; i < CACHE_N; i++) {
		struct tk_ent *e = &s->ent[i];

		if (!e->used || e->dead || strcmp(e->id, id) != 0)
			continue;
		if (e->refs == 0)
			slot_wipe(s, i);
		else
			e->dead = 1;
	}
	pthread_mutex_unlock(&s->mu);
}

/* A held slot with id's key for tpk; -1 if none.  Lock held. */
static int
find_locked(struct ts_shred *s, const char *id,
            const unsigned char tpk[TS_TPK_BYTES])
{
	for (int i = 0; i < CACHE_N; i++) {
		struct tk_ent *e = &s->ent[i];

		if (e->used && !e->dead && strcmp(e->id, id) == 0 &&
		    memcmp(e->tpk, tpk, TS_TPK_BYTES) == 0) {
			e->refs++;
			return i;
		}
	}
	return -1;
}

/* Reads ticket id's current or next key file, if it is the one of tpk. */
static int
read_keyfile(struct ts_store *st, const char *id, int next,
             const unsigned char tpk[TS_TPK_BYTES], struct ts_tkey_file *kf)
{
	uint8_t *buf;
	size_t len;
	int rc;

	rc = st->ops->key_get(st, id, next, &buf, &len);
	if (rc == -ENOENT)
		return -ENOKEY;
	if (rc < 0)
		return rc;
	rc = ts_tkey_decode(buf, len, kf);
	free(buf);
	if (rc < 0)
		return rc;
	if (sodium_memcmp(kf->tpk, tpk, TS_TPK_BYTES) != 0)
		return -ENOKEY;	/* another key: the record's is gone */
	return 0;
}

/*
 * Puts the secret key of kf (a key file of keyed ticket t, its tpk
 * checked) in the cache, held (ent_put when done), unless it is there
 * already (then that one is held): *slot.  -EBUSY if every slot is held.
 */
static int
cache_key(struct ts_store *st, const struct ts_ticket *t,
          const struct ts_tkey_file *kf, int *slot)
{
	struct ts_shred *s = st->shred;
	int i, rc = 0;

	pthread_mutex_lock(&s->mu);
	if ((i = find_locked(s, t->id, t->tpk)) < 0) {
		for (int n = 0; n < CACHE_N && i < 0; n++) {
			int j = (int)((s->hand + (unsigned)n) % CACHE_N);

			if (!s->ent[j].used || s->ent[j].refs == 0)
				i = j;
		}
		rc = i < 0 ? -EBUSY :
		     ts_tkey_unwrap(s->wkey, t->id, kf,
		                    s->sk + (size_t)i * SKB, s->ik);
		if (rc < 0) {
			if (i >= 0)
				slot_wipe(s, i);
			goto out;
		}
		s->ent[i] = (struct tk_ent){ .refs = 1, .used = 1 };
		memcpy(s->ent[i].id, t->id, sizeof(s->ent[i].id));
		memcpy(s->ent[i].tpk, t->tpk, TS_TPK_BYTES);
		s->hand = (unsigned)(i + 1) % CACHE_N;
	}
	*slot = i;
out:
	pthread_mutex_unlock(&s->mu);
	return rc;
}

/* 1 if keyed ticket t's key is in the cache now, else 0. */
static int
key_cached(struct ts_store *st, const struct ts_ticket *t)
{
	struct ts_shred *s = st->shred;
	int i;

	pthread_mutex_lock(&s->mu);
	if ((i = find_locked(s, t->id, t->tpk)) >= 0)
		s->ent[i].refs--;	/* not dead (found): nothing to wipe */
	pthread_mutex_unlock(&s->mu);
	return i >= 0;
}

/*
 * The secret key of keyed ticket t, held (ent_put when done): from the
 * cache, else from the current key file, else (a rekey under way, or one
 * interrupted after its record was written) the next one.  -ENOKEY if
 * neither is t's.  Unwrapping costs no X25519; a key file whose secret
 * half is not its tpk's makes every box fail to open (EBADMSG).
 */
static int
get_key(struct ts_store *st, const struct ts_ticket *t, struct tk_ref *out)
{
	struct ts_shred *s = st->shred;
	struct ts_tkey_file kf;
	int i, rc;

	if (st->key == NULL || s == NULL)
		return -ENOKEY;
	pthread_mutex_lock(&s->mu);
	i = find_locked(s, t->id, t->tpk);
	pthread_mutex_unlock(&s->mu);
	if (i < 0) {
		rc = read_keyfile(st, t->id, 0, t->tpk, &kf);
		if (rc == -ENOKEY && read_keyfile(st, t->id, 1, t->tpk,
		                                  &kf) == 0)
			rc = 0;
		if (rc < 0 || (rc = cache_key(st, t, &kf, &i)) < 0)
			return rc;
	}
	out->slot = i;
	out->pk = s->ent[i].tpk;
	out->sk = s->sk + (size_t)i * SKB;
	return 0;
}

/* A ticket key file record for tk, wrapped for ticket id. */
static int
wrap_key(struct ts_store *st, const char *id, const struct ts_seckey *tk,
         uint8_t file[TS_TKEY_FILEBYTES])
{
	struct ts_shred *s = st->shred;
	struct ts_tkey_file kf;
	int rc;

	pthread_mutex_lock(&s->mu);
	rc = ts_tkey_wrap(s->wkey, id, tk, &kf, s->ik);
	pthread_mutex_unlock(&s->mu);
	if (rc == 0)
		ts_tkey_encode(&kf, file);
	return rc;
}

int
ts_store_ticket_key(struct ts_store *st, const struct ts_ticket *t)
{
	struct tk_ref k;
	int rc;

	if (!t->keyed)
		return st->key != NULL ? 0 : -ENOKEY;
	if ((rc = get_key(st, t, &k)) == 0)
		ent_put(st, &k);
	return rc;
}

int
ts_store_open_box(struct ts_store *st, const struct ts_ticket *t,
                  const char *field, const uint8_t *box, size_t len,
                  uint8_t *plain)
{
	struct tk_ref k;
	int rc;

	if (!t->keyed)
		return st->key != NULL ?
		       ts_seal_open(st->key, t->id, field, box, len, plain) :
		       -ENOKEY;
	if ((rc = get_key(st, t, &k)) < 0)
		return rc;
	rc = ts_seal_open_raw(k.pk, k.sk, t->id, field, box, len, plain);
	ent_put(st, &k);
	return rc;
}

/*
 * The boxes through the backend's read_boxes (with t's key file, if it
 * is to be fetched and the backend can), else one read_box each.  A key
 * file that came with them and is t's goes into the cache; one that is
 * not (a rekey under way) is left for get_key to find as usual.
 */
int
ts_store_read_boxes(struct ts_store *st, const struct ts_ticket *t,
                    const struct ts_box *boxes, size_t n,
                    uint8_t *const *bufs)
{
	struct ts_tkey_file kf;
	uint8_t *kbuf = NULL;
	size_t klen = 0;
	int rc, slot, want_key;

	if (n == 0 || n > TS_STORE_BOXES_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (boxes[i].len == 0)
			return -EINVAL;
	if (st->ops->read_boxes == NULL) {
		for (size_t i = 0; i < n; i++)
			if ((rc = st->ops->read_box(st, t->id, &boxes[i],
			                            bufs[i])) < 0)
				return rc;
		return 0;
	}
	want_key = st->key != NULL && st->shred != NULL && t->keyed &&
	           !key_cached(st, t);
	rc = st->ops->read_boxes(st, t->id, boxes, n, bufs,
	                         want_key ? &kbuf : NULL, &klen);
	if (rc == 0 && kbuf != NULL && ts_tkey_decode(kbuf, klen, &kf) == 0 &&
	    sodium_memcmp(kf.tpk, t->tpk, TS_TPK_BYTES) == 0 &&
	    cache_key(st, t, &kf, &slot) == 0) {
		struct tk_ref k = { .slot = slot };

		ent_put(st, &k);
	}
	free(kbuf);
	return rc;
}

/* ---- walking a ticket's boxes ---- */


static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

struct offs {
	uint32_t *v;
	size_t n, cap;
	int storekey;		/* a box is sealed for the store key */
};

static int
collect_carried(void *arg, struct ts_box *b, const char *path)
{
	struct offs *o = arg;

	(void)path;
	if (b->off & TS_BOX_STOREKEY)
		o->storekey = 1;
	if (b->off & TS_BOX_NEW)
		return 0;
	if (o->n == o->cap) {
		size_t cap = o->cap ? 2 * o->cap : 64;
		uint32_t *v = realloc(o->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		o->v = v;
		o->cap = cap;
	}
	o->v[o->n++] = b->off;
	return 0;
}

static int
find_dropped(void *arg, struct ts_box *b, const char *path)
{
	struct offs *o = arg;

	(void)path;
	return o->n > 0 && bsearch(&b->off, o->v, o->n, sizeof(*o->v),
	                           cmp_u32) ? 0 : 1;
}

/*
 * Whether t, to be written over the stored ticket cur (NULL: none), drops
 * a box cur has (an item removed, or its value replaced): 1, 0 or -errno.
 * *storekey says whether t holds a box marked TS_BOX_STOREKEY.
 */
static int
drops_box(struct ts_ticket *t, struct ts_ticket *cur, int *storekey)
{
	struct offs o = { 0 };
	int rc;

	rc = ts_ticket_each_box(t, collect_carried, &o);
	if (rc == 0 && cur != NULL) {
		if (o.n > 0)
			qsort(o.v, o.n, sizeof(*o.v), cmp_u32);
		rc = ts_ticket_each_box(cur, find_dropped, &o);
	}
	*storekey = o.storekey;
	free(o.v);
	return rc;
}

/* ---- resealing ---- */

struct reseal {
	struct ts_store *st;
	struct ts_ticket *t;
	const uint8_t *old;	/* the stored record; NULL if none */
	size_t oldlen;
	const uint8_t *extra;	/* the write's new boxes */
	const unsigned char *tpk, *tsk;	/* what t's boxes are sealed for */
	const unsigned char *pk;	/* what to seal for */
	int all;		/* 1: every box; 0: TS_BOX_STOREKEY ones */
	uint8_t *blob;		/* the resealed boxes: the write's extra */
	size_t bloblen;
	unsigned char *scratch;	/* plaintext, sodium_malloc'd */
	size_t scratchcap;
};

static int
blob_room(struct reseal *r, size_t len)
{
	uint8_t *nb;

	if (r->bloblen + len > TS_RECORD_MAX)
		return -EFBIG;
	if ((nb = realloc(r->blob, r->bloblen + len)) == NULL)
		return -ENOMEM;
	r->blob = nb;
	return 0;
}

/* Opens box b (bytes at src) with key into r->scratch. */
static int
open_into_scratch(struct reseal *r, const unsigned char *pk,
                  const unsigned char *sk, const char *path,
                  const uint8_t *src, size_t len)
{
	if (len < TS_SEAL_OVERHEAD)
		return -EBADMSG;
	if (r->scratchcap < len) {
		ts_seal_scratch_free(r->scratch, r->scratchcap);
		r->scratchcap = 0;
		if ((r->scratch = ts_seal_scratch(len, &r->scratchcap)) == NULL)
			return -ENOMEM;
	}
	return ts_seal_open_raw(pk, sk, r->t->id, path, src, len, r->scratch);
}

static int
reseal_one(void *arg, struct ts_box *b, const char *path)
{
	struct reseal *r = arg;
	const uint8_t *src;
	uint32_t off = b->off & ~BOX_FLAGS;
	size_t plen = b->len - TS_SEAL_OVERHEAD;
	int rc;

	if (b->off & TS_BOX_NEW) {
		src = r->extra + off;
	} else {
		if (!r->all)
			return 0;	/* carried over as it is */
		if (r->old == NULL || (size_t)off + b->len > r->oldlen)
			return -ESTALE;
		src = r->old + off;
	}
	if ((rc = blob_room(r, b->len)) < 0)
		return rc;
	if (!r->all && !(b->off & TS_BOX_STOREKEY)) {
		memcpy(r->blob + r->bloblen, src, b->len);	/* as it is */
		goto done;
	}
	if (b->off & TS_BOX_STOREKEY)
		rc = open_into_scratch(r, ts_seal_seckey_pk(r->st->key),
		                       ts_seal_seckey_sk(r->st->key), path, src,
		                       b->len);
	else
		rc = open_into_scratch(r, r->tpk, r->tsk, path, src, b->len);
	if (rc < 0)
		return rc;
	if (strcmp(path, ts_field_names[TS_F_USERNAME]) == 0 &&
	    !r->t->has_uhash &&
	    ts_store_uhash(r->st, (const char *)r->scratch, plen,
	                   r->t->uhash) == 0)
		r->t->has_uhash = 1;
	rc = ts_seal_box(r->pk, r->t->id, path, r->scratch, plen,
	                 r->blob + r->bloblen);
	sodium_memzero(r->scratch, plen);
	if (rc < 0)
		return rc;
done:
	b->off = (uint32_t)r->bloblen | TS_BOX_NEW;
	r->bloblen += b->len;
	return 0;
}

/* The box offsets (and the rest) of what was written, back into t. */
static void
take_back(struct ts_ticket *t, const struct ts_ticket *w)
{
	for (int f = 0; f < TS_F_COUNT; f++)
		t->field[f] = w->field[f];
	for (size_t i = 0; i < t->nmsg; i++)
		t->msg[i].box = w->msg[i].box;
	for (size_t i = 0; i < t->nauth; i++)
		memcpy(t->auth[i].box, w->auth[i].box, sizeof(t->auth[i].box));
	t->keyed = w->keyed;
	memcpy(t->tpk, w->tpk, TS_TPK_BYTES);
	t->has_uhash = w->has_uhash;
	memcpy(t->uhash, w->uhash, TS_UHASH_BYTES);
	t->shred_due_ms = w->shred_due_ms;
}

/* The stored ticket id as its record holds it, MAC checked; -ENOENT.
 * for_write: the one a write replaces (a shared store: -EAGAIN if
 * another host wrote it since this process read it). */
static int
read_current(struct ts_store *st, const char *id, uint8_t **buf, size_t *len,
             struct ts_ticket *cur, int for_write)
{
	int kind, rc;

	if (for_write && st->ops->read_for_write != NULL)
		rc = st->ops->read_for_write(st, id, buf, len);
	else
		rc = st->ops->read_record(st, id, buf, len);
	if (rc < 0)
		return rc;
	if ((rc = ts_record_decode(*buf, *len, &kind, cur)) < 0)
		goto fail;
	if (kind != TS_REC_TICKET || strcmp(cur->id, id) != 0) {
		ts_ticket_release(cur);
		rc = -EBADMSG;
		goto fail;
	}
	if ((rc = ts_record_verify_mac(*buf, *len, st->shred->reckey)) < 0) {
		ts_ticket_release(cur);
		goto fail;
	}
	return 0;
fail:
	free(*buf);
	*buf = NULL;
	return rc;
}

/* After a failed step 2: the record holds the new key or the old. */
static void
rekey_undo(struct ts_store *st, const char *id,
           const unsigned char tpk[TS_TPK_BYTES])
{
	struct ts_ticket cur;
	uint8_t *buf;
	size_t len;

	if (read_current(st, id, &buf, &len, &cur, 0) < 0)
		return;		/* the next load sorts it out */
	if (cur.keyed && memcmp(cur.tpk, tpk, TS_TPK_BYTES) == 0)
		st->ops->key_promote(st, id);
	else
		st->ops->key_del(st, id, TS_KEY_NEXT);
	ts_ticket_release(&cur);
	free(buf);
}

/*
 * Step 3 failed with rc, its record written.  If the next key is still
 * there (the rename failed), deleting the old key instead shreds as well:
 * readers find the new key as the next one, and the next load promotes
 * it; 0 once that is durable.  If it is gone the rename happened and
 * only its durability is in doubt: rc.
 */
static int
promote_failed(struct ts_store *st, const char *id, int rc)
{
	uint8_t *buf;
	size_t len;

	if (st->ops->key_get(st, id, 1, &buf, &len) != 0)
		return rc;
	free(buf);
	return st->ops->key_del(st, id, TS_KEY_CURRENT) == 0 ? 0 : rc;
}

/*
 * Writes w (a copy of t) with the boxes r resealed into r->blob; with
 * rekey, under the fresh key tk, in the three steps.
 */
static int
write_resealed(struct ts_store *st, struct ts_ticket *t, struct reseal *r,
               int rekey, struct ts_seckey *tk)
{
	uint8_t file[TS_TKEY_FILEBYTES];
	struct ts_ticket w;
	int rc;

	if ((rc = ts_ticket_copy(&w, t)) < 0)
		return rc;
	r->t = &w;
	if ((rc = ts_ticket_each_box(&w, reseal_one, r)) < 0)
		goto out;
	if (!rekey) {
		if ((rc = st->ops->write(st, &w, r->blob)) == 0)
			take_back(t, &w);
		goto out;
	}
	w.keyed = 1;
	w.shred_due_ms = 0;	/* re-sealed now */
	memcpy(w.tpk, ts_seal_seckey_pk(tk), TS_TPK_BYTES);
	if ((rc = wrap_key(st, t->id, tk, file)) < 0 ||
	    (rc = st->ops->key_put(st, t->id, 1, file, sizeof(file))) < 0)
		goto out;
	if ((rc = st->ops->write(st, &w, r->blob)) < 0) {
		rekey_undo(st, t->id, w.tpk);
		goto out;
	}
	evict(st, t->id);
	take_back(t, &w);
	note_resealed(st, t->id, ts_now_ms());
	if ((rc = st->ops->key_promote(st, t->id)) < 0)
		rc = promote_failed(st, t->id, rc);
out:
	ts_ticket_release(&w);
	return rc;
}

/* (a) A new ticket from intake, with its key box. */
static int
write_new(struct ts_store *st, struct ts_ticket *t, const uint8_t *extra,
          int storekey)
{
	unsigned char keybox[TS_TKEY_BOXBYTES];
	struct ts_seckey *tk;
	uint8_t file[TS_TKEY_FILEBYTES];
	const struct ts_box *u = &t->field[TS_F_USERNAME];
	int rc;

	if (!t->keyed || t->keybox.len != TS_TKEY_BOXBYTES || storekey)
		return -EBADMSG;
	/* The hash is the daemon's to compute, never the front end's. */
	t->has_uhash = 0;
	memset(t->uhash, 0, TS_UHASH_BYTES);
	memcpy(keybox, extra + (t->keybox.off & ~BOX_FLAGS), TS_TKEY_BOXBYTES);
	/* Sealed for another key or ticket, or not tpk's: refused. */
	if ((rc = ts_tkey_open(st->key, t->id, t->tpk, keybox, &tk)) < 0)
		return -EBADMSG;
	if (u->len != 0) {
		struct reseal r = { .st = st, .t = t };

		rc = open_into_scratch(&r, ts_seal_seckey_pk(tk),
		                       ts_seal_seckey_sk(tk),
		                       ts_field_names[TS_F_USERNAME],
		                       extra + (u->off & ~BOX_FLAGS), u->len);
		if (rc == 0)
			rc = ts_store_uhash(st, (const char *)r.scratch,
			                    u->len - TS_SEAL_OVERHEAD, t->uhash);
		ts_seal_scratch_free(r.scratch, r.scratchcap);
		if (rc < 0) {
			ts_tkey_free(tk);
			return rc == -ENOMEM ? rc : -EBADMSG;
		}
		t->has_uhash = 1;
	}
	rc = wrap_key(st, t->id, tk, file);
	ts_tkey_free(tk);
	if (rc < 0 ||
	    (rc = st->ops->key_put(st, t->id, 0, file, sizeof(file))) < 0)
		return rc;
	t->keybox = (struct ts_box){ 0, 0 };	/* never in the record */
	/* A failed write leaves the key: an orphan until the next load, or
	 * replaced when the intake is taken in again. */
	return st->ops->write(st, t, extra);
}

void
ts_store_set_shred_batch(struct ts_store *st, int64_t ms)
{
	st->shred_batch_ms = ms > 0 ? ms : 0;
}

int
ts_store_write(struct ts_store *st, struct ts_ticket *t, const uint8_t *extra)
{
	struct reseal r = { .st = st, .extra = extra };
	struct ts_ticket cur;
	struct ts_seckey *tk = NULL;
	struct tk_ref k;
	int held = 0;
	uint8_t *old = NULL;
	size_t oldlen = 0;
	int rc, drops, storekey, have_cur = 0;

	if (st->key == NULL) {	/* no key (tools, tests): as it is */
		if ((rc = drops_box(t, NULL, &storekey)) < 0)
			return rc;
		if (t->keybox.len != 0 || storekey)
			return -ENOKEY;
		return st->ops->write(st, t, extra);
	}
	if (t->keybox.len != 0) {
		if ((rc = drops_box(t, NULL, &storekey)) < 0)
			return rc;
		return write_new(st, t, extra, storekey);
	}
	rc = read_current(st, t->id, &old, &oldlen, &cur, 1);
	if (rc == 0) {
		have_cur = 1;
	} else if (rc == -ENOENT) {
		/* A new ticket of an older front end: its hash is computed
		 * here, whatever the intake record said. */
		t->has_uhash = 0;
		memset(t->uhash, 0, TS_UHASH_BYTES);
	} else {
		return rc;
	}
	if ((drops = drops_box(t, have_cur ? &cur : NULL, &storekey)) < 0) {
		rc = drops;
		goto out;
	}
	/* The index's ticket must be the stored one's, key and all. */
	rc = -ESTALE;
	if (have_cur && (cur.keyed != t->keyed ||
	                 (t->keyed && memcmp(cur.tpk, t->tpk,
	                                     TS_TPK_BYTES) != 0)))
		goto out;
	if (t->keyed && have_cur && cur.shred_due_ms != 0 &&
	    t->shred_due_ms == 0) {
		drops = 1;	/* the sweep: a deferred re-sealing is due */
	} else if (t->keyed && drops) {
		int64_t last = resealed_at(st, t->id);

		int64_t batch = st->shred_batch_ms > 0 ? st->shred_batch_ms :
		                TS_SHRED_BATCH_MS;

		if (last != 0 && ts_now_ms() - last < batch) {
			drops = 0;	/* in a burst: re-sealed once, later */
			if (t->shred_due_ms == 0)
				t->shred_due_ms = last + batch;
		}
	}
	if (t->keyed && drops) {
		rc = get_key(st, t, &k);
		if (rc == -ENOKEY) {
			drops = 0;	/* shredded already: nothing opens */
			t->shred_due_ms = 0;
		} else if (rc < 0) {
			goto out;
		} else {
			held = 1;
			r.tpk = k.pk;
			r.tsk = k.sk;
		}
	} else if (!t->keyed) {
		r.tpk = ts_seal_seckey_pk(st->key);	/* a ticket of */
		r.tsk = ts_seal_seckey_sk(st->key);	/* before */
	}
	if (t->keyed && !drops && !storekey) {
		rc = st->ops->write(st, t, extra);	/* nothing to reseal */
		goto out;
	}
	r.old = old;
	r.oldlen = oldlen;
	if (t->keyed && !drops) {
		/* (c) only boxes sealed for the store key: for t's key (its
		 * public half is all that takes) */
		r.pk = t->tpk;
		rc = write_resealed(st, t, &r, 0, NULL);
		goto out;
	}
	/* (b) an item dropped, or a ticket of before: a fresh key */
	if ((rc = ts_seal_keypair(&tk)) < 0)
		goto out;
	r.pk = ts_seal_seckey_pk(tk);
	r.all = 1;
	rc = write_resealed(st, t, &r, 1, tk);
out:
	if (held)
		ent_put(st, &k);
	ts_tkey_free(tk);
	ts_seal_scratch_free(r.scratch, r.scratchcap);
	free(r.blob);
	if (have_cur)
		ts_ticket_release(&cur);
	free(old);
	return rc;
}

int
ts_store_remove(struct ts_store *st, const char *id)
{
	int rc = st->ops->remove(st, id), krc;

	if (rc < 0 && rc != -ENOENT)
		return rc;
	evict(st, id);
	/* Its key goes too, durably: every copy of the record is shredded.
	 * A store opened without keys/ (intake mode) has none to delete. */
	krc = st->ops->key_del(st, id, TS_KEY_CURRENT | TS_KEY_NEXT);
	if (krc < 0 && krc != -EACCES)
		return krc;
	return rc;
}

/* ---- at load ---- */

struct load_tap {
	ts_store_ticket_fn fn;
	void *arg;
	struct ts_shred_seen *v;
	size_t n, cap;
};

static int
tap_one(void *arg, const char *id, struct ts_ticket *t, int err)
{
	struct load_tap *c = arg;

	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 256;
		struct ts_shred_seen *v = realloc(c->v, cap * sizeof(*v));

		if (v == NULL) {
			if (t != NULL)
				ts_ticket_release(t);
			return -ENOMEM;
		}
		c->v = v;
		c->cap = cap;
	}
	snprintf(c->v[c->n].id, sizeof(c->v[c->n].id), "%s", id);
	c->v[c->n].keyed = t == NULL ? -1 : t->keyed;
	if (t != NULL)
		memcpy(c->v[c->n].tpk, t->tpk, TS_TPK_BYTES);
	c->n++;
	return c->fn(c->arg, id, t, err);
}

static int
cmp_seen(const void *a, const void *b)
{
	return strcmp(((const struct ts_shred_seen *)a)->id,
	              ((const struct ts_shred_seen *)b)->id);
}

int
ts_store_load(struct ts_store *st, ts_store_ticket_fn fn, void *arg)
{
	struct load_tap c = { fn, arg, NULL, 0, 0 };
	int rc;

	if (st->key == NULL)
		return st->ops->load(st, fn, arg);
	rc = st->ops->load(st, tap_one, &c);
	if (rc == 0) {
		if (c.n > 0)
			qsort(c.v, c.n, sizeof(*c.v), cmp_seen);
		ts_shred_load_fix(st, c.v, c.n);
	}
	free(c.v);
	return rc;
}

struct fix {
	struct ts_store *st;
	const struct ts_shred_seen *v;
	size_t n;
};

static int
fix_one(void *arg, const char *id, int next)
{
	struct fix *x = arg;
	struct ts_store *st = x->st;
	struct ts_shred_seen k;
	const struct ts_shred_seen *s;
	struct ts_tkey_file kf;
	uint8_t *buf;
	size_t len;

	snprintf(k.id, sizeof(k.id), "%s", id);
	s = x->n > 0 ? bsearch(&k, x->v, x->n, sizeof(*x->v), cmp_seen) : NULL;
	if (s == NULL) {	/* its ticket is gone: a removal's crash */
		st->ops->key_del(st, id, next ? TS_KEY_NEXT : TS_KEY_CURRENT);
		return 0;
	}
	if (!next || s->keyed < 0)
		return 0;	/* unreadable record: keep what it may need */
	if (s->keyed == 1 &&
	    st->ops->key_get(st, id, 1, &buf, &len) == 0) {
		int rc = ts_tkey_decode(buf, len, &kf);

		free(buf);
		if (rc == 0 && memcmp(kf.tpk, s->tpk, TS_TPK_BYTES) == 0) {
			st->ops->key_promote(st, id);	/* step 2 was done */
			return 0;
		}
	}
	st->ops->key_del(st, id, TS_KEY_NEXT);	/* step 2 was not */
	return 0;
}

int
ts_shred_load_fix(struct ts_store *st, const struct ts_shred_seen *v, size_t n)
{
	struct fix x = { st, v, n };

	return st->ops->key_list(st, fix_one, &x);
}
