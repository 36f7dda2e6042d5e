/*
 * progress: the progress bar of ticketctl's long verbs (submit --batch,
 * fsck, audit verify, migrate, rekey), on stderr, only when stderr is a
 * terminal: "LABEL [#####.....] DONE/TOTAL  RATE/s, M:SS left", redrawn
 * in place at most every 100 ms (and at the end of a phase).  When stderr
 * is no terminal every call is a no-op, so a script's stderr holds only
 * what it held before.  One bar a process, on one thread (no lock).
 *
 * Usage: p = ts_progress_new("fsck", TS_PROGRESS_COUNT);
 *        ts_progress_update(p, done, total);  (any number of times)
 *        ts_progress_phase(p, "keys");        (optional: a new line)
 *        ts_progress_free(p);                 (ends the line)
 * Every function takes NULL (no bar: out of memory, or not wanted).
 */
#ifndef TS_PROGRESS_H
#define TS_PROGRESS_H

#include <stdint.h>

enum ts_progress_unit {
	TS_PROGRESS_COUNT,	/* done and total are items */
	TS_PROGRESS_BYTES,	/* bytes: shown in MiB */
};

struct ts_progress;

/* A bar labelled label (kept, not copied: a string literal); NULL if
 * memory runs out (then nothing is drawn). */
struct ts_progress *ts_progress_new(const char *label,
                                    enum ts_progress_unit unit);

/* done of total so far (total 0: unknown, no bar nor time left; only
 * the count and rate).  Draws if 100 ms passed since the last draw, or
 * done reached total, or nothing is drawn yet. */
void ts_progress_update(struct ts_progress *p, uint64_t done, uint64_t total);

/* Ends the current line (kept on screen, if drawn) and starts a new
 * phase labelled label: its rate and time left measured from now. */
void ts_progress_phase(struct ts_progress *p, const char *label);

/* Ends the line (if one was drawn) and frees p. */
void ts_progress_free(struct ts_progress *p);

#endif
