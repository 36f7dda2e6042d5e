/*
 * store: where tickets live, behind an opaque handle.  The daemon loads
 * every ticket's metadata at mount, reads boxes on demand, writes whole
 * tickets durably and picks up intake; ticketctl drops intake records in.
 *
 * Nothing outside store/ sees a path, a file descriptor or a file name of
 * the store: a second backend (PostgreSQL for several support hosts is the
 * plan) implements struct ts_store_ops in store/store_backend.h and fs/
 * does not change.
 *
 * The file backend's layout under STORE (mode 0700):
 *   public.key  whitelist  policy
 *   tickets/ID      one record a ticket (store/record.h), replaced whole
 *   keys/ID         the ticket's secret key, wrapped with a key derived
 *                   from the store's secret key (store/tkey.h);
 *                   keys/ID.next while a rekey is under way
 *   intake/STAMP-K-ID   records dropped by ticketctl; K = t m a r f e p
 *   intake/rejected/    intake the daemon could not take in, kept aside
 *                       (the newest TS_INTAKE_REJECTED_FILES / _BYTES)
 *   .trash/         what hostile intake left, deleted a bounded amount a
 *                   poll (the daemon's, mode 0700)
 *   lock                empty; flock()ed by the daemon while it runs
 * Every file is opened relative to the store's directory fd, O_NOFOLLOW.
 *
 * Functions return 0 or -errno.  The store does not lock: the daemon
 * serialises the writes of each ticket (fs/index.c).
 */
#ifndef TS_STORE_H
#define TS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "store/seal.h"
#include "store/ticket.h"

struct ts_store;

enum ts_store_mode {
	TS_STORE_DAEMON,	/* tickets and intake: the daemon, fsck */
	TS_STORE_INTAKE,	/* intake only: ticketctl submit & co. */
};

/*
 * Creates a new store at path (which must not exist, or be an empty
 * directory) holding pk, an empty whitelist and policy_text.  On failure
 * nothing is left behind.
 */
int ts_store_create(const char *path, const unsigned char pk[TS_SEAL_PKBYTES],
                    const char *policy_text);

/* Opens the store at path; free with ts_store_close(). */
int ts_store_open(const char *path, enum ts_store_mode mode,
                  struct ts_store **out);
/* ts_store_open that also says why it failed in err (errlen bytes): a
 * database without a ticketfs schema, one of a newer schema, a
 * connection refused (never the URI itself: it may hold a password). */
int ts_store_open_err(const char *path, enum ts_store_mode mode,
                      struct ts_store **out, char *err, size_t errlen);
void ts_store_close(struct ts_store *st);

/*
 * Marks st's store as in use by this process, the daemon: -EBUSY if
 * another process holds it.  Held until the process exits (not released
 * by ts_store_close; a fork shares it), so that ts_store_wait_released
 * returns only once the daemon has made its last write (the index
 * snapshot) and exited.  Once per process: a second call on st is a no-op.
 * A shared store is locked by host name (ts_store_host: another daemon of
 * the same -o hostname gets -EBUSY, one of another name does not), held
 * by st's connection until ts_store_close (after the daemon's last write)
 * and taken again after a reconnect, before the next write.
 */
int ts_store_lock(struct ts_store *st);

/*
 * Blocks until no process holds st by ts_store_lock, for at most
 * timeout_ms (< 0: no limit).  0 once released (or never taken),
 * -ETIMEDOUT if still held at the limit.  Takes nothing itself.
 */
int ts_store_wait_released(struct ts_store *st, long timeout_ms);

/*
 * 1 if a process holds st by ts_store_lock now (a shared store: a daemon
 * of st's host name), 0 if not, -errno.  Unlike ts_store_wait_released
 * it takes no lock, not even for an instant, so a daemon starting at that
 * moment is never refused (ticketctl stats, run every minute): a
 * directory store's flock is looked up in /proc/locks, a shared store's
 * advisory lock in pg_locks.
 */
int ts_store_held(struct ts_store *st);

/* Statements st's handle has sent to its database so far (a shared
 * store's tickets, keys, intake and policy; not the audit trail's): one
 * round trip each.  0 for a directory store.  Any thread. */
unsigned long long ts_store_statements(struct ts_store *st);

/* The store's public key. */
int ts_store_pubkey(struct ts_store *st, unsigned char pk[TS_SEAL_PKBYTES]);

/*
 * Called by ts_store_load for each ticket: t decoded (fn takes ownership of
 * its arrays), or t == NULL and err < 0 for a ticket whose record is
 * damaged (EBADMSG) or unreadable.  A non-zero return stops the load.
 */
typedef int (*ts_store_ticket_fn)(void *arg, const char *id,
                                  struct ts_ticket *t, int err);
int ts_store_load(struct ts_store *st, ts_store_ticket_fn fn, void *arg);

/*
 * Gives the store the daemon's secret key, from which it derives the keys
 * that authenticate what only the daemon writes: every ticket record
 * carries a MAC (store/record.h), checked at load (a record without a
 * valid one is refused as -EKEYREJECTED) and before boxes are carried over
 * into a rewrite; and the index snapshot.  A store without the key (the
 * tools) neither writes nor checks MACs.
 */
int ts_store_set_key(struct ts_store *st, const struct ts_seckey *key);

/*
 * The keyed hash of a username (name, len bytes; a final newline, as
 * every stored value has, is not part of it) by which a customer's
 * tickets are found without opening their username boxes: keyed
 * BLAKE2b-128, the key derived from the store's secret key (purpose
 * TS_UHASH_PURPOSE), so a front end holding only the public key cannot
 * compute it.  -ENOKEY if the store was given no key.
 */
#define TS_UHASH_PURPOSE "username-hash"
int ts_store_uhash(struct ts_store *st, const char *name, size_t len,
                   unsigned char out[TS_UHASH_BYTES]);

/*
 * Opens box (boxlen bytes, sealed for the store's own key, bound to
 * (id, field)) with the key ts_store_set_key gave into plain (room for
 * boxlen - TS_SEAL_OVERHEAD bytes): an intake request's box (forget), or
 * a box of a ticket of before.  -ENOKEY without a key; -EBADMSG as
 * ts_seal_open (plain then wiped).
 */
int ts_store_seal_open(struct ts_store *st, const char *id, const char *field,
                       const uint8_t *box, size_t boxlen, uint8_t *plain);

/*
 * The index snapshot (store/snapshot.h): one file holding every ticket's
 * metadata, so ts_store_load need not read every record.  Only a store
 * given the key reads or writes it.  snapshot_save takes the tickets as
 * the caller's index holds them (sorted by id, no concurrent writes); load
 * then uses an entry only if the tickets directory has not changed since
 * and the record file is the one the entry was taken from, else it reads
 * the record.
 */
int ts_store_snapshot_save(struct ts_store *st,
                           const struct ts_ticket *const *t, size_t n);

/*
 * What the last ts_store_load made of the index snapshot: used (entries
 * in it, tickets taken from it, tickets read from their records), or
 * refused, why saying why in a stable phrase: "no snapshot", "no key",
 * "unreadable: <strerror>", "not authentic (damaged, truncated or made
 * with another key)", "tickets/ changed since it was taken".
 */
struct ts_store_snapinfo {
	int used;
	size_t entries, taken, read;
	char why[80];
};
void ts_store_snapshot_info(struct ts_store *st, struct ts_store_snapinfo *out);

/*
 * Reads the box of ticket id into buf (box->len bytes), at the offset the
 * caller has (from its load of the ticket).  -ENOENT if there is no such
 * ticket; -EIO if the box lies past the end of the record (the record
 * changed since, or is damaged), the record is no regular file, or the
 * store cannot be read now.  The file backend opens the record relative
 * to the store's directory, O_NOFOLLOW.
 */
int ts_store_read_box(struct ts_store *st, const char *id,
                      const struct ts_box *box, uint8_t *buf);

/*
 * Reads n boxes of ticket t at once, boxes[i] (box->len bytes) into
 * bufs[i], as ts_store_read_box would one by one, but in one go: one open
 * of the record (the file backend), one statement (a shared store).  All
 * or nothing: 0, or the first error read_box would give (-ENOENT no such
 * ticket, -EIO a box past the record's end, ...); -EINVAL if n is 0 or
 * over TS_STORE_BOXES_MAX, or a box is empty.  A shared store reads on a
 * connection of its readers (not the one of the other calls), so a
 * thread reading ahead (fs/prefetch.c) and the daemon's request thread
 * do not queue behind each other.  With the store's key and t keyed,
 * the ticket's key is fetched in the same go if it is not among the keys
 * kept open, so that ts_store_open_box of these boxes then asks the
 * store nothing more (a shared store: in the same statement).
 */
#define TS_STORE_BOXES_MAX 64
int ts_store_read_boxes(struct ts_store *st, const struct ts_ticket *t,
                        const struct ts_box *boxes, size_t n,
                        uint8_t *const *bufs);

/* Marks a box offset as pointing into the `extra` buffer of a write. */
#define TS_BOX_NEW 0x80000000u
/* With TS_BOX_NEW: the box is sealed for the store's key (a front end's
 * message or authorization for a keyed ticket); the write reseals it for
 * the ticket's own key. */
#define TS_BOX_STOREKEY 0x40000000u

/* How long after a re-sealing for a fresh key a further removal from the
 * same ticket waits for its own (t->shred_due_ms; store/shred.c). */
#define TS_SHRED_BATCH_MS 1000
/* Sets that time for st (tests: a longer one makes the batching certain
 * on a slow machine); ms <= 0 restores TS_SHRED_BATCH_MS. */
void ts_store_set_shred_batch(struct ts_store *st, int64_t ms);

/*
 * Opens box (len bytes) of ticket t (its id, keyed, tpk) bound to field
 * into plain (len - TS_SEAL_OVERHEAD bytes): with the ticket's own key
 * (from its key file, a few kept open in sodium_malloc'd memory) or, for a
 * ticket of before, the store's.  -ENOKEY if t is keyed and its key file
 * is gone or holds another key (the ticket was shredded) or the store has
 * no key; -EBADMSG if the box or the key file is damaged.
 */
int ts_store_open_box(struct ts_store *st, const struct ts_ticket *t,
                      const char *field, const uint8_t *box, size_t len,
                      uint8_t *plain);
/* 0 if t's key opens (or t is of before), else as ts_store_open_box. */
int ts_store_ticket_key(struct ts_store *st, const struct ts_ticket *t);

/*
 * Durably replaces ticket t->id with t.  Boxes whose offset has TS_BOX_NEW
 * set are read from extra (offset without the flags); the others from the
 * ticket's current record, and must be where that record has the same
 * item's box (-ESTALE if not).  On success t's offsets point into the new
 * record; on failure the stored ticket is unchanged.
 *
 * With the store's key (the daemon): a new ticket carrying t->keybox has
 * it opened (-EBADMSG if it does not open or is not the key of t->tpk),
 * its username hashed into t->uhash, its key file written; the record
 * never holds the key box.  A write that drops a box the stored record
 * has, or rewrites a ticket of before (keyed 0), reseals every value kept
 * for a fresh ticket key and deletes the old key (t's tpk, keyed, uhash
 * and offsets are updated), unless the ticket was re-sealed less than
 * TS_SHRED_BATCH_MS ago: then t->shred_due_ms is set (to that time +
 * TS_SHRED_BATCH_MS, if it was not yet) and written with the record, and
 * a later write of t with shred_due_ms cleared to 0 makes the re-sealing
 * (the daemon's sweep does it at that time).  TS_BOX_STOREKEY boxes are
 * resealed for the ticket's key.  -ENOKEY if the ticket's key is gone (shredded).
 * A shared store: -EAGAIN if another host wrote ticket id since this
 * process last loaded (ts_store_load, ts_store_load_one) or wrote it;
 * nothing is written then, and the caller re-reads the ticket.
 */
int ts_store_write(struct ts_store *st, struct ts_ticket *t,
                   const uint8_t *extra);

/* Durably removes ticket id, then its key files (also durably: no copy
 * of the record opens after).  -ENOENT if there is no record.  A shared
 * store: -EAGAIN, nothing removed, if another host wrote the ticket since
 * this process last read or wrote it (as ts_store_write). */
int ts_store_remove(struct ts_store *st, const char *id);

/*
 * Called by ts_store_intake_poll for each intake record, oldest first:
 * kind and t decoded, boxes at their offsets in buf, err = 0; or err < 0
 * (t NULL) for a record that is damaged (-EBADMSG) or that the store may
 * not read (-EACCES).  fn returns 0 when the record is taken in (it is
 * then deleted), -EAGAIN to leave it for the next poll, anything else to
 * reject it (moved to intake/rejected/).  fn owns t's arrays.  A directory
 * store deletes what fn took in at the end of the poll, after
 * TS_INTAKE_COMMIT, in one flush.
 *
 * Notices (kind < 0, t and buf NULL, fn's return ignored):
 *   TS_INTAKE_REMOVED  name was no record the store will open: err says
 *       what it was, -ENXIO a FIFO, socket or device node, -EISDIR a
 *       directory, -ELOOP a symbolic link, -EMLINK a file with other hard
 *       links, -EFBIG a file over TS_RECORD_MAX, -ETIMEDOUT a regular
 *       dotfile (a front end's temporary) over an hour old.  It was
 *       removed (a directory: moved whole to STORE/.trash, deleted there
 *       at most 1,000 entries a poll) without being opened, read or
 *       followed.
 *   TS_INTAKE_DROPPED  name, under rejected/, was deleted to keep rejected/
 *       within TS_INTAKE_REJECTED_FILES files and TS_INTAKE_REJECTED_BYTES
 *       bytes (the oldest rejected go first), or was not a regular file of
 *       one link (moved to STORE/.trash).
 *   TS_INTAKE_DEFERRED  name could not be read for now (err: -EIO,
 *       -ENOMEM, ...): left in place, offered again next poll.
 *   TS_INTAKE_COMMIT  (name "") a directory store is about to delete the
 *       records fn took in since the last: fn returns 0 once what they
 *       changed is durable (ts_store_flush), or -errno to keep them all
 *       in intake for the next poll.  Once a poll at most.
 */
typedef int (*ts_store_intake_fn)(void *arg, const char *name, int kind,
                                  struct ts_ticket *t, const uint8_t *buf,
                                  int err);
#define TS_INTAKE_REMOVED (-1)
#define TS_INTAKE_DROPPED (-2)
#define TS_INTAKE_DEFERRED (-3)
#define TS_INTAKE_COMMIT (-4)
#define TS_INTAKE_REJECTED_FILES 1000
#define TS_INTAKE_REJECTED_BYTES (64ul << 20)
/* What one poll handles at most: records, and bytes read. */
#define TS_INTAKE_BATCH 256
#define TS_INTAKE_BATCH_BYTES (16ul << 20)
/*
 * Runs fn over the waiting intake, at most TS_INTAKE_BATCH records (and
 * about TS_INTAKE_BATCH_BYTES read) a call; the next call goes on where
 * this one stopped.  *more (if not NULL) is set to 1 when it stopped at
 * that bound with intake still waiting, else 0.  Returns how many were
 * taken in.  The caller holds no lock of its own across the call: fn
 * takes what it needs, so reading and rejecting intake never holds up
 * the daemon's readers.  Only one poll runs at a time; other calls on the
 * store may run meanwhile.  A shared store's poll needs the host lock
 * (ts_store_lock; -ENOLCK without): another host takes over at once the
 * claims of a host that holds none (a dead daemon's).
 */
int ts_store_intake_poll(struct ts_store *st, ts_store_intake_fn fn,
                         void *arg, int *more);

/*
 * Deferred durability for a run of new tickets (the daemon's take-in):
 * after ts_store_defer(st, 1), the calling thread's ts_store_write calls
 * on a directory store write as ever but flush nothing, until
 * ts_store_defer(st, 0); ts_store_flush then makes everything written so
 * far durable with one flush of the filesystem (syncfs).  Nothing written
 * so may be shown, or its intake deleted, before ts_store_flush returned
 * 0.  Other threads' writes stay durable one by one.  A shared store's
 * writes are durable each: both do nothing there.
 */
void ts_store_defer(struct ts_store *st, int on);
int ts_store_flush(struct ts_store *st);

/* Writer side: drops an intake record for ticket id, durably. */
int ts_store_intake_put(struct ts_store *st, int kind, const char *id,
                        const uint8_t *rec, size_t len);

struct ts_intake_item {
	int kind;		/* enum ts_record_kind */
	const char *id;		/* the ticket */
	const uint8_t *rec;	/* the record */
	size_t len;
};
/*
 * Drops n records, each atomically, all durable when it returns 0, with
 * one flush for the lot (what makes `submit --batch` fast).  On failure
 * returns -errno and *done says how many were dropped (a prefix of v).
 */
int ts_store_intake_put_many(struct ts_store *st,
                             const struct ts_intake_item *v, size_t n,
                             size_t *done);
/*
 * put_many in steps, for a batch sealed while it is written (`submit
 * --batch`): _begin opens batch *b; _add stages records, written but not
 * yet intake (a temporary file no daemon takes in; rows of a transaction
 * not committed); _commit makes every staged record intake, each
 * atomically, in the order added, all durable when it returns 0, with one
 * flush for the lot (failure: -errno, *done the prefix that appeared, as
 * put_many); _abort drops them all, none ever appearing.  _commit and
 * _abort free b; after an _add fails only _abort is left.  One thread at
 * a time, and nothing else on st between _begin and the end.
 */
struct ts_intake_batch;
int ts_store_intake_begin(struct ts_store *st, struct ts_intake_batch **b);
int ts_store_intake_add(struct ts_intake_batch *b,
                        const struct ts_intake_item *v, size_t n);
int ts_store_intake_commit(struct ts_intake_batch *b, size_t *done);
void ts_store_intake_abort(struct ts_intake_batch *b);
/* 1 if ticket id exists (taken in, or waiting in intake), 0 if not. */
int ts_store_ticket_known(struct ts_store *st, const char *id);

/*
 * Reads a whole ticket record (for fsck); *buf malloc'd.  Lists ticket ids
 * through fn(arg, id) for ts_store_list.
 */
int ts_store_read_record(struct ts_store *st, const char *id, uint8_t **buf,
                         size_t *len);
int ts_store_list(struct ts_store *st, int (*fn)(void *arg, const char *id),
                  void *arg);

/*
 * The store's audit trail (store/audit.h): opened for appending by the
 * daemon (segment_max: bytes before a new segment), verified by ticketctl
 * (copy: a checkpoint copy kept outside the store, or NULL).
 */
struct ts_audit;
struct ts_audit_checkpoint;
int ts_store_audit_open(struct ts_store *st, const struct ts_seckey *key,
                        size_t segment_max, struct ts_audit **out);
int ts_store_audit_verify(struct ts_store *st, const unsigned char *vk,
                          const struct ts_audit_checkpoint *copy,
                          char *msg, size_t msglen, uint64_t *entries);
/*
 * What a long walk of st (ts_store_audit_verify) tells of its progress:
 * fn(arg, done, total) every so many entries, total an estimate (0:
 * unknown).  NULL: nothing (the default).
 */
typedef void (*ts_store_progress_fn)(void *arg, uint64_t done, uint64_t total);
void ts_store_set_progress(struct ts_store *st, ts_store_progress_fn fn,
                           void *arg);

/*
 * Shared stores (the PostgreSQL backend: several daemons on several
 * hosts serve one store).  A directory store is never shared.
 */
/* 1 if st is a shared store: uids are per host, so the daemon takes its
 * whitelist from -o whitelist=FILE. */
int ts_store_shared(struct ts_store *st);

/* Names this process's host: the daemon's -o hostname, else the machine's
 * host name (the default).  At most TS_HOST_MAX bytes of [A-Za-z0-9._-]
 * (-EINVAL otherwise).  Every audit entry carries it ("host"); a shared
 * store keeps one audit chain a host, and tells other hosts which host
 * made a change.  Call before ts_store_lock and ts_store_audit_open. */
#define TS_HOST_MAX 64
int ts_store_set_host(struct ts_store *st, const char *name);
const char *ts_store_host(struct ts_store *st);

/*
 * Reads ticket id's record now and decodes it as ts_store_load does (the
 * MAC checked): *t malloc'd (free with ts_ticket_free), or -ENOENT if
 * there is no such ticket, -EBADMSG / -EKEYREJECTED as ts_store_load's
 * err.  A shared store then expects the next ts_store_write of id to
 * replace this version.
 */
int ts_store_load_one(struct ts_store *st, const char *id, struct ts_ticket **t);

/*
 * Other hosts' changes.  ts_store_changes_fd: a descriptor to poll(2) for
 * POLLIN, readable when changes may be waiting; -1 if the store has no
 * other hosts (a directory store), or while the database is unreachable.
 * It changes after a reconnect: fetch it anew before each poll, and poll
 * with a timeout (a call of ts_store_changes reconnects and catches up).  ts_store_changes: calls fn(arg, id)
 * once for each ticket another host wrote or removed since the last call
 * (after a lost connection, every one since the last change seen: none
 * is missed); fn re-reads it with ts_store_load_one.  A non-zero return of
 * fn stops the walk; the rest are offered again next call.  Returns how
 * many were offered, or -errno (-EIO: the database is unreachable; call
 * again later).  A write by another host to a ticket this process then
 * writes from its older copy fails that write with -EAGAIN (ts_store_write).
 */
typedef int (*ts_store_change_fn)(void *arg, const char *id);
int ts_store_changes_fd(struct ts_store *st);
int ts_store_changes(struct ts_store *st, ts_store_change_fn fn, void *arg);

/*
 * The store's retention policy (fs/policy.h's format), one a store: a
 * directory store's STORE/policy, a shared store's in the database.  get:
 * *text malloc'd, NUL-terminated, *len bytes.  set: replaces it durably
 * (the caller validated it); the daemons apply it within a second.
 * policy_version: changes whenever the policy does (the daemon polls it
 * once a second; cheap).  A policy is at most TS_POLICY_MAX bytes: get
 * and set refuse a larger one with -EFBIG (whoever wrote it).
 */
#define TS_POLICY_MAX (1u << 20)
int ts_store_policy_get(struct ts_store *st, char **text, size_t *len);
int ts_store_policy_set(struct ts_store *st, const char *text, size_t len);
int ts_store_policy_version(struct ts_store *st, uint64_t *version);

/*
 * What `ticketctl stats` reads of a store besides its tickets, without
 * the key and without a lock, in bounded time (no trail walked, nothing
 * decrypted): intake waiting and rejected; the audit trail's size (a
 * directory store: its segments' bytes; a shared one: the ts_audit
 * table's on disk), its last entry (this process's host's chain:
 * ts_store_host) and that chain's last signed checkpoint: the entry it
 * covers and when it was made (a directory store: its file's mtime; a
 * shared one: the time of the entry it covers), 0 if there is none.  The
 * daemon checkpoints within a second of an append, so entries after the
 * checkpoint for longer than that say it is not checkpointing.
 */
struct ts_store_stats {
	uint64_t intake_waiting;	/* records not taken in yet */
	uint64_t intake_rejected;	/* records set aside as rejected */
	uint64_t trail_bytes;		/* the audit trail's size */
	uint64_t last_seq;		/* the chain's last entry; 0: none */
	uint64_t checkpoint_seq;	/* the entry it covers; 0: none */
	int64_t checkpoint_ms;		/* when; 0: none */
};
int ts_store_stats(struct ts_store *st, struct ts_store_stats *out);

/*
 * A name for st's store, the same in every process of this machine that
 * opens it (for a shared store, per host name: ts_store_host), made of
 * [A-Za-z0-9_.-]: a directory store's "d-DEV-INO" (its directory), a
 * shared store's "p-HASH-HOST" (HASH: of its public key).  The daemon
 * publishes its counters under it (fs/stats.h).
 */
#define TS_STORE_RUN_NAME_MAX 112
#define TS_STORE_RUN_DIR "/run/ticketfs"
int ts_store_run_name(struct ts_store *st, char out[TS_STORE_RUN_NAME_MAX]);

/*
 * 0 if a write could reach the store now, as far as this process knows
 * without asking it: -EIO if a shared store's database is unreachable
 * (its connection is lost and cannot be made again now).  For what
 * commits only at close (a new message): its create fails at once, and a
 * shell's `echo > messages/x`, which never sees close's error, says so.
 * A directory store: always 0.
 */
int ts_store_reachable(struct ts_store *st);

#endif
