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

/* audit/: its segments' bytes, the signed checkpoint's seq and mtime. */
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
