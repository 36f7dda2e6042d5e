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
 * The inode numbers of ticket slot's sealed values (at most max), for the
 * prefetcher; takes the index lock.
 */
size_t ts_read_sealed_inos(struct ts_fs *fs, uint64_t slot, uint64_t *out,
                         size_t max);
/*
 * Opens the box of sealed inode ino into the value cache, unless it is
 * there already or gone.  Returns 1 if it decrypted, 0 if nothing to do,
 * or -errno.  Takes the index lock (shared) for the whole of it, so an
 * item removed meanwhile is never put in the cache after its removal.
 */
int ts_read_cache_fill(struct ts_fs *fs, uint64_t ino);
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
