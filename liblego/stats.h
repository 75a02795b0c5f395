/*
 * Process counters (the list is LEGO_STATS_LIST in lego.h) and latency
 * histograms.  Counters are relaxed atomics; histograms have log-linear
 * buckets (8 per power of two) from 128 ns to ~69 s.  All async-signal-safe.
 */
#ifndef LEGO_STATS_H
#define LEGO_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#include "lego/lego.h"

extern _Atomic uint64_t lg_stat[LEGO_STAT__COUNT];

static inline void lg_stat_add(enum lego_stat s, uint64_t n)
{
	atomic_fetch_add_explicit(&lg_stat[s], n, memory_order_relaxed);
}

static inline void lg_stat_sub(enum lego_stat s, uint64_t n)
{
	atomic_fetch_sub_explicit(&lg_stat[s], n, memory_order_relaxed);
}

void lg_lat_record(enum lego_lat which, uint64_t ns);
void lg_lat_summary(enum lego_lat which, struct lego_lat_summary *out);
void lg_stats_reset(void);

#endif
