/*
 * refresh: a ticket of the index replaced by the store's current version
 * (fs/refresh.h), with what the kernel must forget of the old one.
 */
#include "fs/refresh.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "fs/index_priv.h"
#include "fs/inode.h"

/* The same message: a name is reused only after a removal, and a new
 * message under it has its own time (or size). */
static int
same_msg(const struct ts_message *a, const struct ts_message *b)
{
	return a->stored_ms == b->stored_ms && a->box.len == b->box.len;
}

static int
same_auth(const struct ts_auth *a, const struct ts_auth *b)
{
	return a->created_ms == b->created_ms;
}

/* Every node of ticket slot s the kernel may have cached, as content
 * changes (attributes, pages, listings dropped). */
static void
touch_ticket(struct ts_changes *ch, uint64_t s)
{
	ts_changes_add(ch, ts_ino_make(s, 0, TS_SUB_DIR), 0, NULL);
	ts_changes_add(ch, ts_ino_make(s, 0, TS_SUB_STATUS), 0, NULL);
	ts_changes_add(ch, ts_ino_make(s, 0, TS_SUB_MSGDIR), 0, NULL);
	ts_changes_add(ch, ts_ino_make(s, 0, TS_SUB_AUTHDIR), 0, NULL);
}

/*
 * Gives t's items the item numbers they had in e (by name, if the same
 * item) or new ones, and records what went, what came and (if deadlines
 * may have moved: a status move, a forget) what stayed.
 */
static void
carry_over(struct ts_index *idx, struct ts_entry *e, struct ts_ticket *t,
           struct ts_changes *ch)
{
	const struct ts_ticket *o = &e->t;
	uint64_t s = e->slot, ino;
	uint64_t tdir = ts_ino_make(s, 0, TS_SUB_DIR);
	uint64_t mdir = ts_ino_make(s, 0, TS_SUB_MSGDIR);
	uint64_t adir = ts_ino_make(s, 0, TS_SUB_AUTHDIR);
	int moved = o->status != t->status ||
	            o->processed_ms != t->processed_ms ||
	            o->forgotten_ms != t->forgotten_ms;

	t->next_slot = o->next_slot;
	touch_ticket(ch, s);
	for (int f = 0; f < TS_F_COUNT; f++) {
		ino = ts_ino_make(s, 0, TS_SUB_FIELD + (unsigned)f);
		if (o->field[f].len != 0 && t->field[f].len == 0)
			ts_index_gone(idx, ch, tdir, ino, ts_field_names[f]);
		else if (o->field[f].len != 0 && moved)
			ts_changes_add(ch, ino, 0, NULL);
		else if (o->field[f].len == 0 && t->field[f].len != 0)
			ts_changes_add(ch, tdir, 0, ts_field_names[f]);
	}
	for (size_t i = 0; i < t->nmsg; i++) {
		struct ts_message *m = &t->msg[i];
		struct ts_message *old = ts_ticket_find_msg(&e->t, m->name);

		if (old != NULL && same_msg(old, m)) {
			m->slot = old->slot;
			m->author = old->author;
			if (moved)
				ts_changes_add(ch, ts_ino_make(s, m->slot + 1,
				                               TS_SUB_ITEM), 0, NULL);
			continue;
		}
		m->slot = t->next_slot++;
		m->author = 0;
		/* A name the kernel may know as another inode (an old
		 * message, or this host's own message being written). */
		ts_changes_add(ch, mdir, 0, m->name);
	}
	for (size_t i = 0; i < o->nmsg; i++) {
		const struct ts_message *m = &o->msg[i];
		struct ts_message *now = ts_ticket_find_msg(t, m->name);

		if (now == NULL || now->slot != m->slot)
			ts_index_gone(idx, ch, mdir,
			              ts_ino_make(s, m->slot + 1, TS_SUB_ITEM),
			              m->name);
	}
	for (size_t i = 0; i < t->nauth; i++) {
		struct ts_auth *a = &t->auth[i];
		struct ts_auth *old = ts_ticket_find_auth(&e->t, a->name);

		if (old == NULL || !same_auth(old, a)) {
			a->slot = t->next_slot++;
			ts_changes_add(ch, adir, 0, a->name);
			continue;
		}
		a->slot = old->slot;
		ino = ts_ino_make(s, a->slot + 1, TS_SUB_ITEM);
		ts_changes_add(ch, ino, 0, NULL);
		for (int f = 0; f < TS_A_COUNT; f++)
			if (old->box[f].len != 0 && a->box[f].len == 0)
				ts_index_gone(idx, ch, ino,
				              ts_ino_make(s, a->slot + 1,
				                          TS_SUB_AFIELD + (unsigned)f),
				              ts_afield_names[f]);
		if (moved || old->expires_ms != a->expires_ms)
			ts_changes_add(ch, ts_ino_make(s, a->slot + 1,
			                               TS_SUB_EXPIRES), 0, NULL);
	}
	for (size_t i = 0; i < o->nauth; i++) {
		const struct ts_auth *a = &o->auth[i];
		struct ts_auth *now = ts_ticket_find_auth(t, a->name);

		if (now == NULL || now->slot != a->slot)
			ts_index_gone(idx, ch, adir,
			              ts_ino_make(s, a->slot + 1, TS_SUB_ITEM),
			              a->name);
	}
}

/* Empties e's ticket but its id: a damaged record's entry. */
static void
mark_damaged(struct ts_entry *e, int err)
{
	char id[sizeof(e->t.id)];

	memcpy(id, e->t.id, sizeof(id));
	ts_ticket_release(&e->t);
	memset(&e->t, 0, sizeof(e->t));
	memcpy(e->t.id, id, sizeof(id));
	e->err = err;
}

int
ts_index_refresh(struct ts_index *idx, const char *id, struct ts_changes *ch)
{
	char keep[TS_NAME_MAX + 1];
	struct ts_ticket *t = NULL;
	struct ts_entry *e;
	int rc;

	snprintf(keep, sizeof(keep), "%s", id);	/* id may be e's own */
	rc = ts_store_load_one(idx->st, keep, &t);
	e = ts_index_find(idx, keep);
	if (rc == -ENOENT) {
		if (e != NULL) {
			ts_index_gone(idx, ch, TS_INO_TICKETS,
			              ts_ino_make(e->slot, 0, TS_SUB_DIR), keep);
			ts_index_forget(idx, e);
		}
		return 0;
	}
	if (rc == -EBADMSG || rc == -EKEYREJECTED) {
		idx->log(idx->logarg, "ticket %s: %s; its items answer EIO",
		         keep, rc == -EKEYREJECTED ? "record not authenticated "
		         "by this daemon's key (forged, or written behind its "
		         "back)" : "damaged record");
		if (e == NULL) {
			if (ts_index_insert(idx, keep, NULL, rc) == NULL)
				return -ENOMEM;
			ts_changes_add(ch, TS_INO_TICKETS, 0, keep);
			return 0;
		}
		touch_ticket(ch, e->slot);
		mark_damaged(e, rc);
		ts_index_schedule(idx, e);
		return 0;
	}
	if (rc < 0)
		return rc;
	if (e == NULL) {
		t->next_slot = 0;
		if ((e = ts_index_insert(idx, keep, t, 0)) == NULL) {
			ts_ticket_free(t);
			return -ENOMEM;
		}
		ts_ticket_free(t);	/* emptied by the insert */
		ts_index_schedule(idx, e);
		ts_changes_add(ch, TS_INO_TICKETS, 0, keep);
		return 0;
	}
	carry_over(idx, e, t, ch);
	ts_ticket_release(&e->t);
	e->t = *t;
	memset(t, 0, sizeof(*t));
	ts_ticket_free(t);
	e->err = 0;
	e->changed_ms = ts_now_ms();
	ts_index_schedule(idx, e);
	return 0;
}
