/*
 * fuzz_policy: libFuzzer target for the retention policy parser
 * (fs/policy.c), which reads STORE/policy at mount and on every reload.
 *
 * Checked beyond "no crash, no UB": a refusal is -EINVAL with
 * "line N: ..." in err and leaves *out untouched; an accepted policy has
 * well-formed rules (`expired` on authorizations only), and its deadlines
 * never come before an item's submission, and never later once the ticket
 * is processed than before.
 *
 * Built by tests/fuzz/fuzz.cmake (libFuzzer) and tests/unit.cmake (replay).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define T0 INT64_C(1767225600000)	/* 2026-01-01T00:00:00Z */
#define DAY INT64_C(86400000)

static void
die(const char *what)
{
	fprintf(stderr, "fuzz_policy: %s\n", what);
	abort();
}

static void
check_policy(const struct ts_policy *p)
{
	for (int i = 0; i < TS_ITEM_COUNT; i++) {
		const struct ts_rule *r = &p->rule[i];
		int64_t before, after, exp = T0 + 7 * DAY;

		if ((r->on_processed | r->on_expired) & ~1 ||
		    r->after_ms < -1 || r->after_processed_ms < -1)
			die("a malformed rule");
		if (r->on_expired && i != TS_ITEM_AUTHORIZATION)
			die("\"expired\" on an item other than authorization");
		before = ts_policy_deadline(p, (enum ts_item)i, T0, 0, exp);
		after = ts_policy_deadline(p, (enum ts_item)i, T0, T0 + DAY,
		                           exp);
		if (before < T0 || after < T0)
			die("a deadline before submission");
		if (after > before)
			die("processing put a deadline off");
		if (r->after_ms < 0 && !r->on_expired && before != TS_NEVER)
			die("a deadline without a rule");
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ts_policy p, orig;
	char err[256] = "", *text;
	int rc;

	/* Exactly size bytes, no NUL after them: the parser takes a length.
	 * (calloc: gcc cannot tell that memcpy fills it.) */
	if ((text = calloc(1, size)) == NULL)
		return 0;
	if (size > 0)
		memcpy(text, data, size);
	memset(&p, 0xa5, sizeof(p));
	orig = p;
	rc = ts_policy_parse(text, size, &p, err, sizeof(err));
	if (rc == 0) {
		check_policy(&p);
	} else if (rc == -EINVAL) {
		if (strncmp(err, "line ", 5) != 0 ||
		    memchr(err, '\0', sizeof(err)) == NULL)
			die("a refusal without \"line N: reason\"");
		if (memcmp(&p, &orig, sizeof(p)) != 0)
			die("a refused policy changed *out");
	} else {
		die("neither 0 nor -EINVAL");
	}
	free(text);
	return 0;
}
