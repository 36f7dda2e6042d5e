/*
 * prefetch: the worker threads and their queue (prefetch.h).
 */
#include "fs/prefetch.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "fs/read.h"

#define MAX_THREADS 8
#define QLEN 64			/* tickets waiting; more are dropped */
#define RECENT 8		/* tickets queued lately, not queued again */

struct job {
	uint64_t slot;
	uint64_t skip;
};

struct ts_prefetch {
	struct ts_fs *fs;
	pthread_t th[MAX_THREADS];
	unsigned nth;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job q[QLEN];	/* a ring; guarded by lock */
	unsigned head, count;	/* guarded by lock */
	uint64_t recent[RECENT];	/* slot + 1, 0 = none; guarded by lock */
	unsigned rpos;		/* guarded by lock */
	int stop;		/* guarded by lock */
	atomic_uint_fast64_t done;
};

static void
run_job(struct ts_prefetch *p, const struct job *j)
{
	int rc = ts_read_cache_fill_ticket(p->fs, j->slot, j->skip);

	if (rc > 0)
		atomic_fetch_add(&p->done, (uint_fast64_t)rc);
}

static void *
worker(void *arg)
{
	struct ts_prefetch *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct job j;

		while (p->count == 0 && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		if (p->stop)
			break;
		j = p->q[p->head];
		p->head = (p->head + 1) % QLEN;
		p->count--;
		pthread_mutex_unlock(&p->lock);
		run_job(p, &j);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int
ts_prefetch_start(struct ts_fs *fs, unsigned nthreads,
                  struct ts_prefetch **out)
{
	struct ts_prefetch *p = calloc(1, sizeof(*p));

	if (p == NULL)
		return -ENOMEM;
	p->fs = fs;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (nthreads > MAX_THREADS)
		nthreads = MAX_THREADS;
	for (; p->nth < nthreads; p->nth++) {
		int rc = pthread_create(&p->th[p->nth], NULL, worker, p);

		if (rc != 0) {
			ts_prefetch_stop(p);
			return -rc;
		}
	}
	*out = p;
	return 0;
}

void
ts_prefetch_stop(struct ts_prefetch *p)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = 1;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	for (unsigned i = 0; i < p->nth; i++)
		pthread_join(p->th[i], NULL);
	pthread_cond_destroy(&p->cond);
	pthread_mutex_destroy(&p->lock);
	free(p);
}

void
ts_prefetch_ticket(struct ts_prefetch *p, uint64_t slot, uint64_t skip)
{
	if (p == NULL || p->nth == 0)
		return;
	pthread_mutex_lock(&p->lock);
	for (unsigned i = 0; i < RECENT; i++)
		if (p->recent[i] == slot + 1) {
			pthread_mutex_unlock(&p->lock);
			return;
		}
	p->recent[p->rpos] = slot + 1;
	p->rpos = (p->rpos + 1) % RECENT;
	if (p->count < QLEN) {
		p->q[(p->head + p->count) % QLEN] = (struct job){ slot, skip };
		p->count++;
		pthread_cond_signal(&p->cond);
	}
	pthread_mutex_unlock(&p->lock);
}

uint64_t
ts_prefetch_done(struct ts_prefetch *p)
{
	return p == NULL ? 0 : atomic_load(&p->done);
}
