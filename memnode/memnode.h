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
	struct rpc_links links; /* to the monitor */
	struct rpc_links sto_links; /* to the storenode (memnode_store_call) */
	enum lf_fabric_choice fab; /* the fabric option */
	/* files: the page cache and the storenode behind it */
	struct pgc *pgc;
	struct rpc_peer sto;
	int sto_ok;
	uint64_t store_retry_ns; /* no new attempt before this after a failure */
	uint64_t store_timeout_ns;
	uint32_t node_id;
	/* shm clients may read lines out of this process (lf_read_nb);
	 * network clients may read them with fi_read (rmem.h) */
	int rma, rma_net;
	int registered;
	int hb_inflight;
	uint64_t hb_failures;
	struct lg_metrics *mx; /* /metrics, or NULL */
	/* counters */
	uint64_t read_lines, write_lines, write_applied, reserve_calls;
	uint64_t read_bytes, write_bytes; /* reported to the monitor (placement) */
};

extern const struct rpc_handler memnode_handlers[];
extern const size_t memnode_nhandlers;

/* pgc_call_fn to the storenode (user = the memnode): found through the
 * monitor, reconnected after a failure; -EIO while it cannot be reached. */
int memnode_store_call(void *user, uint16_t op, const struct iovec *iov, int n, void *rep,
		       size_t repcap, size_t *replen);

/* The memnode's counters, after the RPC server's (common/stats_list.h
 * says how to read the list).  Sizes are in bytes. */
#define MEMNODE_STATS_LIST(X, S) \
	S(role, "role", "`memnode`") \
	X(node_id, "node_id", "the id the monitor gave it (0 until registered)") \
	X(registered, "registered", "1 while registered with the monitor (gauge)") \
	X(capacity, "capacity", "memory it may store, `--capacity` (gauge)") \
	X(reserved, "reserved", "memory processes reserved here (gauge)") \
	X(stored, "stored", "line data held (gauge)") \
	X(lines, "lines", "lines holding data (gauge)") \
	X(address_spaces, "address_spaces", "address spaces held (gauge)") \
	X(as_created, "as_created", "address spaces created") \
	X(as_freed, "as_freed", "address spaces freed") \
	X(cap_rejects, "cap_rejects", "requests whose address-space capability did not verify") \
	X(enomem, "enomem", "writes and reservations refused: full, or over the process's quota") \
	X(read_lines, "read_lines", "lines read by processes") \
	X(write_lines, "write_lines", "lines written by processes") \
	X(write_applied, "write_applied", "written lines stored (not older than the copy held)") \
	X(free_lines, "free_lines", "lines freed") \
	X(free_pending, "free_pending", "lines of large frees still to walk, between requests (gauge)") \
	X(line_pool, "line_pool", "bytes of line buffers kept for new lines (freed ones, and about 4 MiB made ready while new lines come), given back after 1 s unused (gauge)") \
	X(heartbeat_failures, "heartbeat_failures", "heartbeats to the monitor that failed") \
	X(rss, "rss", "the memnode's resident memory (gauge)") \
	X(pgcache_files, "pgcache.files", "files the page cache holds: those with data cached (the others are forgotten within about 10 s) (gauge)") \
	X(pgcache_bytes, "pgcache.bytes", "file data cached (gauge)") \
	X(pgcache_dirty, "pgcache.dirty", "cached file data not yet written back (gauge)") \
	X(pgcache_hits, "pgcache.hits", "blocks read from the cache") \
	X(pgcache_misses, "pgcache.misses", "blocks read that were not cached") \
	X(pgcache_fills, "pgcache.fills", "reads from the storenode to fill missing blocks") \
	X(pgcache_writebacks, "pgcache.writebacks", "write-backs to the storenode") \
	X(pgcache_writeback_bytes, "pgcache.writeback_bytes", "bytes written back") \
	X(pgcache_writeback_errors, "pgcache.writeback_errors", "write-backs that failed") \
	X(pgcache_dropped_bytes, "pgcache.dropped_bytes", "dirty bytes dropped: their file was gone") \
	X(pgcache_evictions, "pgcache.evictions", "blocks evicted to keep the cache within its size") \
	X(pgcache_store_errors, "pgcache.store_errors", "storenode requests failed: unreachable or timed out") \
	X(store_connected, "store_connected", "1 while connected to the storenode (gauge)")

/* Append the memnode's counters as "key:value\n" lines. */
size_t memnode_stats(void *user, char *buf, size_t cap);

/* Resident set size of this process in bytes (from /proc/self/statm). */
uint64_t memnode_rss(void);

#endif
