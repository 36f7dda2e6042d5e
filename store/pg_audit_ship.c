/*
 * pg_audit_ship: a PostgreSQL store's audit appends through a local spool
 * (store/pg_audit_spool.h).  An append writes its line to the spool and
 * queues it, and returns: no round trip.  A shipper thread sends what is
 * queued to the database in batches, one call of ts_audit_append_batch()
 * each (store/pg_schema.sql: the order lock, the continuity check and
 * synchronous_commit off as ts_audit_append() has them for one entry, taken
 * once a batch), its own transaction, at the
 * latest SHIP_MS after the oldest was queued, at once when SHIP_MANY are
 * queued or someone waits (ts_pg_ship_flush: a checkpoint, a prune, a
 * read of audit.log at its end, the unmount).  Once all of it is
 * committed the spool is emptied.
 *
 * Fail closed: an append fails (-EIO) if the spool write fails, while
 * the shipper's connection is known down (a batch failed; or, while idle,
 * its socket said the server hung up, seen at once: the shipper polls it),
 * or while the backlog is over SHIP_BACKLOG_MS old or SHIP_BACKLOG_N
 * lines.  What was queued stays queued: the shipper reconnects by itself,
 * takes the chain's lock again, reads the chain's tail (a batch whose
 * COMMIT was lost may have committed: what the database has is dropped
 * from the queue, after its hash is checked) and ships the rest; appends
 * work again then.  A tail that does not match the queue (rows removed
 * or changed meanwhile) stops the trail: every append fails until a
 * restart, which then refuses or recovers (below), as a chain cut behind
 * its checkpoint is refused.
 *
 * The shipper thread starts with ts_pg_ship_run (after the daemon forked:
 * a thread does not survive fork); until then a flush ships in its
 * caller's thread.
 *
 * At start the spool is what the last run left (a kill -9): its lines
 * must be a chain, and meet the database's tail: those after it, which
 * must chain on from it, are shipped before anything else; then the
 * spool is emptied.  A spool that does not meet it (damaged, edited,
 * another host's) refuses the start, the database unchanged.
 *
 * Threads: the queue (qlock) is taken inside a->lock by appends, alone by
 * the shipper and by flushes (which may hold the view's vlock); the
 * shipper never takes a->lock nor vlock.  The ship connection is the
 * shipper's alone once started.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "store/audit_priv.h"
#include "store/pg_audit_priv.h"
#include "store/pg_audit_spool.h"

#define SHIP_MS 20		/* the longest a line waits to be sent */
#define SHIP_MANY 512		/* queued lines that are sent at once */
#define SHIP_MAX 4096		/* lines a statement at most */
#define SHIP_BACKLOG_MS 2000	/* appends refused past this backlog */
#define SHIP_BACKLOG_N 10000
#define SPOOL_ROTATE (1u << 20)	/* a spool never empty is rewritten past
				   this many bytes */
#define FLUSH_WAIT_MS 15000	/* a flush gives up (a statement's 10 s
				   deadline and some) */

struct pg_ship {
	struct ts_audit *a;
	struct ts_pg *pg;	/* the shipper's connection; holds the
				   chain's lock */
	unsigned long locked_gen;	/* its generation the lock was taken
					   on; the shipper's */
	struct ts_spool *spool;	/* guarded by qlock */
	pthread_t thread;
	int started;
	int wake;		/* eventfd: the shipper is wanted */
	pthread_mutex_t qlock;
	pthread_cond_t moved;	/* shipped, down or stopped: for flushes */
	/* Guarded by qlock: */
	char *buf;		/* queued lines, '\n' after each */
	size_t len, cap;
	size_t n;		/* lines in buf */
	uint64_t first;		/* buf's first line's seq */
	int64_t oldest_ms;	/* when buf's first line was queued (or
				   earlier) */
	uint64_t shipped;	/* the database's tail: the last committed */
	unsigned char shipped_hash[HASHBYTES];
	uint64_t want;		/* a flush waits for shipped >= want */
	int down;		/* the connection is known down, or its lock
				   or tail not yet re-taken */
	int broken;		/* the tail did not match: for good */
	int stop;
	char err[256];		/* the last failure, for the log */
};

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
wake(struct pg_ship *sh)
{
	uint64_t one = 1;

	if (write(sh->wake, &one, sizeof(one)) < 0) {
		/* a full counter: it is awake anyway */
	}
}

/*
 * Sends n lines (len bytes, '\n' after each) as entries first.. of host's
 * chain, one statement, its own transaction: 0, -EBADMSG if the chain in
 * the database does not end at first - 1, -errno.
 */
static int
ship_batch(struct ts_pg *pg, const char *host, uint64_t first,
           const char *buf, size_t len, size_t n)
{
	char fs[24];
	const char *v[3] = { host, fs, buf };
	int lens[3] = { 0, 0, (int)len - 1 }, fmts[3] = { 0, 0, 1 };
	PGresult *r;
	int rc;

	snprintf(fs, sizeof(fs), "%" PRIu64, first);
	/* One call: the lock and the chain's tail once, then every row. */
	if ((rc = ts_pg_query(pg, "SELECT ts_audit_append_batch($1, $2, "
	                      "string_to_array($3, E'\\n'))", 3, v, lens, fmts,
	                      0, &r)) < 0)
		return rc;
	rc = strtoull(PQgetvalue(r, 0, 0), NULL, 10) == n ? 0 : -EPROTO;
	PQclear(r);
	return rc;
}

/* The chain's session lock on sh->pg's current connection: 0, -EBUSY
 * (another session holds it: the old one, not yet gone), -errno. */
static int
relock(struct pg_ship *sh)
{
	const char *v[1] = { sh->a->host };
	unsigned long gen = ts_pg_generation(sh->pg);
	PGresult *r;
	int rc;

	if ((rc = ts_pg_query(sh->pg, "SELECT pg_try_advisory_lock(hashtext("
	                      "'ticketfs-audit:' || $1))", 1, v, NULL, NULL, 0,
	                      &r)) < 0)
		return rc;
	rc = strcmp(PQgetvalue(r, 0, 0), "t") == 0 ? 0 : -EBUSY;
	PQclear(r);
	if (rc == 0 && ts_pg_generation(sh->pg) == gen)
		sh->locked_gen = gen;
	return rc;
}

/* The chain's tail in the database: *seq (0: none), hash. */
static int
db_tail(struct ts_pg *pg, const char *host, uint64_t *seq,
        unsigned char hash[HASHBYTES])
{
	const char *v[1] = { host };
	PGresult *r;
	int rc;

	*seq = 0;
	if ((rc = ts_pg_query(pg, "SELECT seq, line FROM ts_audit WHERE host "
	                      "= $1 ORDER BY seq DESC LIMIT 1", 1, v, NULL,
	                      NULL, 0, &r)) < 0)
		return rc;
	if (PQntuples(r) == 1)
		rc = ts_audit_line_parse(PQgetvalue(r, 0, 1),
		                         (size_t)PQgetlength(r, 0, 1), seq, hash,
		                         NULL);
	PQclear(r);
	return rc;
}

/* The hash of the queue's line seq (qlock held; first <= seq < first +
 * n): 0 or -EBADMSG. */
static int
queued_hash(struct pg_ship *sh, uint64_t seq, unsigned char hash[HASHBYTES],
            size_t *end)
{
	const char *p = sh->buf;
	uint64_t got;

	for (uint64_t q = sh->first; q < seq; q++)
		p = memchr(p, '\n', (size_t)(sh->buf + sh->len - p)) + 1;
	*end = (size_t)((const char *)memchr(p, '\n', (size_t)(sh->buf +
	                sh->len - p)) + 1 - sh->buf);
	return ts_audit_line_parse(p, (size_t)(sh->buf + *end - 1 - p), &got,
	                           hash, NULL) == 0 && got == seq ? 0 : -EBADMSG;
}

/* Drops the first k lines (end bytes) of the queue, shipped (qlock). */
static void
queue_drop(struct pg_ship *sh, size_t k, size_t end, int64_t since_ms)
{
	memmove(sh->buf, sh->buf + end, sh->len - end);
	sh->len -= end;
	sh->n -= k;
	sh->first += k;
	/* The rest came after since_ms: as old as that at most. */
	sh->oldest_ms = since_ms;
}

/*
 * Back after a failure: a connection, the chain's lock on it, and the
 * tail, checked against the queue (what a lost COMMIT did commit is
 * dropped).  0: up again; -errno: still down (tried again later);
 * -EBADMSG: broken for good.
 */
static int
recover(struct pg_ship *sh)
{
	unsigned char hash[HASHBYTES], qh[HASHBYTES];
	uint64_t tail;
	size_t end;
	int rc;

	if (ts_pg_conn(sh->pg) == NULL)
		return -EIO;
	if (sh->locked_gen != ts_pg_generation(sh->pg) &&
	    (rc = relock(sh)) < 0)
		return rc == -EBUSY ? -EIO : rc;
	if ((rc = db_tail(sh->pg, sh->a->host, &tail, hash)) < 0)
		return rc;
	pthread_mutex_lock(&sh->qlock);
	if (tail == sh->shipped) {
		rc = tail == 0 || sodium_memcmp(hash, sh->shipped_hash,
		                                HASHBYTES) == 0 ? 0 : -EBADMSG;
	} else if (tail > sh->shipped && sh->n > 0 &&
	           tail < sh->first + sh->n &&
	           (rc = queued_hash(sh, tail, qh, &end)) == 0 &&
	           (rc = sodium_memcmp(hash, qh, HASHBYTES) == 0 ? 0 :
	                 -EBADMSG) == 0) {
		queue_drop(sh, (size_t)(tail - sh->first + 1), end, mono_ms());
		sh->shipped = tail;
		memcpy(sh->shipped_hash, hash, HASHBYTES);
	} else {
		rc = -EBADMSG;
	}
	if (rc == 0)
		sh->down = 0;
	else
		snprintf(sh->err, sizeof(sh->err), "the chain's tail in the "
		         "database (entry %" PRIu64 ") is not what this daemon "
		         "shipped (entry %" PRIu64 ")", tail, sh->shipped);
	pthread_cond_broadcast(&sh->moved);
	pthread_mutex_unlock(&sh->qlock);
	return rc;
}

/* Sends a batch from the queue's head (qlock held, released while the
 * statement runs). */
static void
ship_some(struct pg_ship *sh)
{
	int64_t t0 = mono_ms();
	const char *p = sh->buf;
	size_t k = 0, end;
	uint64_t first = sh->first;
	char *copy;
	int rc;

	while (k < sh->n && k < SHIP_MAX) {
		p = memchr(p, '\n', (size_t)(sh->buf + sh->len - p)) + 1;
		k++;
	}
	end = (size_t)(p - sh->buf);
	if ((copy = malloc(end)) == NULL)
		return;		/* tried again at the next wake */
	memcpy(copy, sh->buf, end);
	pthread_mutex_unlock(&sh->qlock);
	rc = ship_batch(sh->pg, sh->a->host, first, copy, end, k);
	if (ts_pg_generation(sh->pg) != sh->locked_gen && rc == 0)
		rc = -EIO;	/* ran on a new session: lock it first */
	pthread_mutex_lock(&sh->qlock);
	if (rc == 0) {
		const char *last = copy + end - 1;

		while (last > copy && last[-1] != '\n')
			last--;
		sh->shipped = first + k - 1;
		ts_audit_line_parse(last, (size_t)(copy + end - 1 - last),
		                    &first, sh->shipped_hash, NULL);
		queue_drop(sh, k, end, t0);
		/* All of it committed: the spool is empty again. */
		if (sh->n == 0)
			ts_spool_clear(sh->spool);
		else if (ts_spool_size(sh->spool) > SPOOL_ROTATE)
			ts_spool_replace(sh->spool, sh->buf, sh->len);
	} else {
		snprintf(sh->err, sizeof(sh->err), "%s", ts_pg_error(sh->pg));
		sh->down = 1;
	}
	pthread_cond_broadcast(&sh->moved);
	free(copy);
}

/* Idle, its socket readable: has the server hung up on the connection
 * (a stop, a restart, a terminated backend: an ErrorResponse, the only
 * message it sends unasked that matters, then EOF)?  Then the trail is
 * down at once, before any reconnect is tried.  Anything else is
 * consumed. */
static void
look_at_conn(struct pg_ship *sh, PGconn *c)
{
	unsigned char b;
	ssize_t n = recv(PQsocket(c), &b, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) ||
	    (n == 1 && b == 'E' && !PQsslInUse(c)) || !PQconsumeInput(c) ||
	    PQstatus(c) != CONNECTION_OK) {
		pthread_mutex_lock(&sh->qlock);
		sh->down = 1;
		snprintf(sh->err, sizeof(sh->err), "the connection to the "
		         "database was lost");
		pthread_cond_broadcast(&sh->moved);
		pthread_mutex_unlock(&sh->qlock);
	}
}

static void *
shipper(void *arg)
{
	struct pg_ship *sh = arg;

	pthread_mutex_lock(&sh->qlock);
	while (!sh->stop) {
		struct pollfd p[2] = { { sh->wake, POLLIN, 0 }, { -1, POLLIN, 0 } };
		int64_t now = mono_ms();
		int timeout = 1000, rc;
		PGconn *c = NULL;
		uint64_t junk;

		if (!sh->down && !sh->broken && sh->n > 0 &&
		    (sh->want > sh->shipped || sh->n >= SHIP_MANY ||
		     now - sh->oldest_ms >= SHIP_MS)) {
			ship_some(sh);
			continue;
		}
		if (sh->n > 0)
			timeout = (int)(SHIP_MS - (now - sh->oldest_ms));
		if (sh->down && !sh->broken) {
			pthread_mutex_unlock(&sh->qlock);
			rc = recover(sh);
			pthread_mutex_lock(&sh->qlock);
			if (rc == -EBADMSG)
				sh->broken = 1;
			if (rc == 0)
				continue;
			timeout = 100;	/* ts_pg_conn paces the connects */
			pthread_mutex_unlock(&sh->qlock);
		} else if (!sh->broken) {
			/* Up and idle: watch the connection (a connect, if
			 * it is found gone, without the queue's lock). */
			pthread_mutex_unlock(&sh->qlock);
			c = ts_pg_conn(sh->pg);
			if (c == NULL || ts_pg_generation(sh->pg) !=
			    sh->locked_gen) {
				pthread_mutex_lock(&sh->qlock);
				sh->down = 1;
				continue;
			}
			p[1].fd = PQsocket(c);
		} else {
			pthread_mutex_unlock(&sh->qlock);
		}
		if (poll(p, p[1].fd >= 0 ? 2 : 1, timeout < 0 ? 0 : timeout) > 0) {
			if ((p[0].revents & POLLIN) &&
			    read(sh->wake, &junk, sizeof(junk)) < 0) {
				/* drained or not: looked at again anyway */
			}
			if (p[1].fd >= 0 && p[1].revents != 0)
				look_at_conn(sh, c);
		}
		pthread_mutex_lock(&sh->qlock);
	}
	pthread_mutex_unlock(&sh->qlock);
	return NULL;
}

/* ---- the sink's calls ---- */

int
ts_pg_ship_ready(struct pg_ship *sh)
{
	int rc;

	pthread_mutex_lock(&sh->qlock);
	rc = sh->down || sh->broken ? -EIO : 0;
	pthread_mutex_unlock(&sh->qlock);
	return rc;
}

int
ts_pg_ship_append(struct pg_ship *sh, uint64_t seq, const char *line,
                  size_t len)
{
	int64_t now = mono_ms();
	int rc;

	pthread_mutex_lock(&sh->qlock);
	if (sh->down || sh->broken || sh->n >= SHIP_BACKLOG_N ||
	    (sh->n > 0 && now - sh->oldest_ms > SHIP_BACKLOG_MS)) {
		rc = -EIO;
		goto out;
	}
	if (sh->len + len > sh->cap) {
		size_t cap = sh->cap ? 2 * sh->cap : 65536;
		char *b;

		while (cap < sh->len + len)
			cap *= 2;
		if ((b = realloc(sh->buf, cap)) == NULL) {
			rc = -ENOMEM;
			goto out;
		}
		sh->buf = b;
		sh->cap = cap;
	}
	if ((rc = ts_spool_append(sh->spool, line, len)) < 0)
		goto out;
	memcpy(sh->buf + sh->len, line, len);
	sh->len += len;
	/* The first of a batch sets the shipper's clock; SHIP_MANY send it
	 * at once. */
	if (sh->n++ == 0) {
		sh->first = seq;
		sh->oldest_ms = now;
		wake(sh);
	} else if (sh->n == SHIP_MANY) {
		wake(sh);
	}
out:
	pthread_mutex_unlock(&sh->qlock);
	return rc;
}

int
ts_pg_ship_flush(struct pg_ship *sh)
{
	struct timespec until;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += FLUSH_WAIT_MS / 1000;
	pthread_mutex_lock(&sh->qlock);
	if (sh->n == 0)
		goto out;
	/* No shipper yet (before the daemon forked): this thread ships. */
	while (!sh->started && sh->n > 0 && !sh->down)
		ship_some(sh);
	if (!sh->started) {
		rc = sh->n > 0 ? -EIO : 0;
		goto out;
	}
	if (sh->want < sh->first + sh->n - 1)
		sh->want = sh->first + sh->n - 1;
	wake(sh);
	while (sh->shipped < sh->want && rc == 0) {
		if (sh->down || sh->broken || sh->stop)
			rc = -EIO;
		else if (pthread_cond_timedwait(&sh->moved, &sh->qlock,
		                                &until) == ETIMEDOUT)
			rc = -ETIMEDOUT;
	}
out:
	pthread_mutex_unlock(&sh->qlock);
	return rc;
}

int
ts_pg_ship_run(struct pg_ship *sh)
{
	int rc;

	if (sh->started)
		return 0;
	if ((rc = pthread_create(&sh->thread, NULL, shipper, sh)) != 0)
		return -rc;
	pthread_mutex_lock(&sh->qlock);
	sh->started = 1;
	pthread_mutex_unlock(&sh->qlock);
	return 0;
}

uint64_t
ts_pg_ship_shipped(struct pg_ship *sh)
{
	uint64_t s;

	pthread_mutex_lock(&sh->qlock);
	s = sh->shipped;
	pthread_mutex_unlock(&sh->qlock);
	return s;
}

void
ts_pg_ship_stop(struct pg_ship *sh)
{
	if (sh == NULL)
		return;
	if (sh->started) {
		pthread_mutex_lock(&sh->qlock);
		sh->stop = 1;
		pthread_cond_broadcast(&sh->moved);
		pthread_mutex_unlock(&sh->qlock);
		wake(sh);
		pthread_join(sh->thread, NULL);
	}
	/* What is still queued stays in the spool, for the next start; a
	 * spool refused at the start is left as it was, to be looked at. */
	if (sh->started && sh->n == 0)
		ts_spool_clear(sh->spool);
	ts_spool_close(sh->spool);
	ts_pg_close(sh->pg);	/* the chain's lock goes with the session */
	if (sh->wake >= 0)
		close(sh->wake);
	pthread_cond_destroy(&sh->moved);
	pthread_mutex_destroy(&sh->qlock);
	free(sh->buf);
	free(sh);
}

/* ---- the start: the spool the last run left ---- */

/*
 * Ships the spool's lines after the database's tail (a->seq, a->hash,
 * on pg, which holds the chain's lock), after checking that they meet
 * it.  msg says why not.
 */
static int
spool_recover(struct ts_audit *a, struct ts_pg *pg, const char *path,
              const char *text, size_t len, char *msg, size_t msglen)
{
	unsigned char want[HASHBYTES], got[HASHBYTES];
	struct ts_spool_run run;
	const char *p = text;
	char why[160];
	uint64_t seq;
	int rc;

	if (len == 0)
		return 0;
	if (ts_spool_parse(text, len, &run, why, sizeof(why)) < 0) {
		snprintf(msg, msglen, "audit spool %s is damaged (%s): the "
		         "database is unchanged; look at it, then move it aside "
		         "to start", path, why);
		return -EBADMSG;
	}
	/* Every line is in the database already: the last must be there. */
	if (run.last <= a->seq) {
		if (run.last == a->seq)
			memcpy(got, a->hash, HASHBYTES);
		if ((run.last != a->seq &&
		     a->ops->hash_at(a, run.last, got) < 0) ||
		    sodium_memcmp(got, run.last_hash, HASHBYTES) != 0)
			goto out_other;
		return 0;
	}
	if (run.first > a->seq + 1) {
		snprintf(msg, msglen, "audit spool %s starts at entry %" PRIu64
		         " but this host's chain in the database ends at entry "
		         "%" PRIu64 ": entries are missing; the database is "
		         "unchanged", path, run.first, a->seq);
		return -EBADMSG;
	}
	/* Skip what the database has; the line before the first to ship
	 * must be the tail (or, none in the spool, the first chain on it). */
	for (seq = run.first; seq <= a->seq; seq++)
		p = memchr(p, '\n', (size_t)(text + len - p)) + 1;
	if (run.first <= a->seq) {
		const char *q = p - 1;

		while (q > text && q[-1] != '\n')
			q--;
		if (ts_audit_line_parse(q, (size_t)(p - 1 - q), &seq, got,
		                        NULL) < 0 ||
		    sodium_memcmp(got, a->hash, HASHBYTES) != 0)
			goto out_other;
	} else {
		const char *nl = memchr(p, '\n', (size_t)(text + len - p));

		ts_audit_chain(a->hash, p, (size_t)(nl - p) - (SUFFIX_LEN - 1),
		               want);
		if (ts_audit_line_parse(p, (size_t)(nl - p), &seq, got,
		                        NULL) < 0 ||
		    sodium_memcmp(got, want, HASHBYTES) != 0)
			goto out_other;
	}
	while (p < text + len) {
		const char *e = p;
		size_t k = 0;

		while (e < text + len && k < SHIP_MAX) {
			e = memchr(e, '\n', (size_t)(text + len - e)) + 1;
			k++;
		}
		if ((rc = ship_batch(pg, a->host, a->seq + 1, p,
		                     (size_t)(e - p), k)) < 0) {
			snprintf(msg, msglen, "cannot ship the %" PRIu64 " entries "
			         "of audit spool %s to the database: %s",
			         run.last - a->seq, path, ts_pg_error(pg));
			return rc;
		}
		a->seq += k;
		p = e;
	}
	memcpy(a->hash, run.last_hash, HASHBYTES);
	return 1;
out_other:
	snprintf(msg, msglen, "audit spool %s does not continue this host's "
	         "chain in the database (entry %" PRIu64 " differs): damaged, "
	         "edited or another daemon's; the database is unchanged; look "
	         "at it, then move it aside to start", path,
	         run.last <= a->seq ? run.last : a->seq);
	return -EBADMSG;
}

int
ts_pg_ship_start(struct ts_audit *a, struct ts_pg **pgp, const char *path,
                 struct pg_ship **out, char *msg, size_t msglen)
{
	struct pg_ship *sh = calloc(1, sizeof(*sh));
	pthread_condattr_t ca;
	struct ts_pg *other;
	char *text = NULL;
	size_t len, torn;
	char e[256];
	int rc, note = 0;

	if (sh == NULL) {
		snprintf(msg, msglen, "out of memory");
		return -ENOMEM;
	}
	sh->a = a;
	sh->wake = -1;
	pthread_mutex_init(&sh->qlock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);	/* flush's wait */
	pthread_cond_init(&sh->moved, &ca);
	pthread_condattr_destroy(&ca);
	if ((rc = ts_spool_open(path, &sh->spool, &text, &len, &torn, msg,
	                        msglen)) < 0)
		goto out_free;
	pthread_mutex_lock(&a->lock);
	rc = spool_recover(a, *pgp, path, text, len, msg, msglen);
	pthread_mutex_unlock(&a->lock);
	free(text);
	if (rc < 0)
		goto out_free;
	if (rc > 0 || torn > 0) {
		note = 1;
		if (rc > 0 && torn > 0)
			snprintf(msg, msglen, "audit spool %s: the last run's "
			         "unshipped entries shipped, up to entry %" PRIu64
			         "; its last line, cut short (%zu bytes, never "
			         "acknowledged), dropped", path, a->seq, torn);
		else if (rc > 0)
			snprintf(msg, msglen, "audit spool %s: the last run's "
			         "unshipped entries shipped, up to entry %" PRIu64,
			         path, a->seq);
		else
			snprintf(msg, msglen, "audit spool %s: its last line, cut "
			         "short (%zu bytes, never acknowledged), dropped",
			         path, torn);
	}
	if ((rc = ts_spool_clear(sh->spool)) < 0) {
		snprintf(msg, msglen, "audit spool %s: %s", path, strerror(-rc));
		goto out_free;
	}
	/* The connection holding the chain's lock becomes the shipper's;
	 * the rest (audit.log, checkpoints, prunes) get one of their own. */
	if ((rc = ts_pg_open(ts_pg_uri(*pgp), &other, e, sizeof(e))) < 0) {
		snprintf(msg, msglen, "cannot connect: %s", e);
		goto out_free;
	}
	sh->pg = *pgp;
	*pgp = other;
	sh->locked_gen = ts_pg_generation(sh->pg);
	sh->shipped = a->seq;
	memcpy(sh->shipped_hash, a->hash, HASHBYTES);
	if ((sh->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
		rc = -errno;
		snprintf(msg, msglen, "audit spool: %s", strerror(-rc));
		goto out_free;
	}
	*out = sh;
	return note;
out_free:
	ts_pg_ship_stop(sh);
	return rc;
}
