/*
 * rights: a customer's requests about their own data, taken in from
 * intake (fs/take.c hands them over): account deletion (ticketctl forget)
 * and the customer's own erasure (ticketctl erase).  Part of the index
 * (fs/index.h includes this header).  Called by the intake thread without
 * the lock; each takes the write lock itself, for one ticket's writes at
 * a time.
 */
#ifndef TS_RIGHTS_H
#define TS_RIGHTS_H

#include <stddef.h>
#include <stdint.h>

struct ts_index;
struct ts_changes;
struct ts_ticket;

/*
 * Account deletion: in is a TS_REC_FORGET record (its username box, in
 * buf, sealed for the store's key and bound to (in->id, "username")).
 * Each ticket of that username (found by its keyed username hash; a
 * ticket of before without one by opening its username box) gets
 * forgotten_ms, durably, then loses at once what the policy ties to
 * `forgotten`.  Each removal is appended to ch labelled "forget", by path
 * (never the username).  *n is the number of tickets of that user (0: an
 * unknown user, which succeeds and changes nothing).  Returns 0; -EBADMSG
 * if the username box does not open; -ENOKEY without the store's key; or
 * the store's -errno, when the tickets forgotten so far stay so and a
 * retry does the rest.
 */
int ts_rights_forget(struct ts_index *idx, const struct ts_ticket *in,
                     const uint8_t *buf, struct ts_changes *ch, size_t *n);

/*
 * The customer's erasure: in is a TS_REC_ERASE record for ticket in->id:
 * its fields in in->erase (only email, mobile, confidential; -EINVAL for
 * another) or, with in->erase 0, the whole ticket go as an agent's rm
 * through the mount would remove them, appended to ch labelled "erase".
 * Returns 0 if something went, 1 if it was gone already, -ENOENT for an
 * unknown ticket, -EAGAIN while the ticket still waits in intake or its
 * record is damaged, or the store's -errno.
 */
int ts_rights_erase(struct ts_index *idx, const struct ts_ticket *in,
                    struct ts_changes *ch);

#endif
