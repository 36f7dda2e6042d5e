/*
 * cache: a bounded cache of decrypted values, keyed by inode number, in
 * one sodium_malloc'd arena (locked in memory, guard pages, never swapped
 * or dumped).  Values are kept in fixed 512-byte blocks chained together;
 * when a value does not fit, the least recently used values are evicted.
 * Every block is wiped when its value leaves, whatever the reason.
 *
 * The cache knows nothing of deadlines or rights: callers read from it
 * only after resolving the inode (deadline and access checked), and drop
 * an item's inodes when the item goes.  Thread-safe (one mutex).
 */
#ifndef TS_CACHE_H
#define TS_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ts_cache;

/* A cache of about bytes bytes; bytes 0 gives a cache that holds nothing. */
int ts_cache_new(size_t bytes, struct ts_cache **out);
/* Wipes everything and frees the cache; NULL is fine. */
void ts_cache_free(struct ts_cache *c);

/*
 * Stores a copy of val (len bytes) for ino, replacing any.  Values larger
 * than a quarter of the cache are not kept (-E2BIG); nor is anything by a
 * cache of size 0.
 */
int ts_cache_put(struct ts_cache *c, uint64_t ino, const void *val,
                 size_t len);
/* 1 if ino is cached (its length in *len, if len is not NULL), else 0. */
int ts_cache_has(struct ts_cache *c, uint64_t ino, size_t *len);
/*
 * Copies up to n bytes of ino's value from offset off into dst; returns
 * the number copied (0 at or past the end), or -ENOENT if not cached.
 */
ssize_t ts_cache_read(struct ts_cache *c, uint64_t ino, size_t off,
                      void *dst, size_t n);
/* Drops (and wipes) every value with lo <= ino < hi. */
void ts_cache_drop_range(struct ts_cache *c, uint64_t lo, uint64_t hi);

/* Locks the arena's pages again: fork() does not pass mlock on. */
int ts_cache_lock(struct ts_cache *c);

/* Bytes of values held now, and the limit. */
size_t ts_cache_used(struct ts_cache *c);
size_t ts_cache_limit(struct ts_cache *c);
/* How many ts_cache_read calls found their value, and did not (a cache
 * of size 0 counts none), since ts_cache_new: for `ticketctl stats`. */
void ts_cache_counts(struct ts_cache *c, uint64_t *hits, uint64_t *misses);

#endif
