/*
 * deadline: the binary min-heap of (deadline, slot) pairs behind the
 * sweep's queue (fs/deadline.h).
 */
#include "fs/deadline.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int
ts_deadline_push(struct ts_deadlines *h, int64_t deadline, uint64_t slot)
{
	size_t i;

	if (h->n == h->cap) {
		size_t cap = h->cap ? 2 * h->cap : 1024;
		struct ts_deadline_item *v = realloc(h->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		h->v = v;
		h->cap = cap;
	}
	i = h->n++;
	while (i > 0 && h->v[(i - 1) / 2].deadline > deadline) {
		h->v[i] = h->v[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	h->v[i] = (struct ts_deadline_item){ deadline, slot };
	return 0;
}

int
ts_deadline_top(const struct ts_deadlines *h, int64_t *deadline,
                uint64_t *slot)
{
	if (h->n == 0)
		return -ENOENT;
	*deadline = h->v[0].deadline;
	*slot = h->v[0].slot;
	return 0;
}

void
ts_deadline_pop(struct ts_deadlines *h)
{
	struct ts_deadline_item last;
	size_t i = 0;

	if (h->n == 0)
		return;
	last = h->v[--h->n];
	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= h->n)
			break;
		if (c + 1 < h->n && h->v[c + 1].deadline < h->v[c].deadline)
			c++;
		if (h->v[c].deadline >= last.deadline)
			break;
		h->v[i] = h->v[c];
		i = c;
	}
	if (h->n > 0)
		h->v[i] = last;
}

void
ts_deadline_reset(struct ts_deadlines *h)
{
	h->n = 0;
}

void
ts_deadline_release(struct ts_deadlines *h)
{
	free(h->v);
	memset(h, 0, sizeof(*h));
}
