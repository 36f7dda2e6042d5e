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
/* Loads the policy file into the index; on failure -errno, the reason in
 * err, and the policy in force stays. */
int ts_config_reload_policy(struct ts_fs *fs, char *err, size_t errlen);

#endif
