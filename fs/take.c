/*
 * take: intake taken into the index, the one path by which changes from
 * outside the daemon's own requests enter it (fs/take.h).
 */
#include "fs/take.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fs/index_priv.h"
#include "fs/inode.h"
#include "store/intake.h"
#include "store/record.h"

/* Gives new item number item of t, from ts_index_pick_item(), to the
 * item. */
static void
use_item(struct ts_ticket *t, uint32_t *slot_of_item, uint32_t item)
{
	*slot_of_item = item;
	if (t->next_slot <= item)
		t->next_slot = item + 1;
}

struct intake_ctx {
	struct ts_index *idx;
	struct ts_changes *ch;	/* changes so far */
	char why[128];		/* why the record at hand was refused, for
				   the log and the audit trail; "" if no
				   more than its errno says */
	/* New tickets of a directory store written without a flush, not
	 * yet in the index: commit_pending flushes them once and shows
	 * them.  Their intake is deleted only after (TS_INTAKE_COMMIT). */
	struct pend {
		struct ts_ticket t;
		char ip[TS_CLIENT_IP_MAX + 1];	/* its client's, for the
						   trail */
	} *pend;
	size_t npend, pendcap;
	int flush_err;		/* a flush failed: the poll's commit fails */
	int reflush;		/* a ticket found on disk already (a killed
				   daemon's unflushed write): flush before its
				   intake goes */
	const char *ip;		/* the record at hand's client's address */
};

static void
note(struct intake_ctx *c, uint64_t dir, uint64_t gone, const char *name)
{
	ts_changes_add(c->ch, dir, gone, name);
}

static void
mark_new(struct ts_box *b)
{
	if (b->len != 0)
		b->off |= TS_BOX_NEW;
}

/* An intake item is sealed for the store's key: a keyed ticket's write
 * reseals it for the ticket's own (store.h). */
static void
mark_storekey(const struct ts_ticket *t, struct ts_box *b)
{
	if (b->len != 0 && t->keyed)
		b->off |= TS_BOX_STOREKEY;
}

/* How far a front end's clock may run ahead of the daemon's, or behind. */
#define INTAKE_SKEW_MS (5 * 60 * 1000)

/*
 * The time to store for a stamp a front end's clock set, taken in at now:
 * the stamp if it is within the 5 minutes before now; now if it is later
 * (up to 5 minutes) or older; -EINVAL (why says so) if it is more than 5
 * minutes after now.  Retention thus always runs from the daemon's clock.
 */
static int
take_time(struct intake_ctx *c, int64_t *stamp, int64_t now, const char *what)
{
	char t[32];

	if (*stamp > now + INTAKE_SKEW_MS) {
		ts_time_format(*stamp, t);
		snprintf(c->why, sizeof(c->why), "%s %s is over 5 min after "
		         "take-in: the front end's clock is ahead", what, t);
		return -EINVAL;
	}
	if (*stamp > now || *stamp < now - INTAKE_SKEW_MS)
		*stamp = now;
	return 0;
}

/* Applies take_time to every stamp of intake record in (of kind). */
static int
take_times(struct intake_ctx *c, int kind, struct ts_ticket *in)
{
	int64_t now = ts_now_ms();
	int rc = 0;

	if (kind == TS_REC_TICKET)
		rc = take_time(c, &in->created_ms, now, "created");
	for (size_t i = 0; i < in->nmsg && rc == 0; i++)
		rc = take_time(c, &in->msg[i].stored_ms, now, "stored");
	for (size_t i = 0; i < in->nauth && rc == 0; i++)
		if (kind != TS_REC_REVOKE)
			rc = take_time(c, &in->auth[i].created_ms, now, "created");
	return rc;
}

/* 1 if ticket id is written and waits for commit_pending. */
static int
pending(const struct intake_ctx *c, const char *id)
{
	for (size_t i = 0; i < c->npend; i++)
		if (strcmp(c->pend[i].t.id, id) == 0)
			return 1;
	return 0;
}

/* Drops the pending tickets unshown (their intake stays, taken in again
 * next poll: the write is then made again). */
static void
drop_pending(struct intake_ctx *c)
{
	for (size_t i = 0; i < c->npend; i++)
		ts_ticket_release(&c->pend[i].t);
	c->npend = 0;
}

/*
 * Makes the pending tickets durable with one flush, then shows them: into
 * the index under the write lock, one take of it for the lot.  Returns 0,
 * or -errno with none shown (and their intake kept); once it failed, it
 * fails for the rest of the round, so that TS_INTAKE_COMMIT keeps every
 * record of the poll.
 */
static int
commit_pending(struct intake_ctx *c)
{
	struct ts_index *idx = c->idx;
	int rc = 0;

	/* Tickets dropped by a failed flush had their records reported
	 * taken in: nothing of this poll may be deleted now. */
	if (c->flush_err < 0)
		return c->flush_err;
	if (c->npend == 0 && !c->reflush)
		return 0;
	if ((rc = ts_store_flush(idx->st)) < 0) {
		c->flush_err = rc;
		idx->log(idx->logarg, "intake: cannot flush the round's new "
		         "tickets (%zu): %s; left in intake for the next poll",
		         c->npend, strerror(-rc));
		drop_pending(c);
		return rc;
	}
	c->reflush = 0;
	pthread_rwlock_wrlock(&idx->lock);
	for (size_t i = 0; i < c->npend; i++) {
		struct ts_ticket *t = &c->pend[i].t;
		struct ts_entry *e = ts_index_insert(idx, t->id, t, 0);
		size_t from = c->ch->n;

		if (e == NULL) {
			rc = c->flush_err = -ENOMEM;	/* the rest waits in
							   intake */
			break;
		}
		ts_index_schedule(idx, e);
		note(c, TS_INO_TICKETS, 0, NULL);
		ts_changes_path(c->ch, "tickets/%s", e->t.id);
		for (size_t j = from; j < c->ch->n; j++)
			memcpy(c->ch->v[j].client_ip, c->pend[i].ip,
			       sizeof(c->pend[i].ip));
	}
	pthread_rwlock_unlock(&idx->lock);
	drop_pending(c);
	return rc;
}

/* Sets new ticket *in aside for commit_pending (moved: *in is left
 * empty). */
static int
add_pending(struct intake_ctx *c, struct ts_ticket *in)
{
	if (c->npend == c->pendcap) {
		size_t cap = c->pendcap ? 2 * c->pendcap : 64;
		struct pend *v = realloc(c->pend, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		c->pend = v;
		c->pendcap = cap;
	}
	c->pend[c->npend].t = *in;
	snprintf(c->pend[c->npend++].ip, sizeof(c->pend[0].ip), "%s",
	         c->ip != NULL ? c->ip : "");
	memset(in, 0, sizeof(*in));
	return 0;
}

/*
 * A shared store already holds ticket id, which this host was taking in:
 * its own write whose commit was reported lost (-EIO) but went through,
 * the retry then finding the row (-EAGAIN).  Retrying would find it again
 * at every pass and never show it; the ticket is read in from the store
 * instead, and the intake record is done.  0, or -EAGAIN if it cannot be
 * read now (the record waits for the next pass).
 */
static int
adopt_ticket(struct intake_ctx *c, const char *id)
{
	struct ts_index *idx = c->idx;
	struct ts_entry *e;
	int rc;

	pthread_rwlock_wrlock(&idx->lock);
	rc = ts_index_refresh(idx, id, c->ch);
	e = rc == 0 ? ts_index_find(idx, id) : NULL;
	if (e != NULL) {
		note(c, TS_INO_TICKETS, 0, NULL);
		ts_changes_path(c->ch, "tickets/%s", e->t.id);
	}
	pthread_rwlock_unlock(&idx->lock);
	if (e == NULL)
		return -EAGAIN;
	c->idx->log(c->idx->logarg, "intake: ticket %s was in the store "
	            "already (a write reported lost had committed); read in",
	            id);
	return 0;
}

/*
 * A new ticket is not in the index, so no request can reach its record:
 * it is written without the lock, and its entry, with the offsets of that
 * write, goes in after under the lock.  Only the intake thread adds
 * tickets, so nothing else can insert the same id meanwhile.  A directory
 * store's new ticket is written without a flush and set aside: shown only
 * once commit_pending flushed it with the rest.  Returns 1 (c->why says
 * so) if it is in already.
 */
static int
take_ticket(struct intake_ctx *c, struct ts_ticket *in, const uint8_t *buf)
{
	struct ts_index *idx = c->idx;
	struct ts_entry *e;
	int rc, shared = ts_store_shared(idx->st);

	pthread_rwlock_rdlock(&idx->lock);
	e = ts_index_find(idx, in->id);
	rc = e != NULL && e->err != 0;
	pthread_rwlock_unlock(&idx->lock);
	/* Damaged (its write lost with the machine before the flush, or
	 * harmed since): the intake stays, for after repair. */
	if (rc)
		return -EAGAIN;
	if (e != NULL || pending(c, in->id)) {
		/* taken in before a crash, copied back, or twice in intake */
		snprintf(c->why, sizeof(c->why), "already taken in");
		c->reflush |= !shared;
		return 1;
	}
	if ((rc = take_times(c, TS_REC_TICKET, in)) < 0)
		return rc;
	for (int f = 0; f < TS_F_COUNT; f++)
		mark_new(&in->field[f]);
	for (size_t i = 0; i < in->nmsg; i++)
		mark_new(&in->msg[i].box);
	for (size_t i = 0; i < in->nauth; i++)
		for (int f = 0; f < TS_A_COUNT; f++)
			mark_new(&in->auth[i].box[f]);
	/* A directory store: written now, flushed and shown with the rest of
	 * the poll's new tickets (commit_pending). */
	if (!shared)
		ts_store_defer(idx->st, 1);
	rc = ts_store_write(idx->st, in, buf);
	if (!shared)
		ts_store_defer(idx->st, 0);
	if (rc == -EAGAIN && shared)
		return adopt_ticket(c, in->id);
	if (rc < 0)
		return rc;
	in->next_slot = 0;
	if (!shared)
		return add_pending(c, in);
	pthread_rwlock_wrlock(&idx->lock);
	if ((e = ts_index_insert(idx, in->id, in, 0)) != NULL) {
		ts_index_schedule(idx, e);
		note(c, TS_INO_TICKETS, 0, NULL);
		ts_changes_path(c->ch, "tickets/%s", e->t.id);
	} else if (ts_index_find(idx, in->id) != NULL) {
		/* Read in meanwhile: another host of a shared store wrote it
		 * already (fs/sync.h). */
		e = ts_index_find(idx, in->id);
		note(c, TS_INO_TICKETS, 0, NULL);
		ts_changes_path(c->ch, "tickets/%s", e->t.id);
	}
	pthread_rwlock_unlock(&idx->lock);
	return e != NULL ? 0 : -ENOMEM;
}

/* -EMLINK, the reason kept for the trail, if a ticket holding n items of
 * what holds the most it can (max); else 0. */
static int
at_limit(struct intake_ctx *c, size_t n, int max, const char *what)
{
	if (n < (size_t)max)
		return 0;
	snprintf(c->why, sizeof(c->why), "the ticket holds %d %s, the most a "
	         "ticket can", max, what);
	return -EMLINK;
}

/*
 * Applies a message, authorization or revocation to its ticket, under the
 * write lock (requests change the same ticket): one record's store write,
 * so readers wait for at most that.  Returns 1 (c->why says why) if there
 * was nothing to apply: taken in already, or the authorization is gone.
 */
static int
take_item_locked(struct intake_ctx *c, int kind, struct ts_ticket *in,
                 const uint8_t *buf, struct ts_entry *e)
{
	struct ts_index *idx = c->idx;
	struct ts_ticket nt;
	uint64_t dir;
	int rc;

	if (e->err)
		return -EAGAIN;	/* a damaged ticket: keep it for after repair */
	if ((rc = ts_ticket_copy(&nt, &e->t)) < 0)
		return rc;
	if (kind == TS_REC_MESSAGE) {
		struct ts_message *m;
		uint32_t item;

		dir = ts_ino_make(e->slot, 0, TS_SUB_MSGDIR);
		/* Already taken in (a retry after a failed fsync), or taken
		 * in and removed since: never again. */
		if (ts_ticket_find_msg(&nt, in->msg[0].name) != NULL ||
		    ts_index_tomb(idx, dir, in->msg[0].name))
			goto out_done;
		if ((rc = at_limit(c, nt.nmsg, TS_MSG_PER_TICKET,
		                   "messages")) < 0 ||
		    (rc = ts_index_pick_item(idx, e, &nt, &item)) < 0)
			goto out_rc;
		if ((m = ts_ticket_add_msg(&nt)) == NULL)
			goto out_nomem;
		nt.next_slot--;		/* add_msg's own number: unused */
		*m = (struct ts_message){ .stored_ms = in->msg[0].stored_ms,
		                          .box = in->msg[0].box };
		use_item(&nt, &m->slot, item);
		memcpy(m->name, in->msg[0].name, sizeof(m->name));
		mark_new(&m->box);
		mark_storekey(&nt, &m->box);
	} else if (kind == TS_REC_AUTH) {
		struct ts_auth *a;
		uint32_t slot;

		dir = ts_ino_make(e->slot, 0, TS_SUB_AUTHDIR);
		if (ts_ticket_find_auth(&nt, in->auth[0].name) != NULL ||
		    ts_index_tomb(idx, dir, in->auth[0].name))
			goto out_done;
		if ((rc = at_limit(c, nt.nauth, TS_AUTH_PER_TICKET,
		                   "authorizations")) < 0 ||
		    (rc = ts_index_pick_item(idx, e, &nt, &slot)) < 0)
			goto out_rc;
		if ((a = ts_ticket_add_auth(&nt)) == NULL)
			goto out_nomem;
		nt.next_slot--;		/* add_auth's own number: unused */
		*a = in->auth[0];
		use_item(&nt, &a->slot, slot);
		for (int f = 0; f < TS_A_COUNT; f++) {
			mark_new(&a->box[f]);
			mark_storekey(&nt, &a->box[f]);
		}
	} else {
		struct ts_auth *a = ts_ticket_find_auth(&nt, in->auth[0].name);
		size_t i;

		dir = ts_ino_make(e->slot, 0, TS_SUB_AUTHDIR);
		if (a == NULL) {
			snprintf(c->why, sizeof(c->why), "authorization "
			         "already gone");
			goto out_done;
		}
		i = (size_t)(a - nt.auth);
		ts_index_gone(idx, c->ch, dir, ts_ino_make(e->slot, a->slot + 1,
		                                           TS_SUB_ITEM), a->name);
		ts_changes_path(c->ch, "tickets/%s/authorizations/%s", e->t.id,
		                a->name);
		memmove(&nt.auth[i], &nt.auth[i + 1],
		        (nt.nauth - i - 1) * sizeof(*nt.auth));
		nt.nauth--;
	}
	if ((rc = ts_store_write(idx->st, &nt, buf)) < 0) {
		ts_ticket_release(&nt);
		/* Lost to another host's write: the winner's version, and the
		 * record is applied to it at the next poll. */
		if (rc == -EAGAIN)
			(void)ts_index_refresh(idx, in->id, c->ch);
		else
			ts_index_reload(idx, e);
		return rc;
	}
	ts_ticket_release(&e->t);
	e->t = nt;
	e->changed_ms = ts_now_ms();
	ts_index_schedule(idx, e);
	if (kind != TS_REC_REVOKE) {
		note(c, dir, 0, NULL);
		ts_changes_path(c->ch, "tickets/%s/%s/%s", e->t.id,
		                kind == TS_REC_MESSAGE ? "messages"
		                                       : "authorizations",
		                kind == TS_REC_MESSAGE ? in->msg[0].name
		                                       : in->auth[0].name);
	}
	return 0;
out_done:
	ts_ticket_release(&nt);
	if (c->why[0] == '\0')
		snprintf(c->why, sizeof(c->why), "already taken in");
	return 1;	/* nothing to apply: audited, then deleted */
out_nomem:
	rc = -ENOMEM;
out_rc:
	ts_ticket_release(&nt);
	return rc;
}

static int
take_item(struct intake_ctx *c, int kind, struct ts_ticket *in,
          const uint8_t *buf)
{
	struct ts_index *idx = c->idx;
	struct ts_entry *e;
	int rc;

	if ((rc = take_times(c, kind, in)) < 0)
		return rc;
	pthread_rwlock_wrlock(&idx->lock);
	if ((e = ts_index_find(idx, in->id)) != NULL)
		rc = take_item_locked(c, kind, in, buf, e);
	pthread_rwlock_unlock(&idx->lock);
	if (e != NULL)
		return rc;
	/* Its ticket may still wait in intake (its write failed and is
	 * retried): wait for it rather than lose the item.  Asked without
	 * the lock: only this thread adds tickets. */
	if (ts_store_ticket_known(idx->st, in->id) == 1)
		return -EAGAIN;
	idx->log(idx->logarg, "intake for unknown ticket %s refused", in->id);
	return -ENOENT;
}

/*
 * A customer's account deletion or erasure (fs/rights.h).  Returns 1, with
 * c->why saying what it did, when it is done: the request then has its
 * own entry in the trail (never naming the user), beside one per removal.
 */
static int
take_rights(struct intake_ctx *c, int kind, struct ts_ticket *in,
            const uint8_t *buf)
{
	size_t n;
	int rc;

	if (kind == TS_REC_FORGET) {
		if ((rc = ts_rights_forget(c->idx, in, buf, c->ch, &n)) < 0)
			return rc;
		if (n == 0)
			snprintf(c->why, sizeof(c->why), "forget: no ticket of "
			         "that user");
		else
			snprintf(c->why, sizeof(c->why), "forget: %zu ticket%s",
			         n, n == 1 ? "" : "s");
		return 1;
	}
	if ((rc = ts_rights_erase(c->idx, in, c->ch)) < 0) {
		if (rc == -EINVAL)
			snprintf(c->why, sizeof(c->why), "erase of a field the "
			         "customer may not erase");
		return rc;
	}
	snprintf(c->why, sizeof(c->why), "erase: %s", rc == 1 ?
	         "already gone" : in->erase == 0 ? "the ticket" : "fields");
	return 1;
}

/* The time ts_id_new() wrote into id ("YYYYMMDD-HHMMSS-uuuuuu-..."), in
 * ms; -1 if id holds none. */
static int64_t
id_time(const char *id)
{
	struct tm tm = { 0 };
	int us, n = 0;

	if (strlen(id) < 23 || strspn(id, "0123456789") != 8 || id[8] != '-' ||
	    strspn(id + 9, "0123456789") != 6 || id[15] != '-' ||
	    strspn(id + 16, "0123456789") != 6 || id[22] != '-' ||
	    sscanf(id, "%4d%2d%2d-%2d%2d%2d-%6d%n", &tm.tm_year, &tm.tm_mon,
	           &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &us,
	           &n) != 7 || n != 22)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return (int64_t)timegm(&tm) * 1000 + us / 1000;
}

/*
 * A prune request: the hook (fs/retain.c) checks its MAC, made with the
 * daemon's record key (only a holder of the secret key, not a front end,
 * can ask), and prunes.  It prunes nothing newer than when it was made
 * (its id's time, under the MAC; else its take-in), so a copy dropped in
 * again later prunes no more than it did.  Returns 0 or -errno, c->why
 * saying why.
 */
static int
take_prune(struct intake_ctx *c, const char *name, const struct ts_ticket *in,
           const uint8_t *buf)
{
	int64_t made = id_time(in->id), before = in->before_ms;

	if (c->idx->prune == NULL) {
		snprintf(c->why, sizeof(c->why), "prune requests are not taken");
		return -EPERM;
	}
	if (made < 0)
		made = ts_now_ms();
	if (before > made)
		before = made;
	return c->idx->prune(c->idx->prunearg, name, buf, ts_record_size(buf),
	                     before, c->why, sizeof(c->why));
}

/* Records an intake record refused, or (err 0) handled with nothing to
 * apply (for the audit trail only). */
static void
refused(struct intake_ctx *c, const char *name, int err)
{
	ts_changes_add(c->ch, 0, 0, NULL);
	ts_changes_path(c->ch, "intake/%s", name);
	if (c->ch != NULL && c->ch->n > 0) {
		c->ch->v[c->ch->n - 1].err = -err;
		snprintf(c->ch->v[c->ch->n - 1].detail,
		         sizeof(c->ch->v[c->ch->n - 1].detail), "%s", c->why);
	}
}

/* name as it may go in a log line: a writer of intake/ chose it. */
static const char *
shown_name(const char *name, char out[TS_NAME_MAX * 4])
{
	size_t i;

	for (i = 0; name[i] != '\0' && i + 1 < TS_NAME_MAX * 4; i++)
		out[i] = name[i] > 0x20 && name[i] < 0x7f ? name[i] : '?';
	out[i] = '\0';
	return out;
}

/* What a TS_INTAKE_REMOVED notice's err says the file was. */
static const char *
odd_kind(int err)
{
	switch (err) {
	case -ELOOP: return "a symbolic link";
	case -EISDIR: return "a directory";
	case -EMLINK: return "a file with other hard links";
	case -EFBIG: return "a file larger than any record";
	default: return "a FIFO, socket or device node";
	}
}

static int
take_record(void *arg, const char *name, int kind, struct ts_ticket *t,
            const uint8_t *buf, int err)
{
	struct intake_ctx *c = arg;
	char shown[TS_NAME_MAX * 4];
	/* Where refused records go: a directory store's intake/rejected/,
	 * a shared store's table. */
	const char *rej = ts_store_shared(c->idx->st) ? "ts_intake_rejected"
	                                              : "intake/rejected";
	int rc;

	c->why[0] = '\0';
	if (kind == TS_INTAKE_DROPPED) {
		c->idx->log(c->idx->logarg, "intake/%s dropped: %s holds at "
		            "most %d records and %lu MiB, the oldest go",
		            shown_name(name, shown), rej,
		            TS_INTAKE_REJECTED_FILES,
		            TS_INTAKE_REJECTED_BYTES >> 20);
		return 0;
	}
	if (kind == TS_INTAKE_DEFERRED) {
		c->idx->log(c->idx->logarg, "intake %s: %s; left for the next "
		            "poll", shown_name(name, shown), strerror(-err));
		return 0;
	}
	if (kind == TS_INTAKE_REMOVED) {
		if (err == -ETIMEDOUT)
			snprintf(c->why, sizeof(c->why), "a dotfile over an "
			         "hour old; removed unread");
		else
			snprintf(c->why, sizeof(c->why), "not a regular file: "
			         "%s; removed unread", odd_kind(err));
		c->idx->log(c->idx->logarg, "intake %s: %s",
		            shown_name(name, shown), c->why);
		refused(c, name, err);
		return 0;
	}
	if (err < 0) {
		c->idx->log(c->idx->logarg, "intake %s: %s (%s); moved to %s",
		            shown_name(name, shown),
		            err == -EBADMSG ? "damaged record" : "unreadable",
		            strerror(-err), rej);
		refused(c, name, err);
		return err;
	}
	if (kind == TS_REC_PRUNE)
		rc = take_prune(c, name, t, buf);
	else if (kind == TS_REC_TICKET)
		rc = take_ticket(c, t, buf);
	else if (kind == TS_REC_FORGET || kind == TS_REC_ERASE)
		rc = take_rights(c, kind, t, buf);
	else
		rc = take_item(c, kind, t, buf);
	ts_ticket_release(t);
	if (rc == 1) {		/* nothing (more) to apply: the trail shows it */
		refused(c, name, 0);
		return 0;
	}
	if (rc < 0 && rc != -EAGAIN && rc != -ENOENT)
		c->idx->log(c->idx->logarg, "intake %s: %s%s%s",
		            shown_name(name, shown), strerror(-rc),
		            c->why[0] ? ": " : "", c->why);
	/* A failing store (EIO, ENOSPC) is retried, not rejected. */
	if (rc == -EIO || rc == -ENOSPC || rc == -EDQUOT || rc == -ENOMEM)
		rc = -EAGAIN;
	else if (rc < 0)
		refused(c, name, rc);
	return rc;
}

/*
 * One intake record.  Its client's address goes into the trail entries of
 * what it changed, and nowhere else: cleared before anything is stored.
 */
static int
take_one(void *arg, const char *name, int kind, struct ts_ticket *t,
         const uint8_t *buf, int err)
{
	struct intake_ctx *c = arg;
	char ip[TS_CLIENT_IP_MAX + 1] = "";
	size_t from;
	int rc;

	if (kind == TS_INTAKE_COMMIT)
		return commit_pending(c);
	/* Anything but a new ticket may need the tickets set aside so far
	 * (a message to one, a forget of its user): shown first.  A failed
	 * flush leaves this record too for the next poll. */
	if (t != NULL && kind != TS_REC_TICKET &&
	    (kind == TS_REC_MESSAGE || kind == TS_REC_AUTH ||
	     kind == TS_REC_REVOKE ? pending(c, t->id) : c->npend > 0) &&
	    commit_pending(c) < 0) {
		ts_ticket_release(t);
		return -EAGAIN;
	}
	from = c->ch->n;
	if (t != NULL) {
		memcpy(ip, t->client_ip, sizeof(ip));
		memset(t->client_ip, 0, sizeof(t->client_ip));
	}
	c->ip = ip;
	rc = take_record(arg, name, kind, t, buf, err);
	c->ip = NULL;
	for (size_t i = from; i < c->ch->n; i++)
		memcpy(c->ch->v[i].client_ip, ip, sizeof(ip));
	return rc;
}

int
ts_index_intake_round(struct ts_index *idx, struct ts_changes *ch, int *more)
{
	struct intake_ctx c = { .idx = idx, .ch = ch };
	size_t from = ch->n;
	int rc;

	rc = ts_store_intake_poll(idx->st, take_one, &c, more);
	/* A backend that asked for no commit (each of its deletes waits for
	 * nothing of ours): what is still set aside is shown now. */
	if (commit_pending(&c) < 0)
		*more = 1;
	free(c.pend);
	ts_changes_label(ch, from, "intake");
	return rc;
}

int
ts_index_intake(struct ts_index *idx, struct ts_changes *ch)
{
	int rc, more, taken = 0;

	do {
		if ((rc = ts_index_intake_round(idx, ch, &more)) < 0)
			return rc;
		taken += rc;
	} while (more);
	return taken;
}
