/*
 * status: how a ticket's status file is cached by the kernel.  Its entry
 * and attributes are cached like every other file's, between changes, and
 * its page once it is final (processed); the daemon keeps the kernel's
 * cached size and page of one value (all three values differ in size,
 * and the kernel drops a file's pages when it is given another size) and
 * never lets an open read through a cache that may be older than the
 * status (fs/status.c says how).  Index lock held (shared is enough) by every caller; the loop
 * thread's own (request handlers only).
 */
#ifndef TS_FS_STATUS_H
#define TS_FS_STATUS_H

#include "fs/state.h"

/* The kernel is given n's (a status node's) attributes now, as of the
 * index (a lookup, readdirplus or getattr reply that it may cache). */
void ts_status_told(const struct node *n);
/*
 * At a read-only open of status n: 1 if the open may read through the
 * page cache (keep_cache), 0 if it must not (direct_io): the status may
 * still move (not processed, or processed less than 2 s ago), it changed
 * since the kernel was last given its attributes, or the kernel may hold
 * another value's page (an invalidation queued for the ticker has not
 * reached the kernel yet).
 */
int ts_status_cacheable(const struct node *n);
/*
 * A READ of h (a cached read-only handle of status n): the text it is
 * served, into text (*len bytes): h's snapshot, which may become the
 * status now (see fs/status.c).  Returns 1 if what is served is no longer
 * the status, so that the page the kernel keeps from it must go: the
 * caller queues ino's invalidation for the ticker (ts_status_queue_inval)
 * after unlocking.
 */
int ts_status_serve(struct handle *h, const struct node *n, char text[64],
                    size_t *len);
/*
 * A GETATTR with h (an open read-only handle of status n), as the kernel
 * sends before a read: st (filled from n) gets the size of what h's reads
 * give, and *timeout 0 if that is no longer the status (so the kernel
 * keeps none of it).
 */
void ts_status_attr(struct handle *h, const struct node *n, struct stat *st,
                    double *timeout);
/* Queues ino's invalidation (attributes and pages) for the ticker. */
void ts_status_queue_inval(struct ts_fs *fs, uint64_t ino);

#endif
