/* lego-monitor: state shared by its handlers and main loop. */
#ifndef LEGO_MONITOR_H
#define LEGO_MONITOR_H

#include "fabric/node.h"
#include "fabric/rpc.h"
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

#endif
