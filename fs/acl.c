/*
 * acl: the POSIX ACLs derived from the whitelist, one per class of node
 * (the class is the namespace's, tree.h), and the xattr operations that
 * hand them to the kernel.
 */
#include "fs/acl.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fs/trail.h"
#include "fs/tree.h"

#define ACL_NAME "system.posix_acl_access"

void
ts_acl_release(struct acl_set *s)
{
	for (int c = 0; c < CLASS_COUNT; c++)
		free(s->blob[c]);
	memset(s, 0, sizeof(*s));
}

int
ts_acl_build(const struct ts_access *acc, uid_t owner, struct acl_set *s)
{
	/* Bits for reader, agent, auditor: SPEC's table of roles. */
	static const unsigned by_role[CLASS_COUNT][3] = {
		[CLASS_ROOT] = { 5, 5, 5 },
		[CLASS_DIR] = { 5, 7, 5 },
		[CLASS_STATUS] = { 4, 6, 4 },
		[CLASS_META] = { 4, 4, 4 },
		[CLASS_SEALED] = { 4, 4, 0 },
		[CLASS_AUDIT] = { 0, 0, 4 },
	};

	memset(s, 0, sizeof(*s));
	for (int c = 0; c < CLASS_COUNT; c++) {
		size_t len = ts_access_acl_roles(acc, owner, by_role[c], NULL, 0,
		                                 &s->mode[c]);

		if ((s->blob[c] = malloc(len)) == NULL) {
			ts_acl_release(s);
			return -ENOMEM;
		}
		s->len[c] = ts_access_acl_roles(acc, owner, by_role[c],
		                                s->blob[c], len, &s->mode[c]);
	}
	return 0;
}

void
ts_op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct ts_fs *fs = fs_of(req);
	struct node n;
	int rc;

	if (strcmp(name, ACL_NAME) != 0) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	/*
	 * The ACL names every listed uid: only listed callers get it (the
	 * kernel asks in the caller's name when it checks a permission, and
	 * caches only what it got).  A caller with no role is refused, not
	 * told "no ACL", which the kernel would cache for everyone; at the
	 * root, the kernel then refuses it by the mode bits (no bit for
	 * others), so below the root it learns nothing, cached or not.
	 * Kernel-made fetches, not operations: refusals are not recorded.
	 */
	if (!(ts_state_roles(fs, req) & TS_RIGHT_LIST)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	ts_index_rdlock(fs->idx);
	rc = ts_tree_resolve(fs, ino, &n);
	ts_index_unlock(fs->idx);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	pthread_rwlock_rdlock(&fs->acc_lock);
	{
		enum acl_class c = ts_tree_class_of(n.kind);
		size_t len = fs->acls.len[c];

		if (size == 0)
			fuse_reply_xattr(req, len);
		else if (size < len)
			fuse_reply_err(req, ERANGE);
		else
			fuse_reply_buf(req, (const char *)fs->acls.blob[c], len);
	}
	pthread_rwlock_unlock(&fs->acc_lock);
}

void
ts_op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	static const char names[] = ACL_NAME;
	struct ts_fs *fs = fs_of(req);
	struct node n;
	int rc;

	ts_index_rdlock(fs->idx);
	rc = ts_tree_resolve(fs, ino, &n);
	ts_index_unlock(fs->idx);
	if (rc == 0 && ino != TS_INO_ROOT)
		rc = ts_trail_gate_list(fs, req, ino, "listxattr", NULL);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else if (size == 0)
		fuse_reply_xattr(req, sizeof(names));
	else if (size < sizeof(names))
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, names, sizeof(names));
}
