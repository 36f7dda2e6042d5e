/*
 * test_audit: the audit trail, in a fresh temporary store directory per
 * test.  The JSON Lines format and its escaping, the hash chain (recomputed
 * here independently), checkpoints and verification, reopening, the trail
 * read as one file across segments, rotation, tamper evidence (edits,
 * removals, insertions, reorders, cut tails, missing segments, a rewritten
 * chain, a foreign key), failures injected through store/sysio.h (fail
 * closed, no half line), recovery from a crash mid-write, the verify
 * key, folded entries' count, and the checkpoint copy outside the store
 * against a replayed old checkpoint; retention (prune, the signed
 * anchor, audit.log's view across a prune) and forward-secure sealing.
 */
#include <check.h>

#include "tests/check_main.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "store/audit.h"
#include "store/seal.h"
#include "store/sysio.h"
#include "store/util.h"

#define BIG_SEGMENT (1u << 20)	/* never rotates in these tests */
#define SMALL_SEGMENT 300	/* about one entry per segment */
#define NTAMPER 6		/* entries of the trails the tamper tests edit */
#define HOST "h1"		/* the trails' host */

/* Per test; CK_FORK gives each test its own copy. */
static char dir[256];		/* mkdtemp'd; the store directory */
static int storefd = -1;
static struct ts_seckey *key;

static int
rm_one(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(p);
}

static void
setup(void)
{
	ts_sysio_reset();
	umask(022);
	strcpy(dir, "/tmp/ts-test-audit-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	storefd = open(dir, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(storefd, 0);
	ck_assert_int_eq(ts_seal_keypair(&key), 0);
}

static void
teardown(void)
{
	ts_sysio_reset();
	ts_seal_seckey_free(key);
	key = NULL;
	if (storefd >= 0)
		close(storefd);
	storefd = -1;
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* dir/audit/rel, into one of two static buffers (alternating). */
static const char *
ap(const char *rel)
{
	static char buf[2][512];
	static int which;

	which ^= 1;
	snprintf(buf[which], sizeof(buf[which]), "%s/audit/%s", dir, rel);
	return buf[which];
}

/* dir/audit/NNNNNN.log */
static const char *
seg(unsigned n)
{
	char name[32];

	snprintf(name, sizeof(name), "%06u.log", n);
	return ap(name);
}

static int
exists(const char *p)
{
	struct stat sb;

	return stat(p, &sb) == 0;
}

static off_t
file_size(const char *p)
{
	struct stat sb;

	ck_assert_msg(stat(p, &sb) == 0, "cannot stat %s", p);
	return sb.st_size;
}

/* The whole of file p, NUL-terminated (not counted), malloc'd. */
static char *
slurp(const char *p, size_t *len)
{
	int fd = open(p, O_RDONLY);
	struct stat sb;
	char *buf;

	ck_assert_msg(fd >= 0, "cannot open %s", p);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	buf = malloc((size_t)sb.st_size + 1);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(pread(fd, buf, (size_t)sb.st_size, 0), sb.st_size);
	buf[sb.st_size] = '\0';
	close(fd);
	*len = (size_t)sb.st_size;
	return buf;
}

/* Makes file p hold exactly len bytes of b. */
static void
spit(const char *p, const void *b, size_t len)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_msg(fd >= 0, "cannot open %s", p);
	ck_assert_int_eq(write(fd, b, len), (ssize_t)len);
	close(fd);
}

static void
append_bytes(const char *p, const char *s)
{
	int fd = open(p, O_WRONLY | O_APPEND);

	ck_assert_msg(fd >= 0, "cannot open %s", p);
	ck_assert_int_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
	close(fd);
}

/* How many segment files (NNNNNN.log) there are. */
static unsigned
nsegments(void)
{
	DIR *d = opendir(ap(""));
	struct dirent *de;
	unsigned n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		n += strlen(de->d_name) == 10 &&
		     strspn(de->d_name, "0123456789") == 6 &&
		     strcmp(de->d_name + 6, ".log") == 0;
	closedir(d);
	return n;
}

/* All segments 1..nsegments() one after the other, malloc'd. */
static char *
concat(size_t *len)
{
	unsigned n = nsegments();
	char *all = malloc(1);
	size_t total = 0;

	ck_assert_ptr_nonnull(all);
	for (unsigned i = 1; i <= n; i++) {
		size_t l;
		char *b = slurp(seg(i), &l);

		all = realloc(all, total + l + 1);
		ck_assert_ptr_nonnull(all);
		memcpy(all + total, b, l);
		total += l;
		free(b);
	}
	all[total] = '\0';
	*len = total;
	return all;
}

static int
count_lines(const char *b, size_t len)
{
	int n = 0;

	for (size_t i = 0; i < len; i++)
		n += b[i] == '\n';
	return n;
}

/* Line k (1-based) of b: its offset and length with the newline. */
static void
line_at(const char *b, size_t len, int k, size_t *off, size_t *ll)
{
	size_t o = 0;

	for (int i = 1; i < k; i++) {
		const char *nl = memchr(b + o, '\n', len - o);

		ck_assert_msg(nl != NULL, "no line %d", k);
		o = (size_t)(nl - b) + 1;
	}
	const char *nl = memchr(b + o, '\n', len - o);
	ck_assert_msg(nl != NULL, "no line %d", k);
	*off = o;
	*ll = (size_t)(nl - (b + o)) + 1;
}

static struct ts_audit *
open_trail(size_t segment_max)
{
	struct ts_audit *a = NULL;

	ck_assert_int_eq(ts_audit_open(storefd, HOST, key, segment_max, &a), 0);
	ck_assert_ptr_nonnull(a);
	return a;
}

/* The standard entry number i: varying uid, pid and path. */
static struct ts_audit_entry
entry(int i)
{
	static char paths[8][64];
	char *p = paths[i % 8];

	snprintf(p, sizeof(paths[0]), "tickets/T%04d/email", i);
	return (struct ts_audit_entry){ .uid = (uid_t)(1000 + i),
	                                .pid = (pid_t)(4000 + i),
	                                .comm = "cat", .op = "open",
	                                .path = p, .err = 0,
	                                .detail = NULL };
}

/* Appends the standard entries first..first+n-1. */
static void
append_n(struct ts_audit *a, int first, int n)
{
	for (int i = first; i < first + n; i++) {
		struct ts_audit_entry e = entry(i);

		ck_assert_int_eq(ts_audit_append(a, &e), 0);
	}
}

/* A closed trail of n standard entries, checkpointed by the close. */
static void
make_trail(int n, size_t segment_max)
{
	struct ts_audit *a = open_trail(segment_max);

	append_n(a, 1, n);
	ts_audit_close(a);
}

static int
verify(const unsigned char *vk, char *msg, size_t msglen, uint64_t *entries)
{
	msg[0] = '\0';
	return ts_audit_verify(storefd, vk, NULL, msg, msglen, entries);
}

static void
expect_intact(uint64_t want)
{
	char msg[512];
	uint64_t n = 12345;
	int rc = verify(NULL, msg, sizeof(msg), &n);

	ck_assert_msg(rc == 0, "verify %d: %s", rc, msg);
	ck_assert_msg(n == want, "verify counted %llu entries, not %llu",
	              (unsigned long long)n, (unsigned long long)want);
}

/* verify must say "not intact" and its message must contain needle. */
static void
expect_tampered(const char *needle)
{
	char msg[512];
	uint64_t n;
	int rc = verify(NULL, msg, sizeof(msg), &n);

	ck_assert_msg(rc == 1 && strstr(msg, needle) != NULL,
	              "verify %d: \"%s\", wanted 1 and \"%s\"", rc, msg, needle);
}

static void
expect_tampered_entry(int k, const char *what)
{
	char needle[32];

	snprintf(needle, sizeof(needle), "entry %d ", k);
	expect_tampered(needle);
	expect_tampered(what);
}

/* BLAKE2b-256(prev || body[0..len)), as the header defines the chain. */
static void
chain_hash(const unsigned char prev[32], const char *body, size_t len,
           unsigned char out[32])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, 32);
	crypto_generichash_update(&st, prev, 32);
	crypto_generichash_update(&st, (const unsigned char *)body, len);
	crypto_generichash_final(&st, out, 32);
}

/*
 * Checks the chain of the lines of b (len bytes, whole lines) from *prev,
 * independently of audit.c, and leaves the last hash in *prev.  Returns the
 * number of lines.
 */
static int
check_chain(const char *b, size_t len, unsigned char prev[32])
{
	int n = 0;

	for (const char *p = b; p < b + len; n++) {
		const char *nl = memchr(p, '\n', (size_t)(b + len - p));
		const char *h = strstr(p, ",\"hash\":\"");
		unsigned char want[32];
		char hx[65];

		ck_assert_ptr_nonnull(nl);
		ck_assert_msg(h != NULL && h < nl, "line %d has no hash", n + 1);
		ck_assert_msg(nl - h == 9 + 64 + 2, "line %d: the hash is not "
		              "last", n + 1);
		ck_assert_int_eq(h[9 + 64], '"');
		ck_assert_int_eq(h[9 + 64 + 1], '}');
		chain_hash(prev, p, (size_t)(h - p), want);
		sodium_bin2hex(hx, sizeof(hx), want, 32);
		ck_assert_msg(memcmp(hx, h + 9, 64) == 0, "line %d: hash %.64s, "
		              "recomputed %s", n + 1, h + 9, hx);
		memcpy(prev, want, 32);
		p = nl + 1;
	}
	return n;
}

/*
 * Rewrites every hash of segments 1..nsegments() so the chain is
 * consistent again (what someone without the signing key can do).
 */
static void
rechain(void)
{
	unsigned char prev[32] = { 0 };
	unsigned nseg = nsegments();

	for (unsigned i = 1; i <= nseg; i++) {
		size_t len;
		char *b = slurp(seg(i), &len);

		for (char *p = b; p < b + len;) {
			char *nl = memchr(p, '\n', (size_t)(b + len - p));
			char *h = strstr(p, ",\"hash\":\"");
			char hx[65];

			ck_assert_ptr_nonnull(nl);
			ck_assert_msg(h != NULL && h < nl, "no hash");
			chain_hash(prev, p, (size_t)(h - p), prev);
			sodium_bin2hex(hx, sizeof(hx), prev, 32);
			memcpy(h + 9, hx, 64);
			p = nl + 1;
		}
		spit(seg(i), b, len);
		free(b);
	}
}

/* Parses line k of segment 1 (1-based). */
static json_t *
parse_line(const char *b, size_t len, int k)
{
	size_t off, ll;
	json_error_t je;
	json_t *j;

	line_at(b, len, k, &off, &ll);
	j = json_loadb(b + off, ll, 0, &je);
	ck_assert_msg(j != NULL, "line %d is not JSON (%s): %.*s", k, je.text,
	              (int)ll, b + off);
	ck_assert_msg(json_is_object(j), "line %d is not an object", k);
	return j;
}

static long long
jint(json_t *j, const char *name)
{
	json_t *v = json_object_get(j, name);

	ck_assert_msg(json_is_integer(v), "\"%s\" is not an integer", name);
	return (long long)json_integer_value(v);
}

static const char *
jstr(json_t *j, const char *name)
{
	json_t *v = json_object_get(j, name);

	ck_assert_msg(json_is_string(v), "\"%s\" is not a string", name);
	return json_string_value(v);
}

/* ------------------------------------------------------------------ */

START_TEST(open_creates_files)
{
	struct ts_audit *a = open_trail(BIG_SEGMENT);
	struct stat sb;
	size_t len;
	char *vk;

	ck_assert_int_eq(stat(ap(""), &sb), 0);
	ck_assert(S_ISDIR(sb.st_mode));
	ck_assert_int_eq(stat(seg(1), &sb), 0);
	ck_assert(S_ISREG(sb.st_mode));
	ck_assert_int_eq(sb.st_size, 0);
	ck_assert_uint_eq(nsegments(), 1);
	vk = slurp(ap("verify.key"), &len);
	ck_assert_uint_ge(len, 64);
	ck_assert_uint_eq(strspn(vk, "0123456789abcdef"), 64);
	ck_assert_uint_eq(ts_audit_size(a), 0);
	free(vk);
	ts_audit_close(a);
	/* Nothing appended: an intact, empty trail. */
	expect_intact(0);
}
END_TEST

START_TEST(entries_are_json_lines)
{
	static const int errs[] = { 0, EACCES, EPERM, ENOENT, EIO, 0, ENOSPC };
	static const char *details[] = { NULL, "not on the whitelist", NULL,
	                                 "", "disk trouble", "reloaded", NULL };
	const int n = (int)(sizeof(errs) / sizeof(errs[0]));
	struct ts_audit *a = open_trail(BIG_SEGMENT);
	unsigned char prev[32] = { 0 };
	size_t len;
	char *b;

	for (int i = 0; i < n; i++) {
		char p[64];
		struct ts_audit_entry e = {
			.uid = (uid_t)(1000 + i), .pid = (pid_t)(7000 + i),
			.comm = i == 2 ? "ticketfs" : "less",
			.op = i % 2 ? "write" : "open", .path = p,
			.err = errs[i], .detail = details[i]
		};

		snprintf(p, sizeof(p), "tickets/ID%d/messages/m%d", i, i);
		ck_assert_int_eq(ts_audit_append(a, &e), 0);
	}
	ts_audit_close(a);
	b = slurp(seg(1), &len);
	ck_assert_int_eq(count_lines(b, len), n);
	ck_assert_int_eq(b[len - 1], '\n');
	for (int i = 0; i < n; i++) {
		json_t *j = parse_line(b, len, i + 1);
		const char *result = errs[i] == 0 ? "ok" :
		                     errs[i] == EACCES || errs[i] == EPERM ?
		                     "denied" : "error";
		char p[64];
		const char *t;
		size_t off, ll;

		snprintf(p, sizeof(p), "tickets/ID%d/messages/m%d", i, i);
		line_at(b, len, i + 1, &off, &ll);
		ck_assert_msg(strncmp(b + off, "{\"seq\":", 7) == 0,
		              "line %d does not start with seq", i + 1);
		ck_assert_int_eq(jint(j, "seq"), i + 1);
		t = jstr(j, "time");
		ck_assert_msg(strlen(t) == 24 && t[4] == '-' && t[10] == 'T' &&
		              t[19] == '.' && t[23] == 'Z', "time \"%s\"", t);
		ck_assert_int_eq(jint(j, "uid"), 1000 + i);
		ck_assert_int_eq(jint(j, "pid"), 7000 + i);
		ck_assert_str_eq(jstr(j, "comm"), i == 2 ? "ticketfs" : "less");
		ck_assert_str_eq(jstr(j, "op"), i % 2 ? "write" : "open");
		ck_assert_str_eq(jstr(j, "path"), p);
		ck_assert_str_eq(jstr(j, "result"), result);
		if (errs[i] != 0) {
			ck_assert_int_eq(jint(j, "errno"), errs[i]);
			ck_assert_str_eq(jstr(j, "error"), strerror(errs[i]));
		} else {
			ck_assert_ptr_null(json_object_get(j, "errno"));
			ck_assert_ptr_null(json_object_get(j, "error"));
		}
		if (details[i] != NULL && details[i][0] != '\0')
			ck_assert_str_eq(jstr(j, "detail"), details[i]);
		else
			ck_assert_ptr_null(json_object_get(j, "detail"));
		ck_assert_uint_eq(strlen(jstr(j, "hash")), 64);
		json_decref(j);
	}
	/* The chain, recomputed as the header defines it. */
	ck_assert_int_eq(check_chain(b, len, prev), n);
	free(b);
	expect_intact((uint64_t)n);
}
END_TEST

/* Every entry names its host, right after "time"; a trail of entries from
 * before "host" (none) goes on with entries that have it, and verifies. */
START_TEST(entries_name_their_host)
{
	struct ts_audit *a = NULL;
	size_t len, k = 0;
	char *b, *p, *q;

	make_trail(3, BIG_SEGMENT);
	b = slurp(seg(1), &len);
	for (p = b; (p = strstr(p, "\"time\":\"")) != NULL; p++, k++) {
		q = strchr(p + 8, '"');
		ck_assert_ptr_nonnull(q);
		ck_assert_msg(strncmp(q, "\",\"host\":\"h1\",\"uid\":", 19) == 0,
		              "entry %zu: %.40s", k + 1, q);
	}
	ck_assert_uint_eq(k, 3);
	/* The old format: no "host" at all, a consistent chain. */
	for (q = p = b; p < b + len;) {
		if (strncmp(p, "\"host\":\"h1\",", 12) == 0)
			p += 12;
		else
			*q++ = *p++;
	}
	spit(seg(1), b, (size_t)(q - b));
	free(b);
	rechain();
	/* The checkpoint is the old chain's: re-sign by going on. */
	ck_assert_int_eq(ts_audit_open(storefd, HOST, key, BIG_SEGMENT, &a), 0);
	append_n(a, 4, 2);
	ts_audit_close(a);
	expect_intact(5);
	/* Old entries as they were, new ones with "host". */
	b = slurp(seg(1), &len);
	k = 0;
	for (p = b; p < b + len; p = q + 1) {
		q = memchr(p, '\n', (size_t)(b + len - p));
		ck_assert_ptr_nonnull(q);
		*q = '\0';
		k++;
		ck_assert_msg((strstr(p, "\"host\":\"h1\"") != NULL) == (k > 3),
		              "entry %zu: %s", k, p);
	}
	ck_assert_uint_eq(k, 5);
	free(b);
	/* A host name is a name: nothing that could break the line. */
	ck_assert_int_eq(ts_audit_open(storefd, "h\"1", key, BIG_SEGMENT, &a),
	                 -EINVAL);
	ck_assert_int_eq(ts_audit_open(storefd, "", key, BIG_SEGMENT, &a),
	                 -EINVAL);
	ck_assert_int_eq(ts_audit_open(storefd, NULL, key, BIG_SEGMENT, &a),
	                 -EINVAL);
}
END_TEST

START_TEST(daemon_entry_zero_ids)
{
	struct ts_audit *a = open_trail(BIG_SEGMENT);
	struct ts_audit_entry e = { .uid = 0, .pid = 0, .comm = "ticketfs",
	                            .op = "mount", .path = "", .err = 0 };
	size_t len;
	char *b;
	json_t *j;

	ck_assert_int_eq(ts_audit_append(a, &e), 0);
	ts_audit_close(a);
	b = slurp(seg(1), &len);
	j = parse_line(b, len, 1);
	ck_assert_int_eq(jint(j, "uid"), 0);
	ck_assert_int_eq(jint(j, "pid"), 0);
	ck_assert_str_eq(jstr(j, "path"), "");
	ck_assert_str_eq(jstr(j, "op"), "mount");
	json_decref(j);
	free(b);
	expect_intact(1);
}
END_TEST

/* Strings that need escaping, valid UTF-8: they come back exactly. */
START_TEST(escaping_round_trips)
{
	static const char *strs[] = {
		"quote\" backslash\\ slash/",
		"tab\tnl\ncr\r esc\x1b[31m \x01\x1f\x7f end",
		"caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x8e\xab",
		"\\\"\\\"",
		"\\u0000 not a real escape",
	};
	const int n = (int)(sizeof(strs) / sizeof(strs[0]));
	struct ts_audit *a = open_trail(BIG_SEGMENT);
	size_t len;
	char *b;

	for (int i = 0; i < n; i++) {
		struct ts_audit_entry e = { .uid = 1, .pid = 2, .comm = strs[i],
		                            .op = "open", .path = strs[(i + 1) % n],
		                            .err = EACCES,
		                            .detail = strs[(i + 2) % n] };

		ck_assert_int_eq(ts_audit_append(a, &e), 0);
	}
	ts_audit_close(a);
	b = slurp(seg(1), &len);
	ck_assert_int_eq(count_lines(b, len), n);
	for (int i = 0; i < n; i++) {
		json_t *j = parse_line(b, len, i + 1);

		ck_assert_int_eq(jint(j, "seq"), i + 1);
		ck_assert_str_eq(jstr(j, "comm"), strs[i]);
		ck_assert_str_eq(jstr(j, "path"), strs[(i + 1) % n]);
		ck_assert_str_eq(jstr(j, "detail"), strs[(i + 2) % n]);
		json_decref(j);
	}
	free(b);
	expect_intact((uint64_t)n);
}
END_TEST

/* Invalid UTF-8 (e.g. a comm the kernel cut mid-character) and long
 * multibyte strings: still one valid JSON line each, and verifiable. */
START_TEST(escaping_bad_utf8_and_long)
{
	char longpath[3001], longdetail[901], longcomm[301];
	struct ts_audit_entry es[] = {
		{ .uid = 1, .pid = 1, .comm = "caf\xc3", .op = "open",
		  .path = "tickets/\xff\xfe/x\"y", .err = 0,
		  .detail = "bad \xc0\x80 overlong \xed\xa0\x80 surrogate" },
		{ .uid = 2, .pid = 2, .comm = "\x80\x81\"\\", .op = "write",
		  .path = "\xf8\x88\x80\x80\x80", .err = EIO,
		  .detail = "\xe2\x9c" },
		{ .uid = 3, .pid = 3, .comm = longcomm, .op = "open",
		  .path = longpath, .err = 0, .detail = longdetail },
	};
	const int n = (int)(sizeof(es) / sizeof(es[0]));
	struct ts_audit *a = open_trail(BIG_SEGMENT);
	size_t len;
	char *b;
	json_t *j;

	/* Two-byte characters throughout: any cut at an odd byte count
	 * splits one. */
	for (int i = 0; i < 1500; i++)
		memcpy(longpath + 2 * i, "\xc3\xbc", 2);
	longpath[3000] = '\0';
	for (int i = 0; i < 450; i++)
		memcpy(longdetail + 2 * i, "\xc3\xa9", 2);
	longdetail[900] = '\0';
	for (int i = 0; i < 150; i++)
		memcpy(longcomm + 2 * i, "\xc3\xa4", 2);
	longcomm[300] = '\0';
	for (int i = 0; i < n; i++)
		ck_assert_int_eq(ts_audit_append(a, &es[i]), 0);
	ts_audit_close(a);
	b = slurp(seg(1), &len);
	ck_assert_int_eq(count_lines(b, len), n);
	for (int i = 0; i < n; i++) {
		/* parse_line fails on any invalid JSON, invalid UTF-8 too. */
		j = parse_line(b, len, i + 1);
		ck_assert_int_eq(jint(j, "seq"), i + 1);
		ck_assert_int_eq(jint(j, "uid"), i + 1);
		json_decref(j);
	}
	j = parse_line(b, len, 1);
	ck_assert_msg(strncmp(jstr(j, "comm"), "caf", 3) == 0, "comm %s",
	              jstr(j, "comm"));
	ck_assert_msg(strncmp(jstr(j, "path"), "tickets/", 8) == 0 &&
	              strstr(jstr(j, "path"), "/x\"y") != NULL, "path %s",
	              jstr(j, "path"));
	ck_assert_ptr_null(strchr(jstr(j, "path"), '\xff'));
	json_decref(j);
	/* Long values may be shortened, but only by whole characters. */
	j = parse_line(b, len, 3);
	ck_assert_uint_gt(strlen(jstr(j, "path")), 0);
	ck_assert_msg(strncmp(longpath, jstr(j, "path"),
	                      strlen(jstr(j, "path"))) == 0, "path garbled");
	ck_assert_uint_gt(strlen(jstr(j, "detail")), 0);
	ck_assert_msg(strncmp(longdetail, jstr(j, "detail"),
	                      strlen(jstr(j, "detail"))) == 0, "detail garbled");
	ck_assert_uint_gt(strlen(jstr(j, "comm")), 0);
	ck_assert_msg(strncmp(longcomm, jstr(j, "comm"),
	                      strlen(jstr(j, "comm"))) == 0, "comm garbled");
	json_decref(j);
	free(b);
	expect_intact((uint64_t)n);
}
END_TEST

START_TEST(sync_checkpoint_and_reopen)
{
	struct ts_audit *a = open_trail(BIG_SEGMENT);
	char msg[512];
	uint64_t n;
	size_t len;
	char *b;
	json_t *j;
	json_error_t je;
	unsigned char prev[32] = { 0 };

	append_n(a, 1, 7);
	/* Entries but no checkpoint yet: the tail cannot be vouched for. */
	ck_assert_int_eq(exists(ap("checkpoint")), 0);
	ck_assert_int_eq(verify(NULL, msg, sizeof(msg), &n), 1);
	ck_assert_int_eq(ts_audit_sync(a), 0);
	ck_assert_int_eq(exists(ap("checkpoint")), 1);
	b = slurp(ap("checkpoint"), &len);
	j = json_loadb(b, len, 0, &je);
	ck_assert_msg(j != NULL, "checkpoint is not JSON: %s", b);
	ck_assert_int_eq(jint(j, "seq"), 7);
	ck_assert_uint_eq(strlen(jstr(j, "hash")), 64);
	ck_assert_uint_eq(strlen(jstr(j, "sig")), 128);
	json_decref(j);
	free(b);
	expect_intact(7);
	/* Entries after the checkpoint are fine, they are just not signed
	 * yet. */
	append_n(a, 8, 2);
	expect_intact(9);
	ts_audit_close(a);
	expect_intact(9);

	/* Reopened, the chain goes on. */
	a = open_trail(BIG_SEGMENT);
	ck_assert_uint_eq(ts_audit_size(a), (uint64_t)file_size(seg(1)));
	append_n(a, 10, 3);
	ts_audit_close(a);
	b = slurp(seg(1), &len);
	ck_assert_int_eq(count_lines(b, len), 12);
	for (int k = 1; k <= 12; k++) {
		j = parse_line(b, len, k);
		ck_assert_int_eq(jint(j, "seq"), k);
		json_decref(j);
	}
	ck_assert_int_eq(check_chain(b, len, prev), 12);
	free(b);
	expect_intact(12);
	b = slurp(ap("checkpoint"), &len);
	j = json_loadb(b, len, 0, &je);
	ck_assert_ptr_nonnull(j);
	ck_assert_int_eq(jint(j, "seq"), 12);
	json_decref(j);
	free(b);
}
END_TEST

START_TEST(size_and_read_as_one_file)
{
	static const size_t lens[] = { 1, 7, 64, 299, 300, 301, 1000, 100000 };
	struct ts_audit *a = open_trail(SMALL_SEGMENT);
	uint64_t sum = 0;
	size_t len;
	char *all, *buf;

	for (int round = 0; round < 2; round++) {
		append_n(a, round * 6 + 1, 6);
		ck_assert_uint_ge(nsegments(), 3);
		sum = 0;
		for (unsigned i = 1; i <= nsegments(); i++)
			sum += (uint64_t)file_size(seg(i));
		ck_assert_uint_eq(ts_audit_size(a), sum);
		all = concat(&len);
		ck_assert_uint_eq(len, sum);
		buf = malloc(len + 100000);
		ck_assert_ptr_nonnull(buf);
		for (size_t l = 0; l < sizeof(lens) / sizeof(lens[0]); l++)
			for (size_t off = 0; off <= len; off++) {
				size_t want = off + lens[l] <= len ? lens[l] :
				              len - off;
				ssize_t got;

				memset(buf, 0x55, want);
				got = ts_audit_read(a, buf, lens[l], off);
				ck_assert_msg(got == (ssize_t)want, "read %zu at %zu: "
				              "%zd bytes, not %zu", lens[l], off, got,
				              want);
				ck_assert_msg(memcmp(buf, all + off, want) == 0,
				              "read %zu at %zu: wrong bytes", lens[l],
				              off);
			}
		ck_assert_int_eq(ts_audit_read(a, buf, 10, len + 5), 0);
		/* The whole trail in one read. */
		ck_assert_int_eq(ts_audit_read(a, buf, len + 100000, 0),
		                 (ssize_t)len);
		ck_assert(memcmp(buf, all, len) == 0);
		free(buf);
		free(all);
		if (round == 0) {
			/* And the same after a reopen. */
			ts_audit_close(a);
			a = open_trail(SMALL_SEGMENT);
			ck_assert_uint_eq(ts_audit_size(a), sum);
		}
	}
	ts_audit_close(a);
	expect_intact(12);
}
END_TEST

START_TEST(rotation)
{
	struct ts_audit *a = open_trail(SMALL_SEGMENT);
	unsigned char prev[32] = { 0 };
	unsigned nseg;
	int total = 0;
	char msg[512];
	uint64_t n;

	append_n(a, 1, 8);
	ts_audit_close(a);
	nseg = nsegments();
	ck_assert_uint_ge(nseg, 3);
	a = open_trail(SMALL_SEGMENT);
	append_n(a, 9, 4);
	ts_audit_close(a);
	ck_assert_uint_gt(nsegments(), nseg);
	nseg = nsegments();
	/* Every segment holds whole lines, is within segment_max unless it
	 * holds one entry, and the chain runs across them. */
	for (unsigned i = 1; i <= nseg; i++) {
		size_t len;
		char *b = slurp(seg(i), &len);
		int lines = count_lines(b, len);

		ck_assert_int_ge(lines, 1);
		ck_assert_int_eq(b[len - 1], '\n');
		ck_assert_msg(len <= SMALL_SEGMENT || lines == 1, "segment %u: "
		              "%zu bytes in %d lines", i, len, lines);
		for (int k = 1; k <= lines; k++) {
			json_t *j = parse_line(b, len, k);

			ck_assert_int_eq(jint(j, "seq"), total + k);
			json_decref(j);
		}
		ck_assert_int_eq(check_chain(b, len, prev), lines);
		total += lines;
		free(b);
	}
	ck_assert_int_eq(total, 12);
	ck_assert_int_eq(verify(NULL, msg, sizeof(msg), &n), 0);
	ck_assert_uint_eq(n, 12);
	ck_assert_msg(strstr(msg, "segments") != NULL, "%s", msg);
}
END_TEST

/* A thread's share of the concurrent appends. */
static void *
appender(void *arg)
{
	struct ts_audit *a = arg;

	for (int i = 0; i < 50; i++) {
		struct ts_audit_entry e = { .uid = 5, .pid = 5, .comm = "t",
		                            .op = "open", .path = "x" };

		if (ts_audit_append(a, &e) != 0)
			return (void *)1;
	}
	return NULL;
}

START_TEST(concurrent_appends)
{
	struct ts_audit *a = open_trail(2000);
	pthread_t th[4];

	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(pthread_create(&th[i], NULL, appender, a), 0);
	for (int i = 0; i < 4; i++) {
		void *r;

		ck_assert_int_eq(pthread_join(th[i], &r), 0);
		ck_assert_ptr_null(r);
	}
	{
		uint64_t sum = 0;

		for (unsigned i = 1; i <= nsegments(); i++)
			sum += (uint64_t)file_size(seg(i));
		ck_assert_uint_eq(ts_audit_size(a), sum);
	}
	ts_audit_close(a);
	expect_intact(200);
}
END_TEST

/* ---- tampering, on the files after close ---- */

/* Edits one character of the path of entry k: still JSON, same seq. */
START_TEST(tamper_edit_line)
{
	int k = _i;
	size_t len, off, ll;
	char *b, *p;

	make_trail(NTAMPER, BIG_SEGMENT);
	expect_intact(NTAMPER);
	b = slurp(seg(1), &len);
	line_at(b, len, k, &off, &ll);
	p = strstr(b + off, "\"path\":\"tickets/T");
	ck_assert_ptr_nonnull(p);
	p[strlen("\"path\":\"tickets/T")] = 'X';
	spit(seg(1), b, len);
	free(b);
	expect_tampered_entry(k, "hash chain broken");
}
END_TEST

/* Flips one hex digit of entry k's hash. */
START_TEST(tamper_edit_hash)
{
	int k = _i;
	size_t len, off, ll;
	char *b, *h;

	make_trail(NTAMPER, BIG_SEGMENT);
	b = slurp(seg(1), &len);
	line_at(b, len, k, &off, &ll);
	h = b + off + ll - 1 - 2 - 64;	/* the hash's first digit */
	*h = *h == '0' ? '1' : '0';
	spit(seg(1), b, len);
	free(b);
	expect_tampered_entry(k, "hash chain broken");
}
END_TEST

START_TEST(tamper_delete_line)
{
	int k = _i;
	size_t len, off, ll;
	char *b;

	make_trail(NTAMPER, BIG_SEGMENT);
	b = slurp(seg(1), &len);
	line_at(b, len, k, &off, &ll);
	memmove(b + off, b + off + ll, len - off - ll);
	spit(seg(1), b, len - ll);
	free(b);
	if (k < NTAMPER) {
		expect_tampered_entry(k, "out of sequence");
	} else {
		char needle[128];

		/* The last entry: only the checkpoint knows it existed. */
		snprintf(needle, sizeof(needle), "ends at entry %d but the signed "
		         "checkpoint covers entry %d", NTAMPER - 1, NTAMPER);
		expect_tampered(needle);
	}
}
END_TEST

START_TEST(tamper_duplicate_line)
{
	int k = _i;
	size_t len, off, ll;
	char *b, *nb;

	make_trail(NTAMPER, BIG_SEGMENT);
	b = slurp(seg(1), &len);
	line_at(b, len, k, &off, &ll);
	nb = malloc(len + ll);
	ck_assert_ptr_nonnull(nb);
	memcpy(nb, b, off + ll);
	memcpy(nb + off + ll, b + off, len - off);
	spit(seg(1), nb, len + ll);
	free(nb);
	free(b);
	/* The copy stands where entry k+1 should. */
	expect_tampered_entry(k + 1, "out of sequence");
}
END_TEST

START_TEST(tamper_swap_lines)
{
	int k = _i;
	size_t len, off1, l1, off2, l2;
	char *b, *nb;

	make_trail(NTAMPER, BIG_SEGMENT);
	b = slurp(seg(1), &len);
	line_at(b, len, k, &off1, &l1);
	line_at(b, len, k + 1, &off2, &l2);
	nb = malloc(len);
	ck_assert_ptr_nonnull(nb);
	memcpy(nb, b, off1);
	memcpy(nb + off1, b + off2, l2);
	memcpy(nb + off1 + l2, b + off1, l1);
	memcpy(nb + off1 + l1 + l2, b + off2 + l2, len - off2 - l2);
	spit(seg(1), nb, len);
	free(nb);
	free(b);
	expect_tampered_entry(k, "out of sequence");
}
END_TEST

/* Swapping two lines and fixing up their seq numbers: only the hashes
 * tell. */
START_TEST(tamper_swap_renumbered)
{
	size_t len, off1, l1, off2, l2;
	char *b, *nb;

	make_trail(NTAMPER, BIG_SEGMENT);
	b = slurp(seg(1), &len);
	line_at(b, len, 3, &off1, &l1);
	line_at(b, len, 4, &off2, &l2);
	ck_assert_int_eq(memcmp(b + off1, "{\"seq\":3,", 9), 0);
	ck_assert_int_eq(memcmp(b + off2, "{\"seq\":4,", 9), 0);
	b[off1 + 7] = '4';
	b[off2 + 7] = '3';
	nb = malloc(len);
	ck_assert_ptr_nonnull(nb);
	memcpy(nb, b, off1);
	memcpy(nb + off1, b + off2, l2);
	memcpy(nb + off1 + l2, b + off1, l1);
	memcpy(nb + off1 + l1 + l2, b + off2 + l2, len - off2 - l2);
	spit(seg(1), nb, len);
	free(nb);
	free(b);
	expect_tampered_entry(3, "hash chain broken");
}
END_TEST

/* The last line cut short, or removed whole: the checkpoint covers it. */
START_TEST(tamper_tail_cut)
{
	size_t len, off, ll;
	char *b;

	make_trail(NTAMPER, BIG_SEGMENT);
	b = slurp(seg(1), &len);
	line_at(b, len, NTAMPER, &off, &ll);
	/* Only the newline gone, then half the line. */
	ck_assert_int_eq(truncate(seg(1), (off_t)(len - 1)), 0);
	expect_tampered_entry(NTAMPER, "cut short");
	ck_assert_int_eq(truncate(seg(1), (off_t)(off + ll / 2)), 0);
	expect_tampered_entry(NTAMPER, "cut short");
	/* Exactly the whole last line, and then the last two. */
	ck_assert_int_eq(truncate(seg(1), (off_t)off), 0);
	expect_tampered("entries were removed");
	expect_tampered("ends at entry 5 ");
	line_at(b, len, NTAMPER - 1, &off, &ll);
	ck_assert_int_eq(truncate(seg(1), (off_t)off), 0);
	expect_tampered("ends at entry 4 ");
	/* Everything. */
	ck_assert_int_eq(truncate(seg(1), 0), 0);
	expect_tampered("ends at entry 0 ");
	free(b);
}
END_TEST

START_TEST(tamper_missing_segment)
{
	unsigned nseg;

	make_trail(8, SMALL_SEGMENT);
	nseg = nsegments();
	ck_assert_uint_ge(nseg, 3);
	expect_intact(8);
	ck_assert_int_eq(unlink(seg(2)), 0);
	expect_tampered("missing");
}
END_TEST

/* The last segment gone: no gap in the numbering, but the checkpoint. */
START_TEST(tamper_missing_last_segment)
{
	unsigned nseg;
	size_t len;
	char *b;
	int lines;
	char needle[64];

	make_trail(8, SMALL_SEGMENT);
	nseg = nsegments();
	ck_assert_uint_ge(nseg, 2);
	b = slurp(seg(nseg), &len);
	lines = count_lines(b, len);
	free(b);
	ck_assert_int_eq(unlink(seg(nseg)), 0);
	snprintf(needle, sizeof(needle), "ends at entry %d ", 8 - lines);
	expect_tampered(needle);
}
END_TEST

/* An edit in a later segment names the entry and the segment. */
START_TEST(tamper_edit_in_later_segment)
{
	int before = 0, k;
	size_t len;
	char *b, *p;
	char needle[64];

	make_trail(8, SMALL_SEGMENT);
	ck_assert_uint_ge(nsegments(), 3);
	for (unsigned i = 1; i < 3; i++) {
		b = slurp(seg(i), &len);
		before += count_lines(b, len);
		free(b);
	}
	b = slurp(seg(3), &len);
	p = strstr(b, "\"comm\":\"cat\"");
	ck_assert_ptr_nonnull(p);
	p[9] = 'd';	/* "cat" -> "dat" */
	spit(seg(3), b, len);
	free(b);
	k = before + 1;
	expect_tampered_entry(k, "hash chain broken");
	snprintf(needle, sizeof(needle), "segment 3 line 1)");
	expect_tampered(needle);
}
END_TEST

/* An edit with the whole chain recomputed: consistent, but not what was
 * signed. */
START_TEST(tamper_rewrite_chain)
{
	int k = _i;
	size_t len, off, ll;
	char *b, *p;
	char msg[512];
	uint64_t n;

	make_trail(NTAMPER, BIG_SEGMENT);
	/* First, that rechain() computes the chain as audit.c does. */
	rechain();
	expect_intact(NTAMPER);
	b = slurp(seg(1), &len);
	line_at(b, len, k, &off, &ll);
	p = strstr(b + off, "\"uid\":");
	ck_assert_ptr_nonnull(p);
	p[6] = '9';	/* uid 100x -> 900x */
	spit(seg(1), b, len);
	free(b);
	rechain();
	expect_tampered("rewritten");
	{
		char needle[32];

		snprintf(needle, sizeof(needle), "entry %d ", NTAMPER);
		expect_tampered(needle);
	}
	/* Without the checkpoint the rewritten chain itself is consistent
	 * (so the checkpoint is what caught it), but unsigned. */
	ck_assert_int_eq(unlink(ap("checkpoint")), 0);
	ck_assert_int_eq(verify(NULL, msg, sizeof(msg), &n), 1);
	ck_assert_msg(strstr(msg, "no signed checkpoint") != NULL, "%s", msg);
	ck_assert_uint_eq(n, NTAMPER);
}
END_TEST

START_TEST(tamper_checkpoint)
{
	size_t len;
	char *b, *p;

	make_trail(NTAMPER, BIG_SEGMENT);
	b = slurp(ap("checkpoint"), &len);
	/* A claim for a different seq, with the old signature. */
	p = strstr(b, "\"seq\":");
	ck_assert_ptr_nonnull(p);
	ck_assert_int_eq(p[6], '0' + NTAMPER);
	p[6] = '0' + NTAMPER - 1;
	spit(ap("checkpoint"), b, len);
	expect_tampered("not signed");
	/* Garbage. */
	spit(ap("checkpoint"), "{\"seq\":", 7);
	expect_tampered("checkpoint");
	free(b);
}
END_TEST

START_TEST(wrong_verify_key)
{
	struct ts_seckey *other = NULL;
	unsigned char vk[32], good[32];
	char msg[512];
	uint64_t n;

	make_trail(NTAMPER, BIG_SEGMENT);
	ck_assert_int_eq(ts_seal_keypair(&other), 0);
	ts_audit_verify_key(other, vk);
	ts_audit_verify_key(key, good);
	ck_assert(memcmp(vk, good, 32) != 0);
	ck_assert_int_eq(verify(vk, msg, sizeof(msg), &n), 1);
	ck_assert_msg(strstr(msg, "not signed") != NULL, "%s", msg);
	ck_assert_int_eq(verify(good, msg, sizeof(msg), &n), 0);
	ck_assert_uint_eq(n, NTAMPER);
	ts_seal_seckey_free(other);
}
END_TEST

/* A whole trail forged with another key: verify.key and checkpoint
 * swapped in.  Passing the trusted key catches it. */
START_TEST(forged_with_other_key)
{
	struct ts_seckey *other = NULL;
	unsigned char good[32];
	char msg[512];
	uint64_t n;
	struct ts_audit *a;

	ck_assert_int_eq(ts_seal_keypair(&other), 0);
	ck_assert_int_eq(ts_audit_open(storefd, HOST, other, BIG_SEGMENT, &a), 0);
	append_n(a, 1, 3);
	ts_audit_close(a);
	/* Self-consistent under its own verify.key ... */
	expect_intact(3);
	/* ... but not under the store's. */
	ts_audit_verify_key(key, good);
	ck_assert_int_eq(verify(good, msg, sizeof(msg), &n), 1);
	ck_assert_msg(strstr(msg, "not signed") != NULL, "%s", msg);
	ts_seal_seckey_free(other);
}
END_TEST

/* ---- faults ---- */

START_TEST(write_fault_once)
{
	struct ts_audit *a = open_trail(BIG_SEGMENT);
	struct ts_audit_entry e = entry(4);
	size_t l0, l1;
	char *before, *after;
	json_t *j;
	int rc;

	append_n(a, 1, 3);
	before = slurp(seg(1), &l0);
	ts_sysio_inject(TS_SYSIO_WRITE, 1, ENOSPC, 0);
	rc = ts_audit_append(a, &e);
	ck_assert_msg(rc < 0, "append under ENOSPC returned %d", rc);
	after = slurp(seg(1), &l1);
	ck_assert_uint_eq(l1, l0);
	ck_assert(memcmp(before, after, l0) == 0);
	ck_assert_uint_eq(ts_audit_size(a), l0);
	free(after);
	/* The fault is spent: the next entry is entry 4. */
	ck_assert_int_eq(ts_audit_append(a, &e), 0);
	ts_audit_close(a);
	after = slurp(seg(1), &l1);
	ck_assert_int_eq(count_lines(after, l1), 4);
	ck_assert(memcmp(before, after, l0) == 0);
	j = parse_line(after, l1, 4);
	ck_assert_int_eq(jint(j, "seq"), 4);
	ck_assert_str_eq(jstr(j, "path"), e.path);
	json_decref(j);
	free(after);
	free(before);
	expect_intact(4);
}
END_TEST

START_TEST(write_fault_persistent)
{
	struct ts_audit *a = open_trail(SMALL_SEGMENT);
	size_t l0, l1;
	char *before, *after;
	uint64_t size0;
	json_t *j;

	append_n(a, 1, 3);
	size0 = ts_audit_size(a);
	before = concat(&l0);
	ts_sysio_inject(TS_SYSIO_WRITE, 1, EIO, 1);
	for (int i = 0; i < 5; i++) {
		struct ts_audit_entry e = entry(4 + i);
		int rc = ts_audit_append(a, &e);

		ck_assert_msg(rc < 0, "append %d under EIO returned %d", i, rc);
		ck_assert_uint_eq(ts_audit_size(a), size0);
	}
	/* A sync with nothing new to sign writes nothing; still no change. */
	ts_audit_sync(a);
	after = concat(&l1);
	ck_assert_uint_eq(l1, l0);
	ck_assert(memcmp(before, after, l0) == 0);
	free(after);
	ts_sysio_reset();
	append_n(a, 4, 1);
	ts_audit_close(a);
	after = concat(&l1);
	ck_assert_int_eq(count_lines(after, l1), 4);
	ck_assert(memcmp(before, after, l0) == 0);
	j = parse_line(after, l1, 4);
	ck_assert_int_eq(jint(j, "seq"), 4);
	json_decref(j);
	free(after);
	free(before);
	expect_intact(4);
}
END_TEST

/* A real short write: the file size limit lets half the line through,
 * then write(2) fails with EFBIG.  The half line must be taken back. */
START_TEST(partial_write_rolled_back)
{
	struct ts_audit *a = open_trail(BIG_SEGMENT);
	struct ts_audit_entry e = entry(4);
	struct rlimit old, lim;
	size_t l0, l1;
	char *before, *after;
	int rc, set, restored;

	append_n(a, 1, 3);
	before = slurp(seg(1), &l0);
	signal(SIGXFSZ, SIG_IGN);
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)l0 + 40;
	/* No ck_assert while the limit holds: Check writes its own messages
	 * to a file. */
	set = setrlimit(RLIMIT_FSIZE, &lim);
	rc = ts_audit_append(a, &e);
	restored = setrlimit(RLIMIT_FSIZE, &old);
	ck_assert_int_eq(restored, 0);
	ck_assert_int_eq(set, 0);
	ck_assert_msg(rc < 0, "append past the size limit returned %d", rc);
	after = slurp(seg(1), &l1);
	ck_assert_msg(l1 == l0, "%zu bytes left behind", l1 - l0);
	ck_assert(memcmp(before, after, l0) == 0);
	ck_assert_uint_eq(ts_audit_size(a), l0);
	free(after);
	ck_assert_int_eq(ts_audit_append(a, &e), 0);
	ts_audit_close(a);
	after = slurp(seg(1), &l1);
	ck_assert_int_eq(count_lines(after, l1), 4);
	free(after);
	free(before);
	expect_intact(4);
}
END_TEST

/* A write or open failing just when a new segment is due. */
START_TEST(fault_at_rotation)
{
	static const enum ts_sysio_op ops[] = { TS_SYSIO_WRITE, TS_SYSIO_OPEN };
	struct ts_audit *a = open_trail(SMALL_SEGMENT);
	struct ts_audit_entry e = entry(3);
	size_t l0, l1;
	char *before, *after;
	uint64_t size0;
	int rc;

	append_n(a, 1, 2);
	ck_assert_uint_eq(nsegments(), 2);	/* one entry per segment */
	size0 = ts_audit_size(a);
	before = concat(&l0);
	ts_sysio_inject(ops[_i], 1, ENOSPC, 0);
	rc = ts_audit_append(a, &e);
	ck_assert_msg(rc < 0, "append returned %d", rc);
	ck_assert_uint_eq(ts_audit_size(a), size0);
	after = concat(&l1);
	ck_assert_uint_eq(l1, l0);
	ck_assert(memcmp(before, after, l0) == 0);
	free(after);
	ck_assert_int_eq(ts_audit_append(a, &e), 0);
	append_n(a, 4, 2);
	ts_audit_close(a);
	after = concat(&l1);
	ck_assert_int_eq(count_lines(after, l1), 5);
	ck_assert(memcmp(before, after, l0) == 0);
	free(after);
	free(before);
	expect_intact(5);
}
END_TEST

/* ---- crash recovery ---- */

START_TEST(crash_partial_line_dropped)
{
	struct ts_audit *a;
	size_t l0, l1;
	char *before, *after;
	json_t *j;

	make_trail(4, BIG_SEGMENT);
	before = slurp(seg(1), &l0);
	append_bytes(seg(1), "{\"seq\":5,\"time\":\"2026-11-25T08:1");
	a = open_trail(BIG_SEGMENT);
	ck_assert_uint_eq(ts_audit_size(a), l0);
	after = slurp(seg(1), &l1);
	ck_assert_uint_eq(l1, l0);
	free(after);
	append_n(a, 5, 2);
	ts_audit_close(a);
	after = slurp(seg(1), &l1);
	ck_assert_int_eq(count_lines(after, l1), 6);
	ck_assert(memcmp(before, after, l0) == 0);
	j = parse_line(after, l1, 5);
	ck_assert_int_eq(jint(j, "seq"), 5);
	json_decref(j);
	free(after);
	free(before);
	expect_intact(6);
}
END_TEST

/* The crash came in the middle of the first line of a segment: the
 * segment holds nothing but the cut line.  Case 0: the very first entry
 * of a new trail; case 1: the first entry of a segment just rotated to. */
START_TEST(crash_partial_first_line_of_segment)
{
	struct ts_audit *a;
	unsigned nseg;
	int had;
	size_t l0, l1;
	char *before, *after;

	if (_i == 0) {
		a = open_trail(BIG_SEGMENT);
		ts_audit_close(a);
		had = 0;
	} else {
		make_trail(3, SMALL_SEGMENT);
		had = 3;
	}
	before = concat(&l0);
	nseg = nsegments();
	if (_i == 1) {
		spit(seg(nseg + 1), "", 0);
		nseg++;
	}
	append_bytes(seg(nseg), "{\"seq\":1,\"time\":\"2026-11-25T0");
	a = NULL;
	{
		int rc = ts_audit_open(storefd, HOST, key, _i ? SMALL_SEGMENT :
		                       BIG_SEGMENT, &a);

		ck_assert_msg(rc == 0, "open after a crash mid-write: %d (%s)",
		              rc, strerror(-rc));
	}
	ck_assert_uint_eq(ts_audit_size(a), l0);
	append_n(a, had + 1, 2);
	ts_audit_close(a);
	after = concat(&l1);
	ck_assert_int_eq(count_lines(after, l1), had + 2);
	ck_assert(memcmp(before, after, l0) == 0);
	ck_assert_ptr_null(strstr(after, "2026-11-25T0\""));
	free(after);
	free(before);
	expect_intact((uint64_t)had + 2);
}
END_TEST

/* ---- keys ---- */

START_TEST(verify_key_file)
{
	unsigned char vk[32];
	char hx[65];
	size_t len;
	char *text;

	make_trail(1, BIG_SEGMENT);
	ts_audit_verify_key(key, vk);
	sodium_bin2hex(hx, sizeof(hx), vk, sizeof(vk));
	text = slurp(ap("verify.key"), &len);
	ck_assert_uint_ge(len, 64);
	ck_assert_msg(strncmp(text, hx, 64) == 0, "verify.key %.64s, key %s",
	              text, hx);
	ck_assert_msg(len == 64 || text[64] == '\n', "verify.key: more after "
	              "the key");
	free(text);
	/* Deterministic in the key. */
	{
		unsigned char again[32];

		ts_audit_verify_key(key, again);
		ck_assert(memcmp(vk, again, 32) == 0);
	}
}
END_TEST

START_TEST(open_with_other_key_rejected)
{
	struct ts_seckey *other = NULL;
	struct ts_audit *a = NULL;
	size_t l0, l1;
	char *before, *after;

	make_trail(3, BIG_SEGMENT);
	before = concat(&l0);
	ck_assert_int_eq(ts_seal_keypair(&other), 0);
	ck_assert_int_eq(ts_audit_open(storefd, HOST, other, BIG_SEGMENT, &a),
	                 -EKEYREJECTED);
	after = concat(&l1);
	ck_assert_uint_eq(l1, l0);
	ck_assert(memcmp(before, after, l0) == 0);
	ck_assert_uint_eq(nsegments(), 1);
	free(after);
	free(before);
	ts_seal_seckey_free(other);
	/* The right key still opens it. */
	a = open_trail(BIG_SEGMENT);
	append_n(a, 4, 1);
	ts_audit_close(a);
	expect_intact(4);
}
END_TEST

/* ---- the count of a folded entry ---- */

START_TEST(count_field)
{
	struct ts_audit *a = open_trail(BIG_SEGMENT);
	struct ts_audit_entry e = { .uid = 7, .pid = 8, .comm = "stat",
	                            .op = "lookup", .path = "x", .err = EACCES,
	                            .count = 4321 };
	size_t len;
	char *b;
	json_t *j;

	ck_assert_int_eq(ts_audit_append(a, &e), 0);
	e.count = 0;
	ck_assert_int_eq(ts_audit_append(a, &e), 0);
	ts_audit_close(a);
	b = slurp(seg(1), &len);
	j = parse_line(b, len, 1);
	ck_assert_int_eq(jint(j, "count"), 4321);
	ck_assert_str_eq(jstr(j, "result"), "denied");
	json_decref(j);
	j = parse_line(b, len, 2);
	ck_assert_ptr_null(json_object_get(j, "count"));
	json_decref(j);
	free(b);
	expect_intact(2);
}
END_TEST

/* ---- the checkpoint copy outside the store ---- */

static char copy_path[300];	/* dir/copy.checkpoint: outside audit/ */

static void
setup_copy(void)
{
	setup();
	snprintf(copy_path, sizeof(copy_path), "%s/copy.checkpoint", dir);
}

/* A trail of n standard entries bound to the copy, closed. */
static void
make_trail_copy(int first, int n)
{
	struct ts_audit *a = open_trail(BIG_SEGMENT);
	char msg[512];

	ck_assert_msg(ts_audit_set_copy(a, copy_path, msg, sizeof(msg)) == 0,
	              "set_copy: %s", msg);
	append_n(a, first, n);
	ts_audit_close(a);
}

static uint64_t
copy_seq(void)
{
	struct ts_audit_checkpoint cp;

	ck_assert_int_eq(ts_audit_checkpoint_load(copy_path, &cp), 0);
	return cp.seq;
}

/* verify against the copy: rc, and the message must hold needle. */
static void
expect_copy_verdict(int want, const char *needle)
{
	struct ts_audit_checkpoint cp;
	char msg[512];
	uint64_t n;
	int rc;

	ck_assert_int_eq(ts_audit_checkpoint_load(copy_path, &cp), 0);
	rc = ts_audit_verify(storefd, NULL, &cp, msg, sizeof(msg), &n);
	ck_assert_msg(rc == want && strstr(msg, needle) != NULL,
	              "verify with the copy: %d \"%s\", wanted %d and \"%s\"",
	              rc, msg, want, needle);
}

/* The daemon's start: open, then bind to the copy; its rc and message. */
static int
start_with_copy(char *msg, size_t msglen)
{
	struct ts_audit *a = NULL;
	int rc;

	msg[0] = '\0';
	ck_assert_int_eq(ts_audit_open(storefd, HOST, key, BIG_SEGMENT, &a), 0);
	rc = ts_audit_set_copy(a, copy_path, msg, msglen);
	ts_audit_close(a);
	return rc;
}

START_TEST(copy_created_and_kept)
{
	struct stat sb;

	make_trail(3, BIG_SEGMENT);
	ck_assert_int_eq(exists(copy_path), 0);
	make_trail_copy(4, 2);
	/* Created 0600 at the trail's entry 3, then moved on with it. */
	ck_assert_int_eq(lstat(copy_path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 07777, 0600);
	ck_assert_uint_eq(copy_seq(), 5);
	{
		size_t l1, l2;
		char *c1 = slurp(copy_path, &l1), *c2 = slurp(ap("checkpoint"),
		                                               &l2);

		ck_assert_uint_eq(l1, l2);
		ck_assert(memcmp(c1, c2, l1) == 0);
		free(c1);
		free(c2);
	}
	expect_copy_verdict(0, "not behind the checkpoint copy");
	/* And again: the copy matches, the start goes on. */
	make_trail_copy(6, 1);
	ck_assert_uint_eq(copy_seq(), 6);
	expect_intact(6);
}
END_TEST

/*
 * The replay: an old checkpoint saved, work done, the segment cut back to
 * it and the old checkpoint put back.  Alone the trail looks intact; the
 * copy says otherwise.
 */
START_TEST(copy_catches_replay)
{
	char msg[512], *old, *b;
	size_t oldlen, len, off, ll;

	make_trail_copy(1, 4);
	old = slurp(ap("checkpoint"), &oldlen);
	make_trail_copy(5, 3);
	ck_assert_uint_eq(copy_seq(), 7);
	b = slurp(seg(1), &len);
	line_at(b, len, 5, &off, &ll);
	ck_assert_int_eq(truncate(seg(1), (off_t)off), 0);
	spit(ap("checkpoint"), old, oldlen);
	expect_intact(4);	/* the documented limit without the copy */
	expect_copy_verdict(1, "the trail ends at entry 4 but the checkpoint "
	                    "copy covers entry 7");
	ck_assert_int_eq(start_with_copy(msg, sizeof(msg)), -ESTALE);
	ck_assert_msg(strstr(msg, "ends at entry 4") != NULL &&
	              strstr(msg, "covers entry 7") != NULL &&
	              strstr(msg, copy_path) != NULL, "message: %s", msg);
	/* Refused without a trace: the copy and trail are as they were. */
	ck_assert_uint_eq(copy_seq(), 7);
	ck_assert_int_eq(file_size(seg(1)), (off_t)off);
	free(b);
	free(old);
}
END_TEST

/* The old checkpoint put back over a whole trail. */
START_TEST(copy_catches_old_checkpoint)
{
	char msg[512], *old;
	size_t oldlen;

	make_trail_copy(1, 2);
	old = slurp(ap("checkpoint"), &oldlen);
	make_trail_copy(3, 3);
	spit(ap("checkpoint"), old, oldlen);
	expect_intact(5);
	expect_copy_verdict(1, "signed checkpoint is at entry 2 but the "
	                    "checkpoint copy at entry 5");
	ck_assert_int_eq(start_with_copy(msg, sizeof(msg)), -ESTALE);
	ck_assert_msg(strstr(msg, "entry 2") && strstr(msg, "entry 5"),
	              "message: %s", msg);
	free(old);
}
END_TEST

/* Another trail under the same key, longer than the copy: it differs. */
START_TEST(copy_catches_other_trail)
{
	char msg[512];

	make_trail_copy(1, 3);
	ck_assert_int_eq(unlink(seg(1)), 0);
	ck_assert_int_eq(unlink(ap("checkpoint")), 0);
	{
		/* Other entries (other uids), and more of them. */
		struct ts_audit *a = open_trail(BIG_SEGMENT);

		append_n(a, 100, 6);
		ts_audit_close(a);
	}
	expect_intact(6);
	expect_copy_verdict(1, "entry 3 (segment 1 line 3): differs from the "
	                    "checkpoint copy");
	ck_assert_int_eq(start_with_copy(msg, sizeof(msg)), -EBADMSG);
	ck_assert_msg(strstr(msg, "entry 3 ") && strstr(msg, "rewritten"),
	              "message: %s", msg);
}
END_TEST

/* The copy at an entry that is in an earlier segment than the tail. */
START_TEST(copy_hash_in_earlier_segment)
{
	struct ts_audit *a;
	char msg[512];

	a = open_trail(SMALL_SEGMENT);
	ck_assert_int_eq(ts_audit_set_copy(a, copy_path, msg, sizeof(msg)), 0);
	append_n(a, 1, 3);
	ts_audit_close(a);
	ck_assert_uint_eq(copy_seq(), 3);
	a = open_trail(SMALL_SEGMENT);
	append_n(a, 4, 3);
	ts_audit_close(a);	/* not bound: the copy stays at 3 */
	ck_assert_uint_ge(nsegments(), 4);
	ck_assert_uint_eq(copy_seq(), 3);
	ck_assert_int_eq(start_with_copy(msg, sizeof(msg)), 0);
	expect_copy_verdict(0, "intact");
	/* Entry 3 edited and the chain redone from it: both notice. */
	for (unsigned i = 1, done = 0; i <= nsegments() && !done; i++) {
		size_t len;
		char *b = slurp(seg(i), &len), *u = strstr(b, "\"uid\":1003,");

		if (strstr(b, "\"seq\":3,") != NULL) {
			ck_assert_ptr_nonnull(u);
			u[6] = '9';
			spit(seg(i), b, len);
			done = 1;
		}
		free(b);
	}
	rechain();
	ck_assert_int_eq(start_with_copy(msg, sizeof(msg)), -EBADMSG);
	expect_copy_verdict(1, "differs from the checkpoint copy");
}
END_TEST

START_TEST(copy_damaged_foreign_or_symlink)
{
	struct ts_seckey *other = NULL;
	struct ts_audit *a = NULL;
	char msg[512], target[320];
	struct ts_audit_checkpoint cp;
	size_t len;
	char *b;

	make_trail_copy(1, 3);
	b = slurp(copy_path, &len);
	/* A copy signed by another key. */
	ck_assert_int_eq(ts_seal_keypair(&other), 0);
	{
		int sfd;
		char sub[300];

		snprintf(sub, sizeof(sub), "%s/other", dir);
		ck_assert_int_eq(mkdir(sub, 0700), 0);
		sfd = open(sub, O_RDONLY | O_DIRECTORY);
		ck_assert_int_eq(ts_audit_open(sfd, HOST, other, BIG_SEGMENT, &a), 0);
		snprintf(target, sizeof(target), "%s/other.checkpoint", dir);
		ck_assert_int_eq(ts_audit_set_copy(a, target, msg, sizeof(msg)),
		                 0);
		ts_audit_close(a);
		close(sfd);
	}
	ck_assert_int_eq(rename(target, copy_path), 0);
	ck_assert_int_eq(start_with_copy(msg, sizeof(msg)), -EBADMSG);
	ck_assert_msg(strstr(msg, "not signed by this store's key"), "%s", msg);
	expect_copy_verdict(1, "checkpoint copy (seq 0) is not signed");
	/* Damaged. */
	spit(copy_path, "{\"seq\":3}", 9);
	ck_assert_int_eq(ts_audit_checkpoint_load(copy_path, &cp), -EBADMSG);
	ck_assert_int_eq(start_with_copy(msg, sizeof(msg)), -EBADMSG);
	ck_assert_msg(strstr(msg, "damaged"), "%s", msg);
	/* A symlink is not followed, nor replaced by the start. */
	snprintf(target, sizeof(target), "%s/elsewhere", dir);
	spit(target, b, len);
	ck_assert_int_eq(unlink(copy_path), 0);
	ck_assert_int_eq(symlink(target, copy_path), 0);
	ck_assert_int_eq(ts_audit_checkpoint_load(copy_path, &cp), -ELOOP);
	ck_assert_int_eq(start_with_copy(msg, sizeof(msg)), -ELOOP);
	ck_assert_msg(strstr(msg, copy_path), "%s", msg);
	/* Missing: load says so; a relative path is refused. */
	ck_assert_int_eq(unlink(copy_path), 0);
	ck_assert_int_eq(ts_audit_checkpoint_load(copy_path, &cp), -ENOENT);
	ck_assert_int_eq(ts_audit_open(storefd, HOST, key, BIG_SEGMENT, &a), 0);
	ck_assert_int_eq(ts_audit_set_copy(a, "relative", msg, sizeof(msg)),
	                 -EINVAL);
	ts_audit_close(a);
	ts_seal_seckey_free(other);
	free(b);
}
END_TEST

/* Two syncs at once never leave the copy ahead of the store's. */
static void *
sync_loop(void *arg)
{
	for (int i = 0; i < 50; i++) {
		struct ts_audit_entry e = entry(i);

		ts_audit_append(arg, &e);
		ts_audit_sync(arg);
	}
	return NULL;
}

START_TEST(copy_concurrent_syncs)
{
	struct ts_audit *a = open_trail(BIG_SEGMENT);
	struct ts_audit_checkpoint cp, copy;
	pthread_t t[4];
	char msg[512];

	ck_assert_int_eq(ts_audit_set_copy(a, copy_path, msg, sizeof(msg)), 0);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, sync_loop, a);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ck_assert_int_eq(ts_audit_sync(a), 0);
	ck_assert_int_eq(ts_audit_checkpoint_load(ap("checkpoint"), &cp), 0);
	ck_assert_int_eq(ts_audit_checkpoint_load(copy_path, &copy), 0);
	ck_assert_uint_eq(cp.seq, 200);
	ck_assert_uint_eq(copy.seq, 200);
	ts_audit_close(a);
	ck_assert_int_eq(start_with_copy(msg, sizeof(msg)), 0);
}
END_TEST

START_TEST(space_low_once_per_crossing)
{
	struct ts_audit *a = open_trail(BIG_SEGMENT);
	uint64_t avail, line;
	int rc = ts_audit_space_low(a, 1000, &avail, &line);

	ck_assert_int_ge(rc, 0);
	ck_assert_uint_le(line, 64u << 20);
	ck_assert_uint_gt(line, 0);
	ck_assert_int_eq(rc, avail < line);
	/* Under the line it says so once, not again a second later. */
	ck_assert_int_eq(ts_audit_space_low(a, 2000, &avail, &line), 0);
	ts_audit_close(a);
}
END_TEST


/* ---- retention: prune, the anchor, the view (store/audit_prune.c) ---- */

static void
expect_intact_msg(const char *needle)
{
	char msg[512];
	uint64_t n;
	int rc = verify(NULL, msg, sizeof(msg), &n);

	ck_assert_msg(rc == 0 && strstr(msg, needle) != NULL,
	              "verify %d: \"%s\", wanted 0 and \"%s\"", rc, msg, needle);
}

static const struct ts_audit_entry pruner = { .uid = 0, .comm = "ticketctl",
                                              .path = "" };

/* A trail of 6 small segments, then a prune of all that is older than
 * now + 1 s: every segment but the current one goes. */
START_TEST(prune_all_but_current)
{
	struct ts_audit_pruned p;
	struct ts_audit *a;
	char want[64];

	make_trail(6, SMALL_SEGMENT);
	ck_assert_uint_eq(nsegments(), 6);
	a = open_trail(SMALL_SEGMENT);
	ck_assert_int_eq(ts_audit_prune(a, ts_now_ms() + 1000, &pruner,
	                                &p), 0);
	ck_assert_uint_eq(p.segments, 5);
	ck_assert_uint_eq(p.entries, 5);
	ck_assert_uint_eq(p.first_seq, 6);
	ts_audit_close(a);
	ck_assert(!exists(seg(1)) && !exists(seg(5)) && exists(seg(6)));
	ck_assert(exists(ap("anchor")));
	snprintf(want, sizeof(want), "5 entries pruned before seq 6");
	expect_intact_msg(want);
	/* The prune is an entry, the last one. */
	{
		size_t len;
		char *b = slurp(seg(nsegments() + 5), &len);

		ck_assert_ptr_nonnull(strstr(b, "\"op\":\"prune\""));
		ck_assert_ptr_nonnull(strstr(b, "5 entries in 5 segments pruned "
		                              "before seq 6"));
		free(b);
	}
}
END_TEST

/* One entry is "1 entry", in verify's count, its pruned count and the
 * prune entry's detail. */
START_TEST(prune_one_entry_says_entry)
{
	struct ts_audit_pruned p;
	struct ts_audit *a;
	size_t len;
	char *b;

	make_trail(1, SMALL_SEGMENT);
	expect_intact_msg("audit trail intact: 1 entry in 1 segment,");
	make_trail(1, SMALL_SEGMENT);	/* its second, in a new segment */
	a = open_trail(SMALL_SEGMENT);
	ck_assert_int_eq(ts_audit_prune(a, ts_now_ms() + 1000, &pruner,
	                                &p), 0);
	ck_assert_uint_eq(p.entries, 1);
	ts_audit_close(a);
	expect_intact_msg("; 1 entry pruned before seq 2 (signed anchor)");
	b = slurp(seg(nsegments() + 1), &len);
	ck_assert_ptr_nonnull(strstr(b, "\"1 entry in 1 segment pruned "
	                              "before seq 2"));
	free(b);
}
END_TEST

START_TEST(prune_nothing_old_enough)
{
	struct ts_audit_pruned p;
	struct ts_audit *a;

	make_trail(4, SMALL_SEGMENT);
	a = open_trail(SMALL_SEGMENT);
	ck_assert_int_eq(ts_audit_prune(a, 1000, &pruner, &p), 0);
	ck_assert_uint_eq(p.segments, 0);
	ck_assert_uint_eq(p.entries, 0);
	ts_audit_close(a);
	ck_assert(exists(seg(1)) && !exists(ap("anchor")));
	expect_intact(5);
}
END_TEST

/* The chain runs on from the anchor across reopens and further prunes. */
START_TEST(prune_twice_and_reopen)
{
	struct ts_audit_pruned p;
	struct ts_audit *a;

	make_trail(4, SMALL_SEGMENT);
	a = open_trail(SMALL_SEGMENT);
	ck_assert_int_eq(ts_audit_prune(a, ts_now_ms() + 1000, &pruner,
	                                &p), 0);
	append_n(a, 10, 3);
	ts_audit_close(a);
	a = open_trail(SMALL_SEGMENT);
	append_n(a, 20, 2);
	ck_assert_int_eq(ts_audit_prune(a, ts_now_ms() + 1000, &pruner,
	                                &p), 0);
	ck_assert_uint_eq(p.entries, 6);	/* 4..9: one a segment */
	ts_audit_close(a);
	expect_intact_msg("9 entries pruned before seq 10");
}
END_TEST

START_TEST(prune_forged_or_missing_anchor)
{
	struct ts_audit_pruned p;
	struct ts_audit *a;
	size_t len;
	char *b;

	make_trail(4, SMALL_SEGMENT);
	a = open_trail(SMALL_SEGMENT);
	ck_assert_int_eq(ts_audit_prune(a, ts_now_ms() + 1000, &pruner,
	                                &p), 0);
	ts_audit_close(a);
	b = slurp(ap("anchor"), &len);
	/* Another seq under the same signature: forged. */
	{
		char *q = strstr(b, "\"seq\":");

		ck_assert_ptr_nonnull(q);
		q[6] = q[6] == '3' ? '2' : '3';
	}
	spit(ap("anchor"), b, len);
	expect_tampered("anchor is damaged or not signed");
	unlink(ap("anchor"));
	expect_tampered("no signed anchor covers them");
	free(b);
	/* And the daemon refuses to open it. */
	{
		struct ts_audit *x = NULL;

		ck_assert_int_eq(ts_audit_open(storefd, HOST, key, SMALL_SEGMENT, &x),
		                 -EBADMSG);
	}
}
END_TEST

START_TEST(prune_gap_not_covered)
{
	struct ts_audit_pruned p;
	struct ts_audit *a;

	make_trail(6, SMALL_SEGMENT);
	a = open_trail(SMALL_SEGMENT);
	ck_assert_int_eq(ts_audit_prune(a, ts_now_ms() + 1000, &pruner,
	                                &p), 0);
	append_n(a, 10, 3);
	ts_audit_close(a);
	unlink(seg(6));
	expect_tampered("are missing: the signed anchor covers entries up to 5");
}
END_TEST

/* Makes the time of the last line of segment n 2000-01-01 (same length),
 * its hash kept: what someone who can write audit/ but holds no key would
 * do to have old evidence pruned at once, under a signed anchor. */
static void
backdate_last_line(unsigned n)
{
	size_t len;
	char *b = slurp(seg(n), &len), *last, *t;

	ck_assert(len > 1 && b[len - 1] == '\n');
	b[len - 1] = '\0';
	last = strrchr(b, '\n');
	last = last ? last + 1 : b;
	ck_assert_ptr_nonnull(t = strstr(last, "\"time\":\""));
	memcpy(t + 8, "2000-01-01T00:00:00.000Z", 24);
	b[len - 1] = '\n';
	spit(seg(n), b, len);
	free(b);
}

/* The prune's criterion is the time in a segment's last line; an edited
 * one must not get old segments pruned and the gap signed over. */
static void
expect_backdated_refused(size_t segment_max)
{
	struct ts_audit_pruned p;
	struct ts_audit *a;
	int64_t y2001 = 978307200000;

	a = open_trail(segment_max);
	ck_assert_int_eq(ts_audit_prune(a, y2001, &pruner, &p), -EBADMSG);
	ck_assert_uint_eq(p.segments, 0);
	/* Refused once, not again at every tick of the policy. */
	ck_assert(ts_audit_prune_next(a) == INT64_MAX);
	ts_audit_close(a);
	ck_assert(exists(seg(1)) && !exists(ap("anchor")));
	expect_tampered("entry ");
}

START_TEST(prune_refuses_backdated_single_line)
{
	make_trail(6, SMALL_SEGMENT);
	backdate_last_line(1);
	expect_backdated_refused(SMALL_SEGMENT);
}
END_TEST

START_TEST(prune_refuses_backdated_after_anchor)
{
	struct ts_audit_pruned p;
	struct ts_audit *a;
	unsigned first = 1;

	make_trail(6, SMALL_SEGMENT);
	a = open_trail(SMALL_SEGMENT);
	ck_assert_int_eq(ts_audit_prune(a, ts_now_ms() + 1000, &pruner,
	                                &p), 0);
	append_n(a, 20, 6);
	ts_audit_close(a);
	while (!exists(seg(first)))
		first++;
	ck_assert(exists(ap("anchor")) && exists(seg(first + 2)));
	/* The first segment that remains chains from the anchor. */
	backdate_last_line(first);
	a = open_trail(SMALL_SEGMENT);
	ck_assert_int_eq(ts_audit_prune(a, 978307200000, &pruner, &p),
	                 -EBADMSG);
	ts_audit_close(a);
	ck_assert(exists(seg(first)));
}
END_TEST

START_TEST(prune_refuses_backdated_multi_line)
{
	make_trail(12, 1000);
	ck_assert_uint_gt(nsegments(), 2);
	backdate_last_line(1);
	expect_backdated_refused(1000);
}
END_TEST

/* The oldest segment's last time edited into the future: the policy would
 * never find it due (personal data kept past its age, silently).  Its
 * deadline is read once: an edit is reported then, once (INT64_MIN), and
 * nothing is due after. */
START_TEST(prune_next_reports_forward_dated)
{
	struct ts_audit *a;
	size_t len;
	char *b, *t;

	make_trail(6, SMALL_SEGMENT);
	b = slurp(seg(1), &len);
	ck_assert_ptr_nonnull(t = strstr(b, "\"time\":\""));
	memcpy(t + 8, "2099", 4);
	spit(seg(1), b, len);
	free(b);
	a = open_trail(SMALL_SEGMENT);
	ck_assert(ts_audit_prune_next(a) == INT64_MIN);
	ck_assert(ts_audit_prune_next(a) == INT64_MAX);
	ts_audit_close(a);
}
END_TEST

/* A later segment whose last line does not parse: the prune fails, and
 * the policy's ticker does not retry (and log) it every second. */
START_TEST(prune_damaged_segment_not_retried)
{
	struct ts_audit_pruned p;
	struct ts_audit *a;

	make_trail(4, SMALL_SEGMENT);
	append_bytes(seg(2), "garbage\n");
	a = open_trail(SMALL_SEGMENT);
	ck_assert(ts_audit_prune_next(a) < ts_now_ms());	/* seg 1 is due */
	ck_assert_int_lt(ts_audit_prune(a, ts_now_ms() + 1000, &pruner, &p), 0);
	ck_assert(ts_audit_prune_next(a) == INT64_MAX);
	ts_audit_close(a);
	ck_assert(exists(seg(1)));
}
END_TEST

/* Whoever can write audit/ puts a FIFO where a segment was: the daemon
 * reads segments under the trail's lock (the ticker, audit.log's
 * readers), so an open that blocked would hang every request. */
START_TEST(fifo_segment_never_blocks)
{
	struct ts_audit_pruned p;
	struct ts_audit *a;
	char buf[256];

	make_trail(4, SMALL_SEGMENT);
	a = open_trail(SMALL_SEGMENT);
	ck_assert_int_eq(unlink(seg(1)), 0);
	ck_assert_int_eq(mkfifo(seg(1), 0600), 0);
	alarm(3);
	(void)ts_audit_prune_next(a);
	ck_assert_int_lt(ts_audit_prune(a, ts_now_ms() + 1000, &pruner, &p), 0);
	(void)ts_audit_read(a, buf, sizeof(buf), 0);
	alarm(0);
	ts_audit_close(a);
}
END_TEST

/* A descriptor open across a prune: the size never shrinks, its offsets
 * keep pointing at the same bytes; closed, the file is what remains. */
START_TEST(prune_view_keeps_offsets)
{
	struct ts_audit_pruned p;
	struct ts_audit *a;
	uint64_t size0, size1;
	char buf[8192], tail0[64];
	ssize_t r;

	make_trail(6, SMALL_SEGMENT);
	a = open_trail(SMALL_SEGMENT);
	ts_audit_view_open(a);
	size0 = ts_audit_size(a);
	r = ts_audit_read(a, tail0, sizeof(tail0), size0 - sizeof(tail0));
	ck_assert_int_eq(r, (ssize_t)sizeof(tail0));
	ck_assert_int_eq(ts_audit_prune(a, ts_now_ms() + 1000, &pruner,
	                                &p), 0);
	size1 = ts_audit_size(a);
	ck_assert_uint_gt(size1, size0);	/* grew by the prune's entry */
	r = ts_audit_read(a, buf, sizeof(tail0), size0 - sizeof(tail0));
	ck_assert_int_eq(r, (ssize_t)sizeof(tail0));
	ck_assert_int_eq(memcmp(buf, tail0, sizeof(tail0)), 0);
	r = ts_audit_read(a, buf, sizeof(buf), size0);
	ck_assert_int_eq(r, (ssize_t)(size1 - size0));
	ck_assert_ptr_nonnull(memmem(buf, (size_t)r, "\"op\":\"prune\"", 12));
	/* The pruned part reads as blanks ending in a newline. */
	r = ts_audit_read(a, buf, 16, 0);
	ck_assert_int_eq(r, 16);
	ck_assert_int_eq(buf[0], ' ');
	ts_audit_view_close(a);
	ck_assert_uint_lt(ts_audit_size(a), size0);
	r = ts_audit_read(a, buf, 8, 0);
	ck_assert_int_eq(r, 8);
	ck_assert_int_eq(memcmp(buf, "{\"seq\":6", 8), 0);
	ts_audit_close(a);
}
END_TEST

START_TEST(prune_next_deadline)
{
	struct ts_audit *a;
	int64_t t0 = ts_now_ms();

	make_trail(1, SMALL_SEGMENT);
	a = open_trail(SMALL_SEGMENT);
	ck_assert(ts_audit_prune_next(a) == INT64_MAX);	/* only current */
	append_n(a, 2, 2);
	ck_assert(ts_audit_prune_next(a) <= ts_now_ms());
	ck_assert(ts_audit_prune_next(a) >= t0 - 1000);
	ts_audit_close(a);
}
END_TEST

/* ---- forward-secure sealing (store/audit_fss.c) ---- */

static char fss_path[300], seedtext[TS_AUDIT_SEED_MAX];

static struct ts_audit *
open_sealed(void)
{
	struct ts_audit *a = open_trail(BIG_SEGMENT);
	char msg[512];

	ck_assert_msg(ts_audit_set_fss(a, fss_path, msg, sizeof(msg)) == 0,
	              "set_fss: %s", msg);
	return a;
}

static int
verify_seed(char *msg, size_t msglen)
{
	msg[0] = '\0';
	return ts_audit_verify_seed(storefd, seedtext, msg, msglen);
}

/* Entries over three 1-second epochs, sealed each. */
static void
make_sealed_trail(void)
{
	struct ts_audit *a;

	snprintf(fss_path, sizeof(fss_path), "%s/key.fss", dir);
	ck_assert_int_eq(ts_audit_fss_create(fss_path, 1, seedtext), 0);
	a = open_sealed();
	for (int e = 0; e < 3; e++) {
		append_n(a, 1 + 3 * e, 3);
		usleep(1100 * 1000);
		ck_assert_int_eq(ts_audit_sync(a), 0);
	}
	ts_audit_close(a);
}

START_TEST(fss_state_and_seals)
{
	unsigned char seed[32], k[32], want[32];
	struct stat sb;
	char msg[512], kh[65], *text;
	size_t len;
	json_t *j;
	long long n;

	make_sealed_trail();
	ck_assert_int_eq(verify_seed(msg, sizeof(msg)), 0);
	ck_assert_msg(strstr(msg, "forward-secure seals intact") != NULL, "%s",
	              msg);
	ck_assert_int_eq(stat(fss_path, &sb), 0);
	ck_assert_uint_eq(sb.st_mode & 0777, 0600);
	text = slurp(fss_path, &len);
	ck_assert_int_eq(sodium_hex2bin(seed, 32, seedtext, 64, NULL, NULL,
	                                NULL), 0);
	sodium_bin2hex(kh, sizeof(kh), seed, 32);
	ck_assert_ptr_null(strstr(text, kh));	/* never the seed */
	/* key_n = evolve^n(key_0), key_0 keyed with the seed. */
	j = json_loadb(text, len, 0, NULL);
	n = json_integer_value(json_object_get(j, "n"));
	ck_assert_int_ge(n, 3);
	crypto_generichash(k, 32, (const unsigned char *)"ticketfs-fss-key0-v1",
	                   sizeof("ticketfs-fss-key0-v1"), seed, 32);
	for (long long i = 0; i < n; i++)
		crypto_generichash(k, 32,
		                   (const unsigned char *)"ticketfs-fss-evolve-v1",
		                   sizeof("ticketfs-fss-evolve-v1"), k, 32);
	ck_assert_int_eq(sodium_hex2bin(want, 32, json_string_value(
	        json_object_get(j, "key")), 64, NULL, NULL, NULL), 0);
	ck_assert_int_eq(memcmp(k, want, 32), 0);
	json_decref(j);
	free(text);
}
END_TEST

/* Whoever holds the secret key and the state as it is now rewrites an
 * entry of a sealed epoch, re-chains and re-signs: the checkpoint
 * verifies, the seals do not. */
START_TEST(fss_detects_rewrite_with_every_key)
{
	struct ts_audit *a;
	char msg[512];
	uint64_t n;
	size_t len;
	char *b, *q;

	make_sealed_trail();
	b = slurp(seg(1), &len);
	q = strstr(b, "\"uid\":1002");
	ck_assert_ptr_nonnull(q);
	q[9] = '7';
	spit(seg(1), b, len);
	free(b);
	rechain();
	unlink(ap("checkpoint"));
	a = open_sealed();	/* the attacker's daemon: every key */
	append_n(a, 50, 1);
	ts_audit_close(a);
	ck_assert_int_eq(verify(NULL, msg, sizeof(msg), &n), 0);
	ck_assert_int_eq(verify_seed(msg, sizeof(msg)), 1);
	ck_assert_msg(strstr(msg, "entries 1 to ") != NULL &&
	              strstr(msg, "differ from their forward-secure seal"),
	              "%s", msg);
}
END_TEST

/* A state put back from before (a backup of KEYFILE.fss) would seal
 * epochs already sealed again; a state of another trail (or this one's
 * seals removed) would start sealing mid-way.  Either is refused. */
START_TEST(fss_state_rolled_back_or_foreign)
{
	struct ts_audit *a;
	char msg[512], *old, *now, *seals = NULL;
	size_t oldlen, nowlen;
	DIR *d;
	struct dirent *de;

	snprintf(fss_path, sizeof(fss_path), "%s/key.fss", dir);
	ck_assert_int_eq(ts_audit_fss_create(fss_path, 1, seedtext), 0);
	old = slurp(fss_path, &oldlen);		/* epoch 0 */
	a = open_sealed();
	append_n(a, 1, 3);
	usleep(1100 * 1000);
	ck_assert_int_eq(ts_audit_sync(a), 0);	/* seals epoch 0 */
	ts_audit_close(a);
	now = slurp(fss_path, &nowlen);
	spit(fss_path, old, oldlen);
	chmod(fss_path, 0600);
	a = open_trail(BIG_SEGMENT);
	ck_assert_int_eq(ts_audit_set_fss(a, fss_path, msg, sizeof(msg)),
	                 -ESTALE);
	ck_assert_msg(strstr(msg, "rolled back") != NULL, "%s", msg);
	ts_audit_close(a);
	/* The state as it was: accepted again. */
	spit(fss_path, now, nowlen);
	a = open_sealed();
	ts_audit_close(a);
	/* No seals file for a state past epoch 0. */
	ck_assert_ptr_nonnull(d = opendir(ap("")));
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "seals-", 6) == 0 &&
		    strlen(de->d_name) < 32) {
			char nm[32];

			memcpy(nm, de->d_name, strlen(de->d_name) + 1);
			seals = strdup(ap(nm));
		}
	closedir(d);
	ck_assert_ptr_nonnull(seals);
	unlink(seals);
	a = open_trail(BIG_SEGMENT);
	ck_assert_int_eq(ts_audit_set_fss(a, fss_path, msg, sizeof(msg)),
	                 -ESTALE);
	ck_assert_msg(strstr(msg, "another trail") != NULL, "%s", msg);
	ts_audit_close(a);
	free(seals);
	free(old);
	free(now);
}
END_TEST

/* key_n must not outlive its epoch on disk: the old state's inode, freed
 * by the rename of the new one, is overwritten (a descriptor held to it
 * reads no key). */
START_TEST(fss_old_state_wiped)
{
	struct ts_audit *a;
	char buf[512];
	ssize_t r;
	int fd;

	snprintf(fss_path, sizeof(fss_path), "%s/key.fss", dir);
	ck_assert_int_eq(ts_audit_fss_create(fss_path, 1, seedtext), 0);
	ck_assert_int_ge(fd = open(fss_path, O_RDONLY), 0);
	r = pread(fd, buf, sizeof(buf) - 1, 0);
	ck_assert_int_gt(r, 0);
	buf[r] = '\0';
	ck_assert_ptr_nonnull(strstr(buf, "\"key\":\""));
	a = open_sealed();
	append_n(a, 1, 2);
	usleep(1100 * 1000);
	ck_assert_int_eq(ts_audit_sync(a), 0);	/* epoch 0 sealed, key_1 */
	ts_audit_close(a);
	r = pread(fd, buf, sizeof(buf) - 1, 0);
	ck_assert_int_ge(r, 0);
	buf[r] = '\0';
	ck_assert_msg(strstr(buf, "\"key\":\"") == NULL,
	              "the old state still holds its key: %s", buf);
	for (ssize_t i = 0; i < r; i++)
		ck_assert_int_eq(buf[i], 0);
	close(fd);
}
END_TEST

/* The seals file is in the store, writable by whoever can write audit/;
 * its last line, a seal the state's own key made, is believed only with
 * that key's MAC: else a forged "next" would evolve the key far ahead
 * (for ever, at 2^62) and no epoch would be sealed again. */
START_TEST(fss_forged_last_seal_refused)
{
	struct ts_audit *a;
	char msg[512], line[400], *text, *seals = NULL;
	size_t len;
	DIR *d;
	struct dirent *de;
	json_t *j;

	snprintf(fss_path, sizeof(fss_path), "%s/key.fss", dir);
	ck_assert_int_eq(ts_audit_fss_create(fss_path, 1, seedtext), 0);
	a = open_sealed();
	append_n(a, 1, 2);
	ts_audit_close(a);		/* seals epoch 0: state at epoch >= 1 */
	text = slurp(fss_path, &len);
	j = json_loadb(text, len, 0, NULL);
	ck_assert_ptr_nonnull(d = opendir(ap("")));
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, "seals-", 6) == 0 &&
		    strlen(de->d_name) < 32) {
			char nm[32];

			memcpy(nm, de->d_name, strlen(de->d_name) + 1);
			seals = strdup(ap(nm));
		}
	closedir(d);
	ck_assert_ptr_nonnull(seals);
	snprintf(line, sizeof(line), "{\"epoch\":%lld,\"next\":2000000,"
	         "\"seq\":2,\"hash\":\"%064d\",\"mac\":\"%064d\"}\n",
	         (long long)json_integer_value(json_object_get(j, "n")), 0, 0);
	append_bytes(seals, line);
	a = open_trail(BIG_SEGMENT);
	ck_assert_int_eq(ts_audit_set_fss(a, fss_path, msg, sizeof(msg)),
	                 -EBADMSG);
	ck_assert_msg(strstr(msg, "forged") != NULL, "%s", msg);
	ts_audit_close(a);
	free(text);
	text = slurp(fss_path, &len);
	ck_assert_msg(strstr(text, "\"n\":2000000") == NULL,
	              "the state was moved on by a forged seal: %s", text);
	json_decref(j);
	free(text);
	free(seals);
}
END_TEST

START_TEST(fss_bad_seed_and_no_seals)
{
	char msg[512];

	make_trail(2, BIG_SEGMENT);
	strcpy(seedtext, "00-1-1");
	ck_assert_int_eq(verify_seed(msg, sizeof(msg)), -EINVAL);
	snprintf(fss_path, sizeof(fss_path), "%s/key.fss", dir);
	ck_assert_int_eq(ts_audit_fss_create(fss_path, 1, seedtext), 0);
	ck_assert_int_eq(ts_audit_fss_create(fss_path, 1, seedtext), -EEXIST);
	/* No seal yet while the first epoch lasts (and the second it
	 * takes to make one): fine, and said. */
	ck_assert_int_eq(verify_seed(msg, sizeof(msg)), 0);
	ck_assert_msg(strstr(msg, "none yet") != NULL, "%s", msg);
	/* The same seed, its first epoch long over (its t0 moved back):
	 * seals are missing. */
	{
		char *dash = strchr(seedtext, '-'), hex[70];
		long long t0;
		unsigned e;

		ck_assert_ptr_nonnull(dash);
		ck_assert_int_eq(sscanf(dash, "-%lld-%u", &t0, &e), 2);
		ck_assert_int_lt(dash - seedtext, (long)sizeof(hex));
		memcpy(hex, seedtext, (size_t)(dash - seedtext));
		hex[dash - seedtext] = '\0';
		ck_assert_int_lt(snprintf(seedtext, sizeof(seedtext), "%.64s-%lld-%u",
		                          hex, t0 - 100, e), (int)sizeof(seedtext));
	}
	ck_assert_int_eq(verify_seed(msg, sizeof(msg)), 1);
	ck_assert_ptr_nonnull(strstr(msg, "no forward-secure seals"));
	/* No state: the trail runs unsealed. */
	{
		struct ts_audit *a = open_trail(BIG_SEGMENT);
		char p[300];

		snprintf(p, sizeof(p), "%s/none.fss", dir);
		ck_assert_int_eq(ts_audit_set_fss(a, p, msg, sizeof(msg)),
		                 -ENOENT);
		ts_audit_close(a);
	}
}
END_TEST

static Suite *
audit_suite(void)
{
	Suite *s = suite_create("audit");
	TCase *fm = tcase_create("format");
	TCase *ch = tcase_create("chain");
	TCase *tp = tcase_create("tamper");
	TCase *ft = tcase_create("faults");
	TCase *ky = tcase_create("keys");
	TCase *cp = tcase_create("copy");
	TCase *pr = tcase_create("prune");
	TCase *fss = tcase_create("fss");

	tcase_add_checked_fixture(fm, setup, teardown);
	tcase_add_test(fm, open_creates_files);
	tcase_add_test(fm, entries_are_json_lines);
	tcase_add_test(fm, daemon_entry_zero_ids);
	tcase_add_test(fm, entries_name_their_host);
	tcase_add_test(fm, escaping_round_trips);
	tcase_add_test(fm, escaping_bad_utf8_and_long);
	suite_add_tcase(s, fm);

	tcase_add_checked_fixture(ch, setup, teardown);
	tcase_add_test(ch, sync_checkpoint_and_reopen);
	tcase_add_test(ch, size_and_read_as_one_file);
	tcase_add_test(ch, rotation);
	tcase_add_test(ch, concurrent_appends);
	suite_add_tcase(s, ch);

	tcase_add_checked_fixture(tp, setup, teardown);
	tcase_add_loop_test(tp, tamper_edit_line, 1, NTAMPER + 1);
	tcase_add_loop_test(tp, tamper_edit_hash, 1, NTAMPER + 1);
	tcase_add_loop_test(tp, tamper_delete_line, 1, NTAMPER + 1);
	tcase_add_loop_test(tp, tamper_duplicate_line, 1, NTAMPER + 1);
	tcase_add_loop_test(tp, tamper_swap_lines, 1, NTAMPER);
	tcase_add_test(tp, tamper_swap_renumbered);
	tcase_add_test(tp, tamper_tail_cut);
	tcase_add_test(tp, tamper_missing_segment);
	tcase_add_test(tp, tamper_missing_last_segment);
	tcase_add_test(tp, tamper_edit_in_later_segment);
	tcase_add_loop_test(tp, tamper_rewrite_chain, 1, NTAMPER + 1);
	tcase_add_test(tp, tamper_checkpoint);
	tcase_add_test(tp, wrong_verify_key);
	tcase_add_test(tp, forged_with_other_key);
	suite_add_tcase(s, tp);

	tcase_add_checked_fixture(ft, setup, teardown);
	tcase_add_test(ft, write_fault_once);
	tcase_add_test(ft, write_fault_persistent);
	tcase_add_test(ft, partial_write_rolled_back);
	tcase_add_loop_test(ft, fault_at_rotation, 0, 2);
	tcase_add_test(ft, crash_partial_line_dropped);
	tcase_add_loop_test(ft, crash_partial_first_line_of_segment, 0, 2);
	suite_add_tcase(s, ft);

	tcase_add_checked_fixture(ky, setup, teardown);
	tcase_add_test(ky, verify_key_file);
	tcase_add_test(ky, open_with_other_key_rejected);
	suite_add_tcase(s, ky);

	tcase_add_checked_fixture(cp, setup_copy, teardown);
	tcase_add_test(cp, count_field);
	tcase_add_test(cp, copy_created_and_kept);
	tcase_add_test(cp, copy_catches_replay);
	tcase_add_test(cp, copy_catches_old_checkpoint);
	tcase_add_test(cp, copy_catches_other_trail);
	tcase_add_test(cp, copy_hash_in_earlier_segment);
	tcase_add_test(cp, copy_damaged_foreign_or_symlink);
	tcase_add_test(cp, copy_concurrent_syncs);
	tcase_add_test(cp, space_low_once_per_crossing);
	suite_add_tcase(s, cp);

	tcase_add_checked_fixture(pr, setup, teardown);
	tcase_add_test(pr, prune_all_but_current);
	tcase_add_test(pr, prune_one_entry_says_entry);
	tcase_add_test(pr, prune_nothing_old_enough);
	tcase_add_test(pr, prune_twice_and_reopen);
	tcase_add_test(pr, prune_forged_or_missing_anchor);
	tcase_add_test(pr, prune_gap_not_covered);
	tcase_add_test(pr, prune_view_keeps_offsets);
	tcase_add_test(pr, prune_next_deadline);
	tcase_add_test(pr, fifo_segment_never_blocks);
	tcase_add_test(pr, prune_next_reports_forward_dated);
	tcase_add_test(pr, prune_damaged_segment_not_retried);
	tcase_add_test(pr, prune_refuses_backdated_single_line);
	tcase_add_test(pr, prune_refuses_backdated_after_anchor);
	tcase_add_test(pr, prune_refuses_backdated_multi_line);
	suite_add_tcase(s, pr);

	tcase_set_timeout(fss, 30);
	tcase_add_checked_fixture(fss, setup, teardown);
	tcase_add_test(fss, fss_state_and_seals);
	tcase_add_test(fss, fss_detects_rewrite_with_every_key);
	tcase_add_test(fss, fss_bad_seed_and_no_seals);
	tcase_add_test(fss, fss_forged_last_seal_refused);
	tcase_add_test(fss, fss_old_state_wiped);
	tcase_add_test(fss, fss_state_rolled_back_or_foreign);
	suite_add_tcase(s, fss);
	return s;
}

int
main(void)
{
	return ts_check_run(audit_suite());
}
