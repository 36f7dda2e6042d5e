/*
 * file_trash: what a front end can drop in intake/ that is no record (a
 * link, a FIFO, a device, a directory of any size, a stale dotfile): told
 * apart by its inode alone, removed without being opened, a directory
 * moved whole to .trash; and .trash emptied a bounded amount a round.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/record.h"
#include "store/store_file_priv.h"
#include "store/sysio.h"

#define TRASH_ROUND 1000	/* entries deleted from .trash a round */
#define DOTFILE_AGE 3600	/* a regular dotfile in intake/ lives this long */

/*
 * Moves dirfd/name into .trash under a fresh name: one rename, whatever
 * name is (a directory of any size or depth included).
 */
int
ts_file_to_trash(struct file_store *fs, int dirfd, const char *name)
{
	char t[24];
	int rc, tries = 0;

	if (fs->trashfd < 0)
		return -EACCES;
	do {
		snprintf(t, sizeof(t), "%016llx",
		         (unsigned long long)fs->trash_seq++);
		rc = ts_sysio_renameat(dirfd, name, fs->trashfd, t,
		                       RENAME_NOREPLACE);
	} while (rc == -EEXIST && ++tries < 8);
	if (rc == 0)
		fs->trash_busy = 1;
	return rc;
}

/*
 * Empties .trash/name, a directory, by at most budget entries: files are
 * unlinked, subdirectories that will not go moved up to .trash itself
 * (one rename each), so the walk never goes deeper than one level nor up
 * through "..": a writer that kept a directory of the tree open cannot
 * lead it anywhere else.  Returns the entries handled.
 */
static size_t
trash_empty_dir(struct file_store *fs, const char *name, size_t budget)
{
	struct dirent *de;
	size_t done = 0;
	DIR *d;
	int fd;

	fd = openat(fs->trashfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
	            O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 1;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return 1;
	}
	while (done < budget && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		done++;
		if (unlinkat(fd, de->d_name, 0) < 0 && errno == EISDIR &&
		    unlinkat(fd, de->d_name, AT_REMOVEDIR) < 0)
			ts_file_to_trash(fs, fd, de->d_name);
	}
	closedir(d);
	return done;
}

/*
 * Deletes at most TRASH_ROUND entries from .trash (directory trees moved
 * there whole by ts_file_to_trash); the next round goes on.  Nothing a
 * front end drops can make one round do more.
 */
void
ts_file_trash_drain(struct file_store *fs)
{
	struct dirent *de = NULL;
	size_t done = 0;
	DIR *d;
	int fd;

	if (fs->trashfd < 0 || !fs->trash_busy)
		return;
	if ((fd = openat(fs->trashfd, ".", O_RDONLY | O_DIRECTORY |
	                 O_CLOEXEC)) < 0)
		return;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return;
	}
	do {	/* again while subdirectories were moved up, budget left */
		fs->trash_busy = 0;	/* ts_file_to_trash sets it again */
		rewinddir(d);
		while (done < TRASH_ROUND && (de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			done++;
			if (unlinkat(fs->trashfd, de->d_name, 0) == 0 ||
			    errno != EISDIR ||
			    unlinkat(fs->trashfd, de->d_name, AT_REMOVEDIR) == 0)
				continue;
			done += trash_empty_dir(fs, de->d_name,
			                        TRASH_ROUND - done);
			if (done < TRASH_ROUND)
				unlinkat(fs->trashfd, de->d_name, AT_REMOVEDIR);
		}
	} while (fs->trash_busy && de == NULL && done < TRASH_ROUND);
	/* Done when a round saw it whole, had budget left and moved
	 * nothing up. */
	if (done >= TRASH_ROUND || de != NULL)
		fs->trash_busy = 1;
	closedir(d);
}

/*
 * What intake/name is, from its inode alone (nothing opened): 0 for a
 * regular file with one link and no bigger than a record can be, else the
 * notice's err (store.h).
 */
int
ts_file_intake_kind_of(const struct stat *sb)
{
	if (S_ISLNK(sb->st_mode))
		return -ELOOP;
	if (S_ISDIR(sb->st_mode))
		return -EISDIR;
	if (!S_ISREG(sb->st_mode))
		return -ENXIO;	/* FIFO, socket, device node */
	if (sb->st_nlink != 1)
		return -EMLINK;
	if ((uint64_t)sb->st_size > TS_RECORD_MAX)
		return -EFBIG;
	return 0;
}

/*
 * Removes intake/name, which is not a record (why:
 * ts_file_intake_kind_of), without opening it; a directory is moved to
 * .trash whole (one rename), to be deleted there a bounded amount a
 * round.
 */
void
ts_file_intake_remove_odd(struct file_store *fs, const char *name, int why,
                          ts_store_intake_fn fn, void *arg)
{
	int rc;

	if (why == -EISDIR)
		rc = ts_file_to_trash(fs, fs->intakefd, name);
	else
		rc = ts_sysio_unlinkat(fs->intakefd, name, 0);
	if (rc < 0)
		return;	/* gone already, or tried again next pass */
	ts_sysio_fsync(fs->intakefd);
	if (fn != NULL)
		fn(arg, name, TS_INTAKE_REMOVED, NULL, NULL, why);
}

/*
 * A dotfile in intake/ is no record, only a front end's temporary
 * (".tmp-intake-*", renamed within minutes): anything but a regular file
 * goes at once, a regular one once it is DOTFILE_AGE old (by the older of
 * mtime and ctime: a writer can set the one back, not the other forward).
 */
void
ts_file_intake_dotfile(struct file_store *fs, const char *name,
                       const struct stat *sb, ts_store_intake_fn fn, void *arg)
{
	time_t born = sb->st_mtime < sb->st_ctime ? sb->st_mtime : sb->st_ctime;
	int why = ts_file_intake_kind_of(sb);

	if (S_ISREG(sb->st_mode)) {
		if (time(NULL) - born < DOTFILE_AGE)
			return;
		why = -ETIMEDOUT;
	}
	ts_file_intake_remove_odd(fs, name, why, fn, arg);
}
