/*
 * check_main: the one way every unit suite runs: libsodium initialised,
 * the suite run with Check's normal output, exit status 1 on any failure.
 */
#ifndef TS_CHECK_MAIN_H
#define TS_CHECK_MAIN_H

#include <check.h>

#include "store/seal.h"

static inline int
ts_check_run(Suite *s)
{
	SRunner *sr;
	int failed;

	if (ts_seal_init() < 0)
		return 1;
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0;
}

#endif
