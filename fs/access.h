/*
 * access: the whitelist.  Parses STORE/whitelist into a table uid -> roles,
 * resolving user names and @groups against the system's user database at
 * load time (so every later decision is a lookup by the caller's uid), and
 * derives the POSIX ACLs the kernel enforces with default_permissions.
 *
 * A whitelist is immutable once built; fs/ swaps in a new one on reload.
 */
#ifndef TS_ACCESS_H
#define TS_ACCESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum ts_role {
	TS_ROLE_READER = 1,
	TS_ROLE_AGENT = 2,
	TS_ROLE_AUDITOR = 4,
	TS_ROLE_ANY = 7,
};

/* Who may do what: the rights of SPEC's table, as role masks. */
#define TS_RIGHT_LIST TS_ROLE_ANY	/* list, read status/created/expires */
#define TS_RIGHT_SEALED (TS_ROLE_READER | TS_ROLE_AGENT)
#define TS_RIGHT_WRITE TS_ROLE_AGENT
#define TS_RIGHT_AUDIT TS_ROLE_AUDITOR

struct ts_access;

/* The longest ts_access_warnings text, with its NUL. */
#define TS_ACCESS_WARN_MAX 320

/*
 * Parses whitelist text.  Each line: an entry (numeric uid, user name, or
 * @group) and a role; '#' starts a comment; blank lines are fine.  A uid
 * listed several times gets the union of its roles.  A user name or
 * @group that does not exist (or whose lookup fails) grants nothing: the
 * line is skipped and reported by ts_access_warnings, and the rest of the
 * file applies.  A line that does not parse (unknown or missing role, a
 * stray word, an overlong line, a NUL byte) refuses the whole text:
 * returns -EINVAL and "line N: reason" in err, *out untouched; -ENOMEM.
 */
int ts_access_parse(const char *text, size_t len, struct ts_access **out,
                    char *err, size_t errlen);
void ts_access_free(struct ts_access *acc);

/*
 * The queries below take NULL as the empty whitelist (nobody has a role),
 * which fs/ installs when the file cannot be read or does not parse.
 */
/* The roles of uid (0 if it is not listed). */
unsigned ts_access_roles(const struct ts_access *acc, uid_t uid);
/* Number of distinct uids listed. */
size_t ts_access_count(const struct ts_access *acc);
/* Number of lines skipped because their user or group does not exist. */
size_t ts_access_skipped(const struct ts_access *acc);
/*
 * Those lines, "line 3: no such user \"bob\"; line 5: no such group
 * \"ops\"", "" if none, ending in "..." when they do not all fit in
 * TS_ACCESS_WARN_MAX; owned by acc.
 */
const char *ts_access_warnings(const struct ts_access *acc);

/*
 * The "system.posix_acl_access" value for an inode owned by owner whose
 * permission bits perm (4 = r, 2 = w, 1 = x) go to callers with any role
 * in `roles`; everyone else gets nothing.  Writes at most cap bytes to
 * buf; returns the full length (call with cap 0 to size it).  *mode gets
 * the matching permission bits (owner, mask as group, other).
 */
size_t ts_access_acl(const struct ts_access *acc, uid_t owner,
                     unsigned roles, unsigned perm, void *buf, size_t cap,
                     unsigned *mode);

/*
 * The same, with bits per role: a caller gets the union of by_role[i]
 * over its roles, i = 0 reader, 1 agent, 2 auditor.
 */
size_t ts_access_acl_roles(const struct ts_access *acc, uid_t owner,
                           const unsigned by_role[3], void *buf, size_t cap,
                           unsigned *mode);

#endif
