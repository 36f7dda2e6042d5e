/*
 * record: encode and decode the checksummed TLV record format.
 */
#include "store/record.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <xxhash.h>

#include "store/seal.h"

enum {
	HDR_LEN = 12,
	SUM_LEN = 8,
	TLV_HDR = 6,
};

enum tag {
	TAG_ID = 1,
	TAG_CREATED = 2,
	TAG_STATUS = 3,
	TAG_PROCESSING = 4,
	TAG_PROCESSED = 5,
	TAG_FORGOTTEN = 6,
	TAG_TKEY = 7,
	TAG_UHASH = 8,
	TAG_KEYBOX = 9,
	TAG_CLIENT_IP = 10,
	TAG_ERASE = 11,
	TAG_BEFORE = 12,
	TAG_SHRED_DUE = 13,
	TAG_FIELD = 16,		/* 16 .. 16 + TS_F_COUNT - 1 */
	TAG_MESSAGE = 32,
	TAG_AUTH = 33,
	TAG_MAC = 48,		/* the daemon's MAC; last item, when present */
};

static const uint8_t MAGIC[4] = { 'T', 'K', 'F', 'R' };

/* A growing output buffer; failures are sticky in .err. */
struct out {
	uint8_t *buf;
	size_t len, cap;
	int err;
};

static uint8_t *
out_reserve(struct out *o, size_t n)
{
	uint8_t *p;

	if (o->err)
		return NULL;
	if (o->len + n > TS_RECORD_MAX) {
		o->err = -EINVAL;
		return NULL;
	}
	if (o->len + n > o->cap) {
		size_t cap = o->cap ? o->cap : 256;
		while (cap < o->len + n)
			cap *= 2;
		p = realloc(o->buf, cap);
		if (p == NULL) {
			o->err = -ENOMEM;
			return NULL;
		}
		o->buf = p;
		o->cap = cap;
	}
	p = o->buf + o->len;
	o->len += n;
	return p;
}

static void
out_bytes(struct out *o, const void *src, size_t n)
{
	uint8_t *p = out_reserve(o, n);

	if (p != NULL && n > 0)
		memcpy(p, src, n);
}

static void
out_u8(struct out *o, uint8_t v)
{
	out_bytes(o, &v, 1);
}

static void
out_u32(struct out *o, uint32_t v)
{
	uint8_t *p = out_reserve(o, 4);

	if (p != NULL)
		ts_le32_put(p, v);
}

static void
out_i64(struct out *o, int64_t v)
{
	uint8_t *p = out_reserve(o, 8);

	if (p != NULL)
		ts_le64_put(p, (uint64_t)v);
}

/* Starts a TLV item; returns its header offset for tlv_end(). */
static size_t
tlv_begin(struct out *o, uint16_t tag)
{
	size_t at = o->len;
	uint8_t *p = out_reserve(o, TLV_HDR);

	if (p != NULL)
		ts_le16_put(p, tag);
	return at;
}

static void
tlv_end(struct out *o, size_t at)
{
	if (!o->err)
		ts_le32_put(o->buf + at + 2, (uint32_t)(o->len - at - TLV_HDR));
}

static void
out_name(struct out *o, const char *name)
{
	size_t n = strlen(name);

	if (n > TS_NAME_MAX) {
		o->err = -EINVAL;
		return;
	}
	out_u8(o, (uint8_t)n);
	out_bytes(o, name, n);
}

int
ts_record_encode(int kind, const struct ts_ticket *t, const uint8_t *blob,
                 const unsigned char *mackey, uint8_t **out, size_t *outlen)
{
	struct out o = { 0 };
	size_t at;
	uint8_t *hdr, *mac = NULL;

	hdr = out_reserve(&o, HDR_LEN);
	if (hdr != NULL) {
		memcpy(hdr, MAGIC, 4);
		hdr[4] = 1;
		hdr[5] = (uint8_t)kind;
		hdr[6] = hdr[7] = 0;
	}
	at = tlv_begin(&o, TAG_ID);
	out_bytes(&o, t->id, strlen(t->id));
	tlv_end(&o, at);
	if (t->client_ip[0] != '\0') {
		at = tlv_begin(&o, TAG_CLIENT_IP);
		out_bytes(&o, t->client_ip, strlen(t->client_ip));
		tlv_end(&o, at);
	}
	if (kind == TS_REC_ERASE && t->erase != 0) {
		at = tlv_begin(&o, TAG_ERASE);
		out_u32(&o, t->erase);
		tlv_end(&o, at);
	}
	if (kind == TS_REC_PRUNE) {
		at = tlv_begin(&o, TAG_BEFORE);
		out_i64(&o, t->before_ms);
		tlv_end(&o, at);
	}
	if (kind == TS_REC_TICKET) {
		at = tlv_begin(&o, TAG_CREATED);
		out_i64(&o, t->created_ms);
		tlv_end(&o, at);
		at = tlv_begin(&o, TAG_STATUS);
		out_u8(&o, (uint8_t)t->status);
		tlv_end(&o, at);
		if (t->processing_ms) {
			at = tlv_begin(&o, TAG_PROCESSING);
			out_i64(&o, t->processing_ms);
			tlv_end(&o, at);
		}
		if (t->processed_ms) {
			at = tlv_begin(&o, TAG_PROCESSED);
			out_i64(&o, t->processed_ms);
			tlv_end(&o, at);
		}
		if (t->forgotten_ms) {
			at = tlv_begin(&o, TAG_FORGOTTEN);
			out_i64(&o, t->forgotten_ms);
			tlv_end(&o, at);
		}
		if (t->shred_due_ms) {
			at = tlv_begin(&o, TAG_SHRED_DUE);
			out_i64(&o, t->shred_due_ms);
			tlv_end(&o, at);
		}
		if (t->keyed) {
			at = tlv_begin(&o, TAG_TKEY);
			out_bytes(&o, t->tpk, TS_TPK_BYTES);
			tlv_end(&o, at);
		}
		if (t->has_uhash) {
			at = tlv_begin(&o, TAG_UHASH);
			out_bytes(&o, t->uhash, TS_UHASH_BYTES);
			tlv_end(&o, at);
		}
		if (t->keybox.len != 0) {
			at = tlv_begin(&o, TAG_KEYBOX);
			out_bytes(&o, blob + t->keybox.off, t->keybox.len);
			tlv_end(&o, at);
		}
	}
	if (kind == TS_REC_TICKET || kind == TS_REC_FORGET) {
		for (int f = 0; f < TS_F_COUNT; f++) {
			if (t->field[f].len == 0)
				continue;
			at = tlv_begin(&o, (uint16_t)(TAG_FIELD + f));
			out_bytes(&o, blob + t->field[f].off, t->field[f].len);
			tlv_end(&o, at);
		}
	}
	for (size_t i = 0; i < t->nmsg; i++) {
		const struct ts_message *m = &t->msg[i];

		at = tlv_begin(&o, TAG_MESSAGE);
		out_name(&o, m->name);
		out_i64(&o, m->stored_ms);
		out_bytes(&o, blob + m->box.off, m->box.len);
		tlv_end(&o, at);
	}
	for (size_t i = 0; i < t->nauth; i++) {
		const struct ts_auth *a = &t->auth[i];

		at = tlv_begin(&o, TAG_AUTH);
		out_name(&o, a->name);
		out_i64(&o, a->created_ms);
		out_i64(&o, a->expires_ms);
		for (int f = 0; f < TS_A_COUNT; f++) {
			out_u32(&o, a->box[f].len);
			out_bytes(&o, blob + a->box[f].off, a->box[f].len);
		}
		tlv_end(&o, at);
	}
	if (mackey != NULL) {
		at = tlv_begin(&o, TAG_MAC);
		if (out_reserve(&o, TS_RECORD_MACBYTES) != NULL)
			mac = o.buf + o.len - TS_RECORD_MACBYTES;
		tlv_end(&o, at);
	}
	if (!o.err)
		ts_le32_put(o.buf + 8, (uint32_t)(o.len - HDR_LEN));
	/* Over everything before the MAC item, the final header included. */
	if (!o.err && mac != NULL)
		crypto_generichash(mac, TS_RECORD_MACBYTES, o.buf,
		                   (size_t)(mac - o.buf) - TLV_HDR, mackey,
		                   TS_RECORD_MACKEYBYTES);
	hdr = out_reserve(&o, SUM_LEN);
	if (o.err) {
		free(o.buf);
		return o.err;
	}
	ts_le64_put(hdr, XXH3_64bits(o.buf, o.len - SUM_LEN));
	*out = o.buf;
	*outlen = o.len;
	return 0;
}

/* A bounded reader over one TLV value. */
struct in {
	const uint8_t *base;	/* start of the record: offsets are from here */
	size_t pos, end;
};

static int
in_bytes(struct in *r, size_t n, size_t *at)
{
	if (r->end - r->pos < n)
		return -EBADMSG;
	*at = r->pos;
	r->pos += n;
	return 0;
}

static int
in_i64(struct in *r, int64_t *v)
{
	size_t at;

	if (in_bytes(r, 8, &at))
		return -EBADMSG;
	*v = (int64_t)ts_le64_get(r->base + at);
	return 0;
}

static int
in_name(struct in *r, char name[TS_NAME_MAX + 1])
{
	size_t at, n;

	if (in_bytes(r, 1, &at))
		return -EBADMSG;
	n = r->base[at];
	if (n > TS_NAME_MAX || in_bytes(r, n, &at))
		return -EBADMSG;
	memcpy(name, r->base + at, n);
	name[n] = '\0';
	/* strlen: a NUL inside would cut the name short yet pass. */
	return ts_name_valid(name) && strlen(name) == n ? 0 : -EBADMSG;
}

/* A box of n bytes at the reader: absent if n = 0, else at least a seal. */
static int
in_box(struct in *r, size_t n, struct ts_box *box)
{
	size_t at;

	if (n != 0 && n < TS_SEAL_OVERHEAD)
		return -EBADMSG;
	if (in_bytes(r, n, &at))
		return -EBADMSG;
	box->off = (uint32_t)at;
	box->len = (uint32_t)n;
	return 0;
}

static int
decode_message(struct in *r, struct ts_ticket *t)
{
	struct ts_message *m;
	char name[TS_NAME_MAX + 1];
	int64_t stored;

	/* Repeated names are refused once all are read (msg_names_unique):
	 * a search here would make 65,535 messages cost seconds. */
	if (in_name(r, name) || in_i64(r, &stored) || stored <= 0 ||
	    t->nmsg >= TS_MSG_PER_TICKET)
		return -EBADMSG;
	if ((m = ts_ticket_add_msg(t)) == NULL)
		return -ENOMEM;
	memcpy(m->name, name, sizeof(name));
	m->stored_ms = stored;
	if (r->end - r->pos == 0)
		return -EBADMSG;
	return in_box(r, r->end - r->pos, &m->box);
}

static int
cmp_name_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* 0 if no two messages share a name (sorted: n log n), else -EBADMSG. */
static int
msg_names_unique(const struct ts_ticket *t)
{
	const char **v;
	int rc = 0;

	if (t->nmsg < 2)
		return 0;
	if ((v = malloc(t->nmsg * sizeof(*v))) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < t->nmsg; i++)
		v[i] = t->msg[i].name;
	qsort(v, t->nmsg, sizeof(*v), cmp_name_ptr);
	for (size_t i = 1; i < t->nmsg && rc == 0; i++)
		if (strcmp(v[i - 1], v[i]) == 0)
			rc = -EBADMSG;
	free(v);
	return rc;
}

static int
decode_auth(struct in *r, struct ts_ticket *t)
{
	struct ts_auth *a;
	char name[TS_NAME_MAX + 1];
	size_t at;

	if (in_name(r, name) || ts_ticket_find_auth(t, name) != NULL ||
	    t->nauth >= TS_AUTH_PER_TICKET)
		return -EBADMSG;
	if ((a = ts_ticket_add_auth(t)) == NULL)
		return -ENOMEM;
	memcpy(a->name, name, sizeof(name));
	if (in_i64(r, &a->created_ms) || in_i64(r, &a->expires_ms))
		return -EBADMSG;
	for (int f = 0; f < TS_A_COUNT; f++) {
		if (in_bytes(r, 4, &at) ||
		    in_box(r, ts_le32_get(r->base + at), &a->box[f]))
			return -EBADMSG;
	}
	return r->pos == r->end ? 0 : -EBADMSG;
}

/* Checks what each kind requires once all items are read. */
static int
check_kind(int kind, const struct ts_ticket *t, unsigned seen)
{
	unsigned fields = 0, id = 1u << TAG_ID;

	if (!(seen & id) || !ts_id_valid(t->id))
		return -EBADMSG;
	for (int f = 0; f < TS_F_COUNT; f++)
		if (t->field[f].len != 0)
			fields |= 1u << f;
	/* Any intake record may say where its client called from. */
	seen &= ~(1u << TAG_CLIENT_IP);
	switch (kind) {
	case TS_REC_TICKET:
		if (!(seen & 1u << TAG_CREATED) || !(seen & 1u << TAG_STATUS) ||
		    t->created_ms <= 0 || t->status < 0 ||
		    t->status >= TS_STATUS_COUNT)
			return -EBADMSG;
		if ((seen & 1u << TAG_KEYBOX || seen & 1u << TAG_SHRED_DUE) &&
		    !t->keyed)
			return -EBADMSG;
		/* An authorization's fields may be removed one by one. */
		if ((t->status == TS_PROCESSED) != (t->processed_ms != 0))
			return -EBADMSG;
		return 0;
	case TS_REC_MESSAGE:
		return !fields && t->nmsg == 1 && t->nauth == 0 &&
		       seen == id ? 0 : -EBADMSG;
	case TS_REC_AUTH:
		if (fields || t->nmsg != 0 || t->nauth != 1 || seen != id)
			return -EBADMSG;
		return t->auth[0].box[TS_A_ACCOUNT].len &&
		       t->auth[0].box[TS_A_PASSWORD].len ? 0 : -EBADMSG;
	case TS_REC_REVOKE:
		if (fields || t->nmsg != 0 || t->nauth != 1 || seen != id)
			return -EBADMSG;
		for (int f = 0; f < TS_A_COUNT; f++)
			if (t->auth[0].box[f].len != 0)
				return -EBADMSG;
		return 0;
	case TS_REC_FORGET:
		return fields == 1u << TS_F_USERNAME && t->nmsg == 0 &&
		       t->nauth == 0 &&
		       seen == (id | 1u << (TAG_FIELD + TS_F_USERNAME)) ?
		       0 : -EBADMSG;
	case TS_REC_ERASE:
		return !fields && t->nmsg == 0 && t->nauth == 0 &&
		       (seen & ~(1u << TAG_ERASE)) == id ? 0 : -EBADMSG;
	case TS_REC_PRUNE:
		return !fields && t->nmsg == 0 && t->nauth == 0 &&
		       seen == (id | 1u << TAG_BEFORE) ? 0 : -EBADMSG;
	}
	return -EBADMSG;
}

/* A client address: 1..45 bytes of an IPv4 or IPv6 address's text. */
static int
decode_client_ip(const uint8_t *v, size_t n, char out[TS_CLIENT_IP_MAX + 1])
{
	unsigned char addr[16];

	if (n == 0 || n > TS_CLIENT_IP_MAX || memchr(v, '\0', n) != NULL)
		return -EBADMSG;
	memcpy(out, v, n);
	out[n] = '\0';
	return inet_pton(AF_INET, out, addr) == 1 ||
	       inet_pton(AF_INET6, out, addr) == 1 ? 0 : -EBADMSG;
}

static int
decode_body(const uint8_t *buf, size_t len, int kind, struct ts_ticket *t)
{
	size_t pos = HDR_LEN, end = len - SUM_LEN;
	unsigned seen = 0;	/* bit per scalar tag, to refuse duplicates */
	int rc;

	while (pos < end) {
		uint16_t tag;
		size_t vlen;
		struct in r;

		if (end - pos < TLV_HDR)
			return -EBADMSG;
		tag = ts_le16_get(buf + pos);
		vlen = ts_le32_get(buf + pos + 2);
		pos += TLV_HDR;
		if (vlen > end - pos)
			return -EBADMSG;
		r = (struct in){ buf, pos, pos + vlen };
		pos += vlen;
		if (tag < TAG_MESSAGE) {
			if (seen & 1u << tag)
				return -EBADMSG;
			seen |= 1u << tag;
		}
		switch (tag) {
		case TAG_ID:
			if (vlen == 0 || vlen > TS_NAME_MAX ||
			    memchr(buf + r.pos, '\0', vlen) != NULL)
				return -EBADMSG;
			memcpy(t->id, buf + r.pos, vlen);
			t->id[vlen] = '\0';
			break;
		case TAG_CREATED:
			if (vlen != 8 || in_i64(&r, &t->created_ms))
				return -EBADMSG;
			break;
		case TAG_STATUS:
			if (vlen != 1)
				return -EBADMSG;
			t->status = buf[r.pos];
			break;
		case TAG_PROCESSING:
			if (vlen != 8 || in_i64(&r, &t->processing_ms) ||
			    t->processing_ms <= 0)
				return -EBADMSG;
			break;
		case TAG_PROCESSED:
			if (vlen != 8 || in_i64(&r, &t->processed_ms) ||
			    t->processed_ms <= 0)
				return -EBADMSG;
			break;
		case TAG_FORGOTTEN:
			if (vlen != 8 || in_i64(&r, &t->forgotten_ms) ||
			    t->forgotten_ms <= 0)
				return -EBADMSG;
			break;
		case TAG_SHRED_DUE:
			if (vlen != 8 || in_i64(&r, &t->shred_due_ms) ||
			    t->shred_due_ms <= 0)
				return -EBADMSG;
			break;
		case TAG_TKEY:
			if (vlen != TS_TPK_BYTES)
				return -EBADMSG;
			memcpy(t->tpk, buf + r.pos, TS_TPK_BYTES);
			t->keyed = 1;
			break;
		case TAG_UHASH:
			if (vlen != TS_UHASH_BYTES)
				return -EBADMSG;
			memcpy(t->uhash, buf + r.pos, TS_UHASH_BYTES);
			t->has_uhash = 1;
			break;
		case TAG_KEYBOX:
			if (vlen != TS_SEAL_OVERHEAD + crypto_box_SECRETKEYBYTES ||
			    in_box(&r, vlen, &t->keybox))
				return -EBADMSG;
			break;
		case TAG_CLIENT_IP:
			if (decode_client_ip(buf + r.pos, vlen, t->client_ip) < 0)
				return -EBADMSG;
			break;
		case TAG_ERASE:
			if (vlen != 4)
				return -EBADMSG;
			t->erase = ts_le32_get(buf + r.pos);
			if (t->erase == 0 || t->erase >> TS_F_COUNT != 0)
				return -EBADMSG;
			break;
		case TAG_BEFORE:
			if (vlen != 8 || in_i64(&r, &t->before_ms) ||
			    t->before_ms <= 0)
				return -EBADMSG;
			break;
		case TAG_MESSAGE:
			if ((rc = decode_message(&r, t)) < 0)
				return rc;
			break;
		case TAG_AUTH:
			if ((rc = decode_auth(&r, t)) < 0)
				return rc;
			break;
		case TAG_MAC:	/* checked by ts_record_verify_mac() */
			if (vlen != TS_RECORD_MACBYTES || pos != end)
				return -EBADMSG;
			break;
		default:
			if (tag >= TAG_FIELD && tag < TAG_FIELD + TS_F_COUNT &&
			    vlen > 0) {
				if (in_box(&r, vlen, &t->field[tag - TAG_FIELD]))
					return -EBADMSG;
				break;
			}
			return -EBADMSG;
		}
	}
	if ((rc = msg_names_unique(t)) < 0)
		return rc;
	return check_kind(kind, t, seen);
}

int
ts_record_decode(const uint8_t *buf, size_t len, int *kind,
                 struct ts_ticket *t)
{
	int rc;

	memset(t, 0, sizeof(*t));
	if (len < HDR_LEN + SUM_LEN || len > TS_RECORD_MAX)
		return -EBADMSG;
	if (XXH3_64bits(buf, len - SUM_LEN) != ts_le64_get(buf + len - SUM_LEN))
		return -EBADMSG;
	if (memcmp(buf, MAGIC, 4) != 0 || buf[4] != 1 || buf[6] || buf[7] ||
	    ts_le32_get(buf + 8) != len - HDR_LEN - SUM_LEN)
		return -EBADMSG;
	*kind = buf[5];
	if ((rc = decode_body(buf, len, *kind, t)) < 0)
		ts_ticket_release(t);
	return rc;
}

size_t
ts_record_size(const uint8_t *buf)
{
	return HDR_LEN + (size_t)ts_le32_get(buf + 8) + SUM_LEN;
}

int
ts_record_verify_mac(const uint8_t *buf, size_t len,
                     const unsigned char key[TS_RECORD_MACKEYBYTES])
{
	unsigned char want[TS_RECORD_MACBYTES];
	size_t item;

	if (len < HDR_LEN + TLV_HDR + TS_RECORD_MACBYTES + SUM_LEN)
		return -EKEYREJECTED;
	item = len - SUM_LEN - TS_RECORD_MACBYTES - TLV_HDR;
	if (ts_le16_get(buf + item) != TAG_MAC ||
	    ts_le32_get(buf + item + 2) != TS_RECORD_MACBYTES)
		return -EKEYREJECTED;
	crypto_generichash(want, sizeof(want), buf, item, key,
	                   TS_RECORD_MACKEYBYTES);
	return sodium_memcmp(want, buf + item + TLV_HDR, sizeof(want)) == 0 ?
	       0 : -EKEYREJECTED;
}
