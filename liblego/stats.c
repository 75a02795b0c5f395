/* Counters and latency histograms (see stats.h). */
#define _GNU_SOURCE
#include "stats.h"

#include <string.h>

_Atomic uint64_t lg_stat[LEGO_STAT__COUNT];

#define LAT_SUB 8        /* buckets per power of two */
#define LAT_MIN_SHIFT 7  /* first bucket: < 128 ns */
#define LAT_POWERS 30
#define LAT_BUCKETS (LAT_POWERS * LAT_SUB)

static _Atomic uint64_t lat_hist[LEGO_LAT__COUNT][LAT_BUCKETS];
static _Atomic uint64_t lat_max[LEGO_LAT__COUNT];
static _Atomic uint64_t lat_sum[LEGO_LAT__COUNT];

static unsigned lat_bucket(uint64_t ns)
{
	if (ns < (1ull << LAT_MIN_SHIFT))
		return 0;
	unsigned p = 63u - (unsigned)__builtin_clzll(ns); /* floor log2 */
	unsigned sub = (unsigned)((ns >> (p - 3)) & (LAT_SUB - 1));
	unsigned b = (p - LAT_MIN_SHIFT + 1) * LAT_SUB + sub - LAT_SUB + 1;
	return b < LAT_BUCKETS ? b : LAT_BUCKETS - 1;
}

/* Upper bound of a bucket, in ns. */
static uint64_t lat_bucket_top(unsigned b)
{
	if (b == 0)
		return 1ull << LAT_MIN_SHIFT;
	unsigned k = b + LAT_SUB - 1;
	unsigned p = k / LAT_SUB + LAT_MIN_SHIFT - 1, sub = k % LAT_SUB;
	return (1ull << p) + ((uint64_t)(sub + 1) << (p - 3));
}

void lg_lat_record(enum lego_lat which, uint64_t ns)
{
	atomic_fetch_add_explicit(&lat_hist[which][lat_bucket(ns)], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&lat_sum[which], ns, memory_order_relaxed);
	uint64_t m = atomic_load_explicit(&lat_max[which], memory_order_relaxed);
	while (ns > m &&
	       !atomic_compare_exchange_weak_explicit(&lat_max[which], &m, ns, memory_order_relaxed,
						      memory_order_relaxed))
		;
}

void lg_lat_summary(enum lego_lat which, struct lego_lat_summary *out)
{
	uint64_t h[LAT_BUCKETS], total = 0;
	for (unsigned i = 0; i < LAT_BUCKETS; i++) {
		h[i] = atomic_load_explicit(&lat_hist[which][i], memory_order_relaxed);
		total += h[i];
	}
	memset(out, 0, sizeof *out);
	out->count = total;
	out->max_ns = atomic_load_explicit(&lat_max[which], memory_order_relaxed);
	if (!total)
		return;
	out->mean_ns = atomic_load_explicit(&lat_sum[which], memory_order_relaxed) / total;
	const double q[3] = {0.5, 0.99, 0.999};
	uint64_t *dst[3] = {&out->p50_ns, &out->p99_ns, &out->p999_ns};
	for (int k = 0; k < 3; k++) {
		/* the rank of the q-quantile sample, rounded up */
		double w = (double)total * q[k];
		uint64_t want = (uint64_t)w, acc = 0;
		if ((double)want < w || want == 0)
			want++;
		for (unsigned i = 0; i < LAT_BUCKETS; i++) {
			acc += h[i];
			if (acc >= want) {
				uint64_t top = lat_bucket_top(i);
				*dst[k] = top < out->max_ns ? top : out->max_ns;
				break;
			}
		}
	}
}

void lg_stats_reset(void)
{
	for (int i = 0; i < LEGO_STAT__COUNT; i++)
		atomic_store(&lg_stat[i], 0);
	for (int w = 0; w < LEGO_LAT__COUNT; w++) {
		for (int i = 0; i < LAT_BUCKETS; i++)
			atomic_store(&lat_hist[w][i], 0);
		atomic_store(&lat_max[w], 0);
		atomic_store(&lat_sum[w], 0);
	}
}
