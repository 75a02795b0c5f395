/*
 * fuzz_monitor: the monitor's request path as the network drives it.
 *
 * Every input builds one monitor (its registry with a fixed secret, an RPC
 * server over monitor_handlers with test connections: two processes, two
 * memnodes, a tool, a storenode), sends it a run of messages through
 * rpc_server_on_recv, with ticks of the registry clock in between (leases,
 * node timeouts, move planning), then frees it all.  The first byte sets
 * the placement policy, replicas, quota and granule size; then each
 * message is:
 *
 *   u8 opcode choice (mon_ops[], a raw opcode, or a handshake: fz_handshake)
 *   u8 flags: FZ_CAP, FZ_SHAPE, FZ_BAD, connection (3 bits)
 *   [u8 header corruption, with FZ_BAD]
 *   body: with FZ_SHAPE, well formed for the opcode from a few input bytes
 *   (small pids, node ids, granules; node addresses that repeat); else u16
 *   length and raw bytes.  FZ_CAP writes the capability of a registered
 *   process (mon_proc_cap) into the body, so that requests get past it.
 *
 * After every message the registry's books must balance: each memnode's
 * granule count is the number of copies placed on it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include "common/log.h"
#include "common/util.h"
#include "fabric/fabric.h"
#include "fuzz_server.h"
#include "monitor/monitor.h"

enum {
	FZ_CAP = 0x01,
	FZ_SHAPE = 0x02,
	FZ_BAD = 0x04,
	FZ_MORE = 0x08, /* an opcode's own variant */
	/* 0x70: the connection, 0x80: for the op */
};

enum { OP_RAW = 0xff00, OP_TICK, OP_HANDSHAKE };

static const uint16_t mon_ops[] = {
	P2MON_REGISTER, P2MON_HEARTBEAT, P2MON_EXIT, P2MON_PLACE, P2MON_FORK,
	P2MON_FILES, P2MON_STATS, P2MON_MOVES, P2MON_MOVED, M2MON_REGISTER,
	M2MON_HEARTBEAT, M2MON_STORE, S2MON_REGISTER, S2MON_HEARTBEAT,
	T2MON_PROCS, T2MON_STATUS, T2MON_NODES, T2MON_PLACES, T2MON_DRAIN,
	P2MON_PLACE, P2MON_REGISTER, M2MON_HEARTBEAT, /* the busy ones, twice */
	X2X_PING, X2X_STATS, X2X_BYE, OP_TICK, OP_TICK, OP_RAW, OP_HANDSHAKE,
};

static const uint32_t mon_roles[] = {LEGO_ROLE_PROCESS, LEGO_ROLE_PROCESS, LEGO_ROLE_MEMNODE,
				     LEGO_ROLE_MEMNODE, LEGO_ROLE_TOOL, LEGO_ROLE_STORENODE,
				     LEGO_ROLE_PROCESS, LEGO_ROLE_TOOL};
#define NCONNS 8

#define LEASE_NS (5000ull * 1000000)
#define NODE_TIMEOUT_NS (3000ull * 1000000)

static struct monitor M;
static struct fz_conn conns[NCONNS];

static void mon_conn_gone(void *srv, uint64_t conn) { rpc_server_drop_process(srv, conn); }

/* ------------------------------------------------------- body builders */

/* The k-th registered process, or NULL. */
static struct mon_proc *proc_pick(uint8_t k)
{
	return M.reg.nprocs ? M.reg.procs[k % M.reg.nprocs] : NULL;
}

/* An address-space reference: a registered process's valid one with cap,
 * else made up. */
static void mk_ref(struct fin *f, struct lego_as_ref *ref, int cap)
{
	uint8_t k = fin_u8(f);
	struct mon_proc *p = proc_pick(k);
	if (cap && p) {
		mon_proc_cap(&M.reg, p, ref);
		return;
	}
	memset(ref, 0, sizeof *ref);
	ref->as_id = p && (k & 0x80) ? p->as_id : k;
	ref->line_order = 12;
}

static void mk_str(struct fin *f, char *dst, size_t cap)
{
	size_t n = LG_MIN((size_t)(fin_u8(f) % 24), cap);
	fin_bytes(f, dst, n);
}

static void mk_addr(struct fin *f, struct lego_node_addr *a)
{
	uint8_t b = fin_u8(f);
	memset(a, 0, sizeof *a);
	a->node_id = b & 0x80 ? fin_u32(f) : 0;
	a->net_prov = LEGO_PROV_TCP;
	if (b & 0x40) { /* raw bytes, any length */
		a->net_len = fin_u16(f);
		fin_bytes(f, a->net, sizeof a->net);
	} else { /* one of four IPv4 addresses, or one IPv6 */
		struct sockaddr_in6 s6 = {.sin6_family = AF_INET6, .sin6_port = htons(7000)};
		struct sockaddr_in s4 = {.sin_family = AF_INET, .sin_port = htons(7000 + (b & 3)),
					 .sin_addr.s_addr = htonl(0x7f000001)};
		if (b & 4) {
			memcpy(a->net, &s6, sizeof s6);
			a->net_len = sizeof s6;
		} else {
			memcpy(a->net, &s4, sizeof s4);
			a->net_len = sizeof s4;
		}
	}
	if (b & 8)
		mk_str(f, a->shm, sizeof a->shm);
	if (b & 16)
		mk_str(f, a->host_id, sizeof a->host_id);
	else if (b & 32)
		snprintf(a->host_id, sizeof a->host_id, "%s", lg_host_id());
}

static size_t mk_as_req(struct fin *f, uint8_t *body, int cap)
{
	struct lego_p2mon_as_req q;
	mk_ref(f, &q.as, cap);
	q.pid = fin_u8(f) % 5;
	q.pad = 0;
	memcpy(body, &q, sizeof q);
	return sizeof q;
}

static size_t mk_register(struct fin *f, uint8_t *body)
{
	struct lego_p2mon_register_req q;
	memset(&q, 0, sizeof q);
	uint8_t b = fin_u8(f);
	q.pid = b & 3;
	q.line_order = b & 0x80 ? fin_u32(f) : 12u + (b >> 2) % 10u;
	q.quota = b & 0x40 ? (uint64_t)fin_u8(f) << 24 : 0;
	q.replicas = fin_u8(f) % 4;
	mk_str(f, q.host, sizeof q.host);
	if (b & 0x20)
		snprintf(q.host_id, sizeof q.host_id, "%s", lg_host_id());
	else
		mk_str(f, q.host_id, sizeof q.host_id);
	if (fin_u8(f) == 0xff) { /* fields filled to the end, no NUL */
		memset(q.host, 'h', sizeof q.host);
		memset(q.host_id, 'i', sizeof q.host_id);
	}
	memcpy(body, &q, sizeof q);
	return sizeof q;
}

/* P2MON_MOVED: with FZ_MORE, a move the registry planned. */
static size_t mk_moved(struct fin *f, uint8_t *body, int cap, int planned)
{
	struct lego_p2mon_moved_req q;
	memset(&q, 0, sizeof q);
	uint8_t k = fin_u8(f), b = fin_u8(f);
	struct mon_proc *p = proc_pick(k);
	if (cap && p)
		mon_proc_cap(&M.reg, p, &q.as);
	else
		q.as.as_id = k;
	q.granule = b & 7;
	q.from = (b >> 3) & 3;
	q.to = (b >> 5) & 3;
	if (planned && p && p->nplaces) {
		const struct mon_place *pl = &p->places[fin_u8(f) % p->nplaces];
		q.granule = pl->granule;
		q.from = pl->move_from;
		q.to = pl->move_to;
	}
	static const int32_t st[] = {0, 0, -ESTALE, -EIO};
	q.status = st[b >> 6];
	memcpy(body, &q, sizeof q);
	return sizeof q;
}

static size_t mk_hb(struct fin *f, uint8_t *body)
{
	struct lego_m2mon_heartbeat_req q;
	memset(&q, 0, sizeof q);
	uint8_t b = fin_u8(f);
	q.node_id = b % 5;
	q.nr_as = fin_u8(f);
	q.capacity = (uint64_t)((b >> 3) & 3) << 30;
	q.reserved = (uint64_t)fin_u8(f) << 24;
	q.stored = q.reserved / 2;
	q.read_bytes = (uint64_t)fin_u16(f) << 20;
	q.write_bytes = b & 0x80 ? fin_u64(f) : 0;
	memcpy(body, &q, sizeof q);
	return sizeof q;
}

static size_t mk_body(struct fin *f, uint16_t op, uint8_t *body, uint8_t fl)
{
	int cap = fl & FZ_CAP;
	switch (op) {
	case P2MON_REGISTER:
		return mk_register(f, body);
	case P2MON_HEARTBEAT: case P2MON_EXIT: case P2MON_FORK: case P2MON_FILES:
	case P2MON_MOVES:
		return mk_as_req(f, body, cap);
	case P2MON_STATS: {
		size_t len = mk_as_req(f, body, cap);
		uint8_t b = fin_u8(f);
		size_t n = b & 0x80 ? LEGO_STATS_TEXT_MAX - (b & 1) : b;
		if (b & 0x80) {
			for (size_t i = 0; i < n; i++)
				body[len + i] = "a:1\n"[i % 4];
		} else {
			fin_bytes(f, body + len, n);
		}
		return len + n;
	}
	case P2MON_PLACE: {
		struct lego_p2mon_place_req q;
		mk_ref(f, &q.as, cap);
		uint8_t b = fin_u8(f);
		q.granule = b & 0x80 ? fin_u64(f) : b % 8;
		memcpy(body, &q, sizeof q);
		return sizeof q;
	}
	case P2MON_MOVED:
		return mk_moved(f, body, cap, fl & FZ_MORE);
	case M2MON_REGISTER:
	case S2MON_REGISTER: {
		struct lego_m2mon_register_req q;
		uint8_t b = fin_u8(f);
		q.capacity = b & 0x80 ? fin_u64(f) : (uint64_t)(b & 3) << 30;
		mk_addr(f, &q.addr);
		memcpy(body, &q, sizeof q);
		return sizeof q;
	}
	case M2MON_HEARTBEAT:
	case S2MON_HEARTBEAT:
		return mk_hb(f, body);
	case T2MON_PROCS: {
		struct lego_procs_req q = {.pid = fin_u8(f) % 5};
		memcpy(body, &q, sizeof q);
		return sizeof q;
	}
	case T2MON_NODES: {
		uint8_t b = fin_u8(f);
		static const uint32_t roles[] = {LEGO_ROLE_MEMNODE, LEGO_ROLE_STORENODE,
						 LEGO_ROLE_PROCESS, 0};
		struct lego_nodes_req q = {.role = roles[b & 3],
					   .after = b & 0x80 ? fin_u32(f) : (b >> 2) % 6};
		memcpy(body, &q, sizeof q);
		return sizeof q;
	}
	case T2MON_PLACES: {
		uint8_t b = fin_u8(f);
		struct mon_proc *p = proc_pick(b);
		struct lego_places_req q = {.pid = (b >> 2) & 3};
		q.after = p && (b & 0x80) ? p->as_id : b & 0x40 ? fin_u64(f) : 0;
		memcpy(body, &q, sizeof q);
		return sizeof q;
	}
	case T2MON_DRAIN: {
		struct lego_drain_req q = {.node_id = fin_u8(f) % 5};
		memcpy(body, &q, sizeof q);
		return sizeof q;
	}
	default: {
		size_t len = fin_u8(f) & 15;
		fin_bytes(f, body, len);
		return len;
	}
	}
}

/* ------------------------------------------------------------- the run */

static void mon_check(void)
{
	struct mon_reg *r = &M.reg;
	for (uint32_t i = 0; i < r->nnodes; i++)
		FUZZ_CHECK(r->nodes[i].placed == mon_node_copies(r, r->nodes[i].id));
	for (uint32_t i = 0; i < r->nprocs; i++) {
		const struct mon_proc *p = r->procs[i];
		FUZZ_CHECK(p->nplaces <= p->cap_places);
		for (uint32_t k = 1; k < p->nplaces; k++)
			FUZZ_CHECK(p->places[k - 1].granule < p->places[k].granule);
		for (uint32_t k = 0; k < p->nplaces; k++)
			for (int j = 0; j < MON_REPLICAS_MAX; j++)
				FUZZ_CHECK(p->places[k].node[j] <= r->nnodes);
	}
}

static void mon_start(struct fin *f)
{
	memset(&M, 0, sizeof M);
	uint8_t b = fin_u8(f);
	FUZZ_CHECK(mon_reg_init(&M.reg, 21 + ((b >> 4) & 3) * 3, LEASE_NS, NODE_TIMEOUT_NS) == 0);
	/* replayable: no random secret or address-space ids */
	memset(M.reg.secret, 0x5a, sizeof M.reg.secret);
	M.reg.as_seq = 1000;
	M.reg.placement = b & 3; /* 3: no such policy */
	M.reg.replicas = 1 + ((b >> 2) & 1);
	M.reg.quota = b & 8 ? 256u << 20 : 0;
	M.heartbeat_ms = 500;
	struct rpc_server_conf sc = {.name = "monitor", .handlers = monitor_handlers,
				     .nhandlers = monitor_nhandlers, .key = "fuzz", .user = &M,
				     .stats_fn = monitor_stats, .max_conns = 16};
	FUZZ_CHECK(rpc_server_new(&sc, &M.srv) == 0);
	M.reg.conn_gone = mon_conn_gone;
	M.reg.conn_gone_arg = M.srv;
	fz_conns_open(M.srv, mon_roles, NCONNS, conns);
}

static void mon_stop(void)
{
	mon_check();
	rpc_server_free(M.srv);
	mon_reg_fini(&M.reg);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_lego_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fin f = {data, size};
	mon_start(&f);
	for (int msgs = 0; fin_left(&f) && msgs < 64; msgs++) {
		uint8_t pick = fin_u8(&f), fl = fin_u8(&f);
		uint16_t op = pick == FZ_PICK_RAW ? OP_RAW : mon_ops[pick % LG_ARRAY_SIZE(mon_ops)];
		if (op == OP_TICK) {
			static const uint64_t ahead[] = {0, NODE_TIMEOUT_NS + 1000000,
							 LEASE_NS + 1000000, 1000000000ull};
			mon_reg_tick(&M.reg, lg_now_ns() + ahead[fl & 3]);
			mon_check();
			continue;
		}
		if (op == OP_HANDSHAKE) {
			fz_handshake(M.srv, &f, "fuzz", NCONNS + 1);
			continue;
		}
		if (op == OP_RAW)
			op = fin_u8(&f);
		uint8_t bad = fl & FZ_BAD ? fin_u8(&f) : 0;
		uint8_t *body = fz_body();
		size_t blen;
		if (fl & FZ_SHAPE) {
			blen = mk_body(&f, op, body, fl);
		} else {
			blen = fz_raw_body(&f, 4096);
			struct mon_proc *p = proc_pick(fl >> 4);
			if ((fl & FZ_CAP) && p && blen >= sizeof(struct lego_as_ref)) {
				struct lego_as_ref ref;
				mon_proc_cap(&M.reg, p, &ref);
				memcpy(body, &ref, sizeof ref);
			}
		}
		fz_send(M.srv, &conns[(fl >> 4) & 7], op, blen, bad);
		mon_check();
	}
	mon_stop();
	return 0;
}
