/*
 * test_intake: validation of what customers submit, and the sealed intake
 * records it produces (decoded with ts_record_decode and opened with the
 * secret key, as the daemon would); and the helpers of store/util.h that
 * intake relies on: RFC 3339 times, id and name rules, id generation.
 */
#include <check.h>

#include "tests/check_main.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store/intake.h"
#include "store/intake_json.h"
#include "store/record.h"
#include "store/seal.h"
#include "store/tkey.h"
#include "store/ticket.h"
#include "store/util.h"

#define T0 INT64_C(1767225600000)	/* 2026-01-01T00:00:00Z */
#define EXP INT64_C(1796083200000)	/* 2026-12-01T00:00:00Z */
static const char ID[] = "20260101-000000-000000-0001";

static struct ts_seckey *key;	/* per test (CK_FORK: one per child) */
/* What a ticket's boxes are sealed for: its own key (use_ticket_key),
 * else the store's. */
static struct ts_seckey *tkey;

static void
setup(void)
{
	ck_assert_int_eq(ts_seal_keypair(&key), 0);
}

static void
teardown(void)
{
	ts_seal_seckey_free(key);
	key = NULL;
	ts_tkey_free(tkey);
	tkey = NULL;
}

static const unsigned char *
pk(void)
{
	return ts_seal_seckey_pk(key);
}


/*
 * A new ticket's record carries its own key pair: the public half, and the
 * secret half sealed for the store's key, bound to the ticket.  Opens it
 * (checking the store key alone does not open the ticket's values) for
 * open_box.
 */
static void
use_ticket_key(const uint8_t *rec, const struct ts_ticket *t)
{
	if (!t->keyed)
		return;
	ck_assert_uint_eq(t->keybox.len, TS_TKEY_BOXBYTES);
	ts_tkey_free(tkey);
	tkey = NULL;
	ck_assert_int_eq(ts_tkey_open(key, ID, t->tpk, rec + t->keybox.off,
	                              &tkey), 0);
}

/* Opens box (in rec) for field path into a malloc'd NUL-terminated string. */
static char *
open_box(const uint8_t *rec, const struct ts_box *box, const char *field)
{
	char *plain;

	ck_assert_uint_ge(box->len, TS_SEAL_OVERHEAD);
	plain = calloc(1, box->len - TS_SEAL_OVERHEAD + 1);
	ck_assert_ptr_nonnull(plain);
	if (tkey != NULL)	/* sealed for the ticket, not the store */
		ck_assert_int_eq(ts_seal_open(key, ID, field, rec + box->off,
		                              box->len,
		                              (unsigned char *)plain), -EBADMSG);
	ck_assert_msg(ts_seal_open(tkey ? tkey : key, ID, field,
	                           rec + box->off, box->len,
	                           (unsigned char *)plain) == 0,
	              "box of %s does not open", field);
	return plain;
}

/* Checks box opens for field to exactly want. */
static void
check_opens(const uint8_t *rec, const struct ts_box *box, const char *field,
            const char *want)
{
	char *got = open_box(rec, box, field);

	ck_assert_uint_eq(ts_box_plain_len(box), strlen(want));
	ck_assert_str_eq(got, want);
	free(got);
}

/* ---- tickets ---- */

static const char FULL[] =
	"{\"username\": \"alice\", \"subject\": \"ECS unreachable\",\n"
	" \"description\": \"since 08:00\\nall regions\",\n"
	" \"email\": \"alice@example.com\", \"mobile\": \"+86 138 0000 0000\",\n"
	" \"confidential\": \"card 6222 \\u00e9\",\n"
	" \"authorizations\": [\n"
	"  {\"account\": \"alice-cloud\", \"password\": \"s3cret\",\n"
	"   \"resource\": \"ecs-1234\", \"expires\": \"2026-12-01T00:00:00Z\"},\n"
	"  {\"account\": \"root\", \"password\": \"pw\\n\",\n"
	"   \"expires\": \"2026-12-01T08:00:00+08:00\"}]}";

START_TEST(ticket_full)
{
	uint8_t *rec = NULL;
	size_t reclen = 0;
	char err[256] = "";
	struct ts_ticket t;
	int kind = 0;

	ck_assert_int_eq(ts_intake_ticket(pk(), ID, FULL, strlen(FULL), T0,
	                                  &rec, &reclen, err, sizeof(err)), 0);
	ck_assert_ptr_nonnull(rec);
	/* Nothing of the plaintext is in the record. */
	ck_assert_ptr_null(memmem(rec, reclen, "alice", 5));
	ck_assert_ptr_null(memmem(rec, reclen, "s3cret", 6));
	ck_assert_int_eq(ts_record_decode(rec, reclen, &kind, &t), 0);
	use_ticket_key(rec, &t);
	ck_assert_int_eq(kind, TS_REC_TICKET);
	ck_assert_str_eq(t.id, ID);
	ck_assert_int_eq(t.created_ms, T0);
	ck_assert_int_eq(t.status, TS_OPEN);
	ck_assert_int_eq(t.processing_ms, 0);
	ck_assert_int_eq(t.processed_ms, 0);
	/* Every text ends in one newline. */
	check_opens(rec, &t.field[TS_F_USERNAME], "username", "alice\n");
	check_opens(rec, &t.field[TS_F_SUBJECT], "subject",
	            "ECS unreachable\n");
	check_opens(rec, &t.field[TS_F_DESCRIPTION], "description",
	            "since 08:00\nall regions\n");
	check_opens(rec, &t.field[TS_F_EMAIL], "email", "alice@example.com\n");
	check_opens(rec, &t.field[TS_F_MOBILE], "mobile",
	            "+86 138 0000 0000\n");
	check_opens(rec, &t.field[TS_F_CONFIDENTIAL], "confidential",
	            "card 6222 \xc3\xa9\n");
	ck_assert_uint_eq(t.nmsg, 0);
	ck_assert_uint_eq(t.nauth, 2);
	ck_assert_str_eq(t.auth[0].name, "a1");
	ck_assert_int_eq(t.auth[0].created_ms, T0);
	ck_assert_int_eq(t.auth[0].expires_ms, EXP);
	check_opens(rec, &t.auth[0].box[TS_A_ACCOUNT],
	            "authorizations/a1/account", "alice-cloud\n");
	check_opens(rec, &t.auth[0].box[TS_A_PASSWORD],
	            "authorizations/a1/password", "s3cret\n");
	check_opens(rec, &t.auth[0].box[TS_A_RESOURCE],
	            "authorizations/a1/resource", "ecs-1234\n");
	ck_assert_str_eq(t.auth[1].name, "a2");
	ck_assert_int_eq(t.auth[1].expires_ms, EXP);	/* same instant */
	check_opens(rec, &t.auth[1].box[TS_A_ACCOUNT],
	            "authorizations/a2/account", "root\n");
	check_opens(rec, &t.auth[1].box[TS_A_PASSWORD],
	            "authorizations/a2/password", "pw\n");
	ck_assert_uint_eq(t.auth[1].box[TS_A_RESOURCE].len, 0);
	/* A box is bound to its field: the email box is not the mobile. */
	{
		unsigned char buf[64];
		const struct ts_box *b = &t.field[TS_F_EMAIL];

		ck_assert_int_eq(ts_seal_open(key, ID, "mobile", rec + b->off,
		                              b->len, buf), -EBADMSG);
	}
	ts_ticket_release(&t);
	free(rec);
}
END_TEST

START_TEST(ticket_minimal)
{
	static const char json[] = "{\"subject\":\"s\",\"username\":\"u\"}";
	uint8_t *rec = NULL;
	size_t reclen = 0;
	char err[256] = "";
	struct ts_ticket t;
	int kind = 0;

	ck_assert_int_eq(ts_intake_ticket(pk(), ID, json, strlen(json), T0,
	                                  &rec, &reclen, err, sizeof(err)), 0);
	ck_assert_int_eq(ts_record_decode(rec, reclen, &kind, &t), 0);
	use_ticket_key(rec, &t);
	ck_assert_int_eq(kind, TS_REC_TICKET);
	check_opens(rec, &t.field[TS_F_SUBJECT], "subject", "s\n");
	check_opens(rec, &t.field[TS_F_USERNAME], "username", "u\n");
	/* Not given: absent, not empty. */
	ck_assert_uint_eq(t.field[TS_F_DESCRIPTION].len, 0);
	ck_assert_uint_eq(t.field[TS_F_EMAIL].len, 0);
	ck_assert_uint_eq(t.field[TS_F_MOBILE].len, 0);
	ck_assert_uint_eq(t.field[TS_F_CONFIDENTIAL].len, 0);
	ck_assert_uint_eq(t.nauth, 0);
	ck_assert_uint_eq(t.nmsg, 0);
	ts_ticket_release(&t);
	free(rec);

	/* An empty authorization list is no authorization. */
	{
		static const char j2[] = "{\"subject\":\"s\",\"username\":\"u\","
		                         "\"authorizations\":[]}";

		rec = NULL;
		ck_assert_int_eq(ts_intake_ticket(pk(), ID, j2, strlen(j2), T0,
		                 &rec, &reclen, err, sizeof(err)), 0);
		ck_assert_int_eq(ts_record_decode(rec, reclen, &kind, &t), 0);
	use_ticket_key(rec, &t);
		ck_assert_uint_eq(t.nauth, 0);
		ts_ticket_release(&t);
		free(rec);
	}
}
END_TEST

START_TEST(ticket_value_at_limit)
{
	/* A description of 65535 bytes plus the newline is exactly the
	 * limit, and a value already ending in a newline gets no second. */
	size_t n = ts_field_max[TS_F_DESCRIPTION] - 1;
	const char *pre = "{\"username\":\"u\",\"subject\":\"s\\n\","
	                  "\"description\":\"";
	char *json = malloc(strlen(pre) + n + 3);
	uint8_t *rec = NULL;
	size_t reclen = 0;
	char err[256] = "";
	struct ts_ticket t;
	int kind;

	ck_assert_uint_eq(n, 65535);
	strcpy(json, pre);
	memset(json + strlen(pre), 'd', n);
	strcpy(json + strlen(pre) + n, "\"}");
	ck_assert_int_eq(ts_intake_ticket(pk(), ID, json, strlen(json), T0,
	                                  &rec, &reclen, err, sizeof(err)), 0);
	ck_assert_int_eq(ts_record_decode(rec, reclen, &kind, &t), 0);
	use_ticket_key(rec, &t);
	ck_assert_uint_eq(ts_box_plain_len(&t.field[TS_F_DESCRIPTION]), n + 1);
	check_opens(rec, &t.field[TS_F_SUBJECT], "subject", "s\n");
	ts_ticket_release(&t);
	free(rec);
	free(json);
}
END_TEST

/* A ticket JSON that must be refused with err containing want. */
struct refusal {
	const char *what;
	const char *json;	/* NULL: built by the test */
	const char *want;
};

#define OKAUTH "\"account\":\"a\",\"password\":\"p\""
#define BASE "\"username\":\"u\",\"subject\":\"s\""

static const struct refusal ticket_refusals[] = {
	{ "missing username", "{\"subject\":\"s\"}",
	  "missing required key \"username\"" },
	{ "missing subject", "{\"username\":\"u\",\"email\":\"e\"}",
	  "missing required key \"subject\"" },
	{ "unknown key", "{" BASE ",\"phone\":\"1\"}",
	  "unknown key \"phone\"" },
	{ "number for email", "{" BASE ",\"email\":42}",
	  "\"email\" must be a string" },
	{ "null for mobile", "{" BASE ",\"mobile\":null}",
	  "\"mobile\" must be a string" },
	{ "list for subject", "{\"username\":\"u\",\"subject\":[\"s\"]}",
	  "\"subject\" must be a string" },
	{ "invalid UTF-8", "{" BASE ",\"email\":\"a\xff" "b\"}", "UTF-8" },
	{ "truncated UTF-8", "{" BASE ",\"email\":\"a\xc3\"}", "UTF-8" },
	{ "UTF-8 surrogate", "{" BASE ",\"email\":\"\xed\xa0\x80\"}", "UTF-8" },
	{ "NUL escape", "{" BASE ",\"email\":\"a\\u0000b\"}", "\\u0000" },
	{ "oversize description", NULL, "\"description\" is 65536 bytes" },
	{ "empty string", "{" BASE ",\"email\":\"\"}", "\"email\" is empty" },
	{ "empty username", "{\"username\":\"\",\"subject\":\"s\"}",
	  "\"username\" is empty" },
	{ "expires in the past", "{" BASE ",\"authorizations\":[{" OKAUTH
	  ",\"expires\":\"2025-12-31T23:59:59Z\"}]}",
	  "\"expires\" is in the past" },
	{ "expires exactly now", "{" BASE ",\"authorizations\":[{" OKAUTH
	  ",\"expires\":\"2026-01-01T00:00:00Z\"}]}",
	  "\"expires\" is in the past" },
	{ "expires not RFC 3339", "{" BASE ",\"authorizations\":[{" OKAUTH
	  ",\"expires\":\"next tuesday\"}]}",
	  "\"expires\" is not an RFC 3339 time" },
	{ "expires without zone", "{" BASE ",\"authorizations\":[{" OKAUTH
	  ",\"expires\":\"2026-12-01T00:00:00\"}]}",
	  "\"expires\" is not an RFC 3339 time" },
	{ "expires a number", "{" BASE ",\"authorizations\":[{" OKAUTH
	  ",\"expires\":1796083200}]}", "\"expires\" must be a string" },
	{ "missing expires", "{" BASE ",\"authorizations\":[{" OKAUTH "}]}",
	  "missing required key \"expires\"" },
	{ "authorizations not a list", "{" BASE ",\"authorizations\":{"
	  OKAUTH ",\"expires\":\"2026-12-01T00:00:00Z\"}}",
	  "\"authorizations\" must be a list" },
	{ "authorization not an object", "{" BASE
	  ",\"authorizations\":[\"x\"]}", "authorizations[0]: must be an object" },
	{ "authorization with unknown key", "{" BASE ",\"authorizations\":[{"
	  OKAUTH ",\"expires\":\"2026-12-01T00:00:00Z\"},{" OKAUTH
	  ",\"expires\":\"2026-12-01T00:00:00Z\",\"note\":\"x\"}]}",
	  "authorizations[1]: unknown key \"note\"" },
	{ "missing password", "{" BASE ",\"authorizations\":[{\"account\":"
	  "\"a\",\"expires\":\"2026-12-01T00:00:00Z\"}]}",
	  "authorizations[0]: missing required key \"password\"" },
	{ "missing account", "{" BASE ",\"authorizations\":[{\"password\":"
	  "\"p\",\"expires\":\"2026-12-01T00:00:00Z\"}]}",
	  "authorizations[0]: missing required key \"account\"" },
	{ "invalid JSON", "{" BASE ",}", "invalid JSON" },
	{ "trailing garbage", "{" BASE "} x", "invalid JSON" },
	{ "empty input", "", "invalid JSON" },
	{ "not an object", "[\"u\",\"s\"]", "expected a JSON object" },
	{ "a string", "\"hello\"", "'{' expected" },
	{ "duplicate key", "{" BASE ",\"username\":\"v\"}", "duplicate" },
	{ "too many authorizations", NULL, "more than 256" },
};
#define NTICKET_REFUSALS \
	((int)(sizeof(ticket_refusals) / sizeof(ticket_refusals[0])))

/* The JSON of refusal i, malloc'd. */
static char *
refusal_json(int i)
{
	const struct refusal *r = &ticket_refusals[i];
	char *json;

	if (r->json != NULL)
		return strdup(r->json);
	if (strcmp(r->what, "oversize description") == 0) {
		size_t n = 65536;

		json = malloc(64 + n);
		ck_assert_ptr_nonnull(json);
		strcpy(json, "{" BASE ",\"description\":\"");
		memset(json + strlen(json), 'x', n);
		strcpy(json + strlen("{" BASE ",\"description\":\"") + n,
		       "\"}");
		return json;
	}
	if (strcmp(r->what, "too many authorizations") == 0) {
		static const char one[] = "{" OKAUTH
		        ",\"expires\":\"2026-12-01T00:00:00Z\"},";
		size_t n = TS_AUTH_PER_TICKET + 1, at;

		json = malloc(64 + n * strlen(one));
		ck_assert_ptr_nonnull(json);
		strcpy(json, "{" BASE ",\"authorizations\":[");
		at = strlen(json);
		for (size_t k = 0; k < n; k++, at += strlen(one))
			memcpy(json + at, one, strlen(one));
		strcpy(json + at - 1, "]}");	/* drops the last comma */
		return json;
	}
	ck_abort_msg("no JSON for %s", r->what);
	return NULL;
}

START_TEST(ticket_refused)
{
	const struct refusal *r = &ticket_refusals[_i];
	char *json = refusal_json(_i);
	uint8_t *rec = NULL;
	size_t reclen = 12345;
	char err[512] = "";
	int rc;

	rc = ts_intake_ticket(pk(), ID, json, strlen(json), T0, &rec, &reclen,
	                      err, sizeof(err));
	ck_assert_msg(rc == -EINVAL, "%s: returned %d, not -EINVAL", r->what,
	              rc);
	ck_assert_msg(strstr(err, r->want) != NULL,
	              "%s: error \"%s\" does not say \"%s\"", r->what, err,
	              r->want);
	ck_assert_ptr_null(rec);
	ck_assert_uint_eq(reclen, 12345);
	free(json);
}
END_TEST

/*
 * The error of a refused ticket never quotes a value: it goes to the front
 * end's logs.  jansson's own text quotes the input near the error.
 */
START_TEST(ticket_error_quotes_no_value)
{
	static const char *const bad[] = {
		"{\"username\":\"a\",\"subject\":\"s\",\"authorizations\":"
		"[{\"account\":\"x\",\"password\":\"SECRETPW\\u0000x\","
		"\"expires\":\"2099-01-01T00:00:00Z\"}]}",
		"{\"username\":\"a\",\"subject\":\"s\",\"confidential\":"
		"\"CARD 1234 \xff\"}",
		"{\"username\":\"a\",\"subject\":\"s\",\"confidential\":"
		"\"CARD 1234 \"x}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t *rec = NULL;
		size_t reclen = 0;
		char err[512] = "";

		ck_assert_int_eq(ts_intake_ticket(pk(), ID, bad[i],
		                                  strlen(bad[i]), T0, &rec,
		                                  &reclen, err, sizeof(err)),
		                 -EINVAL);
		ck_assert_msg(strstr(err, "SECRETPW") == NULL &&
		              strstr(err, "CARD") == NULL,
		              "input %zu: the error quotes a value: %s", i, err);
		ck_assert_msg(strstr(err, "line 1") != NULL,
		              "input %zu: the error names no place: %s", i, err);
	}
}
END_TEST

START_TEST(ticket_bad_id_refused)
{
	static const char json[] = "{" BASE "}";
	uint8_t *rec = NULL;
	size_t reclen;
	char err[256] = "";

	ck_assert_int_eq(ts_intake_ticket(pk(), "a/b", json, strlen(json), T0,
	                                  &rec, &reclen, err, sizeof(err)),
	                 -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "invalid ticket id"));
	ck_assert_int_eq(ts_intake_ticket(pk(), "", json, strlen(json), T0,
	                                  &rec, &reclen, err, sizeof(err)),
	                 -EINVAL);
	ck_assert_ptr_null(rec);
}
END_TEST

START_TEST(ticket_error_fits_small_buffer)
{
	/* The reason is cut to the buffer, NUL-terminated. */
	static const char json[] = "{\"subject\":\"s\"}";
	uint8_t *rec = NULL;
	size_t reclen;
	char err[12];

	memset(err, 'Z', sizeof(err));
	ck_assert_int_eq(ts_intake_ticket(pk(), ID, json, strlen(json), T0,
	                                  &rec, &reclen, err, 8), -EINVAL);
	ck_assert_uint_eq(strlen(err), 7);
	ck_assert_int_eq(err[8], 'Z');
}
END_TEST

/* ---- authorizations and revocations ---- */

START_TEST(auth_round_trip)
{
	static const char json[] = "{\"account\":\"bob\",\"password\":\"hunter2\","
	                           "\"resource\":\"db-7\",\"expires\":"
	                           "\"2026-12-01T01:00:00.250+01:00\"}";
	uint8_t *rec = NULL;
	size_t reclen;
	char err[256] = "";
	struct ts_ticket t;
	int kind = 0;

	ck_assert_int_eq(ts_intake_auth(pk(), ID, "vpn-2", json, strlen(json),
	                                T0, &rec, &reclen, err, sizeof(err)),
	                 0);
	ck_assert_int_eq(ts_record_decode(rec, reclen, &kind, &t), 0);
	use_ticket_key(rec, &t);
	ck_assert_int_eq(kind, TS_REC_AUTH);
	ck_assert_str_eq(t.id, ID);
	ck_assert_uint_eq(t.nauth, 1);
	ck_assert_uint_eq(t.nmsg, 0);
	ck_assert_str_eq(t.auth[0].name, "vpn-2");
	ck_assert_int_eq(t.auth[0].created_ms, T0);
	ck_assert_int_eq(t.auth[0].expires_ms, EXP + 250);
	check_opens(rec, &t.auth[0].box[TS_A_ACCOUNT],
	            "authorizations/vpn-2/account", "bob\n");
	check_opens(rec, &t.auth[0].box[TS_A_PASSWORD],
	            "authorizations/vpn-2/password", "hunter2\n");
	check_opens(rec, &t.auth[0].box[TS_A_RESOURCE],
	            "authorizations/vpn-2/resource", "db-7\n");
	for (int f = 0; f < TS_F_COUNT; f++)
		ck_assert_uint_eq(t.field[f].len, 0);
	ts_ticket_release(&t);
	free(rec);
}
END_TEST

START_TEST(auth_refused)
{
	static const struct refusal cases[] = {
		{ "missing password", "{\"account\":\"a\",\"expires\":"
		  "\"2026-12-01T00:00:00Z\"}", "missing required key "
		  "\"password\"" },
		{ "unknown key", "{" OKAUTH ",\"expires\":\"2026-12-01T00:00:00Z\""
		  ",\"x\":\"1\"}", "unknown key \"x\"" },
		{ "past", "{" OKAUTH ",\"expires\":\"2020-01-01T00:00:00Z\"}",
		  "in the past" },
		{ "a list", "[{" OKAUTH "}]", "expected a JSON object" },
		{ "oversize password", NULL, "\"password\" is 1024 bytes" },
	};
	uint8_t *rec = NULL;
	size_t reclen;
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *json;

		if (cases[i].json != NULL) {
			json = strdup(cases[i].json);
		} else {
			static const char pre[] = "{\"account\":\"a\","
			        "\"expires\":\"2026-12-01T00:00:00Z\","
			        "\"password\":\"";

			json = malloc(sizeof(pre) + 1024 + 2);
			ck_assert_ptr_nonnull(json);
			memcpy(json, pre, sizeof(pre) - 1);
			memset(json + sizeof(pre) - 1, 'p', 1024);
			strcpy(json + sizeof(pre) - 1 + 1024, "\"}");
		}
		err[0] = '\0';
		ck_assert_msg(ts_intake_auth(pk(), ID, "a1", json, strlen(json),
		                             T0, &rec, &reclen, err,
		                             sizeof(err)) == -EINVAL,
		              "%s accepted", cases[i].what);
		ck_assert_msg(strstr(err, cases[i].want) != NULL,
		              "%s: error \"%s\" does not say \"%s\"",
		              cases[i].what, err, cases[i].want);
		free(json);
	}
	/* A bad name is refused before the JSON is looked at. */
	ck_assert_int_eq(ts_intake_auth(pk(), ID, ".a", "{}", 2, T0, &rec,
	                                &reclen, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "invalid authorization name"));
	ck_assert_int_eq(ts_intake_auth(pk(), "x y", "a1", "{}", 2, T0, &rec,
	                                &reclen, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "invalid ticket id"));
	ck_assert_ptr_null(rec);
}
END_TEST

START_TEST(revoke_round_trip)
{
	uint8_t *rec = NULL;
	size_t reclen;
	char err[256] = "";
	struct ts_ticket t;
	int kind = 0;

	ck_assert_int_eq(ts_intake_revoke(ID, "a1", &rec, &reclen, err,
	                                  sizeof(err)), 0);
	ck_assert_int_eq(ts_record_decode(rec, reclen, &kind, &t), 0);
	use_ticket_key(rec, &t);
	ck_assert_int_eq(kind, TS_REC_REVOKE);
	ck_assert_str_eq(t.id, ID);
	ck_assert_uint_eq(t.nauth, 1);
	ck_assert_str_eq(t.auth[0].name, "a1");
	for (int f = 0; f < TS_A_COUNT; f++)
		ck_assert_uint_eq(t.auth[0].box[f].len, 0);
	ts_ticket_release(&t);
	free(rec);

	rec = NULL;
	ck_assert_int_eq(ts_intake_revoke(ID, "a/1", &rec, &reclen, err,
	                                  sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "invalid authorization name"));
	ck_assert_int_eq(ts_intake_revoke("", "a1", &rec, &reclen, err,
	                                  sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "invalid ticket id"));
	ck_assert_ptr_null(rec);
}
END_TEST

/* ---- messages ---- */

/* Intakes a message and returns its opened text (malloc'd). */
static char *
message_text(const char *text, size_t len)
{
	uint8_t *rec = NULL;
	size_t reclen;
	char err[256] = "", *plain;
	struct ts_ticket t;
	int kind = 0;

	ck_assert_int_eq(ts_intake_message(pk(), ID, "m-1.txt", text, len, T0,
	                                   &rec, &reclen, err, sizeof(err)), 0);
	ck_assert_int_eq(ts_record_decode(rec, reclen, &kind, &t), 0);
	use_ticket_key(rec, &t);
	ck_assert_int_eq(kind, TS_REC_MESSAGE);
	ck_assert_str_eq(t.id, ID);
	ck_assert_uint_eq(t.nmsg, 1);
	ck_assert_uint_eq(t.nauth, 0);
	ck_assert_str_eq(t.msg[0].name, "m-1.txt");
	ck_assert_int_eq(t.msg[0].stored_ms, T0);
	plain = open_box(rec, &t.msg[0].box, "messages/m-1.txt");
	ck_assert_uint_eq(ts_box_plain_len(&t.msg[0].box), strlen(plain));
	ts_ticket_release(&t);
	free(rec);
	return plain;
}

START_TEST(message_gets_final_newline)
{
	char *p = message_text("hello\nworld", 11);

	ck_assert_str_eq(p, "hello\nworld\n");
	free(p);
}
END_TEST

START_TEST(message_keeps_its_newline)
{
	char *p = message_text("hello\n", 6);

	ck_assert_str_eq(p, "hello\n");
	free(p);
	/* Only the final newline counts: inner blank lines stay. */
	p = message_text("\n\nx\n\n", 5);
	ck_assert_str_eq(p, "\n\nx\n\n");
	free(p);
}
END_TEST

START_TEST(message_utf8_accepted)
{
	char *p = message_text("caf\xc3\xa9 \xe2\x82\xac", 9);

	ck_assert_str_eq(p, "caf\xc3\xa9 \xe2\x82\xac\n");
	free(p);
}
END_TEST

START_TEST(message_refused)
{
	static const struct {
		const char *what;
		const char *text;
		size_t len;
		const char *want;
	} cases[] = {
		{ "empty", "", 0, "empty" },
		{ "NUL byte", "ab\0cd", 5, "NUL" },
		{ "only a NUL", "\0", 1, "NUL" },
		{ "0xff", "ab\xff", 3, "UTF-8" },
		{ "overlong '/'", "\xc0\xaf", 2, "UTF-8" },
		{ "cut sequence", "caf\xc3", 4, "UTF-8" },
	};
	uint8_t *rec = NULL;
	size_t reclen;
	char err[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(ts_intake_message(pk(), ID, "m1", cases[i].text,
		                                cases[i].len, T0, &rec, &reclen,
		                                err, sizeof(err)) == -EINVAL,
		              "%s accepted", cases[i].what);
		ck_assert_msg(strstr(err, cases[i].want) != NULL,
		              "%s: error \"%s\" does not say \"%s\"",
		              cases[i].what, err, cases[i].want);
	}
	ck_assert_int_eq(ts_intake_message(pk(), ID, "a/b", "x", 1, T0, &rec,
	                                   &reclen, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "invalid message name"));
	ck_assert_ptr_null(rec);
}
END_TEST

START_TEST(message_size_limit)
{
	/* TS_MESSAGE_MAX counts the final newline. */
	size_t n = TS_MESSAGE_MAX;
	char *text = malloc(n);
	uint8_t *rec = NULL;
	size_t reclen;
	char err[256] = "";

	memset(text, 'm', n);
	ck_assert_int_eq(ts_intake_message(pk(), ID, "m1", text, n, T0, &rec,
	                                   &reclen, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "over its limit"));
	ck_assert_ptr_null(rec);
	ck_assert_int_eq(ts_intake_message(pk(), ID, "m1", text, n - 1, T0,
	                                   &rec, &reclen, err, sizeof(err)), 0);
	free(rec);
	rec = NULL;
	text[n - 1] = '\n';	/* already ends in its newline: fits */
	ck_assert_int_eq(ts_intake_message(pk(), ID, "m1", text, n, T0, &rec,
	                                   &reclen, err, sizeof(err)), 0);
	free(rec);
	free(text);
}
END_TEST

START_TEST(seal_append_grows_blob)
{
	uint8_t *blob = NULL;
	size_t bloblen = 0;
	struct ts_box a, b;
	char *p;

	ck_assert_int_eq(ts_intake_seal_append(pk(), ID, "email", "x", 1, &blob,
	                                       &bloblen, &a), 0);
	ck_assert_uint_eq(a.off, 0);
	ck_assert_uint_eq(a.len, 2 + TS_SEAL_OVERHEAD);
	ck_assert_int_eq(ts_intake_seal_append(pk(), ID, "mobile", "12\n", 3,
	                                       &blob, &bloblen, &b), 0);
	ck_assert_uint_eq(b.off, a.len);
	ck_assert_uint_eq(b.len, 3 + TS_SEAL_OVERHEAD);
	ck_assert_uint_eq(bloblen, a.len + b.len);
	p = open_box(blob, &a, "email");
	ck_assert_str_eq(p, "x\n");
	free(p);
	p = open_box(blob, &b, "mobile");
	ck_assert_str_eq(p, "12\n");
	free(p);
	free(blob);
}
END_TEST

/* ---- util: times ---- */

START_TEST(time_parse_valid)
{
	static const struct {
		const char *s;
		int64_t ms;
	} cases[] = {
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2026-01-01T00:00:00Z", T0 },
		{ "2026-01-01t00:00:00z", T0 },
		{ "2026-01-01 00:00:00Z", T0 },
		{ "2026-01-01T08:00:00+08:00", T0 },
		{ "2025-12-31T19:00:00-05:00", T0 },
		{ "2025-12-31T23:30:00-00:30", T0 },
		{ "2026-01-01T05:45:00+05:45", T0 },
		{ "2026-01-01T00:00:00+00:00", T0 },
		{ "2026-01-01T00:00:00.5Z", T0 + 500 },
		{ "2026-01-01T00:00:00.05Z", T0 + 50 },
		{ "2026-01-01T00:00:00.123Z", T0 + 123 },
		{ "2026-01-01T00:00:00.123999Z", T0 + 123 },
		{ "2026-01-01T08:00:00.250+08:00", T0 + 250 },
		{ "2026-12-01T00:00:00Z", EXP },
		{ "2024-02-29T00:00:00Z", INT64_C(1709164800000) },
		{ "2000-02-29T12:00:00Z", INT64_C(951825600000) },
		{ "2026-12-31T23:59:59Z", INT64_C(1798761599000) },
		{ "2016-12-31T23:59:60Z", INT64_C(1483228799000) },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t ms = -1;

		ck_assert_msg(ts_time_parse(cases[i].s, &ms) == 0,
		              "\"%s\" refused", cases[i].s);
		ck_assert_msg(ms == cases[i].ms, "\"%s\" gave %lld, not %lld",
		              cases[i].s, (long long)ms,
		              (long long)cases[i].ms);
	}
}
END_TEST

START_TEST(time_parse_invalid)
{
	static const char *const bad[] = {
		"", "garbage", "2026", "2026-01-01",
		"2026-01-01T00:00:00",		/* no zone */
		"2026-01-01T00:00Z",		/* no seconds */
		"2026-02-30T00:00:00Z",
		"2026-02-29T00:00:00Z",		/* not a leap year */
		"1900-02-29T00:00:00Z",		/* century, not leap */
		"2026-04-31T00:00:00Z",
		"2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z",
		"2026-01-00T00:00:00Z", "2026-01-32T00:00:00Z",
		"2026-01-01T24:00:00Z", "2026-01-01T00:60:00Z",
		"2026-01-01T00:00:61Z",
		"2026-1-01T00:00:00Z", "26-01-01T00:00:00Z",
		"2026/01/01T00:00:00Z", "2026-01-01X00:00:00Z",
		"2026-01-01T00:00:00.Z",	/* empty fraction */
		"2026-01-01T00:00:00Zjunk", "2026-01-01T00:00:00Z ",
		" 2026-01-01T00:00:00Z",
		"2026-01-01T00:00:00+0800", "2026-01-01T00:00:00+08",
		"2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00+08:60",
		"2026-01-01T00:00:00UTC", "+2026-01-01T00:00:00Z",
		"2026-01-01T00:00:0aZ",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t ms;

		ck_assert_msg(ts_time_parse(bad[i], &ms) == -EINVAL,
		              "\"%s\" accepted", bad[i]);
	}
}
END_TEST

START_TEST(time_format)
{
	char buf[32];
	int64_t back;

	ts_time_format(T0, buf);
	ck_assert_str_eq(buf, "2026-01-01T00:00:00Z");
	ts_time_format(T0 + 999, buf);		/* truncated, not rounded */
	ck_assert_str_eq(buf, "2026-01-01T00:00:00Z");
	ts_time_format(EXP + 3723000, buf);
	ck_assert_str_eq(buf, "2026-12-01T01:02:03Z");
	ts_time_format(0, buf);
	ck_assert_str_eq(buf, "1970-01-01T00:00:00Z");
	ts_time_format(-1, buf);
	ck_assert_str_eq(buf, "1969-12-31T23:59:59Z");
	ts_time_format_ms(T0 + 7, buf);
	ck_assert_str_eq(buf, "2026-01-01T00:00:00.007Z");
	ts_time_format_ms(T0 - 1, buf);
	ck_assert_str_eq(buf, "2025-12-31T23:59:59.999Z");
	ts_time_format_ms(-1, buf);
	ck_assert_str_eq(buf, "1969-12-31T23:59:59.999Z");
	/* What is formatted parses back. */
	ts_time_format_ms(EXP + 123456, buf);
	ck_assert_int_eq(ts_time_parse(buf, &back), 0);
	ck_assert_int_eq(back, EXP + 123456);
	ts_time_format(EXP + 123456, buf);
	ck_assert_int_eq(ts_time_parse(buf, &back), 0);
	ck_assert_int_eq(back, EXP + 123000);
}
END_TEST

/* ---- util: names and ids ---- */

START_TEST(id_valid)
{
	char s[TS_NAME_MAX + 2];

	ck_assert(ts_id_valid("a"));
	ck_assert(ts_id_valid("A-z-09"));
	ck_assert(ts_id_valid("-"));
	ck_assert(ts_id_valid(ID));
	memset(s, 'x', TS_NAME_MAX);
	s[TS_NAME_MAX] = '\0';
	ck_assert(ts_id_valid(s));
	s[TS_NAME_MAX] = 'x';
	s[TS_NAME_MAX + 1] = '\0';
	ck_assert(!ts_id_valid(s));
	ck_assert(!ts_id_valid(""));
	ck_assert(!ts_id_valid("a_b"));
	ck_assert(!ts_id_valid("a.b"));
	ck_assert(!ts_id_valid("."));
	ck_assert(!ts_id_valid(".."));
	ck_assert(!ts_id_valid("a/b"));
	ck_assert(!ts_id_valid("a b"));
	ck_assert(!ts_id_valid("a\n"));
	ck_assert(!ts_id_valid("caf\xc3\xa9"));
}
END_TEST

START_TEST(name_valid)
{
	char s[TS_NAME_MAX + 2];

	ck_assert(ts_name_valid("a"));
	ck_assert(ts_name_valid("m-1.txt"));
	ck_assert(ts_name_valid("a_b.c-D9"));
	ck_assert(ts_name_valid("a.."));
	ck_assert(ts_name_valid("-"));
	memset(s, 'n', TS_NAME_MAX);
	s[TS_NAME_MAX] = '\0';
	ck_assert(ts_name_valid(s));
	s[TS_NAME_MAX] = 'n';
	s[TS_NAME_MAX + 1] = '\0';
	ck_assert(!ts_name_valid(s));
	ck_assert(!ts_name_valid(""));
	ck_assert(!ts_name_valid("."));
	ck_assert(!ts_name_valid(".."));
	ck_assert(!ts_name_valid(".hidden"));
	ck_assert(!ts_name_valid("a/b"));
	ck_assert(!ts_name_valid("a b"));
	ck_assert(!ts_name_valid("a\\b"));
	ck_assert(!ts_name_valid("caf\xc3\xa9"));
}
END_TEST

START_TEST(id_new_increasing)
{
	char prev[TS_NAME_MAX + 1], cur[TS_NAME_MAX + 1];
	char before[32], after[32], lo[16], hi[16];

	ts_time_format(ts_now_ms(), before);
	ts_id_new(prev);
	ts_time_format(ts_now_ms(), after);
	ck_assert(ts_id_valid(prev));
	/* "YYYYMMDD-HHMMSS-uuuuuu-rrrr": the UTC time of the call first. */
	ck_assert_uint_eq(strlen(prev), 27);
	for (int i = 0; i < 27; i++) {
		if (i == 8 || i == 15 || i == 22)
			ck_assert_int_eq(prev[i], '-');
		else if (i < 22)
			ck_assert(prev[i] >= '0' && prev[i] <= '9');
		else
			ck_assert_ptr_nonnull(strchr("0123456789abcdef",
			                             prev[i]));
	}
	/* before/after as YYYYMMDD-HHMMSS, to compare with the id. */
	snprintf(lo, sizeof(lo), "%.4s%.2s%.2s-%.2s%.2s%.2s", before,
	         before + 5, before + 8, before + 11, before + 14, before + 17);
	snprintf(hi, sizeof(hi), "%.4s%.2s%.2s-%.2s%.2s%.2s", after,
	         after + 5, after + 8, after + 11, after + 14, after + 17);
	ck_assert_int_le(strncmp(lo, prev, 15), 0);
	ck_assert_int_ge(strncmp(hi, prev, 15), 0);
	for (int i = 0; i < 1000; i++) {
		ts_id_new(cur);
		ck_assert(ts_id_valid(cur));
		ck_assert_uint_eq(strlen(cur), 27);
		ck_assert_msg(strcmp(prev, cur) < 0, "id %d: \"%s\" after \"%s\"",
		              i, cur, prev);
		memcpy(prev, cur, sizeof(cur));
	}
}
END_TEST

/* ---- account deletion, erasure, client addresses ---- */

START_TEST(forget_round_trip)
{
	struct ts_ticket t;
	uint8_t *rec = NULL;
	size_t reclen;
	char err[256];
	int kind;

	ck_assert_int_eq(ts_intake_forget(pk(), ID, "alice", 5, &rec, &reclen,
	                                  err, sizeof(err)), 0);
	ck_assert_int_eq(ts_record_decode(rec, reclen, &kind, &t), 0);
	ck_assert_int_eq(kind, TS_REC_FORGET);
	ck_assert_str_eq(t.id, ID);
	ck_assert_str_eq(t.client_ip, "");
	for (int f = 0; f < TS_F_COUNT; f++)
		if (f != TS_F_USERNAME)
			ck_assert_uint_eq(t.field[f].len, 0);
	/* Sealed for the store's key, bound to (request id, "username"),
	 * with the final newline every stored username has. */
	check_opens(rec, &t.field[TS_F_USERNAME], "username", "alice\n");
	ck_assert_ptr_null(memmem(rec, reclen, "alice", 5));
	ts_ticket_release(&t);
	free(rec);
}
END_TEST

START_TEST(forget_refused)
{
	static const struct {
		const char *what, *id, *name;
		size_t len;
		const char *want;
	} cases[] = {
		{ "empty", ID, "", 0, "the username is empty" },
		{ "NUL", ID, "a\0b", 3, "NUL" },
		{ "0xff", ID, "a\xff", 2, "UTF-8" },
		{ "bad request id", "../x", "alice", 5, "invalid request id" },
	};
	char big[300], err[256];
	uint8_t *rec = NULL;
	size_t reclen;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		ck_assert_msg(ts_intake_forget(pk(), cases[i].id, cases[i].name,
		                               cases[i].len, &rec, &reclen, err,
		                               sizeof(err)) == -EINVAL,
		              "%s accepted", cases[i].what);
		ck_assert_msg(strstr(err, cases[i].want) != NULL, "%s: \"%s\"",
		              cases[i].what, err);
	}
	/* The username's limit counts the final newline: 255 + 1 fits. */
	memset(big, 'u', sizeof(big));
	ck_assert_int_eq(ts_intake_forget(pk(), ID, big, 255, &rec, &reclen,
	                                  err, sizeof(err)), 0);
	free(rec);
	rec = NULL;
	ck_assert_int_eq(ts_intake_forget(pk(), ID, big, 256, &rec, &reclen,
	                                  err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "over its limit of 255"));
	ck_assert_ptr_null(rec);
}
END_TEST

START_TEST(erase_round_trip)
{
	uint32_t masks[] = { 0, 1u << TS_F_EMAIL,
	                     1u << TS_F_MOBILE | 1u << TS_F_CONFIDENTIAL };
	struct ts_ticket t;
	uint8_t *rec;
	size_t reclen;
	char err[256];
	int kind;

	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		ck_assert_int_eq(ts_intake_erase(ID, masks[i], &rec, &reclen,
		                                 err, sizeof(err)), 0);
		ck_assert_int_eq(ts_record_decode(rec, reclen, &kind, &t), 0);
		ck_assert_int_eq(kind, TS_REC_ERASE);
		ck_assert_str_eq(t.id, ID);
		ck_assert_uint_eq(t.erase, masks[i]);
		ts_ticket_release(&t);
		free(rec);
	}
}
END_TEST

START_TEST(erase_refused)
{
	uint8_t *rec = NULL;
	size_t reclen;
	char err[256];

	ck_assert_int_eq(ts_intake_erase(ID, 1u << TS_F_SUBJECT, &rec, &reclen,
	                                 err, sizeof(err)), -EINVAL);
	ck_assert_str_eq(err, "the customer may not erase \"subject\"");
	ck_assert_int_eq(ts_intake_erase(ID, 1u << TS_F_USERNAME, &rec, &reclen,
	                                 err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "\"username\""));
	ck_assert_int_eq(ts_intake_erase(ID, 1u << TS_F_COUNT, &rec, &reclen,
	                                 err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "names no field"));
	ck_assert_int_eq(ts_intake_erase("a/b", 0, &rec, &reclen, err,
	                                 sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "invalid ticket id"));
	ck_assert_ptr_null(rec);
}
END_TEST

/* The client address a decoded record carries. */
static void
check_ip(const uint8_t *rec, size_t len, int want_kind, const char *want)
{
	struct ts_ticket t;
	int kind;

	ck_assert_int_eq(ts_record_decode(rec, len, &kind, &t), 0);
	ck_assert_int_eq(kind, want_kind);
	ck_assert_str_eq(t.client_ip, want);
	ts_ticket_release(&t);
}

START_TEST(client_ip_json_and_setter)
{
	static const char tj[] = "{\"username\":\"a\",\"subject\":\"s\","
	                         "\"client_ip\":\"192.0.2.1\"}";
	static const char aj[] = "{\"account\":\"a\",\"password\":\"p\","
	                         "\"expires\":\"2026-12-01T00:00:00Z\","
	                         "\"client_ip\":\"2001:db8::1\"}";
	uint8_t *rec;
	size_t len;
	char err[256];

	ck_assert_int_eq(ts_intake_ticket(pk(), ID, tj, strlen(tj), T0, &rec,
	                                  &len, err, sizeof(err)), 0);
	check_ip(rec, len, TS_REC_TICKET, "192.0.2.1");
	/* The setter overrides, and keeps every box where it opens. */
	ck_assert_int_eq(ts_intake_set_client_ip(&rec, &len, "::ffff:10.0.0.1",
	                                         err, sizeof(err)), 0);
	check_ip(rec, len, TS_REC_TICKET, "::ffff:10.0.0.1");
	{
		struct ts_ticket t;
		int kind;

		ck_assert_int_eq(ts_record_decode(rec, len, &kind, &t), 0);
		use_ticket_key(rec, &t);
		check_opens(rec, &t.field[TS_F_SUBJECT], "subject", "s\n");
		ts_ticket_release(&t);
	}
	free(rec);
	ck_assert_int_eq(ts_intake_auth(pk(), ID, "a1", aj, strlen(aj), T0,
	                                &rec, &len, err, sizeof(err)), 0);
	check_ip(rec, len, TS_REC_AUTH, "2001:db8::1");
	free(rec);
	/* Every builder's record takes one. */
	ck_assert_int_eq(ts_intake_message(pk(), ID, "m1", "hi", 2, T0, &rec,
	                                   &len, err, sizeof(err)), 0);
	ck_assert_int_eq(ts_intake_set_client_ip(&rec, &len, "10.1.2.3", err,
	                                         sizeof(err)), 0);
	check_ip(rec, len, TS_REC_MESSAGE, "10.1.2.3");
	free(rec);
	ck_assert_int_eq(ts_intake_revoke(ID, "a1", &rec, &len, err,
	                                  sizeof(err)), 0);
	ck_assert_int_eq(ts_intake_set_client_ip(&rec, &len, "10.1.2.3", err,
	                                         sizeof(err)), 0);
	check_ip(rec, len, TS_REC_REVOKE, "10.1.2.3");
	free(rec);
	ck_assert_int_eq(ts_intake_forget(pk(), ID, "u", 1, &rec, &len, err,
	                                  sizeof(err)), 0);
	ck_assert_int_eq(ts_intake_set_client_ip(&rec, &len, "fe80::1", err,
	                                         sizeof(err)), 0);
	check_ip(rec, len, TS_REC_FORGET, "fe80::1");
	free(rec);
	ck_assert_int_eq(ts_intake_erase(ID, 0, &rec, &len, err, sizeof(err)),
	                 0);
	ck_assert_int_eq(ts_intake_set_client_ip(&rec, &len, "127.0.0.1", err,
	                                         sizeof(err)), 0);
	check_ip(rec, len, TS_REC_ERASE, "127.0.0.1");
	/* NULL: nothing changes. */
	ck_assert_int_eq(ts_intake_set_client_ip(&rec, &len, NULL, err,
	                                         sizeof(err)), 0);
	check_ip(rec, len, TS_REC_ERASE, "127.0.0.1");
	free(rec);
}
END_TEST

START_TEST(client_ip_refused)
{
	static const char *const bad[] = {
		"", "1.2.3", "10.0.0.256", "example.com", "1.2.3.4 ", " ::1",
		"::1::2", "1.2.3.4/24", "fe80::1%eth0",
		"0000:0000:0000:0000:0000:0000:0000:0000:0000",
	};
	uint8_t *rec, *before;
	size_t len, beforelen;
	char err[256], json[256];

	ck_assert_int_eq(ts_intake_revoke(ID, "a1", &rec, &len, err,
	                                  sizeof(err)), 0);
	before = malloc(len);
	memcpy(before, rec, len);
	beforelen = len;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t *r = NULL;
		size_t rl;

		err[0] = '\0';
		ck_assert_msg(ts_intake_client_ip_check(bad[i], err,
		              sizeof(err)) == -EINVAL, "\"%s\" accepted", bad[i]);
		ck_assert_msg(strstr(err, "is not an IPv4 or IPv6 address") !=
		              NULL, "\"%s\": %s", bad[i], err);
		ck_assert_int_eq(ts_intake_set_client_ip(&rec, &len, bad[i], err,
		                                         sizeof(err)), -EINVAL);
		ck_assert_uint_eq(len, beforelen);	/* record unchanged */
		ck_assert_mem_eq(rec, before, len);
		snprintf(json, sizeof(json), "{\"username\":\"a\",\"subject\":"
		         "\"s\",\"client_ip\":\"%s\"}", bad[i]);
		ck_assert_int_eq(ts_intake_ticket(pk(), ID, json, strlen(json),
		                                  T0, &r, &rl, err, sizeof(err)),
		                 -EINVAL);
		ck_assert_ptr_nonnull(strstr(err, "\"client_ip\" is not"));
		ck_assert_ptr_null(r);
	}
	{
		static const char num[] = "{\"username\":\"a\",\"subject\":"
		                          "\"s\",\"client_ip\":1}";
		uint8_t *r = NULL;
		size_t rl;

		ck_assert_int_eq(ts_intake_ticket(pk(), ID, num, strlen(num), T0,
		                                  &r, &rl, err, sizeof(err)),
		                 -EINVAL);
		ck_assert_str_eq(err, "\"client_ip\" must be a string");
		ck_assert_ptr_null(r);
	}
	free(before);
	free(rec);
}
END_TEST

/* The fast path agrees with jansson where it answers: fast != NULL only
 * if jansson parses the same value (JSON_REJECT_DUPLICATES). */
static int
json_paths_agree(const char *in, size_t len)
{
	json_t *fast = ts_intake_json_fast(in, len);
	json_t *slow = json_loadb(in, len, JSON_REJECT_DUPLICATES, NULL);
	int ok = fast == NULL || (slow != NULL && json_equal(fast, slow));

	json_decref(fast);
	json_decref(slow);
	return ok;
}

/* What a ticket is (strings, escapes, UTF-8, an authorization list) takes
 * the fast path, to jansson's value; everything it does not take is left
 * to jansson (NULL), and never taken wrongly: the crafted cases and 20,000
 * random mutations of a ticket. */
START_TEST(json_fast_path_is_jansson)
{
	static const char *const taken[] = {
		"{\"username\":\"alice\",\"subject\":\"disk \\\"full\\\"\\n\"}",
		" {\"a\" : \"\\\\ \\/ \\b \\f \\r \\t\", \"b\":[]}\r\n",
		"{\"d\":\"caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 \x7f\"}",
		"{\"authorizations\":[{\"account\":\"x\",\"expires\":\"y\"},{}]}",
		"{}", "{\"\":\"\"}",
	};
	static const char *const left[] = {
		"{\"a\":\"\\u00e9\"}", "{\"a\":\"\\u0000\"}", "{\"a\":1}",
		"{\"a\":true}", "{\"a\":null}", "{\"a\":\"x\",\"a\":\"y\"}",
		"{\"a\":\"\t\"}", "{\"a\":\"\xc0\xaf\"}", "{\"a\":\"\xed\xa0\x80\"}",
		"{\"a\":\"\xf4\x90\x80\x80\"}", "{\"a\":\"\xe0\x80\xaf\"}",
		"{\"a\":\"\xc3\"}", "{\"a\":\"x\"} x", "[\"a\"]", "\"a\"",
		"{\"a\":\"x\",}", "{\"a\" \"x\"}", "{\"a\":\"x\"", "",
		"{\"a\":[[[[[[[[[[\"deep\"]]]]]]]]]]}", "{\"a\":\"\\x\"}",
	};
	char base[] = "{\"username\":\"u\\\"1\",\"subject\":\"caf\xc3\xa9\","
	              "\"authorizations\":[{\"account\":\"a\\n\","
	              "\"expires\":\"2099-01-01T00:00:00Z\"}]}";
	static const char bytes[] = "{}[],:\"\\ \tnu0\x80\xc3\xa9\xed\xf4\x01";
	uint32_t seed = 1;

	for (size_t i = 0; i < sizeof(taken) / sizeof(taken[0]); i++) {
		json_t *j = ts_intake_json_fast(taken[i], strlen(taken[i]));

		ck_assert_msg(j != NULL, "fast path refused %s", taken[i]);
		json_decref(j);
		ck_assert(json_paths_agree(taken[i], strlen(taken[i])));
	}
	for (size_t i = 0; i < sizeof(left) / sizeof(left[0]); i++)
		ck_assert_msg(ts_intake_json_fast(left[i], strlen(left[i])) ==
		              NULL, "fast path took %s", left[i]);
	for (int i = 0; i < 20000; i++) {
		char m[sizeof(base)];
		size_t len = sizeof(base) - 1;

		memcpy(m, base, sizeof(base));
		for (int k = 0; k < 1 + i % 3; k++) {
			seed = seed * 1103515245 + 12345;
			m[(seed >> 8) % len] = bytes[(seed >> 20) %
			                             (sizeof(bytes) - 1)];
		}
		ck_assert_msg(json_paths_agree(m, len), "disagree on %s", m);
	}
}
END_TEST

static Suite *
intake_suite(void)
{
	Suite *s = suite_create("intake");
	TCase *tk = tcase_create("ticket");
	TCase *am = tcase_create("auth and message");
	TCase *ut = tcase_create("util");

	tcase_add_checked_fixture(tk, setup, teardown);
	tcase_set_timeout(tk, 60);
	tcase_add_test(tk, ticket_full);
	tcase_add_test(tk, json_fast_path_is_jansson);
	tcase_add_test(tk, ticket_minimal);
	tcase_add_test(tk, ticket_error_quotes_no_value);
	tcase_add_test(tk, ticket_value_at_limit);
	tcase_add_loop_test(tk, ticket_refused, 0, NTICKET_REFUSALS);
	tcase_add_test(tk, ticket_bad_id_refused);
	tcase_add_test(tk, ticket_error_fits_small_buffer);
	suite_add_tcase(s, tk);

	tcase_add_checked_fixture(am, setup, teardown);
	tcase_set_timeout(am, 60);
	tcase_add_test(am, auth_round_trip);
	tcase_add_test(am, auth_refused);
	tcase_add_test(am, revoke_round_trip);
	tcase_add_test(am, message_gets_final_newline);
	tcase_add_test(am, message_keeps_its_newline);
	tcase_add_test(am, message_utf8_accepted);
	tcase_add_test(am, message_refused);
	tcase_add_test(am, message_size_limit);
	tcase_add_test(am, seal_append_grows_blob);
	tcase_add_test(am, forget_round_trip);
	tcase_add_test(am, forget_refused);
	tcase_add_test(am, erase_round_trip);
	tcase_add_test(am, erase_refused);
	tcase_add_test(am, client_ip_json_and_setter);
	tcase_add_test(am, client_ip_refused);
	suite_add_tcase(s, am);

	tcase_add_test(ut, time_parse_valid);
	tcase_add_test(ut, time_parse_invalid);
	tcase_add_test(ut, time_format);
	tcase_add_test(ut, id_valid);
	tcase_add_test(ut, name_valid);
	tcase_add_test(ut, id_new_increasing);
	suite_add_tcase(s, ut);
	return s;
}

int
main(void)
{
	return ts_check_run(intake_suite());
}
