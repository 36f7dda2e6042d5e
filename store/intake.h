/*
 * intake: turns what a customer submits (ticket JSON, authorization JSON,
 * message text, a revocation, an account deletion, an erasure) into
 * sealed intake records, with the public
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
#include "store/ticket.h"
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
 * An account deletion (ticketctl forget): username (len bytes, UTF-8, no
 * NUL, at most the username's limit) sealed for pk, bound to (reqid,
 * "username"), in a TS_REC_FORGET record whose id is reqid, a fresh id
 * (ts_id_new()) naming the request.
 */
int ts_intake_forget(const unsigned char pk[TS_SEAL_PKBYTES], const char *reqid,
                     const char *username, size_t len, uint8_t **rec,
                     size_t *reclen, char *err, size_t errlen);

/* The fields a customer may erase: email, mobile, confidential. */
#define TS_INTAKE_ERASABLE (1u << TS_F_EMAIL | 1u << TS_F_MOBILE | \
                            1u << TS_F_CONFIDENTIAL)

/*
 * The customer's own erasure (ticketctl erase) of ticket id: the fields
 * in mask (1u << enum ts_field, only TS_INTAKE_ERASABLE ones), or with
 * mask 0 the whole ticket.  A TS_REC_ERASE record.
 */
int ts_intake_erase(const char *id, uint32_t mask, uint8_t **rec,
                    size_t *reclen, char *err, size_t errlen);

/*
 * Sets the client's address of intake record *rec (any kind, as a builder
 * above made it) to ip, an IPv4 or IPv6 address in text form, replacing
 * *rec and *reclen with the re-encoded record; ip NULL: nothing changes.
 * The address is for the audit entry of the intake only (the daemon never
 * stores it with a ticket).  A ticket's or an authorization's JSON may
 * also carry it as "client_ip"; this setter overrides that.  -EINVAL
 * (err says why; *rec unchanged) if ip is no address.
 */
int ts_intake_set_client_ip(uint8_t **rec, size_t *reclen, const char *ip,
                            char *err, size_t errlen);
/* 0 if ip is an IPv4 or IPv6 address in text form; else -EINVAL, err
 * naming the problem. */
int ts_intake_client_ip_check(const char *ip, char *err, size_t errlen);

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
