/*
 * audit_fss: forward-secure sealing of the trail (store/audit.h), as
 * systemd-journald's Forward Secure Sealing: a key that evolves every
 * epoch by a one-way step, the old one wiped, each epoch closed by a seal
 * MAC'd with its key.  Whoever takes the host at epoch m holds key_m and
 * cannot make a seal of an earlier epoch; the verifier, given the seed
 * kept elsewhere, recomputes every key.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "store/audit_priv.h"
#include "store/sysio.h"
#include "store/util.h"

#define KEYBYTES 32
#define IDBYTES 8
#define DEFAULT_EPOCH_S 900

static const char KEY0_DOMAIN[] = "ticketfs-fss-key0-v1";
static const char EVOLVE_DOMAIN[] = "ticketfs-fss-evolve-v1";
static const char SEAL_DOMAIN[] = "ticketfs-fss-seal-v1";
static const char ID_DOMAIN[] = "ticketfs-fss-id-v1";

struct ts_audit_fss {
	int dirfd;		/* the state file's directory */
	char *name;		/* its name there */
	int64_t t0;		/* seconds since the epoch when epoch 0 began */
	unsigned epoch_s;	/* seconds an epoch */
	uint64_t n;		/* the epoch whose key this is */
	unsigned char *key;	/* key_n, sodium_malloc'd */
	char seals[32];		/* "seals-<id>" in STORE/audit */
};

/* The seals file of the sealing that seed began: "seals-" and 16 hex
 * digits of a hash of the seed, so a sealing started anew (a lost state)
 * writes a file of its own and never continues another's. */
static void
seals_name(const unsigned char *seed, char name[32])
{
	unsigned char id[IDBYTES];
	char h[2 * IDBYTES + 1];

	crypto_generichash(id, sizeof(id), (const unsigned char *)ID_DOMAIN,
	                   sizeof(ID_DOMAIN), seed, KEYBYTES);
	ts_audit_hex(id, sizeof(id), h);
	snprintf(name, 32, "seals-%s", h);
}

/* key_{n+1} from key_n, in place (the old one is gone). */
static void
evolve(unsigned char *key)
{
	unsigned char next[KEYBYTES];

	crypto_generichash(next, sizeof(next),
	                   (const unsigned char *)EVOLVE_DOMAIN,
	                   sizeof(EVOLVE_DOMAIN), key, KEYBYTES);
	memcpy(key, next, KEYBYTES);
	sodium_memzero(next, sizeof(next));
}

static void
seal_mac(const unsigned char *key, uint64_t epoch, uint64_t next,
         uint64_t seq, const unsigned char hash[HASHBYTES],
         unsigned char mac[KEYBYTES])
{
	unsigned char msg[sizeof(SEAL_DOMAIN) + 24 + HASHBYTES];

	memcpy(msg, SEAL_DOMAIN, sizeof(SEAL_DOMAIN));
	ts_le64_put(msg + sizeof(SEAL_DOMAIN), epoch);
	ts_le64_put(msg + sizeof(SEAL_DOMAIN) + 8, next);
	ts_le64_put(msg + sizeof(SEAL_DOMAIN) + 16, seq);
	memcpy(msg + sizeof(SEAL_DOMAIN) + 24, hash, HASHBYTES);
	crypto_generichash(mac, KEYBYTES, msg, sizeof(msg), key, KEYBYTES);
}

/* The state's directory fd and name for path. */
static int
open_dir(const char *path, const char **name)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];

	int fd;

	if (slash == NULL) {
		snprintf(dir, sizeof(dir), ".");
		*name = path;
	} else if (slash[1] == '\0' || (size_t)(slash - path) >= sizeof(dir)) {
		return -EINVAL;
	} else {
		snprintf(dir, sizeof(dir), "%.*s", slash == path ? 1 :
		         (int)(slash - path), path);
		*name = slash + 1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

static int
state_write(int dirfd, const char *name, const char *seals, int64_t t0,
            unsigned epoch_s, uint64_t n, const unsigned char *key,
            int noreplace)
{
	char *text = sodium_malloc(512), kh[2 * KEYBYTES + 1];
	int rc;

	if (text == NULL)
		return -ENOMEM;
	ts_audit_hex(key, KEYBYTES, kh);
	snprintf(text, 512, "{\"seals\":\"%s\",\"t0\":%" PRId64 ",\"epoch_s\":%u,"
	         "\"n\":%" PRIu64 ",\"key\":\"%s\"}\n", seals, t0, epoch_s, n,
	         kh);
	sodium_memzero(kh, sizeof(kh));
	rc = ts_sysio_write_atomic(dirfd, name, text, strlen(text), 0600,
	                           noreplace);
	sodium_free(text);
	return rc;
}

int
ts_audit_fss_create(const char *path, unsigned epoch_s,
                    char seed[TS_AUDIT_SEED_MAX])
{
	unsigned char *s = sodium_malloc(2 * KEYBYTES);
	char sh[2 * KEYBYTES + 1], seals[32];
	const char *name;
	int64_t t0 = ts_now_ms() / 1000;
	int dfd, rc;

	if (s == NULL)
		return -ENOMEM;
	if (epoch_s == 0)
		epoch_s = DEFAULT_EPOCH_S;
	if ((dfd = open_dir(path, &name)) < 0) {
		sodium_free(s);
		return dfd;
	}
	randombytes_buf(s, KEYBYTES);
	crypto_generichash(s + KEYBYTES, KEYBYTES,
	                   (const unsigned char *)KEY0_DOMAIN,
	                   sizeof(KEY0_DOMAIN), s, KEYBYTES);
	seals_name(s, seals);
	rc = state_write(dfd, name, seals, t0, epoch_s, 0, s + KEYBYTES, 1);
	close(dfd);
	if (rc == 0) {
		ts_audit_hex(s, KEYBYTES, sh);
		snprintf(seed, TS_AUDIT_SEED_MAX, "%s-%" PRId64 "-%u", sh, t0,
		         epoch_s);
		sodium_memzero(sh, sizeof(sh));
	}
	sodium_free(s);
	return rc;
}

void
ts_audit_fss_free(struct ts_audit_fss *f)
{
	if (f == NULL)
		return;
	if (f->dirfd >= 0)
		close(f->dirfd);
	free(f->name);
	sodium_free(f->key);
	free(f);
}

/* The epoch the wall clock is in. */
static uint64_t
wall_epoch(int64_t t0, unsigned epoch_s)
{
	int64_t now = ts_now_ms() / 1000;

	return now <= t0 ? 0 : (uint64_t)(now - t0) / epoch_s;
}

struct seal {
	uint64_t epoch, next, seq;
	unsigned char hash[HASHBYTES], mac[KEYBYTES];
};

static int
seal_parse(const char *line, size_t len, struct seal *s)
{
	json_t *j = json_loadb(line, len, 0, NULL);
	const char *h = json_string_value(json_object_get(j, "hash"));
	const char *m = json_string_value(json_object_get(j, "mac"));
	json_t *e = json_object_get(j, "epoch"), *n = json_object_get(j, "next"),
	       *q = json_object_get(j, "seq");
	int rc = -EBADMSG;

	if (json_is_integer(e) && json_is_integer(n) && json_is_integer(q) &&
	    json_integer_value(e) >= 0 && json_integer_value(n) >
	    json_integer_value(e) && json_integer_value(q) >= 0 && h && m &&
	    ts_audit_unhex(h, strlen(h), s->hash, HASHBYTES) == 0 &&
	    ts_audit_unhex(m, strlen(m), s->mac, KEYBYTES) == 0) {
		s->epoch = (uint64_t)json_integer_value(e);
		s->next = (uint64_t)json_integer_value(n);
		s->seq = (uint64_t)json_integer_value(q);
		rc = 0;
	}
	json_decref(j);
	return rc;
}

/* Seals epoch f->n, naming next as the following one, then evolves the
 * key to next and writes the state: the seal is durable before the key
 * that made it is gone, and that before anything is sealed with the new. */
static int
seal_epoch(struct ts_audit *a, uint64_t next, uint64_t seq,
           const unsigned char hash[HASHBYTES])
{
	struct ts_audit_fss *f = a->fss;
	unsigned char mac[KEYBYTES];
	char line[512], hh[2 * HASHBYTES + 1], mh[2 * KEYBYTES + 1];
	int rc;

	seal_mac(f->key, f->n, next, seq, hash, mac);
	ts_audit_hex(hash, HASHBYTES, hh);
	ts_audit_hex(mac, KEYBYTES, mh);
	snprintf(line, sizeof(line), "{\"epoch\":%" PRIu64 ",\"next\":%" PRIu64
	         ",\"seq\":%" PRIu64 ",\"hash\":\"%s\",\"mac\":\"%s\"}\n", f->n,
	         next, seq, hh, mh);
	if ((rc = a->ops->seal_put(a, f->seals, f->n, line, strlen(line))) < 0)
		return rc;
	return 1;	/* sealed: evolve */
}

/* Overwrites what fd holds with zeros, durably. */
static void
wipe_file(int fd)
{
	char zero[512] = { 0 };
	struct stat sb;

	if (fstat(fd, &sb) < 0)
		return;
	for (off_t off = 0; off < sb.st_size; off += (off_t)sizeof(zero))
		if (pwrite(fd, zero, (size_t)(sb.st_size - off) < sizeof(zero) ?
		           (size_t)(sb.st_size - off) : sizeof(zero), off) < 0)
			return;
	ts_sysio_fsync(fd);
}

/* Evolves f's key to epoch next and makes it durable.  The old state's
 * inode, which the rename frees, is overwritten once the new one is
 * durable: the old key is not left in its freed blocks (a filesystem that
 * writes elsewhere, copy-on-write, may still keep them). */
static int
advance(struct ts_audit_fss *f, uint64_t next)
{
	int old = ts_sysio_openat(f->dirfd, f->name, O_WRONLY | O_NONBLOCK, 0);
	int rc;

	while (f->n < next) {
		evolve(f->key);
		f->n++;
	}
	rc = state_write(f->dirfd, f->name, f->seals, f->t0, f->epoch_s, f->n,
	                 f->key, 0);
	if (old >= 0) {
		if (rc == 0)
			wipe_file(old);
		close(old);
	}
	return rc;
}

int
ts_audit_fss_tick(struct ts_audit *a, uint64_t seq,
                  const unsigned char hash[HASHBYTES], int closing)
{
	struct ts_audit_fss *f = a->fss;
	uint64_t w = wall_epoch(f->t0, f->epoch_s), next;
	int rc;

	next = closing ? (w > f->n ? w : f->n + 1) : w;
	if (next <= f->n)
		return 0;
	if ((rc = seal_epoch(a, next, seq, hash)) < 0)
		return rc;
	return advance(f, next);
}

/* The last seal in the trail's seals file: 0, 1 if none, -errno. */
static int
last_seal(struct ts_audit *a, const char *seals, struct seal *s)
{
	unsigned char *text;
	char *p, *end;
	size_t len;
	int rc;

	rc = a->ops->seals_read(a, seals, &text, &len);
	if (rc == -ENOENT)
		return 1;
	if (rc < 0)
		return rc;
	rc = 1;
	for (p = (char *)text; p < (char *)text + len; p = end + 1) {
		if ((end = memchr(p, '\n', (size_t)((char *)text + len - p))) ==
		    NULL)
			break;
		rc = seal_parse(p, (size_t)(end - p), s) == 0 ? 0 : -EBADMSG;
	}
	free(text);
	return rc;
}

int
ts_audit_set_fss(struct ts_audit *a, const char *path, char *msg,
                 size_t msglen)
{
	struct ts_audit_fss *f = calloc(1, sizeof(*f));
	unsigned char *text = NULL;
	const char *name, *kh, *sn;
	struct seal ls;
	struct stat sb;
	json_t *j = NULL;
	size_t len;
	int rc;

	if (f == NULL)
		return -ENOMEM;
	f->dirfd = -1;
	if ((f->key = sodium_malloc(KEYBYTES)) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = open_dir(path, &name)) < 0) {
		snprintf(msg, msglen, "forward-secure state %s: %s", path,
		         strerror(-rc));
		goto fail;
	}
	f->dirfd = rc;
	if ((f->name = strdup(name)) == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	if ((rc = ts_sysio_read_file(f->dirfd, name, 4096, &text, &len)) < 0) {
		snprintf(msg, msglen, "forward-secure state %s: %s", path,
		         strerror(-rc));
		goto fail;
	}
	if (fstatat(f->dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
	    (sb.st_mode & 077) != 0 || sb.st_uid != geteuid()) {
		snprintf(msg, msglen, "forward-secure state %s: must be mode "
		         "0600 and owned by the daemon's user", path);
		rc = -EPERM;
		goto fail;
	}
	j = json_loadb((char *)text, len, 0, NULL);
	kh = json_string_value(json_object_get(j, "key"));
	sn = json_string_value(json_object_get(j, "seals"));
	if (!json_is_integer(json_object_get(j, "t0")) ||
	    !json_is_integer(json_object_get(j, "epoch_s")) ||
	    json_integer_value(json_object_get(j, "epoch_s")) <= 0 ||
	    !json_is_integer(json_object_get(j, "n")) ||
	    json_integer_value(json_object_get(j, "n")) < 0 || kh == NULL ||
	    sn == NULL || strlen(sn) != 6 + 2 * IDBYTES ||
	    strncmp(sn, "seals-", 6) != 0 || strspn(sn + 6,
	    "0123456789abcdef") != 2 * IDBYTES ||
	    ts_audit_unhex(kh, strlen(kh), f->key, KEYBYTES) < 0) {
		snprintf(msg, msglen, "forward-secure state %s is damaged", path);
		rc = -EBADMSG;
		goto fail;
	}
	f->t0 = json_integer_value(json_object_get(j, "t0"));
	f->epoch_s = (unsigned)json_integer_value(json_object_get(j, "epoch_s"));
	f->n = (uint64_t)json_integer_value(json_object_get(j, "n"));
	snprintf(f->seals, sizeof(f->seals), "%s", sn);
	/* jansson's copy of key_n would outlive it in freed memory. */
	sodium_memzero((char *)kh, strlen(kh));
	a->fss = f;
	/* A seal written but the state not (a crash between): go on from
	 * the seal, which already named the next epoch. */
	if ((rc = last_seal(a, f->seals, &ls)) < 0) {
		snprintf(msg, msglen, "audit/%s is damaged", f->seals);
		goto fail_unbind;
	}
	if (rc == 0 && ls.epoch == f->n) {
		unsigned char mac[KEYBYTES];

		/* Made with key_n, which we hold: believed only if its MAC
		 * says so (anyone who can write audit/ can append a line,
		 * and a far "next" would evolve the key past every epoch). */
		seal_mac(f->key, ls.epoch, ls.next, ls.seq, ls.hash, mac);
		if (sodium_memcmp(mac, ls.mac, KEYBYTES) != 0) {
			snprintf(msg, msglen, "audit/%s: its last seal, of epoch "
			         "%" PRIu64 ", is not made with the key of %s: "
			         "forged", f->seals, ls.epoch, path);
			rc = -EBADMSG;
			goto fail_unbind;
		}
		if ((rc = advance(f, ls.next)) < 0)
			goto fail_io;
	}
	/* Else the state is where the last seal left it (or at epoch 0,
	 * nothing sealed yet).  One behind (put back from a backup) would
	 * seal sealed epochs again; one past epoch 0 without seals is
	 * another trail's, or this one's seals were removed. */
	if ((rc == 0 && ls.next != f->n) || (rc == 1 && f->n != 0)) {
		if (rc == 0)
			snprintf(msg, msglen, "forward-secure state %s is at "
			         "epoch %" PRIu64 ", but audit/%s sealed up to "
			         "epoch %" PRIu64 ": the state was rolled back "
			         "(or seals were removed)", path, f->n, f->seals,
			         ls.next);
		else
			snprintf(msg, msglen, "forward-secure state %s is at "
			         "epoch %" PRIu64 ", but audit/%s is missing: the "
			         "state of another trail, or its seals were "
			         "removed", path, f->n, f->seals);
		rc = -ESTALE;
		goto fail_unbind;
	}
	/* What the last run left unsealed (killed), and epochs passed. */
	pthread_mutex_lock(&a->sync_lock);
	rc = ts_audit_fss_tick(a, a->seq, a->hash, 0);
	pthread_mutex_unlock(&a->sync_lock);
	if (rc < 0)
		goto fail_io;
	json_decref(j);
	sodium_memzero(text, len);
	free(text);
	return 0;
fail_io:
	snprintf(msg, msglen, "cannot seal the audit trail: %s", strerror(-rc));
fail_unbind:
	a->fss = NULL;
fail:
	json_decref(j);
	if (text != NULL) {
		sodium_memzero(text, len);
		free(text);
	}
	ts_audit_fss_free(f);
	return rc;
}

/* ---- verifying with the seed ---- */

/* The seed's parts: 0 or -EINVAL. */
static int
seed_parse(const char *seed, unsigned char *s, int64_t *t0, unsigned *epoch_s);

int
ts_audit_seed_check(const char *seed)
{
	unsigned char s[KEYBYTES];
	unsigned e;
	int64_t t0;
	int rc = seed_parse(seed, s, &t0, &e);

	sodium_memzero(s, sizeof(s));
	return rc;
}

static int
seed_parse(const char *seed, unsigned char *s, int64_t *t0, unsigned *epoch_s)
{
	long long t;
	unsigned e;
	char tail;

	if (strlen(seed) < 2 * KEYBYTES + 4 || seed[2 * KEYBYTES] != '-' ||
	    ts_audit_unhex(seed, 2 * KEYBYTES, s, KEYBYTES) < 0 ||
	    sscanf(seed + 2 * KEYBYTES, "-%lld-%u%c", &t, &e, &tail) != 2 ||
	    t < 0 || e == 0)
		return -EINVAL;
	*t0 = t;
	*epoch_s = e;
	return 0;
}

/* The (seq, hash) of every entry the trail holds, in order, plus the
 * anchor's; *n of them. */

static int
read_hashes(int dirfd, struct ts_audit_seqhash **out, size_t *n)
{
	struct ts_audit_checkpoint an;
	struct ts_audit_seqhash *v = NULL;
	size_t cap = 0;
	unsigned first, last;
	int rc;

	*n = 0;
	if ((rc = ts_audit_list_segments(dirfd, &first, &last)) < 0)
		return rc;
	if (ts_audit_anchor_load(dirfd, NULL, &an) == 0) {
		if ((v = malloc(sizeof(*v) * (cap = 1024))) == NULL)
			return -ENOMEM;
		v[0].seq = an.seq;
		memcpy(v[0].hash, an.hash, HASHBYTES);
		*n = 1;
	}
	for (unsigned i = first; i <= last; i++) {
		char name[32], *p, *end;
		unsigned char *text;
		size_t len;

		ts_audit_segment_name(i, name);
		if ((rc = ts_sysio_read_file(dirfd, name, 1u << 30, &text,
		                             &len)) < 0)
			goto fail;
		for (p = (char *)text; p < (char *)text + len; p = end + 1) {
			json_t *j;

			if ((end = memchr(p, '\n', (size_t)((char *)text + len -
			                                    p))) == NULL ||
			    end - p < SUFFIX_LEN)
				break;
			if (*n == cap) {
				struct ts_audit_seqhash *nv = realloc(v, sizeof(*v) *
				        (cap = cap ? 2 * cap : 1024));
				if (nv == NULL) {
					free(text);
					rc = -ENOMEM;
					goto fail;
				}
				v = nv;
			}
			j = json_loadb(p, (size_t)(end - p), 0, NULL);
			v[*n].seq = (uint64_t)json_integer_value(
			        json_object_get(j, "seq"));
			json_decref(j);
			if (ts_audit_unhex(end - (SUFFIX_LEN - 1) + 9,
			                   2 * HASHBYTES, v[*n].hash,
			                   HASHBYTES) < 0)
				continue;
			(*n)++;
		}
		free(text);
	}
	*out = v;
	return 0;
fail:
	free(v);
	return rc;
}

int
ts_audit_seed_seals(const char *seed, char seals[32])
{
	unsigned char s[KEYBYTES];
	unsigned e;
	int64_t t0;

	if (seed_parse(seed, s, &t0, &e) < 0)
		return -EINVAL;
	seals_name(s, seals);
	sodium_memzero(s, sizeof(s));
	return 0;
}

int
ts_audit_seals_verify(const char *seed, const char *who, const char *label,
                      const struct ts_audit_seqhash *hv, size_t nh,
                      const unsigned char *text, size_t len, char *msg,
                      size_t msglen)
{
	unsigned char *key = sodium_malloc(2 * KEYBYTES), mac[KEYBYTES];
	size_t k = 0, nseals = 0;
	uint64_t cur = 0, prev_seq = 0, last_seq;
	struct seal s = { 0 }, ls = { 0 };
	unsigned epoch_s;
	int64_t t0;
	const char *p, *end;
	char t[32];
	int rc;

	if (key == NULL)
		return -ENOMEM;
	if (seed_parse(seed, key + KEYBYTES, &t0, &epoch_s) < 0) {
		snprintf(msg, msglen, "not a verification seed (it reads "
		         "<64 hex digits>-<t0>-<epoch seconds>)");
		rc = -EINVAL;
		goto out;
	}
	crypto_generichash(key, KEYBYTES, (const unsigned char *)KEY0_DOMAIN,
	                   sizeof(KEY0_DOMAIN), key + KEYBYTES, KEYBYTES);
	sodium_memzero(key + KEYBYTES, KEYBYTES);
	last_seq = nh > 0 ? hv[nh - 1].seq : 0;
	for (p = (const char *)text; p < (const char *)text + len; p = end + 1) {
		if ((end = memchr(p, '\n', (size_t)((const char *)text + len -
		                                     p))) == NULL ||
		    seal_parse(p, (size_t)(end - p), &s) < 0) {
			rc = ts_audit_bad(msg, msglen, "%s%s line %zu is damaged", who,
			          label, nseals + 1);
			goto out;
		}
		nseals++;
		if (s.epoch != (nseals == 1 ? 0 : ls.next)) {
			rc = ts_audit_bad(msg, msglen, "%s%s line %zu: epoch %"
			          PRIu64 " where epoch %" PRIu64 " was due: seals "
			          "were removed or forged", who, label, nseals,
			          s.epoch, nseals == 1 ? 0 : ls.next);
			goto out;
		}
		if (s.seq < prev_seq) {
			rc = ts_audit_bad(msg, msglen, "%s%s line %zu: out of order",
			          who, label, nseals);
			goto out;
		}
		while (cur < s.epoch) {
			evolve(key);
			cur++;
		}
		seal_mac(key, s.epoch, s.next, s.seq, s.hash, mac);
		if (sodium_memcmp(mac, s.mac, KEYBYTES) != 0) {
			rc = ts_audit_bad(msg, msglen, "%sthe seal of epoch %" PRIu64
			          " (entries %" PRIu64 " to %" PRIu64 ") is not made "
			          "with its key: forged", who, s.epoch, prev_seq + 1,
			          s.seq);
			goto out;
		}
		/* The trail's hash at the seal's seq (unless pruned). */
		while (k < nh && hv[k].seq < s.seq)
			k++;
		if (s.seq > last_seq) {
			rc = ts_audit_bad(msg, msglen, "%sthe trail ends at entry %"
			          PRIu64 " but the seal of epoch %" PRIu64 " covers "
			          "entry %" PRIu64 ": entries were removed", who,
			          last_seq, s.epoch, s.seq);
			goto out;
		}
		if (k < nh && hv[k].seq == s.seq &&
		    sodium_memcmp(hv[k].hash, s.hash, HASHBYTES) != 0) {
			rc = ts_audit_bad(msg, msglen, "%sentries %" PRIu64 " to %"
			          PRIu64 " (epoch %" PRIu64 ") differ from their "
			          "forward-secure seal: an entry among them was "
			          "rewritten after the epoch was sealed", who,
			          prev_seq + 1 < s.seq ? prev_seq + 1 : s.seq, s.seq,
			          s.epoch);
			goto out;
		}
		if (s.seq == 0 && !sodium_is_zero(s.hash, HASHBYTES)) {
			rc = ts_audit_bad(msg, msglen, "%sthe seal of epoch %" PRIu64
			          " is damaged", who, s.epoch);
			goto out;
		}
		prev_seq = s.seq;
		ls = s;
	}
	if (nseals == 0) {
		/* The first epoch is sealed within a second of its end. */
		ts_time_format((t0 + (int64_t)epoch_s) * 1000, t);
		if (ts_now_ms() / 1000 > t0 + (int64_t)epoch_s + 5) {
			rc = ts_audit_bad(msg, msglen, "%sno forward-secure seals of "
			          "this seed (%s %s), though its first epoch ended "
			          "at %s: seals were removed, or the daemon never "
			          "ran with this sealing state", who, label,
			          text == NULL ? "is missing" : "is empty", t);
			goto out;
		}
		snprintf(msg, msglen, "%sforward-secure seals: none yet; the "
		         "first epoch ends at %s (entries up to %" PRIu64
		         ", not sealed yet)", who, t, last_seq);
		rc = 0;
		goto out;
	}
	/* After the last seal: only entries of an epoch not over yet (the
	 * daemon seals an epoch within a second of its end, and at exit). */
	ts_time_format((t0 + (int64_t)(ls.next + 1) * epoch_s) * 1000, t);
	if (last_seq > ls.seq &&
	    ts_now_ms() / 1000 > t0 + (int64_t)(ls.next + 1) * epoch_s + 5) {
		rc = ts_audit_bad(msg, msglen, "%sentries %" PRIu64 " to %" PRIu64
		          " are not sealed, though their epoch (%" PRIu64 ") "
		          "ended at %s: seals were removed (or the daemon was "
		          "killed and not started since)", who, ls.seq + 1,
		          last_seq, ls.next, t);
		goto out;
	}
	snprintf(msg, msglen, "%sforward-secure seals intact: entries up to %"
	         PRIu64 " sealed in %zu epoch%s (0 to %" PRIu64 "); %" PRIu64
	         " entr%s since, not sealed yet (epoch %" PRIu64 ", until %s)",
	         who, ls.seq, nseals, nseals == 1 ? "" : "s", ls.epoch,
	         last_seq - ls.seq, last_seq - ls.seq == 1 ? "y" : "ies",
	         ls.next, t);
	rc = 0;
out:
	sodium_free(key);
	return rc;
}

int
ts_audit_verify_seed(int storefd, const char *seed, char *msg, size_t msglen)
{
	struct ts_audit_seqhash *hv = NULL;
	unsigned char *text = NULL;
	size_t nh = 0, len = 0;
	char seals[32], label[48];
	int dirfd, rc;

	if (ts_audit_seed_seals(seed, seals) < 0)
		return ts_audit_seals_verify(seed, "", "", NULL, 0, NULL, 0, msg,
		                             msglen);	/* says why */
	if ((dirfd = ts_sysio_openat(storefd, "audit", O_RDONLY | O_DIRECTORY,
	                             0)) < 0) {
		snprintf(msg, msglen, "no audit trail: %s", strerror(-dirfd));
		return dirfd;
	}
	if ((rc = read_hashes(dirfd, &hv, &nh)) < 0) {
		snprintf(msg, msglen, "cannot read the audit trail: %s",
		         strerror(-rc));
		goto out;
	}
	rc = ts_sysio_read_file(dirfd, seals, 1u << 30, &text, &len);
	if (rc == -ENOENT) {	/* none yet: fine while epoch 0 lasts */
		text = NULL;
		len = 0;
	} else if (rc < 0) {
		goto out;
	}
	snprintf(label, sizeof(label), "audit/%s", seals);
	rc = ts_audit_seals_verify(seed, "", label, hv, nh, text, len, msg,
	                           msglen);
out:
	close(dirfd);
	free(text);
	free(hv);
	return rc;
}
