/*
 * fuzz_record: libFuzzer target for the record decoder (store/record.c),
 * which reads every ticket file and intake file the daemon meets.
 *
 * Each input is decoded twice: as it is, which exercises the checks in
 * front of the body (size, checksum, magic, body length); and with its
 * body length and XXH3 trailer rewritten to match its size, so that
 * mutations reach the TLV parser instead of dying at the checksum.
 *
 * Checked beyond "no crash, no leak, no UB": a refused record leaves the
 * ticket zeroed (the header's contract), and an accepted one holds only
 * what the rest of ticketfs takes for granted (check_ticket()); its MAC
 * is then checked as the daemon would, which must not crash either.
 *
 * Seeds (tests/fuzz/corpus/record): the golden and damaged fixtures of
 * tests/fixtures, and records made by ts_intake_*() and ts_record_encode():
 * intake records of each kind, stored tickets with and without a MAC
 * (made with MACKEY below).
 *
 * Built by tests/fuzz/fuzz.cmake (libFuzzer) and tests/unit.cmake (replay).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <xxhash.h>

#include "store/record.h"
#include "store/seal.h"
#include "store/ticket.h"
#include "store/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum {
	HDR_LEN = 12,	/* magic, version, kind, reserved, body length */
	SUM_LEN = 8,	/* the XXH3-64 trailer */
};

/* The MAC key of the seeds that carry a MAC (tests/fuzz/corpus/record). */
static const unsigned char MACKEY[TS_RECORD_MACKEYBYTES] = {
	[0 ... TS_RECORD_MACKEYBYTES - 1] = 0x42
};

static void
die(const char *what)
{
	fprintf(stderr, "fuzz_record: %s\n", what);
	abort();
}

/* 1 if box lies inside the record (len bytes) and is absent or a seal. */
static int
box_ok(const struct ts_box *box, size_t len)
{
	return box->len == 0 ||
	       (box->len >= TS_SEAL_OVERHEAD && box->off <= len &&
	        box->len <= len - box->off);
}

/*
 * What fs/ and ticketctl rely on in a decoded ticket without checking it
 * again: a valid id and names, no duplicate names, boxes inside the
 * record, a known status, counts within their limits.
 */
static void
check_ticket(int kind, const struct ts_ticket *t, size_t len)
{
	if (kind < TS_REC_TICKET || kind > TS_REC_REVOKE)
		die("an unknown kind accepted");
	if (!ts_id_valid(t->id))
		die("an invalid id accepted");
	if (t->status < 0 || t->status >= TS_STATUS_COUNT)
		die("an unknown status accepted");
	if (t->nmsg > TS_MSG_PER_TICKET || t->nauth > TS_AUTH_PER_TICKET ||
	    (t->nmsg && t->msg == NULL) || (t->nauth && t->auth == NULL))
		die("message or authorization counts out of bounds");
	for (int f = 0; f < TS_F_COUNT; f++)
		if (!box_ok(&t->field[f], len))
			die("a field's box outside the record");
	for (size_t i = 0; i < t->nmsg; i++) {
		const struct ts_message *m = &t->msg[i];

		if (!ts_name_valid(m->name) || m->box.len == 0 ||
		    !box_ok(&m->box, len))
			die("a bad message accepted");
		if (ts_ticket_find_msg(t, m->name) != m)
			die("a message name accepted twice");
	}
	for (size_t i = 0; i < t->nauth; i++) {
		const struct ts_auth *a = &t->auth[i];

		if (!ts_name_valid(a->name))
			die("a bad authorization name accepted");
		if (ts_ticket_find_auth(t, a->name) != a)
			die("an authorization name accepted twice");
		for (int f = 0; f < TS_A_COUNT; f++)
			if (!box_ok(&a->box[f], len))
				die("an authorization's box outside the "
				    "record");
	}
}

/* Decodes buf; checks the contract on refusal, the ticket on success. */
static void
check(const uint8_t *buf, size_t len)
{
	static const struct ts_ticket zero;
	struct ts_ticket t;
	int kind = -1, rc;

	rc = ts_record_decode(buf, len, &kind, &t);
	if (rc < 0) {
		if (rc != -EBADMSG && rc != -ENOMEM)
			die("decode returned neither -EBADMSG nor -ENOMEM");
		if (memcmp(&t, &zero, sizeof(t)) != 0)
			die("a refused record left the ticket non-zero");
		return;
	}
	if (rc != 0)
		die("decode returned a positive value");
	check_ticket(kind, &t, len);
	/* The daemon's next step on a record from tickets/. */
	rc = ts_record_verify_mac(buf, len, MACKEY);
	if (rc != 0 && rc != -EKEYREJECTED)
		die("verify_mac returned neither 0 nor -EKEYREJECTED");
	ts_ticket_release(&t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf;

	/* A copy of exactly size bytes, so ASan sees any read past it
	 * (calloc: gcc cannot tell that memcpy fills it). */
	if ((buf = calloc(1, size)) == NULL)
		return 0;
	if (size > 0)
		memcpy(buf, data, size);
	check(buf, size);
	if (size >= HDR_LEN + SUM_LEN) {
		ts_le32_put(buf + 8, (uint32_t)(size - HDR_LEN - SUM_LEN));
		ts_le64_put(buf + size - SUM_LEN,
		            XXH3_64bits(buf, size - SUM_LEN));
		check(buf, size);
	}
	free(buf);
	return 0;
}
