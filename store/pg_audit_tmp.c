/* TEMP (h14core only; the lead drops it at merge): pg_audit.c is helper B's. */
#include <errno.h>

#include "store/pg_audit.h"

int
ts_pg_audit_open(const char *uri, const char *host,
                 const struct ts_seckey *key, size_t segment_max,
                 struct ts_audit **out)
{
	(void)uri;
	(void)host;
	(void)key;
	(void)segment_max;
	(void)out;
	return -ENOSYS;
}

int
ts_pg_audit_verify(const char *uri, const unsigned char *vk,
                   const struct ts_audit_checkpoint *copy, char *msg,
                   size_t msglen, uint64_t *entries)
{
	(void)uri;
	(void)vk;
	(void)copy;
	(void)msg;
	(void)msglen;
	(void)entries;
	return -ENOSYS;
}
