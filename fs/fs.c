/*
 * fs: the FUSE operations table (ts_fs_ops) and where each op lives; the
 * ops that are the mount's own (init, statfs) and open's dispatch (read or
 * status-write); making and freeing the daemon's state (ts_fs_new/free).
 *
 * Each op resolves the inode under the index's shared lock, checking the
 * item's retention deadline against the clock, decides from the caller's
 * uid, and ends in exactly one reply.  The kernel caches entries and
 * attributes for cfg.timeout seconds, never past an item's deadline, and
 * whatever changes is invalidated through ticker.c.
 */
#include "fs/state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "fs/acl.h"
#include "fs/config.h"
#include "fs/dir.h"
#include "fs/fold.h"
#include "fs/lookup.h"
#include "fs/read.h"
#include "fs/remove.h"
#include "fs/ticker.h"
#include "fs/trail.h"
#include "fs/tree.h"
#include "fs/write.h"
#include "fs/retain.h"
#include "fs/status.h"
#include "store/audit.h"
#include "store/util.h"

/* ---- operations ---- */

static void
op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct ts_fs *fs = userdata;

	if (conn->capable & FUSE_CAP_POSIX_ACL)
		conn->want |= FUSE_CAP_POSIX_ACL;
	else
		ts_fs_log(fs, "the kernel lacks FUSE POSIX ACL support: access "
		          "control falls back to the daemon's own checks");
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/*
	 * `> status` truncates in a setattr, which changes nothing (write.c),
	 * not in the open: an atomic O_TRUNC would make the kernel take the
	 * cached status for empty (size 0) until the write, and a reader of
	 * its page cache in between would read nothing (fs/status.c).
	 */
	conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
	/* Nothing here is written through the page cache. */
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
}

static void
op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ts_fs *fs = fs_of(req);
	unsigned roles = ts_state_roles(fs, req);
	int wr = (fi->flags & O_ACCMODE) != O_RDONLY;
	char path[3 * TS_NAME_MAX + 64] = "?";
	struct handle *h;
	uint64_t slot = 0, next = 0;
	int in_ticket = 0, has_next = 0;
	struct node n;
	int rc;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->kind = H_READ;
	h->ino = ino;
	ts_index_rdlock(fs->idx);
	rc = ts_tree_resolve(fs, ino, &n);
	if (rc == 0)
		ts_tree_path(&n, path, sizeof(path));
	if (rc == 0 && n.e != NULL) {
		struct ts_entry *ne = ts_index_next(fs->idx, n.e);

		slot = n.e->slot;	/* n.e is valid only under the lock */
		in_ticket = 1;
		if (ne != NULL) {
			next = ne->slot;
			has_next = 1;
		}
	}
	/*
	 * A reader of status reads the status of the moment it opened, however
	 * many read(2)s it takes: never "open" torn into a later "processing".
	 */
	if (rc == 0 && n.kind == N_STATUS && !wr) {
		char text[64];

		h->len = ts_tree_meta_text(&n, text);
		if ((h->buf = malloc(sizeof(text))) == NULL)
			rc = -ENOMEM;
		else
			memcpy(h->buf, text, h->len);
		h->cap = sizeof(text);
		h->snap = n.e->t.status + 1;
		/* Through the page cache, unless it may be older than this
		 * status (fs/status.c). */
		h->cached = ts_status_cacheable(&n);
	}
	ts_index_unlock(fs->idx);
	if (rc == 0 && n.kind == N_AUDIT)
		rc = !(roles & TS_RIGHT_AUDIT) ? -EACCES : wr ? -EPERM : 0;
	else if (!(roles & TS_RIGHT_LIST))
		rc = -EACCES;
	if (rc == 0 && ts_tree_is_dir(n.kind))
		rc = -EISDIR;
	if (rc == 0 && ts_tree_is_sealed(n.kind) && !(roles & TS_RIGHT_SEALED))
		rc = -EACCES;
	if (rc == 0 && n.kind == N_PENDING)
		rc = -EBUSY;	/* another writer's message, not stored yet */
	/* Whatever but status its bits say read-only: EACCES, as the
	 * kernel answers everyone but root (who passes its check). */
	if (rc == 0 && wr)
		rc = !(roles & TS_RIGHT_WRITE) || n.kind != N_STATUS ? -EACCES :
		     ts_write_open_status(fs, ino, h);
	if (rc == 0 && !wr && (fi->flags & O_TRUNC))
		rc = -EPERM;
	/*
	 * Every open of a sealed value or the trail, and every refused open,
	 * is recorded before anything is returned; if it cannot be, the open
	 * fails (fail closed).
	 */
	if (rc != -ENOENT && (rc < 0 || ts_tree_is_sealed(n.kind) || n.kind == N_AUDIT)) {
		int arc = ts_trail_audit(fs, req, wr ? "open-write" : "open", path,
		                      -rc, NULL);
		if (rc == 0 && arc < 0)
			rc = arc;
	}
	if (rc < 0) {
		free(h);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	if (n.kind == N_AUDIT)
		ts_audit_view_open(fs->audit);	/* until release */
	if ((n.kind == N_CREATED || n.kind == N_EXPIRES) && !wr &&
	    fs->se != NULL && ts_inodes_claim_push(fs->inodes, ino))
		ts_read_push_value(fs, ino);
	/*
	 * A sealed value never reaches the page cache: the kernel would serve
	 * its pages to every descriptor of the inode without asking, also to
	 * one whose uid was revoked since it opened, or that was passed to
	 * another uid, as soon as any listed reader had the pages read in.
	 * So every read of one is a request, decided by the uid making it
	 * (ts_op_read).  The trail grows: no cache either.  created and
	 * expires never change and any role may read them: cached.  status
	 * is cached once it is final, processed (fs/status.c); a writer's
	 * open is not.
	 */
	if (ts_tree_is_sealed(n.kind) || n.kind == N_AUDIT ||
	    (n.kind == N_STATUS && !h->cached))
		fi->direct_io = 1;
	else
		fi->keep_cache = 1;
	/* Only writers need the flush at close: spare readers the round trip. */
	if (!wr)
		fi->noflush = 1;
	if (fuse_reply_open(req, fi) != 0) {
		if (n.kind == N_AUDIT)
			ts_audit_view_close(fs->audit);
		ts_state_free_handle(h);
	}
	/*
	 * A reader of one of a ticket's files likely reads the rest (grep -r,
	 * tar and backups open status first): queued at its first open, so
	 * the workers read the record while the loop answers the round trips
	 * before the first sealed read.  Only for a caller who may open the
	 * sealed values (ls, find and du open no file: nothing queued).  The
	 * sealed file opened now is the loop thread's to read.
	 */
	else if (in_ticket && !wr && (roles & TS_RIGHT_SEALED)) {
		ts_prefetch_ticket(fs->prefetch, slot,
		                   ts_tree_is_sealed(n.kind) ? ino : 0);
		if (has_next)
			ts_prefetch_ticket(fs->prefetch, next, 0);
	}
}

static void
op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = sv.f_frsize = 4096;
	sv.f_namemax = TS_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

/*
 * Every op the daemon answers, and the file that holds it (SPEC's
 * behaviours by op).  An op not named here is ENOSYS from libfuse.
 */
const struct fuse_lowlevel_ops ts_fs_ops = {
	.init = op_init,			/* fs.c: capabilities */
	.lookup = ts_op_lookup,			/* lookup.c */
	.forget = ts_op_forget,			/* lookup.c: lookup counts */
	.forget_multi = ts_op_forget_multi,	/* lookup.c */
	.getattr = ts_op_getattr,		/* lookup.c: stat from tree.c */
	.setattr = ts_op_setattr,		/* write.c: no-ops or EPERM */
	.mknod = ts_op_mknod,			/* write.c: EPERM */
	.mkdir = ts_op_mkdir,			/* write.c: EPERM */
	.unlink = ts_op_unlink,			/* remove.c: fields, messages */
	.rmdir = ts_op_rmdir,			/* remove.c: tickets, auths */
	.symlink = ts_op_symlink,		/* write.c: EPERM */
	.rename = ts_op_rename,			/* write.c: EPERM */
	.link = ts_op_link,			/* write.c: EPERM */
	.open = op_open,			/* fs.c: read or status write */
	.read = ts_op_read,			/* read.c: values, audit.log */
	.write = ts_op_write,			/* write.c: status, messages */
	.flush = ts_op_flush,			/* write.c: stores at close */
	.release = ts_op_release,		/* read.c */
	.opendir = ts_op_opendir,		/* dir.c */
	.readdir = ts_op_readdir,		/* dir.c */
	.readdirplus = ts_op_readdirplus,	/* dir.c */
	.releasedir = ts_op_releasedir,		/* dir.c */
	.statfs = op_statfs,			/* fs.c */
	.setxattr = ts_op_setxattr,		/* write.c: EOPNOTSUPP, EPERM */
	.getxattr = ts_op_getxattr,		/* acl.c: the POSIX ACL */
	.listxattr = ts_op_listxattr,		/* acl.c */
	.removexattr = ts_op_removexattr,	/* write.c: EPERM */
	.create = ts_op_create,			/* write.c: a new message */
};

int
ts_fs_new(struct ts_store *st, const struct ts_seckey *key,
          const struct ts_fs_config *cfg, struct ts_fs **out, char *err,
          size_t errlen)
{
	struct ts_fs *fs = calloc(1, sizeof(*fs));
	struct ts_changes ch = { 0 };
	int rc;

	if (fs == NULL)
		return -ENOMEM;
	fs->st = st;
	fs->key = key;
	memcpy(fs->pk, ts_seal_seckey_pk(key), sizeof(fs->pk));
	fs->cfg = *cfg;
	fs->owner = getuid();
	fs->mounted_ms = ts_now_ms();
	fs->group = getgid();
	pthread_rwlock_init(&fs->acc_lock, NULL);
	pthread_mutex_init(&fs->comm_lock, NULL);
	pthread_mutex_init(&fs->note_lock, NULL);
	pthread_cond_init(&fs->note_cond, NULL);
	ts_config_sig_of(cfg->whitelist_path, &fs->wl_sig);
	ts_config_sig_of("/etc/passwd", &fs->passwd_sig);
	ts_config_sig_of("/etc/group", &fs->group_sig);
	if ((rc = ts_inodes_new(&fs->inodes)) < 0 ||
	    (rc = ts_cache_new(cfg->cache_bytes, &fs->cache)) < 0 ||
	    (rc = ts_index_new(st, ts_fs_log, fs, &fs->idx)) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out_free;
	}
	ts_index_set_busy(fs->idx, ts_write_item_busy, fs);
	/* At mount a whitelist that cannot be read or parsed refuses the
	 * start (nothing was in force yet); names that do not resolve do
	 * not.  Not yet forked: the log goes to stderr too (NULL). */
	if ((rc = ts_config_reload_whitelist(fs, err, errlen)) < 0)
		goto out_free;
	if (ts_access_skipped(fs->acc) > 0)
		ts_fs_log(NULL, "whitelist %s: %zu line%s nothing: %s",
		          cfg->whitelist_path, ts_access_skipped(fs->acc),
		          ts_access_skipped(fs->acc) == 1 ? " grants" :
		          "s grant", ts_access_warnings(fs->acc));
	if ((rc = ts_config_reload_policy(fs, err, errlen)) < 0) {
		char e2[512];

		snprintf(e2, sizeof(e2), "policy: %s", err);
		snprintf(err, errlen, "%s", e2);
		goto out_free;
	}
	if (cfg->audit && (rc = ts_store_audit_open(st, key, cfg->audit_segment,
	                                             &fs->audit)) < 0) {
		snprintf(err, errlen, "cannot open the audit trail: %s",
		         rc == -EKEYREJECTED ? "audit/verify.key belongs to "
		         "another key" : rc == -EBADMSG ? "it is shorter than "
		         "its signed checkpoint or damaged (run ticketctl audit "
		         "verify)" : strerror(-rc));
		goto out_free;
	}
	/* Before anything is appended: what a killed run left is shipped. */
	if (fs->audit != NULL && cfg->audit_spool != NULL) {
		if ((rc = ts_audit_set_spool(fs->audit, cfg->audit_spool, err,
		                             errlen)) < 0)
			goto out_free;
		if (rc > 0)
			ts_fs_log(NULL, "%s", err);
	}
	if (fs->audit != NULL && cfg->checkpoint_copy != NULL &&
	    (rc = ts_audit_set_copy(fs->audit, cfg->checkpoint_copy, err,
	                            errlen)) < 0)
		goto out_free;
	if (fs->audit != NULL && cfg->fss_path != NULL &&
	    (rc = ts_audit_set_fss(fs->audit, cfg->fss_path, err, errlen)) < 0) {
		if (rc != -ENOENT)
			goto out_free;
		ts_fs_log(NULL, "no forward-secure sealing state %s: the audit "
		          "trail is checkpointed but not sealed (ticketctl audit "
		          "seal KEYFILE starts it)", cfg->fss_path);
	}
	ts_index_set_prune(fs->idx, ts_retain_request, fs);
	if (fs->audit != NULL && (rc = ts_fold_new(fs->audit, &fs->fold)) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out_free;
	}
	if ((rc = ts_store_set_key(st, key)) < 0) {
		snprintf(err, errlen, "cannot derive the store's keys: %s",
		         strerror(-rc));
		goto out_free;
	}
	if ((rc = ts_index_load(fs->idx)) < 0) {
		snprintf(err, errlen, "cannot load the store: %s", strerror(-rc));
		goto out_free;
	}
	/* What expired while the daemon was down goes before anyone looks. */
	ts_index_wrlock(fs->idx);
	ts_index_sweep(fs->idx, ts_now_ms(), &ch);
	ts_index_unlock(fs->idx);
	ts_trail_audit_changes(fs, &ch);
	ts_changes_release(&ch);
	ts_index_intake(fs->idx, &ch);
	ts_trail_audit_changes(fs, &ch);
	ts_changes_release(&ch);
	*out = fs;
	return 0;
out_free:
	ts_fs_free(fs);
	return rc;
}

int
ts_fs_relock(struct ts_fs *fs)
{
	return ts_cache_lock(fs->cache);
}

int
ts_fs_save_snapshot(struct ts_fs *fs)
{
	return ts_index_save_snapshot(fs->idx);
}

void
ts_fs_free(struct ts_fs *fs)
{
	if (fs == NULL)
		return;
	ts_fs_stop(fs);
	while (fs->pending != NULL) {
		struct pending *p = fs->pending;
		fs->pending = p->next;
		free(p);
	}
	ts_index_free(fs->idx);
	ts_cache_free(fs->cache);
	ts_fold_free(fs->fold);
	ts_audit_close(fs->audit);
	ts_inodes_free(fs->inodes);
	ts_access_free(fs->acc);
	ts_acl_release(&fs->acls);
	ts_changes_release(&fs->notes);
	pthread_cond_destroy(&fs->note_cond);
	pthread_mutex_destroy(&fs->note_lock);
	pthread_mutex_destroy(&fs->comm_lock);
	pthread_rwlock_destroy(&fs->acc_lock);
	free(fs);
}
