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
size_t monitor_stats(void *user, char *buf, size_t cap);

/* Tool views (views.c): T2MON_STATUS, T2MON_NODES and T2MON_PLACES, each
 * reply at most LEGO_VIEW_MAX bytes. */
int mon_view_status(struct rpc_ctx *ctx);
int mon_view_nodes(struct rpc_ctx *ctx);
int mon_view_places(struct rpc_ctx *ctx);

#endif
