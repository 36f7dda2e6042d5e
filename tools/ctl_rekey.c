/*
 * ctl_rekey: ticketctl rekey STORE --key OLD --new-key NEW, the store's
 * key pair replaced (store/rekey.h does the work): the arguments, the new
 * key file (made as init makes one, never over an existing file), the
 * order of the steps around the commit, the files beside the key (the
 * sealing state and the checkpoint copy go on under the new key's name),
 * the progress bar (stderr, a terminal only) and the messages.
 */
#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/audit.h"
#include "store/audit_rekey.h"
#include "store/keyfile.h"
#include "store/rekey.h"
#include "store/seal.h"
#include "store/store.h"
#include "store/sysio.h"
#include "store/util.h"
#include "tools/ctl_common.h"
#include "tools/ctl_verbs.h"

#define BAR_WIDTH 30
#define REDRAW_MS 100

struct bar {
	int tty;		/* stderr is a terminal */
	long crash_step;	/* tests (--crash-at N): SIGKILL after step
				   N of the conversion; 0: never */
	double start, last;	/* when it began; the last draw (s) */
	int drawn;		/* a line is on screen */
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
on_progress(void *arg, uint64_t done, uint64_t total)
{
	struct bar *b = arg;
	double t = now_s(), el, rate;
	int fill;
	char bar[BAR_WIDTH + 1], left[32] = "";

	if (b->crash_step > 0 && done == (uint64_t)b->crash_step)
		raise(SIGKILL);
	if (!b->tty)
		return;
	if (!b->drawn && done == 0)
		b->start = t;
	if (done != total && b->drawn && (t - b->last) * 1000 < REDRAW_MS)
		return;
	el = t - b->start;
	rate = el > 0 ? done / el : 0;
	fill = total ? (int)((double)done * BAR_WIDTH / total) : BAR_WIDTH;
	if (fill > BAR_WIDTH)
		fill = BAR_WIDTH;
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(BAR_WIDTH - fill));
	bar[BAR_WIDTH] = '\0';
	if (done < total && rate > 0) {
		long s = (long)((total - done) / rate + 0.5);

		snprintf(left, sizeof(left), ", %ld:%02ld left", s / 60, s % 60);
	}
	fprintf(stderr, "\rrekey [%s] %llu/%llu  %.0f/s%s\033[K", bar,
	        (unsigned long long)done, (unsigned long long)total, rate,
	        left);
	b->drawn = 1;
	b->last = t;
}

/* path + suffix, malloc'd. */
static char *
beside(const char *path, const char *suffix)
{
	char *s = malloc(strlen(path) + strlen(suffix) + 1);

	if (s == NULL)
		ts_ctl_die("out of memory");
	sprintf(s, "%s%s", path, suffix);
	return s;
}

/* The new key file at path, as init writes one: mode 0600, never over a
 * file there, durable (the file and its directory) before the commit. */
static void
write_key(const char *path, const struct ts_seckey *key, const char *passfile)
{
	char err[512], *text, *pass = NULL, *dir, *slash;
	size_t passlen = 0;
	int fd, rc;

	if (passfile != NULL) {
		if (ts_keyfile_read_pass(passfile, &pass, &passlen, err,
		                         sizeof(err)) < 0)
			ts_ctl_die("%s", err);
		if (passlen == 0)
			ts_ctl_die("passphrase file %s holds an empty "
			    "passphrase", passfile);
	}
	rc = ts_seal_seckey_encode(key, pass, passlen, &text);
	if (pass != NULL)
		sodium_free(pass);
	if (rc < 0)
		ts_ctl_die("cannot encode the new key: %s", strerror(-rc));
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	          0600);
	if (fd < 0)
		ts_ctl_die("cannot create key file %s: %s", path,
		    strerror(errno));
	rc = ts_sysio_write_all(fd, text, strlen(text));
	if (rc == 0)
		rc = ts_sysio_fsync(fd);
	close(fd);
	ts_ctl_wipe_free(text, strlen(text));
	if (rc < 0) {
		unlink(path);
		ts_ctl_die("cannot write key file %s: %s", path, strerror(-rc));
	}
	dir = beside(path, "");
	if ((slash = strrchr(dir, '/')) != NULL)
		slash[slash == dir ? 1 : 0] = '\0';
	else
		strcpy(dir, ".");
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		rc = ts_sysio_fsync(fd);
		close(fd);
		if (rc < 0)
			ts_ctl_die("cannot make key file %s durable: %s", path,
			    strerror(-rc));
	}
	free(dir);
}

static struct ts_seckey *
load_key(const char *path, const char *passfile)
{
	struct ts_seckey *k;
	char err[512];

	if (ts_keyfile_load_hint(path, passfile, "--passphrase-file F", &k,
	                         err, sizeof(err)) < 0)
		ts_ctl_die("%s", err);
	return k;
}

/* The sealing state beside the old key goes on beside the new one (it is
 * no key's: its seed is elsewhere), moved, never copied: two copies
 * would let an epoch be sealed twice. */
static void
move_fss(const char *oldkey, const char *newkey)
{
	char *from = beside(oldkey, ".fss"), *to = beside(newkey, ".fss");

	if (access(from, F_OK) == 0 && access(to, F_OK) != 0 &&
	    rename(from, to) < 0)
		ts_ctl_die("cannot move the sealing state %s to %s: %s", from,
		    to, strerror(errno));
	free(from);
	free(to);
}

/* The checkpoint copy beside the old key re-signed beside the new one,
 * so the daemon's replay check goes on across the rekey. */
static void
resign_copy(const char *oldkey, const char *newkey,
            const struct ts_seckey *old, const struct ts_seckey *key)
{
	char *from = beside(oldkey, ".checkpoint");
	char *to = beside(newkey, ".checkpoint");
	struct ts_audit_checkpoint cp;
	char text[512];
	size_t len;
	int fd, rc;

	if (access(to, F_OK) == 0 ||
	    ts_audit_checkpoint_load(from, &cp) < 0)
		goto out;
	if ((rc = ts_audit_mark_resign(old, key, 0, &cp, text, &len)) < 0) {
		fprintf(stderr, "ticketctl rekey: %s is signed by neither key: "
		        "not carried over\n", from);
		goto out;
	}
	if (rc == 0)
		goto out;
	fd = open(to, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	          0600);
	if (fd < 0 || ts_sysio_write_all(fd, text, len) < 0 ||
	    ts_sysio_fsync(fd) < 0)
		ts_ctl_die("cannot write the checkpoint copy %s: %s", to,
		    strerror(errno));
	close(fd);
	unlink(from);	/* the old key's: no daemon will use it again */
out:
	free(from);
	free(to);
}

/*
 * The same rekey run again after it ended without this program (a run
 * killed at its commit, finished by the daemon, which knows neither key
 * file's path): only the files beside the keys are left to carry over.
 * Exits 0 if newpath is the key the rekey went to; returns if not.
 */
static void
carry_over(struct ts_store *st, const char *store, const char *oldpath,
           const char *newpath, struct ts_seckey *old,
           const char *newpass, const unsigned char new_pk[TS_SEAL_PKBYTES])
{
	struct ts_seckey *key = load_key(newpath, newpass);

	if (sodium_memcmp(ts_seal_seckey_pk(key), new_pk,
	                  TS_SEAL_PKBYTES) != 0) {
		ts_seal_seckey_free(key);
		return;
	}
	move_fss(oldpath, newpath);
	resign_copy(oldpath, newpath, old, key);
	printf("store %s: the rekey to %s had ended already (the daemon "
	       "finished it); %s.fss and %s.checkpoint, if there, carried "
	       "over to %s\n", ts_ctl_store_shown(store), newpath, oldpath,
	       oldpath, newpath);
	ts_seal_seckey_free(key);
	ts_seal_seckey_free(old);
	ts_store_close(st);
	exit(0);
}

/* The tests' kill -9 at a named point. */
static void
crash_at(const char *crash, const char *point)
{
	if (strcmp(crash, point) == 0)
		raise(SIGKILL);
}

static void
refuse_in_use(struct ts_store *st, const char *store)
{
	int rc;

	/* A daemon's database session ends a moment after the daemon: one
	 * that just stopped is waited for, up to 2 s. */
	for (int i = 0; (rc = ts_store_rekey_in_use(st)) > 0 && i < 20; i++)
		usleep(100000);
	if (rc > 0)
		ts_ctl_die("store %s is in use by a ticketfs daemon (another "
		    "host's): stop every daemon of the store first",
		    ts_ctl_store_shown(store));
	if (rc < 0)
		ts_ctl_die("cannot tell whether a daemon holds store %s: %s",
		    ts_ctl_store_shown(store), strerror(-rc));
}

static void
refuse_intake(struct ts_store *st, const char *store)
{
	uint64_t n;
	int rc = ts_store_rekey_intake(st, &n);

	if (rc < 0)
		ts_ctl_die("cannot count the intake of store %s: %s",
		    ts_ctl_store_shown(store), strerror(-rc));
	if (n > 0)
		ts_ctl_die("%llu intake record%s of store %s wait%s to be taken "
		    "in, sealed for the old key: mount the store once (the "
		    "daemon takes them in), unmount it, then rekey",
		    (unsigned long long)n, n == 1 ? "" : "s",
		    ts_ctl_store_shown(store), n == 1 ? "s" : "");
}

int
ts_ctl_cmd_rekey(int argc, char **argv)
{
	static const char usage[] =
		"usage: ticketctl rekey STORE --key OLD --new-key NEW\n"
		"                       [--passphrase-file F]\n"
		"                       [--new-passphrase-file F]\n"
		"Replaces the store's key pair: makes NEW (as init makes a key:\n"
		"mode 0600, wrapped with the passphrase of --new-passphrase-file;\n"
		"never over an existing file), rewraps every ticket key for it,\n"
		"reseals the boxes of tickets of before, re-MACs every record,\n"
		"hands the audit trail over (an entry signed by OLD names the new\n"
		"verify key; checkpoints and anchors re-signed) and replaces the\n"
		"store's public key.  OLD.fss and OLD.checkpoint go on as\n"
		"NEW.fss and NEW.checkpoint.  Once it ends nothing in the store\n"
		"opens with OLD.  Refused while a daemon holds the store or intake\n"
		"waits.  Killed at any point, the store mounts with OLD (before\n"
		"the commit) or NEW (after it; the daemon finishes the rekey\n"
		"first); run it again with the same arguments to finish (also\n"
		"after the daemon finished it: OLD.fss and OLD.checkpoint are\n"
		"carried over then).  A\n"
		"progress bar on stderr if it is a terminal.  Exit 1 if some\n"
		"record or key file opened with neither key (left as it was).\n";
	static const struct option lo[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "new-key", required_argument, NULL, 'n' },
		{ "passphrase-file", required_argument, NULL, 'p' },
		{ "new-passphrase-file", required_argument, NULL, 'P' },
		/* Hidden, for the tests: killed (SIGKILL, as kill -9) at a
		 * point: begun, keyfile, handover, commit or step N. */
		{ "crash-at", required_argument, NULL, 'C' }, { 0 }
	};
	const char *oldpath = NULL, *newpath = NULL, *pass = NULL;
	const char *newpass = NULL, *store, *crash = "";
	unsigned char pk[TS_SEAL_PKBYTES];
	struct ts_seckey *old, *key = NULL;
	struct ts_rekey_journal j;
	struct ts_rekey_counts c;
	struct bar b = { .tty = isatty(2) };
	struct ts_store *st;
	uint64_t late = 0;
	int ch, rc, have_j, committed;

	while ((ch = ts_ctl_next_opt(argc, argv, lo, usage)) != -1)
		*(ch == 'k' ? &oldpath : ch == 'n' ? &newpath :
		  ch == 'p' ? &pass : ch == 'P' ? &newpass : &crash) = optarg;
	b.crash_step = strtol(crash, NULL, 10);
	if (argc - optind != 1 || oldpath == NULL || newpath == NULL)
		ts_ctl_bad_usage(usage);
	store = argv[optind];
	st = ts_ctl_open_store(store, TS_STORE_DAEMON);
	if ((rc = ts_store_lock(st)) == -EBUSY)
		ts_ctl_die("store %s is in use by a ticketfs daemon or another "
		    "ticketctl rekey: unmount it, or let that rekey end, first",
		    ts_ctl_store_shown(store));
	if (rc < 0)
		ts_ctl_die("cannot lock store %s: %s", ts_ctl_store_shown(store),
		    strerror(-rc));
	refuse_in_use(st, store);
	old = load_key(oldpath, pass);
	if ((rc = ts_store_pubkey(st, pk)) < 0)
		ts_ctl_die("cannot read the public key of store %s: %s",
		    ts_ctl_store_shown(store), strerror(-rc));
	rc = ts_store_rekey_journal(st, &j);
	if (rc < 0 && rc != -ENOENT)
		ts_ctl_die("the rekey journal of store %s is unreadable: %s",
		    ts_ctl_store_shown(store), strerror(-rc));
	have_j = rc == 0 && !j.done;
	if (have_j && sodium_memcmp(j.old_pk, ts_seal_seckey_pk(old),
	                            TS_SEAL_PKBYTES) != 0)
		ts_ctl_die("a rekey of store %s from another key is under way: "
		    "run it again with that --key", ts_ctl_store_shown(store));
	committed = have_j && sodium_memcmp(pk, j.new_pk, TS_SEAL_PKBYTES) == 0;
	if (!committed && sodium_memcmp(pk, ts_seal_seckey_pk(old),
	                                TS_SEAL_PKBYTES) != 0) {
		if (rc == 0 && j.done && sodium_memcmp(j.old_pk,
		    ts_seal_seckey_pk(old), TS_SEAL_PKBYTES) == 0) {
			if (sodium_memcmp(pk, j.new_pk, TS_SEAL_PKBYTES) == 0 &&
			    access(newpath, F_OK) == 0)
				carry_over(st, store, oldpath, newpath, old,
				           newpass, j.new_pk);
			ts_ctl_die("key %s is the old key of store %s: a rekey "
			    "replaced it", oldpath, ts_ctl_store_shown(store));
		}
		ts_ctl_die("key %s does not belong to store %s", oldpath,
		    ts_ctl_store_shown(store));
	}
	if (access(newpath, F_OK) == 0) {
		/* Only the very key this rekey began with (a run killed
		 * after it wrote it) is used; anything else stays as is. */
		if (!have_j)
			ts_ctl_die("%s exists: rekey makes the new key itself "
			    "and never writes over a file", newpath);
		key = load_key(newpath, newpass);
		if (sodium_memcmp(ts_seal_seckey_pk(key), j.new_pk,
		                  TS_SEAL_PKBYTES) != 0)
			ts_ctl_die("%s exists and is not the key the rekey "
			    "under way began with: give that one, or move it "
			    "aside", newpath);
	} else if (committed) {
		ts_ctl_die("%s is gone, but store %s is already its key (the "
		    "rekey committed): give the new key's path as --new-key",
		    newpath, ts_ctl_store_shown(store));
	}
	if (!committed) {
		struct ts_audit_entry who = {
			.uid = getuid(), .pid = getpid(), .comm = "ticketctl",
		};

		refuse_intake(st, store);
		if (key == NULL) {
			if (ts_seal_keypair(&key) < 0)
				ts_ctl_die("cannot make a key pair");
			/* The journal first: a run killed after it wrote the
			 * key file knows that file for its own. */
			if ((rc = ts_store_rekey_begin(st, old, key)) < 0)
				ts_ctl_die("cannot write the rekey journal: %s",
				    strerror(-rc));
			crash_at(crash, "begun");
			write_key(newpath, key, newpass);
			crash_at(crash, "keyfile");
		}
		if ((rc = ts_store_rekey_handover(st, old, key, &who)) < 0)
			ts_ctl_die("cannot hand the audit trail over: %s%s",
			    strerror(-rc), rc == -EKEYREJECTED || rc == -EBADMSG ?
			    " (run ticketctl audit verify)" : "");
		crash_at(crash, "handover");
		refuse_in_use(st, store);	/* a daemon started since? */
		if ((rc = ts_store_rekey_commit(st, key)) < 0)
			ts_ctl_die("cannot replace the public key: %s",
			    strerror(-rc));
		crash_at(crash, "commit");
	}
	move_fss(oldpath, newpath);
	resign_copy(oldpath, newpath, old, key);
	rc = ts_store_rekey_finish(st, old, key, on_progress, &b, &c);
	if (b.drawn)
		fputc('\n', stderr);
	if (rc < 0)
		ts_ctl_die("rekey stopped: %s; the store is NEW's now (it mounts "
		    "with %s): run the same rekey again to finish",
		    strerror(-rc), newpath);
	if (ts_store_rekey_intake(st, &late) == 0 && late > 0)
		fprintf(stderr, "ticketctl rekey: %llu intake record%s arrived "
		        "during the rekey; one sealed for the old key will be "
		        "rejected (intake/rejected): submit it again\n",
		        (unsigned long long)late, late == 1 ? "" : "s");
	printf("store %s rekeyed: %llu tickets (%llu records re-MAC'd, %llu "
	       "of them of before resealed), %llu ticket keys rewrapped; new "
	       "key in %s; %s no longer opens anything in the store\n",
	       ts_ctl_store_shown(store), (unsigned long long)c.tickets,
	       (unsigned long long)c.records, (unsigned long long)c.legacy,
	       (unsigned long long)c.keys, newpath, oldpath);
	if (c.marks_bad > 0)
		fprintf(stderr, "ticketctl rekey: %u audit mark%s signed by "
		        "neither key left as %s (run ticketctl audit verify)\n",
		        c.marks_bad, c.marks_bad == 1 ? "" : "s",
		        c.marks_bad == 1 ? "it was" : "they were");
	if (c.damaged > 0)
		fprintf(stderr, "ticketctl rekey: %llu record%s or key file%s "
		        "opened with neither key (first: %s), left as they were "
		        "(run ticketctl fsck)\n", (unsigned long long)c.damaged,
		        c.damaged == 1 ? "" : "s", c.damaged == 1 ? "" : "s",
		        c.first_damaged);
	ts_seal_seckey_free(old);
	ts_seal_seckey_free(key);
	ts_store_close(st);
	return c.damaged > 0 || c.marks_bad > 0 ? EXIT_FOUND : 0;
}
