/*
 * refresh: one ticket of the index replaced by what the store holds now,
 * for a shared store whose other hosts write it (fs/sync.c follows their
 * changes; fs/mutate.c re-reads a ticket whose write lost to another
 * host's, -EAGAIN).  Part of the index (fs/index.h includes this header).
 */
#ifndef TS_REFRESH_H
#define TS_REFRESH_H

struct ts_index;
struct ts_changes;

/*
 * Reads ticket id from the store (ts_store_load_one) and makes the index
 * hold it: a new ticket is inserted, a changed one replaced (the ticket
 * keeps its slot, and each message and authorization that is still the
 * same item its item number, so the kernel's inodes of what did not
 * change stay valid), a removed one (-ENOENT) taken out, a damaged one
 * marked (its items then answer EIO).  What the kernel must forget is
 * appended to ch (without paths: nothing is audited, the host that made
 * the change audited it).  Write lock held; the store read is made under
 * it, so no write of the daemon's own comes between the read and the
 * replacement.  0, or -errno from the store (-EIO: unreachable; the index
 * is unchanged then).
 */
int ts_index_refresh(struct ts_index *idx, const char *id,
                     struct ts_changes *ch);

#endif
