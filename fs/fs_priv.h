/*
 * fs_priv: what the parts of fs/ share and nothing outside sees: the
 * daemon's state, resolved nodes and open-file handles.  fs.c holds the
 * state and the read side, write.c the writes, ticker.c the background
 * thread.
 */
#ifndef TS_FS_PRIV_H
#define TS_FS_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>

#include "fs/access.h"
#include "fs/cache.h"
#include "fs/fs.h"
#include "fs/index.h"
#include "fs/inode.h"
#include "fs/policy.h"
#include "fs/prefetch.h"

/* The ACL classes of the tree: who gets which bits. */
enum acl_class {
	CLASS_ROOT,		/* the mount root: every listed uid r-x, so the
				   kernel refuses the others at the door */
	CLASS_DIR,		/* directories below the root: agents rwx, r-x */
	CLASS_STATUS,		/* status: agents rw-, others listed r-- */
	CLASS_META,		/* created, expires: listed r-- */
	CLASS_SEALED,		/* sealed fields, messages: reader|agent r-- */
	CLASS_AUDIT,		/* audit.log: auditors r-- */
	CLASS_COUNT
};

struct acl_set {
	uint8_t *blob[CLASS_COUNT];	/* system.posix_acl_access values */
	size_t len[CLASS_COUNT];
	unsigned mode[CLASS_COUNT];	/* matching permission bits */
};

/* The stat(2) identity of a file, to notice a changed config file. */
struct file_sig {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	int valid;
};

/* A message being written through the mount, not yet stored. */
struct pending {
	uint64_t ino;		/* its inode, the stored message's too */
	uint64_t slot;		/* the ticket */
	uint32_t item;		/* its item number */
	char name[TS_NAME_MAX + 1];
	uid_t uid;		/* its writer, shown as its owner: so the
				   kernel lets the writer set its times */
	struct pending *next;
};

struct ts_fs {
	struct ts_store *st;		/* the store; the caller's */
	const struct ts_seckey *key;	/* the secret key; the caller's */
	unsigned char pk[TS_SEAL_PKBYTES];	/* to seal new messages */
	struct ts_index *idx;		/* tickets, policy; own lock */
	struct ts_inodes *inodes;	/* kernel lookup counts; own lock */
	struct ts_fs_config cfg;	/* options; read-only */
	int64_t mounted_ms;		/* the root's times; read-only */
	uid_t owner;			/* owner of every inode: the daemon */
	gid_t group;

	pthread_rwlock_t acc_lock;
	struct ts_access *acc;		/* the whitelist; guarded by acc_lock */
	struct acl_set acls;		/* derived from acc; guarded by acc_lock */

	struct pending *pending;	/* messages being written; guarded by
					   the index lock */
	struct ts_audit *audit;		/* the trail; has its own lock */
	struct ts_fold *fold;		/* refusals counted; own lock */
	struct ts_cache *cache;		/* decrypted values; own lock */
	struct ts_prefetch *prefetch;	/* its workers; NULL when stopped */
	pthread_mutex_t comm_lock;
	struct comm_cache {
		pid_t pid;
		int64_t ms;		/* when read */
		char comm[17];
	} comms[64];			/* /proc/PID/comm; guarded by comm_lock */

	struct fuse_session *se;	/* for notifications; set by start */
	pthread_t ticker;		/* intake, reload, sweep, notify */
	int ticker_running;		/* main thread only */
	atomic_int stop;		/* asks the ticker to end */
	atomic_int reload;		/* SIGHUP: reload the config files */
	pthread_mutex_t note_lock;
	pthread_cond_t note_cond;	/* wakes the ticker */
	struct ts_changes notes;	/* for the kernel; guarded by note_lock */
	int64_t wake_at;		/* a deadline moved; guarded by note_lock */
	struct file_sig wl_sig, pol_sig, passwd_sig, group_sig;	/* ticker */
};

/* A resolved inode. */
enum node_kind {
	N_ROOT, N_TICKETS, N_TICKET, N_STATUS, N_CREATED, N_FIELD, N_MSGDIR,
	N_AUTHDIR, N_MSG, N_AUTH, N_AFIELD, N_EXPIRES, N_PENDING, N_AUDIT
};

struct node {
	enum node_kind kind;
	struct ts_entry *e;		/* the ticket, below tickets/ */
	int field;			/* N_FIELD: enum ts_field; N_AFIELD */
	struct ts_message *m;		/* N_MSG */
	struct ts_auth *a;		/* N_AUTH, N_AFIELD, N_EXPIRES */
	struct pending *p;		/* N_PENDING */
	int64_t deadline;		/* when it goes (TS_NEVER) */
};

enum handle_kind {
	H_READ,			/* a file opened for reading */
	H_STATUS,		/* status opened for writing */
	H_MESSAGE,		/* a new message being written */
};

/* An open file. */
struct handle {
	enum handle_kind kind;
	uint64_t ino;			/* what was opened */
	char *buf;			/* H_STATUS, H_MESSAGE: what was written;
					   wiped at release */
	size_t len, cap;
	int done;			/* applied or stored; later writes fail */
	int err;			/* a failure to report at flush */
};

/* fs.c */
unsigned ts_fs_roles(struct ts_fs *fs, fuse_req_t req);
/*
 * 0 if the uid making req has one of the roles in right (TS_RIGHT_*),
 * decided by the whitelist in force now; else records the refusal (op on
 * inode ino, or on its child name) and returns -EACCES.  Every request on
 * an open handle goes through it, so a revoked uid, or another uid the
 * descriptor was passed to, is refused from the moment the reload lands.
 */
int ts_fs_gate(struct ts_fs *fs, fuse_req_t req, uint64_t ino, const char *op,
               const char *name, unsigned right);
/*
 * Appends an audit entry for the caller of req (NULL: the daemon itself):
 * op on path, err 0 for success.  Returns -EIO if it could not be written
 * (logged); the caller then refuses what it was about to do.
 */
int ts_fs_audit(struct ts_fs *fs, fuse_req_t req, const char *op,
                const char *path, int err, const char *detail);
/*
 * The audit trail's part of the ticker's second: writes the counts of
 * refusals whose window is over (all of them if force, at unmount) and,
 * unless force, warns in syslog when the trail's disk is nearly full.
 */
void ts_fs_audit_tick(struct ts_fs *fs, int force);
/* The same for inode ino, or its child name; index lock not held. */
int ts_fs_audit_at(struct ts_fs *fs, fuse_req_t req, const char *op,
                   uint64_t ino, const char *name, int err,
                   const char *detail);
/* The path below the mount of a resolved node, for the audit trail. */
void ts_fs_path(const struct node *n, char *buf, size_t len);
/* Audits the labelled changes of ch (expiry, intake) as the daemon. */
void ts_fs_audit_changes(struct ts_fs *fs, const struct ts_changes *ch);
int ts_fs_resolve(struct ts_fs *fs, uint64_t ino, struct node *n);
void ts_fs_stat(struct ts_fs *fs, uint64_t ino, const struct node *n,
                struct stat *st);
void ts_fs_entry(struct ts_fs *fs, uint64_t ino, const struct node *n,
                 struct fuse_entry_param *ep);
int ts_fs_child(struct ts_fs *fs, uint64_t parent, const char *name,
                uint64_t *ino);
int ts_fs_is_dir(enum node_kind k);
/*
 * Loads the whitelist file into fs->acc and fs->acls.  If it cannot be
 * read or does not parse, installs the empty whitelist instead (nobody
 * has a role: a revocation is never held back) and returns -errno with
 * the reason in err.  Lines naming no existing user or group grant
 * nothing and are listed by ts_access_warnings(fs->acc).
 */
int ts_fs_reload_whitelist(struct ts_fs *fs, char *err, size_t errlen);
int ts_fs_reload_policy(struct ts_fs *fs, char *err, size_t errlen);
void ts_fs_free_handle(struct handle *h);
/*
 * The inode numbers of ticket slot's sealed values (at most max), for the
 * prefetcher; takes the index lock.
 */
size_t ts_fs_sealed_inos(struct ts_fs *fs, uint64_t slot, uint64_t *out,
                         size_t max);
/*
 * Opens the box of sealed inode ino into the value cache, unless it is
 * there already or gone.  Returns 1 if it decrypted, 0 if nothing to do,
 * or -errno.  Takes the index lock (shared) for the whole of it, so an
 * item removed meanwhile is never put in the cache after its removal.
 */
int ts_fs_cache_fill(struct ts_fs *fs, uint64_t ino);
/* Drops from the value cache whatever the changes took away. */
void ts_fs_cache_forget(struct ts_fs *fs, const struct ts_changes *ch);

/* write.c: the operations that change things. */
void ts_op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
                   int to_set, struct fuse_file_info *fi);
void ts_op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
                 mode_t mode, dev_t rdev);
void ts_op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
                 mode_t mode);
void ts_op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void ts_op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void ts_op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
                   const char *name);
void ts_op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
                  fuse_ino_t newparent, const char *newname, unsigned flags);
void ts_op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
                const char *newname);
void ts_op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
                  mode_t mode, struct fuse_file_info *fi);
void ts_op_write(fuse_req_t req, fuse_ino_t ino, const char *buf,
                 size_t size, off_t off, struct fuse_file_info *fi);
void ts_op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void ts_op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
                    const char *value, size_t size, int flags);
void ts_op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);
/*
 * Drops the message being written as inode ino, never stored (index lock
 * not held): its item number goes back to the ticket.
 */
void ts_fs_drop_pending(struct ts_fs *fs, uint64_t ino);
/* The index's busy callback (ts_index_set_busy): item numbers held by the
 * kernel or a message being written.  Index lock held. */
int ts_fs_item_busy(void *fs, uint64_t slot, uint32_t item);
/* Opens status for writing (agents); called by the open op. */
int ts_fs_open_status_write(struct ts_fs *fs, uint64_t ino, struct handle *h);

/* ticker.c */
/* Queues changes for the kernel (from a request handler, which must not
 * notify itself) and wakes the ticker; takes the list over. */
void ts_fs_queue_notes(struct ts_fs *fs, struct ts_changes *ch);
/* Tells the ticker a deadline may have moved earlier. */
void ts_fs_wake(struct ts_fs *fs);
/* Sends changes to the kernel; from the ticker thread only. */
void ts_fs_notify(struct ts_fs *fs, struct ts_changes *ch);
/* Audits (ENOENT) the whitelist lines that grant nothing, if any. */
void ts_fs_whitelist_audit_skipped(struct ts_fs *fs);
void ts_fs_sig_of(const char *path, struct file_sig *sig);

#endif
