/*
 * store: dispatch to the backend, chosen by the form of the STORE
 * argument: a libpq URI (postgresql://, postgres://) is the PostgreSQL
 * backend (store_pg.c), anything else a directory (store_file.c).  Writes, removals
 * and loads go through store/shred.c first (per-ticket keys).
 */
#include "store/store_backend.h"
#include "store/sysio.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/pg_conn.h"

#include <sodium.h>

int
ts_store_create(const char *path, const unsigned char pk[TS_SEAL_PKBYTES],
                const char *policy_text)
{
	if (ts_pg_is_uri(path))
		return ts_store_pg_create(path, pk, policy_text);
	return ts_store_file_create(path, pk, policy_text);
}

int
ts_store_open(const char *path, enum ts_store_mode mode, struct ts_store **out)
{
	return ts_store_open_err(path, mode, out, NULL, 0);
}

int
ts_store_open_err(const char *path, enum ts_store_mode mode,
                  struct ts_store **out, char *err, size_t errlen)
{
	int rc;

	if (ts_pg_is_uri(path))
		return ts_store_pg_open(path, mode, out, err, errlen);
	rc = ts_store_file_open(path, mode, out);
	if (rc < 0 && err != NULL && errlen > 0)
		snprintf(err, errlen, "%s", strerror(-rc));
	return rc;
}

void
ts_store_close(struct ts_store *st)
{
	if (st != NULL) {
		ts_shred_free(st);
		st->ops->close(st);
	}
}

int
ts_store_lock(struct ts_store *st)
{
	return st->ops->lock(st);
}

int
ts_store_wait_released(struct ts_store *st, long timeout_ms)
{
	return st->ops->wait_released(st, timeout_ms);
}

int
ts_store_pubkey(struct ts_store *st, unsigned char pk[TS_SEAL_PKBYTES])
{
	return st->ops->pubkey(st, pk);
}


int
ts_store_set_key(struct ts_store *st, const struct ts_seckey *key)
{
	int rc = st->ops->set_key(st, key);

	st->key = rc == 0 ? key : NULL;
	if (rc == 0 && (rc = ts_shred_init(st)) < 0)
		st->key = NULL;
	return rc;
}

int
ts_store_uhash(struct ts_store *st, const char *name, size_t len,
               unsigned char out[TS_UHASH_BYTES])
{
	unsigned char k[32];
	int rc;

	if (st->key == NULL)
		return -ENOKEY;
	if (len > 0 && name[len - 1] == '\n')
		len--;		/* as stored, every value ends in a newline */
	if ((rc = ts_seal_derive(st->key, TS_UHASH_PURPOSE, k, sizeof(k))) < 0)
		return rc;
	crypto_generichash(out, TS_UHASH_BYTES, (const unsigned char *)name,
	                   len, k, sizeof(k));
	sodium_memzero(k, sizeof(k));
	return 0;
}

int
ts_store_seal_open(struct ts_store *st, const char *id, const char *field,
                   const uint8_t *box, size_t boxlen, uint8_t *plain)
{
	if (st->key == NULL)
		return -ENOKEY;
	return ts_seal_open(st->key, id, field, box, boxlen, plain);
}

int
ts_store_snapshot_save(struct ts_store *st, const struct ts_ticket *const *t,
                       size_t n)
{
	return st->ops->snapshot_save(st, t, n);
}

void
ts_store_snapshot_info(struct ts_store *st, struct ts_store_snapinfo *out)
{
	st->ops->snapshot_info(st, out);
}

int
ts_store_read_box(struct ts_store *st, const char *id, const struct ts_box *box,
                  uint8_t *buf)
{
	return st->ops->read_box(st, id, box, buf);
}



int
ts_store_intake_poll(struct ts_store *st, ts_store_intake_fn fn, void *arg,
                     int *more)
{
	int dummy;

	return st->ops->intake_poll(st, fn, arg, more ? more : &dummy);
}

void
ts_store_defer(struct ts_store *st, int on)
{
	if (st->ops->flush != NULL)
		ts_sysio_defer(on);
}

int
ts_store_flush(struct ts_store *st)
{
	return st->ops->flush != NULL ? st->ops->flush(st) : 0;
}

int
ts_store_intake_put(struct ts_store *st, int kind, const char *id,
                    const uint8_t *rec, size_t len)
{
	struct ts_intake_item it = { kind, id, rec, len };
	size_t done;

	return ts_store_intake_put_many(st, &it, 1, &done);
}

int
ts_store_intake_put_many(struct ts_store *st, const struct ts_intake_item *v,
                         size_t n, size_t *done)
{
	struct ts_intake_batch *b;
	int rc;

	*done = 0;
	if ((rc = ts_store_intake_begin(st, &b)) < 0)
		return rc;
	if ((rc = ts_store_intake_add(b, v, n)) < 0) {
		ts_store_intake_abort(b);
		return rc;
	}
	return ts_store_intake_commit(b, done);
}

struct ts_intake_batch {
	struct ts_store *st;
	void *impl;		/* the backend's */
};

int
ts_store_intake_begin(struct ts_store *st, struct ts_intake_batch **b)
{
	struct ts_intake_batch *nb = calloc(1, sizeof(*nb));
	int rc;

	if (nb == NULL)
		return -ENOMEM;
	nb->st = st;
	if ((rc = st->ops->intake_begin(st, &nb->impl)) < 0) {
		free(nb);
		return rc;
	}
	*b = nb;
	return 0;
}

int
ts_store_intake_add(struct ts_intake_batch *b, const struct ts_intake_item *v,
                    size_t n)
{
	return b->st->ops->intake_add(b->st, b->impl, v, n);
}

int
ts_store_intake_commit(struct ts_intake_batch *b, size_t *done)
{
	int rc = b->st->ops->intake_commit(b->st, b->impl, done);

	free(b);
	return rc;
}

void
ts_store_intake_abort(struct ts_intake_batch *b)
{
	if (b == NULL)
		return;
	b->st->ops->intake_abort(b->st, b->impl);
	free(b);
}

int
ts_store_ticket_known(struct ts_store *st, const char *id)
{
	return st->ops->ticket_known(st, id);
}

int
ts_store_read_record(struct ts_store *st, const char *id, uint8_t **buf,
                     size_t *len)
{
	return st->ops->read_record(st, id, buf, len);
}

int
ts_store_list(struct ts_store *st, int (*fn)(void *arg, const char *id),
              void *arg)
{
	return st->ops->list(st, fn, arg);
}

int
ts_store_audit_open(struct ts_store *st, const struct ts_seckey *key,
                    size_t segment_max, struct ts_audit **out)
{
	return st->ops->audit_open(st, key, segment_max, out);
}

int
ts_store_audit_verify(struct ts_store *st, const unsigned char *vk,
                      const struct ts_audit_checkpoint *copy, char *msg,
                      size_t msglen, uint64_t *entries)
{
	return st->ops->audit_verify(st, vk, copy, msg, msglen, entries);
}

int
ts_store_stats(struct ts_store *st, struct ts_store_stats *out)
{
	memset(out, 0, sizeof(*out));
	return st->ops->stats(st, out);
}

int
ts_store_held(struct ts_store *st)
{
	return st->ops->held(st);
}

unsigned long long
ts_store_statements(struct ts_store *st)
{
	return st->ops->statements != NULL ? st->ops->statements(st) : 0;
}

int
ts_store_run_name(struct ts_store *st, char out[TS_STORE_RUN_NAME_MAX])
{
	unsigned char pk[TS_SEAL_PKBYTES], h[8];
	char hex[2 * sizeof(h) + 1];
	int rc;

	if (st->ops->run_name != NULL)
		return st->ops->run_name(st, out);
	if ((rc = ts_store_pubkey(st, pk)) < 0)
		return rc;
	crypto_generichash(h, sizeof(h), pk, sizeof(pk), NULL, 0);
	sodium_bin2hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(out, TS_STORE_RUN_NAME_MAX, "p-%s-%s", hex, ts_store_host(st));
	return 0;
}

void
ts_store_set_progress(struct ts_store *st, ts_store_progress_fn fn, void *arg)
{
	st->progress = fn;
	st->progress_arg = arg;
}

int
ts_store_shared(struct ts_store *st)
{
	return st->ops->shared;
}

static int
host_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (n == 0 || n > TS_HOST_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

int
ts_store_set_host(struct ts_store *st, const char *name)
{
	if (!host_ok(name))
		return -EINVAL;
	strcpy(st->host, name);
	return 0;
}

const char *
ts_store_host(struct ts_store *st)
{
	char h[256];

	if (st->host[0] == '\0') {
		if (gethostname(h, sizeof(h)) < 0)
			strcpy(h, "localhost");
		h[sizeof(h) - 1] = '\0';
		if (strlen(h) > TS_HOST_MAX)
			h[TS_HOST_MAX] = '\0';
		if (!host_ok(h))
			strcpy(h, "localhost");
		strcpy(st->host, h);
	}
	return st->host;
}

int
ts_store_load_one(struct ts_store *st, const char *id, struct ts_ticket **t)
{
	if (st->ops->load_one == NULL)
		return -ENOSYS;
	return st->ops->load_one(st, id, t);
}

int
ts_store_changes_fd(struct ts_store *st)
{
	return st->ops->changes_fd ? st->ops->changes_fd(st) : -1;
}

int
ts_store_changes(struct ts_store *st, ts_store_change_fn fn, void *arg)
{
	return st->ops->changes ? st->ops->changes(st, fn, arg) : 0;
}

int
ts_store_policy_get(struct ts_store *st, char **text, size_t *len)
{
	if (st->ops->policy_get == NULL)
		return -ENOSYS;
	return st->ops->policy_get(st, text, len);
}

int
ts_store_policy_set(struct ts_store *st, const char *text, size_t len)
{
	if (st->ops->policy_set == NULL)
		return -ENOSYS;
	return st->ops->policy_set(st, text, len);
}

int
ts_store_reachable(struct ts_store *st)
{
	return st->ops->reachable ? st->ops->reachable(st) : 0;
}

int
ts_store_policy_version(struct ts_store *st, uint64_t *version)
{
	if (st->ops->policy_version == NULL)
		return -ENOSYS;
	return st->ops->policy_version(st, version);
}
