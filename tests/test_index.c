/*
 * test_index: the daemon's ticket index over a real file store: intake,
 * status moves, removals, the sweep, and what a failing store leaves.
 */
#include <check.h>

#include "tests/check_main.h"
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fs/index.h"
#include "fs/inode.h"
#include "store/intake.h"
#include "store/record.h"
#include "store/sysio.h"

static char dir[64];
static struct ts_seckey *key;
static struct ts_store *st;
static struct ts_index *idx;

static void
quiet(void *arg, const char *fmt, ...)
{
	(void)arg, (void)fmt;
}

static const char TICKET[] =
	"{\"username\":\"alice\",\"subject\":\"disk full\","
	"\"email\":\"alice@example.com\",\"mobile\":\"+1 555\","
	"\"authorizations\":[{\"account\":\"acc\",\"password\":\"pw\","
	"\"expires\":\"2099-01-01T00:00:00Z\"}]}";

static void
setup(void)
{
	struct ts_store *in;
	struct ts_changes ch = { 0 };
	struct ts_policy p;
	uint8_t *rec;
	size_t len;
	char err[256];
	const char *policy = "email processed, 10s\nauthorization processed, expired\n";

	ck_assert_int_eq(ts_seal_init(), 0);
	snprintf(dir, sizeof(dir), "/tmp/ts-test-index-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	rmdir(dir);
	ck_assert_int_eq(ts_seal_keypair(&key), 0);
	ck_assert_int_eq(ts_store_create(dir, ts_seal_seckey_pk(key), policy), 0);
	ck_assert_int_eq(ts_store_open(dir, TS_STORE_INTAKE, &in), 0);
	ck_assert_int_eq(ts_intake_ticket(ts_seal_seckey_pk(key), "t-1", TICKET,
	                                  strlen(TICKET), ts_now_ms(), &rec,
	                                  &len, err, sizeof(err)), 0);
	ck_assert_int_eq(ts_store_intake_put(in, TS_REC_TICKET, "t-1", rec, len), 0);
	free(rec);
	ts_store_close(in);
	ck_assert_int_eq(ts_store_open(dir, TS_STORE_DAEMON, &st), 0);
	ck_assert_int_eq(ts_store_set_key(st, key), 0);	/* as the daemon */
	ck_assert_int_eq(ts_index_new(st, quiet, NULL, &idx), 0);
	ck_assert_int_eq(ts_policy_parse(policy, strlen(policy), &p, err,
	                                 sizeof(err)), 0);
	ts_index_wrlock(idx);
	ts_index_set_policy(idx, &p);
	ts_index_unlock(idx);
	ck_assert_int_eq(ts_index_load(idx), 0);
	ck_assert_int_eq(ts_index_intake(idx, &ch), 1);
	ck_assert_uint_eq(ch.n, 1);	/* tickets/ changed */
	ts_changes_release(&ch);
}

static void
teardown(void)
{
	char cmd[128];

	ts_sysio_reset();
	ts_index_free(idx);
	ts_store_close(st);
	ts_seal_seckey_free(key);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Opens field f of e; returns the plaintext (malloc'd) or NULL. */
static char *
open_field(struct ts_entry *e, int f)
{
	uint8_t *plain = NULL;

	if (ts_index_open_box(idx, key, e, ts_field_names[f], &e->t.field[f],
	                      &plain) < 0)
		return NULL;
	return (char *)plain;
}

/* A fresh index over the same store: what a remount would see. */
static struct ts_entry *
reloaded(struct ts_index **out)
{
	ck_assert_int_eq(ts_index_new(st, quiet, NULL, out), 0);
	ck_assert_int_eq(ts_index_load(*out), 0);
	return ts_index_find(*out, "t-1");
}

/* 1 if ch holds a change in directory in (gone: gone_ino, else 0) named name
 * ("" any). */
static int
has_change(const struct ts_changes *ch, uint64_t in, uint64_t gone,
           const char *name)
{
	for (size_t i = 0; i < ch->n; i++)
		if (ch->v[i].dir_ino == in && ch->v[i].gone_ino == gone &&
		    (name[0] == '\0' || strcmp(ch->v[i].name, name) == 0))
			return 1;
	return 0;
}

/*
 * ts_index_refresh: the store's version of a ticket written behind the
 * index (as another host of a shared store does) replaces the index's;
 * the ticket keeps its slot and a message that stayed its item number;
 * what went is recorded for the kernel (with a tomb), unaudited (no path);
 * a removed ticket leaves the index.
 */
START_TEST(test_refresh_another_version)
{
	struct ts_changes ch = { 0 };
	struct ts_ticket *t;
	struct ts_entry *e;
	uint64_t slot;
	uint32_t item, mslot, aslot;
	const char *text = "a reply";

	ts_index_wrlock(idx);
	e = ts_index_find(idx, "t-1");
	slot = e->slot;
	aslot = e->t.auth[0].slot;
	ck_assert_int_eq(ts_index_take_item(idx, e, &item), 0);
	ck_assert_int_eq(ts_index_add_msg(idx, e, "m1", item, text,
	                                  strlen(text), ts_seal_seckey_pk(key),
	                                  &ch), 0);
	mslot = ts_ticket_find_msg(&e->t, "m1")->slot;
	ts_index_unlock(idx);
	ts_changes_release(&ch);

	/* Another writer: processed, no email, no authorization. */
	ck_assert_int_eq(ts_store_load_one(st, "t-1", &t), 0);
	t->status = TS_PROCESSED;
	t->processed_ms = ts_now_ms();
	t->field[TS_F_EMAIL] = (struct ts_box){ 0, 0 };
	t->nauth = 0;
	ck_assert_int_eq(ts_store_write(st, t, NULL), 0);
	ts_ticket_free(t);

	ts_index_wrlock(idx);
	ck_assert_int_eq(ts_index_refresh(idx, "t-1", &ch), 0);
	e = ts_index_find(idx, "t-1");
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->slot, slot);
	ck_assert_int_eq(e->t.status, TS_PROCESSED);
	ck_assert_uint_eq(e->t.field[TS_F_EMAIL].len, 0);
	ck_assert_uint_eq(e->t.nauth, 0);
	ck_assert_uint_eq(e->t.nmsg, 1);
	ck_assert_uint_eq(e->t.msg[0].slot, mslot);	/* the same inode */
	ck_assert(has_change(&ch, ts_ino_make(slot, 0, TS_SUB_STATUS), 0, ""));
	ck_assert(has_change(&ch, ts_ino_make(slot, 0, TS_SUB_DIR),
	                     ts_ino_make(slot, 0, TS_SUB_FIELD + TS_F_EMAIL),
	                     "email"));
	ck_assert(has_change(&ch, ts_ino_make(slot, 0, TS_SUB_AUTHDIR),
	                     ts_ino_make(slot, aslot + 1, TS_SUB_ITEM), ""));
	ck_assert(!has_change(&ch, ts_ino_make(slot, 0, TS_SUB_MSGDIR),
	                      ts_ino_make(slot, mslot + 1, TS_SUB_ITEM), ""));
	ck_assert(ts_index_tomb(idx, ts_ino_make(slot, 0, TS_SUB_DIR), "email"));
	for (size_t i = 0; i < ch.n; i++)
		ck_assert_str_eq(ch.v[i].path, "");	/* nothing audited */
	{	/* and the message still opens */
		uint8_t *plain = NULL;

		ck_assert_int_eq(ts_index_open_box(idx, key, e, "messages/m1",
		                                   &e->t.msg[0].box, &plain), 0);
		ck_assert_str_eq((char *)plain, "a reply\n");	/* stored with its newline */
		free(plain);
	}
	ts_index_unlock(idx);
	ts_changes_release(&ch);

	/* Removed behind the index: it leaves. */
	ck_assert_int_eq(ts_store_remove(st, "t-1"), 0);
	ts_index_wrlock(idx);
	ck_assert_int_eq(ts_index_refresh(idx, "t-1", &ch), 0);
	ck_assert_ptr_null(ts_index_find(idx, "t-1"));
	ck_assert(has_change(&ch, TS_INO_TICKETS, ts_ino_make(slot, 0, TS_SUB_DIR),
	                     "t-1"));
	ts_changes_release(&ch);
	/* Unknown to both: nothing. */
	ck_assert_int_eq(ts_index_refresh(idx, "t-9", &ch), 0);
	ck_assert_uint_eq(ch.n, 0);
	ts_index_unlock(idx);
}
END_TEST

START_TEST(test_intake_and_read)
{
	struct ts_entry *e;
	char *s;

	ts_index_rdlock(idx);
	e = ts_index_find(idx, "t-1");
	ck_assert_ptr_nonnull(e);
	ck_assert_uint_eq(e->t.nauth, 1);
	s = open_field(e, TS_F_EMAIL);
	ck_assert_str_eq(s, "alice@example.com\n");
	free(s);
	ts_index_unlock(idx);
}
END_TEST

START_TEST(test_status_moves_and_processing_purges)
{
	struct ts_changes ch = { 0 };
	struct ts_index *again;
	struct ts_entry *e;

	ts_index_wrlock(idx);
	e = ts_index_find(idx, "t-1");
	ck_assert_int_eq(ts_index_set_status(idx, e, TS_PROCESSING, &ch), 0);
	ck_assert_int_eq(ts_index_set_status(idx, e, TS_OPEN, &ch), -EPERM);
	ck_assert_int_eq(e->t.status, TS_PROCESSING);
	ck_assert_int_eq(ts_index_set_status(idx, e, TS_PROCESSED, &ch), 0);
	/* email and the authorization go at once; mobile is not tied. */
	ck_assert_uint_eq(e->t.field[TS_F_EMAIL].len, 0);
	ck_assert_uint_eq(e->t.nauth, 0);
	ck_assert_uint_ne(e->t.field[TS_F_MOBILE].len, 0);
	ts_index_unlock(idx);
	ts_changes_release(&ch);
	/* ... and from the store. */
	e = reloaded(&again);
	ck_assert_int_eq(e->t.status, TS_PROCESSED);
	ck_assert_uint_eq(e->t.field[TS_F_EMAIL].len, 0);
	ck_assert_uint_eq(e->t.nauth, 0);
	ts_index_free(again);
}
END_TEST

START_TEST(test_sweep_at_deadline)
{
	struct ts_changes ch = { 0 };
	struct ts_index *again;
	struct ts_entry *e;
	int64_t now = ts_now_ms(), next;

	ts_index_wrlock(idx);
	e = ts_index_find(idx, "t-1");
	ck_assert_int_eq(ts_index_set_status(idx, e, TS_PROCESSING, &ch), 0);
	/* email 10 s after submission: nothing is due now, it is then. */
	next = ts_index_sweep(idx, now, &ch);
	ck_assert(next > now && next <= now + 10000);
	ck_assert_uint_ne(e->t.field[TS_F_EMAIL].len, 0);
	next = ts_index_sweep(idx, now + 10001, &ch);
	ck_assert_uint_eq(e->t.field[TS_F_EMAIL].len, 0);
	ck_assert(next > now + 10001);	/* the authorization, in 2099 */
	ts_index_unlock(idx);
	ck_assert_uint_ge(ch.n, 1);
	ts_changes_release(&ch);
	e = reloaded(&again);
	ck_assert_uint_eq(e->t.field[TS_F_EMAIL].len, 0);
	ts_index_free(again);
}
END_TEST

/*
 * The directory fsync after the rename fails: the caller hears EIO, and the
 * index must match whatever record is on disk (here the new one), so the
 * other fields still open.
 */
START_TEST(test_failed_dir_fsync_keeps_index_true)
{
	struct ts_changes ch = { 0 };
	struct ts_entry *e;
	char *s;

	ts_index_wrlock(idx);
	e = ts_index_find(idx, "t-1");
	/* The new key's file and dir (a removal rekeys), then the
	 * record's file, then its dir. */
	ts_sysio_inject(TS_SYSIO_FSYNC, 4, EIO, 0);
	ck_assert_int_eq(ts_index_remove_field(idx, e, TS_F_EMAIL, &ch), -EIO);
	ts_sysio_reset();
	ck_assert_uint_eq(e->t.field[TS_F_EMAIL].len, 0);	/* it is gone */
	s = open_field(e, TS_F_SUBJECT);
	ck_assert_ptr_nonnull(s);
	ck_assert_str_eq(s, "disk full\n");
	free(s);
	s = open_field(e, TS_F_MOBILE);
	ck_assert_str_eq(s, "+1 555\n");
	free(s);
	ts_index_unlock(idx);
	ts_changes_release(&ch);
}
END_TEST

/* A write that fails before the rename changes nothing at all. */
START_TEST(test_failed_write_changes_nothing)
{
	struct ts_changes ch = { 0 };
	struct ts_entry *e;
	char *s;

	ts_index_wrlock(idx);
	e = ts_index_find(idx, "t-1");
	ts_sysio_inject(TS_SYSIO_WRITE, 1, ENOSPC, 0);
	ck_assert_int_eq(ts_index_remove_field(idx, e, TS_F_EMAIL, &ch), -ENOSPC);
	ts_sysio_reset();
	s = open_field(e, TS_F_EMAIL);
	ck_assert_str_eq(s, "alice@example.com\n");
	free(s);
	ts_index_unlock(idx);
	ck_assert_uint_eq(ch.n, 0);
	ts_changes_release(&ch);
}
END_TEST

/* Drops a ticket (or a message for t-1 when msg) stamped at ms. */
static void
put_stamped(const char *id, int msg, int64_t ms)
{
	struct ts_store *in;
	uint8_t *rec;
	size_t len;
	char err[256];

	ck_assert_int_eq(ts_store_open(dir, TS_STORE_INTAKE, &in), 0);
	if (msg)
		ck_assert_int_eq(ts_intake_message(ts_seal_seckey_pk(key), "t-1",
		                                   id, "hi", 2, ms, &rec, &len,
		                                   err, sizeof(err)), 0);
	else
		ck_assert_int_eq(ts_intake_ticket(ts_seal_seckey_pk(key), id,
		                                  TICKET, strlen(TICKET), ms,
		                                  &rec, &len, err, sizeof(err)),
		                 0);
	ck_assert_int_eq(ts_store_intake_put(in, msg ? TS_REC_MESSAGE :
	                                     TS_REC_TICKET, msg ? "t-1" : id, rec,
	                                     len), 0);
	free(rec);
	ts_store_close(in);
}

/* Drops a message for t-1 into intake, as ticketctl message does. */
static void
intake_message(const char *name)
{
	put_stamped(name, 1, ts_now_ms());
}

/* The one change in ch for an intake file with -KIND-ID in its name. */
static const struct ts_index_change *
change_for(const struct ts_changes *ch, const char *tail)
{
	const struct ts_index_change *c = NULL;

	for (size_t i = 0; i < ch->n; i++)
		if (strstr(ch->v[i].path, tail) != NULL) {
			ck_assert_msg(c == NULL, "two changes for %s", tail);
			c = &ch->v[i];
		}
	ck_assert_msg(c != NULL, "no change for %s", tail);
	return c;
}

/*
 * A ticket or message record copied back into intake after it was taken
 * in changes nothing, is deleted, and still shows in the audit trail: an
 * intake entry, result ok, "already taken in".
 */
START_TEST(test_intake_again_audited)
{
	struct ts_changes ch = { 0 };
	const struct ts_index_change *c;
	struct ts_entry *e;

	intake_message("once");
	ck_assert_int_eq(ts_index_intake(idx, &ch), 1);
	ts_changes_release(&ch);
	put_stamped("t-1", 0, ts_now_ms());	/* the ticket again */
	intake_message("once");			/* and the message */
	ck_assert_int_eq(ts_index_intake(idx, &ch), 2);	/* both deleted */
	ck_assert_uint_eq(ch.n, 2);
	c = change_for(&ch, "-t-t-1");
	ck_assert_str_eq(c->op, "intake");
	ck_assert_int_eq(strncmp(c->path, "intake/", 7), 0);
	ck_assert_int_eq(c->err, 0);
	ck_assert_str_eq(c->detail, "already taken in");
	c = change_for(&ch, "-m-t-1");
	ck_assert_str_eq(c->op, "intake");
	ck_assert_int_eq(c->err, 0);
	ck_assert_str_eq(c->detail, "already taken in");
	ck_assert_uint_eq(c->dir_ino, 0);	/* nothing to tell the kernel */
	ts_changes_release(&ch);
	ts_index_rdlock(idx);
	e = ts_index_find(idx, "t-1");
	ck_assert_uint_eq(e->t.nmsg, 1);
	ts_index_unlock(idx);
}
END_TEST

/* ---- a customer's forget and erase (fs/rights.c) ---- */

/* Drops record rec (freed) of kind for id into intake. */
static void
put_rec(int kind, const char *id, uint8_t *rec, size_t len)
{
	struct ts_store *in;

	ck_assert_int_eq(ts_store_open(dir, TS_STORE_INTAKE, &in), 0);
	ck_assert_int_eq(ts_store_intake_put(in, kind, id, rec, len), 0);
	free(rec);
	ts_store_close(in);
}

static void
put_ticket(const char *id, const char *json)
{
	uint8_t *rec;
	size_t len;
	char err[256];

	ck_assert_int_eq(ts_intake_ticket(ts_seal_seckey_pk(key), id, json,
	                                  strlen(json), ts_now_ms(), &rec, &len,
	                                  err, sizeof(err)), 0);
	put_rec(TS_REC_TICKET, id, rec, len);
}

static void
put_forget(const char *user, const char *ip)
{
	char reqid[TS_NAME_MAX + 1], err[256];
	uint8_t *rec;
	size_t len;

	ts_id_new(reqid);
	ck_assert_int_eq(ts_intake_forget(ts_seal_seckey_pk(key), reqid, user,
	                                  strlen(user), &rec, &len, err,
	                                  sizeof(err)), 0);
	ck_assert_int_eq(ts_intake_set_client_ip(&rec, &len, ip, err,
	                                         sizeof(err)), 0);
	put_rec(TS_REC_FORGET, reqid, rec, len);
}

static void
put_erase(const char *id, uint32_t mask)
{
	uint8_t *rec;
	size_t len;
	char err[256];

	ck_assert_int_eq(ts_intake_erase(id, mask, &rec, &len, err,
	                                 sizeof(err)), 0);
	put_rec(TS_REC_ERASE, id, rec, len);
}

/* How many changes of ch have op and a path ending in tail. */
static size_t
count_changes(const struct ts_changes *ch, const char *op, const char *tail)
{
	size_t n = 0, tl = strlen(tail);

	for (size_t i = 0; i < ch->n; i++) {
		size_t pl = strlen(ch->v[i].path);

		n += strcmp(ch->v[i].op, op) == 0 && pl >= tl &&
		     strcmp(ch->v[i].path + pl - tl, tail) == 0;
	}
	return n;
}

static void
set_policy(const char *text)
{
	struct ts_policy p;
	char err[256];

	ck_assert_int_eq(ts_policy_parse(text, strlen(text), &p, err,
	                                 sizeof(err)), 0);
	ts_index_wrlock(idx);
	ts_index_set_policy(idx, &p);
	ts_index_unlock(idx);
}

/*
 * Forget finds a user's tickets by their keyed username hash, and a
 * ticket without one (a store of before) by its own username box; it
 * removes what the policy ties to `forgotten`, durably, audited per item
 * as "forget", the request itself as intake with its client's address.
 */
START_TEST(test_forget)
{
	struct ts_changes ch = { 0 };
	const struct ts_index_change *c;
	struct ts_index *again;
	struct ts_entry *e;

	set_policy("username forgotten\nemail processed, forgotten\n"
	           "message forgotten\n");
	put_ticket("t-2", "{\"username\":\"bob\",\"subject\":\"b\","
	           "\"email\":\"bob@example.com\"}");
	put_ticket("t-3", "{\"username\":\"carol\",\"subject\":\"c\","
	           "\"email\":\"carol@example.com\"}");
	intake_message("m1");
	ck_assert_int_eq(ts_index_intake(idx, &ch), 3);
	ts_changes_release(&ch);
	/* t-1 (alice) has no hash, as before; t-2 is bob's, but its hash
	 * says alice: the hash, not the box, is what a hashed ticket is
	 * found by; t-3 has carol's own. */
	ts_index_wrlock(idx);
	e = ts_index_find(idx, "t-2");
	ck_assert_int_eq(ts_store_uhash(st, "alice\n", 6, e->t.uhash), 0);
	e->t.has_uhash = 1;
	e = ts_index_find(idx, "t-3");
	ck_assert_int_eq(ts_store_uhash(st, "carol", 5, e->t.uhash), 0);
	e->t.has_uhash = 1;
	/* Taken in today, t-1 has its hash; without it (a ticket of before
	 * the hash) its own username box is what finds it. */
	ck_assert_int_eq(ts_index_find(idx, "t-1")->t.has_uhash, 1);
	ts_index_find(idx, "t-1")->t.has_uhash = 0;
	ts_index_unlock(idx);

	put_forget("alice", "192.0.2.1");
	ck_assert_int_eq(ts_index_intake(idx, &ch), 1);
	ck_assert_uint_eq(count_changes(&ch, "forget", "t-1/username"), 1);
	ck_assert_uint_eq(count_changes(&ch, "forget", "t-1/email"), 1);
	ck_assert_uint_eq(count_changes(&ch, "forget", "t-1/messages/m1"), 1);
	ck_assert_uint_eq(count_changes(&ch, "forget", "t-2/username"), 1);
	ck_assert_uint_eq(count_changes(&ch, "forget", "t-2/email"), 1);
	ck_assert_uint_eq(count_changes(&ch, "forget", "t-3/username"), 0);
	c = change_for(&ch, "-f-");
	ck_assert_str_eq(c->op, "intake");
	ck_assert_int_eq(c->err, 0);
	ck_assert_str_eq(c->detail, "forget: 2 tickets");
	for (size_t i = 0; i < ch.n; i++) {
		ck_assert_str_eq(ch.v[i].client_ip, "192.0.2.1");
		ck_assert_ptr_null(strstr(ch.v[i].path, "alice"));
		ck_assert_ptr_null(strstr(ch.v[i].detail, "alice"));
	}
	ts_changes_release(&ch);
	ts_index_rdlock(idx);
	e = ts_index_find(idx, "t-1");
	ck_assert_int_gt(e->t.forgotten_ms, 0);
	ck_assert_uint_eq(e->t.field[TS_F_USERNAME].len, 0);
	ck_assert_uint_eq(e->t.field[TS_F_EMAIL].len, 0);
	ck_assert_uint_ne(e->t.field[TS_F_MOBILE].len, 0);	/* not tied */
	ck_assert_uint_ne(e->t.field[TS_F_SUBJECT].len, 0);
	ck_assert_uint_eq(e->t.nmsg, 0);
	ck_assert_uint_eq(ts_index_find(idx, "t-2")->t.field[TS_F_EMAIL].len, 0);
	e = ts_index_find(idx, "t-3");
	ck_assert_int_eq(e->t.forgotten_ms, 0);
	ck_assert_uint_ne(e->t.field[TS_F_USERNAME].len, 0);
	ck_assert_uint_ne(e->t.field[TS_F_EMAIL].len, 0);
	ts_index_unlock(idx);
	/* Durable: a remount sees the same. */
	e = reloaded(&again);
	ck_assert_int_gt(e->t.forgotten_ms, 0);
	ck_assert_uint_eq(e->t.field[TS_F_USERNAME].len, 0);
	ck_assert_uint_eq(e->t.field[TS_F_EMAIL].len, 0);
	ts_index_free(again);

	/* An unknown user: one entry, no change. */
	put_forget("nobody", NULL);
	ck_assert_int_eq(ts_index_intake(idx, &ch), 1);
	ck_assert_uint_eq(ch.n, 1);
	ck_assert_str_eq(ch.v[0].op, "intake");
	ck_assert_str_eq(ch.v[0].detail, "forget: no ticket of that user");
	ck_assert_str_eq(ch.v[0].client_ip, "");
	ck_assert_uint_eq(ch.v[0].dir_ino, 0);
	ts_changes_release(&ch);
}
END_TEST

/* The hash a forget computes for a ticket of before stays on it: the
 * next forget compares hashes and opens no box; it still finds it. */
START_TEST(test_forget_keeps_hash)
{
	struct ts_changes ch = { 0 };
	unsigned char was[TS_UHASH_BYTES];
	struct ts_entry *e;

	set_policy("username forgotten\n");
	ts_index_wrlock(idx);
	e = ts_index_find(idx, "t-1");
	ck_assert_int_eq(e->t.has_uhash, 1);
	memcpy(was, e->t.uhash, sizeof(was));
	memset(e->t.uhash, 0, sizeof(e->t.uhash));
	e->t.has_uhash = 0;	/* as a ticket of before the hash */
	ts_index_unlock(idx);

	put_forget("nobody", NULL);
	ck_assert_int_eq(ts_index_intake(idx, &ch), 1);
	ck_assert_str_eq(ch.v[0].detail, "forget: no ticket of that user");
	ts_changes_release(&ch);
	ts_index_rdlock(idx);
	e = ts_index_find(idx, "t-1");
	ck_assert_int_eq(e->t.has_uhash, 1);
	ck_assert_mem_eq(e->t.uhash, was, sizeof(was));
	ck_assert_int_eq(e->t.forgotten_ms, 0);
	ts_index_unlock(idx);

	put_forget("alice", NULL);
	ck_assert_int_eq(ts_index_intake(idx, &ch), 1);
	ck_assert_uint_eq(count_changes(&ch, "forget", "t-1/username"), 1);
	ts_changes_release(&ch);
	ts_index_rdlock(idx);
	ck_assert_int_gt(ts_index_find(idx, "t-1")->t.forgotten_ms, 0);
	ts_index_unlock(idx);
}
END_TEST

/* A ticket whose policy ties the ticket itself to `forgotten` goes whole. */
START_TEST(test_forget_whole_ticket)
{
	struct ts_changes ch = { 0 };

	set_policy("ticket forgotten\n");
	put_forget("alice", NULL);
	ck_assert_int_eq(ts_index_intake(idx, &ch), 1);
	ck_assert_uint_eq(count_changes(&ch, "forget", "tickets/t-1"), 1);
	ts_changes_release(&ch);
	ts_index_rdlock(idx);
	ck_assert_ptr_null(ts_index_find(idx, "t-1"));
	ts_index_unlock(idx);
	ck_assert_int_eq(ts_store_ticket_known(st, "t-1"), 0);
}
END_TEST

START_TEST(test_erase)
{
	struct ts_changes ch = { 0 };
	struct ts_entry *e;

	put_erase("t-1", 1u << TS_F_EMAIL | 1u << TS_F_CONFIDENTIAL);
	ck_assert_int_eq(ts_index_intake(idx, &ch), 1);
	ck_assert_uint_eq(count_changes(&ch, "erase", "tickets/t-1/email"), 1);
	/* confidential was never given: nothing for it. */
	ck_assert_uint_eq(count_changes(&ch, "erase", "confidential"), 0);
	ck_assert_str_eq(change_for(&ch, "-e-")->detail, "erase: fields");
	ts_changes_release(&ch);
	ts_index_rdlock(idx);
	e = ts_index_find(idx, "t-1");
	ck_assert_uint_eq(e->t.field[TS_F_EMAIL].len, 0);
	ck_assert_uint_ne(e->t.field[TS_F_MOBILE].len, 0);
	ts_index_unlock(idx);
	/* Again: nothing to do, said so. */
	put_erase("t-1", 1u << TS_F_EMAIL);
	ck_assert_int_eq(ts_index_intake(idx, &ch), 1);
	ck_assert_uint_eq(ch.n, 1);
	ck_assert_str_eq(ch.v[0].detail, "erase: already gone");
	ts_changes_release(&ch);
	/* An unknown ticket: refused, set aside. */
	put_erase("t-9", 0);
	ck_assert_int_eq(ts_index_intake(idx, &ch), 0);
	ck_assert_uint_eq(ch.n, 1);
	ck_assert_int_eq(ch.v[0].err, ENOENT);
	ts_changes_release(&ch);
	/* The whole ticket. */
	put_erase("t-1", 0);
	ck_assert_int_eq(ts_index_intake(idx, &ch), 1);
	ck_assert_uint_eq(count_changes(&ch, "erase", "tickets/t-1"), 1);
	ts_changes_release(&ch);
	ts_index_rdlock(idx);
	ck_assert_ptr_null(ts_index_find(idx, "t-1"));
	ts_index_unlock(idx);
	ck_assert_int_eq(ts_store_ticket_known(st, "t-1"), 0);
}
END_TEST

/*
 * At the limit: a ticket holds TS_MSG_PER_TICKET messages.  The last one
 * is taken in; one more, through intake or the mount, is refused with
 * EMLINK (the intake record moved aside), and nothing changes.
 */
START_TEST(test_message_limit)
{
	const size_t n = TS_MSG_PER_TICKET - 1, boxlen = TS_SEAL_OVERHEAD + 1;
	struct ts_changes ch = { 0 };
	struct ts_ticket nt;
	struct ts_entry *e;
	uint8_t *extra = calloc(n, boxlen);

	ck_assert_ptr_nonnull(extra);
	ts_index_wrlock(idx);
	e = ts_index_find(idx, "t-1");
	ck_assert_int_eq(ts_ticket_copy(&nt, &e->t), 0);
	for (size_t i = 0; i < n; i++) {
		struct ts_message *m = ts_ticket_add_msg(&nt);

		ck_assert_ptr_nonnull(m);
		snprintf(m->name, sizeof(m->name), "m%05zu", i);
		m->stored_ms = ts_now_ms();
		m->box = (struct ts_box){ (uint32_t)(i * boxlen) | TS_BOX_NEW,
		                          (uint32_t)boxlen };
	}
	ck_assert_int_eq(ts_store_write(st, &nt, extra), 0);
	ts_ticket_release(&nt);
	free(extra);
	ts_index_unlock(idx);
	ts_index_free(idx);
	e = reloaded(&idx);
	ck_assert_uint_eq(e->t.nmsg, n);

	intake_message("last");
	ck_assert_int_eq(ts_index_intake(idx, &ch), 1);
	ts_changes_release(&ch);
	ts_index_rdlock(idx);
	e = ts_index_find(idx, "t-1");
	ck_assert_uint_eq(e->t.nmsg, TS_MSG_PER_TICKET);
	ts_index_unlock(idx);

	intake_message("one-more");
	ck_assert_int_eq(ts_index_intake(idx, &ch), 0);	/* refused */
	ck_assert_uint_ge(ch.n, 1);
	ck_assert_int_eq(ch.v[ch.n - 1].err, EMLINK);	/* audited as such */
	ck_assert_ptr_nonnull(strstr(ch.v[ch.n - 1].detail, "65535 messages"));
	ts_changes_release(&ch);
	ts_index_wrlock(idx);
	e = ts_index_find(idx, "t-1");
	ck_assert_uint_eq(e->t.nmsg, TS_MSG_PER_TICKET);
	ck_assert_int_eq(ts_index_add_msg(idx, e, "via-mount", 70000, "x\n", 2,
	                                  ts_seal_seckey_pk(key), &ch), -EMLINK);
	ck_assert_uint_eq(e->t.nmsg, TS_MSG_PER_TICKET);
	ts_index_unlock(idx);
	ts_changes_release(&ch);
}
END_TEST

static int
busy_one(void *arg, uint64_t slot, uint32_t item)
{
	(void)arg, (void)slot;
	return item == 1;	/* as if the kernel still held item 1 */
}

/*
 * Item numbers: a number given back is handed out again; once a ticket's
 * numbers run out, the lowest free one is reused, never one an item has
 * or busy() claims, and never one past the inode's bits.
 */
START_TEST(test_item_numbers)
{
	struct ts_entry *e;
	uint32_t a, b, c;

	ts_index_set_busy(idx, busy_one, NULL);
	ts_index_wrlock(idx);
	e = ts_index_find(idx, "t-1");	/* a1 has item 0 */
	ck_assert_int_eq(ts_index_take_item(idx, e, &a), 0);
	ck_assert_int_eq(ts_index_take_item(idx, e, &b), 0);
	ck_assert_uint_eq(b, a + 1);
	ts_index_give_item(idx, e, a);	/* not the last: kept spare */
	ck_assert_int_eq(ts_index_take_item(idx, e, &c), 0);
	ck_assert_uint_eq(c, a);
	ts_index_give_item(idx, e, b);	/* the last: the count goes back */
	ck_assert_int_eq(ts_index_take_item(idx, e, &c), 0);
	ck_assert_uint_eq(c, b);
	/* Run out of numbers: the lowest free one, not 0 (a1), not 1 (busy). */
	e->t.next_slot = TS_ITEM_MAX - 1;
	ck_assert_int_eq(ts_index_take_item(idx, e, &c), 0);
	ck_assert_uint_eq(c, 2);
	ck_assert_uint_lt(ts_ino_make(e->slot, c + 1, TS_SUB_EXPIRES),
	                  ts_ino_make(e->slot + 1, 0, 0));
	ck_assert_uint_eq(e->t.next_slot, TS_ITEM_MAX - 1);
	ts_index_unlock(idx);
	ts_index_set_busy(idx, NULL, NULL);
}
END_TEST

/* The refusal of intake named by suffix in ch: its errno; 0 if none. */
static int
refusal(const struct ts_changes *ch, const char *suffix, const char **detail)
{
	for (size_t i = 0; i < ch->n; i++) {
		size_t pl = strlen(ch->v[i].path), sl = strlen(suffix);

		if (strncmp(ch->v[i].path, "intake/", 7) == 0 && pl > sl &&
		    strcmp(ch->v[i].path + pl - sl, suffix) == 0) {
			*detail = ch->v[i].detail;
			return ch->v[i].err;
		}
	}
	return 0;
}

/*
 * Deadlines run from the daemon's clock: a stamp over 5 minutes ahead is
 * refused; a little ahead, or long past, is dated at take-in; a recent
 * one is kept.
 */
START_TEST(test_intake_clock)
{
	struct ts_changes ch = { 0 };
	int64_t now = ts_now_ms(), t0, t1;
	const char *detail = NULL;
	struct ts_entry *e;

	put_stamped("t-future", 0, now + 6 * 60 * 1000);
	put_stamped("t-ahead", 0, now + 2 * 60 * 1000);
	put_stamped("t-past", 0, INT64_C(978307200000));	/* 2001 */
	put_stamped("t-recent", 0, now - 60 * 1000);
	put_stamped("m-future", 1, now + 24 * 3600 * 1000);
	put_stamped("m-past", 1, INT64_C(978307200000));
	t0 = ts_now_ms();
	ck_assert_int_eq(ts_index_intake(idx, &ch), 4);
	t1 = ts_now_ms();
	ck_assert_int_eq(refusal(&ch, "-t-t-future", &detail), EINVAL);
	ck_assert_msg(strstr(detail, "over 5 min after take-in") != NULL, "%s",
	              detail);
	ck_assert_int_eq(refusal(&ch, "-m-t-1", &detail), EINVAL);
	ck_assert_ptr_nonnull(strstr(detail, "stored"));
	ts_index_rdlock(idx);
	ck_assert_ptr_null(ts_index_find(idx, "t-future"));
	e = ts_index_find(idx, "t-ahead");
	ck_assert_int_ge(e->t.created_ms, t0);
	ck_assert_int_le(e->t.created_ms, t1);
	e = ts_index_find(idx, "t-past");
	ck_assert_int_ge(e->t.created_ms, t0);
	ck_assert_int_ge(e->t.auth[0].created_ms, t0);
	/* Its email's deadline (10 s after processing) is not in the past. */
	ck_assert_int_gt(ts_index_deadline_field(idx, e, TS_F_EMAIL), t1);
	e = ts_index_find(idx, "t-recent");
	ck_assert_int_eq(e->t.created_ms, now - 60 * 1000);
	e = ts_index_find(idx, "t-1");
	ck_assert_uint_eq(e->t.nmsg, 1);
	ck_assert_str_eq(e->t.msg[0].name, "m-past");
	ck_assert_int_ge(e->t.msg[0].stored_ms, t0);
	ts_index_unlock(idx);
	ts_changes_release(&ch);
}
END_TEST

/* A reader who asks for the lock while intake logs a damaged record. */
struct probe {
	struct ts_index *idx;
	int got_in;		/* the reader got the lock within 2 s */
	int logged;
	pthread_t th;
	int started;
};

static void *
reader(void *arg)
{
	struct probe *p = arg;

	ts_index_rdlock(p->idx);
	ts_index_unlock(p->idx);
	return NULL;
}

static void
probing_log(void *arg, const char *fmt, ...)
{
	struct probe *p = arg;
	struct timespec until;

	(void)fmt;
	if (p->started)
		return;
	p->logged = 1;
	ck_assert_int_eq(pthread_create(&p->th, NULL, reader, p), 0);
	p->started = 1;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 2;
	p->got_in = pthread_timedjoin_np(p->th, NULL, &until) == 0;
	if (p->got_in)
		p->started = 2;	/* joined */
}

/* Intake does not hold the index's lock while it reads and rejects. */
START_TEST(test_intake_leaves_lock_free)
{
	struct ts_changes ch = { 0 };
	struct probe p = { 0 };
	char file[128];
	FILE *f;

	snprintf(file, sizeof(file), "%s/intake/20260101-000000-000000-0000-t-x",
	         dir);
	ck_assert_ptr_nonnull(f = fopen(file, "w"));
	fputs("junk", f);
	fclose(f);
	ck_assert_int_eq(ts_index_new(st, probing_log, &p, &p.idx), 0);
	ck_assert_int_eq(ts_index_load(p.idx), 0);
	ck_assert_int_eq(ts_index_intake(p.idx, &ch), 0);
	if (p.started == 1)
		pthread_join(p.th, NULL);
	ck_assert(p.logged);
	ck_assert_msg(p.got_in, "a reader waited for the whole intake poll");
	ts_changes_release(&ch);
	ts_index_free(p.idx);
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("index");
	TCase *tc = tcase_create("core"), *big;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_intake_and_read);
	tcase_add_test(tc, test_refresh_another_version);
	tcase_add_test(tc, test_status_moves_and_processing_purges);
	tcase_add_test(tc, test_sweep_at_deadline);
	tcase_add_test(tc, test_failed_dir_fsync_keeps_index_true);
	tcase_add_test(tc, test_failed_write_changes_nothing);
	tcase_add_test(tc, test_item_numbers);
	tcase_add_test(tc, test_intake_clock);
	tcase_add_test(tc, test_intake_leaves_lock_free);
	tcase_add_test(tc, test_intake_again_audited);
	tcase_add_test(tc, test_forget);
	tcase_add_test(tc, test_forget_whole_ticket);
	tcase_add_test(tc, test_forget_keeps_hash);
	tcase_add_test(tc, test_erase);
	suite_add_tcase(s, tc);
	/* A 6.5 MB record written three times: seconds under ASan. */
	big = tcase_create("limits");
	tcase_add_checked_fixture(big, setup, teardown);
	tcase_set_timeout(big, 120);
	tcase_add_test(big, test_message_limit);
	suite_add_tcase(s, big);
	return ts_check_run(s);
}
