/*
 * Unit tests for the process counters and latency histograms
 * (liblego/stats.h): lg_stat_add/sub, lg_lat_record and lg_lat_summary
 * percentiles against exact values and the 1/8-octave bucket resolution,
 * the empty histogram, extremes (below 128 ns, 100 s, 2^64-1), independence
 * of the histograms, and lg_stats_reset.
 *
 * lego_fabric does not contain liblego/stats.c, so it is compiled in here.
 */
#include "liblego/stats.c"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define US 1000ull
#define MS 1000000ull
#define SEC 1000000000ull

static void setup(void) { lg_stats_reset(); }

/* --- counters ---------------------------------------------------------- */

START_TEST(test_stat_add_sub)
{
	for (int i = 0; i < LEGO_STAT__COUNT; i++)
		ck_assert_uint_eq(atomic_load(&lg_stat[i]), 0);
	lg_stat_add(LEGO_STAT_FAULTS, 5);
	lg_stat_add(LEGO_STAT_FAULTS, 7);
	lg_stat_add(LEGO_STAT_BYTES_IN, 4096);
	lg_stat_sub(LEGO_STAT_FAULTS, 2);
	ck_assert_uint_eq(atomic_load(&lg_stat[LEGO_STAT_FAULTS]), 10);
	ck_assert_uint_eq(atomic_load(&lg_stat[LEGO_STAT_BYTES_IN]), 4096);
	ck_assert_uint_eq(atomic_load(&lg_stat[LEGO_STAT_MISSES]), 0);
	/* gauges go up and down */
	lg_stat_add(LEGO_STAT_RESIDENT, 3);
	lg_stat_sub(LEGO_STAT_RESIDENT, 3);
	ck_assert_uint_eq(atomic_load(&lg_stat[LEGO_STAT_RESIDENT]), 0);
	lg_stat_add((enum lego_stat)(LEGO_STAT__COUNT - 1), 1); /* the last one */
	ck_assert_uint_eq(atomic_load(&lg_stat[LEGO_STAT__COUNT - 1]), 1);
}
END_TEST

/* --- histograms: percentiles ------------------------------------------- */

START_TEST(test_lat_empty)
{
	struct lego_lat_summary s;
	memset(&s, 0xff, sizeof s);
	lg_lat_summary(LEGO_LAT_MISS, &s);
	ck_assert_uint_eq(s.count, 0);
	ck_assert_uint_eq(s.p50_ns, 0);
	ck_assert_uint_eq(s.p99_ns, 0);
	ck_assert_uint_eq(s.p999_ns, 0);
	ck_assert_uint_eq(s.max_ns, 0);
}
END_TEST

START_TEST(test_lat_single)
{
	struct lego_lat_summary s;
	lg_lat_record(LEGO_LAT_MISS, 12345);
	lg_lat_summary(LEGO_LAT_MISS, &s);
	ck_assert_uint_eq(s.count, 1);
	ck_assert_uint_eq(s.max_ns, 12345);
	/* one sample: every percentile is that sample (capped by max) */
	ck_assert_uint_eq(s.p50_ns, 12345);
	ck_assert_uint_eq(s.p99_ns, 12345);
	ck_assert_uint_eq(s.p999_ns, 12345);
	ck_assert_uint_eq(s.mean_ns, 12345);
}
END_TEST

START_TEST(test_lat_two_modes)
{
	struct lego_lat_summary s;
	for (int i = 0; i < 1000; i++)
		lg_lat_record(LEGO_LAT_MISS, 10 * US);
	for (int i = 0; i < 10; i++)
		lg_lat_record(LEGO_LAT_MISS, 1 * MS);
	lg_lat_summary(LEGO_LAT_MISS, &s);
	ck_assert_uint_eq(s.count, 1010);
	ck_assert_uint_eq(s.max_ns, 1 * MS);
	/* p50 and p99 (999th of 1010) are 10 us, to within one bucket (1/8) */
	ck_assert_uint_ge(s.p50_ns, 10 * US);
	ck_assert_uint_le(s.p50_ns, 10 * US + 10 * US / 8);
	ck_assert_uint_ge(s.p99_ns, 10 * US);
	ck_assert_uint_le(s.p99_ns, 10 * US + 10 * US / 8);
	/* p99.9 (1008th of 1010) is in the 1 ms mode; capped at the max */
	ck_assert_uint_ge(s.p999_ns, 1 * MS - 1 * MS / 8);
	ck_assert_uint_le(s.p999_ns, 1 * MS);
}
END_TEST

START_TEST(test_lat_tail)
{
	/* 2% slow: p99 moves to the slow mode while p50 stays fast */
	struct lego_lat_summary s;
	for (int i = 0; i < 980; i++)
		lg_lat_record(LEGO_LAT_WRITEBACK, 10 * US);
	for (int i = 0; i < 20; i++)
		lg_lat_record(LEGO_LAT_WRITEBACK, 1 * MS + (uint64_t)i);
	lg_lat_summary(LEGO_LAT_WRITEBACK, &s);
	ck_assert_uint_eq(s.count, 1000);
	ck_assert_uint_eq(s.max_ns, 1 * MS + 19);
	ck_assert_uint_le(s.p50_ns, 10 * US + 10 * US / 8);
	ck_assert_uint_ge(s.p50_ns, 10 * US);
	ck_assert_uint_ge(s.p99_ns, 1 * MS);
	ck_assert_uint_le(s.p99_ns, 1 * MS + 1 * MS / 8);
	ck_assert_uint_ge(s.p999_ns, s.p99_ns);
	ck_assert_uint_le(s.p999_ns, s.max_ns);
}
END_TEST

/* Regression test (the bug is fixed): liblego/stats.c lg_lat_summary takes the percentile's rank as
 * floor(count * q) where the nearest-rank definition needs ceil(count * q):
 * with 3 samples {10us, 1ms, 1ms} the "median" reported is the 1st sample,
 * 10 us, smaller than two thirds of all samples. */
START_TEST(test_lat_median_small_count)
{
	struct lego_lat_summary s;
	lg_lat_record(LEGO_LAT_MISS, 10 * US);
	lg_lat_record(LEGO_LAT_MISS, 1 * MS);
	lg_lat_record(LEGO_LAT_MISS, 1 * MS);
	lg_lat_summary(LEGO_LAT_MISS, &s);
	ck_assert_uint_eq(s.count, 3);
	ck_assert_uint_ge(s.p50_ns, 1 * MS - 1 * MS / 8);
}
END_TEST

/* Sorting helper for the property test. */
static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

START_TEST(test_lat_random_resolution)
{
	/* 1000 samples (so count * q is a whole rank for 0.5, 0.99, 0.999),
	 * log-uniform from 16 ns to ~17 s: every percentile lies in the bucket
	 * of the exact value, i.e. in [v, v * 9 / 8], and never above max. */
	enum { N = 1000 };
	static uint64_t v[N];
	uint64_t x = 88172645463325252ull;
	for (int round = 0; round < 20; round++) {
		lg_stats_reset();
		for (int i = 0; i < N; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			unsigned shift = 4 + (unsigned)(x % 30);
			v[i] = (1ull << shift) + ((x >> 8) & ((1ull << shift) - 1));
			lg_lat_record(LEGO_LAT_ZERO, v[i]);
		}
		qsort(v, N, sizeof v[0], cmp_u64);
		struct lego_lat_summary s;
		lg_lat_summary(LEGO_LAT_ZERO, &s);
		ck_assert_uint_eq(s.count, N);
		ck_assert_uint_eq(s.max_ns, v[N - 1]);
		const uint64_t got[3] = {s.p50_ns, s.p99_ns, s.p999_ns};
		const int rank[3] = {500, 990, 999};
		for (int k = 0; k < 3; k++) {
			uint64_t exact = v[rank[k] - 1];
			uint64_t hi = exact < 128 ? 128 : exact + exact / 8;
			ck_assert_msg(got[k] >= exact && got[k] <= hi && got[k] <= s.max_ns,
				      "round %d: percentile %d is %llu, exact %llu", round, k,
				      (unsigned long long)got[k], (unsigned long long)exact);
		}
		ck_assert_uint_le(s.p50_ns, s.p99_ns);
		ck_assert_uint_le(s.p99_ns, s.p999_ns);
	}
}
END_TEST

START_TEST(test_lat_bucket_edges)
{
	/* Values just below and at bucket boundaries land in different
	 * buckets: 1024 and 1151 share [1024, 1152); 1152 is the next. */
	struct lego_lat_summary s;
	lg_lat_record(LEGO_LAT_MISS, 1024);
	lg_lat_record(LEGO_LAT_MISS, 100000);
	lg_lat_summary(LEGO_LAT_MISS, &s);
	ck_assert_uint_eq(s.p50_ns, 1152);
	lg_stats_reset();
	lg_lat_record(LEGO_LAT_MISS, 1151);
	lg_lat_record(LEGO_LAT_MISS, 100000);
	lg_lat_summary(LEGO_LAT_MISS, &s);
	ck_assert_uint_eq(s.p50_ns, 1152);
	lg_stats_reset();
	lg_lat_record(LEGO_LAT_MISS, 1152);
	lg_lat_record(LEGO_LAT_MISS, 100000);
	lg_lat_summary(LEGO_LAT_MISS, &s);
	ck_assert_uint_eq(s.p50_ns, 1280);
}
END_TEST

/* --- histograms: extremes ---------------------------------------------- */

START_TEST(test_lat_tiny)
{
	struct lego_lat_summary s;
	lg_lat_record(LEGO_LAT_ZERO, 0);
	lg_lat_record(LEGO_LAT_ZERO, 1);
	lg_lat_record(LEGO_LAT_ZERO, 127);
	lg_lat_summary(LEGO_LAT_ZERO, &s);
	ck_assert_uint_eq(s.count, 3);
	ck_assert_uint_eq(s.max_ns, 127);
	ck_assert_uint_le(s.p50_ns, 127);
	ck_assert_uint_le(s.p999_ns, 127);
	/* all of them sit in the first bucket, below 128 ns */
	lg_lat_record(LEGO_LAT_ZERO, 5 * MS);
	lg_lat_summary(LEGO_LAT_ZERO, &s);
	ck_assert_uint_le(s.p50_ns, 128);
}
END_TEST

START_TEST(test_lat_huge)
{
	struct lego_lat_summary s;
	lg_lat_record(LEGO_LAT_MISS, 100 * SEC);
	lg_lat_summary(LEGO_LAT_MISS, &s);
	ck_assert_uint_eq(s.count, 1);
	ck_assert_uint_eq(s.max_ns, 100 * SEC);
	ck_assert_uint_eq(s.p50_ns, 100 * SEC);

	lg_lat_record(LEGO_LAT_MISS, UINT64_MAX);
	lg_lat_record(LEGO_LAT_MISS, 1ull << 63);
	lg_lat_summary(LEGO_LAT_MISS, &s);
	ck_assert_uint_eq(s.count, 3);
	ck_assert_uint_eq(s.max_ns, UINT64_MAX);
	ck_assert_uint_ge(s.p50_ns, 60 * SEC); /* at least the top bucket's range */
	ck_assert_uint_le(s.p50_ns, s.p99_ns);
	ck_assert_uint_le(s.p99_ns, s.p999_ns);
	ck_assert_uint_le(s.p999_ns, s.max_ns);
}
END_TEST

START_TEST(test_lat_independent)
{
	struct lego_lat_summary s;
	lg_lat_record(LEGO_LAT_MISS, 50 * US);
	lg_lat_record(LEGO_LAT_MISS, 60 * US);
	lg_lat_record(LEGO_LAT_WRITEBACK, 3 * MS);
	lg_lat_summary(LEGO_LAT_MISS, &s);
	ck_assert_uint_eq(s.count, 2);
	ck_assert_uint_eq(s.max_ns, 60 * US);
	lg_lat_summary(LEGO_LAT_WRITEBACK, &s);
	ck_assert_uint_eq(s.count, 1);
	ck_assert_uint_eq(s.max_ns, 3 * MS);
	lg_lat_summary(LEGO_LAT_ZERO, &s);
	ck_assert_uint_eq(s.count, 0);
	ck_assert_uint_eq(s.max_ns, 0);
}
END_TEST

/* --- reset ------------------------------------------------------------- */

START_TEST(test_reset)
{
	struct lego_lat_summary s;
	lg_stat_add(LEGO_STAT_RPCS, 99);
	for (int w = 0; w < LEGO_LAT__COUNT; w++)
		for (int i = 0; i < 100; i++)
			lg_lat_record((enum lego_lat)w, 1000 + (uint64_t)i * 777);
	lg_stats_reset();
	ck_assert_uint_eq(atomic_load(&lg_stat[LEGO_STAT_RPCS]), 0);
	for (int w = 0; w < LEGO_LAT__COUNT; w++) {
		lg_lat_summary((enum lego_lat)w, &s);
		ck_assert_uint_eq(s.count, 0);
		ck_assert_uint_eq(s.max_ns, 0);
		ck_assert_uint_eq(s.p50_ns, 0);
	}
	/* the max starts over: a smaller value after reset is the new max */
	lg_lat_record(LEGO_LAT_MISS, 200);
	lg_lat_summary(LEGO_LAT_MISS, &s);
	ck_assert_uint_eq(s.count, 1);
	ck_assert_uint_eq(s.max_ns, 200);
	ck_assert_uint_eq(s.p50_ns, 200);
}
END_TEST

static Suite *stats_suite(void)
{
	Suite *s = suite_create("stats");
	TCase *tc;

	tc = tcase_create("counters");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_stat_add_sub);
	suite_add_tcase(s, tc);

	tc = tcase_create("percentiles");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_lat_empty);
	tcase_add_test(tc, test_lat_single);
	tcase_add_test(tc, test_lat_two_modes);
	tcase_add_test(tc, test_lat_tail);
	tcase_add_test(tc, test_lat_median_small_count);
	tcase_add_test(tc, test_lat_random_resolution);
	tcase_add_test(tc, test_lat_bucket_edges);
	suite_add_tcase(s, tc);

	tc = tcase_create("extremes");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_lat_tiny);
	tcase_add_test(tc, test_lat_huge);
	tcase_add_test(tc, test_lat_independent);
	suite_add_tcase(s, tc);

	tc = tcase_create("reset");
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_reset);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(stats_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
