/*
 * load: the index's tickets from the store at mount, and the store's
 * snapshot of them saved back.  Part of the index (fs/index.h includes
 * this header).
 */
#ifndef TS_LOAD_H
#define TS_LOAD_H

struct ts_index;

/*
 * Loads every ticket from the store; damaged ones are kept, marked.  Logs
 * one line saying whether the index snapshot was used ("index snapshot
 * used: N entries, ...") or refused, and why ("index snapshot refused:
 * WHY; N tickets read from their records").
 */
int ts_index_load(struct ts_index *idx);
/*
 * Saves every ticket's metadata as the store's snapshot, so the next
 * ts_index_load need not read each record.  Takes the lock.
 */
int ts_index_save_snapshot(struct ts_index *idx);

#endif
