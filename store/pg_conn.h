/*
 * pg_conn: one libpq connection of the PostgreSQL backend, shared by the
 * threads of one process, that reconnects by itself; and a pool of such
 * connections for readers that must not queue behind it (ts_pg_pool).
 *
 * Every statement runs with a deadline: connect_timeout 5 s, and
 * statement_timeout 10 s / lock_timeout 4 s set on each new session, so a
 * write fails (with -EIO or -ETIMEDOUT) within about 10 s and never hangs;
 * a server that answers nothing at all (a partition, a frozen host) is
 * given up by the client after TS_PG_SILENCE_MS (-EIO, the connection
 * dropped), and TCP keepalives find an idle connection's peer gone.
 * A connection found broken is reset before the next statement (at most
 * one try a TS_PG_RETRY_MS, so an unreachable database fails fast); a
 * statement that fails because the connection broke is NOT run again
 * (the caller cannot know whether it committed), it returns -EIO.  A
 * session the server ended while it was idle (a restart, a terminated
 * backend: it said so and hung up) is found by ts_pg_conn (a poll of the
 * socket, no round trip), which makes a new one: a caller that checks the
 * connection before its statements (the host lock's, the audit chain's)
 * does not fail its first statement after a restart.
 * Inside a transaction (ts_pg_begin) nothing reconnects: the statements
 * fail -EIO until its ts_pg_rollback.
 *
 * Errors map to errno values by SQLSTATE: unique_violation -EEXIST,
 * insufficient_privilege -EACCES, serialization_failure and
 * deadlock_detected -EAGAIN, query_canceled / lock_not_available
 * -ETIMEDOUT, undefined_table -ENOENT, a lost or refused connection -EIO,
 * anything else -EPROTO.  ts_pg_error gives the server's message (never a
 * parameter's value: no statement logs its data).
 *
 * Thread safety: statements are serialised by a recursive mutex;
 * ts_pg_begin takes it and holds it until ts_pg_commit / ts_pg_rollback,
 * so a transaction's statements are not interleaved with another thread's.
 */
#ifndef TS_PG_CONN_H
#define TS_PG_CONN_H

#include <stddef.h>

#include <libpq-fe.h>

#define TS_PG_RETRY_MS 500
/* The client's own limit on a statement's silence: a server that sends
 * nothing for this long (a partition, a frozen host) fails the statement
 * -EIO and the connection is dropped (a lock wait ends before, at the
 * server's lock_timeout, with the session kept).  Under half the 10 s a write may take, so that a
 * write's two statements (its record, then its audit entry, on two
 * connections) fail within 10 s; a result that streams resets it. */
#define TS_PG_SILENCE_MS 4500

struct ts_pg;

/* 1 if s is a libpq URI (postgresql:// or postgres://), else 0. */
int ts_pg_is_uri(const char *s);

/* Connects to uri.  -EIO (message in errbuf) if the database cannot be
 * reached; the handle is not made then. */
int ts_pg_open(const char *uri, struct ts_pg **out, char *errbuf,
               size_t errlen);
void ts_pg_close(struct ts_pg *pg);

/*
 * Runs sql with n parameters (v[i], len[i] bytes, fmt[i] 0 text / 1
 * binary; len and fmt may be NULL for all-text, NUL-terminated values;
 * v[i] NULL is SQL NULL).  Results in text unless binary.  0 with *res
 * (PGRES_TUPLES_OK or PGRES_COMMAND_OK; PQclear it; res may be NULL if
 * the caller wants no rows), or -errno as above (*res NULL).
 */
int ts_pg_query(struct ts_pg *pg, const char *sql, int n,
                const char *const *v, const int *len, const int *fmt,
                int binary, PGresult **res);
/* ts_pg_query with no parameters and no result wanted. */
int ts_pg_exec(struct ts_pg *pg, const char *sql);

/* BEGIN (takes the mutex), COMMIT / ROLLBACK (release it).  A failed
 * COMMIT returns -errno; the transaction is then rolled back (or was, if
 * the connection broke: -EIO, the outcome unknown). */
int ts_pg_begin(struct ts_pg *pg);
int ts_pg_commit(struct ts_pg *pg);
void ts_pg_rollback(struct ts_pg *pg);

/* The last error's message (the server's, or libpq's), "" if none. */
const char *ts_pg_error(struct ts_pg *pg);
/* The connection (for PQsocket / PQconsumeInput / PQnotifies by a
 * listener that owns this handle alone); NULL while broken.  Reconnects
 * first if broken (at most one try a TS_PG_RETRY_MS). */
PGconn *ts_pg_conn(struct ts_pg *pg);
/* How many times the handle has (re)connected: a listener that sees it
 * change re-issues its LISTEN and catches up. */
unsigned long ts_pg_generation(struct ts_pg *pg);
/* Statements sent on the handle so far (ts_pg_query and ts_pg_exec:
 * one round trip each; ts_pg_begin's and ts_pg_commit's included):
 * `ticketctl stats` shows a daemon's, tests count them. */
unsigned long long ts_pg_statements(struct ts_pg *pg);
/* The URI it was opened with. */
const char *ts_pg_uri(struct ts_pg *pg);

/*
 * A pool of reader connections to one URI, beside a handle's main one:
 * for readers on other threads (the prefetch workers' box reads) that
 * must not queue behind the main connection's statements, nor make the
 * main one's callers queue behind theirs.  At most max handles, each made
 * at the first need and connected at its first statement, with the
 * deadlines and the reconnection of any ts_pg (an unreachable database:
 * one connect try a TS_PG_RETRY_MS a handle, -EIO meanwhile); none is
 * made by ts_pg_pool_new, so a pool costs nothing until it is used.
 * ts_pg_pool_get hands out a handle no other thread holds, waiting while
 * max are held; NULL only without memory.  ts_pg_pool_put gives it back.
 * ts_pg_pool_free closes them all (none may be held then).
 */
struct ts_pg_pool;
int ts_pg_pool_new(const char *uri, unsigned max, struct ts_pg_pool **out);
void ts_pg_pool_free(struct ts_pg_pool *p);
struct ts_pg *ts_pg_pool_get(struct ts_pg_pool *p);
void ts_pg_pool_put(struct ts_pg_pool *p, struct ts_pg *pg);
/* ts_pg_statements summed over p's handles. */
unsigned long long ts_pg_pool_statements(struct ts_pg_pool *p);
/* How many handles p has made (tests: a pool used by one thread at a
 * time makes one). */
unsigned ts_pg_pool_made(struct ts_pg_pool *p);

#endif
