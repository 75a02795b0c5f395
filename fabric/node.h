/*
 * A daemon's endpoints: a network listener on HOST:PORT (verbs when the
 * fabric option asks for it or auto finds it, tcp otherwise) and, unless
 * the fabric option is tcp or verbs, an shm endpoint named after the port
 * (lego.<port>) for peers on the same host.  Also the embedded-daemon
 * plumbing: the address file and the parent descriptor.
 */
#ifndef LEGO_NODE_H
#define LEGO_NODE_H

#include "bell.h"
#include "fabric.h"

enum lf_fabric_choice { LF_FAB_AUTO = 0, LF_FAB_TCP = 1, LF_FAB_SHM = 2, LF_FAB_VERBS = 3 };

struct lf_node {
	struct lf_ep *net, *shm;
	struct lf_bell bell; /* wakes us when shm clients send */
	char host[64];
	unsigned port;
	struct lego_node_addr addr; /* node_id left 0 */
};

/* Open the listeners.  rx_bufs/rx_size size each endpoint's receive pool.
 * 0 or -errno with a log line. */
int lf_node_listen(struct lf_node *n, const char *listen, enum lf_fabric_choice fab,
		   unsigned rx_bufs, size_t rx_size, lf_recv_fn on_recv, void *arg);
void lf_node_close(struct lf_node *n);

/* Endpoints to drive: fills eps (up to 2), returns how many. */
int lf_node_eps(struct lf_node *n, struct lf_ep **eps);

/* "HOST:PORT" of the listener. */
const char *lf_node_hostport(const struct lf_node *n, char *buf, size_t len);

/* Write "HOST:PORT\n" to path (may be /dev/fd/N).  0 or -errno. */
int lf_write_addr_file(const char *path, const char *hostport);

/* Watch fd (>= 0), the embedding process's lifeline, in a thread.  At its
 * end of file (the embedder and all its children have closed it): with
 * gone, set *gone and leave *stop to the daemon (the monitor stops once no
 * process uses the cluster); else, with linger_fd >= 0, wait for its end
 * of file too (the embedded monitor holds its other end); then set *stop. */
int lf_watch_parent_fd(int fd, int linger_fd, volatile int *stop, volatile int *gone);
/* A daemon is serving: write its HOST:PORT to addr_file (if not "") and,
 * with parent_fd >= 0, watch that descriptor as above.  0 or -errno
 * (logged). */
int lf_node_ready(struct lf_node *n, const char *who, const char *addr_file, int parent_fd,
		  int linger_fd, volatile int *stop, volatile int *gone);
/* Call reg(arg) until it returns 0, *stop is set, it says -EACCES, or
 * give_up_s seconds have passed (the monitor may still be starting), every
 * 100 ms.  Returns reg's last result. */
int lf_retry(int (*reg)(void *arg), void *arg, unsigned give_up_s, volatile int *stop);

/* Is HOST an address of this host (loopback or a local interface in this
 * network namespace)? */
int lf_host_is_local(const char *host);

#endif
