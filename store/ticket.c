/*
 * ticket: names, limits and list helpers of the in-memory ticket model.
 */
#include "store/ticket.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/seal.h"

const char *const ts_field_names[TS_F_COUNT] = {
	"subject", "description", "username", "email", "mobile", "confidential"
};
const char *const ts_afield_names[TS_A_COUNT] = {
	"account", "password", "resource"
};
const char *const ts_status_names[TS_STATUS_COUNT] = {
	"open", "processing", "processed"
};

const uint32_t ts_field_max[TS_F_COUNT] = {
	1024, 65536, 256, 256, 64, 4096
};
const uint32_t ts_afield_max[TS_A_COUNT] = {
	256, 1024, 1024
};

static int
lookup(const char *const *names, int n, const char *s)
{
	for (int i = 0; i < n; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return -1;
}

int
ts_field_lookup(const char *s)
{
	return lookup(ts_field_names, TS_F_COUNT, s);
}

int
ts_afield_lookup(const char *s)
{
	return lookup(ts_afield_names, TS_A_COUNT, s);
}

int
ts_status_lookup(const char *s)
{
	return lookup(ts_status_names, TS_STATUS_COUNT, s);
}

uint64_t
ts_box_plain_len(const struct ts_box *box)
{
	return box->len >= TS_SEAL_OVERHEAD ? box->len - TS_SEAL_OVERHEAD : 0;
}

struct ts_message *
ts_ticket_find_msg(const struct ts_ticket *t, const char *name)
{
	for (size_t i = 0; i < t->nmsg; i++)
		if (strcmp(t->msg[i].name, name) == 0)
			return &t->msg[i];
	return NULL;
}

struct ts_auth *
ts_ticket_find_auth(const struct ts_ticket *t, const char *name)
{
	for (size_t i = 0; i < t->nauth; i++)
		if (strcmp(t->auth[i].name, name) == 0)
			return &t->auth[i];
	return NULL;
}

/*
 * The room an array of n messages or authorizations has: the next power
 * of two, so that adding one at a time (a decoder reading 65,535
 * messages) costs O(n), not n reallocations of a growing array.  Arrays
 * shrink in place (a removal lowers the count), which keeps the room at
 * least this.
 */
static size_t
room(size_t n)
{
	size_t c = 1;

	while (c < n)
		c <<= 1;
	return n ? c : 0;
}

struct ts_message *
ts_ticket_add_msg(struct ts_ticket *t)
{
	struct ts_message *m = t->msg;

	if (t->nmsg + 1 > room(t->nmsg) &&
	    (m = realloc(t->msg, room(t->nmsg + 1) * sizeof(*m))) == NULL)
		return NULL;
	t->msg = m;
	m = &t->msg[t->nmsg++];
	memset(m, 0, sizeof(*m));
	m->slot = t->next_slot++;
	return m;
}

struct ts_auth *
ts_ticket_add_auth(struct ts_ticket *t)
{
	struct ts_auth *a = t->auth;

	if (t->nauth + 1 > room(t->nauth) &&
	    (a = realloc(t->auth, room(t->nauth + 1) * sizeof(*a))) == NULL)
		return NULL;
	t->auth = a;
	a = &t->auth[t->nauth++];
	memset(a, 0, sizeof(*a));
	a->slot = t->next_slot++;
	return a;
}

int
ts_ticket_copy(struct ts_ticket *dst, const struct ts_ticket *src)
{
	struct ts_ticket c = *src;

	c.msg = NULL;
	c.auth = NULL;
	if (src->nmsg > 0) {
		c.msg = malloc(room(src->nmsg) * sizeof(*c.msg));
		if (c.msg == NULL)
			return -ENOMEM;
		memcpy(c.msg, src->msg, src->nmsg * sizeof(*c.msg));
	}
	if (src->nauth > 0) {
		c.auth = malloc(room(src->nauth) * sizeof(*c.auth));
		if (c.auth == NULL) {
			free(c.msg);
			return -ENOMEM;
		}
		memcpy(c.auth, src->auth, src->nauth * sizeof(*c.auth));
	}
	*dst = c;
	return 0;
}

void
ts_ticket_release(struct ts_ticket *t)
{
	free(t->msg);
	free(t->auth);
	memset(t, 0, sizeof(*t));
}

void
ts_ticket_free(struct ts_ticket *t)
{
	if (t != NULL) {
		ts_ticket_release(t);
		free(t);
	}
}

int
ts_ticket_each_box(struct ts_ticket *t, ts_ticket_box_fn fn, void *arg)
{
	char path[2 * TS_NAME_MAX + 32];
	int rc = 0;

	for (int f = 0; f < TS_F_COUNT && rc == 0; f++)
		if (t->field[f].len != 0)
			rc = fn(arg, &t->field[f], ts_field_names[f]);
	for (size_t i = 0; i < t->nmsg && rc == 0; i++) {
		if (t->msg[i].box.len == 0)
			continue;
		snprintf(path, sizeof(path), "messages/%s", t->msg[i].name);
		rc = fn(arg, &t->msg[i].box, path);
	}
	for (size_t i = 0; i < t->nauth && rc == 0; i++)
		for (int f = 0; f < TS_A_COUNT && rc == 0; f++) {
			if (t->auth[i].box[f].len == 0)
				continue;
			snprintf(path, sizeof(path), "authorizations/%s/%s",
			         t->auth[i].name, ts_afield_names[f]);
			rc = fn(arg, &t->auth[i].box[f], path);
		}
	return rc;
}
