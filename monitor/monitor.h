/* lego-monitor: state shared by its handlers and main loop. */
#ifndef LEGO_MONITOR_H
#define LEGO_MONITOR_H

#include "fabric/node.h"
#include "fabric/rpc.h"
#include "place.h"
#include "registry.h"

struct monitor {
	struct mon_reg reg;
	struct rpc_server *srv;
	struct lf_node node;
	uint32_t heartbeat_ms;
};

extern const struct rpc_handler monitor_handlers[];
extern const size_t monitor_nhandlers;

/* The monitor's counters, after the RPC server's (common/stats_list.h says
 * how to read the lists).  Sizes are in bytes. */
#define MONITOR_STATS_LIST(X, S, F) \
	S(role, "role", "`monitor`") \
	X(memnodes, "memnodes", "memnodes registered, up or down (gauge)") \
	X(memnodes_up, "memnodes_up", "memnodes up (gauge)") \
	X(processes, "processes", "processes holding a lease (gauge)") \
	S(placement, "placement", "the placement policy (`--placement`)") \
	X(processes_registered, "processes_registered", "processes registered") \
	X(processes_exited, "processes_exited", "processes that said goodbye or were found gone on this host") \
	X(processes_expired, "processes_expired", "processes that stopped renewing their lease") \
	F(nodes, "node.N.*", "per memnode N (its id), below") \
	X(storenodes, "storenodes", "storenodes registered, up or down (gauge)") \
	X(storenodes_up, "storenodes_up", "storenodes up (gauge)") \
	X(storenodes_down_events, "storenodes_down_events", "storenodes declared down: they missed heartbeats") \
	X(storenode_serving, "storenode_serving", "id of the storenode serving files, 0 if none (gauge)") \
	F(stores, "store.N.*", "per storenode N (its id), below") \
	F(procs, "proc.N.*", "per process, N its address-space id, below")

/* node.N.*: one memnode; figures it reported at its last heartbeat. */
#define MONITOR_NODE_STATS_LIST(X) \
	X(up, "node.%llu.up", "1 while it sends heartbeats (gauge)") \
	X(capacity, "node.%llu.capacity", "memory it may store (gauge)") \
	X(reserved, "node.%llu.reserved", "memory processes reserved there (gauge)") \
	X(stored, "node.%llu.stored", "line data it holds (gauge)") \
	X(granules, "node.%llu.granules", "granules placed there (gauge)") \
	X(traffic, "node.%llu.traffic", "bytes/s read and written between its last two heartbeats (gauge)")

/* store.N.*: one storenode; the space of its root's file system. */
#define MONITOR_STORE_STATS_LIST(X) \
	X(up, "store.%llu.up", "1 while it sends heartbeats (gauge)") \
	X(free, "store.%llu.free", "bytes free (gauge)") \
	X(used, "store.%llu.used", "bytes used (gauge)")

/* proc.N.*: one process holding a lease. */
#define MONITOR_PROC_STATS_LIST(X, S) \
	X(pid, "proc.%llu.pid", "its pid on its host") \
	S(host, "proc.%llu.host", "its host name") \
	X(granules, "proc.%llu.granules", "granules placed for it (gauge)")

size_t monitor_stats(void *user, char *buf, size_t cap);

/* Tool views (views.c): T2MON_STATUS, T2MON_NODES and T2MON_PLACES, each
 * reply at most LEGO_VIEW_MAX bytes. */
int mon_view_status(struct rpc_ctx *ctx);
int mon_view_nodes(struct rpc_ctx *ctx);
int mon_view_places(struct rpc_ctx *ctx);

#endif
