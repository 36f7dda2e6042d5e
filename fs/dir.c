/*
 * dir: directory listings: opendir, readdir(plus) from a snapshot taken
 * at offset 0 so offsets stay stable, releasedir.
 */
#include "fs/dir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/trail.h"
#include "fs/tree.h"

/* A directory listing, taken at opendir so offsets stay stable. */
struct dirent_snap {
	char name[TS_NAME_MAX + 1];
	fuse_ino_t ino;
	mode_t type;
};

struct dir_handle {
	struct dirent_snap *v;
	size_t n;
	int listed;		/* v holds a listing (taken at offset 0) */
};

static int
snap_add(struct dir_handle *d, size_t *cap, const char *name, fuse_ino_t ino,
         mode_t type)
{
	if (d->n == *cap) {
		size_t nc = *cap ? 2 * *cap : 16;
		struct dirent_snap *v = realloc(d->v, nc * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		d->v = v;
		*cap = nc;
	}
	snprintf(d->v[d->n].name, sizeof(d->v[d->n].name), "%s", name);
	d->v[d->n].ino = ino;
	d->v[d->n].type = type;
	d->n++;
	return 0;
}

/* Adds name if ino is there as of now (its deadline not passed). */
static int
snap_add_live(struct ts_fs *fs, struct dir_handle *d, size_t *cap,
              const char *name, fuse_ino_t ino, mode_t type)
{
	struct node n;

	if (ts_tree_resolve(fs, ino, &n) < 0)
		return 0;
	return snap_add(d, cap, name, ino, type);
}

/* Lists directory n (lock held) into d. */
static int
snap_dir(struct ts_fs *fs, fuse_ino_t ino, const struct node *n,
         struct dir_handle *d)
{
	size_t cap = 0;
	int rc = 0;
	uint64_t s = n->e ? n->e->slot : 0;

	rc |= snap_add(d, &cap, ".", ino, S_IFDIR);
	rc |= snap_add(d, &cap, "..", 0, S_IFDIR);
	switch (n->kind) {
	case N_ROOT:
		rc |= snap_add(d, &cap, "tickets", TS_INO_TICKETS, S_IFDIR);
		if (fs->audit != NULL)
			rc |= snap_add(d, &cap, "audit.log", TS_INO_AUDIT, S_IFREG);
		break;
	case N_TICKETS:
		for (size_t i = 0; i < ts_index_count(fs->idx) && !rc; i++) {
			struct ts_entry *e = ts_index_at(fs->idx, i);
			rc = snap_add_live(fs, d, &cap, e->t.id,
			                   ts_ino_make(e->slot, 0, TS_SUB_DIR),
			                   S_IFDIR);
		}
		break;
	case N_TICKET:
		if (n->e->err)
			return -EIO;
		rc |= snap_add(d, &cap, "status",
		               ts_ino_make(s, 0, TS_SUB_STATUS), S_IFREG);
		rc |= snap_add(d, &cap, "created",
		               ts_ino_make(s, 0, TS_SUB_CREATED), S_IFREG);
		for (int f = 0; f < TS_F_COUNT; f++)
			if (n->e->t.field[f].len != 0)
				rc |= snap_add_live(fs, d, &cap,
				               ts_field_names[f],
				               ts_ino_make(s, 0, TS_SUB_FIELD +
				                           (unsigned)f), S_IFREG);
		rc |= snap_add(d, &cap, "messages",
		               ts_ino_make(s, 0, TS_SUB_MSGDIR), S_IFDIR);
		rc |= snap_add(d, &cap, "authorizations",
		               ts_ino_make(s, 0, TS_SUB_AUTHDIR), S_IFDIR);
		break;
	case N_MSGDIR:
		for (size_t i = 0; i < n->e->t.nmsg && !rc; i++)
			rc = snap_add_live(fs, d, &cap, n->e->t.msg[i].name,
			              ts_ino_make(s, n->e->t.msg[i].slot + 1,
			                          TS_SUB_ITEM), S_IFREG);
		break;
	case N_AUTHDIR:
		for (size_t i = 0; i < n->e->t.nauth && !rc; i++)
			rc = snap_add_live(fs, d, &cap, n->e->t.auth[i].name,
			              ts_ino_make(s, n->e->t.auth[i].slot + 1,
			                          TS_SUB_ITEM), S_IFDIR);
		break;
	case N_AUTH:
		for (int f = 0; f < TS_A_COUNT; f++)
			if (n->a->box[f].len != 0)
				rc |= snap_add(d, &cap, ts_afield_names[f],
				               ts_ino_make(s, n->a->slot + 1,
				                           TS_SUB_AFIELD +
				                           (unsigned)f), S_IFREG);
		rc |= snap_add(d, &cap, "expires",
		               ts_ino_make(s, n->a->slot + 1, TS_SUB_EXPIRES),
		               S_IFREG);
		break;
	default:
		return -ENOTDIR;
	}
	return rc ? -ENOMEM : 0;
}

void
ts_op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ts_fs *fs = fs_of(req);
	struct dir_handle *d;
	struct node n;
	int rc;

	if ((rc = ts_trail_gate_list(fs, req, ino, "opendir", NULL)) < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* The listing itself is taken by readdir at offset 0. */
	ts_index_rdlock(fs->idx);
	rc = ts_tree_resolve(fs, ino, &n);
	if (rc == 0 && !ts_tree_is_dir(n.kind))
		rc = -ENOTDIR;
	else if (rc == 0 && n.kind == N_TICKET && n.e->err)
		rc = -EIO;	/* a damaged record */
	ts_index_unlock(fs->idx);
	if (rc < 0) {
		free(d);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	/* Listings are invalidated by notification when they change. */
	fi->cache_readdir = 1;
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) != 0) {
		free(d->v);
		free(d);
	}
}

static void
readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
               struct fuse_file_info *fi, int plus)
{
	struct ts_fs *fs = fs_of(req);
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;
	size_t used = 0;
	char *buf;
	int rc;

	if ((rc = ts_trail_gate_list(fs, req, ino, "readdir", NULL)) < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if ((buf = malloc(size)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ts_index_rdlock(fs->idx);
	/*
	 * From the start (after opendir or rewinddir), list the directory as
	 * it is now, not as it was at opendir (which only checks it): the
	 * kernel caches this reply (cache_readdir) under the attributes it
	 * fetched just before, so a listing older than them would stay cached
	 * past the invalidation.  Later offsets page through that listing.
	 */
	if (off == 0 || !d->listed) {
		struct dir_handle fresh = { 0 };
		struct node dn;

		if ((rc = ts_tree_resolve(fs, ino, &dn)) == 0)
			rc = snap_dir(fs, ino, &dn, &fresh);
		if (rc < 0) {
			ts_index_unlock(fs->idx);
			free(fresh.v);
			free(buf);
			fuse_reply_err(req, -rc);
			return;
		}
		free(d->v);
		*d = fresh;
		d->listed = 1;
	}
	for (size_t i = (size_t)off; i < d->n; i++) {
		struct dirent_snap *s = &d->v[i];
		size_t need;

		if (!plus) {
			struct stat st = { .st_ino = s->ino, .st_mode = s->type };

			need = fuse_add_direntry(req, buf + used, size - used,
			                         s->name, &st, (off_t)(i + 1));
		} else {
			struct fuse_entry_param ep;
			struct node n;
			int dot = i < 2;

			memset(&ep, 0, sizeof(ep));
			if (dot) {
				ep.attr.st_ino = s->ino;
				ep.attr.st_mode = s->type;
			} else if (ts_tree_resolve(fs, s->ino, &n) == 0) {
				ts_tree_entry(fs, s->ino, &n, &ep);
			} else {
				continue;	/* gone since opendir */
			}
			need = fuse_add_direntry_plus(req, buf + used,
			                              size - used, s->name, &ep,
			                              (off_t)(i + 1));
			if (need <= size - used && !dot &&
			    ts_inodes_ref(fs->inodes, s->ino) < 0)
				need = size;	/* cannot count it: stop here */
		}
		if (need > size - used)
			break;
		used += need;
	}
	ts_index_unlock(fs->idx);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

void
ts_op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
           struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, 0);
}

void
ts_op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
               struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, 1);
}

void
ts_op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;

	(void)ino;
	free(d->v);
	free(d);
	fuse_reply_err(req, 0);
}
