/*
 * fuzz_intake: libFuzzer target for the intake validators (store/intake.c):
 * what a customer submits is the least trusted input ticketfs has.
 *
 * The first byte picks the function (mod 3: ticket JSON, authorization
 * JSON, message text); the rest is its input.  So the seeds in
 * tests/fuzz/corpus/intake are text files starting with 0, 1 or 2.  The clock is fixed, so an
 * `expires` is in the future or the past the same way on every run.
 *
 * Checked beyond "no crash, no leak, no UB": the JSON fast path
 * (store/intake_json.c) takes nothing jansson refuses and builds what
 * jansson builds; a refusal is -EINVAL with a
 * reason; an accepted input yields a record that decodes to the right kind,
 * and every box in it opens, bound to its path, to exactly the submitted
 * value plus the final newline the mount adds.  The key pair is made once
 * per process (random: sealing is randomised anyway, so nothing about a
 * crash depends on it).
 *
 * Built by tests/fuzz/fuzz.cmake (libFuzzer) and tests/unit.cmake (replay).
 */
#include <errno.h>
#include <stdint.h>
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW INT64_C(1767225600000)	/* 2026-01-01T00:00:00Z */
static const char ID[] = "20260101-000000-000000-0001";

static void
die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_intake: %s%s%s\n", what, detail ? ": " : "",
	        detail ? detail : "");
	abort();
}

/*
 * The harness's one piece of process state: libFuzzer calls the target
 * with nothing but the input, so the key is made on the first call.
 */
static struct ts_seckey *
key(void)
{
	static struct ts_seckey *k;

	if (k == NULL && (ts_seal_init() < 0 || ts_seal_keypair(&k) < 0))
		die("cannot make a key pair", NULL);
	return k;
}

static struct ts_seckey *tkey;	/* the ticket's own key; NULL: the store's */

/*
 * Checks that box (in rec) opens for path to want plus a final newline
 * if want has none; want NULL: the box must be absent.
 */
static void
check_box(const uint8_t *rec, const struct ts_box *box, const char *path,
          const char *want, size_t wantlen)
{
	size_t nl, plen;
	uint8_t *plain;

	if (want == NULL) {
		if (box->len != 0)
			die("a box for a value not given", path);
		return;
	}
	nl = wantlen == 0 || want[wantlen - 1] != '\n';
	if (box->len < TS_SEAL_OVERHEAD ||
	    ts_box_plain_len(box) != wantlen + nl)
		die("a box of the wrong size", path);
	plen = box->len - TS_SEAL_OVERHEAD;
	if ((plain = malloc(plen)) == NULL)
		die("out of memory", NULL);
	if (ts_seal_open(tkey ? tkey : key(), ID, path, rec + box->off,
	                 box->len, plain))
		die("a box does not open", path);
	if (memcmp(plain, want, wantlen) != 0 || (nl && plain[wantlen] != '\n'))
		die("a box holds another value", path);
	sodium_memzero(plain, plen);
	free(plain);
}

/* The string obj[key], or NULL. */
static const char *
str(json_t *obj, const char *k, size_t *len)
{
	json_t *v = json_object_get(obj, k);

	*len = v ? json_string_length(v) : 0;
	return v ? json_string_value(v) : NULL;
}

/* Checks authorization a (boxes in rec) against its JSON object. */
static void
check_auth(const uint8_t *rec, const struct ts_auth *a, const char *name,
           json_t *obj)
{
	char path[2 * TS_NAME_MAX + 32];
	const char *s;
	size_t n;
	int64_t exp;

	if (strcmp(a->name, name) != 0 || a->created_ms != NOW)
		die("an authorization with the wrong name or time", name);
	s = str(obj, "expires", &n);
	if (s == NULL || ts_time_parse(s, &exp) < 0 || exp != a->expires_ms ||
	    exp <= NOW)
		die("an authorization with the wrong expiry", name);
	for (int f = 0; f < TS_A_COUNT; f++) {
		snprintf(path, sizeof(path), "authorizations/%s/%s", name,
		         ts_afield_names[f]);
		s = str(obj, ts_afield_names[f], &n);
		if (s == NULL && f != TS_A_RESOURCE)
			die("a required authorization field is absent", path);
		check_box(rec, &a->box[f], path, s, n);
	}
}

/* Checks an accepted input's record against the input itself. */
static void
check_record(int which, const char *in, size_t len, const uint8_t *rec,
             size_t reclen)
{
	static const int kinds[3] = { TS_REC_TICKET, TS_REC_AUTH,
	                              TS_REC_MESSAGE };
	struct ts_ticket t;
	json_t *root = NULL, *auths;
	int kind;

	if (ts_record_decode(rec, reclen, &kind, &t) != 0)
		die("an accepted input made a record that does not decode",
		    NULL);
	if (kind != kinds[which] || strcmp(t.id, ID) != 0)
		die("a record of the wrong kind or id", NULL);
	ts_tkey_free(tkey);
	tkey = NULL;
	/* A new ticket's values are sealed for its own key, in its record
	 * sealed for the store's. */
	if (which == 0 && (!t.keyed || t.keybox.len != TS_TKEY_BOXBYTES ||
	                   ts_tkey_open(key(), ID, t.tpk, rec + t.keybox.off,
	                                &tkey) != 0))
		die("a new ticket without its own key", NULL);
	if (which != 2 && (root = json_loadb(in, len, 0, NULL)) == NULL)
		die("accepted JSON does not parse again", NULL);
	if (which == 0) {
		if (t.created_ms != NOW || t.status != TS_OPEN || t.nmsg != 0)
			die("a new ticket with the wrong metadata", NULL);
		for (int f = 0; f < TS_F_COUNT; f++) {
			size_t n;
			const char *s = str(root, ts_field_names[f], &n);

			check_box(rec, &t.field[f], ts_field_names[f], s, n);
		}
		auths = json_object_get(root, "authorizations");
		if (t.nauth != (auths ? json_array_size(auths) : 0))
			die("a ticket with the wrong number of authorizations",
			    NULL);
		for (size_t i = 0; i < t.nauth; i++) {
			char name[TS_NAME_MAX + 1];

			snprintf(name, sizeof(name), "a%zu", i + 1);
			check_auth(rec, &t.auth[i], name,
			           json_array_get(auths, i));
		}
		if (t.field[TS_F_USERNAME].len == 0 ||
		    t.field[TS_F_SUBJECT].len == 0)
			die("a ticket without username or subject", NULL);
	} else if (which == 1) {
		if (t.nauth != 1)
			die("an authorization record without one authorization",
			    NULL);
		check_auth(rec, &t.auth[0], "a1", root);
	} else {
		if (t.nmsg != 1 || strcmp(t.msg[0].name, "m1") != 0 ||
		    t.msg[0].stored_ms != NOW)
			die("a message record with the wrong message", NULL);
		check_box(rec, &t.msg[0].box, "messages/m1", in, len);
	}
	json_decref(root);
	ts_ticket_release(&t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *pk = ts_seal_seckey_pk(key());
	uint8_t *rec = NULL;
	size_t reclen = 0, len;
	char err[256] = "", *in;
	int which, rc;

	if (size == 0)
		return 0;
	which = data[0] % 3;
	len = size - 1;
	/* Exactly len bytes and no NUL after them: none of the three reads
	 * a C string.  (calloc: gcc cannot tell that memcpy fills it.) */
	if ((in = calloc(1, len)) == NULL)
		return 0;
	if (len > 0)
		memcpy(in, data + 1, len);
	if (which != 2) {
		json_t *fast = ts_intake_json_fast(in, len), *slow;

		slow = json_loadb(in, len, JSON_REJECT_DUPLICATES, NULL);
		if (fast != NULL && (slow == NULL || !json_equal(fast, slow)))
			die("the JSON fast path and jansson disagree", NULL);
		json_decref(fast);
		json_decref(slow);
	}
	switch (which) {
	case 0:
		rc = ts_intake_ticket(pk, ID, in, len, NOW, &rec, &reclen, err,
		                      sizeof(err));
		break;
	case 1:
		rc = ts_intake_auth(pk, ID, "a1", in, len, NOW, &rec, &reclen,
		                    err, sizeof(err));
		break;
	default:
		rc = ts_intake_message(pk, ID, "m1", in, len, NOW, &rec,
		                       &reclen, err, sizeof(err));
		break;
	}
	if (rc == 0) {
		if (rec == NULL)
			die("accepted without a record", NULL);
		check_record(which, in, len, rec, reclen);
	} else if (rc == -EINVAL) {
		if (err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL)
			die("a refusal without a reason", NULL);
	} else if (rc != -ENOMEM) {
		die("neither 0, -EINVAL nor -ENOMEM", NULL);
	}
	free(rec);
	free(in);
	return 0;
}
