/*
 * fs: the FUSE operations of ticketfs (low-level API) and its ticker.
 *
 * Each op resolves the inode under the index's shared lock, decides from
 * the caller's uid, and ends in exactly one reply.  The kernel caches
 * entries and attributes for cfg.timeout seconds; what the kernel may have
 * cached is invalidated whenever the index or the whitelist changes.
 */
#include "fs/fs.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "fs/access.h"
#include "fs/index.h"
#include "fs/inode.h"
#include "store/sysio.h"
#include "store/util.h"

#define ACL_NAME "system.posix_acl_access"
#define WHITELIST_MAX (1u << 20)
#define TICK_MS 200

/* The ACL classes of the tree: who gets which bits. */
enum acl_class {
	CLASS_DIR,		/* directories below the root: any role, r-x */
	CLASS_META,		/* status, created, expires: any role, r-- */
	CLASS_SEALED,		/* sealed fields, messages: reader|agent, r-- */
	CLASS_COUNT
};

struct acl_set {
	uint8_t *blob[CLASS_COUNT];	/* system.posix_acl_access values */
	size_t len[CLASS_COUNT];
	unsigned mode[CLASS_COUNT];	/* matching permission bits */
};

/* Where a file checks its file-stat against the whitelist it reloads. */
struct file_sig {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	int valid;
};

struct ts_fs {
	struct ts_store *st;		/* the store; the caller's */
	const struct ts_seckey *key;	/* the secret key; the caller's */
	struct ts_index *idx;		/* tickets; has its own lock */
	struct ts_inodes *inodes;	/* kernel lookup counts; own lock */
	struct ts_fs_config cfg;	/* options; read-only */
	uid_t owner;			/* owner of every inode: the daemon */
	gid_t group;

	pthread_rwlock_t acc_lock;
	struct ts_access *acc;		/* the whitelist; guarded by acc_lock */
	struct acl_set acls;		/* derived from acc; guarded by acc_lock */

	struct fuse_session *se;	/* for notifications; set by start */
	pthread_t ticker;		/* intake and reload thread */
	int ticker_running;		/* main thread only */
	atomic_int stop;		/* asks the ticker to end */
	atomic_int reload;		/* SIGHUP: reload the whitelist */
	struct file_sig wl_sig, passwd_sig, group_sig;	/* ticker only */
};

/* A resolved inode. */
enum node_kind {
	N_ROOT, N_TICKETS, N_TICKET, N_STATUS, N_CREATED, N_FIELD, N_MSGDIR,
	N_AUTHDIR, N_MSG, N_AUTH, N_AFIELD, N_EXPIRES
};

struct node {
	enum node_kind kind;
	struct ts_entry *e;		/* the ticket, below tickets/ */
	int field;			/* N_FIELD: enum ts_field; N_AFIELD */
	struct ts_message *m;		/* N_MSG */
	struct ts_auth *a;		/* N_AUTH, N_AFIELD, N_EXPIRES */
};

/* An open file: its content, made at the first read. */
struct handle {
	fuse_ino_t ino;			/* what was opened */
	uint8_t *data;			/* plaintext; wiped at release */
	size_t len;
	int loaded;			/* data is valid */
};

/* A directory listing, taken at opendir so offsets stay stable. */
struct dirent_snap {
	char name[TS_NAME_MAX + 1];
	fuse_ino_t ino;
	mode_t type;
};

struct dir_handle {
	struct dirent_snap *v;
	size_t n;
};

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

static struct ts_fs *
fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static unsigned
caller_roles(struct ts_fs *fs, fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	unsigned roles;

	pthread_rwlock_rdlock(&fs->acc_lock);
	roles = ts_access_roles(fs->acc, ctx->uid);
	pthread_rwlock_unlock(&fs->acc_lock);
	return roles;
}

/* ---- the whitelist and the ACLs derived from it ---- */

static void
acls_release(struct acl_set *s)
{
	for (int c = 0; c < CLASS_COUNT; c++)
		free(s->blob[c]);
	memset(s, 0, sizeof(*s));
}

static int
acls_build(const struct ts_access *acc, uid_t owner, struct acl_set *s)
{
	static const unsigned roles[CLASS_COUNT] = { TS_RIGHT_LIST,
	        TS_RIGHT_LIST, TS_RIGHT_SEALED };
	static const unsigned perm[CLASS_COUNT] = { 5, 4, 4 };

	memset(s, 0, sizeof(*s));
	for (int c = 0; c < CLASS_COUNT; c++) {
		size_t len = ts_access_acl(acc, owner, roles[c], perm[c], NULL,
		                           0, &s->mode[c]);

		if ((s->blob[c] = malloc(len)) == NULL) {
			acls_release(s);
			return -ENOMEM;
		}
		s->len[c] = ts_access_acl(acc, owner, roles[c], perm[c],
		                          s->blob[c], len, &s->mode[c]);
	}
	return 0;
}

static void
sig_of(const char *path, struct file_sig *sig)
{
	struct stat st;

	memset(sig, 0, sizeof(*sig));
	if (stat(path, &st) < 0)
		return;
	*sig = (struct file_sig){ st.st_dev, st.st_ino, st.st_size, st.st_mtim,
	                          st.st_ctim, 1 };
}

static int
sig_changed(const char *path, struct file_sig *sig)
{
	struct file_sig now;

	sig_of(path, &now);
	if (memcmp(&now, sig, sizeof(now)) == 0)
		return 0;
	*sig = now;
	return 1;
}

/* Reads and parses the whitelist file. */
static int
whitelist_read(const char *path, struct ts_access **out, char *err,
               size_t errlen)
{
	unsigned char *text;
	size_t len;
	int rc;

	rc = ts_sysio_read_file(AT_FDCWD, path, WHITELIST_MAX, &text, &len);
	if (rc < 0) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-rc));
		return rc;
	}
	rc = ts_access_parse((const char *)text, len, out, err, errlen);
	free(text);
	return rc;
}

/* Installs a new whitelist and its ACLs. */
static int
whitelist_install(struct ts_fs *fs, struct ts_access *acc)
{
	struct acl_set s, old;
	struct ts_access *oldacc;
	int rc;

	if ((rc = acls_build(acc, fs->owner, &s)) < 0) {
		ts_access_free(acc);
		return rc;
	}
	pthread_rwlock_wrlock(&fs->acc_lock);
	oldacc = fs->acc;
	old = fs->acls;
	fs->acc = acc;
	fs->acls = s;
	pthread_rwlock_unlock(&fs->acc_lock);
	ts_access_free(oldacc);
	acls_release(&old);
	return 0;
}

/* ---- resolving inodes ---- */

static int
resolve(struct ts_fs *fs, fuse_ino_t ino, struct node *n)
{
	uint64_t slot;
	uint32_t item;
	unsigned sub;

	memset(n, 0, sizeof(*n));
	if (ino == TS_INO_ROOT) {
		n->kind = N_ROOT;
		return 0;
	}
	if (ino == TS_INO_TICKETS) {
		n->kind = N_TICKETS;
		return 0;
	}
	if (ts_ino_split(ino, &slot, &item, &sub) < 0)
		return -ENOENT;
	if ((n->e = ts_index_by_slot(fs->idx, slot)) == NULL)
		return -ENOENT;
	if (item == 0) {
		if (sub == TS_SUB_DIR) {
			n->kind = N_TICKET;
			return 0;
		}
		if (n->e->err)
			return -EIO;
		switch (sub) {
		case TS_SUB_STATUS:
			n->kind = N_STATUS;
			return 0;
		case TS_SUB_CREATED:
			n->kind = N_CREATED;
			return 0;
		case TS_SUB_MSGDIR:
			n->kind = N_MSGDIR;
			return 0;
		case TS_SUB_AUTHDIR:
			n->kind = N_AUTHDIR;
			return 0;
		}
		if (sub >= TS_SUB_FIELD && sub < TS_SUB_FIELD + TS_F_COUNT &&
		    n->e->t.field[sub - TS_SUB_FIELD].len != 0) {
			n->kind = N_FIELD;
			n->field = (int)(sub - TS_SUB_FIELD);
			return 0;
		}
		return -ENOENT;
	}
	if (n->e->err)
		return -EIO;
	if ((n->m = ts_entry_msg(n->e, item)) != NULL) {
		n->kind = N_MSG;
		return sub == TS_SUB_ITEM ? 0 : -ENOENT;
	}
	if ((n->a = ts_entry_auth(n->e, item)) == NULL)
		return -ENOENT;
	if (sub == TS_SUB_ITEM) {
		n->kind = N_AUTH;
		return 0;
	}
	if (sub == TS_SUB_EXPIRES) {
		n->kind = N_EXPIRES;
		return 0;
	}
	if (sub >= TS_SUB_AFIELD && sub < TS_SUB_AFIELD + TS_A_COUNT &&
	    n->a->box[sub - TS_SUB_AFIELD].len != 0) {
		n->kind = N_AFIELD;
		n->field = (int)(sub - TS_SUB_AFIELD);
		return 0;
	}
	return -ENOENT;
}

static int
is_dir(enum node_kind k)
{
	return k == N_ROOT || k == N_TICKETS || k == N_TICKET || k == N_MSGDIR ||
	       k == N_AUTHDIR || k == N_AUTH;
}

static int
is_sealed(enum node_kind k)
{
	return k == N_FIELD || k == N_MSG || k == N_AFIELD;
}

static enum acl_class
class_of(enum node_kind k)
{
	return is_dir(k) ? CLASS_DIR : is_sealed(k) ? CLASS_SEALED : CLASS_META;
}

/* The text of a plain-metadata file. */
static size_t
meta_text(const struct node *n, char buf[64])
{
	char t[32];

	switch (n->kind) {
	case N_STATUS:
		return (size_t)snprintf(buf, 64, "%s\n",
		                        ts_status_names[n->e->t.status]);
	case N_CREATED:
		ts_time_format(n->e->t.created_ms, t);
		return (size_t)snprintf(buf, 64, "%s\n", t);
	case N_EXPIRES:
		ts_time_format(n->a->expires_ms, t);
		return (size_t)snprintf(buf, 64, "%s\n", t);
	default:
		buf[0] = '\0';
		return 0;
	}
}

static struct timespec
ts_of(int64_t ms)
{
	return (struct timespec){ (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };
}

/* Fills st for n; lock held.  No decryption: sizes come from box sizes. */
static void
node_stat(struct ts_fs *fs, fuse_ino_t ino, const struct node *n,
          struct stat *st)
{
	char text[64];
	int64_t ms = n->e ? n->e->t.created_ms : 0;
	unsigned mode;

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = fs->owner;
	st->st_gid = fs->group;
	pthread_rwlock_rdlock(&fs->acc_lock);
	mode = fs->acls.mode[class_of(n->kind)];
	pthread_rwlock_unlock(&fs->acc_lock);
	if (is_dir(n->kind)) {
		st->st_mode = S_IFDIR | (n->kind == N_ROOT ? 0755 : mode);
		st->st_nlink = 2;
		st->st_size = 4096;
		if (n->e)
			ms = n->e->changed_ms;
		if (n->kind == N_AUTH)
			ms = n->a->created_ms;
	} else {
		st->st_mode = S_IFREG | mode;
		st->st_nlink = 1;
		switch (n->kind) {
		case N_FIELD:
			st->st_size = (off_t)ts_box_plain_len(&n->e->t.field[n->field]);
			break;
		case N_MSG:
			st->st_size = (off_t)ts_box_plain_len(&n->m->box);
			ms = n->m->stored_ms;
			break;
		case N_AFIELD:
			st->st_size = (off_t)ts_box_plain_len(&n->a->box[n->field]);
			ms = n->a->created_ms;
			break;
		case N_EXPIRES:
			ms = n->a->created_ms;
			/* fall through */
		default:
			st->st_size = (off_t)meta_text(n, text);
		}
	}
	if (n->kind == N_STATUS && n->e->t.processing_ms)
		ms = n->e->t.processed_ms ? n->e->t.processed_ms
		                          : n->e->t.processing_ms;
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_blksize = 4096;
	st->st_mtim = st->st_ctim = st->st_atim = ts_of(ms ? ms : ts_now_ms());
}

/* Finds child name of parent; fills *ino. Lock held. */
static int
child(struct ts_fs *fs, fuse_ino_t parent, const char *name, fuse_ino_t *ino)
{
	struct node p;
	int rc;

	if ((rc = resolve(fs, parent, &p)) < 0)
		return rc;
	switch (p.kind) {
	case N_ROOT:
		if (strcmp(name, "tickets") == 0) {
			*ino = TS_INO_TICKETS;
			return 0;
		}
		return -ENOENT;
	case N_TICKETS: {
		struct ts_entry *e = ts_index_find(fs->idx, name);

		if (e == NULL)
			return -ENOENT;
		*ino = ts_ino_make(e->slot, 0, TS_SUB_DIR);
		return 0;
	}
	case N_TICKET: {
		int f;

		if (p.e->err)
			return -EIO;
		if (strcmp(name, "status") == 0)
			*ino = ts_ino_make(p.e->slot, 0, TS_SUB_STATUS);
		else if (strcmp(name, "created") == 0)
			*ino = ts_ino_make(p.e->slot, 0, TS_SUB_CREATED);
		else if (strcmp(name, "messages") == 0)
			*ino = ts_ino_make(p.e->slot, 0, TS_SUB_MSGDIR);
		else if (strcmp(name, "authorizations") == 0)
			*ino = ts_ino_make(p.e->slot, 0, TS_SUB_AUTHDIR);
		else if ((f = ts_field_lookup(name)) >= 0 &&
		         p.e->t.field[f].len != 0)
			*ino = ts_ino_make(p.e->slot, 0,
			                   TS_SUB_FIELD + (unsigned)f);
		else
			return -ENOENT;
		return 0;
	}
	case N_MSGDIR: {
		struct ts_message *m = ts_ticket_find_msg(&p.e->t, name);

		if (m == NULL)
			return -ENOENT;
		*ino = ts_ino_make(p.e->slot, m->slot + 1, TS_SUB_ITEM);
		return 0;
	}
	case N_AUTHDIR: {
		struct ts_auth *a = ts_ticket_find_auth(&p.e->t, name);

		if (a == NULL)
			return -ENOENT;
		*ino = ts_ino_make(p.e->slot, a->slot + 1, TS_SUB_ITEM);
		return 0;
	}
	case N_AUTH: {
		int f;

		if (strcmp(name, "expires") == 0)
			*ino = ts_ino_make(p.e->slot, p.a->slot + 1,
			                   TS_SUB_EXPIRES);
		else if ((f = ts_afield_lookup(name)) >= 0 &&
		         p.a->box[f].len != 0)
			*ino = ts_ino_make(p.e->slot, p.a->slot + 1,
			                   TS_SUB_AFIELD + (unsigned)f);
		else
			return -ENOENT;
		return 0;
	}
	default:
		return -ENOTDIR;
	}
}

/* Below the root, every request needs some role: the rest learn nothing. */
static int
gate(struct ts_fs *fs, fuse_req_t req, fuse_ino_t ino)
{
	if (ino == TS_INO_ROOT)
		return 0;
	return caller_roles(fs, req) & TS_RIGHT_LIST ? 0 : -EACCES;
}

static void
fill_entry(struct ts_fs *fs, fuse_ino_t ino, const struct node *n,
           struct fuse_entry_param *ep)
{
	memset(ep, 0, sizeof(*ep));
	ep->ino = ino;
	ep->generation = 1;
	ep->attr_timeout = fs->cfg.timeout;
	ep->entry_timeout = fs->cfg.timeout;
	node_stat(fs, ino, n, &ep->attr);
}

/* ---- operations ---- */

static void
op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct ts_fs *fs = userdata;

	if (conn->capable & FUSE_CAP_POSIX_ACL)
		conn->want |= FUSE_CAP_POSIX_ACL;
	else
		ts_fs_log(fs, "the kernel lacks FUSE POSIX ACL support: access "
		          "control falls back to the daemon's own checks");
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* Nothing here is written through the page cache. */
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
}

static void
op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ts_fs *fs = fs_of(req);
	struct fuse_entry_param ep;
	struct node n;
	fuse_ino_t ino;
	int rc;

	if (parent == TS_INO_ROOT && strcmp(name, "tickets") == 0)
		rc = gate(fs, req, TS_INO_TICKETS);
	else
		rc = gate(fs, req, parent);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	ts_index_rdlock(fs->idx);
	rc = child(fs, parent, name, &ino);
	if (rc == 0)
		rc = resolve(fs, ino, &n);
	if (rc == 0)
		fill_entry(fs, ino, &n, &ep);
	ts_index_unlock(fs->idx);
	if (rc < 0) {
		fuse_reply_err(req, -rc);	/* ENOENT: not cached, see README */
		return;
	}
	if (ts_inodes_ref(fs->inodes, ino) < 0) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (fuse_reply_entry(req, &ep) != 0)
		ts_inodes_forget(fs->inodes, ino, 1);
}

static void
op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	ts_inodes_forget(fs_of(req)->inodes, ino, nlookup);
	fuse_reply_none(req);
}

static void
op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *v)
{
	struct ts_fs *fs = fs_of(req);

	for (size_t i = 0; i < count; i++)
		ts_inodes_forget(fs->inodes, v[i].ino, v[i].nlookup);
	fuse_reply_none(req);
}

static void
op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ts_fs *fs = fs_of(req);
	struct stat st;
	struct node n;
	int rc;

	(void)fi;
	if ((rc = gate(fs, req, ino)) < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	ts_index_rdlock(fs->idx);
	rc = resolve(fs, ino, &n);
	if (rc == 0)
		node_stat(fs, ino, &n, &st);
	ts_index_unlock(fs->idx);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, fs->cfg.timeout);
}

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
		break;
	case N_TICKETS:
		for (size_t i = 0; i < ts_index_count(fs->idx) && !rc; i++) {
			struct ts_entry *e = ts_index_at(fs->idx, i);
			rc = snap_add(d, &cap, e->t.id,
			              ts_ino_make(e->slot, 0, TS_SUB_DIR), S_IFDIR);
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
				rc |= snap_add(d, &cap, ts_field_names[f],
				               ts_ino_make(s, 0, TS_SUB_FIELD +
				                           (unsigned)f), S_IFREG);
		rc |= snap_add(d, &cap, "messages",
		               ts_ino_make(s, 0, TS_SUB_MSGDIR), S_IFDIR);
		rc |= snap_add(d, &cap, "authorizations",
		               ts_ino_make(s, 0, TS_SUB_AUTHDIR), S_IFDIR);
		break;
	case N_MSGDIR:
		for (size_t i = 0; i < n->e->t.nmsg && !rc; i++)
			rc = snap_add(d, &cap, n->e->t.msg[i].name,
			              ts_ino_make(s, n->e->t.msg[i].slot + 1,
			                          TS_SUB_ITEM), S_IFREG);
		break;
	case N_AUTHDIR:
		for (size_t i = 0; i < n->e->t.nauth && !rc; i++)
			rc = snap_add(d, &cap, n->e->t.auth[i].name,
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

static void
op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ts_fs *fs = fs_of(req);
	struct dir_handle *d;
	struct node n;
	int rc;

	if ((rc = gate(fs, req, ino)) < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ts_index_rdlock(fs->idx);
	rc = resolve(fs, ino, &n);
	if (rc == 0)
		rc = snap_dir(fs, ino, &n, d);
	ts_index_unlock(fs->idx);
	if (rc < 0) {
		free(d->v);
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
	char *buf = malloc(size);
	size_t used = 0;

	(void)ino;
	if (buf == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	ts_index_rdlock(fs->idx);
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
			} else if (resolve(fs, s->ino, &n) == 0) {
				fill_entry(fs, s->ino, &n, &ep);
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

static void
op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
           struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, 0);
}

static void
op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
               struct fuse_file_info *fi)
{
	readdir_common(req, ino, size, off, fi, 1);
}

static void
op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct dir_handle *d = (struct dir_handle *)(uintptr_t)fi->fh;

	(void)ino;
	free(d->v);
	free(d);
	fuse_reply_err(req, 0);
}

static void
op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ts_fs *fs = fs_of(req);
	unsigned roles = caller_roles(fs, req);
	struct handle *h;
	struct node n;
	int rc;

	if (!(roles & TS_RIGHT_LIST)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	ts_index_rdlock(fs->idx);
	rc = resolve(fs, ino, &n);
	ts_index_unlock(fs->idx);
	if (rc == 0 && is_dir(n.kind))
		rc = -EISDIR;
	if (rc == 0 && is_sealed(n.kind) && !(roles & TS_RIGHT_SEALED))
		rc = -EACCES;
	if (rc == 0 && (fi->flags & O_ACCMODE) != O_RDONLY)
		rc = roles & TS_RIGHT_WRITE ? -EROFS : -EACCES;
	if (rc == 0 && (fi->flags & O_TRUNC))
		rc = -EROFS;
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->ino = ino;
	fi->fh = (uint64_t)(uintptr_t)h;
	/*
	 * Content never changes under an inode without a notification, so the
	 * page cache may keep it; only callers the daemon let open the file
	 * ever reach it.
	 */
	fi->keep_cache = 1;
	if (fuse_reply_open(req, fi) != 0)
		free(h);
}

/* Makes h's content: plain metadata, or the opened box. Lock held. */
static int
load_content(struct ts_fs *fs, struct handle *h)
{
	char path[3 * TS_NAME_MAX], text[64];
	const struct ts_box *box;
	struct node n;
	int rc;

	if ((rc = resolve(fs, h->ino, &n)) < 0)
		return rc;
	switch (n.kind) {
	case N_FIELD:
		snprintf(path, sizeof(path), "%s", ts_field_names[n.field]);
		box = &n.e->t.field[n.field];
		break;
	case N_MSG:
		snprintf(path, sizeof(path), "messages/%s", n.m->name);
		box = &n.m->box;
		break;
	case N_AFIELD:
		snprintf(path, sizeof(path), "authorizations/%s/%s", n.a->name,
		         ts_afield_names[n.field]);
		box = &n.a->box[n.field];
		break;
	default:
		h->len = meta_text(&n, text);
		if ((h->data = malloc(h->len + 1)) == NULL)
			return -ENOMEM;
		memcpy(h->data, text, h->len + 1);
		h->loaded = 1;
		return 0;
	}
	rc = ts_index_open_box(fs->idx, fs->key, n.e, path, box, &h->data);
	if (rc < 0)
		return rc;
	h->len = ts_box_plain_len(box);
	h->loaded = 1;
	return 0;
}

static void
op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
        struct fuse_file_info *fi)
{
	struct ts_fs *fs = fs_of(req);
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	int rc = 0;

	(void)ino;
	if (!h->loaded) {
		ts_index_rdlock(fs->idx);
		rc = load_content(fs, h);
		ts_index_unlock(fs->idx);
	}
	if (rc < 0) {
		fuse_reply_err(req, rc == -ENOENT ? EIO : -rc);
		return;
	}
	if ((size_t)off >= h->len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, (const char *)h->data + off,
		               size < h->len - (size_t)off ? size
		                                           : h->len - (size_t)off);
}

static void
op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	(void)ino;
	if (h->data != NULL) {
		sodium_memzero(h->data, h->len);
		free(h->data);
	}
	free(h);
	fuse_reply_err(req, 0);
}

static void
op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct ts_fs *fs = fs_of(req);
	struct node n;
	int rc;

	/*
	 * The ACL is served to every caller: the kernel needs it precisely to
	 * refuse the callers it does not list.
	 */
	if (ino == TS_INO_ROOT || strcmp(name, ACL_NAME) != 0) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	ts_index_rdlock(fs->idx);
	rc = resolve(fs, ino, &n);
	ts_index_unlock(fs->idx);
	if (rc < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	pthread_rwlock_rdlock(&fs->acc_lock);
	{
		enum acl_class c = class_of(n.kind);
		size_t len = fs->acls.len[c];

		if (size == 0)
			fuse_reply_xattr(req, len);
		else if (size < len)
			fuse_reply_err(req, ERANGE);
		else
			fuse_reply_buf(req, (const char *)fs->acls.blob[c], len);
	}
	pthread_rwlock_unlock(&fs->acc_lock);
}

static void
op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	static const char names[] = ACL_NAME;

	if (ino == TS_INO_ROOT)
		fuse_reply_xattr(req, 0);
	else if (size == 0)
		fuse_reply_xattr(req, sizeof(names));
	else if (size < sizeof(names))
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, names, sizeof(names));
}

static void
op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = sv.f_frsize = 4096;
	sv.f_namemax = TS_NAME_MAX;
	fuse_reply_statfs(req, &sv);
}

/* Refusals: the unlisted learn nothing, the listed learn it is read-only. */
static void
refuse(fuse_req_t req, int err)
{
	fuse_reply_err(req, caller_roles(fs_of(req), req) ? err : EACCES);
}

static void
op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
           struct fuse_file_info *fi)
{
	(void)ino, (void)attr, (void)fi;
	refuse(req, to_set & (FUSE_SET_ATTR_SIZE) ? EROFS : EPERM);
}

static void
op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
         dev_t rdev)
{
	(void)parent, (void)name, (void)mode, (void)rdev;
	refuse(req, EROFS);
}

static void
op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	(void)parent, (void)name, (void)mode;
	refuse(req, EROFS);
}

static void
op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	(void)parent, (void)name;
	refuse(req, EROFS);
}

static void
op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
           const char *name)
{
	(void)link, (void)parent, (void)name;
	refuse(req, EPERM);
}

static void
op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
          fuse_ino_t newparent, const char *newname, unsigned flags)
{
	(void)parent, (void)name, (void)newparent, (void)newname, (void)flags;
	refuse(req, EPERM);
}

static void
op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
        const char *newname)
{
	(void)ino, (void)newparent, (void)newname;
	refuse(req, EPERM);
}

static void
op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
          struct fuse_file_info *fi)
{
	(void)parent, (void)name, (void)mode, (void)fi;
	refuse(req, EROFS);
}

static void
op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
            const char *value, size_t size, int flags)
{
	(void)ino, (void)name, (void)value, (void)size, (void)flags;
	refuse(req, EPERM);
}

static void
op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	(void)ino, (void)name;
	refuse(req, EPERM);
}

const struct fuse_lowlevel_ops ts_fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_unlink,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.statfs = op_statfs,
	.setxattr = op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = op_removexattr,
	.create = op_create,
};

/* ---- the ticker: intake pickup and whitelist reload ---- */

/* Makes the kernel drop what it cached of every inode it holds. */
static void
invalidate_all(struct ts_fs *fs)
{
	uint64_t *v;
	size_t n;

	fuse_lowlevel_notify_inval_inode(fs->se, TS_INO_TICKETS, -1, 0);
	if (ts_inodes_snapshot(fs->inodes, &v, &n) < 0) {
		ts_fs_log(fs, "out of memory invalidating the kernel's caches");
		return;
	}
	for (size_t i = 0; i < n; i++)
		fuse_lowlevel_notify_inval_inode(fs->se, v[i], -1, 0);
	free(v);
}

static void
maybe_reload(struct ts_fs *fs)
{
	struct ts_access *acc;
	char err[512];
	int changed;

	/* User and group names resolve anew when the databases change. */
	changed = sig_changed(fs->cfg.whitelist_path, &fs->wl_sig);
	changed |= sig_changed("/etc/passwd", &fs->passwd_sig);
	changed |= sig_changed("/etc/group", &fs->group_sig);
	changed |= atomic_exchange(&fs->reload, 0);
	if (!changed)
		return;
	if (whitelist_read(fs->cfg.whitelist_path, &acc, err, sizeof(err)) < 0) {
		ts_fs_log(fs, "whitelist %s refused, the previous one stays in "
		          "force: %s", fs->cfg.whitelist_path, err);
		return;
	}
	if (whitelist_install(fs, acc) < 0) {
		ts_fs_log(fs, "out of memory installing the whitelist");
		return;
	}
	ts_fs_log(fs, "whitelist %s loaded: %zu uid%s", fs->cfg.whitelist_path,
	          ts_access_count(acc), ts_access_count(acc) == 1 ? "" : "s");
	if (fs->se != NULL)
		invalidate_all(fs);
}

static void
take_intake(struct ts_fs *fs)
{
	struct ts_index_change *ch = NULL;
	size_t nch = 0;
	int rc = ts_index_intake(fs->idx, &ch, &nch);

	if (rc < 0)
		ts_fs_log(fs, "intake: %s", strerror(-rc));
	for (size_t i = 0; i < nch && fs->se != NULL; i++) {
		if (ch[i].gone_ino != 0)
			fuse_lowlevel_notify_inval_entry(fs->se, ch[i].dir_ino,
			                                 ch[i].name,
			                                 strlen(ch[i].name));
		fuse_lowlevel_notify_inval_inode(fs->se, ch[i].dir_ino, 0, 0);
	}
	free(ch);
}

static void *
ticker(void *arg)
{
	struct ts_fs *fs = arg;
	struct timespec tick = { 0, TICK_MS * 1000000L };

	while (!atomic_load(&fs->stop)) {
		nanosleep(&tick, NULL);
		maybe_reload(fs);
		take_intake(fs);
	}
	return NULL;
}

int
ts_fs_start(struct ts_fs *fs, struct fuse_session *se)
{
	int rc;

	sigset_t all, old;

	fs->se = se;
	atomic_store(&fs->stop, 0);
	/* Signals belong to the FUSE loop's thread, whose read they end. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&fs->ticker, NULL, ticker, fs);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0)
		return -rc;
	fs->ticker_running = 1;
	return 0;
}

void
ts_fs_stop(struct ts_fs *fs)
{
	if (!fs->ticker_running)
		return;
	atomic_store(&fs->stop, 1);
	pthread_join(fs->ticker, NULL);
	fs->ticker_running = 0;
}

void
ts_fs_request_reload(struct ts_fs *fs)
{
	atomic_store(&fs->reload, 1);
}

int
ts_fs_new(struct ts_store *st, const struct ts_seckey *key,
          const struct ts_fs_config *cfg, struct ts_fs **out, char *err,
          size_t errlen)
{
	struct ts_fs *fs = calloc(1, sizeof(*fs));
	struct ts_access *acc;
	int rc;

	if (fs == NULL)
		return -ENOMEM;
	fs->st = st;
	fs->key = key;
	fs->cfg = *cfg;
	fs->owner = getuid();
	fs->group = getgid();
	pthread_rwlock_init(&fs->acc_lock, NULL);
	sig_of(cfg->whitelist_path, &fs->wl_sig);
	sig_of("/etc/passwd", &fs->passwd_sig);
	sig_of("/etc/group", &fs->group_sig);
	if ((rc = whitelist_read(cfg->whitelist_path, &acc, err, errlen)) < 0)
		goto out_free;
	if ((rc = whitelist_install(fs, acc)) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out_free;
	}
	if ((rc = ts_inodes_new(&fs->inodes)) < 0 ||
	    (rc = ts_index_new(st, ts_fs_log, fs, &fs->idx)) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out_free;
	}
	if ((rc = ts_index_load(fs->idx)) < 0) {
		snprintf(err, errlen, "cannot load the store: %s", strerror(-rc));
		goto out_free;
	}
	take_intake(fs);
	*out = fs;
	return 0;
out_free:
	ts_fs_free(fs);
	return rc;
}

void
ts_fs_free(struct ts_fs *fs)
{
	if (fs == NULL)
		return;
	ts_fs_stop(fs);
	ts_index_free(fs->idx);
	ts_inodes_free(fs->inodes);
	ts_access_free(fs->acc);
	acls_release(&fs->acls);
	pthread_rwlock_destroy(&fs->acc_lock);
	free(fs);
}
