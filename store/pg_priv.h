/*
 * pg_priv: the PostgreSQL backend's private state, and the functions its
 * files share.  Only the backend's .c files include it.  Each file owns
 * one part of the state (its own struct, defined in that file):
 *   store_pg.c    the ops table; create (schema, migrations), open, close,
 *                 the host lock, the public key, set_key
 *   pg_tickets.c  tickets: load, load_one, write (versioned), remove,
 *                 read_box, read_boxes (on the readers' connections),
 *                 read_record, list; ticket keys (pg_keys.c)
 *   pg_intake.c   intake: batches, poll (claims), rejected, ticket_known
 *   pg_changes.c  LISTEN ts_changes: changes_fd, changes
 *   pg_meta.c     the policy (and its version)
 *   pg_audit.c    the audit trail: one chain a host (store/pg_audit.h)
 * Calls run one way: store_pg.c names the others; the others may call
 * pg_conn.c (and store_pg.c's pg_of), none calls store_pg.c's ops.
 */
#ifndef TS_PG_PRIV_H
#define TS_PG_PRIV_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "store/pg_conn.h"
#include "store/store_backend.h"

/* The reader connections a store may open beside its main one
 * (read_boxes: the prefetch workers, one a core, share them). */
#define PG_READERS 4

/*
 * The host lock's key (pg_try_advisory_lock's one bigint) for the host
 * name held by SQL expression NAME: store_pg.c takes it, pg_intake.c
 * looks it up in pg_locks (a one-key advisory lock shows there as classid
 * = key >> 32, objid = key & 0xffffffff, objsubid 1).
 */
#define PG_HOST_LOCK_KEY(NAME) "hashtext('ticketfs:' || " NAME ")"

struct pg_tickets;
struct pg_reccache;
struct pg_intake;
struct pg_changes;

struct pg_store {
	struct ts_store base;	/* ops; must stay first */
	enum ts_store_mode mode;
	struct ts_pg *pg;	/* this handle's connection */
	struct ts_pg_pool *readers;	/* read_boxes' connections (each made
				   at its first use), apart from pg */
	char *uri;		/* as given (never logged: it may hold a
				   password) */
	unsigned char *reckey;	/* the records' MAC key (sodium_malloc'd);
				   NULL: no key given (ticketctl) */
	struct pg_tickets *tickets;	/* pg_tickets.c's state */
	struct pg_reccache *reccache;	/* pg_reccache.c's; NULL but for a
				   daemon */
	struct pg_intake *intake;	/* pg_intake.c's state */
	struct pg_changes *changes;	/* pg_changes.c's; NULL until used */
	int locked;		/* the host lock is held (store_pg.c) */
	unsigned long lock_gen;	/* ts_pg_generation when it was taken: a
				   reconnect lost it, it is taken again */
};

static inline struct pg_store *
pg_of(struct ts_store *st)
{
	return (struct pg_store *)st;
}

/* ts_pg_query for tickets and keys: a statement that ran out of time
 * (statement or lock timeout: not committed) fails as one the database
 * could not answer, -EIO, what a read or write through the mount says. */
static inline int
pg_query_io(struct ts_pg *pg, const char *sql, int n, const char *const *v,
            const int *len, const int *fmt, int binary, PGresult **res)
{
	int rc = ts_pg_query(pg, sql, n, v, len, fmt, binary, res);

	return rc == -ETIMEDOUT ? -EIO : rc;
}

/* pg_tickets.c: ts_tickets.  Each has the contract of the ts_store_*
 * function of the same name (store.h); writes and removals add a
 * ts_changes row and NOTIFY ts_changes in their transaction. */
int ts_pg_tickets_init(struct pg_store *ps);
/* pg_stats.c: ts_store_stats (store.h). */
int ts_pg_stats(struct ts_store *st, struct ts_store_stats *out);
int ts_pg_held(struct ts_store *st);
void ts_pg_tickets_free(struct pg_store *ps);
int ts_pg_load(struct ts_store *st, ts_store_ticket_fn fn, void *arg);
/* The ids this process has a row version of (loaded or written), a
 * snapshot: *ids malloc'd, *n of them (pg_changes.c's full re-read).
 * 0 or -ENOMEM. */
int ts_pg_tickets_known(struct pg_store *ps, char (**ids)[TS_NAME_MAX + 1],
                        size_t *n);
/* 1 if this process knows a version of id's row, else 0. */
int ts_pg_tickets_is_known(struct pg_store *ps, const char *id);
/* The version of id's row this process knows (loaded or wrote), 0 if
 * none. */
int64_t ts_pg_tickets_ver(struct pg_store *ps, const char *id);

/*
 * pg_reccache.c: a daemon's records read last (see there), at most
 * PG_RC_BYTES of them, none over PG_RC_ONE.  init: ps->reccache (a
 * daemon's store only).  read: the n boxes of id (and, key non-NULL,
 * its current key row, as read_boxes's key) from the entry of id's row
 * at the version this process knows, else from one statement on pg that
 * reads the row and key row and keeps them: 0, -errno as read_boxes, or
 * 1 if it did not serve them (no cache, a row not known here, a record
 * over PG_RC_ONE: the caller reads by substring).  drop: forgets id's
 * entry (its row or key rows were written); any thread.
 */
#define PG_RC_BYTES (128u << 20)
#define PG_RC_ONE (2u << 20)
int ts_pg_reccache_init(struct pg_store *ps);
void ts_pg_reccache_free(struct pg_store *ps);
int ts_pg_reccache_read(struct pg_store *ps, struct ts_pg *pg, const char *id,
                        const struct ts_box *boxes, size_t n,
                        uint8_t *const *bufs, uint8_t **key, size_t *keylen);
void ts_pg_reccache_drop(struct pg_store *ps, const char *id);

int ts_pg_load_one(struct ts_store *st, const char *id, struct ts_ticket **t);
int ts_pg_write(struct ts_store *st, struct ts_ticket *t,
                const uint8_t *extra);
int ts_pg_remove(struct ts_store *st, const char *id);
int ts_pg_read_box(struct ts_store *st, const char *id,
                   const struct ts_box *box, uint8_t *buf);
int ts_pg_read_boxes(struct ts_store *st, const char *id,
                     const struct ts_box *boxes, size_t n,
                     uint8_t *const *bufs, uint8_t **key, size_t *keylen);
int ts_pg_read_record(struct ts_store *st, const char *id, uint8_t **buf,
                      size_t *len);
int ts_pg_read_for_write(struct ts_store *st, const char *id, uint8_t **buf,
                         size_t *len);
int ts_pg_list(struct ts_store *st, int (*fn)(void *arg, const char *id),
               void *arg);
/* ts_store_ticket_known of a daemon-mode handle (reads ts_tickets and
 * ts_intake; an intake-mode one has pg_intake.c's). */
int pg_ticket_known(struct ts_store *st, const char *id);

/* pg_keys.c: ts_ticket_keys.  Each has the contract of the op of the
 * same name (store_backend.h). */
int ts_pg_key_get(struct ts_store *st, const char *id, int next,
                  uint8_t **buf, size_t *len);
int ts_pg_key_put(struct ts_store *st, const char *id, int next,
                  const uint8_t *buf, size_t len);
int ts_pg_key_promote(struct ts_store *st, const char *id);
int ts_pg_key_del(struct ts_store *st, const char *id, int what);
int ts_pg_key_list(struct ts_store *st,
                   int (*fn)(void *arg, const char *id, int next),
                   void *arg);

/*
 * pg_intake.c: intake, each with the contract of the ts_store_* function
 * of the same name (store.h): a batch (one transaction of COPY rows,
 * INSERT only, so a front end's role suffices), intake_poll (claims: exactly one daemon
 * takes each row), ticket_known of an intake-mode handle (the SECURITY
 * DEFINER function ts_ticket_known: a front end's role reads no table).
 * ts_pg_intake_free frees ps->intake (NULL: nothing), for close; the
 * state is made at the first poll.
 */
int ts_pg_intake_poll(struct ts_store *st, ts_store_intake_fn fn, void *arg,
                      int *more);
int ts_pg_intake_begin(struct ts_store *st, void **batch);
int ts_pg_intake_add(struct ts_store *st, void *batch,
                     const struct ts_intake_item *v, size_t n);
int ts_pg_intake_commit(struct ts_store *st, void *batch, size_t *done);
void ts_pg_intake_abort(struct ts_store *st, void *batch);
int ts_pg_intake_ticket_known(struct ts_store *st, const char *id);
void ts_pg_intake_free(struct pg_store *ps);
/* Gives up every claim this handle's host name holds (store_pg.c's lock,
 * once the host lock is taken: a daemon of this name that was killed left
 * them, and no other daemon takes them while the name's lock is held).
 * 0 or -errno. */
int ts_pg_intake_release_host(struct pg_store *ps);

/* pg_changes.c: other hosts' changes (LISTEN ts_changes on a connection
 * of its own; the file's header says how nothing is missed). */
/* Starts listening and marks where the changes to offer begin: call it
 * before the load reads the tickets (store_pg.c's load does), so that no
 * change between the load and the LISTEN is missed.  Idempotent; 0 or
 * -errno (-EIO: the database is unreachable). */
int pg_changes_start(struct pg_store *ps);
/* Closes the listener (store_pg.c's close). */
void pg_changes_free(struct pg_store *ps);
/* The ops changes_fd and changes (store.h).  The descriptor is the
 * listener's socket: it changes after a reconnect, so the caller fetches
 * it again before each poll (-1 while the database is unreachable: poll
 * with a timeout then, and call pg_changes, which reconnects). */
int pg_changes_fd(struct ts_store *st);
int pg_changes(struct ts_store *st, ts_store_change_fn fn, void *arg);
/* Makes the last change taken ms older, as if the process had been away
 * that long (the tests' way to an outage of an hour). */
void pg_changes_backdate(struct pg_store *ps, int64_t ms);

/* pg_meta.c: the policy (ts_meta 'policy').  Each has the contract of the
 * ts_store_* function of the same name (store.h). */
int ts_pg_policy_get(struct ts_store *st, char **text, size_t *len);
int ts_pg_policy_set(struct ts_store *st, const char *text, size_t len);
int ts_pg_policy_version(struct ts_store *st, uint64_t *version);

#endif
