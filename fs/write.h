/*
 * write: the FUSE ops that change a ticket's files (status, new messages)
 * and the ones refused outright, for the ops table in fs.c; the pending
 * messages' helpers for open, release and the index.  Calls down into
 * tree, trail, notes, state and the index.
 */
#ifndef TS_FS_WRITE_H
#define TS_FS_WRITE_H

#include "fs/state.h"

void ts_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
                   int to_set, struct fuse_file_info *fi);
void ts_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
                 mode_t mode, dev_t rdev);
void ts_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
                 mode_t mode);
void ts_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
                   const char *name);
void ts_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                  fuse_ino_t newparent, const char *newname, unsigned flags);
void ts_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
                const char *newname);
void ts_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
                  mode_t mode, struct fuse_file_info *fi);
void ts_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
                 size_t size, off_t off, struct fuse_file_info *fi);
void ts_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ts_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                    const char *value, size_t size, int flags);
void ts_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);
/*
 * Drops the message being written as inode ino, never stored (index lock
 * not held): its item number goes back to the ticket.
 */
void ts_write_drop_pending(struct ts_fs *fs, uint64_t ino);
/* The index's busy callback (ts_index_set_busy): item numbers held by the
 * kernel or a message being written.  Index lock held. */
int ts_write_item_busy(void *fs, uint64_t slot, uint32_t item);
/* Opens status for writing (agents); called by the open op. */
int ts_write_open_status(struct ts_fs *fs, uint64_t ino, struct handle *h);


#endif
