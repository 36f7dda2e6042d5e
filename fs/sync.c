/*
 * sync: the thread that applies other hosts' changes to the index
 * (fs/sync.h).
 */
#include "fs/sync.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

#include "fs/notes.h"

#define WAIT_MS 200

struct ts_sync {
	struct ts_fs *fs;
	pthread_t thread;
	atomic_int stop;	/* asks the thread to end */
	int failing;		/* the last round failed (logged once);
				   the thread's own */
};

struct round {
	struct ts_sync *s;
	struct ts_changes ch;	/* for the kernel */
	int err;		/* why the round stopped early; 0 */
};

/* One changed ticket: re-read and replaced under the write lock.  A
 * non-zero return (the store unreachable) leaves it, and the rest, for
 * the next round. */
static int
apply_one(void *arg, const char *id)
{
	struct round *r = arg;
	struct ts_fs *fs = r->s->fs;
	int rc;

	ts_index_wrlock(fs->idx);
	rc = ts_index_refresh(fs->idx, id, &r->ch);
	ts_index_unlock(fs->idx);
	if (rc == -EIO || rc == -ETIMEDOUT || rc == -ENOMEM) {
		r->err = rc;
		return 1;
	}
	if (rc < 0)
		ts_fs_log(fs, "ticket %s: another host's change not applied: "
		          "%s", id, strerror(-rc));
	return 0;
}

static void
note_state(struct ts_sync *s, int err)
{
	if (err < 0 && !s->failing)
		ts_fs_log(s->fs, "other hosts' changes: %s; retried",
		          strerror(-err));
	else if (err == 0 && s->failing)
		ts_fs_log(s->fs, "following other hosts' changes again");
	s->failing = err < 0;
}

static void *
follow(void *arg)
{
	struct ts_sync *s = arg;
	struct ts_fs *fs = s->fs;

	while (!atomic_load(&s->stop)) {
		struct pollfd p = { ts_store_changes_fd(fs->st), POLLIN, 0 };
		struct round r = { s, { 0 }, 0 };
		int rc;

		if (p.fd >= 0)
			(void)poll(&p, 1, WAIT_MS);
		else
			(void)poll(NULL, 0, WAIT_MS);
		if (atomic_load(&s->stop))
			break;
		rc = ts_store_changes(fs->st, apply_one, &r);
		note_state(s, rc < 0 ? rc : r.err);
		if (r.ch.n > 0)
			ts_notes_queue(fs, &r.ch);	/* takes it over */
		else
			ts_changes_release(&r.ch);
	}
	return NULL;
}

int
ts_sync_start(struct ts_fs *fs, struct ts_sync **out)
{
	struct ts_sync *s;
	int rc;

	*out = NULL;
	if (!ts_store_shared(fs->st))
		return 0;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return -ENOMEM;
	s->fs = fs;
	atomic_init(&s->stop, 0);
	if ((rc = pthread_create(&s->thread, NULL, follow, s)) != 0) {
		free(s);
		return -rc;
	}
	*out = s;
	return 0;
}

void
ts_sync_stop(struct ts_sync *s)
{
	if (s == NULL)
		return;
	atomic_store(&s->stop, 1);
	pthread_join(s->thread, NULL);
	free(s);
}
