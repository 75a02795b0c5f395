/*
 * lego-monitor request handlers (the RPC server has checked header,
 * session, role and body size from this table before they run).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/stats_list.h"
#include "common/util.h"
#include "monitor.h"

/* Reply with the address space of p: its capability, the lease and the
 * granule size (registration and fork). */
static int mon_reply_as(struct rpc_ctx *ctx, struct monitor *m, struct mon_proc *p)
{
	struct lego_p2mon_register_rep *rep = rpc_reply_alloc(ctx, sizeof *rep);
	if (!rep)
		return -ENOMEM;
	memset(rep, 0, sizeof *rep);
	mon_proc_cap(&m->reg, p, &rep->as);
	rep->lease_ms = (uint32_t)(m->reg.lease_ns / 1000000);
	rep->granule_order = m->reg.granule_order;
	return 0;
}

/* The process whose address space a lego_p2mon_as_req names, or NULL. */
static struct mon_proc *mon_req_proc(struct rpc_ctx *ctx, struct lego_p2mon_as_req *req)
{
	struct monitor *m = ctx->user;
	memcpy(req, ctx->body, sizeof *req);
	return mon_proc_find(&m->reg, &req->as);
}

static int h_p_register(struct rpc_ctx *ctx)
{
	struct monitor *m = ctx->user;
	struct lego_p2mon_register_req req;
	memcpy(&req, ctx->body, sizeof req);
	if (req.line_order < 12 || req.line_order > 21)
		return -EINVAL;
	req.host[LEGO_HOST_MAX - 1] = 0;
	req.host_id[sizeof req.host_id - 1] = 0;
	/* the name goes into "key:value" lines (stats, legoctl procs): no
	 * line breaks, nor other control characters, from the wire */
	for (char *c = req.host; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	int local = strcmp(req.host_id, lg_host_id()) == 0;
	/* a process may ask for less than the cluster's quota, never more */
	uint64_t quota = req.quota;
	if (m->reg.quota && (!quota || quota > m->reg.quota))
		quota = m->reg.quota;
	struct mon_proc *p = mon_proc_register(&m->reg, req.pid, req.host, local, req.line_order,
					       quota);
	if (!p)
		return -ENOMEM;
	memcpy(p->host_id, req.host_id, sizeof p->host_id);
	p->conn = rpc_sconn_tag(ctx->conn);
	p->replicas = LG_MAX(LG_MIN(req.replicas, 2u), LG_MAX(m->reg.replicas, 1u));
	int r = mon_reply_as(ctx, m, p);
	if (r)
		return r;
	lg_log(LG_INFO, "monitor", "process %u on %s registered: address space %llu", req.pid,
	       req.host, (unsigned long long)p->as_id);
	return 0;
}

/* Add id to a LEGO_HB_LOST_MAX list once. */
static void mon_id_add(uint32_t *ids, uint32_t *n, uint32_t id)
{
	for (uint32_t i = 0; i < *n; i++)
		if (ids[i] == id)
			return;
	if (*n < LEGO_HB_LOST_MAX)
		ids[(*n)++] = id;
}

static int h_p_heartbeat(struct rpc_ctx *ctx)
{
	struct monitor *m = ctx->user;
	struct lego_p2mon_as_req req;
	struct mon_proc *p = mon_req_proc(ctx, &req);
	if (!p)
		return -ESRCH;
	p->last_ns = lg_now_ns();
	p->conn = rpc_sconn_tag(ctx->conn);
	if (req.pid && p->pid != req.pid) /* a forked child introduces itself */
		mon_proc_set_pid(p, req.pid);
	if (p->lapsed) {
		lg_log(LG_INFO, "monitor", "process %u (address space %llu) renews its lease again",
		       p->pid, (unsigned long long)p->as_id);
		p->lapsed = 0;
	}
	/* granules with no copy on a memnode that is up: that memory is lost,
	 * and the process must hear it now rather than hang on a fault */
	struct lego_p2mon_hb_rep *rep = rpc_reply_alloc(ctx, sizeof *rep);
	if (!rep)
		return -ENOMEM;
	memset(rep, 0, sizeof *rep);
	for (uint32_t k = 0; k < p->nplaces; k++) {
		const struct mon_place *pl = &p->places[k];
		int alive = 0;
		for (int j = 0; j < MON_REPLICAS_MAX && !alive; j++) {
			const struct mon_node *n = mon_node_get(&m->reg, pl->node[j]);
			alive = n && n->up;
		}
		if (alive) { /* copies on nodes that are down: the process drops them */
			for (int j = 0; j < MON_REPLICAS_MAX; j++) {
				const struct mon_node *d = mon_node_get(&m->reg, pl->node[j]);
				if (d && !d->up)
					mon_id_add(rep->down, &rep->nr_down, d->id);
			}
			continue;
		}
		const struct mon_node *n = mon_node_get(&m->reg, pl->node[0]);
		if (!n)
			continue;
		if (!rep->nr_lost)
			rep->silent_ms = (uint32_t)((p->last_ns - n->last_hb_ns) / 1000000);
		mon_id_add(rep->lost, &rep->nr_lost, n->id);
	}
	for (uint32_t i = 0; i < p->ngone; i++)
		mon_id_add(rep->down, &rep->nr_down, p->gone[i]);
	/* memnodes that were drained: the process forgets them too (a fork
	 * would ask them to clone its address space) */
	for (uint32_t i = 0; i < m->reg.nnodes; i++)
		if (m->reg.nodes[i].left)
			mon_id_add(rep->down, &rep->nr_down, m->reg.nodes[i].id | LEGO_HB_LEFT);
	rep->moves = mon_moves_pending(p);
	return 0;
}

/* P2MON_MOVES: the moves planned for this process (move.c). */
static int h_p_moves(struct rpc_ctx *ctx)
{
	struct monitor *m = ctx->user;
	struct lego_p2mon_as_req req;
	struct mon_proc *p = mon_req_proc(ctx, &req);
	if (!p)
		return -ESRCH;
	uint32_t n = LG_MIN(mon_moves_pending(p), (uint32_t)LEGO_MOVES_MAX);
	struct lego_moves_rep *rep = rpc_reply_alloc(ctx, sizeof *rep + n * sizeof(struct lego_move));
	if (!rep)
		return -ENOMEM;
	memset(rep, 0, sizeof *rep + n * sizeof(struct lego_move));
	struct lego_move *mv = (struct lego_move *)(rep + 1);
	for (uint32_t k = 0; k < p->nplaces && rep->count < n; k++) {
		const struct mon_place *pl = &p->places[k];
		const struct mon_node *to = mon_node_get(&m->reg, pl->move_to);
		if (!to)
			continue;
		mv[rep->count].granule = pl->granule;
		mv[rep->count].from = pl->move_from;
		mv[rep->count].to = to->addr;
		rep->count++;
	}
	return 0;
}

static int h_p_moved(struct rpc_ctx *ctx)
{
	struct monitor *m = ctx->user;
	struct lego_p2mon_moved_req req;
	memcpy(&req, ctx->body, sizeof req);
	struct mon_proc *p = mon_proc_find(&m->reg, &req.as);
	if (!p)
		return -ESRCH;
	return mon_move_done(&m->reg, p, req.granule, req.from, req.to, req.status);
}

static int h_t_drain(struct rpc_ctx *ctx)
{
	struct monitor *m = ctx->user;
	struct lego_drain_req req;
	memcpy(&req, ctx->body, sizeof req);
	struct lego_drain_rep rep = {0};
	int r = mon_drain(&m->reg, req.node_id, &rep);
	if (r)
		return r;
	void *out = rpc_reply_alloc(ctx, sizeof rep);
	if (!out)
		return -ENOMEM;
	memcpy(out, &rep, sizeof rep);
	return 0;
}

static int h_p_stats(struct rpc_ctx *ctx)
{
	struct lego_p2mon_as_req req;
	struct mon_proc *p = mon_req_proc(ctx, &req);
	if (!p)
		return -ESRCH;
	size_t len = ctx->body_len - sizeof req;
	char *t = realloc(p->stats, len + 1);
	if (!t)
		return -ENOMEM;
	memcpy(t, ctx->body + sizeof req, len);
	t[len] = 0;
	p->stats = t;
	p->stats_len = strnlen(t, len);
	p->stats_ns = p->last_ns = lg_now_ns();
	return 0;
}

static int h_t_procs(struct rpc_ctx *ctx)
{
	struct monitor *m = ctx->user;
	struct lego_procs_req req;
	memcpy(&req, ctx->body, sizeof req);
	size_t cap = 0, n = 0;
	for (uint32_t i = 0; i < m->reg.nprocs; i++)
		if (!req.pid || m->reg.procs[i]->pid == req.pid)
			cap += m->reg.procs[i]->stats_len + LEGO_HOST_MAX + 128;
	if (req.pid && !cap)
		return -ESRCH;
	cap = LG_MIN(cap, (size_t)LEGO_MSG_PAYLOAD_MAX);
	char *buf = malloc(cap + 1);
	if (!buf)
		return -ENOMEM;
	uint64_t now = lg_now_ns();
	for (uint32_t i = 0; i < m->reg.nprocs; i++) {
		struct mon_proc *p = m->reg.procs[i];
		if (req.pid && p->pid != req.pid)
			continue;
		size_t was = n;
		n = lg_bprintf(buf, cap + 1, n, "%sproc:%u\nhost:%s\nas_id:%llu\nstats_age_ms:%lld\n%s",
			       n ? "\n" : "", p->pid, p->host, (unsigned long long)p->as_id,
			       p->stats ? (long long)((now - p->stats_ns) / 1000000) : -1LL,
			       p->stats ? p->stats : "");
		if (n >= cap && was) { /* whole records only: the rest does not fit */
			lg_log_rl(LG_WARN, "monitor", "process list cut at %zu bytes", was);
			n = was;
			break;
		}
	}
	n = LG_MIN(n, cap);
	void *out = n ? rpc_reply_alloc(ctx, n) : NULL;
	if (out)
		memcpy(out, buf, n);
	free(buf);
	return n && !out ? -ENOMEM : 0;
}

static int h_p_fork(struct rpc_ctx *ctx)
{
	struct monitor *m = ctx->user;
	struct lego_p2mon_as_req req;
	struct mon_proc *p = mon_req_proc(ctx, &req);
	if (!p)
		return -ESRCH;
	struct mon_proc *c = mon_proc_fork(&m->reg, p);
	if (!c)
		return -ENOMEM;
	int r = mon_reply_as(ctx, m, c);
	if (r)
		return r;
	lg_log(LG_INFO, "monitor", "process %u forks: child address space %llu", p->pid,
	       (unsigned long long)c->as_id);
	return 0;
}

static int h_p_exit(struct rpc_ctx *ctx)
{
	struct monitor *m = ctx->user;
	struct lego_p2mon_as_req req;
	struct mon_proc *p = mon_req_proc(ctx, &req);
	if (!p)
		return -ESRCH;
	m->reg.procs_exited++;
	p->conn = 0; /* it says bye on it next */
	mon_proc_remove(&m->reg, p, "exited");
	return 0;
}

static int h_p_place(struct rpc_ctx *ctx)
{
	struct monitor *m = ctx->user;
	struct lego_p2mon_place_req req;
	memcpy(&req, ctx->body, sizeof req);
	struct mon_proc *p = mon_proc_find(&m->reg, &req.as);
	if (!p)
		return -ESRCH;
	struct mon_node *two = NULL;
	struct mon_node *n = mon_place(&m->reg, p, req.granule, &two);
	if (!n)
		return -ENOMEM;
	struct lego_p2mon_place_rep *rep = rpc_reply_alloc(ctx, sizeof *rep);
	if (!rep)
		return -ENOMEM;
	memset(rep, 0, sizeof *rep);
	rep->granule = req.granule;
	rep->node = n->addr;
	if (two)
		rep->replica = two->addr;
	return 0;
}

static int h_m_register(struct rpc_ctx *ctx)
{
	struct monitor *m = ctx->user;
	struct lego_m2mon_register_req req;
	memcpy(&req, ctx->body, sizeof req);
	if (req.addr.net_len == 0 || req.addr.net_len > LEGO_ADDR_MAX || req.capacity == 0)
		return -EINVAL;
	req.addr.shm[LEGO_HOST_MAX - 1] = 0;
	req.addr.host_id[sizeof req.addr.host_id - 1] = 0;
	struct mon_node *n = mon_node_register(&m->reg, &req.addr, req.capacity);
	if (!n)
		return -ENOMEM;
	struct lego_m2mon_register_rep *rep = rpc_reply_alloc(ctx, sizeof *rep);
	if (!rep)
		return -ENOMEM;
	rep->node_id = n->id;
	rep->heartbeat_ms = m->heartbeat_ms;
	memcpy(rep->secret, m->reg.secret, sizeof rep->secret);
	char cap[32];
	lg_log(LG_INFO, "monitor", "memnode %u registered (%s, shm %s)", n->id,
	       lg_format_size(req.capacity, cap, sizeof cap), n->addr.shm[0] ? n->addr.shm : "none");
	return 0;
}

static int h_m_heartbeat(struct rpc_ctx *ctx)
{
	struct monitor *m = ctx->user;
	struct lego_m2mon_heartbeat_req req;
	memcpy(&req, ctx->body, sizeof req);
	struct mon_node *n = mon_node_get(&m->reg, req.node_id);
	if (!n)
		return -ENOENT;
	mon_node_heartbeat(n, &req, lg_now_ns());
	struct lego_m2mon_heartbeat_rep *rep = rpc_reply_alloc(ctx, sizeof *rep);
	if (!rep)
		return -ENOMEM;
	memset(rep, 0, sizeof *rep);
	uint32_t k = LG_MIN(n->npending, (uint32_t)LEGO_HB_FREE_MAX);
	memcpy(rep->free_as, n->pending_free, k * sizeof(uint64_t));
	rep->nr_free = k;
	memmove(n->pending_free, n->pending_free + k, (n->npending - k) * sizeof(uint64_t));
	n->npending -= k;
	if (n->left)
		rep->flags |= LEGO_HB_LEAVE;
	return 0;
}

/* P2MON_FILES: which memnode serves this process's files (its page cache):
 * the one on the process's host, else the lowest id. */
static int h_p_files(struct rpc_ctx *ctx)
{
	struct monitor *m = ctx->user;
	struct lego_p2mon_as_req req;
	struct mon_proc *p = mon_req_proc(ctx, &req);
	if (!p)
		return -ESRCH;
	struct mon_node *n = mon_files_node(&m->reg, p->host_id);
	if (!n)
		return -ENOENT;
	struct lego_node_addr *rep = rpc_reply_alloc(ctx, sizeof *rep);
	if (!rep)
		return -ENOMEM;
	*rep = n->addr;
	return 0;
}

static int h_s_register(struct rpc_ctx *ctx)
{
	struct monitor *m = ctx->user;
	struct lego_m2mon_register_req req;
	memcpy(&req, ctx->body, sizeof req);
	if (req.addr.net_len == 0 || req.addr.net_len > LEGO_ADDR_MAX)
		return -EINVAL;
	req.addr.shm[LEGO_HOST_MAX - 1] = 0;
	req.addr.host_id[sizeof req.addr.host_id - 1] = 0;
	struct mon_node *st = mon_store_register(&m->reg, &req.addr, req.capacity);
	if (!st)
		return -ENOMEM;
	struct lego_m2mon_register_rep *rep = rpc_reply_alloc(ctx, sizeof *rep);
	if (!rep)
		return -ENOMEM;
	memset(rep, 0, sizeof *rep); /* secret unused: storenodes check no capability */
	rep->node_id = st->id;
	rep->heartbeat_ms = m->heartbeat_ms;
	char cap[32];
	lg_log(LG_INFO, "monitor", "storenode %u registered (%s free, shm %s)%s", st->id,
	       lg_format_size(req.capacity, cap, sizeof cap), st->addr.shm[0] ? st->addr.shm : "none",
	       mon_store_serving(&m->reg) == st ? "; it serves files" : "");
	return 0;
}

static int h_s_heartbeat(struct rpc_ctx *ctx)
{
	struct monitor *m = ctx->user;
	struct lego_m2mon_heartbeat_req req;
	memcpy(&req, ctx->body, sizeof req);
	struct mon_node *st = mon_store_get(&m->reg, req.node_id);
	if (!st)
		return -ENOENT;
	if (!st->up) {
		lg_log(LG_WARN, "monitor", "storenode %u is back", st->id);
		st->up = 1;
	}
	st->last_hb_ns = lg_now_ns();
	mon_node_alive(st, req.pid);
	st->capacity = req.capacity;
	st->stored = req.stored;
	return 0;
}

/* M2MON_STORE: the storenode that serves files. */
static int h_m_store(struct rpc_ctx *ctx)
{
	struct monitor *m = ctx->user;
	struct mon_node *st = mon_store_serving(&m->reg);
	if (!st)
		return -ENOENT;
	struct lego_node_addr *rep = rpc_reply_alloc(ctx, sizeof *rep);
	if (!rep)
		return -ENOMEM;
	*rep = st->addr;
	return 0;
}

#define P RPC_ROLE_BIT(LEGO_ROLE_PROCESS)
#define M RPC_ROLE_BIT(LEGO_ROLE_MEMNODE)
#define S RPC_ROLE_BIT(LEGO_ROLE_STORENODE)
#define T RPC_ROLE_BIT(LEGO_ROLE_TOOL)
#define SZ(t) sizeof(t), sizeof(t)
const struct rpc_handler monitor_handlers[] = {
	{P2MON_REGISTER, SZ(struct lego_p2mon_register_req), P, h_p_register, 0},
	{P2MON_HEARTBEAT, SZ(struct lego_p2mon_as_req), P, h_p_heartbeat, 0},
	{P2MON_EXIT, SZ(struct lego_p2mon_as_req), P, h_p_exit, 0},
	{P2MON_PLACE, SZ(struct lego_p2mon_place_req), P, h_p_place, 0},
	{P2MON_FORK, SZ(struct lego_p2mon_as_req), P, h_p_fork, 0},
	{M2MON_REGISTER, SZ(struct lego_m2mon_register_req), M, h_m_register, 0},
	{M2MON_HEARTBEAT, SZ(struct lego_m2mon_heartbeat_req), M, h_m_heartbeat, 0},
	{P2MON_FILES, SZ(struct lego_p2mon_as_req), P, h_p_files, 0},
	{P2MON_STATS, sizeof(struct lego_p2mon_as_req),
	 sizeof(struct lego_p2mon_as_req) + LEGO_STATS_TEXT_MAX, P, h_p_stats, 0},
	{T2MON_PROCS, SZ(struct lego_procs_req), RPC_ROLE_BIT(LEGO_ROLE_TOOL), h_t_procs, RPC_H_RERUN},
	{T2MON_STATUS, 0, 0, T, mon_view_status, RPC_H_RERUN},
	{T2MON_NODES, SZ(struct lego_nodes_req), T, mon_view_nodes, RPC_H_RERUN},
	{T2MON_PLACES, SZ(struct lego_places_req), T, mon_view_places, RPC_H_RERUN},
	{P2MON_MOVES, SZ(struct lego_p2mon_as_req), P, h_p_moves, 0},
	{P2MON_MOVED, SZ(struct lego_p2mon_moved_req), P, h_p_moved, 0},
	{T2MON_DRAIN, SZ(struct lego_drain_req), T, h_t_drain, 0},
	{S2MON_REGISTER, SZ(struct lego_m2mon_register_req), S, h_s_register, 0},
	{S2MON_HEARTBEAT, SZ(struct lego_m2mon_heartbeat_req), S, h_s_heartbeat, 0},
	{M2MON_STORE, 0, 0, M | T, h_m_store, 0},
};
#undef P
#undef M
#undef S
#undef T
#undef SZ
const size_t monitor_nhandlers = LG_ARRAY_SIZE(monitor_handlers);

/* The F lines of MONITOR_STATS_LIST, each a loop over its own list. */
struct mon_node_values {
	MONITOR_NODE_STATS_LIST(LG_STAT_FIELD_U)
};

static size_t mon_stats_nodes(const struct mon_reg *r, char *buf, size_t cap, size_t n)
{
	for (uint32_t i = 0; i < r->nnodes; i++) {
		const struct mon_node *nd = &r->nodes[i];
		uint32_t idx = nd->id;
		struct mon_node_values v = {
			.up = (uint64_t)nd->up,
			.capacity = nd->capacity,
			.reserved = nd->reserved,
			.stored = nd->stored,
			.granules = nd->placed,
			.traffic = nd->traffic,
		};
		MONITOR_NODE_STATS_LIST(LG_STAT_PUT_IU)
	}
	return n;
}

struct mon_store_values {
	MONITOR_STORE_STATS_LIST(LG_STAT_FIELD_U)
};

static size_t mon_stats_stores(const struct mon_reg *r, char *buf, size_t cap, size_t n)
{
	for (uint32_t i = 0; i < r->nstores; i++) {
		const struct mon_node *st = &r->stores[i];
		uint32_t idx = st->id;
		struct mon_store_values v = {
			.up = (uint64_t)st->up,
			.free = st->capacity, /* a storenode reports its free space there */
			.used = st->stored,
		};
		MONITOR_STORE_STATS_LIST(LG_STAT_PUT_IU)
	}
	return n;
}

struct mon_proc_values {
	MONITOR_PROC_STATS_LIST(LG_STAT_FIELD_U, LG_STAT_FIELD_S)
};

static size_t mon_stats_procs(const struct mon_reg *r, char *buf, size_t cap, size_t n)
{
	for (uint32_t i = 0; i < r->nprocs; i++) {
		const struct mon_proc *p = r->procs[i];
		uint64_t idx = p->as_id;
		struct mon_proc_values v = {
			.pid = p->pid,
			.host = p->host,
			.granules = p->nplaces,
		};
		MONITOR_PROC_STATS_LIST(LG_STAT_PUT_IU, LG_STAT_PUT_IS)
	}
	return n;
}

struct mon_values {
	MONITOR_STATS_LIST(LG_STAT_FIELD_U, LG_STAT_FIELD_S, LG_STAT_NONE)
};

size_t monitor_stats(void *user, char *buf, size_t cap)
{
	struct monitor *m = user;
	struct mon_reg *r = &m->reg;
	uint32_t up = 0, sup = 0;
	for (uint32_t i = 0; i < r->nnodes; i++)
		up += r->nodes[i].up;
	for (uint32_t i = 0; i < r->nstores; i++)
		sup += r->stores[i].up;
	struct mon_node *serving = mon_store_serving(r);
	struct mon_values v = {
		.role = "monitor",
		.memnodes = r->nnodes,
		.memnodes_up = up,
		.processes = r->nprocs,
		.placement = mon_placement_name(r->placement),
		.processes_registered = r->procs_registered,
		.processes_exited = r->procs_exited,
		.processes_expired = r->procs_expired,
		.storenodes = r->nstores,
		.storenodes_up = sup,
		.storenodes_down_events = r->stores_down,
		.storenode_serving = serving ? serving->id : 0,
	};
	size_t n = 0;
#define MON_PUT_F(id, key, doc) n = mon_stats_##id(r, buf, cap, n);
	MONITOR_STATS_LIST(LG_STAT_PUT_U, LG_STAT_PUT_S, MON_PUT_F)
#undef MON_PUT_F
	return n;
}
