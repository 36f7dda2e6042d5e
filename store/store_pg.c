/*
 * store_pg: the PostgreSQL backend (being built: issue 14).  Until it
 * lands, a URI is refused with -ENOSYS ("not implemented").
 */
#include <errno.h>

#include "store/pg_priv.h"

int
ts_store_pg_create(const char *uri, const unsigned char pk[TS_SEAL_PKBYTES],
                   const char *policy_text)
{
	(void)uri;
	(void)pk;
	(void)policy_text;
	return -ENOSYS;
}

int
ts_store_pg_open(const char *uri, enum ts_store_mode mode,
                 struct ts_store **out)
{
	(void)uri;
	(void)mode;
	(void)out;
	return -ENOSYS;
}
