/* Daemon endpoints and embedding plumbing (see node.h). */
#define _GNU_SOURCE
#include "node.h"
#include "link.h"
#include "rpc.h"
#include "shmlock.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

int lf_node_listen(struct lf_node *n, const char *listen, enum lf_fabric_choice fab,
		   unsigned rx_bufs, size_t rx_size, lf_recv_fn on_recv, void *arg)
{
	memset(n, 0, sizeof *n);
	char port[16];
	if (lg_split_hostport(listen, n->host, sizeof n->host, port, sizeof port) < 0) {
		lg_log(LG_ERROR, "node", "--listen %s: expected HOST:PORT", listen);
		return -EINVAL;
	}
	enum lego_prov prov = LEGO_PROV_TCP;
	if (fab == LF_FAB_VERBS || (fab == LF_FAB_AUTO && lf_prov_available(LEGO_PROV_VERBS, n->host)))
		prov = LEGO_PROV_VERBS;
	struct lf_ep_conf c = {.prov = prov, .node = n->host, .service = port,
			       .rx_bufs = rx_bufs, .rx_size = rx_size, .on_recv = on_recv, .arg = arg};
	int r = lf_ep_open(&c, &n->net);
	if (r) {
		lg_log(LG_ERROR, "node", "cannot listen on %s with %s: %s", listen,
		       lf_prov_name(prov), strerror(-r));
		return r;
	}
	size_t len = sizeof n->addr.net;
	lf_ep_name(n->net, n->addr.net, &len);
	n->addr.net_len = (uint16_t)len;
	n->addr.net_prov = (uint16_t)prov;
	n->port = lf_tcp_port(n->addr.net, len);
	snprintf(n->addr.host_id, sizeof n->addr.host_id, "%s", lg_host_id());
	if (fab == LF_FAB_AUTO || fab == LF_FAB_SHM) {
		char name[64];
		lf_shm_name_for_port(n->port, name, sizeof name);
		c.prov = LEGO_PROV_SHM;
		c.node = name;
		c.service = NULL;
		c.lanes = 1; /* a process killed in a large reply stops only its own */
		/* the doorbell first: its lock tells a clean-up that the shm
		 * endpoint made next is in use (lf_bell_gc) */
		int rb = lf_bell_create(&n->bell, name);
		r = lf_ep_open(&c, &n->shm);
		if (r == 0) {
			snprintf(n->addr.shm, sizeof n->addr.shm, "%s", name);
			if (rb < 0)
				lg_log(LG_WARN, "node", "no doorbell for %s (%s): shm clients wait longer",
				       name, strerror(-rb));
		} else if (fab == LF_FAB_SHM) {
			lf_node_close(n);
			return r;
		} else {
			lf_bell_close(&n->bell);
			lg_log(LG_WARN, "node", "no shm endpoint (%s); local peers use %s",
			       strerror(-r), lf_prov_name(prov));
		}
	}
	return 0;
}

void lf_node_close(struct lf_node *n)
{
	lf_bell_close(&n->bell);
	lf_ep_close(n->shm);
	lf_ep_close(n->net);
	n->shm = n->net = NULL;
}

int lf_node_eps(struct lf_node *n, struct lf_ep **eps)
{
	int k = 0;
	if (n->net)
		eps[k++] = n->net;
	if (n->shm)
		eps[k++] = n->shm;
	return k;
}

const char *lf_node_hostport(const struct lf_node *n, char *buf, size_t len)
{
	if (strchr(n->host, ':'))
		snprintf(buf, len, "[%s]:%u", n->host, n->port);
	else
		snprintf(buf, len, "%s:%u", n->host, n->port);
	return buf;
}

int lf_write_addr_file(const char *path, const char *hostport)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	char line[128];
	int l = snprintf(line, sizeof line, "%s\n", hostport);
	ssize_t w = write(fd, line, (size_t)l);
	close(fd);
	return w == l ? 0 : -EIO;
}

#define LF_STUCK_S 10

struct lf_watch {
	int fd, linger_fd;
	volatile int *stop, *gone;
};

/* Block until fd reaches end of file (or cannot be read). */
static void lf_wait_eof(int fd)
{
	char buf[64];
	for (;;) {
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, -1) < 0 && errno == EINTR)
			continue;
		ssize_t r = read(fd, buf, sizeof buf);
		if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
			return;
	}
}

static void *lf_watch_main(void *arg)
{
	struct lf_watch *w = arg;
	lf_wait_eof(w->fd);
	/* The shm endpoint files a Lego process leaves at exit (its own and
	 * its forked children's): an embedded daemon outlives it.  No waiting
	 * for the embedding process: one that ends closes the lifeline after
	 * its memory is gone (the kernel releases the memory before the
	 * descriptors), so it counts as gone already; one still running
	 * closed it on purpose (lego-run, which has no shm files and waits
	 * for us; lego_fini, which removed its own).  (Only dead processes'
	 * files go: the loop does the same every few seconds.)
	 *
	 * Processes may still use the cluster: the embedder's children,
	 * programs that outlived it, or the command of a lego-run that was
	 * killed (SIGKILL, the OOM killer).  Their memory must outlive the
	 * embedder.  The monitor knows them: it stops once none is left
	 * (gone); the memnode ends with the monitor, the storenode with the
	 * memnode, which writes file data back as it exits (linger_fd, whose
	 * other end only the monitor, or the memnode, holds). */
	volatile int *stop = w->stop;
	int lingering = w->gone != NULL;
	if (lingering) {
		lg_log(LG_INFO, "node", "embedding process gone; staying while processes use "
		       "the cluster");
		rpc_links_gc_shm();
		*w->gone = 1;
	} else {
		if (w->linger_fd >= 0) {
			lg_log(LG_INFO, "node", "embedding process gone; staying while the embedded "
			       "cluster runs");
			lf_wait_eof(w->linger_fd);
		}
		lg_log(LG_INFO, "node", "embedding process gone; exiting");
		rpc_links_gc_shm();
		*stop = 1;
		rpc_loop_wake();
	}
	free(w);
	/* The loop ends at its next pass.  One that makes none is stuck:
	 * seen, sending a reply to a process that died inside libfabric's shm
	 * provider holding its own queue's lock (a crash, SIGKILL), which no
	 * one will release: the daemon spun on it for ever, a whole CPU, after
	 * lego-run had gone.  Its embedder is gone, and a stuck loop serves no
	 * one, so it ends here.  (A monitor that stays for processes is given
	 * longer: ending it ends their memory, see linger_fd.) */
	uint64_t seen = rpc_loop_passes();
	int limit;
	for (int still = 0;;) {
		sleep(1);
		uint64_t now = rpc_loop_passes();
		if (!rpc_loop_running())
			return NULL; /* ended: the daemon is on its way out */
		still = now == seen ? still + 1 : 0;
		seen = now;
		limit = lingering && !*stop ? 6 * LF_STUCK_S : LF_STUCK_S;
		if (still >= limit)
			break;
	}
	lg_log(LG_ERROR, "node", "the event loop has made no pass for %d s (stuck sending to a dead "
	       "process?); exiting", limit);
	_exit(1);
}

int lf_watch_parent_fd(int fd, int linger_fd, volatile int *stop, volatile int *gone)
{
	struct lf_watch *w = malloc(sizeof *w);
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->linger_fd = linger_fd;
	w->stop = stop;
	w->gone = gone;
	pthread_t t;
	int r = pthread_create(&t, NULL, lf_watch_main, w);
	if (r) {
		free(w);
		return -r;
	}
	pthread_detach(t);
	return 0;
}

int lf_host_is_local(const char *host)
{
	struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *res = NULL;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
		return 0;
	int local = 0;
	for (struct addrinfo *a = res; a && !local; a = a->ai_next) {
		int s = socket(a->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		if (s < 0)
			continue;
		/* binding to an address succeeds only if an interface has it */
		local = bind(s, a->ai_addr, a->ai_addrlen) == 0;
		close(s);
	}
	freeaddrinfo(res);
	return local;
}

int lf_node_ready(struct lf_node *n, const char *who, const char *addr_file, int parent_fd,
		  int linger_fd, volatile int *stop, volatile int *gone)
{
	char hp[96];
	lf_node_hostport(n, hp, sizeof hp);
	if (addr_file[0] && lf_write_addr_file(addr_file, hp) < 0) {
		lg_log(LG_ERROR, who, "cannot write %s", addr_file);
		return -EIO;
	}
	/* a lock a dead process left taken (shmlock.h) */
	int r = n->shm ? lf_shm_doctor_start(NULL) : 0;
	if (r < 0 && r != -ENOTSUP)
		lg_log(LG_WARN, who, "no shm doctor thread (%s): a lock a dead process left taken "
		       "will stop this daemon", strerror(-r));
	if (parent_fd >= 0)
		return lf_watch_parent_fd(parent_fd, linger_fd, stop, gone);
	return 0;
}

int lf_retry(int (*reg)(void *arg), void *arg, unsigned give_up_s, volatile int *stop)
{
	uint64_t give_up = lg_now_ns() + give_up_s * 1000000000ull;
	int r;
	while ((r = reg(arg)) < 0 && !*stop && r != -EACCES && lg_now_ns() < give_up)
		usleep(100000);
	return r;
}
