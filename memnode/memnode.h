/*
 * lego-memnode: state shared by its handlers and main loop.
 */
#ifndef LEGO_MEMNODE_H
#define LEGO_MEMNODE_H

#include "fabric/link.h"
#include "fabric/node.h"
#include "fabric/rpc.h"
#include "pgcache.h"
#include "store.h"

struct memnode {
	struct ms_store *store;
	struct rpc_server *srv;
	struct lf_node node;
	/* link to the monitor */
	struct rpc_client *mon_cl;
	struct lf_ep *mon_ep;
	struct rpc_peer mon;
	struct rpc_links links; /* to the monitor and the storenode */
	enum lf_fabric_choice fab; /* the fabric option */
	/* files: the page cache and the storenode behind it */
	struct pgc *pgc;
	struct rpc_peer sto;
	int sto_ok;
	uint64_t store_retry_ns; /* no new attempt before this after a failure */
	uint64_t store_timeout_ns;
	uint32_t node_id;
	int registered;
	int hb_inflight;
	uint64_t hb_failures;
	/* counters */
	uint64_t read_lines, write_lines, write_applied, free_lines, reserve_calls;
	uint64_t read_bytes, write_bytes; /* reported to the monitor (placement) */
};

extern const struct rpc_handler memnode_handlers[];
extern const size_t memnode_nhandlers;

/* pgc_call_fn to the storenode (user = the memnode): found through the
 * monitor, reconnected after a failure; -EIO while it cannot be reached. */
int memnode_store_call(void *user, uint16_t op, const struct iovec *iov, int n, void *rep,
		       size_t repcap, size_t *replen);

/* Append the memnode's counters as "key:value\n" lines. */
size_t memnode_stats(void *user, char *buf, size_t cap);

/* Resident set size of this process in bytes (from /proc/self/statm). */
uint64_t memnode_rss(void);

#endif
