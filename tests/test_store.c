/*
 * test_store: the file backend, in a fresh temporary directory per test.
 * Creation and opening, intake drop and pickup, whole-ticket writes and
 * loads, removal, permissions, damaged files, and failures injected
 * through store/sysio.h: a failed write must leave the stored ticket as it
 * was and no temporary file behind.
 */
#include <check.h>

#include "tests/check_main.h"
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/intake.h"
#include "store/record.h"
#include "store/seal.h"
#include "store/store.h"
#include "store/sysio.h"
#include "store/ticket.h"

#define T0 INT64_C(1767225600000)	/* 2026-01-01T00:00:00Z */
#define FAR INT64_C(4102444800000)	/* 2100-01-01T00:00:00Z */
static const char POLICY[] = "ticket processed+30d\n";
static const char ID1[] = "20260101-000000-000001-0001";
static const char ID2[] = "20260101-000000-000002-0002";
static const char ID3[] = "20260101-000000-000003-0003";

/* Per test; CK_FORK gives each test its own copy. */
static char tmpdir[256];	/* mkdtemp'd */
static char path[300];		/* tmpdir/store */
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
	strcpy(tmpdir, "/tmp/ts-test-store-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(path, sizeof(path), "%s/store", tmpdir);
	ck_assert_int_eq(ts_seal_keypair(&key), 0);
}

static void
teardown(void)
{
	ts_sysio_reset();
	ts_seal_seckey_free(key);
	key = NULL;
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* tmpdir/store/rel, into a static buffer (one at a time). */
static const char *
sp(const char *rel)
{
	static char buf[1024];

	snprintf(buf, sizeof(buf), "%s/%s", path, rel);
	return buf;
}

static struct ts_store *
create_open(void)
{
	struct ts_store *st = NULL;

	ck_assert_int_eq(ts_store_create(path, ts_seal_seckey_pk(key), POLICY),
	                 0);
	ck_assert_int_eq(ts_store_open(path, TS_STORE_DAEMON, &st), 0);
	ck_assert_ptr_nonnull(st);
	return st;
}

/* Number of entries of dir whose name starts with prefix ("" = all but
 * . and ..). */
static int
count_prefix(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	ck_assert_msg(d != NULL, "cannot open %s", dir);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		n += strncmp(de->d_name, prefix, strlen(prefix)) == 0;
	}
	closedir(d);
	return n;
}

/* The only regular file in dir whose name contains needle, in out. */
static void
find_file(const char *dir, const char *needle, char *out, size_t outlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_type == DT_REG && strstr(de->d_name, needle) != NULL) {
			snprintf(out, outlen, "%s/%s", dir, de->d_name);
			n++;
		}
	closedir(d);
	ck_assert_msg(n == 1, "%d files with \"%s\" in %s", n, needle, dir);
}

/* Flips the lowest bit of byte `at` (from the end if negative) of file p. */
static void
flip_byte(const char *p, long at)
{
	int fd = open(p, O_RDWR);
	struct stat sb;
	uint8_t c;
	off_t off;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstat(fd, &sb), 0);
	off = at >= 0 ? at : sb.st_size + at;
	ck_assert_int_eq(pread(fd, &c, 1, off), 1);
	c ^= 1;
	ck_assert_int_eq(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

static void
write_file(const char *p, const void *buf, size_t len)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static char *
read_text(const char *p)
{
	FILE *f = fopen(p, "r");
	char *buf = calloc(1, 65536);

	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(buf);
	ck_assert_uint_lt(fread(buf, 1, 65535, f), 65535);
	fclose(f);
	return buf;
}

static unsigned
mode_of(const char *p)
{
	struct stat sb;

	ck_assert_msg(lstat(p, &sb) == 0, "no %s", p);
	return sb.st_mode & 07777;
}

/* ---- tickets with real sealed boxes, new ones flagged TS_BOX_NEW ---- */

struct built {
	struct ts_ticket t;
	uint8_t *extra;		/* the boxes flagged TS_BOX_NEW */
	size_t extralen;
};

static void
seal_new(struct built *b, const char *field, const char *value,
         struct ts_box *box)
{
	ck_assert_int_eq(ts_intake_seal_append(ts_seal_seckey_pk(key), b->t.id,
	                                       field, value, strlen(value),
	                                       &b->extra, &b->extralen, box),
	                 0);
	box->off |= TS_BOX_NEW;
}

static void
built_clear_extra(struct built *b)
{
	free(b->extra);
	b->extra = NULL;
	b->extralen = 0;
}

static void
built_release(struct built *b)
{
	built_clear_extra(b);
	ts_ticket_release(&b->t);
}

/* A ticket: subject, username, email, one message, one authorization. */
static void
build(struct built *b, const char *id)
{
	struct ts_message *m;
	struct ts_auth *a;

	memset(b, 0, sizeof(*b));
	strcpy(b->t.id, id);
	b->t.created_ms = T0;
	b->t.status = TS_OPEN;
	seal_new(b, "subject", "printer on fire", &b->t.field[TS_F_SUBJECT]);
	seal_new(b, "username", "alice", &b->t.field[TS_F_USERNAME]);
	seal_new(b, "email", "alice@example.com", &b->t.field[TS_F_EMAIL]);
	ck_assert_ptr_nonnull(m = ts_ticket_add_msg(&b->t));
	strcpy(m->name, "m1");
	m->stored_ms = T0 + 1000;
	seal_new(b, "messages/m1", "hello", &m->box);
	ck_assert_ptr_nonnull(a = ts_ticket_add_auth(&b->t));
	strcpy(a->name, "a1");
	a->created_ms = T0;
	a->expires_ms = FAR;
	seal_new(b, "authorizations/a1/account", "acct", &a->box[TS_A_ACCOUNT]);
	seal_new(b, "authorizations/a1/password", "pw", &a->box[TS_A_PASSWORD]);
}

/* Reads box of ticket id from the store and checks it opens to want. */
static void
check_stored_box(struct ts_store *st, const char *id, const struct ts_box *box,
                 const char *field, const char *want)
{
	uint8_t *sealed = malloc(box->len);
	unsigned char *plain = calloc(1, box->len);

	ck_assert_ptr_nonnull(sealed);
	ck_assert_ptr_nonnull(plain);
	ck_assert_uint_eq(box->off & TS_BOX_NEW, 0);
	struct ts_ticket t;
	uint8_t *rec;
	size_t reclen;
	int kind;

	ck_assert_int_eq(ts_store_read_box(st, id, box, sealed), 0);
	/* Written with the store's key, a ticket has its own key pair. */
	ck_assert_int_eq(ts_store_read_record(st, id, &rec, &reclen), 0);
	ck_assert_int_eq(ts_record_decode(rec, reclen, &kind, &t), 0);
	free(rec);
	if (t.keyed)
		ck_assert_msg(ts_store_open_box(st, &t, field, sealed,
		                                box->len, plain) == 0,
		              "%s of %s does not open", field, id);
	else
		ck_assert_msg(ts_seal_open(key, id, field, sealed, box->len,
		                           plain) == 0,
		              "%s of %s does not open", field, id);
	ts_ticket_release(&t);
	ck_assert_uint_eq(ts_box_plain_len(box), strlen(want));
	ck_assert_mem_eq(plain, want, strlen(want));
	free(sealed);
	free(plain);
}

/* Every box of the ticket built by build() opens from the store. */
static void
check_built_boxes(struct ts_store *st, const struct ts_ticket *t)
{
	check_stored_box(st, t->id, &t->field[TS_F_SUBJECT], "subject",
	                 "printer on fire\n");
	check_stored_box(st, t->id, &t->field[TS_F_USERNAME], "username",
	                 "alice\n");
	check_stored_box(st, t->id, &t->field[TS_F_EMAIL], "email",
	                 "alice@example.com\n");
	check_stored_box(st, t->id, &ts_ticket_find_msg(t, "m1")->box,
	                 "messages/m1", "hello\n");
	check_stored_box(st, t->id,
	                 &ts_ticket_find_auth(t, "a1")->box[TS_A_ACCOUNT],
	                 "authorizations/a1/account", "acct\n");
	check_stored_box(st, t->id,
	                 &ts_ticket_find_auth(t, "a1")->box[TS_A_PASSWORD],
	                 "authorizations/a1/password", "pw\n");
}

/* Metadata and box positions of a and b are the same. */
static void
check_same_ticket(const struct ts_ticket *a, const struct ts_ticket *b)
{
	ck_assert_str_eq(a->id, b->id);
	ck_assert_int_eq(a->created_ms, b->created_ms);
	ck_assert_int_eq(a->status, b->status);
	ck_assert_int_eq(a->processing_ms, b->processing_ms);
	ck_assert_int_eq(a->processed_ms, b->processed_ms);
	ck_assert_mem_eq(a->field, b->field, sizeof(a->field));
	ck_assert_uint_eq(a->nmsg, b->nmsg);
	for (size_t i = 0; i < a->nmsg; i++) {
		ck_assert_str_eq(a->msg[i].name, b->msg[i].name);
		ck_assert_int_eq(a->msg[i].stored_ms, b->msg[i].stored_ms);
		ck_assert_mem_eq(&a->msg[i].box, &b->msg[i].box,
		                 sizeof(struct ts_box));
	}
	ck_assert_uint_eq(a->nauth, b->nauth);
	for (size_t i = 0; i < a->nauth; i++) {
		ck_assert_str_eq(a->auth[i].name, b->auth[i].name);
		ck_assert_int_eq(a->auth[i].created_ms, b->auth[i].created_ms);
		ck_assert_int_eq(a->auth[i].expires_ms, b->auth[i].expires_ms);
		ck_assert_mem_eq(a->auth[i].box, b->auth[i].box,
		                 sizeof(a->auth[i].box));
	}
}

/* ---- collecting what ts_store_load hands out ---- */

struct loaded {
	char id[TS_NAME_MAX + 1];
	int err;
	int has;		/* t is valid */
	struct ts_ticket t;
};

struct loadset {
	struct loaded v[16];
	size_t n;
	size_t stop_after;	/* return 1 after this many; 0 = never */
};

static int
on_ticket(void *arg, const char *id, struct ts_ticket *t, int err)
{
	struct loadset *ls = arg;
	struct loaded *l;

	ck_assert_uint_lt(ls->n, 16);
	l = &ls->v[ls->n++];
	snprintf(l->id, sizeof(l->id), "%s", id);
	l->err = err;
	l->has = t != NULL;
	ck_assert_msg((t == NULL) == (err < 0), "t %p with err %d", t, err);
	if (t != NULL)
		l->t = *t;	/* takes ownership of its arrays */
	return ls->stop_after && ls->n >= ls->stop_after;
}

static void
loadset_release(struct loadset *ls)
{
	for (size_t i = 0; i < ls->n; i++)
		if (ls->v[i].has)
			ts_ticket_release(&ls->v[i].t);
	ls->n = 0;
}

/* Loads the store; returns the entry for id (NULL if none). */
static struct loaded *
load_find(struct loadset *ls, const char *id)
{
	for (size_t i = 0; i < ls->n; i++)
		if (strcmp(ls->v[i].id, id) == 0)
			return &ls->v[i];
	return NULL;
}

/* Writes a fresh built ticket and checks it worked. */
static void
store_built(struct ts_store *st, struct built *b)
{
	ck_assert_int_eq(ts_store_write(st, &b->t, b->extra), 0);
	built_clear_extra(b);
}

/* ---- create and open ---- */

START_TEST(create_then_open)
{
	struct ts_store *st = NULL;
	unsigned char pk[TS_SEAL_PKBYTES];
	char *text;

	ck_assert_int_eq(ts_store_create(path, ts_seal_seckey_pk(key), POLICY),
	                 0);
	ck_assert_uint_eq(mode_of(path), 0700);
	ck_assert_uint_eq(mode_of(sp("tickets")), 0700);
	ck_assert_uint_eq(mode_of(sp("intake")), 0700);
	ck_assert_uint_eq(mode_of(sp("intake/rejected")), 0700);
	ck_assert_uint_eq(mode_of(sp("whitelist")), 0600);
	ck_assert_uint_eq(mode_of(sp("policy")), 0600);
	ck_assert_uint_eq(mode_of(sp("public.key")), 0644);
	text = read_text(sp("policy"));
	ck_assert_str_eq(text, POLICY);
	free(text);
	/* The whitelist is empty of entries: comments only. */
	text = read_text(sp("whitelist"));
	for (char *l = text; *l; l = strchr(l, '\n') + 1)
		ck_assert_msg(*l == '#' || *l == '\n', "entry in new whitelist");
	free(text);
	ck_assert_int_eq(count_prefix(path, ".tmp-"), 0);

	ck_assert_int_eq(ts_store_open(path, TS_STORE_DAEMON, &st), 0);
	ck_assert_int_eq(ts_store_pubkey(st, pk), 0);
	ck_assert_mem_eq(pk, ts_seal_seckey_pk(key), TS_SEAL_PKBYTES);
	ts_store_close(st);
	st = NULL;
	ck_assert_int_eq(ts_store_open(path, TS_STORE_INTAKE, &st), 0);
	memset(pk, 0, sizeof(pk));
	ck_assert_int_eq(ts_store_pubkey(st, pk), 0);
	ck_assert_mem_eq(pk, ts_seal_seckey_pk(key), TS_SEAL_PKBYTES);
	ts_store_close(st);
	ts_store_close(NULL);	/* NULL is fine */
}
END_TEST

START_TEST(create_in_empty_dir)
{
	struct ts_store *st = NULL;

	ck_assert_int_eq(mkdir(path, 0755), 0);
	ck_assert_int_eq(ts_store_create(path, ts_seal_seckey_pk(key), POLICY),
	                 0);
	ck_assert_uint_eq(mode_of(path), 0700);	/* tightened */
	ck_assert_int_eq(ts_store_open(path, TS_STORE_DAEMON, &st), 0);
	ts_store_close(st);
}
END_TEST

START_TEST(create_over_nonempty_refused)
{
	static const char precious[] = "do not touch\n";
	char *text;

	ck_assert_int_eq(mkdir(path, 0755), 0);
	write_file(sp("precious"), precious, strlen(precious));
	ck_assert_int_eq(ts_store_create(path, ts_seal_seckey_pk(key), POLICY),
	                 -EEXIST);
	ck_assert_int_eq(count_prefix(path, ""), 1);
	text = read_text(sp("precious"));
	ck_assert_str_eq(text, precious);
	free(text);
	ck_assert_uint_eq(mode_of(path), 0755);

	/* Nor over an existing store: the first one stays as it was. */
	ck_assert_int_eq(unlink(sp("precious")), 0);
	ck_assert_int_eq(ts_store_create(path, ts_seal_seckey_pk(key), POLICY),
	                 0);
	ck_assert_int_eq(ts_store_create(path, ts_seal_seckey_pk(key), "x\n"),
	                 -EEXIST);
	text = read_text(sp("policy"));
	ck_assert_str_eq(text, POLICY);
	free(text);
}
END_TEST

START_TEST(create_failure_leaves_nothing)
{
	/* Each step of creation failing in turn: an error, and no store. */
	static const struct {
		enum ts_sysio_op op;
		unsigned n;
	} faults[] = {
		{ TS_SYSIO_WRITE, 1 }, { TS_SYSIO_WRITE, 3 },
		{ TS_SYSIO_FSYNC, 2 }, { TS_SYSIO_RENAME, 2 },
		{ TS_SYSIO_MKDIR, 1 }, { TS_SYSIO_MKDIR, 3 },
		{ TS_SYSIO_OPEN, 4 },
	};

	for (size_t i = 0; i < sizeof(faults) / sizeof(faults[0]); i++) {
		ts_sysio_inject(faults[i].op, faults[i].n, EIO, 0);
		ck_assert_msg(ts_store_create(path, ts_seal_seckey_pk(key),
		                              POLICY) == -EIO,
		              "fault %zu did not fail creation", i);
		ts_sysio_reset();
		ck_assert_msg(access(path, F_OK) != 0,
		              "fault %zu left %s behind", i, path);
	}
	/* In an empty directory given to us, the directory stays, empty. */
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ts_sysio_inject(TS_SYSIO_MKDIR, 2, ENOSPC, 0);
	ck_assert_int_eq(ts_store_create(path, ts_seal_seckey_pk(key), POLICY),
	                 -ENOSPC);
	ts_sysio_reset();
	ck_assert_int_eq(count_prefix(path, ""), 0);
	/* And with no fault it works. */
	ck_assert_int_eq(ts_store_create(path, ts_seal_seckey_pk(key), POLICY),
	                 0);
}
END_TEST

START_TEST(open_missing_store)
{
	struct ts_store *st = (struct ts_store *)&st;

	ck_assert_int_eq(ts_store_open(path, TS_STORE_DAEMON, &st), -ENOENT);
	ck_assert_int_eq(ts_store_open(path, TS_STORE_INTAKE, &st), -ENOENT);
	ck_assert_ptr_eq(st, (struct ts_store *)&st);
}
END_TEST

/* ---- intake ---- */

struct got {
	char name[256];
	char id[TS_NAME_MAX + 1];
	int kind, err;
	char text[64];		/* opened message text, if a message */
};

struct pollset {
	struct got v[16];
	size_t n;
	int ret;		/* what the callback returns */
	size_t dropped;		/* TS_INTAKE_DROPPED notices */
};

static int
on_intake(void *arg, const char *name, int kind, struct ts_ticket *t,
          const uint8_t *buf, int err)
{
	struct pollset *ps = arg;
	struct got *g;

	if (kind == TS_INTAKE_COMMIT)
		return 0;	/* nothing of ours to make durable */
	if (kind == TS_INTAKE_DROPPED) {
		ck_assert_ptr_null(t);
		ps->dropped++;
		return 0;
	}
	ck_assert_uint_lt(ps->n, 16);
	g = &ps->v[ps->n++];
	memset(g, 0, sizeof(*g));
	snprintf(g->name, sizeof(g->name), "%s", name);
	g->kind = kind;
	g->err = err;
	ck_assert_msg((t == NULL) == (err < 0), "t %p with err %d", t, err);
	if (t == NULL)
		return ps->ret;
	snprintf(g->id, sizeof(g->id), "%s", t->id);
	if (kind == TS_REC_MESSAGE) {
		const struct ts_box *b = &t->msg[0].box;
		char field[TS_NAME_MAX + 16];

		ck_assert_uint_lt(ts_box_plain_len(b), sizeof(g->text));
		snprintf(field, sizeof(field), "messages/%s", t->msg[0].name);
		ck_assert_int_eq(ts_seal_open(key, t->id, field, buf + b->off,
		                              b->len, (unsigned char *)g->text),
		                 0);
	}
	ts_ticket_release(t);
	return ps->ret;
}

/* Puts a ticket, a message and a revocation; returns nothing. */
static void
put_three(struct ts_store *st)
{
	static const char json[] = "{\"username\":\"u\",\"subject\":\"s\"}";
	uint8_t *rec;
	size_t len;
	char err[256];

	ck_assert_int_eq(ts_intake_ticket(ts_seal_seckey_pk(key), ID1, json,
	                                  strlen(json), T0, &rec, &len, err,
	                                  sizeof(err)), 0);
	ck_assert_int_eq(ts_store_intake_put(st, TS_REC_TICKET, ID1, rec, len),
	                 0);
	free(rec);
	ck_assert_int_eq(ts_intake_message(ts_seal_seckey_pk(key), ID2, "m7",
	                                   "hi there", 8, T0, &rec, &len, err,
	                                   sizeof(err)), 0);
	ck_assert_int_eq(ts_store_intake_put(st, TS_REC_MESSAGE, ID2, rec, len),
	                 0);
	free(rec);
	ck_assert_int_eq(ts_intake_revoke(ID1, "a1", &rec, &len, err,
	                                  sizeof(err)), 0);
	ck_assert_int_eq(ts_store_intake_put(st, TS_REC_REVOKE, ID1, rec, len),
	                 0);
	free(rec);
}

START_TEST(intake_in_order_and_taken)
{
	struct ts_store *st = create_open(), *w = NULL;
	struct pollset ps = { .ret = 0 };

	/* The writer side needs only intake mode. */
	ck_assert_int_eq(ts_store_open(path, TS_STORE_INTAKE, &w), 0);
	put_three(w);
	ts_store_close(w);
	ck_assert_int_eq(count_prefix(sp("intake"), ".tmp-"), 0);
	ck_assert_int_eq(count_prefix(sp("intake"), ""), 4);	/* + rejected */

	ck_assert_int_eq(ts_store_intake_poll(st, on_intake, &ps, NULL), 3);
	ck_assert_uint_eq(ps.n, 3);
	ck_assert_int_eq(ps.v[0].kind, TS_REC_TICKET);
	ck_assert_str_eq(ps.v[0].id, ID1);
	ck_assert_int_eq(ps.v[1].kind, TS_REC_MESSAGE);
	ck_assert_str_eq(ps.v[1].id, ID2);
	ck_assert_str_eq(ps.v[1].text, "hi there\n");
	ck_assert_int_eq(ps.v[2].kind, TS_REC_REVOKE);
	ck_assert_str_eq(ps.v[2].id, ID1);
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(ps.v[i].err, 0);
		ck_assert_int_lt(strcmp(i ? ps.v[i - 1].name : "", ps.v[i].name),
		                 0);
	}
	ck_assert_ptr_nonnull(strstr(ps.v[0].name, "-t-"));
	ck_assert_ptr_nonnull(strstr(ps.v[1].name, "-m-"));
	ck_assert_ptr_nonnull(strstr(ps.v[2].name, "-r-"));
	/* Taken in: deleted, and not delivered again. */
	ck_assert_int_eq(count_prefix(sp("intake"), ""), 1);
	ps.n = 0;
	ck_assert_int_eq(ts_store_intake_poll(st, on_intake, &ps, NULL), 0);
	ck_assert_uint_eq(ps.n, 0);
	ts_store_close(st);
}
END_TEST

/* A dead submit's temporaries go after an hour; a live one's stay. */
START_TEST(intake_stale_temporaries_swept)
{
	struct ts_store *st = create_open();
	struct timespec old[2] = { { time(NULL) - 7200, 0 },
	                           { time(NULL) - 7200, 0 } };

	write_file(sp("intake/.tmp-intake-dead"), "x", 1);
	ck_assert_int_eq(utimensat(AT_FDCWD, sp("intake/.tmp-intake-dead"), old,
	                           0), 0);
	write_file(sp("intake/.tmp-intake-live"), "x", 1);
	ck_assert_int_eq(ts_store_intake_poll(st, NULL, NULL, NULL), 0);
	ck_assert_int_eq(access(sp("intake/.tmp-intake-dead"), F_OK), -1);
	ck_assert_int_eq(access(sp("intake/.tmp-intake-live"), F_OK), 0);
	ts_store_close(st);
}
END_TEST

START_TEST(intake_eagain_keeps)
{
	struct ts_store *st = create_open();
	struct pollset ps = { .ret = -EAGAIN };

	put_three(st);
	ck_assert_int_eq(ts_store_intake_poll(st, on_intake, &ps, NULL), 0);
	ck_assert_uint_eq(ps.n, 3);
	ck_assert_int_eq(count_prefix(sp("intake"), ""), 4);
	ck_assert_int_eq(count_prefix(sp("intake/rejected"), ""), 0);
	/* Delivered again, in the same order. */
	ps.n = 0;
	ps.ret = 0;
	ck_assert_int_eq(ts_store_intake_poll(st, on_intake, &ps, NULL), 3);
	ck_assert_uint_eq(ps.n, 3);
	ck_assert_str_eq(ps.v[1].text, "hi there\n");
	ck_assert_int_eq(count_prefix(sp("intake"), ""), 1);
	ts_store_close(st);
}
END_TEST

START_TEST(intake_error_rejects)
{
	struct ts_store *st = create_open();
	struct pollset ps = { .ret = -EINVAL };
	char names[3][256];

	put_three(st);
	ck_assert_int_eq(ts_store_intake_poll(st, on_intake, &ps, NULL), 0);
	ck_assert_uint_eq(ps.n, 3);
	for (int i = 0; i < 3; i++)
		memcpy(names[i], ps.v[i].name, sizeof(names[i]));
	/* Moved aside whole, under the same names. */
	ck_assert_int_eq(count_prefix(sp("intake"), ""), 1);
	ck_assert_int_eq(count_prefix(sp("intake/rejected"), ""), 3);
	for (int i = 0; i < 3; i++) {
		char p[4096];

		snprintf(p, sizeof(p), "%s/%s", sp("intake/rejected"),
		         names[i]);
		ck_assert_msg(access(p, F_OK) == 0, "%s not in rejected/",
		              names[i]);
	}
	ps.n = 0;
	ck_assert_int_eq(ts_store_intake_poll(st, on_intake, &ps, NULL), 0);
	ck_assert_uint_eq(ps.n, 0);
	ts_store_close(st);
}
END_TEST

START_TEST(intake_damaged_delivered_with_error)
{
	struct ts_store *st = create_open();
	struct pollset ps = { .ret = -EBADMSG };
	char p[4096];
	uint8_t *rec;
	size_t len;
	char err[256];

	put_three(st);
	find_file(sp("intake"), "-m-", p, sizeof(p));
	flip_byte(p, 20);
	/* A record under a name of the wrong kind is damage too. */
	ck_assert_int_eq(ts_intake_revoke(ID3, "a1", &rec, &len, err,
	                                  sizeof(err)), 0);
	ck_assert_int_eq(ts_store_intake_put(st, TS_REC_AUTH, ID3, rec, len),
	                 0);
	free(rec);
	/* And a file that is no record at all. */
	write_file(sp("intake/zzzz-t-junk"), "junk", 4);

	ck_assert_int_eq(ts_store_intake_poll(st, on_intake, &ps, NULL), 0);
	ck_assert_uint_eq(ps.n, 5);
	ck_assert_int_eq(ps.v[0].err, 0);
	ck_assert_ptr_nonnull(strstr(ps.v[1].name, "-m-"));
	ck_assert_int_eq(ps.v[1].err, -EBADMSG);
	ck_assert_int_eq(ps.v[2].err, 0);
	ck_assert_ptr_nonnull(strstr(ps.v[3].name, "-a-"));
	ck_assert_int_eq(ps.v[3].err, -EBADMSG);
	ck_assert_str_eq(ps.v[4].name, "zzzz-t-junk");
	ck_assert_int_lt(ps.v[4].err, 0);
	/* The callback's refusal moved them all aside. */
	ck_assert_int_eq(count_prefix(sp("intake/rejected"), ""), 5);
	ts_store_close(st);
}
END_TEST

/* A counting callback for polls over many records. */
struct tally {
	size_t records, removed, dropped, taken;
	size_t commits;		/* TS_INTAKE_COMMIT notices */
	int ret;		/* what it returns for a record */
	int commit_ret;		/* what it returns for TS_INTAKE_COMMIT */
	char first_dropped[256];
	char last[256];		/* the last record delivered */
};

static int
on_tally(void *arg, const char *name, int kind, struct ts_ticket *t,
         const uint8_t *buf, int err)
{
	struct tally *y = arg;

	(void)buf;
	(void)err;
	if (kind == TS_INTAKE_COMMIT) {
		ck_assert_str_eq(name, "");
		ck_assert_ptr_null(t);
		y->commits++;
		return y->commit_ret;
	}
	if (kind == TS_INTAKE_DROPPED) {
		if (y->dropped++ == 0)
			snprintf(y->first_dropped, sizeof(y->first_dropped), "%s",
			         name);
		return 0;
	}
	if (kind == TS_INTAKE_REMOVED) {
		y->removed++;
		return 0;
	}
	y->records++;
	snprintf(y->last, sizeof(y->last), "%s", name);
	if (t != NULL)
		ts_ticket_release(t);
	return y->ret;
}

static void
on_alarm(int sig)
{
	(void)sig;
	_exit(3);	/* the poll blocked */
}

/* The valid record of put_three's ticket, for links to point at. */
static void
ticket_record_at(const char *p)
{
	static const char json[] = "{\"username\":\"u\",\"subject\":\"s\"}";
	uint8_t *rec;
	size_t len;
	char err[256];

	ck_assert_int_eq(ts_intake_ticket(ts_seal_seckey_pk(key), ID3, json,
	                                  strlen(json), T0, &rec, &len, err,
	                                  sizeof(err)), 0);
	write_file(p, rec, len);
	free(rec);
}

/*
 * Nothing in intake/ that is not a regular file of one link is opened,
 * followed or read: each is removed and reported, and the poll goes on to
 * the valid record after them.
 */
START_TEST(intake_non_regular_removed)
{
	struct ts_store *st = create_open();
	struct pollset ps = { .ret = 0 };
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char elsewhere[512], linked[512], p[1024];
	const char *odd[] = { "fifo", "sock", "link", "hard", "dir", "dev" };
	int want[] = { -ENXIO, -ENXIO, -ELOOP, -EMLINK, -EISDIR, -ENXIO };
	int sfd, ndev = 6;
	struct stat sb;

	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", tmpdir);
	ticket_record_at(elsewhere);
	snprintf(linked, sizeof(linked), "%s/linked", tmpdir);
	ticket_record_at(linked);
#define ODD(i) (snprintf(p, sizeof(p), "%s/intake/20260101-000000-00000%d-0000-t-%s", \
                         path, (int)(i), ID3), p)
	ck_assert_int_eq(mkfifo(ODD(0), 0600), 0);
	sfd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_ge(sfd, 0);
	ck_assert_uint_lt(strlen(ODD(1)), sizeof(sa.sun_path));
	memcpy(sa.sun_path, p, strlen(p) + 1);
	ck_assert_int_eq(bind(sfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(symlink(elsewhere, ODD(2)), 0);
	ck_assert_int_eq(link(linked, ODD(3)), 0);
	ck_assert_int_eq(mkdir(ODD(4), 0700), 0);
	snprintf(p + strlen(p), sizeof(p) - strlen(p), "/inner");
	write_file(p, "x", 1);
	if (mknod(ODD(5), S_IFCHR | 0600, makedev(1, 3)) < 0)
		ndev = 5;	/* not root: no device node */
	put_three(st);	/* then the valid ones, named later */

	signal(SIGALRM, on_alarm);
	alarm(3);
	ck_assert_int_eq(ts_store_intake_poll(st, on_intake, &ps, NULL), 3);
	alarm(0);
	ck_assert_uint_eq(ps.n, (size_t)ndev + 3);
	for (int i = 0; i < ndev; i++) {
		ck_assert_msg(strstr(ps.v[i].name, "-000000-00000") != NULL,
		              "%s", ps.v[i].name);
		ck_assert_int_eq(ps.v[i].kind, TS_INTAKE_REMOVED);
		ck_assert_msg(ps.v[i].err == want[i], "%s: err %d, want %d",
		              odd[i], ps.v[i].err, want[i]);
		ck_assert_int_eq(fstatat(AT_FDCWD, ODD(i), &sb,
		                         AT_SYMLINK_NOFOLLOW), -1);
	}
	/* The valid records went in as usual. */
	ck_assert_int_eq(ps.v[ndev].kind, TS_REC_TICKET);
	ck_assert_int_eq(ps.v[ndev].err, 0);
	/* What the links named is untouched, and nothing was rejected. */
	ck_assert_int_eq(stat(elsewhere, &sb), 0);
	ck_assert_int_eq(stat(linked, &sb), 0);
	ck_assert_uint_eq(sb.st_nlink, 1);
	ck_assert_int_eq(count_prefix(sp("intake"), ""), 1);
	ck_assert_int_eq(count_prefix(sp("intake/rejected"), ""), 0);
#undef ODD
	close(sfd);
	ts_store_close(st);
}
END_TEST

/* A FIFO in tickets/ does not hang the load either: it is damage. */
static int
on_load(void *arg, const char *id, struct ts_ticket *t, int err)
{
	(void)id;
	*(int *)arg = err;
	if (t != NULL)
		ts_ticket_release(t);
	return 0;
}

START_TEST(load_fifo_ticket)
{
	struct ts_store *st = create_open();
	char p[1024];
	int err = 1;

	snprintf(p, sizeof(p), "%s/tickets/%s", path, ID1);
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	signal(SIGALRM, on_alarm);
	alarm(3);
	ck_assert_int_eq(ts_store_load(st, on_load, &err), 0);
	alarm(0);
	ck_assert_int_eq(err, -EINVAL);
	ts_store_close(st);
}
END_TEST

/* Drops n junk files under intake names, in name order, size bytes each. */
static void
put_junk(size_t from, size_t n, size_t size)
{
	char *junk = malloc(size), p[1024];

	ck_assert_ptr_nonnull(junk);
	memset(junk, 'j', size);
	for (size_t i = from; i < from + n; i++) {
		snprintf(p, sizeof(p), "%s/intake/20260101-000000-%06zu-0000-t-%s",
		         path, i, ID1);
		write_file(p, junk, size);
	}
	free(junk);
}

/* One poll handles one batch; the next goes on after it, not over it. */
START_TEST(intake_bounded_batch)
{
	struct ts_store *st = create_open();
	struct tally y = { .ret = -EAGAIN };
	int more = -1;

	put_junk(0, TS_INTAKE_BATCH + 44, 16);
	ck_assert_int_eq(ts_store_intake_poll(st, on_tally, &y, &more), 0);
	ck_assert_uint_eq(y.records, TS_INTAKE_BATCH);
	ck_assert_int_eq(more, 1);
	ck_assert_int_eq(ts_store_intake_poll(st, on_tally, &y, &more), 0);
	ck_assert_uint_eq(y.records, TS_INTAKE_BATCH + 44);
	ck_assert_int_eq(more, 0);
	ck_assert_msg(strstr(y.last, "-000299-") != NULL, "%s", y.last);
	/* Left (EAGAIN): all of them again in the next pass. */
	y.records = 0;
	y.ret = -EBADMSG;
	ck_assert_int_eq(ts_store_intake_poll(st, on_tally, &y, &more), 0);
	ck_assert_uint_eq(y.records, TS_INTAKE_BATCH);
	ts_store_close(st);
}
END_TEST

/* How many names intake/ of the test store holds (dotfiles and rejected/
 * not counted). */
static size_t
intake_left(void)
{
	char p[4096];
	struct dirent *d;
	size_t n = 0;
	DIR *dir;

	snprintf(p, sizeof(p), "%s/intake", path);
	ck_assert_ptr_nonnull(dir = opendir(p));
	while ((d = readdir(dir)) != NULL)
		n += d->d_name[0] != '.' && strcmp(d->d_name, "rejected") != 0;
	closedir(dir);
	return n;
}

/*
 * What a poll took in is deleted only after one TS_INTAKE_COMMIT notice
 * says its changes are durable; a failed commit keeps every one of them
 * for the next poll, and nothing is counted taken.
 */
START_TEST(intake_deleted_after_commit)
{
	struct ts_store *st = create_open();
	struct tally y = { .ret = 0, .commit_ret = -EIO };
	int more;

	put_junk(0, 10, 16);
	ck_assert_int_eq(ts_store_intake_poll(st, on_tally, &y, &more), 0);
	ck_assert_uint_eq(y.records, 10);
	ck_assert_uint_eq(y.commits, 1);
	ck_assert_uint_eq(intake_left(), 10);
	/* Offered again, all of them, at the next poll. */
	y.commit_ret = 0;
	ck_assert_int_eq(ts_store_intake_poll(st, on_tally, &y, &more), 10);
	ck_assert_uint_eq(y.records, 20);
	ck_assert_uint_eq(y.commits, 2);
	ck_assert_uint_eq(intake_left(), 0);
	/* A poll that takes nothing in asks for no commit. */
	put_junk(10, 3, 16);
	y.ret = -EAGAIN;
	ck_assert_int_eq(ts_store_intake_poll(st, on_tally, &y, &more), 0);
	ck_assert_uint_eq(y.commits, 2);
	ck_assert_uint_eq(intake_left(), 3);
	ts_store_close(st);
}
END_TEST

/* rejected/ keeps at most TS_INTAKE_REJECTED_FILES: the oldest go. */
START_TEST(intake_rejected_cap_files)
{
	struct ts_store *st = create_open();
	struct tally y = { .ret = -EBADMSG };
	int more = 1;

	put_junk(0, TS_INTAKE_REJECTED_FILES + 5, 16);
	while (more)
		ck_assert_int_eq(ts_store_intake_poll(st, on_tally, &y, &more), 0);
	ck_assert_uint_eq(y.records, TS_INTAKE_REJECTED_FILES + 5);
	ck_assert_uint_eq(y.dropped, 5);
	ck_assert_int_eq(count_prefix(sp("intake/rejected"), ""),
	                 TS_INTAKE_REJECTED_FILES);
	/* The first rejected went first; the last stays. */
	ck_assert_msg(strncmp(y.first_dropped, "rejected/20260101-000000-000000-",
	                      32) == 0, "%s", y.first_dropped);
	ck_assert_int_eq(count_prefix(sp("intake/rejected"),
	                              "20260101-000000-000000-"), 0);
	ck_assert_int_eq(count_prefix(sp("intake/rejected"),
	                              "20260101-000000-001004-"), 1);
	ts_store_close(st);
}
END_TEST

/* And at most TS_INTAKE_REJECTED_BYTES; a round reads a bounded amount. */
START_TEST(intake_rejected_cap_bytes)
{
	struct ts_store *st = create_open();
	struct tally y = { .ret = -EBADMSG };
	size_t big = TS_INTAKE_REJECTED_BYTES / 2 + 1;
	int more = 0;

	put_junk(0, 2, big);
	ck_assert_int_eq(ts_store_intake_poll(st, on_tally, &y, &more), 0);
	ck_assert_uint_eq(y.records, 1);	/* over the round's byte budget */
	ck_assert_int_eq(more, 1);
	ck_assert_uint_eq(y.dropped, 0);
	ck_assert_int_eq(ts_store_intake_poll(st, on_tally, &y, &more), 0);
	ck_assert_uint_eq(y.records, 2);
	ck_assert_int_eq(more, 0);
	ck_assert_uint_eq(y.dropped, 1);
	ck_assert_msg(strncmp(y.first_dropped, "rejected/20260101-000000-000000-",
	                      32) == 0, "%s", y.first_dropped);
	ck_assert_int_eq(count_prefix(sp("intake/rejected"), ""), 1);
	ck_assert_int_eq(count_prefix(sp("intake/rejected"),
	                              "20260101-000000-000001-"), 1);
	ts_store_close(st);
}
END_TEST

/* Entries below dir (dir itself not counted) and their st_size, no links
 * followed; dir must exist. */
static size_t tree_n;
static uint64_t tree_size;

static int
tree_one(const char *p, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)p;
	(void)type;
	if (ftw->level > 0) {
		tree_n++;
		tree_size += S_ISREG(sb->st_mode) ? (uint64_t)sb->st_size : 0;
	}
	return 0;
}

static size_t
tree_count(const char *dir)
{
	tree_n = 0;
	tree_size = 0;
	ck_assert_msg(nftw(dir, tree_one, 16, FTW_PHYS) == 0, "%s: %s", dir,
	              strerror(errno));
	return tree_n;
}

/* The entries of the directory open at fd, "." and ".." aside. */
static size_t
entries_of(int fd)
{
	DIR *d = fdopendir(openat(fd, ".", O_RDONLY | O_DIRECTORY));
	struct dirent *de;
	size_t n = 0;

	ck_assert_ptr_nonnull(d);
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n;
}

/* Polls until .trash is empty; returns how many polls it took. */
static int
poll_until_trash_empty(struct ts_store *st, void *tally)
{
	int more, polls = 0;

	while (tree_count(sp(".trash")) > 0) {
		ck_assert_int_lt(polls++, 50);
		ck_assert_int_eq(ts_store_intake_poll(st, on_tally, tally,
		                                      &more), 0);
	}
	return polls;
}

/*
 * A directory of many files moved into intake/ leaves intake/ at once
 * (one rename into .trash), but is deleted a bounded number of entries a
 * poll: no poll does work in proportion to what a front end dropped.
 */
START_TEST(intake_dir_deleted_bounded)
{
	struct ts_store *st = create_open();
	struct tally y = { .ret = 0 };
	const size_t files = 1500;
	char p[1024], q[1100];
	struct stat sb;
	size_t left;
	int more, held;

	snprintf(p, sizeof(p), "%s/intake/20260101-000000-000000-0000-t-%s",
	         path, ID1);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	for (size_t i = 0; i < files; i++) {
		snprintf(q, sizeof(q), "%s/f%05zu", p, i);
		write_file(q, "", 0);
	}
	/* Held open, as a front end may: it sees what one poll deleted. */
	held = open(p, O_RDONLY | O_DIRECTORY);
	ck_assert_int_ge(held, 0);
	ck_assert_int_eq(ts_store_intake_poll(st, on_tally, &y, &more), 0);
	ck_assert_uint_eq(y.removed, 1);
	ck_assert_int_eq(access(p, F_OK), -1);
	ck_assert_int_eq(count_prefix(sp("intake"), ""), 1);	/* rejected */
	left = entries_of(held);
	ck_assert_msg(left + 1000 >= files, "one poll deleted %zu of %zu "
	              "entries", files - left, files);
	poll_until_trash_empty(st, &y);
	ck_assert_int_eq(fstat(held, &sb), 0);
	ck_assert_uint_eq(sb.st_nlink, 0);	/* deleted, all of it */
	close(held);
	ck_assert_int_eq(count_prefix(sp("intake/rejected"), ""), 0);
	ts_store_close(st);
}
END_TEST

/*
 * However deep a directory is, it leaves nothing behind: not in intake/,
 * not in rejected/ (where its bytes would not count), not in .trash.
 */
START_TEST(intake_deep_dir_leaves_nothing)
{
	struct ts_store *st = create_open();
	struct tally y = { .ret = 0 };
	char p[2048], q[2100];
	int fd;

	snprintf(p, sizeof(p), "%s/intake/20260101-000000-000000-0000-t-%s",
	         path, ID1);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	for (int depth = 0; depth < 40; depth++) {
		snprintf(q, sizeof(q), "%s/f", p);
		write_file(q, "x", 1);
		ck_assert_uint_lt(strlen(p) + 3, sizeof(p));
		strcat(p, "/d");
		ck_assert_int_eq(mkdir(p, 0700), 0);
	}
	snprintf(q, sizeof(q), "%s/big", p);
	fd = open(q, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 100 << 20), 0);	/* 100 MiB, sparse */
	close(fd);
	ck_assert_int_eq(ts_store_intake_poll(st, on_tally, &y, NULL), 0);
	ck_assert_uint_eq(y.removed, 1);
	ck_assert_int_eq(count_prefix(sp("intake"), ""), 1);	/* rejected */
	ck_assert_uint_eq(tree_count(sp("intake/rejected")), 0);
	poll_until_trash_empty(st, &y);
	ts_store_close(st);
}
END_TEST

/*
 * rejected/ keeps regular files of one link only, so its cap holds in
 * bytes: a directory (a record swapped for one between its check and its
 * move), a hard link, a FIFO or a symlink there goes at once, reported
 * as dropped.
 */
START_TEST(intake_rejected_only_plain_files)
{
	struct ts_store *st;
	struct tally y = { .ret = 0 };
	char p[1024], elsewhere[512];
	struct stat sb;
	int fd;

	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", tmpdir);
	write_file(elsewhere, "keep", 4);
#define REJ(s) (snprintf(p, sizeof(p), "%s/intake/rejected/20260101-%s", \
                         path, (s)), p)
	st = create_open();
	ck_assert_int_eq(mkdir(REJ("dir"), 0700), 0);
	strcat(p, "/big");
	fd = open(p, O_WRONLY | O_CREAT, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 100 << 20), 0);	/* over the cap */
	close(fd);
	ck_assert_int_eq(link(elsewhere, REJ("hard")), 0);
	ck_assert_int_eq(mkfifo(REJ("fifo"), 0600), 0);
	ck_assert_int_eq(symlink(elsewhere, REJ("link")), 0);
	write_file(REJ("plain"), "junk", 4);
#undef REJ
	ts_store_close(st);
	/* A daemon opening the store brings rejected/ within its cap. */
	ck_assert_int_eq(ts_store_open(path, TS_STORE_DAEMON, &st), 0);
	ck_assert_int_eq(ts_store_intake_poll(st, on_tally, &y, NULL), 0);
	ck_assert_uint_eq(y.dropped, 4);
	ck_assert_uint_eq(tree_count(sp("intake/rejected")), 1);
	ck_assert_uint_le(tree_size, TS_INTAKE_REJECTED_BYTES);
	ck_assert_int_eq(count_prefix(sp("intake/rejected"), "20260101-plain"),
	                 1);
	poll_until_trash_empty(st, &y);
	ck_assert_int_eq(stat(elsewhere, &sb), 0);	/* only the link went */
	ck_assert_uint_eq(sb.st_nlink, 1);
	ts_store_close(st);
}
END_TEST

/*
 * A dotfile in intake/ is no record: a regular one goes once it is an
 * hour old (by the older of its mtime and ctime), anything else at once
 * (a directory to .trash); each is reported.  A fresh temporary stays.
 */
START_TEST(intake_dotfiles_removed)
{
	struct ts_store *st = create_open();
	struct pollset ps = { .ret = 0 };
	struct timespec old[2] = { { time(NULL) - 7200, 0 },
	                           { time(NULL) - 7200, 0 } };
	int want[3] = { -EISDIR, -ENXIO, -ETIMEDOUT };

	write_file(sp("intake/.junk"), "junk", 4);
	ck_assert_int_eq(utimensat(AT_FDCWD, sp("intake/.junk"), old, 0), 0);
	write_file(sp("intake/.fresh"), "x", 1);
	write_file(sp("intake/.tmp-intake-live"), "x", 1);
	ck_assert_int_eq(mkfifo(sp("intake/.fifo"), 0600), 0);
	ck_assert_int_eq(mkdir(sp("intake/.dir"), 0700), 0);
	write_file(sp("intake/.dir/inner"), "x", 1);
	signal(SIGALRM, on_alarm);
	alarm(3);
	ck_assert_int_eq(ts_store_intake_poll(st, on_intake, &ps, NULL), 0);
	alarm(0);
	ck_assert_uint_eq(ps.n, 3);	/* in name order: .dir .fifo .junk */
	for (size_t i = 0; i < 3; i++) {
		ck_assert_int_eq(ps.v[i].kind, TS_INTAKE_REMOVED);
		ck_assert_msg(ps.v[i].err == want[i], "%s: err %d", ps.v[i].name,
		              ps.v[i].err);
	}
	ck_assert_int_eq(access(sp("intake/.junk"), F_OK), -1);
	ck_assert_int_eq(access(sp("intake/.fifo"), F_OK), -1);
	ck_assert_int_eq(access(sp("intake/.dir"), F_OK), -1);
	ck_assert_int_eq(access(sp("intake/.fresh"), F_OK), 0);
	ck_assert_int_eq(access(sp("intake/.tmp-intake-live"), F_OK), 0);
	ts_store_close(st);
}
END_TEST

START_TEST(intake_put_refuses_bad_args)
{
	struct ts_store *st = create_open();
	static const uint8_t rec[4] = "junk";

	ck_assert_int_eq(ts_store_intake_put(st, 0, ID1, rec, 4), -EINVAL);
	ck_assert_int_eq(ts_store_intake_put(st, 99, ID1, rec, 4), -EINVAL);
	ck_assert_int_eq(ts_store_intake_put(st, TS_REC_TICKET, "../x", rec, 4),
	                 -EINVAL);
	ck_assert_int_eq(ts_store_intake_put(st, TS_REC_TICKET, "", rec, 4),
	                 -EINVAL);
	ck_assert_int_eq(count_prefix(sp("intake"), ""), 1);
	ts_store_close(st);
}
END_TEST

START_TEST(intake_put_failure_leaves_nothing)
{
	struct ts_store *st = create_open();
	static const uint8_t rec[4] = "junk";

	ts_sysio_inject(TS_SYSIO_FSYNC, 1, EIO, 0);
	ck_assert_int_eq(ts_store_intake_put(st, TS_REC_TICKET, ID1, rec, 4),
	                 -EIO);
	ts_sysio_inject(TS_SYSIO_WRITE, 1, ENOSPC, 0);
	ck_assert_int_eq(ts_store_intake_put(st, TS_REC_TICKET, ID1, rec, 4),
	                 -ENOSPC);
	ts_sysio_reset();
	ck_assert_int_eq(count_prefix(sp("intake"), ""), 1);
	ck_assert_int_eq(ts_store_ticket_known(st, ID1), 0);
	ts_store_close(st);
}
END_TEST

START_TEST(ticket_known)
{
	struct ts_store *st = create_open(), *w = NULL;
	struct built b;
	uint8_t *rec;
	size_t len;
	char err[256];

	build(&b, ID1);
	store_built(st, &b);
	ck_assert_int_eq(ts_store_ticket_known(st, ID1), 1);
	ck_assert_int_eq(ts_store_ticket_known(st, ID2), 0);
	ck_assert_int_eq(ts_store_ticket_known(st, "../tickets"), 0);
	ck_assert_int_eq(ts_store_ticket_known(st, ""), 0);
	/* Waiting in intake as a ticket counts; as a message it does not. */
	ck_assert_int_eq(ts_intake_message(ts_seal_seckey_pk(key), ID3, "m1",
	                                   "x", 1, T0, &rec, &len, err,
	                                   sizeof(err)), 0);
	ck_assert_int_eq(ts_store_intake_put(st, TS_REC_MESSAGE, ID3, rec, len),
	                 0);
	free(rec);
	ck_assert_int_eq(ts_store_ticket_known(st, ID3), 0);
	{
		static const char json[] = "{\"username\":\"u\","
		                           "\"subject\":\"s\"}";

		ck_assert_int_eq(ts_intake_ticket(ts_seal_seckey_pk(key), ID2,
		                 json, strlen(json), T0, &rec, &len, err,
		                 sizeof(err)), 0);
	}
	ck_assert_int_eq(ts_store_open(path, TS_STORE_INTAKE, &w), 0);
	ck_assert_int_eq(ts_store_intake_put(w, TS_REC_TICKET, ID2, rec, len),
	                 0);
	free(rec);
	ck_assert_int_eq(ts_store_ticket_known(w, ID2), 1);
	ck_assert_int_eq(ts_store_ticket_known(st, ID2), 1);
	ck_assert_int_eq(ts_store_ticket_known(w, ID1), 1);
	ts_store_close(w);
	built_release(&b);
	ts_store_close(st);
}
END_TEST

/* ---- tickets ---- */

START_TEST(write_load_read_box)
{
	struct ts_store *st = create_open();
	struct built b;
	struct loadset ls = { .n = 0 };
	struct loaded *l;
	uint8_t *rec = NULL;
	size_t len;
	struct ts_ticket dec;
	int kind;

	build(&b, ID1);
	ck_assert_int_eq(ts_store_write(st, &b.t, b.extra), 0);
	/* t now points into the stored record: no TS_BOX_NEW left. */
	for (int f = 0; f < TS_F_COUNT; f++)
		ck_assert_uint_eq(b.t.field[f].off & TS_BOX_NEW, 0);
	ck_assert_uint_eq(b.t.msg[0].box.off & TS_BOX_NEW, 0);
	ck_assert_uint_eq(b.t.auth[0].box[TS_A_ACCOUNT].off & TS_BOX_NEW, 0);
	built_clear_extra(&b);
	check_built_boxes(st, &b.t);
	ck_assert_uint_eq(mode_of(sp("tickets")), 0700);
	{
		char p[4096];

		snprintf(p, sizeof(p), "%s/%s", sp("tickets"), ID1);
		ck_assert_uint_eq(mode_of(p), 0600);
	}
	ck_assert_int_eq(count_prefix(sp("tickets"), ".tmp-"), 0);

	ck_assert_int_eq(ts_store_load(st, on_ticket, &ls), 0);
	ck_assert_uint_eq(ls.n, 1);
	l = load_find(&ls, ID1);
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(l->err, 0);
	check_same_ticket(&l->t, &b.t);
	check_built_boxes(st, &l->t);

	/* The record as fsck reads it decodes to the same. */
	ck_assert_int_eq(ts_store_read_record(st, ID1, &rec, &len), 0);
	ck_assert_int_eq(ts_record_decode(rec, len, &kind, &dec), 0);
	ck_assert_int_eq(kind, TS_REC_TICKET);
	check_same_ticket(&dec, &b.t);
	ts_ticket_release(&dec);
	free(rec);
	ck_assert_int_eq(ts_store_read_record(st, ID2, &rec, &len), -ENOENT);
	ck_assert_int_eq(ts_store_read_record(st, "../policy", &rec, &len),
	                 -ENOENT);

	/* Reopened, the store still has it. */
	loadset_release(&ls);
	ts_store_close(st);
	ck_assert_int_eq(ts_store_open(path, TS_STORE_DAEMON, &st), 0);
	ck_assert_int_eq(ts_store_load(st, on_ticket, &ls), 0);
	ck_assert_uint_eq(ls.n, 1);
	check_same_ticket(&ls.v[0].t, &b.t);
	loadset_release(&ls);
	built_release(&b);
	ts_store_close(st);
}
END_TEST

/*
 * ts_store_read_boxes: a ticket's boxes in one open of its record, each
 * opening to its value; all or nothing on a box past the end, a missing
 * ticket, a record that is no regular file (a FIFO is not waited on).
 */
START_TEST(read_boxes_one_open)
{
	static const char *const want[] = {
		"printer on fire\n", "alice\n", "hello\n", "pw\n",
	};
	static const char *const fields[] = {
		"subject", "username", "messages/m1",
		"authorizations/a1/password",
	};
	struct ts_store *st = create_open();
	struct ts_box bx[4];
	uint8_t *bufs[4], plain[64];
	struct built b;
	struct stat sb;
	char p[4096];

	ck_assert_int_eq(ts_store_set_key(st, key), 0);
	build(&b, ID1);
	ck_assert_int_eq(ts_store_write(st, &b.t, b.extra), 0);
	built_clear_extra(&b);
	ck_assert_int_eq(b.t.keyed, 1);
	bx[0] = b.t.field[TS_F_SUBJECT];
	bx[1] = b.t.field[TS_F_USERNAME];
	bx[2] = ts_ticket_find_msg(&b.t, "m1")->box;
	bx[3] = ts_ticket_find_auth(&b.t, "a1")->box[TS_A_PASSWORD];
	for (int i = 0; i < 4; i++)
		ck_assert_ptr_nonnull(bufs[i] = malloc(bx[i].len));

	/* One open for all four: a fault armed for the second open of the
	 * store never fires. */
	ts_sysio_inject(TS_SYSIO_OPEN, 2, EIO, 0);
	ck_assert_int_eq(ts_store_read_boxes(st, &b.t, bx, 4, bufs), 0);
	ck_assert_int_eq(ts_sysio_armed(TS_SYSIO_OPEN), 1);
	ts_sysio_reset();
	for (int i = 0; i < 4; i++) {
		ck_assert_msg(ts_store_open_box(st, &b.t, fields[i], bufs[i],
		                                bx[i].len, plain) == 0,
		              "%s does not open", fields[i]);
		ck_assert_uint_eq(ts_box_plain_len(&bx[i]), strlen(want[i]));
		ck_assert_mem_eq(plain, want[i], strlen(want[i]));
	}
	/* Each its own box: swapped, they do not open (bound to field). */
	ck_assert_int_eq(ts_store_open_box(st, &b.t, fields[0], bufs[1],
	                                   bx[1].len, plain), -EBADMSG);

	/* A read that fails midway fails the call. */
	ts_sysio_inject(TS_SYSIO_READ, 3, EIO, 0);
	ck_assert_int_eq(ts_store_read_boxes(st, &b.t, bx, 4, bufs), -EIO);
	ts_sysio_reset();

	/* A box past the record's end: -EIO, whichever place it has. */
	snprintf(p, sizeof(p), "%s/%s", sp("tickets"), ID1);
	ck_assert_int_eq(stat(p, &sb), 0);
	bx[2].off = (uint32_t)sb.st_size - bx[2].len / 2;
	ck_assert_int_eq(ts_store_read_boxes(st, &b.t, bx, 4, bufs), -EIO);
	ck_assert_int_eq(ts_store_read_box(st, ID1, &bx[2], bufs[2]), -EIO);
	bx[2].off = UINT32_MAX - 8;
	ck_assert_int_eq(ts_store_read_boxes(st, &b.t, bx, 4, bufs), -EIO);
	bx[2] = ts_ticket_find_msg(&b.t, "m1")->box;

	/* Nothing to read, or an empty box: refused. */
	ck_assert_int_eq(ts_store_read_boxes(st, &b.t, bx, 0, bufs), -EINVAL);
	ck_assert_int_eq(ts_store_read_boxes(st, &b.t, bx,
	                                     TS_STORE_BOXES_MAX + 1, bufs),
	                 -EINVAL);
	bx[1].len = 0;
	ck_assert_int_eq(ts_store_read_boxes(st, &b.t, bx, 4, bufs), -EINVAL);
	bx[1] = b.t.field[TS_F_USERNAME];

	/* A ticket that is not there. */
	{
		struct ts_ticket other = b.t;

		strcpy(other.id, ID2);
		ck_assert_int_eq(ts_store_read_boxes(st, &other, bx, 4, bufs),
		                 -ENOENT);
	}

	/* The record replaced by a FIFO, a symlink, a directory: -EIO at
	 * once (a FIFO opened without O_NONBLOCK would hang here), by
	 * read_box too. */
	ck_assert_int_eq(rename(p, sp("saved")), 0);
	ck_assert_int_eq(mkfifo(p, 0600), 0);
	ck_assert_int_eq(ts_store_read_boxes(st, &b.t, bx, 4, bufs), -EIO);
	ck_assert_int_eq(ts_store_read_box(st, ID1, &bx[0], bufs[0]), -EIO);
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(symlink(sp("saved"), p), 0);
	ck_assert_int_eq(ts_store_read_boxes(st, &b.t, bx, 4, bufs), -EIO);
	ck_assert_int_eq(ts_store_read_box(st, ID1, &bx[0], bufs[0]), -EIO);
	ck_assert_int_eq(unlink(p), 0);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	ck_assert_int_eq(ts_store_read_boxes(st, &b.t, bx, 4, bufs), -EIO);
	ck_assert_int_eq(rmdir(p), 0);
	ck_assert_int_eq(rename(sp("saved"), p), 0);
	ck_assert_int_eq(ts_store_read_boxes(st, &b.t, bx, 4, bufs), 0);

	for (int i = 0; i < 4; i++)
		free(bufs[i]);
	built_release(&b);
	ts_store_close(st);
}
END_TEST

START_TEST(rewrite_keeps_old_boxes)
{
	struct ts_store *st = create_open();
	struct built b;
	struct ts_message *m;
	struct ts_box before_subject;
	struct loadset ls = { .n = 0 };

	build(&b, ID1);
	store_built(st, &b);
	before_subject = b.t.field[TS_F_SUBJECT];
	/* Processing, a second message, the email removed: old boxes come
	 * from the stored record, the new one from extra at offset 0. */
	b.t.status = TS_PROCESSING;
	b.t.processing_ms = T0 + 5000;
	b.t.field[TS_F_EMAIL] = (struct ts_box){ 0, 0 };
	ck_assert_ptr_nonnull(m = ts_ticket_add_msg(&b.t));
	strcpy(m->name, "m2");
	m->stored_ms = T0 + 6000;
	seal_new(&b, "messages/m2", "second", &m->box);
	ck_assert_uint_eq(m->box.off, TS_BOX_NEW | 0);
	ck_assert_int_eq(ts_store_write(st, &b.t, b.extra), 0);
	built_clear_extra(&b);
	/* The PROCESSING item moved every box: offsets were updated. */
	ck_assert_uint_ne(b.t.field[TS_F_SUBJECT].off, before_subject.off);
	ck_assert_uint_eq(b.t.field[TS_F_SUBJECT].len, before_subject.len);
	ck_assert_uint_eq(b.t.field[TS_F_EMAIL].len, 0);
	check_stored_box(st, ID1, &b.t.field[TS_F_SUBJECT], "subject",
	                 "printer on fire\n");
	check_stored_box(st, ID1, &b.t.msg[0].box, "messages/m1", "hello\n");
	check_stored_box(st, ID1, &b.t.msg[1].box, "messages/m2", "second\n");
	check_stored_box(st, ID1, &b.t.auth[0].box[TS_A_PASSWORD],
	                 "authorizations/a1/password", "pw\n");

	ck_assert_int_eq(ts_store_load(st, on_ticket, &ls), 0);
	ck_assert_uint_eq(ls.n, 1);
	check_same_ticket(&ls.v[0].t, &b.t);
	ck_assert_int_eq(ls.v[0].t.status, TS_PROCESSING);
	ck_assert_int_eq(ls.v[0].t.processing_ms, T0 + 5000);
	ck_assert_uint_eq(ls.v[0].t.nmsg, 2);
	loadset_release(&ls);
	built_release(&b);
	ts_store_close(st);
}
END_TEST

START_TEST(write_refuses_invalid)
{
	struct ts_store *st = create_open();
	struct built b;
	struct ts_ticket keep;

	/* Old boxes of a ticket that was never stored: nothing to read. */
	build(&b, ID1);
	b.t.field[TS_F_SUBJECT].off &= ~TS_BOX_NEW;
	ck_assert_int_eq(ts_store_write(st, &b.t, b.extra), -ENOENT);
	built_release(&b);

	/* A ticket the format refuses (processed without its time). */
	build(&b, ID1);
	b.t.status = TS_PROCESSED;
	ck_assert_int_lt(ts_store_write(st, &b.t, b.extra), 0);
	ck_assert_int_eq(ts_store_ticket_known(st, ID1), 0);
	built_release(&b);

	/* A bad id. */
	build(&b, ID1);
	strcpy(b.t.id, "../x");
	ck_assert_int_eq(ts_store_write(st, &b.t, b.extra), -EINVAL);
	strcpy(b.t.id, ID1);
	ck_assert_int_eq(ts_store_write(st, &b.t, b.extra), 0);
	built_clear_extra(&b);
	ck_assert_int_eq(ts_ticket_copy(&keep, &b.t), 0);

	/* An old box that is not where the stored record has it: refused,
	 * never copied from the wrong place (or past the end). */
	b.t.field[TS_F_SUBJECT].off += 3;
	ck_assert_int_eq(ts_store_write(st, &b.t, NULL), -ESTALE);
	b.t.field[TS_F_SUBJECT] = keep.field[TS_F_SUBJECT];
	b.t.msg[0].box.off = 1u << 20;
	ck_assert_int_eq(ts_store_write(st, &b.t, NULL), -ESTALE);
	b.t.msg[0].box = keep.msg[0].box;
	b.t.auth[0].box[TS_A_PASSWORD] = keep.auth[0].box[TS_A_ACCOUNT];
	ck_assert_int_eq(ts_store_write(st, &b.t, NULL), -ESTALE);
	b.t.auth[0].box[TS_A_PASSWORD] = keep.auth[0].box[TS_A_PASSWORD];
	/* A box that no item of the stored record has (renamed message). */
	strcpy(b.t.msg[0].name, "m9");
	ck_assert_int_eq(ts_store_write(st, &b.t, NULL), -ESTALE);
	strcpy(b.t.msg[0].name, "m1");
	b.t.field[TS_F_MOBILE] = keep.field[TS_F_EMAIL];
	ck_assert_int_eq(ts_store_write(st, &b.t, NULL), -ESTALE);
	b.t.field[TS_F_MOBILE] = keep.field[TS_F_MOBILE];
	check_built_boxes(st, &b.t);
	ck_assert_int_eq(ts_store_write(st, &b.t, NULL), 0);
	check_built_boxes(st, &b.t);
	ts_ticket_release(&keep);
	built_release(&b);
	ts_store_close(st);
}
END_TEST

START_TEST(remove_ticket)
{
	struct ts_store *st = create_open();
	struct built b1, b2;
	struct loadset ls = { .n = 0 };

	build(&b1, ID1);
	store_built(st, &b1);
	build(&b2, ID2);
	store_built(st, &b2);
	ck_assert_int_eq(ts_store_remove(st, ID1), 0);
	ck_assert_int_eq(ts_store_ticket_known(st, ID1), 0);
	ck_assert_int_eq(ts_store_remove(st, ID1), -ENOENT);
	ck_assert_int_eq(ts_store_remove(st, "../policy"), -ENOENT);
	ck_assert_int_eq(access(sp("policy"), F_OK), 0);
	ck_assert_int_eq(ts_store_load(st, on_ticket, &ls), 0);
	ck_assert_uint_eq(ls.n, 1);
	ck_assert_str_eq(ls.v[0].id, ID2);
	loadset_release(&ls);
	/* The remove fsyncs the directory: a failure there is reported. */
	ts_sysio_inject(TS_SYSIO_FSYNC, 1, EIO, 0);
	ck_assert_int_eq(ts_store_remove(st, ID2), -EIO);
	ts_sysio_reset();
	ts_sysio_inject(TS_SYSIO_UNLINK, 1, EROFS, 0);
	ck_assert_int_eq(ts_store_remove(st, ID1), -EROFS);
	ts_sysio_reset();
	built_release(&b1);
	built_release(&b2);
	ts_store_close(st);
}
END_TEST

static int
on_id(void *arg, const char *id)
{
	char *out = arg;

	strcat(out, id);
	strcat(out, ";");
	return 0;
}

START_TEST(list_and_load_order)
{
	struct ts_store *st = create_open();
	struct built b;
	struct loadset ls = { .n = 0, .stop_after = 2 };
	char ids[512] = "", want[512];

	/* Written out of order; listed and loaded sorted. */
	build(&b, ID3);
	store_built(st, &b);
	built_release(&b);
	build(&b, ID1);
	store_built(st, &b);
	built_release(&b);
	build(&b, ID2);
	store_built(st, &b);
	built_release(&b);
	ck_assert_int_eq(ts_store_list(st, on_id, ids), 0);
	snprintf(want, sizeof(want), "%s;%s;%s;", ID1, ID2, ID3);
	ck_assert_str_eq(ids, want);
	/* A non-zero return stops the load. */
	ck_assert_int_ne(ts_store_load(st, on_ticket, &ls), 0);
	ck_assert_uint_eq(ls.n, 2);
	ck_assert_str_eq(ls.v[0].id, ID1);
	ck_assert_str_eq(ls.v[1].id, ID2);
	loadset_release(&ls);
	ts_store_close(st);
}
END_TEST

START_TEST(damaged_ticket_file)
{
	struct ts_store *st = create_open();
	struct built b;
	struct loadset ls = { .n = 0 };
	struct loaded *l;
	char p[4096], q[4096];
	uint8_t *rec;
	size_t len;

	build(&b, ID1);
	store_built(st, &b);
	built_release(&b);
	build(&b, ID2);
	store_built(st, &b);
	built_release(&b);
	build(&b, ID3);
	store_built(st, &b);
	/* ID2 damaged on disk (a bit in a box, mid-file). */
	snprintf(p, sizeof(p), "%s/%s", sp("tickets"), ID2);
	flip_byte(p, 200);
	/* A copy of ID3's record under another id is damage too. */
	ck_assert_int_eq(ts_store_read_record(st, ID3, &rec, &len), 0);
	snprintf(q, sizeof(q), "%s/%s", sp("tickets"), "20260101-copy");
	write_file(q, rec, len);
	free(rec);
	/* A leftover temporary is cleaned; a name that is no id is left. */
	write_file(sp("tickets/.tmp-x-1234"), "t", 1);
	write_file(sp("tickets/not_an.id"), "n", 1);

	ck_assert_int_eq(ts_store_load(st, on_ticket, &ls), 0);
	ck_assert_uint_eq(ls.n, 4);
	l = load_find(&ls, ID1);
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(l->err, 0);
	ck_assert_int_eq(l->has, 1);
	check_built_boxes(st, &l->t);
	l = load_find(&ls, ID2);
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(l->err, -EBADMSG);
	ck_assert_int_eq(l->has, 0);
	l = load_find(&ls, ID3);
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(l->err, 0);
	check_same_ticket(&l->t, &b.t);
	l = load_find(&ls, "20260101-copy");
	ck_assert_ptr_nonnull(l);
	ck_assert_int_eq(l->err, -EBADMSG);
	ck_assert_int_eq(access(sp("tickets/.tmp-x-1234"), F_OK), -1);
	ck_assert_int_eq(access(sp("tickets/not_an.id"), F_OK), 0);
	loadset_release(&ls);

	/* Carrying boxes over from the damaged record is refused, and the
	 * damaged file is left as it is (for fsck and a human). */
	{
		uint8_t *after;
		size_t afterlen;

		ck_assert_int_eq(ts_store_read_record(st, ID2, &rec, &len), 0);
		strcpy(b.t.id, ID2);
		ck_assert_int_eq(ts_store_write(st, &b.t, NULL), -EBADMSG);
		ck_assert_int_eq(ts_store_read_record(st, ID2, &after,
		                                      &afterlen), 0);
		ck_assert_uint_eq(afterlen, len);
		ck_assert_mem_eq(after, rec, len);
		free(after);
		free(rec);
	}
	built_release(&b);
	ts_store_close(st);
}
END_TEST

/* ---- the daemon's MAC on every record ---- */

/* Writes t (boxes in blob) as a record of its own making into tickets/. */
static void
plant_record(const struct ts_ticket *t, const uint8_t *blob,
             const unsigned char *mackey)
{
	uint8_t *rec;
	size_t len;
	char p[4096];

	ck_assert_int_eq(ts_record_encode(TS_REC_TICKET, t, blob, mackey, &rec,
	                                  &len), 0);
	snprintf(p, sizeof(p), "%s/%s", sp("tickets"), t->id);
	write_file(p, rec, len);
	free(rec);
}

/*
 * A store given the key writes a MAC into every record and refuses, at
 * load and before carrying boxes into a rewrite, a record without one: one
 * planted by someone holding only the public key, or one altered (status
 * moved, expiry pushed) and re-MAC'd with another key.  Without the key
 * (the tools) MACs are neither written nor checked.
 */
START_TEST(record_mac_required)
{
	struct ts_store *st = create_open();
	struct loadset ls = { .n = 0 };
	unsigned char other[TS_RECORD_MACKEYBYTES];
	struct built b, f;
	struct loaded *l;
	uint8_t *rec;
	size_t len;

	ck_assert_int_eq(ts_store_set_key(st, key), 0);
	build(&b, ID1);
	store_built(st, &b);
	/* Forged: well formed, boxes sealed with the public key, no MAC. */
	build(&f, ID2);
	for (int k = 0; k < TS_F_COUNT; k++)
		f.t.field[k].off &= ~TS_BOX_NEW;
	f.t.msg[0].box.off &= ~TS_BOX_NEW;
	for (int k = 0; k < TS_A_COUNT; k++)
		f.t.auth[0].box[k].off &= ~TS_BOX_NEW;
	plant_record(&f.t, f.extra, NULL);
	/* Altered: ID1's ticket, expiry pushed, MAC'd with another key. */
	ck_assert_int_eq(ts_store_read_record(st, ID1, &rec, &len), 0);
	{
		struct ts_ticket t;
		int kind;

		ck_assert_int_eq(ts_record_decode(rec, len, &kind, &t), 0);
		strcpy(t.id, ID3);
		t.auth[0].expires_ms += 86400000;
		memset(other, 7, sizeof(other));
		plant_record(&t, rec, other);
		ts_ticket_release(&t);
	}
	free(rec);

	ck_assert_int_eq(ts_store_load(st, on_ticket, &ls), 0);
	ck_assert_uint_eq(ls.n, 3);
	ck_assert_ptr_nonnull(l = load_find(&ls, ID1));
	ck_assert_int_eq(l->err, 0);
	check_built_boxes(st, &l->t);
	ck_assert_ptr_nonnull(l = load_find(&ls, ID2));
	ck_assert_int_eq(l->err, -EKEYREJECTED);
	ck_assert_ptr_nonnull(l = load_find(&ls, ID3));
	ck_assert_int_eq(l->err, -EKEYREJECTED);
	loadset_release(&ls);
	/* No boxes are carried over from a record the daemon did not write. */
	built_clear_extra(&f);
	ck_assert_int_eq(ts_store_write(st, &f.t, NULL), -EKEYREJECTED);
	ts_store_close(st);

	/* The tools, without the key, see three well-formed records. */
	ck_assert_int_eq(ts_store_open(path, TS_STORE_DAEMON, &st), 0);
	ck_assert_int_eq(ts_store_load(st, on_ticket, &ls), 0);
	ck_assert_uint_eq(ls.n, 3);
	for (size_t k = 0; k < ls.n; k++)
		ck_assert_int_eq(ls.v[k].err, 0);
	loadset_release(&ls);
	ts_store_close(st);
	built_release(&b);
	built_release(&f);
}
END_TEST

/*
 * load_one reads one ticket as load does: the record decoded and its MAC
 * checked; -ENOENT for none (or a name that is no id), -EBADMSG for a
 * damaged record or another ticket's, -EKEYREJECTED for a planted one.
 */
START_TEST(load_one_as_load)
{
	struct ts_store *st = create_open();
	struct ts_ticket *t = NULL;
	struct built b, f;
	char p[4096], q[4096];
	uint8_t *rec;
	size_t len;

	ck_assert_int_eq(ts_store_set_key(st, key), 0);
	build(&b, ID1);
	store_built(st, &b);
	ck_assert_int_eq(ts_store_load_one(st, ID1, &t), 0);
	check_same_ticket(t, &b.t);
	check_built_boxes(st, t);
	ts_ticket_free(t);
	t = NULL;
	ck_assert_int_eq(ts_store_load_one(st, ID2, &t), -ENOENT);
	ck_assert_int_eq(ts_store_load_one(st, "../policy", &t), -ENOENT);
	ck_assert_ptr_null(t);
	/* ID1's record under another id; ID1's own damaged. */
	ck_assert_int_eq(ts_store_read_record(st, ID1, &rec, &len), 0);
	snprintf(q, sizeof(q), "%s/%s", sp("tickets"), ID3);
	write_file(q, rec, len);
	free(rec);
	ck_assert_int_eq(ts_store_load_one(st, ID3, &t), -EBADMSG);
	snprintf(p, sizeof(p), "%s/%s", sp("tickets"), ID1);
	flip_byte(p, 200);
	ck_assert_int_eq(ts_store_load_one(st, ID1, &t), -EBADMSG);
	/* Planted without the key: well formed, no MAC. */
	build(&f, ID2);
	for (int k = 0; k < TS_F_COUNT; k++)
		f.t.field[k].off &= ~TS_BOX_NEW;
	f.t.msg[0].box.off &= ~TS_BOX_NEW;
	for (int k = 0; k < TS_A_COUNT; k++)
		f.t.auth[0].box[k].off &= ~TS_BOX_NEW;
	plant_record(&f.t, f.extra, NULL);
	ck_assert_int_eq(ts_store_load_one(st, ID2, &t), -EKEYREJECTED);
	ck_assert_ptr_null(t);
	ts_store_close(st);
	/* Without the key (the tools) it reads as well formed. */
	ck_assert_int_eq(ts_store_open(path, TS_STORE_DAEMON, &st), 0);
	ck_assert_int_eq(ts_store_load_one(st, ID2, &t), 0);
	ck_assert_str_eq(t->id, ID2);
	ts_ticket_free(t);
	ts_store_close(st);
	built_release(&f);
	built_release(&b);
}
END_TEST

/* ---- the index snapshot ---- */


/* Loads st and saves what it loaded as the snapshot. */
static void
load_and_save(struct ts_store *st)
{
	struct loadset ls = { .n = 0 };
	const struct ts_ticket *v[16];

	ck_assert_int_eq(ts_store_load(st, on_ticket, &ls), 0);
	for (size_t i = 0; i < ls.n; i++)
		v[i] = &ls.v[i].t;
	ck_assert_int_eq(ts_store_snapshot_save(st, v, ls.n), 0);
	loadset_release(&ls);
}

static struct ts_store_snapinfo last_si;	/* of load_err's load */
#define NOT_AUTHENTIC "not authentic (damaged, truncated or made with " \
	"another key)"

/* Error ts_store_load reports for id through a fresh handle (k: the key
 * given to the store, or NULL for none).  Boxes are not opened: a damaged
 * box shows only when it is read. */
static int
load_err(const struct ts_seckey *k, const char *id)
{
	struct loadset ls = { .n = 0 };
	struct ts_store *st;
	struct loaded *l;
	int err;

	ck_assert_int_eq(ts_store_open(path, TS_STORE_DAEMON, &st), 0);
	if (k != NULL)
		ck_assert_int_eq(ts_store_set_key(st, k), 0);
	ck_assert_int_eq(ts_store_load(st, on_ticket, &ls), 0);
	ts_store_snapshot_info(st, &last_si);
	ck_assert_ptr_nonnull(l = load_find(&ls, id));
	err = l->err;
	loadset_release(&ls);
	ts_store_close(st);
	return err;
}

/* The last load_err used the snapshot: n entries, every ticket from it. */
static void
snap_used(size_t n)
{
	ck_assert_msg(last_si.used, "snapshot refused: %s", last_si.why);
	ck_assert_uint_eq(last_si.entries, n);
	ck_assert_uint_eq(last_si.taken, n);
	ck_assert_uint_eq(last_si.read, 0);
}

/* The last load_err refused the snapshot for why; n records read. */
static void
snap_refused(const char *why, size_t n)
{
	ck_assert_msg(!last_si.used, "snapshot used, not refused for %s", why);
	ck_assert_str_eq(last_si.why, why);
	ck_assert_uint_eq(last_si.taken, 0);
	ck_assert_uint_eq(last_si.read, n);
}

/*
 * Waits until a change in tickets/ gets an mtime after its current one:
 * directory times come from the kernel's coarse clock, and a change in
 * the same tick as the snapshot's stamp would keep the stamp.
 */
static void
past_stamp(void)
{
	struct stat sb;
	struct timespec now;

	ck_assert_int_eq(stat(sp("tickets"), &sb), 0);
	do {
		usleep(1000);
		ck_assert_int_eq(clock_gettime(CLOCK_REALTIME_COARSE, &now), 0);
	} while (now.tv_sec < sb.st_mtim.tv_sec ||
	         (now.tv_sec == sb.st_mtim.tv_sec &&
	          now.tv_nsec <= sb.st_mtim.tv_nsec));
}

/*
 * A record damaged in place (same file, directory unchanged) is not
 * re-read while the snapshot holds: that shows the snapshot is what was
 * loaded.  A wrong key, a damaged snapshot or any change in tickets/ and
 * every record is read again (and the damage shows).
 */
START_TEST(snapshot_used_only_while_valid)
{
	struct ts_store *st = create_open();
	struct ts_seckey *other;
	struct built b;
	char p[4096];

	ck_assert_int_eq(ts_store_snapshot_save(st, NULL, 0), -ENOKEY);
	ck_assert_int_eq(ts_store_set_key(st, key), 0);
	for (int i = 0; i < 3; i++) {
		build(&b, i == 0 ? ID1 : i == 1 ? ID2 : ID3);
		store_built(st, &b);
		built_release(&b);
	}
	load_and_save(st);
	ck_assert_uint_eq(mode_of(sp("index.snap")), 0600);
	snprintf(p, sizeof(p), "%s/%s", sp("tickets"), ID2);
	flip_byte(p, 200);	/* a bit of a box, mid-file */
	ck_assert_int_eq(load_err(key, ID2), 0);
	snap_used(3);
	ck_assert_int_eq(load_err(NULL, ID2), -EBADMSG);
	snap_refused("no key", 3);
	/* Another key: the snapshot is refused, so is every record's MAC. */
	ck_assert_int_eq(ts_seal_keypair(&other), 0);
	ck_assert_int_eq(load_err(other, ID2), -EBADMSG);
	snap_refused(NOT_AUTHENTIC, 3);
	ck_assert_int_eq(load_err(other, ID1), -EKEYREJECTED);
	ts_seal_seckey_free(other);
	flip_byte(sp("index.snap"), 40);	/* inside the first entry */
	ck_assert_int_eq(load_err(key, ID2), -EBADMSG);
	snap_refused(NOT_AUTHENTIC, 3);
	flip_byte(sp("index.snap"), 40);
	ck_assert_int_eq(load_err(key, ID2), 0);
	snap_used(3);
	/* Truncated: refused whole. */
	{
		struct stat sb;

		ck_assert_int_eq(stat(sp("index.snap"), &sb), 0);
		ck_assert_int_eq(truncate(sp("index.snap"), sb.st_size - 1), 0);
		ck_assert_int_eq(load_err(key, ID2), -EBADMSG);
		snap_refused(NOT_AUTHENTIC, 3);
	}
	load_and_save(st);	/* ID2 is now left out: damaged */
	ck_assert_int_eq(load_err(key, ID2), -EBADMSG);
	ck_assert_int_eq(load_err(key, ID1), 0);
	ts_store_close(st);
}
END_TEST

/*
 * Any create, rename or unlink in tickets/ (of a file that is no record,
 * so only the directory's stamp can tell) and the mtime left as it is:
 * the snapshot is refused and every record read, which a record damaged
 * in place shows.  Gone: refused as "no snapshot".
 */
START_TEST(snapshot_refused_after_dir_change)
{
	static const char *const what[] = { "create", "rename", "unlink" };
	struct ts_store *st = create_open();
	struct built b;
	char p[4096], from[4096], to[4096];

	ck_assert_int_eq(ts_store_set_key(st, key), 0);
	for (int i = 0; i < 3; i++) {
		build(&b, i == 0 ? ID1 : i == 1 ? ID2 : ID3);
		store_built(st, &b);
		built_release(&b);
	}
	snprintf(p, sizeof(p), "%s/%s", sp("tickets"), ID2);
	snprintf(from, sizeof(from), "%s", sp("tickets/notes.txt"));
	snprintf(to, sizeof(to), "%s", sp("tickets/notes.old"));
	for (int i = 0; i < 3; i++) {
		load_and_save(st);
		flip_byte(p, 200);	/* in place: the stamp holds */
		ck_assert_int_eq(load_err(key, ID2), 0);
		snap_used(3);
		past_stamp();
		if (i == 0)
			write_file(from, "x", 1);
		else if (i == 1)
			ck_assert_int_eq(rename(from, to), 0);
		else
			ck_assert_int_eq(unlink(to), 0);
		ck_assert_msg(load_err(key, ID2) == -EBADMSG, "after a %s in "
		              "tickets/, the snapshot was used", what[i]);
		snap_refused("tickets/ changed since it was taken", 3);
		flip_byte(p, 200);	/* whole again, in place */
	}
	ck_assert_int_eq(unlink(sp("index.snap")), 0);
	ck_assert_int_eq(load_err(key, ID2), 0);
	snap_refused("no snapshot", 3);
	ts_store_close(st);
}
END_TEST

/*
 * An entry is used only for the very file it was taken from: a record
 * replaced behind the snapshot's back is read from disk even when the
 * directory's mtime was put back.
 */
START_TEST(snapshot_entry_checks_inode)
{
	struct ts_store *st = create_open();
	struct loadset ls = { .n = 0 };
	struct ts_store *st2;
	struct loaded *l;
	struct built b;
	struct stat before;
	struct timespec ts[2];

	ck_assert_int_eq(ts_store_set_key(st, key), 0);
	build(&b, ID1);
	store_built(st, &b);
	built_release(&b);
	build(&b, ID2);
	store_built(st, &b);
	load_and_save(st);
	ck_assert_int_eq(stat(sp("tickets"), &before), 0);
	b.t.status = TS_PROCESSING;
	b.t.processing_ms = T0 + 5000;
	ck_assert_int_eq(ts_store_write(st, &b.t, NULL), 0);
	ts[0] = before.st_atim;
	ts[1] = before.st_mtim;
	ck_assert_int_eq(utimensat(AT_FDCWD, sp("tickets"), ts, 0), 0);

	ck_assert_int_eq(ts_store_open(path, TS_STORE_DAEMON, &st2), 0);
	ck_assert_int_eq(ts_store_set_key(st2, key), 0);
	ck_assert_int_eq(ts_store_load(st2, on_ticket, &ls), 0);
	ck_assert_uint_eq(ls.n, 2);
	ck_assert_ptr_nonnull(l = load_find(&ls, ID2));
	ck_assert_int_eq(l->err, 0);
	ck_assert_int_eq(l->t.status, TS_PROCESSING);
	check_same_ticket(&l->t, &b.t);
	ck_assert_ptr_nonnull(l = load_find(&ls, ID1));
	ck_assert_int_eq(l->err, 0);
	check_built_boxes(st2, &l->t);
	loadset_release(&ls);
	/* Removed since: not loaded, whatever the snapshot says. */
	ck_assert_int_eq(ts_store_remove(st2, ID1), 0);
	ck_assert_int_eq(utimensat(AT_FDCWD, sp("tickets"), ts, 0), 0);
	ck_assert_int_eq(ts_store_load(st2, on_ticket, &ls), 0);
	ck_assert_uint_eq(ls.n, 1);
	ck_assert_str_eq(ls.v[0].id, ID2);
	loadset_release(&ls);
	ts_store_close(st2);
	built_release(&b);
	ts_store_close(st);
}
END_TEST

/* ---- injected failures during a write ---- */

static const struct {
	const char *what;
	enum ts_sysio_op op;
	unsigned n;
	int err;
} write_faults[] = {
	{ "1st fsync EIO", TS_SYSIO_FSYNC, 1, EIO },
	{ "write ENOSPC", TS_SYSIO_WRITE, 1, ENOSPC },
	{ "rename EDQUOT", TS_SYSIO_RENAME, 1, EDQUOT },
	{ "open of the old record EMFILE", TS_SYSIO_OPEN, 1, EMFILE },
	{ "open of the temporary ENOSPC", TS_SYSIO_OPEN, 2, ENOSPC },
	{ "read of the old record EIO", TS_SYSIO_READ, 1, EIO },
};
#define NWRITE_FAULTS ((int)(sizeof(write_faults) / sizeof(write_faults[0])))

START_TEST(write_fault_leaves_ticket)
{
	struct ts_store *st = create_open();
	struct built b;
	struct ts_ticket saved;
	struct ts_message *m;
	struct loadset ls = { .n = 0 };
	uint8_t *before, *after;
	size_t beforelen, afterlen;
	uint32_t newoff;
	int rc;

	build(&b, ID1);
	store_built(st, &b);
	ck_assert_int_eq(ts_ticket_copy(&saved, &b.t), 0);
	ck_assert_int_eq(ts_store_read_record(st, ID1, &before, &beforelen), 0);

	/* A change that keeps old boxes and adds one. */
	b.t.status = TS_PROCESSED;
	b.t.processed_ms = T0 + 9000;
	ck_assert_ptr_nonnull(m = ts_ticket_add_msg(&b.t));
	strcpy(m->name, "m2");
	m->stored_ms = T0 + 9000;
	seal_new(&b, "messages/m2", "reply", &m->box);
	newoff = m->box.off;

	ts_sysio_inject(write_faults[_i].op, write_faults[_i].n,
	                write_faults[_i].err, 0);
	rc = ts_store_write(st, &b.t, b.extra);
	ts_sysio_reset();
	ck_assert_msg(rc == -write_faults[_i].err, "%s: write returned %d",
	              write_faults[_i].what, rc);

	/* The caller's ticket is as it was: still flagged, old offsets. */
	ck_assert_uint_eq(b.t.msg[1].box.off, newoff);
	ck_assert_mem_eq(b.t.field, saved.field, sizeof(saved.field));
	ck_assert_mem_eq(&b.t.msg[0].box, &saved.msg[0].box,
	                 sizeof(struct ts_box));
	/* The stored ticket is byte for byte as it was, and no temporary
	 * is left in tickets/. */
	ck_assert_int_eq(count_prefix(sp("tickets"), ".tmp-"), 0);
	ck_assert_int_eq(count_prefix(sp("tickets"), ""), 1);
	ck_assert_int_eq(ts_store_read_record(st, ID1, &after, &afterlen), 0);
	ck_assert_uint_eq(afterlen, beforelen);
	ck_assert_mem_eq(after, before, beforelen);
	free(after);
	ck_assert_int_eq(ts_store_load(st, on_ticket, &ls), 0);
	ck_assert_uint_eq(ls.n, 1);
	ck_assert_int_eq(ls.v[0].err, 0);
	check_same_ticket(&ls.v[0].t, &saved);
	ck_assert_int_eq(ls.v[0].t.status, TS_OPEN);
	check_built_boxes(st, &ls.v[0].t);
	loadset_release(&ls);

	/* Without the fault the same write goes through. */
	ck_assert_int_eq(ts_store_write(st, &b.t, b.extra), 0);
	built_clear_extra(&b);
	check_stored_box(st, ID1, &b.t.msg[1].box, "messages/m2", "reply\n");
	check_built_boxes(st, &b.t);
	ck_assert_int_eq(ts_store_load(st, on_ticket, &ls), 0);
	ck_assert_int_eq(ls.v[0].t.status, TS_PROCESSED);
	loadset_release(&ls);
	free(before);
	ts_ticket_release(&saved);
	built_release(&b);
	ts_store_close(st);
}
END_TEST

START_TEST(dir_fsync_fault_after_rename)
{
	/*
	 * The directory fsync fails after the rename: the write reports
	 * -EIO, yet the new record is already in place (ts_sysio_write_atomic
	 * cannot undo a rename).  Whatever the caller then does with its
	 * stale offsets, no wrong bytes may be copied into the store: the
	 * next write carrying boxes over is refused with -ESTALE, and every
	 * box on disk still opens.
	 */
	struct ts_store *st = create_open();
	struct built b;
	struct ts_message *m;
	struct loadset ls = { .n = 0 };
	int rc;

	build(&b, ID1);
	store_built(st, &b);
	b.t.status = TS_PROCESSING;
	b.t.processing_ms = T0 + 9000;
	ck_assert_ptr_nonnull(m = ts_ticket_add_msg(&b.t));
	strcpy(m->name, "m2");
	m->stored_ms = T0 + 9000;
	seal_new(&b, "messages/m2", "reply", &m->box);
	ts_sysio_inject(TS_SYSIO_FSYNC, 2, EIO, 0);
	rc = ts_store_write(st, &b.t, b.extra);
	ts_sysio_reset();
	ck_assert_int_eq(rc, -EIO);
	ck_assert_int_eq(count_prefix(sp("tickets"), ".tmp-"), 0);

	/* The caller still holds the old offsets: carrying them over into
	 * the record now stored would copy the wrong bytes. */
	b.t.status = TS_PROCESSED;
	b.t.processed_ms = T0 + 10000;
	ck_assert_int_eq(ts_store_write(st, &b.t, b.extra), -ESTALE);

	/* What is stored is whole: one of the two versions, every box
	 * opening for its item. */
	ck_assert_int_eq(ts_store_load(st, on_ticket, &ls), 0);
	ck_assert_uint_eq(ls.n, 1);
	ck_assert_int_eq(ls.v[0].err, 0);
	check_built_boxes(st, &ls.v[0].t);
	if (ls.v[0].t.nmsg == 2)
		check_stored_box(st, ID1, &ls.v[0].t.msg[1].box, "messages/m2",
		                 "reply\n");
	loadset_release(&ls);
	built_release(&b);
	ts_store_close(st);
}
END_TEST

START_TEST(persistent_fault)
{
	/* A disk that keeps failing: every write fails, nothing changes,
	 * until the fault goes away. */
	struct ts_store *st = create_open();
	struct built b;

	build(&b, ID1);
	ts_sysio_inject(TS_SYSIO_FSYNC, 1, EIO, 1);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(ts_store_write(st, &b.t, b.extra), -EIO);
	ts_sysio_reset();
	ck_assert_int_eq(ts_store_ticket_known(st, ID1), 0);
	ck_assert_int_eq(count_prefix(sp("tickets"), ""), 0);
	store_built(st, &b);
	ck_assert_int_eq(ts_store_ticket_known(st, ID1), 1);
	built_release(&b);
	ts_store_close(st);
}
END_TEST

/* A batch drops all its records with one flush, or a prefix on failure,
 * and never leaves a temporary file. */
START_TEST(intake_batch)
{
	struct ts_store *st = create_open();
	static const uint8_t rec[] = "not decoded here";
	struct ts_intake_item v[3] = {
		{ TS_REC_TICKET, "b-1", rec, sizeof(rec) },
		{ TS_REC_TICKET, "b-2", rec, sizeof(rec) },
		{ TS_REC_TICKET, "b-3", rec, sizeof(rec) },
	};
	size_t done = 99;

	ck_assert_int_eq(ts_store_intake_put_many(st, v, 3, &done), 0);
	ck_assert_uint_eq(done, 3);
	ck_assert_int_eq(count_prefix(sp("intake"), ".tmp-"), 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(ts_store_ticket_known(st, v[i].id), 1);
	/* The second rename fails: the first record stays, no temporaries. */
	v[0].id = "c-1";
	v[1].id = "c-2";
	v[2].id = "c-3";
	ts_sysio_inject(TS_SYSIO_RENAME, 2, EIO, 0);
	ck_assert_int_eq(ts_store_intake_put_many(st, v, 3, &done), -EIO);
	ts_sysio_reset();
	ck_assert_uint_eq(done, 1);
	ck_assert_int_eq(ts_store_ticket_known(st, "c-1"), 1);
	ck_assert_int_eq(ts_store_ticket_known(st, "c-2"), 0);
	ck_assert_int_eq(ts_store_ticket_known(st, "c-3"), 0);
	ck_assert_int_eq(count_prefix(sp("intake"), ".tmp-"), 0);
	/* The flush fails: nothing appears. */
	v[0].id = "d-1";
	ts_sysio_inject(TS_SYSIO_FSYNC, 1, EIO, 0);
	ck_assert_int_eq(ts_store_intake_put_many(st, v, 1, &done), -EIO);
	ts_sysio_reset();
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(ts_store_ticket_known(st, "d-1"), 0);
	ck_assert_int_eq(count_prefix(sp("intake"), ".tmp-"), 0);
	ts_store_close(st);
}
END_TEST

static long
ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (t1.tv_sec - t0->tv_sec) * 1000 +
	       (t1.tv_nsec - t0->tv_nsec) / 1000000;
}

/* One daemon a store; waiting returns once the holder has exited. */
START_TEST(lock_excludes_and_wait_releases)
{
	struct ts_store *st = create_open(), *st2 = NULL;
	struct timespec t0;
	int pipefd[2];
	char c;
	pid_t pid;

	ck_assert_int_eq(ts_store_open(path, TS_STORE_INTAKE, &st2), 0);
	/* Never locked: nothing to wait for. */
	ck_assert_int_eq(ts_store_wait_released(st2, 0), 0);

	/* Held by another process: released when that process exits. */
	ck_assert_int_eq(pipe(pipefd), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct ts_store *c_st;

		if (ts_store_open(path, TS_STORE_DAEMON, &c_st) < 0 ||
		    ts_store_lock(c_st) < 0)
			_exit(1);
		ts_store_close(c_st);	/* does not release it */
		if (write(pipefd[1], "x", 1) != 1)
			_exit(1);
		usleep(300 * 1000);
		_exit(0);
	}
	ck_assert_int_eq(read(pipefd[0], &c, 1), 1);
	ck_assert_int_eq(ts_store_lock(st), -EBUSY);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(ts_store_wait_released(st2, 100), -ETIMEDOUT);
	ck_assert_int_ge(ms_since(&t0), 100);
	ck_assert_int_eq(ts_store_wait_released(st2, 10000), 0);
	ck_assert_int_ge(ms_since(&t0), 200);
	ck_assert_int_eq(waitpid(pid, NULL, WNOHANG), pid);	/* it exited */
	close(pipefd[0]);
	close(pipefd[1]);

	/* This process now: a second handle is refused, close keeps it. */
	ck_assert_int_eq(ts_store_lock(st), 0);
	ck_assert_int_eq(ts_store_lock(st), 0);	/* again: a no-op */
	ck_assert_int_eq(ts_store_lock(st2), -EBUSY);
	ts_store_close(st);
	ck_assert_int_eq(ts_store_lock(st2), -EBUSY);
	ck_assert_int_eq(ts_store_wait_released(st2, 0), -ETIMEDOUT);
	ts_store_close(st2);
}
END_TEST

/* A lock file that is no regular file is refused, not opened through. */
START_TEST(lock_file_must_be_regular)
{
	struct ts_store *st = create_open();

	ck_assert_int_eq(mkfifo(sp("lock"), 0600), 0);
	ck_assert_int_eq(ts_store_lock(st), -EINVAL);
	ck_assert_int_eq(ts_store_wait_released(st, 0), -EINVAL);
	ck_assert_int_eq(unlink(sp("lock")), 0);
	ck_assert_int_eq(symlink("/etc/passwd", sp("lock")), 0);
	ck_assert_int_eq(ts_store_lock(st), -ELOOP);
	ts_store_close(st);
}
END_TEST

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *cr = tcase_create("create");
	TCase *in = tcase_create("intake");
	TCase *ho = tcase_create("hostile");
	TCase *tk = tcase_create("tickets");
	TCase *ft = tcase_create("faults");

	tcase_add_checked_fixture(cr, setup, teardown);
	tcase_add_test(cr, create_then_open);
	tcase_add_test(cr, create_in_empty_dir);
	tcase_add_test(cr, create_over_nonempty_refused);
	tcase_add_test(cr, create_failure_leaves_nothing);
	tcase_add_test(cr, open_missing_store);
	tcase_add_test(cr, lock_excludes_and_wait_releases);
	tcase_add_test(cr, lock_file_must_be_regular);
	suite_add_tcase(s, cr);

	tcase_add_checked_fixture(in, setup, teardown);
	tcase_add_test(in, intake_in_order_and_taken);
	tcase_add_test(in, intake_eagain_keeps);
	tcase_add_test(in, intake_stale_temporaries_swept);
	tcase_add_test(in, intake_error_rejects);
	tcase_add_test(in, intake_damaged_delivered_with_error);
	tcase_add_test(in, intake_put_refuses_bad_args);
	tcase_add_test(in, intake_put_failure_leaves_nothing);
	tcase_add_test(in, ticket_known);
	tcase_add_test(in, intake_non_regular_removed);
	tcase_add_test(in, load_fifo_ticket);
	tcase_add_test(in, intake_bounded_batch);
	tcase_add_test(in, intake_deleted_after_commit);
	tcase_add_test(in, intake_rejected_cap_files);
	tcase_add_test(in, intake_rejected_cap_bytes);
	suite_add_tcase(s, in);

	/* Hostile intake: thousands of files to make, on a shared disk. */
	tcase_add_checked_fixture(ho, setup, teardown);
	tcase_set_timeout(ho, 60);
	tcase_add_test(ho, intake_dir_deleted_bounded);
	tcase_add_test(ho, intake_deep_dir_leaves_nothing);
	tcase_add_test(ho, intake_rejected_only_plain_files);
	tcase_add_test(ho, intake_dotfiles_removed);
	suite_add_tcase(s, ho);

	tcase_add_checked_fixture(tk, setup, teardown);
	tcase_add_test(tk, write_load_read_box);
	tcase_add_test(tk, read_boxes_one_open);
	tcase_add_test(tk, rewrite_keeps_old_boxes);
	tcase_add_test(tk, write_refuses_invalid);
	tcase_add_test(tk, remove_ticket);
	tcase_add_test(tk, list_and_load_order);
	tcase_add_test(tk, damaged_ticket_file);
	tcase_add_test(tk, record_mac_required);
	tcase_add_test(tk, load_one_as_load);
	tcase_add_test(tk, snapshot_used_only_while_valid);
	tcase_add_test(tk, snapshot_entry_checks_inode);
	tcase_add_test(tk, snapshot_refused_after_dir_change);
	suite_add_tcase(s, tk);

	tcase_add_checked_fixture(ft, setup, teardown);
	tcase_add_loop_test(ft, write_fault_leaves_ticket, 0, NWRITE_FAULTS);
	tcase_add_test(ft, dir_fsync_fault_after_rename);
	tcase_add_test(ft, persistent_fault);
	tcase_add_test(ft, intake_batch);
	suite_add_tcase(s, ft);
	return s;
}

int
main(void)
{
	return ts_check_run(store_suite());
}
