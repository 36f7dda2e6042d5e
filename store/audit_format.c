/*
 * audit_format: the audit trail's text, which the writer and the verifier
 * share: hex, the hash chain's step, segment names and the segment
 * listing, and an entry's seq, hash and time.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "store/audit_priv.h"
#include "store/util.h"

void
ts_audit_hex(const unsigned char *b, size_t n, char *out)
{
	sodium_bin2hex(out, 2 * n + 1, b, n);
}

int
ts_audit_unhex(const char *s, size_t slen, unsigned char *b, size_t n)
{
	size_t got;

	return sodium_hex2bin(b, n, s, slen, NULL, &got, NULL) == 0 && got == n
	       ? 0 : -1;
}

void
ts_audit_chain(const unsigned char prev[HASHBYTES], const char *body,
               size_t len, unsigned char out[HASHBYTES])
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, HASHBYTES);
	crypto_generichash_update(&st, prev, HASHBYTES);
	crypto_generichash_update(&st, (const unsigned char *)body, len);
	crypto_generichash_final(&st, out, HASHBYTES);
}

int
ts_audit_segment_name(unsigned n, char name[32])
{
	return snprintf(name, 32, "%06u.log", n);
}

/* The segment numbers under dirfd, which must run first..n. */
int
ts_audit_list_segments(int dirfd, unsigned *first, unsigned *n)
{
	int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;
	struct dirent *de;
	unsigned max = 0, min = 0, count = 0;

	if (dfd < 0 || (d = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		return -errno;
	}
	while ((de = readdir(d)) != NULL) {
		unsigned v;
		char tail[8];

		if (sscanf(de->d_name, "%6u.lo%1s", &v, tail) == 2 &&
		    strlen(de->d_name) == 10 && tail[0] == 'g') {
			count++;
			max = v > max ? v : max;
			min = min == 0 || v < min ? v : min;
		}
	}
	closedir(d);
	*n = max;
	*first = min ? min : 1;
	/* A gap: a segment is missing.  Pruned ones go from the start. */
	return count == (max ? max - *first + 1 : 0) ? 0 : -EBADMSG;
}

int
ts_audit_line_parse(const char *line, size_t len, uint64_t *seq,
                    unsigned char hash[HASHBYTES], int64_t *ms)
{
	const char *h = len > SUFFIX_LEN - 1 ? line + len - (SUFFIX_LEN - 1)
	                                     : NULL;
	json_t *j, *s;
	const char *t;
	int rc = -EBADMSG;

	/* The hash is last: ,"hash":"<64 hex>"} */
	if (h == NULL || strncmp(h, ",\"hash\":\"", 9) != 0 ||
	    memcmp(h + 9 + 2 * HASHBYTES, "\"}", 2) != 0 ||
	    ts_audit_unhex(h + 9, 2 * HASHBYTES, hash, HASHBYTES) < 0)
		return -EBADMSG;
	if ((j = json_loadb(line, len, 0, NULL)) == NULL)
		return -EBADMSG;
	s = json_object_get(j, "seq");
	t = json_string_value(json_object_get(j, "time"));
	if (json_is_integer(s) && json_integer_value(s) > 0 &&
	    (ms == NULL || (t != NULL && ts_time_parse(t, ms) == 0))) {
		*seq = (uint64_t)json_integer_value(s);
		rc = 0;
	}
	json_decref(j);
	return rc;
}
