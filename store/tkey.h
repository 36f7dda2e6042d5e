/*
 * tkey: a ticket's own key pair, and the small file that keeps it.  Every
 * ticket's values are sealed for its public key (tpk, plain metadata in
 * its record); its secret key, sealed for the store's key and bound to
 * (ticket id, TS_TKEY_FIELD), lives apart from the record (file backend:
 * STORE/keys/ID).  Deleting that file makes every copy of the record, in
 * every backup, unreadable: crypto-shredding.
 *
 * A key file is TS_TKEY_FILEBYTES bytes:
 *   "TKFK" | version (1) | tpk (32) | keybox (96) | XXH3-64 of the rest, LE
 *
 * Functions return 0 or -errno; -EBADMSG for a damaged file or a key box
 * that does not open, -ENOKEY for a key that is not the one of tpk.
 */
#ifndef TS_TKEY_H
#define TS_TKEY_H

#include <stddef.h>
#include <stdint.h>

#include "store/seal.h"
#include "store/ticket.h"

#define TS_TKEY_FIELD "ticket-key"
#define TS_TKEY_BOXBYTES (crypto_box_SECRETKEYBYTES + TS_SEAL_OVERHEAD)
#define TS_TKEY_FILEBYTES (4 + 1 + TS_TPK_BYTES + TS_TKEY_BOXBYTES + 8)

struct ts_tkey_file {
	unsigned char tpk[TS_TPK_BYTES];
	unsigned char keybox[TS_TKEY_BOXBYTES];
};

/* The file bytes of k into out. */
void ts_tkey_encode(const struct ts_tkey_file *k,
                    uint8_t out[TS_TKEY_FILEBYTES]);
/* Parses a key file; -EBADMSG if it is not one (size, magic, version,
 * checksum). */
int ts_tkey_decode(const uint8_t *buf, size_t len, struct ts_tkey_file *k);

/*
 * Makes a fresh ticket key pair *tk (free with ts_tkey_free) and its key
 * file record *k: the secret key sealed for the store's public key spk,
 * bound to (id, TS_TKEY_FIELD).
 */
int ts_tkey_new(const unsigned char spk[TS_SEAL_PKBYTES], const char *id,
                struct ts_seckey **tk, struct ts_tkey_file *k);

/*
 * Opens keybox (sealed for the store key sk, bound to (id, TS_TKEY_FIELD))
 * into *tk, in sodium_malloc'd memory.  -EBADMSG if it does not open;
 * -ENOKEY if the key in it is not the secret half of tpk.
 */
int ts_tkey_open(const struct ts_seckey *sk, const char *id,
                 const unsigned char tpk[TS_TPK_BYTES],
                 const unsigned char keybox[TS_TKEY_BOXBYTES],
                 struct ts_seckey **tk);

/* Wipes and frees a ticket key; NULL is fine. */
void ts_tkey_free(struct ts_seckey *tk);

#endif
