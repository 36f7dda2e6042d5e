/*
 * test_faults: a scripted scenario of everything the daemon does to the
 * store (intake of a ticket, a message and an authorization; a message
 * written through the mount; status moves; removals; the retention sweep;
 * the index snapshot; a ticket removed), run with the Nth open, write,
 * fsync or rename failing with EIO, ENOSPC or EDQUOT, for every N until
 * the scenario runs through without meeting the fault (after SQLite's
 * fault-injection loops).
 *
 * Each time: the step that met the fault reports that very error (intake
 * and the sweep, with no caller, log it), except the one fault README
 * names as unreported (silent_ok); the per-op call counts are asserted
 * (CALLS); the index still matches
 * what a fresh load of the store sees; every box in the store opens; the same step,
 * retried without the fault, succeeds and so does the rest of the scenario
 * (the daemon keeps serving); and the end state is the scenario's.
 */
#include <check.h>

#include "tests/check_main.h"
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs/index.h"
#include "store/intake.h"
#include "store/record.h"
#include "store/sysio.h"

static const char TICKET[] =
	"{\"username\":\"alice\",\"subject\":\"disk full\","
	"\"email\":\"alice@example.com\",\"mobile\":\"+1 555\","
	"\"authorizations\":[{\"account\":\"acc\",\"password\":\"pw\","
	"\"expires\":\"2099-01-01T00:00:00Z\"}]}";
static const char POLICY[] = "email processed, 10s\n"
	"authorization processed, expired\n";

static const enum ts_sysio_op OPS[] = { TS_SYSIO_OPEN, TS_SYSIO_WRITE,
	TS_SYSIO_FSYNC, TS_SYSIO_RENAME };
static const char *const OP_NAMES[] = { "open", "write", "fsync", "rename" };
static const int ERRS[] = { EIO, ENOSPC, EDQUOT };
#define NOPS 4
#define NERRS 3
#define MAX_N 400		/* far more calls than the scenario makes */

struct world {
	char dir[64];
	struct ts_seckey *key;
	struct ts_store *st;
	struct ts_index *idx;
	int64_t t0;		/* the scenario's clock */
	int64_t sweep_at;	/* when the sweep runs (moved by a failure) */
	int64_t reseal_at;	/* when step 7's sweep runs (0: not yet) */
};

static void
quiet(void *arg, const char *fmt, ...)
{
	(void)arg, (void)fmt;
}

/* What the index under test logged during the step at hand (the daemon's
 * syslog): where a step with no caller reports its error. */
static char logged[8192];

static void
record_log(void *arg, const char *fmt, ...)
{
	size_t used = strlen(logged);
	va_list ap;

	(void)arg;
	va_start(ap, fmt);
	vsnprintf(logged + used, sizeof(logged) - used, fmt, ap);
	va_end(ap);
	used = strlen(logged);
	if (used + 1 < sizeof(logged))
		strcpy(logged + used, "\n");
}

/* Drops a record into intake/ as ticketctl would (no fault armed). */
static void
put_intake(struct world *w, int kind, const char *name, const char *text)
{
	struct ts_store *in;
	uint8_t *rec;
	size_t len;
	char err[256];
	const unsigned char *pk = ts_seal_seckey_pk(w->key);

	ck_assert_int_eq(ts_store_open(w->dir, TS_STORE_INTAKE, &in), 0);
	if (kind == TS_REC_TICKET)
		ck_assert_int_eq(ts_intake_ticket(pk, "t-1", TICKET,
		                 strlen(TICKET), w->t0, &rec, &len, err,
		                 sizeof(err)), 0);
	else if (kind == TS_REC_MESSAGE)
		ck_assert_int_eq(ts_intake_message(pk, "t-1", name, text,
		                 strlen(text), w->t0, &rec, &len, err,
		                 sizeof(err)), 0);
	else
		ck_assert_msg(ts_intake_auth(pk, "t-1", name, text, strlen(text),
		              w->t0, &rec, &len, err, sizeof(err)) == 0,
		              "auth: %s", err);
	ck_assert_int_eq(ts_store_intake_put(in, kind, "t-1", rec, len), 0);
	free(rec);
	ts_store_close(in);
}

static void
world_new(struct world *w)
{
	struct ts_policy p;
	char err[256];

	memset(w, 0, sizeof(*w));
	/* tmpfs if there is one: hundreds of stores, each fsync'd. */
	snprintf(w->dir, sizeof(w->dir), "%s/ts-test-faults-XXXXXX",
	         access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(w->dir));
	rmdir(w->dir);
	ck_assert_int_eq(ts_seal_keypair(&w->key), 0);
	ck_assert_int_eq(ts_store_create(w->dir, ts_seal_seckey_pk(w->key),
	                                 POLICY), 0);
	ck_assert_int_eq(ts_store_open(w->dir, TS_STORE_DAEMON, &w->st), 0);
	ck_assert_int_eq(ts_store_set_key(w->st, w->key), 0);
	/* Removals after the first within 10 minutes wait for one
	 * re-sealing (step 7), however slow the machine. */
	ts_store_set_shred_batch(w->st, 600000);
	ck_assert_int_eq(ts_index_new(w->st, record_log, NULL, &w->idx), 0);
	ck_assert_int_eq(ts_policy_parse(POLICY, strlen(POLICY), &p, err,
	                                 sizeof(err)), 0);
	ts_index_wrlock(w->idx);
	ts_index_set_policy(w->idx, &p);
	ts_index_unlock(w->idx);
	ck_assert_int_eq(ts_index_load(w->idx), 0);
	w->t0 = ts_now_ms();
	w->sweep_at = w->t0 + 11000;
	put_intake(w, TS_REC_TICKET, NULL, NULL);
	put_intake(w, TS_REC_MESSAGE, "m-in", "from intake");
	put_intake(w, TS_REC_AUTH, "a-in", "{\"account\":\"x\","
	           "\"password\":\"y\",\"expires\":\"2099-01-01T00:00:00Z\"}");
}

static void
world_free(struct world *w)
{
	char cmd[128];

	ts_sysio_reset();
	ts_index_free(w->idx);
	ts_store_close(w->st);
	ts_seal_seckey_free(w->key);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", w->dir);
	ck_assert_int_eq(system(cmd), 0);
}

static struct ts_entry *
t1(struct world *w)
{
	return ts_index_find(w->idx, "t-1");
}

/*
 * Step i of the scenario.  Returns 0 when done, -errno when it failed, or
 * 1 when intake left records waiting (the daemon retries intake on its
 * next poll, and that is what the caller sees of a failure there).
 */
#define NSTEPS 9
static int
step(struct world *w, int i)
{
	struct ts_changes ch = { 0 };
	struct ts_entry *e;
	int64_t next;
	int rc = 0;

	if (i == 0) {
		/* The ticket, a message and an authorization from intake (it
		 * takes the lock itself). */
		rc = ts_index_intake(w->idx, &ch);
		ts_changes_release(&ch);
		if (rc < 0)
			return rc;
		ts_index_rdlock(w->idx);
		e = t1(w);
		rc = e != NULL && ts_ticket_find_msg(&e->t, "m-in") != NULL &&
		     ts_ticket_find_auth(&e->t, "a-in") != NULL ? 0 : 1;
		ts_index_unlock(w->idx);
		return rc;
	}
	if (i == 8)
		return ts_index_save_snapshot(w->idx);
	ts_index_wrlock(w->idx);
	e = t1(w);
	switch (i) {
	case 1:	/* a message written through the mount */
		rc = ts_index_add_msg(w->idx, e, "reply", e->t.next_slot++,
		                      "we are on it", 12,
		                      ts_seal_seckey_pk(w->key), &ch);
		break;
	case 2:
		rc = ts_index_set_status(w->idx, e, TS_PROCESSING, &ch);
		break;
	case 3:
		rc = ts_index_remove_field(w->idx, e, TS_F_MOBILE, &ch);
		break;
	case 4: {
		struct ts_message *m = ts_ticket_find_msg(&e->t, "m-in");

		rc = m ? ts_index_remove_msg(w->idx, e, m, &ch) : -ENOENT;
		break;
	}
	case 5: {
		struct ts_auth *a = ts_ticket_find_auth(&e->t, "a1");

		rc = a && a->box[TS_A_PASSWORD].len ? ts_index_remove_afield(
		     w->idx, e, a, TS_A_PASSWORD, &ch) : -ENOENT;
		break;
	}
	case 6:	/* the sweep: email goes 10 s after submission.  It has
		 * no caller to tell: a failure shows as the email still
		 * there and as the deadline still due, so it is retried. */
		next = ts_index_sweep(w->idx, w->sweep_at, &ch);
		rc = e->t.field[TS_F_EMAIL].len == 0 ? 0 : -EAGAIN;
		if (rc < 0) {	/* retried within seconds */
			ck_assert_int_le(next, w->sweep_at + 5000);
			w->sweep_at = next;
		}
		break;
	case 7:	/* the sweep again, when the removals of steps 4 to 6 are
		 * due to be re-sealed for a fresh key (store/shred.c): like
		 * step 6, retried while the due time stays in the record. */
		if (w->reseal_at == 0) {
			if (e->t.shred_due_ms == 0) {
				rc = -EINVAL;	/* the removals were not batched */
				break;
			}
			w->reseal_at = e->t.shred_due_ms;
		}
		if (e->t.shred_due_ms == 0)
			break;	/* done by the try that met the fault */
		next = ts_index_sweep(w->idx, w->reseal_at, &ch);
		e = t1(w);
		rc = e->t.shred_due_ms == 0 ? 0 : -EAGAIN;
		if (rc < 0) {	/* retried within seconds */
			ck_assert_int_le(next, w->reseal_at + 5000);
			w->reseal_at = next;
		}
		break;
	}
	ts_index_unlock(w->idx);
	ts_changes_release(&ch);
	return rc;
}

/* Every box of t opens (with the index's offsets). */
static void
check_boxes(struct world *w, struct ts_index *idx, const char *what)
{
	struct ts_entry *e;
	char path[3 * TS_NAME_MAX];
	uint8_t *plain;

	ts_index_rdlock(idx);
	if ((e = ts_index_find(idx, "t-1")) == NULL) {
		ts_index_unlock(idx);
		return;
	}
	ck_assert_msg(e->err == 0, "%s: t-1 loads with error %d", what, e->err);
	for (int f = 0; f < TS_F_COUNT; f++)
		if (e->t.field[f].len) {
			ck_assert_msg(ts_index_open_box(idx, w->key, e,
			              ts_field_names[f], &e->t.field[f],
			              &plain) == 0, "%s: %s does not open", what,
			              ts_field_names[f]);
			free(plain);
		}
	for (size_t i = 0; i < e->t.nmsg; i++) {
		snprintf(path, sizeof(path), "messages/%s", e->t.msg[i].name);
		ck_assert_msg(ts_index_open_box(idx, w->key, e, path,
		              &e->t.msg[i].box, &plain) == 0,
		              "%s: %s does not open", what, path);
		free(plain);
	}
	for (size_t i = 0; i < e->t.nauth; i++)
		for (int f = 0; f < TS_A_COUNT; f++) {
			if (e->t.auth[i].box[f].len == 0)
				continue;
			snprintf(path, sizeof(path), "authorizations/%s/%s",
			         e->t.auth[i].name, ts_afield_names[f]);
			ck_assert_msg(ts_index_open_box(idx, w->key, e, path,
			              &e->t.auth[i].box[f], &plain) == 0,
			              "%s: %s does not open", what, path);
			free(plain);
		}
	ts_index_unlock(idx);
}

/* The index says what a fresh load of the store says; all boxes open. */
static void
check_consistent(struct world *w, const char *what)
{
	struct ts_index *again;
	struct ts_entry *a, *b;

	ck_assert_int_eq(ts_index_new(w->st, quiet, NULL, &again), 0);
	ck_assert_int_eq(ts_index_load(again), 0);
	ts_index_rdlock(w->idx);
	a = t1(w);
	b = ts_index_find(again, "t-1");
	ck_assert_msg((a == NULL) == (b == NULL), "%s: t-1 %s the index only",
	              what, a ? "in" : "missing from");
	if (a != NULL) {
		ck_assert_msg(b->err == 0, "%s: the stored record is refused "
		              "(%d)", what, b->err);
		ck_assert_int_eq(a->t.status, b->t.status);
		ck_assert_mem_eq(a->t.field, b->t.field, sizeof(a->t.field));
		ck_assert_uint_eq(a->t.nmsg, b->t.nmsg);
		for (size_t i = 0; i < a->t.nmsg; i++) {
			ck_assert_str_eq(a->t.msg[i].name, b->t.msg[i].name);
			ck_assert_mem_eq(&a->t.msg[i].box, &b->t.msg[i].box,
			                 sizeof(struct ts_box));
		}
		ck_assert_uint_eq(a->t.nauth, b->t.nauth);
		for (size_t i = 0; i < a->t.nauth; i++) {
			ck_assert_str_eq(a->t.auth[i].name, b->t.auth[i].name);
			ck_assert_mem_eq(a->t.auth[i].box, b->t.auth[i].box,
			                 sizeof(a->t.auth[i].box));
		}
	}
	ts_index_unlock(w->idx);
	check_boxes(w, w->idx, what);
	check_boxes(w, again, what);
	ts_index_free(again);
}

/* The scenario's end state. */
static void
check_end(struct world *w, const char *what)
{
	struct ts_entry *e;

	ts_index_rdlock(w->idx);
	e = t1(w);
	ck_assert_msg(e != NULL, "%s: t-1 is gone", what);
	ck_assert_int_eq(e->t.status, TS_PROCESSING);
	ck_assert_uint_eq(e->t.field[TS_F_MOBILE].len, 0);
	ck_assert_uint_eq(e->t.field[TS_F_EMAIL].len, 0);
	ck_assert_uint_ne(e->t.field[TS_F_SUBJECT].len, 0);
	ck_assert_uint_eq(e->t.nmsg, 1);
	ck_assert_str_eq(e->t.msg[0].name, "reply");
	ck_assert_uint_eq(e->t.nauth, 2);
	ck_assert_uint_eq(ts_ticket_find_auth(&e->t, "a1")->box[TS_A_PASSWORD].len,
	                  0);
	ts_index_unlock(w->idx);
}

static unsigned faults_met;	/* for the summary line */

/*
 * How many calls of each op the scenario makes (README quotes them): a
 * change of the scenario or of the store's calls must update both.
 */
static const unsigned CALLS[] = { 35, 14, 28, 16 };

/*
 * The one fault no step reports: the fsync of intake/ after the poll's
 * intake files, their records taken in and durable, are unlinked (the 6th
 * fsync: the new ticket and its key file are written unflushed, then one
 * syncfs when the message for it comes, the message and the
 * authorization each written with two).  The records are in the store;
 * the worst a lost unlink does after a crash is offer the files again,
 * and a second take-in of one is a no-op unless an agent removed the
 * item in between (the tombstones do not outlive the daemon), which
 * README says.
 *
 * Nor is the promotion of a rekey's new key (store/shred.c) when its
 * rename fails: the record, resealed for the new key, is durable, and the
 * old key is deleted instead, which shreds just as well; the new key
 * serves from keys/ID.next until the next load promotes it (the 9th and
 * 15th rename: step 3 removes an item and re-seals at once, steps 4 to 6
 * remove one each within the batching time, and step 7 re-seals them).
 */
static int
silent_ok(enum ts_sysio_op op, unsigned n, int met_at)
{
	if (op == TS_SYSIO_RENAME)
		return (met_at == 3 && n == 9) || (met_at == 7 && n == 15);
	return op == TS_SYSIO_FSYNC && met_at == 0 && n == 6;
}

/* Records left in intake/ (rejected/ and temporaries aside). */
static int
intake_waiting(struct world *w)
{
	char path[128];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "%s/intake", w->dir);
	ck_assert_ptr_nonnull(d = opendir(path));
	while ((de = readdir(d)) != NULL)
		n += de->d_name[0] != '.' && strcmp(de->d_name, "rejected") != 0;
	closedir(d);
	return n;
}

START_TEST(every_nth_call_fails)
{
	enum ts_sysio_op op = OPS[_i / NERRS];
	int err = ERRS[_i % NERRS];
	unsigned n, silent = 0;

	for (n = 1; n <= MAX_N; n++) {
		struct world w;
		char what[96], metlog[sizeof(logged)] = "";
		int failed_at = -1, met_at = -1, rc = 0;

		world_new(&w);
		snprintf(what, sizeof(what), "%s #%u fails with %s",
		         OP_NAMES[_i / NERRS], n, strerror(err));
		ts_sysio_inject(op, n, err, 0);
		for (int i = 0; i < NSTEPS && failed_at < 0; i++) {
			int armed = ts_sysio_armed(op);

			logged[0] = '\0';
			if ((rc = step(&w, i)) != 0)
				failed_at = i;
			if (armed && !ts_sysio_armed(op)) {
				met_at = i;
				snprintf(metlog, sizeof(metlog), "%s", logged);
			}
		}
		if (ts_sysio_armed(op)) {	/* N is past the last call */
			ts_sysio_reset();
			ck_assert_int_eq(failed_at, -1);
			check_end(&w, what);
			check_consistent(&w, what);
			world_free(&w);
			break;
		}
		ts_sysio_reset();
		faults_met++;
		ck_assert_msg(met_at >= 0, "%s: met outside the steps", what);
		ck_assert_msg(failed_at < 0 || failed_at == met_at, "%s: met in "
		              "step %d, step %d failed", what, met_at, failed_at);
		/*
		 * The step that met it reports that error: a step with a
		 * caller returns it; intake (step 0) and the sweep (steps 6
		 * and 7) have none and log it (the daemon's syslog), leaving the
		 * record waiting (1) or the deadline due (-EAGAIN), or, when
		 * the change was in place before the fault (a directory
		 * fsync after the rename), done (0).  Nothing made up.
		 */
		if (rc == -err && met_at != 6 && met_at != 7) {
			/* returned */
		} else if ((met_at == 0 || met_at == 6 || met_at == 7) &&
		           strstr(metlog, strerror(err)) != NULL) {
			ck_assert_msg(rc == 0 || rc == (met_at == 0 ? 1 : -EAGAIN),
			              "%s: step %d said %d", what, met_at, rc);
		} else {
			ck_assert_msg(failed_at < 0 && metlog[0] == '\0' &&
			              silent_ok(op, n, met_at), "%s: step %d met "
			              "it and said %d, logged \"%s\"", what, met_at,
			              rc, metlog);
			/* the unlink itself happened: nothing left to take */
			ck_assert_int_eq(intake_waiting(&w), 0);
			silent++;
		}
		if (failed_at < 0) {
			/* Done all the same: the next intake poll tidies up
			 * (a record already taken in is a no-op), and the end
			 * state is the scenario's. */
			struct ts_changes ch = { 0 };

			ck_assert_int_ge(ts_index_intake(w.idx, &ch), 0);
			ts_changes_release(&ch);
			check_end(&w, what);
			check_consistent(&w, what);
			world_free(&w);
			continue;
		}
		/* (Intake may have written a record whose directory fsync
		 * failed: store and index agree again once the retry took
		 * it in.) */
		if (rc != 1)
			check_consistent(&w, what);
		/*
		 * The same step again, then the rest: all succeed.  A change
		 * whose directory fsync failed after the rename is in place
		 * (EIO said "not known to be durable", not "not done"): the
		 * retry then finds it done, EEXIST or ENOENT.
		 */
		for (int i = failed_at; i < NSTEPS; i++) {
			rc = step(&w, i);
			ck_assert_msg(rc == 0 || (i == failed_at &&
			              op == TS_SYSIO_FSYNC &&
			              (rc == -EEXIST || rc == -ENOENT)),
			              "%s: step %d, after the fault, said %d",
			              what, i, rc);
		}
		check_end(&w, what);
		check_consistent(&w, what);
		world_free(&w);
	}
	ck_assert_msg(n - 1 == CALLS[_i / NERRS], "%s: the scenario makes %u "
	              "calls, not %u: update CALLS and README together",
	              OP_NAMES[_i / NERRS], n - 1, CALLS[_i / NERRS]);
	ck_assert_uint_eq(silent, op == TS_SYSIO_FSYNC ? 1 :
	                  op == TS_SYSIO_RENAME ? 2 : 0);
	fprintf(stderr, "faults: %s with %s: every N of 1..%u, %u unreported "
	        "(%s)\n", OP_NAMES[_i / NERRS],
	        strerror(err), n - 1, silent, op == TS_SYSIO_RENAME ?
	        "rekeys' promotions" : "the intake unlinks' fsync");
}
END_TEST

int
main(void)
{
	Suite *s = suite_create("faults");
	TCase *tc = tcase_create("scenario");

	tcase_set_timeout(tc, 600);
	tcase_add_loop_test(tc, every_nth_call_fails, 0, NOPS * NERRS);
	suite_add_tcase(s, tc);
	(void)faults_met;
	return ts_check_run(s);
}
