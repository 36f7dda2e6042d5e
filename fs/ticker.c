/*
 * ticker: the daemon's one background thread.  It sleeps until the next
 * retention deadline or 200 ms, whichever comes first, or until a request
 * handler queues something for the kernel; then it
 *   - tells the kernel what changed (request handlers must not: a notify
 *     from inside a request can deadlock on the very inode being served),
 *   - reloads the whitelist when its file (or the user and group
 *     databases) changed, the policy when its file or the store's
 *     version of it did (within a second, on every host of a shared
 *     store), both on SIGHUP,
 *   - takes in new intake, a bounded round at a time (round after round
 *     while a backlog lasts, with the sweep between),
 *   - removes from the store whatever reached its deadline.
 */
#include "fs/ticker.h"

#include <errno.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fs/config.h"
#include "fs/notes.h"
#include "fs/read.h"
#include "fs/retain.h"
#include "fs/stats.h"
#include "fs/sync.h"
#include "fs/trail.h"
#include "store/audit.h"
#include "store/util.h"

#define TICK_MS 200

void
ts_ticker_notify(struct ts_fs *fs, struct ts_changes *ch)
{
	ts_read_cache_forget(fs, ch);
	for (size_t i = 0; i < ch->n && fs->se != NULL; i++) {
		struct ts_index_change *c = &ch->v[i];

		if (c->dir_ino == 0)
			continue;	/* for the audit trail only */
		if (c->gone_ino != 0) {
			/* The entry, and every cached page of what it held. */
			if (fuse_lowlevel_notify_delete(fs->se, c->dir_ino,
			                                c->gone_ino, c->name,
			                                strlen(c->name)) != 0)
				fuse_lowlevel_notify_inval_entry(fs->se,
				        c->dir_ino, c->name, strlen(c->name));
			fuse_lowlevel_notify_inval_inode(fs->se, c->gone_ino, 0, 0);
		} else if (c->name[0] != '\0') {
			/* A name that came (another host's): the kernel may
			 * hold it as another inode. */
			fuse_lowlevel_notify_inval_entry(fs->se, c->dir_ino,
			                                 c->name, strlen(c->name));
		}
		fuse_lowlevel_notify_inval_inode(fs->se, c->dir_ino, 0, 0);
	}
}

/*
 * Makes the kernel drop what it cached of every inode it holds: attributes
 * and ACLs, listings, and pages.  The pages too, because the kernel serves
 * cached pages of a sealed file to any read on an open descriptor without
 * asking: after a whitelist change every read reaches the daemon, which
 * decides it by the new list (and push marks go, so opens push afresh).
 */
static void
invalidate_all(struct ts_fs *fs)
{
	uint64_t *v;
	size_t n;

	ts_inodes_unpush_all(fs->inodes);
	fuse_lowlevel_notify_inval_inode(fs->se, TS_INO_ROOT, 0, 0);
	fuse_lowlevel_notify_inval_inode(fs->se, TS_INO_TICKETS, 0, 0);
	if (ts_inodes_snapshot(fs->inodes, &v, &n) < 0) {
		ts_fs_log(fs, "out of memory invalidating the kernel's caches");
		return;
	}
	for (size_t i = 0; i < n; i++)
		fuse_lowlevel_notify_inval_inode(fs->se, v[i], 0, 0);
	free(v);
}

void
ts_ticker_audit_skipped(struct ts_fs *fs)
{
	char detail[TS_ACCESS_WARN_MAX + 32];
	size_t skipped;

	pthread_rwlock_rdlock(&fs->acc_lock);
	skipped = ts_access_skipped(fs->acc);
	snprintf(detail, sizeof(detail), "these grant nothing: %s",
	         ts_access_warnings(fs->acc));
	pthread_rwlock_unlock(&fs->acc_lock);
	if (skipped > 0)
		ts_trail_audit(fs, NULL, "whitelist-reload", "", ENOENT, detail);
}

static int
sig_changed(const char *path, struct file_sig *sig)
{
	struct file_sig now;

	ts_config_sig_of(path, &now);
	if (memcmp(&now, sig, sizeof(now)) == 0)
		return 0;
	*sig = now;
	return 1;
}

static void
maybe_reload(struct ts_fs *fs)
{
	char err[512];
	int wl, pol, hup = atomic_exchange(&fs->reload, 0);

	/* User and group names resolve anew when the databases change. */
	wl = sig_changed(fs->cfg.whitelist_path, &fs->wl_sig);
	wl |= sig_changed("/etc/passwd", &fs->passwd_sig);
	wl |= sig_changed("/etc/group", &fs->group_sig);
	pol = ts_config_policy_changed(fs, ts_now_ms());
	if (wl || hup) {
		char warn[TS_ACCESS_WARN_MAX], detail[600];
		size_t n, skipped;
		int rc = ts_config_reload_whitelist(fs, err, sizeof(err));

		pthread_rwlock_rdlock(&fs->acc_lock);
		n = ts_access_count(fs->acc);
		skipped = ts_access_skipped(fs->acc);
		snprintf(warn, sizeof(warn), "%s", ts_access_warnings(fs->acc));
		pthread_rwlock_unlock(&fs->acc_lock);
		/* Fail closed: a file that cannot be read or parsed leaves
		 * the empty whitelist in force, reported on every attempt. */
		if (rc < 0) {
			ts_fs_log(fs, "whitelist %s refused, nobody has a role "
			          "until it loads: %s", fs->cfg.whitelist_path,
			          err);
			snprintf(detail, sizeof(detail), "nobody has a role: %s",
			         err);
			ts_trail_audit(fs, NULL, "whitelist-reload", "", -rc,
			            detail);
		} else if (skipped > 0) {
			ts_fs_log(fs, "whitelist %s loaded: %zu uid%s; %zu line%s "
			          "nothing: %s", fs->cfg.whitelist_path, n,
			          n == 1 ? "" : "s", skipped,
			          skipped == 1 ? " grants" : "s grant", warn);
			ts_ticker_audit_skipped(fs);
		} else {
			ts_trail_audit(fs, NULL, "whitelist-reload", "", 0, NULL);
			ts_fs_log(fs, "whitelist %s loaded: %zu uid%s",
			          fs->cfg.whitelist_path, n, n == 1 ? "" : "s");
		}
		if (fs->se != NULL)
			invalidate_all(fs);
	}
	if (pol || hup) {
		char tag[64];
		int rc = ts_config_reload_policy(fs, err, sizeof(err));

		if (rc < 0) {
			ts_fs_log(fs, "policy %s refused, the previous one "
			          "stays in force: %s",
			          ts_config_policy_source(fs), err);
			ts_trail_audit(fs, NULL, "policy-reload", "", EINVAL,
			               err);
		} else {
			/* Each daemon that applies it says so, naming it. */
			snprintf(tag, sizeof(tag), "policy %s", fs->pol_tag);
			ts_trail_audit(fs, NULL, "policy-reload", "", 0, tag);
			ts_fs_log(fs, "policy %s loaded (%s)",
			          ts_config_policy_source(fs), tag);
			/* Deadlines moved: entries cached with the old ones. */
			if (rc > 0 && fs->se != NULL)
				invalidate_all(fs);
		}
	}
}

/* One bounded round of intake; 1 if more waits. */
static int
take_intake(struct ts_fs *fs)
{
	struct ts_changes ch = { 0 };
	int more = 0, rc = ts_index_intake_round(fs->idx, &ch, &more);

	if (rc < 0)
		ts_fs_log(fs, "intake: %s", strerror(-rc));
	ts_trail_audit_changes(fs, &ch);
	ts_ticker_notify(fs, &ch);
	ts_changes_release(&ch);
	return rc >= 0 && more;
}

/* Purges what is due; returns the next deadline. */
static int64_t
sweep(struct ts_fs *fs)
{
	struct ts_changes ch = { 0 };
	int64_t next;

	ts_index_wrlock(fs->idx);
	next = ts_index_sweep(fs->idx, ts_now_ms(), &ch);
	ts_index_unlock(fs->idx);
	ts_trail_audit_changes(fs, &ch);
	ts_ticker_notify(fs, &ch);
	ts_changes_release(&ch);
	return next;
}

static void *
ticker(void *arg)
{
	struct ts_fs *fs = arg;
	int64_t next = sweep(fs), last_tick = 0, last_sync = 0;
	int more = 0;	/* intake waits: the next round at once */
	int prc;

	while (!atomic_load(&fs->stop)) {
		struct ts_changes notes;
		int64_t now = ts_now_ms(), until = now + TICK_MS;

		if (next < until)
			until = next;
		ts_notes_take(fs, until, until > now && !more, &notes);
		ts_ticker_notify(fs, &notes);
		ts_changes_release(&notes);
		now = ts_now_ms();
		if (now - last_tick >= TICK_MS) {
			last_tick = now;
			maybe_reload(fs);
			more = take_intake(fs);
		} else if (more) {
			more = take_intake(fs);
		}
		/* Group commit of the audit trail, once a second. */
		if (fs->audit != NULL && now - last_sync >= 1000) {
			int rc;

			ts_trail_tick(fs, 0);
			ts_retain_tick(fs, now);
			rc = ts_audit_sync(fs->audit);
			last_sync = now;
			if (rc < 0)
				ts_fs_log(fs, "cannot sync the audit trail: %s",
				          strerror(-rc));
		}
		if ((prc = ts_stats_publish(fs->stats, fs->cache,
		                            fs->mounted_ms, now)) < 0)
			ts_fs_log(fs, "cannot publish the counters for "
			          "ticketctl stats in %s: %s", TS_STORE_RUN_DIR,
			          strerror(-prc));
		next = sweep(fs);
	}
	return NULL;
}

/* The mount's entry names the policy it starts with (its text's hash). */
static void
audit_mount(struct ts_fs *fs)
{
	char tag[64];

	snprintf(tag, sizeof(tag), "policy %s", fs->pol_tag);
	ts_trail_audit(fs, NULL, "mount", "", 0, tag);
}

int
ts_fs_start(struct ts_fs *fs, struct fuse_session *se)
{
	sigset_t all, old;
	int rc;

	fs->se = se;
	atomic_store(&fs->stop, 0);
	audit_mount(fs);
	ts_ticker_audit_skipped(fs);	/* names unknown at mount */
	/* Signals belong to the FUSE loop's thread, whose read they end. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	/* The audit spool's shipper: after the fork, like every thread. */
	if (fs->audit != NULL && (rc = -ts_audit_start(fs->audit)) != 0) {
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		return -rc;
	}
	rc = pthread_create(&fs->ticker, NULL, ticker, fs);
	if (rc == 0) {
		rc = -ts_prefetch_start(fs, fs->cfg.prefetch_threads,
		                        &fs->prefetch);
		if (rc == 0 && (rc = -ts_sync_start(fs, &fs->sync)) != 0) {
			ts_prefetch_stop(fs->prefetch);
			fs->prefetch = NULL;
		}
		if (rc != 0) {
			atomic_store(&fs->stop, 1);
			ts_notes_kick(fs);
			pthread_join(fs->ticker, NULL);
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -rc;
	fs->ticker_running = 1;
	return 0;
}

int
ts_fs_stop_wait(struct ts_fs *fs, int ms)
{
	struct timespec dl;

	if (!fs->ticker_running)
		return 0;
	ts_sync_stop(fs->sync);		/* before the ticker: it queues */
	fs->sync = NULL;
	atomic_store(&fs->stop, 1);
	ts_notes_kick(fs);
	if (ms < 0) {
		pthread_join(fs->ticker, NULL);
	} else {
		clock_gettime(CLOCK_REALTIME, &dl);
		dl.tv_sec += ms / 1000 + (dl.tv_nsec + ms % 1000 * 1000000L) /
		             1000000000L;
		dl.tv_nsec = (dl.tv_nsec + ms % 1000 * 1000000L) % 1000000000L;
		if (pthread_timedjoin_np(fs->ticker, NULL, &dl) != 0)
			return -ETIMEDOUT;
	}
	fs->ticker_running = 0;
	ts_prefetch_stop(fs->prefetch);
	fs->prefetch = NULL;
	ts_trail_tick(fs, 1);
	ts_trail_audit(fs, NULL, "unmount", "", 0, NULL);
	if (fs->audit != NULL)
		ts_audit_sync(fs->audit);
	return 0;
}

void
ts_fs_stop(struct ts_fs *fs)
{
	ts_fs_stop_wait(fs, -1);
}

void
ts_fs_request_reload(struct ts_fs *fs)
{
	atomic_store(&fs->reload, 1);
}
