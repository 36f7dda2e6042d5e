/*
 * watchdog: a separate process that aborts the mount's FUSE connection
 * when the daemon dies without closing /dev/fuse, so that after a kill -9
 * every access to the mount fails (ENOTCONN, ECONNABORTED) instead of
 * hanging.
 *
 * Why: a thread of the daemon can be in the kernel, in a notification
 * (fuse_reverse_inval_entry), waiting for a directory's lock that a
 * caller's request holds, a request only the killed loop thread would
 * have answered.  That thread cannot die, so the process never closes
 * /dev/fuse and the kernel never aborts the connection.  Aborting it
 * (fusectl's connections/N/abort) fails the request, which releases the
 * lock; the stuck thread then returns and the process finishes dying.
 *
 * The watchdog is the daemon's child, started by re-executing the daemon's
 * own binary (/proc/self/exe), so that it shares none of the daemon's
 * memory (no key, no plaintext) and holds no descriptor but its end of a
 * socket pair and the connection's abort file, opened at mount while the
 * connection is known to be ours (a number reused by a later mount is
 * never aborted through it).
 */
#ifndef TS_FS_WATCHDOG_H
#define TS_FS_WATCHDOG_H

#include <stddef.h>

struct ts_watchdog;

/* argv[1] that makes ticketfs the watchdog (fs/main.c). */
#define TS_WATCHDOG_ARG "--watchdog"

/*
 * Starts the watchdog of the FUSE mount at mountpoint (mounted, its
 * session loop not necessarily running: no request is made to it).
 * Mounts fusectl on /sys/fs/fuse/connections if nothing is mounted there.
 * 0 and *out, or -errno with a reason in err (the daemon then runs
 * without one: it logs it and goes on).
 */
int ts_watchdog_start(const char *mountpoint, struct ts_watchdog **out,
                      char *err, size_t errlen);
/*
 * Aborts the connection now, from the daemon (its loop has ended and the
 * ticker is stuck in the kernel: ts_fs_stop_wait).  0 or -errno.
 */
int ts_watchdog_abort(struct ts_watchdog *wd);
/*
 * After a clean unmount: tells the watchdog to exit without aborting
 * anything, waits for it, frees wd.  NULL is a no-op.
 */
void ts_watchdog_stop(struct ts_watchdog *wd);

/*
 * 1 if line, one line of /proc/self/mountinfo, is a FUSE mount (fstype
 * fuse or fuse.*) of device major:minor at mountpoint (compared after
 * mountinfo's octal escapes are undone) whose connection belongs to uid
 * (its user_id= option); else 0.  ts_watchdog_start holds a mount point
 * looked up by path to this, so that a directory swapped in above it
 * after the mount cannot point the watchdog at another connection.
 */
int ts_watchdog_mount_ours(const char *line, unsigned major, unsigned minor,
                           const char *mountpoint, unsigned uid);

/*
 * The watchdog process's main: argv is { ticketfs, TS_WATCHDOG_ARG, PID,
 * CONN }, its socket on fd 3 and the abort file on fd 4.  Watches PID
 * until the socket's other end closes (the daemon exited, or its clean
 * stop); aborts the connection if PID is dying (its main thread a zombie,
 * or a SIGKILL pending) while it still holds its descriptors.  Exit 0, or
 * 2 when not started by ts_watchdog_start.
 */
int ts_watchdog_main(int argc, char **argv);

#endif
