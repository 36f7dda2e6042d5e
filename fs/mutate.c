/*
 * mutate: every change to a ticket the daemon makes itself, through the
 * mount (status moves, removals, new messages) and by the sweep (what the
 * policy says is due), each durable in the store before the index holds it.
 */
#include "fs/mutate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/deadline.h"
#include "fs/index_priv.h"
#include "fs/inode.h"
#include "store/intake.h"
#include "store/record.h"

/*
 * After a failed write the record on disk may be the old one or the new
 * one (the rename can succeed and the directory's fsync then fail): read
 * back whichever it is, so the index never holds offsets of another
 * version.  Messages and authorizations keep their inode numbers by name.
 */
void
ts_index_reload(struct ts_index *idx, struct ts_entry *e)
{
	struct ts_ticket t;
	uint8_t *buf;
	size_t len;
	int kind;

	if (ts_store_read_record(idx->st, e->t.id, &buf, &len) < 0)
		return;
	if (ts_record_decode(buf, len, &kind, &t) == 0 &&
	    kind == TS_REC_TICKET && strcmp(t.id, e->t.id) == 0) {
		t.next_slot = e->t.next_slot;
		for (size_t i = 0; i < t.nmsg; i++) {
			struct ts_message *m = ts_ticket_find_msg(&e->t,
			                                          t.msg[i].name);
			t.msg[i].slot = m ? m->slot : t.next_slot++;
		}
		for (size_t i = 0; i < t.nauth; i++) {
			struct ts_auth *a = ts_ticket_find_auth(&e->t,
			                                        t.auth[i].name);
			t.auth[i].slot = a ? a->slot : t.next_slot++;
		}
		ts_ticket_release(&e->t);
		e->t = t;
		ts_index_schedule(idx, e);
	} else {
		ts_ticket_release(&t);
	}
	free(buf);
}

/* Tries of an operation whose write lost to another host's (-EAGAIN):
 * each re-reads the ticket and checks the operation anew. */
#define TRIES 3

/*
 * A shared store's write of e lost to another host's (-EAGAIN): the
 * ticket is re-read so that the index holds the winner's version (what
 * the kernel must forget into ch).  e is not valid after: the caller finds
 * the ticket again by id and re-runs its checks.
 */
static void
lost(struct ts_index *idx, struct ts_entry *e, struct ts_changes *ch)
{
	char id[TS_NAME_MAX + 1];
	int rc;

	memcpy(id, e->t.id, sizeof(id));
	if ((rc = ts_index_refresh(idx, id, ch)) < 0)
		idx->log(idx->logarg, "ticket %s: another host changed it; "
		         "cannot read it again yet: %s", id, strerror(-rc));
}

/* The entry of ticket id again after lost(): 0 and *e, -ENOENT if it is
 * gone, -EIO if it is damaged now. */
static int
again(struct ts_index *idx, const char *id, struct ts_entry **e)
{
	if ((*e = ts_index_find(idx, id)) == NULL)
		return -ENOENT;
	return (*e)->err ? -EIO : 0;
}

/* Appends the changes of from to ch (paths and all). */
static void
changes_append(struct ts_changes *ch, const struct ts_changes *from)
{
	for (size_t i = 0; i < from->n && ch != NULL; i++) {
		size_t n = ch->n;

		ts_changes_add(ch, 0, 0, NULL);
		if (ch->n == n + 1)
			ch->v[n] = from->v[i];
	}
	if (ch != NULL && from->oom)
		ch->oom = 1;
}

/* Durably replaces e's ticket with *nt (taken over, zeroed).  On -EAGAIN
 * (another host wrote it first) the ticket was re-read and e is no longer
 * valid (lost()). */
static int
commit(struct ts_index *idx, struct ts_entry *e, struct ts_ticket *nt,
       const uint8_t *extra, struct ts_changes *ch)
{
	int rc = ts_store_write(idx->st, nt, extra);

	if (rc < 0) {
		ts_ticket_release(nt);
		if (rc == -EAGAIN)
			lost(idx, e, ch);
		else
			ts_index_reload(idx, e);
		return rc;
	}
	ts_ticket_release(&e->t);
	e->t = *nt;
	memset(nt, 0, sizeof(*nt));
	e->changed_ms = ts_now_ms();
	ts_index_schedule(idx, e);
	return 0;
}

int
ts_index_remove_ticket(struct ts_index *idx, struct ts_entry *e,
                       struct ts_changes *ch)
{
	int rc = ts_store_remove(idx->st, e->t.id);

	if (rc == -EAGAIN) {
		lost(idx, e, ch);
		return rc;
	}
	if (rc < 0 && rc != -ENOENT)
		return rc;
	ts_index_gone(idx, ch, TS_INO_TICKETS,
	              ts_ino_make(e->slot, 0, TS_SUB_DIR), e->t.id);
	/* A shared store's ticket already gone was removed by another host,
	 * which audits it: no path, so nothing is audited here. */
	if (rc == 0 || !ts_store_shared(idx->st))
		ts_changes_path(ch, "tickets/%s", e->t.id);
	ts_index_forget(idx, e);
	return 0;
}

/* Drops from nt every item of e due at now; 1 if any was. */
static int
drop_due(struct ts_index *idx, struct ts_entry *e, struct ts_ticket *nt,
         int64_t now, struct ts_changes *ch)
{
	uint64_t s = e->slot;
	size_t k;
	int any = 0;

	for (int f = 0; f < TS_F_COUNT; f++) {
		if (nt->field[f].len == 0 ||
		    ts_index_deadline_field(idx, e, f) > now)
			continue;
		nt->field[f] = (struct ts_box){ 0, 0 };
		ts_index_gone(idx, ch, ts_ino_make(s, 0, TS_SUB_DIR),
		              ts_ino_make(s, 0, TS_SUB_FIELD + (unsigned)f),
		              ts_field_names[f]);
		ts_changes_path(ch, "tickets/%s/%s", e->t.id,
		                ts_field_names[f]);
		any = 1;
	}
	for (size_t i = k = 0; i < nt->nmsg; i++) {
		if (ts_index_deadline_msg(idx, e, &nt->msg[i]) > now) {
			nt->msg[k++] = nt->msg[i];
			continue;
		}
		ts_index_gone(idx, ch, ts_ino_make(s, 0, TS_SUB_MSGDIR),
		              ts_ino_make(s, nt->msg[i].slot + 1, TS_SUB_ITEM),
		              nt->msg[i].name);
		ts_changes_path(ch, "tickets/%s/messages/%s", e->t.id,
		                nt->msg[i].name);
		any = 1;
	}
	nt->nmsg = k;
	for (size_t i = k = 0; i < nt->nauth; i++) {
		if (ts_index_deadline_auth(idx, e, &nt->auth[i]) > now) {
			nt->auth[k++] = nt->auth[i];
			continue;
		}
		ts_index_gone(idx, ch, ts_ino_make(s, 0, TS_SUB_AUTHDIR),
		              ts_ino_make(s, nt->auth[i].slot + 1, TS_SUB_ITEM),
		              nt->auth[i].name);
		ts_changes_path(ch, "tickets/%s/authorizations/%s", e->t.id,
		                nt->auth[i].name);
		any = 1;
	}
	nt->nauth = k;
	return any;
}

/*
 * Removes whatever of e is due at now, ticket and all if it is due.  What
 * went joins ch only once the write committed: a purge that failed, or
 * lost to another host's write (which then made its own), is not audited.
 */
static int
purge(struct ts_index *idx, struct ts_entry *e, int64_t now,
      struct ts_changes *ch)
{
	struct ts_changes due = { 0 };
	struct ts_ticket nt;
	int rc;

	if (e->err)
		return 0;
	if (ts_index_deadline_ticket(idx, e) <= now)
		return ts_index_remove_ticket(idx, e, ch);
	if ((rc = ts_ticket_copy(&nt, &e->t)) < 0)
		return rc;
	/* Nothing due but a removal's re-sealing for a fresh key: the same
	 * write, which the store re-seals (store/shred.c). */
	if (!drop_due(idx, e, &nt, now, &due)) {
		if (nt.shred_due_ms == 0 || nt.shred_due_ms > now) {
			ts_ticket_release(&nt);
			ts_index_schedule(idx, e);
			return 0;
		}
		nt.shred_due_ms = 0;	/* asks the store to re-seal now */
	}
	if ((rc = commit(idx, e, &nt, NULL, ch)) == 0)
		changes_append(ch, &due);
	ts_changes_release(&due);
	return rc;
}

int
ts_index_commit(struct ts_index *idx, struct ts_entry *e, struct ts_ticket *nt,
                struct ts_changes *ch)
{
	return commit(idx, e, nt, NULL, ch);
}

int
ts_index_purge(struct ts_index *idx, struct ts_entry *e, int64_t now,
               struct ts_changes *ch)
{
	return purge(idx, e, now, ch);
}

int64_t
ts_index_sweep(struct ts_index *idx, int64_t now, struct ts_changes *ch)
{
	size_t from = ch->n;
	int64_t d;
	int lost_to = 0;	/* purges that lost to another host's write */

	while ((d = ts_index_next_deadline(idx)) <= now) {
		struct ts_entry *e;
		char id[TS_NAME_MAX + 1];
		uint64_t slot = 0;
		int rc;

		(void)ts_deadline_top(&idx->heap, &d, &slot);
		e = ts_index_by_slot(idx, slot);
		ts_deadline_pop(&idx->heap);
		memcpy(id, e->t.id, sizeof(id));
		rc = purge(idx, e, now, ch);
		/* Lost to another host's write, the ticket was re-read: gone
		 * (that host purged it, and audits it), or purged anew by the
		 * winner's version. */
		if (rc < 0 && (e = ts_index_find(idx, id)) == NULL)
			continue;
		if (rc == -EAGAIN && ++lost_to <= TRIES) {
			ts_index_schedule(idx, e);
			continue;
		}
		if (rc < 0) {
			/* Still hidden by the clock checks; retry in a second. */
			idx->log(idx->logarg, "ticket %s: cannot purge expired "
			         "items: %s", id, strerror(-rc));
			ts_index_queue(idx, e, now + 1000);
			break;
		}
	}
	ts_changes_label(ch, from, "expire");
	return ts_index_next_deadline(idx);
}

static int
set_status(struct ts_index *idx, struct ts_entry *e, int status,
           struct ts_changes *ch)
{
	char id[TS_NAME_MAX + 1];
	struct ts_ticket nt;
	int64_t now = ts_now_ms();
	size_t from;
	int rc;

	if (status == e->t.status)
		return 0;
	if (status < e->t.status)
		return -EPERM;	/* open -> processing -> processed only */
	if ((rc = ts_ticket_copy(&nt, &e->t)) < 0)
		return rc;
	nt.status = status;
	if (status == TS_PROCESSING)
		nt.processing_ms = now;
	else
		nt.processed_ms = now;
	if ((rc = commit(idx, e, &nt, NULL, ch)) < 0)
		return rc;
	ts_changes_add(ch, ts_ino_make(e->slot, 0, TS_SUB_STATUS), 0, NULL);
	/* What the policy ties to processing goes now, not at the next tick
	 * (if that loses to another host's write, the sweep retries). */
	memcpy(id, e->t.id, sizeof(id));
	from = ch->n;
	rc = purge(idx, e, now, ch);
	ts_changes_label(ch, from, "expire");
	if (rc < 0)
		idx->log(idx->logarg, "ticket %s: processed, but its items are "
		         "not purged yet: %s", id, strerror(-rc));
	return 0;
}

/* A move that lost to another host's write is checked again against the
 * winner's status: one no longer allowed (a move back) is -EPERM. */
int
ts_index_set_status(struct ts_index *idx, struct ts_entry *e, int status,
                    struct ts_changes *ch)
{
	char id[TS_NAME_MAX + 1];
	int rc;

	memcpy(id, e->t.id, sizeof(id));
	rc = set_status(idx, e, status, ch);
	for (int i = 1; rc == -EAGAIN && i < TRIES; i++)
		if ((rc = again(idx, id, &e)) == 0)
			rc = set_status(idx, e, status, ch);
	return rc;
}

int
ts_index_remove_field(struct ts_index *idx, struct ts_entry *e, int field,
                      struct ts_changes *ch)
{
	struct ts_ticket nt;
	int rc;

	if (e->t.field[field].len == 0)
		return -ENOENT;
	if ((rc = ts_ticket_copy(&nt, &e->t)) < 0)
		return rc;
	nt.field[field] = (struct ts_box){ 0, 0 };
	if ((rc = commit(idx, e, &nt, NULL, ch)) < 0)
		return rc;
	ts_index_gone(idx, ch, ts_ino_make(e->slot, 0, TS_SUB_DIR),
	              ts_ino_make(e->slot, 0, TS_SUB_FIELD + (unsigned)field),
	              ts_field_names[field]);
	ts_changes_path(ch, "tickets/%s/%s", e->t.id, ts_field_names[field]);
	return 0;
}

int
ts_index_remove_msg(struct ts_index *idx, struct ts_entry *e,
                    struct ts_message *m, struct ts_changes *ch)
{
	size_t i = (size_t)(m - e->t.msg);
	uint64_t ino = ts_ino_make(e->slot, m->slot + 1, TS_SUB_ITEM);
	char name[TS_NAME_MAX + 1];
	struct ts_ticket nt;
	int rc;

	memcpy(name, m->name, sizeof(name));
	if ((rc = ts_ticket_copy(&nt, &e->t)) < 0)
		return rc;
	memmove(&nt.msg[i], &nt.msg[i + 1], (nt.nmsg - i - 1) * sizeof(*nt.msg));
	nt.nmsg--;
	if ((rc = commit(idx, e, &nt, NULL, ch)) < 0)
		return rc;
	ts_index_gone(idx, ch, ts_ino_make(e->slot, 0, TS_SUB_MSGDIR), ino,
	              name);
	ts_changes_path(ch, "tickets/%s/messages/%s", e->t.id, name);
	return 0;
}

int
ts_index_remove_afield(struct ts_index *idx, struct ts_entry *e,
                       struct ts_auth *a, int field, struct ts_changes *ch)
{
	size_t i = (size_t)(a - e->t.auth);
	uint64_t dir = ts_ino_make(e->slot, a->slot + 1, TS_SUB_ITEM);
	struct ts_ticket nt;
	int rc;

	if (a->box[field].len == 0)
		return -ENOENT;
	if ((rc = ts_ticket_copy(&nt, &e->t)) < 0)
		return rc;
	nt.auth[i].box[field] = (struct ts_box){ 0, 0 };
	if ((rc = commit(idx, e, &nt, NULL, ch)) < 0)
		return rc;
	ts_index_gone(idx, ch, dir,
	              ts_ino_make(e->slot, e->t.auth[i].slot + 1,
	                          TS_SUB_AFIELD + (unsigned)field),
	              ts_afield_names[field]);
	ts_changes_path(ch, "tickets/%s/authorizations/%s/%s", e->t.id,
	                e->t.auth[i].name, ts_afield_names[field]);
	return 0;
}

int
ts_index_remove_auth(struct ts_index *idx, struct ts_entry *e,
                     struct ts_auth *a, struct ts_changes *ch)
{
	size_t i = (size_t)(a - e->t.auth);
	uint64_t ino = ts_ino_make(e->slot, a->slot + 1, TS_SUB_ITEM);
	char name[TS_NAME_MAX + 1];
	struct ts_ticket nt;
	int rc;

	memcpy(name, a->name, sizeof(name));
	if ((rc = ts_ticket_copy(&nt, &e->t)) < 0)
		return rc;
	memmove(&nt.auth[i], &nt.auth[i + 1],
	        (nt.nauth - i - 1) * sizeof(*nt.auth));
	nt.nauth--;
	if ((rc = commit(idx, e, &nt, NULL, ch)) < 0)
		return rc;
	ts_index_gone(idx, ch, ts_ino_make(e->slot, 0, TS_SUB_AUTHDIR), ino,
	              name);
	ts_changes_path(ch, "tickets/%s/authorizations/%s", e->t.id, name);
	return 0;
}

static int
add_msg(struct ts_index *idx, struct ts_entry *e, const char *name,
        uint32_t slot, const char *text, size_t len,
        const unsigned char *pk, struct ts_changes *ch)
{
	char path[TS_NAME_MAX + 16];
	struct ts_ticket nt;
	struct ts_message *m;
	struct ts_box box;
	uint8_t *blob = NULL;
	size_t bloblen = 0;
	int rc;

	if (ts_ticket_find_msg(&e->t, name) != NULL)
		return -EEXIST;
	if (e->t.nmsg >= TS_MSG_PER_TICKET)
		return -EMLINK;	/* the most a ticket holds */
	snprintf(path, sizeof(path), "messages/%s", name);
	/* A keyed ticket's values are sealed for its own key. */
	rc = ts_intake_seal_append(e->t.keyed ? e->t.tpk : pk, e->t.id, path,
	                           text, len, &blob, &bloblen, &box);
	if (rc < 0)
		return rc;
	if ((rc = ts_ticket_copy(&nt, &e->t)) < 0)
		goto out;
	rc = -ENOMEM;
	if ((m = ts_ticket_add_msg(&nt)) == NULL) {
		ts_ticket_release(&nt);
		goto out;
	}
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->stored_ms = ts_now_ms();
	m->box = (struct ts_box){ box.off | TS_BOX_NEW, box.len };
	m->slot = slot;
	if (nt.next_slot <= slot)
		nt.next_slot = slot + 1;
	if ((rc = commit(idx, e, &nt, blob, ch)) < 0)
		goto out;
	ts_changes_add(ch, ts_ino_make(e->slot, 0, TS_SUB_MSGDIR), 0, NULL);
out:
	free(blob);
	return rc;
}

/* A message that lost to another host's write is checked again against
 * the winner's version: a name that exists now is -EEXIST. */
int
ts_index_add_msg(struct ts_index *idx, struct ts_entry *e, const char *name,
                 uint32_t slot, const char *text, size_t len,
                 const unsigned char *pk, struct ts_changes *ch)
{
	char id[TS_NAME_MAX + 1];
	int rc;

	memcpy(id, e->t.id, sizeof(id));
	rc = add_msg(idx, e, name, slot, text, len, pk, ch);
	for (int i = 1; rc == -EAGAIN && i < TRIES; i++)
		if ((rc = again(idx, id, &e)) == 0)
			rc = add_msg(idx, e, name, slot, text, len, pk, ch);
	return rc;
}
