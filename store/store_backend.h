/*
 * store_backend: the table a storage backend implements.  store.c
 * dispatches every ts_store_* call through it; the file backend is
 * store_file.c.  Each op has the contract of the ts_store_* function of
 * the same name in store.h.
 */
#ifndef TS_STORE_BACKEND_H
#define TS_STORE_BACKEND_H

#include "store/store.h"

struct ts_rekey_ops;	/* store/rekey_priv.h */

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
	/* ts_store_read_boxes for ticket id (n and the boxes checked by
	 * the caller).  key: NULL, or where to put the current key file of
	 * id (as key_get: malloc'd, *keylen bytes) if the backend reads it
	 * in the same go; *key is left NULL if it does not, or there is
	 * none (the caller then reads it as usual). */
	int (*read_boxes)(struct ts_store *st, const char *id,
	                  const struct ts_box *boxes, size_t n,
	                  uint8_t *const *bufs, uint8_t **key,
	                  size_t *keylen);
	int (*write)(struct ts_store *st, struct ts_ticket *t,
	             const uint8_t *extra);
	int (*remove)(struct ts_store *st, const char *id);
	int (*intake_poll)(struct ts_store *st, ts_store_intake_fn fn,
	                   void *arg, int *more);
	/* The steps of a batch (ts_store_intake_begin...), on the
	 * backend's own batch state; put_many is built on them. */
	int (*intake_begin)(struct ts_store *st, void **batch);
	int (*intake_add)(struct ts_store *st, void *batch,
	                  const struct ts_intake_item *v, size_t n);
	int (*intake_commit)(struct ts_store *st, void *batch, size_t *done);
	void (*intake_abort)(struct ts_store *st, void *batch);
	/* ts_store_flush; NULL: a backend whose writes are durable each
	 * (ts_store_defer then does nothing). */
	int (*flush)(struct ts_store *st);
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

	/*
	 * Ticket key files (store/tkey.h), kept apart from the records so
	 * that they can be backed up apart (and kept a shorter time): each
	 * ticket has a current key and, while a rekey is under way, a next
	 * one.  Only the generic layer (store/shred.c) calls these.
	 *
	 * key_get: the current (next == 0) or next key file of ticket id
	 *   into *buf (malloc'd, *len bytes); -ENOENT if there is none.
	 * key_put: makes the current or next key file of id hold exactly
	 *   buf, atomically and durably (replacing one there).
	 * key_promote: the next key file of id becomes the current one (the
	 *   old current is gone), atomically and durably; -ENOENT if there
	 *   is no next.
	 * key_del: deletes the key files of id named by what (TS_KEY_CURRENT,
	 *   TS_KEY_NEXT or both), durably; 0 if there were none.
	 * key_list: fn(arg, id, next) for each key file, in no set order; a
	 *   non-zero return stops the walk and is returned.  fn may delete or
	 *   promote keys.
	 */
	int (*key_get)(struct ts_store *st, const char *id, int next,
	               uint8_t **buf, size_t *len);
	int (*key_put)(struct ts_store *st, const char *id, int next,
	               const uint8_t *buf, size_t len);
	int (*key_promote)(struct ts_store *st, const char *id);
	int (*key_del)(struct ts_store *st, const char *id, int what);
	int (*key_list)(struct ts_store *st,
	                int (*fn)(void *arg, const char *id, int next),
	                void *arg);

	/* Shared stores (store.h); NULL where a backend has none: changes_fd
	 * NULL is -1, changes NULL offers none. */
	int shared;
	int (*load_one)(struct ts_store *st, const char *id,
	                struct ts_ticket **t);
	/* The record a write of id would replace (store/shred.c reads it
	 * first): as read_record, but -EAGAIN if another host wrote id since
	 * this process last loaded or wrote it.  NULL: read_record. */
	int (*read_for_write)(struct ts_store *st, const char *id,
	                      uint8_t **buf, size_t *len);
	int (*changes_fd)(struct ts_store *st);
	int (*changes)(struct ts_store *st, ts_store_change_fn fn, void *arg);
	int (*policy_get)(struct ts_store *st, char **text, size_t *len);
	int (*policy_set)(struct ts_store *st, const char *text, size_t len);
	int (*policy_version)(struct ts_store *st, uint64_t *version);
	/* ts_store_reachable; NULL: always 0. */
	int (*reachable)(struct ts_store *st);
	/* ts_store_stats; ts_store_run_name (the directory's part; a
	 * shared store's is made in store.c). */
	int (*stats)(struct ts_store *st, struct ts_store_stats *out);
	int (*run_name)(struct ts_store *st, char out[TS_STORE_RUN_NAME_MAX]);
	int (*held)(struct ts_store *st);
	/* ts_store_statements; NULL: a backend that makes none (0). */
	unsigned long long (*statements)(struct ts_store *st);
	/* ticketctl rekey's needs (store/rekey_priv.h); NULL: none. */
	const struct ts_rekey_ops *rekey;
};
#define TS_KEY_CURRENT 1
#define TS_KEY_NEXT 2

struct ts_shred;	/* store/shred.c: the cache of opened ticket keys */

/* Every backend's handle starts with this. */
struct ts_store {
	const struct ts_store_ops *ops;	/* the backend */
	const struct ts_seckey *key;	/* from ts_store_set_key; NULL if none */
	struct ts_shred *shred;	/* opened ticket keys; NULL until needed */
	int64_t shred_batch_ms;	/* 0: TS_SHRED_BATCH_MS (store.h) */
	char host[TS_HOST_MAX + 1];	/* ts_store_set_host; "" until set
					   (ts_store_host then fills it in) */
	ts_store_progress_fn progress;	/* ts_store_set_progress; NULL */
	void *progress_arg;
};

/* store/shred.c: the generic layer's ticket keys (store.h has the
 * contracts of the ts_store_* functions it implements). */
/* Sets up st's cache of opened ticket keys once st->key is set. */
int ts_shred_init(struct ts_store *st);
/* Frees st's cache of opened ticket keys (ts_store_close). */
void ts_shred_free(struct ts_store *st);
/* Finishes interrupted rekeys and deletes orphan key files, given the
 * ticket ids (sorted) and what each record's tpk is (keyed[i]: 1 tpk
 * known, 0 legacy, -1 record unreadable). */
struct ts_shred_seen {
	char id[TS_NAME_MAX + 1];
	int keyed;
	unsigned char tpk[TS_TPK_BYTES];
};
int ts_shred_load_fix(struct ts_store *st, const struct ts_shred_seen *v,
                      size_t n);

int ts_store_file_create(const char *path,
                         const unsigned char pk[TS_SEAL_PKBYTES],
                         const char *policy_text);
int ts_store_file_open(const char *path, enum ts_store_mode mode,
                       struct ts_store **out);
/* The PostgreSQL backend (store/store_pg.c): path is a libpq URI. */
int ts_store_pg_create(const char *uri, const unsigned char pk[TS_SEAL_PKBYTES],
                       const char *policy_text);
/* err (errlen bytes; may be NULL) says why an open failed. */
int ts_store_pg_open(const char *uri, enum ts_store_mode mode,
                     struct ts_store **out, char *err, size_t errlen);

#endif
