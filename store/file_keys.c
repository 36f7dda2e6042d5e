/*
 * file_keys: the file backend's keys/: one small file a ticket holding
 * its key (store/tkey.h), keys/ID, and keys/ID.next while a rekey is under
 * way.  Every file is opened relative to the keys directory's fd with
 * O_NOFOLLOW (sysio), and only if it is a regular file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store_file_priv.h"
#include "store/sysio.h"
#include "store/tkey.h"

#define NEXT_SUFFIX ".next"

/* The key file name of id: "ID" or "ID.next"; -ENOENT for a bad id. */
static int
key_name(const char *id, int next, char out[TS_NAME_MAX + 8])
{
	if (!ts_id_valid(id))
		return -ENOENT;
	snprintf(out, TS_NAME_MAX + 8, "%s%s", id, next ? NEXT_SUFFIX : "");
	return 0;
}

int
ts_file_key_get(struct ts_store *st, const char *id, int next, uint8_t **buf,
                size_t *len)
{
	struct file_store *fs = fs_of(st);
	char name[TS_NAME_MAX + 8];
	int rc;

	if (fs->keysfd < 0)
		return -EACCES;
	if ((rc = key_name(id, next, name)) < 0)
		return rc;
	/* Anything larger than a key file is not one: TS_TKEY_FILEBYTES + 1
	 * lets the decoder see it is too long. */
	return ts_sysio_read_file(fs->keysfd, name, TS_TKEY_FILEBYTES + 1, buf,
	                          len);
}

int
ts_file_key_put(struct ts_store *st, const char *id, int next,
                const uint8_t *buf, size_t len)
{
	struct file_store *fs = fs_of(st);
	char name[TS_NAME_MAX + 8];
	int rc;

	if (fs->keysfd < 0)
		return -EACCES;
	if ((rc = key_name(id, next, name)) < 0)
		return rc;
	return ts_sysio_write_atomic(fs->keysfd, name, buf, len, 0600, 0);
}

int
ts_file_key_promote(struct ts_store *st, const char *id)
{
	struct file_store *fs = fs_of(st);
	char from[TS_NAME_MAX + 8], to[TS_NAME_MAX + 8];
	int rc;

	if (fs->keysfd < 0)
		return -EACCES;
	if ((rc = key_name(id, 1, from)) < 0 || (rc = key_name(id, 0, to)) < 0)
		return rc;
	if ((rc = ts_sysio_renameat(fs->keysfd, from, fs->keysfd, to, 0)) < 0)
		return rc;
	return ts_sysio_fsync(fs->keysfd);
}

int
ts_file_key_del(struct ts_store *st, const char *id, int what)
{
	struct file_store *fs = fs_of(st);
	char name[TS_NAME_MAX + 8];
	int rc, any = 0;

	if (fs->keysfd < 0)
		return -EACCES;
	for (int next = 0; next < 2; next++) {
		if (!(what & (next ? TS_KEY_NEXT : TS_KEY_CURRENT)))
			continue;
		if ((rc = key_name(id, next, name)) < 0)
			return rc;
		rc = ts_sysio_unlinkat(fs->keysfd, name, 0);
		if (rc < 0 && rc != -ENOENT)
			return rc;
		any |= rc == 0;
	}
	return any ? ts_sysio_fsync(fs->keysfd) : 0;
}

int
ts_file_key_list(struct ts_store *st,
                 int (*fn)(void *arg, const char *id, int next), void *arg)
{
	struct file_store *fs = fs_of(st);
	char **names;
	size_t n;
	int rc;

	if (fs->keysfd < 0)
		return -EACCES;
	if ((rc = ts_file_list_dir_of(fs->keysfd, 1, &names, &n)) < 0)
		return rc;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char *s = names[i];
		size_t len = strlen(s);
		int next = 0;

		if (strncmp(s, ".tmp-", 5) == 0) {
			/* A key write a crash interrupted: never used. */
			ts_sysio_unlinkat(fs->keysfd, s, 0);
			continue;
		}
		if (len > strlen(NEXT_SUFFIX) &&
		    strcmp(s + len - strlen(NEXT_SUFFIX), NEXT_SUFFIX) == 0) {
			s[len - strlen(NEXT_SUFFIX)] = '\0';
			next = 1;
		}
		if (ts_id_valid(s))	/* anything else: not ours */
			rc = fn(arg, s, next);
	}
	ts_file_free_names(names, n);
	return rc;
}
