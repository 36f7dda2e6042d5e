/*
 * remove: the FUSE ops unlink and rmdir (agents only), for the ops table
 * in fs.c.  Calls down into tree, trail, notes and the index.
 */
#ifndef TS_FS_REMOVE_H
#define TS_FS_REMOVE_H

#include "fs/state.h"

void ts_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void ts_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);

#endif
