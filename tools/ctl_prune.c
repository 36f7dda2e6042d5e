/*
 * ctl_prune: ticketctl audit prune (retention on demand, with the secret
 * key: directly when no daemon holds the store, else through intake as a
 * MAC'd request the daemon checks) and ticketctl audit seal (forward-
 * secure sealing for a key of before).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "store/audit.h"
#include "store/pg_audit.h"
#include "store/keyfile.h"
#include "store/record.h"
#include "store/seal.h"
#include "store/store.h"
#include "store/util.h"
#include "tools/ctl_common.h"
#include "tools/ctl_verbs.h"

void
ts_ctl_print_seed(const char *seed, const char *state)
{
	printf("forward-secure sealing of the audit trail: state in %s\n"
	       "verification seed, printed only now; keep it elsewhere, off "
	       "this host\n(ticketctl audit verify STORE --seed SEED):\n%s\n",
	       state, seed);
}

/* 1 if STORE/sub holds a file whose name ends in suffix. */
static int
has_file(const char *store, const char *sub, const char *suffix)
{
	char path[4096];
	struct dirent *de;
	size_t sl = strlen(suffix);
	int found = 0;
	DIR *d;

	snprintf(path, sizeof(path), "%s/%s", store, sub);
	if ((d = opendir(path)) == NULL)
		return 0;
	while (!found && (de = readdir(d)) != NULL) {
		size_t nl = strlen(de->d_name);

		found = de->d_name[0] != '.' && nl > sl &&
		        strcmp(de->d_name + nl - sl, suffix) == 0;
	}
	closedir(d);
	return found;
}

/* Through the daemon: a MAC'd request in intake, then wait for it. */
static int
prune_live(struct ts_store *st, const char *store,
           const struct ts_seckey *key, int64_t before, long timeout_ms)
{
	unsigned char *mackey = sodium_malloc(TS_RECORD_MACKEYBYTES);
	struct ts_ticket t;
	struct ts_audit_checkpoint an;
	char suffix[TS_NAME_MAX + 8], path[4096];
	uint8_t *rec = NULL;
	size_t len = 0;
	int64_t until = ts_now_ms() + timeout_ms;
	int rc;

	if (mackey == NULL)
		ts_ctl_die("out of memory");
	memset(&t, 0, sizeof(t));
	ts_id_new(t.id);
	t.before_ms = before;
	rc = ts_seal_derive(key, TS_RECORD_MAC_PURPOSE, mackey,
	                    TS_RECORD_MACKEYBYTES);
	if (rc == 0)
		rc = ts_record_encode(TS_REC_PRUNE, &t, NULL, mackey, &rec, &len);
	sodium_free(mackey);
	if (rc == 0)
		rc = ts_store_intake_put(st, TS_REC_PRUNE, t.id, rec, len);
	free(rec);
	if (rc < 0)
		ts_ctl_die("cannot write the prune request: %s", strerror(-rc));
	snprintf(suffix, sizeof(suffix), "-p-%s", t.id);
	while (has_file(store, "intake", suffix)) {
		struct timespec ts = { 0, 50 * 1000 * 1000 };

		if (ts_now_ms() >= until) {
			fprintf(stderr, "ticketctl: the daemon has not taken the "
			        "prune request in yet; it stays in %s/intake\n",
			        store);
			return EXIT_FOUND;
		}
		nanosleep(&ts, NULL);
	}
	if (has_file(store, "intake/rejected", suffix)) {
		fprintf(stderr, "ticketctl: the daemon refused the prune request "
		        "(see its log and the audit trail)\n");
		return EXIT_FOUND;
	}
	snprintf(path, sizeof(path), "%s/audit/anchor", store);
	if (ts_audit_checkpoint_load(path, &an) == 0)
		printf("pruned by the daemon: %llu entr%s pruned before seq "
		       "%llu\n", (unsigned long long)an.seq,
		       an.seq == 1 ? "y" : "ies",
		       (unsigned long long)an.seq + 1);
	else
		printf("pruned by the daemon: nothing was old enough\n");
	return 0;
}

/* No daemon: under the store's lock, the trail opened here. */
static int
prune_offline(struct ts_store *st, const struct ts_seckey *key,
              const char *fss, int64_t before)
{
	struct ts_audit_entry who = { .uid = getuid(), .pid = getpid(),
	                              .comm = "ticketctl", .path = "" };
	struct ts_audit_pruned p;
	struct ts_audit *a;
	char msg[512];
	int rc;

	if ((rc = ts_store_audit_open(st, key, 64u << 20, &a)) < 0)
		ts_ctl_die("cannot open the audit trail: %s", rc == -EBADMSG ?
		    "it is shorter than its signed checkpoint or damaged (run "
		    "ticketctl audit verify)" : strerror(-rc));
	if ((rc = ts_audit_set_fss(a, fss, msg, sizeof(msg))) < 0 &&
	    rc != -ENOENT) {
		ts_audit_close(a);
		ts_ctl_die("%s", msg);
	}
	rc = ts_audit_prune(a, before, &who, &p);
	ts_audit_close(a);
	if (rc == -EBADMSG) {
		fprintf(stderr, "ticketctl: the trail's oldest segments do not "
		        "chain (edited?): nothing pruned; run ticketctl audit "
		        "verify\n");
		return EXIT_FOUND;
	}
	if (rc < 0)
		ts_ctl_die("cannot prune the audit trail: %s", strerror(-rc));
	printf("pruned: %llu entr%s in %u segment%s; %llu entr%s pruned "
	       "before seq %llu\n", (unsigned long long)p.entries,
	       p.entries == 1 ? "y" : "ies", p.segments,
	       p.segments == 1 ? "" : "s",
	       (unsigned long long)p.first_seq - 1,
	       p.first_seq - 1 == 1 ? "y" : "ies",
	       (unsigned long long)p.first_seq);
	return 0;
}

int
ts_ctl_audit_prune(int argc, char **argv)
{
	static const char usage[] =
		"usage: ticketctl audit prune STORE --before DATE --key KEYFILE\n"
		"                             [--passphrase-file F] [--timeout S]\n"
		"                             [--host NAME]\n"
		"Removes the audit trail's oldest whole segments whose newest entry\n"
		"is before DATE (RFC 3339), never the current one, leaving a signed\n"
		"anchor; the prune is itself an entry.  Needs the secret key.  With\n"
		"no daemon on STORE it prunes directly; else it asks the daemon\n"
		"through intake and waits up to S seconds (default 10) for it.\n"
		"A PostgreSQL store (STORE a URI) keeps one chain a host: this\n"
		"prunes host NAME's (default: this machine's name), directly, and\n"
		"is refused while that host's daemon runs.\n";
	static const struct option lo[] = {
		{ "before", required_argument, NULL, 'b' },
		{ "key", required_argument, NULL, 'k' },
		{ "passphrase-file", required_argument, NULL, 'p' },
		{ "timeout", required_argument, NULL, 't' },
		{ "fss", required_argument, NULL, 'f' },
		{ "host", required_argument, NULL, 'H' }, { 0 }
	};
	const char *before_s = NULL, *key_path = NULL, *pass = NULL;
	const char *host = NULL;
	char *fss = NULL, err[512];
	long timeout_ms = 10000;
	struct ts_seckey *key;
	struct ts_store *st;
	int64_t before;
	int c, rc;

	optind = 0;
	while ((c = ts_ctl_next_opt(argc, argv, lo, usage)) != -1) {
		char *end;
		double sec;

		switch (c) {
		case 'b': before_s = optarg; break;
		case 'k': key_path = optarg; break;
		case 'p': pass = optarg; break;
		case 'f': fss = optarg; break;
		case 'H': host = optarg; break;
		default:
			sec = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || !(sec >= 0) ||
			    sec > 1e6)
				ts_ctl_die("audit prune: bad --timeout \"%s\": give "
				    "seconds, 0 to 1000000", optarg);
			timeout_ms = (long)(sec * 1000);
		}
	}
	if (argc - optind != 1 || before_s == NULL || key_path == NULL)
		ts_ctl_bad_usage(usage);
	if (ts_time_parse(before_s, &before) < 0)
		ts_ctl_die("audit prune: --before \"%s\" is not an RFC 3339 date",
		    before_s);
	if (ts_keyfile_load_hint(key_path, pass, "--passphrase-file F", &key,
	                         err, sizeof(err)) < 0)
		ts_ctl_die("%s", err);
	st = ts_ctl_open_store(argv[optind], TS_STORE_DAEMON);
	if (host != NULL && !ts_store_shared(st))
		ts_ctl_die("audit prune: --host is for a shared (PostgreSQL) "
		    "store, whose trail is one chain a host");
	if (host != NULL && ts_store_set_host(st, host) < 0)
		ts_ctl_die("audit prune: bad --host \"%s\": at most %d of "
		    "[A-Za-z0-9._-]", host, TS_HOST_MAX);
	{
		unsigned char pk[TS_SEAL_PKBYTES];

		if (ts_store_pubkey(st, pk) < 0 ||
		    sodium_memcmp(pk, ts_seal_seckey_pk(key), sizeof(pk)) != 0)
			ts_ctl_die("key %s does not belong to store %s", key_path,
			    ts_ctl_store_shown(argv[optind]));
	}
	rc = ts_store_lock(st);
	if (rc == -EBUSY && ts_store_shared(st)) {
		/* The request would be taken in by any host's daemon, and
		 * its reply is looked for in STORE/intake: not for a shared
		 * store (yet). */
		ts_ctl_die("a ticketfs daemon of host %s holds store %s: stop "
		    "it to prune that host's audit trail (audit prune through "
		    "a running daemon is for a directory store)",
		    ts_store_host(st), ts_ctl_store_shown(argv[optind]));
	} else if (rc == -EBUSY) {
		rc = prune_live(st, argv[optind], key, before, timeout_ms);
	} else if (rc < 0) {
		ts_ctl_die("cannot lock store %s: %s",
		    ts_ctl_store_shown(argv[optind]),
		    strerror(-rc));
	} else {
		char *def = NULL;

		if (fss == NULL && (def = malloc(strlen(key_path) + 5)) != NULL)
			sprintf(def, "%s.fss", key_path);
		rc = prune_offline(st, key, fss ? fss : def, before);
		free(def);
	}
	ts_seal_seckey_free(key);
	ts_store_close(st);
	return rc;
}

int
ts_ctl_audit_verify_seed(struct ts_store *st, const char *store,
                         const char *seed, char *msg, size_t msglen)
{
	int fd, rc;

	if (ts_store_shared(st)) {
		rc = ts_pg_audit_verify_seed(store, seed, msg, msglen);
	} else {
		if ((fd = open(store, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
			ts_ctl_die("cannot open store %s: %s", store,
			    strerror(errno));
		rc = ts_audit_verify_seed(fd, seed, msg, msglen);
		close(fd);
	}
	if (rc == -EINVAL)
		ts_ctl_die("--seed: %s", msg);
	if (rc < 0)
		ts_ctl_die("%s", msg);
	return rc;
}

int
ts_ctl_audit_seal(int argc, char **argv)
{
	static const char usage[] =
		"usage: ticketctl audit seal KEYFILE [--fss FILE]\n"
		"Starts forward-secure sealing of the audit trail for the key in\n"
		"KEYFILE: writes the sealing state (default KEYFILE.fss, mode 0600)\n"
		"and prints the verification seed once.  Keep the seed elsewhere,\n"
		"not on this host; `ticketctl audit verify STORE --seed SEED` then\n"
		"detects a rewrite of any sealed epoch.  The daemon seals from its\n"
		"next start.\n";
	static const struct option lo[] = {
		{ "fss", required_argument, NULL, 'f' },
		{ "epoch", required_argument, NULL, 'e' }, { 0 }
	};
	char *fss = NULL, *def = NULL, seed[TS_AUDIT_SEED_MAX];
	unsigned long epoch = 0;
	int c, rc;

	optind = 0;
	while ((c = ts_ctl_next_opt(argc, argv, lo, usage)) != -1) {
		char *end;

		if (c == 'f') {
			fss = optarg;
			continue;
		}
		errno = 0;
		epoch = strtoul(optarg, &end, 10);
		if (errno || end == optarg || *end != '\0' ||
		    optarg[0] == '-' || epoch == 0 || epoch > 86400)
			ts_ctl_die("audit seal: bad --epoch \"%s\": give "
			    "seconds, 1 to 86400", optarg);
	}
	if (argc - optind != 1)
		ts_ctl_bad_usage(usage);
	if (fss == NULL && (def = malloc(strlen(argv[optind]) + 5)) != NULL)
		sprintf(def, "%s.fss", argv[optind]);
	if (access(argv[optind], R_OK) < 0)
		ts_ctl_die("cannot read key file %s: %s", argv[optind],
		    strerror(errno));
	rc = ts_audit_fss_create(fss ? fss : def, (unsigned)epoch, seed);
	if (rc < 0)
		ts_ctl_die("cannot create the sealing state %s: %s",
		    fss ? fss : def, rc == -EEXIST ? "it exists (sealing has "
		    "started already)" : strerror(-rc));
	ts_ctl_print_seed(seed, fss ? fss : def);
	sodium_memzero(seed, sizeof(seed));
	free(def);
	return 0;
}
