/*
 * index: every ticket's metadata in memory, loaded from the store at mount
 * and kept current as intake arrives.  Sizes and times come from here;
 * sealed values stay on disk until a caller who may read one opens it.
 *
 * Locking: one rwlock.  Readers (the FUSE loop) take it shared for each
 * request; a change takes it exclusive and writes the store under it, so a
 * box's offset in the index always matches the record on disk (a new
 * ticket from intake is written before its entry exists, then inserted).
 */
#ifndef TS_INDEX_H
#define TS_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "fs/policy.h"
#include "store/store.h"
#include "store/ticket.h"

struct ts_entry {
	struct ts_ticket t;	/* the ticket; t.id is always valid */
	uint64_t slot;		/* inode slot, unique for the daemon's life */
	int err;		/* 0, or -EBADMSG etc: a damaged record */
	int64_t changed_ms;	/* last change: the directories' mtime */
	int64_t next_deadline;	/* earliest deadline of it or its items */
	uint32_t spare[8];	/* item numbers given back, never stored */
	unsigned nspare;
	unsigned char status_told;	/* fs/status.c: the status (+1) the
					   kernel was last given attributes of,
					   0 if unknown; the loop thread's own */
};

/* What an intake poll changed, for the kernel's caches. */
struct ts_index_change {
	uint64_t dir_ino;	/* a directory whose listing changed, or a
				   file whose content changed (name "") */
	uint64_t gone_ino;	/* a child that went away; 0 if none */
	char name[TS_NAME_MAX + 1];	/* its name in dir_ino; with gone_ino
				   0, a name that came (fs/refresh.h) */
	char path[3 * TS_NAME_MAX + 32];	/* what changed, below the mount */
	char op[16];		/* for the audit trail: intake, expire...; ""
				   when the caller audits it itself */
	int err;		/* for the audit trail: 0, or why it failed */
	char detail[128];	/* for the audit trail: more of why; "" */
	char client_ip[TS_CLIENT_IP_MAX + 1];	/* for the audit trail: the
				   address of the intake's client; "" */
};

/* A list of changes, for the kernel's caches. */
struct ts_changes {
	struct ts_index_change *v;
	size_t n;
	int oom;		/* some change could not be recorded */
};

void ts_changes_add(struct ts_changes *c, uint64_t dir, uint64_t gone,
                    const char *name);
/* Labels changes from index `from` on with op (for the audit trail),
 * those not labelled yet. */
void ts_changes_label(struct ts_changes *c, size_t from, const char *op);
void ts_changes_release(struct ts_changes *c);

typedef void (*ts_index_log_fn)(void *arg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct ts_index;

int ts_index_new(struct ts_store *st, ts_index_log_fn log, void *logarg,
                 struct ts_index **out);
void ts_index_free(struct ts_index *idx);

/*
 * Item numbers (a message's or authorization's part of its inode number,
 * fs/inode.h) are handed out in order for the daemon's life, so a stale
 * inode never names another item.  Once a ticket's run out, the lowest
 * number that no item of the ticket has and busy() does not claim is
 * reused: busy(arg, slot, item) is 1 while the kernel still holds an inode
 * of that item, or a message being written has it.  Called with the lock
 * held.  Set once, before the daemon serves.
 */
typedef int (*ts_index_busy_fn)(void *arg, uint64_t slot, uint32_t item);
void ts_index_set_busy(struct ts_index *idx, ts_index_busy_fn fn, void *arg);
/*
 * What intake does with a prune request (TS_REC_PRUNE; fs/retain.c): rec,
 * len the record as it came, name its intake file; 0 if done, else -errno
 * (why says why) and the record is rejected.  Set once, before the
 * daemon serves; unset, prune requests are refused.
 */
typedef int (*ts_index_prune_fn)(void *arg, const char *name,
                                 const uint8_t *rec, size_t len,
                                 int64_t before_ms, char *why, size_t whylen);
void ts_index_set_prune(struct ts_index *idx, ts_index_prune_fn fn,
                        void *arg);
/*
 * Takes a free item number of e for a message about to be written (write
 * lock held): -EMLINK if every one is in use.  ts_index_give_item gives a
 * number back that was never stored, so that `touch` after `touch` uses
 * none up.
 */
int ts_index_take_item(struct ts_index *idx, struct ts_entry *e,
                       uint32_t *item);
void ts_index_give_item(struct ts_index *idx, struct ts_entry *e,
                        uint32_t item);

void ts_index_rdlock(struct ts_index *idx);
void ts_index_wrlock(struct ts_index *idx);
void ts_index_unlock(struct ts_index *idx);

/*
 * 1 if something named name in directory dir went away in the last minute
 * (name NULL: if inode dir itself did).  Lock held.
 */
int ts_index_tomb(struct ts_index *idx, uint64_t dir, const char *name);
/* 1 if slot was a ticket of this index once (now gone or not). */
int ts_index_slot_used(struct ts_index *idx, uint64_t slot);

/* With the lock held: */
/* When tickets/ last changed (ms): the newest ticket's submission, or a
 * removal since the load; 0 for an empty store. */
int64_t ts_index_tickets_changed(struct ts_index *idx);
size_t ts_index_count(struct ts_index *idx);
struct ts_entry *ts_index_at(struct ts_index *idx, size_t i);	/* by id */
struct ts_entry *ts_index_find(struct ts_index *idx, const char *id);
struct ts_entry *ts_index_by_slot(struct ts_index *idx, uint64_t slot);
/* The ticket after e in id order (tickets/' listing order), or NULL. */
struct ts_entry *ts_index_next(struct ts_index *idx, const struct ts_entry *e);

/* Message / authorization of e by item slot; NULL if none. */
struct ts_message *ts_entry_msg(struct ts_entry *e, uint32_t item);
struct ts_auth *ts_entry_auth(struct ts_entry *e, uint32_t item);

/* Reads and opens box of entry e bound to field path, into a malloc'd
 * buffer of ts_box_plain_len(box) bytes (+1, NUL).  Lock held shared. */
int ts_index_open_box(struct ts_index *idx, const struct ts_seckey *key,
                      struct ts_entry *e, const char *field,
                      const struct ts_box *box, uint8_t **plain);
/* Reads n boxes of entry e at once (ts_store_read_boxes: one round trip
 * to the store), boxes[i] (bound to fields[i]) into sealed[i]: 0, or
 * -EIO (logged, as ts_index_open_box logs), -ENOMEM, -EINVAL.  Then
 * ts_index_open_sealed opens each as ts_index_open_box does.  Lock held
 * shared. */
int ts_index_read_boxes(struct ts_index *idx, struct ts_entry *e, size_t n,
                        const char *const *fields, const struct ts_box *boxes,
                        uint8_t *const *sealed);
int ts_index_open_sealed(struct ts_index *idx, struct ts_entry *e,
                         const char *field, const struct ts_box *box,
                         const uint8_t *sealed, uint8_t **plain);

#include "fs/due.h"
#include "fs/load.h"
#include "fs/mutate.h"
#include "fs/rights.h"
#include "fs/refresh.h"
#include "fs/take.h"

#endif
