/*
 * Client-side links: the endpoints a program uses to reach daemons (one
 * per provider, opened on first use) and the choice of provider for a
 * peer: shm for a peer on this host, verbs or tcp otherwise, unless the
 * fabric option forces one.
 */
#ifndef LEGO_LINK_H
#define LEGO_LINK_H

#include "node.h"
#include "rpc.h"

struct rpc_links {
	struct rpc_client *cl;
	struct lf_ep *ep[4]; /* by enum lego_prov */
	unsigned rx_bufs;
	size_t rx_size;
	enum lf_fabric_choice fab;
	/* set: the first shm endpoint starts this process's shm doctor
	 * (shmlock.h), which runs it first in its thread */
	void (*shm_doctor)(void);
};

/* Peer for a daemon known by HOST:PORT (the monitor).  No traffic yet.
 * out (may be NULL) gets the peer as rpc_links_peer_node takes it, which
 * needs no name resolution. */
int rpc_links_peer_hostport(struct rpc_links *l, const char *hostport, struct rpc_peer *p,
			    const char *name, struct lego_node_addr *out);
/* Peer for a node the monitor described. */
int rpc_links_peer_node(struct rpc_links *l, const struct lego_node_addr *a,
			struct rpc_peer *p, const char *name);
/* Close l's endpoints and take them out of its client (which must still
 * exist), so a peer set up next gets a fresh one: an endpoint remembers a
 * peer's address (libfabric's shm keeps its mapping of the peer's region),
 * so a daemon restarted under the same name is only reached through a new
 * endpoint.  Only when no other thread drives the client's progress. */
void rpc_links_close(struct rpc_links *l);
/* Remove the shm endpoint files (/dev/shm/lego-c.PID.*) of processes that
 * are gone (zombies included).  The first shm link a process opens does
 * this too. */
void rpc_links_gc_shm(void);
/* The process is gone, or a zombie (its memory is gone); another user's
 * counts as there. */
int rpc_links_pid_gone(int pid);
/* Append the links' open endpoints to eps[n..]; returns the new count. */
int rpc_links_eps(const struct rpc_links *l, struct lf_ep **eps, int n);

#endif
