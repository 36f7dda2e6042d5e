/*
 * take: the one path by which changes from outside the daemon's own
 * requests enter the index.  Today that is intake (records a front end
 * dropped in the store's intake, handed over by ts_store_intake_poll);
 * next, what other hosts of the same store wrote (the PostgreSQL backend
 * hands its changes over the same way).  Once loaded (fs/load.h), the
 * index takes changes from outside by no other way; the daemon's own
 * requests change it through fs/mutate.h.  The ticker calls
 * ts_index_intake_round; part of the index (fs/index.h includes this
 * header).
 */
#ifndef TS_TAKE_H
#define TS_TAKE_H

struct ts_index;
struct ts_changes;

/*
 * Takes in waiting intake.  Appends what changed to *ch (realloc'd, *nch
 * grows); the caller frees it.  Returns the number of records taken in.
 * Called without the lock, one caller at a time (the intake thread): it
 * reads, checks and sets aside intake with no lock held and takes the
 * write lock only to apply one record, so readers wait for one record at
 * most.  Stamps from a front end's clock are checked against the
 * daemon's (README, "Intake").  ts_index_intake takes in all that waits;
 * ts_index_intake_round one bounded round (ts_store_intake_poll), *more
 * set when intake still waits.
 */
int ts_index_intake(struct ts_index *idx, struct ts_changes *ch);
int ts_index_intake_round(struct ts_index *idx, struct ts_changes *ch,
                          int *more);

#endif
