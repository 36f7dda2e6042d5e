/*
 * ticketctl: the command-line tools of ticketfs.  This file holds main(),
 * the verb table, the usage text and --help/--version; each verb group
 * lives in its own file (ctl_init.c, ctl_intake.c, ctl_check.c,
 * ctl_wait.c, entry points in ctl_verbs.h), on the helpers of
 * ctl_common.c.  submit, message, authorize, revoke, forget and erase
 * (ctl_rights.c) need only the store's public key and write access to its
 * intake area.
 *
 * Exit status: 0 success; 1 the operation ran and found a problem (fsck);
 * 2 bad usage or bad input, and then nothing was written.
 */
#include <stdio.h>
#include <string.h>

#include "store/seal.h"
#include "tools/ctl_common.h"
#include "tools/ctl_verbs.h"

static const struct verb {
	const char *name;
	int (*fn)(int argc, char **argv);
} verbs[] = {
	{ "init", ts_ctl_cmd_init },
	{ "submit", ts_ctl_cmd_submit },
	{ "message", ts_ctl_cmd_message },
	{ "authorize", ts_ctl_cmd_authorize },
	{ "revoke", ts_ctl_cmd_revoke },
	{ "forget", ts_ctl_cmd_forget },
	{ "erase", ts_ctl_cmd_erase },
	{ "fsck", ts_ctl_cmd_fsck },
	{ "audit", ts_ctl_cmd_audit },
	{ "wait", ts_ctl_cmd_wait },
	{ "policy", ts_ctl_cmd_policy },
	{ "grant", ts_ctl_cmd_grant },
	{ "migrate", ts_ctl_cmd_migrate },
	{ "stats", ts_ctl_cmd_stats },
	{ "rekey", ts_ctl_cmd_rekey },
};

static void
usage(FILE *out)
{
	fputs("usage: ticketctl COMMAND ARGS...   (COMMAND --help for more)\n"
	      "  init STORE KEYFILE [--passphrase-file F]\n"
	      "  submit [--batch] STORE [FILE]\n"
	      "  message STORE ID [FILE]\n"
	      "  authorize STORE ID [FILE]\n"
	      "  revoke STORE ID NAME\n"
	      "  forget STORE USERNAME\n"
	      "  erase STORE ID [FIELD...]\n"
	      "  (submit ... erase each take --client-ip ADDR)\n"
	      "  fsck STORE [--key KEYFILE [--passphrase-file F]] [--json]\n"
	      "  audit verify STORE [--verify-key FILE | --key KEYFILE\n"
	      "               [--passphrase-file F]] [--checkpoint FILE]\n"
	      "               [--seed SEED] [--json]\n"
	      "  audit prune STORE --before DATE --key KEYFILE\n"
	      "              [--passphrase-file F] [--timeout SECONDS]\n"
	      "              [--host NAME]\n"
	      "  audit seal KEYFILE [--fss FILE]\n"
	      "  wait STORE [--timeout SECONDS]\n"
	      "  policy STORE [FILE]\n"
	      "  grant STORE ROLE frontend|daemon\n"
	      "  migrate DIR URI [--host NAME]\n"
	      "  stats STORE [--json] [--host NAME]\n"
	      "  rekey STORE --key OLD --new-key NEW [--passphrase-file F]\n"
	      "        [--new-passphrase-file F]\n"
	      "  -h, --help     this text;  --version  the version\n"
	      "STORE: a store's directory, or a PostgreSQL store's libpq URI\n"
	      "(postgresql://... or postgres://...)\n", out);
}

int
main(int argc, char **argv)
{
	if (ts_seal_init() < 0)
		ts_ctl_die("cannot initialise libsodium");
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("ticketctl %s\n", TS_VERSION);
		return 0;
	}
	if (argv[1][0] == '-') {
		fprintf(stderr, "ticketctl: unknown option %s\n", argv[1]);
		usage(stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
		if (strcmp(argv[1], verbs[i].name) == 0)
			return verbs[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "ticketctl: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
