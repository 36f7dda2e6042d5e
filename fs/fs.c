/*
 * fs: the daemon's state and the read side of its FUSE operations (low-level
 * API): resolving inodes, attributes, listings, opening and reading.  The
 * writes are in write.c, the background thread in ticker.c.
 *
 * Each op resolves the inode under the index's shared lock, checking the
 * item's retention deadline against the clock, decides from the caller's
 * uid, and ends in exactly one reply.  The kernel caches entries and
 * attributes for cfg.timeout seconds, never past an item's deadline, and
 * whatever changes is invalidated through ticker.c.
 */
#include "fs/fs_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "fs/fold.h"
#include "store/audit.h"
#include "store/sysio.h"
#include "store/util.h"

#define ACL_NAME "system.posix_acl_access"
/* Named entries in one page (4096 bytes: a 4-byte header, 8 a entry, four
 * of them the owner, group, mask and other): 507 uids. */
#define TS_FS_ACL_UIDS_MAX ((4096 - 4) / 8 - 4)
#define CONFIG_MAX (1u << 20)

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

unsigned
ts_fs_roles(struct ts_fs *fs, fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	unsigned roles;

	pthread_rwlock_rdlock(&fs->acc_lock);
	roles = ts_access_roles(fs->acc, ctx->uid);
	pthread_rwlock_unlock(&fs->acc_lock);
	return roles;
}

/* ---- the audit trail ---- */

/* The caller's program name, from /proc, cached for a second by pid. */
static void
comm_of(struct ts_fs *fs, pid_t pid, char comm[17])
{
	struct comm_cache *c = &fs->comms[(unsigned)pid % 64];
	int64_t now = ts_now_ms();
	char path[64];
	ssize_t n = -1;
	int fd;

	pthread_mutex_lock(&fs->comm_lock);
	if (c->pid == pid && now - c->ms < 1000) {
		memcpy(comm, c->comm, 17);
		pthread_mutex_unlock(&fs->comm_lock);
		return;
	}
	pthread_mutex_unlock(&fs->comm_lock);
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, comm, 16);
		close(fd);
	}
	if (n <= 0) {
		strcpy(comm, "?");	/* the caller is gone already */
		return;
	}
	comm[n] = '\0';
	comm[strcspn(comm, "\n")] = '\0';
	pthread_mutex_lock(&fs->comm_lock);
	c->pid = pid;
	c->ms = now;
	memcpy(c->comm, comm, 17);
	pthread_mutex_unlock(&fs->comm_lock);
}

int
ts_fs_audit(struct ts_fs *fs, fuse_req_t req, const char *op,
            const char *path, int err, const char *detail)
{
	struct ts_audit_entry e = { .comm = "ticketfs", .op = op,
	                            .path = path, .err = err,
	                            .detail = detail };
	char comm[17];
	int rc;

	if (fs->audit == NULL)
		return 0;
	if (req != NULL) {
		const struct fuse_ctx *ctx = fuse_req_ctx(req);

		e.uid = ctx->uid;
		e.pid = ctx->pid;
		comm_of(fs, ctx->pid, comm);
		e.comm = comm;
	}
	/* A request's failures are folded: a flood must not fill the disk. */
	if (req != NULL && fs->fold != NULL && err != 0)
		rc = ts_fold_refusal(fs->fold, &e, ts_now_ms());
	else
		rc = ts_audit_append(fs->audit, &e);
	if (rc < 0) {
		ts_fs_log(fs, "cannot write the audit trail (%s): refusing %s %s",
		          strerror(-rc), op, path);
		return -EIO;
	}
	return 0;
}

void
ts_fs_audit_tick(struct ts_fs *fs, int force)
{
	uint64_t avail, line;
	int rc;

	if (fs->audit == NULL)
		return;
	if (fs->fold != NULL &&
	    (rc = ts_fold_flush(fs->fold, ts_now_ms(), force)) < 0)
		ts_fs_log(fs, "cannot write the audit trail (%s): refusal counts "
		          "kept for later", strerror(-rc));
	if (!force && ts_audit_space_low(fs->audit, ts_now_ms(), &avail,
	                                 &line) == 1)
		ts_fs_log(fs, "the audit trail's disk is nearly full: %llu KiB "
		          "free (warning under %llu KiB); once it is full, every "
		          "audited operation fails (EIO)",
		          (unsigned long long)(avail >> 10),
		          (unsigned long long)(line >> 10));
}

int
ts_fs_audit_at(struct ts_fs *fs, fuse_req_t req, const char *op, uint64_t ino,
               const char *name, int err, const char *detail)
{
	char path[3 * TS_NAME_MAX + 64], full[4 * TS_NAME_MAX + 96];
	struct node n;

	ts_index_rdlock(fs->idx);
	if (ts_fs_resolve(fs, ino, &n) == 0)
		ts_fs_path(&n, path, sizeof(path));
	else
		snprintf(path, sizeof(path), "?");
	ts_index_unlock(fs->idx);
	snprintf(full, sizeof(full), "%s%s%s", path,
	         name && path[0] ? "/" : "", name ? name : "");
	return ts_fs_audit(fs, req, op, full, err, detail);
}

void
ts_fs_audit_changes(struct ts_fs *fs, const struct ts_changes *ch)
{
	for (size_t i = 0; i < ch->n; i++)
		if (ch->v[i].op[0] != '\0')
			ts_fs_audit(fs, NULL, ch->v[i].op, ch->v[i].path,
			            ch->v[i].err, ch->v[i].detail[0] ?
			            ch->v[i].detail : NULL);
}

void
ts_fs_path(const struct node *n, char *buf, size_t len)
{
	const char *id = n->e ? n->e->t.id : "";

	switch (n->kind) {
	case N_ROOT: snprintf(buf, len, "%s", ""); break;
	case N_TICKETS: snprintf(buf, len, "tickets"); break;
	case N_AUDIT: snprintf(buf, len, "audit.log"); break;
	case N_TICKET: snprintf(buf, len, "tickets/%s", id); break;
	case N_STATUS: snprintf(buf, len, "tickets/%s/status", id); break;
	case N_CREATED: snprintf(buf, len, "tickets/%s/created", id); break;
	case N_FIELD:
		snprintf(buf, len, "tickets/%s/%s", id, ts_field_names[n->field]);
		break;
	case N_MSGDIR: snprintf(buf, len, "tickets/%s/messages", id); break;
	case N_AUTHDIR:
		snprintf(buf, len, "tickets/%s/authorizations", id);
		break;
	case N_MSG:
		snprintf(buf, len, "tickets/%s/messages/%s", id, n->m->name);
		break;
	case N_PENDING:
		snprintf(buf, len, "tickets/%s/messages/%s", id, n->p->name);
		break;
	case N_AUTH:
		snprintf(buf, len, "tickets/%s/authorizations/%s", id, n->a->name);
		break;
	case N_AFIELD:
		snprintf(buf, len, "tickets/%s/authorizations/%s/%s", id,
		         n->a->name, ts_afield_names[n->field]);
		break;
	case N_EXPIRES:
		snprintf(buf, len, "tickets/%s/authorizations/%s/expires", id,
		         n->a->name);
		break;
	}
}

/* ---- the config files: whitelist (and the ACLs derived), policy ---- */

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
	/* Bits for reader, agent, auditor: SPEC's table of roles. */
	static const unsigned by_role[CLASS_COUNT][3] = {
		[CLASS_ROOT] = { 5, 5, 5 },
		[CLASS_DIR] = { 5, 7, 5 },
		[CLASS_STATUS] = { 4, 6, 4 },
		[CLASS_META] = { 4, 4, 4 },
		[CLASS_SEALED] = { 4, 4, 0 },
		[CLASS_AUDIT] = { 0, 0, 4 },
	};

	memset(s, 0, sizeof(*s));
	for (int c = 0; c < CLASS_COUNT; c++) {
		size_t len = ts_access_acl_roles(acc, owner, by_role[c], NULL, 0,
		                                 &s->mode[c]);

		if ((s->blob[c] = malloc(len)) == NULL) {
			acls_release(s);
			return -ENOMEM;
		}
		s->len[c] = ts_access_acl_roles(acc, owner, by_role[c],
		                                s->blob[c], len, &s->mode[c]);
	}
	return 0;
}

void
ts_fs_sig_of(const char *path, struct file_sig *sig)
{
	struct stat st;

	memset(sig, 0, sizeof(*sig));
	if (stat(path, &st) < 0)
		return;
	*sig = (struct file_sig){ st.st_dev, st.st_ino, st.st_size, st.st_mtim,
	                          st.st_ctim, 1 };
}

static int
read_config(const char *path, unsigned char **text, size_t *len, char *err,
            size_t errlen)
{
	int rc = ts_sysio_read_file(AT_FDCWD, path, CONFIG_MAX, text, len);

	if (rc < 0)
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(-rc));
	return rc;
}

int
ts_fs_reload_whitelist(struct ts_fs *fs, char *err, size_t errlen)
{
	struct ts_access *acc = NULL, *oldacc;	/* NULL on any failure: the
						   empty whitelist */
	struct acl_set s, old;
	unsigned char *text;
	size_t len;
	int rc;

	if ((rc = read_config(fs->cfg.whitelist_path, &text, &len, err,
	                      errlen)) == 0) {
		snprintf(err, errlen, "out of memory");	/* -ENOMEM says none */
		rc = ts_access_parse((const char *)text, len, &acc, err, errlen);
		free(text);
	}
	/* The kernel fetches an ACL into one page: beyond that every path
	 * would fail (E2BIG) for everyone.  Refused like a bad file. */
	if (rc == 0 && ts_access_count(acc) > TS_FS_ACL_UIDS_MAX) {
		snprintf(err, errlen, "%zu uids listed; at most %d fit the "
		         "kernel's ACL", ts_access_count(acc),
		         TS_FS_ACL_UIDS_MAX);
		rc = -E2BIG;
		ts_access_free(acc);
		acc = NULL;
	}
	if (acls_build(acc, fs->owner, &s) < 0) {
		if (rc == 0) {
			snprintf(err, errlen, "out of memory");
			rc = -ENOMEM;
		}
		ts_access_free(acc);
		acc = NULL;	/* s is left empty: no ACL, mode 0 */
	}
	pthread_rwlock_wrlock(&fs->acc_lock);
	oldacc = fs->acc;
	old = fs->acls;
	fs->acc = acc;
	fs->acls = s;
	pthread_rwlock_unlock(&fs->acc_lock);
	ts_access_free(oldacc);
	acls_release(&old);
	return rc;
}

int
ts_fs_reload_policy(struct ts_fs *fs, char *err, size_t errlen)
{
	struct ts_policy p;
	unsigned char *text;
	size_t len;
	int rc;

	if ((rc = read_config(fs->cfg.policy_path, &text, &len, err,
	                      errlen)) < 0)
		return rc;
	/*
	 * A file caught while it is written in place can end in a line that
	 * parses and says less than the writer meant ("ticket processed" of
	 * "ticket processed+30d"), and a policy removes data for good: a last
	 * line without its newline is taken for a file still being written.
	 */
	if (len > 0 && text[len - 1] != '\n') {
		snprintf(err, errlen, "the last line has no newline: the file "
		         "may be being written (replace it with mv)");
		free(text);
		return -EINVAL;
	}
	rc = ts_policy_parse((const char *)text, len, &p, err, errlen);
	free(text);
	if (rc < 0)
		return rc;
	ts_index_wrlock(fs->idx);
	ts_index_set_policy(fs->idx, &p);
	ts_index_unlock(fs->idx);
	return 0;
}

/* ---- resolving inodes ---- */

static struct pending *
pending_by_ino(struct ts_fs *fs, uint64_t ino)
{
	for (struct pending *p = fs->pending; p != NULL; p = p->next)
		if (p->ino == ino)
			return p;
	return NULL;
}

static int
resolve_item(struct ts_fs *fs, uint64_t ino, uint32_t item, unsigned sub,
             struct node *n)
{
	if ((n->m = ts_entry_msg(n->e, item)) != NULL) {
		n->kind = N_MSG;
		n->deadline = ts_index_deadline_msg(fs->idx, n->e, n->m);
		return sub == TS_SUB_ITEM ? 0 : -ENOENT;
	}
	if ((n->a = ts_entry_auth(n->e, item)) == NULL) {
		if ((n->p = pending_by_ino(fs, ino)) == NULL)
			return -ENOENT;
		n->kind = N_PENDING;
		return 0;
	}
	n->deadline = ts_index_deadline_auth(fs->idx, n->e, n->a);
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

/* Finds what ino is, as of now.  Index lock held (shared is enough). */
int
ts_fs_resolve(struct ts_fs *fs, uint64_t ino, struct node *n)
{
	uint64_t slot;
	uint32_t item;
	unsigned sub;
	int rc = 0;

	memset(n, 0, sizeof(*n));
	n->deadline = TS_NEVER;
	if (ino == TS_INO_ROOT) {
		n->kind = N_ROOT;
		return 0;
	}
	if (ino == TS_INO_TICKETS) {
		n->kind = N_TICKETS;
		return 0;
	}
	if (ino == TS_INO_AUDIT && fs->audit != NULL) {
		n->kind = N_AUDIT;
		return 0;
	}
	if (ts_ino_split(ino, &slot, &item, &sub) < 0)
		return -ENOENT;
	if ((n->e = ts_index_by_slot(fs->idx, slot)) == NULL)
		return -ENOENT;
	n->deadline = ts_index_deadline_ticket(fs->idx, n->e);
	if (item == 0 && sub == TS_SUB_DIR) {
		n->kind = N_TICKET;
	} else if (n->e->err) {
		return -EIO;
	} else if (item != 0) {
		rc = resolve_item(fs, ino, item, sub, n);
	} else if (sub == TS_SUB_STATUS) {
		n->kind = N_STATUS;
	} else if (sub == TS_SUB_CREATED) {
		n->kind = N_CREATED;
	} else if (sub == TS_SUB_MSGDIR) {
		n->kind = N_MSGDIR;
	} else if (sub == TS_SUB_AUTHDIR) {
		n->kind = N_AUTHDIR;
	} else if (sub >= TS_SUB_FIELD && sub < TS_SUB_FIELD + TS_F_COUNT &&
	           n->e->t.field[sub - TS_SUB_FIELD].len != 0) {
		n->kind = N_FIELD;
		n->field = (int)(sub - TS_SUB_FIELD);
		n->deadline = ts_index_deadline_field(fs->idx, n->e, n->field);
	} else {
		return -ENOENT;
	}
	/* From its deadline on an item is gone, whether swept yet or not. */
	if (rc == 0 && n->deadline <= ts_now_ms())
		rc = -ENOENT;
	return rc;
}

int
ts_fs_is_dir(enum node_kind k)
{
	return k == N_ROOT || k == N_TICKETS || k == N_TICKET || k == N_MSGDIR ||
	       k == N_AUTHDIR || k == N_AUTH;
}

static int
is_sealed(enum node_kind k)
{
	return k == N_FIELD || k == N_MSG || k == N_AFIELD || k == N_PENDING;
}

static enum acl_class
class_of(enum node_kind k)
{
	if (k == N_ROOT)
		return CLASS_ROOT;
	if (ts_fs_is_dir(k))
		return CLASS_DIR;
	if (is_sealed(k))
		return CLASS_SEALED;
	if (k == N_AUDIT)
		return CLASS_AUDIT;
	return k == N_STATUS ? CLASS_STATUS : CLASS_META;
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
void
ts_fs_stat(struct ts_fs *fs, uint64_t ino, const struct node *n,
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
	if (ts_fs_is_dir(n->kind)) {
		st->st_mode = S_IFDIR | mode;
		st->st_nlink = 2;
		st->st_size = 4096;
		if (n->e)
			ms = n->e->changed_ms;
		else if (n->kind == N_TICKETS)
			ms = ts_index_tickets_changed(fs->idx);
		if (n->kind == N_ROOT || ms == 0)
			ms = fs->mounted_ms;	/* never "now": tar would see
						   it change as it reads */
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
			/* Its author owns it while the daemon runs: so the
			 * kernel lets the tool that wrote it set its times
			 * (rsync -t, install: accepted, ignored). */
			if (n->m->author != 0)
				st->st_uid = (uid_t)(n->m->author - 1);
			break;
		case N_AFIELD:
			st->st_size = (off_t)ts_box_plain_len(&n->a->box[n->field]);
			ms = n->a->created_ms;
			break;
		case N_PENDING:
			st->st_size = 0;	/* the writer's own size is its own */
			st->st_uid = n->p->uid;
			ms = ts_now_ms();
			break;
		case N_AUDIT:
			st->st_size = (off_t)ts_audit_size(fs->audit);
			ms = ts_now_ms();
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
	if (n->kind == N_STATUS && n->e->t.processed_ms)
		ms = n->e->t.processed_ms;
	st->st_blocks = (st->st_size + 511) / 512;
	st->st_blksize = 4096;
	st->st_mtim = st->st_ctim = st->st_atim = ts_of(ms ? ms : ts_now_ms());
}

/* How long the kernel may cache n: never past its deadline. */
static double
cache_time(struct ts_fs *fs, const struct node *n)
{
	double t = fs->cfg.timeout;

	if (n->kind == N_PENDING || n->kind == N_AUDIT)
		return 0;	/* they grow */
	if (n->deadline != TS_NEVER) {
		double left = (double)(n->deadline - ts_now_ms()) / 1000.0;
		if (left < t)
			t = left > 0 ? left : 0;
	}
	return t;
}

void
ts_fs_entry(struct ts_fs *fs, uint64_t ino, const struct node *n,
            struct fuse_entry_param *ep)
{
	memset(ep, 0, sizeof(*ep));
	ep->ino = ino;
	ep->generation = 1;
	ep->entry_timeout = cache_time(fs, n);
	/* status changes size under writers: always ask. */
	ep->attr_timeout = n->kind == N_STATUS ? 0 : ep->entry_timeout;
	if (n->kind == N_AUDIT)
		ep->entry_timeout = fs->cfg.timeout;
	ts_fs_stat(fs, ino, n, &ep->attr);
}

/* Finds child name of parent; fills *ino. Lock held. */
int
ts_fs_child(struct ts_fs *fs, uint64_t parent, const char *name, uint64_t *ino)
{
	struct node p;
	int rc;

	if ((rc = ts_fs_resolve(fs, parent, &p)) < 0)
		return rc;
	switch (p.kind) {
	case N_ROOT:
		if (strcmp(name, "tickets") == 0) {
			*ino = TS_INO_TICKETS;
			return 0;
		}
		if (strcmp(name, "audit.log") == 0 && fs->audit != NULL) {
			*ino = TS_INO_AUDIT;
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

		if (m == NULL) {
			for (struct pending *q = fs->pending; q; q = q->next)
				if (q->slot == p.e->slot &&
				    strcmp(q->name, name) == 0) {
					*ino = q->ino;
					return 0;
				}
			return -ENOENT;
		}
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

int
ts_fs_gate(struct ts_fs *fs, fuse_req_t req, uint64_t ino, const char *op,
           const char *name, unsigned right)
{
	if (ts_fs_roles(fs, req) & right)
		return 0;
	ts_fs_audit_at(fs, req, op, ino, name, EACCES, NULL);
	return -EACCES;
}

/*
 * Every request but the root's own attributes needs some role, decided
 * afresh on each request from the uid making it (so a descriptor held
 * since before a revocation, or passed to another uid, is refused as soon
 * as the whitelist changes): the rest learn nothing below the root.  A
 * refusal is recorded (op on ino, or on ino's child name).
 */
static int
gate(struct ts_fs *fs, fuse_req_t req, fuse_ino_t ino, const char *op,
     const char *name)
{
	return ts_fs_gate(fs, req, ino, op, name, TS_RIGHT_LIST);
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
	/* `> status` truncates in the open, not in a separate setattr. */
	if (conn->capable & FUSE_CAP_ATOMIC_O_TRUNC)
		conn->want |= FUSE_CAP_ATOMIC_O_TRUNC;
	/* Nothing here is written through the page cache. */
	conn->want &= ~(unsigned)FUSE_CAP_WRITEBACK_CACHE;
}

static void
op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct ts_fs *fs = fs_of(req);
	struct fuse_entry_param ep;
	struct node n;
	uint64_t ino;
	int rc;

	if ((rc = gate(fs, req, parent, "lookup", name)) < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	ts_index_rdlock(fs->idx);
	rc = ts_fs_child(fs, parent, name, &ino);
	if (rc == 0)
		rc = ts_fs_resolve(fs, ino, &n);
	if (rc == 0)
		ts_fs_entry(fs, ino, &n, &ep);
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
	/* The root's own attributes are the mount's: all may see them. */
	if (ino != TS_INO_ROOT && (rc = gate(fs, req, ino, "stat", NULL)) < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	ts_index_rdlock(fs->idx);
	rc = ts_fs_resolve(fs, ino, &n);
	if (rc == 0)
		ts_fs_stat(fs, ino, &n, &st);
	ts_index_unlock(fs->idx);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else
		fuse_reply_attr(req, &st, n.kind == N_STATUS ? 0 :
		                cache_time(fs, &n));

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

/* Adds name if ino is there as of now (its deadline not passed). */
static int
snap_add_live(struct ts_fs *fs, struct dir_handle *d, size_t *cap,
              const char *name, fuse_ino_t ino, mode_t type)
{
	struct node n;

	if (ts_fs_resolve(fs, ino, &n) < 0)
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

static void
op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ts_fs *fs = fs_of(req);
	struct dir_handle *d;
	struct node n;
	int rc;

	if ((rc = gate(fs, req, ino, "opendir", NULL)) < 0) {
		fuse_reply_err(req, -rc);
		return;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* The listing itself is taken by readdir at offset 0. */
	ts_index_rdlock(fs->idx);
	rc = ts_fs_resolve(fs, ino, &n);
	if (rc == 0 && !ts_fs_is_dir(n.kind))
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

	if ((rc = gate(fs, req, ino, "readdir", NULL)) < 0) {
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

		if ((rc = ts_fs_resolve(fs, ino, &dn)) == 0)
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
			} else if (ts_fs_resolve(fs, s->ino, &n) == 0) {
				ts_fs_entry(fs, s->ino, &n, &ep);
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

static void push_value(struct ts_fs *fs, uint64_t ino);

static void
op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ts_fs *fs = fs_of(req);
	unsigned roles = ts_fs_roles(fs, req);
	int wr = (fi->flags & O_ACCMODE) != O_RDONLY;
	char path[3 * TS_NAME_MAX + 64] = "?";
	struct handle *h;
	uint64_t slot = 0;
	struct node n;
	int rc;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	h->kind = H_READ;
	h->ino = ino;
	ts_index_rdlock(fs->idx);
	rc = ts_fs_resolve(fs, ino, &n);
	if (rc == 0)
		ts_fs_path(&n, path, sizeof(path));
	if (rc == 0 && n.e != NULL)
		slot = n.e->slot;	/* n.e is valid only under the lock */
	/*
	 * A reader of status reads the status of the moment it opened, however
	 * many read(2)s it takes: never "open" torn into a later "processing".
	 */
	if (rc == 0 && n.kind == N_STATUS && !wr) {
		char text[64];

		h->len = meta_text(&n, text);
		if ((h->buf = malloc(h->len)) == NULL)
			rc = -ENOMEM;
		else
			memcpy(h->buf, text, h->len);
		h->cap = h->len;
	}
	ts_index_unlock(fs->idx);
	if (rc == 0 && n.kind == N_AUDIT)
		rc = !(roles & TS_RIGHT_AUDIT) ? -EACCES : wr ? -EPERM : 0;
	else if (!(roles & TS_RIGHT_LIST))
		rc = -EACCES;
	if (rc == 0 && ts_fs_is_dir(n.kind))
		rc = -EISDIR;
	if (rc == 0 && is_sealed(n.kind) && !(roles & TS_RIGHT_SEALED))
		rc = -EACCES;
	if (rc == 0 && n.kind == N_PENDING)
		rc = -EBUSY;	/* another writer's message, not stored yet */
	/* Whatever but status its bits say read-only: EACCES, as the
	 * kernel answers everyone but root (who passes its check). */
	if (rc == 0 && wr)
		rc = !(roles & TS_RIGHT_WRITE) || n.kind != N_STATUS ? -EACCES :
		     ts_fs_open_status_write(fs, ino, h);
	if (rc == 0 && !wr && (fi->flags & O_TRUNC))
		rc = -EPERM;
	/*
	 * Every open of a sealed value or the trail, and every refused open,
	 * is recorded before anything is returned; if it cannot be, the open
	 * fails (fail closed).
	 */
	if (rc != -ENOENT && (rc < 0 || is_sealed(n.kind) || n.kind == N_AUDIT)) {
		int arc = ts_fs_audit(fs, req, wr ? "open-write" : "open", path,
		                      -rc, NULL);
		if (rc == 0 && arc < 0)
			rc = arc;
	}
	if (rc < 0) {
		free(h);
		fuse_reply_err(req, -rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	if ((n.kind == N_CREATED || n.kind == N_EXPIRES) && !wr &&
	    fs->se != NULL && ts_inodes_claim_push(fs->inodes, ino))
		push_value(fs, ino);
	/*
	 * A sealed value never reaches the page cache: the kernel would serve
	 * its pages to every descriptor of the inode without asking, also to
	 * one whose uid was revoked since it opened, or that was passed to
	 * another uid, as soon as any listed reader had the pages read in.
	 * So every read of one is a request, decided by the uid making it
	 * (op_read).  status and the trail change: no cache either.  created
	 * and expires never change and any role may read them: cached.
	 */
	if (is_sealed(n.kind) || n.kind == N_STATUS || n.kind == N_AUDIT)
		fi->direct_io = 1;
	else
		fi->keep_cache = 1;
	/* Only writers need the flush at close: spare readers the round trip. */
	if (!wr)
		fi->noflush = 1;
	if (fuse_reply_open(req, fi) != 0)
		ts_fs_free_handle(h);
	/* A reader of one sealed file of a ticket likely reads the rest. */
	else if (is_sealed(n.kind))
		ts_prefetch_ticket(fs->prefetch, slot, ino);
}

void
ts_fs_free_handle(struct handle *h)
{
	if (h->buf != NULL) {
		sodium_memzero(h->buf, h->cap);
		free(h->buf);
	}
	free(h);
}

/* The box of a sealed node and its binding path. */
static const struct ts_box *
box_of(const struct node *n, char *path, size_t len)
{
	switch (n->kind) {
	case N_FIELD:
		snprintf(path, len, "%s", ts_field_names[n->field]);
		return &n->e->t.field[n->field];
	case N_MSG:
		snprintf(path, len, "messages/%s", n->m->name);
		return &n->m->box;
	case N_AFIELD:
		snprintf(path, len, "authorizations/%s/%s", n->a->name,
		         ts_afield_names[n->field]);
		return &n->a->box[n->field];
	default:
		return NULL;
	}
}

size_t
ts_fs_sealed_inos(struct ts_fs *fs, uint64_t slot, uint64_t *out, size_t max)
{
	struct ts_entry *e;
	size_t n = 0;

	ts_index_rdlock(fs->idx);
	if ((e = ts_index_by_slot(fs->idx, slot)) != NULL && e->err == 0) {
		for (int f = 0; f < TS_F_COUNT && n < max; f++)
			if (e->t.field[f].len > 0)
				out[n++] = ts_ino_make(slot, 0, TS_SUB_FIELD + f);
		for (size_t i = 0; i < e->t.nmsg && n < max; i++)
			out[n++] = ts_ino_make(slot, e->t.msg[i].slot + 1,
			                       TS_SUB_ITEM);
		for (size_t i = 0; i < e->t.nauth; i++)
			for (int f = 0; f < TS_A_COUNT && n < max; f++)
				if (e->t.auth[i].box[f].len > 0)
					out[n++] = ts_ino_make(slot,
					        e->t.auth[i].slot + 1,
					        TS_SUB_AFIELD + f);
	}
	ts_index_unlock(fs->idx);
	return n;
}

/* Opens n's box into the cache; lock held shared.  1, 0 or -errno. */
static int
fill_locked(struct ts_fs *fs, uint64_t ino, const struct node *n)
{
	char path[3 * TS_NAME_MAX];
	const struct ts_box *box = box_of(n, path, sizeof(path));
	uint8_t *plain;
	size_t len;
	int rc;

	if (box == NULL || ts_cache_has(fs->cache, ino, NULL))
		return 0;
	len = ts_box_plain_len(box);
	if ((rc = ts_index_open_box(fs->idx, fs->key, n->e, path, box,
	                            &plain)) < 0)
		return rc;
	rc = ts_cache_put(fs->cache, ino, plain, len);
	sodium_memzero(plain, len);
	free(plain);
	return rc == 0 ? 1 : rc;
}

int
ts_fs_cache_fill(struct ts_fs *fs, uint64_t ino)
{
	struct node n;
	int rc;

	ts_index_rdlock(fs->idx);
	if ((rc = ts_fs_resolve(fs, ino, &n)) == 0)
		rc = fill_locked(fs, ino, &n);
	ts_index_unlock(fs->idx);
	return rc;
}

void
ts_fs_cache_forget(struct ts_fs *fs, const struct ts_changes *ch)
{
	for (size_t i = 0; i < ch->n; i++) {
		uint64_t ino = ch->v[i].gone_ino, slot;
		uint32_t item;
		unsigned sub;

		if (ino == 0)
			ino = ch->v[i].dir_ino;	/* a content change */
		if (ts_ino_split(ino, &slot, &item, &sub) < 0)
			continue;
		if (item == 0 && sub == TS_SUB_DIR)	/* a whole ticket */
			ts_cache_drop_range(fs->cache, ts_ino_make(slot, 0, 0),
			                    ts_ino_make(slot + 1, 0, 0));
		else if (item > 0)	/* a message, or all of an authorization */
			ts_cache_drop_range(fs->cache, ino & ~UINT64_C(15),
			                    (ino & ~UINT64_C(15)) + 16);
		else
			ts_cache_drop_range(fs->cache, ino, ino + 1);
	}
}

/*
 * Up to size bytes of n's value from off (< its length), into *out
 * (malloc'd, *outlen bytes): from the value cache, or from the box, opened
 * now and then kept in the cache.  Lock held shared.
 */
static int
read_sealed(struct ts_fs *fs, uint64_t ino, const struct node *n,
            const struct ts_box *box, const char *path, size_t off,
            size_t size, uint8_t **out, size_t *outlen)
{
	size_t len = ts_box_plain_len(box);
	size_t want = size < len - off ? size : len - off;
	uint8_t *buf = malloc(want ? want : 1), *plain;
	ssize_t got;
	int rc;

	if (buf == NULL)
		return -ENOMEM;
	if ((got = ts_cache_read(fs->cache, ino, off, buf, want)) < 0) {
		if ((rc = ts_index_open_box(fs->idx, fs->key, n->e, path, box,
		                            &plain)) < 0) {
			free(buf);
			return rc;
		}
		memcpy(buf, plain + off, want);
		got = (ssize_t)want;
		(void)ts_cache_put(fs->cache, ino, plain, len);	/* if it fits */
		sodium_memzero(plain, len);
		free(plain);
	}
	*out = buf;
	*outlen = (size_t)got;
	return 0;
}

/*
 * Puts inode ino's content (created or expires, which never change) into
 * the kernel's page cache (once per inode the kernel holds), before the
 * open is answered: the reads that follow are served by the kernel without
 * a READ round trip, and, as no READ reaches the daemon, the kernel does
 * not mark the file's atime stale either, which would cost a GETATTR at
 * the next stat and, with it, the cached ACL.  Never a sealed value: see
 * op_open.
 */
static void
push_value(struct ts_fs *fs, uint64_t ino)
{
	char text[64];
	size_t len = 0;
	struct node n;

	ts_index_rdlock(fs->idx);
	if (ts_fs_resolve(fs, ino, &n) == 0 &&
	    (n.kind == N_CREATED || n.kind == N_EXPIRES))
		len = meta_text(&n, text);
	ts_index_unlock(fs->idx);
	if (len > 0) {
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(len);

		bv.buf[0].mem = text;
		(void)fuse_lowlevel_notify_store(fs->se, ino, 0, &bv, 0);
	}
}

/*
 * Reads are checked against the clock every time, so a descriptor opened
 * before an item's deadline reads nothing after it, and against the
 * whitelist and the uid making the read, so one held by a uid since
 * revoked, or passed to another, reads nothing either.  Plaintext leaves
 * the daemon's locked cache only for the reply, in a buffer wiped once
 * sent.
 */
static void
op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
        struct fuse_file_info *fi)
{
	struct ts_fs *fs = fs_of(req);
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	unsigned roles = ts_fs_roles(fs, req);
	char path[3 * TS_NAME_MAX], text[64];
	const struct ts_box *box;
	uint8_t *plain = NULL;
	size_t plainlen = 0, len = 0;
	struct node n;
	int rc;

	if (ino == TS_INO_AUDIT && fs->audit != NULL) {
		char *buf;
		ssize_t got;

		if (!(roles & TS_RIGHT_AUDIT)) {
			ts_fs_audit(fs, req, "read", "audit.log", EACCES, NULL);
			fuse_reply_err(req, EACCES);
			return;
		}
		if ((buf = malloc(size)) == NULL) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		got = ts_audit_read(fs->audit, buf, size, (uint64_t)off);
		if (got < 0)
			fuse_reply_err(req, (int)-got);
		else
			fuse_reply_buf(req, buf, (size_t)got);
		free(buf);
		return;
	}
	ts_index_rdlock(fs->idx);
	rc = ts_fs_resolve(fs, ino, &n);
	if (rc == 0 && !(roles & (is_sealed(n.kind) ? TS_RIGHT_SEALED
	                                            : TS_RIGHT_LIST)))
		rc = -EACCES;
	else if (rc == 0 && (box = box_of(&n, path, sizeof(path))) != NULL) {
		if ((uint64_t)off < ts_box_plain_len(box))
			rc = read_sealed(fs, ino, &n, box, path, (size_t)off,
			                 size, &plain, &plainlen);
	} else if (rc == 0 && n.kind == N_STATUS && h != NULL &&
	           h->kind == H_READ && h->buf != NULL) {
		len = h->len;	/* what it was at open */
		memcpy(text, h->buf, len);
	} else if (rc == 0) {
		len = meta_text(&n, text);
	}
	ts_index_unlock(fs->idx);
	if (rc == -EACCES)
		ts_fs_audit_at(fs, req, "read", ino, NULL, EACCES, NULL);
	if (rc < 0)
		fuse_reply_err(req, -rc);
	else if (plain != NULL)
		fuse_reply_buf(req, (const char *)plain, plainlen);
	else if ((size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, text + off, size < len - (size_t)off ? size
		                                : len - (size_t)off);
	if (plain != NULL) {
		sodium_memzero(plain, plainlen);
		free(plain);
	}
}

static void
op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ts_fs *fs = fs_of(req);
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	(void)ino;
	/* Never flushed (the writer died): drop the half message. */
	if (h->kind == H_MESSAGE && !h->done)
		ts_fs_drop_pending(fs, h->ino);
	ts_fs_free_handle(h);
	fuse_reply_err(req, 0);
}

static void
op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct ts_fs *fs = fs_of(req);
	struct node n;
	int rc;

	if (strcmp(name, ACL_NAME) != 0) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	/*
	 * The ACL names every listed uid: only listed callers get it (the
	 * kernel asks in the caller's name when it checks a permission, and
	 * caches only what it got).  A caller with no role is refused, not
	 * told "no ACL", which the kernel would cache for everyone; at the
	 * root, the kernel then refuses it by the mode bits (no bit for
	 * others), so below the root it learns nothing, cached or not.
	 * Kernel-made fetches, not operations: refusals are not recorded.
	 */
	if (!(ts_fs_roles(fs, req) & TS_RIGHT_LIST)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	ts_index_rdlock(fs->idx);
	rc = ts_fs_resolve(fs, ino, &n);
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
	struct ts_fs *fs = fs_of(req);
	struct node n;
	int rc;

	ts_index_rdlock(fs->idx);
	rc = ts_fs_resolve(fs, ino, &n);
	ts_index_unlock(fs->idx);
	if (rc == 0 && ino != TS_INO_ROOT)
		rc = gate(fs, req, ino, "listxattr", NULL);
	if (rc < 0)
		fuse_reply_err(req, -rc);
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

const struct fuse_lowlevel_ops ts_fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = ts_op_setattr,
	.mknod = ts_op_mknod,
	.mkdir = ts_op_mkdir,
	.unlink = ts_op_unlink,
	.rmdir = ts_op_rmdir,
	.symlink = ts_op_symlink,
	.rename = ts_op_rename,
	.link = ts_op_link,
	.open = op_open,
	.read = op_read,
	.write = ts_op_write,
	.flush = ts_op_flush,
	.release = op_release,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.statfs = op_statfs,
	.setxattr = ts_op_setxattr,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.removexattr = ts_op_removexattr,
	.create = ts_op_create,
};

int
ts_fs_new(struct ts_store *st, const struct ts_seckey *key,
          const struct ts_fs_config *cfg, struct ts_fs **out, char *err,
          size_t errlen)
{
	struct ts_fs *fs = calloc(1, sizeof(*fs));
	struct ts_changes ch = { 0 };
	int rc;

	if (fs == NULL)
		return -ENOMEM;
	fs->st = st;
	fs->key = key;
	memcpy(fs->pk, ts_seal_seckey_pk(key), sizeof(fs->pk));
	fs->cfg = *cfg;
	fs->owner = getuid();
	fs->mounted_ms = ts_now_ms();
	fs->group = getgid();
	pthread_rwlock_init(&fs->acc_lock, NULL);
	pthread_mutex_init(&fs->comm_lock, NULL);
	pthread_mutex_init(&fs->note_lock, NULL);
	pthread_cond_init(&fs->note_cond, NULL);
	ts_fs_sig_of(cfg->whitelist_path, &fs->wl_sig);
	ts_fs_sig_of(cfg->policy_path, &fs->pol_sig);
	ts_fs_sig_of("/etc/passwd", &fs->passwd_sig);
	ts_fs_sig_of("/etc/group", &fs->group_sig);
	if ((rc = ts_inodes_new(&fs->inodes)) < 0 ||
	    (rc = ts_cache_new(cfg->cache_bytes, &fs->cache)) < 0 ||
	    (rc = ts_index_new(st, ts_fs_log, fs, &fs->idx)) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out_free;
	}
	ts_index_set_busy(fs->idx, ts_fs_item_busy, fs);
	/* At mount a whitelist that cannot be read or parsed refuses the
	 * start (nothing was in force yet); names that do not resolve do
	 * not.  Not yet forked: the log goes to stderr too (NULL). */
	if ((rc = ts_fs_reload_whitelist(fs, err, errlen)) < 0)
		goto out_free;
	if (ts_access_skipped(fs->acc) > 0)
		ts_fs_log(NULL, "whitelist %s: %zu line%s nothing: %s",
		          cfg->whitelist_path, ts_access_skipped(fs->acc),
		          ts_access_skipped(fs->acc) == 1 ? " grants" :
		          "s grant", ts_access_warnings(fs->acc));
	if ((rc = ts_fs_reload_policy(fs, err, errlen)) < 0) {
		char e2[512];

		snprintf(e2, sizeof(e2), "policy: %s", err);
		snprintf(err, errlen, "%s", e2);
		goto out_free;
	}
	if (cfg->audit && (rc = ts_store_audit_open(st, key, cfg->audit_segment,
	                                             &fs->audit)) < 0) {
		snprintf(err, errlen, "cannot open the audit trail: %s",
		         rc == -EKEYREJECTED ? "audit/verify.key belongs to "
		         "another key" : rc == -EBADMSG ? "it is shorter than "
		         "its signed checkpoint or damaged (run ticketctl audit "
		         "verify)" : strerror(-rc));
		goto out_free;
	}
	if (fs->audit != NULL && cfg->checkpoint_copy != NULL &&
	    (rc = ts_audit_set_copy(fs->audit, cfg->checkpoint_copy, err,
	                            errlen)) < 0)
		goto out_free;
	if (fs->audit != NULL && (rc = ts_fold_new(fs->audit, &fs->fold)) < 0) {
		snprintf(err, errlen, "out of memory");
		goto out_free;
	}
	if ((rc = ts_store_set_key(st, key)) < 0) {
		snprintf(err, errlen, "cannot derive the store's keys: %s",
		         strerror(-rc));
		goto out_free;
	}
	if ((rc = ts_index_load(fs->idx)) < 0) {
		snprintf(err, errlen, "cannot load the store: %s", strerror(-rc));
		goto out_free;
	}
	/* What expired while the daemon was down goes before anyone looks. */
	ts_index_wrlock(fs->idx);
	ts_index_sweep(fs->idx, ts_now_ms(), &ch);
	ts_index_unlock(fs->idx);
	ts_fs_audit_changes(fs, &ch);
	ts_changes_release(&ch);
	ts_index_intake(fs->idx, &ch);
	ts_fs_audit_changes(fs, &ch);
	ts_changes_release(&ch);
	*out = fs;
	return 0;
out_free:
	ts_fs_free(fs);
	return rc;
}

int
ts_fs_relock(struct ts_fs *fs)
{
	return ts_cache_lock(fs->cache);
}

int
ts_fs_save_snapshot(struct ts_fs *fs)
{
	return ts_index_save_snapshot(fs->idx);
}

void
ts_fs_free(struct ts_fs *fs)
{
	if (fs == NULL)
		return;
	ts_fs_stop(fs);
	while (fs->pending != NULL) {
		struct pending *p = fs->pending;
		fs->pending = p->next;
		free(p);
	}
	ts_index_free(fs->idx);
	ts_cache_free(fs->cache);
	ts_fold_free(fs->fold);
	ts_audit_close(fs->audit);
	ts_inodes_free(fs->inodes);
	ts_access_free(fs->acc);
	acls_release(&fs->acls);
	ts_changes_release(&fs->notes);
	pthread_cond_destroy(&fs->note_cond);
	pthread_mutex_destroy(&fs->note_lock);
	pthread_mutex_destroy(&fs->comm_lock);
	pthread_rwlock_destroy(&fs->acc_lock);
	free(fs);
}
