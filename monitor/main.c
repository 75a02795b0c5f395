/* lego-monitor: registers memnodes and processes and places memory. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/daemon.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "fabric/rpc.h"
#include "monitor.h"

static volatile int stop, parent_gone;

static void tick(void *user)
{
	struct monitor *m = user;
	mon_reg_tick(&m->reg, lg_now_ns());
	/* Embedded: the embedder is gone (lego-run ended, or was killed);
	 * the processes still registered keep the cluster, memory and all,
	 * until the last one ends (says bye, dies, or its lease lapses). */
	static uint32_t said = UINT32_MAX;
	if (parent_gone && !stop) {
		if (!m->reg.nprocs) {
			lg_log(LG_INFO, "monitor", "embedding process gone and no process left; "
			       "exiting");
			stop = 1;
		} else if (m->reg.nprocs != said) {
			said = m->reg.nprocs;
			lg_log(LG_INFO, "monitor", "embedding process gone; staying for the %u "
			       "processes still registered", said);
		}
	}
}

static void mon_conn_gone(void *srv, uint64_t conn) { rpc_server_drop_process(srv, conn); }

int main(int argc, char **argv)
{
	struct lg_opts o;
	lg_daemon_options(argc, argv, 'N', "lego-monitor", "[--listen HOST:PORT] [options]", &o);
	if (rpc_options_apply(&o) != 0)
		return 2;
	lg_daemon_signals(&stop);
	static struct monitor m;
	m.heartbeat_ms = (uint32_t)lg_opt_u(&o, LG_OPT_heartbeat_ms);
	if (mon_reg_init(&m.reg, (uint32_t)lg_opt_u(&o, LG_OPT_vm_granularity_order),
			 lg_opt_u(&o, LG_OPT_lease_ms) * 1000000ull,
			 lg_opt_u(&o, LG_OPT_node_timeout_ms) * 1000000ull) < 0)
		return 1;
	m.reg.placement = (uint32_t)lg_opt_u(&o, LG_OPT_placement);
	m.reg.replicas = (uint32_t)lg_opt_u(&o, LG_OPT_replicas);
	m.reg.quota = lg_opt_u(&o, LG_OPT_quota);
	struct rpc_server_conf sc = {.name = "monitor", .handlers = monitor_handlers,
				     .nhandlers = monitor_nhandlers,
				     .key = lg_opt_s(&o, LG_OPT_cluster_key), .user = &m,
				     .stats_fn = monitor_stats,
				     .max_conns = (unsigned)lg_opt_u(&o, LG_OPT_max_clients),
				     .record_dir = lg_opt_s(&o, LG_OPT_record)};
	if (rpc_server_new(&sc, &m.srv) < 0)
		return 1;
	m.reg.conn_gone = mon_conn_gone;
	m.reg.conn_gone_arg = m.srv;
	struct lg_metrics *mx;
	if (lg_metrics_start(lg_daemon_metrics_addr(&o), "monitor", rpc_server_stats_all,
			     m.srv, &mx) < 0)
		return 2;
	if (lf_node_listen(&m.node, lg_opt_s(&o, LG_OPT_listen),
			   (enum lf_fabric_choice)lg_opt_u(&o, LG_OPT_fabric), 32, 64 * 1024,
			   rpc_server_on_recv, m.srv) < 0)
		return 1;
	char hp[96];
	lf_node_hostport(&m.node, hp, sizeof hp);
	lg_log(LG_INFO, "monitor", "listening on %s", hp);
	if (lf_node_ready(&m.node, "monitor", lg_opt_s(&o, LG_OPT_addr_file),
			  (int)lg_opt_i(&o, LG_OPT_parent_fd), -1, &stop, &parent_gone) < 0)
		return 1;
	struct lf_ep *eps[2];
	int n = lf_node_eps(&m.node, eps);
	rpc_loop_set_pass_hook(lg_metrics_poll, mx);
	rpc_loop_run(eps, n, &m.node.bell, &stop, tick, &m, MON_TICK_NS);
	lg_metrics_stop(mx);
	lf_node_close(&m.node);
	rpc_server_free(m.srv);
	return 0;
}
