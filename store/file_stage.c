/*
 * file_stage: the file backend's staged writes (ts_store_stage_begin,
 * store.h), what lets intake be taken in a batch at a time with one flush:
 * while a stage is open, a record or key file is written to a temporary
 * (.tmp-stage-*: a load removes what a killed daemon left) and not fsynced;
 * the commit flushes the filesystem once (syncfs), renames each into place
 * in the order written, and fsyncs each directory renamed in, once.  Every
 * file is thus whole and durable before its name appears, as with
 * ts_sysio_write_atomic, for two flushes a batch instead of two a file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "store/store_file_priv.h"
#include "store/sysio.h"

struct staged {
	int dirfd;		/* where it goes: ticketsfd or keysfd */
	char tmp[32];		/* the temporary; "" once renamed */
	char name[TS_NAME_MAX + 8];	/* its name there */
};

struct file_stage {
	struct staged *v;
	size_t n, cap;
};

int
ts_file_stage_begin(struct ts_store *st)
{
	struct file_store *fs = fs_of(st);

	if (fs->stage != NULL)
		return -EBUSY;
	return (fs->stage = calloc(1, sizeof(*fs->stage))) == NULL ? -ENOMEM
	                                                            : 0;
}

int
ts_file_stage_put(struct file_store *fs, int dirfd, const char *name,
                  const void *buf, size_t len, mode_t mode)
{
	struct file_stage *s = fs->stage;
	struct staged *e;
	int fd, rc;

	if (strlen(name) >= sizeof(s->v[0].name))
		return -ENAMETOOLONG;
	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 512;
		struct staged *nv = realloc(s->v, cap * sizeof(*nv));

		if (nv == NULL)
			return -ENOMEM;
		s->v = nv;
		s->cap = cap;
	}
	e = &s->v[s->n];
	e->dirfd = dirfd;
	snprintf(e->tmp, sizeof(e->tmp), ".tmp-stage-%08x%08x",
	         randombytes_random(), randombytes_random());
	snprintf(e->name, sizeof(e->name), "%s", name);
	fd = ts_sysio_openat(dirfd, e->tmp, O_WRONLY | O_CREAT | O_EXCL, mode);
	if (fd < 0)
		return fd;
	rc = ts_sysio_write_all(fd, buf, len);
	close(fd);
	if (rc < 0) {
		unlinkat(dirfd, e->tmp, 0);
		return rc;
	}
	s->n++;
	return 0;
}

/* Unlinks the temporaries not renamed, and ends the stage. */
static void
stage_free(struct file_store *fs)
{
	struct file_stage *s = fs->stage;

	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].tmp[0] != '\0')
			unlinkat(s->v[i].dirfd, s->v[i].tmp, 0);
	free(s->v);
	free(s);
	fs->stage = NULL;
}

int
ts_file_stage_commit(struct ts_store *st)
{
	struct file_store *fs = fs_of(st);
	struct file_stage *s = fs->stage;
	int dirs[2] = { -1, -1 };	/* the directories renamed in */
	int rc = 0;

	if (s == NULL)
		return 0;
	if (s->n > 0)
		rc = ts_sysio_syncfs(fs->dirfd);	/* the contents, once */
	for (size_t i = 0; i < s->n && rc == 0; i++) {
		struct staged *e = &s->v[i];

		rc = ts_sysio_renameat(e->dirfd, e->tmp, e->dirfd, e->name, 0);
		if (rc < 0)
			break;
		e->tmp[0] = '\0';
		if (dirs[0] != e->dirfd && dirs[1] != e->dirfd)
			dirs[dirs[0] < 0 ? 0 : 1] = e->dirfd;
	}
	/* The names, once a directory (also after a failed rename: what
	 * did appear is whole, and stays). */
	for (int i = 0; i < 2; i++) {
		int frc = dirs[i] >= 0 ? ts_sysio_fsync(dirs[i]) : 0;

		if (rc == 0)
			rc = frc;
	}
	stage_free(fs);
	return rc;
}

void
ts_file_stage_abort(struct ts_store *st)
{
	if (fs_of(st)->stage != NULL)
		stage_free(fs_of(st));
}
