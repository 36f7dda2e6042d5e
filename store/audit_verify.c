/*
 * audit_verify: checks a trail from outside the daemon (ticketctl audit
 * verify): a chain walked entry by entry against its anchor, signed
 * checkpoint and a checkpoint copy (any sink's: audit_priv.h), and a
 * directory store's trail across its segments.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "store/audit_priv.h"
#include "store/sysio.h"

int
ts_audit_bad(char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, msglen, fmt, ap);
	va_end(ap);
	return 1;
}

void
ts_audit_walk_init(struct ts_audit_walk *w, const char *who)
{
	memset(w, 0, sizeof(*w));
	w->who = who;
}

void
ts_audit_walk_from_anchor(struct ts_audit_walk *w)
{
	w->base = w->seq = w->an.seq;
	memcpy(w->hash, w->an.hash, HASHBYTES);
}

int
ts_audit_walk_line(struct ts_audit_walk *w, char *p, size_t ll,
                   const char *where, char *msg, size_t msglen)
{
	unsigned long long seq = (unsigned long long)w->seq;
	unsigned char want[HASHBYTES], got[HASHBYTES];
	const char *host;
	json_t *j;
	char *h;
	int bad;

	h = ll > SUFFIX_LEN - 1 ? p + ll - (SUFFIX_LEN - 1) : NULL;
	j = json_loadb(p, ll, 0, NULL);
	if (h == NULL || strncmp(h, ",\"hash\":\"", 9) != 0 ||
	    strcmp(h + 9 + 2 * HASHBYTES, "\"}") != 0 ||
	    ts_audit_unhex(h + 9, 2 * HASHBYTES, got, HASHBYTES) < 0 ||
	    j == NULL) {
		json_decref(j);
		return ts_audit_bad(msg, msglen, "%sentry %llu%s: not an audit "
		                    "entry", w->who, seq + 1, where);
	}
	if ((unsigned long long)json_integer_value(json_object_get(j, "seq"))
	    != seq + 1) {
		unsigned long long got_seq = (unsigned long long)
		        json_integer_value(json_object_get(j, "seq"));

		json_decref(j);
		if (w->seq == w->base && w->have_an && w->base > 0)
			return ts_audit_bad(msg, msglen, "%sentries %llu to %llu "
			                    "are missing: the signed anchor covers "
			                    "entries up to %llu only", w->who,
			                    seq + 1, got_seq - 1, seq);
		return ts_audit_bad(msg, msglen, "%sentry %llu%s: out of sequence "
		                    "(removed, inserted or reordered)", w->who,
		                    seq + 1, where);
	}
	/* A chain of one host's: an entry naming another was moved here
	 * (one from before "host", or migrated from a directory store's
	 * trail of then, names none). */
	host = json_string_value(json_object_get(j, "host"));
	bad = w->host != NULL && host != NULL && strcmp(host, w->host) != 0;
	json_decref(j);
	if (bad)
		return ts_audit_bad(msg, msglen, "%sentry %llu%s: another host's "
		                    "entry (moved between chains)", w->who,
		                    seq + 1, where);
	ts_audit_chain(w->hash, p, (size_t)(h - p), want);
	if (sodium_memcmp(want, got, HASHBYTES) != 0)
		return ts_audit_bad(msg, msglen, "%sentry %llu%s: hash chain broken "
		                    "(edited, removed, inserted or reordered)",
		                    w->who, seq + 1, where);
	memcpy(w->hash, got, HASHBYTES);
	seq = ++w->seq;
	if (w->progress != NULL && seq % TS_AUDIT_PROGRESS_EVERY == 0)
		w->progress(w->progress_arg, seq,
		            w->found_cp ? (w->cp.seq > seq ? w->cp.seq : seq) : 0);
	if (w->have_an && w->seq == w->an.seq &&
	    sodium_memcmp(w->hash, w->an.hash, HASHBYTES) != 0)
		return ts_audit_bad(msg, msglen, "%sentry %llu%s: differs from the "
		                    "signed anchor (the chain was rewritten)",
		                    w->who, seq, where);
	if (w->found_cp && w->seq == w->cp.seq &&
	    sodium_memcmp(w->hash, w->cp.hash, HASHBYTES) != 0)
		return ts_audit_bad(msg, msglen, "%sentry %llu%s: differs from the "
		                    "signed checkpoint (the chain was rewritten)",
		                    w->who, seq, where);
	if (w->copy != NULL && w->seq == w->copy->seq) {
		if (sodium_memcmp(w->hash, w->copy->hash, HASHBYTES) == 0)
			w->copy_matched = 1;
		else if (!w->copy_any)
			return ts_audit_bad(msg, msglen, "%sentry %llu%s: differs "
			                    "from the checkpoint copy (the chain "
			                    "was rewritten)", w->who, seq, where);
	}
	return 0;
}

int
ts_audit_walk_end(struct ts_audit_walk *w, char *msg, size_t msglen)
{
	unsigned long long seq = (unsigned long long)w->seq,
	                   cpseq = (unsigned long long)w->cp.seq,
	                   base = (unsigned long long)w->base;
	const struct ts_audit_checkpoint *copy = w->copy;

	/* At the anchor's seq (pruned), the anchor's hash is the entry's. */
	if (base > 0 && ((w->found_cp && cpseq == base &&
	                  sodium_memcmp(w->cp.hash, w->an.hash, HASHBYTES) != 0) ||
	                 (copy != NULL && !w->copy_any && copy->seq == base &&
	                  sodium_memcmp(copy->hash, w->an.hash, HASHBYTES) != 0)))
		return ts_audit_bad(msg, msglen, "%sentry %llu: the signed anchor "
		                    "differs from the checkpoint (the chain was "
		                    "rewritten)", w->who, base);
	if (copy != NULL && copy->seq <= base && (copy->seq < base ||
	    sodium_memcmp(copy->hash, w->an.hash, HASHBYTES) == 0))
		w->copy_matched = 1;	/* pruned: the anchor vouches */
	/* Nothing after the anchor, though the checkpoint is further on. */
	if (w->have_an && base > 0 && seq == base && w->found_cp &&
	    cpseq > seq)
		return ts_audit_bad(msg, msglen, "%sentries %llu to %llu are "
		                    "missing: the signed anchor covers entries up "
		                    "to %llu only", w->who, seq + 1, cpseq, seq);
	if (!w->found_cp && seq > base)
		return ts_audit_bad(msg, msglen, "%sno signed checkpoint: the tail "
		                    "cannot be checked", w->who);
	if (w->found_cp && seq < cpseq)
		return ts_audit_bad(msg, msglen, "%sthe trail ends at entry %llu but "
		                    "the signed checkpoint covers entry %llu: "
		                    "entries were removed", w->who, seq, cpseq);
	if (copy != NULL && w->copy_any && !w->copy_matched)
		return 0;	/* the copy is not of this chain */
	if (copy != NULL && seq < copy->seq)
		return ts_audit_bad(msg, msglen, "%sthe trail ends at entry %llu but "
		                    "the checkpoint copy covers entry %llu: entries "
		                    "were removed (an old checkpoint put back?)",
		                    w->who, seq, (unsigned long long)copy->seq);
	if (copy != NULL && cpseq < copy->seq)
		return ts_audit_bad(msg, msglen, "%sthe signed checkpoint is at "
		                    "entry %llu but the checkpoint copy at entry "
		                    "%llu: an old checkpoint was put back", w->who,
		                    cpseq, (unsigned long long)copy->seq);
	return 0;
}

int
ts_audit_verify(int storefd, const unsigned char *verify_key,
                const struct ts_audit_checkpoint *copy, char *msg,
                size_t msglen, uint64_t *entries)
{
	return ts_audit_verify_progress(storefd, verify_key, copy, msg, msglen,
	                                entries, NULL, NULL);
}

int
ts_audit_verify_progress(int storefd, const unsigned char *verify_key,
                         const struct ts_audit_checkpoint *copy, char *msg,
                         size_t msglen, uint64_t *entries,
                         ts_audit_progress_fn fn, void *arg)
{
	unsigned char vk[32];
	struct ts_audit_walk w;
	unsigned char *text = NULL;
	unsigned long long seq, cpseq, base;
	int dirfd, rc;
	unsigned first, nseg;
	size_t len;

	*entries = 0;
	ts_audit_walk_init(&w, "");
	w.copy = copy;
	w.progress = fn;
	w.progress_arg = arg;
	if ((dirfd = ts_sysio_openat(storefd, "audit", O_RDONLY | O_DIRECTORY,
	                             0)) < 0) {
		snprintf(msg, msglen, "no audit trail: %s", strerror(-dirfd));
		return dirfd;
	}
	rc = ts_audit_list_segments(dirfd, &first, &nseg);
	if (rc == -EBADMSG) {
		rc = ts_audit_bad(msg, msglen, "a segment is missing (numbering has a "
		         "gap)");
		goto out;
	}
	if (rc < 0)
		goto out;
	/* The key to trust, and the latest signed checkpoint. */
	if (verify_key != NULL) {
		memcpy(vk, verify_key, sizeof(vk));
	} else if (ts_sysio_read_file(dirfd, VERIFY_KEY, 1024, &text, &len) < 0 ||
	           len < 64 ||
	           ts_audit_unhex((char *)text, 64, vk, sizeof(vk)) < 0) {
		free(text);
		rc = ts_audit_bad(msg, msglen, "audit/verify.key is missing or damaged"
		         );
		goto out;
	} else {
		free(text);
	}
	text = NULL;
	if (ts_sysio_read_file(dirfd, CHECKPOINT, 4096, &text, &len) == 0) {
		rc = ts_audit_checkpoint_parse(text, len, &w.cp);
		free(text);
		if (rc < 0) {
			rc = ts_audit_bad(msg, msglen, "audit/checkpoint is damaged");
			goto out;
		}
		if (ts_audit_checkpoint_check(&w.cp, vk) < 0) {
			rc = ts_audit_bad(msg, msglen, "audit/checkpoint (seq %llu) is not "
			         "signed by the store's key",
			         (unsigned long long)w.cp.seq);
			goto out;
		}
		w.found_cp = 1;
	}
	/* A prune's anchor: the chain of what remains runs on from it. */
	if ((rc = ts_audit_anchor_load(dirfd, vk, &w.an)) == 0) {
		w.have_an = 1;
		/* No segment at all: the daemon never prunes the current
		 * one, so they all went; the anchor says how far is covered. */
		if (first > 1 || nseg == 0)
			ts_audit_walk_from_anchor(&w);
	} else if (rc == -EBADMSG) {
		rc = ts_audit_bad(msg, msglen, "audit/anchor is damaged or not signed by "
		         "the store's key (forged?)");
		goto out;
	} else if (rc != -ENOENT) {
		goto out;
	} else if (first > 1) {
		if (first > 2)
			rc = ts_audit_bad(msg, msglen, "a segment is missing: segments 1 "
			         "to %u are gone and no signed anchor covers "
			         "them", first - 1);
		else
			rc = ts_audit_bad(msg, msglen, "a segment is missing: segment 1 "
			         "is gone and no signed anchor covers it");
		goto out;
	}
	if (copy != NULL && ts_audit_checkpoint_check(copy, vk) < 0) {
		rc = ts_audit_bad(msg, msglen, "the checkpoint copy (seq %llu) is not "
		         "signed by the store's key",
		         (unsigned long long)copy->seq);
		goto out;
	}
	for (unsigned i = first; i <= nseg; i++) {
		char name[32], *p, *end;
		unsigned lineno = 0;

		ts_audit_segment_name(i, name);
		if ((rc = ts_sysio_read_file(dirfd, name, 1u << 30, &text,
		                             &len)) < 0)
			goto out;
		for (p = (char *)text; p < (char *)text + len; p = end + 1) {
			char where[48];

			snprintf(where, sizeof(where), " (segment %u line %u)", i,
			         ++lineno);
			if ((end = memchr(p, '\n', (size_t)((char *)text + len - p)))
			    == NULL) {
				free(text);
				rc = ts_audit_bad(msg, msglen, "entry %llu%s: cut short",
				         (unsigned long long)w.seq + 1, where);
				goto out;
			}
			*end = '\0';
			if ((rc = ts_audit_walk_line(&w, p, (size_t)(end - p), where,
			                             msg, msglen)) != 0) {
				free(text);
				goto out;
			}
		}
		free(text);
	}
	*entries = w.seq - w.base;
	if ((rc = ts_audit_walk_end(&w, msg, msglen)) != 0)
		goto out;
	seq = (unsigned long long)w.seq;
	base = (unsigned long long)w.base;
	cpseq = (unsigned long long)w.cp.seq;
	if (base > 0)
		snprintf(msg, msglen, "audit trail intact: %llu entr%s in %u "
		         "segment%s, signed checkpoint at entry %llu%s; %llu "
		         "entr%s pruned before seq %llu (signed anchor)",
		         seq - base, seq - base == 1 ? "y" : "ies",
		         nseg - first + 1, nseg - first ? "s" : "",
		         cpseq, copy != NULL ?
		         ", not behind the checkpoint copy" : "", base,
		         base == 1 ? "y" : "ies", base + 1);
	else
		snprintf(msg, msglen, "audit trail intact: %llu entr%s in %u "
		         "segment%s, signed checkpoint at entry %llu%s", seq,
		         seq == 1 ? "y" : "ies", nseg, nseg == 1 ? "" : "s", cpseq, copy != NULL ?
		         ", not behind the checkpoint copy" : "");
	rc = 0;
out:
	close(dirfd);
	return rc;
}
