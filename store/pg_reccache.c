/*
 * pg_reccache: a daemon's copy of the ticket records it read last, so
 * that a box read on a warm pass does not reach the database (the
 * directory store's record files sit in the kernel's page cache; a
 * PostgreSQL store's rows were a round trip a read).
 *
 * An entry is one ts_tickets row as read, its rec (the same sealed bytes
 * the database holds: no plaintext here) at its ver, with the ticket's
 * current key row (wrapped for the store's key, as in ts_ticket_keys) read
 * in the same statement.  It serves a box read only while the row's ver is
 * the one this process knows (pg_tickets.c's table, which every load,
 * reload on a change notice, write and removal sets); ver_set drops the
 * entry when it changes, and so do this process's key writes, so a
 * record another host rewrote is read afresh once its change is seen,
 * as the value cache above is emptied then (fs/read.c).  The key row it
 * hands out is only an offer: store/shred.c takes it only if it is the
 * ticket's (its tpk), else reads the key as usual.
 *
 * Bounded: PG_RC_BYTES of records, least recently used dropped first; a
 * record over PG_RC_ONE is not kept (its boxes are read one statement a
 * read, by substring, as before).  Two threads missing one ticket at once
 * (the request thread and a prefetch worker) make one statement: the
 * second waits for the first's.  Entries are wiped when dropped.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store/pg_priv.h"
#include "store/record.h"

#define RC_BUCKETS 4096u	/* a power of two */

struct rc_ent {
	struct rc_ent *hnext;	/* bucket chain */
	struct rc_ent *prev, *next;	/* LRU list, most recent first */
	uint64_t hash;
	int64_t ver;		/* of the row rec is */
	int loading;		/* its statement is under way (no rec yet) */
	int dead;		/* dropped while loading: the loader frees it */
	uint8_t *rec;		/* malloc'd; NULL while loading */
	size_t len;
	uint8_t *key;		/* current key row, malloc'd; NULL: none */
	size_t keylen;
	char id[TS_NAME_MAX + 1];
};

struct pg_reccache {
	pthread_mutex_t mu;	/* guards everything below */
	pthread_cond_t loaded;	/* a loading entry was filled or dropped */
	struct rc_ent *b[RC_BUCKETS];
	struct rc_ent *head, *tail;	/* LRU */
	size_t bytes;		/* of rec and key held */
	unsigned long long hits, misses;
};

static uint64_t
hash_of(const char *id)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a, then mixed */

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ull;
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 29;
	return h;
}

int
ts_pg_reccache_init(struct pg_store *ps)
{
	struct pg_reccache *c = calloc(1, sizeof(*c));

	if (c == NULL)
		return -ENOMEM;
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->loaded, NULL);
	ps->reccache = c;
	return 0;
}

static void
ent_free(struct rc_ent *e)
{
	if (e->rec != NULL) {
		sodium_memzero(e->rec, e->len);
		free(e->rec);
	}
	if (e->key != NULL) {
		sodium_memzero(e->key, e->keylen);
		free(e->key);
	}
	free(e);
}

/* Takes e out of its bucket and the LRU list (mu held). */
static void
unlink_ent(struct pg_reccache *c, struct rc_ent *e)
{
	struct rc_ent **p = &c->b[e->hash & (RC_BUCKETS - 1)];

	while (*p != NULL && *p != e)
		p = &(*p)->hnext;
	if (*p == e)
		*p = e->hnext;
	if (e->prev != NULL)
		e->prev->next = e->next;
	else if (c->head == e)
		c->head = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else if (c->tail == e)
		c->tail = e->prev;
	e->prev = e->next = e->hnext = NULL;
	if (!e->loading)
		c->bytes -= e->len + e->keylen;
}

/* Drops e: freed, or (loading) left to its loader (mu held). */
static void
drop_ent(struct pg_reccache *c, struct rc_ent *e)
{
	unlink_ent(c, e);
	if (e->loading)
		e->dead = 1;
	else
		ent_free(e);
}

static void
to_front(struct pg_reccache *c, struct rc_ent *e)
{
	if (c->head == e)
		return;
	if (e->prev != NULL)
		e->prev->next = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else if (c->tail == e)
		c->tail = e->prev;
	e->prev = NULL;
	e->next = c->head;
	if (c->head != NULL)
		c->head->prev = e;
	c->head = e;
	if (c->tail == NULL)
		c->tail = e;
}

static struct rc_ent *
find(struct pg_reccache *c, uint64_t h, const char *id)
{
	struct rc_ent *e = c->b[h & (RC_BUCKETS - 1)];

	while (e != NULL && (e->hash != h || strcmp(e->id, id) != 0))
		e = e->hnext;
	return e;
}

void
ts_pg_reccache_drop(struct pg_store *ps, const char *id)
{
	struct pg_reccache *c = ps->reccache;
	struct rc_ent *e;

	if (c == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	if ((e = find(c, hash_of(id), id)) != NULL)
		drop_ent(c, e);
	pthread_mutex_unlock(&c->mu);
}

void
ts_pg_reccache_free(struct pg_store *ps)
{
	struct pg_reccache *c = ps->reccache;

	if (c == NULL)
		return;
	while (c->head != NULL)
		drop_ent(c, c->head);
	pthread_cond_destroy(&c->loaded);
	pthread_mutex_destroy(&c->mu);
	free(c);
	ps->reccache = NULL;
}

/* The n boxes out of rec (len bytes) into bufs, as substring() would
 * give them: -EIO for a box past its end (a short read). */
static int
copy_boxes(const uint8_t *rec, size_t len, const struct ts_box *boxes,
           size_t n, uint8_t *const *bufs)
{
	for (size_t i = 0; i < n; i++)
		if ((uint64_t)boxes[i].off + boxes[i].len > len)
			return -EIO;
	for (size_t i = 0; i < n; i++)
		memcpy(bufs[i], rec + boxes[i].off, boxes[i].len);
	return 0;
}

/* A malloc'd copy of e's key row into *key (NULL if it has none). */
static int
copy_key(const struct rc_ent *e, uint8_t **key, size_t *keylen)
{
	if (key == NULL || e->key == NULL)
		return 0;
	if ((*key = malloc(e->keylen ? e->keylen : 1)) == NULL)
		return -ENOMEM;
	memcpy(*key, e->key, e->keylen);
	*keylen = e->keylen;
	return 0;
}

/*
 * One statement on pg: id's row (ver, and rec if it is at most PG_RC_ONE
 * bytes) and its current key row, from one snapshot, into e (rec NULL:
 * the record is too large to keep).  0, -ENOENT no such row, -errno.
 */
static int
fetch(struct ts_pg *pg, const char *id, struct rc_ent *e)
{
	char one[16];
	const char *v[] = { id, one };
	PGresult *r;
	int rc, row = 0;

	snprintf(one, sizeof(one), "%u", (unsigned)PG_RC_ONE);
	rc = pg_query_io(pg,
	    "SELECT 1::int8, t.ver, CASE WHEN octet_length(t.rec) <= "
	    "$2::integer THEN t.rec END FROM ts_tickets t WHERE t.id = $1 "
	    "UNION ALL SELECT 0::int8, 0::int8, k.key FROM ts_ticket_keys k "
	    "WHERE k.id = $1 AND NOT k.next", 2, v, NULL, NULL, 1, &r);
	if (rc < 0)
		return rc;
	rc = -ENOENT;
	for (row = 0; row < PQntuples(r); row++) {
		const char *kind = PQgetvalue(r, row, 0);
		size_t len = (size_t)PQgetlength(r, row, 2);
		uint8_t **to;

		if (PQgetlength(r, row, 0) != 8 || PQgetlength(r, row, 1) != 8) {
			rc = -EPROTO;
			break;
		}
		if (kind[7] == 1) {
			const unsigned char *p =
			    (const unsigned char *)PQgetvalue(r, row, 1);

			e->ver = 0;
			for (int i = 0; i < 8; i++)
				e->ver = (int64_t)((uint64_t)e->ver << 8 | p[i]);
			rc = 0;
			if (PQgetisnull(r, row, 2))
				continue;	/* too large to keep */
			to = &e->rec;
			e->len = len;
		} else if (e->key == NULL) {
			to = &e->key;
			e->keylen = len;
		} else {
			continue;
		}
		if ((*to = malloc(len ? len : 1)) == NULL) {
			rc = -ENOMEM;
			break;
		}
		memcpy(*to, PQgetvalue(r, row, 2), len);
	}
	PQclear(r);
	return rc;
}

int
ts_pg_reccache_read(struct pg_store *ps, struct ts_pg *pg, const char *id,
                    const struct ts_box *boxes, size_t n,
                    uint8_t *const *bufs, uint8_t **key, size_t *keylen)
{
	struct pg_reccache *c = ps->reccache;
	struct rc_ent got = { .loading = 0 }, *e;
	uint64_t h = hash_of(id);
	int64_t known;
	int rc, frc;

	if (c == NULL || (known = ts_pg_tickets_ver(ps, id)) == 0)
		return 1;	/* no cache, or a row this process has not seen */
	pthread_mutex_lock(&c->mu);
	while ((e = find(c, h, id)) != NULL && e->loading)
		pthread_cond_wait(&c->loaded, &c->mu);
	if (e != NULL && e->ver == known && e->rec != NULL) {
		rc = copy_boxes(e->rec, e->len, boxes, n, bufs);
		if (rc == 0)
			rc = copy_key(e, key, keylen);
		to_front(c, e);
		c->hits++;
		pthread_mutex_unlock(&c->mu);
		return rc;
	}
	if (e != NULL)
		drop_ent(c, e);	/* another ver's, or too large */
	c->misses++;
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		pthread_mutex_unlock(&c->mu);
		return -ENOMEM;
	}
	snprintf(e->id, sizeof(e->id), "%s", id);
	e->hash = h;
	e->loading = 1;
	e->hnext = c->b[h & (RC_BUCKETS - 1)];
	c->b[h & (RC_BUCKETS - 1)] = e;
	to_front(c, e);
	pthread_mutex_unlock(&c->mu);

	/* Read into got, not e: others look at e (under mu) meanwhile. */
	frc = rc = fetch(pg, id, &got);
	if (rc == 0 && got.rec == NULL)
		rc = 1;		/* too large: read by substring */
	if (rc == 0) {
		rc = copy_boxes(got.rec, got.len, boxes, n, bufs);
		if (rc == 0)
			rc = copy_key(&got, key, keylen);
	}
	/* Kept only if it is the row this process knows now. */
	known = ts_pg_tickets_ver(ps, id);
	pthread_mutex_lock(&c->mu);
	if (!e->dead && (frc != 0 || got.rec == NULL || got.ver != known))
		unlink_ent(c, e);	/* still loading: nothing counted */
	else if (!e->dead)
		e->loading = 0;
	e->ver = got.ver;
	e->rec = got.rec;
	e->len = got.len;
	e->key = got.key;
	e->keylen = got.keylen;
	if (!e->loading) {
		c->bytes += e->len + e->keylen;
		while (c->bytes > PG_RC_BYTES && c->tail != NULL &&
		       c->tail != e) {
			struct rc_ent *t = c->tail;

			while (t != NULL && t->loading)
				t = t->prev;
			if (t == NULL || t == e)
				break;
			drop_ent(c, t);
		}
	} else {
		ent_free(e);	/* unlinked (or dead), got's buffers with it */
	}
	pthread_cond_broadcast(&c->loaded);
	pthread_mutex_unlock(&c->mu);
	return rc;
}
