/*
 * seal_self: crypto_box_seal for a recipient whose secret key the sealer
 * holds (a front end sealing a new ticket's values for the ticket's own
 * key pair, which it has just made).  The box is a crypto_box_seal box,
 * byte for byte the format, opened by crypto_box_seal_open; only the
 * sealer's arithmetic differs.
 *
 * crypto_box_seal makes an ephemeral key e (X25519 of the base point: one
 * Montgomery ladder) and the shared point e*T for the recipient's key T
 * (a second ladder, ~30 us each here).  Knowing T = t*B, the shared point
 * is (t*e mod L)*B: both are fixed-base multiplications on edwards25519
 * (libsodium's precomputed table, ~12 us each), turned into Montgomery u
 * coordinates (u = (1 + y) / (1 - y), one field inversion, below).  The
 * recipient computes X25519(t, u(e*B)) = u(t*e*B) as for any sealed box.
 * e is uniform modulo L, fresh for every box, and wiped with every
 * intermediate.
 *
 * The ephemeral key pair of a box for a key whose secret the sealer does
 * not hold (the store's) is made the same way (ts_seal_any): only the
 * shared secret is then X25519's ladder.
 *
 * Why the conversion is written here rather than taken from libsodium:
 * its crypto_sign_ed25519_pk_to_curve25519 computes the same u, but
 * decompresses the point in variable time (wrong for the shared point,
 * a secret) and checks it is in the main subgroup (a scalar
 * multiplication).  Measured here (2026-12-02, a loaded 2-core machine):
 * libsodium's conversion 40 us, ed_to_u below 4.3 us; a seal with it
 * would take ~111 us, more than crypto_box_seal's 63 us, against 33 us
 * for ts_seal_self.  tests/test_seal.c checks ed_to_u against libsodium's
 * conversion and every box against crypto_box_seal_open.
 *
 * Returns 0 or -errno (-EINVAL: libsodium refused, e.g. a zero scalar,
 * with probability 2^-252, or a public key of small order).
 */
#ifndef TS_SEAL_SELF_H
#define TS_SEAL_SELF_H

#include <stddef.h>

#include <sodium.h>

/*
 * Seals m (mlen bytes) into c (mlen + crypto_box_SEALBYTES bytes) for the
 * key pair (pk, sk), as crypto_box_seal(c, m, mlen, pk) would.  pk must
 * be the X25519 public key of sk (crypto_scalarmult_base).
 */
int ts_seal_self(unsigned char *c, const unsigned char *m, size_t mlen,
                 const unsigned char pk[crypto_box_PUBLICKEYBYTES],
                 const unsigned char sk[crypto_box_SECRETKEYBYTES]);

/* X25519's public key of sk, crypto_scalarmult_base(pk, sk), as one
 * fixed-base multiplication (~17 us instead of ~30). */
int ts_seal_self_base(unsigned char pk[crypto_box_PUBLICKEYBYTES],
                      const unsigned char sk[crypto_box_SECRETKEYBYTES]);

/* crypto_box_seal(c, m, mlen, pk) for any pk, its ephemeral key pair
 * made with ts_seal_self_base; the shared secret is X25519's. */
int ts_seal_any(unsigned char *c, const unsigned char *m, size_t mlen,
                const unsigned char pk[crypto_box_PUBLICKEYBYTES]);

/*
 * The Montgomery u coordinate (X25519 form, 32 bytes little-endian,
 * canonical) of the edwards25519 point encoded in ed (canonical y, sign
 * bit ignored).  No check that it is a point of the main subgroup: for
 * points this module makes itself.
 */
void ts_seal_self_ed_to_u(unsigned char u[32], const unsigned char ed[32]);

#endif
