/*
 * trail: the audit hook.  Every op records through here what it did or
 * refused; the gates decide a caller's role and record a refusal.  The
 * index lock is never held by the caller (audit_at takes it to find the
 * path).  Calls down into tree, state and the store's audit trail only.
 */
#ifndef TS_FS_TRAIL_H
#define TS_FS_TRAIL_H

#include "fs/state.h"

/*
 * Appends an audit entry for the caller of req (NULL: the daemon itself):
 * op on path, err 0 for success.  Returns -EIO if it could not be written
 * (logged); the caller then refuses what it was about to do.
 */
int ts_trail_audit(struct ts_fs *fs, fuse_req_t req, const char *op,
                const char *path, int err, const char *detail);
/*
 * The audit trail's part of the ticker's second: writes the counts of
 * refusals whose window is over (all of them if force, at unmount) and,
 * unless force, warns in syslog when the trail's disk is nearly full.
 */
void ts_trail_tick(struct ts_fs *fs, int force);
/* The same for inode ino, or its child name; index lock not held. */
int ts_trail_audit_at(struct ts_fs *fs, fuse_req_t req, const char *op,
                   uint64_t ino, const char *name, int err,
                   const char *detail);
/* Audits the labelled changes of ch (expiry, intake) as the daemon. */
void ts_trail_audit_changes(struct ts_fs *fs, const struct ts_changes *ch);
/*
 * 0 if the uid making req has one of the roles in right (TS_RIGHT_*),
 * decided by the whitelist in force now; else records the refusal (op on
 * inode ino, or on its child name) and returns -EACCES.  Every request on
 * an open handle goes through it, so a revoked uid, or another uid the
 * descriptor was passed to, is refused from the moment the reload lands.
 */
int ts_trail_gate(struct ts_fs *fs, fuse_req_t req, uint64_t ino, const char *op,
               const char *name, unsigned right);
/* ts_trail_gate for TS_RIGHT_LIST: what every request below the root needs. */
int ts_trail_gate_list(struct ts_fs *fs, fuse_req_t req, fuse_ino_t ino, const char *op,
         const char *name);
/*
 * Refuses op on ino / name and replies: EACCES for callers who may not
 * write at all, else err; recorded.
 */
void ts_trail_refuse(fuse_req_t req, const char *op, uint64_t ino, const char *name,
            int err);

#endif
