/*
 * inode: the kernel's lookup counts, in two open-addressing hash tables
 * keyed by inode number (linear probing, backward-shift deletion).
 *
 * After a `find` over 100,000 tickets the kernel holds 1.6 million inodes,
 * so the common case is packed into 8 bytes: the narrow table's word is
 * ino << 8 | PUSHED | count, for an ino below 2^56 (a ticket slot below
 * 2^32 - 1) and a count of 1 .. NARROW_MAX.  An inode whose count grows
 * past that moves to the wide table ({ ino, count | PUSHED }, 16 bytes),
 * and so does one whose number does not fit; it stays there until the
 * kernel forgets it.  An inode is in one table or the other, never both.
 *
 * Capacities are any size (the slot is picked by multiply-shift, not a
 * mask) and grow by half when three quarters are used, so a table is
 * between 1/2 and 3/4 full once grown: about 13 bytes an inode.  A table
 * shrinks again when the kernel forgets most of what it held.
 */
#include "fs/inode.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#define MIN_CAP 1024
#define NARROW_MAX 127u		/* a count in the narrow word's low 7 bits */
#define NARROW_PUSHED (1u << 7)
#define NARROW_INO_MAX ((UINT64_C(1) << 56) - 1)

/* In a wide slot's nlookup: its content was pushed to the page cache. */
#define WIDE_PUSHED (UINT64_C(1) << 63)

struct wide {
	uint64_t ino;		/* 0 = empty */
	uint64_t nlookup;	/* lookups not yet forgotten, and WIDE_PUSHED */
};

struct ts_inodes {
	pthread_mutex_t lock;
	uint64_t *nv;		/* ncap narrow words, 0 = empty; guarded by
				   lock */
	size_t ncap, nn;	/* capacity, used; guarded by lock */
	struct wide *wv;	/* wcap wide slots, or NULL; guarded by lock */
	size_t wcap, wn;	/* guarded by lock */
};

static inline uint64_t
n_ino(uint64_t w)
{
	return w >> 8;
}

static inline uint64_t
n_count(uint64_t w)
{
	return w & NARROW_MAX;
}

/* Slot of ino in a table of cap slots: multiply-shift of a mixed ino. */
static size_t
home(uint64_t ino, size_t cap)
{
	ino ^= ino >> 33;
	ino *= 0xff51afd7ed558ccdULL;
	ino ^= ino >> 33;
	return (size_t)(((unsigned __int128)ino * cap) >> 64);
}

static inline size_t
next(size_t h, size_t cap)
{
	return h + 1 == cap ? 0 : h + 1;
}

/* 1 if h lies cyclically in [want, j): the entry at j may move to h. */
static inline int
may_move(size_t h, size_t want, size_t j)
{
	return j > h ? want <= h || want > j : want <= h && want > j;
}

/* ---- the narrow table ---- */

static size_t
n_find(const struct ts_inodes *tab, uint64_t ino)
{
	size_t h = home(ino, tab->ncap);

	while (tab->nv[h] != 0 && n_ino(tab->nv[h]) != ino)
		h = next(h, tab->ncap);
	return h;
}

/* Rehashes the narrow table into cap slots (enough for its entries). */
static int
n_resize(struct ts_inodes *tab, size_t cap)
{
	uint64_t *v = calloc(cap, sizeof(*v));

	if (v == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < tab->ncap; i++) {
		size_t h;

		if (tab->nv[i] == 0)
			continue;
		h = home(n_ino(tab->nv[i]), cap);
		while (v[h] != 0)
			h = next(h, cap);
		v[h] = tab->nv[i];
	}
	free(tab->nv);
	tab->nv = v;
	tab->ncap = cap;
	return 0;
}

/* Empties slot h, shifting back the entries of the probe run behind it. */
static void
n_remove_at(struct ts_inodes *tab, size_t h)
{
	size_t j = h;

	tab->nv[h] = 0;
	tab->nn--;
	for (;;) {
		j = next(j, tab->ncap);
		if (tab->nv[j] == 0)
			break;
		if (may_move(h, home(n_ino(tab->nv[j]), tab->ncap), j)) {
			tab->nv[h] = tab->nv[j];
			tab->nv[j] = 0;
			h = j;
		}
	}
}

/* After a removal: a table used below 1/6 goes to half its size. */
static void
n_maybe_shrink(struct ts_inodes *tab)
{
	if (tab->ncap > MIN_CAP && tab->nn < tab->ncap / 6)
		(void)n_resize(tab, tab->ncap / 2 < MIN_CAP ? MIN_CAP :
		               tab->ncap / 2);	/* else it stays as large */
}

/* ---- the wide table ---- */

static size_t
w_find(const struct ts_inodes *tab, uint64_t ino)
{
	size_t h = home(ino, tab->wcap);

	while (tab->wv[h].ino != 0 && tab->wv[h].ino != ino)
		h = next(h, tab->wcap);
	return h;
}

static int
w_resize(struct ts_inodes *tab, size_t cap)
{
	struct wide *v;

	if (cap == 0) {
		free(tab->wv);
		tab->wv = NULL;
		tab->wcap = 0;
		return 0;
	}
	if ((v = calloc(cap, sizeof(*v))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < tab->wcap; i++) {
		size_t h;

		if (tab->wv[i].ino == 0)
			continue;
		h = home(tab->wv[i].ino, cap);
		while (v[h].ino != 0)
			h = next(h, cap);
		v[h] = tab->wv[i];
	}
	free(tab->wv);
	tab->wv = v;
	tab->wcap = cap;
	return 0;
}

static void
w_remove_at(struct ts_inodes *tab, size_t h)
{
	size_t j = h;

	tab->wv[h].ino = 0;
	tab->wn--;
	for (;;) {
		j = next(j, tab->wcap);
		if (tab->wv[j].ino == 0)
			break;
		if (may_move(h, home(tab->wv[j].ino, tab->wcap), j)) {
			tab->wv[h] = tab->wv[j];
			tab->wv[j].ino = 0;
			h = j;
		}
	}
	if (tab->wn == 0)
		(void)w_resize(tab, 0);
	else if (tab->wcap > 16 && tab->wn < tab->wcap / 6)
		(void)w_resize(tab, tab->wcap / 2);
}

/* The wide slot of ino, or NULL. */
static struct wide *
w_get(struct ts_inodes *tab, uint64_t ino)
{
	size_t h;

	if (tab->wn == 0)
		return NULL;
	h = w_find(tab, ino);
	return tab->wv[h].ino == ino ? &tab->wv[h] : NULL;
}

/* Adds ino to the wide table with nlookup (count and mark). */
static int
w_add(struct ts_inodes *tab, uint64_t ino, uint64_t nlookup)
{
	size_t h;
	int rc;

	if (4 * (tab->wn + 1) > 3 * tab->wcap &&
	    (rc = w_resize(tab, tab->wcap ? tab->wcap + tab->wcap / 2 : 16)) < 0)
		return rc;
	h = w_find(tab, ino);
	tab->wv[h].ino = ino;
	tab->wv[h].nlookup = nlookup;
	tab->wn++;
	return 0;
}

/* ---- the interface ---- */

int
ts_inodes_new(struct ts_inodes **out)
{
	struct ts_inodes *tab = calloc(1, sizeof(*tab));

	if (tab == NULL)
		return -ENOMEM;
	tab->ncap = MIN_CAP;
	if ((tab->nv = calloc(tab->ncap, sizeof(*tab->nv))) == NULL) {
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
	free(tab->nv);
	free(tab->wv);
	free(tab);
}

/* ref, lock held. */
static int
ref_locked(struct ts_inodes *tab, uint64_t ino)
{
	struct wide *w;
	size_t h;
	int rc;

	if (ino > NARROW_INO_MAX) {
		if ((w = w_get(tab, ino)) != NULL) {
			w->nlookup++;
			return 0;
		}
		return w_add(tab, ino, 1);
	}
	h = n_find(tab, ino);
	if (tab->nv[h] != 0) {
		uint64_t word = tab->nv[h];

		if (n_count(word) < NARROW_MAX) {
			tab->nv[h] = word + 1;
			return 0;
		}
		/* One more than the word holds: it moves to the wide table. */
		if ((rc = w_add(tab, ino, (NARROW_MAX + 1) |
		                (word & NARROW_PUSHED ? WIDE_PUSHED : 0))) < 0)
			return rc;
		n_remove_at(tab, h);
		return 0;
	}
	if ((w = w_get(tab, ino)) != NULL) {
		w->nlookup++;
		return 0;
	}
	if (4 * (tab->nn + 1) > 3 * tab->ncap) {
		if ((rc = n_resize(tab, tab->ncap + tab->ncap / 2)) < 0)
			return rc;
		h = n_find(tab, ino);
	}
	tab->nv[h] = ino << 8 | 1;
	tab->nn++;
	return 0;
}

int
ts_inodes_ref(struct ts_inodes *tab, uint64_t ino)
{
	int rc;

	pthread_mutex_lock(&tab->lock);
	rc = ref_locked(tab, ino);
	pthread_mutex_unlock(&tab->lock);
	return rc;
}

int
ts_inodes_claim_push(struct ts_inodes *tab, uint64_t ino)
{
	struct wide *w;
	size_t h;
	int rc = 0;

	pthread_mutex_lock(&tab->lock);
	if (ino <= NARROW_INO_MAX &&
	    tab->nv[h = n_find(tab, ino)] != 0) {
		if (!(tab->nv[h] & NARROW_PUSHED)) {
			tab->nv[h] |= NARROW_PUSHED;
			rc = 1;
		}
	} else if ((w = w_get(tab, ino)) != NULL &&
	           !(w->nlookup & WIDE_PUSHED)) {
		w->nlookup |= WIDE_PUSHED;
		rc = 1;
	}
	pthread_mutex_unlock(&tab->lock);
	return rc;
}

int
ts_inodes_held(struct ts_inodes *tab, uint64_t ino)
{
	int held;

	pthread_mutex_lock(&tab->lock);
	/* Every entry has a count of at least 1: present is held. */
	held = (ino <= NARROW_INO_MAX && tab->nv[n_find(tab, ino)] != 0) ||
	       w_get(tab, ino) != NULL;
	pthread_mutex_unlock(&tab->lock);
	return held;
}

void
ts_inodes_unpush_all(struct ts_inodes *tab)
{
	pthread_mutex_lock(&tab->lock);
	for (size_t i = 0; i < tab->ncap; i++)
		tab->nv[i] &= ~(uint64_t)NARROW_PUSHED;
	for (size_t i = 0; i < tab->wcap; i++)
		tab->wv[i].nlookup &= ~WIDE_PUSHED;
	pthread_mutex_unlock(&tab->lock);
}

void
ts_inodes_forget(struct ts_inodes *tab, uint64_t ino, uint64_t n)
{
	struct wide *w;
	size_t h;

	pthread_mutex_lock(&tab->lock);
	if (ino <= NARROW_INO_MAX && tab->nv[h = n_find(tab, ino)] != 0) {
		if (n_count(tab->nv[h]) > n) {
			tab->nv[h] -= n;	/* n < the count: no borrow */
		} else {
			n_remove_at(tab, h);
			n_maybe_shrink(tab);
		}
	} else if ((w = w_get(tab, ino)) != NULL) {
		if ((w->nlookup & ~WIDE_PUSHED) > n)
			w->nlookup -= n;
		else
			w_remove_at(tab, (size_t)(w - tab->wv));
	}
	pthread_mutex_unlock(&tab->lock);
}

int
ts_inodes_snapshot(struct ts_inodes *tab, uint64_t **out, size_t *n)
{
	uint64_t *v;
	size_t k = 0;

	pthread_mutex_lock(&tab->lock);
	v = malloc((tab->nn + tab->wn + 1) * sizeof(*v));
	if (v != NULL) {
		for (size_t i = 0; i < tab->ncap; i++)
			if (tab->nv[i] != 0)
				v[k++] = n_ino(tab->nv[i]);
		for (size_t i = 0; i < tab->wcap; i++)
			if (tab->wv[i].ino != 0)
				v[k++] = tab->wv[i].ino;
	}
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
	n = tab->nn + tab->wn;
	pthread_mutex_unlock(&tab->lock);
	return n;
}

size_t
ts_inodes_bytes(struct ts_inodes *tab)
{
	size_t n;

	pthread_mutex_lock(&tab->lock);
	n = sizeof(*tab) + tab->ncap * sizeof(*tab->nv) +
	    tab->wcap * sizeof(*tab->wv);
	pthread_mutex_unlock(&tab->lock);
	return n;
}
