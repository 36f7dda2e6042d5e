/*
 * cache: decrypted values in a locked arena of 512-byte blocks (cache.h).
 *
 * A value is a chain of blocks (bnext[]); free blocks form another chain.
 * Entries live in a fixed pool, in hash buckets chosen by the ticket part
 * of the inode number (ino >> 24), so every value of one ticket shares a
 * bucket and dropping a ticket's range scans one chain; and on a doubly
 * linked LRU list, most recent first.
 */
#include "fs/cache.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define BLOCK 512u
#define NONE UINT32_MAX
#define TICKET_SHIFT 24		/* fs/inode.h: ino = (slot + 1) << 24 | ... */

struct entry {
	uint64_t ino;
	uint32_t first;		/* first block, NONE for an empty value */
	uint32_t len;
	uint32_t hnext;		/* bucket chain, or the free entry list */
	uint32_t prev, next;	/* LRU list */
};

struct ts_cache {
	pthread_mutex_t lock;
	uint8_t *arena;		/* nblocks * BLOCK bytes, sodium_malloc'd */
	uint32_t nblocks;
	uint32_t *bnext;	/* block chains */
	uint32_t bfree, nfree;	/* free blocks */
	struct entry *ents;	/* nents of them */
	uint32_t nents;
	uint32_t efree;		/* free entries, chained by hnext */
	uint32_t *buckets;	/* nbuckets (a power of 2) chain heads */
	uint32_t nbuckets;
	uint32_t lru_head, lru_tail;
	size_t used;		/* bytes of values held */
	uint64_t hits, misses;	/* ts_cache_read found it or not */
};

int
ts_cache_new(size_t bytes, struct ts_cache **out)
{
	struct ts_cache *c = calloc(1, sizeof(*c));
	size_t nb = bytes / BLOCK;

	if (c == NULL)
		return -ENOMEM;
	if (nb > UINT32_MAX / 2)
		nb = UINT32_MAX / 2;
	pthread_mutex_init(&c->lock, NULL);
	c->nblocks = (uint32_t)nb;
	c->nents = c->nblocks;
	c->nbuckets = 1;
	while (c->nbuckets < c->nents / 4)
		c->nbuckets *= 2;
	c->lru_head = c->lru_tail = NONE;
	c->bfree = c->efree = NONE;
	if (nb > 0 &&
	    ((c->arena = sodium_malloc(nb * BLOCK)) == NULL ||
	     (c->bnext = malloc(nb * sizeof(*c->bnext))) == NULL ||
	     (c->ents = malloc(nb * sizeof(*c->ents))) == NULL)) {
		ts_cache_free(c);
		return -ENOMEM;
	}
	if ((c->buckets = malloc(c->nbuckets * sizeof(*c->buckets))) == NULL) {
		ts_cache_free(c);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < c->nbuckets; i++)
		c->buckets[i] = NONE;
	for (uint32_t i = c->nblocks; i-- > 0;) {
		c->bnext[i] = c->bfree;
		c->bfree = i;
		c->ents[i].hnext = c->efree;
		c->efree = i;
	}
	c->nfree = c->nblocks;
	*out = c;
	return 0;
}

static uint32_t
bucket_of(const struct ts_cache *c, uint64_t ino)
{
	uint64_t h = (ino >> TICKET_SHIFT) * UINT64_C(0x9E3779B97F4A7C15);

	return (uint32_t)(h >> 32) & (c->nbuckets - 1);
}

static uint32_t
find(struct ts_cache *c, uint64_t ino)
{
	uint32_t i = c->buckets[bucket_of(c, ino)];

	while (i != NONE && c->ents[i].ino != ino)
		i = c->ents[i].hnext;
	return i;
}

static void
lru_unlink(struct ts_cache *c, uint32_t i)
{
	struct entry *e = &c->ents[i];

	if (e->prev != NONE)
		c->ents[e->prev].next = e->next;
	else
		c->lru_head = e->next;
	if (e->next != NONE)
		c->ents[e->next].prev = e->prev;
	else
		c->lru_tail = e->prev;
}

static void
lru_push(struct ts_cache *c, uint32_t i)
{
	struct entry *e = &c->ents[i];

	e->prev = NONE;
	e->next = c->lru_head;
	if (c->lru_head != NONE)
		c->ents[c->lru_head].prev = i;
	c->lru_head = i;
	if (c->lru_tail == NONE)
		c->lru_tail = i;
}

/* Wipes entry i's blocks, frees them and the entry. */
static void
drop(struct ts_cache *c, uint32_t i)
{
	struct entry *e = &c->ents[i];
	uint32_t *pp = &c->buckets[bucket_of(c, e->ino)];
	uint32_t b = e->first;

	while (*pp != i)
		pp = &c->ents[*pp].hnext;
	*pp = e->hnext;
	lru_unlink(c, i);
	while (b != NONE) {
		uint32_t nb = c->bnext[b];

		sodium_memzero(c->arena + (size_t)b * BLOCK, BLOCK);
		c->bnext[b] = c->bfree;
		c->bfree = b;
		c->nfree++;
		b = nb;
	}
	c->used -= e->len;
	memset(e, 0, sizeof(*e));
	e->hnext = c->efree;
	c->efree = i;
}

void
ts_cache_free(struct ts_cache *c)
{
	if (c == NULL)
		return;
	if (c->arena != NULL)
		sodium_free(c->arena);	/* wipes */
	free(c->bnext);
	free(c->ents);
	free(c->buckets);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

int
ts_cache_put(struct ts_cache *c, uint64_t ino, const void *val, size_t len)
{
	uint32_t need = (uint32_t)((len + BLOCK - 1) / BLOCK), i, *link;
	const uint8_t *src = val;

	if (c->nblocks == 0 || len > (size_t)c->nblocks * BLOCK / 4)
		return -E2BIG;
	pthread_mutex_lock(&c->lock);
	if ((i = find(c, ino)) != NONE)
		drop(c, i);
	while ((c->nfree < need || c->efree == NONE) && c->lru_tail != NONE)
		drop(c, c->lru_tail);
	i = c->efree;
	c->efree = c->ents[i].hnext;
	c->ents[i].ino = ino;
	c->ents[i].len = (uint32_t)len;
	link = &c->ents[i].first;
	for (uint32_t k = 0; k < need; k++) {
		uint32_t b = c->bfree;
		size_t n = len - (size_t)k * BLOCK < BLOCK ?
		           len - (size_t)k * BLOCK : BLOCK;

		c->bfree = c->bnext[b];
		c->nfree--;
		memcpy(c->arena + (size_t)b * BLOCK, src + (size_t)k * BLOCK, n);
		*link = b;
		link = &c->bnext[b];
	}
	*link = NONE;
	c->ents[i].hnext = c->buckets[bucket_of(c, ino)];
	c->buckets[bucket_of(c, ino)] = i;
	lru_push(c, i);
	c->used += len;
	pthread_mutex_unlock(&c->lock);
	return 0;
}

int
ts_cache_has(struct ts_cache *c, uint64_t ino, size_t *len)
{
	uint32_t i;

	if (c->nblocks == 0)
		return 0;
	pthread_mutex_lock(&c->lock);
	i = find(c, ino);
	if (i != NONE && len != NULL)
		*len = c->ents[i].len;
	pthread_mutex_unlock(&c->lock);
	return i != NONE;
}

ssize_t
ts_cache_read(struct ts_cache *c, uint64_t ino, size_t off, void *dst,
              size_t n)
{
	uint8_t *out = dst;
	size_t done = 0;
	uint32_t i, b;

	if (c->nblocks == 0)
		return -ENOENT;
	pthread_mutex_lock(&c->lock);
	if ((i = find(c, ino)) == NONE) {
		c->misses++;
		pthread_mutex_unlock(&c->lock);
		return -ENOENT;
	}
	c->hits++;
	lru_unlink(c, i);
	lru_push(c, i);
	if (off < c->ents[i].len) {
		if (n > c->ents[i].len - off)
			n = c->ents[i].len - off;
		b = c->ents[i].first;
		for (size_t skip = off / BLOCK; skip > 0; skip--)
			b = c->bnext[b];
		off %= BLOCK;
		while (done < n) {
			size_t k = BLOCK - off < n - done ? BLOCK - off : n - done;

			memcpy(out + done, c->arena + (size_t)b * BLOCK + off, k);
			done += k;
			off = 0;
			b = c->bnext[b];
		}
	}
	pthread_mutex_unlock(&c->lock);
	return (ssize_t)done;
}

void
ts_cache_drop_range(struct ts_cache *c, uint64_t lo, uint64_t hi)
{
	uint32_t first = 0, last;

	if (c->nblocks == 0 || lo >= hi)
		return;
	pthread_mutex_lock(&c->lock);
	last = c->nbuckets - 1;
	/* Within one ticket: one bucket holds all of it. */
	if ((lo >> TICKET_SHIFT) == ((hi - 1) >> TICKET_SHIFT))
		first = last = bucket_of(c, lo);
	for (uint32_t bk = first; bk <= last; bk++) {
		uint32_t i = c->buckets[bk];

		while (i != NONE) {
			uint32_t nx = c->ents[i].hnext;

			if (c->ents[i].ino >= lo && c->ents[i].ino < hi)
				drop(c, i);
			i = nx;
		}
	}
	pthread_mutex_unlock(&c->lock);
}

int
ts_cache_lock(struct ts_cache *c)
{
	if (c->nblocks == 0)
		return 0;
	return sodium_mlock(c->arena, (size_t)c->nblocks * BLOCK) == 0 ? 0 :
	       -errno;
}

size_t
ts_cache_used(struct ts_cache *c)
{
	size_t u;

	pthread_mutex_lock(&c->lock);
	u = c->used;
	pthread_mutex_unlock(&c->lock);
	return u;
}

void
ts_cache_counts(struct ts_cache *c, uint64_t *hits, uint64_t *misses)
{
	pthread_mutex_lock(&c->lock);
	*hits = c->hits;
	*misses = c->misses;
	pthread_mutex_unlock(&c->lock);
}

size_t
ts_cache_limit(struct ts_cache *c)
{
	return (size_t)c->nblocks * BLOCK;
}
