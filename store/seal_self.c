/*
 * seal_self: crypto_box_seal for a key pair whose secret the sealer holds
 * (seal_self.h says why and how).  The field arithmetic modulo
 * p = 2^255 - 19 is radix 2^51 (five 64-bit limbs, 128-bit products), as
 * in curve25519-donna-c64 and libsodium's own fe_51; it runs in constant
 * time (no branch or index on a secret).
 */
#include "store/seal_self.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

__extension__ typedef unsigned __int128 u128;
typedef uint64_t fe[5];	/* sum of f[i] * 2^(51 i); each limb < 2^52 */

#define MASK51 ((UINT64_C(1) << 51) - 1)

static uint64_t
load64(const unsigned char *s)
{
	uint64_t w = 0;

	for (int i = 7; i >= 0; i--)
		w = w << 8 | s[i];
	return w;
}

static void
store64(unsigned char *s, uint64_t w)
{
	for (int i = 0; i < 8; i++, w >>= 8)
		s[i] = (unsigned char)w;
}

/* The 255 low bits of s (the top bit, a point's sign, is dropped). */
static void
fe_frombytes(fe h, const unsigned char s[32])
{
	uint64_t w0 = load64(s), w1 = load64(s + 8), w2 = load64(s + 16),
	         w3 = load64(s + 24) & (UINT64_MAX >> 1);

	h[0] = w0 & MASK51;
	h[1] = (w0 >> 51 | w1 << 13) & MASK51;
	h[2] = (w1 >> 38 | w2 << 26) & MASK51;
	h[3] = (w2 >> 25 | w3 << 39) & MASK51;
	h[4] = w3 >> 12;
}

/* Carries every limb into the next, the top one back into h[0] times 19. */
static void
fe_carry(fe h)
{
	for (int i = 0; i < 4; i++) {
		h[i + 1] += h[i] >> 51;
		h[i] &= MASK51;
	}
	h[0] += 19 * (h[4] >> 51);
	h[4] &= MASK51;
}

/* h = f * g (h may be f or g). */
static void
fe_mul(fe h, const fe f, const fe g)
{
	uint64_t g1 = 19 * g[1], g2 = 19 * g[2], g3 = 19 * g[3],
	         g4 = 19 * g[4];
	u128 r0, r1, r2, r3, r4, c;

	r0 = (u128)f[0] * g[0] + (u128)f[1] * g4 + (u128)f[2] * g3 +
	     (u128)f[3] * g2 + (u128)f[4] * g1;
	r1 = (u128)f[0] * g[1] + (u128)f[1] * g[0] + (u128)f[2] * g4 +
	     (u128)f[3] * g3 + (u128)f[4] * g2;
	r2 = (u128)f[0] * g[2] + (u128)f[1] * g[1] + (u128)f[2] * g[0] +
	     (u128)f[3] * g4 + (u128)f[4] * g3;
	r3 = (u128)f[0] * g[3] + (u128)f[1] * g[2] + (u128)f[2] * g[1] +
	     (u128)f[3] * g[0] + (u128)f[4] * g4;
	r4 = (u128)f[0] * g[4] + (u128)f[1] * g[3] + (u128)f[2] * g[2] +
	     (u128)f[3] * g[1] + (u128)f[4] * g[0];
	r1 += r0 >> 51;
	r2 += r1 >> 51;
	r3 += r2 >> 51;
	r4 += r3 >> 51;
	c = (r0 & MASK51) + 19 * (r4 >> 51);
	h[0] = (uint64_t)c & MASK51;
	h[1] = ((uint64_t)r1 & MASK51) + (uint64_t)(c >> 51);
	h[2] = (uint64_t)r2 & MASK51;
	h[3] = (uint64_t)r3 & MASK51;
	h[4] = (uint64_t)r4 & MASK51;
}

/* h = f^2 (h may be f): fe_mul with the equal cross products paired. */
static void
fe_sq(fe h, const fe f)
{
	uint64_t d0 = 2 * f[0], d1 = 2 * f[1], f3_19 = 19 * f[3],
	         f4_19 = 19 * f[4];
	u128 r0, r1, r2, r3, r4, c;

	r0 = (u128)f[0] * f[0] + (u128)d1 * f4_19 + (u128)(2 * f[2]) * f3_19;
	r1 = (u128)d0 * f[1] + (u128)(2 * f[2]) * f4_19 + (u128)f[3] * f3_19;
	r2 = (u128)d0 * f[2] + (u128)f[1] * f[1] + (u128)(2 * f[3]) * f4_19;
	r3 = (u128)d0 * f[3] + (u128)d1 * f[2] + (u128)f[4] * f4_19;
	r4 = (u128)d0 * f[4] + (u128)d1 * f[3] + (u128)f[2] * f[2];
	r1 += r0 >> 51;
	r2 += r1 >> 51;
	r3 += r2 >> 51;
	r4 += r3 >> 51;
	c = (r0 & MASK51) + 19 * (r4 >> 51);
	h[0] = (uint64_t)c & MASK51;
	h[1] = ((uint64_t)r1 & MASK51) + (uint64_t)(c >> 51);
	h[2] = (uint64_t)r2 & MASK51;
	h[3] = (uint64_t)r3 & MASK51;
	h[4] = (uint64_t)r4 & MASK51;
}

/* h = f^(2^n), n >= 1. */
static void
fe_sqn(fe h, const fe f, int n)
{
	fe_sq(h, f);
	while (--n > 0)
		fe_sq(h, h);
}

/* h = z^(p - 2) = 1/z (0 for 0): ref10's chain of 254 squarings and 11
 * multiplications. */
static void
fe_invert(fe h, const fe z)
{
	fe z2, z9, z11, a, b, t;

	fe_sqn(z2, z, 1);
	fe_sqn(t, z2, 2);
	fe_mul(z9, t, z);
	fe_mul(z11, z9, z2);
	fe_sqn(t, z11, 1);
	fe_mul(a, t, z9);		/* z^(2^5 - 1) */
	fe_sqn(t, a, 5);
	fe_mul(a, t, a);		/* z^(2^10 - 1) */
	fe_sqn(t, a, 10);
	fe_mul(b, t, a);		/* z^(2^20 - 1) */
	fe_sqn(t, b, 20);
	fe_mul(t, t, b);		/* z^(2^40 - 1) */
	fe_sqn(t, t, 10);
	fe_mul(a, t, a);		/* z^(2^50 - 1) */
	fe_sqn(t, a, 50);
	fe_mul(b, t, a);		/* z^(2^100 - 1) */
	fe_sqn(t, b, 100);
	fe_mul(t, t, b);		/* z^(2^200 - 1) */
	fe_sqn(t, t, 50);
	fe_mul(t, t, a);		/* z^(2^250 - 1) */
	fe_sqn(t, t, 5);
	fe_mul(h, t, z11);		/* z^(2^255 - 21) */
	sodium_memzero(z2, sizeof(z2));
	sodium_memzero(z9, sizeof(z9));
	sodium_memzero(z11, sizeof(z11));
	sodium_memzero(a, sizeof(a));
	sodium_memzero(b, sizeof(b));
	sodium_memzero(t, sizeof(t));
}

/* s = h reduced to [0, p), little-endian. */
static void
fe_tobytes(unsigned char s[32], const fe h)
{
	uint64_t t[5], q;

	memcpy(t, h, sizeof(t));
	fe_carry(t);
	fe_carry(t);		/* now t < 2^255 + 19: below 2p */
	/* q = 1 iff t >= p, i.e. t + 19 >= 2^255 (carries exact). */
	q = (t[0] + 19) >> 51;
	for (int i = 1; i < 5; i++)
		q = (t[i] + q) >> 51;
	t[0] += 19 * q;		/* t - q p = t + 19 q - q 2^255 */
	for (int i = 0; i < 4; i++) {
		t[i + 1] += t[i] >> 51;
		t[i] &= MASK51;
	}
	t[4] &= MASK51;
	store64(s, t[0] | t[1] << 51);
	store64(s + 8, t[1] >> 13 | t[2] << 38);
	store64(s + 16, t[2] >> 26 | t[3] << 25);
	store64(s + 24, t[3] >> 39 | t[4] << 12);
	sodium_memzero(t, sizeof(t));
}

/* num = 1 + y and den = 1 - y of the point encoded in ed. */
static void
ed_frac(fe num, fe den, const unsigned char ed[32])
{
	/* 2p, limb by limb: 1 - y + 2p stays positive in every limb. */
	static const uint64_t twop[5] = {
		2 * (MASK51 - 18), 2 * MASK51, 2 * MASK51, 2 * MASK51,
		2 * MASK51
	};
	fe y;

	fe_frombytes(y, ed);
	for (int i = 0; i < 5; i++) {
		num[i] = y[i] + (i == 0);
		den[i] = twop[i] - y[i] + (i == 0);
	}
	fe_carry(den);
	sodium_memzero(y, sizeof(y));
}

void
ts_seal_self_ed_to_u(unsigned char u[32], const unsigned char ed[32])
{
	fe num, den;

	ed_frac(num, den, ed);
	fe_invert(den, den);
	fe_mul(num, num, den);
	fe_tobytes(u, num);
	sodium_memzero(num, sizeof(num));
	sodium_memzero(den, sizeof(den));
}

/* ts_seal_self_ed_to_u of two points with one inversion (Montgomery's
 * trick: 1/a = b/(ab), 1/b = a/(ab)). */
static void
ed_to_u2(unsigned char u1[32], const unsigned char ed1[32],
         unsigned char u2[32], const unsigned char ed2[32])
{
	fe n1, d1, n2, d2, inv, t;

	ed_frac(n1, d1, ed1);
	ed_frac(n2, d2, ed2);
	fe_mul(t, d1, d2);
	fe_invert(inv, t);
	fe_mul(t, inv, d2);	/* 1 / d1 */
	fe_mul(n1, n1, t);
	fe_mul(t, inv, d1);	/* 1 / d2 */
	fe_mul(n2, n2, t);
	fe_tobytes(u1, n1);
	fe_tobytes(u2, n2);
	sodium_memzero(n1, sizeof(n1));
	sodium_memzero(d1, sizeof(d1));
	sodium_memzero(n2, sizeof(n2));
	sodium_memzero(d2, sizeof(d2));
	sodium_memzero(inv, sizeof(inv));
	sodium_memzero(t, sizeof(t));
}

/* t = the X25519 scalar of sk (clamped) reduced modulo L. */
static void
x25519_scalar(unsigned char t[32], const unsigned char sk[32])
{
	unsigned char wide[64] = { 0 };

	memcpy(wide, sk, 32);
	wide[0] &= 248;
	wide[31] &= 127;
	wide[31] |= 64;
	crypto_core_ed25519_scalar_reduce(t, wide);
	sodium_memzero(wide, sizeof(wide));
}

/* What crypto_box_seal does once it has the ephemeral public key (in
 * c[0..32)) and the shared secret: beforenm's HSalsa20, the nonce
 * BLAKE2b(epk || pk), crypto_box_easy after the epk. */
static int
seal_finish(unsigned char *c, const unsigned char *m, size_t mlen,
            const unsigned char pk[crypto_box_PUBLICKEYBYTES],
            const unsigned char shared[32])
{
	static const unsigned char zero[16];
	unsigned char k[crypto_box_BEFORENMBYTES], nonce[crypto_box_NONCEBYTES];
	crypto_generichash_state st;
	int rc = -EINVAL;

	if (crypto_core_hsalsa20(k, zero, shared, NULL) != 0)
		goto out_wipe;
	crypto_generichash_init(&st, NULL, 0, sizeof(nonce));
	crypto_generichash_update(&st, c, crypto_box_PUBLICKEYBYTES);
	crypto_generichash_update(&st, pk, crypto_box_PUBLICKEYBYTES);
	crypto_generichash_final(&st, nonce, sizeof(nonce));
	if (crypto_box_easy_afternm(c + crypto_box_PUBLICKEYBYTES, m, mlen,
	                            nonce, k) == 0)
		rc = 0;
out_wipe:
	sodium_memzero(k, sizeof(k));
	return rc;
}

int
ts_seal_self(unsigned char *c, const unsigned char *m, size_t mlen,
             const unsigned char pk[crypto_box_PUBLICKEYBYTES],
             const unsigned char sk[crypto_box_SECRETKEYBYTES])
{
	unsigned char t[32], e[32], d[32], point[32], spoint[32], shared[32];
	int rc = -EINVAL;

	/* t: the recipient's scalar as X25519 uses it, mod L; e fresh. */
	x25519_scalar(t, sk);
	crypto_core_ed25519_scalar_random(e);
	/* The ephemeral public key u(e B), and the shared u(t e B). */
	crypto_core_ed25519_scalar_mul(d, t, e);
	if (crypto_scalarmult_ed25519_base_noclamp(point, e) != 0 ||
	    crypto_scalarmult_ed25519_base_noclamp(spoint, d) != 0)
		goto out_wipe;
	ed_to_u2(c, point, shared, spoint);
	rc = seal_finish(c, m, mlen, pk, shared);
out_wipe:
	sodium_memzero(t, sizeof(t));
	sodium_memzero(e, sizeof(e));
	sodium_memzero(d, sizeof(d));
	sodium_memzero(point, sizeof(point));
	sodium_memzero(spoint, sizeof(spoint));
	sodium_memzero(shared, sizeof(shared));
	return rc;
}

int
ts_seal_self_base(unsigned char pk[crypto_box_PUBLICKEYBYTES],
                  const unsigned char sk[crypto_box_SECRETKEYBYTES])
{
	unsigned char t[32], point[32];
	int rc = -EINVAL;

	x25519_scalar(t, sk);
	if (crypto_scalarmult_ed25519_base_noclamp(point, t) == 0) {
		ts_seal_self_ed_to_u(pk, point);
		rc = 0;
	}
	sodium_memzero(t, sizeof(t));
	sodium_memzero(point, sizeof(point));
	return rc;
}

int
ts_seal_any(unsigned char *c, const unsigned char *m, size_t mlen,
            const unsigned char pk[crypto_box_PUBLICKEYBYTES])
{
	unsigned char esk[32], shared[32];
	int rc = -EINVAL;

	randombytes_buf(esk, sizeof(esk));
	if (ts_seal_self_base(c, esk) == 0 &&
	    crypto_scalarmult(shared, esk, pk) == 0)
		rc = seal_finish(c, m, mlen, pk, shared);
	sodium_memzero(esk, sizeof(esk));
	sodium_memzero(shared, sizeof(shared));
	return rc;
}
