/*
 * ctl_rights: the verbs of a customer's rights over their own data, which
 * a front end runs with only the store's public key and write access to
 * its intake area: forget (the customer deleted their account) and erase
 * (the customer removes fields of a ticket, or the whole ticket).  The
 * daemon applies them when it takes them in (fs/rights.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/intake.h"
#include "store/record.h"
#include "store/seal.h"
#include "store/store.h"
#include "tools/ctl_common.h"
#include "tools/ctl_verbs.h"

int
ts_ctl_cmd_forget(int argc, char **argv)
{
	static const char usage[] =
		"usage: ticketctl forget [--client-ip ADDR] STORE USERNAME\n"
		"The customer deleted their account: once the daemon takes the\n"
		"request in, every ticket of USERNAME loses what the policy ties\n"
		"to `forgotten` (by default username, email and mobile).  An\n"
		"unknown user changes nothing.  USERNAME \"-\" reads it from stdin\n"
		"(one line), out of sight of ps.  It is sealed with the store's\n"
		"public key.  --client-ip: the customer's IPv4 or IPv6 address,\n"
		"for the audit trail only.\n";
	unsigned char pk[TS_SEAL_PKBYTES];
	char reqid[TS_NAME_MAX + 1], err[256];
	const char *ip = NULL;
	struct ts_store *st;
	uint8_t *rec;
	size_t reclen, len, inlen = 0;
	char *in = NULL, *name;
	int rc;

	while (ts_ctl_next_opt(argc, argv, ts_ctl_client_ip_opt, usage) != -1)
		ip = optarg;
	argc -= optind - 1;
	argv += optind - 1;
	if (argc != 3)
		ts_ctl_bad_usage(usage);
	ts_ctl_check_client_ip(ip);
	st = ts_ctl_open_intake(argv[1], pk);
	name = argv[2];
	if (strcmp(name, "-") == 0) {
		name = in = ts_ctl_read_input(NULL, &inlen);
		len = inlen;
		if (len > 0 && in[len - 1] == '\n')
			len--;
		if (memchr(in, '\n', len) != NULL)
			ts_ctl_die("the username on stdin holds more than one "
			    "line");
	} else {
		len = strlen(name);
	}
	ts_id_new(reqid);
	rc = ts_intake_forget(pk, reqid, name, len, &rec, &reclen, err,
	                      sizeof(err));
	sodium_memzero(name, len);	/* argv too: out of /proc/PID/cmdline */
	ts_ctl_wipe_free(in, inlen);
	if (rc == -EINVAL)
		ts_ctl_die("%s", err);
	if (rc < 0)
		ts_ctl_die("cannot seal the request: %s", strerror(-rc));
	ts_ctl_set_client_ip(&rec, &reclen, ip);
	ts_ctl_put_intake(st, TS_REC_FORGET, reqid, rec, reclen);
	ts_store_close(st);
	return 0;
}

int
ts_ctl_cmd_erase(int argc, char **argv)
{
	static const char usage[] =
		"usage: ticketctl erase [--client-ip ADDR] STORE ID [FIELD...]\n"
		"The customer erases FIELDs of ticket ID (email, mobile,\n"
		"confidential), or with no FIELD the whole ticket: gone from the\n"
		"mount and the store once the daemon takes the request in, as by\n"
		"an agent's rm.  --client-ip: the customer's IPv4 or IPv6\n"
		"address, for the audit trail only.\n";
	unsigned char pk[TS_SEAL_PKBYTES];
	const char *ip = NULL;
	char err[256];
	struct ts_store *st;
	uint8_t *rec;
	size_t reclen;
	uint32_t mask = 0;
	int rc;

	while (ts_ctl_next_opt(argc, argv, ts_ctl_client_ip_opt, usage) != -1)
		ip = optarg;
	argc -= optind - 1;
	argv += optind - 1;
	if (argc < 3)
		ts_ctl_bad_usage(usage);
	for (int i = 3; i < argc; i++) {
		int f = ts_field_lookup(argv[i]);

		if (f < 0 || !(TS_INTAKE_ERASABLE & 1u << f)) {
			fprintf(stderr, "ticketctl erase: unknown field \"%s\" "
			        "(email, mobile or confidential)\n", argv[i]);
			ts_ctl_bad_usage(usage);
		}
		mask |= 1u << f;
	}
	ts_ctl_check_client_ip(ip);
	if (!ts_id_valid(argv[2]))
		ts_ctl_die("invalid ticket id \"%s\"", argv[2]);
	st = ts_ctl_open_intake(argv[1], pk);
	rc = ts_intake_erase(argv[2], mask, &rec, &reclen, err, sizeof(err));
	if (rc == -EINVAL)
		ts_ctl_die("%s", err);
	if (rc < 0)
		ts_ctl_die("cannot encode the erasure: %s", strerror(-rc));
	ts_ctl_set_client_ip(&rec, &reclen, ip);
	ts_ctl_require_ticket(st, argv[2]);
	ts_ctl_put_intake(st, TS_REC_ERASE, argv[2], rec, reclen);
	ts_store_close(st);
	return 0;
}
