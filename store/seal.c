/*
 * seal: key pairs, key files and ticket/field-bound sealed boxes.
 */
#include "store/seal.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/seal_self.h"
#include "store/util.h"

struct ts_seckey {
	unsigned char pk[crypto_box_PUBLICKEYBYTES];	/* public half */
	unsigned char sk[crypto_box_SECRETKEYBYTES];	/* secret half */
};

/* On-disk public key: base64 of this struct, after a comment line. */
struct pubkey_file {
	uint8_t magic[6];	/* "TKFSPK" */
	uint8_t version;	/* 1 */
	uint8_t reserved;	/* 0 */
	uint8_t pk[crypto_box_PUBLICKEYBYTES];
};

enum { KDF_NONE = 0, KDF_ARGON2ID13 = 1 };

/* On-disk secret key: base64 of this struct, after a comment line. */
struct seckey_file {
	uint8_t magic[6];	/* "TKFSSK" */
	uint8_t version;	/* 1 */
	uint8_t kdf;		/* KDF_NONE or KDF_ARGON2ID13 */
	uint8_t opslimit[8];	/* Argon2id opslimit, little-endian */
	uint8_t memlimit[8];	/* Argon2id memlimit in bytes, little-endian */
	uint8_t salt[crypto_pwhash_SALTBYTES];
	uint8_t nonce[crypto_secretbox_NONCEBYTES];
	uint8_t pk[crypto_box_PUBLICKEYBYTES];	/* checks the unwrapped sk */
	uint8_t sk[crypto_box_SECRETKEYBYTES + crypto_secretbox_MACBYTES];
				/* secretbox(sk), or sk then 16 zero bytes */
};

static const char PK_MAGIC[6] = "TKFSPK";
static const char SK_MAGIC[6] = "TKFSSK";
static const char PK_COMMENT[] = "untrusted comment: ticketfs public key\n";
static const char SK_COMMENT[] = "untrusted comment: ticketfs secret key\n";

int
ts_seal_init(void)
{
	return sodium_init() < 0 ? -EIO : 0;
}

/*
 * Each thread keeps one wiped secret key and one wiped scratch region for
 * its next use: a sodium_malloc is an mmap, two mprotects and an mlock,
 * and its free as many again, which take-in paid twice a ticket (a
 * quarter of its system time).  What is kept is wiped on the way in; a
 * thread's regions are freed when it exits (the key's destructor), so
 * worker threads coming and going lock no more than they use.
 */
struct locked_cache {
	struct ts_seckey *key;
	unsigned char *scratch;
	size_t scratchcap;
};
static _Thread_local struct locked_cache tl_cache;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;
static int cache_ok;

static void
cache_drop(void *p)
{
	struct locked_cache *c = p;

	sodium_free(c->key);
	sodium_free(c->scratch);
	memset(c, 0, sizeof(*c));
}

static void
cache_init(void)
{
	cache_ok = pthread_key_create(&cache_key, cache_drop) == 0;
}

/* This thread's cache, or NULL if none can be kept (no destructor). */
static struct locked_cache *
cache(void)
{
	pthread_once(&cache_once, cache_init);
	if (!cache_ok)
		return NULL;
	if (pthread_getspecific(cache_key) == NULL &&
	    pthread_setspecific(cache_key, &tl_cache) != 0)
		return NULL;
	return &tl_cache;
}

static struct ts_seckey *
seckey_alloc(void)
{
	struct locked_cache *c = cache();
	struct ts_seckey *key;

	if (c != NULL && c->key != NULL) {
		key = c->key;
		c->key = NULL;
		return key;
	}
	return sodium_malloc(sizeof(*key));
}

unsigned char *
ts_seal_scratch(size_t len, size_t *cap)
{
	struct locked_cache *c = cache();
	unsigned char *p;

	if (c != NULL && c->scratch != NULL && c->scratchcap >= len) {
		p = c->scratch;
		*cap = c->scratchcap;
		c->scratch = NULL;
		return p;
	}
	if ((p = sodium_malloc(len)) != NULL)
		*cap = len;
	return p;
}

void
ts_seal_scratch_free(unsigned char *p, size_t cap)
{
	struct locked_cache *c;

	if (p == NULL)
		return;
	c = cache();
	if (c == NULL || (c->scratch != NULL && c->scratchcap >= cap)) {
		sodium_free(p);	/* wipes */
		return;
	}
	sodium_memzero(p, cap);
	sodium_free(c->scratch);
	c->scratch = p;
	c->scratchcap = cap;
}

int
ts_seal_keypair(struct ts_seckey **out)
{
	struct ts_seckey *key = seckey_alloc();

	if (key == NULL)
		return -ENOMEM;
	crypto_box_keypair(key->pk, key->sk);
	*out = key;
	return 0;
}

const unsigned char *
ts_seal_seckey_pk(const struct ts_seckey *key)
{
	return key->pk;
}

int
ts_seal_seckey_lock(struct ts_seckey *key)
{
	return sodium_mlock(key, sizeof(*key)) == 0 ? 0 : -errno;
}

int
ts_seal_derive(const struct ts_seckey *key, const char *purpose,
               unsigned char *out, size_t len)
{
	if (len < crypto_generichash_BYTES_MIN ||
	    len > crypto_generichash_BYTES_MAX)
		return -EINVAL;
	crypto_generichash(out, len, (const unsigned char *)purpose,
	                   strlen(purpose), key->sk, sizeof(key->sk));
	return 0;
}

void
ts_seal_seckey_free(struct ts_seckey *key)
{
	struct locked_cache *c;

	if (key == NULL)
		return;
	c = cache();
	if (c == NULL || c->key != NULL) {
		sodium_free(key);	/* wipes */
		return;
	}
	sodium_memzero(key, sizeof(*key));
	c->key = key;		/* kept, wiped, for this thread's next */
}

/* "comment\nbase64\n" of len bytes of bin; malloc'd. */
static int
armor(const char *comment, const void *bin, size_t len, char **text)
{
	size_t b64len = sodium_base64_encoded_len(len,
	                    sodium_base64_VARIANT_ORIGINAL);
	size_t clen = strlen(comment);
	char *t = malloc(clen + b64len + 1);

	if (t == NULL)
		return -ENOMEM;
	memcpy(t, comment, clen);
	sodium_bin2base64(t + clen, b64len, bin, len,
	                  sodium_base64_VARIANT_ORIGINAL);
	strcat(t + clen, "\n");
	*text = t;
	return 0;
}

/* Decodes "untrusted comment: ...\nbase64\n" into exactly len bytes. */
static int
unarmor(const char *text, size_t textlen, void *bin, size_t len)
{
	const char *nl = memchr(text, '\n', textlen);
	const char *b64, *end;
	size_t binlen;

	if (nl == NULL || textlen < 18 ||
	    memcmp(text, "untrusted comment:", 18) != 0)
		return -EINVAL;
	b64 = nl + 1;
	end = text + textlen;
	while (end > b64 && (end[-1] == '\n' || end[-1] == '\r'))
		end--;
	if (sodium_base642bin(bin, len, b64, (size_t)(end - b64), NULL,
	                      &binlen, NULL,
	                      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    binlen != len)
		return -EINVAL;
	return 0;
}

int
ts_seal_pubkey_encode(const unsigned char pk[TS_SEAL_PKBYTES], char **text)
{
	struct pubkey_file f;

	memset(&f, 0, sizeof(f));
	memcpy(f.magic, PK_MAGIC, sizeof(f.magic));
	f.version = 1;
	memcpy(f.pk, pk, sizeof(f.pk));
	return armor(PK_COMMENT, &f, sizeof(f), text);
}

int
ts_seal_pubkey_decode(const char *text, size_t len,
                      unsigned char pk[TS_SEAL_PKBYTES])
{
	struct pubkey_file f;
	int rc = unarmor(text, len, &f, sizeof(f));

	if (rc < 0)
		return rc;
	if (memcmp(f.magic, PK_MAGIC, sizeof(f.magic)) != 0 || f.version != 1)
		return -EINVAL;
	memcpy(pk, f.pk, sizeof(f.pk));
	return 0;
}

/* Derives the wrapping key for f from pass into wrap. */
static int
derive(const struct seckey_file *f, const char *pass, size_t passlen,
       unsigned char wrap[crypto_secretbox_KEYBYTES])
{
	unsigned long long ops = ts_le64_get(f->opslimit);
	size_t mem = (size_t)ts_le64_get(f->memlimit);

	if (ops < crypto_pwhash_OPSLIMIT_MIN || ops > crypto_pwhash_OPSLIMIT_MAX ||
	    mem < crypto_pwhash_MEMLIMIT_MIN || mem > (size_t)1 << 32)
		return -EINVAL;
	if (crypto_pwhash(wrap, crypto_secretbox_KEYBYTES, pass, passlen,
	                  f->salt, ops, mem, crypto_pwhash_ALG_ARGON2ID13) != 0)
		return -ENOMEM;
	return 0;
}

int
ts_seal_seckey_encode(const struct ts_seckey *key, const char *pass,
                      size_t passlen, char **text)
{
	struct seckey_file f;
	unsigned char wrap[crypto_secretbox_KEYBYTES];
	int rc;

	memset(&f, 0, sizeof(f));
	memcpy(f.magic, SK_MAGIC, sizeof(f.magic));
	f.version = 1;
	memcpy(f.pk, key->pk, sizeof(f.pk));
	if (pass == NULL) {
		f.kdf = KDF_NONE;
		memcpy(f.sk, key->sk, sizeof(key->sk));
	} else {
		f.kdf = KDF_ARGON2ID13;
		ts_le64_put(f.opslimit, crypto_pwhash_OPSLIMIT_INTERACTIVE);
		ts_le64_put(f.memlimit, crypto_pwhash_MEMLIMIT_INTERACTIVE);
		randombytes_buf(f.salt, sizeof(f.salt));
		randombytes_buf(f.nonce, sizeof(f.nonce));
		if ((rc = derive(&f, pass, passlen, wrap)) < 0)
			goto out_wipe;
		crypto_secretbox_easy(f.sk, key->sk, sizeof(key->sk), f.nonce,
		                      wrap);
	}
	rc = armor(SK_COMMENT, &f, sizeof(f), text);
out_wipe:
	sodium_memzero(wrap, sizeof(wrap));
	sodium_memzero(&f, sizeof(f));
	return rc;
}

int
ts_seal_seckey_needs_pass(const char *text, size_t len)
{
	struct seckey_file f;
	int rc = unarmor(text, len, &f, sizeof(f));

	if (rc == 0 && (memcmp(f.magic, SK_MAGIC, sizeof(f.magic)) != 0 ||
	                f.version != 1 || f.kdf > KDF_ARGON2ID13))
		rc = -EINVAL;
	if (rc == 0)
		rc = f.kdf == KDF_ARGON2ID13;
	sodium_memzero(&f, sizeof(f));
	return rc;
}

int
ts_seal_seckey_decode(const char *text, size_t len, const char *pass,
                      size_t passlen, struct ts_seckey **out)
{
	struct seckey_file f;
	unsigned char wrap[crypto_secretbox_KEYBYTES];
	unsigned char pk[crypto_box_PUBLICKEYBYTES];
	struct ts_seckey *key = NULL;
	int rc;

	if ((rc = unarmor(text, len, &f, sizeof(f))) < 0)
		goto out_wipe;
	rc = -EINVAL;
	if (memcmp(f.magic, SK_MAGIC, sizeof(f.magic)) != 0 || f.version != 1)
		goto out_wipe;
	rc = -ENOMEM;
	if ((key = seckey_alloc()) == NULL)
		goto out_wipe;
	if (f.kdf == KDF_NONE) {
		memcpy(key->sk, f.sk, sizeof(key->sk));
	} else if (f.kdf == KDF_ARGON2ID13) {
		rc = -ENOKEY;
		if (pass == NULL)
			goto out_free;
		if ((rc = derive(&f, pass, passlen, wrap)) < 0)
			goto out_free;
		rc = -EKEYREJECTED;
		if (crypto_secretbox_open_easy(key->sk, f.sk, sizeof(f.sk),
		                               f.nonce, wrap) != 0)
			goto out_free;
	} else {
		rc = -EINVAL;
		goto out_free;
	}
	/* The stored public key proves the secret came out intact. */
	crypto_scalarmult_base(pk, key->sk);
	rc = -EKEYREJECTED;
	if (sodium_memcmp(pk, f.pk, sizeof(pk)) != 0)
		goto out_free;
	memcpy(key->pk, pk, sizeof(pk));
	*out = key;
	key = NULL;
	rc = 0;
out_free:
	ts_seal_seckey_free(key);
out_wipe:
	sodium_memzero(wrap, sizeof(wrap));
	sodium_memzero(&f, sizeof(f));
	return rc;
}

/* The binding tag of (ticket, field). */
static void
bind_tag(const char *ticket, const char *field,
         unsigned char tag[TS_SEAL_TAGBYTES])
{
	static const char domain[] = "ticketfs-bind-v1";
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, TS_SEAL_TAGBYTES);
	/* NULs included: ("ab","c") and ("a","bc") must differ. */
	crypto_generichash_update(&st, (const unsigned char *)domain,
	                          sizeof(domain));
	crypto_generichash_update(&st, (const unsigned char *)ticket,
	                          strlen(ticket) + 1);
	crypto_generichash_update(&st, (const unsigned char *)field,
	                          strlen(field) + 1);
	crypto_generichash_final(&st, tag, TS_SEAL_TAGBYTES);
}

int
ts_seal_box(const unsigned char pk[TS_SEAL_PKBYTES], const char *ticket,
            const char *field, const void *plain, size_t len,
            unsigned char *box)
{
	unsigned char *inner = malloc(len + TS_SEAL_TAGBYTES);
	int rc = 0;

	if (inner == NULL)
		return -ENOMEM;
	bind_tag(ticket, field, inner);
	memcpy(inner + TS_SEAL_TAGBYTES, plain, len);
	/* crypto_box_seal's box, its ephemeral key made faster. */
	if (ts_seal_any(box, inner, len + TS_SEAL_TAGBYTES, pk) != 0)
		rc = -EINVAL;
	sodium_memzero(inner, len + TS_SEAL_TAGBYTES);
	free(inner);
	return rc;
}

int
ts_seal_box_self(const unsigned char pk[TS_SEAL_PKBYTES],
                 const unsigned char sk[crypto_box_SECRETKEYBYTES],
                 const char *ticket, const char *field, const void *plain,
                 size_t len, unsigned char *box)
{
	unsigned char *inner = malloc(len + TS_SEAL_TAGBYTES);
	int rc;

	if (inner == NULL)
		return -ENOMEM;
	bind_tag(ticket, field, inner);
	memcpy(inner + TS_SEAL_TAGBYTES, plain, len);
	rc = ts_seal_self(box, inner, len + TS_SEAL_TAGBYTES, pk, sk);
	sodium_memzero(inner, len + TS_SEAL_TAGBYTES);
	free(inner);
	return rc;
}

int
ts_seal_open(const struct ts_seckey *key, const char *ticket,
             const char *field, const unsigned char *box, size_t boxlen,
             unsigned char *plain)
{
	return ts_seal_open_raw(key->pk, key->sk, ticket, field, box, boxlen,
	                        plain);
}

int
ts_seal_open_raw(const unsigned char pk[TS_SEAL_PKBYTES],
                 const unsigned char sk[crypto_box_SECRETKEYBYTES],
                 const char *ticket, const char *field,
                 const unsigned char *box, size_t boxlen,
                 unsigned char *plain)
{
	unsigned char tag[TS_SEAL_TAGBYTES];
	unsigned char *inner;
	size_t innerlen;
	int rc = -EBADMSG;

	if (boxlen < TS_SEAL_OVERHEAD)
		return -EBADMSG;
	innerlen = boxlen - crypto_box_SEALBYTES;
	if ((inner = malloc(innerlen)) == NULL)
		return -ENOMEM;
	if (crypto_box_seal_open(inner, box, boxlen, pk, sk) != 0)
		goto out_wipe;
	bind_tag(ticket, field, tag);
	if (sodium_memcmp(tag, inner, TS_SEAL_TAGBYTES) != 0)
		goto out_wipe;
	memcpy(plain, inner + TS_SEAL_TAGBYTES, innerlen - TS_SEAL_TAGBYTES);
	rc = 0;
out_wipe:
	sodium_memzero(inner, innerlen);
	free(inner);
	return rc;
}

const unsigned char *
ts_seal_seckey_sk(const struct ts_seckey *key)
{
	return key->sk;
}

int
ts_seal_open_seckey(const struct ts_seckey *key, const char *ticket,
                    const char *field, const unsigned char *box,
                    size_t boxlen, struct ts_seckey **out)
{
	struct ts_seckey *k;
	int rc;

	if (boxlen != crypto_box_SECRETKEYBYTES + TS_SEAL_OVERHEAD)
		return -EBADMSG;
	if ((k = seckey_alloc()) == NULL)
		return -ENOMEM;
	if ((rc = ts_seal_open(key, ticket, field, box, boxlen, k->sk)) < 0 ||
	    crypto_scalarmult_base(k->pk, k->sk) != 0) {
		sodium_free(k);
		return rc < 0 ? rc : -EBADMSG;
	}
	*out = k;
	return 0;
}
