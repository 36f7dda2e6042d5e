/*
 * fs: the daemon's state (struct ts_fs, made in main and reached through
 * fuse_req_userdata) and its low-level FUSE operations, plus the ticker
 * thread that picks up intake and reloads the whitelist.
 *
 * Who may see what is decided twice: the kernel enforces POSIX ACLs that
 * this module derives from the whitelist (default_permissions), so what
 * the kernel cached for one uid cannot be reached by another; and the
 * daemon checks the caller's uid on every request that reaches it, root
 * included, before any sealed value is opened.
 */
#ifndef TS_FS_H
#define TS_FS_H

#include <stdint.h>
#include <sys/types.h>

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include "store/seal.h"
#include "store/store.h"

struct ts_fs;

struct ts_fs_config {
	const char *whitelist_path;	/* the whitelist file */
	const char *policy_path;	/* the policy file (issue 3); NULL:
					   the store's (ts_store_policy_get) */
	double timeout;		/* kernel entry/attr cache timeout, s */
	int foreground;		/* log to stderr as well as syslog */
	int audit;		/* keep the audit trail (always, but in the
				   benchmark's comparison build) */
	size_t audit_segment;	/* bytes per audit segment before rotation */
	const char *checkpoint_copy;	/* the checkpoint copy outside the
					   store (absolute), or NULL */
	const char *fss_path;	/* the forward-secure sealing state, or
				   NULL (store/audit.h) */
	const char *audit_spool;	/* a PostgreSQL store's audit spool
					   (absolute), or NULL: none */
	size_t cache_bytes;	/* the decrypted-value cache; 0 = none */
	unsigned prefetch_threads;	/* decrypting ahead; 0 = none */
};

/*
 * Makes the daemon's state over an open store and key (both stay the
 * caller's).  Loads the whitelist (which must be readable and parse; its
 * names that do not resolve grant nothing, logged to stderr) and the
 * ticket index, and takes in waiting intake.  On failure returns -errno with a message
 * in err.
 */
int ts_fs_new(struct ts_store *st, const struct ts_seckey *key,
              const struct ts_fs_config *cfg, struct ts_fs **out, char *err,
              size_t errlen);
void ts_fs_free(struct ts_fs *fs);

/* The FUSE operations table; its userdata is the struct ts_fs. */
extern const struct fuse_lowlevel_ops ts_fs_ops;

/* Starts / stops the ticker thread (intake, whitelist reload). */
int ts_fs_start(struct ts_fs *fs, struct fuse_session *se);
void ts_fs_stop(struct ts_fs *fs);
/*
 * ts_fs_stop, waiting at most ms for the ticker (ms < 0: for ever): 0 once
 * stopped, or -ETIMEDOUT while the ticker still runs, e.g. in the kernel
 * in a notification that waits for a directory's lock held by a request
 * the loop, ended, will never answer.  Then the caller aborts the
 * connection (ts_watchdog_abort) and calls ts_fs_stop.
 */
int ts_fs_stop_wait(struct ts_fs *fs, int ms);
/* Locks the value cache's pages again (after fork). */
int ts_fs_relock(struct ts_fs *fs);
/* Saves the index snapshot for the next mount (after ts_fs_stop). */
int ts_fs_save_snapshot(struct ts_fs *fs);

/* Asks for a whitelist reload (SIGHUP); async-signal-safe. */
void ts_fs_request_reload(struct ts_fs *fs);

/* Logs a line to syslog (and stderr in the foreground). */
void ts_fs_log(void *fs, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
