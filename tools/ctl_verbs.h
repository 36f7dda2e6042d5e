/*
 * ctl_verbs: the entry points of ticketctl's verbs, which main() picks
 * from its table.  Each takes the verb's own argc and argv (argv[0] the
 * verb), parses its options with ts_ctl_next_opt and returns the exit
 * status (0, or EXIT_FOUND when it ran and found a problem); bad usage or
 * bad input exits 2 from inside, --help exits 0.  Verbs call
 * ctl_common.h, never each other.
 */
#ifndef TS_CTL_VERBS_H
#define TS_CTL_VERBS_H

#include <stddef.h>

/* ctl_init.c: a new store and its key file. */
int ts_ctl_cmd_init(int argc, char **argv);

/* ctl_intake.c: sealed input dropped into the intake area. */
int ts_ctl_cmd_submit(int argc, char **argv);
int ts_ctl_cmd_message(int argc, char **argv);
int ts_ctl_cmd_authorize(int argc, char **argv);
int ts_ctl_cmd_revoke(int argc, char **argv);

/* ctl_rights.c: a customer's account deletion and own erasure. */
int ts_ctl_cmd_forget(int argc, char **argv);
int ts_ctl_cmd_erase(int argc, char **argv);

/* ctl_check.c: checking the records and the audit trail. */
int ts_ctl_cmd_fsck(int argc, char **argv);
int ts_ctl_cmd_audit(int argc, char **argv);

/* ctl_prune.c: audit prune and audit seal (from ts_ctl_cmd_audit), and
 * the seed's one printing (ticketctl init too). */
int ts_ctl_audit_prune(int argc, char **argv);
int ts_ctl_audit_seal(int argc, char **argv);
void ts_ctl_print_seed(const char *seed, const char *state);
struct ts_store;
/* The seal check of STORE with seed, said in msg (msglen bytes); 0
 * intact, 1 not; exits 2 if it cannot be made. */
int ts_ctl_audit_verify_seed(struct ts_store *st, const char *store,
                             const char *seed, char *msg, size_t msglen);

/* ctl_policy.c: the store's policy, and a database role's privileges. */
int ts_ctl_cmd_policy(int argc, char **argv);
int ts_ctl_cmd_grant(int argc, char **argv);

/* ctl_migrate.c: a directory store copied into a PostgreSQL store. */
int ts_ctl_cmd_migrate(int argc, char **argv);

/* ctl_stats.c: a store's counts, for monitoring. */
int ts_ctl_cmd_stats(int argc, char **argv);
/* ctl_rekey.c: the store's key pair replaced. */
int ts_ctl_cmd_rekey(int argc, char **argv);

/* ctl_wait.c: waiting until no daemon holds the store. */
int ts_ctl_cmd_wait(int argc, char **argv);

#endif
