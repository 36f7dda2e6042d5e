/*
 * pg_changes: other hosts' changes to tickets, for a daemon of a shared
 * store (ts_store_changes_fd / ts_store_changes, store.h).
 *
 * Every write or removal of a ticket inserts a ts_changes row (n from a
 * bigserial, the ticket's id, the writing host) and sends NOTIFY
 * ts_changes 'N ID HOST' in its own transaction (pg_tickets.c).  This file
 * LISTENs on a connection of its own, so that the store's connection is
 * never held by a wait, and offers the ids of other hosts' rows.
 *
 * What was seen: hwm, the highest n seen, and the gaps, every n below hwm
 * not seen yet.  A gap is a transaction that took its n and has not
 * committed (bigserial values are taken in one order and committed in
 * another) or one that rolled back: when it commits its notification
 * arrives and is taken like any other; a gap still open after GAP_MS is
 * given up (rolled back).  A notification for an n at or below hwm that is
 * no gap is one seen already (from a catch-up read) and is skipped.
 *
 * The ordering that misses nothing, from the first use on:
 *   1. LISTEN (from now on every commit is notified to us),
 *   2. hwm = max(n), the gaps = the n's missing in the last START_SPAN
 *      below it (transactions in flight),
 *   3. the daemon loads the tickets (a later snapshot: a change committed
 *      between 2 and 3 is loaded and also offered, which costs a re-read).
 * So pg_changes_start must run before the store's load reads its rows:
 * store_pg.c's load calls it first (and ts_store_changes_fd or
 * ts_store_changes call it too, for a store that never loads).
 *
 * After a reconnect (ts_pg_generation moved on), notifications sent while
 * away are lost: LISTEN again, then read every row with n > hwm or n in a
 * gap (a catch-up, repeated until it returns less than a full page).
 * A notification is only a wake-up for a catch-up: its payload is not
 * read, for any role that may connect (a front end's too) can NOTIFY, and
 * only the table is written by daemons alone (ticketctl grant).
 *
 * Rows older than an hour are deleted now and then (each daemon does
 * it; the DELETE is idempotent).  A daemon that took no change for
 * FULL_AFTER_MS (the database unreachable, the process stopped) may have
 * missed rows pruned meanwhile, so it offers every ticket instead: each
 * id it knows (changed or removed since) and each id of the store it
 * does not (made since), FULL_PAGE a call, after the changes it read.
 */
#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/pg_priv.h"

#define GAP_MS (60 * 1000)	/* a gap older than this rolled back */
#define GAP_MAX 10000		/* gaps kept at most (the oldest go) */
#define START_SPAN 10000	/* n's below max(n) checked at the start */
#define PAGE 10000		/* rows a catch-up read returns at most */
#define PRUNE_EVERY_MS (5 * 60 * 1000)
#define FULL_AFTER_MS (50 * 60 * 1000)	/* < the rows' hour, with margin */
#define FULL_PAGE 2000		/* ids a call offers in a full re-read */
#define PRUNE_SQL \
	"DELETE FROM ts_changes WHERE at < now() - interval '1 hour'"

struct gap {
	int64_t n;		/* a sequence value not seen */
	int64_t since_ms;	/* since when (monotonic ms) */
};

struct pg_changes {
	struct ts_pg *pg;	/* the listener's own connection */
	unsigned long gen;	/* generation LISTENed on; 0 none */
	int64_t hwm;		/* highest n seen */
	struct gap *gaps;	/* n < hwm not seen yet, ascending n */
	size_t ngaps, capgaps;
	int catchup;		/* rows to read (reconnect, bad payload) */
	char (*todo)[TS_NAME_MAX + 1];	/* ids to offer, each once */
	size_t ntodo, captodo;
	int64_t pruned_ms;	/* last prune (monotonic ms); 0 never */
	int64_t ok_ms;		/* when every change committed till then
				   was last taken (monotonic ms) */
	char (*full)[TS_NAME_MAX + 1];	/* a full re-read's ids, or NULL */
	size_t nfull, capfull, atfull;	/* how many, room; the next */
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Appends gap n (ascending order kept by the callers: n > every gap). */
static void
gap_add(struct pg_changes *pc, int64_t n, int64_t now)
{
	if (pc->ngaps == GAP_MAX) {	/* the oldest go: keep the newest */
		memmove(pc->gaps, pc->gaps + 1,
		        (pc->ngaps - 1) * sizeof(*pc->gaps));
		pc->ngaps--;
	}
	if (pc->ngaps == pc->capgaps) {
		size_t cap = pc->capgaps ? 2 * pc->capgaps : 64;
		struct gap *v = realloc(pc->gaps, cap * sizeof(*v));

		if (v == NULL)
			return;	/* lost: only a late commit could be missed */
		pc->gaps = v;
		pc->capgaps = cap;
	}
	pc->gaps[pc->ngaps++] = (struct gap){ n, now };
}

/* Where gap n is in the gaps, or -1. */
static ptrdiff_t
gap_find(const struct pg_changes *pc, int64_t n)
{
	size_t lo = 0, hi = pc->ngaps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pc->gaps[mid].n == n)
			return (ptrdiff_t)mid;
		if (pc->gaps[mid].n < n)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int
gap_has(const struct pg_changes *pc, int64_t n)
{
	return gap_find(pc, n) >= 0;
}

/* Takes n out of the gaps. */
static void
gap_take(struct pg_changes *pc, int64_t n)
{
	ptrdiff_t i = gap_find(pc, n);

	if (i < 0)
		return;
	memmove(&pc->gaps[i], &pc->gaps[i + 1],
	        (pc->ngaps - (size_t)i - 1) * sizeof(*pc->gaps));
	pc->ngaps--;
}

static void
gaps_expire(struct pg_changes *pc, int64_t now)
{
	size_t k = 0;

	for (size_t i = 0; i < pc->ngaps; i++)
		if (now - pc->gaps[i].since_ms < GAP_MS)
			pc->gaps[k++] = pc->gaps[i];
	pc->ngaps = k;
}

/* Queues id to be offered, unless it is queued already. */
static int
todo_add(struct pg_changes *pc, const char *id)
{
	if (strlen(id) > TS_NAME_MAX)
		return 0;	/* no ticket has such an id */
	for (size_t i = 0; i < pc->ntodo; i++)
		if (strcmp(pc->todo[i], id) == 0)
			return 0;
	if (pc->ntodo == pc->captodo) {
		size_t cap = pc->captodo ? 2 * pc->captodo : 64;
		char (*v)[TS_NAME_MAX + 1] = realloc(pc->todo,
		                                      cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		pc->todo = v;
		pc->captodo = cap;
	}
	snprintf(pc->todo[pc->ntodo++], TS_NAME_MAX + 1, "%s", id);
	return 0;
}

/* One change seen (from a notification or a row): queued for fn if it is
 * new and another host's. */
static int
seen(struct pg_store *ps, int64_t n, const char *id, const char *host)
{
	struct pg_changes *pc = ps->changes;
	int fresh = n > pc->hwm || gap_has(pc, n);

	/* Queued first: if that fails nothing is marked seen, and the
	 * catch-up that follows reads the row again. */
	if (fresh && strcmp(host, ts_store_host(&ps->base)) != 0 &&
	    todo_add(pc, id) < 0) {
		pc->catchup = 1;
		return -ENOMEM;
	}
	if (n > pc->hwm) {
		int64_t now = mono_ms(), from = pc->hwm + 1;

		if (n - from > GAP_MAX)
			from = n - GAP_MAX;
		for (int64_t m = from; m < n; m++)
			gap_add(pc, m, now);
		pc->hwm = n;
	} else if (fresh) {
		gap_take(pc, n);
	}
	return 0;
}

/* LISTENs on the listener's connection if it is a new one (a catch-up
 * then follows).  0 or -errno. */
static int
listen_now(struct pg_changes *pc)
{
	unsigned long gen;
	int rc;

	if (ts_pg_conn(pc->pg) == NULL)
		return -EIO;
	gen = ts_pg_generation(pc->pg);
	if (gen == pc->gen)
		return 0;
	if ((rc = ts_pg_exec(pc->pg, "LISTEN ts_changes")) < 0)
		return rc;
	pc->gen = ts_pg_generation(pc->pg);
	pc->catchup = 1;
	return 0;
}

/* Only rows the sequence has handed out: a row planted with an n beyond
 * it (by someone who may write ts_changes) would else raise hwm past
 * every real change to come, and blind this host to them. */
#define BELOW_SEQ \
	"n <= coalesce(pg_sequence_last_value('ts_changes_n_seq'), 0)"

/* Step 2 of the ordering above: hwm and the gaps below it.  0 or -errno. */
static int
mark_start(struct pg_changes *pc)
{
	char arg[32];
	const char *v[1] = { arg };
	PGresult *r;
	int64_t max, next;
	int rc;

	if ((rc = ts_pg_query(pc->pg, "SELECT coalesce(max(n), 0) FROM "
	                      "ts_changes WHERE " BELOW_SEQ, 0, NULL, NULL,
	                      NULL, 0, &r)) < 0)
		return rc;
	max = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	snprintf(arg, sizeof(arg), "%" PRId64,
	         max > START_SPAN ? max - START_SPAN : 0);
	if ((rc = ts_pg_query(pc->pg, "SELECT n FROM ts_changes WHERE n > $1 "
	                      "ORDER BY n", 1, v, NULL, NULL, 0, &r)) < 0)
		return rc;
	next = max > START_SPAN ? max - START_SPAN + 1 : 1;
	pc->ngaps = 0;
	for (int i = 0; i < PQntuples(r); i++) {
		int64_t n = strtoll(PQgetvalue(r, i, 0), NULL, 10);

		for (; next < n && next <= max; next++)
			gap_add(pc, next, mono_ms());
		if (n >= next)
			next = n + 1;
	}
	PQclear(r);
	pc->hwm = max;
	pc->catchup = 0;
	pc->ok_ms = mono_ms();
	return 0;
}

int
pg_changes_start(struct pg_store *ps)
{
	struct pg_changes *pc;
	char err[256];
	int rc;

	if (ps->changes != NULL)
		return 0;
	if ((pc = calloc(1, sizeof(*pc))) == NULL)
		return -ENOMEM;
	if ((rc = ts_pg_open(ps->uri, &pc->pg, err, sizeof(err))) < 0)
		goto out_free;
	if ((rc = listen_now(pc)) < 0 || (rc = mark_start(pc)) < 0)
		goto out_close;
	ps->changes = pc;
	return 0;
out_close:
	ts_pg_close(pc->pg);
out_free:
	free(pc);
	return rc;
}

void
pg_changes_free(struct pg_store *ps)
{
	struct pg_changes *pc = ps->changes;

	if (pc == NULL)
		return;
	ts_pg_close(pc->pg);
	free(pc->gaps);
	free(pc->todo);
	free(pc->full);
	free(pc);
	ps->changes = NULL;
}

int
pg_changes_fd(struct ts_store *st)
{
	struct pg_store *ps = pg_of(st);
	PGconn *c;

	if (pg_changes_start(ps) < 0)
		return -1;
	c = ts_pg_conn(ps->changes->pg);
	return c != NULL ? PQsocket(c) : -1;
}

/* Takes the notifications that arrived.  0, or -EIO if the connection
 * broke (the next call reconnects and catches up). */
static int
drain(struct pg_store *ps)
{
	struct pg_changes *pc = ps->changes;
	PGconn *c = ts_pg_conn(pc->pg);
	PGnotify *nt;

	if (c == NULL)
		return -EIO;
	if (!PQconsumeInput(c))
		return -EIO;
	while ((nt = PQnotifies(c)) != NULL) {
		/* A wake-up only: its payload is not trusted (any role that
		 * may connect can NOTIFY; a forged "N" above every real n
		 * would make every later change look seen). */
		if (strcmp(nt->relname, "ts_changes") == 0)
			pc->catchup = 1;	/* read the table */
		PQfreemem(nt);
	}
	return 0;
}

/* Reads the rows after hwm and in the gaps.  0 or -errno. */
static int
catch_up(struct pg_store *ps)
{
	struct pg_changes *pc = ps->changes;
	char hwm[32], *gaps, *p;
	const char *v[2];
	PGresult *r;
	int rc;

	/* '{' + up to 20 digits and a comma a gap + '}' */
	if ((gaps = malloc(pc->ngaps * 21 + 3)) == NULL)
		return -ENOMEM;
	p = gaps;
	*p++ = '{';
	for (size_t i = 0; i < pc->ngaps; i++)
		p += sprintf(p, "%s%" PRId64, i ? "," : "", pc->gaps[i].n);
	strcpy(p, "}");
	snprintf(hwm, sizeof(hwm), "%" PRId64, pc->hwm);
	v[0] = hwm;
	v[1] = gaps;
	rc = ts_pg_query(pc->pg, "SELECT n, id, host FROM ts_changes WHERE "
	                 "(n > $1 OR n = ANY($2::bigint[])) AND " BELOW_SEQ
	                 " ORDER BY n LIMIT 10000", 2, v, NULL, NULL, 0, &r);
	free(gaps);
	if (rc < 0)
		return rc;
	for (int i = 0; i < PQntuples(r) && rc == 0; i++)
		rc = seen(ps, strtoll(PQgetvalue(r, i, 0), NULL, 10),
		          PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
	if (rc == 0)
		pc->catchup = PQntuples(r) == PAGE;	/* more to read */
	PQclear(r);
	return rc;
}

void
pg_changes_backdate(struct pg_store *ps, int64_t ms)
{
	if (ps->changes != NULL)
		ps->changes->ok_ms -= ms;
}

/* ts_pg_list's fn: a store id this process knows no version of goes
 * into the full re-read too. */
static int
full_add_new(void *arg, const char *id)
{
	struct pg_store *ps = arg;
	struct pg_changes *pc = ps->changes;

	if (ts_pg_tickets_is_known(ps, id))
		return 0;
	if (pc->nfull == pc->capfull) {
		size_t cap = pc->capfull ? 2 * pc->capfull : 1024;
		char (*v)[TS_NAME_MAX + 1] = realloc(pc->full,
		                                      cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		pc->full = v;
		pc->capfull = cap;
	}
	snprintf(pc->full[pc->nfull++], TS_NAME_MAX + 1, "%s", id);
	return 0;
}

static void
full_clear(struct pg_changes *pc)
{
	free(pc->full);
	pc->full = NULL;
	pc->nfull = pc->capfull = pc->atfull = 0;
}

/* Starts a full re-read: the ids known, then the store's others (their
 * ids read on the main connection).  0 or -errno (tried again next
 * call). */
static int
full_start(struct pg_store *ps)
{
	struct pg_changes *pc = ps->changes;
	int rc;

	if ((rc = ts_pg_tickets_known(ps, &pc->full, &pc->nfull)) < 0)
		return rc;
	pc->capfull = pc->nfull;
	pc->atfull = 0;
	if ((rc = ts_pg_list(&ps->base, full_add_new, ps)) < 0)
		full_clear(pc);
	else if (pc->nfull == 0)
		full_clear(pc);	/* an empty store: nothing to offer */
	return rc;
}

/* Offers the full re-read's next ids; how many were, -1 if fn stopped. */
static int
full_step(struct pg_changes *pc, ts_store_change_fn fn, void *arg)
{
	size_t end = pc->atfull + FULL_PAGE, from = pc->atfull;

	if (end > pc->nfull)
		end = pc->nfull;
	for (; pc->atfull < end; pc->atfull++)
		if (fn(arg, pc->full[pc->atfull]) != 0)
			return -1;
	if (pc->atfull == pc->nfull)
		full_clear(pc);
	return (int)(end - from);
}

int
pg_changes(struct ts_store *st, ts_store_change_fn fn, void *arg)
{
	struct pg_store *ps = pg_of(st);
	struct pg_changes *pc;
	int64_t now;
	size_t i;
	int rc;

	if ((rc = pg_changes_start(ps)) < 0)
		return rc;
	pc = ps->changes;
	if ((rc = listen_now(pc)) < 0 || (rc = drain(ps)) < 0)
		return rc;
	while (pc->catchup)
		if ((rc = catch_up(ps)) < 0)
			return rc;
	now = mono_ms();
	/* Away so long that rows may have been pruned unread. */
	if (pc->full == NULL && now - pc->ok_ms > FULL_AFTER_MS &&
	    full_start(ps) < 0)
		return -EIO;
	pc->ok_ms = now;
	gaps_expire(pc, now);
	if (pc->pruned_ms == 0 || now - pc->pruned_ms >= PRUNE_EVERY_MS) {
		pc->pruned_ms = now;
		(void)ts_pg_exec(pc->pg, PRUNE_SQL);	/* again later */
	}
	for (i = 0; i < pc->ntodo; i++)
		if (fn(arg, pc->todo[i]) != 0)
			break;
	if (i > 0 && i < pc->ntodo)	/* (todo is NULL while none came) */
		memmove(pc->todo, pc->todo + i,
		        (pc->ntodo - i) * sizeof(*pc->todo));
	pc->ntodo -= i;
	if (pc->ntodo == 0 && pc->full != NULL) {
		int k = full_step(pc, fn, arg);

		return k < 0 ? (int)i : (int)i + k;
	}
	return (int)i;
}
