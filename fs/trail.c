/*
 * trail: the audit hook of the FUSE operations: who (uid, pid, program
 * name, from a small cache of /proc/PID/comm) did what on which path, with
 * refusals folded (fold.h); and the gates that refuse and record.
 */
#include "fs/trail.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fs/fold.h"
#include "fs/tree.h"
#include "store/audit.h"
#include "store/util.h"

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
ts_trail_audit(struct ts_fs *fs, fuse_req_t req, const char *op,
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
ts_trail_tick(struct ts_fs *fs, int force)
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
ts_trail_audit_at(struct ts_fs *fs, fuse_req_t req, const char *op, uint64_t ino,
               const char *name, int err, const char *detail)
{
	char path[3 * TS_NAME_MAX + 64], full[4 * TS_NAME_MAX + 96];
	struct node n;

	ts_index_rdlock(fs->idx);
	if (ts_tree_resolve(fs, ino, &n) == 0)
		ts_tree_path(&n, path, sizeof(path));
	else
		snprintf(path, sizeof(path), "?");
	ts_index_unlock(fs->idx);
	snprintf(full, sizeof(full), "%s%s%s", path,
	         name && path[0] ? "/" : "", name ? name : "");
	return ts_trail_audit(fs, req, op, full, err, detail);
}

/* The daemon's entry for change c (of intake: with its client's address). */
static void
audit_change(struct ts_fs *fs, const struct ts_index_change *c)
{
	struct ts_audit_entry e = { .comm = "ticketfs", .op = c->op,
	                            .path = c->path, .err = c->err,
	                            .detail = c->detail[0] ? c->detail : NULL,
	                            .client_ip = c->client_ip };
	int rc;

	if (c->client_ip[0] == '\0') {
		ts_trail_audit(fs, NULL, c->op, c->path, c->err, e.detail);
		return;
	}
	if (fs->audit != NULL && (rc = ts_audit_append(fs->audit, &e)) < 0)
		ts_fs_log(fs, "cannot write the audit trail (%s): %s %s",
		          strerror(-rc), c->op, c->path);
}

void
ts_trail_audit_changes(struct ts_fs *fs, const struct ts_changes *ch)
{
	for (size_t i = 0; i < ch->n; i++)
		if (ch->v[i].op[0] != '\0')
			audit_change(fs, &ch->v[i]);
}

int
ts_trail_gate(struct ts_fs *fs, fuse_req_t req, uint64_t ino, const char *op,
           const char *name, unsigned right)
{
	if (ts_state_roles(fs, req) & right)
		return 0;
	ts_trail_audit_at(fs, req, op, ino, name, EACCES, NULL);
	return -EACCES;
}

/*
 * Every request but the root's own attributes needs some role, decided
 * afresh on each request from the uid making it (so a descriptor held
 * since before a revocation, or passed to another uid, is refused as soon
 * as the whitelist changes): the rest learn nothing below the root.  A
 * refusal is recorded (op on ino, or on ino's child name).
 */
int
ts_trail_gate_list(struct ts_fs *fs, fuse_req_t req, fuse_ino_t ino, const char *op,
     const char *name)
{
	return ts_trail_gate(fs, req, ino, op, name, TS_RIGHT_LIST);
}

/* Refuses op on ino / name: EACCES for callers who may not write at all,
 * else err; recorded. */
void
ts_trail_refuse(fuse_req_t req, const char *op, uint64_t ino, const char *name,
       int err)
{
	struct ts_fs *fs = fs_of(req);

	if (!(ts_state_roles(fs, req) & TS_RIGHT_WRITE))
		err = EACCES;
	ts_trail_audit_at(fs, req, op, ino, name, err, NULL);
	fuse_reply_err(req, err);
}
