/*
 * audit_checkpoint: the trail's signed checkpoint: its text, signing and
 * checking it, writing it through the sink (ts_audit_sync) and its copy
 * outside the store (ts_audit_set_copy), and the verify key.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "store/audit_priv.h"
#include "store/sysio.h"
#include "store/util.h"

static const char SIG_DOMAIN[] = "ticketfs-audit-checkpoint-v1";

static void
sig_message(uint64_t seq, const unsigned char hash[HASHBYTES],
            unsigned char msg[sizeof(SIG_DOMAIN) + 8 + HASHBYTES])
{
	memcpy(msg, SIG_DOMAIN, sizeof(SIG_DOMAIN));
	ts_le64_put(msg + sizeof(SIG_DOMAIN), seq);
	memcpy(msg + sizeof(SIG_DOMAIN) + 8, hash, HASHBYTES);
}

/* Parses a checkpoint file's text (not its signature). */
int
ts_audit_checkpoint_parse(const unsigned char *text, size_t len,
                          struct ts_audit_checkpoint *cp)
{
	json_t *j = json_loadb((const char *)text, len, 0, NULL);
	json_t *seq = json_object_get(j, "seq");
	const char *hs = json_string_value(json_object_get(j, "hash"));
	const char *ss = json_string_value(json_object_get(j, "sig"));
	int rc = -EBADMSG;

	if (json_is_integer(seq) && json_integer_value(seq) >= 0 && hs != NULL &&
	    ss != NULL &&
	    ts_audit_unhex(hs, strlen(hs), cp->hash, HASHBYTES) == 0 &&
	    ts_audit_unhex(ss, strlen(ss), cp->sig, sizeof(cp->sig)) == 0) {
		cp->seq = (uint64_t)json_integer_value(seq);
		rc = 0;
	}
	json_decref(j);
	return rc;
}

/* 0 if cp is signed by verify key vk. */
int
ts_audit_checkpoint_check(const struct ts_audit_checkpoint *cp,
                          const unsigned char vk[32])
{
	unsigned char msg[sizeof(SIG_DOMAIN) + 8 + HASHBYTES];

	sig_message(cp->seq, cp->hash, msg);
	return crypto_sign_verify_detached(cp->sig, msg, sizeof(msg), vk) == 0 ?
	       0 : -EBADMSG;
}

size_t
ts_audit_checkpoint_sign(const struct ts_audit *a, uint64_t seq,
                         const unsigned char hash[HASHBYTES],
                         struct ts_audit_checkpoint *cp, char text[512])
{
	unsigned char msg[sizeof(SIG_DOMAIN) + 8 + HASHBYTES];
	char hh[2 * HASHBYTES + 1], sh[2 * crypto_sign_BYTES + 1];

	sig_message(seq, hash, msg);
	crypto_sign_detached(cp->sig, NULL, msg, sizeof(msg), a->sign_sk);
	cp->seq = seq;
	memcpy(cp->hash, hash, HASHBYTES);
	ts_audit_hex(hash, HASHBYTES, hh);
	ts_audit_hex(cp->sig, sizeof(cp->sig), sh);
	snprintf(text, 512, "{\"seq\":%llu,\"hash\":\"%s\",\"sig\":\"%s\"}\n",
	         (unsigned long long)seq, hh, sh);
	return strlen(text);
}

void
ts_audit_verify_key(const struct ts_seckey *key, unsigned char vk[32])
{
	unsigned char seed[crypto_sign_SEEDBYTES], sk[crypto_sign_SECRETKEYBYTES];

	ts_seal_derive(key, "ticketfs-audit-sign-v1", seed, sizeof(seed));
	crypto_sign_seed_keypair(vk, sk, seed);
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(sk, sizeof(sk));
}

static int
sync_trail(struct ts_audit *a, int closing)
{
	struct ts_audit_checkpoint cp;
	unsigned char hash[HASHBYTES];
	char text[512];
	uint64_t seq;
	size_t len;
	int rc = 0;

	/* Two syncs at once could put an older checkpoint over a newer one,
	 * or the copy ahead of the store's. */
	pthread_mutex_lock(&a->sync_lock);
	pthread_mutex_lock(&a->lock);
	seq = a->seq;
	memcpy(hash, a->hash, HASHBYTES);
	pthread_mutex_unlock(&a->lock);
	if (seq == a->synced_seq)
		goto out_fss;
	/* The entries durable first: a checkpoint vouches for stored ones. */
	if (a->ops->flush != NULL && (rc = a->ops->flush(a)) < 0)
		goto out;
	len = ts_audit_checkpoint_sign(a, seq, hash, &cp, text);
	rc = a->ops->checkpoint_put(a, &cp, text, len);
	if (rc == 0) {
		pthread_mutex_lock(&a->lock);
		if (seq > a->synced_seq)
			a->synced_seq = seq;
		pthread_mutex_unlock(&a->lock);
	}
	/* The copy after the store's: it is never ahead of it. */
	if (rc == 0 && a->copy_dirfd >= 0)
		rc = ts_sysio_write_atomic(a->copy_dirfd, a->copy_name, text,
		                           len, 0600, 0);
out_fss:
	/* Epochs over are sealed (forward-secure), entries durable first. */
	if (a->fss != NULL) {
		int frc = ts_audit_fss_tick(a, seq, hash, closing);

		if (rc == 0)
			rc = frc;
	}
out:
	pthread_mutex_unlock(&a->sync_lock);
	return rc;
}

int
ts_audit_sync(struct ts_audit *a)
{
	return sync_trail(a, 0);
}

int
ts_audit_sync_closing(struct ts_audit *a)
{
	return sync_trail(a, 1);
}

int
ts_audit_checkpoint_load(const char *path, struct ts_audit_checkpoint *cp)
{
	unsigned char *text;
	size_t len;
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -errno;
	rc = ts_sysio_read_all(fd, 4096, &text, &len);
	close(fd);
	if (rc < 0)
		return rc;
	rc = ts_audit_checkpoint_parse(text, len, cp);
	free(text);
	return rc;
}

int
ts_audit_set_copy(struct ts_audit *a, const char *path, char *msg,
                  size_t msglen)
{
	const char *slash = strrchr(path, '/');
	struct ts_audit_checkpoint copy;
	unsigned char h[HASHBYTES];
	unsigned long long cs;
	char dir[4096], text[512];
	unsigned char *raw;
	size_t len;
	int dfd, rc;

	if (slash == NULL || slash[1] == '\0' ||
	    (size_t)(slash - path) >= sizeof(dir)) {
		snprintf(msg, msglen, "checkpoint copy %s: not an absolute file "
		         "path", path);
		return -EINVAL;
	}
	snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 :
	         (int)(slash - path), path);
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		rc = -errno;
		snprintf(msg, msglen, "checkpoint copy %s: %s", path,
		         strerror(-rc));
		return rc;
	}
	rc = ts_sysio_read_file(dfd, slash + 1, 4096, &raw, &len);
	if (rc == -ENOENT) {
		/* The first start with a copy: vouch for the trail as it is. */
		len = ts_audit_checkpoint_sign(a, a->seq, a->hash, &copy,
		                               text);
		rc = ts_sysio_write_atomic(dfd, slash + 1, text, len, 0600, 1);
		if (rc < 0) {
			snprintf(msg, msglen, "cannot write the checkpoint copy "
			         "%s: %s", path, strerror(-rc));
			goto out_close;
		}
		goto out_keep;
	}
	if (rc < 0) {
		snprintf(msg, msglen, "cannot read the checkpoint copy %s: %s",
		         path, strerror(-rc));
		goto out_close;
	}
	rc = ts_audit_checkpoint_parse(raw, len, &copy);
	free(raw);
	if (rc < 0 || ts_audit_checkpoint_check(&copy, a->sign_pk) < 0) {
		snprintf(msg, msglen, "the checkpoint copy %s is %s", path,
		         rc < 0 ? "damaged" : "not signed by this store's key");
		rc = -EBADMSG;
		goto out_close;
	}
	cs = (unsigned long long)copy.seq;
	if (a->seq < copy.seq) {
		snprintf(msg, msglen, "the audit trail ends at entry %llu but "
		         "the checkpoint copy %s covers entry %llu: entries were "
		         "removed (an old checkpoint put back?)",
		         (unsigned long long)a->seq, path, cs);
		rc = -ESTALE;
		goto out_close;
	}
	if ((a->have_cp ? a->cp_seq : 0) < copy.seq) {
		snprintf(msg, msglen, "the trail's signed checkpoint is at entry "
		         "%llu but the checkpoint copy %s at entry %llu: an old "
		         "checkpoint was put back",
		         (unsigned long long)a->cp_seq, path, cs);
		rc = -ESTALE;
		goto out_close;
	}
	/* Before the anchor the entries are pruned: the signed anchor, whose
	 * chain the trail continues, covers them. */
	if (copy.seq > 0 && !(a->have_anchor && copy.seq < a->anchor_seq) &&
	    ((rc = a->ops->hash_at(a, copy.seq, h)) < 0 ||
	     sodium_memcmp(h, copy.hash, HASHBYTES) != 0)) {
		snprintf(msg, msglen, "entry %llu of the audit trail differs from "
		         "the checkpoint copy %s: the trail was rewritten", cs,
		         path);
		rc = -EBADMSG;
		goto out_close;
	}
out_keep:
	if ((a->copy_name = strdup(slash + 1)) == NULL) {
		rc = -ENOMEM;
		snprintf(msg, msglen, "out of memory");
		goto out_close;
	}
	a->copy_dirfd = dfd;
	return 0;
out_close:
	close(dfd);
	return rc;
}
