/*
 * intake_rec: the name of an intake record and the check that the record
 * is what it says (contract in intake_rec.h), shared by file_intake.c and
 * pg_intake.c.
 */
#include "store/intake_rec.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store/record.h"
#include "store/util.h"

static const char KIND_LETTER[] = { 0, 't', 'm', 'a', 'r', 'f', 'e', 'p' };

char
ts_intake_rec_letter(int kind)
{
	if (kind < TS_REC_TICKET || kind > TS_REC_PRUNE)
		return 0;
	return KIND_LETTER[kind];
}

/* 1 if name "STAMP-K-ID" names kind and id. */
static int
name_matches(const char *name, int kind, const char *id)
{
	char want[TS_NAME_MAX + 8];
	size_t nl = strlen(name), wl;

	snprintf(want, sizeof(want), "-%c-%s", ts_intake_rec_letter(kind), id);
	wl = strlen(want);
	return nl > wl && strcmp(name + nl - wl, want) == 0;
}

int
ts_intake_rec_decode(const char *name, const uint8_t *buf, size_t len,
                     int *kind, struct ts_ticket *t)
{
	int rc = ts_record_decode(buf, len, kind, t);

	if (rc < 0)
		return rc;
	if (ts_intake_rec_letter(*kind) == 0 ||
	    !name_matches(name, *kind, t->id)) {
		ts_ticket_release(t);
		return -EBADMSG;
	}
	return 0;
}
