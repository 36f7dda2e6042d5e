/*
 * fold: refusals counted per (uid, op, errno) a window at a time, so that
 * a flood of them costs the audit trail a few lines a second (fold.h).
 */
#include "fs/fold.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/util.h"

#define OP_MAX 32
#define EXACT_MAX (TS_FOLD_KEYS * 3 / 4)	/* the rest: keys by uid */

enum slot_kind {
	K_FREE,
	K_EXACT,		/* one (uid, op, errno) */
	K_UID,			/* every refusal of one uid */
	K_ALL,			/* every refusal of every uid: ts_fold.all */
};

struct slot {
	enum slot_kind kind;
	uid_t uid;			/* the key: K_EXACT, K_UID */
	char op[OP_MAX];		/* the key: K_EXACT */
	int err;			/* the key: K_EXACT */
	int64_t start;			/* the window's first refusal, ms */
	unsigned written;		/* written one by one in this window */
	uint64_t pending;		/* counted, not yet written */
	int64_t first_ms, last_ms;	/* the first and last pending one */
	/* The last pending refusal, which the folded entry shows: */
	uid_t last_uid;
	pid_t pid;
	int last_err;
	char last_op[OP_MAX];
	char comm[17];
	char path[TS_FOLD_PATH_MAX + 1];
};

struct ts_fold {
	pthread_mutex_t lock;
	struct ts_audit *a;			/* the trail; the caller's */
	struct slot slots[TS_FOLD_KEYS];	/* guarded by lock */
	struct slot all;			/* guarded by lock */
};

int
ts_fold_new(struct ts_audit *a, struct ts_fold **out)
{
	struct ts_fold *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -ENOMEM;
	pthread_mutex_init(&f->lock, NULL);
	f->a = a;
	f->all.kind = K_ALL;
	*out = f;
	return 0;
}

void
ts_fold_free(struct ts_fold *f)
{
	if (f == NULL)
		return;
	ts_fold_flush(f, 0, 1);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* path, or a copy cut to TS_FOLD_PATH_MAX bytes in buf. */
static const char *
cut_path(const char *path, char buf[TS_FOLD_PATH_MAX + 1])
{
	size_t n;

	if (path == NULL || strlen(path) <= TS_FOLD_PATH_MAX)
		return path;
	n = TS_FOLD_PATH_MAX - 3;
	/* Not inside a UTF-8 character: the trail would drop all of it. */
	while (n > 0 && ((unsigned char)path[n] & 0xc0) == 0x80)
		n--;
	memcpy(buf, path, n);
	memcpy(buf + n, "...", 4);
	return buf;
}

static int
busy(const struct slot *s, int64_t now)
{
	return s->kind != K_FREE &&
	       (s->pending > 0 || now - s->start < TS_FOLD_WINDOW_MS);
}

static struct slot *
claim(struct slot *s, enum slot_kind kind, const struct ts_audit_entry *e,
      const char *op, int64_t now)
{
	memset(s, 0, sizeof(*s));
	s->kind = kind;
	s->uid = e->uid;
	if (kind == K_EXACT) {
		snprintf(s->op, sizeof(s->op), "%s", op);
		s->err = e->err;
	}
	s->start = now;
	return s;
}

/* The slot that counts e: its key's, a new one, its uid's, or all. */
static struct slot *
slot_for(struct ts_fold *f, const struct ts_audit_entry *e, const char *op,
         int64_t now)
{
	struct slot *exact = NULL, *byuid = NULL, *spare = NULL;
	unsigned nbusy = 0;

	for (unsigned i = 0; i < TS_FOLD_KEYS; i++) {
		struct slot *s = &f->slots[i];

		if (s->kind == K_EXACT && s->uid == e->uid && s->err == e->err &&
		    strcmp(s->op, op) == 0)
			exact = s;
		else if (s->kind == K_UID && s->uid == e->uid)
			byuid = s;
		if (busy(s, now))
			nbusy++;
		else if (spare == NULL)
			spare = s;
	}
	if (exact != NULL)
		return exact;
	if (spare != NULL && nbusy < EXACT_MAX)
		return claim(spare, K_EXACT, e, op, now);
	if (byuid != NULL)
		return byuid;
	if (spare != NULL)
		return claim(spare, K_UID, e, op, now);
	return &f->all;
}

static void
count(struct slot *s, const struct ts_audit_entry *e, const char *op,
      int64_t now)
{
	if (s->pending == 0)
		s->first_ms = now;
	s->pending++;
	s->last_ms = now;
	s->last_uid = e->uid;
	s->pid = e->pid;
	s->last_err = e->err;
	snprintf(s->last_op, sizeof(s->last_op), "%s", op);
	snprintf(s->comm, sizeof(s->comm), "%s", e->comm ? e->comm : "");
	snprintf(s->path, sizeof(s->path), "%s", e->path ? e->path : "");
}

/* Writes s's pending count as one entry; it stays pending on failure. */
static int
flush_slot(struct ts_fold *f, struct slot *s)
{
	char t1[32], t2[32], detail[256];
	struct ts_audit_entry e = {
		.uid = s->last_uid, .pid = s->pid, .comm = s->comm,
		.op = s->kind == K_EXACT ? s->op : "denied-folded",
		.path = s->path, .err = s->last_err, .detail = detail,
		.count = s->pending,
	};
	int n, rc;

	if (s->pending == 0)
		return 0;
	ts_time_format_ms(s->first_ms, t1);
	ts_time_format_ms(s->last_ms, t2);
	n = snprintf(detail, sizeof(detail), "folded: %llu refusal%s from %s "
	             "to %s", (unsigned long long)s->pending,
	             s->pending == 1 ? "" : "s", t1, t2);
	/* Folded coarser because the table was full: say what by. */
	if (s->kind != K_EXACT && n > 0 && (size_t)n < sizeof(detail))
		snprintf(detail + n, sizeof(detail) - (size_t)n,
		         "; %s (table full), last op %s", s->kind == K_UID ?
		         "by uid" : "all uids", s->last_op);
	if ((rc = ts_audit_append(f->a, &e)) == 0)
		s->pending = 0;
	return rc;
}

int
ts_fold_refusal(struct ts_fold *f, const struct ts_audit_entry *e,
                int64_t now_ms)
{
	char path[TS_FOLD_PATH_MAX + 1], op[OP_MAX];
	struct ts_audit_entry c = *e;
	struct slot *s;
	int rc = 0, wrc;

	c.count = 0;
	c.path = cut_path(e->path, path);
	snprintf(op, sizeof(op), "%s", e->op ? e->op : "");
	pthread_mutex_lock(&f->lock);
	s = slot_for(f, &c, op, now_ms);
	if (now_ms - s->start >= TS_FOLD_WINDOW_MS) {
		/* The window is over: its count first, then a new window. */
		rc = flush_slot(f, s);
		s->start = now_ms;
		s->written = 0;
	}
	if (s->written < TS_FOLD_BURST) {
		s->written++;
		if ((wrc = ts_audit_append(f->a, &c)) == 0)
			goto out;
		rc = rc < 0 ? rc : wrc;
	}
	count(s, &c, op, now_ms);
out:
	pthread_mutex_unlock(&f->lock);
	return rc;
}

int
ts_fold_flush(struct ts_fold *f, int64_t now_ms, int force)
{
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	for (unsigned i = 0; i <= TS_FOLD_KEYS; i++) {
		struct slot *s = i < TS_FOLD_KEYS ? &f->slots[i] : &f->all;
		int src;

		if (s->pending == 0 ||
		    (!force && now_ms - s->start < TS_FOLD_WINDOW_MS))
			continue;
		if ((src = flush_slot(f, s)) < 0 && rc == 0)
			rc = src;
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

uint64_t
ts_fold_pending(struct ts_fold *f)
{
	uint64_t n = 0;

	pthread_mutex_lock(&f->lock);
	for (unsigned i = 0; i < TS_FOLD_KEYS; i++)
		n += f->slots[i].pending;
	n += f->all.pending;
	pthread_mutex_unlock(&f->lock);
	return n;
}
