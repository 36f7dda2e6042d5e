/*
 * snapshot: the daemon's index of every ticket's metadata in one file, so a
 * mount does not read one record file per ticket.  It holds what the
 * records' plaintext parts hold (ids, times, status, names, box offsets and
 * lengths) and no box: nothing in it is secret, but all of it is believed,
 * so it is authenticated with a MAC keyed from the daemon's secret key.
 *
 *   header   magic "TKFSNAP2" | count u32 | stamp: dir ino u64,
 *            mtime sec i64, mtime nsec u32
 *   entries  record file ino u64 | id_len u8 | id | created i64 | status u8
 *            | processing i64 | processed i64 | forgotten i64 | shred due i64
 *            | flags u8 (1 keyed, 2 uhash) | [tpk 32] | [uhash 16]
 *            | 6 x (off u32 | len u32)
 *            | nmsg u32 | nmsg x (name_len u8 | name | stored i64 | off | len)
 *            | nauth u32 | nauth x (name_len u8 | name | created i64
 *            | expires i64 | 3 x (off | len))
 *   trailer  keyed BLAKE2b-256 of everything before it
 *
 * A TKFSNAP1 snapshot (without forgotten, flags, tpk and uhash) is still
 * read.  Little-endian.  The stamp is the tickets directory's inode and mtime
 * when the snapshot was taken; the store uses an entry only while the
 * directory still has that stamp and the record file still has the inode
 * number the entry names (file_tickets.c).
 */
#ifndef TS_SNAPSHOT_H
#define TS_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "store/ticket.h"

#define TS_SNAPSHOT_KEYBYTES 32
#define TS_SNAPSHOT_MACBYTES 32

struct ts_snapshot_stamp {
	uint64_t dir_ino;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
};

/* One ticket and the inode number of its record file. */
struct ts_snapshot_entry {
	struct ts_ticket t;
	uint64_t ino;
};

/*
 * Encodes n tickets (ino[i] the inode number of t[i]'s record file) into
 * *out (malloc'd, *outlen bytes).  -EINVAL if a ticket does not fit the
 * format, -ENOMEM.
 */
int ts_snapshot_encode(const unsigned char key[TS_SNAPSHOT_KEYBYTES],
                       const struct ts_snapshot_stamp *stamp,
                       const struct ts_ticket *const *t, const uint64_t *ino,
                       size_t n, uint8_t **out, size_t *outlen);

/*
 * Checks the MAC, then decodes buf into *stamp and *v (malloc'd, *n
 * entries, sorted by id as written); free with ts_snapshot_free().
 * -EBADMSG if the MAC or anything in the structure is wrong; -ENOMEM.
 */
int ts_snapshot_decode(const unsigned char key[TS_SNAPSHOT_KEYBYTES],
                       const uint8_t *buf, size_t len,
                       struct ts_snapshot_stamp *stamp,
                       struct ts_snapshot_entry **v, size_t *n);

/* Releases the tickets still held in v[0..n) and v itself. */
void ts_snapshot_free(struct ts_snapshot_entry *v, size_t n);

#endif
