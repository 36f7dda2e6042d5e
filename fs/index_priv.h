/*
 * index_priv: the index's layout and the helpers its files share
 * (index.c the table, due.c the deadlines, mutate.c the changes, take.c
 * intake, rights.c a customer's forget and erase, load.c the store at
 * mount).  Nothing outside those files
 * includes it: callers see fs/index.h.
 */
#ifndef TS_INDEX_PRIV_H
#define TS_INDEX_PRIV_H

#include <pthread.h>
#include <stdint.h>

#include "fs/deadline.h"
#include "fs/index.h"
#include "fs/policy.h"

/* Something removed a moment ago, so that removing it again succeeds. */
struct tomb {
	uint64_t dir;		/* the directory it was in */
	uint64_t ino;		/* its inode */
	char name[TS_NAME_MAX + 1];
	int64_t ms;		/* when; 0 = unused */
};

#define NTOMBS 256

/* A shredded ticket logged a moment ago: it is logged once a minute. */
struct quiet {
	char id[TS_NAME_MAX + 1];
	int64_t ms;		/* when; 0 = unused */
};

#define NQUIET 32

struct ts_index {
	pthread_rwlock_t lock;
	struct ts_store *st;	/* the store; written under lock */
	struct ts_entry **by_id;	/* sorted by id; guarded by lock */
	size_t n, cap;		/* by_id entries; guarded by lock */
	struct ts_entry **by_slot;	/* slot -> entry or NULL; guarded by lock */
	uint64_t nslots, slotcap;	/* guarded by lock */
	struct ts_policy policy;	/* retention; guarded by lock */
	int has_policy;		/* guarded by lock */
	struct ts_deadlines heap;	/* the sweep's queue; guarded by lock */
	struct tomb tombs[NTOMBS];	/* a ring; guarded by lock */
	unsigned ntomb;		/* next slot of the ring; guarded by lock */
	ts_index_log_fn log;	/* where problems are reported */
	void *logarg;
	pthread_mutex_t quiet_lock;	/* guards quiet, nquiet */
	struct quiet quiet[NQUIET];	/* a ring */
	unsigned nquiet;	/* next slot of the ring */
	int64_t tickets_ms;	/* tickets/' last change: a ticket added or
				   removed; guarded by lock */
	ts_index_busy_fn busy;	/* item numbers in use outside; set once */
	void *busyarg;
	ts_index_prune_fn prune;	/* prune requests; set once */
	void *prunearg;
};

/* index.c */
/* Inserts a new entry for id (t moved in, or NULL with err). */
struct ts_entry *ts_index_insert(struct ts_index *idx, const char *id,
                                 struct ts_ticket *t, int err);

/* A free item number for a new item of ticket t (e's, or a copy of it);
 * -EMLINK if none (fs/index.c says which). */
int ts_index_pick_item(struct ts_index *idx, const struct ts_entry *e,
                       const struct ts_ticket *t, uint32_t *item);
/* Sets the path of the last change. */
void ts_changes_path(struct ts_changes *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Records that ino, named name in dir, went away. */
void ts_index_gone(struct ts_index *idx, struct ts_changes *ch, uint64_t dir,
                   uint64_t ino, const char *name);
/* Takes e out of the table and frees it. */
void ts_index_forget(struct ts_index *idx, struct ts_entry *e);

/* due.c */
/* Sets e's next deadline to d and queues it (TS_NEVER: not queued). */
void ts_index_queue(struct ts_index *idx, struct ts_entry *e, int64_t d);
/* Recomputes e's earliest deadline and queues it. */
void ts_index_schedule(struct ts_index *idx, struct ts_entry *e);

/* mutate.c */
/* Reads e's record back after a failed write (fs/mutate.c says why). */
void ts_index_reload(struct ts_index *idx, struct ts_entry *e);
/* Durably replaces e's ticket with *nt (taken over, zeroed); on failure
 * e is as stored, but on -EAGAIN (a shared store: another host wrote it
 * first) the ticket was re-read (fs/refresh.h; what the kernel must
 * forget into ch) and e is no longer valid.  Write lock held. */
int ts_index_commit(struct ts_index *idx, struct ts_entry *e,
                    struct ts_ticket *nt, struct ts_changes *ch);
/* Removes whatever of e is due at now, the ticket and all if it is due
 * (e is then freed); what went is appended to ch.  Write lock held. */
int ts_index_purge(struct ts_index *idx, struct ts_entry *e, int64_t now,
                   struct ts_changes *ch);

#endif
