/*
 * intake: strict validation of submitted JSON and text, then sealing into
 * intake records.  JSON is parsed by jansson, which also rejects invalid
 * UTF-8, NUL characters and duplicate keys for us.
 */
#include "store/intake.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <malloc.h>

#include <jansson.h>

#include "store/intake_json.h"
#include "store/record.h"
#include "store/ticket.h"
#include "store/tkey.h"

static int
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ts_intake_seal_append, for pk; with self (pk's secret half: a new
 * ticket's key pair), faster (ts_seal_box_self). */
static int
seal_append(const unsigned char *pk, const unsigned char *self,
            const char *id, const char *field, const char *value, size_t len,
            uint8_t **blob, size_t *bloblen, struct ts_box *box)
{
	int nl = len == 0 || value[len - 1] != '\n';
	size_t plen = len + (size_t)nl;
	size_t blen = plen + TS_SEAL_OVERHEAD;
	char *plain;
	uint8_t *nb;
	int rc;

	if (*bloblen + blen > TS_RECORD_MAX)
		return -EFBIG;
	if ((plain = malloc(plen)) == NULL)
		return -ENOMEM;
	memcpy(plain, value, len);
	if (nl)
		plain[len] = '\n';
	rc = -ENOMEM;
	if ((nb = realloc(*blob, *bloblen + blen)) == NULL)
		goto out_wipe;
	*blob = nb;
	rc = self != NULL ?
	     ts_seal_box_self(pk, self, id, field, plain, plen,
	                      nb + *bloblen) :
	     ts_seal_box(pk, id, field, plain, plen, nb + *bloblen);
	if (rc < 0)
		goto out_wipe;
	box->off = (uint32_t)*bloblen;
	box->len = (uint32_t)blen;
	*bloblen += blen;
out_wipe:
	sodium_memzero(plain, plen);
	free(plain);
	return rc;
}

int
ts_intake_seal_append(const unsigned char pk[TS_SEAL_PKBYTES],
                      const char *id, const char *field, const char *value,
                      size_t len, uint8_t **blob, size_t *bloblen,
                      struct ts_box *box)
{
	return seal_append(pk, NULL, id, field, value, len, blob, bloblen,
	                   box);
}

/* jansson's memory holds plaintext values: wipe each block before freeing. */
static void
wiping_free(void *p)
{
	if (p != NULL)
		sodium_memzero(p, malloc_usable_size(p));
	free(p);
}

/* Parses JSON text into an object; a message names the problem. */
static json_t *
parse_object(const char *json, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *root;

	json_set_alloc_funcs(malloc, wiping_free);
	if ((root = ts_intake_json_fast(json, len)) != NULL)
		return root;
	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
	if (root == NULL) {
		/*
		 * jansson's text quotes the input "near" the error, which may
		 * be a sealed value (a password with a NUL in it): the message
		 * ends up in a front end's logs, so it names only the place.
		 */
		char *near = strstr(je.text, " near ");

		if (near != NULL)
			*near = '\0';
		/* jansson says "unable to decode byte 0xff": name it. */
		if (json_error_code(&je) == json_error_invalid_utf8)
			fail(err, errlen, "invalid UTF-8 at line %d, column %d: "
			     "%s", je.line, je.column, je.text);
		else
			fail(err, errlen, "invalid JSON at line %d, column %d: "
			     "%s", je.line, je.column, je.text);
		sodium_memzero(&je, sizeof(je));
		return NULL;
	}
	if (!json_is_object(root)) {
		fail(err, errlen, "expected a JSON object");
		json_decref(root);
		return NULL;
	}
	return root;
}

/*
 * Takes a string value of obj[key], checking type, emptiness and size.
 * *s is NULL if the key is absent (an error if required).
 */
static int
take_string(json_t *obj, const char *what, const char *key, size_t max,
            int required, const char **s, size_t *len, char *err,
            size_t errlen)
{
	json_t *v = json_object_get(obj, key);

	*s = NULL;
	*len = 0;
	if (v == NULL)
		return required ? fail(err, errlen, "%smissing required key "
		                       "\"%s\"", what, key) : 0;
	if (!json_is_string(v))
		return fail(err, errlen, "%s\"%s\" must be a string", what, key);
	*s = json_string_value(v);
	*len = json_string_length(v);
	if (*len == 0)
		return fail(err, errlen, "%s\"%s\" is empty (leave the key out "
		            "instead)", what, key);
	/* The newline the mount adds counts toward the limit. */
	if (*len + ((*s)[*len - 1] != '\n') > max)
		return fail(err, errlen, "%s\"%s\" is %zu bytes, over its limit "
		            "of %zu (%zu with the final newline, which the "
		            "mount adds if it is missing)", what, key, *len,
		            max - 1, (size_t)max);
	return 0;
}

/* Refuses any key of obj not in allowed (NULL-terminated). */
static int
check_keys(json_t *obj, const char *what, const char *const *allowed,
           char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		int ok = 0;

		(void)v;
		for (const char *const *a = allowed; *a != NULL; a++)
			ok |= strcmp(*a, key) == 0;
		if (!ok)
			return fail(err, errlen, "%sunknown key \"%s\"", what,
			            key);
	}
	return 0;
}

/* Copies ip (len bytes) into out if it is an IPv4 or IPv6 address. */
static int
check_client_ip(const char *ip, size_t len, char out[TS_CLIENT_IP_MAX + 1],
                char *err, size_t errlen)
{
	unsigned char addr[16];

	if (len == 0 || len > TS_CLIENT_IP_MAX || memchr(ip, '\0', len) != NULL)
		return fail(err, errlen, "\"client_ip\" is not an IPv4 or IPv6 "
		            "address: \"%.*s\"", (int)(len > 64 ? 64 : len), ip);
	memcpy(out, ip, len);
	out[len] = '\0';
	if (inet_pton(AF_INET, out, addr) == 1 ||
	    inet_pton(AF_INET6, out, addr) == 1)
		return 0;
	fail(err, errlen, "\"client_ip\" is not an IPv4 or IPv6 address: "
	     "\"%s\"", out);
	out[0] = '\0';
	return -EINVAL;
}

/* Takes obj's "client_ip" (if any) into out and deletes the key, so that
 * the rest of obj is checked as before. */
static int
take_client_ip(json_t *obj, char out[TS_CLIENT_IP_MAX + 1], char *err,
               size_t errlen)
{
	json_t *v = json_object_get(obj, "client_ip");
	int rc;

	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return fail(err, errlen, "\"client_ip\" must be a string");
	rc = check_client_ip(json_string_value(v), json_string_length(v), out,
	                     err, errlen);
	json_object_del(obj, "client_ip");
	return rc;
}

/* Validates one authorization object and seals it into t and *blob, for
 * pk or for self (seal_append). */
static int
seal_auth(const unsigned char *pk, const unsigned char *self,
          struct ts_ticket *t,
          const char *name, json_t *obj, const char *what, int64_t now_ms,
          uint8_t **blob, size_t *bloblen, char *err, size_t errlen)
{
	static const char *const keys[] = { "account", "password", "resource",
	                                    "expires", NULL };
	const char *s[TS_A_COUNT], *exp;
	size_t len[TS_A_COUNT], explen;
	struct ts_auth *a;
	char path[2 * TS_NAME_MAX + 32];
	int64_t expires;
	int rc;

	if (!json_is_object(obj))
		return fail(err, errlen, "%smust be an object", what);
	if ((rc = check_keys(obj, what, keys, err, errlen)) < 0)
		return rc;
	for (int f = 0; f < TS_A_COUNT; f++) {
		rc = take_string(obj, what, ts_afield_names[f],
		                 ts_afield_max[f], f != TS_A_RESOURCE, &s[f],
		                 &len[f], err, errlen);
		if (rc < 0)
			return rc;
	}
	if ((rc = take_string(obj, what, "expires", 64, 1, &exp, &explen, err,
	                      errlen)) < 0)
		return rc;
	if (ts_time_parse(exp, &expires) < 0)
		return fail(err, errlen, "%s\"expires\" is not an RFC 3339 time: "
		            "\"%s\"", what, exp);
	if (expires <= now_ms)
		return fail(err, errlen, "%s\"expires\" is in the past: %s",
		            what, exp);
	if ((a = ts_ticket_add_auth(t)) == NULL)
		return -ENOMEM;
	snprintf(a->name, sizeof(a->name), "%s", name);
	a->created_ms = now_ms;
	a->expires_ms = expires;
	for (int f = 0; f < TS_A_COUNT; f++) {
		if (s[f] == NULL)
			continue;
		snprintf(path, sizeof(path), "authorizations/%s/%s", name,
		         ts_afield_names[f]);
		rc = seal_append(pk, self, t->id, path, s[f], len[f], blob,
		                 bloblen, &a->box[f]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* Encodes t with its boxes in blob into *rec, then wipes nothing: boxes
 * are ciphertext. */
static int
finish(int kind, struct ts_ticket *t, uint8_t *blob, uint8_t **rec,
       size_t *reclen)
{
	int rc = ts_record_encode(kind, t, blob, NULL, rec, reclen);

	free(blob);
	ts_ticket_release(t);
	return rc;
}

/*
 * Gives new ticket t its own key pair (secret half into tsk): every value
 * is then sealed for t->tpk (with ts_seal_box_self), and the secret key,
 * sealed for the store's key pk, goes in the record's key box (appended
 * to *blob).  The caller wipes tsk.
 */
static int
intake_ticket_key(const unsigned char pk[TS_SEAL_PKBYTES],
                  struct ts_ticket *t, uint8_t **blob, size_t *bloblen,
                  unsigned char tsk[crypto_box_SECRETKEYBYTES])
{
	uint8_t *nb;
	int rc;

	if ((nb = realloc(*blob, *bloblen + TS_TKEY_BOXBYTES)) == NULL)
		return -ENOMEM;
	*blob = nb;
	if ((rc = ts_tkey_new_sealed_key(pk, t->id, t->tpk, tsk,
	                                 nb + *bloblen)) < 0)
		return rc;
	t->keybox = (struct ts_box){ (uint32_t)*bloblen, TS_TKEY_BOXBYTES };
	*bloblen += TS_TKEY_BOXBYTES;
	t->keyed = 1;
	return 0;
}

int
ts_intake_ticket(const unsigned char pk[TS_SEAL_PKBYTES], const char *id,
                 const char *json, size_t len, int64_t now_ms,
                 uint8_t **rec, size_t *reclen, char *err, size_t errlen)
{
	static const char *const keys[] = { "username", "subject",
	        "description", "email", "mobile", "confidential",
	        "authorizations", NULL };
	struct ts_ticket t = { 0 };
	unsigned char tk[crypto_box_SECRETKEYBYTES];	/* tkey.h: why here */
	uint8_t *blob = NULL;
	size_t bloblen = 0;
	json_t *root, *auths;
	int rc;

	if (!ts_id_valid(id))
		return fail(err, errlen, "invalid ticket id \"%s\"", id);
	if ((root = parse_object(json, len, err, errlen)) == NULL)
		return -EINVAL;
	if ((rc = take_client_ip(root, t.client_ip, err, errlen)) < 0 ||
	    (rc = check_keys(root, "", keys, err, errlen)) < 0)
		goto out;
	snprintf(t.id, sizeof(t.id), "%s", id);
	if ((rc = intake_ticket_key(pk, &t, &blob, &bloblen, tk)) < 0)
		goto out;
	t.created_ms = now_ms;
	t.status = TS_OPEN;
	for (int f = 0; f < TS_F_COUNT; f++) {
		const char *s;
		size_t n;

		rc = take_string(root, "", ts_field_names[f], ts_field_max[f],
		                 f == TS_F_USERNAME || f == TS_F_SUBJECT, &s, &n,
		                 err, errlen);
		if (rc < 0)
			goto out;
		if (s != NULL && (rc = seal_append(t.tpk, tk, id,
		                  ts_field_names[f], s, n, &blob, &bloblen,
		                  &t.field[f])) < 0)
			goto out;
	}
	auths = json_object_get(root, "authorizations");
	if (auths != NULL) {
		size_t i;
		json_t *a;

		rc = fail(err, errlen, "\"authorizations\" must be a list");
		if (!json_is_array(auths))
			goto out;
		rc = fail(err, errlen, "\"authorizations\" holds more than %d "
		          "entries", TS_AUTH_PER_TICKET);
		if (json_array_size(auths) > TS_AUTH_PER_TICKET)
			goto out;
		json_array_foreach(auths, i, a) {
			char what[48], name[TS_NAME_MAX + 1];

			snprintf(what, sizeof(what), "authorizations[%zu]: ", i);
			snprintf(name, sizeof(name), "a%zu", i + 1);
			rc = seal_auth(t.tpk, tk, &t, name, a, what, now_ms,
			               &blob, &bloblen, err, errlen);
			if (rc < 0)
				goto out;
		}
	}
	json_decref(root);
	sodium_memzero(tk, sizeof(tk));
	return finish(TS_REC_TICKET, &t, blob, rec, reclen);
out:
	json_decref(root);
	sodium_memzero(tk, sizeof(tk));
	free(blob);
	ts_ticket_release(&t);
	return rc;
}

int
ts_intake_auth(const unsigned char pk[TS_SEAL_PKBYTES], const char *id,
               const char *name, const char *json, size_t len,
               int64_t now_ms, uint8_t **rec, size_t *reclen, char *err,
               size_t errlen)
{
	struct ts_ticket t = { 0 };
	uint8_t *blob = NULL;
	size_t bloblen = 0;
	json_t *root;
	int rc;

	if (!ts_id_valid(id))
		return fail(err, errlen, "invalid ticket id \"%s\"", id);
	if (!ts_name_valid(name))
		return fail(err, errlen, "invalid authorization name \"%s\"",
		            name);
	if ((root = parse_object(json, len, err, errlen)) == NULL)
		return -EINVAL;
	snprintf(t.id, sizeof(t.id), "%s", id);
	rc = take_client_ip(root, t.client_ip, err, errlen);
	if (rc == 0)
		rc = seal_auth(pk, NULL, &t, name, root, "", now_ms, &blob,
		               &bloblen, err, errlen);
	json_decref(root);
	if (rc < 0) {
		free(blob);
		ts_ticket_release(&t);
		return rc;
	}
	return finish(TS_REC_AUTH, &t, blob, rec, reclen);
}

int
ts_intake_message(const unsigned char pk[TS_SEAL_PKBYTES], const char *id,
                  const char *name, const char *text, size_t len,
                  int64_t now_ms, uint8_t **rec, size_t *reclen, char *err,
                  size_t errlen)
{
	struct ts_ticket t = { 0 };
	struct ts_message *m;
	uint8_t *blob = NULL;
	size_t bloblen = 0;
	char path[TS_NAME_MAX + 16];
	json_t *check;
	int rc;

	if (!ts_id_valid(id))
		return fail(err, errlen, "invalid ticket id \"%s\"", id);
	if (!ts_name_valid(name))
		return fail(err, errlen, "invalid message name \"%s\"", name);
	if (len == 0)
		return fail(err, errlen, "the message is empty");
	if (len + (text[len - 1] != '\n') > TS_MESSAGE_MAX)
		return fail(err, errlen, "the message is %zu bytes, over its "
		            "limit of %u", len, TS_MESSAGE_MAX - 1);
	if (memchr(text, '\0', len) != NULL)
		return fail(err, errlen, "the message holds a NUL byte");
	/* jansson's string constructor is a strict UTF-8 validator. */
	if ((check = json_stringn(text, len)) == NULL)
		return fail(err, errlen, "the message is not valid UTF-8");
	json_decref(check);
	snprintf(t.id, sizeof(t.id), "%s", id);
	if ((m = ts_ticket_add_msg(&t)) == NULL)
		return -ENOMEM;
	snprintf(m->name, sizeof(m->name), "%s", name);
	m->stored_ms = now_ms;
	snprintf(path, sizeof(path), "messages/%s", name);
	rc = ts_intake_seal_append(pk, id, path, text, len, &blob, &bloblen,
	                           &m->box);
	if (rc < 0) {
		free(blob);
		ts_ticket_release(&t);
		return rc;
	}
	return finish(TS_REC_MESSAGE, &t, blob, rec, reclen);
}

int
ts_intake_revoke(const char *id, const char *name, uint8_t **rec,
                 size_t *reclen, char *err, size_t errlen)
{
	struct ts_ticket t = { 0 };
	struct ts_auth *a;

	if (!ts_id_valid(id))
		return fail(err, errlen, "invalid ticket id \"%s\"", id);
	if (!ts_name_valid(name))
		return fail(err, errlen, "invalid authorization name \"%s\"",
		            name);
	snprintf(t.id, sizeof(t.id), "%s", id);
	if ((a = ts_ticket_add_auth(&t)) == NULL)
		return -ENOMEM;
	snprintf(a->name, sizeof(a->name), "%s", name);
	return finish(TS_REC_REVOKE, &t, NULL, rec, reclen);
}

int
ts_intake_forget(const unsigned char pk[TS_SEAL_PKBYTES], const char *reqid,
                 const char *username, size_t len, uint8_t **rec,
                 size_t *reclen, char *err, size_t errlen)
{
	struct ts_ticket t = { 0 };
	uint8_t *blob = NULL;
	size_t bloblen = 0;
	json_t *check;
	int rc;

	if (!ts_id_valid(reqid))
		return fail(err, errlen, "invalid request id \"%s\"", reqid);
	if (len == 0)
		return fail(err, errlen, "the username is empty");
	if (len + (username[len - 1] != '\n') > ts_field_max[TS_F_USERNAME])
		return fail(err, errlen, "the username is %zu bytes, over its "
		            "limit of %u", len, ts_field_max[TS_F_USERNAME] - 1);
	if (memchr(username, '\0', len) != NULL)
		return fail(err, errlen, "the username holds a NUL byte");
	json_set_alloc_funcs(malloc, wiping_free);
	if ((check = json_stringn(username, len)) == NULL)
		return fail(err, errlen, "the username is not valid UTF-8");
	json_decref(check);
	snprintf(t.id, sizeof(t.id), "%s", reqid);
	rc = ts_intake_seal_append(pk, reqid, ts_field_names[TS_F_USERNAME],
	                           username, len, &blob, &bloblen,
	                           &t.field[TS_F_USERNAME]);
	if (rc < 0) {
		free(blob);
		return rc;
	}
	return finish(TS_REC_FORGET, &t, blob, rec, reclen);
}

int
ts_intake_erase(const char *id, uint32_t mask, uint8_t **rec, size_t *reclen,
                char *err, size_t errlen)
{
	struct ts_ticket t = { 0 };

	if (!ts_id_valid(id))
		return fail(err, errlen, "invalid ticket id \"%s\"", id);
	for (int f = 0; f < TS_F_COUNT; f++)
		if ((mask & 1u << f) && !(TS_INTAKE_ERASABLE & 1u << f))
			return fail(err, errlen, "the customer may not erase "
			            "\"%s\"", ts_field_names[f]);
	if (mask >> TS_F_COUNT != 0)
		return fail(err, errlen, "erase mask 0x%x names no field", mask);
	snprintf(t.id, sizeof(t.id), "%s", id);
	t.erase = mask;
	return finish(TS_REC_ERASE, &t, NULL, rec, reclen);
}

int
ts_intake_set_client_ip(uint8_t **rec, size_t *reclen, const char *ip,
                        char *err, size_t errlen)
{
	struct ts_ticket t;
	uint8_t *out;
	size_t outlen;
	int kind, rc;

	if (ip == NULL)
		return 0;
	if (ts_record_decode(*rec, *reclen, &kind, &t) < 0)
		return fail(err, errlen, "not an intake record");
	if ((rc = check_client_ip(ip, strlen(ip), t.client_ip, err,
	                          errlen)) < 0) {
		ts_ticket_release(&t);
		return rc;
	}
	rc = ts_record_encode(kind, &t, *rec, NULL, &out, &outlen);
	ts_ticket_release(&t);
	if (rc < 0)
		return rc;
	free(*rec);
	*rec = out;
	*reclen = outlen;
	return 0;
}

int
ts_intake_client_ip_check(const char *ip, char *err, size_t errlen)
{
	char out[TS_CLIENT_IP_MAX + 1];

	return check_client_ip(ip, strlen(ip), out, err, errlen);
}
