/*
 * test_inode: computed inode numbers, and the table of the kernel's lookup
 * counts (open addressing with backward-shift deletion, a narrow and a
 * wide table), checked against a plain model after every step of random
 * workloads, and its bytes per inode.
 */
#include <check.h>

#include "tests/check_main.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "fs/inode.h"

/* A small deterministic PRNG (xorshift64*), so failures reproduce. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
shuffle(uint64_t *v, size_t n, uint64_t *seed)
{
	for (size_t i = n; i > 1; i--) {
		size_t j = (size_t)(rnd(seed) % i);
		uint64_t t = v[i - 1];

		v[i - 1] = v[j];
		v[j] = t;
	}
}

/* Checks the table holds exactly the n inodes of want (any order). */
static void
check_holds(struct ts_inodes *tab, const uint64_t *want, size_t n)
{
	uint64_t *got = NULL, *w;
	size_t k = (size_t)-1;

	ck_assert_uint_eq(ts_inodes_count(tab), n);
	ck_assert_int_eq(ts_inodes_snapshot(tab, &got, &k), 0);
	ck_assert_ptr_nonnull(got);
	ck_assert_uint_eq(k, n);
	w = malloc((n + 1) * sizeof(*w));
	ck_assert_ptr_nonnull(w);
	if (n > 0)
		memcpy(w, want, n * sizeof(*w));
	qsort(got, k, sizeof(*got), cmp_u64);
	qsort(w, n, sizeof(*w), cmp_u64);
	for (size_t i = 0; i < n; i++)
		ck_assert_msg(got[i] == w[i], "entry %zu: %llu, want %llu", i,
		              (unsigned long long)got[i],
		              (unsigned long long)w[i]);
	free(w);
	free(got);
}

/* ---- inode numbers ---- */

START_TEST(ino_round_trip)
{
	static const struct {
		uint64_t slot;
		uint32_t item;
		unsigned sub;
	} cases[] = {
		{ 0, 0, TS_SUB_DIR },
		{ 0, 0, TS_SUB_STATUS },
		{ 0, 0, TS_SUB_FIELD + 5 },
		{ 0, 0, TS_SUB_AUTHDIR },
		{ 1, 1, TS_SUB_ITEM },
		{ 7, 3, TS_SUB_AFIELD + 2 },
		{ 7, 3, TS_SUB_EXPIRES },
		{ 12345, TS_ITEM_MAX, 15 },
		{ (1ull << 39) - 2, TS_ITEM_MAX, 15 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint64_t ino = ts_ino_make(cases[i].slot, cases[i].item,
		                           cases[i].sub), slot = 99;
		uint32_t item = 99;
		unsigned sub = 99;

		ck_assert_uint_gt(ino, TS_INO_AUDIT);
		ck_assert_int_eq(ts_ino_split(ino, &slot, &item, &sub), 0);
		ck_assert_uint_eq(slot, cases[i].slot);
		ck_assert_uint_eq(item, cases[i].item);
		ck_assert_uint_eq(sub, cases[i].sub);
	}
}
END_TEST

START_TEST(ino_fixed_and_distinct)
{
	uint64_t slot = 99, ino;
	uint32_t item = 99;
	unsigned sub = 99;
	uint64_t *all;
	size_t n = 0;

	/* The fixed inodes, and anything below the first ticket's. */
	ck_assert_int_eq(ts_ino_split(TS_INO_ROOT, &slot, &item, &sub), -1);
	ck_assert_int_eq(ts_ino_split(TS_INO_TICKETS, &slot, &item, &sub), -1);
	ck_assert_int_eq(ts_ino_split(TS_INO_AUDIT, &slot, &item, &sub), -1);
	ck_assert_int_eq(ts_ino_split(0, &slot, &item, &sub), -1);
	ck_assert_int_eq(ts_ino_split((1u << 24) - 1, &slot, &item, &sub), -1);
	ck_assert_uint_eq(slot, 99);	/* untouched */
	ck_assert_uint_eq(item, 99);
	ck_assert_uint_eq(sub, 99);
	ck_assert_uint_eq(TS_INO_ROOT, 1);	/* FUSE_ROOT_ID */
	/* Every (slot, item, sub) of a small range has its own number. */
	all = malloc(50 * 40 * 16 * sizeof(*all));
	ck_assert_ptr_nonnull(all);
	for (uint64_t s = 0; s < 50; s++)
		for (uint32_t it = 0; it < 40; it++)
			for (unsigned sb = 0; sb < 16; sb++) {
				ino = ts_ino_make(s, it, sb);
				ck_assert_uint_gt(ino, TS_INO_AUDIT);
				all[n++] = ino;
			}
	qsort(all, n, sizeof(*all), cmp_u64);
	for (size_t i = 1; i < n; i++)
		ck_assert_uint_ne(all[i - 1], all[i]);
	free(all);
	/* Subs of the ticket's own nodes fit in 4 bits. */
	ck_assert_uint_le(TS_SUB_AUTHDIR, 15);
	ck_assert_uint_lt(TS_SUB_FIELD + 5, TS_SUB_MSGDIR);
}
END_TEST

/* ---- lookup counts ---- */

START_TEST(ref_forget_basic)
{
	struct ts_inodes *tab = NULL;
	uint64_t a = ts_ino_make(0, 0, TS_SUB_DIR);
	uint64_t b = ts_ino_make(0, 0, TS_SUB_STATUS);
	uint64_t c = ts_ino_make(5, 2, TS_SUB_ITEM);
	uint64_t ab[2] = { a, b }, bc[2] = { b, c };

	ck_assert_int_eq(ts_inodes_new(&tab), 0);
	check_holds(tab, NULL, 0);
	ck_assert_int_eq(ts_inodes_ref(tab, a), 0);
	ck_assert_int_eq(ts_inodes_ref(tab, a), 0);
	ck_assert_int_eq(ts_inodes_ref(tab, b), 0);
	check_holds(tab, ab, 2);
	/* Two lookups of a: one forget keeps it, the second drops it. */
	ts_inodes_forget(tab, a, 1);
	check_holds(tab, ab, 2);
	ts_inodes_forget(tab, a, 1);
	check_holds(tab, &b, 1);
	/* Forgetting what is not held changes nothing. */
	ts_inodes_forget(tab, a, 1);
	ts_inodes_forget(tab, c, 3);
	check_holds(tab, &b, 1);
	/* forget with n = 0 keeps it; a larger n than held drops it. */
	ck_assert_int_eq(ts_inodes_ref(tab, c), 0);
	ts_inodes_forget(tab, c, 0);
	check_holds(tab, bc, 2);
	ts_inodes_forget(tab, b, 1000);
	check_holds(tab, &c, 1);
	/* Batch forget of several lookups at once. */
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(ts_inodes_ref(tab, c), 0);
	ts_inodes_forget(tab, c, 4);
	check_holds(tab, &c, 1);
	ts_inodes_forget(tab, c, 1);
	check_holds(tab, NULL, 0);
	/* Forgotten, then looked up again (the same slot is reused): one
	 * lookup is undone by one forget, whatever came before. */
	for (int round = 0; round < 3; round++) {
		ck_assert_int_eq(ts_inodes_ref(tab, a), 0);
		check_holds(tab, &a, 1);
		ts_inodes_forget(tab, a, 1);
		check_holds(tab, NULL, 0);
	}
	ts_inodes_free(tab);
	ts_inodes_free(NULL);	/* NULL is fine */
}
END_TEST

/*
 * The push mark: claimed once per inode the kernel holds; kept while any
 * lookup is held (and does not disturb the count); gone with the inode.
 */
START_TEST(push_claimed_once_per_life)
{
	struct ts_inodes *tab = NULL;
	uint64_t a = ts_ino_make(3, 0, TS_SUB_FIELD);

	ck_assert_int_eq(ts_inodes_new(&tab), 0);
	ck_assert_int_eq(ts_inodes_claim_push(tab, a), 0);	/* not held */
	ck_assert_int_eq(ts_inodes_ref(tab, a), 0);
	ck_assert_int_eq(ts_inodes_ref(tab, a), 0);
	ck_assert_int_eq(ts_inodes_claim_push(tab, a), 1);
	ck_assert_int_eq(ts_inodes_claim_push(tab, a), 0);
	ts_inodes_forget(tab, a, 1);
	check_holds(tab, &a, 1);
	ck_assert_int_eq(ts_inodes_claim_push(tab, a), 0);
	ts_inodes_forget(tab, a, 1);
	check_holds(tab, NULL, 0);
	ck_assert_int_eq(ts_inodes_ref(tab, a), 0);
	ck_assert_int_eq(ts_inodes_claim_push(tab, a), 1);	/* a new life */
	ts_inodes_free(tab);
}
END_TEST

/*
 * unpush_all clears every mark, keeps every count; held says whether the
 * kernel holds an inode, whatever its mark.
 */
START_TEST(unpush_all_and_held)
{
	struct ts_inodes *tab = NULL;
	uint64_t a = ts_ino_make(3, 0, TS_SUB_FIELD);
	uint64_t b = ts_ino_make(4, 2, TS_SUB_ITEM);

	ck_assert_int_eq(ts_inodes_new(&tab), 0);
	ck_assert_int_eq(ts_inodes_held(tab, a), 0);
	ck_assert_int_eq(ts_inodes_ref(tab, a), 0);
	ck_assert_int_eq(ts_inodes_ref(tab, b), 0);
	ck_assert_int_eq(ts_inodes_held(tab, a), 1);
	ck_assert_int_eq(ts_inodes_claim_push(tab, a), 1);
	ck_assert_int_eq(ts_inodes_claim_push(tab, b), 1);
	ck_assert_int_eq(ts_inodes_held(tab, a), 1);	/* the mark is not a count */
	ts_inodes_unpush_all(tab);
	ck_assert_int_eq(ts_inodes_claim_push(tab, a), 1);
	ck_assert_int_eq(ts_inodes_claim_push(tab, b), 1);
	ck_assert_uint_eq(ts_inodes_count(tab), 2);
	ts_inodes_forget(tab, a, 1);
	ck_assert_int_eq(ts_inodes_held(tab, a), 0);
	ck_assert_int_eq(ts_inodes_held(tab, b), 1);
	ts_inodes_free(tab);
}
END_TEST

START_TEST(many_then_forget_half)
{
	enum { N = 100000 };
	struct ts_inodes *tab = NULL;
	uint64_t *ino = malloc(N * sizeof(*ino)), *order, *left;
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	size_t nleft = 0;

	ck_assert_ptr_nonnull(ino);
	ck_assert_int_eq(ts_inodes_new(&tab), 0);
	/* Inode numbers as the daemon makes them: dense slots and items. */
	for (size_t i = 0; i < N; i++) {
		ino[i] = ts_ino_make(i / 64, (uint32_t)(i % 64) / 16,
		                     (unsigned)(i % 16));
		/* Lookup count of ino[i]: 1 + i % 3. */
		for (size_t r = 0; r <= i % 3; r++)
			ck_assert_int_eq(ts_inodes_ref(tab, ino[i]), 0);
	}
	check_holds(tab, ino, N);

	/* Forget half completely, in random order. */
	order = malloc(N * sizeof(*order));
	left = malloc(N * sizeof(*left));
	ck_assert_ptr_nonnull(order);
	ck_assert_ptr_nonnull(left);
	for (size_t i = 0; i < N; i++)
		order[i] = i;
	shuffle(order, N, &seed);
	for (size_t k = 0; k < N / 2; k++) {
		size_t i = order[k];

		ts_inodes_forget(tab, ino[i], 1 + i % 3);
	}
	for (size_t k = N / 2; k < N; k++)
		left[nleft++] = ino[order[k]];
	check_holds(tab, left, nleft);

	/* Each survivor has its exact count: one short keeps it held... */
	for (size_t k = N / 2; k < N; k++) {
		size_t i = order[k];

		ts_inodes_forget(tab, ino[i], i % 3);
	}
	check_holds(tab, left, nleft);
	/* ...and the last lookup drops it. */
	shuffle(left, nleft, &seed);
	for (size_t k = 0; k < nleft; k++)
		ts_inodes_forget(tab, left[k], 1);
	check_holds(tab, NULL, 0);

	/* The table is usable again after emptying. */
	ck_assert_int_eq(ts_inodes_ref(tab, ino[7]), 0);
	check_holds(tab, &ino[7], 1);
	free(left);
	free(order);
	free(ino);
	ts_inodes_free(tab);
}
END_TEST

START_TEST(random_against_model)
{
	/*
	 * Random refs and forgets over a small set of inodes, so the table
	 * stays small (probe runs wrap around its end) and deletions happen
	 * in every position of a run; checked against an array after every
	 * step.
	 */
	enum { K = 600, STEPS = 20000 };
	struct ts_inodes *tab = NULL;
	uint64_t ino[K], held[K];
	uint64_t count[K];
	uint64_t seed = 42;

	ck_assert_int_eq(ts_inodes_new(&tab), 0);
	for (size_t i = 0; i < K; i++) {
		/* Two families: sequential, and spread over slots. */
		ino[i] = i % 2 ? ts_ino_make(i, 0, 1) : ts_ino_make(3, (uint32_t)i, 2);
		count[i] = 0;
	}
	for (int step = 0; step < STEPS; step++) {
		size_t i = (size_t)(rnd(&seed) % K), nheld = 0;

		if (rnd(&seed) % 2) {
			ck_assert_int_eq(ts_inodes_ref(tab, ino[i]), 0);
			count[i]++;
		} else {
			uint64_t n = rnd(&seed) % 3;

			ts_inodes_forget(tab, ino[i], n);
			count[i] = count[i] > n ? count[i] - n : 0;
		}
		if (step % 97 != 0 && step != STEPS - 1)
			continue;
		for (size_t j = 0; j < K; j++)
			if (count[j])
				held[nheld++] = ino[j];
		check_holds(tab, held, nheld);
	}
	ts_inodes_free(tab);
}
END_TEST

/*
 * Counts beyond what the 8-byte word holds (127) move the inode to the
 * wide table, and every one of them still needs its forget; the push
 * mark moves with it.  Numbers of 2^56 and above (a ticket slot of 2^32
 * and above) live there from the start.
 */
START_TEST(large_counts_and_numbers)
{
	struct ts_inodes *tab = NULL;
	uint64_t a = ts_ino_make(9, 1, TS_SUB_ITEM);
	uint64_t big = ts_ino_make((1ull << 39) - 2, TS_ITEM_MAX, 15);
	uint64_t edge = ts_ino_make((1ull << 32) - 2, 7, 3);	/* < 2^56 */
	uint64_t both[3] = { a, big, edge };

	ck_assert_uint_ge(big, UINT64_C(1) << 56);
	ck_assert_uint_lt(edge, UINT64_C(1) << 56);
	ck_assert_int_eq(ts_inodes_new(&tab), 0);
	for (int i = 0; i < 100; i++)
		ck_assert_int_eq(ts_inodes_ref(tab, a), 0);
	ck_assert_int_eq(ts_inodes_claim_push(tab, a), 1);
	for (int i = 0; i < 900; i++)	/* 1,000 in all: past 127 */
		ck_assert_int_eq(ts_inodes_ref(tab, a), 0);
	ck_assert_int_eq(ts_inodes_claim_push(tab, a), 0);	/* kept */
	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(ts_inodes_ref(tab, big), 0);
		ck_assert_int_eq(ts_inodes_ref(tab, edge), 0);
	}
	check_holds(tab, both, 3);
	ck_assert_int_eq(ts_inodes_claim_push(tab, big), 1);
	ck_assert_int_eq(ts_inodes_claim_push(tab, big), 0);
	ts_inodes_unpush_all(tab);
	ck_assert_int_eq(ts_inodes_claim_push(tab, a), 1);
	ck_assert_int_eq(ts_inodes_claim_push(tab, big), 1);
	/* 999 forgets in odd batches keep a; the last drops it. */
	ts_inodes_forget(tab, a, 500);
	ts_inodes_forget(tab, a, 1);
	ts_inodes_forget(tab, a, 498);
	ck_assert_int_eq(ts_inodes_held(tab, a), 1);
	check_holds(tab, both, 3);
	ts_inodes_forget(tab, a, 1);
	ck_assert_int_eq(ts_inodes_held(tab, a), 0);
	check_holds(tab, both + 1, 2);
	/* Looked up again: a new life, in the narrow word, a fresh mark. */
	ck_assert_int_eq(ts_inodes_ref(tab, a), 0);
	ck_assert_int_eq(ts_inodes_claim_push(tab, a), 1);
	ts_inodes_forget(tab, a, 1);
	ts_inodes_forget(tab, big, 2);
	ck_assert_int_eq(ts_inodes_held(tab, big), 1);
	ts_inodes_forget(tab, big, 1);
	ck_assert_int_eq(ts_inodes_held(tab, big), 0);
	ts_inodes_forget(tab, edge, 3);
	check_holds(tab, NULL, 0);
	ts_inodes_free(tab);
}
END_TEST

/*
 * What the daemon holds after a `find` over 100,000 tickets: 16 inodes a
 * ticket.  The table takes at most 13 bytes an inode once grown (README,
 * Scale), and gives most of it back once the kernel forgets them.
 */
START_TEST(bytes_per_inode)
{
	enum { TICKETS = 100000, PER = 16 };
	struct ts_inodes *tab = NULL;
	size_t n = 0;

	ck_assert_int_eq(ts_inodes_new(&tab), 0);
	for (uint64_t s = 0; s < TICKETS; s++)
		for (unsigned k = 0; k < PER; k++) {
			ck_assert_int_eq(ts_inodes_ref(tab, k < 11 ?
			                 ts_ino_make(s, 0, k) :
			                 ts_ino_make(s, 1, k - 11)), 0);
			n++;
			if (n >= 100000 && n % 50021 == 0)
				ck_assert_uint_le(ts_inodes_bytes(tab),
				                  2 * 8 * n + 4096);
		}
	ck_assert_uint_eq(ts_inodes_count(tab), n);
	ck_assert_uint_le(ts_inodes_bytes(tab), 13 * n);
	ck_assert_uint_ge(ts_inodes_bytes(tab), 8 * n);
	/* The kernel forgets all but one ticket's. */
	for (uint64_t s = 1; s < TICKETS; s++)
		for (unsigned k = 0; k < PER; k++)
			ts_inodes_forget(tab, k < 11 ? ts_ino_make(s, 0, k) :
			                 ts_ino_make(s, 1, k - 11), 1);
	ck_assert_uint_eq(ts_inodes_count(tab), PER);
	ck_assert_uint_le(ts_inodes_bytes(tab), 64 * 1024);
	for (unsigned k = 0; k < PER; k++)
		ck_assert_int_eq(ts_inodes_held(tab, k < 11 ?
		                 ts_ino_make(0, 0, k) :
		                 ts_ino_make(0, 1, k - 11)), 1);
	ts_inodes_free(tab);
}
END_TEST

/*
 * The same with counts that cross the narrow word's limit both ways and
 * numbers of either table, push marks checked too.
 */
START_TEST(random_large_against_model)
{
	enum { K = 300, STEPS = 60000 };
	struct ts_inodes *tab = NULL;
	uint64_t ino[K], held[K], count[K];
	int pushed[K];
	uint64_t seed = 7;

	ck_assert_int_eq(ts_inodes_new(&tab), 0);
	for (size_t i = 0; i < K; i++) {
		ino[i] = i % 5 == 0 ? ts_ino_make((1ull << 39) - 2 - i, 2, 3) :
		         ts_ino_make(i / 4, (uint32_t)(i % 4), 1);
		count[i] = 0;
		pushed[i] = 0;
	}
	for (int step = 0; step < STEPS; step++) {
		size_t i = (size_t)(rnd(&seed) % K), nheld = 0;
		unsigned op = (unsigned)(rnd(&seed) % 8);

		if (op < 4) {
			/* Bursts, so counts reach the hundreds. */
			unsigned r = 1 + (unsigned)(rnd(&seed) % 60);

			for (unsigned k = 0; k < r; k++)
				ck_assert_int_eq(ts_inodes_ref(tab, ino[i]), 0);
			count[i] += r;
		} else if (op < 7) {
			uint64_t n = rnd(&seed) % 90;

			ts_inodes_forget(tab, ino[i], n);
			count[i] = count[i] > n ? count[i] - n : 0;
			if (count[i] == 0)
				pushed[i] = 0;
		} else {
			int want = count[i] > 0 && !pushed[i];

			ck_assert_int_eq(ts_inodes_claim_push(tab, ino[i]), want);
			if (count[i] > 0)
				pushed[i] = 1;
		}
		ck_assert_int_eq(ts_inodes_held(tab, ino[i]), count[i] > 0);
		if (step % 211 != 0 && step != STEPS - 1)
			continue;
		for (size_t j = 0; j < K; j++)
			if (count[j])
				held[nheld++] = ino[j];
		check_holds(tab, held, nheld);
	}
	ts_inodes_free(tab);
}
END_TEST

struct worker {
	struct ts_inodes *tab;
	uint64_t base;
};

static void *
work(void *arg)
{
	struct worker *w = arg;

	for (int round = 0; round < 20; round++) {
		for (uint64_t i = 0; i < 2000; i++)
			if (ts_inodes_ref(w->tab, ts_ino_make(w->base + i, 0, 0)))
				return (void *)1;
		for (uint64_t i = 0; i < 2000; i++)
			ts_inodes_forget(w->tab, ts_ino_make(w->base + i, 0, 0),
			                 1);
	}
	/* Leave every tenth one held. */
	for (uint64_t i = 0; i < 2000; i += 10)
		if (ts_inodes_ref(w->tab, ts_ino_make(w->base + i, 0, 0)))
			return (void *)1;
	return NULL;
}

START_TEST(threads)
{
	struct ts_inodes *tab = NULL;
	pthread_t th[4];
	struct worker w[4];
	uint64_t want[4 * 200];
	size_t n = 0;

	ck_assert_int_eq(ts_inodes_new(&tab), 0);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ tab, (uint64_t)i * 100000 };
		ck_assert_int_eq(pthread_create(&th[i], NULL, work, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		void *rv;

		ck_assert_int_eq(pthread_join(th[i], &rv), 0);
		ck_assert_ptr_null(rv);
	}
	for (int i = 0; i < 4; i++)
		for (uint64_t k = 0; k < 2000; k += 10)
			want[n++] = ts_ino_make((uint64_t)i * 100000 + k, 0, 0);
	check_holds(tab, want, n);
	ts_inodes_free(tab);
}
END_TEST

static Suite *
inode_suite(void)
{
	Suite *s = suite_create("inode");
	TCase *nums = tcase_create("numbers");
	TCase *tab = tcase_create("lookup counts");

	tcase_add_test(nums, ino_round_trip);
	tcase_add_test(nums, ino_fixed_and_distinct);
	suite_add_tcase(s, nums);

	tcase_set_timeout(tab, 120);
	tcase_add_test(tab, ref_forget_basic);
	tcase_add_test(tab, push_claimed_once_per_life);
	tcase_add_test(tab, unpush_all_and_held);
	tcase_add_test(tab, many_then_forget_half);
	tcase_add_test(tab, random_against_model);
	tcase_add_test(tab, random_large_against_model);
	tcase_add_test(tab, large_counts_and_numbers);
	tcase_add_test(tab, bytes_per_inode);
	tcase_add_test(tab, threads);
	suite_add_tcase(s, tab);
	return s;
}

int
main(void)
{
	return ts_check_run(inode_suite());
}
