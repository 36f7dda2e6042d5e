/*
 * ctl_wait: ticketctl wait, until no ticketfs daemon holds the store
 * (after an unmount, once the daemon has written its last file).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "tools/ctl_common.h"
#include "tools/ctl_verbs.h"

int
ts_ctl_cmd_wait(int argc, char **argv)
{
	static const char usage[] =
		"usage: ticketctl wait STORE [--timeout SECONDS]\n"
		"Waits until no ticketfs daemon holds STORE: after\n"
		"`fusermount3 -u MOUNT`, it returns once the daemon has written\n"
		"its last file and exited, so the store may be copied or removed.\n"
		"Exit 0 then, at once if no daemon holds it; exit 1 if one still\n"
		"does after SECONDS (default: no limit).  STORE a URI: only the\n"
		"daemon of this machine's host name (not one given another\n"
		"-o hostname) is waited for.\n";
	static const struct option lo[] = {
		{ "timeout", required_argument, NULL, 't' }, { 0 }
	};
	struct ts_store *st;
	long timeout_ms = -1;
	int rc;

	while (ts_ctl_next_opt(argc, argv, lo, usage) == 't') {
		char *end;
		double sec = strtod(optarg, &end);

		if (end == optarg || *end != '\0' || !(sec >= 0) || sec > 1e6)
			ts_ctl_die("wait: bad --timeout \"%s\": give seconds, "
			    "0 to 1000000", optarg);
		timeout_ms = (long)(sec * 1000);
	}
	if (argc - optind != 1)
		ts_ctl_bad_usage(usage);
	st = ts_ctl_open_store(argv[optind], TS_STORE_INTAKE);
	rc = ts_store_wait_released(st, timeout_ms);
	ts_store_close(st);
	if (rc == -ETIMEDOUT) {
		fprintf(stderr, "ticketctl: store %s is still in use by a "
		        "ticketfs daemon\n", ts_ctl_store_shown(argv[optind]));
		return EXIT_FOUND;
	}
	if (rc < 0)
		ts_ctl_die("cannot wait for store %s: %s",
		    ts_ctl_store_shown(argv[optind]),
		    strerror(-rc));
	return 0;
}
