/*
 * What the monitor shows tools (legoctl status, nodes, procs): fixed-width
 * records, so a tool needs no text parsing and a reply's size is known
 * before it is built.  A reply never exceeds LEGO_VIEW_MAX bytes; a list
 * that does not fit says `more` and the tool continues after the last
 * entry it got (node ids and address-space ids only grow, so a list read
 * in pages skips nothing that was there throughout).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "fabric/wire.h"
#include "monitor.h"

int mon_view_status(struct rpc_ctx *ctx)
{
	struct monitor *m = ctx->user;
	struct mon_reg *r = &m->reg;
	struct lego_mon_status *st = rpc_reply_alloc(ctx, sizeof *st);
	if (!st)
		return -ENOMEM;
	memset(st, 0, sizeof *st);
	st->memnodes = r->nnodes;
	for (uint32_t i = 0; i < r->nnodes; i++) {
		struct mon_node *n = &r->nodes[i];
		st->granules += n->placed;
		if (!n->up)
			continue;
		st->memnodes_up++;
		st->capacity += n->capacity;
		st->reserved += n->reserved;
		st->stored += n->stored;
	}
	st->storenodes = r->nstores;
	for (uint32_t i = 0; i < r->nstores; i++)
		st->storenodes_up += r->stores[i].up;
	st->processes = r->nprocs;
	st->placement = r->placement;
	st->granule_order = r->granule_order;
	st->procs_registered = r->procs_registered;
	st->procs_exited = r->procs_exited;
	st->procs_expired = r->procs_expired;
	st->nodes_down = r->nodes_down;
	st->uptime_ms = (lg_now_ns() - r->start_ns) / 1000000;
	return 0;
}

int mon_view_nodes(struct rpc_ctx *ctx)
{
	struct monitor *m = ctx->user;
	struct mon_reg *r = &m->reg;
	struct lego_nodes_req req;
	memcpy(&req, ctx->body, sizeof req);
	struct mon_node *tab;
	uint32_t n;
	if (req.role == LEGO_ROLE_MEMNODE) {
		tab = r->nodes;
		n = r->nnodes;
	} else if (req.role == LEGO_ROLE_STORENODE) {
		tab = r->stores;
		n = r->nstores;
	} else {
		return -EINVAL;
	}
	/* ids are 1..n at index id - 1: the first after `after` is at `after` */
	uint32_t first = LG_MIN(req.after, n);
	uint32_t fit = (uint32_t)((LEGO_VIEW_MAX - sizeof(struct lego_nodes_rep)) /
				  sizeof(struct lego_node_info));
	uint32_t count = LG_MIN(n - first, fit);
	uint8_t *out = rpc_reply_alloc(ctx, sizeof(struct lego_nodes_rep) +
						 count * sizeof(struct lego_node_info));
	if (!out)
		return -ENOMEM;
	struct lego_nodes_rep rep = {.total = n, .count = count, .more = first + count < n};
	memcpy(out, &rep, sizeof rep);
	uint64_t now = lg_now_ns();
	for (uint32_t i = 0; i < count; i++) {
		const struct mon_node *nd = &tab[first + i];
		struct lego_node_info in;
		memset(&in, 0, sizeof in);
		in.id = nd->id;
		in.role = req.role;
		in.up = nd->left ? LEGO_NODE_LEFT
			: !nd->up ? LEGO_NODE_DOWN
			: nd->draining ? LEGO_NODE_DRAINING : LEGO_NODE_UP;
		in.nr_as = nd->nr_as;
		in.capacity = nd->capacity;
		in.reserved = nd->reserved;
		in.stored = nd->stored;
		in.granules = nd->placed;
		in.read_bytes = nd->read_bytes;
		in.write_bytes = nd->write_bytes;
		in.traffic = nd->traffic;
		in.hb_age_ms = now > nd->last_hb_ns ? (now - nd->last_hb_ns) / 1000000 : 0;
		lw_node_addr_str(&nd->addr, in.addr, sizeof in.addr);
		memcpy(out + sizeof rep + i * sizeof in, &in, sizeof in);
	}
	return 0;
}

static int mon_by_as_id(const void *a, const void *b)
{
	const struct mon_proc *p = *(struct mon_proc *const *)a, *q = *(struct mon_proc *const *)b;
	return p->as_id < q->as_id ? -1 : p->as_id > q->as_id;
}

/* Append p's record at buf + len: its granule counts per memnode (primary
 * copies, and all copies).  counts[] (two per memnode id: primaries at
 * [id], copies at [nnodes + 1 + id]) is zero on entry and on return.
 * Returns the new length, or 0 when the record does not fit in cap; the
 * first record of a reply (len == header) always goes in, its node list
 * cut to fit if need be (the granule total stays exact). */
static size_t mon_place_record(struct mon_reg *r, const struct mon_proc *p, uint32_t *counts,
			       uint8_t *buf, size_t len, size_t cap)
{
	struct lego_proc_place rec;
	memset(&rec, 0, sizeof rec);
	rec.as_id = p->as_id;
	rec.pid = p->pid;
	rec.granules = p->nplaces;
	snprintf(rec.host, sizeof rec.host, "%s", p->host);
	uint32_t nodes = 0, *copies = counts + r->nnodes + 1;
	for (uint32_t k = 0; k < p->nplaces; k++)
		for (int j = 0; j < MON_REPLICAS_MAX; j++) {
			uint32_t id = p->places[k].node[j];
			if (id < 1 || id > r->nnodes)
				continue;
			counts[id] += j == 0;
			if (copies[id]++ == 0)
				nodes++;
		}
	size_t need = sizeof rec + nodes * sizeof(struct lego_place_count);
	int first = len == sizeof(struct lego_places_rep);
	size_t at = len + sizeof rec;
	for (uint32_t id = 1; id <= r->nnodes; id++) {
		if (!copies[id])
			continue;
		if ((first || len + need <= cap) && cap - at >= sizeof(struct lego_place_count)) {
			struct lego_place_count c = {.node_id = id, .granules = counts[id],
						     .copies = copies[id]};
			memcpy(buf + at, &c, sizeof c);
			at += sizeof c;
			rec.nr_nodes++;
		}
		counts[id] = copies[id] = 0;
	}
	if (!first && len + need > cap)
		return 0;
	memcpy(buf + len, &rec, sizeof rec);
	return at;
}

int mon_view_places(struct rpc_ctx *ctx)
{
	struct monitor *m = ctx->user;
	struct mon_reg *r = &m->reg;
	struct lego_places_req req;
	memcpy(&req, ctx->body, sizeof req);
	struct lego_places_rep rep = {.granule_order = r->granule_order};
	struct mon_proc **sel = malloc((r->nprocs + 1) * sizeof *sel);
	uint32_t *counts = calloc(2 * (r->nnodes + 1), sizeof *counts);
	uint8_t *buf = malloc(LEGO_VIEW_MAX);
	int ret = -ENOMEM;
	if (!sel || !counts || !buf)
		goto out;
	uint32_t nsel = 0;
	for (uint32_t i = 0; i < r->nprocs; i++) {
		struct mon_proc *p = r->procs[i];
		if (req.pid && p->pid != req.pid)
			continue;
		rep.total++;
		if (p->as_id > req.after)
			sel[nsel++] = p;
	}
	ret = -ESRCH;
	if (req.pid && !rep.total)
		goto out;
	qsort(sel, nsel, sizeof *sel, mon_by_as_id);
	size_t len = sizeof rep;
	for (uint32_t i = 0; i < nsel; i++) {
		size_t nl = mon_place_record(r, sel[i], counts, buf, len, LEGO_VIEW_MAX);
		if (!nl) {
			rep.more = 1;
			break;
		}
		len = nl;
		rep.count++;
	}
	memcpy(buf, &rep, sizeof rep);
	ret = -ENOMEM;
	void *out = rpc_reply_alloc(ctx, len);
	if (!out)
		goto out;
	memcpy(out, buf, len);
	ret = 0;
out:
	free(sel);
	free(counts);
	free(buf);
	return ret;
}
