/*
 * audit_priv: the audit trail's private state and the helpers its files
 * share (audit.c, audit_format.c, audit_checkpoint.c, audit_verify.c
 * include it; nothing else may).  Calls run one way: audit.c and
 * audit_verify.c call audit_checkpoint.c, all three call audit_format.c,
 * which calls none of them.
 */
#ifndef TS_AUDIT_PRIV_H
#define TS_AUDIT_PRIV_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "store/audit.h"

#define HASHBYTES 32
#define LINE_MAX_AUDIT 4096
#define SUFFIX_LEN (9 + 2 * HASHBYTES + 3)	/* ,"hash":"<hex>"}\n */
#define VERIFY_KEY "verify.key"
#define CHECKPOINT "checkpoint"

struct ts_audit {
	pthread_mutex_t lock;
	int dirfd;		/* STORE/audit */
	int fd;			/* the current segment, O_APPEND; guarded */
	unsigned segno;		/* its number; guarded by lock */
	uint64_t *segsize;	/* bytes of segment i+1; guarded by lock */
	uint64_t total;		/* all segments; guarded by lock */
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
	/* audit_prune.c: segments before first were pruned; the anchor
	 * (the last pruned entry) vouches for them.  Guarded by lock. */
	unsigned first;		/* the oldest segment left (1 if none gone) */
	int have_anchor;
	uint64_t anchor_seq;	/* the last pruned entry's seq */
	unsigned char anchor_hash[HASHBYTES];	/* and its hash */
	int64_t first_newest_ms;	/* newest entry of segment first, if
					   not the current one; 0: unknown */
	uint64_t hole;		/* bytes pruned while audit.log was open:
				   read as blanks so followers' offsets hold */
	unsigned readers;	/* audit.log's open descriptors */
	struct ts_audit_fss *fss;	/* audit_fss.c; NULL: no sealing */
};


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

/* audit_checkpoint.c: the signed checkpoint. */

/* Parses a checkpoint file's text, not its signature: 0 or -EBADMSG. */
int ts_audit_checkpoint_parse(const unsigned char *text, size_t len,
                              struct ts_audit_checkpoint *cp);
/* 0 if cp is signed by verify key vk, else -EBADMSG. */
int ts_audit_checkpoint_check(const struct ts_audit_checkpoint *cp,
                              const unsigned char vk[32]);

/* ts_audit_sync, and the current epoch sealed too (at close). */
int ts_audit_sync_closing(struct ts_audit *a);

/* audit_prune.c: the anchor a prune leaves (STORE/audit/anchor). */
#define ANCHOR "anchor"
/* Reads and checks the anchor under dirfd against verify key vk (NULL:
 * parse only): 0, -ENOENT if there is none, -EBADMSG if damaged or not
 * signed by vk. */
int ts_audit_anchor_load(int dirfd, const unsigned char *vk,
                         struct ts_audit_checkpoint *an);
/* The last entry of segment n under dirfd: seq, hash and time (ms).
 * 1 if the segment holds no entry, 0, or -errno / -EBADMSG. */
int ts_audit_segment_last(int dirfd, unsigned n, uint64_t *seq,
                          unsigned char hash[HASHBYTES], int64_t *ms);

/* audit_fss.c: forward-secure sealing of the live trail. */
struct ts_audit_fss;
/* Seals the epoch(s) now over (all of them, and the current one too, if
 * closing); called by ts_audit_sync with sync_lock held, after the
 * entries up to seq are durable. */
int ts_audit_fss_tick(struct ts_audit *a, uint64_t seq,
                      const unsigned char hash[HASHBYTES], int closing);
void ts_audit_fss_free(struct ts_audit_fss *f);

/* Writes what is wrong into msg; returns 1, a verify's "not intact"
 * (audit_verify.c, audit_fss.c). */
int ts_audit_bad(char *msg, size_t msglen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
