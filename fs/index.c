/*
 * index: the in-memory ticket index and intake pickup.
 */
#include "fs/index.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fs/inode.h"
#include "store/record.h"

struct ts_index {
	pthread_rwlock_t lock;
	struct ts_store *st;	/* the store; written under lock */
	struct ts_entry **by_id;	/* sorted by id; guarded by lock */
	size_t n, cap;		/* by_id entries; guarded by lock */
	struct ts_entry **by_slot;	/* slot -> entry or NULL; guarded by lock */
	uint64_t nslots, slotcap;	/* guarded by lock */
	ts_index_log_fn log;	/* where problems are reported */
	void *logarg;
};

int
ts_index_new(struct ts_store *st, ts_index_log_fn log, void *logarg,
             struct ts_index **out)
{
	struct ts_index *idx = calloc(1, sizeof(*idx));

	if (idx == NULL)
		return -ENOMEM;
	pthread_rwlock_init(&idx->lock, NULL);
	idx->st = st;
	idx->log = log;
	idx->logarg = logarg;
	*out = idx;
	return 0;
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
	pthread_rwlock_destroy(&idx->lock);
	free(idx);
}

void
ts_index_rdlock(struct ts_index *idx)
{
	pthread_rwlock_rdlock(&idx->lock);
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
static struct ts_entry *
insert(struct ts_index *idx, const char *id, struct ts_ticket *t, int err)
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
	e->changed_ms = e->t.created_ms;
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

static int
load_one(void *arg, const char *id, struct ts_ticket *t, int err)
{
	struct ts_index *idx = arg;

	if (err < 0)
		idx->log(idx->logarg, "ticket %s: damaged record (%s); its items "
		         "answer EIO", id, strerror(-err));
	if (t != NULL)
		t->next_slot = 0;
	if (insert(idx, id, t, err) == NULL) {
		if (t != NULL)
			ts_ticket_release(t);
		return -ENOMEM;
	}
	return 0;
}

int
ts_index_load(struct ts_index *idx)
{
	int rc;

	pthread_rwlock_wrlock(&idx->lock);
	rc = ts_store_load(idx->st, load_one, idx);
	pthread_rwlock_unlock(&idx->lock);
	return rc;
}

struct intake_ctx {
	struct ts_index *idx;
	struct ts_index_change *ch;	/* changes so far */
	size_t nch;
	int oom;
};

static void
note(struct intake_ctx *c, uint64_t dir, uint64_t gone, const char *name)
{
	struct ts_index_change *v = realloc(c->ch, (c->nch + 1) * sizeof(*v));

	if (v == NULL) {
		c->oom = 1;
		return;
	}
	c->ch = v;
	v[c->nch].dir_ino = dir;
	v[c->nch].gone_ino = gone;
	snprintf(v[c->nch].name, sizeof(v[c->nch].name), "%s", name ? name : "");
	c->nch++;
}

static void
mark_new(struct ts_box *b)
{
	if (b->len != 0)
		b->off |= TS_BOX_NEW;
}

static int
take_ticket(struct intake_ctx *c, struct ts_ticket *in, const uint8_t *buf)
{
	struct ts_index *idx = c->idx;
	struct ts_entry *e;
	int rc;

	if (ts_index_find(idx, in->id) != NULL)
		return 0;	/* taken in before a crash; the store has it */
	for (int f = 0; f < TS_F_COUNT; f++)
		mark_new(&in->field[f]);
	for (size_t i = 0; i < in->nmsg; i++)
		mark_new(&in->msg[i].box);
	for (size_t i = 0; i < in->nauth; i++)
		for (int f = 0; f < TS_A_COUNT; f++)
			mark_new(&in->auth[i].box[f]);
	if ((rc = ts_store_write(idx->st, in, buf)) < 0)
		return rc;
	in->next_slot = 0;
	if ((e = insert(idx, in->id, in, 0)) == NULL)
		return -ENOMEM;
	note(c, TS_INO_TICKETS, 0, NULL);
	return 0;
}

/* Applies a message, authorization or revocation to its ticket. */
static int
take_item(struct intake_ctx *c, int kind, struct ts_ticket *in,
          const uint8_t *buf)
{
	struct ts_index *idx = c->idx;
	struct ts_entry *e = ts_index_find(idx, in->id);
	struct ts_ticket nt;
	uint64_t dir;
	int rc;

	if (e == NULL) {
		idx->log(idx->logarg, "intake for unknown ticket %s refused",
		         in->id);
		return -ENOENT;
	}
	if (e->err)
		return -EAGAIN;	/* a damaged ticket: keep it for after repair */
	if ((rc = ts_ticket_copy(&nt, &e->t)) < 0)
		return rc;
	if (kind == TS_REC_MESSAGE) {
		struct ts_message *m;

		dir = ts_ino_make(e->slot, 0, TS_SUB_MSGDIR);
		if (ts_ticket_find_msg(&nt, in->msg[0].name) != NULL)
			goto out_done;	/* already taken in */
		if ((m = ts_ticket_add_msg(&nt)) == NULL)
			goto out_nomem;
		*m = (struct ts_message){ .stored_ms = in->msg[0].stored_ms,
		                          .box = in->msg[0].box,
		                          .slot = m->slot };
		memcpy(m->name, in->msg[0].name, sizeof(m->name));
		mark_new(&m->box);
	} else if (kind == TS_REC_AUTH) {
		struct ts_auth *a;
		uint32_t slot;

		dir = ts_ino_make(e->slot, 0, TS_SUB_AUTHDIR);
		if (ts_ticket_find_auth(&nt, in->auth[0].name) != NULL)
			goto out_done;
		if ((a = ts_ticket_add_auth(&nt)) == NULL)
			goto out_nomem;
		slot = a->slot;
		*a = in->auth[0];
		a->slot = slot;
		for (int f = 0; f < TS_A_COUNT; f++)
			mark_new(&a->box[f]);
	} else {
		struct ts_auth *a = ts_ticket_find_auth(&nt, in->auth[0].name);
		size_t i;

		dir = ts_ino_make(e->slot, 0, TS_SUB_AUTHDIR);
		if (a == NULL)
			goto out_done;	/* gone already */
		i = (size_t)(a - nt.auth);
		note(c, dir, ts_ino_make(e->slot, a->slot + 1, TS_SUB_ITEM),
		     a->name);
		memmove(&nt.auth[i], &nt.auth[i + 1],
		        (nt.nauth - i - 1) * sizeof(*nt.auth));
		nt.nauth--;
	}
	if ((rc = ts_store_write(idx->st, &nt, buf)) < 0) {
		ts_ticket_release(&nt);
		return rc;
	}
	ts_ticket_release(&e->t);
	e->t = nt;
	e->changed_ms = ts_now_ms();
	note(c, dir, 0, NULL);
	return 0;
out_done:
	ts_ticket_release(&nt);
	return 0;
out_nomem:
	ts_ticket_release(&nt);
	return -ENOMEM;
}

static int
take_one(void *arg, const char *name, int kind, struct ts_ticket *t,
         const uint8_t *buf, int err)
{
	struct intake_ctx *c = arg;
	int rc;

	if (err < 0) {
		c->idx->log(c->idx->logarg, "intake %s: damaged record (%s); "
		            "moved to intake/rejected", name, strerror(-err));
		return err;
	}
	if (kind == TS_REC_TICKET)
		rc = take_ticket(c, t, buf);
	else
		rc = take_item(c, kind, t, buf);
	ts_ticket_release(t);
	if (rc < 0 && rc != -EAGAIN && rc != -ENOENT)
		c->idx->log(c->idx->logarg, "intake %s: %s", name,
		            strerror(-rc));
	/* A failing store (EIO, ENOSPC) is retried, not rejected. */
	if (rc == -EIO || rc == -ENOSPC || rc == -EDQUOT || rc == -ENOMEM)
		rc = -EAGAIN;
	return rc;
}

int
ts_index_intake(struct ts_index *idx, struct ts_index_change **ch,
                size_t *nch)
{
	struct intake_ctx c = { idx, *ch, *nch, 0 };
	int rc;

	pthread_rwlock_wrlock(&idx->lock);
	rc = ts_store_intake_poll(idx->st, take_one, &c);
	pthread_rwlock_unlock(&idx->lock);
	*ch = c.ch;
	*nch = c.nch;
	return rc;
}

int
ts_index_open_box(struct ts_index *idx, const struct ts_seckey *key,
                  struct ts_entry *e, const char *field,
                  const struct ts_box *box, uint8_t **plain)
{
	uint64_t plen = ts_box_plain_len(box);
	uint8_t *sealed, *p;
	int rc;

	if (box->len < TS_SEAL_OVERHEAD)
		return -EIO;
	if ((sealed = malloc(box->len)) == NULL)
		return -ENOMEM;
	if ((p = malloc(plen + 1)) == NULL) {
		free(sealed);
		return -ENOMEM;
	}
	rc = ts_store_read_box(idx->st, e->t.id, box, sealed);
	if (rc == 0)
		rc = ts_seal_open(key, e->t.id, field, sealed, box->len, p);
	free(sealed);
	if (rc < 0) {
		idx->log(idx->logarg, "ticket %s: %s does not open (%s)",
		         e->t.id, field, rc == -EBADMSG ?
		         "damaged, forged or moved box" : strerror(-rc));
		sodium_memzero(p, plen + 1);
		free(p);
		return -EIO;
	}
	p[plen] = '\0';
	*plain = p;
	return 0;
}
