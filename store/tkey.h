/*
 * tkey: a ticket's own key pair, and the small file that keeps it.  Every
 * ticket's values are sealed for its public key (tpk, plain metadata in
 * its record); its secret key lives apart from the record (file backend:
 * STORE/keys/ID).  Deleting that file makes every copy of the record, in
 * every backup, unreadable: crypto-shredding.
 *
 * Whoever makes a ticket (a front end, with the store's public key only)
 * seals its secret key for the store's key, bound to (id, TS_TKEY_FIELD):
 * the intake record's key box.  The daemon opens it once, at take-in, and
 * keeps the key wrapped with a key derived from the store's secret key
 * (purpose TS_TKEY_WRAP_PURPOSE) and the ticket id: XSalsa20-Poly1305, so
 * that opening a ticket's key costs no X25519 (the cold `grep -r`).
 *
 * A key file is TS_TKEY_FILEBYTES bytes:
 *   "TKFK" | version (1) | tpk (32) | nonce (24) | secretbox(sk) (48) |
 *   XXH3-64 of the rest, little-endian
 *
 * Functions return 0 or -errno; -EBADMSG for a damaged file or a box that
 * does not open, -ENOKEY for a key that is not the one of tpk.
 */
#ifndef TS_TKEY_H
#define TS_TKEY_H

#include <stddef.h>
#include <stdint.h>

#include "store/seal.h"
#include "store/ticket.h"

#define TS_TKEY_FIELD "ticket-key"
#define TS_TKEY_WRAP_PURPOSE "ticket-key-wrap"
#define TS_TKEY_BOXBYTES (crypto_box_SECRETKEYBYTES + TS_SEAL_OVERHEAD)
#define TS_TKEY_WRAPBYTES (crypto_secretbox_NONCEBYTES + \
                           crypto_secretbox_MACBYTES + \
                           crypto_box_SECRETKEYBYTES)
#define TS_TKEY_FILEBYTES (4 + 1 + TS_TPK_BYTES + TS_TKEY_WRAPBYTES + 8)
#define TS_TKEY_WKEYBYTES crypto_secretbox_KEYBYTES

struct ts_tkey_file {
	unsigned char tpk[TS_TPK_BYTES];
	unsigned char wrapped[TS_TKEY_WRAPBYTES];
};

/* The file bytes of k into out. */
void ts_tkey_encode(const struct ts_tkey_file *k,
                    uint8_t out[TS_TKEY_FILEBYTES]);
/* Parses a key file; -EBADMSG if it is not one (size, magic, version,
 * checksum). */
int ts_tkey_decode(const uint8_t *buf, size_t len, struct ts_tkey_file *k);

/*
 * Intake: makes a fresh ticket key pair, its public half into tpk and its
 * secret half sealed for the store's public key spk, bound to (id,
 * TS_TKEY_FIELD), into keybox.  The secret is wiped.
 */
int ts_tkey_new_sealed(const unsigned char spk[TS_SEAL_PKBYTES],
                       const char *id, unsigned char tpk[TS_TPK_BYTES],
                       unsigned char keybox[TS_TKEY_BOXBYTES]);
/*
 * ts_tkey_new_sealed, the secret half also into the caller's tsk (to seal
 * the ticket's values with ts_seal_box_self; the caller wipes it, and it
 * is wiped here on error).  tsk is the caller's memory, not
 * sodium_malloc'd: a front end makes one per ticket on every core, and
 * sodium_malloc's guard pages cost two mprotect and a munmap, each a TLB
 * shootdown on every core, for a key that guards values lying in plain
 * memory beside it (the parsed input) for as long as it lives.
 */
int ts_tkey_new_sealed_key(const unsigned char spk[TS_SEAL_PKBYTES],
                           const char *id, unsigned char tpk[TS_TPK_BYTES],
                           unsigned char tsk[crypto_box_SECRETKEYBYTES],
                           unsigned char keybox[TS_TKEY_BOXBYTES]);
/*
 * Opens an intake key box (sealed for the store key sk) into *tk, in
 * sodium_malloc'd memory.  -EBADMSG if it does not open; -ENOKEY if the
 * key in it is not the secret half of tpk (crypto_scalarmult_base).
 */
int ts_tkey_open(const struct ts_seckey *sk, const char *id,
                 const unsigned char tpk[TS_TPK_BYTES],
                 const unsigned char keybox[TS_TKEY_BOXBYTES],
                 struct ts_seckey **tk);

/* The wrapping key (sodium_malloc'd by the caller) from the store's key. */
int ts_tkey_wrap_key(const struct ts_seckey *sk,
                     unsigned char wkey[TS_TKEY_WKEYBYTES]);
/* Wraps ticket id's key pair tk into the key file record k.  ik: scratch
 * for the key bound to id, TS_TKEY_WKEYBYTES of the caller's
 * sodium_malloc'd memory, wiped on return. */
int ts_tkey_wrap(const unsigned char wkey[TS_TKEY_WKEYBYTES], const char *id,
                 const struct ts_seckey *tk, struct ts_tkey_file *k,
                 unsigned char *ik);
/*
 * Unwraps k's secret key into sk (the caller's sodium_malloc'd memory);
 * its public half is k->tpk.  -EBADMSG if it does not open for id.  ik as
 * for ts_tkey_wrap.
 */
int ts_tkey_unwrap(const unsigned char wkey[TS_TKEY_WKEYBYTES], const char *id,
                   const struct ts_tkey_file *k,
                   unsigned char sk[crypto_box_SECRETKEYBYTES],
                   unsigned char *ik);

/*
 * ticketctl rekey: k, wrapped with from (for ticket id), wrapped again
 * with to into *out, the secret passing only through sk (the caller's
 * sodium_malloc'd memory, wiped on return); ik as for ts_tkey_wrap.
 * -EBADMSG if k does not open with from.
 */
int ts_tkey_rewrap(const unsigned char from[TS_TKEY_WKEYBYTES],
                   const unsigned char to[TS_TKEY_WKEYBYTES], const char *id,
                   const struct ts_tkey_file *k, struct ts_tkey_file *out,
                   unsigned char sk[crypto_box_SECRETKEYBYTES],
                   unsigned char *ik);

/* Wipes and frees a ticket key; NULL is fine. */
void ts_tkey_free(struct ts_seckey *tk);

#endif
