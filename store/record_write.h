/*
 * record_write: what every backend does around a ticket record, so that
 * a directory store's tickets/ID file and a PostgreSQL store's row hold
 * the same bytes and are checked the same way:
 *   - the records' MAC key, derived from the daemon's secret key;
 *   - a stored record read back: decoded, its kind and id checked, its
 *     MAC checked (ts_store_load, ts_store_load_one);
 *   - a ticket's new record built for ts_store_write: boxes with
 *     TS_BOX_NEW from the write's extra buffer, the others carried over
 *     from the current record (which must hold the same item's box at
 *     the same place: -ESTALE if not, never copying the wrong bytes).
 * The backend stores the record (a rename, an UPDATE) and, once that
 * succeeded, points the caller's ticket at the new record's boxes.
 */
#ifndef TS_RECORD_WRITE_H
#define TS_RECORD_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "store/record.h"
#include "store/seal.h"
#include "store/ticket.h"

/* Derives the records' MAC key (TS_RECORD_MACKEYBYTES) from key. */
int ts_record_mackey(const struct ts_seckey *key,
                     unsigned char out[TS_RECORD_MACKEYBYTES]);

/*
 * Decodes the stored record of ticket id (buf, len) into *t: -EBADMSG if
 * it is damaged, not a ticket or another ticket's; with mackey (NULL:
 * no key, no check) -EKEYREJECTED if it is not the daemon's own.  On
 * failure t is left zeroed; on success the caller releases it.
 */
int ts_record_decode_ticket(const uint8_t *buf, size_t len, const char *id,
                            const unsigned char *mackey,
                            struct ts_ticket *t);

/* 1 if t carries a box over from the stored record: the write then needs
 * that record (ts_record_build's old). */
int ts_record_needs_old(const struct ts_ticket *t);

/* A built record: rec (malloc'd, len bytes) and the ticket decoded from
 * it (its boxes' offsets in rec). */
struct ts_record_built {
	uint8_t *rec;
	size_t len;
	struct ts_ticket fresh;
};

/*
 * Builds t's new record into *b (mackey: the MAC key, NULL for none).
 * old (oldlen bytes) is the stored record, or NULL if t needs none
 * (ts_record_needs_old); it is checked as ts_record_decode_ticket does
 * before anything is carried over from it.  -ESTALE if a carried box is
 * not where old has that item's box; -EINVAL if t does not make a valid
 * record; -EBADMSG / -EKEYREJECTED for old; -ENOMEM.  t is not changed.
 */
int ts_record_build(const struct ts_ticket *t, const uint8_t *extra,
                    const uint8_t *old, size_t oldlen,
                    const unsigned char *mackey, struct ts_record_built *b);
/* Once b is stored: points t's boxes at their places in b->rec. */
void ts_record_built_apply(const struct ts_record_built *b,
                           struct ts_ticket *t);
/* Frees what ts_record_build made (b zeroed; safe on a zeroed b). */
void ts_record_built_release(struct ts_record_built *b);

#endif
