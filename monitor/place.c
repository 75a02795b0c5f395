/*
 * Placement policies (see place.h), one pick function each:
 *
 *   free     most free capacity: capacity - reserved - unreported, where
 *            unreported is what was placed since the node's last heartbeat
 *            (its `reserved` cannot show that yet; without it a burst of
 *            placements between two heartbeats would all land on one node)
 *   rr       round robin: the next memnode in id order after the one
 *            placed on last
 *   traffic  least bytes/s read and written over the last heartbeat
 *            interval; between equals (idle nodes, or a burst of
 *            placements before the rates move) the fewest placements since
 *            the last heartbeat, then the most free capacity
 *
 * rr and traffic pass over nodes whose estimated free capacity is zero;
 * when every node is full they fall back to free, and the memnode's own
 * reservation check answers ENOMEM.  Runs in the monitor's event loop.
 */
#include "place.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"

/* Pick among the nodes that are up, other than `not` (an id, 0: none). */
typedef struct mon_node *(*mon_pick_fn)(struct mon_reg *r, uint32_t not);

/* Can n take new copies? */
static int mon_takes(const struct mon_node *n)
{
	return n->up && !n->draining;
}

static uint64_t mon_free(const struct mon_node *n)
{
	uint64_t used = n->reserved + n->unreported;
	return n->capacity > used ? n->capacity - used : 0;
}

/* Ties go to the lowest id (the table is in id order). */
static struct mon_node *pick_free(struct mon_reg *r, uint32_t not)
{
	struct mon_node *best = NULL;
	for (uint32_t i = 0; i < r->nnodes; i++) {
		struct mon_node *n = &r->nodes[i];
		if (mon_takes(n) && n->id != not && (!best || mon_free(n) > mon_free(best)))
			best = n;
	}
	return best;
}

static struct mon_node *pick_rr(struct mon_reg *r, uint32_t not)
{
	/* node id k sits at index k - 1: the one after rr_last is at rr_last */
	for (uint32_t k = 0; k < r->nnodes; k++) {
		struct mon_node *n = &r->nodes[(r->rr_last + k) % r->nnodes];
		if (mon_takes(n) && n->id != not && mon_free(n))
			return n;
	}
	return pick_free(r, not);
}

static int traffic_less(const struct mon_node *a, const struct mon_node *b)
{
	if (a->traffic != b->traffic)
		return a->traffic < b->traffic;
	if (a->unreported != b->unreported)
		return a->unreported < b->unreported;
	return mon_free(a) > mon_free(b);
}

static struct mon_node *pick_traffic(struct mon_reg *r, uint32_t not)
{
	struct mon_node *best = NULL;
	for (uint32_t i = 0; i < r->nnodes; i++) {
		struct mon_node *n = &r->nodes[i];
		if (mon_takes(n) && n->id != not && mon_free(n) && (!best || traffic_less(n, best)))
			best = n;
	}
	return best ? best : pick_free(r, not);
}

static const struct {
	const char *name;
	mon_pick_fn pick;
} mon_policies[] = {
	[LEGO_PLACE_FREE] = {"free", pick_free},
	[LEGO_PLACE_RR] = {"rr", pick_rr},
	[LEGO_PLACE_TRAFFIC] = {"traffic", pick_traffic},
};

struct mon_node *mon_pick(struct mon_reg *r, uint32_t not)
{
	mon_pick_fn pick = r->placement < LG_ARRAY_SIZE(mon_policies) ?
			   mon_policies[r->placement].pick : pick_free;
	return pick(r, not);
}

const char *mon_placement_name(uint32_t policy)
{
	return policy < LG_ARRAY_SIZE(mon_policies) ? mon_policies[policy].name : "?";
}

/* Index of the first place of p whose granule is >= g. */
static uint32_t mon_place_idx(const struct mon_proc *p, uint64_t g)
{
	uint32_t lo = 0, hi = p->nplaces;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (p->places[mid].granule < g)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct mon_node *mon_place(struct mon_reg *r, struct mon_proc *p, uint64_t granule,
			   struct mon_node **replica)
{
	struct mon_node *dummy;
	if (!replica)
		replica = &dummy;
	/* a placed granule stays where it is, even on a node that is down:
	 * its data is there */
	uint32_t k = mon_place_idx(p, granule);
	if (k < p->nplaces && p->places[k].granule == granule) {
		*replica = mon_node_get(r, p->places[k].node[1]);
		return mon_node_get(r, p->places[k].node[0]);
	}
	struct mon_node *best = mon_pick(r, 0);
	if (!best)
		return NULL;
	/* the replica: the same policy among the other nodes; with none, the
	 * granule has one copy (the process is told, and warns) until a
	 * second memnode comes up (move.c adds it then) */
	struct mon_node *second = p->replicas > 1 ? mon_pick(r, best->id) : NULL;
	if (p->nplaces == p->cap_places) {
		uint32_t nc = p->cap_places ? p->cap_places * 2 : 8;
		struct mon_place *np = realloc(p->places, nc * sizeof *np);
		if (!np)
			return NULL;
		p->places = np;
		p->cap_places = nc;
	}
	/* granules are mostly first used in ascending order: k is the end */
	memmove(&p->places[k + 1], &p->places[k], (p->nplaces - k) * sizeof *p->places);
	p->places[k] = (struct mon_place){.granule = granule,
					  .node = {best->id, second ? second->id : 0}};
	p->nplaces++;
	best->placed++;
	best->unreported += 1ull << r->granule_order;
	if (second) {
		second->placed++;
		second->unreported += 1ull << r->granule_order;
	}
	r->rr_last = best->id;
	char also[24] = "";
	if (second)
		snprintf(also, sizeof also, " and %u", second->id);
	lg_log(LG_INFO, "monitor", "granule %llu of address space %llu placed on memnode %u%s (%s)",
	       (unsigned long long)granule, (unsigned long long)p->as_id, best->id, also,
	       mon_placement_name(r->placement));
	*replica = second;
	if (p->replicas > 1 && !second)
		lg_log_rl(LG_WARN, "monitor", "address space %llu wants %u copies but only one "
			  "memnode is up: granule %llu has one", (unsigned long long)p->as_id,
			  p->replicas, (unsigned long long)granule);
	return best;
}
