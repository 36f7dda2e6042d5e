/*
 * test_policy: the retention policy parser and deadline computation.
 */
#include <check.h>

#include "tests/check_main.h"
#include <errno.h>
#include <string.h>

#include "fs/policy.h"
#include "store/ticket.h"

#define S 1000LL
#define DAY (86400 * S)

static const char DEFAULT[] =
	"# comment\n"
	"email          processed, 90d\n"
	"mobile         processed, 90d\n"
	"\n"
	"confidential   processed\n"
	"authorization  processed, expired\n"
	"ticket         processed+30d   # trailing comment\n";

static struct ts_policy
parse_ok(const char *text)
{
	struct ts_policy p;
	char err[256] = "";

	ck_assert_msg(ts_policy_parse(text, strlen(text), &p, err,
	                              sizeof(err)) == 0, "%s", err);
	return p;
}

static void
parse_bad(const char *text, const char *want)
{
	struct ts_policy p, before;
	char err[256] = "";

	memset(&p, 0x5a, sizeof(p));
	before = p;
	ck_assert_int_eq(ts_policy_parse(text, strlen(text), &p, err,
	                                 sizeof(err)), -EINVAL);
	ck_assert_msg(strstr(err, want) != NULL, "err \"%s\" lacks \"%s\"",
	              err, want);
	ck_assert_msg(memcmp(&p, &before, sizeof(p)) == 0,
	              "a refused policy changed the output");
}

START_TEST(test_default_rules)
{
	struct ts_policy p = parse_ok(DEFAULT);
	int64_t sub = 1000 * DAY, proc = sub + 5 * DAY;

	/* Not processed: email after 90 days; confidential never. */
	ck_assert_int_eq(ts_policy_deadline(&p, TS_ITEM_EMAIL, sub, 0, 0),
	                 sub + 90 * DAY);
	ck_assert_int_eq(ts_policy_deadline(&p, TS_ITEM_CONFIDENTIAL, sub, 0,
	                                    0), TS_NEVER);
	ck_assert_int_eq(ts_policy_deadline(&p, TS_ITEM_TICKET, sub, 0, 0),
	                 TS_NEVER);
	/* Processed: the first event wins. */
	ck_assert_int_eq(ts_policy_deadline(&p, TS_ITEM_EMAIL, sub, proc, 0),
	                 proc);
	ck_assert_int_eq(ts_policy_deadline(&p, TS_ITEM_CONFIDENTIAL, sub,
	                                    proc, 0), proc);
	ck_assert_int_eq(ts_policy_deadline(&p, TS_ITEM_TICKET, sub, proc, 0),
	                 proc + 30 * DAY);
	/* Authorizations: their own expiry, or processing. */
	ck_assert_int_eq(ts_policy_deadline(&p, TS_ITEM_AUTHORIZATION, sub, 0,
	                                    sub + DAY), sub + DAY);
	ck_assert_int_eq(ts_policy_deadline(&p, TS_ITEM_AUTHORIZATION, sub,
	                                    proc, sub + 10 * DAY), proc);
	/* Items not listed are never removed by the policy. */
	ck_assert_int_eq(ts_policy_deadline(&p, TS_ITEM_SUBJECT, sub, proc, 0),
	                 TS_NEVER);
	ck_assert_int_eq(ts_policy_deadline(&p, TS_ITEM_MESSAGE, sub, proc, 0),
	                 TS_NEVER);
}
END_TEST

START_TEST(test_units_and_minimum)
{
	struct ts_policy p = parse_ok("message 30s, 2m\nsubject 1h\n"
	                              "username 2d,processed+5s\n"
	                              "description processed+1m, processed+10s\n");

	ck_assert_int_eq(ts_policy_deadline(&p, TS_ITEM_MESSAGE, 0, 0, 0),
	                 30 * S);
	ck_assert_int_eq(ts_policy_deadline(&p, TS_ITEM_SUBJECT, 0, 0, 0),
	                 3600 * S);
	ck_assert_int_eq(ts_policy_deadline(&p, TS_ITEM_USERNAME, 0, 0, 0),
	                 2 * DAY);
	ck_assert_int_eq(ts_policy_deadline(&p, TS_ITEM_USERNAME, 0, 100 * S, 0),
	                 105 * S);
	ck_assert_int_eq(ts_policy_deadline(&p, TS_ITEM_DESCRIPTION, 0, 7 * S, 0),
	                 17 * S);
}
END_TEST

START_TEST(test_empty_policy)
{
	struct ts_policy p = parse_ok("");

	for (int i = 0; i < TS_ITEM_COUNT; i++)
		ck_assert_int_eq(ts_policy_deadline(&p, i, 5, 6, 7), TS_NEVER);
}
END_TEST

START_TEST(test_errors_name_the_line)
{
	parse_bad("email processed\nfoo 1d\n", "line 2: unknown item \"foo\"");
	parse_bad("email\n", "line 1: \"email\" has no event");
	parse_bad("email ,\n", "line 1: \"email\" has no event");
	parse_bad("email soon\n", "line 1: unknown event \"soon\"");
	parse_bad("email 5w\n", "line 1: unknown event \"5w\"");
	parse_bad("email d\n", "line 1: unknown event \"d\"");
	parse_bad("email processed+\n", "line 1: bad duration");
	parse_bad("email processed+x\n", "line 1: bad duration");
	parse_bad("email expired\n", "\"expired\" applies to authorizations");
	parse_bad("# x\nemail 1d\nemail 2d\n", "line 3: \"email\" is listed twice");
	parse_bad("ticket 99999999999d\n", "line 1: unknown event");
}
END_TEST

START_TEST(test_nul_refused)
{
	struct ts_policy p;
	char err[128];
	static const char text[] = "email 1d\0ticket 1d\n";

	ck_assert_int_eq(ts_policy_parse(text, sizeof(text) - 1, &p, err,
	                                 sizeof(err)), -EINVAL);
}
END_TEST

START_TEST(test_field_items)
{
	ck_assert_int_eq(ts_policy_field_item(TS_F_EMAIL), TS_ITEM_EMAIL);
	ck_assert_int_eq(ts_policy_field_item(TS_F_SUBJECT), TS_ITEM_SUBJECT);
	ck_assert_int_eq(ts_policy_field_item(TS_F_CONFIDENTIAL),
	                 TS_ITEM_CONFIDENTIAL);
}
END_TEST

START_TEST(test_forgotten_deadlines)
{
	static const char text[] =
		"username       forgotten\n"
		"email          processed, 90d, forgotten\n"
		"message        forgotten, 10d\n"
		"authorization  expired, forgotten\n"
		"ticket         forgotten\n"
		"subject        processed\n";
	struct ts_policy p = parse_ok(text);
	int64_t sub = 1000 * DAY, forgot = sub + 3 * DAY;

	/* Never forgotten: no deadline from the event. */
	for (int it = 0; it < TS_ITEM_COUNT; it++)
		ck_assert_int_eq(ts_policy_deadline_forgotten(&p, it, 0),
		                 TS_NEVER);
	/* Forgotten: every item tied to it goes then, whatever its kind. */
	ck_assert_int_eq(ts_policy_deadline_forgotten(&p, TS_ITEM_USERNAME,
	                                              forgot), forgot);
	ck_assert_int_eq(ts_policy_deadline_forgotten(&p, TS_ITEM_EMAIL,
	                                              forgot), forgot);
	ck_assert_int_eq(ts_policy_deadline_forgotten(&p, TS_ITEM_MESSAGE,
	                                              forgot), forgot);
	ck_assert_int_eq(ts_policy_deadline_forgotten(&p,
	                 TS_ITEM_AUTHORIZATION, forgot), forgot);
	ck_assert_int_eq(ts_policy_deadline_forgotten(&p, TS_ITEM_TICKET,
	                                              forgot), forgot);
	/* Items not tied to it: the event changes nothing. */
	ck_assert_int_eq(ts_policy_deadline_forgotten(&p, TS_ITEM_SUBJECT,
	                                              forgot), TS_NEVER);
	ck_assert_int_eq(ts_policy_deadline_forgotten(&p, TS_ITEM_MOBILE,
	                                              forgot), TS_NEVER);
	/* The other events of a forgotten item still hold. */
	ck_assert_int_eq(ts_policy_deadline(&p, TS_ITEM_EMAIL, sub, 0, 0),
	                 sub + 90 * DAY);
	ck_assert_int_eq(ts_policy_deadline(&p, TS_ITEM_USERNAME, sub, 0, 0),
	                 TS_NEVER);
}
END_TEST

START_TEST(test_default_policy_forgets_contact)
{
	static const char text[] =
		"username       forgotten\n"
		"email          processed, 90d, forgotten\n"
		"mobile         processed, 90d, forgotten\n"
		"confidential   processed\n"
		"authorization  processed, expired\n"
		"ticket         processed+30d\n"
		"audit          365d\n";
	struct ts_policy p = parse_ok(text);
	int64_t t = 2000 * DAY;

	ck_assert_int_eq(ts_policy_deadline_forgotten(&p, TS_ITEM_USERNAME, t),
	                 t);
	ck_assert_int_eq(ts_policy_deadline_forgotten(&p, TS_ITEM_EMAIL, t), t);
	ck_assert_int_eq(ts_policy_deadline_forgotten(&p, TS_ITEM_MOBILE, t), t);
	ck_assert_int_eq(ts_policy_deadline_forgotten(&p, TS_ITEM_CONFIDENTIAL,
	                                              t), TS_NEVER);
	ck_assert_int_eq(ts_policy_deadline_forgotten(&p, TS_ITEM_TICKET, t),
	                 TS_NEVER);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("policy");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, test_default_rules);
	tcase_add_test(tc, test_units_and_minimum);
	tcase_add_test(tc, test_empty_policy);
	tcase_add_test(tc, test_errors_name_the_line);
	tcase_add_test(tc, test_nul_refused);
	tcase_add_test(tc, test_field_items);
	tcase_add_test(tc, test_forgotten_deadlines);
	tcase_add_test(tc, test_default_policy_forgets_contact);
	suite_add_tcase(s, tc);
	return ts_check_run(s);
}
