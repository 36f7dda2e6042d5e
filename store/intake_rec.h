/*
 * intake_rec: an intake record as a backend hands it to the daemon, the
 * same for every backend.  Each waiting record has a name "STAMP-K-ID":
 * STAMP orders it (a directory store's file name stamp, a shared store's
 * row sequence number), K the letter of its kind (t m a r f e p, for
 * TS_REC_TICKET .. TS_REC_PRUNE), ID the ticket (or request) it is for.
 * The record inside must be what its name says: a front end that names a
 * message for ticket A but puts a record for ticket B in it is refused.
 */
#ifndef TS_INTAKE_REC_H
#define TS_INTAKE_REC_H

#include <stddef.h>
#include <stdint.h>

#include "store/ticket.h"

/* The letter K of intake kind kind; 0 if kind is no intake kind. */
char ts_intake_rec_letter(int kind);

/*
 * Decodes the record buf (len bytes) of intake entry name into *kind and
 * *t (boxes pointing into buf), as ts_record_decode, and checks it is an
 * intake kind and that name ends in "-K-ID" for its kind and t->id.
 * -EBADMSG if not (t then holds nothing to release), -ENOMEM.
 */
int ts_intake_rec_decode(const char *name, const uint8_t *buf, size_t len,
                         int *kind, struct ts_ticket *t);

#endif
