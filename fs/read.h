/*
 * read: the read side of an open file (read, release), the value cache's
 * fill and forgetting, and the push of created/expires at open.  Calls
 * down into tree, trail, write (a dropped message at release) and state;
 * the prefetcher and the ticker call it.
 */
#ifndef TS_FS_READ_H
#define TS_FS_READ_H

#include "fs/state.h"

/*
 * Opens ticket slot's sealed values into the value cache, but inode skip
 * and those cached already or gone (past their deadline): their boxes
 * read from the store in one go (ts_store_read_boxes; a ticket of more
 * than 1 MiB of boxes, or over TS_STORE_BOXES_MAX values, in several),
 * then decrypted.  For the prefetcher.  Returns how many went into the
 * cache, or -errno.  Takes the index lock (shared) for the whole of it,
 * so an item removed meanwhile is never put in the cache after its
 * removal.
 */
int ts_read_cache_fill_ticket(struct ts_fs *fs, uint64_t slot, uint64_t skip);
/* Drops from the value cache whatever the changes took away. */
void ts_read_cache_forget(struct ts_fs *fs, const struct ts_changes *ch);
/*
 * Puts inode ino's content (created or expires) into the kernel's page
 * cache; takes the index lock.  From op_open, once per inode held.
 */
void ts_read_push_value(struct ts_fs *fs, uint64_t ino);
void ts_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
             struct fuse_file_info *fi);
void ts_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

#endif
