/*
 * The process's link to the cluster: the monitor (registration, lease,
 * placement) and the memnodes that hold its granules.
 *
 * Lock order: lc.lock (placement table) is taken before nothing else of
 * ours; RPCs made under it drive progress, whose callbacks take ExCache set
 * locks, so ExCache code must never call in here while holding a set lock.
 */
#ifndef LEGO_CLIENT_H
#define LEGO_CLIENT_H

#include <pthread.h>
#include <stdint.h>

#include "fabric/link.h"
#include "fabric/rpc.h"

struct lc_mem {
	uint32_t node_id;
	struct lego_node_addr addr;
	struct rpc_peer peer;
	int ok;
};

#define LC_MAX_MEMNODES 64

struct lc {
	struct rpc_client *cl;
	struct rpc_links links;  /* to the memnodes */
	struct rpc_links mlinks; /* to the monitor (see lc_start) */
	struct rpc_peer monitor;
	char monitor_addr[256];
	struct lego_node_addr monitor_node; /* resolved, for a forked child */
	char key[256];
	struct lego_as_ref as;
	uint32_t lease_ms;
	uint32_t granule_order;
	uint64_t timeout_ns;
	pthread_mutex_t lock;
	struct lc_mem mem[LC_MAX_MEMNODES];
	int nmem;
	struct lc_mem *files; /* the memnode serving our files, once known */
	uint32_t replicas;    /* copies of each granule asked for (set before lc_start) */
	uint64_t quota;       /* remote memory asked for at most, 0: any (set before lc_start);
			       * as.quota is what the monitor granted */
	uint64_t failover_ns; /* when a memnode was last declared down (0: never) */
	/* the monitor has moves for us (P2MON_MOVES): moves_kick(moves_arg)
	 * is called from the heartbeat's reply (liblego/move.c) */
	void (*moves_kick)(void *arg);
	void *moves_arg;
};

/* Connect to the monitor at hostport (waiting at most connect_ns for it)
 * and register this process.  0 or -errno (logged, except a monitor that
 * does not answer). */
int lc_start(struct lc *c, const char *hostport, const char *key, int fabric,
	     uint32_t line_order, uint64_t timeout_ns, uint64_t connect_ns);
/* Tell the monitor and memnodes we are gone (frees our memory). */
void lc_stop(struct lc *c);

/* Memnode holding `granule`, asking the monitor to place it if needed.
 * Returns the peer (connected) or NULL with *err set; *mirror gets the
 * memnode of its second copy (replicas 2), or NULL. */
struct rpc_peer *lc_place(struct lc *c, uint64_t granule, struct rpc_peer **mirror, int *err);

/* Memnode `a` (connecting to it if needed) for a move, or NULL with *err
 * set; and the connected memnode with id node_id, or NULL. */
struct rpc_peer *lc_peer(struct lc *c, const struct lego_node_addr *a, int *err);
struct rpc_peer *lc_peer_find(struct lc *c, uint32_t node_id);

/* A file operation (docs/storage.md): send op with body iov[0..n) (n <= 3)
 * to the memnode serving this process's files, found through the monitor
 * on first use.  The reply body is copied into rep (up to repcap bytes,
 * *replen gets its full length).  Returns the reply status or -errno;
 * -EIO when no memnode or storenode can be reached. */
int lc_file_call(struct lc *c, uint16_t op, const struct iovec *iov, int n, void *rep,
		 size_t repcap, size_t *replen);

/* Renew the lease (asynchronous; failure is logged).  */
void lc_heartbeat(struct lc *c);

/* fork, in the parent before it forks: register a child address space
 * with the monitor (lc_fork_register), then have every memnode clone ours
 * into it (lc_fork_clone).  0, or -errno with nothing left behind. */
int lc_fork_register(struct lc *c, struct lego_as_ref *child);
int lc_fork_clone(struct lc *c, const struct lego_as_ref *child);
/* ... and if the fork failed: forget the child. */
void lc_fork_abandon(struct lc *c, const struct lego_as_ref *child);
/* In the child: new endpoints and connections (the parent's stay the
 * parent's, untouched), then introduce ourselves as `child`.  0 or
 * -errno. */
int lc_fork_child(struct lc *c, const struct lego_as_ref *child);

#endif
