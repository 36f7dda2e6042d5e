/*
 * load: the index from the store at mount (every record, or the store's
 * snapshot of the index), and the snapshot saved back.
 */
#include "fs/load.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fs/index_priv.h"

static int
load_one(void *arg, const char *id, struct ts_ticket *t, int err)
{
	struct ts_index *idx = arg;

	if (err < 0)
		idx->log(idx->logarg, "ticket %s: %s; its items answer EIO", id,
		         err == -EKEYREJECTED ? "record not authenticated by "
		         "this daemon's key (forged, or written behind its back)" :
		         err == -EBADMSG ? "damaged record" : strerror(-err));
	if (t != NULL)
		t->next_slot = 0;
	struct ts_entry *e;

	if ((e = ts_index_insert(idx, id, t, err)) == NULL) {
		if (t != NULL)
			ts_ticket_release(t);
		return -ENOMEM;
	}
	ts_index_schedule(idx, e);
	return 0;
}

int
ts_index_load(struct ts_index *idx)
{
	int rc;

	struct ts_store_snapinfo si;

	pthread_rwlock_wrlock(&idx->lock);
	rc = ts_store_load(idx->st, load_one, idx);
	pthread_rwlock_unlock(&idx->lock);
	if (rc < 0)
		return rc;
	/* One line a load, its wording documented in README (Index
	 * snapshot) and asserted by test_fixtures. */
	ts_store_snapshot_info(idx->st, &si);
	if (si.used)
		idx->log(idx->logarg, "index snapshot used: %zu entries, %zu "
		         "tickets taken from it, %zu read from their records",
		         si.entries, si.taken, si.read);
	else
		idx->log(idx->logarg, "index snapshot refused: %s; %zu tickets "
		         "read from their records", si.why, si.read);
	return rc;
}

int
ts_index_save_snapshot(struct ts_index *idx)
{
	const struct ts_ticket **v;
	size_t n = 0;
	int rc;

	pthread_rwlock_wrlock(&idx->lock);
	if ((v = malloc((idx->n ? idx->n : 1) * sizeof(*v))) == NULL) {
		pthread_rwlock_unlock(&idx->lock);
		return -ENOMEM;
	}
	/* Damaged tickets stay out: the next mount reads their files again. */
	for (size_t i = 0; i < idx->n; i++)
		if (idx->by_id[i]->err == 0)
			v[n++] = &idx->by_id[i]->t;
	rc = ts_store_snapshot_save(idx->st, v, n);
	pthread_rwlock_unlock(&idx->lock);
	free(v);
	return rc;
}
