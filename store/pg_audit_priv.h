/*
 * pg_audit_priv: what the files of a PostgreSQL store's audit trail share
 * (pg_audit.c: the sink, open, append, checkpoint, prune, seals;
 * pg_audit_view.c: audit.log over every host; pg_audit_verify.c: verify
 * of every host's chain and seals; pg_audit_ship.c: appends through the
 * local spool, pg_audit_spool.c its file).  Calls run one way: pg_audit.c
 * names the view's functions in its ops table and calls the shipper's;
 * the view calls the shipper's flush; pg_audit_verify.c calls
 * pg_audit.c's marks_load; the shipper calls the sink's hash_at (at its
 * start) and the spool's.
 */
#ifndef TS_PG_AUDIT_PRIV_H
#define TS_PG_AUDIT_PRIV_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "store/audit.h"
#include "store/pg_conn.h"

#define VK_NAME "audit_verify_key"	/* ts_meta: the verify key, hex */
#define BATCH "2000"			/* rows a query when walking */

struct pg_ship;

struct pg_sink {
	struct ts_pg *pg;		/* this trail's own connection (with a
					   spool: all but the appends') */
	struct pg_ship *ship;	/* appends through the spool, or NULL:
				   each a round trip; set before appends */
	unsigned long locked_gen;	/* the connection generation the
					   chain lock was taken on (0: not
					   held); guarded by a->lock; no
					   spool only */
	int64_t first_ms;	/* time of the oldest prunable row; 0:
				   unknown, INT64_MAX: none / refused;
				   guarded by a->lock */
	pthread_mutex_t vlock;	/* the view's, inside a->lock */
	int64_t *gseq;		/* the view's rows, in order; guarded by
				   vlock */
	uint64_t *off;		/* where each starts in audit.log */
	size_t n, cap;		/* rows, room */
	uint64_t total;		/* audit.log's size */
	int64_t last_gseq;	/* the last row known */
	int64_t refresh_ms;	/* when the view last asked the database */
	int dirty;		/* appended since: refresh at once */
	int pruned;		/* rows known are gone: rebuild when idle */
	int stale;		/* rebuild at the next refresh */
};

static inline struct pg_sink *
pg_sink_of(struct ts_audit *a)
{
	return (struct pg_sink *)a->sink;
}

/* host's checkpoint and anchor rows into cp / an (*have_*: found), their
 * signatures not checked: 0, -EBADMSG if damaged, -errno. */
int ts_pg_audit_marks_load(struct ts_pg *pg, const char *host,
                           struct ts_audit_checkpoint *cp, int *have_cp,
                           struct ts_audit_checkpoint *an, int *have_an);

/* pg_audit_view.c: the ops table's size, read and view_idle. */
uint64_t ts_pg_audit_view_size(struct ts_audit *a);
ssize_t ts_pg_audit_view_read(struct ts_audit *a, void *buf, size_t len,
                              uint64_t off);
void ts_pg_audit_view_idle(struct ts_audit *a);

/*
 * pg_audit_ship.c.  ts_pg_ship_start: opens and locks the spool at path,
 * ships what the last run left in it after the chain's tail (a->seq,
 * a->hash, moved on) on *pgp, which holds the chain's lock and becomes the
 * shipper's (*pgp is given a new connection), and starts the shipper.
 * 0, 1 (a note for the log in msg: entries recovered, a cut line
 * dropped), or -errno with msg (-EBADMSG: the spool does not meet the
 * chain; -EBUSY: another process holds it).  The thread is not started
 * yet (ts_pg_ship_run).
 */
int ts_pg_ship_start(struct ts_audit *a, struct ts_pg **pgp, const char *path,
                     struct pg_ship **out, char *msg, size_t msglen);
/* Starts the shipper thread (ts_audit_start): 0 or -errno. */
int ts_pg_ship_run(struct pg_ship *sh);
/* Stops the shipper; the spool is emptied if nothing is left queued. */
void ts_pg_ship_stop(struct pg_ship *sh);
/* The sink's prepare: 0, or -EIO while appends are refused. */
int ts_pg_ship_ready(struct pg_ship *sh);
/* Entry seq (line, len bytes with its '\n') into the spool and the
 * queue: 0, or -errno and nothing stored (fail closed). */
int ts_pg_ship_append(struct pg_ship *sh, uint64_t seq, const char *line,
                      size_t len);
/* Ships everything queued now and waits until it is committed: 0, -EIO
 * (down), -ETIMEDOUT. */
int ts_pg_ship_flush(struct pg_ship *sh);
/* The last entry committed to the database. */
uint64_t ts_pg_ship_shipped(struct pg_ship *sh);

#endif
