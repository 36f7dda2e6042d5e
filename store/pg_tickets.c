/*
 * pg_tickets: a PostgreSQL store's tickets, one row of ts_tickets each
 * (id, ver, rec): rec is exactly the bytes a directory store's tickets/ID
 * file holds (records built and checked by record_write.c, as the file
 * backend's), ver counts the row's writes.
 *
 * Writes are versioned: this process remembers the ver of each ticket as
 * it last loaded or wrote it (a hash table keyed by id, under its own
 * mutex), and a write replaces the row only if it still has that ver
 * (UPDATE ... WHERE ver = known); else another host wrote it since, and
 * the write fails with -EAGAIN, writing nothing.  A new ticket is an
 * INSERT (a row there already: -EAGAIN too).  Each write and removal adds
 * a ts_changes row and NOTIFYs ts_changes ("N ID HOST": ids, never data)
 * in the same statement (one transaction, one round trip), so the others
 * see exactly what committed.  The record a write carries boxes over from
 * is the one store/shred.c just read (read_for_write), kept for it.
 *
 * Several boxes of a ticket are read in one statement (read_boxes: a
 * substring a box, and the ticket's key row with them), on a connection
 * of the store's readers (pg_conn.h's pool), not the main one: the
 * prefetch workers and the daemon's request thread, which read so, do not
 * wait behind the main connection's writes and audit appends.  In a
 * daemon both read_box and read_boxes are served from the records kept
 * by pg_reccache.c when they can: one statement reads a ticket's whole
 * row and key row, and the reads after it none.
 *
 * A box is read with substring() of the row: the offsets the caller has
 * are the record's it loaded; if another host rewrote the row meanwhile
 * the bytes are another box's or none, which the box's binding to its
 * ticket and field refuses (never another value).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/pg_priv.h"
#include "store/record_write.h"

#define LOAD_BATCH "2000"	/* rows a FETCH at load */

struct ver_slot {
	uint64_t hash;		/* of id */
	int64_t ver;		/* 0: not known (no row, or unsure) */
	char id[TS_NAME_MAX + 1];	/* "" = free */
};

struct pg_tickets {
	pthread_mutex_t mu;	/* guards v, cap, n */
	struct ver_slot *v;	/* open addressing, linear probing */
	size_t cap;		/* a power of two, or 0 */
	size_t n;		/* slots in use */
	struct {
		char id[TS_NAME_MAX + 1];	/* "": none */
		int64_t ver;
		uint8_t *rec;	/* malloc'd */
		size_t len;
	} last;			/* the record read_for_write read last, for
				   the write that follows it */
	int loaded;		/* ts_pg_load ran: a ticket not in v is one
				   this process has not seen (another host
				   made it since); else (a tool) any row
				   there is the one it writes over */
};

static uint64_t
hash_id(const char *id)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ull;
	/* FNV's low bits (the slot) mix poorly for ids that differ in a few
	 * digits: fold the high bits in (MurmurHash3's finaliser). */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

/* The slot of id (of hash h), or the free one where it would go (mu
 * held, cap > 0). */
static struct ver_slot *
slot_of(struct ver_slot *v, size_t cap, uint64_t h, const char *id)
{
	size_t i = (size_t)h & (cap - 1);

	while (v[i].id[0] != '\0' &&
	       (v[i].hash != h || strcmp(v[i].id, id) != 0))
		i = (i + 1) & (cap - 1);
	return &v[i];
}

static int
grow(struct pg_tickets *pt)
{
	size_t cap = pt->cap ? 2 * pt->cap : 1024;
	struct ver_slot *v = calloc(cap, sizeof(*v));

	if (v == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < pt->cap; i++)
		if (pt->v[i].id[0] != '\0')
			*slot_of(v, cap, pt->v[i].hash, pt->v[i].id) =
			    pt->v[i];
	free(pt->v);
	pt->v = v;
	pt->cap = cap;
	return 0;
}

/* id's known ver; 0 if none (and *seen: whether this process would
 * know it if it had one). */
static int64_t
ver_get(struct pg_store *ps, const char *id, int *seen)
{
	struct pg_tickets *pt = ps->tickets;
	uint64_t h = hash_id(id);
	int64_t ver = 0;

	pthread_mutex_lock(&pt->mu);
	if (pt->cap > 0)
		ver = slot_of(pt->v, pt->cap, h, id)->ver;
	*seen = pt->loaded;
	pthread_mutex_unlock(&pt->mu);
	return ver;
}

/* Remembers id's ver (0: forget it).  -ENOMEM leaves it unknown: the
 * next write of id then fails -EAGAIN and the caller re-reads. */
static int
ver_set(struct pg_store *ps, const char *id, int64_t ver)
{
	struct pg_tickets *pt = ps->tickets;
	uint64_t h = hash_id(id);
	struct ver_slot *s;
	int64_t was = 0;
	int rc = 0;

	pthread_mutex_lock(&pt->mu);
	if ((pt->n + 1) * 2 > pt->cap && (rc = grow(pt)) < 0) {
		if (pt->cap > 0) {
			s = slot_of(pt->v, pt->cap, h, id);
			was = s->ver;
			s->ver = 0;
		}
		goto out;
	}
	s = slot_of(pt->v, pt->cap, h, id);
	was = s->ver;
	if (s->id[0] == '\0') {
		if (ver == 0)
			goto out;
		snprintf(s->id, sizeof(s->id), "%s", id);
		s->hash = h;
		pt->n++;
	}
	s->ver = ver;
out:
	pthread_mutex_unlock(&pt->mu);
	/* The record kept of another version is no use now (and, keyed by
	 * version, never served): freed at once.  (None is kept of a ticket
	 * first seen: a load of 100,000 looks nothing up.) */
	if (was != 0 && was != ver)
		ts_pg_reccache_drop(ps, id);
	return rc;
}

int
ts_pg_tickets_known(struct pg_store *ps, char (**ids)[TS_NAME_MAX + 1],
                    size_t *n)
{
	struct pg_tickets *pt = ps->tickets;
	char (*v)[TS_NAME_MAX + 1];
	size_t k = 0;

	pthread_mutex_lock(&pt->mu);
	if ((v = malloc((pt->n ? pt->n : 1) * sizeof(*v))) == NULL) {
		pthread_mutex_unlock(&pt->mu);
		return -ENOMEM;
	}
	for (size_t i = 0; i < pt->cap && k < pt->n; i++)
		if (pt->v[i].id[0] != '\0')
			memcpy(v[k++], pt->v[i].id, sizeof(*v));
	pthread_mutex_unlock(&pt->mu);
	*ids = v;
	*n = k;
	return 0;
}

int64_t
ts_pg_tickets_ver(struct pg_store *ps, const char *id)
{
	int seen;

	return ver_get(ps, id, &seen);
}

int
ts_pg_tickets_is_known(struct pg_store *ps, const char *id)
{
	int seen;

	return ver_get(ps, id, &seen) != 0;
}

int
ts_pg_tickets_init(struct pg_store *ps)
{
	struct pg_tickets *pt = calloc(1, sizeof(*pt));

	if (pt == NULL)
		return -ENOMEM;
	pthread_mutex_init(&pt->mu, NULL);
	ps->tickets = pt;
	return 0;
}

void
ts_pg_tickets_free(struct pg_store *ps)
{
	struct pg_tickets *pt = ps->tickets;

	if (pt == NULL)
		return;
	pthread_mutex_destroy(&pt->mu);
	free(pt->last.rec);
	free(pt->v);
	free(pt);
	ps->tickets = NULL;
}

/* A big-endian int8 of a binary result. */
static int64_t
int8_of(const char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | (unsigned char)p[i];
	return (int64_t)v;
}

/* The text id of a binary result's column into id; 0 if it is none. */
static int
id_of(PGresult *r, int row, int col, char id[TS_NAME_MAX + 1])
{
	int len = PQgetlength(r, row, col);

	if (len < 1 || len > TS_NAME_MAX)
		return 0;
	memcpy(id, PQgetvalue(r, row, col), (size_t)len);
	id[len] = '\0';
	return ts_id_valid(id);
}

/* Decodes row i of a (id, ver, rec) result and hands it to fn. */
static int
load_row(struct pg_store *ps, PGresult *r, int i, ts_store_ticket_fn fn,
         void *arg)
{
	char id[TS_NAME_MAX + 1];
	struct ts_ticket t;
	int err;

	if (!id_of(r, i, 0, id) || PQgetlength(r, i, 1) != 8)
		return 0;	/* not ours: leave it alone */
	if ((err = ver_set(ps, id, int8_of(PQgetvalue(r, i, 1)))) < 0)
		return err;
	err = ts_record_decode_ticket((const uint8_t *)PQgetvalue(r, i, 2),
	                              (size_t)PQgetlength(r, i, 2), id,
	                              ps->reckey, &t);
	return fn(arg, id, err == 0 ? &t : NULL, err);
}

/*
 * Every row through one cursor in one transaction (a consistent
 * snapshot), a batch of rows a round trip, in id order (strcmp's, as a
 * directory's sorted names).
 */
int
ts_pg_load(struct ts_store *st, ts_store_ticket_fn fn, void *arg)
{
	struct pg_store *ps = pg_of(st);
	PGresult *r;
	int rc, n;

	if ((rc = ts_pg_begin(ps->pg)) < 0)
		return rc;
	pthread_mutex_lock(&ps->tickets->mu);
	ps->tickets->loaded = 1;
	pthread_mutex_unlock(&ps->tickets->mu);
	rc = ts_pg_exec(ps->pg, "DECLARE ts_load BINARY NO SCROLL CURSOR FOR "
	                "SELECT id, ver, rec FROM ts_tickets "
	                "ORDER BY id COLLATE \"C\"");
	while (rc == 0) {
		rc = pg_query_io(ps->pg, "FETCH " LOAD_BATCH " FROM ts_load",
		                 0, NULL, NULL, NULL, 1, &r);
		if (rc < 0)
			break;
		n = PQntuples(r);
		for (int i = 0; i < n && rc == 0; i++)
			rc = load_row(ps, r, i, fn, arg);
		PQclear(r);
		if (n == 0)
			break;
	}
	if (rc != 0) {
		ts_pg_rollback(ps->pg);
		return rc;
	}
	return ts_pg_commit(ps->pg);
}

int
ts_pg_load_one(struct ts_store *st, const char *id, struct ts_ticket **out)
{
	struct pg_store *ps = pg_of(st);
	const char *v[] = { id };
	struct ts_ticket *t;
	PGresult *r;
	int rc;

	if (!ts_id_valid(id))
		return -ENOENT;
	rc = pg_query_io(ps->pg, "SELECT ver, rec FROM ts_tickets WHERE id = $1",
	                 1, v, NULL, NULL, 1, &r);
	if (rc < 0)
		return rc;
	if (PQntuples(r) != 1) {
		PQclear(r);
		ver_set(ps, id, 0);
		return -ENOENT;
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	rc = ver_set(ps, id, int8_of(PQgetvalue(r, 0, 0)));
	if (rc == 0)
		rc = ts_record_decode_ticket((const uint8_t *)PQgetvalue(r, 0, 1),
		                             (size_t)PQgetlength(r, 0, 1), id,
		                             ps->reckey, t);
	if (rc < 0) {
		free(t);
		goto out;
	}
	*out = t;
out:
	PQclear(r);
	return rc;
}

/* Keeps a copy of id's record at ver for the write that follows (none
 * kept if there is no memory: the write reads it again). */
static void
keep_last(struct pg_store *ps, const char *id, int64_t ver,
          const uint8_t *rec, size_t len)
{
	struct pg_tickets *pt = ps->tickets;
	uint8_t *copy = malloc(len ? len : 1);

	pthread_mutex_lock(&pt->mu);
	free(pt->last.rec);
	pt->last.rec = copy;
	pt->last.id[0] = '\0';
	if (copy != NULL) {
		memcpy(copy, rec, len);
		snprintf(pt->last.id, sizeof(pt->last.id), "%s", id);
		pt->last.ver = ver;
		pt->last.len = len;
	}
	pthread_mutex_unlock(&pt->mu);
}

/* Takes the record kept for id, if it is id's: 1 (*rec malloc'd), else 0. */
static int
take_last(struct pg_store *ps, const char *id, int64_t *ver, uint8_t **rec,
          size_t *len)
{
	struct pg_tickets *pt = ps->tickets;
	int got = 0;

	pthread_mutex_lock(&pt->mu);
	if (pt->last.rec != NULL && strcmp(pt->last.id, id) == 0) {
		*ver = pt->last.ver;
		*rec = pt->last.rec;
		*len = pt->last.len;
		pt->last.rec = NULL;
		pt->last.id[0] = '\0';
		got = 1;
	}
	pthread_mutex_unlock(&pt->mu);
	return got;
}

/* The row's current ver and a copy of its record (for the boxes carried
 * over); -ENOENT if there is none. */
static int
read_current(struct pg_store *ps, const char *id, int64_t *ver,
             uint8_t **rec, size_t *len)
{
	const char *v[] = { id };
	PGresult *r;
	int rc;

	rc = pg_query_io(ps->pg, "SELECT ver, rec FROM ts_tickets WHERE id = $1",
	                 1, v, NULL, NULL, 1, &r);
	if (rc < 0)
		return rc;
	if (PQntuples(r) != 1) {
		rc = -ENOENT;
		goto out;
	}
	*ver = int8_of(PQgetvalue(r, 0, 0));
	*len = (size_t)PQgetlength(r, 0, 1);
	if ((*rec = malloc(*len ? *len : 1)) == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(*rec, PQgetvalue(r, 0, 1), *len);
out:
	PQclear(r);
	return rc;
}

/*
 * The changes row and its NOTIFY for what statement w (a CTE) returned:
 * appended to w, so that the row, its change and the notice commit
 * together as one statement (one round trip, no BEGIN / COMMIT).
 */
#define ANNOUNCED(w, host) \
	"WITH " w ", c AS (INSERT INTO ts_changes (id, host) SELECT w.id, " \
	host " FROM w RETURNING n, id) SELECT w.ver, pg_notify('ts_changes', " \
	"c.n || ' ' || c.id || ' ' || " host ") FROM w, c"

/* UPDATE (known > 0) or INSERT (known == 0) of the row, announced, in one
 * statement: the new ver, 0 if another host wrote it first, or -errno
 * (-EIO: the connection broke, committed or not). */
static int64_t
store_row(struct pg_store *ps, const char *id, int64_t known,
          const struct ts_record_built *b)
{
	char kv[24];
	const char *v[] = { id, (const char *)b->rec,
	                    ts_store_host(&ps->base), kv };
	int len[] = { 0, (int)b->len, 0, 0 };
	int fmt[] = { 0, 1, 0, 0 };
	PGresult *r;
	int64_t ver;
	int rc;

	snprintf(kv, sizeof(kv), "%lld", (long long)known);
	if (known > 0)
		rc = pg_query_io(ps->pg, ANNOUNCED(
		    "w AS (UPDATE ts_tickets SET rec = $2, ver = ver + 1 WHERE "
		    "id = $1::text AND ver = $4::bigint RETURNING id, ver)",
		    "$3::text"), 4, v, len, fmt, 0, &r);
	else
		rc = pg_query_io(ps->pg, ANNOUNCED(
		    "w AS (INSERT INTO ts_tickets (id, ver, rec) VALUES "
		    "($1::text, 1, $2) ON CONFLICT (id) DO NOTHING "
		    "RETURNING id, ver)",
		    "$3::text"), 3, v, len, fmt, 0, &r);
	if (rc < 0)
		return rc;
	/* No row: another host wrote it first (or made it). */
	ver = PQntuples(r) == 1 ? strtoll(PQgetvalue(r, 0, 0), NULL, 10) : 0;
	PQclear(r);
	return ver;
}

int
ts_pg_write(struct ts_store *st, struct ts_ticket *t, const uint8_t *extra)
{
	struct pg_store *ps = pg_of(st);
	struct ts_record_built b;
	uint8_t *old = NULL;
	size_t oldlen = 0;
	int64_t known, cur, ver;
	int rc, seen;

	if (!ts_id_valid(t->id))
		return -EINVAL;
	known = ver_get(ps, t->id, &seen);
	/* The copy shred.c's read left (taken in any case: not kept past
	 * the write it was for), if it is of the version this write
	 * replaces; else the row as it is now. */
	if (take_last(ps, t->id, &cur, &old, &oldlen) &&
	    (cur != known || !ts_record_needs_old(t))) {
		free(old);
		old = NULL;
	}
	if (ts_record_needs_old(t)) {
		if (old == NULL &&
		    (rc = read_current(ps, t->id, &cur, &old, &oldlen)) < 0)
			return rc;
		if (cur != known && (known != 0 || seen)) {
			free(old);
			return -EAGAIN;	/* another host wrote it since */
		}
		known = cur;	/* a process that never loaded it (a tool) */
	}
	rc = ts_record_build(t, extra, old, oldlen, ps->reckey, &b);
	free(old);
	if (rc < 0)
		return rc;
	ver = store_row(ps, t->id, known, &b);
	if (ver > 0) {
		ver_set(ps, t->id, ver);
		ts_record_built_apply(&b, t);
		rc = 0;
	} else {
		rc = ver == 0 ? -EAGAIN : (int)ver;
		if (rc == -EIO)	/* committed or not: unknown */
			ver_set(ps, t->id, 0);
	}
	ts_record_built_release(&b);
	return rc;
}

/* The row and its key rows go in one statement (one transaction), with
 * its change: no copy of the record opens after it commits.  Versioned
 * as a write is: if this process read the ticket, only the version it
 * read is removed (another host's newer one: -EAGAIN, the caller
 * re-reads and checks again). */
int
ts_pg_remove(struct ts_store *st, const char *id)
{
	struct pg_store *ps = pg_of(st);
	char kv[24];
	const char *v[] = { id, ts_store_host(st), kv };
	PGresult *r;
	int64_t known;
	int rc, seen;

	if (!ts_id_valid(id))
		return -ENOENT;
	known = ver_get(ps, id, &seen);	/* 0: not known, not checked */
	snprintf(kv, sizeof(kv), "%lld", (long long)known);
	rc = pg_query_io(ps->pg,
	    "WITH d AS (DELETE FROM ts_tickets WHERE id = $1::text AND "
	    "($3::bigint = 0 OR ver = $3::bigint) RETURNING id), "
	    "k AS (DELETE FROM ts_ticket_keys WHERE id IN (SELECT id FROM d)), "
	    "c AS (INSERT INTO ts_changes (id, host) SELECT id, $2::text FROM d "
	    "RETURNING n, id) SELECT pg_notify('ts_changes', c.n || ' ' || "
	    "c.id || ' ' || $2::text) FROM c", 3, v, NULL, NULL, 0, &r);
	if (rc == 0) {
		rc = PQntuples(r) == 1 ? 0 : -ENOENT;
		PQclear(r);
	}
	if (rc == -ENOENT && known > 0) {
		/* Not removed: gone, or rewritten by another host? */
		rc = pg_query_io(ps->pg, "SELECT 1 FROM ts_tickets WHERE id = $1",
		                 1, v, NULL, NULL, 0, &r);
		if (rc == 0) {
			rc = PQntuples(r) == 1 ? -EAGAIN : -ENOENT;
			PQclear(r);
		}
	}
	if (rc == 0 || rc == -EIO)
		ver_set(ps, id, 0);
	return rc;
}

int
ts_pg_read_box(struct ts_store *st, const char *id, const struct ts_box *box,
               uint8_t *buf)
{
	struct pg_store *ps = pg_of(st);
	char off[16], len[16];
	const char *v[] = { id, off, len };
	PGresult *r;
	int rc;

	if ((rc = ts_pg_reccache_read(ps, ps->pg, id, box, 1,
	                              (uint8_t *const *)&buf, NULL, NULL)) <= 0)
		return rc;
	snprintf(off, sizeof(off), "%lu", (unsigned long)box->off + 1);
	snprintf(len, sizeof(len), "%lu", (unsigned long)box->len);
	rc = pg_query_io(ps->pg, "SELECT substring(rec FROM $2::integer FOR "
	                 "$3::integer) FROM ts_tickets WHERE id = $1", 3, v,
	                 NULL, NULL, 1, &r);
	if (rc < 0)
		return rc;
	if (PQntuples(r) != 1)
		rc = -ENOENT;
	else if ((size_t)PQgetlength(r, 0, 0) != box->len)
		rc = -EIO;	/* as a short read of the record file */
	else
		memcpy(buf, PQgetvalue(r, 0, 0), box->len);
	PQclear(r);
	return rc;
}

/* "{a,b,...}": an integer[] literal of the n values f(boxes[i]). */
static void
int_array(char *out, size_t outlen, const struct ts_box *boxes, size_t n,
          int offsets)
{
	size_t at = 0;

	at += (size_t)snprintf(out + at, outlen - at, "{");
	for (size_t i = 0; i < n && at < outlen; i++)
		at += (size_t)snprintf(out + at, outlen - at, "%s%lu",
		                       i ? "," : "", offsets ?
		                       (unsigned long)boxes[i].off + 1 :
		                       (unsigned long)boxes[i].len);
	if (at < outlen)
		snprintf(out + at, outlen - at, "}");
}

/*
 * One statement on a reader connection (ps->readers): a row (i, bytes)
 * a box, its substring of the row's rec, and with key a row (0, key) of
 * the ticket's current key, from one snapshot of the database.
 */
int
ts_pg_read_boxes(struct ts_store *st, const char *id,
                 const struct ts_box *boxes, size_t n, uint8_t *const *bufs,
                 uint8_t **key, size_t *keylen)
{
	struct pg_store *ps = pg_of(st);
	char offs[TS_STORE_BOXES_MAX * 12 + 4], lens[TS_STORE_BOXES_MAX * 12 + 4];
	const char *v[] = { id, offs, lens, key != NULL ? "t" : "f" };
	unsigned char seen[TS_STORE_BOXES_MAX] = { 0 };
	struct ts_pg *pg;
	PGresult *r;
	size_t got = 0;
	int rc;

	if (key != NULL)
		*key = NULL;
	if (!ts_id_valid(id))
		return -ENOENT;
	if (n == 0 || n > TS_STORE_BOXES_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if ((uint64_t)boxes[i].off + boxes[i].len > TS_RECORD_MAX)
			return -EIO;	/* past any record's end */
	int_array(offs, sizeof(offs), boxes, n, 1);
	int_array(lens, sizeof(lens), boxes, n, 0);
	if ((pg = ts_pg_pool_get(ps->readers)) == NULL)
		return -ENOMEM;
	/* A session the server ended while idle (a restart) is made anew
	 * first, as the main connection's checking callers do: a reader
	 * has no session state to lose. */
	(void)ts_pg_conn(pg);
	if ((rc = ts_pg_reccache_read(ps, pg, id, boxes, n, bufs, key,
	                              keylen)) <= 0) {
		ts_pg_pool_put(ps->readers, pg);
		return rc;
	}
	rc = pg_query_io(pg,
	    "SELECT u.i, substring(t.rec FROM u.o FOR u.l) FROM ts_tickets t, "
	    "unnest($2::integer[], $3::integer[]) WITH ORDINALITY AS u(o, l, i) "
	    "WHERE t.id = $1 "
	    "UNION ALL SELECT 0, k.key FROM ts_ticket_keys k WHERE k.id = $1 "
	    "AND NOT k.next AND $4::boolean", 4, v, NULL, NULL, 1, &r);
	ts_pg_pool_put(ps->readers, pg);
	if (rc < 0)
		return rc;
	for (int row = 0; row < PQntuples(r) && rc == 0; row++) {
		int64_t i = PQgetlength(r, row, 0) == 8 ?
		            int8_of(PQgetvalue(r, row, 0)) : -1;
		size_t len = (size_t)PQgetlength(r, row, 1);

		if (i == 0 && key != NULL && *key == NULL) {
			if ((*key = malloc(len ? len : 1)) == NULL) {
				rc = -ENOMEM;
				break;
			}
			memcpy(*key, PQgetvalue(r, row, 1), len);
			*keylen = len;
		} else if (i < 1 || (size_t)i > n || seen[i - 1]) {
			rc = -EPROTO;	/* not what was asked */
		} else if (len != boxes[i - 1].len) {
			rc = -EIO;	/* past the end: as a short read */
		} else {
			memcpy(bufs[i - 1], PQgetvalue(r, row, 1), len);
			seen[i - 1] = 1;
			got++;
		}
	}
	PQclear(r);
	if (rc == 0 && got != n)
		rc = got == 0 ? -ENOENT : -EIO;
	if (rc < 0 && key != NULL) {
		free(*key);
		*key = NULL;
	}
	return rc;
}

int
ts_pg_read_record(struct ts_store *st, const char *id, uint8_t **buf,
                  size_t *len)
{
	struct pg_store *ps = pg_of(st);
	int64_t ver;

	if (!ts_id_valid(id))
		return -ENOENT;
	return read_current(ps, id, &ver, buf, len);
}

int
ts_pg_read_for_write(struct ts_store *st, const char *id, uint8_t **buf,
                     size_t *len)
{
	struct pg_store *ps = pg_of(st);
	int64_t ver, known;
	int rc, seen;

	if (!ts_id_valid(id))
		return -ENOENT;
	known = ver_get(ps, id, &seen);
	if ((rc = read_current(ps, id, &ver, buf, len)) < 0)
		return rc;
	if (ver != known && (known != 0 || seen)) {
		free(*buf);
		*buf = NULL;
		return -EAGAIN;	/* another host wrote it since */
	}
	keep_last(ps, id, ver, *buf, *len);
	return 0;
}

int
ts_pg_list(struct ts_store *st, int (*fn)(void *arg, const char *id),
           void *arg)
{
	struct pg_store *ps = pg_of(st);
	PGresult *r;
	int rc, n;

	rc = pg_query_io(ps->pg, "SELECT id FROM ts_tickets ORDER BY id "
	                 "COLLATE \"C\"", 0, NULL, NULL, NULL, 0, &r);
	if (rc < 0)
		return rc;
	n = PQntuples(r);
	for (int i = 0; i < n && rc == 0; i++)
		if (ts_id_valid(PQgetvalue(r, i, 0)))
			rc = fn(arg, PQgetvalue(r, i, 0));
	PQclear(r);
	return rc;
}

int
pg_ticket_known(struct ts_store *st, const char *id)
{
	struct pg_store *ps = pg_of(st);
	const char *v[] = { id };
	PGresult *r;
	int rc;

	if (!ts_id_valid(id))
		return 0;
	rc = pg_query_io(ps->pg, "SELECT EXISTS (SELECT 1 FROM ts_tickets "
	                 "WHERE id = $1) OR EXISTS (SELECT 1 FROM ts_intake "
	                 "WHERE id = $1 AND kind = 1)", 1, v, NULL, NULL, 0,
	                 &r);
	if (rc < 0)
		return rc;
	rc = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return rc;
}
