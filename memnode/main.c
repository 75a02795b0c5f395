/*
 * lego-memnode: stores the lines of processes' address spaces.  Registers
 * with the monitor, then serves requests and heart-beats from one event
 * loop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/daemon.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "fabric/link.h"
#include "memnode.h"
#include "rmem.h"

/* jemalloc (the memnode's allocator) takes the system's transparent huge
 * page setting; it used to force them (thp:always, so a new line would
 * rarely take a page fault).  Measured on a 2-vCPU VM (docs/lego-memnode.md):
 * a fresh huge page costs ~10 us per 4 KiB to fault in, 2.6 ms at once in
 * this one loop, against ~1.7 us for a small page, and write-backs waited
 * behind it (mean 1.7 ms).  MALLOC_CONF=thp:always turns them back on. */

/* jemalloc's control call, where jemalloc is the allocator (not under
 * the sanitizers, which bring their own) */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
	__attribute__((weak));

/* One-sided reads need line buffers that stay mapped once an address was
 * handed out (a stale address must read old bytes, which the client's
 * CRC32C check then refuses, not fail): jemalloc with opt.retain, its
 * default on 64-bit Linux, never unmaps what it once mapped. */
static int memory_retained(void)
{
	bool retain = false;
	size_t sz = sizeof retain;
	return mallctl && mallctl("opt.retain", &retain, &sz, NULL, 0) == 0 && retain;
}

/* jemalloc gives freed memory back to the kernel (purges it) as it
 * decays, by default inside malloc and free calls: in the memnode, inside
 * a write-back's handling, after a large free 35-134 MiB at once and
 * 33-92 ms of that handler (measured with lego-bench-freestall: a program
 * unmapping 1 GiB arrays).  Its background threads purge instead, off the
 * event loop. */
static void purge_in_background(void)
{
	bool on = true;
	if (mallctl && mallctl("background_thread", NULL, NULL, &on, sizeof on) != 0)
		lg_log(LG_INFO, "memnode", "jemalloc's background purging is not available");
}

static volatile int stop;
static struct memnode M;
static struct lg_opts O;

/* Every pass of the event loop: a scrape waiting, and a piece of the
 * large frees still pending, of the freed line buffers to give back and
 * of the buffers to get ready for new lines (store.c), between requests. */
static int memnode_pass(void *arg)
{
	struct memnode *m = arg;
	return lg_metrics_poll(m->mx) + (ms_store_work(m->store, MS_FREE_PASS) > 0) +
	       (ms_store_trim(m->store, MS_FREE_PASS) > 0) + ms_store_prepare(m->store);
}

static int mon_register(void *arg)
{
	struct memnode *m = arg;
	struct lego_m2mon_register_req req;
	memset(&req, 0, sizeof req);
	req.capacity = lg_opt_u(&O, LG_OPT_capacity);
	req.addr = m->node.addr;
	struct lego_m2mon_register_rep rep;
	uint64_t to = lg_opt_u(&O, LG_OPT_rpc_timeout_ms) * 1000000ull;
	int r = m->mon.connected ? 0 : rpc_peer_connect(&m->mon, to);
	if (r == 0)
		r = rpc_call_fixed(&m->mon, M2MON_REGISTER, &req, sizeof req, &rep, sizeof rep, to);
	if (r)
		return r;
	m->node_id = rep.node_id;
	ms_store_set_secret(m->store, rep.secret);
	m->registered = 1;
	lg_log(LG_INFO, "memnode", "registered with the monitor as memnode %u", m->node_id);
	return 0;
}

static void hb_reply(void *arg, int status, const void *body, size_t len)
{
	struct memnode *m = arg;
	m->hb_inflight = 0;
	if (status == -ENOENT) { /* the monitor restarted and forgot us */
		m->registered = 0;
		return;
	}
	if (status || len < sizeof(struct lego_m2mon_heartbeat_rep)) {
		m->hb_failures++;
		if (status == -ETIMEDOUT || status == -ECONNRESET)
			m->mon.connected = 0;
		return;
	}
	struct lego_m2mon_heartbeat_rep rep;
	memcpy(&rep, body, sizeof rep);
	for (uint32_t i = 0; i < rep.nr_free && i < LEGO_HB_FREE_MAX; i++) {
		/* the process is gone (it may have died without saying bye):
		 * its connection goes too, or dead ones would fill the table */
		uint64_t conn = ms_as_destroy(m->store, rep.free_as[i]);
		if (conn && !ms_owner_in_use(m->store, conn))
			rpc_server_drop_process(m->srv, conn);
	}
	if ((rep.flags & LEGO_HB_LEAVE) && !stop) {
		lg_log(LG_INFO, "memnode", "drained: every granule it held has moved to other "
		       "memnodes; leaving the cluster");
		stop = 1;
	}
}

static void tick(void *user)
{
	struct memnode *m = user;
	/* rpc_loop_run only receives: expire a heartbeat that was never
	 * answered (a restarted monitor drops old sessions silently). */
	rpc_client_progress(m->mon_cl);
	if (!m->registered) {
		if (mon_register(m) < 0)
			lg_log_rl(LG_WARN, "memnode", "monitor %s unreachable; retrying",
				  lg_opt_s(&O, LG_OPT_monitor));
		return;
	}
	struct pgc_stats ps;
	if (m->pgc) {
		pgc_gc(m->pgc, 256); /* (the whole table in 16 heartbeats, 8 s) */
		pgc_get_stats(m->pgc, &ps);
	}
	if (m->pgc && ps.dirty && pgc_tick(m->pgc) < 0)
		lg_log_rl(LG_WARN, "memnode", "file write-back is failing; dirty data is kept");
	if (m->hb_inflight)
		return;
	static struct lego_m2mon_heartbeat_req req;
	struct ms_totals t;
	ms_store_totals(m->store, &t);
	req.node_id = m->node_id;
	req.nr_as = (uint32_t)t.nr_as;
	req.capacity = t.capacity;
	req.reserved = t.reserved;
	req.stored = t.stored;
	req.read_bytes = m->read_bytes;
	req.write_bytes = m->write_bytes;
	req.pid = (uint32_t)getpid();
	struct iovec iov = {&req, sizeof req};
	if (rpc_call_async(&m->mon, M2MON_HEARTBEAT, &iov, 1,
			   lg_opt_u(&O, LG_OPT_heartbeat_ms) * 2000000ull, hb_reply, m) == 0)
		m->hb_inflight = 1;
}

int main(int argc, char **argv)
{
	lg_daemon_options(argc, argv, 'M', "lego-memnode",
			  "--monitor HOST:PORT [--listen HOST:PORT] [--capacity SIZE] [options]", &O);
	if (rpc_options_apply(&O) != 0)
		return 2;
	lg_daemon_signals(&stop);
	/* (first: its threads keep the default priority) */
	purge_in_background();
	/* Processes wait on every request we serve; when we share a machine
	 * with them, do not queue behind their threads (needs CAP_SYS_NICE). */
	setpriority(PRIO_PROCESS, 0, -10);
	struct memnode *m = &M;
	if (!lg_opt_s(&O, LG_OPT_monitor)[0] && lg_opt_i(&O, LG_OPT_monitor_fd) < 0) {
		fprintf(stderr, "lego-memnode: --monitor HOST:PORT is required\n");
		return 2;
	}
	if (ms_store_new(lg_opt_u(&O, LG_OPT_capacity), &m->store) < 0)
		return 1;
	struct rpc_server_conf sc = {.name = "memnode", .handlers = memnode_handlers,
				     .nhandlers = memnode_nhandlers,
				     .key = lg_opt_s(&O, LG_OPT_cluster_key), .user = m,
				     .stats_fn = memnode_stats,
				     .max_conns = (unsigned)lg_opt_u(&O, LG_OPT_max_clients),
				     .record_dir = lg_opt_s(&O, LG_OPT_record)};
	if (rpc_server_new(&sc, &m->srv) < 0)
		return 1;
	if (lg_metrics_start(lg_daemon_metrics_addr(&O), "memnode", rpc_server_stats_all,
			     m->srv, &m->mx) < 0)
		return 2;
	enum lf_fabric_choice fab = (enum lf_fabric_choice)lg_opt_u(&O, LG_OPT_fabric);
	if (lf_node_listen(&m->node, lg_opt_s(&O, LG_OPT_listen), fab, 64, LEGO_MSG_MAX,
			   rpc_server_on_recv, m->srv) < 0)
		return 1;
	/* shm clients may read lines one-sided, from this process's memory
	 * (lf_read_nb); each read is checked against what the client wrote
	 * (excache.c), so a line that moved is fetched by request instead */
	if (m->node.shm && lg_opt_u(&O, LG_OPT_rma) && memory_retained())
		m->rma = 1;
	/* network clients too, where the provider reads one-sided (verbs;
	 * tcp through rxm only with --rma on: there a read is a round trip
	 * like a request, measured no faster): from line buffers registered
	 * with it */
	uint64_t rma = lg_opt_u(&O, LG_OPT_rma); /* 0 off, 1 on, 2 auto */
	int tcp = m->node.net && lf_ep_prov(m->node.net) == LEGO_PROV_TCP;
	if (m->node.net && rma && (!tcp || rma == 1) && rmem_open(m->node.net, tcp) == 0) {
		m->rma_net = 1;
		ms_store_line_alloc(m->store, rmem_alloc);
	}
	/* link to the monitor (and the storenode) */
	struct rpc_links *links = &m->links;
	if (rpc_client_new(lg_opt_s(&O, LG_OPT_cluster_key), LEGO_ROLE_MEMNODE, &m->mon_cl) < 0)
		return 1;
	links->cl = m->mon_cl;
	links->rx_bufs = 8;
	links->rx_size = LEGO_MSG_MAX; /* storenode reads carry up to 1 MiB */
	links->fab = fab == LF_FAB_SHM ? LF_FAB_SHM : LF_FAB_TCP;
	m->fab = fab;
	/* the storenode on endpoints of its own, made afresh on every
	 * reconnection (memnode_store_call); shm when it shares our host */
	m->sto_links = *links;
	m->sto_links.fab = fab;
	struct pgc_conf pc = {.size = lg_opt_u(&O, LG_OPT_pgcache_size),
			      .dirty_max = lg_opt_u(&O, LG_OPT_pgcache_dirty),
			      .expire_ns = lg_opt_u(&O, LG_OPT_pgcache_expire_ms) * 1000000ull,
			      .call = memnode_store_call, .user = m};
	m->store_timeout_ns = lg_opt_u(&O, LG_OPT_store_timeout_ms) * 1000000ull;
	if (pgc_new(&pc, &m->pgc) < 0)
		return 1;
	const char *mon = lg_opts_monitor(&O, &stop);
	if (!mon || rpc_links_peer_hostport(links, mon, &m->mon, "monitor", NULL) < 0)
		return 1;
	int r = lf_retry(mon_register, m, 30, &stop);
	if (r < 0 && !stop) {
		lg_log(LG_ERROR, "memnode", "cannot register with monitor %s: %s",
		       lg_opt_s(&O, LG_OPT_monitor), strerror(-r));
		return 1;
	}
	char hp[96];
	lf_node_hostport(&m->node, hp, sizeof hp);
	char cap[32];
	lg_log(LG_INFO, "memnode", "memnode %u serving %s on %s%s", m->node_id,
	       lg_format_size(lg_opt_u(&O, LG_OPT_capacity), cap, sizeof cap), hp,
	       m->rma && m->rma_net ? "; clients read lines one-sided"
	       : m->rma		    ? "; shm clients read lines one-sided"
	       : m->rma_net	    ? "; network clients read lines one-sided"
				    : "");
	if (lf_node_ready(&m->node, "memnode", lg_opt_s(&O, LG_OPT_addr_file),
			  (int)lg_opt_i(&O, LG_OPT_parent_fd),
			  (int)lg_opt_i(&O, LG_OPT_linger_fd), &stop, NULL) < 0)
		return 1;
	struct lf_ep *eps[8];
	int n = rpc_links_eps(links, eps, lf_node_eps(&m->node, eps));
	rpc_loop_set_pass_hook(memnode_pass, m);
	rpc_loop_run(eps, n, &m->node.bell, &stop, tick, m, lg_opt_u(&O, LG_OPT_heartbeat_ms) * 1000000ull);
	lg_metrics_stop(m->mx);
	if (m->pgc && pgc_flush_all(m->pgc) < 0)
		lg_log(LG_ERROR, "memnode", "exiting with file data the storenode has not stored");
	pgc_free(m->pgc);
	rpc_links_close(&m->sto_links);
	rpc_links_close(links);
	lf_node_close(&m->node);
	ms_store_free(m->store);
	return 0;
}
