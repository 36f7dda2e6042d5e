/*
 * stats: the daemon's counters, published for `ticketctl stats`: the
 * kernel requests served (counted by the session loop, which this
 * module runs), the value cache's hits and misses and, for a shared
 * store, the statements sent to its database.  Once a second the
 * ticker writes them to TS_STORE_RUN_DIR/NAME.stats (NAME:
 * ts_store_run_name), a few hundred bytes of JSON, by a temporary file
 * renamed over it: counts only, never a value, a name or an id; the
 * directory mode 0700 and the file 0600, both the daemon's (root's).
 * A file left by a daemon killed (-9) is removed by the next daemon's
 * start once 10 minutes old.  Nothing there is needed to serve: if the directory cannot be made or
 * trusted (not a directory of ours, or open to others) the daemon logs
 * it and publishes nothing; a failed write is logged once.
 *
 * The file's keys: pid, updated_ms (ms since the epoch), mounted_ms,
 * requests, cache_hits, cache_misses, cache_bytes, cache_limit,
 * db_statements (ts_store_statements: 0 for a directory store).
 */
#ifndef TS_STATS_H
#define TS_STATS_H

#include <stdint.h>

struct fuse_session;
struct ts_store;
struct ts_cache;
struct ts_stats;

/* Makes (or opens) the run directory and names the file for st's store;
 * *out freed with ts_stats_free.  -errno (nothing published then). */
int ts_stats_new(struct ts_store *st, struct ts_stats **out);

/* Removes the file and frees s (NULL: nothing). */
void ts_stats_free(struct ts_stats *s);

/*
 * Serves se's requests until the session ends, as fuse_session_loop
 * does, counting each in s (NULL: not counted); the calling thread first
 * asks for a short scheduler slice (stats.c: short_slice).  Returns its result: 0,
 * or -errno if receiving failed.
 */
int ts_stats_session_loop(struct fuse_session *se, struct ts_stats *s);

/* Writes the counters (c: the value cache, NULL for none) if a second
 * passed since the last write; the ticker's thread.  s NULL: nothing.
 * -errno when a write fails after one that did not (to be logged once),
 * else 0. */
int ts_stats_publish(struct ts_stats *s, struct ts_cache *c,
                      int64_t mounted_ms, int64_t now_ms);

#endif
