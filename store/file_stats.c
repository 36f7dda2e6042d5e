/*
 * file_stats: what ticketctl stats reads of a directory store besides
 * its tickets (store.h's ts_store_stats): intake/ and intake/rejected/
 * counted (names only: nothing opened), audit/'s segments' sizes, and
 * audit/checkpoint's entry and mtime; and the store's run name.  Reads
 * only, no lock: the daemon may be running.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "store/audit_priv.h"
#include "store/store_file_priv.h"
#include "store/sysio.h"

/* The entries of directory fd that ts_file_list_dir lists (no dotfile,
 * no "rejected"). */
static int
count_dir(int fd, uint64_t *n)
{
	char **names;
	size_t k;
	int rc;

	*n = 0;
	if (fd < 0)
		return 0;
	if ((rc = ts_file_list_dir(fd, &names, &k)) < 0)
		return rc;
	ts_file_free_names(names, k);
	*n = k;
	return 0;
}

#define TAIL_BYTES 65536	/* of the last segment, for its last entry */

/* The seq of the last whole entry of segment name (0 if none is found
 * in its last TAIL_BYTES: then none is claimed). */
static uint64_t
last_entry(int dirfd, const char *name)
{
	unsigned char hash[HASHBYTES];
	struct stat sb;
	uint64_t seq = 0;
	char *buf, *end, *p;
	off_t off;
	ssize_t n;
	int fd;

	fd = ts_sysio_openat(dirfd, name, O_RDONLY | O_NOFOLLOW, 0);
	if (fd < 0)
		return 0;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    (buf = malloc(TAIL_BYTES + 1)) == NULL) {
		close(fd);
		return 0;
	}
	off = sb.st_size > TAIL_BYTES ? sb.st_size - TAIL_BYTES : 0;
	n = pread(fd, buf, (size_t)(sb.st_size - off), off);
	close(fd);
	if (n > 0) {
		buf[n] = '\0';
		/* The last line ended by '\n' (a torn tail is no entry). */
		if ((end = memrchr(buf, '\n', (size_t)n)) != NULL) {
			*end = '\0';
			p = memrchr(buf, '\n', (size_t)(end - buf));
			p = p ? p + 1 : buf;
			if ((p > buf || off == 0) &&
			    ts_audit_line_parse(p, (size_t)(end - p), &seq, hash,
			                        NULL) < 0)
				seq = 0;
		}
	}
	free(buf);
	return seq;
}

/* audit/: its segments' bytes, its last entry, the signed checkpoint's
 * seq and mtime. */
static int
trail_stats(int storefd, struct ts_store_stats *out)
{
	unsigned first, nseg;
	unsigned char *text;
	struct ts_audit_checkpoint cp;
	struct stat sb;
	size_t len;
	int dirfd, rc;

	if ((dirfd = ts_sysio_openat(storefd, "audit", O_RDONLY | O_DIRECTORY,
	                             0)) < 0)
		return dirfd == -ENOENT ? 0 : dirfd;	/* never mounted */
	rc = ts_audit_list_segments(dirfd, &first, &nseg);
	if (rc == -EBADMSG)
		rc = 0;	/* a gap: audit verify says so; sizes of the rest */
	for (unsigned i = first; rc == 0 && i <= nseg; i++) {
		char name[32];

		ts_audit_segment_name(i, name);
		if (fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(sb.st_mode))
			out->trail_bytes += (uint64_t)sb.st_size;
	}
	if (rc == 0 && nseg > 0) {
		char name[32];

		ts_audit_segment_name(nseg, name);
		out->last_seq = last_entry(dirfd, name);
	}
	if (rc == 0 &&
	    ts_sysio_read_file(dirfd, CHECKPOINT, 4096, &text, &len) == 0) {
		if (ts_audit_checkpoint_parse(text, len, &cp) == 0 &&
		    fstatat(dirfd, CHECKPOINT, &sb, AT_SYMLINK_NOFOLLOW) == 0) {
			out->checkpoint_seq = cp.seq;
			out->checkpoint_ms = (int64_t)sb.st_mtim.tv_sec * 1000 +
			                     sb.st_mtim.tv_nsec / 1000000;
		}
		free(text);
	}
	close(dirfd);
	return rc;
}

int
ts_file_stats(struct ts_store *st, struct ts_store_stats *out)
{
	struct file_store *fs = fs_of(st);
	int rc;

	if ((rc = count_dir(fs->intakefd, &out->intake_waiting)) < 0 ||
	    (rc = count_dir(fs->rejectedfd, &out->intake_rejected)) < 0)
		return rc;
	return trail_stats(fs->dirfd, out);
}

/* Whether /proc/locks has a granted FLOCK WRITE on STORE/lock: the
 * kernel's "MAJOR:MINOR:INODE" (hex, hex, decimal) of the file. */
int
ts_file_held(struct ts_store *st)
{
	char want[64], line[256];
	struct stat sb;
	FILE *f;
	int fd, found = 0;

	fd = ts_sysio_openat(fs_of(st)->dirfd, "lock" /* store_file.c's */,
	                     O_RDONLY | O_NONBLOCK, 0);
	if (fd == -ENOENT)
		return 0;	/* no daemon ever ran on it */
	if (fd < 0)
		return fd;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	close(fd);
	snprintf(want, sizeof(want), " %02x:%02x:%llu ", major(sb.st_dev),
	         minor(sb.st_dev), (unsigned long long)sb.st_ino);
	if ((f = fopen("/proc/locks", "re")) == NULL)
		return -errno;
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strstr(line, "->") == NULL &&
		        strstr(line, " FLOCK ") != NULL &&
		        strstr(line, " WRITE ") != NULL &&
		        strstr(line, want) != NULL;
	fclose(f);
	return found;
}

int
ts_file_run_name(struct ts_store *st, char out[TS_STORE_RUN_NAME_MAX])
{
	struct stat sb;

	if (fstat(fs_of(st)->dirfd, &sb) < 0)
		return -errno;
	snprintf(out, TS_STORE_RUN_NAME_MAX, "d-%llx-%llu",
	         (unsigned long long)sb.st_dev, (unsigned long long)sb.st_ino);
	return 0;
}
