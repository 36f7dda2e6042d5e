/*
 * pg_conn: a libpq connection with deadlines, errno mapping and
 * reconnection (contract in pg_conn.h).
 */
#include "store/pg_conn.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ts_pg {
	char *uri;
	PGconn *conn;		/* NULL or broken: reconnect before use */
	pthread_mutex_t mu;	/* recursive: statements, transactions */
	unsigned long gen;	/* connections made */
	int in_tx;		/* between ts_pg_begin and its end: never
				   reconnected then (the transaction would
				   go on, half, on a new session) */
	long long last_try_ms;	/* of the last failed connect */
	atomic_ullong statements;	/* sent by ts_pg_query (counted as sent,
				   whatever their outcome) */
	char err[256];
};

static long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
ts_pg_is_uri(const char *s)
{
	return s != NULL && (strncmp(s, "postgresql://", 13) == 0 ||
	                     strncmp(s, "postgres://", 11) == 0);
}

static void
set_err(struct ts_pg *pg, const char *msg)
{
	size_t n;

	snprintf(pg->err, sizeof(pg->err), "%s", msg ? msg : "");
	n = strlen(pg->err);
	while (n > 0 && (pg->err[n - 1] == '\n' || pg->err[n - 1] == ' '))
		pg->err[--n] = '\0';
}

static void
ignore_notice(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Connects (pg->mu held).  0 or -EIO. */
static int
connect_now(struct ts_pg *pg)
{
	/* TCP (ignored on a Unix socket): a peer gone silent (a network
	 * partition) is found by keepalives within about 11 s, and sent data
	 * unacknowledged for 10 s breaks the connection. */
	static const char *const keys[] = {
		"dbname", "connect_timeout", "application_name",
		"options", "keepalives", "keepalives_idle",
		"keepalives_interval", "keepalives_count", "tcp_user_timeout",
		NULL
	};
	const char *vals[] = {
		pg->uri, "5", "ticketfs",
		"-c statement_timeout=10000 -c lock_timeout=4000 "
		"-c idle_in_transaction_session_timeout=30000 "
		"-c client_min_messages=warning",
		"1", "5", "2", "3", "10000",
		NULL
	};
	PGconn *c;

	if (pg->conn != NULL) {
		PQfinish(pg->conn);
		pg->conn = NULL;
	}
	/* expand_dbname: the uri is expanded in dbname's place; a keyword
	 * given after it (connect_timeout, application_name, options) wins
	 * over the uri's own, so the deadlines are always ours. */
	c = PQconnectdbParams(keys, vals, 1);
	if (c == NULL || PQstatus(c) != CONNECTION_OK) {
		set_err(pg, c ? PQerrorMessage(c) : "out of memory");
		PQfinish(c);
		pg->last_try_ms = now_ms();
		return -EIO;
	}
	PQsetNoticeProcessor(c, ignore_notice, NULL);
	/* Sending never blocks either (exec_deadline waits with a limit);
	 * PQexec, used for scripts, ignores it. */
	PQsetnonblocking(c, 1);
	pg->conn = c;
	pg->gen++;
	return 0;
}

/*
 * 1 if the server ended the session while it was idle (a restart, a
 * terminated backend): it sent an ErrorResponse (FATAL; the only error a
 * server sends unasked) and hung up, and nothing of ours was sent since,
 * so the next statement may go to a new session.  No round trip, and
 * nothing read: a peek at the socket (so a listener's poll for
 * notifications still sees them).  A TLS session's bytes cannot be
 * read so: only its hang-up is seen.
 */
static int
closed_by_server(PGconn *c)
{
	unsigned char buf[8192];
	int fd = PQsocket(c);
	ssize_t n, off = 0;

	if (fd < 0)
		return 1;
	n = recv(fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	if (n == 0)
		return 1;	/* hung up */
	if (n < 0)
		return errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
	if (PQsslInUse(c))
		return 0;
	/* Messages: a type byte, then a big-endian length counting itself. */
	while (off + 5 <= n) {
		uint32_t len = (uint32_t)buf[off + 1] << 24 |
		               (uint32_t)buf[off + 2] << 16 |
		               (uint32_t)buf[off + 3] << 8 | buf[off + 4];

		if (buf[off] == 'E')
			return 1;
		if (len < 4)
			return 1;	/* not the protocol: give it up */
		off += 1 + (ssize_t)len;
	}
	return 0;
}

/*
 * A usable connection (pg->mu held): 0, or -EIO if none can be made now.
 * look: also find a session the server ended while idle (ts_pg_conn's
 * callers check ts_pg_generation after it and re-make their session's
 * state, a lock, before their statement; a statement's own call does
 * not look, so that it never runs on a session made behind such a
 * caller's check: it fails -EIO on the dead one instead).
 */
static int
ensure(struct ts_pg *pg, int look)
{
	if (pg->in_tx)
		return pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_OK ?
		       0 : -EIO;
	if (pg->conn != NULL && PQstatus(pg->conn) == CONNECTION_OK &&
	    !(look && closed_by_server(pg->conn)))
		return 0;
	if (pg->conn != NULL) {
		/* Found lost: one try now, not after TS_PG_RETRY_MS. */
		PQfinish(pg->conn);
		pg->conn = NULL;
		pg->last_try_ms = 0;
	}
	if (pg->last_try_ms != 0 && now_ms() - pg->last_try_ms < TS_PG_RETRY_MS)
		return -EIO;
	return connect_now(pg);
}

/* A handle for uri, not connected yet (its first statement connects). */
static struct ts_pg *
pg_new(const char *uri)
{
	struct ts_pg *pg = calloc(1, sizeof(*pg));
	pthread_mutexattr_t a;

	if (pg == NULL || (pg->uri = strdup(uri)) == NULL) {
		free(pg);
		return NULL;
	}
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&pg->mu, &a);
	pthread_mutexattr_destroy(&a);
	return pg;
}

int
ts_pg_open(const char *uri, struct ts_pg **out, char *errbuf, size_t errlen)
{
	struct ts_pg *pg = pg_new(uri);
	int rc;

	if (pg == NULL)
		return -ENOMEM;
	if ((rc = connect_now(pg)) < 0) {
		if (errbuf != NULL && errlen > 0)
			snprintf(errbuf, errlen, "%s", pg->err);
		ts_pg_close(pg);
		return rc;
	}
	*out = pg;
	return 0;
}

void
ts_pg_close(struct ts_pg *pg)
{
	if (pg == NULL)
		return;
	if (pg->conn != NULL)
		PQfinish(pg->conn);
	pthread_mutex_destroy(&pg->mu);
	free(pg->uri);
	free(pg);
}

static int
errno_of(PGresult *r, PGconn *c)
{
	const char *st = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;

	if (PQstatus(c) != CONNECTION_OK)
		return -EIO;
	if (st == NULL)
		return -EIO;
	if (strcmp(st, "23505") == 0)
		return -EEXIST;
	if (strcmp(st, "42501") == 0)
		return -EACCES;
	if (strcmp(st, "40001") == 0 || strcmp(st, "40P01") == 0)
		return -EAGAIN;
	if (strcmp(st, "57014") == 0 || strcmp(st, "55P03") == 0)
		return -ETIMEDOUT;
	if (strcmp(st, "42P01") == 0)
		return -ENOENT;
	if (strcmp(st, "XX001") == 0)
		return -EBADMSG;	/* data_corrupted (ts_audit_append) */
	if (strncmp(st, "08", 2) == 0 || strncmp(st, "57P", 3) == 0)
		return -EIO;	/* connection exception, admin shutdown */
	return -EPROTO;
}

/* Waits up to ms for c's socket to be readable (or writable): 1 ready,
 * 0 out of time, -1 error. */
static int
wait_sock(PGconn *c, int writable, long long ms)
{
	struct pollfd p = { PQsocket(c), writable ? POLLOUT : POLLIN, 0 };
	int rc;

	if (p.fd < 0)
		return -1;
	if (ms < 0)
		ms = 0;
	do
		rc = poll(&p, 1, (int)ms);
	while (rc < 0 && errno == EINTR);
	return rc;
}

/*
 * PQexecParams with the client's own limit on silence (TS_PG_SILENCE_MS,
 * from the send and from each read that brought bytes): a server that
 * went silent (a network partition, a frozen host) answers nothing, and a
 * blocking exec would wait for TCP's own timeouts, minutes.  Out of time,
 * the connection is given up (*lost set): the statement's outcome is
 * unknown.  Returns the last result (NULL: failed to send or lost).
 */
static PGresult *
exec_deadline(PGconn *c, const char *sql, int n, const char *const *v,
              const int *len, const int *fmt, int binary, int *lost)
{
	long long end = now_ms() + TS_PG_SILENCE_MS;
	PGresult *r, *last = NULL;
	int f;

	*lost = 0;
	if (!PQsendQueryParams(c, sql, n, NULL, v, len, fmt, binary))
		return NULL;
	while ((f = PQflush(c)) == 1) {
		if (wait_sock(c, 1, end - now_ms()) <= 0)
			goto out_lost;
		end = now_ms() + TS_PG_SILENCE_MS;
	}
	if (f < 0)
		return NULL;
	for (;;) {
		while (PQisBusy(c)) {
			if (wait_sock(c, 0, end - now_ms()) <= 0)
				goto out_lost;
			if (!PQconsumeInput(c))
				break;	/* PQgetResult reports it */
			end = now_ms() + TS_PG_SILENCE_MS;
		}
		if ((r = PQgetResult(c)) == NULL)
			break;
		PQclear(last);
		last = r;
		if (PQstatus(c) != CONNECTION_OK)
			break;
	}
	return last;
out_lost:
	PQclear(last);
	*lost = 1;
	return NULL;
}

int
ts_pg_query(struct ts_pg *pg, const char *sql, int n, const char *const *v,
            const int *len, const int *fmt, int binary, PGresult **res)
{
	PGresult *r;
	int rc, lost;

	if (res != NULL)
		*res = NULL;
	pthread_mutex_lock(&pg->mu);
	if ((rc = ensure(pg, 0)) < 0)
		goto out;
	atomic_fetch_add_explicit(&pg->statements, 1, memory_order_relaxed);
	r = exec_deadline(pg->conn, sql, n, v, len, fmt, binary, &lost);
	if (lost) {
		set_err(pg, "no answer from the database within the deadline");
		PQfinish(pg->conn);
		pg->conn = NULL;
		/* Silent, not refused: no new connect (connect_timeout 5 s)
		 * for the next TS_PG_RETRY_MS either. */
		pg->last_try_ms = now_ms();
		rc = -EIO;
		goto out;
	}
	switch (r ? PQresultStatus(r) : PGRES_FATAL_ERROR) {
	case PGRES_TUPLES_OK:
	case PGRES_COMMAND_OK:
		if (res != NULL)
			*res = r;
		else
			PQclear(r);
		rc = 0;
		break;
	default:
		set_err(pg, r ? PQresultErrorMessage(r)
		              : PQerrorMessage(pg->conn));
		rc = errno_of(r, pg->conn);
		PQclear(r);
		if (rc == -EIO && PQstatus(pg->conn) != CONNECTION_OK) {
			PQfinish(pg->conn);
			pg->conn = NULL;
			pg->last_try_ms = 0;	/* reconnect at the next call */
		}
	}
out:
	pthread_mutex_unlock(&pg->mu);
	return rc;
}

int
ts_pg_exec(struct ts_pg *pg, const char *sql)
{
	return ts_pg_query(pg, sql, 0, NULL, NULL, NULL, 0, NULL);
}

int
ts_pg_begin(struct ts_pg *pg)
{
	int rc;

	pthread_mutex_lock(&pg->mu);
	if ((rc = ts_pg_exec(pg, "BEGIN")) < 0)
		pthread_mutex_unlock(&pg->mu);
	else
		pg->in_tx = 1;
	return rc;
}

int
ts_pg_commit(struct ts_pg *pg)
{
	int rc = ts_pg_exec(pg, "COMMIT");

	if (rc < 0 && rc != -EIO)
		ts_pg_exec(pg, "ROLLBACK");
	pg->in_tx = 0;
	pthread_mutex_unlock(&pg->mu);
	return rc;
}

void
ts_pg_rollback(struct ts_pg *pg)
{
	ts_pg_exec(pg, "ROLLBACK");
	pg->in_tx = 0;
	pthread_mutex_unlock(&pg->mu);
}

const char *
ts_pg_error(struct ts_pg *pg)
{
	return pg->err;
}

PGconn *
ts_pg_conn(struct ts_pg *pg)
{
	PGconn *c;

	pthread_mutex_lock(&pg->mu);
	c = ensure(pg, 1) == 0 ? pg->conn : NULL;
	pthread_mutex_unlock(&pg->mu);
	return c;
}

unsigned long
ts_pg_generation(struct ts_pg *pg)
{
	return pg->gen;
}

unsigned long long
ts_pg_statements(struct ts_pg *pg)
{
	return atomic_load_explicit(&pg->statements, memory_order_relaxed);
}

const char *
ts_pg_uri(struct ts_pg *pg)
{
	return pg->uri;
}

/* ---- the pool of reader connections ---- */

#define POOL_MAX 8

struct ts_pg_pool {
	char *uri;
	pthread_mutex_t mu;	/* guards v, busy, n */
	pthread_cond_t freed;	/* a handle was given back */
	struct ts_pg *v[POOL_MAX];	/* made so far: v[0..n) */
	int busy[POOL_MAX];	/* v[i] is held by a caller */
	unsigned n, max;
};

int
ts_pg_pool_new(const char *uri, unsigned max, struct ts_pg_pool **out)
{
	struct ts_pg_pool *p = calloc(1, sizeof(*p));

	if (p == NULL || (p->uri = strdup(uri)) == NULL) {
		free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->freed, NULL);
	p->max = max < 1 ? 1 : max > POOL_MAX ? POOL_MAX : max;
	*out = p;
	return 0;
}

void
ts_pg_pool_free(struct ts_pg_pool *p)
{
	if (p == NULL)
		return;
	for (unsigned i = 0; i < p->n; i++)
		ts_pg_close(p->v[i]);
	pthread_cond_destroy(&p->freed);
	pthread_mutex_destroy(&p->mu);
	free(p->uri);
	free(p);
}

struct ts_pg *
ts_pg_pool_get(struct ts_pg_pool *p)
{
	struct ts_pg *pg = NULL;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		for (unsigned i = 0; i < p->n && pg == NULL; i++)
			if (!p->busy[i]) {
				p->busy[i] = 1;
				pg = p->v[i];
			}
		if (pg != NULL)
			break;
		if (p->n < p->max) {
			/* Made unconnected: no round trip under mu. */
			if ((pg = pg_new(p->uri)) != NULL) {
				p->v[p->n] = pg;
				p->busy[p->n++] = 1;
			}
			break;
		}
		pthread_cond_wait(&p->freed, &p->mu);
	}
	pthread_mutex_unlock(&p->mu);
	return pg;
}

void
ts_pg_pool_put(struct ts_pg_pool *p, struct ts_pg *pg)
{
	pthread_mutex_lock(&p->mu);
	for (unsigned i = 0; i < p->n; i++)
		if (p->v[i] == pg)
			p->busy[i] = 0;
	pthread_cond_signal(&p->freed);
	pthread_mutex_unlock(&p->mu);
}

unsigned long long
ts_pg_pool_statements(struct ts_pg_pool *p)
{
	unsigned long long n = 0;

	pthread_mutex_lock(&p->mu);
	for (unsigned i = 0; i < p->n; i++)
		n += ts_pg_statements(p->v[i]);
	pthread_mutex_unlock(&p->mu);
	return n;
}

unsigned
ts_pg_pool_made(struct ts_pg_pool *p)
{
	unsigned n;

	pthread_mutex_lock(&p->mu);
	n = p->n;
	pthread_mutex_unlock(&p->mu);
	return n;
}
