/*
 * read: reading what was opened: read and release, the value cache's
 * fill (a ticket at a time, for the prefetcher) and forgetting, and the push of
 * unchanging values into the kernel's page cache at open.
 */
#include "fs/read.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs/status.h"
#include "fs/trail.h"
#include "fs/tree.h"
#include "fs/write.h"
#include "store/audit.h"

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

/* The inode numbers of ticket e's (slot's) sealed values, at most max;
 * lock held. */
static size_t
sealed_inos_locked(struct ts_entry *e, uint64_t slot, uint64_t *out,
                   size_t max)
{
	size_t n = 0;

	for (int f = 0; f < TS_F_COUNT && n < max; f++)
		if (e->t.field[f].len > 0)
			out[n++] = ts_ino_make(slot, 0, TS_SUB_FIELD + f);
	for (size_t i = 0; i < e->t.nmsg && n < max; i++)
		out[n++] = ts_ino_make(slot, e->t.msg[i].slot + 1, TS_SUB_ITEM);
	for (size_t i = 0; i < e->t.nauth; i++)
		for (int f = 0; f < TS_A_COUNT && n < max; f++)
			if (e->t.auth[i].box[f].len > 0)
				out[n++] = ts_ino_make(slot,
				        e->t.auth[i].slot + 1,
				        TS_SUB_AFIELD + f);
	return n;
}

/* Sealed bytes a fill reads in one go at most (more: further rounds; a
 * box over it alone). */
#define FILL_BYTES (1u << 20)

/* One batch of a ticket's fill: the values to open, their inodes. */
struct fill {
	size_t n, bytes;
	uint64_t ino[TS_STORE_BOXES_MAX];
	struct ts_box box[TS_STORE_BOXES_MAX];
	char path[TS_STORE_BOXES_MAX][3 * TS_NAME_MAX];
	const char *field[TS_STORE_BOXES_MAX];
};

/*
 * Reads f's boxes of e (one round trip), then opens each into the cache
 * at once (a read of the next one finds it there while the rest are
 * opened), and empties f; lock held shared.  How many went in, or -errno.
 */
static int
fill_batch(struct ts_fs *fs, struct ts_entry *e, struct fill *f)
{
	uint8_t *bufs[TS_STORE_BOXES_MAX], *sealed, *plain;
	size_t at = 0;
	int rc, put = 0;

	if ((sealed = malloc(f->bytes)) == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < f->n; i++) {
		bufs[i] = sealed + at;
		at += f->box[i].len;
	}
	rc = ts_index_read_boxes(fs->idx, e, f->n, f->field, f->box, bufs);
	for (size_t i = 0; rc == 0 && i < f->n; i++) {
		size_t len = ts_box_plain_len(&f->box[i]);

		if (ts_index_open_sealed(fs->idx, e, f->field[i], &f->box[i],
		                         bufs[i], &plain) < 0)
			continue;
		if (ts_cache_put(fs->cache, f->ino[i], plain, len) == 0)
			put++;
		sodium_memzero(plain, len);
		free(plain);
	}
	free(sealed);
	f->n = f->bytes = 0;
	return rc < 0 ? rc : put;
}

int
ts_read_cache_fill_ticket(struct ts_fs *fs, uint64_t slot, uint64_t skip)
{
	uint64_t inos[TS_STORE_BOXES_MAX];
	struct fill *f = calloc(1, sizeof(*f));
	struct ts_entry *e;
	struct node nd;
	size_t n = 0;
	int rc = 0, put = 0;

	if (f == NULL)
		return -ENOMEM;
	ts_index_rdlock(fs->idx);
	if ((e = ts_index_by_slot(fs->idx, slot)) != NULL && e->err == 0)
		n = sealed_inos_locked(e, slot, inos, TS_STORE_BOXES_MAX);
	for (size_t i = 0; i < n; i++) {
		char path[sizeof(f->path[0])];
		const struct ts_box *box;

		/* Each resolved as a read would: nothing past its deadline. */
		if (inos[i] == skip || ts_tree_resolve(fs, inos[i], &nd) < 0 ||
		    nd.e != e || ts_cache_has(fs->cache, inos[i], NULL) ||
		    (box = box_of(&nd, path, sizeof(path))) == NULL ||
		    box->len == 0)
			continue;
		if (f->n > 0 && f->bytes + box->len > FILL_BYTES) {
			if ((rc = fill_batch(fs, e, f)) < 0)
				break;
			put += rc;
		}
		f->ino[f->n] = inos[i];
		f->box[f->n] = *box;
		memcpy(f->path[f->n], path, sizeof(path));
		f->field[f->n] = f->path[f->n];
		f->bytes += box->len;
		f->n++;
	}
	if (rc >= 0 && f->n > 0 && (rc = fill_batch(fs, e, f)) >= 0)
		put += rc;
	ts_index_unlock(fs->idx);
	free(f);
	return rc < 0 ? rc : put;
}

void
ts_read_cache_forget(struct ts_fs *fs, const struct ts_changes *ch)
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
void
ts_read_push_value(struct ts_fs *fs, uint64_t ino)
{
	char text[64];
	size_t len = 0;
	struct node n;

	ts_index_rdlock(fs->idx);
	if (ts_tree_resolve(fs, ino, &n) == 0 &&
	    (n.kind == N_CREATED || n.kind == N_EXPIRES))
		len = ts_tree_meta_text(&n, text);
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
void
ts_op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
        struct fuse_file_info *fi)
{
	struct ts_fs *fs = fs_of(req);
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;
	unsigned roles = ts_state_roles(fs, req);
	char path[3 * TS_NAME_MAX], text[64];
	const struct ts_box *box;
	uint8_t *plain = NULL;
	size_t plainlen = 0, len = 0;
	struct node n;
	int rc, stale = 0;

	if (ino == TS_INO_AUDIT && fs->audit != NULL) {
		char *buf;
		ssize_t got;

		if (!(roles & TS_RIGHT_AUDIT)) {
			ts_trail_audit(fs, req, "read", "audit.log", EACCES, NULL);
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
	rc = ts_tree_resolve(fs, ino, &n);
	if (rc == 0 && !(roles & (ts_tree_is_sealed(n.kind) ? TS_RIGHT_SEALED
	                                            : TS_RIGHT_LIST)))
		rc = -EACCES;
	else if (rc == 0 && (box = box_of(&n, path, sizeof(path))) != NULL) {
		if ((uint64_t)off < ts_box_plain_len(box))
			rc = read_sealed(fs, ino, &n, box, path, (size_t)off,
			                 size, &plain, &plainlen);
	} else if (rc == 0 && n.kind == N_STATUS && h != NULL &&
	           h->kind == H_READ && h->cached) {
		stale = ts_status_serve(h, &n, text, &len);
	} else if (rc == 0 && n.kind == N_STATUS && h != NULL &&
	           h->kind == H_READ && h->buf != NULL) {
		len = h->len;	/* what it was at open */
		memcpy(text, h->buf, len);
	} else if (rc == 0) {
		len = ts_tree_meta_text(&n, text);
	}
	ts_index_unlock(fs->idx);
	if (stale)	/* the page this leaves in the kernel must go */
		ts_status_queue_inval(fs, ino);
	if (rc == -EACCES)
		ts_trail_audit_at(fs, req, "read", ino, NULL, EACCES, NULL);
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

void
ts_op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ts_fs *fs = fs_of(req);
	struct handle *h = (struct handle *)(uintptr_t)fi->fh;

	(void)ino;
	/* Never flushed (the writer died): drop the half message. */
	if (h->kind == H_MESSAGE && !h->done)
		ts_write_drop_pending(fs, h->ino);
	if (h->ino == TS_INO_AUDIT && fs->audit != NULL)
		ts_audit_view_close(fs->audit);
	ts_state_free_handle(h);
	fuse_reply_err(req, 0);
}
