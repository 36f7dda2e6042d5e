/*
 * test_meta_pg: the store's policy ops on both backends (store/file_meta.c,
 * store/pg_meta.c): what get returns after set, that the version changes
 * whenever the policy does (and for a PostgreSQL store only then: it is
 * the text's), that a failed set leaves the old policy, and that a
 * directory store's policy is a regular file read without following a
 * link or blocking on a FIFO.  The PostgreSQL half against the tests'
 * private cluster ($TS_PG_DIR), a fresh database per test.
 */
#include <check.h>

#include "tests/check_main.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "store/pg_conn.h"
#include "store/seal.h"
#include "store/store.h"
#include "store/sysio.h"

static const char POL1[] = "ticket processed+30d\n";
static const char POL2[] = "email 1s\nticket processed+30d\n";

static char dir[64], path[128];	/* a directory store */
static char dbname[64], uri[512];	/* a PostgreSQL store */
static struct ts_seckey *key;

/* get must return exactly want. */
static void
policy_is(struct ts_store *st, const char *want)
{
	char *text;
	size_t len;

	ck_assert_int_eq(ts_store_policy_get(st, &text, &len), 0);
	ck_assert_uint_eq(len, strlen(want));
	ck_assert_str_eq(text, want);	/* NUL-terminated too */
	free(text);
}

static uint64_t
version_of(struct ts_store *st)
{
	uint64_t v = 0;

	ck_assert_int_eq(ts_store_policy_version(st, &v), 0);
	return v;
}

/* ---- the directory store ---- */

static void
file_setup(void)
{
	ck_assert_int_eq(ts_seal_keypair(&key), 0);
	snprintf(dir, sizeof(dir), "/tmp/ts-meta-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/store", dir);
	ck_assert_int_eq(ts_store_create(path, ts_seal_seckey_pk(key), POL1),
	                 0);
}

static void
file_teardown(void)
{
	char cmd[160];

	ts_sysio_reset();
	ts_seal_seckey_free(key);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	ck_assert_int_eq(system(cmd), 0);
}

START_TEST(file_get_set_version)
{
	struct ts_store *st;
	char pol[160];
	uint64_t v1, v2, v3;
	int fd;

	ck_assert_int_eq(ts_store_open(path, TS_STORE_INTAKE, &st), 0);
	policy_is(st, POL1);
	v1 = version_of(st);
	ck_assert_uint_ne(v1, 0);
	ck_assert_uint_eq(version_of(st), v1);	/* stable while unchanged */
	ck_assert_int_eq(ts_store_policy_set(st, POL2, strlen(POL2)), 0);
	policy_is(st, POL2);
	v2 = version_of(st);
	ck_assert_uint_ne(v2, v1);
	/* The file it wrote: mode 0600, a regular file of exactly POL2. */
	snprintf(pol, sizeof(pol), "%s/policy", path);
	{
		struct stat sb;

		ck_assert_int_eq(lstat(pol, &sb), 0);
		ck_assert(S_ISREG(sb.st_mode));
		ck_assert_uint_eq(sb.st_mode & 07777, 0600);
		ck_assert_int_eq(sb.st_size, (off_t)strlen(POL2));
	}
	/* An edit in place, as an editor that writes over the file makes. */
	fd = open(pol, O_WRONLY | O_APPEND);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "subject 1d\n", 11), 11);
	close(fd);
	v3 = version_of(st);
	ck_assert_uint_ne(v3, v2);
	ck_assert_uint_ne(v3, 0);
	/* No file: version 0, get says so. */
	ck_assert_int_eq(unlink(pol), 0);
	ck_assert_uint_eq(version_of(st), 0);
	{
		char *text;
		size_t len;

		ck_assert_int_eq(ts_store_policy_get(st, &text, &len), -ENOENT);
	}
	ts_store_close(st);
}
END_TEST

START_TEST(file_failed_set_keeps_old)
{
	struct ts_store *st;
	uint64_t v;

	ck_assert_int_eq(ts_store_open(path, TS_STORE_INTAKE, &st), 0);
	v = version_of(st);
	ts_sysio_inject(TS_SYSIO_RENAME, 1, EIO, 0);
	ck_assert_int_eq(ts_store_policy_set(st, POL2, strlen(POL2)), -EIO);
	policy_is(st, POL1);
	ck_assert_uint_eq(version_of(st), v);
	ts_sysio_inject(TS_SYSIO_FSYNC, 1, ENOSPC, 0);
	ck_assert_int_eq(ts_store_policy_set(st, POL2, strlen(POL2)), -ENOSPC);
	policy_is(st, POL1);
	ts_store_close(st);
}
END_TEST

START_TEST(file_not_a_regular_file)
{
	struct ts_store *st;
	char pol[160], other[160], *text;
	size_t len;

	snprintf(pol, sizeof(pol), "%s/policy", path);
	snprintf(other, sizeof(other), "%s/elsewhere", dir);
	ck_assert_int_eq(ts_store_open(path, TS_STORE_INTAKE, &st), 0);
	/* A link planted in its place is not followed. */
	{
		FILE *f = fopen(other, "w");

		ck_assert_ptr_nonnull(f);
		fputs(POL2, f);
		fclose(f);
	}
	ck_assert_int_eq(unlink(pol), 0);
	ck_assert_int_eq(symlink(other, pol), 0);
	ck_assert_int_eq(ts_store_policy_get(st, &text, &len), -ELOOP);
	ck_assert_uint_ne(version_of(st), 0);	/* a change all the same */
	/* A FIFO: refused at once, never waited on. */
	ck_assert_int_eq(unlink(pol), 0);
	ck_assert_int_eq(mkfifo(pol, 0600), 0);
	ck_assert_int_eq(ts_store_policy_get(st, &text, &len), -EINVAL);
	/* set replaces whatever is there with a regular file. */
	ck_assert_int_eq(ts_store_policy_set(st, POL1, strlen(POL1)), 0);
	policy_is(st, POL1);
	ts_store_close(st);
}
END_TEST

/* ---- the PostgreSQL store ---- */

/* A policy over TS_POLICY_MAX: set refuses it (-EFBIG), nothing changed;
 * one written by hand is refused by get. */
static void
check_cap(struct ts_store *st)
{
	size_t n = TS_POLICY_MAX + 1;
	char *big = malloc(n);

	ck_assert_ptr_nonnull(big);
	memset(big, '#', n);
	ck_assert_int_eq(ts_store_policy_set(st, big, n), -EFBIG);
	policy_is(st, POL1);
	free(big);
}

START_TEST(file_policy_capped)
{
	struct ts_store *st;
	char *text, p[160];
	size_t len;
	FILE *f;

	ck_assert_int_eq(ts_store_open(path, TS_STORE_INTAKE, &st), 0);
	check_cap(st);
	snprintf(p, sizeof(p), "%s/policy", path);
	ck_assert_ptr_nonnull(f = fopen(p, "w"));
	for (unsigned i = 0; i <= TS_POLICY_MAX / 8; i++)
		fputs("#######\n", f);
	fclose(f);
	ck_assert_int_eq(ts_store_policy_get(st, &text, &len), -EFBIG);
	ts_store_close(st);
}
END_TEST

static void
uri_of(const char *db, char *out, size_t outlen)
{
	const char *d = getenv("TS_PG_DIR");

	ck_assert_msg(d != NULL, "TS_PG_DIR is not set (ctest fixture pg)");
	snprintf(out, outlen, "postgresql:///%s?host=%s&user=postgres", db, d);
}

static int
admin(const char *sql)
{
	char u[512];
	struct ts_pg *pg;
	int rc;

	uri_of("postgres", u, sizeof(u));
	if ((rc = ts_pg_open(u, &pg, NULL, 0)) < 0)
		return rc;
	rc = ts_pg_exec(pg, sql);
	ts_pg_close(pg);
	return rc;
}

static void
pg_setup(void)
{
	char sql[128];

	snprintf(dbname, sizeof(dbname), "ts_meta_%ld_%u", (long)getpid(),
	         (unsigned)randombytes_random() % 100000);
	snprintf(sql, sizeof(sql), "CREATE DATABASE %s", dbname);
	ck_assert_int_eq(admin(sql), 0);
	uri_of(dbname, uri, sizeof(uri));
	ck_assert_int_eq(ts_seal_keypair(&key), 0);
	ck_assert_int_eq(ts_store_create(uri, ts_seal_seckey_pk(key), POL1), 0);
}

static void
pg_teardown(void)
{
	char sql[128];

	ts_seal_seckey_free(key);
	snprintf(sql, sizeof(sql), "DROP DATABASE IF EXISTS %s WITH (FORCE)",
	         dbname);
	admin(sql);
}

START_TEST(pg_get_set_version)
{
	struct ts_store *a, *b;
	uint64_t v1, v2;

	/* Two handles: two hosts. */
	ck_assert_int_eq(ts_store_open(uri, TS_STORE_DAEMON, &a), 0);
	ck_assert_int_eq(ts_store_open(uri, TS_STORE_DAEMON, &b), 0);
	policy_is(a, POL1);
	v1 = version_of(a);
	ck_assert_uint_ne(v1, 0);
	ck_assert_uint_eq(version_of(b), v1);
	ck_assert_int_eq(ts_store_policy_set(a, POL2, strlen(POL2)), 0);
	v2 = version_of(b);
	ck_assert_uint_ne(v2, v1);
	policy_is(b, POL2);
	/* The same text again: the same version (it is the text's). */
	ck_assert_int_eq(ts_store_policy_set(b, POL2, strlen(POL2)), 0);
	ck_assert_uint_eq(version_of(a), v2);
	ck_assert_int_eq(ts_store_policy_set(b, POL1, strlen(POL1)), 0);
	ck_assert_uint_eq(version_of(a), v1);
	/* A NUL would cut a text parameter: refused, nothing changed. */
	ck_assert_int_eq(ts_store_policy_set(a, "email 1s\n\0x\n", 12),
	                 -EINVAL);
	policy_is(b, POL1);
	ts_store_close(a);
	ts_store_close(b);
}
END_TEST

START_TEST(pg_no_policy_row)
{
	struct ts_store *st;
	struct ts_pg *pg;
	char *text;
	size_t len;

	ck_assert_int_eq(ts_pg_open(uri, &pg, NULL, 0), 0);
	ck_assert_int_eq(ts_pg_exec(pg, "DELETE FROM ts_meta WHERE name = "
	                            "'policy'"), 0);
	ts_pg_close(pg);
	ck_assert_int_eq(ts_store_open(uri, TS_STORE_DAEMON, &st), 0);
	ck_assert_uint_eq(version_of(st), 0);
	ck_assert_int_eq(ts_store_policy_get(st, &text, &len), -ENOENT);
	ck_assert_int_eq(ts_store_policy_set(st, POL2, strlen(POL2)), 0);
	policy_is(st, POL2);
	ck_assert_uint_ne(version_of(st), 0);
	ts_store_close(st);
}
END_TEST

START_TEST(pg_policy_capped)
{
	struct ts_store *st;
	struct ts_pg *pg;
	char *text;
	size_t len;

	ck_assert_int_eq(ts_store_open(uri, TS_STORE_DAEMON, &st), 0);
	check_cap(st);
	/* A row set by hand (someone with UPDATE on ts_meta): not fetched. */
	ck_assert_int_eq(ts_pg_open(uri, &pg, NULL, 0), 0);
	ck_assert_int_eq(ts_pg_exec(pg, "UPDATE ts_meta SET value = "
	                            "repeat('#', 1048577) WHERE name = "
	                            "'policy'"), 0);
	ts_pg_close(pg);
	ck_assert_int_eq(ts_store_policy_get(st, &text, &len), -EFBIG);
	ts_store_close(st);
}
END_TEST

static Suite *
suite(void)
{
	Suite *s = suite_create("meta_pg");
	TCase *f = tcase_create("file"), *p = tcase_create("pg");

	tcase_add_checked_fixture(f, file_setup, file_teardown);
	tcase_add_test(f, file_get_set_version);
	tcase_add_test(f, file_failed_set_keeps_old);
	tcase_add_test(f, file_not_a_regular_file);
	tcase_add_test(f, file_policy_capped);
	suite_add_tcase(s, f);
	tcase_add_checked_fixture(p, pg_setup, pg_teardown);
	tcase_add_test(p, pg_get_set_version);
	tcase_add_test(p, pg_no_policy_row);
	tcase_add_test(p, pg_policy_capped);
	suite_add_tcase(s, p);
	return s;
}

int
main(void)
{
	return ts_check_run(suite());
}
