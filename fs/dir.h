/*
 * dir: the FUSE ops of directory listings (opendir, readdir, readdirplus,
 * releasedir), for the ops table in fs.c.  fi->fh is dir.c's own handle.
 */
#ifndef TS_FS_DIR_H
#define TS_FS_DIR_H

#include "fs/state.h"

void ts_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ts_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                struct fuse_file_info *fi);
void ts_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    struct fuse_file_info *fi);
void ts_op_releasedir(fuse_req_t req, fuse_ino_t ino,
                   struct fuse_file_info *fi);

#endif
