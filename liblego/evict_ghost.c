/*
 * Ghost lines.  User space sees no access to a resident line, so FIFO and
 * LRU evict a hot line when its turn comes, and it comes straight back as
 * a miss.  That return is what the cache can see: a line missed soon after
 * its eviction (still in a table of the lines evicted last, direct-mapped,
 * a slot per line the cache holds) is one the program keeps using, as in
 * Linux's refault distance.  Such a line gets chances: when its turn
 * comes, it loses one and goes to the back of its set's order instead.
 * Each return raises its level (up to 3), and its chances with it, so the
 * hottest lines survive up to four rounds of their set.  The table is a
 * hint, read and written without locks: a lost or stale slot costs one
 * chance more or less.
 */
#include "excache.h"

#include <errno.h>

#include "common/util.h"

int xc_ghost_init(struct xc_ghost *g, uint64_t lines)
{
	g->bits = 1;
	while ((1ull << g->bits) < lines)
		g->bits++;
	g->slot = lg_local_alloc(sizeof *g->slot << g->bits);
	return g->slot ? 0 : -ENOMEM;
}

void xc_ghost_fini(struct xc_ghost *g)
{
	if (g->slot)
		lg_local_free((void *)g->slot, sizeof *g->slot << g->bits);
	g->slot = NULL;
}

/* A slot holds (line + 1) << 4 | level; 0 is empty. */
static _Atomic uint64_t *xc_ghost_slot(struct xc_ghost *g, uint64_t line)
{
	return &g->slot[(line * 0x9e3779b97f4a7c15ull) >> (64 - g->bits)];
}

uint8_t xc_ghost_take(struct xc_ghost *g, uint64_t line)
{
	_Atomic uint64_t *sl = xc_ghost_slot(g, line);
	uint64_t e = atomic_load_explicit(sl, memory_order_relaxed);
	if (e >> 4 != line + 1)
		return 0;
	atomic_store_explicit(sl, 0, memory_order_relaxed);
	uint8_t lvl = (uint8_t)LG_MIN((e & 15) + 1, XC_GHOST_LEVEL_MAX);
	return (uint8_t)(lvl << 4 | lvl);
}

int xc_ghost_victim(struct xc_ghost *g, struct xc_set *s, uint32_t ways, _Atomic uint64_t *tick)
{
	uint8_t ord[64]; /* the evictable ways by stamp (insertion sort; ways <= 64) */
	uint32_t n = 0;
	for (uint32_t i = 0; i < ways && i < 64; i++) {
		const struct xc_way *w = &s->way[i];
		if (w->state != XC_CLEAN && w->state != XC_DIRTY)
			continue;
		uint32_t j = n++;
		for (; j && s->way[ord[j - 1]].stamp > w->stamp; j--)
			ord[j] = ord[j - 1];
		ord[j] = (uint8_t)i;
	}
	if (!n)
		return -1;
	/* round and round in that order (a new stamp keeps it): chances only
	 * go down, so some way runs out */
	for (uint32_t k = 0;; k = k + 1 < n ? k + 1 : 0) {
		struct xc_way *w = &s->way[ord[k]];
		if (w->heat & 15) {
			w->heat--;
			w->stamp = atomic_fetch_add(tick, 1);
			continue;
		}
		atomic_store_explicit(xc_ghost_slot(g, w->line), (w->line + 1) << 4 | (uint64_t)(w->heat >> 4),
				      memory_order_relaxed);
		return ord[k];
	}
}
