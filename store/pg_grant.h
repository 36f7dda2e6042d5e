/*
 * pg_grant: the database privileges of a role on a PostgreSQL store
 * (ticketctl grant).  The store's tables are the store's to know, so the
 * statements live here, not in tools/.
 */
#ifndef TS_PG_GRANT_H
#define TS_PG_GRANT_H

#include <stddef.h>

enum ts_pg_role {
	TS_PG_FRONTEND,	/* INSERT on ts_intake (USAGE on its sequence),
			   SELECT on ts_public_key, EXECUTE on
			   ts_ticket_known(text): nothing else */
	TS_PG_DAEMON,	/* SELECT, INSERT, UPDATE, DELETE on every ts_
			   table, USAGE on every ts_ sequence, EXECUTE on
			   every ts_ function */
};

/*
 * Makes role (an existing role of the database at uri) hold exactly what
 * kind needs on the store's tables: first every privilege it held on
 * them is revoked, then kind's are granted, in one transaction (so a
 * role moved from daemon to frontend loses the rest).  The role's name is
 * quoted as an identifier.  -ENOENT (err says: no such role, or no
 * ticketfs schema), -EINVAL (frontend for a superuser or an owner of the
 * tables: it would hold everything), -EACCES (the connecting user may
 * not grant: checked after, as GRANT only warns), -EIO (unreachable),
 * -EPROTO; err holds the reason.
 */
int ts_pg_grant(const char *uri, const char *role, enum ts_pg_role kind,
                char *err, size_t errlen);

#endif
