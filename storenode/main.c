/*
 * lego-storenode: serves the files under its root directory to memnodes
 * (docs/storage.md).  Registers with the monitor, then serves requests and
 * heart-beats from one event loop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/daemon.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "fabric/rpc.h"
#include "fabric/link.h"
#include "storenode.h"

/* Largest request: header, file request, two u16-long paths, WRITE data. */
#define SN_RX_SIZE                                                             \
	(sizeof(struct lego_hdr) + sizeof(struct lego_file_req) + 2u * UINT16_MAX + \
	 LEGO_FILE_IO_MAX)

static volatile int stop;
static struct storenode S;
static struct lg_opts O;

static int mon_register(void *arg)
{
	struct storenode *s = arg;
	struct lego_m2mon_register_req req;
	memset(&req, 0, sizeof req);
	uint64_t used = 0;
	storenode_space(s->root_fd, &req.capacity, &used);
	req.addr = s->node.addr;
	struct lego_m2mon_register_rep rep;
	uint64_t to = lg_opt_u(&O, LG_OPT_rpc_timeout_ms) * 1000000ull;
	int r = s->mon.connected ? 0 : rpc_peer_connect(&s->mon, to);
	if (r == 0)
		r = rpc_call_fixed(&s->mon, S2MON_REGISTER, &req, sizeof req, &rep, sizeof rep, to);
	if (r)
		return r;
	s->node_id = rep.node_id;
	s->registered = 1;
	lg_log(LG_INFO, "storenode", "registered with the monitor as storenode %u", s->node_id);
	return 0;
}

static void hb_reply(void *arg, int status, const void *body, size_t len)
{
	struct storenode *s = arg;
	s->hb_inflight = 0;
	if (status == -ENOENT) { /* the monitor restarted and forgot us */
		s->registered = 0;
		return;
	}
	if (status) {
		s->hb_failures++;
		if (status == -ETIMEDOUT || status == -ECONNRESET)
			s->mon.connected = 0;
	}
}

static void tick(void *user)
{
	struct storenode *s = user;
	/* rpc_loop_run drives the endpoints but does not expire overdue
	 * calls; without this a heartbeat the monitor never answers (it
	 * restarted and drops our old session) would stay in flight forever. */
	rpc_client_progress(s->mon_cl);
	/* A heartbeat timed out: the monitor may have restarted and lost our
	 * session.  Reconnect; a monitor that forgot us then answers the next
	 * heartbeat -ENOENT and we register again.  The short timeout keeps
	 * the loop serving requests while the monitor is away. */
	if (s->registered && !s->mon.connected &&
	    rpc_peer_connect(&s->mon, lg_opt_u(&O, LG_OPT_heartbeat_ms) * 1000000ull) < 0) {
		lg_log_rl(LG_WARN, "storenode", "monitor %s unreachable; retrying",
			  lg_opt_s(&O, LG_OPT_monitor));
		return;
	}
	if (!s->registered) {
		if (mon_register(s) < 0)
			lg_log_rl(LG_WARN, "storenode", "monitor %s unreachable; retrying",
				  lg_opt_s(&O, LG_OPT_monitor));
		return;
	}
	if (s->hb_inflight)
		return;
	static struct lego_m2mon_heartbeat_req req;
	memset(&req, 0, sizeof req);
	req.node_id = s->node_id;
	storenode_space(s->root_fd, &req.capacity, &req.stored);
	req.pid = (uint32_t)getpid();
	struct iovec iov = {&req, sizeof req};
	if (rpc_call_async(&s->mon, S2MON_HEARTBEAT, &iov, 1,
			   lg_opt_u(&O, LG_OPT_heartbeat_ms) * 2000000ull, hb_reply, s) == 0)
		s->hb_inflight = 1;
}

/* Accept --root DIR (and --root=DIR) as the short form of --store-root. */
static char **root_alias(int argc, char **argv)
{
	static char *out[256];
	static char buf[LG_OPT_STR_MAX + 16];
	if (argc >= (int)LG_ARRAY_SIZE(out))
		return argv;
	for (int i = 0; i < argc; i++) {
		out[i] = argv[i];
		if (strcmp(argv[i], "--root") == 0) {
			out[i] = "--store-root";
		} else if (strncmp(argv[i], "--root=", 7) == 0) {
			snprintf(buf, sizeof buf, "--store-root=%s", argv[i] + 7);
			out[i] = buf;
		}
	}
	out[argc] = NULL;
	return out;
}

/* Open the store root; it must exist and be a directory. */
static int open_root(struct storenode *s, const char *dir)
{
	if (!dir[0]) {
		fprintf(stderr, "lego-storenode: --root DIR (or LEGO_STORE_ROOT) is required: the "
			"directory that holds the files\n");
		return -EINVAL;
	}
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		int e = errno;
		fprintf(stderr, "lego-storenode: store root %s: %s (create the directory first; "
			"the storenode does not)\n", dir, strerror(e));
		return -e;
	}
	if (!realpath(dir, s->root))
		snprintf(s->root, sizeof s->root, "%s", dir);
	s->root_fd = fd;
	return 0;
}

int main(int argc, char **argv)
{
	lg_daemon_options(argc, root_alias(argc, argv), 'S', "lego-storenode",
			  "--monitor HOST:PORT --root DIR [--listen HOST:PORT] [options]", &O);
	if (rpc_options_apply(&O) != 0)
		return 2;
	lg_daemon_signals(&stop);
	struct storenode *s = &S;
	s->root_fd = -1;
	if (!lg_opt_s(&O, LG_OPT_monitor)[0] && lg_opt_i(&O, LG_OPT_monitor_fd) < 0) {
		fprintf(stderr, "lego-storenode: --monitor HOST:PORT is required\n");
		return 2;
	}
	if (open_root(s, lg_opt_s(&O, LG_OPT_store_root)) < 0)
		return 2;
	struct rpc_server_conf sc = {.name = "storenode", .handlers = storenode_handlers,
				     .nhandlers = storenode_nhandlers,
				     .key = lg_opt_s(&O, LG_OPT_cluster_key), .user = s,
				     .stats_fn = storenode_stats,
				     .max_conns = (unsigned)lg_opt_u(&O, LG_OPT_max_clients),
				     .record_dir = lg_opt_s(&O, LG_OPT_record)};
	if (rpc_server_new(&sc, &s->srv) < 0)
		return 1;
	struct lg_metrics *mx;
	if (lg_metrics_start(lg_daemon_metrics_addr(&O), "storenode", rpc_server_stats_all,
			     s->srv, &mx) < 0)
		return 2;
	enum lf_fabric_choice fab = (enum lf_fabric_choice)lg_opt_u(&O, LG_OPT_fabric);
	if (lf_node_listen(&s->node, lg_opt_s(&O, LG_OPT_listen), fab, 32, SN_RX_SIZE,
			   rpc_server_on_recv, s->srv) < 0)
		return 1;
	/* link to the monitor */
	static struct rpc_links links;
	if (rpc_client_new(lg_opt_s(&O, LG_OPT_cluster_key), LEGO_ROLE_STORENODE, &s->mon_cl) < 0)
		return 1;
	links.cl = s->mon_cl;
	links.rx_bufs = 8;
	links.rx_size = 64 * 1024;
	links.fab = fab == LF_FAB_SHM ? LF_FAB_SHM : LF_FAB_TCP;
	const char *mon = lg_opts_monitor(&O, &stop);
	if (!mon || rpc_links_peer_hostport(&links, mon, &s->mon, "monitor", NULL) < 0)
		return 1;
	int r = lf_retry(mon_register, s, 30, &stop);
	if (r < 0 && !stop) {
		lg_log(LG_ERROR, "storenode", "cannot register with monitor %s: %s",
		       lg_opt_s(&O, LG_OPT_monitor), strerror(-r));
		return 1;
	}
	char hp[96];
	lf_node_hostport(&s->node, hp, sizeof hp);
	lg_log(LG_INFO, "storenode", "storenode %u serving %s on %s", s->node_id, s->root, hp);
	if (lf_node_ready(&s->node, "storenode", lg_opt_s(&O, LG_OPT_addr_file),
			  (int)lg_opt_i(&O, LG_OPT_parent_fd),
			  (int)lg_opt_i(&O, LG_OPT_linger_fd), &stop, NULL) < 0)
		return 1;
	struct lf_ep *eps[4 + LG_ARRAY_SIZE(links.ep)];
	int n = rpc_links_eps(&links, eps, lf_node_eps(&s->node, eps));
	rpc_loop_set_pass_hook(lg_metrics_poll, mx);
	rpc_loop_run(eps, n, &s->node.bell, &stop, tick, s, lg_opt_u(&O, LG_OPT_heartbeat_ms) * 1000000ull);
	lg_metrics_stop(mx);
	rpc_links_close(&links);
	lf_node_close(&s->node);
	rpc_server_free(s->srv);
	free(s->io_buf);
	close(s->root_fd);
	return 0;
}
