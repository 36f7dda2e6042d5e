/*
 * mutate: the changes the daemon makes to its tickets itself, through
 * the mount and by the sweep.  Part of the index (fs/index.h includes
 * this header).  Changes from outside the daemon come in by fs/take.h.
 */
#ifndef TS_MUTATE_H
#define TS_MUTATE_H

#include <stddef.h>
#include <stdint.h>

struct ts_index;
struct ts_entry;
struct ts_changes;
struct ts_message;
struct ts_auth;

/*
 * Changes, each durable in the store before it returns 0; on failure the
 * ticket is unchanged.  Write lock held.  What the kernel must forget is
 * appended to ch.
 *
 * A shared store's write that loses to another host's (-EAGAIN): the
 * ticket is re-read (fs/refresh.h) and e is no longer valid.  set_status
 * and add_msg then check the operation again against the winner's version
 * (up to 3 tries): a move that is a move back now is -EPERM, a name that
 * exists now -EEXIST.  The removals return -EAGAIN: their caller resolves
 * the target again and re-runs its checks.
 */
/* status: -EPERM for a move back; processing removes what the policy ties
 * to it at once. */
int ts_index_set_status(struct ts_index *idx, struct ts_entry *e, int status,
                        struct ts_changes *ch);
int ts_index_remove_field(struct ts_index *idx, struct ts_entry *e, int field,
                          struct ts_changes *ch);
int ts_index_remove_msg(struct ts_index *idx, struct ts_entry *e,
                        struct ts_message *m, struct ts_changes *ch);
int ts_index_remove_afield(struct ts_index *idx, struct ts_entry *e,
                           struct ts_auth *a, int field,
                           struct ts_changes *ch);
int ts_index_remove_auth(struct ts_index *idx, struct ts_entry *e,
                         struct ts_auth *a, struct ts_changes *ch);
/* Removes the ticket; e is freed. */
int ts_index_remove_ticket(struct ts_index *idx, struct ts_entry *e,
                           struct ts_changes *ch);
/* Stores a new message (plaintext text, len bytes) under item slot. */
int ts_index_add_msg(struct ts_index *idx, struct ts_entry *e,
                     const char *name, uint32_t slot, const char *text,
                     size_t len, const unsigned char *pk,
                     struct ts_changes *ch);

/*
 * Removes from the store everything whose deadline is <= now.  Returns
 * the earliest deadline still pending (TS_NEVER if none).  Write lock
 * held.
 */
int64_t ts_index_sweep(struct ts_index *idx, int64_t now,
                       struct ts_changes *ch);

#endif
