/*
 * ctl_check: the verbs that check a store and change nothing: fsck (each
 * record's structure and checksum; with the key its MAC, its ticket key
 * and every sealed box) and audit verify (the hash chain, the signed checkpoint, and a
 * checkpoint copy kept apart).  Both show a progress bar on a terminal
 * (tools/progress.h) and take --json: one object on stdout, its keys
 * (README, "fsck and audit verify --json") kept stable, the exit status
 * the same as without.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "store/audit.h"
#include "store/keyfile.h"
#include "store/record.h"
#include "store/seal.h"
#include "store/store.h"
#include "tools/ctl_common.h"
#include "tools/ctl_verbs.h"
#include "tools/progress.h"

struct fsck {
	struct ts_store *st;	/* the store being checked */
	struct ts_seckey *key;	/* NULL: structure and checksums only */
	unsigned char *mackey;	/* records' MAC key (sodium_malloc), with key */
	unsigned checked, bad;	/* records checked; problems found */
	unsigned shredded;	/* keyed tickets whose key is gone */
	unsigned legacy;	/* tickets still sealed for the store key */
	json_t *findings;	/* --json: [{id, problem}]; NULL: text */
	json_t *shredded_ids;	/* --json: [id] */
	char **ids;		/* the listed ids, checked after the listing */
	size_t nids, capids;
};

static void
finding(struct fsck *f, const char *id, const char *what)
{
	if (f->findings != NULL)
		json_array_append_new(f->findings,
		                      json_pack("{s:s, s:s}", "id", id,
		                                "problem", what));
	else
		printf("BAD %s: %s\n", id, what);
	f->bad++;
}

/* Opens one box (with t's own key, or the store's for a ticket of
 * before); reports it if it fails. */
static void
fsck_box(struct fsck *f, const struct ts_ticket *t, const char *field,
         const uint8_t *rec, const struct ts_box *box)
{
	const char *id = t->id;
	uint8_t *plain;
	char what[3 * TS_NAME_MAX + 64];

	if (box->len == 0 || f->key == NULL)
		return;
	if ((plain = malloc(box->len)) == NULL)
		ts_ctl_die("out of memory");
	if (ts_store_open_box(f->st, t, field, rec + box->off, box->len,
	                      plain) < 0) {
		snprintf(what, sizeof(what), "sealed %s does not open or is "
		         "bound elsewhere", field);
		finding(f, id, what);
	}
	sodium_memzero(plain, box->len);
	free(plain);
}

/*
 * Whether t's boxes can be opened: a ticket of before (counted) with the
 * store key, a keyed one with its own key.  A keyed ticket without its
 * key (or with another ticket key in its place) was shredded: a deletion
 * reached this copy, which is no damage.  0 if its boxes are not to be
 * opened.
 */
static int
fsck_key(struct fsck *f, const struct ts_ticket *t)
{
	int rc;

	if (!t->keyed) {
		f->legacy++;
		return 1;
	}
	if ((rc = ts_store_ticket_key(f->st, t)) == -ENOKEY) {
		if (f->shredded_ids != NULL)
			json_array_append_new(f->shredded_ids,
			                      json_string(t->id));
		else
			printf("SHREDDED %s: its key is gone (the ticket or an "
			       "item was deleted after this record was "
			       "written); nothing of it opens\n", t->id);
		f->shredded++;
		return 0;
	}
	if (rc < 0) {
		finding(f, t->id, rc == -EBADMSG ? "its key file (keys/) is "
		        "damaged or sealed for another store" : strerror(-rc));
		return 0;
	}
	return 1;
}

/* Keeps a listed id: the records are read once the listing is done, so
 * that the progress bar knows the total. */
static int
fsck_listed(void *arg, const char *id)
{
	struct fsck *f = arg;

	if (f->nids == f->capids) {
		f->capids = f->capids ? 2 * f->capids : 1024;
		if ((f->ids = realloc(f->ids, f->capids * sizeof(*f->ids)))
		    == NULL)
			ts_ctl_die("out of memory");
	}
	if ((f->ids[f->nids++] = strdup(id)) == NULL)
		ts_ctl_die("out of memory");
	return 0;
}

static int
fsck_ticket(void *arg, const char *id)
{
	struct fsck *f = arg;
	struct ts_ticket t;
	char path[3 * TS_NAME_MAX];
	uint8_t *rec;
	size_t len;
	int kind = 0, rc;

	f->checked++;
	if (!ts_id_valid(id)) {
		finding(f, id, "not a ticket id: a stray file in tickets/");
		return 0;
	}
	if ((rc = ts_store_read_record(f->st, id, &rec, &len)) < 0) {
		finding(f, id, strerror(-rc));
		return 0;
	}
	rc = ts_record_decode(rec, len, &kind, &t);
	if (rc == 0 && (kind != TS_REC_TICKET || strcmp(t.id, id) != 0)) {
		ts_ticket_release(&t);
		rc = -EBADMSG;
	}
	if (rc < 0) {
		finding(f, id, "damaged record (checksum or structure)");
		free(rec);
		return 0;
	}
	if (f->key != NULL &&
	    ts_record_verify_mac(rec, len, f->mackey) < 0)
		finding(f, id, "not authenticated: no valid daemon MAC (forged, "
		        "altered, or written behind the daemon's back)");
	if (f->key != NULL && !fsck_key(f, &t))
		goto out;	/* shredded, or its key file damaged */
	for (int i = 0; i < TS_F_COUNT; i++)
		fsck_box(f, &t, ts_field_names[i], rec, &t.field[i]);
	for (size_t i = 0; i < t.nmsg; i++) {
		snprintf(path, sizeof(path), "messages/%s", t.msg[i].name);
		fsck_box(f, &t, path, rec, &t.msg[i].box);
	}
	for (size_t i = 0; i < t.nauth; i++)
		for (int j = 0; j < TS_A_COUNT; j++) {
			snprintf(path, sizeof(path), "authorizations/%s/%s",
			         t.auth[i].name, ts_afield_names[j]);
			fsck_box(f, &t, path, rec, &t.auth[i].box[j]);
		}
out:
	ts_ticket_release(&t);
	free(rec);
	return 0;
}

int
ts_ctl_cmd_fsck(int argc, char **argv)
{
	static const char usage[] =
		"usage: ticketctl fsck STORE [--key KEYFILE [--passphrase-file F]]\n"
		"                            [--json]\n"
		"Checks every ticket record's structure and checksum; with the\n"
		"key, also checks each record carries the daemon's MAC (nobody\n"
		"wrote or altered it behind the daemon's back) and opens every\n"
		"sealed box, checking it is bound to its ticket and field.  Prints\n"
		"one line per problem; exit 1 if any.  A ticket whose own key is\n"
		"gone (deleted since this copy of its record: crypto-shredded) is\n"
		"named SHREDDED and counted apart, not as a problem.\n"
		"--json: one JSON object on stdout instead (records, with_key,\n"
		"problems, findings [{id, problem}], shredded [id], legacy, ok).\n";
	static const struct option lo[] = {
		{ "key", required_argument, NULL, 'k' },
		{ "passphrase-file", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' }, { 0 }
	};
	struct fsck f = { 0 };
	const char *keyfile = NULL, *passfile = NULL;
	const char *store;
	struct ts_progress *bar;
	char err[512];
	int c, rc, json = 0;

	while ((c = ts_ctl_next_opt(argc, argv, lo, usage)) != -1)
		if (c == 'j')
			json = 1;
		else
			*(c == 'k' ? &keyfile : &passfile) = optarg;
	if (argc - optind != 1 || (passfile != NULL && keyfile == NULL))
		ts_ctl_bad_usage(usage);
	store = argv[optind];
	f.st = ts_ctl_open_store(store, TS_STORE_DAEMON);
	if (keyfile != NULL) {
		unsigned char pk[TS_SEAL_PKBYTES];

		if (ts_keyfile_load_hint(keyfile, passfile, "--passphrase-file F",
		                         &f.key, err, sizeof(err)) < 0)
			ts_ctl_die("%s", err);
		if (ts_store_pubkey(f.st, pk) < 0 ||
		    sodium_memcmp(pk, ts_seal_seckey_pk(f.key), sizeof(pk)) != 0)
			ts_ctl_die("key %s does not belong to store %s",
			    keyfile, ts_ctl_store_shown(store));
		/* Opens the tickets' key files, and boxes with them. */
		if ((rc = ts_store_set_key(f.st, f.key)) < 0)
			ts_ctl_die("cannot use the key: %s", strerror(-rc));
		if ((f.mackey = sodium_malloc(TS_RECORD_MACKEYBYTES)) == NULL ||
		    ts_seal_derive(f.key, TS_RECORD_MAC_PURPOSE, f.mackey,
		                   TS_RECORD_MACKEYBYTES) < 0)
			ts_ctl_die("cannot derive the record MAC key");
	}
	if (json && ((f.findings = json_array()) == NULL ||
	             (f.shredded_ids = json_array()) == NULL))
		ts_ctl_die("out of memory");
	if ((rc = ts_store_list(f.st, fsck_listed, &f)) < 0)
		ts_ctl_die("cannot list the store: %s", strerror(-rc));
	bar = ts_progress_new("fsck", TS_PROGRESS_COUNT);
	for (size_t i = 0; i < f.nids; i++) {
		fsck_ticket(&f, f.ids[i]);
		free(f.ids[i]);
		ts_progress_update(bar, i + 1, f.nids);
	}
	ts_progress_free(bar);
	free(f.ids);
	if (json) {
		json_t *o = json_pack("{s:I, s:b, s:I, s:o, s:o, s:o, s:b}",
		        "records", (json_int_t)f.checked,
		        "with_key", f.key != NULL,
		        "problems", (json_int_t)f.bad,
		        "findings", f.findings,
		        "shredded", f.shredded_ids,
		        "legacy", f.key != NULL ?
		                  json_integer((json_int_t)f.legacy) : json_null(),
		        "ok", f.bad == 0);

		if (o == NULL || json_dumpf(o, stdout, JSON_COMPACT) < 0)
			ts_ctl_die("cannot write the JSON output");
		putchar('\n');
		json_decref(o);
	} else
		printf("%u record%s checked%s, %u problem%s\n", f.checked,
	       f.checked == 1 ? "" : "s", f.key ? " with the key" : "",
	       f.bad, f.bad == 1 ? "" : "s");
	if (!json && f.key != NULL && f.shredded > 0)
		printf("%u shredded ticket%s (%s key is gone: not damage)\n",
		       f.shredded, f.shredded == 1 ? "" : "s",
		       f.shredded == 1 ? "its" : "their");
	if (!json && f.key != NULL)
		printf("%u ticket%s of before per-ticket keys; converted when "
		       "rewritten\n", f.legacy, f.legacy == 1 ? "" : "s");
	ts_seal_seckey_free(f.key);
	if (f.mackey != NULL)
		sodium_free(f.mackey);
	ts_store_close(f.st);
	return f.bad ? EXIT_FOUND : 0;
}

static void
on_audit_progress(void *arg, uint64_t done, uint64_t total)
{
	ts_progress_update(arg, done, total);
}

/* audit verify --json's one object (README lists its keys).  copy NULL
 * with copy_path set: the copy could not be read; smsg NULL: no --seed. */
static void
audit_json(int chain_ok, uint64_t entries, const char *msg,
           const char *copy_path, const struct ts_audit_checkpoint *copy,
           const char *smsg, int seals_bad)
{
	json_t *o, *cp = json_null(), *seals = json_null();

	if (copy_path != NULL)
		cp = json_pack("{s:s, s:o}", "path", copy_path, "seq", copy ?
		               json_integer((json_int_t)copy->seq) : json_null());
	if (smsg != NULL)
		seals = json_pack("{s:b, s:s}", "ok", !seals_bad, "message",
		                  smsg);
	o = json_pack("{s:b, s:b, s:I, s:s, s:o, s:o}",
	              "ok", chain_ok && !seals_bad, "chain_ok", chain_ok,
	              "entries", (json_int_t)entries, "message", msg,
	              "checkpoint_copy", cp, "seals", seals);
	if (o == NULL || json_dumpf(o, stdout, JSON_COMPACT) < 0)
		ts_ctl_die("cannot write the JSON output");
	putchar('\n');
	json_decref(o);
}

int
ts_ctl_cmd_audit(int argc, char **argv)
{
	static const char usage[] =
		"usage: ticketctl audit verify STORE [--verify-key FILE | --key KEYFILE\n"
		"                              [--passphrase-file F]] [--checkpoint FILE]\n"
		"                              [--seed SEED] [--json]\n"
		"Checks the audit trail: every entry's place in the hash chain\n"
		"(edited, removed, inserted or reordered entries), across all\n"
		"segments, and the daemon's signed checkpoint (a rewritten chain, a\n"
		"cut tail).  The checkpoint key is STORE/audit/verify.key unless a\n"
		"copy kept elsewhere (--verify-key) or the secret key (--key) is\n"
		"given (--passphrase-file F: the passphrase of a wrapped\n"
		"KEYFILE).  --checkpoint FILE: the daemon's checkpoint copy (its\n"
		"-o checkpoint_copy, by default KEYFILE.checkpoint); a trail behind\n"
		"it (cut back, an old checkpoint put back) or rewritten below it is\n"
		"bad.  Without it such a replay verifies.  Names the first bad\n"
		"entry; exit 1 if there is one.  A pruned trail verifies from its\n"
		"signed anchor (\"N entries pruned before seq S\").  --seed SEED\n"
		"(from init or audit seal): also the forward-secure seals, so a\n"
		"rewrite of a sealed epoch is found even if re-signed with every\n"
		"key the host holds.\n"
		"--json: one JSON object on stdout instead (ok, chain_ok, entries,\n"
		"message, checkpoint_copy {path, seq}, seals {ok, message}).\n"
		"       ticketctl audit prune STORE --before DATE --key KEYFILE\n"
		"       ticketctl audit seal KEYFILE    (see COMMAND -h)\n";
	static const struct option lo[] = {
		{ "verify-key", required_argument, NULL, 'v' },
		{ "key", required_argument, NULL, 'k' },
		{ "checkpoint", required_argument, NULL, 'c' },
		{ "seed", required_argument, NULL, 's' },
		{ "passphrase-file", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' }, { 0 }
	};
	const char *vk_path = NULL, *key_path = NULL, *seed = NULL;
	const char *passfile = NULL;
	unsigned char vk[32], *vkp = NULL;
	struct ts_audit_checkpoint copy, *copyp = NULL;
	const char *copy_path = NULL;
	struct ts_store *st;
	char msg[512], err[512], smsg[512];
	struct ts_progress *bar;
	uint64_t n;
	int c, rc, frc = 0, json = 0;

	/* argv[0] of a subcommand names it in its messages. */
	static char prune_name[] = "audit prune", seal_name[] = "audit seal";

	if (argc >= 2 && strcmp(argv[1], "prune") == 0) {
		argv[1] = prune_name;
		return ts_ctl_audit_prune(argc - 1, argv + 1);
	}
	if (argc >= 2 && strcmp(argv[1], "seal") == 0) {
		argv[1] = seal_name;
		return ts_ctl_audit_seal(argc - 1, argv + 1);
	}
	while ((c = ts_ctl_next_opt(argc, argv, lo, usage)) != -1)
		if (c == 'j')
			json = 1;
		else
			*(c == 'v' ? &vk_path : c == 'k' ? &key_path :
			  c == 's' ? &seed : c == 'p' ? &passfile :
			  &copy_path) = optarg;
	if (argc - optind != 2 || strcmp(argv[optind], "verify") != 0 ||
	    (vk_path != NULL && key_path != NULL) ||
	    (passfile != NULL && key_path == NULL))
		ts_ctl_bad_usage(usage);
	if (vk_path != NULL) {
		size_t len;
		char *text = ts_ctl_read_input(vk_path, &len);

		if (len < 64 || sodium_hex2bin(vk, sizeof(vk), text, 64,
		                               NULL, NULL, NULL) != 0)
			ts_ctl_die("%s is not an audit verify key", vk_path);
		free(text);
		vkp = vk;
	} else if (key_path != NULL) {
		struct ts_seckey *key;

		if (ts_keyfile_load_hint(key_path, passfile,
		                         "--passphrase-file F", &key, err,
		                         sizeof(err)) < 0)
			ts_ctl_die("%s", err);
		ts_audit_verify_key(key, vk);
		ts_seal_seckey_free(key);
		vkp = vk;
	}
	if (seed != NULL && ts_audit_seed_check(seed) < 0)
		ts_ctl_die("--seed: not a verification seed (it reads <64 hex "
		    "digits>-<t0>-<epoch seconds>)");
	if (copy_path != NULL) {
		rc = ts_audit_checkpoint_load(copy_path, &copy);
		if (rc == -EBADMSG) {
			snprintf(msg, sizeof(msg), "the checkpoint copy %s is "
			         "damaged", copy_path);
			if (json)
				audit_json(0, 0, msg, copy_path, NULL, NULL, 0);
			else
				printf("BAD: %s\n", msg);
			return EXIT_FOUND;
		}
		if (rc < 0)
			ts_ctl_die("cannot read the checkpoint copy %s: %s",
			    copy_path, strerror(-rc));
		copyp = &copy;
	}
	st = ts_ctl_open_store(argv[optind + 1], TS_STORE_DAEMON);
	bar = ts_progress_new("audit", TS_PROGRESS_COUNT);
	ts_store_set_progress(st, on_audit_progress, bar);
	rc = ts_store_audit_verify(st, vkp, copyp, msg, sizeof(msg), &n);
	if (rc >= 0)	/* a trail shorter than the verifier's step drew none */
		ts_progress_update(bar, n, n);
	ts_progress_free(bar);
	ts_store_set_progress(st, NULL, NULL);
	if (rc < 0) {
		ts_store_close(st);
		ts_ctl_die("%s", msg);
	}
	if (json)
		;	/* one object, once the seals are checked too */
	else if (copyp != NULL)
		printf("%s%s (checkpoint copy %s: entry %llu)\n", rc ? "BAD: " :
		       "", msg, copy_path, (unsigned long long)copy.seq);
	else
		printf("%s%s\n", rc ? "BAD: " : "", msg);
	if (seed != NULL) {
		frc = ts_ctl_audit_verify_seed(st, argv[optind + 1], seed, smsg,
		                               sizeof(smsg));
		if (!json)
			printf("%s%s\n", frc ? "BAD: " : "", smsg);
	}
	if (json)
		audit_json(rc == 0, n, msg, copy_path, copyp, seed ? smsg : NULL,
		           frc);
	rc = rc ? rc : frc;
	ts_store_close(st);
	return rc ? EXIT_FOUND : 0;
}
