/*
 * ctl_migrate: ticketctl migrate DIR URI, a directory store copied into a
 * PostgreSQL store (store/migrate.h does the copy): the arguments, the
 * progress of each phase (tools/progress.h: on stderr when it is a
 * terminal, nothing otherwise) and the messages.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store/migrate.h"
#include "tools/ctl_common.h"
#include "tools/ctl_verbs.h"
#include "tools/progress.h"

/* The bar's state: the phase drawn (tools/progress.h draws it). */
struct bar {
	struct ts_progress *p;		/* NULL: no bar */
	enum ts_migrate_phase ph;	/* the phase drawn */
	int started;			/* a phase was begun */
};

static void
on_progress(void *arg, enum ts_migrate_phase ph, uint64_t done,
            uint64_t total)
{
	struct bar *b = arg;

	if (ph != b->ph || !b->started) {
		ts_progress_phase(b->p, ts_migrate_phase_names[ph]);
		b->ph = ph;
		b->started = 1;
	}
	ts_progress_update(b->p, done, total);
}

int
ts_ctl_cmd_migrate(int argc, char **argv)
{
	static const char usage[] =
		"usage: ticketctl migrate DIR URI [--host NAME]\n"
		"Copies the directory store DIR (no daemon may serve it)\n"
		"into the PostgreSQL store at URI: an empty database (the\n"
		"schema is made, with DIR's public key and policy), or one an\n"
		"interrupted migrate of DIR left, which it finishes:\n"
		"tickets, ticket keys, the policy, waiting and rejected\n"
		"intake, and the audit trail (verified before and after) as\n"
		"the chain of host NAME (default: the host its entries name,\n"
		"else this machine).\n"
		"The whitelist is not copied: each host gives its own\n"
		"(-o whitelist=FILE).  No key is needed: records and keys are\n"
		"copied as they are.\n";
	static const struct option lo[] = {
		{ "host", required_argument, NULL, 'H' }, { 0 }
	};
	struct ts_migrate_opts o = { 0 };
	struct ts_migrate_counts c;
	struct bar b = { .ph = TS_MIG_TICKETS };
	char err[1024];
	int ch, rc;

	while ((ch = ts_ctl_next_opt(argc, argv, lo, usage)) != -1)
		if (ch == 'H')
			o.host = optarg;
	if (argc - optind != 2)
		ts_ctl_bad_usage(usage);
	o.progress = on_progress;
	o.arg = &b;
	b.p = ts_progress_new(ts_migrate_phase_names[TS_MIG_TICKETS],
	                      TS_PROGRESS_COUNT);
	rc = ts_store_migrate(argv[optind], argv[optind + 1], &o, &c, err,
	                      sizeof(err));
	ts_progress_free(b.p);
	if (rc < 0) {
		fprintf(stderr, "ticketctl migrate: %s\n", err);
		/* Nothing half-done stays unsaid: what is there is kept,
		 * and a second run goes on from it. */
		if (rc != -EINVAL && rc != -EKEYREJECTED && rc != -EEXIST &&
		    rc != -EBUSY)
			fprintf(stderr, "ticketctl migrate: run it again to go "
			        "on where it stopped\n");
		return rc == -EBADMSG ? EXIT_FOUND : EXIT_USAGE;
	}
	printf("migrated %s to the PostgreSQL store%s: %llu tickets (%llu "
	       "copied now), %llu ticket keys, %llu intake waiting, %llu "
	       "rejected, %llu audit entries as host %s (%llu seals)\n",
	       argv[optind],
	       c.created ? " it created" : "",
	       (unsigned long long)c.tickets,
	       (unsigned long long)c.copied[TS_MIG_TICKETS],
	       (unsigned long long)c.keys, (unsigned long long)c.intake,
	       (unsigned long long)c.rejected, (unsigned long long)c.audit,
	       c.host[0] ? c.host : "(none: no trail)",
	       (unsigned long long)c.seals);
	return 0;
}
