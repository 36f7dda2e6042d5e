/*
 * ctl_intake: the verbs a front end runs, with only the store's public
 * key and write access to its intake area: submit (one ticket or a JSON
 * Lines batch, sealed on every core while it is written), message,
 * authorize and revoke
 * (forget and erase are in ctl_rights.c); each takes --client-ip.
 * Nothing is written unless all of the input is good.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/intake.h"
#include "store/record.h"
#include "store/seal.h"
#include "store/store.h"
#include "tools/ctl_common.h"
#include "tools/ctl_verbs.h"
#include "tools/progress.h"

/* Seals one JSON ticket; on bad input prints why and returns NULL. */
static uint8_t *
seal_ticket(const unsigned char *pk, const char *id, const char *json,
            size_t len, size_t *reclen, const char *where)
{
	char err[256];
	uint8_t *rec;
	int rc;

	rc = ts_intake_ticket(pk, id, json, len, ts_now_ms(), &rec, reclen,
	                      err, sizeof(err));
	if (rc == -EINVAL) {
		fprintf(stderr, "ticketctl: %s%s\n", where, err);
		return NULL;
	}
	if (rc < 0)
		ts_ctl_die("cannot seal the ticket: %s", strerror(-rc));
	return rec;
}

/* A sealed ticket waiting to be dropped into intake. */
struct pending {
	char id[TS_NAME_MAX + 1];
	uint8_t *rec;
	size_t len;
};

/* One line of a batch, sealed by whichever worker takes it. */
struct batch_line {
	char *text;		/* the JSON; wiped once sealed */
	size_t len, lineno;
	char id[TS_NAME_MAX + 1];
	uint8_t *rec;		/* the record, or NULL */
	size_t reclen;
	int rc;			/* 0, -EINVAL (err says why), -errno */
	char err[256];
};

/* A chunk of lines, sealed in parallel. */
struct batch_chunk {
	const unsigned char *pk;
	const char *ip;		/* --client-ip, or NULL */
	struct batch_line v[512];
	size_t n;
	atomic_size_t next;	/* the next line to take */
};

static void *
seal_lines(void *arg)
{
	struct batch_chunk *c = arg;
	size_t i;

	while ((i = atomic_fetch_add(&c->next, 1)) < c->n) {
		struct batch_line *l = &c->v[i];

		l->rc = ts_intake_ticket(c->pk, l->id, l->text, l->len,
		                         ts_now_ms(), &l->rec, &l->reclen, l->err,
		                         sizeof(l->err));
		sodium_memzero(l->text, l->len);
		if (l->rc == 0 && c->ip != NULL)
			l->rc = ts_intake_set_client_ip(&l->rec, &l->reclen,
			                                c->ip, l->err,
			                                sizeof(l->err));
	}
	return NULL;
}

/* A batch under way: what is staged in the store, and the ids. */
struct batch_run {
	struct ts_store *st;
	struct ts_intake_batch *b;	/* NULL once a line was bad */
	char (*ids)[TS_NAME_MAX + 1];	/* of the staged tickets, in order */
	size_t n, cap;
	int bad;			/* lines rejected */
};

/* Drops what a batch staged (a store's temporaries), then dies. */
static void
batch_die(struct batch_run *r, const char *what, int rc)
{
	ts_store_intake_abort(r->b);
	r->b = NULL;
	ts_ctl_die("%s: %s", what, strerror(-rc));
}

/* Stages c's sealed records in input order (while no line was bad),
 * frees them and empties c. */
static void
stage_chunk(struct batch_run *r, struct batch_chunk *c)
{
	struct ts_intake_item items[sizeof(c->v) / sizeof(c->v[0])];
	size_t m = 0;
	int rc;

	for (size_t i = 0; i < c->n && r->b != NULL; i++) {
		if (c->v[i].rec == NULL)
			continue;
		items[m++] = (struct ts_intake_item){ TS_REC_TICKET, c->v[i].id,
		                                      c->v[i].rec,
		                                      c->v[i].reclen };
		if (r->n == r->cap) {
			r->cap = r->cap ? 2 * r->cap : 1024;
			if ((r->ids = realloc(r->ids, r->cap *
			                      sizeof(*r->ids))) == NULL)
				batch_die(r, "cannot stage the batch", -ENOMEM);
		}
		memcpy(r->ids[r->n++], c->v[i].id, sizeof(c->v[i].id));
	}
	if (m > 0 && (rc = ts_store_intake_add(r->b, items, m)) < 0)
		batch_die(r, "cannot write to the intake area", rc);
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i].rec);
	c->n = 0;
}

/*
 * Reads up to a chunk of lines of f into c (a NUL byte is told and
 * counted as bad at once; blank lines are skipped), each given its id in
 * input order.  Returns 0 at the end of the input.
 */
static int
read_chunk(FILE *f, struct batch_chunk *c, struct batch_run *r,
           size_t *lineno, char **line, size_t *linecap)
{
	const size_t max = sizeof(c->v) / sizeof(c->v[0]);
	ssize_t len = 0;

	c->n = 0;
	atomic_store(&c->next, 0);
	while (c->n < max && (len = getline(line, linecap, f)) >= 0) {
		(*lineno)++;
		if (len > 0 && (*line)[len - 1] == '\n')
			len--;
		if (memchr(*line, '\0', (size_t)len) != NULL) {
			fprintf(stderr, "ticketctl: line %zu: holds a NUL byte\n",
			        *lineno);
			r->bad++;
		} else if (strspn(*line, " \t\r") < (size_t)len) {
			struct batch_line *l = &c->v[c->n++];

			memset(l, 0, sizeof(*l));
			if ((l->text = malloc((size_t)len + 1)) == NULL)
				batch_die(r, "cannot read the batch", -ENOMEM);
			memcpy(l->text, *line, (size_t)len);
			l->text[len] = '\0';
			l->len = (size_t)len;
			l->lineno = *lineno;
			ts_id_new(l->id);	/* in input order */
		}
		sodium_memzero(*line, *linecap);
	}
	return len >= 0 || c->n > 0;
}

/*
 * A JSON Lines batch from path (NULL or "-": stdin), a chunk at a time:
 * while the workers seal one chunk on every core, this thread stages the
 * one before into the store (a batch: written, not yet intake), so the
 * writes overlap the sealing and only two chunks are ever held.  Every
 * bad line is told on stderr with its line number; after the first,
 * nothing more is staged and the batch is dropped at the end.  Returns
 * the number of bad lines; with none, r->b holds r->n staged tickets.
 */
static int
run_batch(const char *path, const unsigned char *pk, const char *ip,
          struct batch_run *r)
{
	FILE *f = path == NULL || strcmp(path, "-") == 0 ? stdin :
	          fopen(path, "re");
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	size_t nth = ncpu > 1 ? (size_t)(ncpu > 16 ? 16 : ncpu) : 1;
	struct batch_chunk *ch = calloc(2, sizeof(*ch)), *cur, *prev, *swap;
	size_t lineno = 0, linecap = 0;
	char *line = NULL;
	struct ts_progress *bar;
	struct stat sb;
	int rc;

	if (f == NULL) {
		char what[300];

		rc = -errno;
		snprintf(what, sizeof(what), "cannot open %s", path);
		batch_die(r, what, rc);
	}
	if (ch == NULL)
		batch_die(r, "cannot read the batch", -ENOMEM);
	if (fstat(fileno(f), &sb) < 0 || !S_ISREG(sb.st_mode))
		sb.st_size = 0;	/* a pipe: no total, no time left */
	bar = ts_progress_new("submit", TS_PROGRESS_COUNT);
	cur = &ch[0];
	prev = &ch[1];
	for (int i = 0; i < 2; i++) {
		ch[i].pk = pk;
		ch[i].ip = ip;
	}
	while (read_chunk(f, cur, r, &lineno, &line, &linecap)) {
		pthread_t th[16];

		for (size_t t = 0; t < nth; t++)
			if (pthread_create(&th[t], NULL, seal_lines, cur) != 0)
				batch_die(r, "cannot start a thread", -EAGAIN);
		stage_chunk(r, prev);
		for (size_t t = 0; t < nth; t++)
			pthread_join(th[t], NULL);
		for (size_t i = 0; i < cur->n; i++) {
			struct batch_line *l = &cur->v[i];

			free(l->text);
			if (l->rc == -EINVAL) {
				fprintf(stderr, "ticketctl: line %zu: %s\n",
				        l->lineno, l->err);
				r->bad++;
			} else if (l->rc < 0) {
				batch_die(r, "cannot seal the ticket", l->rc);
			}
		}
		if (r->bad > 0 && r->b != NULL) {
			ts_store_intake_abort(r->b);	/* nothing appears */
			r->b = NULL;
		}
		swap = prev;
		prev = cur;
		cur = swap;
		/* The total: the lines so far scaled by the bytes left. */
		ts_progress_update(bar, lineno, sb.st_size > 0 && ftello(f) > 0 ?
		                   (uint64_t)((double)lineno * sb.st_size /
		                              ftello(f)) : 0);
	}
	stage_chunk(r, prev);
	ts_progress_free(bar);
	rc = ferror(f) ? -errno : 0;
	if (f != stdin)
		fclose(f);
	if (rc < 0) {
		char what[300];

		snprintf(what, sizeof(what), "cannot read %s",
		         path ? path : "stdin");
		batch_die(r, what, rc);
	}
	free(line);
	free(ch);
	return r->bad;
}

int
ts_ctl_cmd_submit(int argc, char **argv)
{
	static const char usage[] =
		"usage: ticketctl submit [--batch] [--client-ip ADDR] STORE [FILE]\n"
		"Seals one ticket (a JSON object) from FILE or stdin with the\n"
		"store's public key and drops it into the intake area; prints its\n"
		"id.  With --batch, FILE holds JSON Lines, one ticket a line, and\n"
		"the ids are printed one a line.  If any ticket is rejected,\n"
		"nothing is written.  --client-ip: the customer's IPv4 or IPv6\n"
		"address, for the audit trail only (over a \"client_ip\" key).\n";
	static const struct option lo[] = {
		{ "batch", no_argument, NULL, 'b' },
		{ "client-ip", required_argument, NULL, 'i' }, { 0 }
	};
	unsigned char pk[TS_SEAL_PKBYTES];
	struct ts_store *st;
	const char *ip = NULL;
	int batch = 0, bad = 0, c;
	char *in;
	size_t inlen, n = 0;
	struct pending *v = NULL;

	while ((c = ts_ctl_next_opt(argc, argv, lo, usage)) != -1)
		if (c == 'b')
			batch = 1;
		else
			ip = optarg;
	argc -= optind - 1;	/* then argv[1] is STORE, as before */
	argv += optind - 1;
	if (argc < 2 || argc > 3)
		ts_ctl_bad_usage(usage);
	ts_ctl_check_client_ip(ip);
	st = ts_ctl_open_intake(argv[1], pk);
	if (!batch) {	/* one ticket */
		in = ts_ctl_read_input(argc == 3 ? argv[2] : NULL, &inlen);
		if (memchr(in, '\0', inlen) != NULL)
			ts_ctl_die("input holds a NUL byte");
		v = calloc(1, sizeof(*v));
		if (v == NULL)
			ts_ctl_die("out of memory");
		ts_id_new(v[0].id);
		v[0].rec = seal_ticket(pk, v[0].id, in, inlen, &v[0].len, "");
		bad = v[0].rec == NULL;
		n = 1;
		ts_ctl_wipe_free(in, inlen);
	} else {
		struct batch_run r = { st, NULL, NULL, 0, 0, 0 };
		size_t done;
		int rc;

		if ((rc = ts_store_intake_begin(st, &r.b)) < 0)
			ts_ctl_die("cannot write to the intake area: %s",
			    strerror(-rc));
		bad = run_batch(argc == 3 ? argv[2] : NULL, pk, ip, &r);
		if (r.n == 0 && !bad) {
			ts_store_intake_abort(r.b);
			ts_ctl_die("no ticket in the input");
		}
		if (!bad) {
			rc = ts_store_intake_commit(r.b, &done);
			/* What was submitted, even if the store failed midway. */
			for (size_t i = 0; i < done; i++)
				printf("%s\n", r.ids[i]);
			fflush(stdout);
			if (rc < 0)
				ts_ctl_die("cannot write to the intake area after "
				    "%zu of %zu tickets: %s", done, r.n,
				    strerror(-rc));
			free(r.ids);
			ts_store_close(st);
			return 0;
		}
		free(r.ids);
	}
	if (bad) {
		fprintf(stderr, "ticketctl: %d ticket%s rejected; nothing was "
		        "submitted\n", bad, bad == 1 ? "" : "s");
		exit(EXIT_USAGE);
	}
	{
		struct ts_intake_item *items = calloc(n, sizeof(*items));
		size_t done;
		int rc;

		if (items == NULL)
			ts_ctl_die("out of memory");
		for (size_t i = 0; i < n; i++) {
			ts_ctl_set_client_ip(&v[i].rec, &v[i].len, ip);
			items[i] = (struct ts_intake_item){ TS_REC_TICKET, v[i].id,
			                                    v[i].rec, v[i].len };
		}
		rc = ts_store_intake_put_many(st, items, n, &done);
		/* Print what was submitted, even when the store failed midway. */
		for (size_t i = 0; i < done; i++)
			printf("%s\n", v[i].id);
		fflush(stdout);
		if (rc < 0)
			ts_ctl_die("cannot write to the intake area after %zu "
			    "of %zu tickets: %s", done, n, strerror(-rc));
		for (size_t i = 0; i < n; i++)
			free(v[i].rec);
		free(items);
	}
	free(v);
	ts_store_close(st);
	return 0;
}

/*
 * message and authorize: one item for an existing ticket, from FILE or
 * stdin, sealed and dropped into intake; prints the item's new name.
 */
static int
add_item(int argc, char **argv, int kind, const char *usage)
{
	unsigned char pk[TS_SEAL_PKBYTES];
	char name[TS_NAME_MAX + 1], err[256];
	const char *what = kind == TS_REC_MESSAGE ? "message" : "authorization";
	const char *ip = NULL;
	struct ts_store *st;
	uint8_t *rec;
	size_t inlen, reclen;
	char *in;
	int rc;

	while (ts_ctl_next_opt(argc, argv, ts_ctl_client_ip_opt, usage) != -1)
		ip = optarg;
	argc -= optind - 1;
	argv += optind - 1;
	if (argc < 3 || argc > 4)
		ts_ctl_bad_usage(usage);
	ts_ctl_check_client_ip(ip);
	if (!ts_id_valid(argv[2]))
		ts_ctl_die("invalid ticket id \"%s\"", argv[2]);
	st = ts_ctl_open_intake(argv[1], pk);
	ts_ctl_require_ticket(st, argv[2]);
	in = ts_ctl_read_input(argc == 4 ? argv[3] : NULL, &inlen);
	ts_id_new(name);
	if (kind == TS_REC_MESSAGE)
		rc = ts_intake_message(pk, argv[2], name, in, inlen, ts_now_ms(),
		                       &rec, &reclen, err, sizeof(err));
	else
		rc = ts_intake_auth(pk, argv[2], name, in, inlen, ts_now_ms(),
		                    &rec, &reclen, err, sizeof(err));
	ts_ctl_wipe_free(in, inlen);
	if (rc == -EINVAL)
		ts_ctl_die("%s", err);
	if (rc < 0)
		ts_ctl_die("cannot seal the %s: %s", what, strerror(-rc));
	ts_ctl_set_client_ip(&rec, &reclen, ip);
	ts_ctl_put_intake(st, kind, argv[2], rec, reclen);
	printf("%s\n", name);
	ts_store_close(st);
	return 0;
}

int
ts_ctl_cmd_message(int argc, char **argv)
{
	return add_item(argc, argv, TS_REC_MESSAGE,
		"usage: ticketctl message [--client-ip ADDR] STORE ID [FILE]\n"
		"Adds a customer's message (UTF-8 text from FILE or stdin) to\n"
		"ticket ID; prints the message's name.  --client-ip: the\n"
		"customer's address, for the audit trail only.\n");
}

int
ts_ctl_cmd_authorize(int argc, char **argv)
{
	return add_item(argc, argv, TS_REC_AUTH,
		"usage: ticketctl authorize [--client-ip ADDR] STORE ID [FILE]\n"
		"Adds an authorization to ticket ID: a JSON object with account,\n"
		"password, expires (RFC 3339, in the future) and optionally\n"
		"resource and client_ip, from FILE or stdin.  Prints its name.\n"
		"--client-ip: the customer's address, for the audit trail only.\n");
}

int
ts_ctl_cmd_revoke(int argc, char **argv)
{
	static const char usage[] =
		"usage: ticketctl revoke [--client-ip ADDR] STORE ID NAME\n"
		"The customer cancels authorization NAME of ticket ID.\n"
		"--client-ip: the customer's address, for the audit trail only.\n";
	unsigned char pk[TS_SEAL_PKBYTES];
	const char *ip = NULL;
	char err[256];
	struct ts_store *st;
	uint8_t *rec;
	size_t reclen;
	int rc;

	while (ts_ctl_next_opt(argc, argv, ts_ctl_client_ip_opt, usage) != -1)
		ip = optarg;
	argc -= optind - 1;
	argv += optind - 1;
	if (argc != 4)
		ts_ctl_bad_usage(usage);
	ts_ctl_check_client_ip(ip);
	st = ts_ctl_open_intake(argv[1], pk);
	rc = ts_intake_revoke(argv[2], argv[3], &rec, &reclen, err, sizeof(err));
	if (rc == -EINVAL)
		ts_ctl_die("%s", err);
	if (rc < 0)
		ts_ctl_die("cannot encode the revocation: %s", strerror(-rc));
	ts_ctl_set_client_ip(&rec, &reclen, ip);
	ts_ctl_require_ticket(st, argv[2]);
	ts_ctl_put_intake(st, TS_REC_REVOKE, argv[2], rec, reclen);
	ts_store_close(st);
	return 0;
}
