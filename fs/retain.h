/*
 * retain: the audit trail's retention in the daemon.  The policy's item
 * `audit AGE` prunes whole segments at their deadline (ticker), and
 * intake's prune requests, made with the secret key, prune on demand.
 * Calls down into the trail (store/audit.h) and the index's policy.
 */
#ifndef TS_FS_RETAIN_H
#define TS_FS_RETAIN_H

#include <stddef.h>
#include <stdint.h>

#include "fs/state.h"

/*
 * The ticker's part, once a second: if the policy lists `audit AGE` and
 * the oldest segment but the current one is due (its newest entry older
 * than now - AGE; the trail caches that time, so no segment is read
 * again until one goes), prunes what is due and logs it.
 */
void ts_retain_tick(struct ts_fs *fs, int64_t now);
/*
 * ts_index_prune_fn for fs (arg): a prune request from intake.  Refused,
 * -EKEYREJECTED, unless its MAC was made with the daemon's record key
 * (ticketctl audit prune --key); then prunes before before_ms, the entry
 * naming intake/NAME.  0 or -errno, why saying why.
 */
int ts_retain_request(void *arg, const char *name, const uint8_t *rec,
                      size_t len, int64_t before_ms, char *why,
                      size_t whylen);

#endif
