/*
 * access: whitelist parsing, name resolution and ACL derivation.
 */
#include "fs/access.h"

#include <ctype.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/util.h"

struct grant {
	uid_t uid;		/* a caller */
	unsigned roles;		/* enum ts_role bits */
};

struct ts_access {
	struct grant *v;	/* sorted by uid, one per uid */
	size_t n;
	size_t skipped;		/* lines naming no existing user or group */
	int cut;		/* warn ends in "...": no room for more */
	char warn[TS_ACCESS_WARN_MAX];	/* "line N: no such user ..." of
					   those, "; "-separated */
};


static int
add(struct ts_access *acc, size_t *cap, uid_t uid, unsigned roles)
{
	for (size_t i = 0; i < acc->n; i++)
		if (acc->v[i].uid == uid) {
			acc->v[i].roles |= roles;
			return 0;
		}
	if (acc->n == *cap) {
		struct grant *nv = realloc(acc->v, (*cap = *cap ? 2 * *cap : 16)
		                                   * sizeof(*nv));
		if (nv == NULL)
			return -ENOMEM;
		acc->v = nv;
	}
	acc->v[acc->n++] = (struct grant){ uid, roles };
	return 0;
}

/* Every member of group gid: its listed members and whoever has it as
 * primary group. */
static int
add_group(struct ts_access *acc, size_t *cap, const struct group *gr,
          unsigned roles)
{
	struct passwd *pw;
	int rc = 0;

	for (char **m = gr->gr_mem; *m != NULL && rc == 0; m++) {
		struct passwd *mp = getpwnam(*m);
		if (mp != NULL)
			rc = add(acc, cap, mp->pw_uid, roles);
	}
	setpwent();
	while (rc == 0 && (pw = getpwent()) != NULL)
		if (pw->pw_gid == gr->gr_gid)
			rc = add(acc, cap, pw->pw_uid, roles);
	endpwent();
	return rc;
}

/* Notes line lineno as granting nothing: kind ("user", "group") name did
 * not resolve; e is getpwnam's or getgrnam's errno. */
static void
skip(struct ts_access *acc, unsigned lineno, const char *kind,
     const char *name, int e)
{
	size_t at = strlen(acc->warn), room = sizeof(acc->warn) - at;
	const char *more = strlen(name) > 64 ? "..." : "";
	char one[160];

	acc->skipped++;
	if (acc->cut)
		return;
	/* getpwnam(3): these mean "not there"; others, a failed lookup. */
	if (e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM)
		snprintf(one, sizeof(one), "line %u: no such %s \"%.64s%s\"",
		         lineno, kind, name, more);
	else
		snprintf(one, sizeof(one), "line %u: cannot look up %s "
		         "\"%.64s%s\": %s", lineno, kind, name, more,
		         strerror(e));
	/* Keep room for a later "; ..." after whatever is added. */
	if (strlen(one) + (at ? 2 : 0) + 5 < room) {
		snprintf(acc->warn + at, room, "%s%s", at ? "; " : "", one);
	} else {
		snprintf(acc->warn + at, room, "%s...", at ? "; " : "");
		acc->cut = 1;
	}
}

static int
parse_uid(const char *s, uid_t *uid)
{
	char *end;
	unsigned long v;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end != '\0' || v >= (uid_t)-1)
		return -1;
	*uid = (uid_t)v;
	return 0;
}

static int
cmp_grant(const void *a, const void *b)
{
	uid_t x = ((const struct grant *)a)->uid;
	uid_t y = ((const struct grant *)b)->uid;

	return x < y ? -1 : x > y;
}

int
ts_access_parse(const char *text, size_t len, struct ts_access **out,
                char *err, size_t errlen)
{
	struct ts_access *acc = calloc(1, sizeof(*acc));
	const char *p = text, *end = text + len;
	size_t cap = 0;
	unsigned lineno = 0;
	int rc = 0;

	if (acc == NULL)
		return -ENOMEM;
	if (memchr(text, '\0', len) != NULL) {
		rc = ts_line_error(err, errlen, 1, "the file holds a NUL byte");
		goto out_free;
	}
	while (p < end && rc == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char line[512], who[256], role[64], extra[8];
		char *hash;
		unsigned roles;
		int k, who_end = 0;

		lineno++;
		if (n >= sizeof(line)) {
			rc = ts_line_error(err, errlen, lineno, "line too long");
			break;
		}
		memcpy(line, p, n);
		line[n] = '\0';
		p += n + 1;
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		k = sscanf(line, "%255s%n %63s %7s", who, &who_end, role, extra);
		if (k <= 0)
			continue;	/* blank or comment */
		/* %255s stops inside a longer word, and the word's rest
		 * would be taken for the role ("<255 bytes>agent"). */
		if (line[who_end] != '\0' &&
		    !isspace((unsigned char)line[who_end])) {
			rc = ts_line_error(err, errlen, lineno, "\"%.32s...\" "
			          "is too long (over 255 bytes)", who);
			break;
		}
		if (k == 1) {
			rc = ts_line_error(err, errlen, lineno, "\"%s\" has no role "
			          "(reader, agent or auditor)", who);
			break;
		}
		if (k == 3) {
			rc = ts_line_error(err, errlen, lineno, "unexpected \"%s\" after "
			          "the role", extra);
			break;
		}
		if (strcmp(role, "reader") == 0)
			roles = TS_ROLE_READER;
		else if (strcmp(role, "agent") == 0)
			roles = TS_ROLE_AGENT;
		else if (strcmp(role, "auditor") == 0)
			roles = TS_ROLE_AUDITOR;
		else {
			rc = ts_line_error(err, errlen, lineno, "unknown role \"%s\" "
			          "(reader, agent or auditor)", role);
			break;
		}
		if (who[0] == '@') {
			struct group *gr;

			errno = 0;
			if ((gr = getgrnam(who + 1)) == NULL) {
				skip(acc, lineno, "group", who + 1, errno);
				continue;
			}
			rc = add_group(acc, &cap, gr, roles);
		} else {
			uid_t uid;
			struct passwd *pw;

			if (parse_uid(who, &uid) < 0) {
				errno = 0;
				if ((pw = getpwnam(who)) == NULL) {
					skip(acc, lineno, "user", who, errno);
					continue;
				}
				uid = pw->pw_uid;
			}
			rc = add(acc, &cap, uid, roles);
		}
	}
	if (rc < 0)
		goto out_free;
	if (acc->n > 1)
		qsort(acc->v, acc->n, sizeof(*acc->v), cmp_grant);
	*out = acc;
	return 0;
out_free:
	ts_access_free(acc);
	return rc;
}

void
ts_access_free(struct ts_access *acc)
{
	if (acc == NULL)
		return;
	free(acc->v);
	free(acc);
}

unsigned
ts_access_roles(const struct ts_access *acc, uid_t uid)
{
	size_t lo = 0, hi = acc ? acc->n : 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (acc->v[mid].uid == uid)
			return acc->v[mid].roles;
		if (acc->v[mid].uid < uid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return 0;
}

size_t
ts_access_count(const struct ts_access *acc)
{
	return acc ? acc->n : 0;
}

size_t
ts_access_skipped(const struct ts_access *acc)
{
	return acc ? acc->skipped : 0;
}

const char *
ts_access_warnings(const struct ts_access *acc)
{
	return acc ? acc->warn : "";
}

/* The kernel's POSIX ACL xattr format (include/uapi/linux/posix_acl_xattr.h). */
enum {
	ACL_XATTR_VERSION = 2,
	TAG_USER_OBJ = 0x01,
	TAG_USER = 0x02,
	TAG_GROUP_OBJ = 0x04,
	TAG_MASK = 0x10,
	TAG_OTHER = 0x20,
};

static size_t
put_entry(uint8_t *buf, size_t cap, size_t at, unsigned tag, unsigned perm,
          uint32_t id)
{
	if (at + 8 <= cap) {
		ts_le16_put(buf + at, (uint16_t)tag);
		ts_le16_put(buf + at + 2, (uint16_t)perm);
		ts_le32_put(buf + at + 4, id);
	}
	return at + 8;
}

/* The permission bits roles earn under by_role. */
static unsigned
perm_of(unsigned roles, const unsigned by_role[3])
{
	unsigned perm = 0;

	for (int i = 0; i < 3; i++)
		if (roles & 1u << i)
			perm |= by_role[i];
	return perm;
}

size_t
ts_access_acl_roles(const struct ts_access *acc, uid_t owner,
                    const unsigned by_role[3], void *out, size_t cap,
                    unsigned *mode)
{
	uint8_t *buf = out;
	unsigned owner_perm = perm_of(ts_access_roles(acc, owner), by_role);
	unsigned mask = 0;
	size_t at = 4, named = 0;

	/*
	 * The owner (the daemon's uid) gets the union of what the roles get,
	 * so the mode reads at a glance (dr-xr-x---+, not d---r-x---+) and a
	 * copy a listed user takes with its modes (cp -a, rsync -a, tar x) is
	 * readable by that user, its new owner.  What the owner may do is
	 * not widened in effect: root passes the kernel's check anyway (DAC
	 * override), and the daemon itself refuses every request of a uid
	 * with no role.
	 */
	for (size_t i = 0; acc != NULL && i < acc->n; i++)
		if (acc->v[i].uid != owner)
			owner_perm |= perm_of(acc->v[i].roles, by_role);
	if (cap >= 4)
		ts_le32_put(buf, ACL_XATTR_VERSION);
	at = put_entry(buf, cap, at, TAG_USER_OBJ, owner_perm, (uint32_t)-1);
	/* acc->v is sorted by uid, as the kernel requires of ACL_USER. */
	for (size_t i = 0; acc != NULL && i < acc->n; i++) {
		unsigned perm = perm_of(acc->v[i].roles, by_role);

		if (perm == 0 || acc->v[i].uid == owner)
			continue;
		at = put_entry(buf, cap, at, TAG_USER, perm, acc->v[i].uid);
		mask |= perm;
		named++;
	}
	at = put_entry(buf, cap, at, TAG_GROUP_OBJ, 0, (uint32_t)-1);
	if (named)
		at = put_entry(buf, cap, at, TAG_MASK, mask, (uint32_t)-1);
	at = put_entry(buf, cap, at, TAG_OTHER, 0, (uint32_t)-1);
	*mode = owner_perm << 6 | mask << 3;
	return at;
}

size_t
ts_access_acl(const struct ts_access *acc, uid_t owner, unsigned roles,
              unsigned perm, void *out, size_t cap, unsigned *mode)
{
	unsigned by_role[3];

	for (int i = 0; i < 3; i++)
		by_role[i] = roles & 1u << i ? perm : 0;
	return ts_access_acl_roles(acc, owner, by_role, out, cap, mode);
}
