/*
 * audit_rekey: the audit trail's side of ticketctl rekey (store/rekey.h).
 * The trail's checkpoint key is derived from the store's secret key, so a
 * new store key means a new verify key.  The hand-over: before the store
 * changes keys, the old key appends an entry (op "rekey") naming both
 * verify keys and carrying the old checkpoint key's signature over them
 * (ts_audit_handover_sign), and signs a checkpoint over it; then every
 * signed mark (checkpoint, prune anchor) is re-signed with the new key,
 * which checks it with the old key's verify key first (a mark neither key
 * signed is never re-signed: it would vouch for a forgery), and the
 * verify key is replaced.  The chain itself is unkeyed and unchanged, so
 * `audit verify` passes across the rekey; whoever kept the old verify key
 * can check that the old key handed over to the new one.
 */
#ifndef TS_AUDIT_REKEY_H
#define TS_AUDIT_REKEY_H

#include <stddef.h>

#include "store/audit.h"
#include "store/seal.h"

#define TS_AUDIT_HANDOVER_SIGHEX (2 * 64 + 1)

/* The hand-over signature (hex into sig): old's checkpoint key over
 * (domain, old's verify key, new verify key nvk). */
void ts_audit_handover_sign(const struct ts_seckey *old,
                            const unsigned char nvk[32],
                            char sig[TS_AUDIT_HANDOVER_SIGHEX]);
/* 0 if sig (hex) is verify key ovk's hand-over to nvk, else -EBADMSG. */
int ts_audit_handover_check(const unsigned char ovk[32],
                            const unsigned char nvk[32], const char *sig);

/*
 * Mark m (a checkpoint, or with anchor a prune anchor) re-signed with
 * key's checkpoint key, its file text into text and *len: 1 if old had
 * signed it, 0 if key had already (text untouched), -EBADMSG if neither.
 */
int ts_audit_mark_resign(const struct ts_seckey *old,
                         const struct ts_seckey *key, int anchor,
                         struct ts_audit_checkpoint *m, char text[512],
                         size_t *len);

/*
 * A directory store's trail (STORE/audit under storefd): checkpoint and
 * anchor re-signed (ts_audit_mark_resign), then verify.key replaced, each
 * durably.  A mark signed by neither key is left and counted in *bad.
 * 0 (also when there is no trail), or -errno.
 */
int ts_audit_file_resign(int storefd, const struct ts_seckey *old,
                         const struct ts_seckey *key, unsigned *bad);

#endif
