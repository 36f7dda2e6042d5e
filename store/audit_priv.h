/*
 * audit_priv: the audit trail's private state and the helpers its files
 * share (the audit*.c files and store/pg_audit.c include it; nothing else
 * may).  The trail is one core and a sink.  The core: audit.c keeps the
 * chain, formats and appends entries (fail closed), reads audit.log
 * through the sink; audit_checkpoint.c signs checkpoints, syncs, keeps the
 * copy; audit_prune.c signs anchors and runs a prune; audit_verify.c walks
 * a chain.  A sink stores the lines: the segment files of a directory
 * store (audit_file.c, with audit_prune.c's segment prune) or the rows of
 * a PostgreSQL store (pg_audit.c).  Calls run one way: the core reaches a
 * sink only through its ops table; a sink calls the core's constructor and
 * the shared helpers; everything may call audit_format.c, which calls none
 * of them.
 */
#ifndef TS_AUDIT_PRIV_H
#define TS_AUDIT_PRIV_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <sodium.h>

#include "store/audit.h"

#define HASHBYTES 32
#define LINE_MAX_AUDIT 4096
#define SUFFIX_LEN (9 + 2 * HASHBYTES + 3)	/* ,"hash":"<hex>"}\n */
#define VERIFY_KEY "verify.key"
#define CHECKPOINT "checkpoint"
#define TS_AUDIT_HOST_MAX 64

/*
 * A sink: where the lines go.  All return 0 or -errno.  The core calls
 * prepare, then append (or abort) with a->lock held; the rest without it
 * (a sink takes a->lock itself where it touches the chain's state).
 */
struct audit_sink_ops {
	/* Before an entry is formatted (NULL: nothing to do): a sink that
	 * may have lost track of its chain's tail (a reconnect) reloads
	 * a->seq and a->hash here. */
	int (*prepare)(struct ts_audit *a);
	/* Stores line (len bytes, '\n' included) as entry a->seq + 1; on
	 * failure nothing of it is stored (fail closed). */
	int (*append)(struct ts_audit *a, const char *line, size_t len);
	/* After prepare, when no append follows (NULL: nothing). */
	void (*abort)(struct ts_audit *a);
	/* Makes what was appended up to now durable (NULL: storing the
	 * checkpoint does). */
	int (*flush)(struct ts_audit *a);
	/* Stores the signed checkpoint cp (text: its file form, len bytes),
	 * durably, over whatever older one there was. */
	int (*checkpoint_put)(struct ts_audit *a,
	                      const struct ts_audit_checkpoint *cp,
	                      const char *text, size_t len);
	/* The hash of entry seq (before appends only): 0, or -ENOENT. */
	int (*hash_at)(struct ts_audit *a, uint64_t seq,
	               unsigned char out[HASHBYTES]);
	/* The trail's storage: free bytes and all (NULL: no filesystem of
	 * its own, never low). */
	int (*space)(struct ts_audit *a, uint64_t *avail, uint64_t *total);
	/* audit.log: its size, and len bytes at off (store/audit.h). */
	uint64_t (*size)(struct ts_audit *a);
	ssize_t (*read)(struct ts_audit *a, void *buf, size_t len,
	                uint64_t off);
	/* audit.log's last descriptor closed, a->lock held (NULL: none). */
	void (*view_idle)(struct ts_audit *a);
	/* ts_audit_prune_next, and the removal of ts_audit_prune (the core
	 * appends the prune's own entry after). */
	int64_t (*prune_next)(struct ts_audit *a);
	int (*prune)(struct ts_audit *a, int64_t before_ms,
	             struct ts_audit_pruned *out);
	/* Forward-secure seals (audit_fss.c): the seals of sealing seals
	 * ("seals-ID"), one line each, '\n' after each, malloc'd (-ENOENT:
	 * none yet); one more, durably. */
	int (*seals_read)(struct ts_audit *a, const char *seals,
	                  unsigned char **text, size_t *len);
	int (*seal_put)(struct ts_audit *a, const char *seals, uint64_t epoch,
	                const char *line, size_t len);
	/* ts_audit_start (NULL: nothing to start). */
	int (*start)(struct ts_audit *a);
	/* ts_audit_set_spool (NULL: no spool; the call does nothing). */
	int (*set_spool)(struct ts_audit *a, const char *path, char *msg,
	                 size_t msglen);
	/* Frees the sink's own state (after the final checkpoint). */
	void (*close)(struct ts_audit *a);
	int segmented;		/* its prunes remove segments */
};

struct ts_audit {
	/* The core's: the chain, the keys, the checkpoint and its copy. */
	const struct audit_sink_ops *ops;
	void *sink;		/* the sink's own state (pg_audit.c) */
	char host[TS_AUDIT_HOST_MAX + 1];	/* "host" of every entry */
	int ready;		/* opened: close writes a final checkpoint */
	pthread_mutex_t lock;
	uint64_t seq;		/* the last entry's seq; guarded by lock */
	unsigned char hash[HASHBYTES];	/* the last entry's hash; guarded */
	uint64_t synced_seq;	/* covered by the last checkpoint; guarded */
	uint64_t cp_seq;	/* the store's checkpoint's seq at open */
	int have_cp;		/* there was one */
	pthread_mutex_t sync_lock;	/* one ts_audit_sync at a time */
	int copy_dirfd;		/* the checkpoint copy's directory, or -1 */
	char *copy_name;	/* its name there; set once, before appends */
	int space_warned;	/* under the line since the last warning;
				   ts_audit_space_low's caller only */
	int64_t space_warn_ms;	/* when it last warned */
	size_t segment_max;	/* rotate past this many bytes */
	unsigned char *sign_sk;	/* Ed25519, sodium_malloc'd */
	unsigned char sign_pk[crypto_sign_PUBLICKEYBYTES];
	/* A prune's anchor (the last pruned entry) vouches for what went.
	 * Guarded by lock. */
	int have_anchor;
	uint64_t anchor_seq;	/* the last pruned entry's seq */
	unsigned char anchor_hash[HASHBYTES];	/* and its hash */
	unsigned readers;	/* audit.log's open descriptors; guarded */
	struct ts_audit_fss *fss;	/* audit_fss.c; NULL: no sealing */
	/* The segment-file sink's (audit_file.c, audit_prune.c,
	 * audit_fss.c); -1 / 0 under another sink. */
	int dirfd;		/* STORE/audit */
	int fd;			/* the current segment, O_APPEND; guarded */
	unsigned segno;		/* its number; guarded by lock */
	uint64_t *segsize;	/* bytes of segment i+1; guarded by lock */
	uint64_t total;		/* all segments; guarded by lock */
	unsigned first;		/* the oldest segment left (1 if none gone) */
	int64_t first_newest_ms;	/* newest entry of segment first, if
					   not the current one; 0: unknown */
	uint64_t hole;		/* bytes pruned while audit.log was open:
				   read as blanks so followers' offsets hold */
};

/* audit.c: the core. */

/*
 * A new trail handle over sink ops: host checked (1 to TS_AUDIT_HOST_MAX
 * bytes of [A-Za-z0-9._-], else -EINVAL), the signing key derived from
 * key, dirfd and copy_dirfd -1.  The sink then finds its chain's tail
 * (a->seq, a->hash, the anchor) and calls ts_audit_opened; on a failure
 * in between it calls ts_audit_close (its ops->close frees its part).
 */
int ts_audit_new(const char *host, const struct ts_seckey *key,
                 size_t segment_max, const struct audit_sink_ops *ops,
                 struct ts_audit **out);
/* An open's last step: cp is the store's signed checkpoint (NULL: none).
 * -EBADMSG if the chain is shorter than it (entries were removed: the
 * daemon must not go on signing over the gap); else the trail is ready. */
int ts_audit_opened(struct ts_audit *a, const struct ts_audit_checkpoint *cp);

/* audit_format.c: the trail's text. */

/* Hex of b[0..n) into out (2n + 1 bytes). */
void ts_audit_hex(const unsigned char *b, size_t n, char *out);
/* Exactly n bytes from the slen hex digits at s into b: 0, or -1. */
int ts_audit_unhex(const char *s, size_t slen, unsigned char *b, size_t n);
/* The chain's step: out = BLAKE2b-256(prev || body[0..len)). */
void ts_audit_chain(const unsigned char prev[HASHBYTES], const char *body,
                    size_t len, unsigned char out[HASHBYTES]);
/* Segment n's file name, "NNNNNN.log". */
int ts_audit_segment_name(unsigned n, char name[32]);
/* The lowest and highest segment numbers under dirfd into *first (1 if
 * there are none) and *n: 0, or -EBADMSG if the numbers do not run
 * first..n (a segment is missing), or -errno. */
int ts_audit_list_segments(int dirfd, unsigned *first, unsigned *n);
/* One line (len bytes, no '\n'): its seq, hash and (ms NULL: not wanted)
 * time.  0, or -EBADMSG if it is not an entry. */
int ts_audit_line_parse(const char *line, size_t len, uint64_t *seq,
                        unsigned char hash[HASHBYTES], int64_t *ms);

/* audit_checkpoint.c: the signed checkpoint. */

/* Parses a checkpoint file's text, not its signature: 0 or -EBADMSG. */
int ts_audit_checkpoint_parse(const unsigned char *text, size_t len,
                              struct ts_audit_checkpoint *cp);
/* 0 if cp is signed by verify key vk, else -EBADMSG. */
int ts_audit_checkpoint_check(const struct ts_audit_checkpoint *cp,
                              const unsigned char vk[32]);
/* Signs (seq, hash) with the trail's key into cp, and its file text into
 * text; returns the text's length. */
size_t ts_audit_checkpoint_sign(const struct ts_audit *a, uint64_t seq,
                                const unsigned char hash[HASHBYTES],
                                struct ts_audit_checkpoint *cp,
                                char text[512]);
/* ts_audit_sync, and the current epoch sealed too (at close). */
int ts_audit_sync_closing(struct ts_audit *a);

/* audit_prune.c: the anchor a prune leaves; the segment sink's prune. */
#define ANCHOR "anchor"
/* Signs (seq, hash) as an anchor into an, and its file text into text;
 * returns the text's length. */
size_t ts_audit_anchor_sign(const struct ts_audit *a, uint64_t seq,
                            const unsigned char hash[HASHBYTES],
                            struct ts_audit_checkpoint *an, char text[512]);
/* 0 if an is an anchor signed by verify key vk, else -EBADMSG. */
int ts_audit_anchor_check(const struct ts_audit_checkpoint *an,
                          const unsigned char vk[32]);
/* Reads and checks the anchor under dirfd against verify key vk (NULL:
 * parse only): 0, -ENOENT if there is none, -EBADMSG if damaged or not
 * signed by vk. */
int ts_audit_anchor_load(int dirfd, const unsigned char *vk,
                         struct ts_audit_checkpoint *an);
/* The last entry of segment n under dirfd: seq, hash and time (ms).
 * 1 if the segment holds no entry, 0, or -errno / -EBADMSG. */
int ts_audit_segment_last(int dirfd, unsigned n, uint64_t *seq,
                          unsigned char hash[HASHBYTES], int64_t *ms);
/* The segment sink's prune_next and prune (audit_file.c's ops). */
int64_t ts_audit_file_prune_next(struct ts_audit *a);
int ts_audit_file_prune(struct ts_audit *a, int64_t before_ms,
                        struct ts_audit_pruned *out);

/* audit_fss.c: forward-secure sealing of the live trail. */
struct ts_audit_fss;
/* Seals the epoch(s) now over (all of them, and the current one too, if
 * closing); called by ts_audit_sync with sync_lock held, after the
 * entries up to seq are durable. */
int ts_audit_fss_tick(struct ts_audit *a, uint64_t seq,
                      const unsigned char hash[HASHBYTES], int closing);
void ts_audit_fss_free(struct ts_audit_fss *f);

/* Checking a chain's seals with the seed (audit_fss.c), whatever holds
 * them: the seals name of seed ("seals-ID"), or -EINVAL; then hv, the
 * chain's (seq, hash) in order (a prune's anchor first), nh of them, and
 * the seals' text (NULL: none).  0 (msg says how far it is sealed), 1
 * (msg says what is wrong, after who, e.g. "host h2: "; label names the
 * seals, e.g. "audit/seals-ID"), or -EINVAL. */
struct ts_audit_seqhash {
	uint64_t seq;
	unsigned char hash[HASHBYTES];
};
int ts_audit_seed_seals(const char *seed, char seals[32]);
int ts_audit_seals_verify(const char *seed, const char *who,
                          const char *label,
                          const struct ts_audit_seqhash *hv, size_t nh,
                          const unsigned char *text, size_t len, char *msg,
                          size_t msglen);

/* Writes what is wrong into msg; returns 1, a verify's "not intact"
 * (audit_verify.c, audit_fss.c, pg_audit.c). */
int ts_audit_bad(char *msg, size_t msglen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * audit_verify.c: one chain walked entry by entry, whatever holds it.
 * ts_audit_walk_init; then fill in the anchor (have_an, an; and
 * ts_audit_walk_from_anchor if what came before it is gone), the
 * checkpoint (found_cp, cp) and the copy, each already checked against
 * the verify key; each line (NUL-terminated, no '\n') through
 * ts_audit_walk_line; then ts_audit_walk_end.  Both return 0, or 1 with
 * what is wrong in msg: who (e.g. "host h2: "), then "entry N", where
 * (e.g. " (segment 3 line 7)"), and what.
 */
struct ts_audit_walk {
	const char *who;	/* msg's prefix: "" or "host NAME: " */
	const char *host;	/* NULL, or the "host" every line that names
				   one must name */
	unsigned char hash[HASHBYTES];	/* the chain so far */
	uint64_t seq;		/* the last entry walked */
	uint64_t base;		/* the anchor's seq the chain runs on from */
	int have_an;		/* an: the signed anchor */
	struct ts_audit_checkpoint an;
	int found_cp;		/* cp: the signed checkpoint */
	struct ts_audit_checkpoint cp;
	const struct ts_audit_checkpoint *copy;	/* a copy, or NULL */
	int copy_any;		/* the copy may be another chain's: a
				   mismatch is no fault; copy_matched says
				   whether this chain has it */
	int copy_matched;
	ts_audit_progress_fn progress;	/* NULL, or told every
					   TS_AUDIT_PROGRESS_EVERY entries */
	void *progress_arg;
};
void ts_audit_walk_init(struct ts_audit_walk *w, const char *who);
void ts_audit_walk_from_anchor(struct ts_audit_walk *w);
int ts_audit_walk_line(struct ts_audit_walk *w, char *line, size_t len,
                       const char *where, char *msg, size_t msglen);
int ts_audit_walk_end(struct ts_audit_walk *w, char *msg, size_t msglen);

#endif
