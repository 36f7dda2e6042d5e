/*
 * policy: parsing STORE/policy and computing deadlines.
 */
#include "fs/policy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/ticket.h"
#include "store/util.h"

const char *const ts_item_names[TS_ITEM_COUNT] = {
	"email", "mobile", "confidential", "authorization", "message",
	"description", "subject", "username", "ticket"
};


/* "90d" -> ms; -1 if not a duration. */
static int64_t
duration(const char *s)
{
	char *end;
	long long n;
	int64_t unit;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end[0] == '\0' || end[1] != '\0' || n > 100000000)
		return -1;
	switch (end[0]) {
	case 's': unit = 1000; break;
	case 'm': unit = 60 * 1000; break;
	case 'h': unit = 3600 * 1000; break;
	case 'd': unit = 86400 * 1000; break;
	default: return -1;
	}
	return (int64_t)n * unit;
}

static int64_t
min64(int64_t a, int64_t b)
{
	return a < b ? a : b;
}

/* Parses one event word into r. */
static int
event(const char *w, enum ts_item item, struct ts_rule *r, unsigned line,
      char *err, size_t errlen)
{
	int64_t d;

	if (strcmp(w, "processed") == 0) {
		r->on_processed = 1;
	} else if (strcmp(w, "forgotten") == 0) {
		r->on_forgotten = 1;
	} else if (strcmp(w, "expired") == 0) {
		if (item != TS_ITEM_AUTHORIZATION)
			return ts_line_error(err, errlen, line, "\"expired\" applies to "
			            "authorizations only");
		r->on_expired = 1;
	} else if (strncmp(w, "processed+", 10) == 0) {
		if ((d = duration(w + 10)) < 0)
			return ts_line_error(err, errlen, line, "bad duration in \"%s\" "
			            "(N followed by s, m, h or d)", w);
		r->after_processed_ms = r->after_processed_ms < 0 ? d :
		                        min64(r->after_processed_ms, d);
	} else if ((d = duration(w)) >= 0) {
		r->after_ms = r->after_ms < 0 ? d : min64(r->after_ms, d);
	} else {
		return ts_line_error(err, errlen, line, "unknown event \"%s\" (processed, "
		            "expired, N<unit>, processed+N<unit>, forgotten)", w);
	}
	return 0;
}

/* `audit N<unit>`: one age, nothing else, listed once. */
static int
audit_age(char *rest, struct ts_policy *p, unsigned line, char *err,
          size_t errlen)
{
	char *save = NULL, *w = rest ? strtok_r(rest, ", \t\r", &save) : NULL;

	if (p->audit_ms >= 0)
		return ts_line_error(err, errlen, line, "\"audit\" is listed "
		                     "twice");
	if (w == NULL || (p->audit_ms = duration(w)) < 0)
		return ts_line_error(err, errlen, line, "\"audit\" takes an "
		                     "age: N followed by s, m, h or d");
	if (strtok_r(NULL, ", \t\r", &save) != NULL)
		return ts_line_error(err, errlen, line, "\"audit\" takes one "
		                     "age and no other event");
	return 0;
}

int
ts_policy_parse(const char *text, size_t len, struct ts_policy *out,
                char *err, size_t errlen)
{
	struct ts_policy p;
	const char *cur = text, *end = text + len;
	int seen[TS_ITEM_COUNT] = { 0 };
	unsigned lineno = 0;

	for (int i = 0; i < TS_ITEM_COUNT; i++)
		p.rule[i] = (struct ts_rule){ 0, 0, -1, -1, 0 };
	p.audit_ms = -1;
	if (memchr(text, '\0', len) != NULL)
		return ts_line_error(err, errlen, 1, "the file holds a NUL byte");
	while (cur < end) {
		const char *nl = memchr(cur, '\n', (size_t)(end - cur));
		size_t n = nl ? (size_t)(nl - cur) : (size_t)(end - cur);
		char line[512], *hash, *item, *rest, *save = NULL, *w;
		int it = -1, nevents = 0, rc;

		lineno++;
		if (n >= sizeof(line))
			return ts_line_error(err, errlen, lineno, "line too long");
		memcpy(line, cur, n);
		line[n] = '\0';
		cur += n + 1;
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		item = strtok_r(line, " \t\r", &save);
		if (item == NULL)
			continue;
		for (int i = 0; i < TS_ITEM_COUNT; i++)
			if (strcmp(item, ts_item_names[i]) == 0)
				it = i;
		if (strcmp(item, "audit") == 0) {
			if ((rc = audit_age(strtok_r(NULL, "", &save), &p,
			                    lineno, err, errlen)) < 0)
				return rc;
			continue;
		}
		if (it < 0)
			return ts_line_error(err, errlen, lineno, "unknown item \"%s\"", item);
		if (seen[it]++)
			return ts_line_error(err, errlen, lineno, "\"%s\" is listed twice",
			            item);
		rest = strtok_r(NULL, "", &save);
		if (rest == NULL)
			return ts_line_error(err, errlen, lineno, "\"%s\" has no event", item);
		for (w = strtok_r(rest, ", \t\r", &save); w != NULL;
		     w = strtok_r(NULL, ", \t\r", &save)) {
			if ((rc = event(w, it, &p.rule[it], lineno, err,
			                errlen)) < 0)
				return rc;
			nevents++;
		}
		if (nevents == 0)
			return ts_line_error(err, errlen, lineno, "\"%s\" has no event", item);
	}
	*out = p;
	return 0;
}

int64_t
ts_policy_deadline(const struct ts_policy *p, enum ts_item item,
                   int64_t submitted_ms, int64_t processed_ms,
                   int64_t expires_ms)
{
	const struct ts_rule *r = &p->rule[item];
	int64_t d = TS_NEVER;

	if (r->after_ms >= 0)
		d = min64(d, submitted_ms + r->after_ms);
	if (r->on_expired && item == TS_ITEM_AUTHORIZATION)
		d = min64(d, expires_ms);
	if (processed_ms > 0) {
		if (r->on_processed)
			d = min64(d, processed_ms);
		if (r->after_processed_ms >= 0)
			d = min64(d, processed_ms + r->after_processed_ms);
	}
	return d;
}

int64_t
ts_policy_deadline_forgotten(const struct ts_policy *p, enum ts_item item,
                             int64_t forgotten_ms)
{
	return forgotten_ms > 0 && p->rule[item].on_forgotten ? forgotten_ms
	                                                       : TS_NEVER;
}

enum ts_item
ts_policy_field_item(int field)
{
	static const enum ts_item map[TS_F_COUNT] = {
		[TS_F_SUBJECT] = TS_ITEM_SUBJECT,
		[TS_F_DESCRIPTION] = TS_ITEM_DESCRIPTION,
		[TS_F_USERNAME] = TS_ITEM_USERNAME,
		[TS_F_EMAIL] = TS_ITEM_EMAIL,
		[TS_F_MOBILE] = TS_ITEM_MOBILE,
		[TS_F_CONFIDENTIAL] = TS_ITEM_CONFIDENTIAL,
	};

	return map[field];
}
