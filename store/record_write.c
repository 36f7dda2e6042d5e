/*
 * record_write: the record around a ticket write, shared by the backends
 * (contract in record_write.h).
 */
#include "store/record_write.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

int
ts_record_mackey(const struct ts_seckey *key,
                 unsigned char out[TS_RECORD_MACKEYBYTES])
{
	return ts_seal_derive(key, TS_RECORD_MAC_PURPOSE, out,
	                      TS_RECORD_MACKEYBYTES);
}

int
ts_record_decode_ticket(const uint8_t *buf, size_t len, const char *id,
                        const unsigned char *mackey, struct ts_ticket *t)
{
	int kind, rc;

	if ((rc = ts_record_decode(buf, len, &kind, t)) < 0)
		return rc;
	if (kind != TS_REC_TICKET || strcmp(t->id, id) != 0) {
		rc = -EBADMSG;
		goto fail;
	}
	/* Well formed, but is it the daemon's own? */
	if (mackey != NULL &&
	    (rc = ts_record_verify_mac(buf, len, mackey)) < 0)
		goto fail;
	return 0;
fail:
	ts_ticket_release(t);
	memset(t, 0, sizeof(*t));
	return rc;
}

/* Points box at the merged blob: old record first, then extra. */
static void
remap(struct ts_box *box, size_t oldlen)
{
	if (box->len != 0 && (box->off & TS_BOX_NEW))
		box->off = (uint32_t)(oldlen + (box->off & ~TS_BOX_NEW));
}

/* Largest end of a TS_BOX_NEW box; whether any box is old. */
static size_t
extra_extent(const struct ts_ticket *t, int *needs_old)
{
	size_t end = 0;

#define SEE(b) do { \
		if ((b).len == 0) \
			break; \
		if ((b).off & TS_BOX_NEW) { \
			size_t e = ((b).off & ~TS_BOX_NEW) + (size_t)(b).len; \
			end = e > end ? e : end; \
		} else { \
			*needs_old = 1; \
		} \
	} while (0)
	*needs_old = 0;
	for (int f = 0; f < TS_F_COUNT; f++)
		SEE(t->field[f]);
	for (size_t i = 0; i < t->nmsg; i++)
		SEE(t->msg[i].box);
	for (size_t i = 0; i < t->nauth; i++)
		for (int f = 0; f < TS_A_COUNT; f++)
			SEE(t->auth[i].box[f]);
#undef SEE
	return end;
}

int
ts_record_needs_old(const struct ts_ticket *t)
{
	int needs_old;

	extra_extent(t, &needs_old);
	return needs_old;
}

/* 1 if box b is new, absent, or exactly cur: where the stored record has
 * the same item's box (cur NULL: the record has no such item). */
static int
carried(const struct ts_box *b, const struct ts_box *cur)
{
	return b->len == 0 || (b->off & TS_BOX_NEW) ||
	       (cur != NULL && b->off == cur->off && b->len == cur->len);
}

/*
 * 1 if every box t carries over from the stored record cur is that item's
 * box there.  Offsets from an older version of the record (a write that
 * failed after its rename, a record replaced behind the daemon's back)
 * would otherwise copy the wrong bytes, or bytes past the end, into the
 * new record.
 */
static int
carried_all(const struct ts_ticket *t, const struct ts_ticket *cur)
{
	for (int f = 0; f < TS_F_COUNT; f++)
		if (!carried(&t->field[f], &cur->field[f]))
			return 0;
	/* Messages keep their order across rewrites: look ahead from the
	 * last match first, so 65,535 messages cost a pass, not n^2. */
	for (size_t i = 0, j = 0; i < t->nmsg; i++) {
		const struct ts_message *m = NULL;

		for (size_t k = j; k < cur->nmsg && m == NULL; k++)
			if (strcmp(cur->msg[k].name, t->msg[i].name) == 0) {
				m = &cur->msg[k];
				j = k + 1;
			}
		if (m == NULL)
			m = ts_ticket_find_msg(cur, t->msg[i].name);
		if (!carried(&t->msg[i].box, m ? &m->box : NULL))
			return 0;
	}
	for (size_t i = 0; i < t->nauth; i++) {
		const struct ts_auth *a = ts_ticket_find_auth(cur,
		                                              t->auth[i].name);

		for (int f = 0; f < TS_A_COUNT; f++)
			if (!carried(&t->auth[i].box[f], a ? &a->box[f] : NULL))
				return 0;
	}
	return 1;
}

int
ts_record_build(const struct ts_ticket *t, const uint8_t *extra,
                const uint8_t *old, size_t oldlen,
                const unsigned char *mackey, struct ts_record_built *b)
{
	struct ts_ticket tmp;
	uint8_t *blob = NULL;
	size_t extlen;
	int needs_old, kind, rc;

	memset(b, 0, sizeof(*b));
	extlen = extra_extent(t, &needs_old);
	if (!needs_old) {
		old = NULL;
		oldlen = 0;
	} else {
		struct ts_ticket check;

		if (old == NULL)
			return -EINVAL;
		/* Never carry boxes over from a record that fails its check,
		 * nor from one the daemon did not write. */
		if ((rc = ts_record_decode_ticket(old, oldlen, t->id, mackey,
		                                  &check)) < 0)
			return rc;
		rc = carried_all(t, &check) ? 0 : -ESTALE;
		ts_ticket_release(&check);
		if (rc < 0)
			return rc;
	}
	if ((blob = malloc(oldlen + extlen + 1)) == NULL)
		return -ENOMEM;
	if (oldlen)
		memcpy(blob, old, oldlen);
	if (extlen)
		memcpy(blob + oldlen, extra, extlen);
	if ((rc = ts_ticket_copy(&tmp, t)) < 0)
		goto out;
	for (int f = 0; f < TS_F_COUNT; f++)
		remap(&tmp.field[f], oldlen);
	for (size_t i = 0; i < tmp.nmsg; i++)
		remap(&tmp.msg[i].box, oldlen);
	for (size_t i = 0; i < tmp.nauth; i++)
		for (int f = 0; f < TS_A_COUNT; f++)
			remap(&tmp.auth[i].box[f], oldlen);
	rc = ts_record_encode(TS_REC_TICKET, &tmp, blob, mackey, &b->rec,
	                      &b->len);
	ts_ticket_release(&tmp);
	if (rc < 0)
		goto out;
	if ((rc = ts_record_decode(b->rec, b->len, &kind, &b->fresh)) < 0)
		goto out_rec;	/* t did not make a valid ticket */
	if (b->fresh.nmsg != t->nmsg || b->fresh.nauth != t->nauth) {
		rc = -EINVAL;
		ts_ticket_release(&b->fresh);
		goto out_rec;
	}
	free(blob);
	return 0;
out_rec:
	free(b->rec);
	memset(b, 0, sizeof(*b));
out:
	free(blob);
	return rc;
}

void
ts_record_built_apply(const struct ts_record_built *b, struct ts_ticket *t)
{
	for (int f = 0; f < TS_F_COUNT; f++)
		t->field[f] = b->fresh.field[f];
	for (size_t i = 0; i < t->nmsg; i++)
		t->msg[i].box = b->fresh.msg[i].box;
	for (size_t i = 0; i < t->nauth; i++)
		memcpy(t->auth[i].box, b->fresh.auth[i].box,
		       sizeof(t->auth[i].box));
}

void
ts_record_built_release(struct ts_record_built *b)
{
	if (b->rec != NULL) {
		ts_ticket_release(&b->fresh);
		free(b->rec);
	}
	memset(b, 0, sizeof(*b));
}
