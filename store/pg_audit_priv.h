/*
 * pg_audit_priv: what the files of a PostgreSQL store's audit trail share
 * (pg_audit.c: the sink, open, append, checkpoint, prune, seals;
 * pg_audit_view.c: audit.log over every host; pg_audit_verify.c: verify
 * of every host's chain and seals).  Calls run one way: pg_audit.c names
 * the view's functions in its ops table; pg_audit_verify.c calls
 * pg_audit.c's marks_load; the view calls neither.
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

struct pg_sink {
	struct ts_pg *pg;		/* this trail's own connection */
	unsigned long locked_gen;	/* the connection generation the
					   chain lock was taken on (0: not
					   held); guarded by a->lock */
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

#endif
