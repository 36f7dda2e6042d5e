/*
 * ctl_common: the helpers every ticketctl verb shares (see ctl_common.h):
 * dying with a message, option parsing and usage errors, opening a
 * store, reading an input file whole.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/intake.h"
#include "store/pg_conn.h"
#include "store/seal.h"
#include "tools/ctl_common.h"

#define INPUT_MAX (256u << 20)

void
ts_ctl_die(const char *fmt, ...)
{
	va_list ap;

	fputs("ticketctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(EXIT_USAGE);
}

/* The synopsis of a verb's usage text (its usage: line and the indented
 * lines going on from it), on stderr; exits 2. */
void
ts_ctl_bad_usage(const char *usage)
{
	const char *end = usage;

	do
		end += strcspn(end, "\n") + 1;
	while (*end == ' ');
	fprintf(stderr, "%.*s", (int)(end - usage), usage);
	exit(EXIT_USAGE);
}

/*
 * The verb's next option (getopt_long over argv, argv[0] the verb), as
 * its long option's val; -1 when none is left (the operands are then
 * argv[optind..]).  -h/--help prints usage to stdout and exits 0; an
 * unknown option or a missing argument is told on stderr, exit 2.
 */
int
ts_ctl_next_opt(int argc, char **argv, const struct option *lo,
                const char *usage)
{
	static const struct option help = { "help", no_argument, NULL, 'h' };
	struct option all[8];
	size_t n = 0;
	int c;

	while (lo != NULL && lo[n].name != NULL && n < 6) {
		all[n] = lo[n];
		n++;
	}
	all[n++] = help;
	memset(&all[n], 0, sizeof(all[n]));
	opterr = 0;
	c = getopt_long(argc, argv, ":h", all, NULL);
	if (c == 'h') {
		fputs(usage, stdout);
		exit(0);
	}
	if (c == '?' || c == ':') {
		const char *arg = optopt && (optind < 1 ||
		                  strncmp(argv[optind - 1], "--", 2) != 0) ?
		                  NULL : argv[optind - 1];
		char one[3] = { '-', (char)optopt, '\0' };

		fprintf(stderr, "ticketctl %s: %s %s\n", argv[0],
		        c == '?' ? "unknown option" : "missing argument to",
		        arg != NULL ? arg : one);
		ts_ctl_bad_usage(usage);
	}
	return c;
}

/*
 * STORE as a message may show it: a directory as given; a libpq URI with
 * any password (user:PASSWORD@ or password=) replaced by "***".
 */
const char *
ts_ctl_store_shown(const char *path)
{
	static char out[1024];
	const char *p = path, *auth, *end, *at = NULL, *colon = NULL;
	size_t o = 0;

	if (!ts_pg_is_uri(path))
		return path;
	auth = strstr(path, "://") + 3;
	end = auth + strcspn(auth, "/?");
	for (const char *q = auth; q < end; q++)
		if (*q == '@')
			at = q;
	for (const char *q = auth; at != NULL && q < at && colon == NULL; q++)
		if (*q == ':')
			colon = q;
	while (*p != '\0' && o + 16 < sizeof(out)) {
		int param = p > end && (p[-1] == '?' || p[-1] == '&') &&
		            strncmp(p, "password=", 9) == 0;

		if (colon != NULL && p == colon + 1) {
			memcpy(out + o, "***", 3);
			o += 3;
			p = at;
		} else if (param) {
			memcpy(out + o, "password=***", 12);
			o += 12;
			p += 9 + strcspn(p + 9, "&");
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
	return out;
}

/* Opens the store at path or says why not (exit 2). */
struct ts_store *
ts_ctl_open_store(const char *path, enum ts_store_mode mode)
{
	struct ts_store *st;
	struct stat sb;
	char err[512] = "";
	int rc;

	if ((rc = ts_store_open_err(path, mode, &st, err, sizeof(err))) == 0)
		return st;
	if (rc == -ENOENT && !ts_pg_is_uri(path) && stat(path, &sb) == 0 &&
	    S_ISDIR(sb.st_mode))
		ts_ctl_die("%s: not a ticketfs store", path);
	ts_ctl_die("cannot open store %s: %s", ts_ctl_store_shown(path),
	    err[0] != '\0' ? err : strerror(-rc));
	return NULL;
}

/* Reads all of path (or stdin for NULL / "-"); the caller wipes it. */
char *
ts_ctl_read_input(const char *path, size_t *len)
{
	int fd = 0;
	size_t cap = 65536, n = 0;
	char *buf = malloc(cap + 1);

	if (buf == NULL)
		ts_ctl_die("out of memory");
	if (path != NULL && strcmp(path, "-") != 0 &&
	    (fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		ts_ctl_die("cannot open %s: %s", path, strerror(errno));
	for (;;) {
		ssize_t r;

		if (n == cap) {
			char *nb;

			if (cap >= INPUT_MAX)
				ts_ctl_die("input is over %u MiB",
				    INPUT_MAX >> 20);
			if ((nb = malloc(2 * cap + 1)) == NULL)
				ts_ctl_die("out of memory");
			memcpy(nb, buf, n);
			sodium_memzero(buf, cap);
			free(buf);
			buf = nb;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			ts_ctl_die("cannot read %s: %s", path ? path : "stdin",
			    strerror(errno));
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (fd > 0)
		close(fd);
	buf[n] = '\0';
	*len = n;
	return buf;
}

void
ts_ctl_wipe_free(char *buf, size_t len)
{
	if (buf != NULL)
		sodium_memzero(buf, len);
	free(buf);
}

const struct option ts_ctl_client_ip_opt[] = {
	{ "client-ip", required_argument, NULL, 'i' }, { 0 }
};

struct ts_store *
ts_ctl_open_intake(const char *path, unsigned char *pk)
{
	struct ts_store *st = ts_ctl_open_store(path, TS_STORE_INTAKE);
	int rc;

	if ((rc = ts_store_pubkey(st, pk)) < 0)
		ts_ctl_die("cannot read the public key of store %s: %s",
		    ts_ctl_store_shown(path), rc == -EINVAL ?
		    "not a ticketfs public key" : strerror(-rc));
	return st;
}

void
ts_ctl_put_intake(struct ts_store *st, int kind, const char *id, uint8_t *rec,
                  size_t len)
{
	int rc = ts_store_intake_put(st, kind, id, rec, len);

	free(rec);
	if (rc < 0)
		ts_ctl_die("cannot write to the intake area: %s",
		    strerror(-rc));
}

/* The ticket must exist (or be waiting in intake) for message & co. */
void
ts_ctl_require_ticket(struct ts_store *st, const char *id)
{
	int known = ts_store_ticket_known(st, id);

	if (known == 0)
		ts_ctl_die("no ticket %s in this store", id);
	if (known < 0)
		fprintf(stderr, "ticketctl: cannot check that ticket %s exists "
		        "(%s); the daemon will reject it if not\n", id,
		        strerror(-known));
}

void
ts_ctl_check_client_ip(const char *ip)
{
	char err[160];

	if (ip != NULL && ts_intake_client_ip_check(ip, err, sizeof(err)) < 0)
		ts_ctl_die("--client-ip: %s", err);
}

void
ts_ctl_set_client_ip(uint8_t **rec, size_t *len, const char *ip)
{
	char err[160];
	int rc = ts_intake_set_client_ip(rec, len, ip, err, sizeof(err));

	if (rc == -EINVAL)
		ts_ctl_die("--client-ip: %s", err);
	if (rc < 0)
		ts_ctl_die("cannot set the client's address: %s",
		    strerror(-rc));
}
