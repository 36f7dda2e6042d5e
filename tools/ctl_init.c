/*
 * ctl_init: ticketctl init, a new store (its public key, an empty
 * whitelist, the default policy) and the key file that goes with it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/audit.h"
#include "store/keyfile.h"
#include "store/pg_conn.h"
#include "store/seal.h"
#include "store/store.h"
#include "store/sysio.h"
#include "tools/ctl_common.h"
#include "tools/ctl_verbs.h"

static const char DEFAULT_POLICY[] =
	"# ticketfs retention policy: an item, then the events that remove it.\n"
	"# Events: processed, expired, N<unit> after submission,\n"
	"# processed+N<unit>, forgotten (the customer's account was deleted);\n"
	"# units s m h d.  audit: the age after which trail segments go.\n"
	"username       forgotten\n"
	"email          processed, 90d, forgotten\n"
	"mobile         processed, 90d, forgotten\n"
	"confidential   processed\n"
	"authorization  processed, expired\n"
	"ticket         processed+30d\n"
	"audit          365d\n";

/* Why ts_store_create(store) failed with rc, in words. */
static const char *
why_not(const char *store, int rc)
{
	static char err[512];
	struct ts_store *st;

	if (!ts_pg_is_uri(store))
		return rc == -EEXIST ? "it exists and is not empty" :
		       strerror(-rc);
	if (rc == -EEXIST)
		return "the database already holds a ticketfs store (or other "
		       "ts_* tables or functions); init makes a store only in "
		       "an empty database";
	/* The reason a connection failed (no such database, refused, a
	 * password wanted) is libpq's: an open says it. */
	err[0] = '\0';
	if (ts_store_open_err(store, TS_STORE_INTAKE, &st, err,
	                      sizeof(err)) == 0)
		ts_store_close(st);
	if (rc == -EACCES)
		return "permission denied (the role may not create tables)";
	return err[0] != '\0' && rc == -EIO ? err : strerror(-rc);
}

int
ts_ctl_cmd_init(int argc, char **argv)
{
	static const char usage[] =
		"usage: ticketctl init STORE KEYFILE [--passphrase-file F]\n"
		"Creates a new store (mode 0700) with its public key, an empty\n"
		"whitelist and the default policy, and writes the secret key to\n"
		"KEYFILE (mode 0600), wrapped with the passphrase if one is given.\n"
		"STORE a postgresql:// URI: the store's schema in that existing,\n"
		"empty database (refused if it holds one).\n";
	static const struct option lo[] = {
		{ "passphrase-file", required_argument, NULL, 'p' },
		{ "fss-epoch", required_argument, NULL, 'e' }, { 0 }
	};
	const char *passfile = NULL, *store, *keyfile;
	unsigned long fss_epoch = 0;	/* hidden, for tests: seconds */
	char seed[TS_AUDIT_SEED_MAX], *fss;
	int c;
	struct ts_seckey *key;
	char *text, *pass = NULL;
	size_t passlen = 0;
	int fd, rc;

	while ((c = ts_ctl_next_opt(argc, argv, lo, usage)) != -1) {
		if (c == 'p')
			passfile = optarg;
		else {
			char *end;

			errno = 0;
			fss_epoch = strtoul(optarg, &end, 10);
			if (errno || end == optarg || *end != '\0' ||
			    optarg[0] == '-' || fss_epoch == 0 ||
			    fss_epoch > 86400)
				ts_ctl_die("init: bad --fss-epoch \"%s\": give "
				    "seconds, 1 to 86400", optarg);
		}
	}
	if (argc - optind != 2)
		ts_ctl_bad_usage(usage);
	store = argv[optind];
	keyfile = argv[optind + 1];
	/* The sealing state goes beside the key: one of another key there
	 * is refused before anything is made. */
	if ((fss = malloc(strlen(keyfile) + 5)) == NULL)
		ts_ctl_die("out of memory");
	sprintf(fss, "%s.fss", keyfile);
	if (access(fss, F_OK) == 0)
		ts_ctl_die("%s exists (the audit sealing state of another key?): "
		    "move it aside first", fss);
	if (passfile != NULL) {
		char err[512];

		if (ts_keyfile_read_pass(passfile, &pass, &passlen, err,
		                         sizeof(err)) < 0)
			ts_ctl_die("%s", err);
		if (passlen == 0)
			ts_ctl_die("passphrase file %s holds an empty "
			    "passphrase", passfile);
	}
	if (ts_seal_keypair(&key) < 0)
		ts_ctl_die("cannot make a key pair");
	rc = ts_seal_seckey_encode(key, pass, passlen, &text);
	sodium_free(pass);
	if (rc < 0)
		ts_ctl_die("cannot encode the secret key: %s", strerror(-rc));
	fd = open(keyfile, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	          0600);
	if (fd < 0)
		ts_ctl_die("cannot create key file %s: %s", keyfile,
		    strerror(errno));
	rc = ts_sysio_write_all(fd, text, strlen(text));
	if (rc == 0)
		rc = ts_sysio_fsync(fd);
	close(fd);
	ts_ctl_wipe_free(text, strlen(text));
	if (rc == 0)
		rc = ts_store_create(store, ts_seal_seckey_pk(key),
		                     DEFAULT_POLICY);
	ts_seal_seckey_free(key);
	if (rc < 0) {
		unlink(keyfile);
		ts_ctl_die("cannot create store %s: %s",
		    ts_ctl_store_shown(store), why_not(store, rc));
	}
	printf("store %s created; secret key in %s\n",
	       ts_ctl_store_shown(store), keyfile);
	/* Forward-secure sealing from the start (store/audit.h). */
	if ((rc = ts_audit_fss_create(fss, (unsigned)fss_epoch, seed)) < 0)
		ts_ctl_die("cannot create the sealing state %s: %s", fss,
		    strerror(-rc));
	ts_ctl_print_seed(seed, fss);
	sodium_memzero(seed, sizeof(seed));
	free(fss);
	return 0;
}
