/*
 * audit_format: the audit trail's text, which the writer and the verifier
 * share: hex, the hash chain's step, segment names and the segment
 * listing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "store/audit_priv.h"

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
