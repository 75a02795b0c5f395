/*
 * Unit tests for the monitor's placement (monitor/place.h) and the
 * registry's bookkeeping around it: each policy (free, rr, traffic)
 * spreads a burst of placements, skips memnodes that are down and uses a
 * memnode that registers at once; a placed granule stays put; traffic
 * rates come from heartbeats; removing a process gives back exactly the
 * granules it had on each memnode and queues one free per memnode; a
 * registration's host name stays one line.  And
 * the tool views (monitor/views.c): status figures, per-process counts per
 * memnode, and lists longer than one reply read in pages, each within
 * LEGO_VIEW_MAX, every entry once.  And moves (monitor/move.c):
 * re-replication after a death (at once, or when a memnode joins), drain
 * of sole copies and of replicas, failed moves, drain's refusals, and a
 * report of a move that was never planned.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "monitor/monitor.h"
#include "srv_stat.h"

#define GORDER 21 /* 2 MiB granules */
#define GB (1ull << 30)

static struct monitor mon;
#define reg (mon.reg)

static void setup(void)
{
	ck_assert_int_eq(mon_reg_init(&reg, GORDER, 5000000000ull, 3000000000ull), 0);
}

static void teardown(void)
{
	while (reg.nprocs)
		mon_proc_remove(&reg, reg.procs[0], "test over");
	free(reg.procs);
	free(reg.nodes);
	free(reg.stores);
	memset(&reg, 0, sizeof reg);
}

/* A memnode at 10.0.<k>:7100 (only the bytes matter here). */
static struct mon_node *add_node(uint16_t k, uint64_t capacity)
{
	struct lego_node_addr a;
	memset(&a, 0, sizeof a);
	a.net_prov = LEGO_PROV_TCP;
	a.net_len = 16;
	a.net[0] = 2; /* AF_INET */
	a.net[4] = 10;
	a.net[6] = (uint8_t)(k >> 8);
	a.net[7] = (uint8_t)k;
	struct mon_node *n = mon_node_register(&reg, &a, capacity);
	ck_assert_ptr_nonnull(n);
	return n;
}

static struct mon_proc *add_proc(uint32_t pid)
{
	struct mon_proc *p = mon_proc_register(&reg, pid, "host", 0, 12, 0);
	ck_assert_ptr_nonnull(p);
	return p;
}

/* Place granules [first, first + n) of p; returns the node id of each in
 * ids (if given). */
static void place_n(struct mon_proc *p, uint64_t first, unsigned n, uint32_t *ids)
{
	for (unsigned i = 0; i < n; i++) {
		struct mon_node *nd = mon_place(&reg, p, first + i, NULL);
		ck_assert_ptr_nonnull(nd);
		if (ids)
			ids[i] = nd->id;
	}
}

/* A heartbeat from n with these figures, at time now. */
static void beat(struct mon_node *n, uint64_t reserved, uint64_t bytes, uint64_t now)
{
	struct lego_m2mon_heartbeat_req hb = {.node_id = n->id, .capacity = n->capacity,
					      .reserved = reserved, .read_bytes = bytes / 2,
					      .write_bytes = bytes - bytes / 2};
	mon_node_heartbeat(n, &hb, now);
}

START_TEST(test_free_spreads_burst)
{
	/* between two heartbeats, placements count as reserved already: a
	 * burst goes round the equal nodes instead of onto the first */
	reg.placement = LEGO_PLACE_FREE;
	for (int i = 0; i < 3; i++)
		add_node((uint16_t)(i + 1), 4 * GB);
	struct mon_proc *p = add_proc(100);
	place_n(p, 0, 30, NULL);
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(reg.nodes[i].placed, 10);
}
END_TEST

START_TEST(test_free_most_free)
{
	reg.placement = LEGO_PLACE_FREE;
	struct mon_node *a = add_node(1, 4 * GB), *b = add_node(2, 4 * GB);
	beat(a, 3 * GB, 0, lg_now_ns());
	beat(b, 1 * GB, 0, lg_now_ns());
	struct mon_proc *p = add_proc(100);
	ck_assert_uint_eq(mon_place(&reg, p, 0, NULL)->id, b->id);
	/* a larger node that registers now is the most free */
	struct mon_node *c = add_node(3, 16 * GB);
	ck_assert_uint_eq(mon_place(&reg, p, 1, NULL)->id, c->id);
}
END_TEST

START_TEST(test_rr_order_down_and_join)
{
	reg.placement = LEGO_PLACE_RR;
	for (int i = 0; i < 3; i++)
		add_node((uint16_t)(i + 1), 4 * GB);
	struct mon_proc *p = add_proc(100);
	uint32_t ids[6];
	place_n(p, 0, 6, ids);
	uint32_t want[6] = {1, 2, 3, 1, 2, 3};
	for (int i = 0; i < 6; i++)
		ck_assert_uint_eq(ids[i], want[i]);
	reg.nodes[1].up = 0; /* memnode 2 down: skipped */
	place_n(p, 6, 4, ids);
	uint32_t want2[4] = {1, 3, 1, 3};
	for (int i = 0; i < 4; i++)
		ck_assert_uint_eq(ids[i], want2[i]);
	add_node(4, 4 * GB); /* joins: in the very next round */
	place_n(p, 10, 3, ids);
	uint32_t want3[3] = {4, 1, 3};
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(ids[i], want3[i]);
}
END_TEST

START_TEST(test_rr_skips_full)
{
	reg.placement = LEGO_PLACE_RR;
	struct mon_node *a = add_node(1, 4 * GB), *b = add_node(2, 4 * GB);
	beat(a, 4 * GB, 0, lg_now_ns()); /* full */
	(void)b;
	struct mon_proc *p = add_proc(100);
	uint32_t ids[3];
	place_n(p, 0, 3, ids);
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(ids[i], 2);
}
END_TEST

START_TEST(test_traffic_least)
{
	reg.placement = LEGO_PLACE_TRAFFIC;
	struct mon_node *a = add_node(1, 4 * GB), *b = add_node(2, 4 * GB), *c = add_node(3, 4 * GB);
	uint64_t t = lg_now_ns();
	for (int i = 0; i < 3; i++)
		beat(&reg.nodes[i], 0, 0, t);
	/* over the next second: a moves 300 MB, b 100 MB, c 200 MB */
	beat(a, 0, 300000000, t + 1000000000ull);
	beat(b, 0, 100000000, t + 1000000000ull);
	beat(c, 0, 200000000, t + 1000000000ull);
	ck_assert_uint_eq(a->traffic, 300000000);
	ck_assert_uint_eq(b->traffic, 100000000);
	struct mon_proc *p = add_proc(100);
	uint32_t ids[4];
	place_n(p, 0, 4, ids);
	for (int i = 0; i < 4; i++) /* the rates move only with heartbeats */
		ck_assert_uint_eq(ids[i], b->id);
	/* the next second b is busiest and a idle: a gets the next one */
	beat(a, 0, 300000000, t + 2000000000ull);
	beat(b, 0, 600000000, t + 2000000000ull);
	beat(c, 0, 400000000, t + 2000000000ull);
	ck_assert_uint_eq(a->traffic, 0);
	ck_assert_uint_eq(mon_place(&reg, p, 4, NULL)->id, a->id);
}
END_TEST

START_TEST(test_traffic_ties_spread_and_join)
{
	reg.placement = LEGO_PLACE_TRAFFIC;
	for (int i = 0; i < 3; i++)
		add_node((uint16_t)(i + 1), 4 * GB);
	struct mon_proc *p = add_proc(100);
	place_n(p, 0, 9, NULL); /* all idle: spread by placements so far */
	for (int i = 0; i < 3; i++)
		ck_assert_uint_eq(reg.nodes[i].placed, 3);
	reg.nodes[0].up = 0;
	struct mon_node *d = add_node(4, 4 * GB); /* never reported: rate 0, nothing unreported */
	ck_assert_uint_eq(mon_place(&reg, p, 9, NULL)->id, d->id);
	uint32_t ids[6];
	place_n(p, 10, 6, ids);
	for (int i = 0; i < 6; i++)
		ck_assert_uint_ne(ids[i], 1);
}
END_TEST

START_TEST(test_every_policy_down_and_none)
{
	for (uint32_t pol = LEGO_PLACE_FREE; pol <= LEGO_PLACE_TRAFFIC; pol++) {
		teardown();
		setup();
		reg.placement = pol;
		struct mon_node *a = add_node(1, 4 * GB), *b = add_node(2, 8 * GB);
		struct mon_proc *p = add_proc(100);
		b->up = 0;
		uint32_t ids[4];
		place_n(p, 0, 4, ids);
		for (int i = 0; i < 4; i++)
			ck_assert_uint_eq(ids[i], a->id);
		/* a placed granule stays on its node, even one that is down */
		a->up = 0;
		ck_assert_uint_eq(mon_place(&reg, p, 2, NULL)->id, a->id);
		/* nothing up: no placement */
		ck_assert_ptr_null(mon_place(&reg, p, 100, NULL));
		ck_assert_uint_eq(p->nplaces, 4);
		/* a memnode joins: the next placement is its */
		struct mon_node *c = add_node(3, 4 * GB);
		ck_assert_uint_eq(mon_place(&reg, p, 100, NULL)->id, c->id);
	}
}
END_TEST

START_TEST(test_places_sorted)
{
	reg.placement = LEGO_PLACE_RR;
	add_node(1, 4 * GB);
	add_node(2, 4 * GB);
	struct mon_proc *p = add_proc(100);
	uint64_t gs[] = {50, 3, 70, 1, 60, 2};
	uint32_t first[6];
	for (int i = 0; i < 6; i++)
		first[i] = mon_place(&reg, p, gs[i], NULL)->id;
	for (uint32_t k = 1; k < p->nplaces; k++)
		ck_assert_uint_lt(p->places[k - 1].granule, p->places[k].granule);
	for (int i = 0; i < 6; i++) /* lookups find the same node */
		ck_assert_uint_eq(mon_place(&reg, p, gs[i], NULL)->id, first[i]);
	ck_assert_uint_eq(p->nplaces, 6);
}
END_TEST

START_TEST(test_remove_counts)
{
	reg.placement = LEGO_PLACE_RR;
	for (int i = 0; i < 3; i++)
		add_node((uint16_t)(i + 1), 4 * GB);
	struct mon_proc *p = add_proc(100), *q = add_proc(200);
	place_n(p, 0, 7, NULL); /* 1 2 3 1 2 3 1 */
	place_n(q, 0, 2, NULL); /* 2 3 */
	ck_assert_uint_eq(reg.nodes[0].placed, 3);
	ck_assert_uint_eq(reg.nodes[1].placed, 3);
	ck_assert_uint_eq(reg.nodes[2].placed, 3);
	uint64_t as = p->as_id;
	mon_proc_remove(&reg, p, "exited");
	ck_assert_uint_eq(reg.nodes[0].placed, 0);
	ck_assert_uint_eq(reg.nodes[1].placed, 1);
	ck_assert_uint_eq(reg.nodes[2].placed, 1);
	for (int i = 0; i < 3; i++) { /* one free queued on each memnode */
		ck_assert_uint_eq(reg.nodes[i].npending, 1);
		ck_assert_uint_eq(reg.nodes[i].pending_free[0], as);
	}
	/* a fork's copy counts on the same nodes, and goes with the child */
	struct mon_proc *c = mon_proc_fork(&reg, q);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(reg.nodes[1].placed, 2);
	ck_assert_uint_eq(reg.nodes[2].placed, 2);
	mon_proc_remove(&reg, c, "exited");
	ck_assert_uint_eq(reg.nodes[0].placed, 0);
	ck_assert_uint_eq(reg.nodes[1].placed, 1);
	ck_assert_uint_eq(reg.nodes[2].placed, 1);
	ck_assert_uint_eq(reg.nodes[0].npending, 1); /* the child had nothing on 1 */
}
END_TEST

START_TEST(test_heartbeat_pending_and_back)
{
	reg.placement = LEGO_PLACE_FREE;
	struct mon_node *a = add_node(1, 4 * GB);
	struct mon_proc *p = add_proc(100);
	place_n(p, 0, 3, NULL);
	ck_assert_uint_eq(a->unreported, 3ull << GORDER);
	a->up = 0;
	beat(a, 3ull << GORDER, 0, lg_now_ns());
	ck_assert_int_eq(a->up, 1); /* a heartbeat brings it back */
	ck_assert_uint_eq(a->unreported, 0);
	ck_assert_uint_eq(a->reserved, 3ull << GORDER);
	ck_assert_str_eq(mon_placement_name(LEGO_PLACE_TRAFFIC), "traffic");
	ck_assert_str_eq(mon_placement_name(99), "?");
}
END_TEST

/* Call a view handler with body req; the reply body is copied to out
 * (LEGO_VIEW_MAX bytes).  Returns the status; *len the reply's length. */
static int call_view(int (*fn)(struct rpc_ctx *), const void *req, size_t reqlen, void *out,
		     size_t *len)
{
	struct rpc_ctx ctx;
	memset(&ctx, 0, sizeof ctx);
	ctx.user = &mon;
	ctx.body = req;
	ctx.body_len = reqlen;
	int r = fn(&ctx);
	*len = ctx.rep_len;
	ck_assert_uint_le(ctx.rep_len, LEGO_VIEW_MAX);
	if (ctx.rep_buf)
		memcpy(out, rpc_reply_body(&ctx), ctx.rep_len);
	rpc_reply_discard(&ctx);
	return r;
}

static uint8_t page[LEGO_VIEW_MAX];

START_TEST(test_view_status_and_counts)
{
	reg.placement = LEGO_PLACE_RR;
	for (int i = 0; i < 3; i++)
		add_node((uint16_t)(i + 1), 4 * GB);
	reg.nodes[2].up = 0;
	struct mon_proc *p = add_proc(100);
	place_n(p, 0, 5, NULL); /* 1 2 1 2 1 */
	size_t len;
	struct lego_mon_status st;
	ck_assert_int_eq(call_view(mon_view_status, NULL, 0, &st, &len), 0);
	ck_assert_uint_eq(len, sizeof st);
	ck_assert_uint_eq(st.memnodes, 3);
	ck_assert_uint_eq(st.memnodes_up, 2);
	ck_assert_uint_eq(st.capacity, 8 * GB);
	ck_assert_uint_eq(st.processes, 1);
	ck_assert_uint_eq(st.granules, 5);
	ck_assert_uint_eq(st.placement, LEGO_PLACE_RR);
	ck_assert_uint_eq(st.granule_order, GORDER);

	struct lego_places_req req = {.pid = 100};
	ck_assert_int_eq(call_view(mon_view_places, &req, sizeof req, page, &len), 0);
	struct lego_places_rep rep;
	struct lego_proc_place pp;
	struct lego_place_count c[2];
	memcpy(&rep, page, sizeof rep);
	ck_assert_uint_eq(rep.count, 1);
	ck_assert_uint_eq(rep.more, 0);
	memcpy(&pp, page + sizeof rep, sizeof pp);
	ck_assert_uint_eq(pp.pid, 100);
	ck_assert_uint_eq(pp.granules, 5);
	ck_assert_uint_eq(pp.nr_nodes, 2);
	ck_assert_uint_eq(len, sizeof rep + sizeof pp + sizeof c);
	memcpy(c, page + sizeof rep + sizeof pp, sizeof c);
	ck_assert_uint_eq(c[0].node_id, 1);
	ck_assert_uint_eq(c[0].granules, 3);
	ck_assert_uint_eq(c[1].node_id, 2);
	ck_assert_uint_eq(c[1].granules, 2);

	req.pid = 4242;
	ck_assert_int_eq(call_view(mon_view_places, &req, sizeof req, page, &len), -ESRCH);
	struct lego_nodes_req nr = {.role = 99};
	ck_assert_int_eq(call_view(mon_view_nodes, &nr, sizeof nr, page, &len), -EINVAL);
}
END_TEST

START_TEST(test_view_nodes_paged)
{
	enum { N = 1000 }; /* more than one reply holds */
	for (int i = 0; i < N; i++)
		add_node((uint16_t)(i + 1), 4 * GB);
	struct lego_nodes_req req = {.role = LEGO_ROLE_MEMNODE};
	uint32_t seen = 0, pages = 0;
	struct lego_nodes_rep rep;
	do {
		size_t len;
		ck_assert_int_eq(call_view(mon_view_nodes, &req, sizeof req, page, &len), 0);
		memcpy(&rep, page, sizeof rep);
		ck_assert_uint_eq(rep.total, N);
		ck_assert_uint_eq(len, sizeof rep + rep.count * sizeof(struct lego_node_info));
		for (uint32_t k = 0; k < rep.count; k++) {
			struct lego_node_info in;
			memcpy(&in, page + sizeof rep + k * sizeof in, sizeof in);
			ck_assert_uint_eq(in.id, ++seen);
			ck_assert_uint_eq(in.role, LEGO_ROLE_MEMNODE);
			req.after = in.id;
		}
		pages++;
	} while (rep.more);
	ck_assert_uint_eq(seen, N);
	ck_assert_uint_gt(pages, 1);
}
END_TEST

START_TEST(test_view_places_paged)
{
	enum { P = 1500 }; /* more than one reply holds */
	reg.placement = LEGO_PLACE_RR;
	for (int i = 0; i < 3; i++)
		add_node((uint16_t)(i + 1), 1024 * GB);
	for (int i = 0; i < P; i++)
		place_n(add_proc((uint32_t)(1000 + i)), 0, 4, NULL);
	struct lego_places_req req = {0};
	uint32_t seen = 0, pages = 0;
	uint64_t last = 0;
	struct lego_places_rep rep;
	do {
		size_t len;
		ck_assert_int_eq(call_view(mon_view_places, &req, sizeof req, page, &len), 0);
		memcpy(&rep, page, sizeof rep);
		ck_assert_uint_eq(rep.total, P);
		size_t at = sizeof rep;
		for (uint32_t k = 0; k < rep.count; k++) {
			struct lego_proc_place pp;
			memcpy(&pp, page + at, sizeof pp);
			at += sizeof pp + pp.nr_nodes * sizeof(struct lego_place_count);
			ck_assert_uint_gt(pp.as_id, last); /* ascending, none twice */
			last = req.after = pp.as_id;
			ck_assert_uint_eq(pp.granules, 4);
			ck_assert_uint_ge(pp.nr_nodes, 2);
			seen++;
		}
		ck_assert_uint_eq(at, len);
		pages++;
	} while (rep.more);
	ck_assert_uint_eq(seen, P);
	ck_assert_uint_gt(pages, 1);
}
END_TEST

/* ------------------------------------------------------------- moves */

/* p's place of granule g. */
static struct mon_place *place_of(struct mon_proc *p, uint64_t g)
{
	for (uint32_t k = 0; k < p->nplaces; k++)
		if (p->places[k].granule == g)
			return &p->places[k];
	ck_abort_msg("granule %llu not placed", (unsigned long long)g);
	return NULL;
}

/* Report every planned move of p done (status st). */
static unsigned finish_moves(struct mon_proc *p, int st)
{
	unsigned n = 0;
	for (uint32_t k = 0; k < p->nplaces; k++) {
		struct mon_place *pl = &p->places[k];
		if (!pl->move_to)
			continue;
		ck_assert_int_eq(mon_move_done(&reg, p, pl->granule, pl->move_from, pl->move_to, st), 0);
		n++;
	}
	return n;
}

START_TEST(test_rereplicate_after_death)
{
	struct mon_node *a = add_node(1, 4 * GB), *b = add_node(2, 4 * GB), *c = add_node(3, 4 * GB);
	struct mon_proc *p = add_proc(100);
	p->replicas = 2;
	place_n(p, 0, 6, NULL);
	unsigned on_a = 0;
	for (uint64_t g = 0; g < 6; g++) {
		struct mon_place *pl = place_of(p, g);
		ck_assert_uint_ne(pl->node[1], 0);
		on_a += pl->node[0] == a->id || pl->node[1] == a->id;
	}
	ck_assert_uint_gt(on_a, 0);
	a->up = 0;
	mon_moves_plan(&reg, lg_now_ns());
	/* a's copies are dropped (a goes on the gone list), each gets a move
	 * to the memnode that does not hold its other copy */
	ck_assert_uint_eq(p->ngone, 1);
	ck_assert_uint_eq(p->gone[0], a->id);
	ck_assert_uint_eq(mon_moves_pending(p), on_a);
	for (uint64_t g = 0; g < 6; g++) {
		struct mon_place *pl = place_of(p, g);
		ck_assert_uint_ne(pl->node[0], a->id);
		ck_assert_uint_ne(pl->node[1], a->id);
		if (pl->move_to) {
			ck_assert_uint_eq(pl->node[1], 0);
			ck_assert_uint_eq(pl->move_from, 0);
			ck_assert_uint_ne(pl->move_to, pl->node[0]);
		}
	}
	/* planned once: a second tick adds nothing */
	mon_moves_plan(&reg, lg_now_ns());
	ck_assert_uint_eq(mon_moves_pending(p), on_a);
	ck_assert_uint_eq(finish_moves(p, 0), on_a);
	ck_assert_uint_eq(mon_moves_pending(p), 0);
	for (uint64_t g = 0; g < 6; g++) {
		struct mon_place *pl = place_of(p, g);
		ck_assert_uint_ne(pl->node[1], 0);
		ck_assert_uint_ne(pl->node[0], pl->node[1]);
	}
	ck_assert_uint_eq(a->placed, 0);
	ck_assert_uint_eq(b->placed + c->placed, 12);
	ck_assert_int_eq(mon_move_done(&reg, p, 0, 0, b->id, 0), -ENOENT); /* none planned */
}
END_TEST

/* A heartbeat whose byte counters jumped by more than a rate can hold
 * (counters come off the wire) saturates the rate instead of converting
 * an out-of-range double (undefined; fuzz_monitor). */
START_TEST(test_heartbeat_rate_saturates)
{
	struct mon_node *a = add_node(1, 4 * GB);
	beat(a, 0, 0, 1000);
	beat(a, 0, UINT64_MAX - 1, 1001);
	ck_assert_uint_eq(a->traffic, UINT64_MAX);
	beat(a, 0, UINT64_MAX, 1000001001);
	ck_assert_uint_eq(a->traffic, 1);
}
END_TEST

/* The monitor's RPC server with one test connection of a process. */
static struct rpc_server *mon_server(uint32_t *id, uint64_t *session)
{
	struct rpc_server_conf sc = {.name = "monitor", .handlers = monitor_handlers,
				     .nhandlers = monitor_nhandlers, .user = &mon};
	struct rpc_server *srv;
	ck_assert_int_eq(rpc_server_new(&sc, &srv), 0);
	ck_assert_int_eq(rpc_server_test_conn(srv, LEGO_ROLE_PROCESS, id, session), 0);
	return srv;
}

/* A process's host name arrives in its registration and goes into the
 * monitor's "key:value" stats lines: a line break in it would add lines
 * of its own (found reading the code fuzz_monitor drives). */
START_TEST(test_register_host_printable)
{
	uint32_t id;
	uint64_t session;
	struct rpc_server *srv = mon_server(&id, &session);
	struct lego_p2mon_register_req q;
	memset(&q, 0, sizeof q);
	q.pid = 7;
	q.line_order = 12;
	snprintf(q.host, sizeof q.host, "web\nproc.1.pid:2\r\x7f");
	static _Alignas(8) uint8_t msg[sizeof(struct lego_hdr) + sizeof q];
	struct lego_hdr h;
	lw_hdr_init(&h, P2MON_REGISTER, sizeof msg, 1ull << 16);
	h.conn = id;
	h.session = session;
	memcpy(msg, &h, sizeof h);
	memcpy(msg + sizeof h, &q, sizeof q);
	struct iovec body = {msg + sizeof h, sizeof q};
	lw_seal((struct lego_hdr *)msg, &body, 1);
	rpc_server_on_recv(NULL, msg, sizeof msg, srv);
	ck_assert_uint_eq(reg.nprocs, 1);
	ck_assert_str_eq(reg.procs[0]->host, "web?proc.1.pid:2??");
	rpc_server_free(srv);
}
END_TEST

/* Send a P2MON_REGISTER of pid with request id (gen << 16 | slot). */
static void send_register(struct rpc_server *srv, uint32_t id, uint64_t session, uint32_t pid,
			  uint32_t gen, uint32_t slot, int damage)
{
	struct lego_p2mon_register_req q;
	memset(&q, 0, sizeof q);
	q.pid = pid;
	q.line_order = 12;
	static _Alignas(8) uint8_t msg[sizeof(struct lego_hdr) + sizeof q];
	struct lego_hdr *h = (struct lego_hdr *)msg;
	lw_hdr_init(h, P2MON_REGISTER, sizeof msg, (uint64_t)gen << 16 | slot);
	h->conn = id;
	h->session = session;
	memcpy(msg + sizeof *h, &q, sizeof q);
	struct iovec body = {msg + sizeof *h, sizeof q};
	lw_seal(h, &body, 1);
	if (damage)
		msg[sizeof *h + 3] ^= 0x10;
	rpc_server_on_recv(NULL, msg, sizeof msg, srv);
}

/* The value of "key:" in the server's stats text. */

/* A request the network doubled or the client sent again (same id) is
 * never applied twice: a registration here, which would add a second
 * process.  An older generation from the same slot is dropped; a damaged
 * one (CRC) is refused; ids outside the scheme are refused. */
START_TEST(test_repeat_applied_once)
{
	uint32_t id;
	uint64_t session;
	struct rpc_server *srv = mon_server(&id, &session);
	send_register(srv, id, session, 7, 5, 3, 0);
	ck_assert_uint_eq(reg.nprocs, 1);
	send_register(srv, id, session, 7, 5, 3, 0); /* the same request again */
	ck_assert_uint_eq(reg.nprocs, 1);
	ck_assert_uint_eq(srv_stat(srv, "repeats"), 1);
	send_register(srv, id, session, 8, 4, 3, 0); /* older than one served */
	ck_assert_uint_eq(reg.nprocs, 1);
	ck_assert_uint_eq(srv_stat(srv, "stale_requests"), 1);
	send_register(srv, id, session, 9, 6, 3, 1); /* damaged on the way */
	ck_assert_uint_eq(reg.nprocs, 1);
	ck_assert_uint_eq(srv_stat(srv, "rejects.crc"), 1);
	send_register(srv, id, session, 9, 0, 3, 0); /* generation 0: none */
	send_register(srv, id, session, 9, 1, LEGO_REQ_SLOTS, 0); /* no such slot */
	ck_assert_uint_eq(reg.nprocs, 1);
	ck_assert_uint_eq(srv_stat(srv, "rejects.reqid"), 2);
	/* new requests: the next generation of the slot, and another slot
	 * (a fresh slot takes any generation; after 2^24 - 1 comes 1) */
	send_register(srv, id, session, 9, 6, 3, 0);
	ck_assert_uint_eq(reg.nprocs, 2);
	send_register(srv, id, session, 10, 0xffffff, 4, 0);
	send_register(srv, id, session, 11, 1, 4, 0);
	ck_assert_uint_eq(reg.nprocs, 4);
	send_register(srv, id, session, 11, 1, 4, 0);
	ck_assert_uint_eq(reg.nprocs, 4);
	ck_assert_uint_gt(srv_stat(srv, "kept_reply_bytes"), 0);
	rpc_server_free(srv);
}
END_TEST


/* A report of a move to memnode 0 for a granule with no move planned
 * (move_to 0 as well) is no move: it once matched, and the monitor took
 * memnode 0 (none) as the new copy's home and crashed (fuzz_monitor). */
START_TEST(test_move_done_to_zero)
{
	struct mon_node *a = add_node(1, 4 * GB);
	struct mon_proc *p = add_proc(100);
	place_n(p, 0, 1, NULL);
	ck_assert_int_eq(mon_move_done(&reg, p, 0, 0, 0, 0), -ENOENT);
	ck_assert_int_eq(mon_move_done(&reg, p, 0, 0, 0, -EIO), -ENOENT);
	ck_assert_int_eq(mon_move_done(&reg, p, 0, a->id, 0, -ESTALE), -ENOENT);
	struct mon_place *pl = place_of(p, 0);
	ck_assert_uint_eq(pl->node[0], a->id);
	ck_assert_uint_eq(pl->node[1], 0);
	ck_assert_uint_eq(a->placed, 1);
	ck_assert_uint_eq(p->move_retry_ns, 0);
}
END_TEST

START_TEST(test_rereplicate_when_node_joins)
{
	struct mon_node *a = add_node(1, 4 * GB), *b = add_node(2, 4 * GB);
	struct mon_proc *p = add_proc(100);
	p->replicas = 2;
	place_n(p, 0, 2, NULL);
	b->up = 0;
	mon_moves_plan(&reg, lg_now_ns());
	ck_assert_uint_eq(mon_moves_pending(p), 0); /* nowhere to copy to */
	ck_assert_uint_eq(place_of(p, 0)->node[0], a->id);
	ck_assert_uint_eq(place_of(p, 0)->node[1], 0);
	struct mon_node *c = add_node(3, 4 * GB);
	mon_moves_plan(&reg, lg_now_ns());
	ck_assert_uint_eq(mon_moves_pending(p), 2);
	ck_assert_uint_eq(place_of(p, 1)->move_to, c->id);
	/* the surviving copy dies too before the move is done: lost, no new
	 * move, and the planned copy does not count */
	a->up = 0;
	mon_moves_plan(&reg, lg_now_ns());
	ck_assert_uint_eq(place_of(p, 0)->node[0], a->id);
}
END_TEST

START_TEST(test_drain_sole_copies)
{
	struct mon_node *a = add_node(1, 4 * GB), *b = add_node(2, 4 * GB);
	struct mon_proc *p = add_proc(100);
	place_n(p, 0, 4, NULL); /* replicas 1: two on each */
	ck_assert_uint_eq(a->placed, 2);
	struct lego_drain_rep rep;
	ck_assert_int_eq(mon_drain(&reg, a->id, &rep), 0);
	ck_assert_uint_eq(rep.state, LEGO_NODE_DRAINING);
	ck_assert_uint_eq(rep.remaining, 2);
	/* a draining memnode takes no new granules */
	ck_assert_uint_eq(mon_place(&reg, p, 10, NULL)->id, b->id);
	mon_moves_plan(&reg, lg_now_ns());
	ck_assert_uint_eq(mon_moves_pending(p), 2);
	for (uint32_t k = 0; k < p->nplaces; k++)
		if (p->places[k].move_to) {
			ck_assert_uint_eq(p->places[k].move_from, a->id);
			ck_assert_uint_eq(p->places[k].move_to, b->id);
		}
	ck_assert_uint_eq(finish_moves(p, 0), 2);
	for (uint32_t k = 0; k < p->nplaces; k++) {
		ck_assert_uint_eq(p->places[k].node[0], b->id);
		ck_assert_uint_eq(p->places[k].node[1], 0);
	}
	ck_assert_uint_eq(p->ngone, 0); /* a is alive: the process keeps using it elsewhere */
	mon_moves_plan(&reg, lg_now_ns());
	ck_assert_int_eq(a->left, 1);
	ck_assert_int_eq(mon_drain(&reg, a->id, &rep), 0);
	ck_assert_uint_eq(rep.state, LEGO_NODE_LEFT);
	ck_assert_uint_eq(rep.remaining, 0);
	ck_assert_uint_eq(rep.moved, 2);
	/* its heartbeats stop: not counted as a failure; a late one does not
	 * bring it back */
	uint64_t down = reg.nodes_down, later = lg_now_ns() + 10000000000ull;
	beat(b, 0, 0, later);
	mon_reg_tick(&reg, later);
	ck_assert_uint_eq(reg.nodes_down, down);
	beat(a, 0, 0, lg_now_ns());
	ck_assert_int_eq(a->up, 0);
}
END_TEST

START_TEST(test_drain_replica_and_failures)
{
	struct mon_node *a = add_node(1, 4 * GB), *b = add_node(2, 4 * GB), *c = add_node(3, 4 * GB);
	struct mon_proc *p = add_proc(100);
	p->replicas = 2;
	place_n(p, 0, 3, NULL);
	ck_assert_int_eq(mon_drain(&reg, 99, &(struct lego_drain_rep){0}), -ENOENT);
	struct lego_drain_rep rep;
	ck_assert_int_eq(mon_drain(&reg, a->id, &rep), 0);
	mon_moves_plan(&reg, lg_now_ns());
	uint32_t n = mon_moves_pending(p);
	ck_assert_uint_eq(n, rep.remaining);
	/* a copy on a draining memnode moves to the one holding no copy */
	for (uint32_t k = 0; k < p->nplaces; k++) {
		struct mon_place *pl = &p->places[k];
		if (!pl->move_to)
			continue;
		ck_assert_uint_eq(pl->move_from, a->id);
		uint32_t other = pl->node[0] == a->id ? pl->node[1] : pl->node[0];
		ck_assert_uint_ne(pl->move_to, other);
		ck_assert_uint_ne(pl->move_to, a->id);
	}
	/* a failure: no move before the pause is over */
	ck_assert_uint_eq(finish_moves(p, -EIO), n);
	ck_assert_uint_eq(mon_moves_pending(p), 0);
	mon_moves_plan(&reg, lg_now_ns());
	ck_assert_uint_eq(mon_moves_pending(p), 0);
	mon_moves_plan(&reg, lg_now_ns() + 2000000000ull);
	ck_assert_uint_eq(mon_moves_pending(p), n);
	/* ESTALE: the process dropped its copy on a; a second copy is added */
	ck_assert_uint_eq(finish_moves(p, -ESTALE), n);
	for (uint32_t k = 0; k < p->nplaces; k++) {
		ck_assert_uint_ne(p->places[k].node[0], a->id);
		ck_assert_uint_ne(p->places[k].node[1], a->id);
	}
	mon_moves_plan(&reg, lg_now_ns() + 4000000000ull);
	ck_assert_uint_eq(mon_moves_pending(p), n);
	ck_assert_uint_eq(finish_moves(p, 0), n);
	mon_moves_plan(&reg, lg_now_ns() + 4000000000ull);
	ck_assert_int_eq(a->left, 1);
	ck_assert_uint_eq(b->placed + c->placed, 6);
	/* refusals: a memnode that is down, and the last one up */
	c->up = 0;
	ck_assert_int_eq(mon_drain(&reg, c->id, &rep), -EHOSTDOWN);
	ck_assert_int_eq(mon_drain(&reg, b->id, &rep), -ENOSPC);
}
END_TEST

START_TEST(test_monitor_stall_forgiven)
{
	/* the monitor's own silence (its host stalled) expires nobody; the
	 * same time with the monitor ticking along expires them */
	struct mon_node *a = add_node(1, 4 * GB);
	struct mon_proc *p = add_proc(100);
	uint64_t t = lg_now_ns();
	p->last_ns = t;
	a->last_hb_ns = t;
	mon_reg_tick(&reg, t);
	mon_reg_tick(&reg, t + 6000000000ull); /* lease 5 s, node timeout 3 s */
	ck_assert_uint_eq(reg.nprocs, 1);
	ck_assert_int_eq(a->up, 1);
	uint64_t now = t + 6000000000ull;
	for (int i = 1; i <= 60 && reg.nprocs; i++)
		mon_reg_tick(&reg, now + (uint64_t)i * MON_TICK_NS);
	ck_assert_uint_eq(reg.nprocs, 0);
	ck_assert_int_eq(a->up, 0);
}
END_TEST

static Suite *place_suite(void)
{
	Suite *s = suite_create("place");
	TCase *tc;

	tc = tcase_create("free");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_free_spreads_burst);
	tcase_add_test(tc, test_free_most_free);
	suite_add_tcase(s, tc);

	tc = tcase_create("rr");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_rr_order_down_and_join);
	tcase_add_test(tc, test_rr_skips_full);
	suite_add_tcase(s, tc);

	tc = tcase_create("traffic");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_traffic_least);
	tcase_add_test(tc, test_traffic_ties_spread_and_join);
	suite_add_tcase(s, tc);

	tc = tcase_create("down_and_join");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_every_policy_down_and_none);
	suite_add_tcase(s, tc);

	tc = tcase_create("bookkeeping");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_places_sorted);
	tcase_add_test(tc, test_remove_counts);
	tcase_add_test(tc, test_heartbeat_pending_and_back);
	tcase_add_test(tc, test_heartbeat_rate_saturates);
	tcase_add_test(tc, test_register_host_printable);
	tcase_add_test(tc, test_repeat_applied_once);
	suite_add_tcase(s, tc);

	tc = tcase_create("moves");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_rereplicate_after_death);
	tcase_add_test(tc, test_rereplicate_when_node_joins);
	tcase_add_test(tc, test_drain_sole_copies);
	tcase_add_test(tc, test_drain_replica_and_failures);
	tcase_add_test(tc, test_monitor_stall_forgiven);
	tcase_add_test(tc, test_move_done_to_zero);
	suite_add_tcase(s, tc);

	tc = tcase_create("views");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_view_status_and_counts);
	tcase_add_test(tc, test_view_nodes_paged);
	tcase_add_test(tc, test_view_places_paged);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	lg_set_level(LG_ERROR); /* the tests take nodes down and fill free queues on purpose */
	SRunner *sr = srunner_create(place_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
