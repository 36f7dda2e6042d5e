/*
 * file_meta: the file backend's store-wide settings: the retention policy,
 * STORE/policy.  Read relative to the store's directory fd, O_NOFOLLOW,
 * a regular file only; replaced whole, atomically and durably
 * (ts_sysio_write_atomic), so a daemon never reads half of a policy that
 * ticketctl wrote.  Its version is a hash of the file's identity (device,
 * inode, size, mtime and ctime in ns): a new file (rename) or an edit in
 * place both change it, and it costs one fstatat.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <sodium.h>

#include "store/store_file_priv.h"
#include "store/sysio.h"

#define POLICY_FILE "policy"

int
ts_file_policy_get(struct ts_store *st, char **text, size_t *len)
{
	unsigned char *buf, *nb;
	size_t n;
	int rc;

	rc = ts_sysio_read_file(fs_of(st)->dirfd, POLICY_FILE, TS_POLICY_MAX,
	                        &buf, &n);
	if (rc < 0)
		return rc;
	if ((nb = realloc(buf, n + 1)) == NULL) {
		free(buf);
		return -ENOMEM;
	}
	nb[n] = '\0';
	*text = (char *)nb;
	*len = n;
	return 0;
}

int
ts_file_policy_set(struct ts_store *st, const char *text, size_t len)
{
	if (len > TS_POLICY_MAX)
		return -EFBIG;
	return ts_sysio_write_atomic(fs_of(st)->dirfd, POLICY_FILE, text, len,
	                             0600, 0);
}

/* Little-endian, so the version is the same on every machine. */
static void
put64(unsigned char *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

int
ts_file_policy_version(struct ts_store *st, uint64_t *version)
{
	unsigned char id[56], h[crypto_generichash_BYTES_MIN];
	struct stat sb;
	uint64_t v = 0;

	if (fstatat(fs_of(st)->dirfd, POLICY_FILE, &sb,
	            AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT)
			return -errno;
		*version = 0;	/* none: a version of its own (the reload
				   then says why it cannot read it) */
		return 0;
	}
	put64(id, (uint64_t)sb.st_dev);
	put64(id + 8, (uint64_t)sb.st_ino);
	put64(id + 16, (uint64_t)sb.st_size);
	put64(id + 24, (uint64_t)sb.st_mtim.tv_sec);
	put64(id + 32, (uint64_t)sb.st_mtim.tv_nsec);
	put64(id + 40, (uint64_t)sb.st_ctim.tv_sec);
	put64(id + 48, (uint64_t)sb.st_ctim.tv_nsec);
	crypto_generichash(h, sizeof(h), id, sizeof(id), NULL, 0);
	for (int i = 7; i >= 0; i--)
		v = v << 8 | h[i];
	*version = v != 0 ? v : 1;	/* 0 is "no file" */
	return 0;
}
