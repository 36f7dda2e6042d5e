/*
 * record: the on-disk record format, for ticket files and intake files.
 *
 *   header   magic "TKFR" | version u8 (1) | kind u8 | reserved u16 (0)
 *            | body length u32
 *   body     TLV items: tag u16 | length u32 | value
 *   trailer  XXH3-64 of header and body, u64
 *
 * All integers little-endian.  The checksum is checked before anything in
 * the body is believed, so before any box is decrypted; sealed values sit
 * in the body as opaque boxes.  Items:
 *
 *   ID           ticket id (text)
 *   CREATED      i64 ms          STATUS     u8
 *   PROCESSING   i64 ms          PROCESSED  i64 ms
 *   FORGOTTEN    i64 ms: when the customer's account was deleted
 *   TKEY         32 bytes: the ticket's own public key (absent: its boxes
 *                are sealed for the store's key, a ticket of before)
 *   UHASH        16 bytes: keyed hash of the username (ts_store_uhash)
 *   SHRED_DUE    i64 ms: when the re-sealing after a removal is due
 *                (store/shred.c), in a keyed ticket
 *   KEYBOX       intake tickets only: the ticket's secret key sealed for
 *                the store's key, bound to (id, "ticket-key")
 *   CLIENT_IP    intake only: the client's IPv4 or IPv6 address (text)
 *   ERASE        erase intake: u32, bit 1 << field per erased field
 *   BEFORE       prune intake: i64 ms
 *   FIELD+f      box of field f (subject .. confidential)
 *   MESSAGE      name_len u8 | name | stored i64 | box
 *   AUTH         name_len u8 | name | created i64 | expires i64
 *                | 3 x (box_len u32 | box)   (box_len 0 = absent)
 *   MAC          32 bytes, the last item of every record the daemon
 *                writes: keyed BLAKE2b-256 of the record up to this item
 *                (header with its final length included), with a key
 *                derived from the daemon's secret key (TS_RECORD_MAC_PURPOSE).
 *                A sealed box proves nothing about who wrote it (anyone
 *                with the public key can seal) and XXH3 catches accidents,
 *                not tampering: the MAC is what shows a record in tickets/
 *                is the daemon's own.  Intake records carry none.
 *
 * Records are never modified in place: a changed ticket is written whole
 * to a new file and renamed over the old one.
 */
#ifndef TS_RECORD_H
#define TS_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "store/ticket.h"

enum ts_record_kind {
	TS_REC_TICKET = 1,	/* a whole ticket (store file or intake) */
	TS_REC_MESSAGE = 2,	/* intake: one message, in msg[0] */
	TS_REC_AUTH = 3,	/* intake: one authorization, in auth[0] */
	TS_REC_REVOKE = 4,	/* intake: revoke auth[0].name */
	TS_REC_FORGET = 5,	/* intake: forget the username in
				   field[TS_F_USERNAME] (id: the request's) */
	TS_REC_ERASE = 6,	/* intake: erase t->erase of ticket id */
	TS_REC_PRUNE = 7,	/* intake: prune audit segments before
				   before_ms (id: the request's; MAC'd) */
};

#define TS_RECORD_MAX (64u << 20)	/* largest record accepted */
#define TS_RECORD_MACBYTES 32
#define TS_RECORD_MACKEYBYTES 32
#define TS_RECORD_MAC_PURPOSE "record-mac"	/* for ts_seal_derive() */

/*
 * Encodes t as a record of kind into *out (malloc'd, *outlen bytes).  The
 * boxes of t are read from blob at their offsets.  With mackey (32 bytes)
 * the record ends with a MAC item; NULL for none.  -EINVAL if t does not
 * fit the format (a name too long, a box over TS_RECORD_MAX).
 */
int ts_record_encode(int kind, const struct ts_ticket *t,
                     const uint8_t *blob, const unsigned char *mackey,
                     uint8_t **out, size_t *outlen);

/*
 * Decodes buf into *kind and *t, whose boxes then point into buf.  Checks
 * the checksum first, then every length, name, value and duplicate.
 * -EBADMSG if anything is wrong (t is then left zeroed); -ENOMEM.
 * The caller releases t with ts_ticket_release().
 */
int ts_record_decode(const uint8_t *buf, size_t len, int *kind,
                     struct ts_ticket *t);

/*
 * 0 if the record in buf ends with a MAC item made with key; else
 * -EKEYREJECTED (no MAC, or another key's, or altered since).  Call it on
 * a record ts_record_decode() accepted.
 */
int ts_record_verify_mac(const uint8_t *buf, size_t len,
                         const unsigned char key[TS_RECORD_MACKEYBYTES]);
/* The length of the record in buf, from its header (ts_record_decode has
 * checked it). */
size_t ts_record_size(const uint8_t *buf);

#endif
