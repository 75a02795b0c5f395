/* FIFO eviction: the way filled longest ago goes first. */
#include "excache.h"

static void fifo_fill(struct xc_way *w, uint64_t tick) { w->stamp = tick; }
static void fifo_touch(struct xc_way *w, uint64_t tick) { (void)w, (void)tick; }

/* LRU differs only in refreshing the stamp on use. */
int xc_oldest_way(const struct xc_set *s, uint32_t ways)
{
	int best = -1;
	for (uint32_t i = 0; i < ways; i++) {
		const struct xc_way *w = &s->way[i];
		if (w->state != XC_CLEAN && w->state != XC_DIRTY)
			continue;
		if (best < 0 || w->stamp < s->way[best].stamp)
			best = (int)i;
	}
	return best;
}

const struct xc_policy xc_policy_fifo = {"fifo", fifo_fill, fifo_touch, xc_oldest_way};
