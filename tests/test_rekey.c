/*
 * test_rekey: the store's key pair replaced (store/rekey.h), over the
 * file backend.  The journal's text (round trip, the old key only while
 * begun, damaged ones refused) and the old key out of it; a ticket key
 * rewrapped (tkey.h); the trail's marks re-signed only if the old key
 * signed them, and the hand-over signature (audit_rekey.h); a whole
 * rekey of a keyed ticket and one of before: after it the new key loads
 * and opens everything (the username hash recomputed), the old one
 * nothing; finish again changes nothing; the daemon's resume finishes a
 * committed rekey from the journal alone; a record swap whose record
 * changed meanwhile is refused; a journal planted by a writer of the
 * store (its own key as the old one) is refused by the resume.
 */
#include <check.h>

#include "tests/check_main.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/audit.h"
#include "store/audit_rekey.h"
#include "store/intake.h"
#include "store/record.h"
#include "store/rekey.h"
#include "store/rekey_priv.h"
#include "store/store_backend.h"
#include "store/tkey.h"

static const char ID[] = "20260101-000000-000001-0001";
static const char OLD_ID[] = "20260101-000000-000002-0002";	/* of before */
static const char TICKET[] =
	"{\"username\":\"alice\",\"subject\":\"printer on fire\","
	"\"email\":\"alice@example.com\"}";

static char dir[64];
static struct ts_seckey *old, *key;
static struct ts_store *st;

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ts-test-rekey-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	rmdir(dir);
	ck_assert_int_eq(ts_seal_keypair(&old), 0);
	ck_assert_int_eq(ts_seal_keypair(&key), 0);
	ck_assert_int_eq(ts_store_create(dir, ts_seal_seckey_pk(old),
	                                 "ticket processed+30d\n"), 0);
	ck_assert_int_eq(ts_store_open(dir, TS_STORE_DAEMON, &st), 0);
	ck_assert_int_eq(ts_store_lock(st), 0);
	ck_assert_int_eq(ts_store_set_key(st, old), 0);
}

static void
teardown(void)
{
	char cmd[128];

	ts_store_close(st);
	ts_seal_seckey_free(old);
	ts_seal_seckey_free(key);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void
mark_new(struct ts_box *b)
{
	if (b->len)
		b->off |= TS_BOX_NEW;
}

/* A keyed ticket from intake sealed for pk, taken in as fs/take.c
 * does (with st's key, whose pk it must be). */
static void
new_ticket_for(const unsigned char *pk)
{
	struct ts_ticket t;
	uint8_t *rec;
	size_t len;
	char err[256];
	int kind;

	ck_assert_int_eq(ts_intake_ticket(pk, ID, TICKET,
	                                  strlen(TICKET), 1767225600000, &rec,
	                                  &len, err, sizeof(err)), 0);
	ck_assert_int_eq(ts_record_decode(rec, len, &kind, &t), 0);
	for (int f = 0; f < TS_F_COUNT; f++)
		mark_new(&t.field[f]);
	ck_assert_int_eq(ts_store_write(st, &t, rec), 0);
	ts_ticket_release(&t);
	free(rec);
}

static void
new_ticket(void)
{
	new_ticket_for(ts_seal_seckey_pk(old));
}

/* A ticket of before: its boxes sealed for the store key. */
static void
legacy_ticket(void)
{
	struct ts_ticket t = { 0 };
	uint8_t *blob = NULL;
	size_t len = 0;

	snprintf(t.id, sizeof(t.id), "%s", OLD_ID);
	t.created_ms = 1767225600000;
	ck_assert_int_eq(ts_intake_seal_append(ts_seal_seckey_pk(old), OLD_ID,
	                                       "subject", "old one", 7, &blob,
	                                       &len,
	                                       &t.field[TS_F_SUBJECT]), 0);
	ck_assert_int_eq(ts_intake_seal_append(ts_seal_seckey_pk(old), OLD_ID,
	                                       "username", "bob", 3, &blob,
	                                       &len,
	                                       &t.field[TS_F_USERNAME]), 0);
	mark_new(&t.field[TS_F_SUBJECT]);
	mark_new(&t.field[TS_F_USERNAME]);
	ck_assert_int_eq(st->ops->write(st, &t, blob), 0);
	ts_ticket_release(&t);
	free(blob);
}

struct seen {
	int ok, bad;
	struct ts_ticket t[2];
};

static int
on_load(void *arg, const char *id, struct ts_ticket *t, int err)
{
	struct seen *s = arg;

	(void)id;
	(void)err;
	if (t == NULL) {
		s->bad++;
		return 0;
	}
	if (s->ok < 2)
		s->t[s->ok] = *t;
	else
		ts_ticket_release(t);
	s->ok++;
	return 0;
}

/* A fresh handle with k, loaded as the daemon does: into s. */
static struct ts_store *
load_with(const struct ts_seckey *k, struct seen *s)
{
	struct ts_store *h;

	memset(s, 0, sizeof(*s));
	ck_assert_int_eq(ts_store_open(dir, TS_STORE_DAEMON, &h), 0);
	ck_assert_int_eq(ts_store_set_key(h, k), 0);
	ck_assert_int_eq(ts_store_load(h, on_load, s), 0);
	return h;
}

/* Field f of loaded ticket t opens through h to want. */
static void
opens(struct ts_store *h, const struct ts_ticket *t, int f, const char *want)
{
	uint8_t box[512], plain[512];

	ck_assert_uint_lt(t->field[f].len, sizeof(box));
	ck_assert_int_eq(ts_store_read_box(h, t->id, &t->field[f], box), 0);
	memset(plain, 0, sizeof(plain));
	ck_assert_int_eq(ts_store_open_box(h, t, ts_field_names[f], box,
	                                   t->field[f].len, plain), 0);
	ck_assert_str_eq((char *)plain, want);
}

static void
release(struct seen *s)
{
	for (int i = 0; i < s->ok && i < 2; i++)
		ts_ticket_release(&s->t[i]);
}

/* ---- the journal ---- */

START_TEST(journal_round_trip)
{
	struct ts_rekey_journal j = { .ms = 1767225600000 }, d;
	char *text;

	randombytes_buf(j.old_pk, sizeof(j.old_pk));
	randombytes_buf(j.new_pk, sizeof(j.new_pk));
	randombytes_buf(j.oldkey, sizeof(j.oldkey));
	ck_assert_int_eq(ts_rekey_journal_encode(&j, &text), 0);
	ck_assert_ptr_nonnull(strstr(text, "state begun\n"));
	ck_assert_int_eq(ts_rekey_journal_decode(text, strlen(text), &d), 0);
	ck_assert_int_eq(d.done, 0);
	ck_assert_mem_eq(d.old_pk, j.old_pk, sizeof(j.old_pk));
	ck_assert_mem_eq(d.new_pk, j.new_pk, sizeof(j.new_pk));
	ck_assert_mem_eq(d.oldkey, j.oldkey, sizeof(j.oldkey));
	ck_assert(d.ms == j.ms);
	/* Damage of any kind is refused. */
	text[0] = 'T';
	ck_assert_int_eq(ts_rekey_journal_decode(text, strlen(text), &d),
	                 -EBADMSG);
	text[0] = 't';
	ck_assert_int_eq(ts_rekey_journal_decode(text, strlen(text) - 1, &d),
	                 -EBADMSG);
	strstr(text, "old ")[5] = 'x';
	ck_assert_int_eq(ts_rekey_journal_decode(text, strlen(text), &d),
	                 -EBADMSG);
	free(text);
	/* Done: the old key is no longer in it. */
	j.done = 1;
	ck_assert_int_eq(ts_rekey_journal_encode(&j, &text), 0);
	ck_assert_ptr_null(strstr(text, "oldkey"));
	ck_assert_int_eq(ts_rekey_journal_decode(text, strlen(text), &d), 0);
	ck_assert_int_eq(d.done, 1);
	free(text);
}
END_TEST

START_TEST(old_key_only_for_the_new_one)
{
	struct ts_rekey_journal j;
	struct ts_seckey *got, *third;

	ck_assert_int_eq(ts_store_rekey_journal(st, &j), -ENOENT);
	ck_assert_int_eq(ts_store_rekey_begin(st, old, key), 0);
	ck_assert_int_eq(ts_store_rekey_journal(st, &j), 0);
	ck_assert_int_eq(j.done, 0);
	ck_assert_int_eq(ts_store_rekey_old_key(&j, key, &got), 0);
	ck_assert_mem_eq(ts_seal_seckey_pk(got), ts_seal_seckey_pk(old),
	                 TS_SEAL_PKBYTES);
	ts_seal_seckey_free(got);
	ck_assert_int_eq(ts_store_rekey_old_key(&j, old, &got), -EKEYREJECTED);
	ck_assert_int_eq(ts_seal_keypair(&third), 0);
	ck_assert_int_eq(ts_store_rekey_old_key(&j, third, &got),
	                 -EKEYREJECTED);
	ts_seal_seckey_free(third);
}
END_TEST

/* ---- a ticket key, the trail's marks ---- */

START_TEST(ticket_key_rewrapped)
{
	unsigned char *s = sodium_malloc(3 * TS_TKEY_WKEYBYTES +
	                                 crypto_box_SECRETKEYBYTES);
	unsigned char *wa = s, *wb = s + TS_TKEY_WKEYBYTES;
	unsigned char *ik = wb + TS_TKEY_WKEYBYTES, *sk = ik + TS_TKEY_WKEYBYTES;
	struct ts_tkey_file a, b, c;
	struct ts_seckey *tk;

	ck_assert_int_eq(ts_seal_keypair(&tk), 0);
	ck_assert_int_eq(ts_tkey_wrap_key(old, wa), 0);
	ck_assert_int_eq(ts_tkey_wrap_key(key, wb), 0);
	ck_assert_int_eq(ts_tkey_wrap(wa, ID, tk, &a, ik), 0);
	ck_assert_int_eq(ts_tkey_rewrap(wa, wb, ID, &a, &b, sk, ik), 0);
	ck_assert_mem_eq(b.tpk, a.tpk, TS_TPK_BYTES);
	ck_assert_int_eq(ts_tkey_unwrap(wb, ID, &b, sk, ik), 0);
	ck_assert_mem_eq(sk, ts_seal_seckey_sk(tk), crypto_box_SECRETKEYBYTES);
	ck_assert_int_eq(ts_tkey_unwrap(wa, ID, &b, sk, ik), -EBADMSG);
	/* Bound to its ticket, and only from the key that wraps it. */
	ck_assert_int_eq(ts_tkey_unwrap(wb, OLD_ID, &b, sk, ik), -EBADMSG);
	ck_assert_int_eq(ts_tkey_rewrap(wb, wa, OLD_ID, &b, &c, sk, ik),
	                 -EBADMSG);
	ts_seal_seckey_free(tk);
	sodium_free(s);
}
END_TEST

START_TEST(marks_resigned_only_from_the_old_key)
{
	struct ts_audit_entry e = { .comm = "test", .op = "open", .path = "x" };
	struct ts_audit_checkpoint cp, m;
	struct ts_audit *a;
	struct ts_seckey *third;
	unsigned char ovk[32], nvk[32];
	char path[128], text[512], sig[TS_AUDIT_HANDOVER_SIGHEX];
	size_t len;

	ck_assert_int_eq(ts_store_set_host(st, "h1"), 0);
	ck_assert_int_eq(ts_store_audit_open(st, old, 1 << 20, &a), 0);
	ck_assert_int_eq(ts_audit_append(a, &e), 0);
	ts_audit_close(a);
	snprintf(path, sizeof(path), "%s/audit/checkpoint", dir);
	ck_assert_int_eq(ts_audit_checkpoint_load(path, &cp), 0);
	ts_audit_verify_key(old, ovk);
	ts_audit_verify_key(key, nvk);
	m = cp;
	ck_assert_int_eq(ts_audit_mark_resign(old, key, 0, &m, text, &len), 1);
	ck_assert(m.seq == cp.seq);
	ck_assert_mem_eq(m.hash, cp.hash, sizeof(m.hash));
	ck_assert_uint_gt(len, 0);
	/* Already the new key's: left. */
	ck_assert_int_eq(ts_audit_mark_resign(old, key, 0, &m, text, &len), 0);
	/* Signed by neither (another store's key): never re-signed. */
	ck_assert_int_eq(ts_seal_keypair(&third), 0);
	m = cp;
	ck_assert_int_eq(ts_audit_mark_resign(third, key, 0, &m, text, &len),
	                 -EBADMSG);
	/* A checkpoint is no anchor. */
	m = cp;
	ck_assert_int_eq(ts_audit_mark_resign(old, key, 1, &m, text, &len),
	                 -EBADMSG);
	/* The whole trail: checkpoint and verify key replaced; it verifies
	 * with the new verify key. */
	{
		unsigned bad = 0;
		char msg[256];
		uint64_t n;

		ck_assert_int_eq(st->ops->rekey->audit_resign(st, old, key,
		                                              &bad), 0);
		ck_assert_uint_eq(bad, 0);
		ck_assert_int_eq(ts_store_audit_verify(st, NULL, NULL, msg,
		                                       sizeof(msg), &n), 0);
		ck_assert_int_eq(ts_store_audit_verify(st, ovk, NULL, msg,
		                                       sizeof(msg), &n), 1);
	}
	/* The hand-over: old's verify key vouches for the new one. */
	ts_audit_handover_sign(old, nvk, sig);
	ck_assert_int_eq(ts_audit_handover_check(ovk, nvk, sig), 0);
	ck_assert_int_eq(ts_audit_handover_check(nvk, nvk, sig), -EBADMSG);
	ck_assert_int_eq(ts_audit_handover_check(ovk, ovk, sig), -EBADMSG);
	ts_seal_seckey_free(third);
}
END_TEST

/* ---- a whole rekey ---- */

static void
rekey_to_commit(void)
{
	struct ts_audit_entry who = { .comm = "test" };
	unsigned char pk[TS_SEAL_PKBYTES];

	ck_assert_int_eq(ts_store_set_host(st, "h1"), 0);
	ck_assert_int_eq(ts_store_rekey_begin(st, old, key), 0);
	ck_assert_int_eq(ts_store_rekey_handover(st, old, key, &who), 0);
	ck_assert_int_eq(ts_store_pubkey(st, pk), 0);
	ck_assert_mem_eq(pk, ts_seal_seckey_pk(old), TS_SEAL_PKBYTES);
	ck_assert_int_eq(ts_store_rekey_commit(st, key), 0);
	ck_assert_int_eq(ts_store_pubkey(st, pk), 0);
	ck_assert_mem_eq(pk, ts_seal_seckey_pk(key), TS_SEAL_PKBYTES);
}

/* After a rekey: the new key loads both tickets and opens them, the old
 * one neither. */
static void
only_the_new_key_opens(void)
{
	struct ts_store *h;
	struct seen s;
	unsigned char uh[TS_UHASH_BYTES];

	h = load_with(key, &s);
	ck_assert_int_eq(s.ok, 2);
	ck_assert_int_eq(s.bad, 0);
	ck_assert_str_eq(s.t[0].id, ID);
	ck_assert_int_eq(s.t[0].keyed, 1);
	opens(h, &s.t[0], TS_F_EMAIL, "alice@example.com\n");
	ck_assert_int_eq(s.t[0].has_uhash, 1);
	ck_assert_int_eq(ts_store_uhash(h, "alice", 5, uh), 0);
	ck_assert_mem_eq(s.t[0].uhash, uh, TS_UHASH_BYTES);
	ck_assert_str_eq(s.t[1].id, OLD_ID);
	ck_assert_int_eq(s.t[1].keyed, 0);	/* resealed, not converted */
	opens(h, &s.t[1], TS_F_SUBJECT, "old one\n");
	ck_assert_int_eq(ts_store_uhash(h, "bob", 3, uh), 0);
	ck_assert_mem_eq(s.t[1].uhash, uh, TS_UHASH_BYTES);
	release(&s);
	ts_store_close(h);
	h = load_with(old, &s);
	ck_assert_int_eq(s.ok, 0);
	ck_assert_int_eq(s.bad, 2);	/* neither record is old's */
	ts_store_close(h);
}

START_TEST(rekey_whole_store)
{
	struct ts_rekey_counts c;
	struct ts_rekey_journal j;

	new_ticket();
	legacy_ticket();
	rekey_to_commit();
	ck_assert_int_eq(ts_store_rekey_finish(st, old, key, NULL, NULL, &c), 0);
	ck_assert(c.tickets == 2 && c.records == 2 && c.legacy == 1 &&
	          c.keys == 1 && c.damaged == 0 && c.marks_bad == 0);
	ck_assert_int_eq(ts_store_rekey_journal(st, &j), 0);
	ck_assert_int_eq(j.done, 1);
	only_the_new_key_opens();
	/* Run again: nothing left to do. */
	ck_assert_int_eq(ts_store_rekey_finish(st, old, key, NULL, NULL, &c), 0);
	ck_assert(c.tickets == 2 && c.records == 0 && c.keys == 0);
	{
		char msg[256];
		uint64_t n;

		ck_assert_int_eq(ts_store_audit_verify(st, NULL, NULL, msg,
		                                       sizeof(msg), &n), 0);
	}
}
END_TEST

START_TEST(daemon_resumes_from_the_journal)
{
	struct ts_rekey_counts c;

	new_ticket();
	legacy_ticket();
	/* Not committed: nothing for the daemon to do, with either key. */
	ck_assert_int_eq(ts_store_rekey_begin(st, old, key), 0);
	ck_assert_int_eq(ts_store_rekey_resume(st, old, &c), 0);
	ck_assert_int_eq(ts_store_rekey_resume(st, key, &c), 0);
	rekey_to_commit();
	/* Committed: the old key has no business finishing it. */
	ck_assert_int_eq(ts_store_rekey_resume(st, old, &c), 0);
	ck_assert_int_eq(ts_store_rekey_resume(st, key, &c), 1);
	ck_assert(c.records == 2 && c.keys == 1);
	ck_assert_int_eq(ts_store_rekey_resume(st, key, &c), 0);
	only_the_new_key_opens();
}
END_TEST

/*
 * A writer of the store (no key) plants a begun journal whose "old" key is
 * its own, sealed for the store's public key (anyone can seal for it), and
 * a record MAC'd with that key.  The daemon's resume must not take the
 * planted key for the old one: it would re-MAC the forged record with the
 * store's key (and re-sign marks the planted key signed).
 */
START_TEST(planted_journal_refused)
{
	const struct ts_rekey_ops *ops = st->ops->rekey;
	struct ts_rekey_journal j = { .ms = 1767225600000 };
	struct ts_rekey_counts c;
	struct ts_seckey *evil;
	struct ts_store *h;
	struct seen s;
	char *text;

	ck_assert_int_eq(ts_seal_keypair(&evil), 0);
	ck_assert_int_eq(ts_store_set_key(st, evil), 0);
	/* MAC'd with evil's record key, its ticket key wrapped by evil's. */
	new_ticket_for(ts_seal_seckey_pk(evil));
	ck_assert_int_eq(ts_store_set_key(st, old), 0);
	memcpy(j.old_pk, ts_seal_seckey_pk(evil), TS_SEAL_PKBYTES);
	memcpy(j.new_pk, ts_seal_seckey_pk(old), TS_SEAL_PKBYTES);
	ck_assert_int_eq(ts_seal_box(j.new_pk, "rekey", "old-key",
	                             ts_seal_seckey_sk(evil),
	                             crypto_box_SECRETKEYBYTES, j.oldkey), 0);
	ck_assert_int_eq(ts_rekey_journal_encode(&j, &text), 0);
	ck_assert_int_eq(ops->journal_put(st, text, strlen(text)), 0);
	free(text);
	ck_assert_int_eq(ts_store_rekey_resume(st, old, &c), -EKEYREJECTED);
	h = load_with(old, &s);
	ck_assert_int_eq(s.ok, 0);
	ck_assert_int_eq(s.bad, 1);	/* still not the store's */
	ts_store_close(h);
	ts_seal_seckey_free(evil);
}
END_TEST

START_TEST(swap_refused_if_changed)
{
	const struct ts_rekey_ops *ops = st->ops->rekey;
	uint8_t *rec;
	size_t len;

	new_ticket();
	ck_assert_int_eq(ts_store_read_record(st, ID, &rec, &len), 0);
	rec[len - 1] ^= 1;	/* what a writer meanwhile would leave */
	ck_assert_int_eq(ops->record_swap(st, ID, rec, len, rec, len),
	                 -EAGAIN);
	rec[len - 1] ^= 1;
	ck_assert_int_eq(ops->record_swap(st, OLD_ID, rec, len, rec, len),
	                 -ENOENT);
	ck_assert_int_eq(ops->record_swap(st, ID, rec, len, rec, len), 0);
	free(rec);
}
END_TEST

static Suite *
rekey_suite(void)
{
	Suite *s = suite_create("rekey");
	TCase *tc = tcase_create("rekey");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, journal_round_trip);
	tcase_add_test(tc, old_key_only_for_the_new_one);
	tcase_add_test(tc, ticket_key_rewrapped);
	tcase_add_test(tc, marks_resigned_only_from_the_old_key);
	tcase_add_test(tc, rekey_whole_store);
	tcase_add_test(tc, daemon_resumes_from_the_journal);
	tcase_add_test(tc, swap_refused_if_changed);
	tcase_add_test(tc, planted_journal_refused);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return ts_check_run(rekey_suite());
}
