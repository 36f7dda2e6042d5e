/*
 * state: the helpers every part of fs/ uses on the daemon's state
 * (state.h): the log, the caller's roles, freeing an open-file handle.
 * It calls nothing else in fs/: every other file sits above it.
 */
#include "fs/state.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>

void
ts_fs_log(void *arg, const char *fmt, ...)
{
	struct ts_fs *fs = arg;
	va_list ap;

	va_start(ap, fmt);
	vsyslog(LOG_WARNING, fmt, ap);
	va_end(ap);
	if (fs == NULL || fs->cfg.foreground) {
		va_start(ap, fmt);
		fputs("ticketfs: ", stderr);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
}

unsigned
ts_state_roles(struct ts_fs *fs, fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	unsigned roles;

	pthread_rwlock_rdlock(&fs->acc_lock);
	roles = ts_access_roles(fs->acc, ctx->uid);
	pthread_rwlock_unlock(&fs->acc_lock);
	return roles;
}

void
ts_state_free_handle(struct handle *h)
{
	if (h->buf != NULL) {
		sodium_memzero(h->buf, h->cap);
		free(h->buf);
	}
	free(h);
}
