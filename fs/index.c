/*
 * index: the ticket table and its lookups (by id, by slot), item numbers,
 * the tombs of what went away, the change lists, and opening a box.  The
 * deadlines are fs/due.c, changes fs/mutate.c, intake fs/take.c.
 */
#include "fs/index.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/deadline.h"
#include "fs/index_priv.h"
#include "fs/inode.h"

#define TOMB_MS (60 * 1000)
#define QUIET_MS (60 * 1000)

/* Item numbers 0 .. ITEM_LIMIT - 1: item + 1 fits an inode's item bits. */
#define ITEM_LIMIT (TS_ITEM_MAX - 1)

int
ts_index_new(struct ts_store *st, ts_index_log_fn log, void *logarg,
             struct ts_index **out)
{
	struct ts_index *idx = calloc(1, sizeof(*idx));

	if (idx == NULL)
		return -ENOMEM;
	pthread_rwlock_init(&idx->lock, NULL);
	pthread_mutex_init(&idx->quiet_lock, NULL);
	idx->st = st;
	idx->log = log;
	idx->logarg = logarg;
	*out = idx;
	return 0;
}

void
ts_index_set_busy(struct ts_index *idx, ts_index_busy_fn fn, void *arg)
{
	idx->busy = fn;
	idx->busyarg = arg;
}

void
ts_index_set_prune(struct ts_index *idx, ts_index_prune_fn fn, void *arg)
{
	idx->prune = fn;
	idx->prunearg = arg;
}

/*
 * A free item number for a new item of ticket t (e's, or a copy of it):
 * the next one, or once those ran out, the lowest one that no item of t
 * has, e does not keep spare and busy() does not claim; -EMLINK if none.
 * t->next_slot is the caller's to advance.
 */
int
ts_index_pick_item(struct ts_index *idx, const struct ts_entry *e,
                   const struct ts_ticket *t, uint32_t *item)
{
	uint8_t *used;

	if (t->next_slot < ITEM_LIMIT) {
		*item = t->next_slot;
		return 0;
	}
	if ((used = calloc(ITEM_LIMIT / 8 + 1, 1)) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < t->nmsg; i++)
		used[t->msg[i].slot / 8] |= (uint8_t)(1u << (t->msg[i].slot % 8));
	for (size_t i = 0; i < t->nauth; i++)
		used[t->auth[i].slot / 8] |= (uint8_t)(1u << (t->auth[i].slot % 8));
	for (unsigned i = 0; i < e->nspare; i++)
		used[e->spare[i] / 8] |= (uint8_t)(1u << (e->spare[i] % 8));
	for (uint32_t i = 0; i < ITEM_LIMIT; i++)
		if (!(used[i / 8] & (1u << (i % 8))) &&
		    (idx->busy == NULL || !idx->busy(idx->busyarg, e->slot, i))) {
			free(used);
			*item = i;
			return 0;
		}
	free(used);
	return -EMLINK;
}

int
ts_index_take_item(struct ts_index *idx, struct ts_entry *e, uint32_t *item)
{
	int rc;

	if (e->nspare > 0) {
		*item = e->spare[--e->nspare];
		return 0;
	}
	if ((rc = ts_index_pick_item(idx, e, &e->t, item)) == 0 &&
	    e->t.next_slot <= *item)
		e->t.next_slot = *item + 1;
	return rc;
}

/*
 * The kernel may still hold the inode of a message that was never stored,
 * and its number may name a new message all the same: such an inode has
 * no cached entry, attributes or pages (timeouts 0, direct I/O), so the
 * kernel asks again and learns the new one.
 */
void
ts_index_give_item(struct ts_index *idx, struct ts_entry *e, uint32_t item)
{
	(void)idx;
	if (item + 1 == e->t.next_slot)
		e->t.next_slot = item;
	else if (e->nspare < sizeof(e->spare) / sizeof(e->spare[0]))
		e->spare[e->nspare++] = item;
	/* else lost until the numbers run out and ts_index_pick_item()
	 * finds it */
}

void
ts_index_free(struct ts_index *idx)
{
	if (idx == NULL)
		return;
	for (size_t i = 0; i < idx->n; i++) {
		ts_ticket_release(&idx->by_id[i]->t);
		free(idx->by_id[i]);
	}
	free(idx->by_id);
	free(idx->by_slot);
	ts_deadline_release(&idx->heap);
	pthread_rwlock_destroy(&idx->lock);
	pthread_mutex_destroy(&idx->quiet_lock);
	free(idx);
}

void
ts_index_rdlock(struct ts_index *idx)
{
	pthread_rwlock_rdlock(&idx->lock);
}

void
ts_index_wrlock(struct ts_index *idx)
{
	pthread_rwlock_wrlock(&idx->lock);
}

void
ts_index_unlock(struct ts_index *idx)
{
	pthread_rwlock_unlock(&idx->lock);
}

size_t
ts_index_count(struct ts_index *idx)
{
	return idx->n;
}

struct ts_entry *
ts_index_at(struct ts_index *idx, size_t i)
{
	return i < idx->n ? idx->by_id[i] : NULL;
}

/* Position of id in by_id, or where it would go; *found says which. */
static size_t
search(struct ts_index *idx, const char *id, int *found)
{
	size_t lo = 0, hi = idx->n;

	*found = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(idx->by_id[mid]->t.id, id);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct ts_entry *
ts_index_find(struct ts_index *idx, const char *id)
{
	int found;
	size_t i = search(idx, id, &found);

	return found ? idx->by_id[i] : NULL;
}

struct ts_entry *
ts_index_next(struct ts_index *idx, const struct ts_entry *e)
{
	int found;
	size_t i = search(idx, e->t.id, &found);

	return found && i + 1 < idx->n ? idx->by_id[i + 1] : NULL;
}

struct ts_entry *
ts_index_by_slot(struct ts_index *idx, uint64_t slot)
{
	return slot < idx->nslots ? idx->by_slot[slot] : NULL;
}

struct ts_message *
ts_entry_msg(struct ts_entry *e, uint32_t item)
{
	for (size_t i = 0; i < e->t.nmsg; i++)
		if (e->t.msg[i].slot + 1 == item)
			return &e->t.msg[i];
	return NULL;
}

struct ts_auth *
ts_entry_auth(struct ts_entry *e, uint32_t item)
{
	for (size_t i = 0; i < e->t.nauth; i++)
		if (e->t.auth[i].slot + 1 == item)
			return &e->t.auth[i];
	return NULL;
}

/* Inserts a new entry for id (t moved in, or NULL with err). */
struct ts_entry *
ts_index_insert(struct ts_index *idx, const char *id, struct ts_ticket *t,
                int err)
{
	struct ts_entry *e;
	size_t at;
	int found;

	at = search(idx, id, &found);
	if (found)
		return NULL;
	if (idx->n == idx->cap) {
		size_t cap = idx->cap ? 2 * idx->cap : 1024;
		struct ts_entry **v = realloc(idx->by_id, cap * sizeof(*v));
		if (v == NULL)
			return NULL;
		idx->by_id = v;
		idx->cap = cap;
	}
	if (idx->nslots == idx->slotcap) {
		uint64_t cap = idx->slotcap ? 2 * idx->slotcap : 1024;
		struct ts_entry **v = realloc(idx->by_slot, cap * sizeof(*v));
		if (v == NULL)
			return NULL;
		idx->by_slot = v;
		idx->slotcap = cap;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	/* id may point into t, which is moved and zeroed below. */
	snprintf(e->t.id, sizeof(e->t.id), "%s", id);
	if (t != NULL) {
		char keep[sizeof(e->t.id)];

		memcpy(keep, e->t.id, sizeof(keep));
		e->t = *t;
		memcpy(e->t.id, keep, sizeof(keep));
		memset(t, 0, sizeof(*t));
	}
	e->err = err;
	e->slot = idx->nslots;
	/* A directory's time is its last change the store knows of, so it
	 * is the same at every mount (tar, rsync see an unchanged tree). */
	e->changed_ms = e->t.created_ms;
	if (e->t.processing_ms > e->changed_ms)
		e->changed_ms = e->t.processing_ms;
	if (e->t.processed_ms > e->changed_ms)
		e->changed_ms = e->t.processed_ms;
	for (size_t i = 0; i < e->t.nmsg; i++)
		if (e->t.msg[i].stored_ms > e->changed_ms)
			e->changed_ms = e->t.msg[i].stored_ms;
	for (size_t i = 0; i < e->t.nauth; i++)
		if (e->t.auth[i].created_ms > e->changed_ms)
			e->changed_ms = e->t.auth[i].created_ms;
	if (e->t.created_ms > idx->tickets_ms)	/* tickets/ got it */
		idx->tickets_ms = e->t.created_ms;
	/* Item numbers: slot + 1 must stay within the inode's item field. */
	for (size_t i = 0; i < e->t.nmsg; i++)
		e->t.msg[i].slot = e->t.next_slot++;
	for (size_t i = 0; i < e->t.nauth; i++)
		e->t.auth[i].slot = e->t.next_slot++;
	idx->by_slot[idx->nslots++] = e;
	memmove(&idx->by_id[at + 1], &idx->by_id[at],
	        (idx->n - at) * sizeof(*idx->by_id));
	idx->by_id[at] = e;
	idx->n++;
	return e;
}

int
ts_index_slot_used(struct ts_index *idx, uint64_t slot)
{
	return slot < idx->nslots;
}

void
ts_changes_add(struct ts_changes *c, uint64_t dir, uint64_t gone,
               const char *name)
{
	struct ts_index_change *v;

	if (c == NULL)
		return;
	if ((v = realloc(c->v, (c->n + 1) * sizeof(*v))) == NULL) {
		c->oom = 1;
		return;
	}
	c->v = v;
	memset(&v[c->n], 0, sizeof(v[c->n]));
	v[c->n].dir_ino = dir;
	v[c->n].gone_ino = gone;
	snprintf(v[c->n].name, sizeof(v[c->n].name), "%s", name ? name : "");
	c->n++;
}

void
ts_changes_label(struct ts_changes *c, size_t from, const char *op)
{
	for (size_t i = from; i < c->n; i++)
		if (c->v[i].path[0] != '\0' && c->v[i].op[0] == '\0')
			snprintf(c->v[i].op, sizeof(c->v[i].op), "%s", op);
}

void
ts_changes_path(struct ts_changes *c, const char *fmt, ...)
{
	va_list ap;

	if (c == NULL || c->n == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(c->v[c->n - 1].path, sizeof(c->v[c->n - 1].path), fmt, ap);
	va_end(ap);
}

void
ts_changes_release(struct ts_changes *c)
{
	free(c->v);
	memset(c, 0, sizeof(*c));
}

/* Records that ino, named name in dir, went away. */
void
ts_index_gone(struct ts_index *idx, struct ts_changes *ch, uint64_t dir,
              uint64_t ino, const char *name)
{
	struct tomb *t = &idx->tombs[idx->ntomb++ % NTOMBS];

	*t = (struct tomb){ dir, ino, "", ts_now_ms() };
	snprintf(t->name, sizeof(t->name), "%s", name);
	ts_changes_add(ch, dir, ino, name);
}

int
ts_index_tomb(struct ts_index *idx, uint64_t dir, const char *name)
{
	int64_t now = ts_now_ms();

	for (unsigned i = 0; i < NTOMBS; i++) {
		struct tomb *t = &idx->tombs[i];

		if (t->ms == 0 || now - t->ms > TOMB_MS)
			continue;
		if (name == NULL ? t->ino == dir :
		    t->dir == dir && strcmp(t->name, name) == 0)
			return 1;
	}
	return 0;
}

/*
 * Whether ticket id's shredding is to be logged now: not if it was in the
 * last minute (one cat reads a box several times; each read fails).
 * Any lock or none held.
 */
static int
shred_log_due(struct ts_index *idx, const char *id)
{
	int64_t now = ts_now_ms();
	struct quiet *q;
	int due = 1;

	pthread_mutex_lock(&idx->quiet_lock);
	for (unsigned i = 0; i < NQUIET; i++) {
		q = &idx->quiet[i];
		if (q->ms == 0 || strcmp(q->id, id) != 0)
			continue;
		if (now - q->ms < QUIET_MS && now >= q->ms)
			due = 0;
		else
			q->ms = now;
		goto out;
	}
	q = &idx->quiet[idx->nquiet++ % NQUIET];
	snprintf(q->id, sizeof(q->id), "%s", id);
	q->ms = now;
out:
	pthread_mutex_unlock(&idx->quiet_lock);
	return due;
}

/*
 * Opens sealed (the box's bytes, as read) bound to field into a malloc'd
 * buffer (+1, NUL), logging what does not open: 0, or -EIO (logged),
 * -ENOMEM.
 */
static int
open_read(struct ts_index *idx, struct ts_entry *e, const char *field,
          const struct ts_box *box, const uint8_t *sealed, uint8_t **plain)
{
	uint64_t plen = ts_box_plain_len(box);
	uint8_t *p;
	int rc;

	if ((p = malloc(plen + 1)) == NULL)
		return -ENOMEM;
	rc = ts_store_open_box(idx->st, &e->t, field, sealed, box->len, p);
	if (rc < 0) {
		sodium_memzero(p, plen + 1);
		free(p);
	}
	if (rc == -ENOKEY && e->t.keyed) {
		if (shred_log_due(idx, e->t.id))
			idx->log(idx->logarg, "ticket %s: shredded (its key "
			         "is gone)", e->t.id);
		return -EIO;
	}
	if (rc < 0) {
		idx->log(idx->logarg, "ticket %s: %s does not open (%s)",
		         e->t.id, field, rc == -EBADMSG ?
		         "damaged, forged or moved box" : strerror(-rc));
		return -EIO;
	}
	p[plen] = '\0';
	*plain = p;
	return 0;
}

/* What a failed read of e's boxes says (rc from the store): -EIO, logged
 * as open_read would have. */
static int
read_failed(struct ts_index *idx, struct ts_entry *e, const char *field,
            int rc)
{
	if (rc == -ENOMEM)
		return rc;
	idx->log(idx->logarg, "ticket %s: %s does not open (%s)", e->t.id,
	         field, strerror(-rc));
	return -EIO;
}

int
ts_index_open_box(struct ts_index *idx, const struct ts_seckey *key,
                  struct ts_entry *e, const char *field,
                  const struct ts_box *box, uint8_t **plain)
{
	uint8_t *sealed;
	int rc;

	(void)key;	/* the store holds it, and the tickets' own keys */
	if (box->len < TS_SEAL_OVERHEAD)
		return -EIO;
	if ((sealed = malloc(box->len)) == NULL)
		return -ENOMEM;
	/* As the prefetcher reads, with the ticket's key where the backend
	 * brings it in the same go (a shared store: one statement, or none
	 * when it kept the record); a directory store's is one pread. */
	if ((rc = ts_store_read_boxes(idx->st, &e->t, box, 1, &sealed)) < 0)
		rc = read_failed(idx, e, field, rc);
	else
		rc = open_read(idx, e, field, box, sealed, plain);
	free(sealed);
	return rc;
}

int
ts_index_read_boxes(struct ts_index *idx, struct ts_entry *e, size_t n,
                    const char *const *fields, const struct ts_box *boxes,
                    uint8_t *const *sealed)
{
	int rc;

	for (size_t i = 0; i < n; i++)
		if (boxes[i].len < TS_SEAL_OVERHEAD)
			return -EIO;
	if ((rc = ts_store_read_boxes(idx->st, &e->t, boxes, n, sealed)) < 0)
		return read_failed(idx, e, n > 0 ? fields[0] : "?", rc);
	return 0;
}

int
ts_index_open_sealed(struct ts_index *idx, struct ts_entry *e,
                     const char *field, const struct ts_box *box,
                     const uint8_t *sealed, uint8_t **plain)
{
	return open_read(idx, e, field, box, sealed, plain);
}

void
ts_index_forget(struct ts_index *idx, struct ts_entry *e)
{
	int found;
	size_t at = search(idx, e->t.id, &found);

	if (found) {
		memmove(&idx->by_id[at], &idx->by_id[at + 1],
		        (idx->n - at - 1) * sizeof(*idx->by_id));
		idx->n--;
	}
	idx->by_slot[e->slot] = NULL;
	idx->tickets_ms = ts_now_ms();
	ts_ticket_release(&e->t);
	free(e);
}

int64_t
ts_index_tickets_changed(struct ts_index *idx)
{
	return idx->tickets_ms;
}
