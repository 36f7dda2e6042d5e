/*
 * lookup: the FUSE ops of names and attributes (lookup, forget,
 * forget_multi, getattr), for the ops table in fs.c.
 */
#ifndef TS_FS_LOOKUP_H
#define TS_FS_LOOKUP_H

#include "fs/state.h"

void ts_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void ts_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void ts_op_forget_multi(fuse_req_t req, size_t count,
                     struct fuse_forget_data *v);
void ts_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);

#endif
