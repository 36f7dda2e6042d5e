/*
 * ctl_stats: ticketctl stats STORE [--json] [--host NAME], for
 * monitoring, read every minute or so while the store is served: tickets
 * by status and the items falling due within the next hour and day (the
 * daemon's deadlines: fs/policy.h's rules over each ticket's plain
 * metadata, as fs/due.c applies them), intake waiting and rejected, the
 * audit trail's size and its last checkpoint's age (store.h's
 * ts_store_stats), and, if a daemon serves the store, the counters it
 * publishes (fs/stats.h): requests served, the value cache's hit rate
 * (a file that is not what the daemon writes is taken for none).
 * No key, no lock taken, nothing written, nothing decrypted.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "fs/policy.h"
#include "store/store.h"
#include "tools/ctl_common.h"
#include "tools/ctl_verbs.h"

#define HOUR_MS (3600 * 1000LL)
#define DAY_MS (24 * HOUR_MS)
#define STALE_MS 5000	/* published counters older than this: none */
#define COUNTERS_MAX 4096	/* fs/stats.c writes a few hundred bytes */

/* An item falls in a window: due at or before now + its length. */
struct due {
	uint64_t tickets, items;	/* items: fields, messages, auths */
};

struct count {
	int64_t now;
	const struct ts_policy *pol;	/* NULL: no valid policy */
	uint64_t status[TS_STATUS_COUNT];
	uint64_t tickets, damaged;
	uint64_t overdue;		/* due before now (served: soon gone) */
	struct due hour, day;
};

static int64_t
min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* Counts one deadline d into the windows (TS_NEVER: none). */
static void
tally(struct count *c, int64_t d, int ticket)
{
	if (d == TS_NEVER)
		return;
	if (d <= c->now)
		c->overdue++;
	if (d <= c->now + HOUR_MS)
		*(ticket ? &c->hour.tickets : &c->hour.items) += 1;
	if (d <= c->now + DAY_MS)
		*(ticket ? &c->day.tickets : &c->day.items) += 1;
}

/* The deadlines of t and its items, as fs/due.c computes them. */
static void
count_due(struct count *c, const struct ts_ticket *t)
{
	const struct ts_policy *p = c->pol;
	int64_t td = min64(ts_policy_deadline(p, TS_ITEM_TICKET, t->created_ms,
	                                      t->processed_ms, 0),
	                   ts_policy_deadline_forgotten(p, TS_ITEM_TICKET,
	                                                t->forgotten_ms));

	tally(c, td, 1);
	for (int f = 0; f < TS_F_COUNT; f++) {
		enum ts_item it = ts_policy_field_item(f);

		if (t->field[f].len == 0)
			continue;
		tally(c, min64(min64(td, ts_policy_deadline_forgotten(p, it,
		                                          t->forgotten_ms)),
		               ts_policy_deadline(p, it, t->created_ms,
		                                  t->processed_ms, 0)), 0);
	}
	for (size_t i = 0; i < t->nmsg; i++)
		tally(c, min64(min64(td, ts_policy_deadline_forgotten(p,
		                    TS_ITEM_MESSAGE, t->forgotten_ms)),
		               ts_policy_deadline(p, TS_ITEM_MESSAGE,
		                                  t->msg[i].stored_ms,
		                                  t->processed_ms, 0)), 0);
	for (size_t i = 0; i < t->nauth; i++)
		tally(c, min64(min64(td, ts_policy_deadline_forgotten(p,
		                    TS_ITEM_AUTHORIZATION, t->forgotten_ms)),
		               ts_policy_deadline(p, TS_ITEM_AUTHORIZATION,
		                                  t->auth[i].created_ms,
		                                  t->processed_ms,
		                                  t->auth[i].expires_ms)), 0);
}

static int
count_ticket(void *arg, const char *id, struct ts_ticket *t, int err)
{
	struct count *c = arg;

	(void)id;
	if (t == NULL) {
		(void)err;
		c->damaged++;
		return 0;
	}
	c->tickets++;
	if (t->status >= 0 && t->status < TS_STATUS_COUNT)
		c->status[t->status]++;
	if (c->pol != NULL)
		count_due(c, t);
	ts_ticket_release(t);
	return 0;
}

/* A published count: a non-negative integer. */
static int
count_ok(json_t *j, const char *key)
{
	json_t *v = json_object_get(j, key);

	return json_is_integer(v) && json_integer_value(v) >= 0;
}

/* uid may have written the counters: root, the caller, or owner (the
 * directory store's owner, whom its daemon runs as; -1: none). */
static int
trusted(uid_t uid, uid_t owner)
{
	return uid == 0 || uid == geteuid() || uid == owner;
}

/*
 * The daemon's published counters for st (fs/stats.h), or NULL: only a
 * regular file of at most COUNTERS_MAX bytes, in a directory closed to
 * others, both of a trusted() uid (what the daemon writes: a file of
 * anyone else, or a FIFO that would block the open, is none), whose
 * counts are all there.
 */
static json_t *
daemon_counters(struct ts_store *st, const char *store, int64_t now)
{
	char name[TS_STORE_RUN_NAME_MAX], path[sizeof(TS_STORE_RUN_DIR) +
	                                       TS_STORE_RUN_NAME_MAX + 8];
	char buf[COUNTERS_MAX + 1];
	struct stat sb;
	json_t *j;
	json_int_t at;
	uid_t owner = (uid_t)-1;
	ssize_t n;
	int fd;

	if (ts_store_run_name(st, name) < 0)
		return NULL;
	if (stat(store, &sb) == 0 && S_ISDIR(sb.st_mode))
		owner = sb.st_uid;
	if (lstat(TS_STORE_RUN_DIR, &sb) < 0 || !S_ISDIR(sb.st_mode) ||
	    !trusted(sb.st_uid, owner) || (sb.st_mode & 022))
		return NULL;
	snprintf(path, sizeof(path), "%s/%s.stats", TS_STORE_RUN_DIR, name);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	               O_CLOEXEC)) < 0)
		return NULL;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    !trusted(sb.st_uid, owner) || sb.st_size > COUNTERS_MAX ||
	    (n = read(fd, buf, COUNTERS_MAX + 1)) < 0 || n > COUNTERS_MAX) {
		close(fd);
		return NULL;
	}
	close(fd);
	j = json_loadb(buf, (size_t)n, 0, NULL);
	at = json_integer_value(json_object_get(j, "updated_ms"));
	if (!json_is_object(j) || !json_is_integer(json_object_get(j,
	    "updated_ms")) || !count_ok(j, "requests") ||
	    !count_ok(j, "cache_hits") || !count_ok(j, "cache_misses") ||
	    now - at > STALE_MS || at - now > STALE_MS) {
		json_decref(j);
		return NULL;
	}
	return j;
}

int
ts_ctl_cmd_stats(int argc, char **argv)
{
	static const char usage[] =
		"usage: ticketctl stats STORE [--json] [--host NAME]\n"
		"Prints the store's tickets by status, the tickets and items\n"
		"(fields, messages, authorizations) the policy removes within\n"
		"the next hour and day, intake waiting and rejected, the audit\n"
		"trail's size and the age of its last signed checkpoint; if a\n"
		"daemon serves the store, the kernel requests it served and its\n"
		"value cache's hit rate.  Needs no key, takes no lock, changes\n"
		"nothing.  --json: one JSON object (keys: see README).  --host:\n"
		"a PostgreSQL store's host name whose daemon and checkpoint to\n"
		"show (default: this machine's).\n";
	static const struct option lo[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "host", required_argument, NULL, 'H' }, { 0 }
	};
	struct count c = { 0 };
	struct ts_store_stats ss;
	struct ts_policy pol;
	struct ts_store *st;
	const char *host = NULL;
	json_t *o, *status, *d = NULL, *due = json_null(), *cp_age;
	char *text, err[256];
	size_t len;
	int ch, rc, json = 0, mounted;

	while ((ch = ts_ctl_next_opt(argc, argv, lo, usage)) != -1)
		if (ch == 'j')
			json = 1;
		else
			host = optarg;
	if (argc - optind != 1)
		ts_ctl_bad_usage(usage);
	st = ts_ctl_open_store(argv[optind], TS_STORE_DAEMON);
	if (host != NULL && ts_store_set_host(st, host) < 0)
		ts_ctl_die("--host %s: not a host name", host);
	c.now = ts_now_ms();
	if (ts_store_policy_get(st, &text, &len) == 0) {
		if (ts_policy_parse(text, len, &pol, err, sizeof(err)) == 0)
			c.pol = &pol;
		free(text);
	}
	if ((rc = ts_store_load(st, count_ticket, &c)) < 0)
		ts_ctl_die("cannot read the tickets: %s", strerror(-rc));
	if ((rc = ts_store_stats(st, &ss)) < 0)
		ts_ctl_die("cannot read the store: %s", strerror(-rc));
	if ((mounted = ts_store_held(st)) < 0)
		ts_ctl_die("cannot tell whether a daemon serves the store: %s",
		    strerror(-mounted));
	if (mounted)
		d = daemon_counters(st, argv[optind], c.now);

	status = json_object();
	for (int i = 0; i < TS_STATUS_COUNT; i++)
		json_object_set_new(status, ts_status_names[i],
		                    json_integer((json_int_t)c.status[i]));
	if (c.pol != NULL)
		due = json_pack("{s:{s:I, s:I}, s:{s:I, s:I}, s:I}",
		        "hour", "tickets", (json_int_t)c.hour.tickets,
		                "items", (json_int_t)c.hour.items,
		        "day", "tickets", (json_int_t)c.day.tickets,
		                "items", (json_int_t)c.day.items,
		        "overdue", (json_int_t)c.overdue);
	cp_age = ss.checkpoint_ms > 0 ?
	         json_real((double)(c.now - ss.checkpoint_ms) / 1000.0) :
	         json_null();
	o = json_pack("{s:I, s:o, s:I, s:o, s:{s:I, s:I}, "
	              "s:{s:I, s:I, s:I, s:o}, s:b, s:o}",
	        "tickets", (json_int_t)c.tickets, "status", status,
	        "damaged", (json_int_t)c.damaged, "due", due,
	        "intake", "waiting", (json_int_t)ss.intake_waiting,
	                  "rejected", (json_int_t)ss.intake_rejected,
	        "trail", "bytes", (json_int_t)ss.trail_bytes,
	                 "last_seq", (json_int_t)ss.last_seq,
	                 "checkpoint_seq", (json_int_t)ss.checkpoint_seq,
	                 "checkpoint_age_s", cp_age,
	        "mounted", mounted,
	        "daemon", d ? json_pack("{s:O, s:O, s:O, s:O?, s:o}",
	                "requests", json_object_get(d, "requests"),
	                "cache_hits", json_object_get(d, "cache_hits"),
	                "cache_misses", json_object_get(d, "cache_misses"),
	                "db_statements", json_object_get(d, "db_statements"),
	                "cache_hit_rate",
	                json_integer_value(json_object_get(d, "cache_hits")) +
	                json_integer_value(json_object_get(d, "cache_misses")) > 0 ?
	                json_real((double)json_integer_value(json_object_get(d,
	                          "cache_hits")) /
	                          (double)(json_integer_value(json_object_get(d,
	                          "cache_hits")) + json_integer_value(
	                          json_object_get(d, "cache_misses")))) :
	                json_null()) : json_null());
	if (o == NULL)
		ts_ctl_die("out of memory");
	if (json) {
		if (json_dumpf(o, stdout, JSON_COMPACT) < 0)
			ts_ctl_die("cannot write the JSON output");
		putchar('\n');
	} else {
		json_t *dd = json_object_get(o, "daemon");

		printf("tickets: %llu (", (unsigned long long)c.tickets);
		for (int i = 0; i < TS_STATUS_COUNT; i++)
			printf("%s%s %llu", i ? ", " : "", ts_status_names[i],
			       (unsigned long long)c.status[i]);
		printf(")\n");
		if (c.damaged)
			printf("damaged records: %llu\n",
			       (unsigned long long)c.damaged);
		if (c.pol != NULL)
			printf("due within an hour: %llu tickets, %llu items; "
			       "within a day: %llu tickets, %llu items (%llu "
			       "overdue)\n",
			       (unsigned long long)c.hour.tickets,
			       (unsigned long long)c.hour.items,
			       (unsigned long long)c.day.tickets,
			       (unsigned long long)c.day.items,
			       (unsigned long long)c.overdue);
		else
			printf("due: unknown (the store's policy does not "
			       "parse)\n");
		printf("intake: %llu waiting, %llu rejected\n",
		       (unsigned long long)ss.intake_waiting,
		       (unsigned long long)ss.intake_rejected);
		if (ss.checkpoint_ms > 0)
			printf("audit trail: %llu bytes, last entry %llu, last "
			       "checkpoint at entry %llu, %.0f s ago\n",
			       (unsigned long long)ss.trail_bytes,
			       (unsigned long long)ss.last_seq,
			       (unsigned long long)ss.checkpoint_seq,
			       (double)(c.now - ss.checkpoint_ms) / 1000.0);
		else
			printf("audit trail: %llu bytes, last entry %llu, no "
			       "checkpoint\n", (unsigned long long)ss.trail_bytes,
			       (unsigned long long)ss.last_seq);
		if (!json_is_null(dd)) {
			json_t *hr = json_object_get(dd, "cache_hit_rate");

			printf("daemon: %lld requests served, value cache ",
			       (long long)json_integer_value(
			               json_object_get(dd, "requests")));
			if (json_is_null(hr))
				printf("not read yet\n");
			else
				printf("hit rate %.1f%% (%lld of %lld reads)\n",
				       100.0 * json_real_value(hr),
				       (long long)json_integer_value(
				               json_object_get(dd, "cache_hits")),
				       (long long)(json_integer_value(
				               json_object_get(dd, "cache_hits")) +
				               json_integer_value(json_object_get(dd,
				               "cache_misses"))));
			if (ts_store_shared(st))
				printf("daemon: %lld statements sent to the "
				       "database\n", (long long)
				       json_integer_value(json_object_get(dd,
				               "db_statements")));
		} else
			printf("daemon: %s\n", mounted ? "running, no counters "
			       "published" : "none (not mounted)");
	}
	json_decref(o);
	json_decref(d);
	ts_store_close(st);
	return 0;
}
