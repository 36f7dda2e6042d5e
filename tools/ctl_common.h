/*
 * ctl_common: what every ticketctl verb shares: its option parsing and
 * usage errors, the exit statuses, opening a store, reading an input
 * file.  Only tools/ uses it.  A helper here that fails says why on
 * stderr ("ticketctl: ...") and exits 2; none returns an error.
 */
#ifndef TS_CTL_COMMON_H
#define TS_CTL_COMMON_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

#define EXIT_FOUND 1
#define EXIT_USAGE 2

/* Prints "ticketctl: " and the message on stderr; exits EXIT_USAGE. */
void ts_ctl_die(const char *fmt, ...)
	__attribute__((noreturn, format(printf, 1, 2)));

/*
 * Prints the synopsis of a verb's usage text (its usage: line and the
 * indented lines going on from it) on stderr; exits EXIT_USAGE.
 */
void ts_ctl_bad_usage(const char *usage) __attribute__((noreturn));

/*
 * The verb's next option (getopt_long over argv, argv[0] the verb; lo
 * ends with a zeroed entry, at most 6 before it, or is NULL), as its long
 * option's val; -1 when none is left (the operands are then
 * argv[optind..]).  -h/--help prints usage to stdout and exits 0; an
 * unknown option or a missing argument is told on stderr, exit 2.
 */
int ts_ctl_next_opt(int argc, char **argv, const struct option *lo,
                    const char *usage);

/*
 * Opens the store at path in mode; the caller closes it with
 * ts_store_close.  Says why not and exits 2 if it cannot.
 */
struct ts_store *ts_ctl_open_store(const char *path, enum ts_store_mode mode);
/* STORE (a directory or a libpq URI) as a message may show it: a URI's
 * password, if it holds one, replaced by "***".  Static: one at a time. */
const char *ts_ctl_store_shown(const char *path);

/*
 * Reads all of path (stdin for NULL or "-", at most 256 MiB) into a
 * malloc'd buffer, NUL-terminated, its length in *len; the caller wipes
 * and frees it (ts_ctl_wipe_free).  Exits 2 if it cannot.
 */
char *ts_ctl_read_input(const char *path, size_t *len);

/* Wipes len bytes of buf (NULL: nothing) and frees it. */
void ts_ctl_wipe_free(char *buf, size_t len);

/*
 * For the intake verbs, which need only the store's public key and write
 * access to its intake area: opens the store at path for intake and reads
 * its public key into pk; drops a record (freed) into intake, durably;
 * says whether ticket id exists (dies if it does not; warns if it cannot
 * tell); checks a --client-ip address (NULL: none), dies naming the
 * problem; sets it on a record made by store/intake.h (NULL: nothing).
 * Each exits 2 with a message on failure.
 */
struct ts_store *ts_ctl_open_intake(const char *path, unsigned char *pk);
void ts_ctl_put_intake(struct ts_store *st, int kind, const char *id,
                       uint8_t *rec, size_t len);
void ts_ctl_require_ticket(struct ts_store *st, const char *id);
void ts_ctl_check_client_ip(const char *ip);
void ts_ctl_set_client_ip(uint8_t **rec, size_t *len, const char *ip);
/* The option list of a verb whose one option is --client-ip ADDR. */
extern const struct option ts_ctl_client_ip_opt[];

#endif
