/*
 * config: the config files.  Loads the whitelist (with its ACLs) and the
 * policy into the daemon's state; the ticker decides when, by their
 * stat(2) identity.
 */
#ifndef TS_FS_CONFIG_H
#define TS_FS_CONFIG_H

#include "fs/state.h"

/* The stat(2) identity of path (all zero, valid 0, if it cannot be had). */
void ts_config_sig_of(const char *path, struct file_sig *sig);
/*
 * Loads the whitelist file into fs->acc and fs->acls.  If it cannot be
 * read or does not parse, installs the empty whitelist instead (nobody
 * has a role: a revocation is never held back) and returns -errno with
 * the reason in err.  Lines naming no existing user or group grant
 * nothing and are listed by ts_access_warnings(fs->acc).
 */
int ts_config_reload_whitelist(struct ts_fs *fs, char *err, size_t errlen);
/*
 * Loads the policy into the index: from -o policy=FILE if given
 * (cfg.policy_path), else the store's (ts_store_policy_get: STORE/policy,
 * or a shared store's in the database).  1 if its text differs from the
 * one in force (or none was), 0 if it is the same; on failure -errno, the
 * reason in err, and the policy in force stays.  Either way the source's
 * version seen is recorded for ts_config_policy_changed (unless the store
 * could not be read: then it is tried again).  fs->pol_tag names the
 * text in force (a short hash: for the audit trail).
 */
int ts_config_reload_policy(struct ts_fs *fs, char *err, size_t errlen);
/*
 * 1 if the policy's source changed since the last reload: the file's
 * stat(2) identity, or the store's policy version (ts_store_policy_version,
 * asked at most once in TS_CONFIG_POLICY_POLL_MS for a shared store, every
 * call for a directory store's: one fstatat).  0 if not, or if the store
 * cannot be asked now.  now_ms: the caller's clock.
 */
#define TS_CONFIG_POLICY_POLL_MS 500
int ts_config_policy_changed(struct ts_fs *fs, int64_t now_ms);
/* What the log calls the policy's source: the file, or "of the store". */
const char *ts_config_policy_source(const struct ts_fs *fs);

#endif
