/*
 * The monitor's registry: memnodes (address, capacity, traffic,
 * heartbeats), processes (address-space id, capability, lease) and where
 * each granule of each address space lives (placement policies: place.h).
 * Storenodes (address, heartbeats): the first one up serves the one
 * storage namespace.  Single-threaded (the monitor's event loop).
 */
#ifndef LEGO_MONITOR_REGISTRY_H
#define LEGO_MONITOR_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "lego/proto.h"

struct mon_node {
	uint32_t id;
	int up;
	struct lego_node_addr addr;
	uint64_t capacity, reserved, stored;
	uint32_t nr_as;
	uint64_t last_hb_ns;
	/* its process, if on this host (its heartbeats say): pid and start
	 * time; silent but stopped or running, it is not declared down at
	 * its timeout (stalled; see mon_table_expire) */
	uint32_t pid;
	uint64_t start;
	int stalled;
	uint64_t placed; /* granules placed here */
	int draining;    /* legoctl drain: its copies move off, nothing new comes */
	int left;        /* drained: told to leave (LEGO_HB_LEAVE) */
	uint64_t moved_off; /* copies moved off it (drain) */
	/* bytes placed here since its last heartbeat: reservations its
	 * reported `reserved` may not show yet (placement would otherwise pile
	 * a burst of granules onto one node between two heartbeats) */
	uint64_t unreported;
	uint64_t read_bytes, write_bytes; /* as last reported (cumulative) */
	uint64_t traffic;    /* bytes/s over the last heartbeat interval */
	uint64_t traffic_ns; /* when read/write_bytes were reported; 0: never */
	uint64_t freed_as;   /* scratch: last address space queued for freeing */
	/* address spaces to free, sent with the next heartbeat reply */
	uint64_t pending_free[LEGO_HB_FREE_MAX * 4];
	uint32_t npending;
};

/* Where one granule lives.  node[0] holds the primary copy that processes
 * read and write; node[1..] are for replicas (0: none).  A
 * process that wants two copies (replicas 2) gets node[1] too; everything
 * that counts or frees placements walks the whole array.
 *
 * A move (move.c) is planned as move_to (0: none) and move_from (the copy
 * that goes, 0: none, a copy is added); node[] changes only when the
 * process reports the move done. */
#define MON_REPLICAS_MAX 2
struct mon_place {
	uint64_t granule;
	uint32_t node[MON_REPLICAS_MAX];
	uint32_t move_from, move_to;
};

/* Memnodes a process was told to stop using (their copies were dropped
 * when they died): every heartbeat reply repeats them. */
#define MON_GONE_MAX 16

/* A storenode; ids are their own sequence, from 1. */

struct mon_proc {
	uint64_t as_id;
	uint32_t pid;
	char host[LEGO_HOST_MAX];
	char host_id[40]; /* as registered; forks inherit it (P2MON_FILES) */
	int local; /* on the monitor's host: its pid can be watched */
	uint64_t start; /* local: when its pid started (/proc), to tell it from a
			   reused pid; 0: unknown */
	int lapsed;     /* its lease lapsed while it was alive here */
	uint32_t line_order;
	uint64_t quota;
	uint32_t replicas; /* copies of each granule: 1, or 2 on distinct memnodes */
	uint64_t last_ns;
	uint64_t conn; /* the server connection it last spoke on (rpc_sconn_tag; 0: none yet) */
	char *stats;        /* last counters it sent (P2MON_STATS), or NULL */
	size_t stats_len;
	uint64_t stats_ns;
	struct mon_place *places; /* sorted by granule */
	uint32_t nplaces, cap_places;
	uint32_t gone[MON_GONE_MAX]; /* see MON_GONE_MAX */
	uint32_t ngone;
	uint64_t move_retry_ns; /* a move failed: plan none before this */
};

struct mon_reg {
	uint8_t secret[32];
	uint64_t as_seq;
	struct mon_node *nodes;
	uint32_t nnodes, cap_nodes;
	struct mon_proc **procs;
	uint32_t nprocs, cap_procs;
	uint32_t granule_order;
	uint32_t placement; /* enum lego_placement */
	uint32_t replicas;  /* copies every granule gets at least (1 or 2) */
	uint64_t quota;     /* remote memory a process may reserve at most (0: any) */
	uint32_t rr_last;   /* rr: id of the memnode placed on last */
	uint64_t start_ns;
	uint64_t last_tick_ns; /* mon_reg_tick's last call (0: none yet) */
	uint64_t lease_ns, node_timeout_ns;
	uint64_t procs_registered, procs_exited, procs_expired, nodes_down;
	struct mon_node *stores; /* storenodes (placement fields unused) */
	uint32_t nstores, cap_stores;
	uint64_t stores_down;
	/* called with the connection of a removed process that no other
	 * process speaks on: the server drops it (dead processes say no bye) */
	void (*conn_gone)(void *arg, uint64_t conn);
	void *conn_gone_arg;
};

int mon_reg_init(struct mon_reg *r, uint32_t granule_order, uint64_t lease_ns,
		 uint64_t node_timeout_ns);
/* Free everything the registry holds (tests and fuzzers; the monitor
 * keeps its registry until it exits).  No conn_gone calls. */
void mon_reg_fini(struct mon_reg *r);

/* Memnodes */
struct mon_node *mon_node_register(struct mon_reg *r, const struct lego_node_addr *a,
				   uint64_t capacity);
struct mon_node *mon_node_get(struct mon_reg *r, uint32_t id);
/* A node's heartbeat came, from process pid (0: unknown). */
void mon_node_alive(struct mon_node *n, uint32_t pid);
/* A memnode's heartbeat: up again if it was down, its figures, and its
 * traffic rate since the previous heartbeat. */
void mon_node_heartbeat(struct mon_node *n, const struct lego_m2mon_heartbeat_req *hb,
			uint64_t now);

/* Storenodes: register (a storenode re-registering from the same address
 * replaces its old entry; NULL if out of memory), look up by id (NULL if
 * unknown), and the one serving files: the first that is up, or NULL. */
struct mon_node *mon_store_register(struct mon_reg *r, const struct lego_node_addr *a,
				     uint64_t capacity);
struct mon_node *mon_store_get(struct mon_reg *r, uint32_t id);
struct mon_node *mon_store_serving(struct mon_reg *r);

/* The memnode that serves a process's files: the live memnode on host_id,
 * else the live memnode with the lowest id; NULL when none is up. */
struct mon_node *mon_files_node(struct mon_reg *r, const char *host_id);

/* Processes */
struct mon_proc *mon_proc_register(struct mon_reg *r, uint32_t pid, const char *host,
				   int local, uint32_t line_order, uint64_t quota);
/* The process is pid (a forked child says so in its first heartbeat). */
void mon_proc_set_pid(struct mon_proc *p, uint32_t pid);
/* A child of p (fork): a new address space with p's placements. */
struct mon_proc *mon_proc_fork(struct mon_reg *r, struct mon_proc *p);

/* Process named by ref, if its capability verifies; else NULL. */
struct mon_proc *mon_proc_find(struct mon_reg *r, const struct lego_as_ref *ref);
void mon_proc_cap(struct mon_reg *r, const struct mon_proc *p, struct lego_as_ref *ref);
/* Forget a process and queue its memory to be freed on every memnode. */
void mon_proc_remove(struct mon_reg *r, struct mon_proc *p, const char *why);

/* Expire leases and heartbeats; plan moves (move.c).  Called every
 * MON_TICK_NS; a longer gap means the monitor itself did not run (a
 * stalled or starved host): leases and heartbeats are extended by the gap
 * first, so nobody is declared gone for the monitor's own silence. */
#define MON_TICK_NS  100000000ull
#define MON_STALL_NS 1000000000ull
void mon_reg_tick(struct mon_reg *r, uint64_t now);

/* Moves (move.c).  Copies on memnodes that died are dropped where another
 * copy lives, and the memnodes remembered in the process's `gone` list;
 * then missing second copies and copies on draining memnodes get a move
 * to a memnode picked by the placement policy; a draining memnode that
 * holds nothing any more is told to leave. */
void mon_moves_plan(struct mon_reg *r, uint64_t now);
/* Moves planned for p and not reported yet. */
uint32_t mon_moves_pending(const struct mon_proc *p);
/* p reports a move: status 0 applies it to node[], else it is dropped
 * (planned again after a pause); -ESTALE: p dropped its copy on `from`,
 * so node[] does too.  -ENOENT if no such move is planned. */
int mon_move_done(struct mon_reg *r, struct mon_proc *p, uint64_t granule, uint32_t from,
		  uint32_t to, int status);
/* Start draining memnode id (see lego_drain_req). */
int mon_drain(struct mon_reg *r, uint32_t id, struct lego_drain_rep *rep);
/* Granule copies on node id, over all processes. */
uint64_t mon_node_copies(const struct mon_reg *r, uint32_t id);

#endif
