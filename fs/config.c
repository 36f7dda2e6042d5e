/*
 * config: reloading the config files, the whitelist (and the ACLs derived
 * from it) and the retention policy (a file given with -o policy=FILE, or
 * the store's own: ts_store_policy_get), and the stat(2) identity or store
 * version by which the ticker notices a changed one.
 */
#include "fs/config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fs/acl.h"
#include "store/sysio.h"

/* Named entries in one page (4096 bytes: a 4-byte header, 8 a entry, four
 * of them the owner, group, mask and other): 507 uids. */
#define TS_FS_ACL_UIDS_MAX ((4096 - 4) / 8 - 4)
#define CONFIG_MAX (1u << 20)

void
ts_config_sig_of(const char *path, struct file_sig *sig)
{
	struct stat st;

	memset(sig, 0, sizeof(*sig));
	if (stat(path, &st) < 0)
		return;
	*sig = (struct file_sig){ st.st_dev, st.st_ino, st.st_size, st.st_mtim,
	                          st.st_ctim, 1 };
}

static int
read_config(const char *path, unsigned char **text, size_t *len, char *err,
            size_t errlen)
{
	int rc = ts_sysio_read_file(AT_FDCWD, path, CONFIG_MAX, text, len);

	if (rc < 0)
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-rc));
	return rc;
}

int
ts_config_reload_whitelist(struct ts_fs *fs, char *err, size_t errlen)
{
	struct ts_access *acc = NULL, *oldacc;	/* NULL on any failure: the
						   empty whitelist */
	struct acl_set s, old;
	unsigned char *text;
	size_t len;
	int rc;

	if ((rc = read_config(fs->cfg.whitelist_path, &text, &len, err,
	                      errlen)) == 0) {
		snprintf(err, errlen, "out of memory");	/* -ENOMEM says none */
		rc = ts_access_parse((const char *)text, len, &acc, err, errlen);
		free(text);
	}
	/* The kernel fetches an ACL into one page: beyond that every path
	 * would fail (E2BIG) for everyone.  Refused like a bad file. */
	if (rc == 0 && ts_access_count(acc) > TS_FS_ACL_UIDS_MAX) {
		snprintf(err, errlen, "%zu uids listed; at most %d fit the "
		         "kernel's ACL", ts_access_count(acc),
		         TS_FS_ACL_UIDS_MAX);
		rc = -E2BIG;
		ts_access_free(acc);
		acc = NULL;
	}
	if (ts_acl_build(acc, fs->owner, &s) < 0) {
		if (rc == 0) {
			snprintf(err, errlen, "out of memory");
			rc = -ENOMEM;
		}
		ts_access_free(acc);
		acc = NULL;	/* s is left empty: no ACL, mode 0 */
	}
	pthread_rwlock_wrlock(&fs->acc_lock);
	oldacc = fs->acc;
	old = fs->acls;
	fs->acc = acc;
	fs->acls = s;
	pthread_rwlock_unlock(&fs->acc_lock);
	ts_access_free(oldacc);
	ts_acl_release(&old);
	return rc;
}

/* The policy's text, from the file or the store; *text malloc'd. */
static int
read_policy(struct ts_fs *fs, unsigned char **text, size_t *len, char *err,
            size_t errlen)
{
	uint64_t v = 0;
	int rc;

	if (fs->cfg.policy_path != NULL) {
		ts_config_sig_of(fs->cfg.policy_path, &fs->pol_sig);
		return read_config(fs->cfg.policy_path, text, len, err, errlen);
	}
	/* The version before the text: a change in between is seen again
	 * at the next check (and the text hash tells it is the same). */
	if ((rc = ts_store_policy_version(fs->st, &v)) == 0 &&
	    (rc = ts_store_policy_get(fs->st, (char **)text, len)) == 0) {
		fs->pol_version = v;
		return 0;
	}
	if (!ts_store_shared(fs->st))
		fs->pol_version = v;	/* a missing file: said once */
	snprintf(err, errlen, "cannot read the store's policy: %s",
	         rc == -ENOENT ? "there is none" : strerror(-rc));
	return rc;
}

int
ts_config_reload_policy(struct ts_fs *fs, char *err, size_t errlen)
{
	unsigned char h[crypto_generichash_BYTES_MIN];
	struct ts_policy p;
	unsigned char *text;
	char tag[sizeof(fs->pol_tag)];
	size_t len;
	int rc;

	if ((rc = read_policy(fs, &text, &len, err, errlen)) < 0)
		return rc;
	/*
	 * A file caught while it is written in place can end in a line that
	 * parses and says less than the writer meant ("ticket processed" of
	 * "ticket processed+30d"), and a policy removes data for good: a last
	 * line without its newline is taken for a file still being written.
	 */
	if (len > 0 && text[len - 1] != '\n') {
		snprintf(err, errlen, "the last line has no newline: the file "
		         "may be being written (replace it with mv)");
		free(text);
		return -EINVAL;
	}
	rc = ts_policy_parse((const char *)text, len, &p, err, errlen);
	/* The policy holds no secret, but its text has no place in the
	 * trail: a hash names it (the same text, the same tag). */
	crypto_generichash(h, sizeof(h), text, len, NULL, 0);
	free(text);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < 6; i++)
		snprintf(tag + 2 * i, 3, "%02x", h[i]);
	rc = strcmp(tag, fs->pol_tag) != 0;
	memcpy(fs->pol_tag, tag, sizeof(tag));
	ts_index_wrlock(fs->idx);
	ts_index_set_policy(fs->idx, &p);
	ts_index_unlock(fs->idx);
	return rc;
}

int
ts_config_policy_changed(struct ts_fs *fs, int64_t now_ms)
{
	struct file_sig now;
	uint64_t v;

	if (fs->cfg.policy_path != NULL) {
		ts_config_sig_of(fs->cfg.policy_path, &now);
		return memcmp(&now, &fs->pol_sig, sizeof(now)) != 0;
	}
	/* (A clock set back makes it due at once, not hours later.) */
	if (ts_store_shared(fs->st) && now_ms >= fs->pol_checked_ms &&
	    now_ms - fs->pol_checked_ms < TS_CONFIG_POLICY_POLL_MS)
		return 0;
	fs->pol_checked_ms = now_ms;
	if (ts_store_policy_version(fs->st, &v) < 0)
		return 0;	/* unreachable for now: asked again later */
	return v != fs->pol_version;
}

const char *
ts_config_policy_source(const struct ts_fs *fs)
{
	return fs->cfg.policy_path != NULL ? fs->cfg.policy_path :
	       "of the store";
}
