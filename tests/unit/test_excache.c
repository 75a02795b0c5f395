/*
 * Unit tests for the ExCache eviction policies (liblego/excache.h,
 * evict_fifo.c, evict_lru.c) on hand-built sets: FIFO picks the way filled
 * longest ago and ignores touches; LRU refreshes on touch; FILLING and
 * INVALID ways are never victims; no evictable way gives -1; only the
 * first `ways` ways count; and a one-set cache driven by each policy
 * evicts exactly what a reference FIFO or LRU model evicts.  The ghost
 * table (evict_ghost.c): a line evicted lately comes back one level up,
 * once; the walk passes over ways with chances left, each losing one and
 * going to the back, and ends when one runs out.
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "liblego/excache.h"

/* A set of n ways, all INVALID. */
static struct xc_set *set_new(uint32_t n)
{
	struct xc_set *s = calloc(1, sizeof(struct xc_set) + n * sizeof(struct xc_way));
	ck_assert_ptr_nonnull(s);
	for (uint32_t i = 0; i < n; i++) {
		s->way[i].state = XC_INVALID;
		s->way[i].line = UINT64_MAX;
	}
	return s;
}

/* Fill way i with line `line` at `tick` through policy p. */
static void fill(const struct xc_policy *p, struct xc_set *s, uint32_t i, uint64_t line,
		 uint64_t tick, enum xc_state state)
{
	s->way[i].line = line;
	s->way[i].state = state;
	p->fill(&s->way[i], tick);
}

/* --- FIFO -------------------------------------------------------------- */

START_TEST(test_fifo_oldest)
{
	static const uint64_t ticks[8] = {50, 30, 80, 10, 70, 20, 60, 40};
	struct xc_set *s = set_new(8);
	for (uint32_t i = 0; i < 8; i++)
		fill(&xc_policy_fifo, s, i, 100 + i, ticks[i], i % 2 ? XC_DIRTY : XC_CLEAN);
	ck_assert_uint_eq(s->way[2].stamp, 80);
	ck_assert_int_eq(xc_policy_fifo.victim(s, 8), 3); /* tick 10, DIRTY */
	/* evicting in turn goes through the ways in fill order */
	static const int order[8] = {3, 5, 1, 7, 0, 6, 4, 2};
	for (int k = 0; k < 8; k++) {
		int v = xc_policy_fifo.victim(s, 8);
		ck_assert_int_eq(v, order[k]);
		s->way[v].state = XC_INVALID;
	}
	ck_assert_int_eq(xc_policy_fifo.victim(s, 8), -1);
	free(s);
}
END_TEST

START_TEST(test_fifo_touch_ignored)
{
	struct xc_set *s = set_new(4);
	for (uint32_t i = 0; i < 4; i++)
		fill(&xc_policy_fifo, s, i, i, 10 + i, XC_CLEAN);
	ck_assert_int_eq(xc_policy_fifo.victim(s, 4), 0);
	/* touching the oldest, repeatedly and late, changes nothing */
	xc_policy_fifo.touch(&s->way[0], 1000);
	xc_policy_fifo.touch(&s->way[0], 2000);
	ck_assert_uint_eq(s->way[0].stamp, 10);
	ck_assert_int_eq(xc_policy_fifo.victim(s, 4), 0);
	/* becoming dirty (the first write) does not change the order */
	s->way[0].state = XC_DIRTY;
	xc_policy_fifo.touch(&s->way[0], 3000);
	ck_assert_int_eq(xc_policy_fifo.victim(s, 4), 0);
	/* a refill does */
	fill(&xc_policy_fifo, s, 0, 99, 4000, XC_CLEAN);
	ck_assert_int_eq(xc_policy_fifo.victim(s, 4), 1);
	free(s);
}
END_TEST

/* --- states that are never evicted ------------------------------------- */

static void check_skips_unevictable(const struct xc_policy *p)
{
	struct xc_set *s = set_new(6);
	for (uint32_t i = 0; i < 6; i++)
		fill(p, s, i, i, 10 * (i + 1), XC_CLEAN);
	ck_assert_int_eq(p->victim(s, 6), 0);
	/* the oldest is being filled: never a victim */
	s->way[0].state = XC_FILLING;
	ck_assert_int_eq(p->victim(s, 6), 1);
	/* an invalid way is free, not a victim */
	s->way[1].state = XC_INVALID;
	ck_assert_int_eq(p->victim(s, 6), 2);
	s->way[2].state = XC_DIRTY;
	ck_assert_int_eq(p->victim(s, 6), 2);
	/* a stale small stamp on an INVALID or FILLING way does not matter */
	s->way[1].stamp = 0;
	s->way[0].stamp = 0;
	ck_assert_int_eq(p->victim(s, 6), 2);
	/* an unknown state is not evictable either */
	s->way[2].state = 7;
	ck_assert_int_eq(p->victim(s, 6), 3);
	free(s);
}

START_TEST(test_skip_filling_invalid_fifo)
{
	check_skips_unevictable(&xc_policy_fifo);
}
END_TEST

START_TEST(test_skip_filling_invalid_lru)
{
	check_skips_unevictable(&xc_policy_lru);
}
END_TEST

START_TEST(test_no_victim)
{
	const struct xc_policy *pol[2] = {&xc_policy_fifo, &xc_policy_lru};
	for (int k = 0; k < 2; k++) {
		const struct xc_policy *p = pol[k];
		struct xc_set *s = set_new(8);
		/* all INVALID */
		ck_assert_int_eq(p->victim(s, 8), -1);
		/* all FILLING */
		for (uint32_t i = 0; i < 8; i++)
			fill(p, s, i, i, i + 1, XC_FILLING);
		ck_assert_int_eq(p->victim(s, 8), -1);
		/* FILLING and INVALID mixed */
		for (uint32_t i = 0; i < 8; i += 2)
			s->way[i].state = XC_INVALID;
		ck_assert_int_eq(p->victim(s, 8), -1);
		/* one evictable way among them is the victim */
		s->way[5].state = XC_DIRTY;
		ck_assert_int_eq(p->victim(s, 8), 5);
		/* no ways at all */
		ck_assert_int_eq(p->victim(s, 0), -1);
		free(s);
	}
}
END_TEST

START_TEST(test_ways_bound)
{
	/* Only the first `ways` ways belong to the set. */
	struct xc_set *s = set_new(8);
	for (uint32_t i = 0; i < 8; i++)
		fill(&xc_policy_fifo, s, i, i, 100 - i, XC_CLEAN); /* way 7 oldest */
	ck_assert_int_eq(xc_policy_fifo.victim(s, 8), 7);
	ck_assert_int_eq(xc_policy_fifo.victim(s, 4), 3);
	ck_assert_int_eq(xc_policy_fifo.victim(s, 1), 0);
	free(s);
}
END_TEST

START_TEST(test_ties_and_wide)
{
	/* 64 ways (the largest LEGO_EXCACHE_WAYS), equal stamps: the victim is
	 * an evictable way with the smallest stamp. */
	struct xc_set *s = set_new(64);
	for (uint32_t i = 0; i < 64; i++)
		fill(&xc_policy_lru, s, i, i, 5, XC_CLEAN);
	s->way[0].state = XC_FILLING;
	int v = xc_policy_lru.victim(s, 64);
	ck_assert_int_ge(v, 1);
	ck_assert_int_lt(v, 64);
	ck_assert_uint_eq(s->way[v].stamp, 5);
	/* one smaller stamp at the far end wins */
	s->way[63].stamp = 4;
	ck_assert_int_eq(xc_policy_lru.victim(s, 64), 63);
	/* stamps near the top of the range compare correctly */
	for (uint32_t i = 0; i < 64; i++)
		s->way[i].stamp = UINT64_MAX - 100 + i;
	s->way[0].state = XC_CLEAN;
	s->way[0].stamp = UINT64_MAX;
	ck_assert_int_eq(xc_policy_lru.victim(s, 64), 1);
	free(s);
}
END_TEST

/* --- LRU --------------------------------------------------------------- */

START_TEST(test_lru_touch)
{
	struct xc_set *s = set_new(4);
	for (uint32_t i = 0; i < 4; i++)
		fill(&xc_policy_lru, s, i, i, 10 + i, XC_CLEAN);
	ck_assert_int_eq(xc_policy_lru.victim(s, 4), 0);
	/* touching the oldest makes it the newest */
	xc_policy_lru.touch(&s->way[0], 20);
	ck_assert_uint_eq(s->way[0].stamp, 20);
	ck_assert_int_eq(xc_policy_lru.victim(s, 4), 1);
	xc_policy_lru.touch(&s->way[1], 21);
	xc_policy_lru.touch(&s->way[2], 22);
	ck_assert_int_eq(xc_policy_lru.victim(s, 4), 3);
	xc_policy_lru.touch(&s->way[3], 23);
	ck_assert_int_eq(xc_policy_lru.victim(s, 4), 0);
	/* a refill counts as a use too */
	fill(&xc_policy_lru, s, 0, 9, 24, XC_CLEAN);
	ck_assert_int_eq(xc_policy_lru.victim(s, 4), 1);
	free(s);
}
END_TEST

START_TEST(test_policy_table)
{
	ck_assert_str_eq(xc_policy_fifo.name, "fifo");
	ck_assert_str_eq(xc_policy_lru.name, "lru");
	ck_assert_ptr_nonnull(xc_policy_fifo.fill);
	ck_assert_ptr_nonnull(xc_policy_fifo.touch);
	ck_assert_ptr_nonnull(xc_policy_fifo.victim);
	ck_assert_ptr_nonnull(xc_policy_lru.fill);
	ck_assert_ptr_nonnull(xc_policy_lru.touch);
	ck_assert_ptr_nonnull(xc_policy_lru.victim);
	/* the shared helper is what both use */
	struct xc_set *s = set_new(3);
	fill(&xc_policy_fifo, s, 0, 0, 9, XC_CLEAN);
	fill(&xc_policy_fifo, s, 1, 1, 3, XC_DIRTY);
	fill(&xc_policy_fifo, s, 2, 2, 6, XC_CLEAN);
	ck_assert_int_eq(xc_oldest_way(s, 3), 1);
	ck_assert_int_eq(xc_policy_fifo.victim(s, 3), xc_oldest_way(s, 3));
	ck_assert_int_eq(xc_policy_lru.victim(s, 3), xc_oldest_way(s, 3));
	free(s);
}
END_TEST

/* --- a one-set cache against reference models -------------------------- */

/* Reference: a list of resident lines, index 0 evicted first.  FIFO
 * appends on insert only; LRU also moves a line to the back on a hit. */
struct ref_cache {
	uint64_t l[64];
	uint32_t n, ways;
	int lru;
};

/* Access line; returns the line evicted, or UINT64_MAX. */
static uint64_t ref_access(struct ref_cache *r, uint64_t line)
{
	for (uint32_t i = 0; i < r->n; i++) {
		if (r->l[i] != line)
			continue;
		if (r->lru) {
			memmove(&r->l[i], &r->l[i + 1], (r->n - i - 1) * sizeof r->l[0]);
			r->l[r->n - 1] = line;
		}
		return UINT64_MAX;
	}
	uint64_t out = UINT64_MAX;
	if (r->n == r->ways) {
		out = r->l[0];
		memmove(&r->l[0], &r->l[1], (r->n - 1) * sizeof r->l[0]);
		r->n--;
	}
	r->l[r->n++] = line;
	return out;
}

/* The same through a set and a policy, as the ExCache drives them. */
static uint64_t set_access(const struct xc_policy *p, struct xc_set *s, uint32_t ways,
			   uint64_t line, uint64_t *tick)
{
	int free_way = -1;
	for (uint32_t i = 0; i < ways; i++) {
		struct xc_way *w = &s->way[i];
		if ((w->state == XC_CLEAN || w->state == XC_DIRTY) && w->line == line) {
			if (w->state == XC_CLEAN && (line & 1)) /* odd lines get written */
				w->state = XC_DIRTY;
			p->touch(w, ++*tick);
			return UINT64_MAX;
		}
		if (w->state == XC_INVALID && free_way < 0)
			free_way = (int)i;
	}
	uint64_t out = UINT64_MAX;
	if (free_way < 0) {
		free_way = p->victim(s, ways);
		ck_assert_int_ge(free_way, 0);
		out = s->way[free_way].line;
		s->way[free_way].state = XC_INVALID;
	}
	struct xc_way *w = &s->way[free_way];
	w->state = XC_FILLING;
	w->line = line;
	/* while FILLING it must not be chosen */
	if (ways > 1) {
		int v = p->victim(s, ways);
		ck_assert_int_ne(v, free_way);
	}
	w->state = XC_CLEAN;
	p->fill(w, ++*tick);
	return out;
}

static void check_against_model(const struct xc_policy *p, int lru)
{
	static const uint32_t way_counts[] = {1, 2, 4, 8, 16};
	for (size_t wc = 0; wc < sizeof way_counts / sizeof way_counts[0]; wc++) {
		uint32_t ways = way_counts[wc];
		struct xc_set *s = set_new(ways);
		struct ref_cache r = {.n = 0, .ways = ways, .lru = lru};
		uint64_t tick = 0, x = 2463534242ull + wc, evictions = 0, hits = 0;
		for (int it = 0; it < 20000; it++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			/* a skewed working set a bit larger than the set */
			uint64_t line = (x % 4) ? x % (ways + 1) : x % (3 * ways + 2);
			uint64_t want = ref_access(&r, line);
			uint64_t got = set_access(p, s, ways, line, &tick);
			ck_assert_msg(got == want,
				      "%s, %u ways, access %d (line %llu): evicted %lld, model %lld",
				      p->name, ways, it, (unsigned long long)line, (long long)got,
				      (long long)want);
			evictions += want != UINT64_MAX;
			hits += want == UINT64_MAX;
		}
		/* the trace exercised both hits and evictions */
		ck_assert_uint_gt(evictions, 100);
		ck_assert_uint_gt(hits, 100);
		free(s);
	}
}

START_TEST(test_fifo_model)
{
	check_against_model(&xc_policy_fifo, 0);
}
END_TEST

START_TEST(test_lru_model)
{
	check_against_model(&xc_policy_lru, 1);
}
END_TEST

START_TEST(test_policies_differ)
{
	/* On A B A C (2 ways) FIFO evicts A, LRU evicts B. */
	struct xc_set *s = set_new(2);
	uint64_t tick = 0;
	set_access(&xc_policy_fifo, s, 2, 10, &tick);
	set_access(&xc_policy_fifo, s, 2, 20, &tick);
	set_access(&xc_policy_fifo, s, 2, 10, &tick);
	ck_assert_uint_eq(set_access(&xc_policy_fifo, s, 2, 30, &tick), 10);
	free(s);
	s = set_new(2);
	tick = 0;
	set_access(&xc_policy_lru, s, 2, 10, &tick);
	set_access(&xc_policy_lru, s, 2, 20, &tick);
	set_access(&xc_policy_lru, s, 2, 10, &tick);
	ck_assert_uint_eq(set_access(&xc_policy_lru, s, 2, 30, &tick), 20);
	free(s);
}
END_TEST

/* --- ghost table ------------------------------------------------------- */

/* Set s's way i: line, stamp, heat, CLEAN. */
static void ghost_way(struct xc_set *s, uint32_t i, uint64_t line, uint64_t stamp, uint8_t heat)
{
	s->way[i].line = line;
	s->way[i].stamp = stamp;
	s->way[i].heat = heat;
	s->way[i].state = XC_CLEAN;
}

/* A ghost table for 64 lines and a set of 4 CLEAN ways holding lines
 * 10-13, stamped 1-4 (way 0 oldest), none hot. */
static struct xc_set *ghost_setup(struct xc_ghost *g)
{
	ck_assert_int_eq(xc_ghost_init(g, 64), 0);
	struct xc_set *s = set_new(4);
	for (uint32_t i = 0; i < 4; i++)
		ghost_way(s, i, 10 + i, 1 + i, 0);
	return s;
}

START_TEST(test_ghost_levels)
{
	struct xc_ghost g;
	_Atomic uint64_t tick = 100;
	struct xc_set *s = ghost_setup(&g);
	ck_assert_int_eq(xc_ghost_take(&g, 10), 0); /* never evicted */
	ck_assert_int_eq(xc_ghost_victim(&g, s, 4, &tick), 0);
	ck_assert_int_eq(xc_ghost_take(&g, 11), 0);     /* not that one */
	ck_assert_int_eq(xc_ghost_take(&g, 10), 0x11);  /* back: level 1, one chance */
	ck_assert_int_eq(xc_ghost_take(&g, 10), 0);     /* once */
	/* evicted at level 2 (its chances spent): back at 3; at 3: stays 3 */
	ghost_way(s, 0, 10, 1, 0x20);
	ck_assert_int_eq(xc_ghost_victim(&g, s, 4, &tick), 0);
	ck_assert_int_eq(xc_ghost_take(&g, 10), 0x33);
	ghost_way(s, 0, 10, 1, 0x30);
	ck_assert_int_eq(xc_ghost_victim(&g, s, 4, &tick), 0);
	ck_assert_int_eq(xc_ghost_take(&g, 10), 0x33);
	ck_assert_uint_eq(atomic_load(&tick), 100); /* no way passed over */
	xc_ghost_fini(&g);
	ck_assert_ptr_null(g.slot);
	free(s);
}
END_TEST

START_TEST(test_ghost_passes_hot)
{
	struct xc_ghost g;
	_Atomic uint64_t tick = 100;
	struct xc_set *s = ghost_setup(&g);
	s->way[0].heat = 0x11; /* the oldest, with a chance */
	ck_assert_int_eq(xc_ghost_victim(&g, s, 4, &tick), 1);
	ck_assert_int_eq(s->way[0].heat, 0x10);
	ck_assert_uint_eq(s->way[0].stamp, 100); /* to the back */
	/* then the order is 1 (gone), 2, 3, 0 */
	s->way[1].state = XC_INVALID;
	ck_assert_int_eq(xc_ghost_victim(&g, s, 4, &tick), 2);
	s->way[2].state = XC_FILLING;
	ck_assert_int_eq(xc_ghost_victim(&g, s, 4, &tick), 3);
	s->way[3].state = XC_EVICTING;
	ck_assert_int_eq(xc_ghost_victim(&g, s, 4, &tick), 0);
	s->way[0].state = XC_INVALID;
	ck_assert_int_eq(xc_ghost_victim(&g, s, 4, &tick), -1);
	xc_ghost_fini(&g);
	free(s);
}
END_TEST

START_TEST(test_ghost_all_hot)
{
	struct xc_ghost g;
	_Atomic uint64_t tick = 100;
	struct xc_set *s = ghost_setup(&g);
	/* stamps out of way order: the walk goes 2, 0, 3, 1, 2, 0, ... */
	ghost_way(s, 0, 10, 2, 0x22);
	ghost_way(s, 1, 11, 4, 0x11);
	ghost_way(s, 2, 12, 1, 0x33);
	ghost_way(s, 3, 13, 3, 0x11);
	/* 2: 3->2, 0: 2->1, 3: 1->0, 1: 1->0, 2: 2->1, 0: 1->0, 3: none left */
	ck_assert_int_eq(xc_ghost_victim(&g, s, 4, &tick), 3);
	ck_assert_int_eq(s->way[0].heat, 0x20);
	ck_assert_int_eq(s->way[1].heat, 0x10);
	ck_assert_int_eq(s->way[2].heat, 0x31);
	ck_assert_int_eq(s->way[3].heat, 0x10);
	ck_assert_uint_eq(atomic_load(&tick), 106);
	ck_assert_int_eq(xc_ghost_take(&g, 13), 0x22); /* left at level 1 */
	xc_ghost_fini(&g);
	free(s);
}
END_TEST

static Suite *excache_suite(void)
{
	Suite *s = suite_create("excache");
	TCase *tc;

	tc = tcase_create("fifo");
	tcase_add_test(tc, test_fifo_oldest);
	tcase_add_test(tc, test_fifo_touch_ignored);
	suite_add_tcase(s, tc);

	tc = tcase_create("lru");
	tcase_add_test(tc, test_lru_touch);
	suite_add_tcase(s, tc);

	tc = tcase_create("unevictable");
	tcase_add_test(tc, test_skip_filling_invalid_fifo);
	tcase_add_test(tc, test_skip_filling_invalid_lru);
	tcase_add_test(tc, test_no_victim);
	suite_add_tcase(s, tc);

	tc = tcase_create("set_shape");
	tcase_add_test(tc, test_ways_bound);
	tcase_add_test(tc, test_ties_and_wide);
	tcase_add_test(tc, test_policy_table);
	suite_add_tcase(s, tc);

	tc = tcase_create("model");
	tcase_add_test(tc, test_fifo_model);
	tcase_add_test(tc, test_lru_model);
	tcase_add_test(tc, test_policies_differ);
	suite_add_tcase(s, tc);

	tc = tcase_create("ghost");
	tcase_add_test(tc, test_ghost_levels);
	tcase_add_test(tc, test_ghost_passes_hot);
	tcase_add_test(tc, test_ghost_all_hot);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(excache_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
