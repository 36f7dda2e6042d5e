/*
 * tree: the namespace.  What an inode is as of now (resolve, checking the
 * item's retention deadline against the clock), its path, its stat(2)
 * attributes and ACL class, its kernel entry, and the child of a
 * directory by name.  Index lock held by the caller; no decryption.
 */
#include "fs/tree.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "fs/status.h"
#include "store/audit.h"
#include "store/util.h"

void
ts_tree_path(const struct node *n, char *buf, size_t len)
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
ts_tree_resolve(struct ts_fs *fs, uint64_t ino, struct node *n)
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
ts_tree_is_dir(enum node_kind k)
{
	return k == N_ROOT || k == N_TICKETS || k == N_TICKET || k == N_MSGDIR ||
	       k == N_AUTHDIR || k == N_AUTH;
}

int
ts_tree_is_sealed(enum node_kind k)
{
	return k == N_FIELD || k == N_MSG || k == N_AFIELD || k == N_PENDING;
}

enum acl_class
ts_tree_class_of(enum node_kind k)
{
	if (k == N_ROOT)
		return CLASS_ROOT;
	if (ts_tree_is_dir(k))
		return CLASS_DIR;
	if (ts_tree_is_sealed(k))
		return CLASS_SEALED;
	if (k == N_AUDIT)
		return CLASS_AUDIT;
	return k == N_STATUS ? CLASS_STATUS : CLASS_META;
}

/* The text of a plain-metadata file. */
size_t
ts_tree_meta_text(const struct node *n, char buf[64])
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
ts_tree_stat(struct ts_fs *fs, uint64_t ino, const struct node *n,
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
	mode = fs->acls.mode[ts_tree_class_of(n->kind)];
	pthread_rwlock_unlock(&fs->acc_lock);
	if (ts_tree_is_dir(n->kind)) {
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
			st->st_size = (off_t)ts_tree_meta_text(n, text);
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
double
ts_tree_cache_time(struct ts_fs *fs, const struct node *n)
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
ts_tree_entry(struct ts_fs *fs, uint64_t ino, const struct node *n,
            struct fuse_entry_param *ep)
{
	memset(ep, 0, sizeof(*ep));
	ep->ino = ino;
	ep->generation = 1;
	ep->entry_timeout = ts_tree_cache_time(fs, n);
	ep->attr_timeout = ep->entry_timeout;
	if (n->kind == N_AUDIT)
		ep->entry_timeout = fs->cfg.timeout;
	ts_tree_stat(fs, ino, n, &ep->attr);
	/* status is cached too, between changes (fs/status.c). */
	if (n->kind == N_STATUS)
		ts_status_told(n);
}

/* Finds child name of parent; fills *ino. Lock held. */
int
ts_tree_child(struct ts_fs *fs, uint64_t parent, const char *name, uint64_t *ino)
{
	struct node p;
	int rc;

	if ((rc = ts_tree_resolve(fs, parent, &p)) < 0)
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
