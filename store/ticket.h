/*
 * ticket: the in-memory model of a ticket, shared by the record codec, the
 * store and the filesystem.  Sealed values are not held here: a struct
 * ts_box names where a box lies in the ticket's record (offset and length),
 * so metadata and exact sizes are known without decrypting anything.
 *
 * The same struct carries every intake record: a whole ticket, one message
 * (id + msg[0]), one authorization (id + auth[0]) or a revocation (id +
 * auth[0] with its name only), an account deletion (a fresh request id +
 * the username box), an erasure (id + erase) or an audit prune (a fresh
 * request id + before_ms).
 */
#ifndef TS_TICKET_H
#define TS_TICKET_H

#include <stddef.h>
#include <stdint.h>

#include "store/util.h"

#define TS_TPK_BYTES 32		/* a ticket's own public key */
#define TS_UHASH_BYTES 16	/* the keyed hash of a username */
#define TS_CLIENT_IP_MAX 45	/* longest text form of an IPv6 address */

enum ts_field {
	TS_F_SUBJECT,
	TS_F_DESCRIPTION,
	TS_F_USERNAME,
	TS_F_EMAIL,
	TS_F_MOBILE,
	TS_F_CONFIDENTIAL,
	TS_F_COUNT
};

enum ts_afield {
	TS_A_ACCOUNT,
	TS_A_PASSWORD,
	TS_A_RESOURCE,
	TS_A_COUNT
};

enum ts_status {
	TS_OPEN,
	TS_PROCESSING,
	TS_PROCESSED,
	TS_STATUS_COUNT
};

struct ts_box {
	uint32_t off;		/* offset of the box in the record */
	uint32_t len;		/* box length; 0 = absent */
};

struct ts_message {
	char name[TS_NAME_MAX + 1];	/* file name under messages/ */
	int64_t stored_ms;	/* when it was stored: the file's mtime */
	struct ts_box box;	/* the sealed text */
	uint32_t slot;		/* in memory only: stable number for inodes */
	uint32_t author;	/* in memory only: uid + 1 of who wrote it
				   through the mount; 0 if none */
};

struct ts_auth {
	char name[TS_NAME_MAX + 1];	/* directory name under authorizations/ */
	int64_t created_ms;	/* when it was granted */
	int64_t expires_ms;	/* its own expiry (plain metadata) */
	struct ts_box box[TS_A_COUNT];	/* account, password, resource */
	uint32_t slot;		/* in memory only: stable number for inodes */
};

struct ts_ticket {
	char id[TS_NAME_MAX + 1];	/* [A-Za-z0-9-], sorts by submission */
	int64_t created_ms;	/* submission time */
	int status;		/* enum ts_status */
	int64_t processing_ms;	/* when it moved to processing; 0 = never */
	int64_t processed_ms;	/* when it moved to processed; 0 = never */
	struct ts_box field[TS_F_COUNT];	/* sealed fields; len 0 = absent */
	struct ts_message *msg;	/* nmsg messages, in the order stored */
	size_t nmsg;
	struct ts_auth *auth;	/* nauth authorizations, in the order granted */
	size_t nauth;
	uint32_t next_slot;	/* in memory only: next message/auth slot */
	int64_t forgotten_ms;	/* when the customer's account was deleted
				   (ticketctl forget); 0 = never */
	int keyed;		/* 1: its values are sealed for its own key
				   pair, tpk; 0: for the store's key (a
				   ticket stored before per-ticket keys) */
	unsigned char tpk[TS_TPK_BYTES];
	int64_t shred_due_ms;	/* an item was removed under the current key,
				   whose re-sealing waits until then so that
				   a burst of removals (rm -r) is re-sealed
				   once; 0 = none (store/shred.c) */
	int has_uhash;		/* 1: uhash holds the username's keyed hash */
	unsigned char uhash[TS_UHASH_BYTES];
	/* Intake records only, never in a stored ticket: */
	struct ts_box keybox;	/* ticket: its secret key, sealed for the
				   store's key, bound to (id, "ticket-key") */
	uint32_t erase;		/* erase: 1u << enum ts_field for each field
				   erased; 0 = the whole ticket */
	int64_t before_ms;	/* audit prune: segments before this go */
	char client_ip[TS_CLIENT_IP_MAX + 1];	/* the client's address, for
				   the trail only; "" if none */
};

/* Names as they appear in the mount: "subject", "account", "open", ... */
extern const char *const ts_field_names[TS_F_COUNT];
extern const char *const ts_afield_names[TS_A_COUNT];

/*
 * Calls fn(arg, box, path) for every present box of t, with the path the
 * box is bound to ("email", "messages/NAME", "authorizations/NAME/FIELD");
 * stops at, and returns, fn's first non-zero return; 0 otherwise.
 */
typedef int (*ts_ticket_box_fn)(void *arg, struct ts_box *b,
                                const char *path);
int ts_ticket_each_box(struct ts_ticket *t, ts_ticket_box_fn fn, void *arg);
extern const char *const ts_status_names[TS_STATUS_COUNT];

/* Largest plaintext, in bytes, accepted for each field. */
extern const uint32_t ts_field_max[TS_F_COUNT];
extern const uint32_t ts_afield_max[TS_A_COUNT];
#define TS_MESSAGE_MAX (1u << 20)
#define TS_AUTH_PER_TICKET 256
#define TS_MSG_PER_TICKET 65535

/* Index of a field, auth field or status named s; -1 if none. */
int ts_field_lookup(const char *s);
int ts_afield_lookup(const char *s);
int ts_status_lookup(const char *s);

/* Size of the plaintext in a box: what st_size shows. */
uint64_t ts_box_plain_len(const struct ts_box *box);

/* Finds a message or authorization by name; NULL if none. */
struct ts_message *ts_ticket_find_msg(const struct ts_ticket *t,
                                      const char *name);
struct ts_auth *ts_ticket_find_auth(const struct ts_ticket *t,
                                    const char *name);

/* Appends a zeroed message / auth; returns it, or NULL (ENOMEM). */
struct ts_message *ts_ticket_add_msg(struct ts_ticket *t);
struct ts_auth *ts_ticket_add_auth(struct ts_ticket *t);

/* Deep copy of src into dst (which is overwritten).  0 or -ENOMEM. */
int ts_ticket_copy(struct ts_ticket *dst, const struct ts_ticket *src);

/* Frees what t holds and zeroes it; t itself is the caller's. */
void ts_ticket_release(struct ts_ticket *t);
/* Releases t, then frees it (a malloc'd ticket: ts_store_load_one). */
void ts_ticket_free(struct ts_ticket *t);

#endif
