/*
 * notes: the queue of changes for the kernel, between the request
 * handlers (which must not notify from inside a request) and the ticker,
 * which sends them.  Both call down into it; it calls nothing in fs/.
 */
#include "fs/notes.h"

#include <string.h>
#include <time.h>

void
ts_notes_queue(struct ts_fs *fs, struct ts_changes *ch)
{
	pthread_mutex_lock(&fs->note_lock);
	for (size_t i = 0; i < ch->n; i++)
		ts_changes_add(&fs->notes, ch->v[i].dir_ino, ch->v[i].gone_ino,
		               ch->v[i].name);
	pthread_cond_signal(&fs->note_cond);
	pthread_mutex_unlock(&fs->note_lock);
	ts_changes_release(ch);
}

void
ts_notes_wake(struct ts_fs *fs)
{
	pthread_mutex_lock(&fs->note_lock);
	fs->wake_at = 1;
	pthread_cond_signal(&fs->note_cond);
	pthread_mutex_unlock(&fs->note_lock);
}

void
ts_notes_take(struct ts_fs *fs, int64_t until_ms, int wait,
              struct ts_changes *out)
{
	struct timespec ts;

	ts.tv_sec = (time_t)(until_ms / 1000);
	ts.tv_nsec = (long)(until_ms % 1000) * 1000000;
	pthread_mutex_lock(&fs->note_lock);
	if (fs->notes.n == 0 && !fs->wake_at && wait)
		pthread_cond_timedwait(&fs->note_cond, &fs->note_lock, &ts);
	*out = fs->notes;
	memset(&fs->notes, 0, sizeof(fs->notes));
	fs->wake_at = 0;
	pthread_mutex_unlock(&fs->note_lock);
}

void
ts_notes_kick(struct ts_fs *fs)
{
	pthread_mutex_lock(&fs->note_lock);
	pthread_cond_signal(&fs->note_cond);
	pthread_mutex_unlock(&fs->note_lock);
}
