/*
 * store_file_priv: the file backend's private state, and the functions
 * its files share.  Only the file backend's .c files include it
 * (store_file.c, file_dir.c, file_tickets.c, file_intake.c, file_trash.c,
 * file_keys.c, file_meta.c);
 * the rest of the store reaches the backend through struct ts_store_ops.
 * Calls run one way: store_file.c (the ops table) names file_tickets.c and
 * file_intake.c; file_intake.c calls file_trash.c; all may call
 * file_dir.c, which calls none of them.
 */
#ifndef TS_STORE_FILE_PRIV_H
#define TS_STORE_FILE_PRIV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#include "store/store_backend.h"

struct file_store {
	struct ts_store base;	/* ops; must stay first */
	int dirfd;		/* STORE */
	int ticketsfd;		/* STORE/tickets; -1 if not reachable */
	int keysfd;		/* STORE/keys; -1 if not reachable */
	int intakefd;		/* STORE/intake */
	int rejectedfd;		/* STORE/intake/rejected; -1 in intake mode */
	int trashfd;		/* STORE/.trash: what hostile intake left,
				   deleted a bounded amount a round; -1 in
				   intake mode */
	uint64_t trash_seq;	/* names the next entry moved to .trash */
	int trash_busy;		/* .trash may hold something */
	int lockfd;		/* STORE/lock, flock()ed; -1 if not locked;
				   never closed (held to the process's exit) */
	struct timespec intake_mtime;	/* intake/ mtime at the last poll */
	int intake_polled;	/* intake_mtime is valid */
	time_t tmp_swept;	/* when intake/ was last rid of dead submits'
				   temporaries */
	char **pass;		/* the intake names of the pass under way,
				   sorted; NULL between passes */
	size_t npass, ipass;	/* names in pass; the next one to handle */
	/* Names of pass taken in and committed, deleted when the pass ends
	 * (file_intake.c says why); NULL until the first. */
	char **took;
	size_t ntook;
	int rejected_capped;	/* rejected/ was brought within its cap */
	unsigned char *snapkey;	/* the snapshot's MAC key and */
	unsigned char *reckey;	/* the records' MAC key, both derived from
				   the secret key, in one sodium_malloc'd
				   block; NULL: no key given (ticketctl) */
	struct ts_store_snapinfo snapinfo;	/* of the last load */
};

static inline struct file_store *
fs_of(struct ts_store *st)
{
	return (struct file_store *)st;
}

struct name_ino {
	char *name;
	uint64_t ino;
};

/* file_dir.c: listing a directory of the store. */

/* Frees the n names of v, then v. */
void ts_file_free_names(char **v, size_t n);
/* Orders struct name_ino by name (qsort, bsearch). */
int ts_file_cmp_name_ino(const void *a, const void *b);
/* The names in directory fd and their inode numbers, sorted, without
 * "rejected" and dotfiles.  Free with ts_file_free_name_inos().  0 or
 * -errno. */
int ts_file_list_dir_ino(int fd, struct name_ino **out, size_t *n);
/* Frees the n entries of v, then v. */
void ts_file_free_name_inos(struct name_ino *v, size_t n);
/* The sorted names in directory fd, without "rejected" and (unless dots)
 * dotfiles.  Free with ts_file_free_names().  0 or -errno. */
int ts_file_list_dir_of(int fd, int dots, char ***names, size_t *n);
/* ts_file_list_dir_of without dotfiles. */
int ts_file_list_dir(int fd, char ***names, size_t *n);
/* file_stats.c: ts_store_stats and ts_store_run_name (store.h). */
int ts_file_stats(struct ts_store *st, struct ts_store_stats *out);
int ts_file_run_name(struct ts_store *st, char out[TS_STORE_RUN_NAME_MAX]);
int ts_file_held(struct ts_store *st);

/* file_tickets.c: tickets/ and the snapshot.  Each has the contract of the
 * ts_store_* function of the same name (store.h). */

int ts_file_read_record(struct ts_store *st, const char *id, uint8_t **buf,
                        size_t *len);
int ts_file_list(struct ts_store *st, int (*fn)(void *arg, const char *id),
                 void *arg);
int ts_file_load(struct ts_store *st, ts_store_ticket_fn fn, void *arg);
int ts_file_load_one(struct ts_store *st, const char *id,
                     struct ts_ticket **t);
int ts_file_set_key(struct ts_store *st, const struct ts_seckey *key);
int ts_file_snapshot_save(struct ts_store *st, const struct ts_ticket *const *t,
                          size_t n);
void ts_file_snapshot_info(struct ts_store *st, struct ts_store_snapinfo *out);
int ts_file_read_box(struct ts_store *st, const char *id,
                     const struct ts_box *box, uint8_t *buf);
int ts_file_read_boxes(struct ts_store *st, const char *id,
                       const struct ts_box *boxes, size_t n,
                       uint8_t *const *bufs, uint8_t **key, size_t *keylen);
int ts_file_write(struct ts_store *st, struct ts_ticket *t,
                  const uint8_t *extra);
int ts_file_remove(struct ts_store *st, const char *id);

/* file_keys.c: keys/, the tickets' key files.  Each has the contract of
 * the op of the same name (store_backend.h). */

int ts_file_key_get(struct ts_store *st, const char *id, int next,
                    uint8_t **buf, size_t *len);
int ts_file_key_put(struct ts_store *st, const char *id, int next,
                    const uint8_t *buf, size_t len);
int ts_file_key_promote(struct ts_store *st, const char *id);
int ts_file_key_del(struct ts_store *st, const char *id, int what);
int ts_file_key_list(struct ts_store *st,
                     int (*fn)(void *arg, const char *id, int next),
                     void *arg);

/* file_intake.c: intake/ and rejected/.  Each has the contract of the
 * ts_store_* function of the same name (store.h). */

int ts_file_intake_poll(struct ts_store *st, ts_store_intake_fn fn, void *arg,
                        int *more);
/* Deletes what the pass under way took in, and ends it: for close. */
void ts_file_intake_end(struct file_store *fs);
int ts_file_intake_begin(struct ts_store *st, void **batch);
int ts_file_intake_add(struct ts_store *st, void *batch,
                       const struct ts_intake_item *v, size_t n);
int ts_file_intake_commit(struct ts_store *st, void *batch, size_t *done);
void ts_file_intake_abort(struct ts_store *st, void *batch);
int ts_file_ticket_known(struct ts_store *st, const char *id);

/* file_meta.c: STORE/policy.  Each has the contract of the ts_store_*
 * function of the same name (store.h). */

int ts_file_policy_get(struct ts_store *st, char **text, size_t *len);
int ts_file_policy_set(struct ts_store *st, const char *text, size_t len);
int ts_file_policy_version(struct ts_store *st, uint64_t *version);

/* file_trash.c: what intake/ holds that is no record, and .trash. */

/* Moves dirfd/name into .trash under a fresh name (one rename): 0,
 * -EACCES if there is no .trash, or -errno. */
int ts_file_to_trash(struct file_store *fs, int dirfd, const char *name);
/* Deletes a bounded number of entries from .trash; the next call goes on. */
void ts_file_trash_drain(struct file_store *fs);
/* What intake/name is from its inode (sb): 0 for a possible record, else
 * the intake notice's err (store.h). */
int ts_file_intake_kind_of(const struct stat *sb);
/* Removes intake/name, no record (why: ts_file_intake_kind_of), unopened;
 * tells fn (may be NULL) with TS_INTAKE_REMOVED. */
void ts_file_intake_remove_odd(struct file_store *fs, const char *name,
                               int why, ts_store_intake_fn fn, void *arg);
/* Handles intake/name, a dotfile (sb: its inode): removed if it is no
 * regular file, or once it is old. */
void ts_file_intake_dotfile(struct file_store *fs, const char *name,
                            const struct stat *sb, ts_store_intake_fn fn,
                            void *arg);

#endif
