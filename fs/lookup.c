/*
 * lookup: the kernel's names and attributes: lookup, forget, getattr.
 * Each gates the caller, resolves under the index's shared lock and ends
 * in one reply; the kernel caches for cfg.timeout seconds, never past an
 * item's deadline.
 */
#include "fs/lookup.h"

#include <errno.h>

#include "fs/status.h"
#include "fs/trail.h"
#include "fs/tree.h"

void
ts_op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ts_fs *fs = fs_of(req);
	struct fuse_entry_param ep;
	struct node n;
	uint64_t ino;
	int rc;

	if ((rc = ts_trail_gate_list(fs, req, parent, "lookup", name)) < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	ts_index_rdlock(fs->idx);
	rc = ts_tree_child(fs, parent, name, &ino);
	if (rc == 0)
		rc = ts_tree_resolve(fs, ino, &n);
	if (rc == 0)
		ts_tree_entry(fs, ino, &n, &ep);
	ts_index_unlock(fs->idx);
	if (rc < 0) {
		fuse_reply_err(req, -rc);	/* ENOENT: not cached, see README */
		return;
	}
	if (ts_inodes_ref(fs->inodes, ino) < 0) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (fuse_reply_entry(req, &ep) != 0)
		ts_inodes_forget(fs->inodes, ino, 1);
}

void
ts_op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	ts_inodes_forget(fs_of(req)->inodes, ino, nlookup);
	fuse_reply_none(req);
}

void
ts_op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *v)
{
	struct ts_fs *fs = fs_of(req);

	for (size_t i = 0; i < count; i++)
		ts_inodes_forget(fs->inodes, v[i].ino, v[i].nlookup);
	fuse_reply_none(req);
}

void
ts_op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ts_fs *fs = fs_of(req);
	struct handle *h = fi ? (struct handle *)(uintptr_t)fi->fh : NULL;
	double timeout = 0;
	struct stat st;
	struct node n;
	int rc;

	/* The root's own attributes are the mount's: all may see them. */
	if (ino != TS_INO_ROOT && (rc = ts_trail_gate_list(fs, req, ino, "stat", NULL)) < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	ts_index_rdlock(fs->idx);
	rc = ts_tree_resolve(fs, ino, &n);
	if (rc == 0) {
		ts_tree_stat(fs, ino, &n, &st);
		timeout = ts_tree_cache_time(fs, &n);
	}
	/* The kernel's, before a read through the page cache: the size of
	 * what that reader reads (fs/status.c). */
	if (rc == 0 && n.kind == N_STATUS && h != NULL && h->kind == H_READ &&
	    h->cached)
		ts_status_attr(h, &n, &st, &timeout);
	else if (rc == 0 && n.kind == N_STATUS)
		ts_status_told(&n);
	ts_index_unlock(fs->idx);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, timeout);
}
