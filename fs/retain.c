/*
 * retain: audit retention by policy and prune requests (fs/retain.h).
 */
#include "fs/retain.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "fs/index_priv.h"
#include "store/audit.h"
#include "store/record.h"
#include "store/util.h"

/* The policy's `audit` age, or -1 if it lists none. */
static int64_t
audit_age(struct ts_fs *fs)
{
	int64_t ms;

	ts_index_rdlock(fs->idx);
	ms = fs->idx->has_policy ? fs->idx->policy.audit_ms : -1;
	ts_index_unlock(fs->idx);
	return ms;
}

static void
log_pruned(struct ts_fs *fs, const char *why, const struct ts_audit_pruned *p)
{
	ts_fs_log(fs, "audit trail: %s: %llu entr%s in %u segment%s pruned, "
	          "the trail now starts at seq %llu", why,
	          (unsigned long long)p->entries,
	          p->entries == 1 ? "y" : "ies", p->segments,
	          p->segments == 1 ? "" : "s",
	          (unsigned long long)p->first_seq);
}

void
ts_retain_tick(struct ts_fs *fs, int64_t now)
{
	struct ts_audit_entry who = { .comm = "ticketfs", .path = "policy" };
	struct ts_audit_pruned p;
	int64_t age, oldest;
	int rc;

	if (fs->audit == NULL || (age = audit_age(fs)) < 0)
		return;
	oldest = ts_audit_prune_next(fs->audit);
	if (oldest == INT64_MIN)
		ts_fs_log(fs, "audit trail: its oldest segments do not chain "
		          "(a time edited? run ticketctl audit verify): the "
		          "policy's audit age is not applied until the next "
		          "start");
	if (oldest == INT64_MIN || oldest == INT64_MAX || oldest >= now - age)
		return;		/* not due yet */
	if ((rc = ts_audit_prune(fs->audit, now - age, &who, &p)) < 0)
		ts_fs_log(fs, "audit trail: cannot prune what the policy's "
		          "audit age removes: %s%s", rc == -EBADMSG ? "its "
		          "oldest segments are damaged or do not chain (edited? "
		          "run ticketctl audit verify)" : strerror(-rc),
		          ts_audit_prune_next(fs->audit) == INT64_MAX ?
		          "; left alone until the next start" : "");
	else
		log_pruned(fs, "policy", &p);
}

int
ts_retain_request(void *arg, const char *name, const uint8_t *rec,
                  size_t len, int64_t before_ms, char *why, size_t whylen)
{
	struct ts_fs *fs = arg;
	unsigned char *mackey = sodium_malloc(TS_RECORD_MACKEYBYTES);
	struct ts_audit_entry who = { .comm = "ticketfs" };
	struct ts_audit_pruned p;
	char path[TS_NAME_MAX + 16];
	int rc;

	if (mackey == NULL)
		return -ENOMEM;
	rc = ts_seal_derive(fs->key, TS_RECORD_MAC_PURPOSE, mackey,
	                    TS_RECORD_MACKEYBYTES);
	if (rc == 0)
		rc = ts_record_verify_mac(rec, len, mackey);
	sodium_free(mackey);
	if (rc < 0) {
		snprintf(why, whylen, "a prune request needs the secret key's "
		         "MAC (ticketctl audit prune --key): refused");
		return rc == -EKEYREJECTED ? -EPERM : rc;
	}
	if (fs->audit == NULL) {
		snprintf(why, whylen, "no audit trail");
		return -ENOENT;
	}
	snprintf(path, sizeof(path), "intake/%s", name);
	who.path = path;
	if ((rc = ts_audit_prune(fs->audit, before_ms, &who, &p)) < 0) {
		snprintf(why, whylen, "cannot prune: %s", strerror(-rc));
		return rc == -EIO || rc == -ENOSPC ? -EAGAIN : rc;
	}
	snprintf(why, whylen, "%llu entr%s in %u segment%s pruned before "
	         "seq %llu", (unsigned long long)p.entries,
	         p.entries == 1 ? "y" : "ies", p.segments,
	         p.segments == 1 ? "" : "s", (unsigned long long)p.first_seq);
	log_pruned(fs, path, &p);
	return 0;
}
