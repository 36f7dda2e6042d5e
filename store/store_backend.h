/*
 * store_backend: the table a storage backend implements.  store.c
 * dispatches every ts_store_* call through it; the file backend is
 * store_file.c.  Each op has the contract of the ts_store_* function of
 * the same name in store.h.
 */
#ifndef TS_STORE_BACKEND_H
#define TS_STORE_BACKEND_H

#include "store/store.h"

struct ts_store_ops {
	void (*close)(struct ts_store *st);
	int (*lock)(struct ts_store *st);
	int (*wait_released)(struct ts_store *st, long timeout_ms);
	int (*pubkey)(struct ts_store *st, unsigned char pk[TS_SEAL_PKBYTES]);
	int (*load)(struct ts_store *st, ts_store_ticket_fn fn, void *arg);
	int (*set_key)(struct ts_store *st, const struct ts_seckey *key);
	int (*snapshot_save)(struct ts_store *st,
	                     const struct ts_ticket *const *t, size_t n);
	void (*snapshot_info)(struct ts_store *st,
	                      struct ts_store_snapinfo *out);
	int (*read_box)(struct ts_store *st, const char *id,
	                const struct ts_box *box, uint8_t *buf);
	int (*write)(struct ts_store *st, struct ts_ticket *t,
	             const uint8_t *extra);
	int (*remove)(struct ts_store *st, const char *id);
	int (*intake_poll)(struct ts_store *st, ts_store_intake_fn fn,
	                   void *arg, int *more);
	int (*intake_put_many)(struct ts_store *st,
	                       const struct ts_intake_item *v, size_t n,
	                       size_t *done);
	int (*ticket_known)(struct ts_store *st, const char *id);
	int (*read_record)(struct ts_store *st, const char *id, uint8_t **buf,
	                   size_t *len);
	int (*list)(struct ts_store *st, int (*fn)(void *arg, const char *id),
	            void *arg);
	int (*audit_open)(struct ts_store *st, const struct ts_seckey *key,
	                  size_t segment_max, struct ts_audit **out);
	int (*audit_verify)(struct ts_store *st, const unsigned char *vk,
	                    const struct ts_audit_checkpoint *copy,
	                    char *msg, size_t msglen, uint64_t *entries);
};

/* Every backend's handle starts with this. */
struct ts_store {
	const struct ts_store_ops *ops;	/* the backend */
	const struct ts_seckey *key;	/* from ts_store_set_key; NULL if none */
};

int ts_store_file_create(const char *path,
                         const unsigned char pk[TS_SEAL_PKBYTES],
                         const char *policy_text);
int ts_store_file_open(const char *path, enum ts_store_mode mode,
                       struct ts_store **out);

#endif
