/*
 * status: the kernel caches a ticket's status file (fs/status.h): its
 * entry and attributes like every file's, and its page once the status is
 * final (processed, QUIET_MS after the move), so that a warm `grep -r` or
 * `tar` of a processed ticket costs an open and a release, as `created`.
 * Why not the page of a status that may still move: see
 * ts_status_cacheable.  What keeps the page right:
 *
 *   - The three values differ in size (open, processing, processed), and
 *     the kernel drops a file's pages whenever it is given another size.
 *     So the kernel's pages are of the value its size is of, as long as a
 *     READ never answers with a value longer than the size the kernel
 *     holds (it would cut it) and a page of an older value is dropped.
 *   - Each entry remembers the value the kernel was last given attributes
 *     of (status_told).  A read-only open reads through the page cache only
 *     if that is the status now (and final); after any change, until the
 *     kernel asks again (the change's invalidation, sent by the ticker,
 *     makes it), opens are direct_io and read the status of the moment.
 *     A direct_io open also makes the kernel drop the file's pages.
 *   - A reader reads the status of the moment it opened, across read(2)s
 *     (README: torn reads).  Its GETATTR (the kernel's, before a read)
 *     gives the size of that snapshot, not cached (timeout 0) once the
 *     status moved on; a READ answers from the snapshot, and if that is no
 *     longer the status, status_told is cleared and the inode's
 *     invalidation queued for the ticker, so the page it leaves goes.
 *
 * Nothing here notifies the kernel: a request handler must not (it can
 * deadlock on the very inode being served), the ticker does (fs/ticker.c).
 */
#include "fs/status.h"

#include <string.h>

#include "fs/notes.h"
#include "fs/tree.h"
#include "store/util.h"

/* How long after the move to processed its page may be cached. */
#define QUIET_MS 2000

static int
current(const struct node *n)
{
	return n->e->t.status + 1;
}

/* h's snapshot becomes the status now (its buf holds 64 bytes). */
static void
snap_now(struct handle *h, const struct node *n)
{
	char text[64];

	h->len = ts_tree_meta_text(n, text);
	memcpy(h->buf, text, h->len);
	h->snap = current(n);
}

void
ts_status_told(const struct node *n)
{
	n->e->status_told = (unsigned char)current(n);
}

int
ts_status_cacheable(const struct node *n)
{
	const struct ts_ticket *t = &n->e->t;

	/*
	 * Only a status that can no longer move: processed, QUIET_MS ago.  A
	 * page of a value that may still move cannot be kept right: a
	 * writer's direct write makes the kernel take the new size while a
	 * reader's page of the old value stays, and the daemon's answer of
	 * the right size can lose a race with that (zero bytes past "open\n",
	 * 1 read in 16,000 racing moves, tests/integration/status_race.py).
	 * Processed, nothing moves it again, and after QUIET_MS the move's
	 * invalidation has long reached the kernel.
	 */
	return n->e->status_told == current(n) && t->status == TS_PROCESSED &&
	       ts_now_ms() - t->processed_ms >= QUIET_MS;
}

int
ts_status_serve(struct handle *h, const struct node *n, char text[64],
                size_t *len)
{
	int cur = current(n);
	char now[64];

	/*
	 * The snapshot: the kernel may have served this reader from its cache
	 * already, with the value of the open.  Unless it is longer than the
	 * status now and the kernel holds the size of that (given to another
	 * reader since): cut, it would be a torn value; the status now is
	 * whole.
	 */
	if (h->snap != cur && n->e->status_told == cur &&
	    h->len > ts_tree_meta_text(n, now))
		snap_now(h, n);
	memcpy(text, h->buf, h->len);
	*len = h->len;
	if (h->snap == cur)
		return 0;
	n->e->status_told = 0;
	return 1;
}

void
ts_status_attr(struct handle *h, const struct node *n, struct stat *st,
               double *timeout)
{
	if (h->snap == current(n)) {
		ts_status_told(n);
		return;
	}
	st->st_size = (off_t)h->len;
	st->st_blocks = (st->st_size + 511) / 512;
	*timeout = 0;
	n->e->status_told = 0;
}

void
ts_status_queue_inval(struct ts_fs *fs, uint64_t ino)
{
	struct ts_changes ch = { 0 };

	ts_changes_add(&ch, ino, 0, NULL);
	ts_notes_queue(fs, &ch);
}
