/*
 * file_rekey: the file backend's side of ticketctl rekey
 * (store/rekey_priv.h): the journal STORE/rekey, public.key replaced,
 * intake counted, records and key files swapped, the trail's marks.  A
 * directory store has one process at a time (the store lock, flock), so
 * a swap's comparison and its rename cannot race another writer.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/audit_rekey.h"
#include "store/record.h"
#include "store/rekey_priv.h"
#include "store/store_file_priv.h"
#include "store/sysio.h"
#include "store/tkey.h"

#define JOURNAL_FILE "rekey"
#define PUBKEY_FILE "public.key"	/* store_file.c's */

static int
journal_get(struct ts_store *st, char **text, size_t *len)
{
	unsigned char *buf, *nb;
	size_t n;
	int rc;

	if ((rc = ts_sysio_read_file(fs_of(st)->dirfd, JOURNAL_FILE, 4096,
	                             &buf, &n)) < 0)
		return rc;
	if ((nb = realloc(buf, n + 1)) == NULL) {
		free(buf);
		return -ENOMEM;
	}
	nb[n] = '\0';
	*text = (char *)nb;
	*len = n;
	return 0;
}

static int
journal_put(struct ts_store *st, const char *text, size_t len)
{
	return ts_sysio_write_atomic(fs_of(st)->dirfd, JOURNAL_FILE, text, len,
	                             0600, 0);
}

static int
pubkey_set(struct ts_store *st, const unsigned char pk[TS_SEAL_PKBYTES])
{
	char *text;
	int rc;

	if ((rc = ts_seal_pubkey_encode(pk, &text)) < 0)
		return rc;
	rc = ts_sysio_write_atomic(fs_of(st)->dirfd, PUBKEY_FILE, text,
	                           strlen(text), 0644, 0);
	free(text);
	return rc;
}

static int
intake_count(struct ts_store *st, uint64_t *n)
{
	char **names;
	size_t k;
	int rc;

	/* What the daemon would take in: no dotfiles, not rejected/. */
	if ((rc = ts_file_list_dir(fs_of(st)->intakefd, &names, &k)) < 0)
		return rc;
	ts_file_free_names(names, k);
	*n = k;
	return 0;
}

static int
in_use(struct ts_store *st)
{
	/* The caller holds the store lock, which no daemon then holds. */
	return fs_of(st)->lockfd >= 0 ? 0 : -ENOLCK;
}

/* dirfd/name replaced with buf if it still holds old. */
static int
swap(int dirfd, const char *name, size_t max, const uint8_t *old,
     size_t oldlen, const uint8_t *buf, size_t len)
{
	unsigned char *cur;
	size_t curlen;
	int rc;

	if (dirfd < 0)
		return -EACCES;
	if ((rc = ts_sysio_read_file(dirfd, name, max, &cur, &curlen)) < 0)
		return rc;
	rc = curlen != oldlen || memcmp(cur, old, oldlen) != 0 ? -EAGAIN : 0;
	free(cur);
	if (rc < 0)
		return rc;
	return ts_sysio_write_atomic(dirfd, name, buf, len, 0600, 0);
}

static int
record_swap(struct ts_store *st, const char *id, const uint8_t *old,
            size_t oldlen, const uint8_t *rec, size_t len)
{
	if (!ts_id_valid(id))
		return -ENOENT;
	return swap(fs_of(st)->ticketsfd, id, TS_RECORD_MAX, old, oldlen, rec,
	            len);
}

static int
key_swap(struct ts_store *st, const char *id, int next, const uint8_t *old,
         size_t oldlen, const uint8_t *key, size_t len)
{
	char name[TS_NAME_MAX + 8];

	if (!ts_id_valid(id))
		return -ENOENT;
	snprintf(name, sizeof(name), "%s%s", id, next ? ".next" : "");
	return swap(fs_of(st)->keysfd, name, TS_TKEY_FILEBYTES + 1, old,
	            oldlen, key, len);
}

static int
audit_resign(struct ts_store *st, const struct ts_seckey *old,
             const struct ts_seckey *key, unsigned *bad)
{
	return ts_audit_file_resign(fs_of(st)->dirfd, old, key, bad);
}

const struct ts_rekey_ops ts_file_rekey_ops = {
	.journal_get = journal_get,
	.journal_put = journal_put,
	.pubkey_set = pubkey_set,
	.intake_count = intake_count,
	.in_use = in_use,
	.record_swap = record_swap,
	.key_swap = key_swap,
	.audit_resign = audit_resign,
};
