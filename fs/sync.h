/*
 * sync: the daemon of a shared store follows the other hosts' changes.
 * A thread of its own waits on the store's change descriptor
 * (ts_store_changes_fd, fetched anew each round: it changes after a
 * reconnect) or 200 ms, whichever comes first (so a lost database is
 * retried, and its catch-up runs, within 200 ms of its return), takes the
 * changed ids (ts_store_changes), and replaces each ticket in the index
 * (fs/refresh.h) under the write lock, one ticket at a time so readers
 * wait for one at most.  What the kernel must forget goes to the ticker
 * (fs/notes.h), which tells the kernel without any lock held: neither
 * this thread nor a request thread calls the kernel's notifications.
 * Nothing is audited: the host that made a change audited it.
 */
#ifndef TS_FS_SYNC_H
#define TS_FS_SYNC_H

#include "fs/state.h"

struct ts_sync;

/* Starts following a shared store's changes (none for a store that is
 * not shared: *out NULL, 0).  0 or -errno. */
int ts_sync_start(struct ts_fs *fs, struct ts_sync **out);
/* Stops the thread (within 200 ms) and frees s; NULL is fine. */
void ts_sync_stop(struct ts_sync *s);

#endif
