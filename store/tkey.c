/*
 * tkey: ticket key pairs and their key file codec.
 */
#include "store/tkey.h"

#include <errno.h>
#include <string.h>

#include <xxhash.h>

#include "store/seal_self.h"
#include "store/util.h"

static const char MAGIC[4] = "TKFK";
#define VERSION 1
#define SUM_AT (TS_TKEY_FILEBYTES - 8)
#define BIND_DOMAIN "ticketfs-tkey-v1"

void
ts_tkey_encode(const struct ts_tkey_file *k, uint8_t out[TS_TKEY_FILEBYTES])
{
	memcpy(out, MAGIC, 4);
	out[4] = VERSION;
	memcpy(out + 5, k->tpk, TS_TPK_BYTES);
	memcpy(out + 5 + TS_TPK_BYTES, k->wrapped, TS_TKEY_WRAPBYTES);
	ts_le64_put(out + SUM_AT, XXH3_64bits(out, SUM_AT));
}

int
ts_tkey_decode(const uint8_t *buf, size_t len, struct ts_tkey_file *k)
{
	if (len != TS_TKEY_FILEBYTES || memcmp(buf, MAGIC, 4) != 0 ||
	    buf[4] != VERSION ||
	    XXH3_64bits(buf, SUM_AT) != ts_le64_get(buf + SUM_AT))
		return -EBADMSG;
	memcpy(k->tpk, buf + 5, TS_TPK_BYTES);
	memcpy(k->wrapped, buf + 5 + TS_TPK_BYTES, TS_TKEY_WRAPBYTES);
	return 0;
}

int
ts_tkey_new_sealed_key(const unsigned char spk[TS_SEAL_PKBYTES],
                       const char *id, unsigned char tpk[TS_TPK_BYTES],
                       unsigned char tsk[crypto_box_SECRETKEYBYTES],
                       unsigned char keybox[TS_TKEY_BOXBYTES])
{
	int rc;

	/* crypto_box_keypair, its public half made faster. */
	randombytes_buf(tsk, crypto_box_SECRETKEYBYTES);
	if ((rc = ts_seal_self_base(tpk, tsk)) == 0)
		rc = ts_seal_box(spk, id, TS_TKEY_FIELD, tsk,
		                 crypto_box_SECRETKEYBYTES, keybox);
	if (rc < 0)
		sodium_memzero(tsk, crypto_box_SECRETKEYBYTES);
	return rc;
}

int
ts_tkey_new_sealed(const unsigned char spk[TS_SEAL_PKBYTES], const char *id,
                   unsigned char tpk[TS_TPK_BYTES],
                   unsigned char keybox[TS_TKEY_BOXBYTES])
{
	struct ts_seckey *key;
	int rc;

	if ((rc = ts_seal_keypair(&key)) < 0)
		return rc;
	memcpy(tpk, ts_seal_seckey_pk(key), TS_TPK_BYTES);
	rc = ts_seal_box(spk, id, TS_TKEY_FIELD, ts_seal_seckey_sk(key),
	                 crypto_box_SECRETKEYBYTES, keybox);
	ts_seal_seckey_free(key);
	return rc;
}

int
ts_tkey_open(const struct ts_seckey *sk, const char *id,
             const unsigned char tpk[TS_TPK_BYTES],
             const unsigned char keybox[TS_TKEY_BOXBYTES],
             struct ts_seckey **tk)
{
	struct ts_seckey *key;
	int rc;

	rc = ts_seal_open_seckey(sk, id, TS_TKEY_FIELD, keybox,
	                         TS_TKEY_BOXBYTES, &key);
	if (rc < 0)
		return rc;
	if (sodium_memcmp(ts_seal_seckey_pk(key), tpk, TS_TPK_BYTES) != 0) {
		ts_seal_seckey_free(key);
		return -ENOKEY;
	}
	*tk = key;
	return 0;
}

int
ts_tkey_wrap_key(const struct ts_seckey *sk,
                 unsigned char wkey[TS_TKEY_WKEYBYTES])
{
	return ts_seal_derive(sk, TS_TKEY_WRAP_PURPOSE, wkey,
	                      TS_TKEY_WKEYBYTES);
}

/* The key that wraps ticket id's key: bound to id. */
static void
id_key(const unsigned char wkey[TS_TKEY_WKEYBYTES], const char *id,
       unsigned char out[crypto_secretbox_KEYBYTES])
{
	crypto_generichash_state h;

	crypto_generichash_init(&h, wkey, TS_TKEY_WKEYBYTES,
	                        crypto_secretbox_KEYBYTES);
	crypto_generichash_update(&h, (const unsigned char *)BIND_DOMAIN,
	                          sizeof(BIND_DOMAIN));
	crypto_generichash_update(&h, (const unsigned char *)id,
	                          strlen(id) + 1);
	crypto_generichash_final(&h, out, crypto_secretbox_KEYBYTES);
	sodium_memzero(&h, sizeof(h));
}

int
ts_tkey_wrap(const unsigned char wkey[TS_TKEY_WKEYBYTES], const char *id,
             const struct ts_seckey *tk, struct ts_tkey_file *k,
             unsigned char *ik)
{
	id_key(wkey, id, ik);
	memcpy(k->tpk, ts_seal_seckey_pk(tk), TS_TPK_BYTES);
	randombytes_buf(k->wrapped, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(k->wrapped + crypto_secretbox_NONCEBYTES,
	                      ts_seal_seckey_sk(tk), crypto_box_SECRETKEYBYTES,
	                      k->wrapped, ik);
	sodium_memzero(ik, crypto_secretbox_KEYBYTES);
	return 0;
}

int
ts_tkey_unwrap(const unsigned char wkey[TS_TKEY_WKEYBYTES], const char *id,
               const struct ts_tkey_file *k,
               unsigned char sk[crypto_box_SECRETKEYBYTES], unsigned char *ik)
{
	int rc;

	id_key(wkey, id, ik);
	rc = crypto_secretbox_open_easy(sk, k->wrapped +
	                                crypto_secretbox_NONCEBYTES,
	                                TS_TKEY_WRAPBYTES -
	                                crypto_secretbox_NONCEBYTES,
	                                k->wrapped, ik) == 0 ? 0 : -EBADMSG;
	sodium_memzero(ik, crypto_secretbox_KEYBYTES);
	if (rc < 0)
		sodium_memzero(sk, crypto_box_SECRETKEYBYTES);
	return rc;
}

int
ts_tkey_rewrap(const unsigned char from[TS_TKEY_WKEYBYTES],
               const unsigned char to[TS_TKEY_WKEYBYTES], const char *id,
               const struct ts_tkey_file *k, struct ts_tkey_file *out,
               unsigned char sk[crypto_box_SECRETKEYBYTES], unsigned char *ik)
{
	int rc;

	if ((rc = ts_tkey_unwrap(from, id, k, sk, ik)) < 0)
		return rc;
	id_key(to, id, ik);
	memcpy(out->tpk, k->tpk, TS_TPK_BYTES);
	randombytes_buf(out->wrapped, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(out->wrapped + crypto_secretbox_NONCEBYTES, sk,
	                      crypto_box_SECRETKEYBYTES, out->wrapped, ik);
	sodium_memzero(ik, crypto_secretbox_KEYBYTES);
	sodium_memzero(sk, crypto_box_SECRETKEYBYTES);
	return 0;
}

void
ts_tkey_free(struct ts_seckey *tk)
{
	ts_seal_seckey_free(tk);
}
