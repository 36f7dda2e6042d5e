/*
 * inode: the kernel's lookup counts, in an open-addressing hash table
 * keyed by inode number (linear probing, backward-shift deletion).
 */
#include "fs/inode.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct slot {
	uint64_t ino;		/* 0 = empty */
	uint64_t nlookup;	/* lookups not yet forgotten, and PUSHED */
};

/* In nlookup: its content was pushed to the page cache.  A flag bit, so a
 * slot stays 16 bytes (the kernel may hold millions of inodes). */
#define PUSHED (UINT64_C(1) << 63)
#define COUNT(s) ((s).nlookup & ~PUSHED)

struct ts_inodes {
	pthread_mutex_t lock;
	struct slot *v;		/* cap entries; guarded by lock */
	size_t cap;		/* a power of two; guarded by lock */
	size_t n;		/* used entries; guarded by lock */
};

static size_t
hash(uint64_t ino, size_t cap)
{
	ino ^= ino >> 33;
	ino *= 0xff51afd7ed558ccdULL;
	ino ^= ino >> 33;
	return (size_t)ino & (cap - 1);
}

int
ts_inodes_new(struct ts_inodes **out)
{
	struct ts_inodes *tab = calloc(1, sizeof(*tab));

	if (tab == NULL)
		return -ENOMEM;
	tab->cap = 1024;
	if ((tab->v = calloc(tab->cap, sizeof(*tab->v))) == NULL) {
		free(tab);
		return -ENOMEM;
	}
	pthread_mutex_init(&tab->lock, NULL);
	*out = tab;
	return 0;
}

void
ts_inodes_free(struct ts_inodes *tab)
{
	if (tab == NULL)
		return;
	pthread_mutex_destroy(&tab->lock);
	free(tab->v);
	free(tab);
}

static int
grow(struct ts_inodes *tab)
{
	size_t cap = tab->cap * 2;
	struct slot *v = calloc(cap, sizeof(*v));

	if (v == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < tab->cap; i++) {
		size_t h;

		if (tab->v[i].ino == 0)
			continue;
		h = hash(tab->v[i].ino, cap);
		while (v[h].ino != 0)
			h = (h + 1) & (cap - 1);
		v[h] = tab->v[i];
	}
	free(tab->v);
	tab->v = v;
	tab->cap = cap;
	return 0;
}

int
ts_inodes_ref(struct ts_inodes *tab, uint64_t ino)
{
	size_t h;
	int rc = 0;

	pthread_mutex_lock(&tab->lock);
	if (2 * (tab->n + 1) > tab->cap && (rc = grow(tab)) < 0)
		goto out;
	h = hash(ino, tab->cap);
	while (tab->v[h].ino != 0 && tab->v[h].ino != ino)
		h = (h + 1) & (tab->cap - 1);
	if (tab->v[h].ino == 0) {
		/* A slot emptied by forget keeps its old count: start over. */
		tab->v[h].ino = ino;
		tab->v[h].nlookup = 0;
		tab->n++;
	}
	tab->v[h].nlookup++;
out:
	pthread_mutex_unlock(&tab->lock);
	return rc;
}

int
ts_inodes_claim_push(struct ts_inodes *tab, uint64_t ino)
{
	size_t h;
	int rc = 0;

	pthread_mutex_lock(&tab->lock);
	h = hash(ino, tab->cap);
	while (tab->v[h].ino != 0 && tab->v[h].ino != ino)
		h = (h + 1) & (tab->cap - 1);
	if (tab->v[h].ino == ino && !(tab->v[h].nlookup & PUSHED)) {
		tab->v[h].nlookup |= PUSHED;
		rc = 1;
	}
	pthread_mutex_unlock(&tab->lock);
	return rc;
}

int
ts_inodes_held(struct ts_inodes *tab, uint64_t ino)
{
	size_t h;
	int held;

	pthread_mutex_lock(&tab->lock);
	h = hash(ino, tab->cap);
	while (tab->v[h].ino != 0 && tab->v[h].ino != ino)
		h = (h + 1) & (tab->cap - 1);
	held = tab->v[h].ino == ino && COUNT(tab->v[h]) > 0;
	pthread_mutex_unlock(&tab->lock);
	return held;
}

void
ts_inodes_unpush_all(struct ts_inodes *tab)
{
	pthread_mutex_lock(&tab->lock);
	for (size_t i = 0; i < tab->cap; i++)
		tab->v[i].nlookup &= ~PUSHED;
	pthread_mutex_unlock(&tab->lock);
}

void
ts_inodes_forget(struct ts_inodes *tab, uint64_t ino, uint64_t n)
{
	size_t h, j;

	pthread_mutex_lock(&tab->lock);
	h = hash(ino, tab->cap);
	while (tab->v[h].ino != 0 && tab->v[h].ino != ino)
		h = (h + 1) & (tab->cap - 1);
	if (tab->v[h].ino == 0)
		goto out;
	if (COUNT(tab->v[h]) > n) {
		tab->v[h].nlookup -= n;
		goto out;
	}
	/* Remove, shifting back the entries of the probe run behind it. */
	tab->v[h].ino = 0;
	tab->n--;
	j = h;
	for (;;) {
		size_t want;

		j = (j + 1) & (tab->cap - 1);
		if (tab->v[j].ino == 0)
			break;
		want = hash(tab->v[j].ino, tab->cap);
		/* Move j to h if h lies cyclically in [want, j). */
		if ((j > h && (want <= h || want > j)) ||
		    (j < h && (want <= h && want > j))) {
			tab->v[h] = tab->v[j];
			tab->v[j].ino = 0;
			h = j;
		}
	}
out:
	pthread_mutex_unlock(&tab->lock);
}

int
ts_inodes_snapshot(struct ts_inodes *tab, uint64_t **out, size_t *n)
{
	uint64_t *v;
	size_t k = 0;

	pthread_mutex_lock(&tab->lock);
	v = malloc((tab->n + 1) * sizeof(*v));
	if (v != NULL)
		for (size_t i = 0; i < tab->cap; i++)
			if (tab->v[i].ino != 0)
				v[k++] = tab->v[i].ino;
	pthread_mutex_unlock(&tab->lock);
	if (v == NULL)
		return -ENOMEM;
	*out = v;
	*n = k;
	return 0;
}

size_t
ts_inodes_count(struct ts_inodes *tab)
{
	size_t n;

	pthread_mutex_lock(&tab->lock);
	n = tab->n;
	pthread_mutex_unlock(&tab->lock);
	return n;
}
