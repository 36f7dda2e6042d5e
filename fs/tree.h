/*
 * tree: the namespace.  Inode numbers (inode.h) to nodes as of now, and
 * what a node shows: its path, attributes, ACL class, kernel entry and
 * children.  Every function here is called with the index lock held
 * (shared is enough) and decrypts nothing; it calls only state and the
 * index below it.
 */
#ifndef TS_FS_TREE_H
#define TS_FS_TREE_H

#include "fs/state.h"

/* The path below the mount of a resolved node, for the audit trail. */
void ts_tree_path(const struct node *n, char *buf, size_t len);
/*
 * Finds what ino is, as of now: 0 and *n, or -ENOENT (unknown, or past
 * its deadline whether swept yet or not), -EIO (a damaged record).
 */
int ts_tree_resolve(struct ts_fs *fs, uint64_t ino, struct node *n);
/* 1 for the kinds that are directories. */
int ts_tree_is_dir(enum node_kind k);
/* 1 for the kinds that hold a sealed value. */
int ts_tree_is_sealed(enum node_kind k);
/* The ACL class (acl_set index) of a kind of node. */
enum acl_class ts_tree_class_of(enum node_kind k);
/* The text of a plain-metadata file (status, created, expires); its length. */
size_t ts_tree_meta_text(const struct node *n, char buf[64]);
/* Fills st for n.  No decryption: sizes come from box sizes. */
void ts_tree_stat(struct ts_fs *fs, uint64_t ino, const struct node *n,
                struct stat *st);
/* How long the kernel may cache n, in seconds: never past its deadline. */
double ts_tree_cache_time(struct ts_fs *fs, const struct node *n);
/* Fills the kernel entry (attributes and timeouts) of n. */
void ts_tree_entry(struct ts_fs *fs, uint64_t ino, const struct node *n,
                 struct fuse_entry_param *ep);
/* Finds child name of parent: 0 and *ino, -ENOENT, -ENOTDIR or -EIO. */
int ts_tree_child(struct ts_fs *fs, uint64_t parent, const char *name,
                uint64_t *ino);

#endif
