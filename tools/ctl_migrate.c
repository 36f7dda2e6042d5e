/*
 * ctl_migrate: ticketctl migrate DIR URI, a directory store copied into a
 * PostgreSQL store (store/migrate.h does the copy): the arguments, the
 * progress bar (on stderr when it is a terminal: rate and time left;
 * nothing otherwise) and the messages.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/migrate.h"
#include "tools/ctl_common.h"
#include "tools/ctl_verbs.h"

#define BAR_WIDTH 30
#define REDRAW_MS 100

struct bar {
	int tty;			/* stderr is a terminal */
	enum ts_migrate_phase ph;	/* the phase drawn */
	double start, last;		/* of the phase; of the last draw (s) */
	int drawn;			/* a line is on screen */
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
draw(struct bar *b, uint64_t done, uint64_t total, double t)
{
	double el = t - b->start, rate = el > 0 ? done / el : 0;
	int fill = total ? (int)((double)done * BAR_WIDTH / total) : BAR_WIDTH;
	char bar[BAR_WIDTH + 1], left[32] = "";

	if (fill > BAR_WIDTH)
		fill = BAR_WIDTH;
	memset(bar, '#', (size_t)fill);
	memset(bar + fill, '.', (size_t)(BAR_WIDTH - fill));
	bar[BAR_WIDTH] = '\0';
	if (done < total && rate > 0) {
		long s = (long)((total - done) / rate + 0.5);

		snprintf(left, sizeof(left), ", %ld:%02ld left", s / 60,
		         s % 60);
	}
	fprintf(stderr, "\r%-8s [%s] %llu/%llu  %.0f/s%s\033[K",
	        ts_migrate_phase_names[b->ph], bar, (unsigned long long)done,
	        (unsigned long long)total, rate, left);
	b->drawn = 1;
	b->last = t;
}

static void
on_progress(void *arg, enum ts_migrate_phase ph, uint64_t done,
            uint64_t total)
{
	struct bar *b = arg;
	double t = now_s();

	if (!b->tty)
		return;
	if (ph != b->ph || !b->drawn) {
		if (b->drawn)
			fputc('\n', stderr);	/* the finished phase stays */
		b->ph = ph;
		b->start = t;
		b->drawn = 0;
	}
	if (done == total || !b->drawn || (t - b->last) * 1000 >= REDRAW_MS)
		draw(b, done, total, t);
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
	struct bar b = { .tty = isatty(2), .ph = TS_MIG_TICKETS };
	char err[1024];
	int ch, rc;

	while ((ch = ts_ctl_next_opt(argc, argv, lo, usage)) != -1)
		if (ch == 'H')
			o.host = optarg;
	if (argc - optind != 2)
		ts_ctl_bad_usage(usage);
	o.progress = on_progress;
	o.arg = &b;
	rc = ts_store_migrate(argv[optind], argv[optind + 1], &o, &c, err,
	                      sizeof(err));
	if (b.drawn)
		fputc('\n', stderr);
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
