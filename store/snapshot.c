/*
 * snapshot: encoding and decoding of the index snapshot (format in
 * snapshot.h).  The decoder checks the MAC before it reads anything, then
 * every length against what is left, so a truncated or altered file is
 * refused whole (-EBADMSG) and the store falls back to the records.
 */
#include "store/snapshot.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "store/util.h"

static const uint8_t MAGIC[8] = { 'T', 'K', 'F', 'S', 'N', 'A', 'P', '2' };
#define HEADER_LEN (8 + 4 + 8 + 8 + 4)

/* ---- writing: a growing buffer ---- */

struct wbuf {
	uint8_t *p;
	size_t len, cap;
	int err;
};

static uint8_t *
wb_room(struct wbuf *w, size_t n)
{
	if (w->err)
		return NULL;
	if (w->len + n > w->cap) {
		size_t cap = w->cap ? w->cap : 4096;
		uint8_t *p;

		while (cap < w->len + n)
			cap *= 2;
		if ((p = realloc(w->p, cap)) == NULL) {
			w->err = -ENOMEM;
			return NULL;
		}
		w->p = p;
		w->cap = cap;
	}
	w->len += n;
	return w->p + w->len - n;
}

static void
wb_u8(struct wbuf *w, uint8_t v)
{
	uint8_t *p = wb_room(w, 1);

	if (p != NULL)
		*p = v;
}

static void
wb_u32(struct wbuf *w, uint32_t v)
{
	uint8_t *p = wb_room(w, 4);

	if (p != NULL)
		ts_le32_put(p, v);
}

static void
wb_u64(struct wbuf *w, uint64_t v)
{
	uint8_t *p = wb_room(w, 8);

	if (p != NULL)
		ts_le64_put(p, v);
}

static void
wb_name(struct wbuf *w, const char *s)
{
	size_t n = strlen(s);
	uint8_t *p;

	if (n == 0 || n > TS_NAME_MAX) {
		w->err = -EINVAL;
		return;
	}
	wb_u8(w, (uint8_t)n);
	if ((p = wb_room(w, n)) != NULL)
		memcpy(p, s, n);
}

static void
wb_box(struct wbuf *w, const struct ts_box *b)
{
	wb_u32(w, b->off);
	wb_u32(w, b->len);
}

static void
put_ticket(struct wbuf *w, const struct ts_ticket *t, uint64_t ino)
{
	uint8_t *p;

	wb_u64(w, ino);
	wb_name(w, t->id);
	wb_u64(w, (uint64_t)t->created_ms);
	wb_u8(w, (uint8_t)t->status);
	wb_u64(w, (uint64_t)t->processing_ms);
	wb_u64(w, (uint64_t)t->processed_ms);
	wb_u64(w, (uint64_t)t->forgotten_ms);
	wb_u64(w, (uint64_t)t->shred_due_ms);
	wb_u8(w, (uint8_t)((t->keyed ? 1 : 0) | (t->has_uhash ? 2 : 0)));
	if (t->keyed && (p = wb_room(w, TS_TPK_BYTES)) != NULL)
		memcpy(p, t->tpk, TS_TPK_BYTES);
	if (t->has_uhash && (p = wb_room(w, TS_UHASH_BYTES)) != NULL)
		memcpy(p, t->uhash, TS_UHASH_BYTES);
	for (int f = 0; f < TS_F_COUNT; f++)
		wb_box(w, &t->field[f]);
	wb_u32(w, (uint32_t)t->nmsg);
	for (size_t i = 0; i < t->nmsg; i++) {
		wb_name(w, t->msg[i].name);
		wb_u64(w, (uint64_t)t->msg[i].stored_ms);
		wb_box(w, &t->msg[i].box);
	}
	wb_u32(w, (uint32_t)t->nauth);
	for (size_t i = 0; i < t->nauth; i++) {
		wb_name(w, t->auth[i].name);
		wb_u64(w, (uint64_t)t->auth[i].created_ms);
		wb_u64(w, (uint64_t)t->auth[i].expires_ms);
		for (int f = 0; f < TS_A_COUNT; f++)
			wb_box(w, &t->auth[i].box[f]);
	}
}

int
ts_snapshot_encode(const unsigned char key[TS_SNAPSHOT_KEYBYTES],
                   const struct ts_snapshot_stamp *stamp,
                   const struct ts_ticket *const *t, const uint64_t *ino,
                   size_t n, uint8_t **out, size_t *outlen)
{
	struct wbuf w = { 0 };
	uint8_t *mac, *magic;

	if (n > UINT32_MAX)
		return -EINVAL;
	if ((magic = wb_room(&w, sizeof(MAGIC))) != NULL)
		memcpy(magic, MAGIC, sizeof(MAGIC));
	wb_u32(&w, (uint32_t)n);
	wb_u64(&w, stamp->dir_ino);
	wb_u64(&w, (uint64_t)stamp->mtime_sec);
	wb_u32(&w, stamp->mtime_nsec);
	for (size_t i = 0; i < n && !w.err; i++)
		put_ticket(&w, t[i], ino[i]);
	if ((mac = wb_room(&w, TS_SNAPSHOT_MACBYTES)) != NULL)
		crypto_generichash(mac, TS_SNAPSHOT_MACBYTES, w.p,
		                   w.len - TS_SNAPSHOT_MACBYTES, key,
		                   TS_SNAPSHOT_KEYBYTES);
	if (w.err) {
		free(w.p);
		return w.err;
	}
	*out = w.p;
	*outlen = w.len;
	return 0;
}

/* ---- reading: a cursor that fails once and stays failed ---- */

struct rbuf {
	const uint8_t *p;
	size_t left;
	int bad;
};

static const uint8_t *
rb_take(struct rbuf *r, size_t n)
{
	const uint8_t *p = r->p;

	if (r->bad || r->left < n) {
		r->bad = 1;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

static uint8_t
rb_u8(struct rbuf *r)
{
	const uint8_t *p = rb_take(r, 1);

	return p ? *p : 0;
}

static uint32_t
rb_u32(struct rbuf *r)
{
	const uint8_t *p = rb_take(r, 4);

	return p ? ts_le32_get(p) : 0;
}

static uint64_t
rb_u64(struct rbuf *r)
{
	const uint8_t *p = rb_take(r, 8);

	return p ? ts_le64_get(p) : 0;
}

/* Reads a name into dst (TS_NAME_MAX + 1 bytes); valid(name) must hold. */
static void
rb_name(struct rbuf *r, char *dst, int (*valid)(const char *))
{
	size_t n = rb_u8(r);
	const uint8_t *p = rb_take(r, n);

	if (p == NULL || n == 0 || n > TS_NAME_MAX) {
		r->bad = 1;
		return;
	}
	memcpy(dst, p, n);
	dst[n] = '\0';
	if (strlen(dst) != n || !valid(dst))
		r->bad = 1;
}

static void
rb_box(struct rbuf *r, struct ts_box *b)
{
	b->off = rb_u32(r);
	b->len = rb_u32(r);
}

static int
get_ticket(struct rbuf *r, struct ts_snapshot_entry *e, int v1)
{
	struct ts_ticket *t = &e->t;
	const uint8_t *p;
	uint32_t nmsg, nauth;
	uint8_t flags;

	memset(e, 0, sizeof(*e));
	e->ino = rb_u64(r);
	rb_name(r, t->id, ts_id_valid);
	t->created_ms = (int64_t)rb_u64(r);
	t->status = rb_u8(r);
	t->processing_ms = (int64_t)rb_u64(r);
	t->processed_ms = (int64_t)rb_u64(r);
	t->forgotten_ms = v1 ? 0 : (int64_t)rb_u64(r);
	t->shred_due_ms = v1 ? 0 : (int64_t)rb_u64(r);
	flags = v1 ? 0 : rb_u8(r);
	if (flags & ~3u)
		return -EBADMSG;
	if ((t->keyed = flags & 1) && (p = rb_take(r, TS_TPK_BYTES)) != NULL)
		memcpy(t->tpk, p, TS_TPK_BYTES);
	if ((t->has_uhash = (flags & 2) != 0) &&
	    (p = rb_take(r, TS_UHASH_BYTES)) != NULL)
		memcpy(t->uhash, p, TS_UHASH_BYTES);
	for (int f = 0; f < TS_F_COUNT; f++)
		rb_box(r, &t->field[f]);
	nmsg = rb_u32(r);
	/* A message takes at least 18 bytes: no count beyond what is left. */
	if (r->bad || t->status >= TS_STATUS_COUNT || nmsg > TS_MSG_PER_TICKET ||
	    nmsg > r->left / 18)
		return -EBADMSG;
	for (uint32_t i = 0; i < nmsg && !r->bad; i++) {
		struct ts_message *m = ts_ticket_add_msg(t);

		if (m == NULL)
			return -ENOMEM;
		rb_name(r, m->name, ts_name_valid);
		m->stored_ms = (int64_t)rb_u64(r);
		rb_box(r, &m->box);
	}
	nauth = rb_u32(r);
	if (r->bad || nauth > TS_AUTH_PER_TICKET || nauth > r->left / 42)
		return -EBADMSG;
	for (uint32_t i = 0; i < nauth && !r->bad; i++) {
		struct ts_auth *a = ts_ticket_add_auth(t);

		if (a == NULL)
			return -ENOMEM;
		rb_name(r, a->name, ts_name_valid);
		a->created_ms = (int64_t)rb_u64(r);
		a->expires_ms = (int64_t)rb_u64(r);
		for (int f = 0; f < TS_A_COUNT; f++)
			rb_box(r, &a->box[f]);
	}
	return r->bad ? -EBADMSG : 0;
}

int
ts_snapshot_decode(const unsigned char key[TS_SNAPSHOT_KEYBYTES],
                   const uint8_t *buf, size_t len,
                   struct ts_snapshot_stamp *stamp,
                   struct ts_snapshot_entry **v, size_t *n)
{
	uint8_t mac[TS_SNAPSHOT_MACBYTES];
	struct ts_snapshot_entry *ents;
	struct rbuf r;
	uint32_t count;
	size_t i;
	int rc = 0, v1;

	if (len < HEADER_LEN + TS_SNAPSHOT_MACBYTES)
		return -EBADMSG;
	/* A TKFSNAP1 snapshot (before per-ticket keys) has no forgotten
	 * time and no flags: it is read as tickets without them. */
	if (memcmp(buf, MAGIC, sizeof(MAGIC) - 1) != 0 ||
	    (buf[sizeof(MAGIC) - 1] != '1' && buf[sizeof(MAGIC) - 1] != '2'))
		return -EBADMSG;
	v1 = buf[sizeof(MAGIC) - 1] == '1';
	len -= TS_SNAPSHOT_MACBYTES;
	crypto_generichash(mac, sizeof(mac), buf, len, key,
	                   TS_SNAPSHOT_KEYBYTES);
	if (sodium_memcmp(mac, buf + len, sizeof(mac)) != 0)
		return -EBADMSG;
	r = (struct rbuf){ buf + sizeof(MAGIC), len - sizeof(MAGIC), 0 };
	count = rb_u32(&r);
	stamp->dir_ino = rb_u64(&r);
	stamp->mtime_sec = (int64_t)rb_u64(&r);
	stamp->mtime_nsec = rb_u32(&r);
	/* An entry takes at least 91 bytes. */
	if (count > r.left / 91)
		return -EBADMSG;
	if ((ents = calloc(count ? count : 1, sizeof(*ents))) == NULL)
		return -ENOMEM;
	for (i = 0; i < count; i++)
		if ((rc = get_ticket(&r, &ents[i], v1)) < 0) {
			ts_ticket_release(&ents[i].t);
			break;
		}
	if (rc == 0 && r.left != 0)
		rc = -EBADMSG;	/* i == count */
	if (rc < 0) {
		ts_snapshot_free(ents, i);
		return rc;
	}
	*v = ents;
	*n = count;
	return 0;
}

void
ts_snapshot_free(struct ts_snapshot_entry *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		ts_ticket_release(&v[i].t);
	free(v);
}
