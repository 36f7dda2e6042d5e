/*
 * intake_json: the fast path of intake's JSON parsing (intake_json.h says
 * what it takes and what it leaves to jansson).  A recursive descent over
 * the bytes; a string without escapes is handed to jansson straight from
 * the input, one with escapes is unescaped into a buffer wiped after.
 */
#include "store/intake_json.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define FAST_DEPTH 8	/* deeper than any ticket: left to jansson */

struct scan {
	const unsigned char *p, *end;
};

static void
skip_ws(struct scan *s)
{
	while (s->p < s->end && (*s->p == ' ' || *s->p == '\t' ||
	                         *s->p == '\n' || *s->p == '\r'))
		s->p++;
}

/*
 * Length of the well-formed UTF-8 sequence at p (before end) that
 * jansson's utf8_check_first/utf8_check_full accept: no overlong form,
 * no surrogate, nothing above U+10FFFF.  0 if there is none.
 */
static size_t
utf8_len(const unsigned char *p, const unsigned char *end)
{
	size_t n, avail = (size_t)(end - p);
	uint32_t cp;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (avail < n)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

/*
 * The string at s->p (its opening quote): *out points at its bytes (into
 * the input if it has no escape, else into *buf, malloc'd, which the
 * caller wipes and frees), *len its length.  -1: not one we take.
 */
static int
scan_string(struct scan *s, const char **out, size_t *len, char **buf,
            size_t *buflen)
{
	const unsigned char *start = ++s->p, *p = start;
	size_t n = 0;
	int escaped = 0;
	char *b;

	*buf = NULL;
	/* Pass 1: find the end, validating; note whether there are escapes. */
	while (p < s->end && *p != '"') {
		if (*p == '\\') {
			if (p + 1 >= s->end || p[1] == '\0' ||
			    strchr("\"\\/bfnrt", p[1]) == NULL)
				return -1;	/* \u, or not an escape */
			escaped = 1;
			p += 2;
		} else if (*p < 0x20) {
			return -1;
		} else if (*p < 0x80) {
			p++;
		} else {
			size_t u = utf8_len(p, s->end);

			if (u == 0)
				return -1;
			p += u;
		}
	}
	if (p >= s->end)
		return -1;
	s->p = p + 1;
	if (!escaped) {
		*out = (const char *)start;
		*len = (size_t)(p - start);
		return 0;
	}
	/* Pass 2: unescape (never longer than the input). */
	if ((b = malloc((size_t)(p - start) + 1)) == NULL)
		return -1;
	for (const unsigned char *q = start; q < p; q++) {
		if (*q != '\\') {
			b[n++] = (char)*q;
			continue;
		}
		switch (*++q) {
		case 'b': b[n++] = '\b'; break;
		case 'f': b[n++] = '\f'; break;
		case 'n': b[n++] = '\n'; break;
		case 'r': b[n++] = '\r'; break;
		case 't': b[n++] = '\t'; break;
		default: b[n++] = (char)*q; break;	/* " \ / */
		}
	}
	b[n] = '\0';
	*buf = b;
	*buflen = (size_t)(p - start) + 1;
	*out = b;
	*len = n;
	return 0;
}

static json_t *scan_value(struct scan *s, int depth);

static json_t *
scan_object(struct scan *s, int depth)
{
	json_t *obj = json_object();

	if (obj == NULL)
		return NULL;
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == '}') {
		s->p++;
		return obj;
	}
	for (;;) {
		const char *k;
		char *kbuf, *key;
		size_t klen, kbuflen = 0;
		json_t *v;
		int bad;

		if (s->p >= s->end || *s->p != '"' ||
		    scan_string(s, &k, &klen, &kbuf, &kbuflen) < 0)
			goto fail;
		/* A key is no secret, but it is copied to end in a NUL. */
		key = kbuf != NULL ? kbuf : strndup(k, klen);
		if (key == NULL)
			goto fail;
		skip_ws(s);
		bad = s->p >= s->end || *s->p != ':' ||
		      json_object_get(obj, key) != NULL;	/* duplicate */
		if (!bad) {
			s->p++;
			skip_ws(s);
			v = scan_value(s, depth + 1);
			bad = v == NULL ||
			      json_object_set_new_nocheck(obj, key, v) < 0;
		}
		free(key);
		if (bad)
			goto fail;
		skip_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			skip_ws(s);
			continue;
		}
		if (s->p < s->end && *s->p == '}') {
			s->p++;
			return obj;
		}
		goto fail;
	}
fail:
	json_decref(obj);
	return NULL;
}

static json_t *
scan_array(struct scan *s, int depth)
{
	json_t *arr = json_array();

	if (arr == NULL)
		return NULL;
	s->p++;
	skip_ws(s);
	if (s->p < s->end && *s->p == ']') {
		s->p++;
		return arr;
	}
	for (;;) {
		json_t *v = scan_value(s, depth + 1);

		if (v == NULL || json_array_append_new(arr, v) < 0)
			goto fail;
		skip_ws(s);
		if (s->p < s->end && *s->p == ',') {
			s->p++;
			skip_ws(s);
			continue;
		}
		if (s->p < s->end && *s->p == ']') {
			s->p++;
			return arr;
		}
		goto fail;
	}
fail:
	json_decref(arr);
	return NULL;
}

static json_t *
scan_value(struct scan *s, int depth)
{
	const char *v;
	char *buf;
	size_t len, buflen = 0;
	json_t *j;

	if (s->p >= s->end || depth > FAST_DEPTH)
		return NULL;
	if (*s->p == '{')
		return scan_object(s, depth);
	if (*s->p == '[')
		return scan_array(s, depth);
	if (*s->p != '"' || scan_string(s, &v, &len, &buf, &buflen) < 0)
		return NULL;
	j = json_stringn_nocheck(v, len);
	if (buf != NULL) {
		sodium_memzero(buf, buflen);
		free(buf);
	}
	return j;
}

json_t *
ts_intake_json_fast(const char *json, size_t len)
{
	struct scan s = { (const unsigned char *)json,
	                  (const unsigned char *)json + len };
	json_t *root;

	skip_ws(&s);
	if (s.p >= s.end || *s.p != '{')
		return NULL;
	if ((root = scan_object(&s, 1)) == NULL)
		return NULL;
	skip_ws(&s);
	if (s.p != s.end) {
		json_decref(root);
		return NULL;
	}
	return root;
}
