/*
 * inode: the mapping between the tree of the mount and inode numbers, and
 * the kernel's lookup counts.
 *
 * Inode numbers are computed, not allocated: a ticket gets a slot when it
 * enters the index (never reused while the daemon runs), each message and
 * authorization a per-ticket item number, and
 *
 *     ino = (slot + 1) << 24 | item << 4 | sub
 *
 * with item 0 for the ticket's own nodes.  1, 2 and 3 are the root,
 * tickets/ and audit.log.  So a node never needs memory of its own; the
 * lookup-count table only remembers which inodes the kernel holds, so that
 * a whitelist change can invalidate exactly those (8 bytes for most of
 * them, fs/inode.c).
 */
#ifndef TS_INODE_H
#define TS_INODE_H

#include <stddef.h>
#include <stdint.h>

#define TS_INO_ROOT 1
#define TS_INO_TICKETS 2
#define TS_INO_AUDIT 3

/* sub for item 0 (the ticket's own nodes) */
enum {
	TS_SUB_DIR = 0,		/* tickets/ID */
	TS_SUB_STATUS = 1,
	TS_SUB_CREATED = 2,
	TS_SUB_FIELD = 3,	/* 3 .. 3 + TS_F_COUNT - 1 */
	TS_SUB_MSGDIR = 9,	/* messages/ */
	TS_SUB_AUTHDIR = 10,	/* authorizations/ */
};

/* sub for item > 0 (a message, or an authorization) */
enum {
	TS_SUB_ITEM = 0,	/* the message file, or the authorization dir */
	TS_SUB_AFIELD = 1,	/* 1 .. 3: account, password, resource */
	TS_SUB_EXPIRES = 4,
};

#define TS_ITEM_MAX ((1u << 20) - 1)

static inline uint64_t
ts_ino_make(uint64_t slot, uint32_t item, unsigned sub)
{
	return (slot + 1) << 24 | (uint64_t)item << 4 | sub;
}

/* Splits a ticket-tree ino; returns -1 for the fixed inodes 1..3. */
static inline int
ts_ino_split(uint64_t ino, uint64_t *slot, uint32_t *item, unsigned *sub)
{
	if (ino < (1u << 24))
		return -1;
	*slot = (ino >> 24) - 1;
	*item = (uint32_t)(ino >> 4) & TS_ITEM_MAX;
	*sub = (unsigned)(ino & 15);
	return 0;
}

/* The kernel's lookup counts.  Thread-safe. */
struct ts_inodes;

int ts_inodes_new(struct ts_inodes **out);
void ts_inodes_free(struct ts_inodes *tab);
/* The kernel learned of ino once more (a lookup or readdirplus reply). */
int ts_inodes_ref(struct ts_inodes *tab, uint64_t ino);
/*
 * 1 if the kernel holds ino and its content was not pushed into the page
 * cache yet (it is then marked as pushed); else 0.  The mark goes with the
 * inode when the kernel forgets it.
 */
int ts_inodes_claim_push(struct ts_inodes *tab, uint64_t ino);
/*
 * Clears every push mark: after the daemon invalidated the page cache of
 * every inode (a whitelist change), the next open pushes again.
 */
void ts_inodes_unpush_all(struct ts_inodes *tab);
/* 1 if the kernel holds ino (its lookups are not all forgotten). */
int ts_inodes_held(struct ts_inodes *tab, uint64_t ino);
/* The kernel forgot n lookups of ino. */
void ts_inodes_forget(struct ts_inodes *tab, uint64_t ino, uint64_t n);
/*
 * Copies the inode numbers the kernel holds into *out (malloc'd).  A copy,
 * so the caller can notify the kernel without holding the table's lock.
 */
int ts_inodes_snapshot(struct ts_inodes *tab, uint64_t **out, size_t *n);
/* Number of inodes the kernel holds. */
size_t ts_inodes_count(struct ts_inodes *tab);
/* Bytes the table takes (its slots, held or free): about 13 an inode. */
size_t ts_inodes_bytes(struct ts_inodes *tab);

#endif
