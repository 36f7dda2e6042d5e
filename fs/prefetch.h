/*
 * prefetch: decrypts a ticket's sealed values ahead of the reads, on
 * worker threads, into the value cache (fs/cache.h).
 *
 * `grep -r`, `tar` and backup scripts open a ticket's files one after
 * another.  When a caller allowed to read sealed values opens the first
 * one (any of its files: fs.c), that ticket and the next in tickets/'
 * order are queued here; while the FUSE loop thread
 * answers round trips, the workers (one per core) open the boxes, so
 * X25519 runs on both cores and overlaps the round trips.  A worker
 * reads a ticket's boxes from the store in one go (one round trip to a
 * database, on a connection the loop thread does not use), then opens
 * them into the cache one by one.  Nothing is
 * decrypted for a caller who could not open the files: only an open the
 * daemon granted queues anything.  The queue is small and drops work when
 * full: prefetching is an optimisation, never a promise.
 */
#ifndef TS_PREFETCH_H
#define TS_PREFETCH_H

#include <stdint.h>

struct ts_fs;
struct ts_prefetch;

/* Starts nthreads workers (0: none; then ticket() does nothing). */
int ts_prefetch_start(struct ts_fs *fs, unsigned nthreads,
                      struct ts_prefetch **out);
/* Stops the workers and frees p; NULL is fine. */
void ts_prefetch_stop(struct ts_prefetch *p);
/* Queues ticket slot's sealed values, except inode skip (being read). */
void ts_prefetch_ticket(struct ts_prefetch *p, uint64_t slot, uint64_t skip);
/* Values decrypted by the workers so far. */
uint64_t ts_prefetch_done(struct ts_prefetch *p);

#endif
