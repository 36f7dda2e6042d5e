/*
 * store: dispatch to the backend.  Only the file backend exists today; a
 * backend is chosen by the form of the STORE argument.  Writes, removals
 * and loads go through store/shred.c first (per-ticket keys).
 */
#include "store/store_backend.h"

#include <errno.h>
#include <string.h>

#include <sodium.h>

int
ts_store_create(const char *path, const unsigned char pk[TS_SEAL_PKBYTES],
                const char *policy_text)
{
	return ts_store_file_create(path, pk, policy_text);
}

int
ts_store_open(const char *path, enum ts_store_mode mode, struct ts_store **out)
{
	return ts_store_file_open(path, mode, out);
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

int
ts_store_intake_put(struct ts_store *st, int kind, const char *id,
                    const uint8_t *rec, size_t len)
{
	struct ts_intake_item it = { kind, id, rec, len };
	size_t done;

	return st->ops->intake_put_many(st, &it, 1, &done);
}

int
ts_store_intake_put_many(struct ts_store *st, const struct ts_intake_item *v,
                         size_t n, size_t *done)
{
	return st->ops->intake_put_many(st, v, n, done);
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
