/*
 * write: the operations that change the tree, for agents only.
 *
 *   echo processed > status    a status move (open -> processing -> processed)
 *   messages/NAME              a new file is a new message, sealed and stored
 *                              durably when it is closed
 *   rm FIELD, rm messages/NAME, rm -r authorizations/NAME, rm -r tickets/ID
 *                              gone at once, from the mount and the store
 *
 * Everything else fails with EPERM and changes nothing.  So that `rm -r`
 * succeeds whatever order it walks a ticket in: unlinking status, created
 * or an authorization's expires succeeds and changes nothing (they go with
 * what they describe); rmdir of an authorization cancels it once its
 * account, password and resource are gone; rmdir of messages/ or
 * authorizations/ succeeds once they are empty; rmdir of the ticket deletes
 * it once nothing but status and created is left; and removing what was
 * removed a moment ago succeeds (the index keeps recent tombstones).
 */
#include "fs/write.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fs/notes.h"
#include "fs/trail.h"
#include "fs/tree.h"

#define STATUS_MAX 64

/* Appends to a handle's buffer (up to max bytes). */
static int
append(struct handle *h, const char *buf, size_t size, size_t max)
{
	if (h->len + size > max)
		return -EFBIG;
	if (h->len + size > h->cap) {
		size_t cap = h->cap ? h->cap : 256;
		char *nb;

		while (cap < h->len + size)
			cap *= 2;
		if ((nb = malloc(cap)) == NULL)
			return -ENOMEM;
		if (h->buf != NULL) {
			memcpy(nb, h->buf, h->len);
			sodium_memzero(h->buf, h->cap);
			free(h->buf);
		}
		h->buf = nb;
		h->cap = cap;
	}
	memcpy(h->buf + h->len, buf, size);
	h->len += size;
	return 0;
}

void
ts_write_drop_pending(struct ts_fs *fs, uint64_t ino)
{
	ts_index_wrlock(fs->idx);
	for (struct pending **pp = &fs->pending; *pp; pp = &(*pp)->next)
		if ((*pp)->ino == ino) {
			struct pending *p = *pp;
			struct ts_entry *e = ts_index_by_slot(fs->idx, p->slot);

			*pp = p->next;
			if (e != NULL)
				ts_index_give_item(fs->idx, e, p->item);
			free(p);
			break;
		}
	ts_index_unlock(fs->idx);
}

int
ts_write_item_busy(void *arg, uint64_t slot, uint32_t item)
{
	struct ts_fs *fs = arg;

	for (struct pending *p = fs->pending; p != NULL; p = p->next)
		if (p->slot == slot && p->item == item)
			return 1;
	for (unsigned sub = TS_SUB_ITEM; sub <= TS_SUB_EXPIRES; sub++)
		if (ts_inodes_held(fs->inodes, ts_ino_make(slot, item + 1, sub)))
			return 1;
	return 0;
}

/* Messages of slot being written now.  Index lock held. */
static size_t
pending_count(struct ts_fs *fs, uint64_t slot)
{
	size_t n = 0;

	for (struct pending *p = fs->pending; p != NULL; p = p->next)
		n += p->slot == slot;
	return n;
}

int
ts_write_open_status(struct ts_fs *fs, uint64_t ino, struct handle *h)
{
	(void)fs;
	h->kind = H_STATUS;
	h->ino = ino;
	return 0;
}

/* Applies what was written to status: one word, then a newline. */
static int
apply_status(struct ts_fs *fs, fuse_req_t req, struct handle *h)
{
	struct ts_changes ch = { 0 };
	char word[STATUS_MAX + 1];
	size_t n = h->len;
	struct node nd;
	int status, rc;

	while (n > 0 && (h->buf[n - 1] == '\n' || h->buf[n - 1] == ' ' ||
	                 h->buf[n - 1] == '\r' || h->buf[n - 1] == '\t'))
		n--;
	memcpy(word, h->buf, n);
	word[n] = '\0';
	h->done = 1;
	if ((status = ts_status_lookup(word)) < 0)
		rc = -EINVAL;
	else {
		ts_index_wrlock(fs->idx);
		rc = ts_tree_resolve(fs, h->ino, &nd);
		if (rc == 0)
			rc = ts_index_set_status(fs->idx, nd.e, status, &ch);
		ts_index_unlock(fs->idx);
	}
	/* The words are the user's: no sealed value can be among them. */
	if (ts_trail_audit_at(fs, req, "status", h->ino, NULL, -rc, word) < 0 && rc == 0)
		rc = -EIO;	/* done, but not recorded: say so */
	ts_trail_audit_changes(fs, &ch);
	ts_notes_queue(fs, &ch);
	return rc;
}

/* Stores a message written through the mount. */
static int
store_message(struct ts_fs *fs, fuse_req_t req, struct handle *h)
{
	struct ts_changes ch = { 0 };
	struct pending **pp, *p = NULL;
	struct ts_entry *e;
	json_t *check;
	int rc;

	h->done = 1;
	if (h->len == 0 || memchr(h->buf, '\0', h->len) != NULL)
		rc = -EINVAL;	/* empty, or not text */
	else if ((check = json_stringn(h->buf, h->len)) == NULL)
		rc = -EINVAL;	/* not UTF-8 */
	else {
		/* jansson's copy of the text: free() would leave it in the
		 * heap (the daemon never sets jansson's wiping allocator). */
		sodium_memzero((char *)(uintptr_t)json_string_value(check),
		               h->len);
		json_decref(check);
		rc = 0;
	}
	ts_index_wrlock(fs->idx);
	for (pp = &fs->pending; *pp != NULL; pp = &(*pp)->next)
		if ((*pp)->ino == h->ino) {
			p = *pp;
			*pp = p->next;
			break;
		}
	if (p == NULL)
		rc = -ENOENT;
	else if ((e = ts_index_by_slot(fs->idx, p->slot)) == NULL ||
	         ts_index_deadline_ticket(fs->idx, e) <= ts_now_ms())
		rc = rc ? rc : -ENOENT;	/* the ticket went meanwhile */
	else if (rc == 0)
		rc = ts_index_add_msg(fs->idx, e, p->name, p->item, h->buf,
		                      h->len, fs->pk, &ch);
	if (rc < 0 && p != NULL &&
	    (e = ts_index_by_slot(fs->idx, p->slot)) != NULL)
		ts_index_give_item(fs->idx, e, p->item);	/* never stored */
	if (rc == 0) {
		struct ts_message *m = ts_ticket_find_msg(&e->t, p->name);

		if (m != NULL)
			m->author = (uint32_t)p->uid + 1;	/* its owner */
	}
	ts_index_unlock(fs->idx);
	if (ts_trail_audit_at(fs, req, "message", h->ino, NULL, -rc, NULL) < 0 && rc == 0)
		rc = -EIO;
	free(p);
	ts_notes_queue(fs, &ch);
	return rc;
}

void
ts_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size,
            off_t off, struct fuse_file_info *fi)
{
	struct ts_fs *fs = fs_of(req);
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	int rc;

	(void)ino;
	if (h->kind == H_READ)
		rc = -EBADF;
	else if (h->err)	/* an earlier write failed: nothing more */
		rc = h->err;
	else if (h->done)	/* a stored message or an applied status is final */
		rc = h->kind == H_STATUS ? -EINVAL : -EPERM;
	else if ((rc = ts_trail_gate(fs, req, h->ino, "write", NULL,
	                          TS_RIGHT_WRITE)) < 0)
		;	/* revoked since the open, or another uid's descriptor */
	else if ((size_t)off != h->len)	/* no holes, no rewriting */
		rc = -EINVAL;
	else {
		rc = append(h, buf, size, h->kind == H_STATUS ? STATUS_MAX
		                                       : TS_MESSAGE_MAX - 1);
		if (rc == -EFBIG && h->kind == H_STATUS)
			rc = -EINVAL;
		/* A status is applied as soon as its line is complete, so
		 * that the write itself reports a refused move. */
		if (rc == 0 && h->kind == H_STATUS &&
		    memchr(h->buf, '\n', h->len))
			rc = apply_status(fs, req, h);
	}
	/*
	 * buf is in libfuse's receive buffer, which is reused but never
	 * wiped: a message's text would stay there, outside the locked cache
	 * and in core dumps, until a later request overwrites it.  The text is
	 * in h->buf now (wiped when freed).  Status words are not secret.
	 */
	if (h->kind != H_STATUS)
		sodium_memzero((char *)(uintptr_t)buf, size);
	/* A failed write poisons what is being written: the close reports
	 * that error and nothing is stored (no truncated message). */
	if (rc < 0 && h->kind != H_READ && !h->done && !h->err)
		h->err = rc;
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_write(req, size);
}

void
ts_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ts_fs *fs = fs_of(req);
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	int rc = 0;

	(void)ino;
	/*
	 * close() returns only once a new message is durably stored.  Every
	 * close() of a descriptor flushes, and a shell's `> file` closes one
	 * right after dup2(), before anything is written: so a flush with
	 * nothing written yet stores nothing, and an empty file never becomes
	 * a message (release drops it).  What is stored or applied is
	 * decided by the uid closing it, by the whitelist of now.
	 */
	if (h->kind == H_READ || (h->done && !h->err) ||
	    (h->len == 0 && !h->err))
		;
	else if (!h->err && (rc = ts_trail_gate(fs, req, h->ino, "flush", NULL,
	                                     TS_RIGHT_WRITE)) < 0)
		h->err = rc;
	else if (h->err)
		rc = h->err;
	else if (h->kind == H_MESSAGE)
		rc = store_message(fs, req, h);
	else
		rc = apply_status(fs, req, h);
	/* A poisoned message is dropped, once, and said so in the trail. */
	if (h->err && !h->done) {
		h->done = 1;
		if (h->kind == H_MESSAGE) {
			ts_trail_audit_at(fs, req, "message", h->ino, NULL, -h->err,
			               "not stored");
			ts_write_drop_pending(fs, h->ino);
		}
	}
	fuse_reply_err(req, -rc);
}

void
ts_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
             mode_t mode, struct fuse_file_info *fi)
{
	struct ts_fs *fs = fs_of(req);
	struct fuse_entry_param ep;
	struct pending *p = NULL;
	struct handle *h = NULL;
	struct node n;
	uint64_t ino;
	int rc;

	(void)mode;
	if (!(ts_state_roles(fs, req) & TS_RIGHT_WRITE)) {
		ts_trail_refuse(req, "create", parent, name, EACCES);
		return;
	}
	/* A message is stored at its close, whose error a shell's `echo >`
	 * never sees: a store known unreachable fails the create itself. */
	if ((rc = ts_store_reachable(fs->st)) < 0) {
		ts_trail_refuse(req, "create", parent, name, -rc);
		return;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL ||
	    (p = calloc(1, sizeof(*p))) == NULL) {
		free(h);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ts_index_wrlock(fs->idx);
	rc = ts_tree_resolve(fs, parent, &n);
	if (rc == 0 && n.kind != N_MSGDIR)
		rc = -EPERM;	/* only messages/ takes new files */
	if (rc == 0 && !ts_name_valid(name))
		rc = -EINVAL;
	if (rc == 0 && ts_tree_child(fs, parent, name, &ino) == 0)
		rc = -EEXIST;
	if (rc == 0 && n.e->t.nmsg + pending_count(fs, n.e->slot) >=
	               TS_MSG_PER_TICKET)
		rc = -EMLINK;	/* the most a ticket holds: README */
	if (rc == 0)
		rc = ts_index_take_item(fs->idx, n.e, &p->item);
	if (rc == 0) {
		p->uid = fuse_req_ctx(req)->uid;
		p->slot = n.e->slot;
		p->ino = ts_ino_make(n.e->slot, p->item + 1, TS_SUB_ITEM);
		snprintf(p->name, sizeof(p->name), "%s", name);
		p->next = fs->pending;
		fs->pending = p;
		rc = ts_tree_resolve(fs, p->ino, &n);
		if (rc == 0)
			ts_tree_entry(fs, p->ino, &n, &ep);
	}
	ts_index_unlock(fs->idx);
	if (rc < 0) {
		free(p);
		free(h);
		ts_trail_refuse(req, "create", parent, name, -rc);
		return;
	}
	h->kind = H_MESSAGE;
	h->ino = p->ino;
	fi->fh = (uint64_t)(uintptr_t)h;
	fi->direct_io = 1;
	ts_inodes_ref(fs->inodes, p->ino);
	if (fuse_reply_create(req, &ep, fi) != 0) {
		ts_inodes_forget(fs->inodes, p->ino, 1);
		/* release will not come: drop the pending message here */
		ts_write_drop_pending(fs, h->ino);
		ts_state_free_handle(h);
	}
}

/* What setattr of a kind of node the daemon accepts (and ignores). */
#define SET_TIMES (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | \
                   FUSE_SET_ATTR_ATIME_NOW | FUSE_SET_ATTR_MTIME_NOW | \
                   FUSE_SET_ATTR_CTIME)

/*
 * 1 if setattr (to_set, attr, on node n, by the uid of req) changes nothing
 * and may succeed: truncating status to write a new one (`> status`); on a
 * message being written, times and modes (cp -p, touch, install set them
 * before the close that stores it) and truncating it to what it holds
 * (rsync --inplace); on a stored message, times and modes from its author
 * (rsync -t, install set them after the close).  All ignored: a message's
 * mtime is when it was stored, its mode read-only.
 */
static int
setattr_noop(fuse_req_t req, const struct node *n, const struct stat *attr,
             int to_set, const struct fuse_file_info *fi)
{
	const struct handle *h = fi ? (const struct handle *)(uintptr_t)fi->fh
	                            : NULL;
	int meta = (to_set & ~(SET_TIMES | FUSE_SET_ATTR_MODE)) == 0;

	switch (n->kind) {
	case N_STATUS:
		return to_set == FUSE_SET_ATTR_SIZE && attr->st_size == 0;
	case N_PENDING:
		return meta || (to_set == FUSE_SET_ATTR_SIZE && h != NULL &&
		                h->kind == H_MESSAGE &&
		                (size_t)attr->st_size == h->len);
	case N_MSG:
		return meta && n->m->author == (uint32_t)fuse_req_ctx(req)->uid + 1;
	default:
		return 0;
	}
}

void
ts_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
              struct fuse_file_info *fi)
{
	struct ts_fs *fs = fs_of(req);
	struct node n;
	struct stat st;
	int ok = 0;

	if (ts_state_roles(fs, req) & TS_RIGHT_WRITE) {
		ts_index_rdlock(fs->idx);
		if (ts_tree_resolve(fs, ino, &n) == 0 &&
		    (ok = setattr_noop(req, &n, attr, to_set, fi)))
			ts_tree_stat(fs, ino, &n, &st);
		ts_index_unlock(fs->idx);
	}
	if (ok)
		fuse_reply_attr(req, &st, 0);
	else
		ts_trail_refuse(req, "setattr", ino, NULL, EPERM);	/* chmod, chown,
							   utimes, truncating content */
}

void
ts_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
            dev_t rdev)
{
	(void)mode, (void)rdev;
	ts_trail_refuse(req, "mknod", parent, name, EPERM);
}

void
ts_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)mode;
	ts_trail_refuse(req, "mkdir", parent, name, EPERM);
}

void
ts_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
              const char *name)
{
	(void)link;
	ts_trail_refuse(req, "symlink", parent, name, EPERM);
}

void
ts_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
             fuse_ino_t newparent, const char *newname, unsigned flags)
{
	(void)newparent, (void)newname, (void)flags;
	ts_trail_refuse(req, "rename", parent, name, EPERM);
}

void
ts_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
           const char *newname)
{
	(void)newname;
	ts_trail_refuse(req, "link", ino, NULL, EPERM);
	(void)newparent;
}

void
ts_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
               const char *value, size_t size, int flags)
{
	struct ts_fs *fs = fs_of(req);
	struct node n;
	int pending;

	(void)name, (void)value, (void)size, (void)flags;
	/*
	 * cp -p of a message copies its ACL (or xattrs) onto the file being
	 * written: "not supported" makes it fall back to a chmod, which is
	 * accepted and ignored (setattr).  Accepting the ACL instead would
	 * put it into the kernel's cache for the inode, which the stored
	 * message keeps.  (ENOSYS, not this, would turn xattrs off for good.)
	 */
	ts_index_rdlock(fs->idx);
	pending = ts_tree_resolve(fs, ino, &n) == 0 && n.kind == N_PENDING;
	ts_index_unlock(fs->idx);
	if (pending && (ts_state_roles(fs, req) & TS_RIGHT_WRITE)) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	ts_trail_refuse(req, "setxattr", ino, NULL, EPERM);
}

void
ts_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)name;
	ts_trail_refuse(req, "removexattr", ino, NULL, EPERM);
}
