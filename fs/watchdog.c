/*
 * watchdog: the process that aborts the mount's FUSE connection when the
 * daemon dies holding it (watchdog.h says why).  The daemon's side starts
 * it and stops it; the watchdog's side polls the daemon's /proc status
 * every POLL_MS and its socket, which reads end-of-file once the daemon's
 * descriptors are closed (a clean stop, or a death the kernel handled).
 */
#include "fs/watchdog.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#define CONN_DIR "/sys/fs/fuse/connections"
#define FUSECTL_MAGIC 0x65735543	/* linux/magic.h FUSE_CTL_SUPER_MAGIC */
#define POLL_MS 100		/* how often the daemon's state is read */
#define READY_MS 5000		/* for the watchdog to say it runs */
#define EXIT_WAIT_MS 10000	/* after an abort, for the daemon to go */
#define FD_SOCK 3		/* the watchdog's descriptors */
#define FD_ABORT 4

struct ts_watchdog {
	pid_t pid;	/* the watchdog process */
	int sock;	/* the daemon's end of the socket pair */
	int abort_fd;	/* the daemon's own descriptor of the abort file */
};

/*
 * fusectl's number of the connection mounted at mountpoint: its device
 * number as the kernel encodes it (major << 20 | minor).  Cached
 * attributes only (AT_STATX_DONT_SYNC): no request reaches the daemon,
 * whose loop may not run yet.
 */
static int
conn_of(const char *mountpoint, unsigned *conn)
{
	struct statx sx;
	char *line = NULL;
	size_t cap = 0;
	FILE *f;
	int rc = -ESTALE;

	if (statx(AT_FDCWD, mountpoint, AT_STATX_DONT_SYNC |
	          AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, 0, &sx) < 0)
		return -errno;
	/* The path was looked up again after the mount: its device must be
	 * a FUSE mount of ours at that very place, not one a writer of a
	 * parent directory swapped in (mountinfo shows where each mount
	 * really is). */
	if ((f = fopen("/proc/self/mountinfo", "re")) == NULL)
		return -errno;
	while (getline(&line, &cap, f) > 0)
		if (ts_watchdog_mount_ours(line, sx.stx_dev_major,
		                           sx.stx_dev_minor, mountpoint,
		                           geteuid())) {
			rc = 0;
			break;
		}
	free(line);
	fclose(f);
	if (rc == 0)
		*conn = sx.stx_dev_major << 20 | sx.stx_dev_minor;
	return rc;
}

/* mountinfo's escapes (\040 for a space, ...) undone in place. */
static void
unescape(char *s)
{
	char *o = s;

	for (; *s != '\0'; s++, o++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*o = (char)((s[1] - '0') << 6 | (s[2] - '0') << 3 |
			            (s[3] - '0'));
			s += 3;
		} else {
			*o = *s;
		}
	}
	*o = '\0';
}

int
ts_watchdog_mount_ours(const char *line, unsigned major, unsigned minor,
                       const char *mountpoint, unsigned uid)
{
	char buf[8192], *save = NULL, *tok, *mp = NULL, *fstype = NULL,
	     *opts = NULL, want[32];
	unsigned ma, mi;
	int field = 0, dev_ok = 0, dash = 0, after = 0;

	if (strlen(line) >= sizeof(buf))
		return 0;
	strcpy(buf, line);
	buf[strcspn(buf, "\n")] = '\0';
	for (tok = strtok_r(buf, " ", &save); tok != NULL;
	     tok = strtok_r(NULL, " ", &save), field++) {
		if (dash) {
			if (after == 0)
				fstype = tok;
			else if (after == 2)
				opts = tok;
			after++;
		} else if (field == 2) {
			dev_ok = sscanf(tok, "%u:%u", &ma, &mi) == 2 &&
			         ma == major && mi == minor;
		} else if (field == 4) {
			mp = tok;
		} else if (field >= 6 && strcmp(tok, "-") == 0) {
			dash = 1;
		}
	}
	if (!dev_ok || mp == NULL || fstype == NULL || opts == NULL)
		return 0;
	if (strcmp(fstype, "fuse") != 0 && strncmp(fstype, "fuse.", 5) != 0)
		return 0;
	unescape(mp);
	if (strcmp(mp, mountpoint) != 0)
		return 0;
	/* The connection's owner, as the kernel records it at mount. */
	snprintf(want, sizeof(want), "user_id=%u", uid);
	for (tok = strtok_r(opts, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save))
		if (strcmp(tok, want) == 0)
			return 1;
	return 0;
}

/* Opens connection conn's abort file, mounting fusectl if need be. */
static int
open_abort(unsigned conn, int *fd, char *err, size_t errlen)
{
	char path[sizeof(CONN_DIR) + 32];
	struct statfs sf;
	int e;

	snprintf(path, sizeof(path), CONN_DIR "/%u/abort", conn);
	if ((*fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0)
		return 0;
	e = errno;
	if (e == ENOENT && statfs(CONN_DIR, &sf) == 0 &&
	    sf.f_type != FUSECTL_MAGIC) {
		if (mount("fusectl", CONN_DIR, "fusectl",
		          MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0) {
			e = errno;
			snprintf(err, errlen, "fusectl is not mounted on "
			         CONN_DIR " and cannot be: %s", strerror(e));
			return -e;
		}
		if ((*fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW)) >= 0)
			return 0;
		e = errno;
	}
	snprintf(err, errlen, "cannot open %s: %s", path, strerror(e));
	return -e;
}

/* The child, between fork and exec: async-signal-safe calls only. */
static void __attribute__((noreturn))
child(int sock, int abort_fd, char **argv)
{
	sigset_t none;
	int s = fcntl(sock, F_DUPFD, 10), a = fcntl(abort_fd, F_DUPFD, 10);

	if (s < 0 || a < 0 || dup2(s, FD_SOCK) < 0 || dup2(a, FD_ABORT) < 0)
		_exit(127);
	close_range(FD_ABORT + 1, ~0u, 0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execv("/proc/self/exe", argv);
	_exit(127);
}

int
ts_watchdog_start(const char *mountpoint, struct ts_watchdog **out,
                  char *err, size_t errlen)
{
	char pidarg[24], connarg[24], self[4096], c = 0;
	char *argv[] = { self, TS_WATCHDOG_ARG, pidarg, connarg, NULL };
	struct pollfd p;
	struct ts_watchdog *wd;
	unsigned conn = 0;
	int rc, abort_fd, pair[2];
	ssize_t n;

	*out = NULL;
	if ((rc = conn_of(mountpoint, &conn)) < 0) {
		if (rc == -ESTALE)
			snprintf(err, errlen, "%s is not this daemon's FUSE "
			         "mount in /proc/self/mountinfo (a directory "
			         "above it moved?)", mountpoint);
		else
			snprintf(err, errlen, "cannot stat %s: %s",
			         mountpoint, strerror(-rc));
		return rc;
	}
	if ((rc = open_abort(conn, &abort_fd, err, errlen)) < 0)
		return rc;
	/* Its argv[0] as the daemon's, so that ps shows what it is. */
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	self[n > 0 ? n : 0] = '\0';
	snprintf(pidarg, sizeof(pidarg), "%d", (int)getpid());
	snprintf(connarg, sizeof(connarg), "%u", conn);
	if ((wd = calloc(1, sizeof(*wd))) == NULL) {
		rc = -ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out_close;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) < 0) {
		rc = -errno;
		snprintf(err, errlen, "socketpair: %s", strerror(-rc));
		goto out_free;
	}
	if ((wd->pid = fork()) < 0) {
		rc = -errno;
		snprintf(err, errlen, "fork: %s", strerror(-rc));
		goto out_pair;
	}
	if (wd->pid == 0)
		child(pair[1], abort_fd, argv);
	close(pair[1]);
	wd->sock = pair[0];
	wd->abort_fd = abort_fd;
	/* It says 'r' once it runs (an exec that failed says nothing). */
	p = (struct pollfd){ .fd = wd->sock, .events = POLLIN };
	while ((rc = poll(&p, 1, READY_MS)) < 0 && errno == EINTR)
		;
	if (rc != 1 || read(wd->sock, &c, 1) != 1 || c != 'r') {
		snprintf(err, errlen, "the watchdog process did not start");
		ts_watchdog_stop(wd);	/* closes abort_fd */
		return -ECHILD;
	}
	*out = wd;
	return 0;
out_pair:
	close(pair[0]);
	close(pair[1]);
out_free:
	free(wd);
out_close:
	close(abort_fd);
	return rc;
}

int
ts_watchdog_abort(struct ts_watchdog *wd)
{
	if (wd == NULL)
		return -ENOENT;
	return write(wd->abort_fd, "1", 1) == 1 ? 0 : -errno;
}

void
ts_watchdog_stop(struct ts_watchdog *wd)
{
	if (wd == NULL)
		return;
	close(wd->abort_fd);
	close(wd->sock);	/* end-of-file: it exits */
	while (waitpid(wd->pid, NULL, 0) < 0 && errno == EINTR)
		;
	free(wd);
}

/* --- the watchdog process --- */

/* Logs to syslog and to stderr, unless stderr would block (a full pipe
 * nobody reads must not keep the watchdog from its work or its exit). */
static void
wd_log(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));
static void
wd_log(const char *fmt, ...)
{
	struct pollfd p = { .fd = 2, .events = POLLOUT };
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	syslog(LOG_WARNING, "%s", line);
	line[n++] = '\n';
	if (poll(&p, 1, 0) == 1 && (p.revents & POLLOUT) &&
	    write(2, "ticketfs: ", 10) == 10)
		(void)!write(2, line, (size_t)n);
}

/* A signal mask field of /proc/PID/status holds SIGKILL. */
static int
sigkill_in(const char *status, const char *field)
{
	const char *s = strstr(status, field);

	return s != NULL &&
	       (strtoull(s + strlen(field), NULL, 16) >> (SIGKILL - 1) & 1);
}

/*
 * pid is dying: gone, its main thread a zombie (it never exits before the
 * others while the daemon lives: the FUSE loop runs there), or a SIGKILL
 * pending that it has not acted on yet.
 */
static int
dying(pid_t pid)
{
	char path[40], buf[8192];
	const char *state;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT || errno == ESRCH;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	state = strstr(buf, "\nState:\t");
	if (state != NULL && (state[8] == 'Z' || state[8] == 'X'))
		return 1;
	return sigkill_in(buf, "\nSigPnd:\t") || sigkill_in(buf, "\nShdPnd:\t");
}

/* Waits up to ms for end-of-file on the socket; 1 if it came. */
static int
sock_closed(int ms)
{
	struct pollfd p = { .fd = FD_SOCK, .events = POLLIN };
	char c;
	int rc = poll(&p, 1, ms);

	if (rc < 0)
		return errno == EINTR ? 0 : 1;
	if (rc == 0)
		return 0;
	rc = (int)read(FD_SOCK, &c, 1);
	return rc == 0 || (rc < 0 && errno != EINTR && errno != EAGAIN);
}

int
ts_watchdog_main(int argc, char **argv)
{
	struct stat st;
	char *end;
	long pid = argc == 4 ? strtol(argv[2], &end, 10) : 0;
	unsigned long conn = argc == 4 ? strtoul(argv[3], NULL, 10) : 0;
	int seen = 0, i;

	if (pid <= 0 || *end != '\0' || fstat(FD_SOCK, &st) < 0 ||
	    !S_ISSOCK(st.st_mode) || fcntl(FD_ABORT, F_GETFD) < 0) {
		fprintf(stderr, "ticketfs: %s is for the daemon's own use\n",
		        TS_WATCHDOG_ARG);
		return 2;
	}
	/* A terminal's ^C or a service manager's SIGTERM goes to the daemon
	 * too, which then unmounts and exits: end-of-file ends this. */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_NAME, "ticketfs-wd", 0, 0, 0);
	openlog("ticketfs-watchdog", LOG_PID, LOG_DAEMON);
	if (write(FD_SOCK, "r", 1) != 1)
		return 0;
	for (;;) {
		if (sock_closed(POLL_MS))
			return 0;
		if (!dying((pid_t)pid)) {
			seen = 0;
			continue;
		}
		/* Twice in a row: a death in progress closes the socket
		 * within microseconds, and then the kernel aborts. */
		if (++seen >= 2)
			break;
	}
	if (write(FD_ABORT, "1", 1) != 1) {
		wd_log("the daemon (pid %ld) is dying with the mount's FUSE "
		       "connection %lu open, and aborting it failed: %s",
		       pid, conn, strerror(errno));
		return 0;
	}
	wd_log("the daemon (pid %ld) is dying with the mount's FUSE "
	       "connection %lu open: aborted it, so the mount fails "
	       "(ENOTCONN) instead of hanging", pid, conn);
	for (i = 0; i < EXIT_WAIT_MS / POLL_MS; i++)
		if (sock_closed(POLL_MS))
			return 0;
	wd_log("the daemon (pid %ld) has not exited %d s after the abort",
	       pid, EXIT_WAIT_MS / 1000);
	return 0;
}
