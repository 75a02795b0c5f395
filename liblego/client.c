/* The process's link to the monitor and memnodes (see client.h). */
#define _GNU_SOURCE
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "stats.h"
#include "tls.h"
#include "fabric/wire.h"

/* Every request's round trip, for latency.rpc. */
static void lc_observe(uint16_t opcode, int status, uint64_t ns)
{
	(void)opcode, (void)status;
	lg_lat_record(LEGO_LAT_RPC, ns);
}

/* The shm doctor's thread is a runtime thread: what it allocates stays
 * local (tls.h). */
static void lc_doctor_init(void) { lg_enter(); }

int lc_start(struct lc *c, const char *hostport, const char *key, int fabric,
	     uint32_t line_order, uint64_t timeout_ns, uint64_t connect_ns)
{
	pthread_mutex_init(&c->lock, NULL);
	c->timeout_ns = timeout_ns;
	snprintf(c->monitor_addr, sizeof c->monitor_addr, "%s", hostport);
	snprintf(c->key, sizeof c->key, "%s", key);
	int r = rpc_client_new(key, LEGO_ROLE_PROCESS, &c->cl);
	if (r)
		return r;
	rpc_client_observe(c->cl, lc_observe);
	c->links.cl = c->cl;
	c->links.rx_bufs = 32;
	c->links.rx_size = LEGO_MSG_MAX;
	c->links.fab = (enum lf_fabric_choice)fabric;
	c->links.shm_doctor = lc_doctor_init; /* a memnode may die holding a queue lock */
	/* The monitor on endpoints of its own: when a memnode dies, a
	 * provider may hold sends on the endpoint that reached it (rxm keeps
	 * the dead connection's queue) until long after the lease renewals
	 * that tell us about the death must have gone out. */
	c->mlinks = c->links;
	c->mlinks.rx_bufs = 8;
	c->mlinks.rx_size = 64 * 1024;
	char name[300];
	snprintf(name, sizeof name, "monitor %s", hostport);
	r = rpc_links_peer_hostport(&c->mlinks, hostport, &c->monitor, name, &c->monitor_node);
	if (r)
		return r;
	r = rpc_peer_connect(&c->monitor, connect_ns);
	if (r)
		return r; /* the caller says so, in its own words */
	struct lego_p2mon_register_req req;
	memset(&req, 0, sizeof req);
	req.pid = (uint32_t)getpid();
	req.line_order = line_order;
	req.replicas = c->replicas;
	req.quota = c->quota;
	gethostname(req.host, sizeof req.host - 1);
	snprintf(req.host_id, sizeof req.host_id, "%s", lg_host_id());
	struct lego_p2mon_register_rep rep;
	r = rpc_call_fixed(&c->monitor, P2MON_REGISTER, &req, sizeof req, &rep, sizeof rep,
			   timeout_ns);
	if (r) {
		lg_log(LG_ERROR, "client", "monitor %s refused registration: %s", hostport,
		       strerror(-r));
		return r;
	}
	c->as = rep.as;
	c->lease_ms = rep.lease_ms;
	c->granule_order = rep.granule_order;
	lg_log(LG_INFO, "client", "registered as address space %llu (granule 2^%u, lease %u ms)",
	       (unsigned long long)c->as.as_id, c->granule_order, c->lease_ms);
	return 0;
}

/* The connected memnode with this id, or NULL. */
static struct lc_mem *lc_mem_find(struct lc *c, uint32_t node_id)
{
	for (int i = 0; i < c->nmem; i++)
		if (c->mem[i].node_id == node_id && c->mem[i].ok)
			return &c->mem[i];
	return NULL;
}

static struct lc_mem *lc_mem_get(struct lc *c, const struct lego_node_addr *a, int *err)
{
	struct lc_mem *known = lc_mem_find(c, a->node_id);
	if (known)
		return known;
	if (c->nmem >= LC_MAX_MEMNODES) {
		*err = -ENOSPC;
		return NULL;
	}
	struct lc_mem *m = &c->mem[c->nmem];
	memset(m, 0, sizeof *m);
	m->node_id = a->node_id;
	m->addr = *a;
	char name[64];
	snprintf(name, sizeof name, "memnode %u", a->node_id);
	struct lg_fd_resv fr;
	lg_fd_reserve(&fr); /* a new endpoint's descriptors go above the program's */
	int r = rpc_links_peer_node(&c->links, a, &m->peer, name);
	if (r == 0)
		r = rpc_peer_connect(&m->peer, c->timeout_ns);
	lg_fd_release(&fr);
	if (r) {
		if (r == -EBUSY)
			lg_log_rl(LG_ERROR, "client", "memnode %u refused this process: it holds as "
				  "many connections as it accepts (its --max-clients); allocations "
				  "placed there fail with ENOMEM", a->node_id);
		else
			lg_log_rl(LG_ERROR, "client", "cannot connect to memnode %u: %s",
				  a->node_id, strerror(-r));
		*err = r == -EBUSY ? -ENOMEM : r;
		return NULL;
	}
	m->ok = 1;
	c->nmem++;
	return m;
}

struct rpc_peer *lc_peer(struct lc *c, const struct lego_node_addr *a, int *err)
{
	pthread_mutex_lock(&c->lock);
	struct lc_mem *m = lc_mem_get(c, a, err);
	pthread_mutex_unlock(&c->lock);
	return m ? &m->peer : NULL;
}

struct rpc_peer *lc_peer_find(struct lc *c, uint32_t node_id)
{
	pthread_mutex_lock(&c->lock);
	struct lc_mem *m = lc_mem_find(c, node_id);
	pthread_mutex_unlock(&c->lock);
	return m ? &m->peer : NULL;
}

struct rpc_peer *lc_place(struct lc *c, uint64_t granule, struct rpc_peer **mirror, int *err)
{
	struct lego_p2mon_place_req req = {.as = c->as, .granule = granule};
	struct lego_p2mon_place_rep rep;
	int r = rpc_call_fixed(&c->monitor, P2MON_PLACE, &req, sizeof req, &rep, sizeof rep,
			       c->timeout_ns);
	if (r) {
		if (r != -ENOMEM)
			lg_log(LG_ERROR, "client", "monitor could not place granule %llu: %s",
			       (unsigned long long)granule, strerror(-r));
		*err = r;
		return NULL;
	}
	pthread_mutex_lock(&c->lock);
	struct lc_mem *m = lc_mem_get(c, &rep.node, err);
	struct lc_mem *r2 = m && rep.replica.node_id ? lc_mem_get(c, &rep.replica, err) : NULL;
	pthread_mutex_unlock(&c->lock);
	if (m && rep.replica.node_id && !r2)
		return NULL; /* the replica's memnode cannot be reached */
	*mirror = r2 ? &r2->peer : NULL;
	if (c->replicas > 1 && !r2)
		lg_log_rl(LG_WARN, "client", "granule %llu has one copy: the monitor knows no "
			  "second memnode that is up", (unsigned long long)granule);
	return m ? &m->peer : NULL;
}

int lc_file_call(struct lc *c, uint16_t op, const struct iovec *iov, int n, void *rep,
		 size_t repcap, size_t *replen)
{
	pthread_mutex_lock(&c->lock);
	struct lc_mem *m = c->files;
	int r = 0;
	if (!m) {
		struct lego_p2mon_as_req req = {.as = c->as, .pid = (uint32_t)getpid()};
		struct lego_node_addr a;
		r = rpc_call_fixed(&c->monitor, P2MON_FILES, &req, sizeof req, &a, sizeof a,
				   c->timeout_ns);
		if (r == 0)
			m = c->files = lc_mem_get(c, &a, &r);
		else
			lg_log_rl(LG_ERROR, "client", "no memnode serves files: %s", strerror(-r));
	}
	pthread_mutex_unlock(&c->lock);
	if (!m)
		return r == -ENOMEM ? r : -EIO;
	r = rpc_callv(&m->peer, op, iov, n, rep, repcap, replen, c->timeout_ns);
	if (r == -ETIMEDOUT || r == -ECONNRESET) {
		lg_log_rl(LG_ERROR, "client", "file request to %s failed: %s", m->peer.name,
			  strerror(-r));
		r = -EIO;
	}
	return r;
}

/*
 * A memnode that held the only copy of some of our memory is down: the
 * program cannot go on correctly (any fault there would hang, then fail),
 * so it ends now, naming the node.  Exit status 69 (EX_UNAVAILABLE).
 */
static void lc_lost(struct lc *c, const struct lego_p2mon_hb_rep *rep)
{
	char names[512] = "";
	size_t n = 0;
	for (uint32_t i = 0; i < rep->nr_lost && i < LEGO_HB_LOST_MAX; i++) {
		char addr[128] = "?";
		const struct lc_mem *m = lc_mem_find(c, rep->lost[i]);
		if (m)
			lw_node_addr_str(&m->addr, addr, sizeof addr);
		n = lg_bprintf(names, sizeof names, n, "%smemnode %u (%s)", i ? ", " : "",
			       rep->lost[i], addr);
	}
	lg_logf(LG_ERROR, "client",
		"%s, which held this process's memory without a replica, is down (the monitor "
		"has not heard from it for %u ms): that memory is lost; stopping the process",
		names, rep->silent_ms);
	_exit(69);
}

/* Memnodes that died holding copies that have a live replica: stop using
 * them for good (their copies miss every write from now on). */
static void lc_down(struct lc *c, const struct lego_p2mon_hb_rep *rep)
{
	for (uint32_t i = 0; i < rep->nr_down && i < LEGO_HB_LOST_MAX; i++) {
		struct lc_mem *m = lc_mem_find(c, rep->down[i] & ~LEGO_HB_LEFT);
		if (!m || atomic_exchange(&m->peer.down, 1))
			continue;
		if (rep->down[i] & LEGO_HB_LEFT) { /* drained: none of our granules is there */
			lg_log(LG_INFO, "client", "memnode %u left the cluster (drained)", m->node_id);
			continue;
		}
		char addr[128];
		lw_node_addr_str(&m->addr, addr, sizeof addr);
		c->failover_ns = lg_now_ns();
		lg_logf(LG_WARN, "client", "memnode %u (%s) is down: its granules go on with "
			"their replicas, one copy each", m->node_id, addr);
		rpc_peer_expire(&m->peer); /* waiting requests retry on the replicas */
	}
}

static void lc_hb_reply(void *arg, int status, const void *body, size_t len)
{
	struct lc *c = arg;
	if (status == 0 && len >= sizeof(struct lego_p2mon_hb_rep)) {
		struct lego_p2mon_hb_rep rep;
		memcpy(&rep, body, sizeof rep);
		if (rep.nr_lost)
			lc_lost(c, &rep);
		if (rep.nr_down)
			lc_down(c, &rep);
		if (rep.moves && c->moves_kick)
			c->moves_kick(c->moves_arg);
	}
	if (status == -ESRCH)
		lg_log_rl(LG_ERROR, "client",
			  "the monitor no longer knows this process (lease expired); "
			  "its remote memory is gone");
	else if (status)
		lg_log_rl(LG_WARN, "client", "lease renewal with %s failed: %s", c->monitor_addr,
			  strerror(-status));
}

void lc_heartbeat(struct lc *c)
{
	static struct lego_p2mon_as_req req;
	req.as = c->as;
	req.pid = (uint32_t)getpid();
	struct iovec iov = {&req, sizeof req};
	rpc_call_async(&c->monitor, P2MON_HEARTBEAT, &iov, 1, c->timeout_ns, lc_hb_reply, c);
}

void lc_stop(struct lc *c)
{
	struct lego_p2mon_as_req req = {.as = c->as};
	uint64_t to = LG_MIN(c->timeout_ns, 2000000000ull);
	for (int i = 0; i < c->nmem; i++)
		if (c->mem[i].ok && !atomic_load(&c->mem[i].peer.down))
			rpc_call(&c->mem[i].peer, P2M_AS_EXIT, &req, sizeof req, NULL, 0, NULL, to);
	if (c->monitor.connected)
		rpc_call(&c->monitor, P2MON_EXIT, &req, sizeof req, NULL, 0, NULL, to);
	for (int i = 0; i < c->nmem; i++)
		if (c->mem[i].ok && !atomic_load(&c->mem[i].peer.down))
			rpc_call(&c->mem[i].peer, X2X_BYE, NULL, 0, NULL, 0, NULL, to);
	if (c->monitor.connected)
		rpc_call(&c->monitor, X2X_BYE, NULL, 0, NULL, 0, NULL, to);
}

int lc_fork_register(struct lc *c, struct lego_as_ref *child)
{
	struct lego_p2mon_as_req req = {.as = c->as, .pid = (uint32_t)getpid()};
	struct lego_p2mon_register_rep rep;
	int r = rpc_call_fixed(&c->monitor, P2MON_FORK, &req, sizeof req, &rep, sizeof rep,
			       c->timeout_ns);
	if (r) {
		lg_log(LG_WARN, "client", "monitor refused fork: %s", strerror(-r));
		return r == -ENOMEM ? r : -EAGAIN;
	}
	*child = rep.as;
	return 0;
}

int lc_fork_clone(struct lc *c, const struct lego_as_ref *child)
{
	struct lego_clone_req cr = {.parent = c->as, .child = *child};
	int r;
	for (int i = 0; i < c->nmem; i++) {
		if (!c->mem[i].ok || atomic_load(&c->mem[i].peer.down))
			continue;
		r = rpc_call(&c->mem[i].peer, P2M_CLONE, &cr, sizeof cr, NULL, 0, NULL, c->timeout_ns);
		if (r) {
			lg_log(LG_WARN, "client", "memnode %u cannot clone for fork: %s",
			       c->mem[i].node_id, strerror(-r));
			lc_fork_abandon(c, child);
			return r == -ENOMEM ? r : -EAGAIN;
		}
	}
	return 0;
}

void lc_fork_abandon(struct lc *c, const struct lego_as_ref *child)
{
	struct lego_p2mon_as_req req = {.as = *child};
	for (int i = 0; i < c->nmem; i++)
		if (c->mem[i].ok && !atomic_load(&c->mem[i].peer.down))
			rpc_call(&c->mem[i].peer, P2M_AS_EXIT, &req, sizeof req, NULL, 0, NULL,
				 c->timeout_ns);
	rpc_call(&c->monitor, P2MON_EXIT, &req, sizeof req, NULL, 0, NULL, c->timeout_ns);
}

/* A forked child's peer p, made and connected aside and then put in
 * place: until then p is the parent's, on which every call fails at once
 * (rpc_client_orphan), and not a half-made one that a call made meanwhile
 * (by the allocator, say) would send on. */
static int lc_fork_peer(struct rpc_links *l, const struct lego_node_addr *a, struct rpc_peer *p,
			const char *name, uint64_t timeout_ns)
{
	struct rpc_peer np;
	int r = rpc_links_peer_node(l, a, &np, name);
	if (r == 0)
		r = rpc_peer_connect(&np, timeout_ns);
	if (r == 0)
		memcpy(p, &np, sizeof np);
	return r;
}

int lc_fork_child(struct lc *c, const struct lego_as_ref *child)
{
	/* the parent's client and endpoints are left as they are: closing
	 * them here could tear down state the parent shares (shm regions) */
	int r = rpc_client_new(c->key, LEGO_ROLE_PROCESS, &c->cl);
	if (r)
		return r;
	rpc_client_observe(c->cl, lc_observe);
	c->links.cl = c->cl;
	memset(c->links.ep, 0, sizeof c->links.ep);
	c->mlinks.cl = c->cl;
	memset(c->mlinks.ep, 0, sizeof c->mlinks.ep);
	pthread_mutex_init(&c->lock, NULL);
	c->as = *child;
	char name[300];
	snprintf(name, sizeof name, "monitor %s", c->monitor_addr);
	/* no name resolution here: the C library's resolver may keep state in
	 * remote memory, which the child cannot read before it is connected */
	r = lc_fork_peer(&c->mlinks, &c->monitor_node, &c->monitor, name, c->timeout_ns);
	if (r) {
		lg_log(LG_ERROR, "client", "forked child cannot reach the monitor: %s", strerror(-r));
		return r;
	}
	for (int i = 0; i < c->nmem; i++) {
		if (!c->mem[i].ok)
			continue;
		snprintf(name, sizeof name, "memnode %u", c->mem[i].node_id);
		r = lc_fork_peer(&c->links, &c->mem[i].addr, &c->mem[i].peer, name, c->timeout_ns);
		if (r) {
			lg_log(LG_ERROR, "client", "forked child cannot reach memnode %u: %s",
			       c->mem[i].node_id, strerror(-r));
			return r;
		}
	}
	/* tell the monitor who we are (and start the lease) */
	struct lego_p2mon_as_req req = {.as = *child, .pid = (uint32_t)getpid()};
	return rpc_call(&c->monitor, P2MON_HEARTBEAT, &req, sizeof req, NULL, 0, NULL,
			c->timeout_ns);
}
