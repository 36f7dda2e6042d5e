/*
 * due: when each part of a ticket falls due under the retention policy
 * (ticket, field, message, authorization), and keeping every ticket's
 * earliest deadline queued on the index's heap (fs/deadline.h).
 */
#include "fs/due.h"

#include "fs/deadline.h"
#include "fs/index_priv.h"

static int64_t
min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* When e's item goes by its customer's account deletion (TS_NEVER). */
static int64_t
forgotten(struct ts_index *idx, const struct ts_entry *e, enum ts_item item)
{
	return ts_policy_deadline_forgotten(&idx->policy, item,
	                                    e->t.forgotten_ms);
}

int64_t
ts_index_deadline_ticket(struct ts_index *idx, const struct ts_entry *e)
{
	if (!idx->has_policy || e->err)
		return TS_NEVER;
	return min64(ts_policy_deadline(&idx->policy, TS_ITEM_TICKET,
	                                e->t.created_ms, e->t.processed_ms, 0),
	             forgotten(idx, e, TS_ITEM_TICKET));
}

int64_t
ts_index_deadline_field(struct ts_index *idx, const struct ts_entry *e,
                        int field)
{
	if (!idx->has_policy)
		return TS_NEVER;
	return min64(min64(ts_index_deadline_ticket(idx, e),
	                   forgotten(idx, e, ts_policy_field_item(field))),
	             ts_policy_deadline(&idx->policy,
	                                ts_policy_field_item(field),
	                                e->t.created_ms, e->t.processed_ms, 0));
}

int64_t
ts_index_deadline_msg(struct ts_index *idx, const struct ts_entry *e,
                      const struct ts_message *m)
{
	if (!idx->has_policy)
		return TS_NEVER;
	return min64(min64(ts_index_deadline_ticket(idx, e),
	                   forgotten(idx, e, TS_ITEM_MESSAGE)),
	             ts_policy_deadline(&idx->policy, TS_ITEM_MESSAGE,
	                                m->stored_ms, e->t.processed_ms, 0));
}

int64_t
ts_index_deadline_auth(struct ts_index *idx, const struct ts_entry *e,
                       const struct ts_auth *a)
{
	if (!idx->has_policy)
		return TS_NEVER;
	return min64(min64(ts_index_deadline_ticket(idx, e),
	                   forgotten(idx, e, TS_ITEM_AUTHORIZATION)),
	             ts_policy_deadline(&idx->policy, TS_ITEM_AUTHORIZATION,
	                                a->created_ms, e->t.processed_ms,
	                                a->expires_ms));
}

/* Sets e's next deadline to d and queues it (TS_NEVER: not queued). */
void
ts_index_queue(struct ts_index *idx, struct ts_entry *e, int64_t d)
{
	e->next_deadline = d;
	if (d != TS_NEVER && ts_deadline_push(&idx->heap, d, e->slot) < 0)
		/* The clock checks still hide the item; the purge waits for
		 * the next schedule of this ticket. */
		idx->log(idx->logarg, "out of memory queueing a deadline");
}

/* Recomputes e's earliest deadline and queues it. */
void
ts_index_schedule(struct ts_index *idx, struct ts_entry *e)
{
	int64_t d = ts_index_deadline_ticket(idx, e);

	if (e->err == 0) {
		for (int f = 0; f < TS_F_COUNT; f++)
			if (e->t.field[f].len != 0)
				d = min64(d, ts_index_deadline_field(idx, e, f));
		for (size_t i = 0; i < e->t.nmsg; i++)
			d = min64(d, ts_index_deadline_msg(idx, e, &e->t.msg[i]));
		for (size_t i = 0; i < e->t.nauth; i++)
			d = min64(d, ts_index_deadline_auth(idx, e,
			                                    &e->t.auth[i]));
		/* A removal's deferred re-sealing (store/shred.c). */
		if (e->t.shred_due_ms != 0)
			d = min64(d, e->t.shred_due_ms);
	}
	ts_index_queue(idx, e, d);
}

void
ts_index_set_policy(struct ts_index *idx, const struct ts_policy *p)
{
	idx->policy = *p;
	idx->has_policy = 1;
	ts_deadline_reset(&idx->heap);
	for (size_t i = 0; i < idx->n; i++)
		ts_index_schedule(idx, idx->by_id[i]);
}

int64_t
ts_index_next_deadline(struct ts_index *idx)
{
	int64_t d;
	uint64_t slot;

	while (ts_deadline_top(&idx->heap, &d, &slot) == 0) {
		struct ts_entry *e = ts_index_by_slot(idx, slot);

		if (e != NULL && e->next_deadline == d)
			return d;
		ts_deadline_pop(&idx->heap);	/* stale */
	}
	return TS_NEVER;
}
