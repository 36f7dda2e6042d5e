/*
 * state: what the parts of fs/ share and nothing outside sees: the
 * daemon's state (struct ts_fs), resolved nodes and open-file handles,
 * and the few helpers every op uses (state.c).  Everything in fs/ sits
 * above this header; it names no other part of fs/ but the modules the
 * state holds (index, inodes, cache, access, policy, prefetch).
 */
#ifndef TS_FS_STATE_H
#define TS_FS_STATE_H

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
	struct ts_stats *stats;		/* published counters (fs/stats.h);
					   NULL: none; set before start */
	struct ts_prefetch *prefetch;	/* its workers; NULL when stopped */
	pthread_mutex_t comm_lock;
	struct comm_cache {
		pid_t pid;
		int64_t ms;		/* when read */
		char comm[17];
	} comms[64];			/* /proc/PID/comm; guarded by comm_lock */

	struct fuse_session *se;	/* for notifications; set by start */
	pthread_t ticker;		/* intake, reload, sweep, notify */
	struct ts_sync *sync;		/* other hosts' changes (fs/sync.h);
					   NULL if none; main thread only */
	int ticker_running;		/* main thread only */
	atomic_int stop;		/* asks the ticker to end */
	atomic_int reload;		/* SIGHUP: reload the config files */
	pthread_mutex_t note_lock;
	pthread_cond_t note_cond;	/* wakes the ticker */
	struct ts_changes notes;	/* for the kernel; guarded by note_lock */
	int64_t wake_at;		/* a deadline moved; guarded by note_lock */
	struct file_sig wl_sig, pol_sig, passwd_sig, group_sig;	/* ticker */
	uint64_t pol_version;		/* the store's policy version last
					   read (no -o policy); ticker */
	int64_t pol_checked_ms;		/* when it was last asked; ticker */
	char pol_tag[13];		/* names the policy in force (hex of
					   its hash; "" none yet); ticker */
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
	int snap;			/* H_READ of status: the status (+1) in
					   buf (fs/status.c) */
	int cached;			/* ... opened through the page cache */
};

/* The daemon's state of a request (its userdata). */
static inline struct ts_fs *
fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/* The roles (TS_RIGHT_*) of the uid making req, by the whitelist now. */
unsigned ts_state_roles(struct ts_fs *fs, fuse_req_t req);
/* Frees an open-file handle, wiping what was written into it. */
void ts_state_free_handle(struct handle *h);

#endif
