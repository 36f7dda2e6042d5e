/*
 * keyfile: loading the secret key file the way the daemon and fsck need
 * it: refused, like ssh, if another uid owns it or group or others may
 * access it (the passphrase file too), unwrapped with a passphrase from a
 * file or asked on the terminal, and held in sodium_malloc'd locked
 * memory from then on.
 */
#ifndef TS_KEYFILE_H
#define TS_KEYFILE_H

#include <stddef.h>

#include "store/seal.h"

/*
 * Loads the key at path (not followed if a symlink).  passfile (may be
 * NULL) holds the passphrase on its first line; without it the terminal
 * is asked when there is one.  A key or passphrase file that the
 * effective uid does not own ("Bad owner or permissions on FILE"), or
 * that group or others may access ("Permissions 0644 for 'FILE' are too
 * open."), is refused with -EPERM.  On failure returns -errno and a
 * one-line reason in err.
 */
int ts_keyfile_load(const char *path, const char *passfile,
                    struct ts_seckey **out, char *err, size_t errlen);

/*
 * ts_keyfile_load, whose reason for a wrapped key without passfile and
 * terminal names hint as the way to give the passphrase (the daemon's is
 * "-o passfile=FILE", ticketctl's "--passphrase-file F").
 */
int ts_keyfile_load_hint(const char *path, const char *passfile,
                         const char *hint, struct ts_seckey **out,
                         char *err, size_t errlen);

/*
 * Reads a passphrase: the first line of passfile, which must pass the
 * same owner and mode check (-EPERM).  *pass is sodium_malloc'd; free it
 * with sodium_free (which wipes it).  On failure returns -errno and a
 * one-line reason in err.
 */
int ts_keyfile_read_pass(const char *passfile, char **pass, size_t *len,
                         char *err, size_t errlen);

#endif
