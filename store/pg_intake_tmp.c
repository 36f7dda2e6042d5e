/* TEMP (h14core only; the lead drops it at merge): pg_intake.c is helper A2's. */
#include <errno.h>

#include "store/pg_priv.h"

int
ts_pg_intake_poll(struct ts_store *st, ts_store_intake_fn fn, void *arg,
                  int *more)
{
	(void)st;
	(void)fn;
	(void)arg;
	*more = 0;
	return 0;	/* nothing taken in */
}

int
ts_pg_intake_put_many(struct ts_store *st, const struct ts_intake_item *v,
                      size_t n, size_t *done)
{
	(void)st;
	(void)v;
	(void)n;
	*done = 0;
	return -ENOSYS;
}

int
ts_pg_intake_ticket_known(struct ts_store *st, const char *id)
{
	(void)st;
	(void)id;
	return -ENOSYS;
}
