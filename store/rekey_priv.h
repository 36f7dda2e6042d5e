/*
 * rekey_priv: what store/rekey.c (ticketctl rekey) needs of a backend
 * beyond struct ts_store_ops.  Each backend has one table
 * (file_rekey.c, pg_rekey.c) named by its ops' rekey field; only
 * rekey.c calls these.  All return 0 or -errno.
 */
#ifndef TS_REKEY_PRIV_H
#define TS_REKEY_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "store/seal.h"
#include "store/store.h"

struct ts_rekey_ops {
	/* The rekey journal (store/rekey.h's text): *text malloc'd and
	 * NUL-terminated, -ENOENT if there is none; put replaces it
	 * whole, atomically and durably. */
	int (*journal_get)(struct ts_store *st, char **text, size_t *len);
	int (*journal_put)(struct ts_store *st, const char *text, size_t len);
	/* Replaces the store's public key (what front ends seal for),
	 * atomically and durably: rekey's commit. */
	int (*pubkey_set)(struct ts_store *st,
	                  const unsigned char pk[TS_SEAL_PKBYTES]);
	/* How many intake records wait to be taken in (not rejected). */
	int (*intake_count)(struct ts_store *st, uint64_t *n);
	/* 1 if a daemon (any host's, for a shared store) other than this
	 * process holds the store, 0 if none. */
	int (*in_use)(struct ts_store *st);
	/* Replaces ticket id's record with rec if it still is old (the
	 * same bytes), durably; -EAGAIN if it is not (written meanwhile),
	 * -ENOENT if it is gone. */
	int (*record_swap)(struct ts_store *st, const char *id,
	                   const uint8_t *old, size_t oldlen,
	                   const uint8_t *rec, size_t len);
	/* The same for ticket id's current (next 0) or next key file. */
	int (*key_swap)(struct ts_store *st, const char *id, int next,
	                const uint8_t *old, size_t oldlen, const uint8_t *key,
	                size_t len);
	/*
	 * The audit trail's signed marks (checkpoints, anchors: each
	 * host's, for a shared store) re-signed with the new key's
	 * checkpoint key, and the verify key replaced.  A mark signed by
	 * neither key is left as it is and counted in *bad.  Idempotent.
	 */
	int (*audit_resign)(struct ts_store *st, const struct ts_seckey *old,
	                    const struct ts_seckey *key, unsigned *bad);
};

/* The backends' tables (file_rekey.c, pg_rekey.c). */
extern const struct ts_rekey_ops ts_file_rekey_ops;
extern const struct ts_rekey_ops ts_pg_rekey_ops;

#endif
