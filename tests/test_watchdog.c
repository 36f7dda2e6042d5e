/*
 * test_watchdog: ts_watchdog_mount_ours, the check that the connection
 * the watchdog would abort is this daemon's mount (fs/watchdog.h).  The
 * watchdog itself is tested on a real mount by test_hang.
 */
#include <check.h>

#include "fs/watchdog.h"
#include "tests/check_main.h"

#define OURS "49 27 0:43 / /tmp/ts it/mnt rw,nosuid,nodev,relatime - " \
	"fuse.ticketfs ticketfs:/tmp/store rw,user_id=0,group_id=0," \
	"default_permissions,allow_other\n"

START_TEST(ours_is_ours)
{
	const char *l = "49 27 0:43 / /tmp/ts\\040it/mnt rw,nosuid,nodev,"
	    "relatime - fuse.ticketfs ticketfs:/tmp/store rw,user_id=0,"
	    "group_id=0,default_permissions,allow_other\n";

	ck_assert_int_eq(ts_watchdog_mount_ours(l, 0, 43, "/tmp/ts it/mnt", 0),
	                 1);
	/* optional fields before the dash, plain fuse */
	ck_assert_int_eq(ts_watchdog_mount_ours("50 27 0:44 / /m rw shared:7 "
	    "master:2 - fuse /dev/fuse rw,user_id=1000,group_id=1000\n",
	    0, 44, "/m", 1000), 1);
}
END_TEST

START_TEST(others_are_not)
{
	const char *l = "49 27 0:43 / /tmp/ts\\040it/mnt rw,nosuid,nodev,"
	    "relatime - fuse.ticketfs ticketfs:/tmp/store rw,user_id=0,"
	    "group_id=0,default_permissions,allow_other\n";

	/* another device, another place, another owner */
	ck_assert_int_eq(ts_watchdog_mount_ours(l, 0, 44, "/tmp/ts it/mnt", 0),
	                 0);
	ck_assert_int_eq(ts_watchdog_mount_ours(l, 1, 43, "/tmp/ts it/mnt", 0),
	                 0);
	ck_assert_int_eq(ts_watchdog_mount_ours(l, 0, 43, "/tmp/ts/mnt", 0), 0);
	ck_assert_int_eq(ts_watchdog_mount_ours(l, 0, 43, "/tmp/ts it/mnt",
	                                        1000), 0);
	/* a user's mount named like ours: user_id=10 is not user_id=1 */
	ck_assert_int_eq(ts_watchdog_mount_ours("51 27 0:45 / /m rw - "
	    "fuse.ticketfs ticketfs:/s rw,user_id=10,group_id=10\n",
	    0, 45, "/m", 1), 0);
	/* not FUSE */
	ck_assert_int_eq(ts_watchdog_mount_ours("52 27 0:46 / /m rw - tmpfs "
	    "tmpfs rw,user_id=0\n", 0, 46, "/m", 0), 0);
	ck_assert_int_eq(ts_watchdog_mount_ours("53 27 0:47 / /m rw - fusectl "
	    "fusectl rw,user_id=0\n", 0, 47, "/m", 0), 0);
	/* truncated lines */
	ck_assert_int_eq(ts_watchdog_mount_ours("49 27 0:43 / /m rw\n", 0, 43,
	                                        "/m", 0), 0);
	ck_assert_int_eq(ts_watchdog_mount_ours("", 0, 43, "/m", 0), 0);
	ck_assert_int_eq(ts_watchdog_mount_ours(OURS, 0, 43, "/tmp/ts it/mnt",
	                                        0), 0);	/* unescaped space */
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("watchdog");
	TCase *tc = tcase_create("mountinfo");

	tcase_add_test(tc, ours_is_ours);
	tcase_add_test(tc, others_are_not);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return ts_check_run(suite());
}
