/*
 * Moving granule copies: re-replication after a memnode dies, and drain
 * (docs/cluster.md "Moving granules").
 *
 * The monitor only plans.  A move names a granule of one process, the
 * copy that goes (`from`, 0 when a copy is added) and the memnode that
 * gets a new one (`to`).  The process carries it out: it is the only
 * party that knows which of its write-backs are in flight, so it alone
 * can make the new copy complete (liblego/move.c).  node[] changes when
 * the process reports success; until then the new copy does not count,
 * so a granule whose complete copies all die is lost as before.
 *
 * Every tick:
 *   1. a copy on a memnode that is down, in a granule with a copy on a
 *      memnode that is up, is dropped from node[] (its memnode goes on
 *      the process's `gone` list: the process stops using it for good,
 *      even if it comes back, as its copy misses every write from then);
 *   2. a granule of a process that wants two copies and has one, or with
 *      a copy on a draining memnode, gets a move to a memnode picked by
 *      the placement policy (never one holding the other copy);
 *   3. a draining memnode that holds no copy any more has left: its next
 *      heartbeat reply tells it to go.
 */
#include <errno.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "monitor.h"

static int mon_up(struct mon_reg *r, uint32_t id)
{
	const struct mon_node *n = mon_node_get(r, id);
	return n && n->up;
}

static void mon_gone_add(struct mon_proc *p, uint32_t id)
{
	for (uint32_t i = 0; i < p->ngone; i++)
		if (p->gone[i] == id)
			return;
	if (p->ngone < MON_GONE_MAX)
		p->gone[p->ngone++] = id;
}

/* Remove memnode id's copy from pl->node[] (keeping the others first)
 * and from its count of placements.  1 if it had one, else 0. */
static int mon_place_drop(struct mon_reg *r, struct mon_place *pl, uint32_t id)
{
	for (int j = 0; j < MON_REPLICAS_MAX; j++) {
		if (pl->node[j] != id)
			continue;
		memmove(&pl->node[j], &pl->node[j + 1], (MON_REPLICAS_MAX - 1 - j) * sizeof pl->node[0]);
		pl->node[MON_REPLICAS_MAX - 1] = 0;
		struct mon_node *n = mon_node_get(r, id);
		n->placed -= n->placed ? 1 : 0;
		return 1;
	}
	return 0;
}

/* Step 1 for one granule: drop copies on dead memnodes if a live one is
 * left. */
static void mon_drop_dead(struct mon_reg *r, struct mon_proc *p, struct mon_place *pl)
{
	int live = 0;
	for (int j = 0; j < MON_REPLICAS_MAX; j++)
		live += pl->node[j] && mon_up(r, pl->node[j]);
	if (!live)
		return; /* lost: the heartbeat says so */
	for (int j = MON_REPLICAS_MAX - 1; j >= 0; j--) {
		uint32_t id = pl->node[j];
		if (!id || mon_up(r, id))
			continue;
		mon_gone_add(p, id);
		mon_place_drop(r, pl, id);
		lg_log(LG_INFO, "monitor", "granule %llu of address space %llu: copy on memnode %u "
		       "dropped (down)", (unsigned long long)pl->granule,
		       (unsigned long long)p->as_id, id);
	}
}

/* Step 2 for one granule: plan a move if it needs one. */
static void mon_plan_one(struct mon_reg *r, struct mon_proc *p, struct mon_place *pl)
{
	uint32_t from = 0, keep = 0;
	int ncopies = 0;
	for (int j = 0; j < MON_REPLICAS_MAX; j++) {
		if (!pl->node[j])
			continue;
		ncopies++;
		const struct mon_node *n = mon_node_get(r, pl->node[j]);
		if (n && n->draining && n->up && !from)
			from = n->id;
		else
			keep = pl->node[j];
	}
	if (!ncopies || (keep && !mon_up(r, keep)))
		return; /* nothing to copy from safely */
	if (!from && !(p->replicas > 1 && ncopies < 2))
		return; /* (its one copy is `keep`, checked up above) */
	struct mon_node *to = mon_pick(r, keep);
	if (!to) {
		lg_log_rl(LG_WARN, "monitor", "granule %llu of address space %llu needs a copy on "
			  "another memnode, and none that is up has room; waiting",
			  (unsigned long long)pl->granule, (unsigned long long)p->as_id);
		return;
	}
	pl->move_from = from;
	pl->move_to = to->id;
	to->unreported += 1ull << r->granule_order;
	lg_log(LG_INFO, "monitor", "granule %llu of address space %llu: %s memnode %u to "
	       "memnode %u", (unsigned long long)pl->granule, (unsigned long long)p->as_id,
	       from ? "moving its copy on" : "adding a copy of it on", from ? from : pl->node[0],
	       to->id);
}

uint64_t mon_node_copies(const struct mon_reg *r, uint32_t id)
{
	uint64_t c = 0;
	for (uint32_t i = 0; i < r->nprocs; i++) {
		const struct mon_proc *p = r->procs[i];
		for (uint32_t k = 0; k < p->nplaces; k++)
			for (int j = 0; j < MON_REPLICAS_MAX; j++)
				c += p->places[k].node[j] == id;
	}
	return c;
}

void mon_moves_plan(struct mon_reg *r, uint64_t now)
{
	for (uint32_t i = 0; i < r->nprocs; i++) {
		struct mon_proc *p = r->procs[i];
		int plan = now >= p->move_retry_ns;
		for (uint32_t k = 0; k < p->nplaces; k++) {
			struct mon_place *pl = &p->places[k];
			mon_drop_dead(r, p, pl);
			if (plan && !pl->move_to)
				mon_plan_one(r, p, pl);
		}
	}
	for (uint32_t i = 0; i < r->nnodes; i++) {
		struct mon_node *n = &r->nodes[i];
		if (!n->draining || n->left || mon_node_copies(r, n->id))
			continue;
		n->left = 1;
		lg_log(LG_INFO, "monitor", "memnode %u drained (%llu copies moved off it): it leaves "
		       "the cluster", n->id, (unsigned long long)n->moved_off);
	}
}

uint32_t mon_moves_pending(const struct mon_proc *p)
{
	uint32_t c = 0;
	for (uint32_t k = 0; k < p->nplaces; k++)
		c += p->places[k].move_to != 0;
	return c;
}

int mon_move_done(struct mon_reg *r, struct mon_proc *p, uint64_t granule, uint32_t from,
		  uint32_t to, int status)
{
	struct mon_place *pl = NULL;
	for (uint32_t k = 0; k < p->nplaces && !pl; k++)
		if (p->places[k].granule == granule)
			pl = &p->places[k];
	/* to 0 matches every granule with no move planned: not a move */
	if (!pl || !to || pl->move_to != to || pl->move_from != from)
		return -ENOENT;
	pl->move_to = pl->move_from = 0;
	struct mon_node *t = mon_node_get(r, to);
	/* -ESTALE: the process gave up its copy on `from` (it missed writes
	 * while the move ran): it is gone from node[] too, and a copy is
	 * added again by the next plan */
	if (status == -ESTALE && from)
		mon_place_drop(r, pl, from);
	if (status) {
		lg_log(LG_WARN, "monitor", "address space %llu could not move granule %llu to "
		       "memnode %u: %s; trying again in a second", (unsigned long long)p->as_id,
		       (unsigned long long)granule, to, strerror(-status));
		p->move_retry_ns = lg_now_ns() + 1000000000ull;
		return 0;
	}
	/* as the process did: the copy that went (or one on a dead memnode,
	 * which step 1 may not have dropped yet) leaves, the new one joins */
	if (from && mon_place_drop(r, pl, from))
		mon_node_get(r, from)->moved_off++;
	int j = 0;
	while (j < MON_REPLICAS_MAX && pl->node[j])
		j++;
	if (j == MON_REPLICAS_MAX) /* cannot be: a copy is added only to one */
		return -EEXIST;
	pl->node[j] = to;
	t->placed++;
	if (pl->node[1])
		lg_log(LG_INFO, "monitor", "granule %llu of address space %llu: copies on memnodes "
		       "%u and %u", (unsigned long long)granule, (unsigned long long)p->as_id,
		       pl->node[0], pl->node[1]);
	else
		lg_log(LG_INFO, "monitor", "granule %llu of address space %llu: on memnode %u",
		       (unsigned long long)granule, (unsigned long long)p->as_id, pl->node[0]);
	return 0;
}

int mon_drain(struct mon_reg *r, uint32_t id, struct lego_drain_rep *rep)
{
	struct mon_node *n = mon_node_get(r, id);
	if (!n)
		return -ENOENT;
	if (!n->up && !n->left)
		return -EHOSTDOWN;
	if (!n->draining) {
		int others = 0;
		for (uint32_t i = 0; i < r->nnodes; i++)
			others += r->nodes[i].up && !r->nodes[i].draining && r->nodes[i].id != id;
		if (!others)
			return -ENOSPC;
		n->draining = 1;
		lg_log(LG_INFO, "monitor", "draining memnode %u: %llu granule copies to move",
		       id, (unsigned long long)mon_node_copies(r, id));
	}
	rep->state = n->left ? LEGO_NODE_LEFT : LEGO_NODE_DRAINING;
	rep->remaining = mon_node_copies(r, id);
	rep->moved = n->moved_off;
	return 0;
}
