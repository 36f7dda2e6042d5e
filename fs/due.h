/*
 * due: the retention policy applied to the index's tickets: when each
 * part of a ticket falls due, and the earliest deadline still pending.
 * Part of the index (fs/index.h includes this header); every function
 * here is called with the index's lock held.
 */
#ifndef TS_DUE_H
#define TS_DUE_H

#include <stdint.h>

#include "fs/policy.h"

struct ts_index;
struct ts_entry;
struct ts_message;
struct ts_auth;

/*
 * The retention policy.  Installing one (write lock held) recomputes every
 * ticket's next deadline.  The index copies it.
 */
void ts_index_set_policy(struct ts_index *idx, const struct ts_policy *p);

/* Deadlines (ms since the epoch; TS_NEVER), lock held.  An item's
 * deadline is never later than its ticket's. */
int64_t ts_index_deadline_ticket(struct ts_index *idx, const struct ts_entry *e);
int64_t ts_index_deadline_field(struct ts_index *idx, const struct ts_entry *e,
                                int field);
int64_t ts_index_deadline_msg(struct ts_index *idx, const struct ts_entry *e,
                              const struct ts_message *m);
int64_t ts_index_deadline_auth(struct ts_index *idx, const struct ts_entry *e,
                               const struct ts_auth *a);

/* The earliest pending deadline, lock held. */
int64_t ts_index_next_deadline(struct ts_index *idx);

#endif
