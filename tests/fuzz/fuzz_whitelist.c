/*
 * fuzz_whitelist: libFuzzer target for the whitelist parser (fs/access.c),
 * which reads STORE/whitelist at mount and on every reload.
 *
 * Names and @groups resolve against this machine's user database, so what
 * parses depends on the machine; the invariants checked do not: a refusal
 * is -EINVAL with "line N: ..." in err; an accepted whitelist has, on each
 * line, nothing or exactly an entry and a role (checked by a tokenizer of
 * its own); its report of lines naming no existing user or group is ""
 * exactly when it skipped none, else starts "line N: " and fits
 * TS_ACCESS_WARN_MAX; it gives ACLs whose size does not depend on the buffer they
 * are written to, whose named entries are sorted by uid without
 * duplicates (the kernel refuses others) and name only uids that have a
 * role.
 *
 * Built by tests/fuzz/fuzz.cmake (libFuzzer) and tests/unit.cmake (replay).
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/access.h"
#include "store/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
die(const char *what)
{
	fprintf(stderr, "fuzz_whitelist: %s\n", what);
	abort();
}

/*
 * Checks the format of accepted text independently of the parser: after
 * '#' is cut, each line holds no word, or two of which the second is a
 * role.
 */
static void
check_format(const char *text, size_t len)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *w[3] = { NULL, NULL, NULL };
		size_t wl[3] = { 0, 0, 0 };
		int n = 0;

		while (p < end && *p != '\n' && *p != '#') {
			if (isspace((unsigned char)*p)) {
				p++;
				continue;
			}
			if (n < 3)
				w[n] = p;
			while (p < end && *p != '\n' && *p != '#' &&
			       !isspace((unsigned char)*p))
				p++;
			if (n < 3)
				wl[n] = (size_t)(p - w[n]);
			n++;
		}
		if (n != 0 && n != 2)
			die("a line without exactly an entry and a role "
			    "accepted");
		if (n == 2 && !(wl[1] == 5 && memcmp(w[1], "agent", 5) == 0) &&
		    !(wl[1] == 6 && memcmp(w[1], "reader", 6) == 0) &&
		    !(wl[1] == 7 && memcmp(w[1], "auditor", 7) == 0))
			die("a line with an unknown role accepted");
		while (p < end && *p != '\n')
			p++;
		p++;
	}
}

/* Checks the report of skipped lines against their count. */
static void
check_warnings(const struct ts_access *acc)
{
	const char *w = ts_access_warnings(acc);
	size_t len = strnlen(w, TS_ACCESS_WARN_MAX);

	if (len == TS_ACCESS_WARN_MAX)
		die("a report of skipped lines longer than TS_ACCESS_WARN_MAX");
	if ((len == 0) != (ts_access_skipped(acc) == 0))
		die("a report of skipped lines that does not match their count");
	if (len > 0 && strncmp(w, "line ", 5) != 0)
		die("a report of skipped lines without \"line N: \"");
}

/* Checks one ACL of acc, where callers with a role in roles get perm. */
static void
check_acl(const struct ts_access *acc, uid_t owner, unsigned roles,
          unsigned perm)
{
	size_t need, got, n = ts_access_count(acc);
	unsigned mode, mode2;
	uint8_t *buf;
	int64_t last = -1;

	need = ts_access_acl(acc, owner, roles, perm, NULL, 0, &mode);
	/* version, then user_obj, [named users, mask,] group_obj, other */
	if (need < 4 + 3 * 8 || (need - 4) % 8 != 0 || need > 4 + (n + 4) * 8)
		die("an ACL of an impossible size");
	if ((buf = malloc(need)) == NULL)
		die("out of memory");
	got = ts_access_acl(acc, owner, roles, perm, buf, need, &mode2);
	if (got != need || mode2 != mode)
		die("an ACL whose size or mode depends on the buffer");
	if (ts_le32_get(buf) != 2)
		die("an ACL without version 2");
	for (size_t at = 4; at < got; at += 8) {
		uint32_t id = ts_le32_get(buf + at + 4);

		if (ts_le16_get(buf + at) != 0x02)	/* ACL_USER */
			continue;
		if ((int64_t)id <= last)
			die("named ACL entries not sorted by uid, or repeated");
		last = id;
		if ((ts_access_roles(acc, id) & roles) == 0 || id == owner)
			die("an ACL entry for a uid without the role");
	}
	free(buf);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ts_access *acc = NULL;
	char err[256] = "", *text;
	int rc;

	/* Exactly size bytes, no NUL after them: the parser takes a length.
	 * (calloc: gcc cannot tell that memcpy fills it.) */
	if ((text = calloc(1, size)) == NULL)
		return 0;
	if (size > 0)
		memcpy(text, data, size);
	rc = ts_access_parse(text, size, &acc, err, sizeof(err));
	if (rc == 0) {
		check_format(text, size);
		check_warnings(acc);
		check_acl(acc, 0, TS_ROLE_ANY, 5);
		check_acl(acc, 1001, TS_RIGHT_SEALED, 4);
		check_acl(acc, 0, TS_RIGHT_WRITE, 7);
		check_acl(acc, 65534, TS_RIGHT_AUDIT, 4);
		ts_access_free(acc);
	} else if (rc == -EINVAL) {
		if (strncmp(err, "line ", 5) != 0 ||
		    memchr(err, '\0', sizeof(err)) == NULL)
			die("a refusal without \"line N: reason\"");
	} else if (rc != -ENOMEM) {
		die("neither 0, -EINVAL nor -ENOMEM");
	}
	free(text);
	return 0;
}
