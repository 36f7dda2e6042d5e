/*
 * ticketfs: the daemon.  Parses options (fstab order too), loads the key
 * into locked memory with core dumps off, opens the store, mounts, and
 * only then goes to the background, so that a zero exit means the mount
 * is ready.  SIGTERM or fusermount3 -u unmount cleanly; SIGHUP reloads
 * the whitelist.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <syslog.h>
#include <unistd.h>

#include "fs/fs.h"
#include "fs/heap.h"
#include "fs/state.h"
#include "fs/stats.h"
#include "fs/watchdog.h"
#include "store/keyfile.h"
#include "store/rekey.h"
#include "store/seal.h"
#include "store/store.h"

/* At a stop, how long the ticker may take before the connection is
 * aborted (which costs nothing then: the loop answers nothing more). */
#define STOP_WAIT_MS 2000

struct options {
	char *store;		/* STORE */
	char *mountpoint;	/* MOUNTPOINT */
	char *key;		/* -o key= */
	char *passfile;		/* -o passfile= */
	char *whitelist;	/* -o whitelist= */
	char *policy;		/* -o policy= */
	char *hostname;		/* -o hostname= */
	unsigned long audit_segment;	/* -o audit_segment= (bytes) */
	char *checkpoint_copy;	/* -o checkpoint_copy= */
	char *fss;		/* -o fss= */
	char *audit_spool;	/* -o audit_spool= */
	unsigned long cache_mb;		/* -o cache= (MiB) */
	int cache_set;
	unsigned long prefetch;		/* -o prefetch= (threads) */
	int prefetch_set;
	int foreground;		/* -f */
	int debug;		/* -d */
	int help;		/* -h */
	int version;		/* --version */
};

#define OPT(t, p) { t, offsetof(struct options, p), 1 }
static const struct fuse_opt option_spec[] = {
	OPT("key=%s", key),
	OPT("passfile=%s", passfile),
	OPT("whitelist=%s", whitelist),
	OPT("policy=%s", policy),
	OPT("hostname=%s", hostname),
	OPT("audit_segment=%lu", audit_segment),
	OPT("checkpoint_copy=%s", checkpoint_copy),
	OPT("fss=%s", fss),
	OPT("audit_spool=%s", audit_spool),
	OPT("cache=%lu", cache_mb),
	OPT("cache=", cache_set),
	OPT("prefetch=%lu", prefetch),
	OPT("prefetch=", prefetch_set),
	OPT("-f", foreground),
	OPT("-d", debug),
	OPT("debug", debug),
	OPT("-h", help),
	OPT("--help", help),
	OPT("--version", version),
	OPT("-V", version),
	FUSE_OPT_END
};

/* For the SIGHUP handler only: signal handlers get no argument. */
static struct ts_fs *hup_target;

static void
on_hup(int sig)
{
	(void)sig;
	if (hup_target != NULL)
		ts_fs_request_reload(hup_target);
}

/*
 * Overwrites with '*' the password a URI argument names (user:PASSWORD@,
 * password=PASSWORD), in the process's own argument memory, which every
 * local uid reads (/proc/PID/cmdline, ps) for as long as the daemon runs.
 * The store's copy keeps it.  (A window from exec to here remains: a
 * ~/.pgpass keeps a password out of the arguments altogether.)
 */
static void
argv_scrub(char *uri)
{
	char *auth, *end, *at = NULL, *p;

	if (strncmp(uri, "postgresql://", 13) != 0 &&
	    strncmp(uri, "postgres://", 11) != 0)
		return;
	auth = strstr(uri, "://") + 3;
	end = auth + strcspn(auth, "/?");
	for (p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	for (p = auth; at != NULL && p < at && *p != ':'; p++)
		;
	for (p++; at != NULL && p < at; p++)
		*p = '*';
	for (p = end; (p = strstr(p, "password=")) != NULL; )
		if (p[-1] == '?' || p[-1] == '&')
			for (p += 9; *p != '\0' && *p != '&'; p++)
				*p = '*';
		else
			p += 9;
}

static int
opt_proc(void *data, const char *arg, int key, struct fuse_args *outargs)
{
	struct options *o = data;

	(void)outargs;
	if (key == FUSE_OPT_KEY_OPT && arg[0] == '-') {
		fprintf(stderr, "ticketfs: unknown option %s\n", arg);
		return -1;
	}
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1;	/* -o options go to FUSE */
	/* Absolute paths: the daemon changes to / when it backgrounds. */
	if (o->store == NULL) {
		/* A missing store is reported by the open, with its reason. */
		o->store = realpath(arg, NULL);
		if (o->store == NULL)
			o->store = strdup(arg);
		if (o->store != NULL)
			argv_scrub((char *)arg);	/* argv's own, writable */
		return o->store ? 0 : -1;
	}
	if (o->mountpoint == NULL)
		return (o->mountpoint = realpath(arg, NULL)) ? 0 :
		       (fprintf(stderr, "ticketfs: bad mount point %s: %s\n",
		                arg, strerror(errno)), -1);
	fprintf(stderr, "ticketfs: unexpected argument %s\n", arg);
	return -1;
}

static void
usage(FILE *out)
{
	fputs("usage: ticketfs STORE MOUNTPOINT -o key=KEYFILE [-o OPT[,OPT...]] "
	      "[-f] [-d]\n"
	      "       ticketfs -h | --help | --version\n"
	      "  -o key=FILE        the secret key (required; mode 0600)\n"
	      "  -o passfile=FILE   passphrase of a passphrase-protected key\n"
	      "  -o whitelist=FILE  default STORE/whitelist (required for a\n"
	      "                     PostgreSQL store: uids are per host)\n"
	      "  -o policy=FILE     default the store's (STORE/policy, or the\n"
	      "                     database's for a PostgreSQL store)\n"
	      "  -o hostname=NAME   this daemon's name in the audit trail and\n"
	      "                     to other hosts (default: the host name)\n"
	      "  -o audit_segment=N bytes per audit segment (default 64 MiB)\n"
	      "  -o checkpoint_copy=FILE  the audit checkpoint's copy outside\n"
	      "                     the store (default KEYFILE.checkpoint)\n"
	      "  -o fss=FILE        forward-secure sealing state (default\n"
	      "                     KEYFILE.fss; none: trail not sealed)\n"
	      "  -o audit_spool=FILE  a PostgreSQL store's local audit spool\n"
	      "                     (default KEYFILE.spool)\n"
	      "                     A second daemon of this key on this\n"
	      "                     machine needs its own checkpoint_copy, fss,\n"
	      "                     audit_spool\n"
	      "  -o cache=MB        decrypted values kept in locked memory\n"
	      "                     (default 32; 0 = none)\n"
	      "  -o prefetch=N      threads decrypting ahead (default: one a\n"
	      "                     core; 0 = none)\n"
	      "  -f                 stay in the foreground\n"
	      "  -d                 debug output (implies -f)\n"
	      "  -h, --help         this text\n"
	      "  -V, --version      the version\n"
	      "  other -o options go to FUSE (ro, ...); allow_other, nosuid\n"
	      "  and nodev are implied\n"
	      "Unmount with fusermount3 -u MOUNTPOINT; `ticketctl wait STORE`\n"
	      "then returns once the daemon has exited.  Exit status: 0 mounted;\n"
	      "1 it could not mount; 2 bad usage.\n",
	      out);
}

/* Keeps secrets out of core files and other users' ptrace. */
static void
harden(void)
{
	struct rlimit none = { 0, 0 };

	setrlimit(RLIMIT_CORE, &none);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	umask(077);
}

static char *
store_file(const char *store, const char *name)
{
	size_t n = strlen(store) + strlen(name) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s", store, name);
	return p;
}

/*
 * The store as messages and the mount table show it: a URI without its
 * user and password, and without its query if that names a password
 * (a URI's settings are not for the logs).
 */
static char *
store_shown(const char *store)
{
	const char *rest, *at, *slash, *q;
	char *p;

	if (strstr(store, "://") == NULL)	/* a directory */
		return strdup(store);
	rest = strstr(store, "://") + 3;
	slash = strchr(rest, '/');
	at = strchr(rest, '@');
	if (at != NULL && (slash == NULL || at < slash))
		rest = at + 1;
	q = strchr(rest, '?');
	if ((p = malloc(strlen(store) + 1)) == NULL)
		return NULL;
	snprintf(p, strlen(store) + 1, "%.*s%.*s",
	         (int)(strstr(store, "://") + 3 - store), store,
	         (int)(q != NULL && strstr(q, "password") != NULL ?
	               (size_t)(q - rest) : strlen(rest)), rest);
	return p;
}

/* An absolute form of path (which may not exist yet); frees path. */
static char *
absolute(char *path)
{
	char cwd[4096];
	size_t n;
	char *p;

	if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL)
		return path;
	n = strlen(cwd) + strlen(path) + 2;
	if ((p = malloc(n)) != NULL)
		snprintf(p, n, "%s/%s", cwd, path);
	free(path);
	return p;
}

int
main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct options o = { 0 };
	struct ts_fs_config cfg = { 0 };
	struct ts_seckey *key = NULL;
	struct ts_store *st = NULL;
	struct ts_fs *fs = NULL;
	struct fuse_session *se = NULL;
	struct ts_rekey_counts rk;
	struct ts_watchdog *wd = NULL;
	unsigned char pk[TS_SEAL_PKBYTES];
	char err[512], *fsname = NULL, *shown = NULL;
	int rc, status = 1, whitelist_given;

	if (argc > 1 && strcmp(argv[1], TS_WATCHDOG_ARG) == 0)
		return ts_watchdog_main(argc, argv);
	ts_heap_tune();	/* before anything is allocated */
	harden();
	if (ts_seal_init() < 0) {
		fprintf(stderr, "ticketfs: cannot initialise libsodium\n");
		return 1;
	}
	if (fuse_opt_parse(&args, &o, option_spec, opt_proc) < 0) {
		usage(stderr);
		status = 2;
		goto out;
	}
	if (o.help) {
		usage(stdout);
		status = 0;
		goto out;
	}
	if (o.version) {
		printf("ticketfs %s\n", TS_VERSION);
		status = 0;
		goto out;
	}
	if (o.store == NULL || o.mountpoint == NULL || o.key == NULL) {
		fprintf(stderr, "ticketfs: %s\n", o.store == NULL ? "no STORE" :
		        o.mountpoint == NULL ? "no MOUNTPOINT" :
		        "no key: give -o key=KEYFILE");
		usage(stderr);
		status = 2;
		goto out;
	}
	if (o.debug) {
		o.foreground = 1;
		fuse_opt_add_arg(&args, "-d");
	}
	openlog("ticketfs", LOG_PID, LOG_DAEMON);
	whitelist_given = o.whitelist != NULL;
	if ((shown = store_shown(o.store)) == NULL)
		goto out;
	if (o.whitelist == NULL)
		o.whitelist = store_file(o.store, "whitelist");
	else
		o.whitelist = absolute(o.whitelist);
	/* No -o policy: the store's own (STORE/policy, or the database's),
	 * read through the store. */
	if (o.policy != NULL && (o.policy = absolute(o.policy)) == NULL)
		goto out;
	/* Beside the key: somewhere whoever can write the store cannot. */
	if (o.checkpoint_copy == NULL &&
	    (o.checkpoint_copy = malloc(strlen(o.key) + 12)) != NULL)
		sprintf(o.checkpoint_copy, "%s.checkpoint", o.key);
	if (o.checkpoint_copy != NULL)
		o.checkpoint_copy = absolute(o.checkpoint_copy);
	if (o.fss == NULL && (o.fss = malloc(strlen(o.key) + 5)) != NULL)
		sprintf(o.fss, "%s.fss", o.key);
	if (o.fss != NULL)
		o.fss = absolute(o.fss);
	if (o.audit_spool == NULL &&
	    (o.audit_spool = malloc(strlen(o.key) + 7)) != NULL)
		sprintf(o.audit_spool, "%s.spool", o.key);
	if (o.audit_spool != NULL)
		o.audit_spool = absolute(o.audit_spool);
	if (o.whitelist == NULL || o.audit_spool == NULL ||
	    o.checkpoint_copy == NULL || o.fss == NULL)
		goto out;
	if (ts_keyfile_load(o.key, o.passfile, &key, err, sizeof(err)) < 0) {
		fprintf(stderr, "ticketfs: %s\n", err);
		goto out;
	}
	if ((rc = ts_store_open_err(o.store, TS_STORE_DAEMON, &st, err,
	                            sizeof(err))) < 0) {
		fprintf(stderr, "ticketfs: cannot open store %s: %s\n", shown,
		        err);
		goto out;
	}
	if (o.hostname != NULL && ts_store_set_host(st, o.hostname) < 0) {
		fprintf(stderr, "ticketfs: bad -o hostname=%s: 1 to %d "
		        "characters of A-Z a-z 0-9 . _ -\n", o.hostname,
		        TS_HOST_MAX);
		goto out;
	}
	/* Uids are per host: a shared store's whitelist is a local file. */
	if (ts_store_shared(st) && !whitelist_given) {
		fprintf(stderr, "ticketfs: store %s is shared by several hosts "
		        "(PostgreSQL): give the local whitelist with -o "
		        "whitelist=FILE\n", shown);
		goto out;
	}
	/* One daemon a store (a host name, for a shared store); held until
	 * exit, after the snapshot. */
	if ((rc = ts_store_lock(st)) < 0) {
		if (rc == -EBUSY && ts_store_shared(st))
			fprintf(stderr, "ticketfs: another daemon named %s holds "
			        "store %s (give each host its own -o "
			        "hostname=NAME)\n", ts_store_host(st), shown);
		else if (rc == -EBUSY)
			fprintf(stderr, "ticketfs: store %s is in use by another "
			        "ticketfs\n", shown);
		else
			fprintf(stderr, "ticketfs: cannot lock store %s: %s\n",
			        shown, strerror(-rc));
		goto out;
	}
	/* A committed rekey to this key that ticketctl did not finish (it
	 * was killed): finished first (store/rekey.h). */
	if ((rc = ts_store_rekey_resume(st, key, &rk)) < 0) {
		fprintf(stderr, "ticketfs: cannot finish the interrupted rekey "
		        "of store %s: %s\n", shown, strerror(-rc));
		goto out;
	}
	if (rc > 0)
		fprintf(stderr, "ticketfs: finished the interrupted rekey of "
		        "store %s: %llu records, %llu ticket keys\n", shown,
		        (unsigned long long)rk.records,
		        (unsigned long long)rk.keys);
	if ((rc = ts_store_pubkey(st, pk)) < 0 ||
	    sodium_memcmp(pk, ts_seal_seckey_pk(key), sizeof(pk)) != 0) {
		struct ts_rekey_journal j;

		if (rc == 0 && ts_store_rekey_journal(st, &j) == 0 &&
		    sodium_memcmp(j.old_pk, ts_seal_seckey_pk(key),
		                  sizeof(pk)) == 0)
			fprintf(stderr, "ticketfs: key %s is the old key of store "
			        "%s: ticketctl rekey replaced it; mount with the "
			        "new key%s\n", o.key, shown, j.done ? "" :
			        " (or run the rekey again to finish it)");
		else
			fprintf(stderr, "ticketfs: key %s does not belong to "
			        "store %s\n", o.key, shown);
		goto out;
	}
	cfg.whitelist_path = o.whitelist;
	cfg.policy_path = o.policy;
	cfg.timeout = 60.0;
	cfg.foreground = o.foreground;
#ifdef TS_AUDIT_OFF
	cfg.audit = 0;	/* the benchmark's comparison build only */
#else
	cfg.audit = 1;
#endif
	cfg.audit_segment = o.audit_segment ? o.audit_segment : 64u << 20;
	cfg.checkpoint_copy = o.checkpoint_copy;
	cfg.fss_path = o.fss;
	cfg.audit_spool = o.audit_spool;
	cfg.cache_bytes = (o.cache_set ? o.cache_mb : 32ul) << 20;
	cfg.prefetch_threads = o.prefetch_set ? (unsigned)o.prefetch :
	                       (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	if (ts_fs_new(st, key, &cfg, &fs, err, sizeof(err)) < 0) {
		fprintf(stderr, "ticketfs: %s\n", err);
		goto out;
	}
	ts_heap_trim();	/* the load's temporaries are gone */
	fsname = malloc(strlen(shown) + 32);
	if (fsname != NULL)
		sprintf(fsname, "-ofsname=ticketfs:%s", shown);
	/* nosuid,nodev last: mount.fuse3 (mount -t fuse.ticketfs, fstab)
	 * adds dev,suid unless told otherwise, and a mount of tickets has
	 * no use for either. */
	if (fsname == NULL ||
	    fuse_opt_add_arg(&args, "-oallow_other,default_permissions,"
	                     "subtype=ticketfs,nosuid,nodev") < 0 ||
	    fuse_opt_add_arg(&args, fsname) < 0)
		goto out;
	se = fuse_session_new(&args, &ts_fs_ops, sizeof(ts_fs_ops), fs);
	if (se == NULL) {
		status = 2;	/* an -o option FUSE does not know: it said */
		goto out;
	}
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	if (fuse_session_mount(se, o.mountpoint) != 0)
		goto out_handlers;
	/* The mount exists: only now may the parent return. */
	if (fuse_daemonize(o.foreground) != 0)
		goto out_unmount;
	/* fork() dropped the lock on the key's pages: take it again. */
	if (ts_seal_seckey_lock(key) < 0)
		ts_fs_log(fs, "cannot lock the key in memory (RLIMIT_MEMLOCK?)");
	if (ts_fs_relock(fs) < 0)
		ts_fs_log(fs, "cannot lock the value cache in memory "
		          "(RLIMIT_MEMLOCK? -o cache=0 keeps none)");
	/* Before the ticker, whose notifications can get stuck. */
	if (ts_watchdog_start(o.mountpoint, &wd, err, sizeof(err)) < 0)
		ts_fs_log(fs, "no watchdog, so a kill -9 may leave the mount "
		          "hanging instead of failing: %s", err);
	hup_target = fs;
	signal(SIGHUP, on_hup);	/* reload, not exit as libfuse would */
	if ((rc = ts_stats_new(st, &fs->stats)) < 0)
		ts_fs_log(fs, "no counters for ticketctl stats in %s: %s",
		          TS_STORE_RUN_DIR, strerror(-rc));
	if ((rc = ts_fs_start(fs, se)) < 0) {
		ts_fs_log(fs, "cannot start the ticker: %s", strerror(-rc));
		goto out_unmount;
	}
	ts_fs_log(fs, "mounted %s on %s", shown, o.mountpoint);
	status = ts_stats_session_loop(se, fs->stats) < 0 ? 1 : 0;
	/* The loop answers nothing more: a ticker stuck in a notification
	 * that waits for a request's lock would wait for ever. */
	if (ts_fs_stop_wait(fs, STOP_WAIT_MS) == -ETIMEDOUT) {
		/* Detached first (lazily), so that the mount goes: libfuse
		 * leaves an aborted one in place. */
		fuse_session_unmount(se);
		rc = ts_watchdog_abort(wd);
		ts_fs_log(fs, "the ticker did not stop within %d s (a "
		          "notification waiting for a request left unanswered?): "
		          "%s", STOP_WAIT_MS / 1000, rc == 0 ?
		          "aborted the FUSE connection" : rc == -ENOENT ?
		          "no watchdog, so it waits for an abort of the "
		          "connection" : strerror(-rc));
		ts_fs_stop(fs);
	}
	ts_stats_free(fs->stats);
	fs->stats = NULL;
	ts_fs_log(fs, "unmounting %s", o.mountpoint);
	/* For a fast next mount; if this fails it reads every record. */
	if ((rc = ts_fs_save_snapshot(fs)) < 0)
		ts_fs_log(fs, "cannot save the index snapshot: %s",
		          strerror(-rc));
out_unmount:
	fuse_session_unmount(se);
	ts_watchdog_stop(wd);
out_handlers:
	fuse_remove_signal_handlers(se);
out:
	if (se != NULL)
		fuse_session_destroy(se);
	hup_target = NULL;
	ts_fs_free(fs);
	ts_store_close(st);
	ts_seal_seckey_free(key);
	fuse_opt_free_args(&args);
	free(fsname);
	free(o.store);
	free(o.mountpoint);
	free(o.key);
	free(o.passfile);
	free(o.whitelist);
	free(o.policy);
	free(o.hostname);
	free(shown);
	free(o.checkpoint_copy);
	free(o.fss);
	free(o.audit_spool);
	return status;
}
