/*
 * policy: the retention rules of STORE/policy, parsed strictly, and the
 * deadline of any item computed from them.
 *
 *   email          processed, 90d
 *   authorization  processed, expired
 *   ticket         processed+30d
 *
 * An item goes at the first of its events: `processed` (when the ticket
 * is processed), `expired` (an authorization's own expiry), `N<unit>`
 * after the item was submitted, `processed+N<unit>`, `forgotten` (the
 * customer's account was deleted); units s m h d.  An item not listed is
 * never removed automatically.  The item `audit` takes one age alone
 * (`audit 365d`): whole trail segments older than that are removed.  A policy is a value:
 * reloading builds a new one.
 */
#ifndef TS_POLICY_H
#define TS_POLICY_H

#include <stddef.h>
#include <stdint.h>

enum ts_item {
	TS_ITEM_EMAIL,
	TS_ITEM_MOBILE,
	TS_ITEM_CONFIDENTIAL,
	TS_ITEM_AUTHORIZATION,
	TS_ITEM_MESSAGE,
	TS_ITEM_DESCRIPTION,
	TS_ITEM_SUBJECT,
	TS_ITEM_USERNAME,
	TS_ITEM_TICKET,
	TS_ITEM_COUNT
};

#define TS_NEVER INT64_MAX

struct ts_rule {
	int on_processed;	/* removed when the ticket is processed */
	int on_expired;		/* removed at its own expiry (authorizations) */
	int64_t after_ms;	/* removed this long after submission; -1 none */
	int64_t after_processed_ms;	/* this long after processing; -1 none */
	int on_forgotten;	/* removed when the customer's account is
				   deleted (ticketctl forget) */
};

struct ts_policy {
	struct ts_rule rule[TS_ITEM_COUNT];	/* by enum ts_item */
	int64_t audit_ms;	/* `audit N<unit>`: trail segments older than
				   this are removed; -1 if not listed */
};

extern const char *const ts_item_names[TS_ITEM_COUNT];

/*
 * Parses policy text into *out.  On error returns -EINVAL with
 * "line N: reason" in err, and *out is untouched.
 */
int ts_policy_parse(const char *text, size_t len, struct ts_policy *out,
                    char *err, size_t errlen);

/*
 * When item goes: submitted_ms is the item's own submission time (the
 * ticket's for its fields and itself, the message's or authorization's
 * own otherwise); processed_ms 0 if the ticket is not processed;
 * expires_ms an authorization's expiry (ignored for other items).
 * TS_NEVER if no rule applies yet.
 */
int64_t ts_policy_deadline(const struct ts_policy *p, enum ts_item item,
                           int64_t submitted_ms, int64_t processed_ms,
                           int64_t expires_ms);

/*
 * When item goes because the customer's account was deleted at
 * forgotten_ms (ticketctl forget; 0 = never): forgotten_ms if the policy
 * ties item to `forgotten`, else TS_NEVER.  Callers take the earlier of
 * this and ts_policy_deadline().
 */
int64_t ts_policy_deadline_forgotten(const struct ts_policy *p,
                                     enum ts_item item, int64_t forgotten_ms);

/* The item a ticket field (enum ts_field) is governed by. */
enum ts_item ts_policy_field_item(int field);

#endif
