/*
 * ticketfs-floor: the "FUSE floor" of the benchmarks.
 *
 * A minimal read-only, in-memory, low-level FUSE daemon: the fastest a FUSE
 * daemon can serve a given directory tree on this machine, with no disk and
 * no crypto behind it.  Timings of ticketfs are compared against it to see
 * how much of their cost is FUSE itself and how much is ticketfs.
 *
 *	ticketfs-floor SRC MOUNTPOINT [-f]
 *
 * At start it reads the whole tree under SRC (regular files and directories
 * only; anything else is skipped) into memory: names, modes, owners, sizes,
 * mtimes and file contents.  It then mounts that copy read-only at
 * MOUNTPOINT (-o ro,allow_other,fsname=floor) and serves it with a single
 * loop thread.  Without -f it goes to the background only once the mount
 * exists, so a zero exit means the mount is ready.  SIGTERM or
 * fusermount3 -u unmount it cleanly.
 *
 * Layout: every file and directory is a node in one table and its inode
 * number is its index there (0 unused, 1 = FUSE_ROOT_ID = SRC itself).  The
 * children of a directory occupy a contiguous run of the table, sorted by
 * name, so lookup is a binary search and readdir offset i+1 is entry i.
 * Nothing ever changes after the mount, so entries, attributes and
 * directory listings are cached by the kernel for 60 s (negative lookups
 * too), and inodes are never freed: forget just replies.
 */
#define FUSE_USE_VERSION 314

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define TIMEOUT 60.0	/* seconds the kernel may cache entries and attrs */

/* One file or directory.  Its inode number is its index in floor.nodes. */
struct node {
	char *name;		/* last path component ("" for the root) */
	mode_t mode;		/* S_IFREG or S_IFDIR | permission bits */
	uid_t uid;
	gid_t gid;
	nlink_t nlink;		/* 1 for files, 2 + subdirectories for dirs */
	off_t size;		/* files: bytes in data; dirs: SRC's st_size */
	blkcnt_t blocks;	/* SRC's st_blocks, so du and ls -s agree */
	struct timespec mtime;
	char *data;		/* file contents (NULL when empty or a dir) */
	fuse_ino_t parent;	/* the root is its own parent */
	fuse_ino_t first;	/* dirs: first child; children are contiguous */
	size_t nchild;		/* dirs: number of children */
};

/* The whole filesystem; reached from requests through fuse_req_userdata. */
struct floor {
	struct node *nodes;	/* nodes[ino]; nodes[0] is unused */
	size_t n;		/* nodes in use, including nodes[0] */
	size_t cap;		/* nodes allocated */
	unsigned long long bytes;	/* total file contents, for statfs */
};

/* ---- Loading SRC ---------------------------------------------------- */

/* Append a zeroed node; returns its index, or 0 when out of memory. */
static fuse_ino_t
node_new(struct floor *fl)
{
	if (fl->n == fl->cap) {
		size_t cap = fl->cap ? fl->cap * 2 : 1024;
		struct node *nodes = realloc(fl->nodes, cap * sizeof(*nodes));

		if (nodes == NULL)
			return 0;
		fl->nodes = nodes;
		fl->cap = cap;
	}
	memset(&fl->nodes[fl->n], 0, sizeof(fl->nodes[fl->n]));
	return fl->n++;
}

/* Copy the metadata of *st into node nd. */
static void
node_set_stat(struct node *nd, const struct stat *st)
{
	nd->mode = st->st_mode;
	nd->uid = st->st_uid;
	nd->gid = st->st_gid;
	nd->nlink = S_ISDIR(st->st_mode) ? 2 : 1;
	nd->size = S_ISDIR(st->st_mode) ? st->st_size : 0;
	nd->blocks = st->st_blocks;
	nd->mtime = st->st_mtim;
}

/* Read the regular file NAME in directory dfd into node nd. */
static int
load_file(struct floor *fl, int dfd, const char *name, struct node *nd)
{
	struct stat st;
	size_t len = 0, cap;
	ssize_t got;
	int fd;

	fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0)
		goto fail;
	node_set_stat(nd, &st);
	/* Read to EOF, whatever the size was when we looked. */
	cap = (size_t)st.st_size + 1;
	if ((nd->data = malloc(cap)) == NULL)
		goto fail;
	for (;;) {
		if (len == cap) {
			char *p = realloc(nd->data, cap * 2);

			if (p == NULL)
				goto fail;
			nd->data = p;
			cap *= 2;
		}
		got = read(fd, nd->data + len, cap - len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			goto fail;
		if (got == 0)
			break;
		len += (size_t)got;
	}
	close(fd);
	nd->size = (off_t)len;
	fl->bytes += len;
	return 0;
fail:
	fprintf(stderr, "ticketfs-floor: %s: %s\n", name, strerror(errno));
	if (fd >= 0)
		close(fd);
	return -1;
}

/* qsort: order a directory's children by name.  The context-free qsort
 * sees only the nodes, which is all it needs. */
static int
node_cmp(const void *a, const void *b)
{
	return strcmp(((const struct node *)a)->name,
	              ((const struct node *)b)->name);
}

/*
 * Load the directory open at dfd (taken over and closed here) as node dir:
 * first all its entries, appended contiguously and sorted, then each
 * subdirectory in turn.  Nodes are addressed by index throughout, since
 * node_new may move the table.
 */
static int
load_dir(struct floor *fl, int dfd, fuse_ino_t dir)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	struct stat st;
	fuse_ino_t first = fl->n, i;
	size_t n;

	if (d == NULL) {
		close(dfd);
		return -1;
	}
	while (errno = 0, (de = readdir(d)) != NULL) {
		fuse_ino_t ino;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			fprintf(stderr, "ticketfs-floor: %s: %s\n", de->d_name,
			        strerror(errno));
			goto fail;
		}
		if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
			continue;	/* symlinks, devices, sockets, fifos */
		if ((ino = node_new(fl)) == 0 ||
		    (fl->nodes[ino].name = strdup(de->d_name)) == NULL)
			goto fail;
		fl->nodes[ino].parent = dir;
		if (S_ISDIR(st.st_mode)) {
			node_set_stat(&fl->nodes[ino], &st);
			fl->nodes[dir].nlink++;
		} else if (load_file(fl, dfd, de->d_name, &fl->nodes[ino]) < 0) {
			goto fail;
		}
	}
	if (errno != 0)
		goto fail;
	n = fl->n - first;
	qsort(&fl->nodes[first], n, sizeof(struct node), node_cmp);
	fl->nodes[dir].first = first;
	fl->nodes[dir].nchild = n;
	for (i = first; i < first + n; i++) {
		int sub;

		if (!S_ISDIR(fl->nodes[i].mode))
			continue;
		sub = openat(dfd, fl->nodes[i].name,
		             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0) {
			fprintf(stderr, "ticketfs-floor: %s: %s\n",
			        fl->nodes[i].name, strerror(errno));
			goto fail;
		}
		if (load_dir(fl, sub, i) < 0)
			goto fail;
	}
	closedir(d);
	return 0;
fail:
	closedir(d);
	return -1;
}

/* Load the tree under src into fl.  Returns 0, or -1 having said why. */
static int
load_tree(struct floor *fl, const char *src)
{
	struct stat st;
	int dfd;

	if (node_new(fl) != 0 || node_new(fl) != FUSE_ROOT_ID)
		goto nomem;	/* nodes[0] (unused), nodes[1] (root) */
	dfd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fstat(dfd, &st) < 0) {
		fprintf(stderr, "ticketfs-floor: %s: %s\n", src, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	if ((fl->nodes[FUSE_ROOT_ID].name = strdup("")) == NULL) {
		close(dfd);
		goto nomem;
	}
	node_set_stat(&fl->nodes[FUSE_ROOT_ID], &st);
	fl->nodes[FUSE_ROOT_ID].parent = FUSE_ROOT_ID;
	if (load_dir(fl, dfd, FUSE_ROOT_ID) < 0) {
		fprintf(stderr, "ticketfs-floor: cannot load %s\n", src);
		return -1;
	}
	return 0;
nomem:
	fprintf(stderr, "ticketfs-floor: out of memory\n");
	return -1;
}

static void
free_tree(struct floor *fl)
{
	size_t i;

	for (i = 0; i < fl->n; i++) {
		free(fl->nodes[i].name);
		free(fl->nodes[i].data);
	}
	free(fl->nodes);
}

/* ---- Serving it ----------------------------------------------------- */

/* The node for ino, or NULL when ino is not one of ours. */
static const struct node *
node_get(fuse_req_t req, fuse_ino_t ino)
{
	const struct floor *fl = fuse_req_userdata(req);

	return ino != 0 && ino < fl->n ? &fl->nodes[ino] : NULL;
}

static void
fill_stat(fuse_ino_t ino, const struct node *nd, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = nd->mode;
	st->st_nlink = nd->nlink;
	st->st_uid = nd->uid;
	st->st_gid = nd->gid;
	st->st_size = nd->size;
	st->st_blksize = 4096;
	st->st_blocks = nd->blocks;
	st->st_atim = st->st_mtim = st->st_ctim = nd->mtime;
}

static void
fill_entry(fuse_ino_t ino, const struct node *nd, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino;
	e->attr_timeout = TIMEOUT;
	e->entry_timeout = TIMEOUT;
	fill_stat(ino, nd, &e->attr);
}

static void
floor_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	/* READDIRPLUS_AUTO stays as libfuse set it: the kernel picks plain
	 * or plus per directory, as it would for any daemon. */
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
}

static void
floor_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	const struct floor *fl = fuse_req_userdata(req);
	const struct node *dir = node_get(req, parent);
	struct fuse_entry_param e;
	size_t lo, hi;

	if (dir == NULL)
		return (void)fuse_reply_err(req, ENOENT);
	if (!S_ISDIR(dir->mode))
		return (void)fuse_reply_err(req, ENOTDIR);
	/* Binary search over the sorted, contiguous children. */
	lo = dir->first;
	hi = dir->first + dir->nchild;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, fl->nodes[mid].name);

		if (c == 0) {
			fill_entry(mid, &fl->nodes[mid], &e);
			return (void)fuse_reply_entry(req, &e);
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	/* Not there, and never will be: let the kernel cache that too. */
	memset(&e, 0, sizeof(e));
	e.ino = 0;
	e.entry_timeout = TIMEOUT;
	fuse_reply_entry(req, &e);
}

/* Inodes live as long as the daemon: nothing to forget. */
static void
floor_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req);
}

static void
floor_forget_multi(fuse_req_t req, size_t count,
                   struct fuse_forget_data *forgets)
{
	(void)count;
	(void)forgets;
	fuse_reply_none(req);
}

static void
floor_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	const struct node *nd = node_get(req, ino);
	struct stat st;

	(void)fi;
	if (nd == NULL)
		return (void)fuse_reply_err(req, ENOENT);
	fill_stat(ino, nd, &st);
	fuse_reply_attr(req, &st, TIMEOUT);
}

static void
floor_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	const struct node *nd = node_get(req, ino);

	if (nd == NULL)
		return (void)fuse_reply_err(req, ENOENT);
	if (!S_ISDIR(nd->mode))
		return (void)fuse_reply_err(req, ENOTDIR);
	fi->cache_readdir = 1;	/* the listing never changes: */
	fi->keep_cache = 1;	/* let the kernel keep it across opens */
	fuse_reply_open(req, fi);
}

/*
 * readdir and readdirplus.  Entry i of a directory is ".", "..", then its
 * sorted children; its offset (the cookie for the next call) is i + 1.
 * "." and ".." carry no entry (ino 0) in plus mode, as the kernel ignores
 * them there anyway.
 */
static void
do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
	const struct floor *fl = fuse_req_userdata(req);
	const struct node *dir = node_get(req, ino);
	struct fuse_entry_param e;
	size_t pos = 0, i, total;
	char *buf;

	if (dir == NULL)
		return (void)fuse_reply_err(req, ENOENT);
	if (!S_ISDIR(dir->mode))
		return (void)fuse_reply_err(req, ENOTDIR);
	if ((buf = malloc(size)) == NULL)
		return (void)fuse_reply_err(req, ENOMEM);
	total = 2 + dir->nchild;
	for (i = off < 0 ? 0 : (size_t)off; i < total; i++) {
		fuse_ino_t child;
		const char *name;
		size_t len;

		if (i < 2) {
			child = i == 0 ? ino : dir->parent;
			name = i == 0 ? "." : "..";
		} else {
			child = dir->first + (i - 2);
			name = fl->nodes[child].name;
		}
		fill_entry(child, &fl->nodes[child], &e);
		if (plus) {
			if (i < 2)
				e.ino = 0;
			len = fuse_add_direntry_plus(req, buf + pos, size - pos,
			                             name, &e, (off_t)i + 1);
		} else {
			len = fuse_add_direntry(req, buf + pos, size - pos, name,
			                        &e.attr, (off_t)i + 1);
		}
		if (len > size - pos)
			break;	/* did not fit: the next call starts here */
		pos += len;
	}
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

static void
floor_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
              struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, 0);
}

static void
floor_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                  struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, 1);
}

static void
floor_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void
floor_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	const struct node *nd = node_get(req, ino);

	if (nd == NULL)
		return (void)fuse_reply_err(req, ENOENT);
	if (S_ISDIR(nd->mode))
		return (void)fuse_reply_err(req, EISDIR);
	if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC))
		return (void)fuse_reply_err(req, EROFS);
	fi->keep_cache = 1;	/* contents never change */
	fuse_reply_open(req, fi);
}

static void
floor_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
           struct fuse_file_info *fi)
{
	const struct node *nd = node_get(req, ino);

	(void)fi;
	if (nd == NULL)
		return (void)fuse_reply_err(req, ENOENT);
	if (S_ISDIR(nd->mode))
		return (void)fuse_reply_err(req, EISDIR);
	if (off < 0 || off >= nd->size)
		return (void)fuse_reply_buf(req, NULL, 0);
	if (size > (size_t)(nd->size - off))
		size = (size_t)(nd->size - off);
	fuse_reply_buf(req, nd->data + off, size);
}

static void
floor_statfs(fuse_req_t req, fuse_ino_t ino)
{
	const struct floor *fl = fuse_req_userdata(req);
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_blocks = (fl->bytes + 4095) / 4096;
	sv.f_files = fl->n - 1;
	sv.f_namemax = NAME_MAX;
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

/* No xattrs: ENOSYS tells the kernel never to ask again. */
static void
floor_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	(void)ino;
	(void)name;
	(void)size;
	fuse_reply_err(req, ENOSYS);
}

static void
floor_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	(void)ino;
	(void)size;
	fuse_reply_err(req, ENOSYS);
}

static const struct fuse_lowlevel_ops floor_ops = {
	.init = floor_init,
	.lookup = floor_lookup,
	.forget = floor_forget,
	.forget_multi = floor_forget_multi,
	.getattr = floor_getattr,
	.opendir = floor_opendir,
	.readdir = floor_readdir,
	.readdirplus = floor_readdirplus,
	.releasedir = floor_release,
	.open = floor_open,
	.read = floor_read,
	.release = floor_release,
	.statfs = floor_statfs,
	.getxattr = floor_getxattr,
	.listxattr = floor_listxattr,
};

/* ---- main ----------------------------------------------------------- */

static int
usage(void)
{
	fprintf(stderr, "usage: ticketfs-floor SRC MOUNTPOINT [-f] [-d]\n");
	return 1;
}

int
main(int argc, char **argv)
{
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct floor fl = { 0 };
	struct fuse_session *se = NULL;
	const char *src = NULL, *mnt = NULL;
	char *mountpoint = NULL;	/* mnt, made absolute */
	int i, foreground = 0, status = 1;

	if (fuse_opt_add_arg(&args, argv[0]) != 0 ||
	    fuse_opt_add_arg(&args, "-o") != 0 ||
	    fuse_opt_add_arg(&args, "ro,allow_other,fsname=floor") != 0)
		return 1;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-f") == 0)
			foreground = 1;
		else if (strcmp(argv[i], "-d") == 0)
			fuse_opt_add_arg(&args, "-d"), foreground = 1;
		else if (argv[i][0] != '-' && src == NULL)
			src = argv[i];
		else if (argv[i][0] != '-' && mnt == NULL)
			mnt = argv[i];
		else
			return usage();
	}
	if (mnt == NULL)
		return usage();
	/* Absolute: the daemon changes to / when it goes to the background,
	 * and unmounts by this path. */
	if ((mountpoint = realpath(mnt, NULL)) == NULL) {
		fprintf(stderr, "ticketfs-floor: %s: %s\n", mnt,
		        strerror(errno));
		return 1;
	}
	if (load_tree(&fl, src) < 0)
		goto out;
	se = fuse_session_new(&args, &floor_ops, sizeof(floor_ops), &fl);
	if (se == NULL)
		goto out;	/* libfuse said why */
	if (fuse_set_signal_handlers(se) != 0)
		goto out;
	if (fuse_session_mount(se, mountpoint) != 0)
		goto out_handlers;
	/* The mount exists: only now may the parent return. */
	if (fuse_daemonize(foreground) != 0)
		goto out_unmount;
	status = fuse_session_loop(se) < 0 ? 1 : 0;	/* one thread */
out_unmount:
	fuse_session_unmount(se);
out_handlers:
	fuse_remove_signal_handlers(se);
out:
	if (se != NULL)
		fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	free_tree(&fl);
	free(mountpoint);
	return status;
}
