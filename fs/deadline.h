/*
 * deadline: the sweep's queue, (deadline, slot) pairs and nothing else.
 * It knows no ticket and calls nothing: the index owns one, pushes an
 * entry's next deadline with its slot, and decides itself whether the
 * pair at the top is still current.  No lock of its own (the owner's
 * guards it).  The fields are the module's: callers use the functions.
 */
#ifndef TS_DEADLINE_H
#define TS_DEADLINE_H

#include <stddef.h>
#include <stdint.h>

/*
 * The sweep timer's queue: (deadline, slot) pairs in a binary min-heap.
 * An entry is stale when its ticket is gone or its next_deadline moved;
 * stale entries are dropped when they reach the top, so nothing is ever
 * searched for or polled.
 */
struct ts_deadline_item {
	int64_t deadline;	/* ms since the epoch */
	uint64_t slot;		/* the ticket's slot */
};

struct ts_deadlines {
	struct ts_deadline_item *v;	/* v[0] the earliest */
	size_t n, cap;
};

/* A zeroed struct ts_deadlines is an empty heap.  Queues (deadline, slot): 0, or -ENOMEM (the heap unchanged). */
int ts_deadline_push(struct ts_deadlines *h, int64_t deadline, uint64_t slot);
/* The earliest pair into *deadline, *slot: 0, or -ENOENT if empty. */
int ts_deadline_top(const struct ts_deadlines *h, int64_t *deadline,
                    uint64_t *slot);
/* Drops the earliest pair; nothing if empty. */
void ts_deadline_pop(struct ts_deadlines *h);
/* Drops every pair, keeps the memory. */
void ts_deadline_reset(struct ts_deadlines *h);
/* Frees the memory; h is an empty heap again. */
void ts_deadline_release(struct ts_deadlines *h);

#endif
