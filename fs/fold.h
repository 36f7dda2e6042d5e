/*
 * fold: bounds what refusals cost the audit trail.  A caller without a role
 * is refused as fast as it can ask, and one line a refusal let a single uid
 * fill the trail's disk, after which every audited operation fails closed.
 *
 * So refusals of requests (any result but ok: denied, and errors such as
 * an agent's ENOTEMPTY or EINVAL, which a loop can repeat as fast) are
 * counted per key (uid, op, errno) in windows of TS_FOLD_WINDOW_MS from the key's first refusal: the
 * first TS_FOLD_BURST of a window are written as usual, the rest only
 * counted.  Once the window is over (the key's next refusal after it, or
 * ts_fold_flush from the ticker) one entry stands for them: the same op,
 * "count":N, the last one's path, pid and comm, and a detail with the first
 * and last time.  Every refusal is in the trail, on its own line or in a
 * count: the counts plus the single entries are exactly the refusals.
 *
 * Memory is bounded: TS_FOLD_KEYS keys.  When 3/4 of them are busy (a
 * window not over, or a count not yet written), a new key is folded by uid
 * alone (op "denied-folded", the last op in detail), and when all are, into
 * one slot for every uid ("several uids" in detail).  A count is never
 * dropped: if its entry cannot be written it stays pending and is retried;
 * a single refusal that cannot be written joins the count.
 *
 * Paths in refusal entries are cut to TS_FOLD_PATH_MAX bytes (on a UTF-8
 * character boundary, ending in "...").
 *
 * Thread-safe: one lock, held while appending (the order is fold, then
 * audit; the audit trail never calls back).
 */
#ifndef TS_FOLD_H
#define TS_FOLD_H

#include <stdint.h>

#include "store/audit.h"

#define TS_FOLD_BURST 5		/* refusals a key writes per window */
#define TS_FOLD_WINDOW_MS 1000
#define TS_FOLD_KEYS 256
#define TS_FOLD_PATH_MAX 256

struct ts_fold;

/* A folder appending to a (the caller's; it must outlive the folder). */
int ts_fold_new(struct ts_audit *a, struct ts_fold **out);
/* Writes every pending count (ts_fold_flush(f, now, 1)), then frees. */
void ts_fold_free(struct ts_fold *f);

/*
 * Records refusal e (e->err not 0; e->count ignored) at now_ms:
 * writes it, or counts it.  Returns 0, or the -errno of a write that failed
 * (the refusal is then counted, to be written later).
 */
int ts_fold_refusal(struct ts_fold *f, const struct ts_audit_entry *e,
                    int64_t now_ms);

/*
 * Writes the count of every key whose window is over by now_ms (of every
 * key, if force).  Returns 0, or the first -errno of an entry that could
 * not be written (its count stays pending).
 */
int ts_fold_flush(struct ts_fold *f, int64_t now_ms, int force);

/* Refusals counted and not yet written, over all keys (for tests). */
uint64_t ts_fold_pending(struct ts_fold *f);

#endif
