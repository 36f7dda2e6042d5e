/*
 * test_seal: key pairs, key files (and their owner and mode checks) and
 * sealed boxes bound to their ticket and field.  Every refusal is checked by the error a caller gets and by
 * the output buffer being left without plaintext.
 */
#include <check.h>

#include "tests/check_main.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/keyfile.h"
#include "store/seal.h"
#include "store/seal_self.h"

static const char TICKET[] = "20261125-081845-123456-3fa2";
static const char PLAIN[] = "alice@example.com\n";

/* A fresh key pair; fails the test if there is none. */
static struct ts_seckey *
new_key(void)
{
	struct ts_seckey *key = NULL;

	ck_assert_int_eq(ts_seal_keypair(&key), 0);
	ck_assert_ptr_nonnull(key);
	return key;
}

/* Seals PLAIN for key, ticket and field into a malloc'd box. */
static unsigned char *
seal_plain(const struct ts_seckey *key, const char *ticket, const char *field,
           size_t *boxlen)
{
	size_t len = strlen(PLAIN);
	unsigned char *box = malloc(len + TS_SEAL_OVERHEAD);

	ck_assert_ptr_nonnull(box);
	ck_assert_int_eq(ts_seal_box(ts_seal_seckey_pk(key), ticket, field,
	                             PLAIN, len, box), 0);
	*boxlen = len + TS_SEAL_OVERHEAD;
	return box;
}

START_TEST(keypair_is_usable)
{
	struct ts_seckey *a = new_key(), *b = new_key();
	static const unsigned char zero[TS_SEAL_PKBYTES];

	ck_assert_mem_ne(ts_seal_seckey_pk(a), zero, TS_SEAL_PKBYTES);
	/* Two key pairs are not the same key. */
	ck_assert_mem_ne(ts_seal_seckey_pk(a), ts_seal_seckey_pk(b),
	                 TS_SEAL_PKBYTES);
	ts_seal_seckey_free(a);
	ts_seal_seckey_free(b);
	ts_seal_seckey_free(NULL);	/* NULL is fine */
}
END_TEST

START_TEST(seal_open_round_trip)
{
	struct ts_seckey *key = new_key();
	size_t boxlen;
	unsigned char *box = seal_plain(key, TICKET, "email", &boxlen);
	unsigned char plain[sizeof(PLAIN)];

	/* The ciphertext does not show the plaintext. */
	ck_assert_ptr_null(memmem(box, boxlen, "alice", 5));
	memset(plain, 0, sizeof(plain));
	ck_assert_int_eq(ts_seal_open(key, TICKET, "email", box, boxlen,
	                              plain), 0);
	ck_assert_mem_eq(plain, PLAIN, strlen(PLAIN));
	free(box);
	ts_seal_seckey_free(key);
}
END_TEST

START_TEST(seal_empty_plaintext)
{
	struct ts_seckey *key = new_key();
	unsigned char box[TS_SEAL_OVERHEAD], plain[1] = { 0x5a };

	ck_assert_int_eq(ts_seal_box(ts_seal_seckey_pk(key), TICKET, "x", "",
	                             0, box), 0);
	ck_assert_int_eq(ts_seal_open(key, TICKET, "x", box, sizeof(box),
	                              plain), 0);
	ck_assert_int_eq(plain[0], 0x5a);	/* nothing written */
	ts_seal_seckey_free(key);
}
END_TEST

START_TEST(box_size_is_len_plus_overhead)
{
	struct ts_seckey *key = new_key();
	/* Sizes are known without decrypting: a box is exactly this long,
	 * and opening it with one byte less or more is refused. */
	size_t lens[] = { 1, 17, 1000 };

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		size_t len = lens[i];
		unsigned char *plain = malloc(len), *box, *out;

		ck_assert_ptr_nonnull(plain);
		memset(plain, 'p', len);
		/* A canary right behind len + overhead must stay intact. */
		box = malloc(len + TS_SEAL_OVERHEAD + 16);
		out = malloc(len + 16);
		ck_assert_ptr_nonnull(box);
		ck_assert_ptr_nonnull(out);
		memset(box, 0xa5, len + TS_SEAL_OVERHEAD + 16);
		ck_assert_int_eq(ts_seal_box(ts_seal_seckey_pk(key), TICKET,
		                             "f", plain, len, box), 0);
		for (size_t k = 0; k < 16; k++)
			ck_assert_int_eq(box[len + TS_SEAL_OVERHEAD + k], 0xa5);
		ck_assert_int_eq(ts_seal_open(key, TICKET, "f", box,
		                              len + TS_SEAL_OVERHEAD, out), 0);
		ck_assert_mem_eq(out, plain, len);
		ck_assert_int_eq(ts_seal_open(key, TICKET, "f", box,
		                              len + TS_SEAL_OVERHEAD - 1, out),
		                 -EBADMSG);
		ck_assert_int_eq(ts_seal_open(key, TICKET, "f", box,
		                              len + TS_SEAL_OVERHEAD + 1, out),
		                 -EBADMSG);
		free(plain);
		free(box);
		free(out);
	}
	ck_assert_uint_eq(TS_SEAL_OVERHEAD, crypto_box_SEALBYTES + 16);
	ts_seal_seckey_free(key);
}
END_TEST

START_TEST(open_short_box_refused)
{
	struct ts_seckey *key = new_key();
	unsigned char box[TS_SEAL_OVERHEAD], plain[1];

	memset(box, 0, sizeof(box));
	ck_assert_int_eq(ts_seal_open(key, TICKET, "email", box, 0, plain),
	                 -EBADMSG);
	ck_assert_int_eq(ts_seal_open(key, TICKET, "email", box,
	                              TS_SEAL_OVERHEAD - 1, plain), -EBADMSG);
	ts_seal_seckey_free(key);
}
END_TEST

START_TEST(open_wrong_ticket_refused)
{
	struct ts_seckey *key = new_key();
	size_t boxlen;
	unsigned char *box = seal_plain(key, TICKET, "email", &boxlen);
	unsigned char plain[sizeof(PLAIN)];

	memset(plain, 0, sizeof(plain));
	ck_assert_int_eq(ts_seal_open(key, "20261125-081845-123456-3fa3",
	                              "email", box, boxlen, plain), -EBADMSG);
	ck_assert_ptr_null(memmem(plain, sizeof(plain), "alice", 5));
	/* The NUL between ticket and field is part of the binding. */
	ck_assert_int_eq(ts_seal_open(key, "20261125-081845-123456-3fa2e",
	                              "mail", box, boxlen, plain), -EBADMSG);
	/* The right one still opens: the refusal was the binding. */
	ck_assert_int_eq(ts_seal_open(key, TICKET, "email", box, boxlen,
	                              plain), 0);
	free(box);
	ts_seal_seckey_free(key);
}
END_TEST

START_TEST(open_wrong_field_refused)
{
	struct ts_seckey *key = new_key();
	size_t boxlen;
	unsigned char *box = seal_plain(key, TICKET,
	                                "authorizations/a1/password", &boxlen);
	unsigned char plain[sizeof(PLAIN)];

	memset(plain, 0, sizeof(plain));
	ck_assert_int_eq(ts_seal_open(key, TICKET, "authorizations/a2/password",
	                              box, boxlen, plain), -EBADMSG);
	ck_assert_int_eq(ts_seal_open(key, TICKET, "authorizations/a1/account",
	                              box, boxlen, plain), -EBADMSG);
	ck_assert_int_eq(ts_seal_open(key, TICKET, "email", box, boxlen,
	                              plain), -EBADMSG);
	ck_assert_ptr_null(memmem(plain, sizeof(plain), "alice", 5));
	ck_assert_int_eq(ts_seal_open(key, TICKET, "authorizations/a1/password",
	                              box, boxlen, plain), 0);
	free(box);
	ts_seal_seckey_free(key);
}
END_TEST

START_TEST(open_flipped_byte_refused)
{
	struct ts_seckey *key = new_key();
	size_t boxlen;
	unsigned char *box = seal_plain(key, TICKET, "email", &boxlen);
	unsigned char plain[sizeof(PLAIN)];

	for (size_t i = 0; i < boxlen; i++) {
		box[i] ^= 0x01;
		memset(plain, 0, sizeof(plain));
		ck_assert_msg(ts_seal_open(key, TICKET, "email", box, boxlen,
		                           plain) == -EBADMSG,
		              "flip at byte %zu was not refused", i);
		ck_assert_ptr_null(memmem(plain, sizeof(plain), "alice", 5));
		box[i] ^= 0x01;
	}
	ck_assert_int_eq(ts_seal_open(key, TICKET, "email", box, boxlen,
	                              plain), 0);
	free(box);
	ts_seal_seckey_free(key);
}
END_TEST

START_TEST(open_other_key_refused)
{
	struct ts_seckey *key = new_key(), *other = new_key();
	size_t boxlen;
	unsigned char *box = seal_plain(other, TICKET, "email", &boxlen);
	unsigned char plain[sizeof(PLAIN)];

	memset(plain, 0, sizeof(plain));
	ck_assert_int_eq(ts_seal_open(key, TICKET, "email", box, boxlen,
	                              plain), -EBADMSG);
	ck_assert_ptr_null(memmem(plain, sizeof(plain), "alice", 5));
	ck_assert_int_eq(ts_seal_open(other, TICKET, "email", box, boxlen,
	                              plain), 0);
	free(box);
	ts_seal_seckey_free(key);
	ts_seal_seckey_free(other);
}
END_TEST

START_TEST(pubkey_round_trip)
{
	struct ts_seckey *key = new_key();
	unsigned char pk[TS_SEAL_PKBYTES];
	char *text = NULL;

	ck_assert_int_eq(ts_seal_pubkey_encode(ts_seal_seckey_pk(key), &text),
	                 0);
	ck_assert_ptr_nonnull(text);
	/* Two lines: the comment, then the key. */
	ck_assert(strncmp(text, "untrusted comment:", 18) == 0);
	ck_assert_ptr_nonnull(strchr(text, '\n'));
	ck_assert_ptr_eq(strchr(strchr(text, '\n') + 1, '\n'),
	                 text + strlen(text) - 1);
	memset(pk, 0, sizeof(pk));
	ck_assert_int_eq(ts_seal_pubkey_decode(text, strlen(text), pk), 0);
	ck_assert_mem_eq(pk, ts_seal_seckey_pk(key), TS_SEAL_PKBYTES);
	/* Without the final newline it still reads. */
	memset(pk, 0, sizeof(pk));
	ck_assert_int_eq(ts_seal_pubkey_decode(text, strlen(text) - 1, pk), 0);
	ck_assert_mem_eq(pk, ts_seal_seckey_pk(key), TS_SEAL_PKBYTES);
	free(text);
	ts_seal_seckey_free(key);
}
END_TEST

START_TEST(pubkey_garbage_refused)
{
	struct ts_seckey *key = new_key();
	unsigned char pk[TS_SEAL_PKBYTES], before[TS_SEAL_PKBYTES];
	char *text = NULL, *sk = NULL, *copy;
	const char *bad[] = {
		"",
		"hello",
		"untrusted comment: x",			/* no key line */
		"untrusted comment: x\n",		/* empty key line */
		"untrusted comment: x\n!!!!\n",		/* not base64 */
		"untrusted comment: x\nAAAA\n",		/* too short */
		"comment: x\nVEtGU1BL\n",		/* wrong comment */
	};
	char *nl;
	size_t b64;

	memset(pk, 0x77, sizeof(pk));
	memcpy(before, pk, sizeof(pk));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_msg(ts_seal_pubkey_decode(bad[i], strlen(bad[i]), pk)
		              == -EINVAL, "accepted bad[%zu]", i);
		ck_assert_mem_eq(pk, before, sizeof(pk));
	}
	ck_assert_int_eq(ts_seal_pubkey_encode(ts_seal_seckey_pk(key), &text),
	                 0);
	/* A secret key file is not a public key file (wrong magic). */
	ck_assert_int_eq(ts_seal_seckey_encode(key, NULL, 0, &sk), 0);
	ck_assert_int_eq(ts_seal_pubkey_decode(sk, strlen(sk), pk), -EINVAL);
	sodium_memzero(sk, strlen(sk));
	free(sk);
	/* Damaged magic: the first base64 char of the key line. */
	copy = strdup(text);
	nl = strchr(copy, '\n');
	nl[1] = nl[1] == 'V' ? 'W' : 'V';
	ck_assert_int_eq(ts_seal_pubkey_decode(copy, strlen(copy), pk), -EINVAL);
	/* Truncated key line. */
	strcpy(copy, text);
	nl = strchr(copy, '\n');
	b64 = strlen(nl + 1);
	nl[1 + b64 / 2] = '\n';
	nl[2 + b64 / 2] = '\0';
	ck_assert_int_eq(ts_seal_pubkey_decode(copy, strlen(copy), pk), -EINVAL);
	/* Trailing junk after the key line. */
	free(copy);
	ck_assert(asprintf(&copy, "%sAAAA\n", text) > 0);
	ck_assert_int_eq(ts_seal_pubkey_decode(copy, strlen(copy), pk), -EINVAL);
	ck_assert_mem_eq(pk, before, sizeof(pk));
	free(copy);
	free(text);
	ts_seal_seckey_free(key);
}
END_TEST

/* 1 if keys a and b open each other's boxes: the same key pair. */
static int
same_key(const struct ts_seckey *a, const struct ts_seckey *b)
{
	size_t boxlen;
	unsigned char *box = seal_plain(a, TICKET, "email", &boxlen);
	unsigned char plain[sizeof(PLAIN)];
	int ok = ts_seal_open(b, TICKET, "email", box, boxlen, plain) == 0 &&
	         memcmp(ts_seal_seckey_pk(a), ts_seal_seckey_pk(b),
	                TS_SEAL_PKBYTES) == 0;

	free(box);
	return ok;
}

START_TEST(seckey_plain_round_trip)
{
	struct ts_seckey *key = new_key(), *back = NULL;
	char *text = NULL;

	ck_assert_int_eq(ts_seal_seckey_encode(key, NULL, 0, &text), 0);
	ck_assert(strncmp(text, "untrusted comment:", 18) == 0);
	ck_assert_int_eq(ts_seal_seckey_needs_pass(text, strlen(text)), 0);
	ck_assert_int_eq(ts_seal_seckey_decode(text, strlen(text), NULL, 0,
	                                       &back), 0);
	ck_assert_ptr_nonnull(back);
	ck_assert(same_key(key, back));
	ts_seal_seckey_free(back);
	/* A passphrase given for an unwrapped key is not needed. */
	back = NULL;
	ck_assert_int_eq(ts_seal_seckey_decode(text, strlen(text), "x", 1,
	                                       &back), 0);
	ck_assert(same_key(key, back));
	ts_seal_seckey_free(back);
	sodium_memzero(text, strlen(text));
	free(text);
	ts_seal_seckey_free(key);
}
END_TEST

START_TEST(seckey_pass_round_trip)
{
	static const char pass[] = "correct horse battery staple";
	struct ts_seckey *key = new_key(), *back = NULL;
	struct ts_seckey *sentinel = (struct ts_seckey *)&back;
	char *text = NULL, *plain = NULL;

	ck_assert_int_eq(ts_seal_seckey_encode(key, pass, strlen(pass), &text),
	                 0);
	ck_assert_int_eq(ts_seal_seckey_needs_pass(text, strlen(text)), 1);
	/* The wrapped file differs from the plain one: the key is not in it. */
	ck_assert_int_eq(ts_seal_seckey_encode(key, NULL, 0, &plain), 0);
	ck_assert_str_ne(text, plain);
	ck_assert_int_eq(ts_seal_seckey_needs_pass(plain, strlen(plain)), 0);

	/* No passphrase: -ENOKEY, nothing handed out. */
	back = sentinel;
	ck_assert_int_eq(ts_seal_seckey_decode(text, strlen(text), NULL, 0,
	                                       &back), -ENOKEY);
	ck_assert_ptr_eq(back, sentinel);
	/* Wrong passphrase, and a prefix of the right one: -EKEYREJECTED. */
	ck_assert_int_eq(ts_seal_seckey_decode(text, strlen(text), "wrong", 5,
	                                       &back), -EKEYREJECTED);
	ck_assert_ptr_eq(back, sentinel);
	ck_assert_int_eq(ts_seal_seckey_decode(text, strlen(text), pass,
	                                       strlen(pass) - 1, &back),
	                 -EKEYREJECTED);
	ck_assert_ptr_eq(back, sentinel);
	/* The right one. */
	back = NULL;
	ck_assert_int_eq(ts_seal_seckey_decode(text, strlen(text), pass,
	                                       strlen(pass), &back), 0);
	ck_assert_ptr_nonnull(back);
	ck_assert(same_key(key, back));
	ts_seal_seckey_free(back);
	sodium_memzero(plain, strlen(plain));
	free(plain);
	free(text);
	ts_seal_seckey_free(key);
}
END_TEST

/* Writes text to path with mode, replacing it. */
static void
put_file(const char *path, const char *text, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

/*
 * A file of the test's content that another uid owns: the test's own file
 * chowned to nobody when running as root, else /etc/passwd (root's).
 */
static const char *
owned_by_another(const char *mine)
{
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(mine, 65534, (gid_t)-1), 0);
		return mine;
	}
	return "/etc/passwd";
}

START_TEST(keyfile_owner_and_mode)
{
	static const char pass[] = "correct horse";
	static const mode_t bad[] = { 0601, 0602, 0604, 0610, 0620, 0640,
	                              0644, 0660, 0400 | 0004 };
	char dir[] = "/tmp/test_seal.XXXXXX", kpath[64], ppath[64];
	char want[512], err[512];
	struct ts_seckey *key = new_key(), *back = NULL;
	char *plain = NULL, *wrapped = NULL, *got = NULL;
	const char *other;
	size_t len = 0;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(kpath, sizeof(kpath), "%s/secret.key", dir);
	snprintf(ppath, sizeof(ppath), "%s/pass", dir);
	ck_assert_int_eq(ts_seal_seckey_encode(key, NULL, 0, &plain), 0);
	ck_assert_int_eq(ts_seal_seckey_encode(key, pass, strlen(pass),
	                                       &wrapped), 0);
	/* Mode 0600, owned by this uid: loads. */
	put_file(kpath, plain, 0600);
	ck_assert_int_eq(ts_keyfile_load(kpath, NULL, &back, err, sizeof(err)),
	                 0);
	ck_assert(same_key(key, back));
	ts_seal_seckey_free(back);
	back = NULL;
	/* Group or others may access it: ssh's words. */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		mode_t m = bad[i];

		ck_assert_int_eq(chmod(kpath, m), 0);
		ck_assert_int_eq(ts_keyfile_load(kpath, NULL, &back, err,
		                                 sizeof(err)), -EPERM);
		snprintf(want, sizeof(want), "Permissions 0%3.3o for '%s' are "
		         "too open. It is required that your private key files "
		         "are NOT accessible by others (chmod 600 %s).",
		         (unsigned)m, kpath, kpath);
		ck_assert_str_eq(err, want);
		ck_assert_ptr_null(back);
	}
	/* Another uid owns it, even at mode 0600. */
	ck_assert_int_eq(chmod(kpath, 0600), 0);
	other = owned_by_another(kpath);
	ck_assert_int_eq(ts_keyfile_load(other, NULL, &back, err, sizeof(err)),
	                 -EPERM);
	snprintf(want, sizeof(want), "Bad owner or permissions on %s: owned "
	         "by uid ", other);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "said: %s", err);
	ck_assert_ptr_null(back);

	/* The passphrase file: the same two checks, for the wrapped key. */
	put_file(kpath, wrapped, 0600);
	put_file(ppath, "correct horse\n", 0644);
	ck_assert_int_eq(ts_keyfile_load(kpath, ppath, &back, err, sizeof(err)),
	                 -EPERM);
	snprintf(want, sizeof(want), "Permissions 0644 for '%s' are too open. "
	         "It is required that your passphrase files are NOT accessible "
	         "by others (chmod 600 %s).", ppath, ppath);
	ck_assert_str_eq(err, want);
	ck_assert_ptr_null(back);
	ck_assert_int_eq(ts_keyfile_read_pass(ppath, &got, &len, err,
	                                      sizeof(err)), -EPERM);
	ck_assert_str_eq(err, want);
	ck_assert_ptr_null(got);
	ck_assert_int_eq(chmod(ppath, 0600), 0);
	ck_assert_int_eq(ts_keyfile_read_pass(ppath, &got, &len, err,
	                                      sizeof(err)), 0);
	ck_assert_str_eq(got, pass);
	ck_assert_uint_eq(len, strlen(pass));
	sodium_free(got);
	got = NULL;
	ck_assert_int_eq(ts_keyfile_load(kpath, ppath, &back, err, sizeof(err)),
	                 0);
	ck_assert(same_key(key, back));
	ts_seal_seckey_free(back);
	back = NULL;
	other = owned_by_another(ppath);
	ck_assert_int_eq(ts_keyfile_load(kpath, other, &back, err, sizeof(err)),
	                 -EPERM);
	snprintf(want, sizeof(want), "Bad owner or permissions on %s: owned "
	         "by uid ", other);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "said: %s", err);
	ck_assert_ptr_null(back);
	/* A missing passphrase file says so. */
	ck_assert_int_eq(ts_keyfile_read_pass("/nonexistent/pass", &got, &len,
	                                      err, sizeof(err)), -ENOENT);
	ck_assert_str_eq(err, "cannot read passphrase file /nonexistent/pass: "
	                 "No such file or directory");

	unlink(kpath);
	unlink(ppath);
	rmdir(dir);
	sodium_memzero(plain, strlen(plain));
	free(plain);
	free(wrapped);
	ts_seal_seckey_free(key);
}
END_TEST

START_TEST(seckey_needs_pass_garbage)
{
	struct ts_seckey *key = new_key();
	char *pub = NULL;
	const char *junk = "untrusted comment: x\nAAAA\n";

	ck_assert_int_eq(ts_seal_seckey_needs_pass("", 0), -EINVAL);
	ck_assert_int_eq(ts_seal_seckey_needs_pass(junk, strlen(junk)),
	                 -EINVAL);
	/* A public key file is not a secret key file. */
	ck_assert_int_eq(ts_seal_pubkey_encode(ts_seal_seckey_pk(key), &pub),
	                 0);
	ck_assert_int_eq(ts_seal_seckey_needs_pass(pub, strlen(pub)), -EINVAL);
	free(pub);
	ts_seal_seckey_free(key);
}
END_TEST

static const char B64[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/*
 * Key file layout (seal.c struct seckey_file): magic 6, version 1, kdf 1,
 * opslimit 8, memlimit 8, salt 16, nonce 24, pk 32, sk 48 = 144 bytes, so
 * 192 base64 characters without padding.
 */
enum { SK_OFF_PK = 64, SK_OFF_SK = 96, SK_FILE_LEN = 144 };

/*
 * The byte that flipping the lowest bit of base64 character i changes:
 * characters 0, 1, 2, 3 of a group carry low bits of bytes 0, 1, 2, 2.
 */
static size_t
b64_byte(size_t i)
{
	return 3 * (i / 4) + (i % 4 < 2 ? i % 4 : 2);
}

/*
 * Flips the lowest bit of base64 character `at` of the key line (so one
 * bit of byte b64_byte(at) of the file) and checks the file is refused
 * with want, without handing out a key.
 */
static void
check_damaged(const char *text, size_t at, const char *pass, size_t passlen,
              int want)
{
	char *copy = strdup(text);
	char *b64 = strchr(copy, '\n') + 1;
	struct ts_seckey *back = NULL;
	const char *c;

	ck_assert_ptr_nonnull(copy);
	ck_assert_uint_lt(at, strcspn(b64, "\n"));
	c = strchr(B64, b64[at]);
	ck_assert_ptr_nonnull(c);
	b64[at] = B64[(c - B64) ^ 1];
	ck_assert_msg(ts_seal_seckey_decode(copy, strlen(copy), pass, passlen,
	                                    &back) == want,
	              "damage at base64 char %zu (byte %zu) not refused", at,
	              b64_byte(at));
	ck_assert_ptr_null(back);
	sodium_memzero(copy, strlen(copy));
	free(copy);
}

START_TEST(seckey_damaged_refused)
{
	struct ts_seckey *key = new_key();
	char *text = NULL;
	const char *b64;
	size_t tested = 0;

	ck_assert_int_eq(ts_seal_seckey_encode(key, NULL, 0, &text), 0);
	b64 = strchr(text, '\n') + 1;
	ck_assert_uint_eq(strcspn(b64, "\n"), SK_FILE_LEN / 3 * 4);
	/*
	 * Every character carrying the secret key (bytes 96..127) or the
	 * public key that checks it (64..95).  Bit 2 of the secret's first
	 * byte is skipped: X25519 clamps it away, so that "damaged" key is
	 * the same key and works exactly like the original.
	 */
	for (size_t at = 0; b64_byte(at) < SK_OFF_SK + 32; at++) {
		if (b64_byte(at) < SK_OFF_PK || b64_byte(at) == SK_OFF_SK)
			continue;
		check_damaged(text, at, NULL, 0, -EKEYREJECTED);
		tested++;
	}
	ck_assert_uint_eq(tested, 84);
	/* The magic, and the version. */
	check_damaged(text, 0, NULL, 0, -EINVAL);
	check_damaged(text, 8, NULL, 0, -EINVAL);
	sodium_memzero(text, strlen(text));
	free(text);
	ts_seal_seckey_free(key);
}
END_TEST

START_TEST(seckey_wrapped_damaged_refused)
{
	static const char pass[] = "pw";
	struct ts_seckey *key = new_key(), *back = NULL;
	char *text = NULL;

	ck_assert_int_eq(ts_seal_seckey_encode(key, pass, 2, &text), 0);
	/* In the wrapped secret and its MAC, in the stored pk, the nonce and
	 * the salt. */
	check_damaged(text, SK_OFF_SK / 3 * 4 + 5, pass, 2, -EKEYREJECTED);
	check_damaged(text, (SK_OFF_SK + 40) / 3 * 4, pass, 2, -EKEYREJECTED);
	check_damaged(text, SK_OFF_PK / 3 * 4 + 5, pass, 2, -EKEYREJECTED);
	check_damaged(text, 48 / 3 * 4 + 1, pass, 2, -EKEYREJECTED);
	check_damaged(text, 24 / 3 * 4 + 1, pass, 2, -EKEYREJECTED);
	/* Undamaged, it opens. */
	ck_assert_int_eq(ts_seal_seckey_decode(text, strlen(text), pass, 2,
	                                       &back), 0);
	ck_assert(same_key(key, back));
	ts_seal_seckey_free(back);
	free(text);
	ts_seal_seckey_free(key);
}
END_TEST

/* ts_seal_self's u(t B) is X25519's public key of the same secret, for
 * many keys, and its boxes open with crypto_box_seal_open, each with a
 * fresh ephemeral key; so do ts_seal_any's, and ts_seal_self_base is
 * crypto_scalarmult_base. */
START_TEST(seal_self_is_crypto_box_seal)
{
	for (int i = 0; i < 2000; i++) {
		unsigned char pk[32], sk[32], wide[64] = { 0 }, t[32], ed[32],
		              u[32], m[64], c[2][64 + crypto_box_SEALBYTES],
		              out[64];

		crypto_box_keypair(pk, sk);
		memcpy(wide, sk, 32);
		wide[0] &= 248;
		wide[31] &= 127;
		wide[31] |= 64;
		crypto_core_ed25519_scalar_reduce(t, wide);
		ck_assert_int_eq(crypto_scalarmult_ed25519_base_noclamp(ed, t),
		                 0);
		ts_seal_self_ed_to_u(u, ed);
		ck_assert_mem_eq(u, pk, 32);
		randombytes_buf(m, sizeof(m));
		for (int j = 0; j < 2; j++) {
			ck_assert_int_eq(ts_seal_self(c[j], m, sizeof(m), pk, sk),
			                 0);
			ck_assert_int_eq(crypto_box_seal_open(out, c[j],
			                 sizeof(c[j]), pk, sk), 0);
			ck_assert_mem_eq(out, m, sizeof(m));
		}
		ck_assert_mem_ne(c[0], c[1], 32);
		/* The same for a key whose secret the sealer lacks. */
		ck_assert_int_eq(ts_seal_self_base(u, sk), 0);
		ck_assert_mem_eq(u, pk, 32);
		ck_assert_int_eq(ts_seal_any(c[0], m, sizeof(m), pk), 0);
		ck_assert_int_eq(crypto_box_seal_open(out, c[0], sizeof(c[0]),
		                                      pk, sk), 0);
		ck_assert_mem_eq(out, m, sizeof(m));
	}
}
END_TEST

/* u = (1 + y) / (1 - y) at points whose u is known, two of them just
 * below p (the final reduction). */
START_TEST(seal_self_ed_to_u_known)
{
	static const struct { unsigned char y, u0; } v[] = {
		{ 0, 1 },	/* 1 / 1 */
		{ 2, 0xea },	/* 3 / -1 = p - 3 */
		{ 3, 0xeb },	/* 4 / -2 = p - 2 */
	};
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		unsigned char ed[32] = { v[i].y }, u[32], want[32] = { v[i].u0 };

		if (v[i].u0 != 1) {
			memset(want + 1, 0xff, 30);
			want[31] = 0x7f;
		}
		ed[31] |= 0x80;	/* the sign bit is not part of y */
		ts_seal_self_ed_to_u(u, ed);
		ck_assert_mem_eq(u, want, 32);
	}
}
END_TEST

/* At random points of the main subgroup, ed_to_u is libsodium's own
 * Ed25519-to-X25519 conversion (which it replaces for speed and
 * constant time, seal_self.h). */
START_TEST(seal_self_ed_to_u_is_libsodiums)
{
	for (int i = 0; i < 64; i++) {
		unsigned char s[32], ed[32], u[32], want[32];

		crypto_core_ed25519_scalar_random(s);
		ck_assert_int_eq(crypto_scalarmult_ed25519_base_noclamp(ed, s),
		                 0);
		ck_assert_int_eq(crypto_sign_ed25519_pk_to_curve25519(want, ed),
		                 0);
		ts_seal_self_ed_to_u(u, ed);
		ck_assert_mem_eq(u, want, 32);
	}
}
END_TEST

/* ts_seal_box_self makes what ts_seal_open opens, bound as ts_seal_box. */
START_TEST(seal_box_self_round_trip)
{
	struct ts_seckey *key = new_key();
	size_t len = strlen(PLAIN);
	unsigned char box[64], out[64];

	ck_assert_int_eq(ts_seal_box_self(ts_seal_seckey_pk(key),
	                                  ts_seal_seckey_sk(key), TICKET,
	                                  "email", PLAIN, len, box), 0);
	ck_assert_int_eq(ts_seal_open(key, TICKET, "email", box,
	                              len + TS_SEAL_OVERHEAD, out), 0);
	ck_assert_mem_eq(out, PLAIN, len);
	ck_assert_int_eq(ts_seal_open(key, TICKET, "mobile", box,
	                              len + TS_SEAL_OVERHEAD, out), -EBADMSG);
	ts_seal_seckey_free(key);
}
END_TEST
/* A freed key and a freed scratch region are kept for the thread's next
 * use, wiped: what comes back holds nothing of what was there. */
START_TEST(kept_memory_is_wiped)
{
	static const unsigned char zero[64];
	struct ts_seckey *a = new_key(), *b;
	unsigned char pk[TS_SEAL_PKBYTES], *p, *q;
	size_t cap, cap2;

	memcpy(pk, ts_seal_seckey_pk(a), sizeof(pk));
	ts_seal_seckey_free(a);
	b = new_key();		/* fresh, whatever memory it reuses */
	ck_assert_mem_ne(ts_seal_seckey_pk(b), pk, sizeof(pk));
	ts_seal_seckey_free(b);
	ck_assert_ptr_nonnull(p = ts_seal_scratch(64, &cap));
	ck_assert_uint_ge(cap, 64);
	memset(p, 'x', cap);
	ts_seal_scratch_free(p, cap);
	ck_assert_ptr_nonnull(q = ts_seal_scratch(32, &cap2));
	ck_assert_uint_ge(cap2, 32);
	if (q == p)		/* the kept one: wiped */
		ck_assert_mem_eq(q, zero, 32);
	ts_seal_scratch_free(q, cap2);
	ts_seal_scratch_free(NULL, 0);
}
END_TEST

static void *
use_and_exit(void *arg)
{
	size_t cap;
	unsigned char *p = ts_seal_scratch(3000, &cap);

	(void)arg;
	ts_seal_scratch_free(p, cap);
	ts_seal_seckey_free(new_key());
	return NULL;
}

static long
locked_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");

	ck_assert_ptr_nonnull(f);
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "VmLck: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* What a thread kept is freed when it exits: threads coming and going
 * lock no more memory than one uses. */
START_TEST(kept_memory_freed_with_its_thread)
{
	long before;

	use_and_exit(NULL);	/* this thread's own, kept */
	before = locked_kb();
	for (int i = 0; i < 200; i++) {
		pthread_t t;

		ck_assert_int_eq(pthread_create(&t, NULL, use_and_exit, NULL),
		                 0);
		pthread_join(t, NULL);
	}
	ck_assert_int_le(locked_kb(), before + 64);
}
END_TEST

static Suite *
seal_suite(void)
{
	Suite *s = suite_create("seal");
	TCase *tc = tcase_create("boxes");
	TCase *kf = tcase_create("keyfiles");

	tcase_add_test(tc, keypair_is_usable);
	tcase_add_test(tc, kept_memory_is_wiped);
	tcase_add_test(tc, kept_memory_freed_with_its_thread);
	tcase_add_test(tc, seal_open_round_trip);
	tcase_add_test(tc, seal_empty_plaintext);
	tcase_add_test(tc, box_size_is_len_plus_overhead);
	tcase_add_test(tc, open_short_box_refused);
	tcase_add_test(tc, open_wrong_ticket_refused);
	tcase_add_test(tc, open_wrong_field_refused);
	tcase_add_test(tc, open_flipped_byte_refused);
	tcase_add_test(tc, open_other_key_refused);
	tcase_add_test(tc, seal_self_is_crypto_box_seal);
	tcase_add_test(tc, seal_self_ed_to_u_known);
	tcase_add_test(tc, seal_self_ed_to_u_is_libsodiums);
	tcase_add_test(tc, seal_box_self_round_trip);
	suite_add_tcase(s, tc);

	/* Argon2id at the interactive limits: allow for slow sanitizer runs. */
	tcase_set_timeout(kf, 120);
	tcase_add_test(kf, pubkey_round_trip);
	tcase_add_test(kf, pubkey_garbage_refused);
	tcase_add_test(kf, seckey_plain_round_trip);
	tcase_add_test(kf, seckey_pass_round_trip);
	tcase_add_test(kf, seckey_needs_pass_garbage);
	tcase_add_test(kf, seckey_damaged_refused);
	tcase_add_test(kf, seckey_wrapped_damaged_refused);
	tcase_add_test(kf, keyfile_owner_and_mode);
	suite_add_tcase(s, kf);
	return s;
}

int
main(void)
{
	return ts_check_run(seal_suite());
}
