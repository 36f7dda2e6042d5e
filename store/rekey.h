/*
 * rekey: ticketctl rekey, the store's key pair replaced, for either
 * backend.  Everything the store's secret key protects moves to the new
 * key, so that once a rekey ends nothing in the store opens with the old
 * one:
 *   - ticket keys (store/tkey.h) are unwrapped with the old wrapping key
 *     and wrapped with the new one (no X25519: the ticket's own key, and
 *     so its boxes, stay as they are);
 *   - a ticket of before (no ticket key, boxes sealed for the store key)
 *     has its boxes resealed for the new store key: one record write, so
 *     a crash or a second process never leaves a key file that does not
 *     match its record; it gets a ticket key at its next write, as any
 *     ticket of before;
 *   - every record is re-MAC'd, its username hash recomputed (both keys
 *     are derived from the store key);
 *   - the audit trail hands over (store/audit_rekey.h): an entry signed
 *     with the old key names the new verify key; marks re-signed;
 *   - the public key front ends seal for is replaced.
 *
 * The on-store state: a journal (file backend: STORE/rekey; PostgreSQL:
 * ts_meta row 'rekey'), text lines
 *     ticketfs-rekey 1
 *     state begun | done
 *     old <hex of the old public key>
 *     new <hex of the new public key>
 *     oldkey <hex: the old secret key sealed for the new public key>
 *     mac <hex: keyed BLAKE2b of old, new and oldkey, keyed from the
 *          new secret key (purpose TS_REKEY_MAC_PURPOSE)>
 *     time <when it began>
 * (oldkey and mac only while begun: anyone can seal a key for the public
 * one, so only the mac tells that the old key is the one whose holder
 * began the rekey, not one planted by a writer of the store).  The commit point is the public key's
 * replacement: before it the store is the old key's (it mounts with it;
 * nothing was changed but the trail's hand-over entry), after it the new
 * key's.  What lies between the commit and "done" is a mix (each ticket
 * key and record either key's: a ticket key knows its wrapping key by
 * which one opens it, a record by which MAC checks), which only
 * ts_store_rekey_finish reads: the daemon started with the new key runs
 * it first (ts_store_rekey_resume, the old key from the journal), as does
 * ticketctl rekey run again.  Every step is idempotent, and each record
 * and key is replaced only if it is still what was read (a compare and
 * swap), so a process killed at any point, or two at once, are safe.
 * "done" stays, without the old key, so the daemon can say why an old
 * key no longer mounts.
 *
 * Functions return 0 or -errno.
 */
#ifndef TS_REKEY_H
#define TS_REKEY_H

#include <stddef.h>
#include <stdint.h>

#include "store/audit.h"
#include "store/seal.h"
#include "store/store.h"
#include "store/tkey.h"

#define TS_REKEY_MAC_PURPOSE "rekey-journal"	/* for ts_seal_derive() */
#define TS_REKEY_MACBYTES 32

struct ts_rekey_journal {
	int done;		/* state done: the rekey ended */
	unsigned char old_pk[TS_SEAL_PKBYTES];
	unsigned char new_pk[TS_SEAL_PKBYTES];
	unsigned char oldkey[TS_TKEY_BOXBYTES];	/* begun only */
	unsigned char mac[TS_REKEY_MACBYTES];	/* begun only */
	int64_t ms;		/* when it began */
};

/* The journal's text (malloc'd, NUL-terminated). */
int ts_rekey_journal_encode(const struct ts_rekey_journal *j, char **text);
/* Parses it: -EBADMSG if it is not one. */
int ts_rekey_journal_decode(const char *text, size_t len,
                            struct ts_rekey_journal *j);

/* st's journal: 0, -ENOENT if there is none, -EBADMSG if damaged. */
int ts_store_rekey_journal(struct ts_store *st, struct ts_rekey_journal *j);
/* Writes the journal begun from old to key (old's secret sealed for
 * key), durably, replacing a begun one (a run before its commit). */
int ts_store_rekey_begin(struct ts_store *st, const struct ts_seckey *old,
                         const struct ts_seckey *key);
/* The old key out of a begun journal, opened with key (the new one):
 * *old sodium_malloc'd; -EKEYREJECTED if key is not the journal's new or
 * did not write the journal (its mac does not check). */
int ts_store_rekey_old_key(const struct ts_rekey_journal *j,
                           const struct ts_seckey *key,
                           struct ts_seckey **old);

/* Intake waiting to be taken in (a rekey refuses to start while any
 * does: it is sealed for the old key). */
int ts_store_rekey_intake(struct ts_store *st, uint64_t *n);
/* 1 if another process's daemon holds the store (any host's), 0 if not. */
int ts_store_rekey_in_use(struct ts_store *st);

/*
 * The trail's hand-over, under the old key: the trail opened with old,
 * one entry appended (op "rekey", detail "store key replaced: verify key
 * OLDVK -> NEWVK, handover SIG; public key OLDPK -> NEWPK", who's uid,
 * pid and comm), a checkpoint signed over it, closed.  -errno as
 * ts_store_audit_open (a trail that does not open with old is refused).
 */
int ts_store_rekey_handover(struct ts_store *st, const struct ts_seckey *old,
                            const struct ts_seckey *key,
                            const struct ts_audit_entry *who);
/* The commit: the store's public key becomes key's, durably. */
int ts_store_rekey_commit(struct ts_store *st, const struct ts_seckey *key);

struct ts_rekey_counts {
	uint64_t tickets;	/* records seen */
	uint64_t records;	/* of them re-MAC'd by this run */
	uint64_t legacy;	/* of them resealed (tickets of before) */
	uint64_t keys;		/* key files rewrapped by this run */
	uint64_t damaged;	/* records or key files neither key opens:
				   left as they are (fsck names them) */
	unsigned marks_bad;	/* trail marks neither key signed: left */
	char first_damaged[TS_NAME_MAX + 8];	/* one of them, "" if none */
};
/* Called after each key file and record (done of total). */
typedef void (*ts_rekey_progress_fn)(void *arg, uint64_t done, uint64_t total);

/*
 * After the commit: sets key on st (ts_store_set_key), re-signs the
 * trail's marks, rewraps every key file and re-MACs every record that is
 * still old's, then marks the journal done.  Idempotent.  out (zeroed
 * first) says what it did.
 */
int ts_store_rekey_finish(struct ts_store *st, const struct ts_seckey *old,
                          const struct ts_seckey *key,
                          ts_rekey_progress_fn progress, void *arg,
                          struct ts_rekey_counts *out);

/*
 * For the daemon, given key (the store's key by its public key): if a
 * committed rekey to key is unfinished, finishes it (the old key from the
 * journal): 1; 0 if there is none to finish.  -errno as finish.
 */
int ts_store_rekey_resume(struct ts_store *st, const struct ts_seckey *key,
                          struct ts_rekey_counts *out);

#endif
