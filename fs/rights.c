/*
 * rights: account deletion and the customer's own erasure, applied to the
 * index with the changes of fs/mutate.c (ts_index_commit, ts_index_purge,
 * the removals), so that they remove exactly what the policy, or an rm
 * through the mount, would.
 */
#include "fs/rights.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fs/index_priv.h"
#include "store/intake.h"
#include "store/record.h"
#include "store/store.h"

/* Hashes plain (plen bytes) into out, then wipes and frees plain. */
static int
hash_plain(struct ts_index *idx, uint8_t *plain, size_t plen, int rc,
           unsigned char out[TS_UHASH_BYTES])
{
	if (rc == 0)
		rc = ts_store_uhash(idx->st, (const char *)plain, plen, out);
	sodium_memzero(plain, plen + 1);
	free(plain);
	return rc;
}

/* Opens a forget request's box (sealed for the store's key, bound to
 * (id, "username")) and puts the keyed hash of the username in out. */
static int
uhash_of_box(struct ts_index *idx, const char *id, const uint8_t *box,
             size_t boxlen, unsigned char out[TS_UHASH_BYTES])
{
	size_t plen;
	uint8_t *plain;
	int rc;

	if (boxlen < TS_SEAL_OVERHEAD)
		return -EBADMSG;
	plen = boxlen - TS_SEAL_OVERHEAD;
	if ((plain = malloc(plen + 1)) == NULL)
		return -ENOMEM;
	rc = ts_store_seal_open(idx->st, id, ts_field_names[TS_F_USERNAME], box,
	                        boxlen, plain);
	return hash_plain(idx, plain, plen, rc, out);
}

/* The keyed hash of ticket t's own username box (sealed, boxlen bytes):
 * for its own key, or the store's for a ticket of before. */
static int
uhash_of_ticket(struct ts_index *idx, const struct ts_ticket *t,
                const uint8_t *box, size_t boxlen,
                unsigned char out[TS_UHASH_BYTES])
{
	size_t plen = boxlen - TS_SEAL_OVERHEAD;
	uint8_t *plain;
	int rc;

	if ((plain = malloc(plen + 1)) == NULL)
		return -ENOMEM;
	rc = ts_store_open_box(idx->st, t, ts_field_names[TS_F_USERNAME], box,
	                       boxlen, plain);
	return hash_plain(idx, plain, plen, rc, out);
}

/* A hash computed for a ticket of before, while the read lock was held:
 * set on it under the write lock, if it is still the same. */
struct learned {
	const struct ts_entry *e;
	char id[TS_NAME_MAX + 1];
	struct ts_box box;	/* its username box then */
	unsigned char h[TS_UHASH_BYTES];
};

/* Keeps h for e in *l (grown; best effort: the hash is only an economy). */
static void
learn(struct learned **l, size_t *n, size_t *cap, const struct ts_entry *e,
      const unsigned char h[TS_UHASH_BYTES])
{
	if (*n == *cap) {
		size_t c = *cap ? 2 * *cap : 16;
		void *v = realloc(*l, c * sizeof(**l));

		if (v == NULL)
			return;
		*l = v;
		*cap = c;
	}
	(*l)[*n].e = e;
	memcpy((*l)[*n].id, e->t.id, sizeof((*l)[*n].id));
	(*l)[*n].box = e->t.field[TS_F_USERNAME];
	memcpy((*l)[*n].h, h, TS_UHASH_BYTES);
	(*n)++;
}

/*
 * Sets the hashes learnt on their tickets, so that the next forget
 * compares hashes only, and the next write of each keeps it in its
 * record: only where the entry is still the one hashed, without a hash,
 * its username box the same.  Then wipes and frees l.  No lock held.
 */
static void
set_learned(struct ts_index *idx, struct learned *l, size_t n)
{
	if (n > 0) {
		pthread_rwlock_wrlock(&idx->lock);
		for (size_t i = 0; i < n; i++) {
			struct ts_entry *e = ts_index_find(idx, l[i].id);
			const struct ts_box *b;

			if (e == NULL || e != l[i].e || e->err || e->t.has_uhash)
				continue;
			b = &e->t.field[TS_F_USERNAME];
			if (b->off != l[i].box.off || b->len != l[i].box.len)
				continue;
			memcpy(e->t.uhash, l[i].h, TS_UHASH_BYTES);
			e->t.has_uhash = 1;
		}
		pthread_rwlock_unlock(&idx->lock);
	}
	if (l != NULL)
		sodium_memzero(l, n * sizeof(*l));
	free(l);
}

/* 1 if e is a ticket of the username whose hash is uh; a hash computed
 * from its box (a ticket of before) goes into h, *computed set.  Lock
 * held. */
static int
of_user(struct ts_index *idx, const struct ts_entry *e,
        const unsigned char uh[TS_UHASH_BYTES],
        unsigned char h[TS_UHASH_BYTES], int *computed)
{
	const struct ts_box *b = &e->t.field[TS_F_USERNAME];
	uint8_t *sealed;
	int rc;

	*computed = 0;
	if (e->err) {
		idx->log(idx->logarg, "ticket %s: damaged (%s); not checked for "
		         "an account deletion", e->t.id, strerror(-e->err));
		return 0;
	}
	if (e->t.has_uhash)
		return sodium_memcmp(e->t.uhash, uh, TS_UHASH_BYTES) == 0;
	/* A ticket of before the hash: its own box tells (they are few, and
	 * get a hash when rewritten). */
	if (b->len < TS_SEAL_OVERHEAD)
		return 0;
	if ((sealed = malloc(b->len)) == NULL)
		return 0;
	rc = ts_store_read_box(idx->st, e->t.id, b, sealed);
	if (rc == 0)
		rc = uhash_of_ticket(idx, &e->t, sealed, b->len, h);
	free(sealed);
	if (rc < 0) {
		idx->log(idx->logarg, "ticket %s: its username does not open "
		         "(%s); not checked for an account deletion", e->t.id,
		         strerror(-rc));
		return 0;
	}
	*computed = 1;
	return sodium_memcmp(h, uh, TS_UHASH_BYTES) == 0;
}

/* The ids of every ticket of the user hashed uh, into *ids (malloc'd).
 * The hashes computed for tickets of before are kept on them. */
static int
find_tickets(struct ts_index *idx, const unsigned char uh[TS_UHASH_BYTES],
             char (**ids)[TS_NAME_MAX + 1], size_t *n)
{
	struct learned *l = NULL;
	size_t cap = 0, nl = 0, lcap = 0;
	unsigned char h[TS_UHASH_BYTES];
	int rc = 0, computed, mine;

	*ids = NULL;
	*n = 0;
	pthread_rwlock_rdlock(&idx->lock);
	for (size_t i = 0; i < idx->n; i++) {
		struct ts_entry *e = idx->by_id[i];

		mine = of_user(idx, e, uh, h, &computed);
		if (computed)
			learn(&l, &nl, &lcap, e, h);
		if (!mine)
			continue;
		if (*n == cap) {
			void *v;

			cap = cap ? 2 * cap : 8;
			if ((v = realloc(*ids, cap * sizeof(**ids))) == NULL) {
				rc = -ENOMEM;
				break;
			}
			*ids = v;
		}
		memcpy((*ids)[(*n)++], e->t.id, sizeof(**ids));
	}
	pthread_rwlock_unlock(&idx->lock);
	sodium_memzero(h, sizeof(h));
	set_learned(idx, l, nl);
	if (rc < 0) {
		free(*ids);
		*ids = NULL;
		*n = 0;
	}
	return rc;
}

/* Marks ticket id forgotten at now (unless it was before) and purges
 * what that makes due.  Write lock held. */
static int
forget_one(struct ts_index *idx, const char *id, int64_t now,
           struct ts_changes *ch)
{
	struct ts_entry *e = ts_index_find(idx, id);
	struct ts_ticket nt;
	int rc;

	/* Removed meanwhile, or damaged (find_tickets skipped it). */
	if (e == NULL || e->err)
		return 0;
	if (e->t.forgotten_ms == 0) {
		if ((rc = ts_ticket_copy(&nt, &e->t)) < 0)
			return rc;
		nt.forgotten_ms = now;
		if ((rc = ts_index_commit(idx, e, &nt, ch)) < 0)
			return rc;
	}
	return ts_index_purge(idx, e, now, ch);
}

int
ts_rights_forget(struct ts_index *idx, const struct ts_ticket *in,
                 const uint8_t *buf, struct ts_changes *ch, size_t *n)
{
	const struct ts_box *b = &in->field[TS_F_USERNAME];
	unsigned char uh[TS_UHASH_BYTES];
	char (*ids)[TS_NAME_MAX + 1] = NULL;
	size_t from = ch->n;
	int64_t now = ts_now_ms();
	int rc;

	*n = 0;
	rc = uhash_of_box(idx, in->id, buf + b->off, b->len, uh);
	if (rc == 0)
		rc = find_tickets(idx, uh, &ids, n);
	sodium_memzero(uh, sizeof(uh));
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < *n && rc == 0; i++) {
		pthread_rwlock_wrlock(&idx->lock);
		rc = forget_one(idx, ids[i], now, ch);
		pthread_rwlock_unlock(&idx->lock);
		if (rc < 0)
			idx->log(idx->logarg, "ticket %s: cannot apply an "
			         "account deletion: %s; retried", ids[i],
			         strerror(-rc));
	}
	free(ids);
	ts_changes_label(ch, from, "forget");
	return rc;
}

int
ts_rights_erase(struct ts_index *idx, const struct ts_ticket *in,
                struct ts_changes *ch)
{
	struct ts_entry *e;
	size_t from = ch->n;
	int rc = 1;

	if (in->erase & ~TS_INTAKE_ERASABLE)
		return -EINVAL;
	pthread_rwlock_wrlock(&idx->lock);
	if ((e = ts_index_find(idx, in->id)) == NULL)
		rc = -ENOENT;
	else if (e->err)	/* damaged: keep the request for after repair */
		rc = -EAGAIN;
	else if (in->erase == 0)
		rc = ts_index_remove_ticket(idx, e, ch);
	else
		for (int f = 0; f < TS_F_COUNT && rc >= 0; f++) {
			if (!(in->erase & 1u << f) || e->t.field[f].len == 0)
				continue;
			rc = ts_index_remove_field(idx, e, f, ch);
		}
	pthread_rwlock_unlock(&idx->lock);
	ts_changes_label(ch, from, "erase");
	if (rc != -ENOENT)
		return rc;
	/* Its ticket may still wait in intake: wait for it. */
	if (ts_store_ticket_known(idx->st, in->id) == 1)
		return -EAGAIN;
	idx->log(idx->logarg, "erase for unknown ticket %s refused", in->id);
	return -ENOENT;
}
