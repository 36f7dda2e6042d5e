/*
 * migrate_priv: what store/migrate.c (ticketctl migrate: a directory
 * store copied into a PostgreSQL store) needs of the two backends beyond
 * struct ts_store_ops: a directory store's intake and audit trail read
 * raw (file_migrate.c), and a PostgreSQL store's rows written raw
 * (pg_migrate.c).  Only migrate.c and those two files include it; no
 * other caller has any business copying rows as they are.
 */
#ifndef TS_MIGRATE_PRIV_H
#define TS_MIGRATE_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "store/audit.h"
#include "store/store.h"

/* file_migrate.c: reading a directory store as it is on disk. */

/*
 * Calls fn(arg, name, rec, len) for each intake file waiting under
 * STORE/intake (rejected 0; names in sorted order, the order the daemon
 * takes them in) or kept under STORE/intake/rejected (rejected 1), the
 * file's bytes in rec.  Only regular files of one link, no dotfiles (what
 * the daemon would open at all).  A non-zero return of fn stops the walk
 * and is returned.
 */
typedef int (*ts_mig_file_fn)(void *arg, const char *name,
                              const uint8_t *rec, size_t len);
int ts_file_mig_intake(struct ts_store *st, int rejected, ts_mig_file_fn fn,
                       void *arg);

/*
 * The audit trail of a directory store, raw: fn(arg, line, len) for each
 * entry line (without its newline), oldest segment first; *cp and *an its
 * signed checkpoint and prune anchor (*have_cp, *have_an 0 if there is
 * none), vk its verify key (*have_vk).  -ENOENT if there is no trail.
 */
typedef int (*ts_mig_line_fn)(void *arg, const char *line, size_t len);
int ts_file_mig_audit(struct ts_store *st, ts_mig_line_fn fn, void *arg,
                      struct ts_audit_checkpoint *cp, int *have_cp,
                      struct ts_audit_checkpoint *an, int *have_an,
                      unsigned char vk[32], int *have_vk);

/* The forward-secure seals: fn(arg, name, line, len) for each line of
 * each STORE/audit/seals-ID file (name "seals-ID"). */
typedef int (*ts_mig_seal_fn)(void *arg, const char *name, const char *line,
                              size_t len);
int ts_file_mig_seals(struct ts_store *st, ts_mig_seal_fn fn, void *arg);

/* pg_migrate.c: writing a PostgreSQL store's rows as they are.  Each
 * returns 0 or -errno, the server's reason in ts_pg_mig_error. */

struct ts_pg_mig;
int ts_pg_mig_open(const char *uri, struct ts_pg_mig **out, char *err,
                   size_t errlen);
void ts_pg_mig_close(struct ts_pg_mig *m);
const char *ts_pg_mig_error(struct ts_pg_mig *m);
/* 1 if the database holds a ticketfs schema, 0 if not. */
int ts_pg_mig_has_schema(struct ts_pg_mig *m);
/* The store's public key text (malloc'd); -ENOENT if none. */
int ts_pg_mig_pubkey(struct ts_pg_mig *m, char **text);
/* The ids of the tickets there (sorted, malloc'd each and the array). */
int ts_pg_mig_ticket_ids(struct ts_pg_mig *m, char ***ids, size_t *n);
int ts_pg_mig_begin(struct ts_pg_mig *m);
int ts_pg_mig_commit(struct ts_pg_mig *m);
void ts_pg_mig_rollback(struct ts_pg_mig *m);
/* 1 if a daemon serves the store (holds an advisory lock), else 0. */
int ts_pg_mig_in_use(struct ts_pg_mig *m);
/* Each insert: 1 if written, 0 if a row with its key is there (nothing
 * written), or -errno. */
int ts_pg_mig_ticket(struct ts_pg_mig *m, const char *id, const uint8_t *rec,
                     size_t len);
int ts_pg_mig_key(struct ts_pg_mig *m, const char *id, int next,
                  const uint8_t *key, size_t len);
int ts_pg_mig_audit_line(struct ts_pg_mig *m, const char *host, uint64_t seq,
                         const char *line, size_t len);
int ts_pg_mig_seal(struct ts_pg_mig *m, const char *host, const char *seals,
                   uint64_t epoch, const char *line, size_t len);
/* kind "checkpoint" or "anchor". */
int ts_pg_mig_audit_mark(struct ts_pg_mig *m, const char *host,
                         const char *kind,
                         const struct ts_audit_checkpoint *cp);
/* Replaces the policy (0). */
int ts_pg_mig_policy(struct ts_pg_mig *m, const char *text, size_t len);
/* Intake: a waiting row, or a rejected one (why: the reason kept); 1. */
int ts_pg_mig_intake(struct ts_pg_mig *m, int kind, const char *id,
                     const uint8_t *rec, size_t len);
int ts_pg_mig_rejected(struct ts_pg_mig *m, int kind, const char *id,
                       const uint8_t *rec, size_t len, const char *why);
/* ts_meta rows: name's value into *value (malloc'd; -ENOENT if none),
 * and set (replacing). */
int ts_pg_mig_meta_get(struct ts_pg_mig *m, const char *name, char **value);
int ts_pg_mig_meta_set(struct ts_pg_mig *m, const char *name,
                       const char *value);
int ts_pg_mig_meta_del(struct ts_pg_mig *m, const char *name);
/* The count sql (one parameter, arg, or none if NULL) says. */
int ts_pg_mig_count(struct ts_pg_mig *m, const char *sql, const char *arg,
                    uint64_t *n);

#endif
