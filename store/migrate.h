/*
 * migrate: a directory store copied into a PostgreSQL store (ticketctl
 * migrate DIR URI), for a team that outgrows one host.
 *
 * What is copied, as it is: every ticket's record (the same bytes: boxes
 * and MAC, so no key is needed, and the copy opens with the store's one
 * secret key), every ticket key file, the policy, the intake waiting (and
 * kept rejected), and the audit trail, one chain, as one host's: its
 * lines, signed checkpoint, prune anchor, verify key and forward-secure
 * seals (the sealing state beside the key goes on from them).  Not
 * copied: the whitelist (a shared store's is each host's own file), the
 * index snapshot.
 *
 * The target: a database with no ticketfs schema (migrate creates it,
 * with the source's public key and policy), or one made by an earlier run
 * of migrate from the same store.  Refused: a target whose public key is
 * another's, one that holds a ticket the source has not, one a daemon is
 * serving.  The source must be at rest: its lock is taken (a daemon
 * serving it: -EBUSY).  Its audit trail must verify before anything is
 * copied, and the copy's must verify after.
 *
 * Resumable: rows are written in transactions of TS_MIGRATE_BATCH, each
 * keyed (a ticket by id, a key by (id, next), an entry by (host, seq)),
 * a row already there skipped; intake goes in one transaction with a
 * mark.  A run killed at any point is run again and finishes.
 */
#ifndef TS_MIGRATE_H
#define TS_MIGRATE_H

#include <stddef.h>
#include <stdint.h>

#define TS_MIGRATE_BATCH 256

enum ts_migrate_phase {
	TS_MIG_TICKETS,
	TS_MIG_KEYS,
	TS_MIG_INTAKE,
	TS_MIG_AUDIT,
	TS_MIG_PHASES
};
extern const char *const ts_migrate_phase_names[TS_MIG_PHASES];

/* Called after each row (and once at each phase's start, done 0). */
typedef void (*ts_migrate_progress_fn)(void *arg, enum ts_migrate_phase ph,
                                       uint64_t done, uint64_t total);

struct ts_migrate_opts {
	const char *host;	/* the audit chain's host; NULL: the name its
				   entries carry, else this machine's */
	ts_migrate_progress_fn progress;	/* NULL: none */
	void *arg;
};

struct ts_migrate_counts {
	/* What the source holds: */
	uint64_t tickets, keys, intake, rejected, audit;
	uint64_t seals;		/* forward-secure seal lines copied */
	uint64_t copied[TS_MIG_PHASES];	/* of them written by this run (the
					   rest were there: a resumed run) */
	int created;		/* this run created the schema */
	char host[65];		/* the chain's host in the target */
};

/*
 * Copies the directory store dir into the PostgreSQL store at uri.  0
 * when everything is copied and verified; else -errno with the reason in
 * err: -EBUSY (a daemon serves dir or uri), -EKEYREJECTED (uri is another
 * key's store), -EEXIST (uri holds tickets dir has not), -EBADMSG (a
 * trail does not verify: dir's before, nothing copied; or the copy's),
 * -EIO (the database), or what the store said.
 */
int ts_store_migrate(const char *dir, const char *uri,
                     const struct ts_migrate_opts *o,
                     struct ts_migrate_counts *out, char *err, size_t errlen);

#endif
