/*
 * audit: the tamper-evident audit trail.  JSON Lines in segment files
 * STORE/audit/NNNNNN.log, each line
 *
 *   {"seq":41,"time":"2026-11-25T08:18:45.123Z","host":"h1","uid":1001,
 *    "pid":4242,"comm":"cat","op":"open","path":"tickets/ID/email",
 *    "result":"ok","hash":"<64 hex>"}
 *
 * where hash = BLAKE2b-256(previous entry's hash || this line up to, not
 * including, `,"hash"`), the first entry chaining from 32 zero bytes.  The
 * chain runs on across segments, so the trail can be split (rotated)
 * without breaking verification.  Anyone can recompute an unkeyed chain,
 * so the daemon also signs checkpoints: STORE/audit/checkpoint holds the
 * latest (seq, hash) signed with an Ed25519 key derived from the store's
 * secret key; STORE/audit/verify.key is its public half.  Edits, removals,
 * insertions and reorders break the chain; rewriting the chain or cutting
 * the tail before the last checkpoint breaks the checkpoint.
 *
 * A checkpoint can be replayed: whoever can write the store can save
 * audit/checkpoint, later cut the segments back to it and put it back, and
 * the trail verifies.  So the daemon also writes every checkpoint to a copy
 * outside the store (ts_audit_set_copy), refuses to start on a trail behind
 * it, and ts_audit_verify compares with it when given one.
 *
 * "host" (after "time", in every entry) names the daemon that wrote it
 * (ts_store_host: -o hostname, or the machine's name).  Entries written
 * before it was added have none; they verify as ever: a verifier checks
 * the chain, not the keys (a PostgreSQL store's verify checks that each
 * entry names the chain's host, store/pg_audit.h).
 *
 * A PostgreSQL store keeps one chain a host in rows instead of segment
 * files, its checkpoint, anchor and seals in rows too (store/pg_audit.h);
 * the functions below work on both, but for ts_audit_open,
 * ts_audit_verify and ts_audit_verify_seed (a directory's: pg_audit.h has
 * their counterparts).
 *
 * An entry that stands for several refusals (fs/fold.h) carries
 * "count":N after "result"/"errno"; entries without it stand for one.
 *
 * No entry ever holds a sealed value: callers pass paths and words.
 * Appends are write(2)s (the caller learns of a failure before it answers
 * anyone: fail closed); fdatasync is batched in ts_audit_sync().
 */
#ifndef TS_AUDIT_H
#define TS_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/seal.h"

struct ts_audit;

struct ts_audit_entry {
	uid_t uid;		/* the caller; 0 for the daemon itself */
	pid_t pid;		/* the caller's pid; 0 for the daemon */
	const char *comm;	/* the calling program's name, or "ticketfs" */
	const char *op;		/* open, write, status, message, remove, ... */
	const char *path;	/* below the mount, or "" */
	int err;		/* 0 = ok, else the errno refused or failed with */
	const char *detail;	/* optional extra words (never a sealed value) */
	uint64_t count;		/* N > 0: this entry stands for N refusals
				   (folded), "count":N; 0: for one */
	const char *client_ip;	/* intake: the address the front end's
				   client called from, "client_ip"; NULL or
				   "" for none */
};

/* A signed checkpoint: the trail's (seq, hash) as the daemon signed it. */
struct ts_audit_checkpoint {
	uint64_t seq;			/* the last entry it covers */
	unsigned char hash[32];		/* that entry's hash */
	unsigned char sig[64];		/* Ed25519 over the domain, seq, hash */
};

/*
 * Opens (creating if need be) the trail of the store whose directory fd is
 * storefd, for appending, as host (1 to 64 bytes of [A-Za-z0-9._-], else
 * -EINVAL; the "host" of its entries).  key derives the checkpoint signing key; the
 * verify key is written if missing.  The last segment's chain is read back
 * so appends continue it.  segment_max: bytes before a new segment.
 * -EBADMSG if the trail is shorter than its signed checkpoint (entries
 * were removed): the daemon must not go on signing over the gap.
 */
int ts_audit_open(int storefd, const char *host, const struct ts_seckey *key,
                  size_t segment_max, struct ts_audit **out);
/*
 * Binds the trail to a checkpoint copy kept outside the store, at path (an
 * absolute path; its last component is never followed if a symlink).  If
 * the copy exists it must be signed by this store's key, and the trail must
 * not be behind it: its last entry and its signed checkpoint reach the
 * copy's seq, and the entry there has the copy's hash.  If it does not
 * exist it is created (mode 0600) from the trail's last entry.  From then
 * on every checkpoint ts_audit_sync writes goes to the copy too, after the
 * store's.  Returns 0; -ESTALE if the trail is behind the copy, -EBADMSG if
 * the copy is damaged, signed by another key or differs from the trail
 * (both with what and which seqs in msg); -errno if it cannot be read or
 * written.  Call once, before appending.
 */
int ts_audit_set_copy(struct ts_audit *a, const char *path, char *msg,
                      size_t msglen);
/*
 * A PostgreSQL store's trail appends through a local spool file at path
 * (absolute; mode 0600, its last component never followed, locked while
 * open: one daemon a spool; store/pg_audit_ship.c): an append is a
 * write(2) there, shipped to the database within SHIP_MS (20 ms) by a
 * thread of its own, fail closed as before.  First, what the last run
 * left in it (a kill -9) is shipped, if it continues the chain in the
 * database.  Call once, right after opening, before appending.  0; 1 with
 * a note for the log in msg (entries recovered, a cut last line dropped);
 * -EBADMSG if the spool does not continue the chain (damaged, edited,
 * another daemon's: the database unchanged), -EBUSY if another process
 * holds it, -errno; msg says what.  A directory store's trail: 0, nothing
 * done (its appends are write(2)s already).
 */
int ts_audit_set_spool(struct ts_audit *a, const char *path, char *msg,
                       size_t msglen);
/* Starts the trail's own threads (a spool's shipper), in the process
 * that will append: call after the daemon forked, with signals blocked.
 * Until then what is appended is queued, and a sync ships it itself.
 * 0 or -errno; a trail without threads: 0. */
int ts_audit_start(struct ts_audit *a);
/* Syncs, writes a final checkpoint, closes. */
void ts_audit_close(struct ts_audit *a);

/*
 * Appends one entry (write(2) returned before this does).  -EIO etc. if it
 * could not be written; the trail is then unchanged and the caller must
 * refuse the operation.  Thread-safe.
 */
int ts_audit_append(struct ts_audit *a, const struct ts_audit_entry *e);

/*
 * fdatasync of what was appended, and a signed checkpoint (then its copy, if
 * set); for a timer.  Serialised: a later checkpoint is never overwritten
 * by an earlier one.
 */
int ts_audit_sync(struct ts_audit *a);

/*
 * Free space of the trail's filesystem: *avail bytes, *threshold the
 * warning line (5 % of the filesystem or 64 MiB, whichever is smaller).
 * Returns 1 if the caller should warn now: free space is under the line and
 * no warning was given since it last was above it (once per crossing, and
 * at most once every TS_AUDIT_WARN_MS); 0 if not; -errno if statvfs failed.
 */
#define TS_AUDIT_WARN_MS 60000
int ts_audit_space_low(struct ts_audit *a, int64_t now_ms, uint64_t *avail,
                       uint64_t *threshold);

/* The trail's total length in bytes, over all segments. */
uint64_t ts_audit_size(struct ts_audit *a);
/* Reads the trail as one file: up to len bytes at off.  Returns bytes. */
ssize_t ts_audit_read(struct ts_audit *a, void *buf, size_t len, uint64_t off);

/*
 * Reads the checkpoint file at path (last component not followed): parses
 * it, does not check its signature.  Returns 0, -ENOENT, -EBADMSG if it is
 * not a checkpoint, or -errno.
 */
int ts_audit_checkpoint_load(const char *path, struct ts_audit_checkpoint *cp);

/*
 * Verifies the trail under storefd.  verify_key: the Ed25519 public key to
 * trust (NULL: STORE/audit/verify.key).  copy: a checkpoint copy kept
 * outside the store (NULL: none); it must be signed by the trusted key, the
 * trail must reach its seq with its hash there, and the store's signed
 * checkpoint must not be older.  Returns 0 if intact, 1 if not, with what
 * and where in msg; -errno if it could not be read.
 */
int ts_audit_verify(int storefd, const unsigned char *verify_key,
                    const struct ts_audit_checkpoint *copy, char *msg,
                    size_t msglen, uint64_t *entries);
/* ts_audit_verify reporting its progress (ticketctl's bar): fn(arg, done,
 * total) every TS_AUDIT_PROGRESS_EVERY entries walked, total the signed
 * checkpoint's seq (an estimate: entries after it count too; 0 when
 * there is none).  fn NULL: none. */
typedef void (*ts_audit_progress_fn)(void *arg, uint64_t done, uint64_t total);
#define TS_AUDIT_PROGRESS_EVERY 1024
int ts_audit_verify_progress(int storefd, const unsigned char *verify_key,
                             const struct ts_audit_checkpoint *copy,
                             char *msg, size_t msglen, uint64_t *entries,
                             ts_audit_progress_fn fn, void *arg);

/* The checkpoint public key for a store key (32 bytes). */
void ts_audit_verify_key(const struct ts_seckey *key, unsigned char vk[32]);

/*
 * Retention (store/audit_prune.c).  ts_audit_prune removes the oldest
 * whole segments whose newest entry is older than before_ms, never the
 * current one: first it writes STORE/audit/anchor, the last pruned entry's
 * (seq, hash) signed with the checkpoint key, durably; then unlinks them.
 * Then it appends its own entry: who's uid, pid, comm and path, op
 * "prune", detail "N entries in M segments pruned before seq S (...)",
 * also when nothing was old enough.  out: this prune's count of entries
 * and segments, and the first seq left.  0, or -errno (the trail is then
 * as it was, or pruned with the anchor written but the entry not);
 * -EBADMSG, nothing removed, if the last entry to go is not the chain's
 * own step from the one before (its time edited to have it pruned early),
 * and ts_audit_prune_next() then says nothing is due.
 */
struct ts_audit_pruned {
	uint64_t entries;
	unsigned segments;
	uint64_t first_seq;
};
int ts_audit_prune(struct ts_audit *a, int64_t before_ms,
                   const struct ts_audit_entry *who,
                   struct ts_audit_pruned *out);
/* The newest entry's time of the oldest segment a prune could remove
 * (read once, then cached until it goes): segments are due at this plus
 * the retention age.  INT64_MAX if only the current segment is left.
 * INT64_MIN, once, if that segment's last entry is not the chain's step
 * from the one before (its time edited, maybe never to be due): nothing
 * is due after. */
int64_t ts_audit_prune_next(struct ts_audit *a);
/*
 * audit.log's descriptors: while one is open, what a prune removes reads
 * as blanks (one blank line) at the file's start, so the file never
 * shrinks under a reader (tail -f) and its offset still points at the
 * same entry; once none is, the file is what remains.
 */
void ts_audit_view_open(struct ts_audit *a);
void ts_audit_view_close(struct ts_audit *a);

/*
 * Forward-secure sealing (store/audit_fss.c).  The state file (mode 0600,
 * beside the key, never in the store) holds t0, the epoch length, the
 * epoch n and key_n (32 bytes), never the seed: key_0 = BLAKE2b keyed
 * with the seed, key_{n+1} = BLAKE2b keyed with key_n; the old key is
 * wiped once the new one is durable.  Each epoch (the state's n) is
 * closed by a line of STORE/audit/seals-ID (ID: 16 hex digits of a hash
 * of the seed, named in the state), {"epoch":n,"next":m,"seq":S,
 * "hash":H,"mac":M}, M keyed with key_n over (n, m, S, H): the trail up to
 * S, and that the next seal is epoch m's.
 *
 * ts_audit_fss_create makes a new state at path (not replacing one):
 * epoch_s seconds an epoch (0: 900), t0 now; the seed, to print once and
 * keep elsewhere, into seed as text "<64 hex>-<t0 s>-<epoch s>".
 */
#define TS_AUDIT_SEED_MAX 96
int ts_audit_fss_create(const char *path, unsigned epoch_s,
                        char seed[TS_AUDIT_SEED_MAX]);
/*
 * Binds the trail to the state at path: from then on ts_audit_sync closes
 * every epoch over, each with its seal, and evolves the key; close seals
 * the current one too.  At once it seals what the last run left (a
 * killed daemon) and catches up with the clock.  -ENOENT if there is no
 * state (the trail runs unsealed), -EBADMSG (msg says why), -errno.
 */
int ts_audit_set_fss(struct ts_audit *a, const char *path, char *msg,
                     size_t msglen);
/*
 * Checks STORE/audit/seals-ID against the seed (the text from create): each
 * seal's MAC with its epoch's key, the chain of epochs from 0, and the
 * trail's hash at each seal's seq; entries after the last seal must be of
 * an epoch not yet over.  Returns 0 (msg says how far the trail is
 * sealed), 1 if not intact (msg names the entries), -EINVAL for a bad
 * seed, -errno.
 */
/* 0 if seed has the form of a verification seed, else -EINVAL. */
int ts_audit_seed_check(const char *seed);
int ts_audit_verify_seed(int storefd, const char *seed, char *msg,
                         size_t msglen);

#endif
