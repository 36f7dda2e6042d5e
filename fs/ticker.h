/*
 * ticker: the background thread (started and stopped by ts_fs_start and
 * ts_fs_stop, fs.h).  It drains the notes queue (notes.h), calls into the
 * index, the config reloads, the trail and the kernel notifier; no request
 * handler calls it.
 */
#ifndef TS_FS_TICKER_H
#define TS_FS_TICKER_H

#include "fs/state.h"

/* Sends changes to the kernel; from the ticker thread only. */
void ts_ticker_notify(struct ts_fs *fs, struct ts_changes *ch);
/* Audits (ENOENT) the whitelist lines that grant nothing, if any. */
void ts_ticker_audit_skipped(struct ts_fs *fs);

#endif
