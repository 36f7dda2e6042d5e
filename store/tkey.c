/*
 * tkey: ticket key pairs and their key file codec.
 */
#include "store/tkey.h"

#include <errno.h>
#include <string.h>

#include <xxhash.h>

#include "store/util.h"

static const char MAGIC[4] = "TKFK";
#define VERSION 1
#define SUM_AT (TS_TKEY_FILEBYTES - 8)

void
ts_tkey_encode(const struct ts_tkey_file *k, uint8_t out[TS_TKEY_FILEBYTES])
{
	memcpy(out, MAGIC, 4);
	out[4] = VERSION;
	memcpy(out + 5, k->tpk, TS_TPK_BYTES);
	memcpy(out + 5 + TS_TPK_BYTES, k->keybox, TS_TKEY_BOXBYTES);
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
	memcpy(k->keybox, buf + 5 + TS_TPK_BYTES, TS_TKEY_BOXBYTES);
	return 0;
}

int
ts_tkey_new(const unsigned char spk[TS_SEAL_PKBYTES], const char *id,
            struct ts_seckey **tk, struct ts_tkey_file *k)
{
	struct ts_seckey *key;
	int rc;

	if ((rc = ts_seal_keypair(&key)) < 0)
		return rc;
	memcpy(k->tpk, ts_seal_seckey_pk(key), TS_TPK_BYTES);
	rc = ts_seal_box(spk, id, TS_TKEY_FIELD, ts_seal_seckey_sk(key),
	                 crypto_box_SECRETKEYBYTES, k->keybox);
	if (rc < 0) {
		ts_seal_seckey_free(key);
		return rc;
	}
	*tk = key;
	return 0;
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

void
ts_tkey_free(struct ts_seckey *tk)
{
	ts_seal_seckey_free(tk);
}
