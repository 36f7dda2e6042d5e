/*
 * heap: how the daemon's malloc is set up, so that its resident memory
 * stays what its structures take (README, Scale).
 */
#ifndef TS_HEAP_H
#define TS_HEAP_H

/*
 * Before anything is allocated: every allocation of 128 KiB and more gets
 * its own mapping, given back whole when freed (glibc would otherwise
 * raise that threshold to the largest block freed so far, and the tables
 * that grow by copying would leave their old copies as holes in the
 * heap); at most two malloc arenas, whatever the number of threads.
 */
void ts_heap_tune(void);
/*
 * Gives the free pages inside the heap back to the system: after the
 * load, whose temporaries (the snapshot's entries, the listing of the
 * store) are freed between what stays.
 */
void ts_heap_trim(void);

#endif
