/*
 * ctl_policy: the store-wide settings verbs: policy (print or set the
 * retention policy, one a store: STORE/policy, or a shared store's in the
 * database) and grant (a database role's privileges on a shared store).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fs/policy.h"
#include "store/pg_conn.h"
#include "store/pg_grant.h"
#include "store/store.h"
#include "tools/ctl_common.h"
#include "tools/ctl_verbs.h"

/* What the daemons' audit entries call a policy text (fs/config.c):
 * the hex of the first 6 bytes of its BLAKE2b-128. */
static void
policy_tag(const char *text, size_t len, char tag[13])
{
	unsigned char h[crypto_generichash_BYTES_MIN];

	crypto_generichash(h, sizeof(h), (const unsigned char *)text, len,
	                   NULL, 0);
	for (size_t i = 0; i < 6; i++)
		snprintf(tag + 2 * i, 3, "%02x", h[i]);
}

static int
policy_print(struct ts_store *st, const char *store)
{
	char *text;
	size_t len;
	int rc;

	if ((rc = ts_store_policy_get(st, &text, &len)) < 0)
		ts_ctl_die("cannot read the policy of %s: %s", store,
		    rc == -ENOENT ? "there is none" : strerror(-rc));
	if (fwrite(text, 1, len, stdout) != len || fflush(stdout) != 0)
		ts_ctl_die("cannot write the policy: %s", strerror(errno));
	free(text);
	return 0;
}

static int
policy_set(struct ts_store *st, const char *store, const char *file)
{
	struct ts_policy p;
	char err[512], tag[13], *text;
	size_t len;
	int rc;

	text = ts_ctl_read_input(file, &len);
	if (memchr(text, '\0', len) != NULL)
		ts_ctl_die("policy: %s holds a NUL byte", file);
	if (ts_policy_parse(text, len, &p, err, sizeof(err)) < 0)
		ts_ctl_die("policy: %s: %s; the policy is unchanged",
		    strcmp(file, "-") == 0 ? "stdin" : file, err);
	/* The daemon takes a last line without its newline for a file
	 * still being written: give it one. */
	if (len > 0 && text[len - 1] != '\n') {
		char *t = realloc(text, len + 2);

		if (t == NULL)
			ts_ctl_die("out of memory");
		text = t;
		text[len++] = '\n';
		text[len] = '\0';
	}
	if ((rc = ts_store_policy_set(st, text, len)) < 0)
		ts_ctl_die("cannot set the policy of %s: %s", store,
		    strerror(-rc));
	policy_tag(text, len, tag);
	printf("policy of %s set (policy %s); each daemon applies it within "
	       "a second, and its audit trail says so\n", store, tag);
	free(text);
	return 0;
}

int
ts_ctl_cmd_policy(int argc, char **argv)
{
	static const char usage[] =
		"usage: ticketctl policy STORE [FILE]\n"
		"Prints the store's retention policy; with FILE (- for\n"
		"stdin), checks it and makes it the store's policy\n"
		"(STORE/policy, or the database's for a URI): every daemon\n"
		"applies it within a second and audits it (op policy-reload,\n"
		"naming its hash).  A policy that does not parse is refused,\n"
		"naming the line, and nothing changes.\n";
	struct ts_store *st;
	const char *store;
	int rc;

	while (ts_ctl_next_opt(argc, argv, NULL, usage) != -1)
		;
	if (argc - optind < 1 || argc - optind > 2)
		ts_ctl_bad_usage(usage);
	store = argv[optind];
	st = ts_ctl_open_store(store, TS_STORE_INTAKE);
	rc = argc - optind == 1 ? policy_print(st, store) :
	     policy_set(st, store, argv[optind + 1]);
	ts_store_close(st);
	return rc;
}

int
ts_ctl_cmd_grant(int argc, char **argv)
{
	static const char usage[] =
		"usage: ticketctl grant STORE ROLE frontend|daemon\n"
		"Gives ROLE, an existing role of the database at STORE (a\n"
		"URI), exactly the privileges it needs, and no others it held\n"
		"on the store: frontend adds intake and reads the public key\n"
		"(submit, message, authorize, revoke, forget, erase); daemon\n"
		"reads and writes every table of the store (ticketfs).\n";
	enum ts_pg_role kind;
	const char *store, *role;
	char err[512];
	int rc;

	while (ts_ctl_next_opt(argc, argv, NULL, usage) != -1)
		;
	if (argc - optind != 3)
		ts_ctl_bad_usage(usage);
	store = argv[optind];
	role = argv[optind + 1];
	if (strcmp(argv[optind + 2], "frontend") == 0)
		kind = TS_PG_FRONTEND;
	else if (strcmp(argv[optind + 2], "daemon") == 0)
		kind = TS_PG_DAEMON;
	else
		ts_ctl_die("grant: \"%s\" is no kind of role: frontend or "
		    "daemon", argv[optind + 2]);
	if (!ts_pg_is_uri(store))
		ts_ctl_die("grant: %s is a directory store, which has no "
		    "database roles (its access is the directory's: front ends "
		    "need write access to STORE/intake and read access to "
		    "STORE/public.key)", store);
	if (role[0] == '\0')
		ts_ctl_die("grant: an empty role name");
	if ((rc = ts_pg_grant(store, role, kind, err, sizeof(err))) < 0)
		ts_ctl_die("grant: %s", err);
	printf("role %s granted what a %s needs\n", role, argv[optind + 2]);
	return 0;
}
