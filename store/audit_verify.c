/*
 * audit_verify: checks a trail from outside the daemon (ticketctl audit
 * verify): the chain entry by entry across segments, the signed checkpoint
 * and a checkpoint copy.
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

int
ts_audit_verify(int storefd, const unsigned char *verify_key,
                const struct ts_audit_checkpoint *copy, char *msg,
                size_t msglen, uint64_t *entries)
{
	unsigned char hash[HASHBYTES] = { 0 }, vk[32], cphash[HASHBYTES];
	struct ts_audit_checkpoint cp;
	unsigned char *text = NULL;
	unsigned long long seq = 0, cpseq = 0, base = 0;
	struct ts_audit_checkpoint an;
	int found_cp = 0, have_an = 0, dirfd, rc;
	unsigned first, nseg;
	size_t len;

	*entries = 0;
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
		rc = ts_audit_checkpoint_parse(text, len, &cp);
		free(text);
		if (rc < 0) {
			rc = ts_audit_bad(msg, msglen, "audit/checkpoint is damaged");
			goto out;
		}
		cpseq = (unsigned long long)cp.seq;
		memcpy(cphash, cp.hash, HASHBYTES);
		if (ts_audit_checkpoint_check(&cp, vk) < 0) {
			rc = ts_audit_bad(msg, msglen, "audit/checkpoint (seq %llu) is not "
			         "signed by the store's key", cpseq);
			goto out;
		}
		found_cp = 1;
	}
	/* A prune's anchor: the chain of what remains runs on from it. */
	if ((rc = ts_audit_anchor_load(dirfd, vk, &an)) == 0) {
		have_an = 1;
		if (first > 1) {
			base = seq = (unsigned long long)an.seq;
			memcpy(hash, an.hash, HASHBYTES);
		}
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
			unsigned char want[HASHBYTES], got[HASHBYTES];
			json_t *j;
			json_error_t je;
			size_t ll;
			char *h;

			lineno++;
			if ((end = memchr(p, '\n', (size_t)((char *)text + len - p)))
			    == NULL) {
				free(text);
				rc = ts_audit_bad(msg, msglen, "entry %llu (segment %u line "
				         "%u): cut short", seq + 1, i, lineno);
				goto out;
			}
			*end = '\0';
			ll = (size_t)(end - p);
			h = ll > SUFFIX_LEN - 1 ? p + ll - (SUFFIX_LEN - 1) : NULL;
			j = json_loads(p, 0, &je);
			if (h == NULL || strncmp(h, ",\"hash\":\"", 9) != 0 ||
			    strcmp(h + 9 + 2 * HASHBYTES, "\"}") != 0 ||
			    ts_audit_unhex(h + 9, 2 * HASHBYTES, got,
			                   HASHBYTES) < 0 ||
			    j == NULL) {
				json_decref(j);
				free(text);
				rc = ts_audit_bad(msg, msglen, "entry %llu (segment %u line "
				         "%u): not an audit entry", seq + 1, i,
				         lineno);
				goto out;
			}
			if ((unsigned long long)json_integer_value(
			        json_object_get(j, "seq")) != seq + 1) {
				unsigned long long got_seq = (unsigned long long)
				        json_integer_value(json_object_get(j, "seq"));

				json_decref(j);
				free(text);
				if (seq == base && have_an && first > 1) {
					rc = ts_audit_bad(msg, msglen, "entries %llu to %llu are "
					         "missing: the signed anchor covers "
					         "entries up to %llu only", seq + 1,
					         got_seq - 1, seq);
					goto out;
				}
				rc = ts_audit_bad(msg, msglen, "entry %llu (segment %u line "
				         "%u): out of sequence (removed, inserted "
				         "or reordered)", seq + 1, i, lineno);
				goto out;
			}
			json_decref(j);
			ts_audit_chain(hash, p, (size_t)(h - p), want);
			if (sodium_memcmp(want, got, HASHBYTES) != 0) {
				free(text);
				rc = ts_audit_bad(msg, msglen, "entry %llu (segment %u line "
				         "%u): hash chain broken (edited, removed, "
				         "inserted or reordered)", seq + 1, i, lineno);
				goto out;
			}
			memcpy(hash, got, HASHBYTES);
			seq++;
			if (have_an && seq == an.seq &&
			    sodium_memcmp(hash, an.hash, HASHBYTES) != 0) {
				free(text);
				rc = ts_audit_bad(msg, msglen, "entry %llu (segment %u line "
				         "%u): differs from the signed anchor (the "
				         "chain was rewritten)", seq, i, lineno);
				goto out;
			}
			if (found_cp && seq == cpseq &&
			    sodium_memcmp(hash, cphash, HASHBYTES) != 0) {
				free(text);
				rc = ts_audit_bad(msg, msglen, "entry %llu (segment %u line "
				         "%u): differs from the signed checkpoint "
				         "(the chain was rewritten)", seq, i, lineno);
				goto out;
			}
			if (copy != NULL && seq == copy->seq &&
			    sodium_memcmp(hash, copy->hash, HASHBYTES) != 0) {
				free(text);
				rc = ts_audit_bad(msg, msglen, "entry %llu (segment %u line "
				         "%u): differs from the checkpoint copy (the "
				         "chain was rewritten)", seq, i, lineno);
				goto out;
			}
		}
		free(text);
	}
	*entries = seq - base;
	/* At the anchor's seq (pruned), the anchor's hash is the entry's. */
	if (base > 0 && ((found_cp && cpseq == base &&
	                  sodium_memcmp(cphash, an.hash, HASHBYTES) != 0) ||
	                 (copy != NULL && copy->seq == base &&
	                  sodium_memcmp(copy->hash, an.hash, HASHBYTES) != 0))) {
		rc = ts_audit_bad(msg, msglen, "entry %llu: the signed anchor differs from "
		         "the checkpoint (the chain was rewritten)", base);
		goto out;
	}
	if (!found_cp && seq > base) {
		rc = ts_audit_bad(msg, msglen, "no signed checkpoint: the tail cannot be "
		         "checked");
		goto out;
	}
	if (found_cp && seq < cpseq) {
		rc = ts_audit_bad(msg, msglen, "the trail ends at entry %llu but the signed "
		         "checkpoint covers entry %llu: entries were removed",
		         seq, cpseq);
		goto out;
	}
	if (copy != NULL && seq < copy->seq) {
		rc = ts_audit_bad(msg, msglen, "the trail ends at entry %llu but the "
		         "checkpoint copy covers entry %llu: entries were removed "
		         "(an old checkpoint put back?)", seq,
		         (unsigned long long)copy->seq);
		goto out;
	}
	if (copy != NULL && cpseq < copy->seq) {
		rc = ts_audit_bad(msg, msglen, "the signed checkpoint is at entry %llu but "
		         "the checkpoint copy at entry %llu: an old checkpoint was "
		         "put back", cpseq, (unsigned long long)copy->seq);
		goto out;
	}
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
