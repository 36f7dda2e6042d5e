/*
 * keyfile: loading the secret key file the way the daemon and fsck need
 * it: refused if group or others may read it (like ssh), unwrapped with a
 * passphrase from a file or asked on the terminal, and held in
 * sodium_malloc'd locked memory from then on.
 */
#ifndef TS_KEYFILE_H
#define TS_KEYFILE_H

#include <stddef.h>

#include "store/seal.h"

/*
 * Loads the key at path.  passfile (may be NULL) holds the passphrase on
 * its first line; without it the terminal is asked when there is one.
 * On failure returns -errno and a one-line reason in err.
 */
int ts_keyfile_load(const char *path, const char *passfile,
                    struct ts_seckey **out, char *err, size_t errlen);

/*
 * Reads a passphrase: the first line of passfile.  *pass is
 * sodium_malloc'd; free it with sodium_free (which wipes it).
 */
int ts_keyfile_read_pass(const char *passfile, char **pass, size_t *len);

#endif
