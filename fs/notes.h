/*
 * notes: the changes waiting for the kernel (fs->notes, under
 * fs->note_lock) and the ticker's wake-up.  Request handlers queue here
 * and the ticker drains; this calls nothing else in fs/.
 */
#ifndef TS_FS_NOTES_H
#define TS_FS_NOTES_H

#include "fs/state.h"

/* Queues changes for the kernel (from a request handler, which must not
 * notify itself) and wakes the ticker; takes the list over. */
void ts_notes_queue(struct ts_fs *fs, struct ts_changes *ch);
/* Tells the ticker a deadline may have moved earlier. */
void ts_notes_wake(struct ts_fs *fs);
/*
 * The ticker's wait: if wait and nothing is queued or woken, sleeps until
 * until_ms (ts_now_ms time) or a wake-up; then takes what is queued
 * into *out (the caller releases it) and clears the wake-up.
 */
void ts_notes_take(struct ts_fs *fs, int64_t until_ms, int wait,
                   struct ts_changes *out);
/* Wakes the ticker without queueing anything (to see fs->stop). */
void ts_notes_kick(struct ts_fs *fs);

#endif
