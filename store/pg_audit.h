/*
 * pg_audit: the audit trail of a PostgreSQL store (store/audit.h's
 * ts_audit_* functions work on the handle it opens).  One hash chain a
 * host, in table ts_audit (host, seq, line); each host's signed checkpoint
 * and prune anchor in ts_audit_checkpoint; its forward-secure seals in
 * ts_audit_seals.  MOUNT/audit.log reads every host's entries, in the
 * order they were committed.  (The contract in full: store/pg_audit.c's
 * header.)
 */
#ifndef TS_PG_AUDIT_H
#define TS_PG_AUDIT_H

#include <stddef.h>
#include <stdint.h>

#include "store/audit.h"
#include "store/seal.h"

/* Opens host's chain of the store at uri for appending (its own
 * connection), as ts_audit_open does a directory store's trail. */
int ts_pg_audit_open(const char *uri, const char *host,
                     const struct ts_seckey *key, size_t segment_max,
                     struct ts_audit **out);
/* Verifies every host's chain, as ts_audit_verify: 0 intact, 1 not (msg
 * names the first bad entry and its host), -errno. */
int ts_pg_audit_verify(const char *uri, const unsigned char *vk,
                       const struct ts_audit_checkpoint *copy, char *msg,
                       size_t msglen, uint64_t *entries);
/* The same, reporting progress as ts_audit_verify_progress, a host's
 * chain after another (done starts again at each). */
int ts_pg_audit_verify_progress(const char *uri, const unsigned char *vk,
                                const struct ts_audit_checkpoint *copy,
                                char *msg, size_t msglen, uint64_t *entries,
                                ts_audit_progress_fn fn, void *arg);

/* Checks every host's forward-secure seals of the sealing that seed began
 * (store/audit.h's ts_audit_verify_seed, a host at a time): 0 (msg says
 * how far each is sealed), 1 (msg names the host and what is wrong),
 * -EINVAL for a bad seed, -errno. */
int ts_pg_audit_verify_seed(const char *uri, const char *seed, char *msg,
                            size_t msglen);

#endif
