/*
 * index: every ticket's metadata in memory, loaded from the store at mount
 * and kept current as intake arrives.  Sizes and times come from here;
 * sealed values stay on disk until a caller who may read one opens it.
 *
 * Locking: one rwlock.  Readers (the FUSE loop) take it shared for each
 * request; the intake thread takes it exclusive and writes the store under
 * it, so a box's offset in the index always matches the record on disk.
 */
#ifndef TS_INDEX_H
#define TS_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "store/ticket.h"

struct ts_entry {
	struct ts_ticket t;	/* the ticket; t.id is always valid */
	uint64_t slot;		/* inode slot, unique for the daemon's life */
	int err;		/* 0, or -EBADMSG etc: a damaged record */
	int64_t changed_ms;	/* last change: the directories' mtime */
};

/* What an intake poll changed, for the kernel's caches. */
struct ts_index_change {
	uint64_t dir_ino;	/* a directory whose listing changed */
	uint64_t gone_ino;	/* a child that went away; 0 if none */
	char name[TS_NAME_MAX + 1];	/* its name in dir_ino */
};

typedef void (*ts_index_log_fn)(void *arg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct ts_index;

int ts_index_new(struct ts_store *st, ts_index_log_fn log, void *logarg,
                 struct ts_index **out);
void ts_index_free(struct ts_index *idx);

/* Loads every ticket from the store; damaged ones are kept, marked. */
int ts_index_load(struct ts_index *idx);

/*
 * Takes in waiting intake.  Appends what changed to *ch (realloc'd, *nch
 * grows); the caller frees it.  Returns the number of records taken in.
 */
int ts_index_intake(struct ts_index *idx, struct ts_index_change **ch,
                    size_t *nch);

void ts_index_rdlock(struct ts_index *idx);
void ts_index_unlock(struct ts_index *idx);

/* With the lock held: */
size_t ts_index_count(struct ts_index *idx);
struct ts_entry *ts_index_at(struct ts_index *idx, size_t i);	/* by id */
struct ts_entry *ts_index_find(struct ts_index *idx, const char *id);
struct ts_entry *ts_index_by_slot(struct ts_index *idx, uint64_t slot);

/* Message / authorization of e by item slot; NULL if none. */
struct ts_message *ts_entry_msg(struct ts_entry *e, uint32_t item);
struct ts_auth *ts_entry_auth(struct ts_entry *e, uint32_t item);

/* Reads and opens box of entry e bound to field path, into a malloc'd
 * buffer of ts_box_plain_len(box) bytes (+1, NUL).  Lock held shared. */
int ts_index_open_box(struct ts_index *idx, const struct ts_seckey *key,
                      struct ts_entry *e, const char *field,
                      const struct ts_box *box, uint8_t **plain);

#endif
