/*
 * pg_audit_spool: the local spool file of a PostgreSQL store's audit
 * trail (store/pg_audit_ship.c ships what it holds): the lines appended
 * but maybe not yet committed to the database, in order, one entry a
 * line, '\n' after each.  It holds audit lines only, so never a
 * plaintext.  Opened without following a symlink (its directory's fd,
 * O_NOFOLLOW), mode 0600, and locked (flock) for as long as it is open:
 * one daemon a spool.  Appends are write(2)s of whole lines (O_APPEND):
 * a write that fails or comes short is cut back, so the file only ever
 * holds whole lines but for one cut by a crash (a kill -9 mid-write, or
 * the machine's), which opening drops.  No fsync: the database's
 * checkpoint, committed synchronously every second, is what makes lines
 * durable; the spool is what a killed daemon had not shipped yet.
 */
#ifndef TS_PG_AUDIT_SPOOL_H
#define TS_PG_AUDIT_SPOOL_H

#include <stddef.h>
#include <stdint.h>

struct ts_spool;

/* A spool's lines as a chain: first..last seq, n lines, the last's hash. */
struct ts_spool_run {
	size_t n;		/* lines (0: empty; the rest unset) */
	uint64_t first;		/* the first line's seq */
	uint64_t last;		/* the last line's seq */
	unsigned char last_hash[32];	/* the last line's hash */
};

/*
 * Opens (creating) the spool at path, an absolute file path, and locks it.
 * Its whole lines into *text (malloc'd, *len bytes, NUL after; NULL and 0
 * if none); a last line without its '\n' is cut off the file, its length
 * in *torn (0: none).  Returns 0; -EINVAL (not an absolute path, or not a
 * regular file), -EBUSY (another process holds it), -EFBIG (over 64 MiB),
 * -errno; msg then says what, naming path.
 */
int ts_spool_open(const char *path, struct ts_spool **out, char **text,
                  size_t *len, size_t *torn, char *msg, size_t msglen);
/* Closes (and unlocks) it; NULL is fine. */
void ts_spool_close(struct ts_spool *sp);

/* Appends len bytes of whole lines: 0, or -errno (the file as it was). */
int ts_spool_append(struct ts_spool *sp, const char *buf, size_t len);
/* Empties it (everything in it is in the database): 0 or -errno. */
int ts_spool_clear(struct ts_spool *sp);
/* Replaces what it holds with buf (len bytes of whole lines, what is not
 * yet shipped): a new file, locked, renamed over it.  0, or -errno with
 * the spool as it was. */
int ts_spool_replace(struct ts_spool *sp, const char *buf, size_t len);
/* Its size in bytes. */
uint64_t ts_spool_size(const struct ts_spool *sp);

/*
 * Checks that text (len bytes of '\n'-ended lines) is a run of audit
 * entries, each the chain's step from the one before it (seq one more, its
 * hash over the one before): 0 with *run, or -EBADMSG with msg naming the
 * line (1-based) and what is wrong.
 */
int ts_spool_parse(const char *text, size_t len, struct ts_spool_run *run,
                   char *msg, size_t msglen);

#endif
