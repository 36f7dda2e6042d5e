/*
 * test_tkey: per-ticket keys.  The key file codec (store/tkey.h); and,
 * through the store (store/shred.c over the file backend), a new ticket's
 * key taken in, the username's hash computed, rekeying when an item goes
 * (the old key no longer opens the removed item, what stays reads back),
 * the key deleted with the ticket, each crash point of a rekey and of a
 * removal put right at the next load, a ticket of before converted when
 * rewritten, and a front end's items sealed for the store key resealed.
 */
#include <check.h>

#include "tests/check_main.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/intake.h"
#include "store/record.h"
#include "store/store_backend.h"
#include "store/tkey.h"

static const char ID[] = "20260101-000000-000001-0001";
static const char TICKET[] =
	"{\"username\":\"alice\",\"subject\":\"printer on fire\","
	"\"email\":\"alice@example.com\",\"mobile\":\"+1 555\","
	"\"authorizations\":[{\"account\":\"acc\",\"password\":\"pw\","
	"\"expires\":\"2099-01-01T00:00:00Z\"}]}";

static char dir[64];
static struct ts_seckey *key;
static struct ts_store *st;

static void
setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/ts-test-tkey-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	rmdir(dir);
	ck_assert_int_eq(ts_seal_keypair(&key), 0);
	ck_assert_int_eq(ts_store_create(dir, ts_seal_seckey_pk(key),
	                                 "ticket processed+30d\n"), 0);
	ck_assert_int_eq(ts_store_open(dir, TS_STORE_DAEMON, &st), 0);
	ck_assert_int_eq(ts_store_set_key(st, key), 0);
}

static void
teardown(void)
{
	char cmd[128];

	ts_store_close(st);
	ts_seal_seckey_free(key);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* dir/rel, in a static buffer. */
static const char *
sp(const char *rel)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "%s/%s", dir, rel);
	return buf;
}

static int
exists(const char *rel)
{
	return access(sp(rel), F_OK) == 0;
}

/* The bytes of file rel (malloc'd). */
static uint8_t *
slurp(const char *rel, size_t *len)
{
	FILE *f = fopen(sp(rel), "rb");
	uint8_t *buf = malloc(1 << 20);

	ck_assert_ptr_nonnull(f);
	*len = fread(buf, 1, 1 << 20, f);
	fclose(f);
	return buf;
}

static void
spit(const char *rel, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(sp(rel), "wb");

	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
	fclose(f);
}

static void
mark_new(struct ts_box *b)
{
	if (b->len)
		b->off |= TS_BOX_NEW;
}

/* Takes the intake record of a new ticket in, as fs/take.c does: into t. */
static int
take_in(const uint8_t *rec, size_t len, struct ts_ticket *t)
{
	int kind;

	ck_assert_int_eq(ts_record_decode(rec, len, &kind, t), 0);
	for (int f = 0; f < TS_F_COUNT; f++)
		mark_new(&t->field[f]);
	for (size_t i = 0; i < t->nauth; i++)
		for (int f = 0; f < TS_A_COUNT; f++)
			mark_new(&t->auth[i].box[f]);
	return ts_store_write(st, t, rec);
}

/* A new ticket from intake, taken in: into t. */
static void
new_ticket(struct ts_ticket *t)
{
	uint8_t *rec;
	size_t len;
	char err[256];

	ck_assert_int_eq(ts_intake_ticket(ts_seal_seckey_pk(key), ID, TICKET,
	                                  strlen(TICKET), 1767225600000, &rec,
	                                  &len, err, sizeof(err)), 0);
	ck_assert_int_eq(take_in(rec, len, t), 0);
	free(rec);
}

/* The stored record of ID: bytes (malloc'd) and ticket. */
static uint8_t *
stored(struct ts_ticket *t, size_t *len)
{
	uint8_t *rec;
	int kind;

	ck_assert_int_eq(ts_store_read_record(st, ID, &rec, len), 0);
	ck_assert_int_eq(ts_record_decode(rec, *len, &kind, t), 0);
	return rec;
}

/* Opens box of t (bytes in rec) through the store; 0 or -errno, and the
 * value in out (room for 256). */
static int
open_in(const struct ts_ticket *t, const uint8_t *rec, const struct ts_box *b,
        const char *field, char out[256])
{
	int rc;

	memset(out, 0, 256);
	ck_assert_uint_lt(b->len, 256 + TS_SEAL_OVERHEAD);
	rc = ts_store_open_box(st, t, field, rec + b->off, b->len,
	                       (uint8_t *)out);
	return rc;
}

/* Field f of the stored ID opens to want. */
static void
reads(int f, const char *want)
{
	struct ts_ticket t;
	size_t len;
	uint8_t *rec = stored(&t, &len);
	char got[256];

	ck_assert_int_eq(open_in(&t, rec, &t.field[f], ts_field_names[f], got),
	                 0);
	ck_assert_str_eq(got, want);
	ts_ticket_release(&t);
	free(rec);
}

/* A fresh handle on the store, loaded as the daemon does at mount. */
static int
on_load(void *arg, const char *id, struct ts_ticket *t, int err)
{
	(void)arg;
	(void)id;
	(void)err;
	if (t != NULL)
		ts_ticket_release(t);
	return 0;
}

static void
reload(void)
{
	ts_store_close(st);
	ck_assert_int_eq(ts_store_open(dir, TS_STORE_DAEMON, &st), 0);
	ck_assert_int_eq(ts_store_set_key(st, key), 0);
	ck_assert_int_eq(ts_store_load(st, on_load, NULL), 0);
}

/* ---- the key file ---- */

START_TEST(codec_round_trip_and_damage)
{
	struct ts_tkey_file k, back;
	struct ts_seckey *tk, *opened;
	unsigned char tpk[TS_TPK_BYTES], box[TS_TKEY_BOXBYTES];
	unsigned char *w = sodium_malloc(3 * 32), *sk = w + 32, *ik = w + 64;
	uint8_t file[TS_TKEY_FILEBYTES], bad[TS_TKEY_FILEBYTES];

	/* Intake's key box: sealed for the store key, bound to the ticket,
	 * checked against tpk. */
	ck_assert_int_eq(ts_tkey_new_sealed(ts_seal_seckey_pk(key), ID, tpk,
	                                    box), 0);
	ck_assert_int_eq(ts_tkey_open(key, ID, tpk, box, &tk), 0);
	ck_assert_mem_eq(ts_seal_seckey_pk(tk), tpk, TS_TPK_BYTES);
	ck_assert_int_eq(ts_tkey_open(key, "another-ticket", tpk, box,
	                              &opened), -EBADMSG);
	ck_assert_int_eq(ts_tkey_open(key, ID, ts_seal_seckey_pk(key), box,
	                              &opened), -ENOKEY);
	/* The key file: wrapped with the store's key, bound to the id. */
	ck_assert_int_eq(ts_tkey_wrap_key(key, w), 0);
	ck_assert_int_eq(ts_tkey_wrap(w, ID, tk, &k, ik), 0);
	ck_assert_mem_eq(k.tpk, tpk, TS_TPK_BYTES);
	ts_tkey_encode(&k, file);
	ck_assert_mem_eq(file, "TKFK\x01", 5);
	ck_assert_int_eq(ts_tkey_decode(file, sizeof(file), &back), 0);
	ck_assert_mem_eq(&back, &k, sizeof(k));
	ck_assert_int_eq(ts_tkey_unwrap(w, ID, &back, sk, ik), 0);
	ck_assert_mem_eq(sk, ts_seal_seckey_sk(tk), crypto_box_SECRETKEYBYTES);
	ck_assert_int_eq(ts_tkey_unwrap(w, "another-ticket", &back, sk, ik),
	                 -EBADMSG);
	/* Every byte flipped is noticed; a short or long file is no key. */
	for (size_t i = 0; i < sizeof(file); i++) {
		memcpy(bad, file, sizeof(bad));
		bad[i] ^= 0x20;
		ck_assert_int_eq(ts_tkey_decode(bad, sizeof(bad), &back),
		                 -EBADMSG);
	}
	ck_assert_int_eq(ts_tkey_decode(file, sizeof(file) - 1, &back),
	                 -EBADMSG);
	/* A wrapped key altered (checksum made good) does not open. */
	memcpy(&back, &k, sizeof(back));
	back.wrapped[30] ^= 1;
	ck_assert_int_eq(ts_tkey_unwrap(w, ID, &back, sk, ik), -EBADMSG);
	ts_tkey_free(tk);
	sodium_free(w);
}
END_TEST

/* ---- through the store ---- */

START_TEST(new_ticket_key_taken_in)
{
	struct ts_ticket t, s;
	unsigned char h[TS_UHASH_BYTES];
	size_t len;
	uint8_t *rec;
	char got[256];

	new_ticket(&t);
	ck_assert(exists("keys/" "20260101-000000-000001-0001"));
	ck_assert_int_eq(t.keyed, 1);
	ck_assert_uint_eq(t.keybox.len, 0);
	/* The username's keyed hash, computed at take-in by the store. */
	ck_assert_int_eq(t.has_uhash, 1);
	ck_assert_int_eq(ts_store_uhash(st, "alice\n", 6, h), 0);
	ck_assert_mem_eq(t.uhash, h, sizeof(h));
	rec = stored(&s, &len);
	ck_assert_uint_eq(s.keybox.len, 0);	/* never in the record */
	ck_assert_int_eq(s.has_uhash, 1);
	ck_assert_mem_eq(s.tpk, t.tpk, TS_TPK_BYTES);
	/* Sealed for the ticket's key, not the store's. */
	ck_assert_int_eq(ts_seal_open(key, ID, "email",
	                              rec + s.field[TS_F_EMAIL].off,
	                              s.field[TS_F_EMAIL].len,
	                              (uint8_t *)got), -EBADMSG);
	ck_assert_int_eq(open_in(&s, rec, &s.field[TS_F_EMAIL], "email", got),
	                 0);
	ck_assert_str_eq(got, "alice@example.com\n");
	ts_ticket_release(&s);
	ts_ticket_release(&t);
	free(rec);
}
END_TEST

START_TEST(new_ticket_with_a_foreign_key_refused)
{
	struct ts_seckey *other;
	struct ts_ticket t;
	uint8_t *rec;
	size_t len;
	char err[256];

	/* A key box sealed for another store's key. */
	ck_assert_int_eq(ts_seal_keypair(&other), 0);
	ck_assert_int_eq(ts_intake_ticket(ts_seal_seckey_pk(other), ID, TICKET,
	                                  strlen(TICKET), 1767225600000, &rec,
	                                  &len, err, sizeof(err)), 0);
	ck_assert_int_eq(take_in(rec, len, &t), -EBADMSG);
	ck_assert(!exists("keys/20260101-000000-000001-0001"));
	ck_assert(!exists("tickets/20260101-000000-000001-0001"));
	ts_ticket_release(&t);
	free(rec);
	ts_seal_seckey_free(other);
}
END_TEST

START_TEST(rekey_on_removal)
{
	struct ts_ticket t, old, now;
	uint8_t *oldrec, *oldkey, *rec;
	size_t oldlen, keylen, len;
	char got[256];

	new_ticket(&t);
	oldrec = stored(&old, &oldlen);
	oldkey = slurp("keys/20260101-000000-000001-0001", &keylen);
	t.field[TS_F_EMAIL] = (struct ts_box){ 0, 0 };	/* rm email */
	ck_assert_int_eq(ts_store_write(st, &t, NULL), 0);
	ck_assert_mem_ne(t.tpk, old.tpk, TS_TPK_BYTES);
	ck_assert(!exists("keys/20260101-000000-000001-0001.next"));
	/* The backup's record: its email opens no more, nor anything else. */
	ck_assert_int_eq(open_in(&old, oldrec, &old.field[TS_F_EMAIL], "email",
	                         got), -ENOKEY);
	ck_assert_int_eq(open_in(&old, oldrec, &old.field[TS_F_SUBJECT],
	                         "subject", got), -ENOKEY);
	/* What stays reads back, under the new key. */
	rec = stored(&now, &len);
	ck_assert_mem_eq(now.tpk, t.tpk, TS_TPK_BYTES);
	ck_assert_uint_eq(now.field[TS_F_EMAIL].len, 0);
	ck_assert_int_eq(open_in(&now, rec, &now.field[TS_F_MOBILE], "mobile",
	                         got), 0);
	ck_assert_str_eq(got, "+1 555\n");
	ck_assert_int_eq(open_in(&now, rec, &now.auth[0].box[TS_A_PASSWORD],
	                         "authorizations/a1/password", got), 0);
	ck_assert_str_eq(got, "pw\n");
	/* The old key file, had it been kept, is the only way back. */
	spit("keys/20260101-000000-000001-0001", oldkey, keylen);
	ck_assert_int_eq(open_in(&old, oldrec, &old.field[TS_F_EMAIL], "email",
	                         got), 0);
	ck_assert_str_eq(got, "alice@example.com\n");
	ts_ticket_release(&now);
	ts_ticket_release(&old);
	ts_ticket_release(&t);
	free(rec);
	free(oldrec);
	free(oldkey);
}
END_TEST

/*
 * A burst of removals (rm -r) is re-sealed once: a removal within
 * TS_SHRED_BATCH_MS of the last re-sealing keeps the key, and records when
 * its own is due; the write that clears that time (the sweep's) re-seals,
 * and then the removed items open with no key there is.
 */
START_TEST(removals_in_a_burst_resealed_once)
{
	struct ts_ticket t, mid, now;
	uint8_t *midrec, *rec, *k1, *k2;
	size_t midlen, len, l1, l2;
	char got[256];

	new_ticket(&t);
	t.field[TS_F_EMAIL] = (struct ts_box){ 0, 0 };	/* rm email */
	ck_assert_int_eq(ts_store_write(st, &t, NULL), 0);
	ck_assert_int_eq(t.shred_due_ms, 0);		/* re-sealed at once */
	k1 = slurp("keys/20260101-000000-000001-0001", &l1);
	midrec = stored(&mid, &midlen);
	t.field[TS_F_MOBILE] = (struct ts_box){ 0, 0 };	/* rm mobile, at once */
	ck_assert_int_eq(ts_store_write(st, &t, NULL), 0);
	ck_assert_int_gt(t.shred_due_ms, ts_now_ms());	/* waits */
	ck_assert_int_le(t.shred_due_ms, ts_now_ms() + TS_SHRED_BATCH_MS);
	k2 = slurp("keys/20260101-000000-000001-0001", &l2);
	ck_assert_mem_eq(k1, k2, l1);			/* the same key */
	free(k2);
	/* It is in the record: a crash keeps it due. */
	rec = stored(&now, &len);
	ck_assert_int_eq(now.shred_due_ms, t.shred_due_ms);
	ts_ticket_release(&now);
	free(rec);
	/* The sweep's write, the time cleared: re-sealed for a fresh key. */
	t.shred_due_ms = 0;
	ck_assert_int_eq(ts_store_write(st, &t, NULL), 0);
	ck_assert_int_eq(t.shred_due_ms, 0);
	ck_assert_mem_ne(t.tpk, mid.tpk, TS_TPK_BYTES);
	k2 = slurp("keys/20260101-000000-000001-0001", &l2);
	ck_assert(l1 != l2 || memcmp(k1, k2, l1) != 0);
	/* A backup taken between the removals: its mobile opens no more. */
	ck_assert_int_eq(open_in(&mid, midrec, &mid.field[TS_F_MOBILE], "mobile",
	                         got), -ENOKEY);
	rec = stored(&now, &len);
	ck_assert_int_eq(now.shred_due_ms, 0);
	ck_assert_uint_eq(now.field[TS_F_MOBILE].len, 0);
	ck_assert_int_eq(open_in(&now, rec, &now.field[TS_F_SUBJECT], "subject",
	                         got), 0);
	ts_ticket_release(&now);
	ts_ticket_release(&mid);
	ts_ticket_release(&t);
	free(rec);
	free(midrec);
	free(k1);
	free(k2);
}
END_TEST

START_TEST(status_change_keeps_the_key)
{
	struct ts_ticket t;
	uint8_t *k1, *k2;
	size_t l1, l2;
	unsigned char tpk[TS_TPK_BYTES];

	new_ticket(&t);
	memcpy(tpk, t.tpk, sizeof(tpk));
	k1 = slurp("keys/20260101-000000-000001-0001", &l1);
	t.status = TS_PROCESSING;
	ck_assert_int_eq(ts_store_write(st, &t, NULL), 0);
	k2 = slurp("keys/20260101-000000-000001-0001", &l2);
	ck_assert_mem_eq(t.tpk, tpk, sizeof(tpk));
	ck_assert_uint_eq(l1, l2);
	ck_assert_mem_eq(k1, k2, l1);
	reads(TS_F_EMAIL, "alice@example.com\n");
	free(k1);
	free(k2);
	ts_ticket_release(&t);
}
END_TEST

START_TEST(remove_deletes_the_key)
{
	struct ts_ticket t, old;
	uint8_t *oldrec;
	size_t oldlen;
	char got[256];

	new_ticket(&t);
	oldrec = stored(&old, &oldlen);
	ck_assert_int_eq(ts_store_remove(st, ID), 0);
	ck_assert(!exists("keys/20260101-000000-000001-0001"));
	ck_assert(!exists("tickets/20260101-000000-000001-0001"));
	ck_assert_int_eq(open_in(&old, oldrec, &old.field[TS_F_SUBJECT],
	                         "subject", got), -ENOKEY);
	ck_assert_int_eq(ts_store_ticket_key(st, &old), -ENOKEY);
	ts_ticket_release(&old);
	ts_ticket_release(&t);
	free(oldrec);
}
END_TEST

/* Crash after step 1 of a rekey: a next key no record names. */
START_TEST(crash_after_next_key_put)
{
	struct ts_ticket t;
	struct ts_tkey_file kf;
	struct ts_seckey *tk;
	uint8_t file[TS_TKEY_FILEBYTES];
	unsigned char *w = sodium_malloc(64);

	new_ticket(&t);
	ck_assert_int_eq(ts_seal_keypair(&tk), 0);
	ck_assert_int_eq(ts_tkey_wrap_key(key, w), 0);
	ck_assert_int_eq(ts_tkey_wrap(w, ID, tk, &kf, w + 32), 0);
	sodium_free(w);
	ts_tkey_encode(&kf, file);
	ck_assert_int_eq(st->ops->key_put(st, ID, 1, file, sizeof(file)), 0);
	ts_tkey_free(tk);
	reload();
	ck_assert(!exists("keys/20260101-000000-000001-0001.next"));
	ck_assert(exists("keys/20260101-000000-000001-0001"));
	reads(TS_F_EMAIL, "alice@example.com\n");
	ts_ticket_release(&t);
}
END_TEST

/* Crash after step 2: the record under the next key, the old key current.
 * Readers use the next key meanwhile; the load promotes it. */
START_TEST(crash_after_record_written)
{
	struct ts_ticket t, old;
	uint8_t *oldkey, *oldrec;
	size_t keylen, oldlen;
	char got[256];

	new_ticket(&t);
	oldrec = stored(&old, &oldlen);
	oldkey = slurp("keys/20260101-000000-000001-0001", &keylen);
	t.field[TS_F_MOBILE] = (struct ts_box){ 0, 0 };
	ck_assert_int_eq(ts_store_write(st, &t, NULL), 0);
	/* Undo step 3: the new key back to .next, the old one current. */
	ck_assert_int_eq(rename(sp("keys/20260101-000000-000001-0001"),
	                        "/tmp/.ts-tkey-next"), 0);
	spit("keys/20260101-000000-000001-0001", oldkey, keylen);
	{
		char to[256];

		snprintf(to, sizeof(to), "%s",
		         sp("keys/20260101-000000-000001-0001.next"));
		ck_assert_int_eq(rename("/tmp/.ts-tkey-next", to), 0);
	}
	ts_store_close(st);	/* drops the cached key */
	ck_assert_int_eq(ts_store_open(dir, TS_STORE_DAEMON, &st), 0);
	ck_assert_int_eq(ts_store_set_key(st, key), 0);
	reads(TS_F_EMAIL, "alice@example.com\n");	/* from .next */
	reload();
	ck_assert(!exists("keys/20260101-000000-000001-0001.next"));
	reads(TS_F_EMAIL, "alice@example.com\n");
	/* And the old key is gone: the mobile of before opens no more. */
	ck_assert_int_eq(open_in(&old, oldrec, &old.field[TS_F_MOBILE],
	                         "mobile", got), -ENOKEY);
	ts_ticket_release(&old);
	ts_ticket_release(&t);
	free(oldkey);
	free(oldrec);
}
END_TEST

/* Crash between a removal's two steps: an orphan key, deleted at load;
 * a damaged record's key is kept. */
START_TEST(orphan_key_deleted_damaged_kept)
{
	struct ts_ticket t;
	uint8_t *k;
	size_t len;

	new_ticket(&t);
	k = slurp("keys/20260101-000000-000001-0001", &len);
	spit("keys/20260101-000000-000009-0009", k, len);	/* no record */
	spit("tickets/20260101-000000-000007-0007", (const uint8_t *)"junk", 4);
	spit("keys/20260101-000000-000007-0007", k, len);
	reload();
	ck_assert(!exists("keys/20260101-000000-000009-0009"));
	ck_assert(exists("keys/20260101-000000-000007-0007"));
	ck_assert(exists("keys/20260101-000000-000001-0001"));
	free(k);
	ts_ticket_release(&t);
}
END_TEST

/* A key file is opened only if it is a regular file: a symbolic link put
 * in its place (to a copy of the very key) is not followed. */
START_TEST(key_file_symlink_not_followed)
{
	struct ts_ticket t;
	uint8_t *k;
	size_t len;
	char target[256];

	new_ticket(&t);
	k = slurp("keys/20260101-000000-000001-0001", &len);
	snprintf(target, sizeof(target), "%s", sp("copy.key"));
	spit("copy.key", k, len);
	ck_assert_int_eq(unlink(sp("keys/20260101-000000-000001-0001")), 0);
	ck_assert_int_eq(symlink(target,
	                         sp("keys/20260101-000000-000001-0001")), 0);
	ts_store_close(st);	/* nothing cached */
	ck_assert_int_eq(ts_store_open(dir, TS_STORE_DAEMON, &st), 0);
	ck_assert_int_eq(ts_store_set_key(st, key), 0);
	ck_assert_int_eq(ts_store_ticket_key(st, &t), -ELOOP);
	free(k);
	ts_ticket_release(&t);
}
END_TEST

/* Seals value for pk into a new box of *blob: TS_BOX_NEW offsets. */
static void
seal_new(const unsigned char *pk, const char *field, const char *value,
         uint8_t **blob, size_t *len, struct ts_box *b)
{
	ck_assert_int_eq(ts_intake_seal_append(pk, ID, field, value,
	                                       strlen(value), blob, len, b), 0);
	b->off |= TS_BOX_NEW;
}

START_TEST(legacy_ticket_converted_when_rewritten)
{
	struct ts_ticket t = { 0 }, s;
	struct ts_message *m;
	uint8_t *blob = NULL, *rec;
	size_t bloblen = 0, len;
	const unsigned char *pk = ts_seal_seckey_pk(key);
	char got[256];

	/* A ticket of before, sealed for the store key, its record written
	 * (and MAC'd) by the backend as every record was before per-ticket
	 * keys. */
	snprintf(t.id, sizeof(t.id), "%s", ID);
	t.created_ms = 1767225600000;
	seal_new(pk, "subject", "old subject", &blob, &bloblen,
	         &t.field[TS_F_SUBJECT]);
	seal_new(pk, "username", "bob", &blob, &bloblen,
	         &t.field[TS_F_USERNAME]);
	ck_assert_ptr_nonnull(m = ts_ticket_add_msg(&t));
	strcpy(m->name, "m1");
	m->stored_ms = 1767225600000;
	seal_new(pk, "messages/m1", "hi", &blob, &bloblen, &m->box);
	ck_assert_int_eq(st->ops->write(st, &t, blob), 0);
	free(blob);
	ck_assert_int_eq(t.keyed, 0);
	ck_assert(!exists("keys/20260101-000000-000001-0001"));
	reads(TS_F_SUBJECT, "old subject\n");	/* with the store key */
	/* Rewritten (a status move): converted. */
	t.status = TS_PROCESSING;
	ck_assert_int_eq(ts_store_write(st, &t, NULL), 0);
	ck_assert_int_eq(t.keyed, 1);
	ck_assert_int_eq(t.has_uhash, 1);
	ck_assert(exists("keys/20260101-000000-000001-0001"));
	rec = stored(&s, &len);
	ck_assert_int_eq(s.keyed, 1);
	ck_assert_int_eq(s.status, TS_PROCESSING);
	ck_assert_int_eq(ts_seal_open(key, ID, "subject",
	                              rec + s.field[TS_F_SUBJECT].off,
	                              s.field[TS_F_SUBJECT].len,
	                              (uint8_t *)got), -EBADMSG);
	reads(TS_F_SUBJECT, "old subject\n");
	ck_assert_int_eq(open_in(&s, rec, &s.msg[0].box, "messages/m1", got),
	                 0);
	ck_assert_str_eq(got, "hi\n");
	ts_ticket_release(&s);
	ts_ticket_release(&t);
	free(rec);
}
END_TEST

START_TEST(storekey_item_resealed_for_the_ticket)
{
	struct ts_ticket t, s;
	struct ts_message *m;
	uint8_t *blob = NULL, *rec, *k1, *k2;
	size_t bloblen = 0, len, l1, l2;
	unsigned char tpk[TS_TPK_BYTES];
	char got[256];

	new_ticket(&t);
	memcpy(tpk, t.tpk, sizeof(tpk));
	k1 = slurp("keys/20260101-000000-000001-0001", &l1);
	ck_assert_ptr_nonnull(m = ts_ticket_add_msg(&t));
	strcpy(m->name, "from-intake");
	m->stored_ms = 1767225600000;
	/* A front end holds the store's public key only. */
	seal_new(ts_seal_seckey_pk(key), "messages/from-intake", "hello",
	         &blob, &bloblen, &m->box);
	m->box.off |= TS_BOX_STOREKEY;
	ck_assert_int_eq(ts_store_write(st, &t, blob), 0);
	free(blob);
	ck_assert_mem_eq(t.tpk, tpk, sizeof(tpk));	/* no rekey */
	k2 = slurp("keys/20260101-000000-000001-0001", &l2);
	ck_assert_mem_eq(k1, k2, l1);
	rec = stored(&s, &len);
	ck_assert_int_eq(ts_seal_open(key, ID, "messages/from-intake",
	                              rec + s.msg[0].box.off, s.msg[0].box.len,
	                              (uint8_t *)got), -EBADMSG);
	ck_assert_int_eq(open_in(&s, rec, &s.msg[0].box, "messages/from-intake",
	                         got), 0);
	ck_assert_str_eq(got, "hello\n");
	reads(TS_F_EMAIL, "alice@example.com\n");
	ts_ticket_release(&s);
	ts_ticket_release(&t);
	free(rec);
	free(k1);
	free(k2);
}
END_TEST

static Suite *
tkey_suite(void)
{
	Suite *s = suite_create("tkey");
	TCase *tc = tcase_create("codec");
	TCase *ts = tcase_create("store");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, codec_round_trip_and_damage);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(ts, setup, teardown);
	tcase_add_test(ts, new_ticket_key_taken_in);
	tcase_add_test(ts, new_ticket_with_a_foreign_key_refused);
	tcase_add_test(ts, rekey_on_removal);
	tcase_add_test(ts, removals_in_a_burst_resealed_once);
	tcase_add_test(ts, status_change_keeps_the_key);
	tcase_add_test(ts, remove_deletes_the_key);
	tcase_add_test(ts, crash_after_next_key_put);
	tcase_add_test(ts, crash_after_record_written);
	tcase_add_test(ts, orphan_key_deleted_damaged_kept);
	tcase_add_test(ts, legacy_ticket_converted_when_rewritten);
	tcase_add_test(ts, storekey_item_resealed_for_the_ticket);
	tcase_add_test(ts, key_file_symlink_not_followed);
	suite_add_tcase(s, ts);
	return s;
}

int
main(void)
{
	return ts_check_run(tkey_suite());
}
