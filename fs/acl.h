/*
 * acl: the POSIX ACLs of the tree's classes (enum acl_class), built from
 * a whitelist, and the xattr ops that give them to the kernel
 * (getxattr, listxattr).  The class of a node is the namespace's (tree.h).
 */
#ifndef TS_FS_ACL_H
#define TS_FS_ACL_H

#include "fs/state.h"

/* Frees the blobs of s and zeroes it (no ACL, mode 0). */
void ts_acl_release(struct acl_set *s);
/* Builds s from acc (NULL: nobody listed) for the daemon's uid owner:
 * 0, or -ENOMEM with s left empty. */
int ts_acl_build(const struct ts_access *acc, uid_t owner, struct acl_set *s);
void ts_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                 size_t size);
void ts_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);

#endif
