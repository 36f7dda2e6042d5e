/*
 * test_access: the whitelist (uids, user names, @groups, roles, comments,
 * errors naming their line, unknown names granting nothing and reported)
 * and the POSIX ACL xattr derived from it, checked entry by entry in the
 * kernel's format.
 */
#include <check.h>

#include "tests/check_main.h"
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/access.h"
#include "store/util.h"

/* Parses text, which must succeed. */
static struct ts_access *
parse_ok(const char *text)
{
	struct ts_access *acc = NULL;
	char err[256] = "";
	int rc = ts_access_parse(text, strlen(text), &acc, err, sizeof(err));

	ck_assert_msg(rc == 0, "refused (%d): %s", rc, err);
	ck_assert_ptr_nonnull(acc);
	return acc;
}

/* Parses text, which must fail with an error starting with prefix and
 * containing want. */
static void
parse_bad(const char *text, const char *prefix, const char *want)
{
	struct ts_access *acc = (struct ts_access *)&acc;
	char err[256] = "";
	int rc = ts_access_parse(text, strlen(text), &acc, err, sizeof(err));

	ck_assert_msg(rc == -EINVAL, "\"%s\": returned %d", text, rc);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
	              "\"%s\": error \"%s\" does not start \"%s\"", text, err,
	              prefix);
	ck_assert_msg(strstr(err, want) != NULL,
	              "\"%s\": error \"%s\" does not say \"%s\"", text, err,
	              want);
	ck_assert_ptr_eq(acc, (struct ts_access *)&acc);	/* untouched */
}

/* ---- parsing ---- */

START_TEST(uids)
{
	struct ts_access *acc = parse_ok("1001 agent\n2002 reader\n"
	                                 "3003 auditor\n0 reader\n");

	ck_assert_uint_eq(ts_access_count(acc), 4);
	ck_assert_uint_eq(ts_access_roles(acc, 1001), TS_ROLE_AGENT);
	ck_assert_uint_eq(ts_access_roles(acc, 2002), TS_ROLE_READER);
	ck_assert_uint_eq(ts_access_roles(acc, 3003), TS_ROLE_AUDITOR);
	ck_assert_uint_eq(ts_access_roles(acc, 0), TS_ROLE_READER);
	/* Not listed: no role. */
	ck_assert_uint_eq(ts_access_roles(acc, 1), 0);
	ck_assert_uint_eq(ts_access_roles(acc, 1000), 0);
	ck_assert_uint_eq(ts_access_roles(acc, 1002), 0);
	ck_assert_uint_eq(ts_access_roles(acc, 65534), 0);
	ck_assert_uint_eq(ts_access_roles(acc, (uid_t)-1), 0);
	ts_access_free(acc);
	ts_access_free(NULL);	/* NULL is fine */
}
END_TEST

START_TEST(rights_of_roles)
{
	/* SPEC's table, as the masks fs/ tests against. */
	ck_assert(TS_RIGHT_LIST & TS_ROLE_AUDITOR);
	ck_assert(TS_RIGHT_LIST & TS_ROLE_READER);
	ck_assert(TS_RIGHT_LIST & TS_ROLE_AGENT);
	ck_assert(!(TS_RIGHT_SEALED & TS_ROLE_AUDITOR));
	ck_assert(TS_RIGHT_SEALED & TS_ROLE_READER);
	ck_assert(TS_RIGHT_SEALED & TS_ROLE_AGENT);
	ck_assert(!(TS_RIGHT_WRITE & (TS_ROLE_READER | TS_ROLE_AUDITOR)));
	ck_assert(TS_RIGHT_WRITE & TS_ROLE_AGENT);
	ck_assert(!(TS_RIGHT_AUDIT & (TS_ROLE_READER | TS_ROLE_AGENT)));
	ck_assert(TS_RIGHT_AUDIT & TS_ROLE_AUDITOR);
}
END_TEST

START_TEST(user_names)
{
	struct passwd *pw = getpwnam("nobody");
	uid_t nobody;
	struct ts_access *acc;

	ck_assert_msg(pw != NULL, "this system has no user \"nobody\"");
	nobody = pw->pw_uid;
	ck_assert_uint_ne(nobody, 0);
	acc = parse_ok("root reader\nnobody auditor\n");
	ck_assert_uint_eq(ts_access_count(acc), 2);
	ck_assert_uint_eq(ts_access_roles(acc, 0), TS_ROLE_READER);
	ck_assert_uint_eq(ts_access_roles(acc, nobody), TS_ROLE_AUDITOR);
	ts_access_free(acc);
}
END_TEST

/* The uids @name must give: listed members and primary members. */
static size_t
group_uids(const char *name, uid_t *out, size_t max)
{
	struct group *gr = getgrnam(name);
	struct passwd *pw;
	size_t n = 0;
	gid_t gid;
	char **mem;

	ck_assert_ptr_nonnull(gr);
	gid = gr->gr_gid;
	/* Copy the member names: getpw* may reuse getgrnam's buffers. */
	for (mem = gr->gr_mem; *mem != NULL; mem++)
		;
	{
		size_t nm = (size_t)(mem - gr->gr_mem);
		char **names = calloc(nm + 1, sizeof(*names));

		for (size_t i = 0; i < nm; i++)
			names[i] = strdup(gr->gr_mem[i]);
		for (size_t i = 0; i < nm; i++) {
			pw = getpwnam(names[i]);
			if (pw != NULL && n < max)
				out[n++] = pw->pw_uid;
			free(names[i]);
		}
		free(names);
	}
	setpwent();
	while ((pw = getpwent()) != NULL)
		if (pw->pw_gid == gid && n < max)
			out[n++] = pw->pw_uid;
	endpwent();
	/* Distinct. */
	for (size_t i = 0; i < n; i++)
		for (size_t j = i + 1; j < n;)
			if (out[j] == out[i])
				out[j] = out[--n];
			else
				j++;
	return n;
}

START_TEST(groups)
{
	uid_t want[256];
	size_t n;
	struct ts_access *acc;

	ck_assert_msg(getgrnam("root") != NULL, "no group \"root\"");
	n = group_uids("root", want, 256);
	ck_assert_uint_ge(n, 1);	/* root's primary group */
	acc = parse_ok("@root agent\n");
	ck_assert_uint_eq(ts_access_count(acc), n);
	ck_assert_uint_eq(ts_access_roles(acc, 0), TS_ROLE_AGENT);
	for (size_t i = 0; i < n; i++)
		ck_assert_uint_eq(ts_access_roles(acc, want[i]), TS_ROLE_AGENT);
	ts_access_free(acc);

	/* A group and a user entry for the same uid: the union. */
	acc = parse_ok("@root reader\nroot auditor\n");
	ck_assert_uint_eq(ts_access_roles(acc, 0),
	                  TS_ROLE_READER | TS_ROLE_AUDITOR);
	ts_access_free(acc);

	/* nobody's primary group, when the system has one by name. */
	{
		struct passwd *pw = getpwnam("nobody");
		struct group *gr = pw ? getgrgid(pw->pw_gid) : NULL;
		char line[300];
		uid_t nobody;

		if (gr != NULL) {
			nobody = pw->pw_uid;
			snprintf(line, sizeof(line), "@%s reader\n", gr->gr_name);
			acc = parse_ok(line);
			ck_assert_uint_eq(ts_access_roles(acc, nobody),
			                  TS_ROLE_READER);
			ck_assert_uint_eq(ts_access_roles(acc, 0), 0);
			ts_access_free(acc);
		}
	}
}
END_TEST

START_TEST(roles_union)
{
	struct ts_access *acc = parse_ok("1001 reader\n2002 agent\n"
	                                 "1001 agent\n1001 reader\n0 auditor\n"
	                                 "root agent\n");

	ck_assert_uint_eq(ts_access_count(acc), 3);
	ck_assert_uint_eq(ts_access_roles(acc, 1001),
	                  TS_ROLE_READER | TS_ROLE_AGENT);
	ck_assert_uint_eq(ts_access_roles(acc, 2002), TS_ROLE_AGENT);
	ck_assert_uint_eq(ts_access_roles(acc, 0),
	                  TS_ROLE_AUDITOR | TS_ROLE_AGENT);
	ts_access_free(acc);
}
END_TEST

START_TEST(comments_and_blanks)
{
	struct ts_access *acc = parse_ok(
		"# ticketfs whitelist\n"
		"\n"
		"   \n"
		"\t\n"
		"1001 agent   # the first agent\n"
		"\t2002\treader\t\n"
		"#1003 agent\n"
		"  # 1004 agent\n"
		"1005 auditor#no space before the comment\n"
		"1006 reader\r\n"
		"1007 agent");	/* no final newline */

	ck_assert_uint_eq(ts_access_count(acc), 5);
	ck_assert_uint_eq(ts_access_roles(acc, 1001), TS_ROLE_AGENT);
	ck_assert_uint_eq(ts_access_roles(acc, 2002), TS_ROLE_READER);
	ck_assert_uint_eq(ts_access_roles(acc, 1003), 0);
	ck_assert_uint_eq(ts_access_roles(acc, 1004), 0);
	ck_assert_uint_eq(ts_access_roles(acc, 1005), TS_ROLE_AUDITOR);
	ck_assert_uint_eq(ts_access_roles(acc, 1006), TS_ROLE_READER);
	ck_assert_uint_eq(ts_access_roles(acc, 1007), TS_ROLE_AGENT);
	ts_access_free(acc);
}
END_TEST

START_TEST(empty_whitelist)
{
	struct ts_access *acc = parse_ok("");

	ck_assert_uint_eq(ts_access_count(acc), 0);
	ck_assert_uint_eq(ts_access_roles(acc, 0), 0);
	ts_access_free(acc);
	acc = parse_ok("# nobody yet\n\n");
	ck_assert_uint_eq(ts_access_count(acc), 0);
	ts_access_free(acc);
}
END_TEST

START_TEST(many_entries)
{
	/* Past the first growth of the table, in descending order. */
	char *text = malloc(64 * 1000), *p = text;
	struct ts_access *acc;

	for (int i = 999; i >= 0; i--)
		p += sprintf(p, "%d %s\n", 10000 + i,
		             i % 3 == 0 ? "reader" : "agent");
	acc = parse_ok(text);
	ck_assert_uint_eq(ts_access_count(acc), 1000);
	for (int i = 0; i < 1000; i++)
		ck_assert_uint_eq(ts_access_roles(acc, (uid_t)(10000 + i)),
		                  i % 3 == 0 ? TS_ROLE_READER : TS_ROLE_AGENT);
	ck_assert_uint_eq(ts_access_roles(acc, 9999), 0);
	ck_assert_uint_eq(ts_access_roles(acc, 11000), 0);
	ts_access_free(acc);
	free(text);
}
END_TEST

START_TEST(errors_name_the_line)
{
	char longline[700];

	parse_bad("1001 agent\n\n1002 boss\n", "line 3: ", "unknown role "
	          "\"boss\"");
	parse_bad("1001 Agent\n", "line 1: ", "unknown role");
	parse_bad("1001 agent\n1002 reader\n\n1003\n", "line 4: ", "no role");
	parse_bad("1003 # agent\n", "line 1: ", "no role");
	parse_bad("1001 agent\n1002 reader auditor\n", "line 2: ",
	          "unexpected \"auditor\"");
	parse_bad("1001 agent x\n", "line 1: ", "unexpected");
	/* A line that does not parse refuses the file even after lines
	 * that only name unknown users. */
	parse_bad("no-such-user-here reader\n@no-such-group-here agent\n"
	          "1001 boss\n", "line 3: ", "unknown role");
	/* A NUL byte anywhere, and an overlong line. */
	{
		static const char nul[] = "1001 agent\n10\0002 reader\n";
		struct ts_access *acc = NULL;
		char err[128] = "";

		ck_assert_int_eq(ts_access_parse(nul, sizeof(nul) - 1, &acc, err,
		                                 sizeof(err)), -EINVAL);
		ck_assert_ptr_nonnull(strstr(err, "NUL"));
		ck_assert_ptr_null(acc);
	}
	memset(longline, ' ', sizeof(longline));
	memcpy(longline, "1001 agent\n1002 reader ", 23);
	longline[sizeof(longline) - 1] = '\0';
	parse_bad(longline, "line 2: ", "too long");
}
END_TEST

/* Parses text, which must succeed with want skipped lines and exactly
 * the warnings warn. */
static struct ts_access *
parse_skipping(const char *text, size_t want, const char *warn)
{
	struct ts_access *acc = parse_ok(text);

	ck_assert_uint_eq(ts_access_skipped(acc), want);
	ck_assert_str_eq(ts_access_warnings(acc), warn);
	return acc;
}

START_TEST(unknown_names_grant_nothing)
{
	struct ts_access *acc;

	/* The rest of the file applies; each unknown name is reported. */
	acc = parse_skipping("# c\n1001 agent\nno-such-user-here reader\n"
	                     "@no-such-group-here agent\nroot auditor\n"
	                     "1002 reader\n", 2,
	                     "line 3: no such user \"no-such-user-here\"; "
	                     "line 4: no such group \"no-such-group-here\"");
	ck_assert_uint_eq(ts_access_count(acc), 3);
	ck_assert_uint_eq(ts_access_roles(acc, 1001), TS_ROLE_AGENT);
	ck_assert_uint_eq(ts_access_roles(acc, 1002), TS_ROLE_READER);
	ck_assert_uint_eq(ts_access_roles(acc, 0), TS_ROLE_AUDITOR);
	ts_access_free(acc);
	/* Only unknown names: a whitelist that grants nothing. */
	acc = parse_skipping("no-such-user-here agent\n", 1,
	                     "line 1: no such user \"no-such-user-here\"");
	ck_assert_uint_eq(ts_access_count(acc), 0);
	ts_access_free(acc);
	/* Not a uid: taken as a name, which does not exist. */
	acc = parse_skipping("-1 agent\n12abc agent\n4294967295 agent\n"
	                     "@ agent\n", 4, "line 1: no such user \"-1\"; "
	                     "line 2: no such user \"12abc\"; line 3: no such "
	                     "user \"4294967295\"; line 4: no such group \"\"");
	ck_assert_uint_eq(ts_access_count(acc), 0);
	ck_assert_uint_eq(ts_access_roles(acc, (uid_t)-1), 0);
	ts_access_free(acc);
	/* A clean file reports nothing. */
	acc = parse_skipping("1001 agent\n", 0, "");
	ts_access_free(acc);
}
END_TEST

START_TEST(unknown_names_report_bounded)
{
	char text[64 * 200], name[201], *p = text, line[300];
	struct ts_access *acc;
	const char *w;

	/* 200 unknown names and one uid: all counted, the report cut. */
	for (int i = 0; i < 200; i++)
		p += sprintf(p, "no-such-user-%03d reader\n", i);
	strcpy(p, "1001 agent\n");
	acc = parse_ok(text);
	ck_assert_uint_eq(ts_access_skipped(acc), 200);
	ck_assert_uint_eq(ts_access_count(acc), 1);
	ck_assert_uint_eq(ts_access_roles(acc, 1001), TS_ROLE_AGENT);
	w = ts_access_warnings(acc);
	ck_assert_uint_lt(strlen(w), TS_ACCESS_WARN_MAX);
	ck_assert_msg(strncmp(w, "line 1: no such user \"no-such-user-000\"; "
	              "line 2: ", 48) == 0, "report starts \"%s\"", w);
	ck_assert_msg(strlen(w) > 5 && strcmp(w + strlen(w) - 5, "; ...") == 0,
	              "report \"%s\" does not end in \"; ...\"", w);
	ts_access_free(acc);
	/* A long name is shown cut at 64 bytes. */
	memset(name, 'x', 200);
	name[200] = '\0';
	snprintf(line, sizeof(line), "%s reader\n", name);
	acc = parse_ok(line);
	w = ts_access_warnings(acc);
	ck_assert_uint_eq(strlen(w), strlen("line 1: no such user \"\"...") + 64);
	ck_assert_str_eq(w + strlen(w) - 5, "x...\"");
	ts_access_free(acc);
}
END_TEST

START_TEST(error_fits_small_buffer)
{
	struct ts_access *acc = NULL;
	char err[16];

	memset(err, 'Z', sizeof(err));
	ck_assert_int_eq(ts_access_parse("1 boss\n", 7, &acc, err, 10),
	                 -EINVAL);
	ck_assert_uint_eq(strlen(err), 9);
	ck_assert_int_eq(err[10], 'Z');
	ck_assert_str_eq(err, "line 1: u");
}
END_TEST

/* ---- ACLs ---- */

enum {
	ACL_USER_OBJ = 0x01,
	ACL_USER = 0x02,
	ACL_GROUP_OBJ = 0x04,
	ACL_MASK = 0x10,
	ACL_OTHER = 0x20,
	ACL_UNDEF = -1,
};

struct entry {
	unsigned tag, perm;
	uint32_t id;
};

/*
 * The owner gets the union of what the named users get (fs/access.c): the
 * USER_OBJ entry and the mode's owner bits the tables below give for the
 * owner's own roles, widened so.
 */
static unsigned
owner_union(const struct entry *want, size_t n)
{
	unsigned u = 0;

	for (size_t i = 0; i < n; i++)
		if (want[i].tag == ACL_USER)
			u |= want[i].perm;
	return u;
}

/* Builds the ACL and checks it is exactly `want` (n entries). */
static void
check_acl(const struct ts_access *acc, uid_t owner, unsigned roles,
          unsigned perm, const struct entry *want, size_t n,
          unsigned want_mode)
{
	uint8_t buf[1024];
	unsigned mode = 0xdead;
	size_t len, sized;

	memset(buf, 0xee, sizeof(buf));
	sized = ts_access_acl(acc, owner, roles, perm, NULL, 0, &mode);
	len = ts_access_acl(acc, owner, roles, perm, buf, sizeof(buf), &mode);
	ck_assert_uint_eq(sized, len);
	ck_assert_uint_eq(len, 4 + 8 * n);
	ck_assert_uint_eq(ts_le32_get(buf), 2);	/* POSIX_ACL_XATTR_VERSION */
	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = buf + 4 + 8 * i;

		ck_assert_msg(ts_le16_get(e) == want[i].tag,
		              "entry %zu: tag 0x%x, want 0x%x", i,
		              ts_le16_get(e), want[i].tag);
		unsigned wp = want[i].perm | (want[i].tag == ACL_USER_OBJ ?
		                              owner_union(want, n) : 0);

		ck_assert_msg(ts_le16_get(e + 2) == wp,
		              "entry %zu: perm %o, want %o", i,
		              ts_le16_get(e + 2), wp);
		ck_assert_msg(ts_le32_get(e + 4) == want[i].id,
		              "entry %zu: id %u, want %u", i,
		              ts_le32_get(e + 4), want[i].id);
	}
	ck_assert_int_eq(buf[len], 0xee);	/* nothing past the end */
	want_mode |= owner_union(want, n) << 6;
	ck_assert_msg(mode == want_mode, "mode %03o, want %03o", mode,
	              want_mode);
}

#define U (uint32_t)ACL_UNDEF

START_TEST(acl_named_users_sorted)
{
	/* Listed out of order; only readers and agents get the bits. */
	struct ts_access *acc = parse_ok("2000 reader\n1003 auditor\n"
	                                 "500 agent\n1001 reader\n2000 agent\n"
	                                 "1002 agent\n");
	const struct entry want[] = {
		{ ACL_USER_OBJ, 0, U },
		{ ACL_USER, 4, 500 },
		{ ACL_USER, 4, 1001 },
		{ ACL_USER, 4, 1002 },
		{ ACL_USER, 4, 2000 },
		{ ACL_GROUP_OBJ, 0, U },
		{ ACL_MASK, 4, U },
		{ ACL_OTHER, 0, U },
	};

	check_acl(acc, 4242, TS_RIGHT_SEALED, 4, want, 8, 0040);
	ts_access_free(acc);
}
END_TEST

START_TEST(acl_owner_listed)
{
	/* The owner's rights go to USER_OBJ, never to a named entry. */
	struct ts_access *acc = parse_ok("1002 agent\n1001 reader\n0 agent\n");
	const struct entry want[] = {
		{ ACL_USER_OBJ, 6, U },
		{ ACL_USER, 6, 1002 },
		{ ACL_GROUP_OBJ, 0, U },
		{ ACL_MASK, 6, U },
		{ ACL_OTHER, 0, U },
	};
	const struct entry only_owner[] = {
		{ ACL_USER_OBJ, 5, U },
		{ ACL_GROUP_OBJ, 0, U },
		{ ACL_OTHER, 0, U },
	};

	check_acl(acc, 0, TS_RIGHT_WRITE, 6, want, 5, 0660);
	ts_access_free(acc);
	/* The owner the only one with the role: no named users, no mask. */
	acc = parse_ok("0 agent\n1001 reader\n");
	check_acl(acc, 0, TS_RIGHT_WRITE, 5, only_owner, 3, 0500);
	ts_access_free(acc);
}
END_TEST

START_TEST(acl_roles_select)
{
	struct ts_access *acc = parse_ok("1001 reader\n1002 agent\n"
	                                 "1003 auditor\n1004 auditor\n");
	const struct entry audit[] = {
		{ ACL_USER_OBJ, 0, U },
		{ ACL_USER, 4, 1003 },
		{ ACL_USER, 4, 1004 },
		{ ACL_GROUP_OBJ, 0, U },
		{ ACL_MASK, 4, U },
		{ ACL_OTHER, 0, U },
	};
	const struct entry list[] = {
		{ ACL_USER_OBJ, 0, U },
		{ ACL_USER, 5, 1001 },
		{ ACL_USER, 5, 1002 },
		{ ACL_USER, 5, 1003 },
		{ ACL_USER, 5, 1004 },
		{ ACL_GROUP_OBJ, 0, U },
		{ ACL_MASK, 5, U },
		{ ACL_OTHER, 0, U },
	};

	check_acl(acc, 0, TS_RIGHT_AUDIT, 4, audit, 6, 0040);
	check_acl(acc, 0, TS_RIGHT_LIST, 5, list, 8, 0050);
	ts_access_free(acc);
}
END_TEST

START_TEST(acl_nobody_matches)
{
	/* No uid with the role: no USER entries and no MASK; nobody but
	 * (if listed) the owner gets anything. */
	struct ts_access *acc = parse_ok("1001 reader\n");
	const struct entry want[] = {
		{ ACL_USER_OBJ, 0, U },
		{ ACL_GROUP_OBJ, 0, U },
		{ ACL_OTHER, 0, U },
	};

	check_acl(acc, 0, TS_RIGHT_AUDIT, 4, want, 3, 0);
	ts_access_free(acc);
	acc = parse_ok("");
	check_acl(acc, 0, TS_RIGHT_LIST, 5, want, 3, 0);
	ts_access_free(acc);
}
END_TEST

START_TEST(null_is_the_empty_whitelist)
{
	const struct entry want[] = {
		{ ACL_USER_OBJ, 0, U },
		{ ACL_GROUP_OBJ, 0, U },
		{ ACL_OTHER, 0, U },
	};

	ck_assert_uint_eq(ts_access_roles(NULL, 0), 0);
	ck_assert_uint_eq(ts_access_roles(NULL, 1001), 0);
	ck_assert_uint_eq(ts_access_count(NULL), 0);
	ck_assert_uint_eq(ts_access_skipped(NULL), 0);
	ck_assert_str_eq(ts_access_warnings(NULL), "");
	check_acl(NULL, 0, TS_RIGHT_LIST, 5, want, 3, 0);
	ts_access_free(NULL);
}
END_TEST

/* check_acl for ts_access_acl_roles. */
static void
check_acl_roles(const struct ts_access *acc, uid_t owner,
                const unsigned by_role[3], const struct entry *want, size_t n,
                unsigned want_mode)
{
	uint8_t buf[1024];
	unsigned mode = 0xdead;
	size_t len;

	memset(buf, 0xee, sizeof(buf));
	ck_assert_uint_eq(ts_access_acl_roles(acc, owner, by_role, NULL, 0,
	                                      &mode), 4 + 8 * n);
	len = ts_access_acl_roles(acc, owner, by_role, buf, sizeof(buf), &mode);
	ck_assert_uint_eq(len, 4 + 8 * n);
	ck_assert_uint_eq(ts_le32_get(buf), 2);
	for (size_t i = 0; i < n; i++) {
		const uint8_t *e = buf + 4 + 8 * i;

		unsigned wp = want[i].perm | (want[i].tag == ACL_USER_OBJ ?
		                              owner_union(want, n) : 0);

		ck_assert_msg(ts_le16_get(e) == want[i].tag &&
		              ts_le16_get(e + 2) == wp &&
		              ts_le32_get(e + 4) == want[i].id,
		              "entry %zu: 0x%x %o %u, want 0x%x %o %u", i,
		              ts_le16_get(e), ts_le16_get(e + 2),
		              ts_le32_get(e + 4), want[i].tag, wp,
		              want[i].id);
	}
	ck_assert_int_eq(buf[len], 0xee);
	want_mode |= owner_union(want, n) << 6;
	ck_assert_msg(mode == want_mode, "mode %03o, want %03o", mode,
	              want_mode);
}

START_TEST(acl_bits_per_role)
{
	/* Each caller gets the union of its roles' bits; the mask (and so
	 * the group bits of the mode) the union of the named entries. */
	struct ts_access *acc = parse_ok("1001 reader\n1002 agent\n"
	                                 "1003 auditor\n1004 reader\n"
	                                 "1004 auditor\n0 auditor\n");
	static const unsigned rw_agents[3] = { 4, 6, 0 };
	static const unsigned all_read[3] = { 4, 4, 4 };
	static const unsigned audit_only[3] = { 0, 0, 4 };
	static const unsigned none[3] = { 0, 0, 0 };
	const struct entry want1[] = {
		{ ACL_USER_OBJ, 0, U },
		{ ACL_USER, 4, 1001 },
		{ ACL_USER, 6, 1002 },
		{ ACL_USER, 4, 1004 },
		{ ACL_GROUP_OBJ, 0, U },
		{ ACL_MASK, 6, U },
		{ ACL_OTHER, 0, U },
	};
	const struct entry want2[] = {
		{ ACL_USER_OBJ, 4, U },
		{ ACL_USER, 4, 1001 },
		{ ACL_USER, 4, 1002 },
		{ ACL_USER, 4, 1003 },
		{ ACL_USER, 4, 1004 },
		{ ACL_GROUP_OBJ, 0, U },
		{ ACL_MASK, 4, U },
		{ ACL_OTHER, 0, U },
	};
	const struct entry want3[] = {
		{ ACL_USER_OBJ, 4, U },
		{ ACL_USER, 4, 1003 },
		{ ACL_USER, 4, 1004 },
		{ ACL_GROUP_OBJ, 0, U },
		{ ACL_MASK, 4, U },
		{ ACL_OTHER, 0, U },
	};
	const struct entry want4[] = {
		{ ACL_USER_OBJ, 0, U },
		{ ACL_GROUP_OBJ, 0, U },
		{ ACL_OTHER, 0, U },
	};

	check_acl_roles(acc, 0, rw_agents, want1, 7, 0060);
	check_acl_roles(acc, 0, all_read, want2, 8, 0440);
	check_acl_roles(acc, 0, audit_only, want3, 6, 0440);
	check_acl_roles(acc, 0, none, want4, 3, 0);
	ts_access_free(acc);
}
END_TEST

START_TEST(acl_small_buffer)
{
	/* cap 0 sizes it; a short buffer gets whole entries only, never a
	 * byte past cap. */
	struct ts_access *acc = parse_ok("1001 reader\n1002 reader\n");
	uint8_t buf[64];
	unsigned mode;
	size_t full;

	full = ts_access_acl(acc, 0, TS_RIGHT_SEALED, 4, NULL, 0, &mode);
	ck_assert_uint_eq(full, 4 + 8 * 6);
	ck_assert_uint_eq(mode, 0440);	/* the owner: the union, r */
	for (size_t cap = 0; cap < full; cap++) {
		memset(buf, 0xee, sizeof(buf));
		ck_assert_uint_eq(ts_access_acl(acc, 0, TS_RIGHT_SEALED, 4, buf,
		                                cap, &mode), full);
		for (size_t k = cap; k < sizeof(buf); k++)
			ck_assert_msg(buf[k] == 0xee, "cap %zu: byte %zu written",
			              cap, k);
	}
	ts_access_free(acc);
}
END_TEST

static Suite *
access_suite(void)
{
	Suite *s = suite_create("access");
	TCase *p = tcase_create("parse");
	TCase *a = tcase_create("acl");

	tcase_add_test(p, uids);
	tcase_add_test(p, rights_of_roles);
	tcase_add_test(p, user_names);
	tcase_add_test(p, groups);
	tcase_add_test(p, roles_union);
	tcase_add_test(p, comments_and_blanks);
	tcase_add_test(p, empty_whitelist);
	tcase_add_test(p, many_entries);
	tcase_add_test(p, errors_name_the_line);
	tcase_add_test(p, unknown_names_grant_nothing);
	tcase_add_test(p, unknown_names_report_bounded);
	tcase_add_test(p, error_fits_small_buffer);
	suite_add_tcase(s, p);

	tcase_add_test(a, acl_named_users_sorted);
	tcase_add_test(a, acl_owner_listed);
	tcase_add_test(a, acl_roles_select);
	tcase_add_test(a, acl_nobody_matches);
	tcase_add_test(a, null_is_the_empty_whitelist);
	tcase_add_test(a, acl_bits_per_role);
	tcase_add_test(a, acl_small_buffer);
	suite_add_tcase(s, a);
	return s;
}

int
main(void)
{
	return ts_check_run(access_suite());
}
