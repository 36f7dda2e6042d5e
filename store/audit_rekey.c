/*
 * audit_rekey: re-signing the trail's marks for a new store key, and the
 * hand-over signature (contract in store/audit_rekey.h).
 */
#include "store/audit_rekey.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/audit_priv.h"
#include "store/sysio.h"

static const char HANDOVER_DOMAIN[] = "ticketfs-audit-handover-v1";

/* key's checkpoint signing key (sodium_malloc'd) and verify key. */
static unsigned char *
sign_key(const struct ts_seckey *key, unsigned char vk[32])
{
	unsigned char seed[crypto_sign_SEEDBYTES];
	unsigned char *sk = sodium_malloc(crypto_sign_SECRETKEYBYTES);

	if (sk == NULL)
		return NULL;
	/* As ts_audit_verify_key derives it (audit_checkpoint.c). */
	ts_seal_derive(key, "ticketfs-audit-sign-v1", seed, sizeof(seed));
	crypto_sign_seed_keypair(vk, sk, seed);
	sodium_memzero(seed, sizeof(seed));
	return sk;
}

static void
handover_message(const unsigned char ovk[32], const unsigned char nvk[32],
                 unsigned char msg[sizeof(HANDOVER_DOMAIN) + 64])
{
	memcpy(msg, HANDOVER_DOMAIN, sizeof(HANDOVER_DOMAIN));
	memcpy(msg + sizeof(HANDOVER_DOMAIN), ovk, 32);
	memcpy(msg + sizeof(HANDOVER_DOMAIN) + 32, nvk, 32);
}

void
ts_audit_handover_sign(const struct ts_seckey *old, const unsigned char nvk[32],
                       char sig[TS_AUDIT_HANDOVER_SIGHEX])
{
	unsigned char ovk[32], msg[sizeof(HANDOVER_DOMAIN) + 64];
	unsigned char s[crypto_sign_BYTES];
	unsigned char *sk = sign_key(old, ovk);

	sig[0] = '\0';
	if (sk == NULL)
		return;
	handover_message(ovk, nvk, msg);
	crypto_sign_detached(s, NULL, msg, sizeof(msg), sk);
	sodium_free(sk);
	ts_audit_hex(s, sizeof(s), sig);
}

int
ts_audit_handover_check(const unsigned char ovk[32],
                        const unsigned char nvk[32], const char *sig)
{
	unsigned char msg[sizeof(HANDOVER_DOMAIN) + 64];
	unsigned char s[crypto_sign_BYTES];

	if (ts_audit_unhex(sig, strlen(sig), s, sizeof(s)) < 0)
		return -EBADMSG;
	handover_message(ovk, nvk, msg);
	return crypto_sign_verify_detached(s, msg, sizeof(msg), ovk) == 0 ?
	       0 : -EBADMSG;
}

int
ts_audit_mark_resign(const struct ts_seckey *old, const struct ts_seckey *key,
                     int anchor, struct ts_audit_checkpoint *m, char text[512],
                     size_t *len)
{
	unsigned char ovk[32], nvk[32];
	struct ts_audit a;
	int (*check)(const struct ts_audit_checkpoint *,
	             const unsigned char[32]) = anchor ?
		ts_audit_anchor_check : ts_audit_checkpoint_check;

	ts_audit_verify_key(old, ovk);
	ts_audit_verify_key(key, nvk);
	if (check(m, nvk) == 0)
		return 0;
	if (check(m, ovk) < 0)
		return -EBADMSG;
	/* The signers read only sign_sk of the trail they are given. */
	memset(&a, 0, sizeof(a));
	if ((a.sign_sk = sign_key(key, a.sign_pk)) == NULL)
		return -ENOMEM;
	if (anchor)
		*len = ts_audit_anchor_sign(&a, m->seq, m->hash, m, text);
	else
		*len = ts_audit_checkpoint_sign(&a, m->seq, m->hash, m, text);
	sodium_free(a.sign_sk);
	return 1;
}

/* One mark file under dirfd re-signed; -ENOENT if there is none. */
static int
resign_file(int dirfd, const char *name, int anchor,
            const struct ts_seckey *old, const struct ts_seckey *key,
            unsigned *bad)
{
	struct ts_audit_checkpoint m;
	unsigned char *buf;
	char text[512];
	size_t len;
	int rc;

	if ((rc = ts_sysio_read_file(dirfd, name, 4096, &buf, &len)) < 0)
		return rc == -ENOENT ? 0 : rc;
	rc = ts_audit_checkpoint_parse(buf, len, &m);
	free(buf);
	if (rc == 0)
		rc = ts_audit_mark_resign(old, key, anchor, &m, text, &len);
	if (rc == -EBADMSG) {
		(*bad)++;
		return 0;
	}
	if (rc <= 0)
		return rc;
	return ts_sysio_write_atomic(dirfd, name, text, len, 0644, 0);
}

int
ts_audit_file_resign(int storefd, const struct ts_seckey *old,
                     const struct ts_seckey *key, unsigned *bad)
{
	unsigned char vk[32];
	char h[2 * sizeof(vk) + 2];
	int dirfd, rc;

	dirfd = ts_sysio_openat(storefd, "audit", O_RDONLY | O_DIRECTORY, 0);
	if (dirfd < 0)
		return dirfd == -ENOENT ? 0 : dirfd;
	if ((rc = resign_file(dirfd, CHECKPOINT, 0, old, key, bad)) == 0 &&
	    (rc = resign_file(dirfd, ANCHOR, 1, old, key, bad)) == 0) {
		ts_audit_verify_key(key, vk);
		ts_audit_hex(vk, sizeof(vk), h);
		strcat(h, "\n");
		rc = ts_sysio_write_atomic(dirfd, VERIFY_KEY, h, strlen(h),
		                           0644, 0);
	}
	close(dirfd);
	return rc;
}
