/*
 * seal: the project's use of libsodium.  Key pairs and their file formats,
 * and sealed boxes bound to the ticket and field they belong to.
 *
 * A sealed value is crypto_box_seal(tag || plaintext) where tag is a 16-byte
 * BLAKE2b hash of ("ticketfs-bind-v1", ticket id, field path).  Opening
 * checks the tag, so a box copied into another ticket or field is refused
 * exactly like damage.  A box is always TS_SEAL_OVERHEAD bytes longer than
 * its plaintext, which is how sizes are known without decrypting.
 *
 * Key files are two lines, after signify: an untrusted comment, then the
 * base64 of a fixed struct of byte arrays with a magic and little-endian
 * integers.  The secret key may be wrapped with a passphrase (Argon2id,
 * its limits and salt stored in the file, then XSalsa20-Poly1305).
 *
 * Functions return 0 or -errno.  -EBADMSG means a box or key file failed
 * authentication or its binding.
 */
#ifndef TS_SEAL_H
#define TS_SEAL_H

#include <stddef.h>

#include <sodium.h>

#define TS_SEAL_TAGBYTES 16
#define TS_SEAL_OVERHEAD (crypto_box_SEALBYTES + TS_SEAL_TAGBYTES)
#define TS_SEAL_PKBYTES crypto_box_PUBLICKEYBYTES

struct ts_seckey;	/* a key pair in sodium_malloc'd, locked memory */

/* Initialises libsodium; call once before anything else.  -EIO on failure. */
int ts_seal_init(void);

/* Generates a new key pair into *out; free with ts_seal_seckey_free(). */
int ts_seal_keypair(struct ts_seckey **out);
/* The public half of a key pair; valid while the key lives. */
const unsigned char *ts_seal_seckey_pk(const struct ts_seckey *key);
/*
 * Locks the key's pages in memory again: fork() does not pass mlock on
 * to the child, so a daemon that forks after loading its key calls this.
 */
int ts_seal_seckey_lock(struct ts_seckey *key);
/*
 * Derives len (16..64) bytes for purpose (a context string such as
 * "audit-sign") from the secret key: keyed BLAKE2b.  The caller wipes out.
 */
int ts_seal_derive(const struct ts_seckey *key, const char *purpose,
                   unsigned char *out, size_t len);
/* Wipes and frees a key pair; NULL is fine. */
void ts_seal_seckey_free(struct ts_seckey *key);

/*
 * Locked scratch memory for plaintext (sodium_malloc'd: guarded, locked,
 * wiped when freed) of at least len bytes, *cap set to its size; NULL if
 * out of memory.  Free with ts_seal_scratch_free(p, *cap), which wipes it.
 * Each thread keeps one freed key (ts_seal_seckey_free) and one scratch
 * region, wiped, for its next use: take-in needs both for every ticket.
 */
unsigned char *ts_seal_scratch(size_t len, size_t *cap);
void ts_seal_scratch_free(unsigned char *p, size_t cap);

/* Public key file text (malloc'd, NUL-terminated) for pk. */
int ts_seal_pubkey_encode(const unsigned char pk[TS_SEAL_PKBYTES], char **text);
/* Parses a public key file.  -EINVAL if it is not one. */
int ts_seal_pubkey_decode(const char *text, size_t len,
                          unsigned char pk[TS_SEAL_PKBYTES]);

/*
 * Secret key file text (malloc'd) for key; with pass != NULL the key is
 * wrapped with it.  The text holds the secret in the clear when pass is
 * NULL: the caller wipes it (sodium_memzero) before freeing.
 */
int ts_seal_seckey_encode(const struct ts_seckey *key, const char *pass,
                          size_t passlen, char **text);
/* 1 if the secret key file text needs a passphrase, 0 if not, -EINVAL. */
int ts_seal_seckey_needs_pass(const char *text, size_t len);
/*
 * Parses a secret key file into *out.  -EINVAL: not a key file;
 * -ENOKEY: a passphrase is needed; -EKEYREJECTED: wrong passphrase or a
 * damaged file.
 */
int ts_seal_seckey_decode(const char *text, size_t len, const char *pass,
                          size_t passlen, struct ts_seckey **out);

/*
 * Seals plain (len bytes) for pk, bound to ticket and field (a path such as
 * "email" or "authorizations/NAME/password"), into box, which must have
 * room for len + TS_SEAL_OVERHEAD bytes.
 */
int ts_seal_box(const unsigned char pk[TS_SEAL_PKBYTES], const char *ticket,
                const char *field, const void *plain, size_t len,
                unsigned char *box);
/*
 * ts_seal_box for pk, made faster with its secret half sk (seal_self.h):
 * the same box, opened the same way.  For the maker of a new ticket, who
 * holds the ticket's fresh key pair.
 */
int ts_seal_box_self(const unsigned char pk[TS_SEAL_PKBYTES],
                     const unsigned char sk[crypto_box_SECRETKEYBYTES],
                     const char *ticket, const char *field,
                     const void *plain, size_t len, unsigned char *box);
/*
 * Opens a box sealed by ts_seal_box for the same ticket and field into
 * plain (room for boxlen - TS_SEAL_OVERHEAD bytes).  -EBADMSG if the box is
 * damaged, forged for another key, or bound elsewhere; plain is then wiped.
 */
int ts_seal_open(const struct ts_seckey *key, const char *ticket,
                 const char *field, const unsigned char *box, size_t boxlen,
                 unsigned char *plain);

/* ts_seal_open with a key pair given as its halves (pk, sk), for keys kept
 * in the caller's own sodium_malloc'd memory. */
int ts_seal_open_raw(const unsigned char pk[TS_SEAL_PKBYTES],
                     const unsigned char sk[crypto_box_SECRETKEYBYTES],
                     const char *ticket, const char *field,
                     const unsigned char *box, size_t boxlen,
                     unsigned char *plain);

/* The secret half of a key pair (crypto_box_SECRETKEYBYTES bytes), to seal
 * a ticket's key; valid while the key lives. */
const unsigned char *ts_seal_seckey_sk(const struct ts_seckey *key);
/*
 * Opens a box sealed by ts_seal_box holding a secret key (boxlen must be
 * crypto_box_SECRETKEYBYTES + TS_SEAL_OVERHEAD) straight into a new key
 * pair *out, its public half computed from the secret one: the secret
 * never lies outside sodium_malloc'd memory but in ts_seal_open's wiped
 * buffer.  -EBADMSG as ts_seal_open, or if boxlen is not that.
 */
int ts_seal_open_seckey(const struct ts_seckey *key, const char *ticket,
                        const char *field, const unsigned char *box,
                        size_t boxlen, struct ts_seckey **out);

#endif
