/*
 * intake: turns what a customer submits (ticket JSON, authorization JSON,
 * message text, a revocation) into sealed intake records, with the public
 * key alone.  Validation is strict and happens here, once: a missing
 * required key, an unknown key, a wrong type, invalid UTF-8, an oversize or
 * empty value, an unparseable or past `expires` are refused with a message
 * naming the problem.
 *
 * Each function returns 0 and a malloc'd record (*rec, *reclen), or
 * -EINVAL with a one-line reason in err (errlen bytes), or -ENOMEM.
 * Plaintext copies made along the way are wiped before return.
 */
#ifndef TS_INTAKE_H
#define TS_INTAKE_H

#include <stddef.h>
#include <stdint.h>

#include "store/seal.h"
#include "store/util.h"

/* One ticket from JSON; id is the new ticket's id (ts_id_new()). */
int ts_intake_ticket(const unsigned char pk[TS_SEAL_PKBYTES], const char *id,
                     const char *json, size_t len, int64_t now_ms,
                     uint8_t **rec, size_t *reclen, char *err, size_t errlen);

/* One authorization (the object form of the intake list) for ticket id,
 * named name. */
int ts_intake_auth(const unsigned char pk[TS_SEAL_PKBYTES], const char *id,
                   const char *name, const char *json, size_t len,
                   int64_t now_ms, uint8_t **rec, size_t *reclen, char *err,
                   size_t errlen);

/* One message (UTF-8 text, no NUL) for ticket id, named name. */
int ts_intake_message(const unsigned char pk[TS_SEAL_PKBYTES], const char *id,
                      const char *name, const char *text, size_t len,
                      int64_t now_ms, uint8_t **rec, size_t *reclen,
                      char *err, size_t errlen);

/* A revocation of authorization name of ticket id. */
int ts_intake_revoke(const char *id, const char *name, uint8_t **rec,
                     size_t *reclen, char *err, size_t errlen);

/*
 * Seals value (len bytes) for ticket id and field path, adding the final
 * newline every file of the mount ends in, and appends the box to *blob
 * (realloc'd; *bloblen grows).  Sets *box to where it landed.  Used by the
 * daemon for messages written through the mount, too.
 */
struct ts_box;
int ts_intake_seal_append(const unsigned char pk[TS_SEAL_PKBYTES],
                          const char *id, const char *field,
                          const char *value, size_t len, uint8_t **blob,
                          size_t *bloblen, struct ts_box *box);

#endif
