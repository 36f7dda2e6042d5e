/*
 * remove: unlink and rmdir, for agents (see write.c's header for what
 * each removal means), gone at once from the mount and the store.
 */
#include "fs/remove.h"

#include <errno.h>
#include <string.h>

#include "fs/notes.h"
#include "fs/trail.h"
#include "fs/tree.h"

/* 1 if parent or (parent, name) was removed a moment ago. */
static int
just_removed(struct ts_fs *fs, uint64_t parent, const char *name)
{
	uint64_t slot;
	uint32_t item;
	unsigned sub;

	if (ts_index_tomb(fs->idx, parent, name))
		return 1;
	/* Anything inside a ticket that is gone. */
	if (ts_ino_split(parent, &slot, &item, &sub) == 0 &&
	    ts_index_slot_used(fs->idx, slot) &&
	    ts_index_by_slot(fs->idx, slot) == NULL)
		return 1;
	return 0;
}

/*
 * Resolves what unlink or rmdir of (parent, name) is about: 1 and *c, or
 * 0 when it was removed a moment ago (so removing it again succeeds), or
 * -errno.
 */
static int
removal_target(struct ts_fs *fs, uint64_t parent, const char *name,
               struct node *c)
{
	struct node p;
	uint64_t ino;
	int rc;

	if ((rc = ts_tree_resolve(fs, parent, &p)) < 0)
		return rc == -ENOENT && just_removed(fs, parent, NULL) ? 0 : rc;
	if ((rc = ts_tree_child(fs, parent, name, &ino)) == 0)
		rc = ts_tree_resolve(fs, ino, c);
	if (rc == -ENOENT && just_removed(fs, parent, name))
		return 0;
	return rc < 0 ? rc : 1;
}

static int
do_unlink(struct ts_fs *fs, uint64_t parent, const char *name,
          struct ts_changes *ch)
{
	struct node c;
	int rc;

	if ((rc = removal_target(fs, parent, name, &c)) <= 0)
		return rc;
	switch (c.kind) {
	case N_STATUS:
	case N_CREATED:
		return 0;	/* they go with the ticket: see above */
	case N_FIELD:
		return ts_index_remove_field(fs->idx, c.e, c.field, ch);
	case N_MSG:
		return ts_index_remove_msg(fs->idx, c.e, c.m, ch);
	case N_PENDING:
		return -EBUSY;
	case N_AFIELD:
		return ts_index_remove_afield(fs->idx, c.e, c.a, c.field, ch);
	case N_EXPIRES:
		return 0;	/* goes with the authorization: see above */
	default:
		return ts_tree_is_dir(c.kind) ? -EISDIR : -EPERM;
	}
}

static int
do_rmdir(struct ts_fs *fs, uint64_t parent, const char *name,
         struct ts_changes *ch)
{
	struct node c;
	int rc;

	if ((rc = removal_target(fs, parent, name, &c)) <= 0)
		return rc;
	switch (c.kind) {
	case N_TICKET: {
		int left = 0;

		if (c.e->err)	/* a damaged record can still be deleted */
			return ts_index_remove_ticket(fs->idx, c.e, ch);
		for (int f = 0; f < TS_F_COUNT; f++)
			left |= c.e->t.field[f].len != 0;
		if (left || c.e->t.nmsg || c.e->t.nauth)
			return -ENOTEMPTY;
		return ts_index_remove_ticket(fs->idx, c.e, ch);
	}
	case N_MSGDIR:
		return c.e->t.nmsg ? -ENOTEMPTY : 0;
	case N_AUTHDIR:
		return c.e->t.nauth ? -ENOTEMPTY : 0;
	case N_AUTH:
		for (int f = 0; f < TS_A_COUNT; f++)
			if (c.a->box[f].len != 0)
				return -ENOTEMPTY;
		return ts_index_remove_auth(fs->idx, c.e, c.a, ch);
	default:
		return ts_tree_is_dir(c.kind) ? -EPERM : -ENOTDIR;
	}
}

static void
removal(fuse_req_t req, fuse_ino_t parent, const char *name, int dir)
{
	struct ts_fs *fs = fs_of(req);
	struct ts_changes ch = { 0 };
	int rc;

	if (!(ts_state_roles(fs, req) & TS_RIGHT_WRITE)) {
		ts_trail_refuse(req, dir ? "rmdir" : "unlink", parent, name, EACCES);
		return;
	}
	ts_index_wrlock(fs->idx);
	/* A removal that lost to another host's write (a shared store) was
	 * re-read: resolved and checked again against the winner's
	 * version (gone meanwhile: removed, as a removal just made). */
	for (int i = 0; i < 3; i++) {
		rc = dir ? do_rmdir(fs, parent, name, &ch)
		         : do_unlink(fs, parent, name, &ch);
		if (rc != -EAGAIN)
			break;
	}
	ts_index_unlock(fs->idx);
	if (ts_trail_audit_at(fs, req, dir ? "rmdir" : "unlink", parent, name, -rc,
	             NULL) < 0 && rc == 0)
		rc = -EIO;
	ts_notes_queue(fs, &ch);
	fuse_reply_err(req, -rc);
}

void
ts_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	removal(req, parent, name, 0);
}

void
ts_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	removal(req, parent, name, 1);
}
