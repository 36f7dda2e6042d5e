/*
 * pg_audit_view: MOUNT/audit.log of a PostgreSQL store (store/pg_audit.c's
 * header says what it shows): every host's rows in gseq order as one
 * append-only file, this process's index of each row's gseq and offset,
 * refreshed from the database at most every REFRESH_MS (at once after an
 * append of this process's, which is shipped first if spooled), rows
 * pruned while known read as blanks.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/audit_priv.h"
#include "store/pg_audit_priv.h"

#define REFRESH_MS 200

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int
view_add(struct pg_sink *s, int64_t gseq, uint64_t len)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 1024;
		int64_t *g = realloc(s->gseq, cap * sizeof(*g));
		uint64_t *o;

		if (g == NULL)
			return -ENOMEM;
		s->gseq = g;
		if ((o = realloc(s->off, cap * sizeof(*o))) == NULL)
			return -ENOMEM;
		s->off = o;
		s->cap = cap;
	}
	s->gseq[s->n] = gseq;
	s->off[s->n++] = s->total;
	s->total += len;
	s->last_gseq = gseq;
	return 0;
}

/* The rows committed since the last refresh (vlock held); at most every
 * REFRESH_MS unless this process appended since.  A failure leaves the
 * view as it was (-errno). */
static int
view_refresh(struct pg_sink *s)
{
	int64_t now = mono_ms();
	char last[24];
	const char *v[1] = { last };
	PGresult *r;
	int rc;

	if (!s->dirty && !s->stale && s->refresh_ms != 0 &&
	    now - s->refresh_ms < REFRESH_MS)
		return 0;
	if (s->stale) {
		s->n = 0;
		s->total = 0;
		s->last_gseq = 0;
	}
	snprintf(last, sizeof(last), "%" PRId64, s->last_gseq);
	if ((rc = ts_pg_query(s->pg, "SELECT gseq, octet_length(line) + 1 FROM "
	                      "ts_audit WHERE gseq > $1 ORDER BY gseq", 1, v,
	                      NULL, NULL, 0, &r)) < 0)
		return rc;
	s->stale = 0;
	for (int i = 0; i < PQntuples(r) && rc == 0; i++)
		rc = view_add(s, strtoll(PQgetvalue(r, i, 0), NULL, 10),
		              strtoull(PQgetvalue(r, i, 1), NULL, 10));
	PQclear(r);
	if (rc == 0) {
		s->refresh_ms = now;
		s->dirty = 0;
	}
	return rc;
}

/* This process's own entries, in the database before the view asks it
 * (with a spool: what is queued, shipped and committed; not under vlock,
 * which appends take). */
static void
view_flush(struct pg_sink *s)
{
	int dirty;

	if (s->ship == NULL)
		return;
	pthread_mutex_lock(&s->vlock);
	dirty = s->dirty;
	pthread_mutex_unlock(&s->vlock);
	if (dirty)
		ts_pg_ship_flush(s->ship);	/* down: the view as it is */
}

uint64_t
ts_pg_audit_view_size(struct ts_audit *a)
{
	struct pg_sink *s = pg_sink_of(a);
	uint64_t n;

	view_flush(s);
	pthread_mutex_lock(&s->vlock);
	view_refresh(s);	/* unreachable: the size known */
	n = s->total;
	pthread_mutex_unlock(&s->vlock);
	return n;
}

/* The row holding offset off (off < total). */
static size_t
view_find(const struct pg_sink *s, uint64_t off)
{
	size_t lo = 0, hi = s->n;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->off[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

static uint64_t
row_len(const struct pg_sink *s, size_t i)
{
	return (i + 1 < s->n ? s->off[i + 1] : s->total) - s->off[i];
}

ssize_t
ts_pg_audit_view_read(struct ts_audit *a, void *buf, size_t len, uint64_t off)
{
	struct pg_sink *s = pg_sink_of(a);
	size_t i, j, done = 0;
	char lo[24], hi[24];
	const char *v[2] = { lo, hi };
	PGresult *r;
	int k = 0, nt, rc;

	view_flush(s);
	pthread_mutex_lock(&s->vlock);
	if (off + len > s->total && (rc = view_refresh(s)) < 0 &&
	    off >= s->total) {
		pthread_mutex_unlock(&s->vlock);
		return rc;
	}
	if (off >= s->total || len == 0) {
		pthread_mutex_unlock(&s->vlock);
		return 0;
	}
	if (off + len > s->total)
		len = (size_t)(s->total - off);
	i = view_find(s, off);
	j = view_find(s, off + len - 1);
	snprintf(lo, sizeof(lo), "%" PRId64, s->gseq[i]);
	snprintf(hi, sizeof(hi), "%" PRId64, s->gseq[j]);
	if ((rc = ts_pg_query(s->pg, "SELECT gseq, line FROM ts_audit WHERE "
	                      "gseq BETWEEN $1 AND $2 ORDER BY gseq", 2, v,
	                      NULL, NULL, 0, &r)) < 0) {
		pthread_mutex_unlock(&s->vlock);
		return rc;
	}
	nt = PQntuples(r);
	for (; i <= j; i++) {
		uint64_t rl = row_len(s, i), from, n;
		const char *line = NULL;
		size_t ll = 0;

		while (k < nt && strtoll(PQgetvalue(r, k, 0), NULL, 10) <
		       s->gseq[i])
			k++;
		if (k < nt && strtoll(PQgetvalue(r, k, 0), NULL, 10) ==
		    s->gseq[i]) {
			line = PQgetvalue(r, k, 1);
			ll = (size_t)PQgetlength(r, k, 1);
		} else {
			s->pruned = 1;	/* gone: a blank of its length */
		}
		from = off + done - s->off[i];
		n = rl - from < len - done ? rl - from : len - done;
		/* The row as it was when first seen: its text (an edited
		 * one cut or padded to that length), its '\n' last. */
		for (uint64_t b = from; b < from + n; b++)
			((char *)buf)[done++] = b == rl - 1 ? '\n' :
			                        b < ll ? line[b] : ' ';
	}
	PQclear(r);
	pthread_mutex_unlock(&s->vlock);
	return (ssize_t)done;
}

/* No descriptor holds an offset: after a prune, the view is rebuilt
 * from what remains.  a->lock held. */
void
ts_pg_audit_view_idle(struct ts_audit *a)
{
	struct pg_sink *s = pg_sink_of(a);

	pthread_mutex_lock(&s->vlock);
	if (s->pruned) {
		s->stale = 1;
		s->pruned = 0;
	}
	pthread_mutex_unlock(&s->vlock);
}
