/*
 * audit_prune: retention of the trail.  The anchor: the last pruned
 * entry's (seq, hash) signed with the checkpoint key, from which the chain
 * of what remains runs on and which a verify checks; a prune (the sink
 * removes, then the prune's own entry).  And the segment sink's removal:
 * whole segments go from the start, never the current one; before they
 * go, STORE/audit/anchor is written.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "store/audit_priv.h"
#include "store/sysio.h"
#include "store/util.h"

static const char ANCHOR_DOMAIN[] = "ticketfs-audit-anchor-v1";

static void
anchor_message(uint64_t seq, const unsigned char hash[HASHBYTES],
               unsigned char msg[sizeof(ANCHOR_DOMAIN) + 8 + HASHBYTES])
{
	memcpy(msg, ANCHOR_DOMAIN, sizeof(ANCHOR_DOMAIN));
	ts_le64_put(msg + sizeof(ANCHOR_DOMAIN), seq);
	memcpy(msg + sizeof(ANCHOR_DOMAIN) + 8, hash, HASHBYTES);
}

size_t
ts_audit_anchor_sign(const struct ts_audit *a, uint64_t seq,
                     const unsigned char hash[HASHBYTES],
                     struct ts_audit_checkpoint *an, char text[512])
{
	unsigned char msg[sizeof(ANCHOR_DOMAIN) + 8 + HASHBYTES];
	char hh[2 * HASHBYTES + 1], sh[2 * crypto_sign_BYTES + 1];

	anchor_message(seq, hash, msg);
	crypto_sign_detached(an->sig, NULL, msg, sizeof(msg), a->sign_sk);
	an->seq = seq;
	memcpy(an->hash, hash, HASHBYTES);
	ts_audit_hex(hash, HASHBYTES, hh);
	ts_audit_hex(an->sig, sizeof(an->sig), sh);
	snprintf(text, 512, "{\"seq\":%llu,\"hash\":\"%s\",\"sig\":\"%s\"}\n",
	         (unsigned long long)seq, hh, sh);
	return strlen(text);
}

int
ts_audit_anchor_check(const struct ts_audit_checkpoint *an,
                      const unsigned char vk[32])
{
	unsigned char msg[sizeof(ANCHOR_DOMAIN) + 8 + HASHBYTES];

	if (an->seq == 0)
		return -EBADMSG;
	anchor_message(an->seq, an->hash, msg);
	return crypto_sign_verify_detached(an->sig, msg, sizeof(msg), vk) == 0 ?
	       0 : -EBADMSG;
}

int
ts_audit_anchor_load(int dirfd, const unsigned char *vk,
                     struct ts_audit_checkpoint *an)
{
	unsigned char *text;
	size_t len;
	int rc;

	if ((rc = ts_sysio_read_file(dirfd, ANCHOR, 4096, &text, &len)) < 0)
		return rc;
	rc = ts_audit_checkpoint_parse(text, len, an);
	free(text);
	if (rc < 0 || an->seq == 0)
		return -EBADMSG;
	return vk == NULL ? 0 : ts_audit_anchor_check(an, vk);
}

/* Writes the anchor (seq, hash), signed, durably. */
static int
anchor_write(struct ts_audit *a, uint64_t seq,
             const unsigned char hash[HASHBYTES])
{
	struct ts_audit_checkpoint an;
	char text[512];
	size_t len = ts_audit_anchor_sign(a, seq, hash, &an, text);

	return ts_sysio_write_atomic(a->dirfd, ANCHOR, text, len, 0644, 0);
}

int
ts_audit_segment_last(int dirfd, unsigned n, uint64_t *seq,
                      unsigned char hash[HASHBYTES], int64_t *ms)
{
	char name[32], buf[2 * LINE_MAX_AUDIT + 1], *end, *start, *h;
	const char *t;
	struct { off_t size; } sz;
	json_t *j;
	ssize_t r;
	size_t want;
	int fd, rc = -EBADMSG;

	ts_audit_segment_name(n, name);
	if ((fd = ts_sysio_openat(dirfd, name, O_RDONLY | O_NONBLOCK, 0)) < 0)
		return fd;
	if ((sz.size = lseek(fd, 0, SEEK_END)) < 0) {
		rc = -errno;
		goto out;
	}
	want = sz.size < 2 * LINE_MAX_AUDIT ? (size_t)sz.size : 2 * LINE_MAX_AUDIT;
	if ((r = ts_sysio_pread(fd, buf, want, sz.size - (off_t)want)) < 0) {
		rc = (int)r;
		goto out;
	}
	buf[r] = '\0';
	if ((end = strrchr(buf, '\n')) == NULL) {
		rc = 1;
		goto out;
	}
	*end = '\0';
	start = strrchr(buf, '\n');
	start = start ? start + 1 : buf;
	if ((h = strstr(start, ",\"hash\":\"")) == NULL ||
	    ts_audit_unhex(h + 9, 2 * HASHBYTES, hash, HASHBYTES) < 0 ||
	    (j = json_loads(start, 0, NULL)) == NULL)
		goto out;
	*seq = (uint64_t)json_integer_value(json_object_get(j, "seq"));
	t = json_string_value(json_object_get(j, "time"));
	rc = t != NULL && ts_time_parse(t, ms) == 0 ? 0 : -EBADMSG;
	json_decref(j);
out:
	close(fd);
	return rc;
}

/*
 * 0 if the last line of segment n is the chain's step from the line
 * before it, or from prev when it is the segment's only line; else
 * -EBADMSG.  A prune trusts that line's time and signs its hash into the
 * anchor: the hash is what the next entry chains from (verify checks it
 * against the anchor), so only the time could be edited unseen, and this
 * catches that.
 */
static int
tail_sound(int dirfd, unsigned n, const unsigned char prev[HASHBYTES])
{
	size_t cap = 3 * LINE_MAX_AUDIT;
	char name[32], *buf = malloc(cap + 1), *end, *start, *h, *ph;
	unsigned char want[HASHBYTES], got[HASHBYTES], p[HASHBYTES];
	off_t size;
	ssize_t r;
	size_t want_n;
	int fd, rc = -EBADMSG;

	if (buf == NULL)
		return -ENOMEM;
	ts_audit_segment_name(n, name);
	if ((fd = ts_sysio_openat(dirfd, name, O_RDONLY | O_NONBLOCK, 0)) < 0) {
		free(buf);
		return fd;
	}
	if ((size = lseek(fd, 0, SEEK_END)) < 0) {
		rc = -errno;
		goto out;
	}
	want_n = (uint64_t)size < cap ? (size_t)size : cap;
	if ((r = ts_sysio_pread(fd, buf, want_n, size - (off_t)want_n)) < 0) {
		rc = (int)r;
		goto out;
	}
	buf[r] = '\0';
	if ((end = strrchr(buf, '\n')) == NULL)
		goto out;
	*end = '\0';
	start = strrchr(buf, '\n');
	if (start != NULL) {		/* the line before, in this segment */
		*start++ = '\0';
		ph = strrchr(buf, '\n');
		ph = ph ? ph + 1 : buf;
		if (ph == buf && (size_t)r < (size_t)size)
			goto out;	/* longer than a line can be */
		if ((ph = strstr(ph, ",\"hash\":\"")) == NULL ||
		    ts_audit_unhex(ph + 9, 2 * HASHBYTES, p, HASHBYTES) < 0)
			goto out;
	} else if ((size_t)r == (size_t)size) {
		start = buf;
		memcpy(p, prev, HASHBYTES);
	} else {
		goto out;
	}
	if ((h = strstr(start, ",\"hash\":\"")) == NULL ||
	    ts_audit_unhex(h + 9, 2 * HASHBYTES, got, HASHBYTES) < 0)
		goto out;
	ts_audit_chain(p, start, (size_t)(h - start), want);
	rc = sodium_memcmp(want, got, HASHBYTES) == 0 ? 0 : -EBADMSG;
out:
	close(fd);
	free(buf);
	return rc;
}

int64_t
ts_audit_file_prune_next(struct ts_audit *a)
{
	int64_t ms = INT64_MAX;

	pthread_mutex_lock(&a->lock);
	if (a->first < a->segno) {
		if (a->first_newest_ms == 0) {
			uint64_t seq;
			unsigned char h[HASHBYTES], prev[HASHBYTES] = { 0 };
			int64_t t;

			if (a->have_anchor)
				memcpy(prev, a->anchor_hash, HASHBYTES);
			/* A time edited (into the future: never due) shows
			 * as a tail that does not chain; an anchor past it
			 * (a crash mid-prune) covers it already. */
			if (ts_audit_segment_last(a->dirfd, a->first, &seq, h,
			                          &t) == 0) {
				a->first_newest_ms = t;
				if ((!a->have_anchor || seq > a->anchor_seq) &&
				    tail_sound(a->dirfd, a->first, prev) ==
				    -EBADMSG) {
					a->first_newest_ms = INT64_MAX;
					ms = INT64_MIN;
				}
			}
		}
		if (a->first_newest_ms != 0 && ms != INT64_MIN)
			ms = a->first_newest_ms;
	}
	pthread_mutex_unlock(&a->lock);
	return ms;
}

int
ts_audit_file_prune(struct ts_audit *a, int64_t before_ms,
                    struct ts_audit_pruned *out)
{
	unsigned char hash[HASHBYTES], prev[HASHBYTES] = { 0 },
	              seq_prev[HASHBYTES];
	uint64_t seq = 0, removed = 0, from;
	unsigned k, i, seq_seg = 0;
	int rc = 0;

	pthread_mutex_lock(&a->lock);
	from = a->have_anchor ? a->anchor_seq : 0;
	if (a->have_anchor)
		memcpy(prev, a->anchor_hash, HASHBYTES);
	/* The oldest segments whose newest entry is older than before_ms,
	 * never the one being written. */
	for (k = a->first; k < a->segno; k++) {
		uint64_t s;
		unsigned char h[HASHBYTES];
		int64_t ms;

		rc = ts_audit_segment_last(a->dirfd, k, &s, h, &ms);
		if (rc < 0) {	/* damaged: not retried every tick */
			a->first_newest_ms = INT64_MAX;
			goto out_unlock;
		}
		if (rc == 0 && ms >= before_ms)
			break;
		if (rc == 0) {
			seq = s;
			memcpy(hash, h, HASHBYTES);
			memcpy(seq_prev, prev, HASHBYTES);
			memcpy(prev, h, HASHBYTES);
			seq_seg = k;
		}
		rc = 0;
	}
	if (k == a->first)
		goto out_unlock;	/* nothing old enough */
	/* The last entry to go is the one whose time decided and whose
	 * hash the anchor signs: it must be the chain's own.  Refused once;
	 * the policy's ticker then leaves the trail alone until a restart. */
	if (seq > from && (rc = tail_sound(a->dirfd, seq_seg, seq_prev)) < 0) {
		a->first_newest_ms = INT64_MAX;
		goto out_unlock;
	}
	/* The anchor first: a crash before the segments go leaves entries
	 * the anchor also covers, which verify accepts. */
	if (seq > from && (rc = anchor_write(a, seq, hash)) < 0)
		goto out_unlock;
	for (i = a->first; i < k; i++) {
		char name[32];

		ts_audit_segment_name(i, name);
		if ((rc = ts_sysio_unlinkat(a->dirfd, name, 0)) < 0 &&
		    rc != -ENOENT)
			break;
		rc = 0;
		out->segments++;
		removed += a->segsize[i - 1];
		a->total -= a->segsize[i - 1];
		a->segsize[i - 1] = 0;
		a->first = i + 1;
	}
	ts_sysio_fsync(a->dirfd);
	a->first_newest_ms = 0;
	/* Followers keep their offsets: what went reads as blanks. */
	if (a->readers > 0)
		a->hole += removed;
	if (seq > from) {
		a->have_anchor = 1;
		a->anchor_seq = seq;
		memcpy(a->anchor_hash, hash, HASHBYTES);
	}
out_unlock:
	out->entries = seq > from ? seq - from : 0;
	out->first_seq = (a->have_anchor ? a->anchor_seq : 0) + 1;
	pthread_mutex_unlock(&a->lock);
	return rc;
}

int64_t
ts_audit_prune_next(struct ts_audit *a)
{
	return a->ops->prune_next(a);
}

int
ts_audit_prune(struct ts_audit *a, int64_t before_ms,
               const struct ts_audit_entry *who, struct ts_audit_pruned *out)
{
	struct ts_audit_entry e = *who;
	char detail[256], t[32], segs[48] = "";
	int rc;

	memset(out, 0, sizeof(*out));
	if ((rc = a->ops->prune(a, before_ms, out)) < 0)
		return rc;
	if (a->ops->segmented)
		snprintf(segs, sizeof(segs), " in %u segment%s", out->segments,
		         out->segments == 1 ? "" : "s");
	ts_time_format(before_ms, t);
	snprintf(detail, sizeof(detail), "%llu entr%s%s pruned before seq %llu "
	         "(newest entry before %s)", (unsigned long long)out->entries,
	         out->entries == 1 ? "y" : "ies", segs,
	         (unsigned long long)out->first_seq, t);
	e.op = "prune";
	e.detail = detail;
	if (e.path == NULL)
		e.path = "";
	return ts_audit_append(a, &e);
}
