/* Client-side links (see link.h). */
#define _GNU_SOURCE
#include "link.h"
#include "bell.h"

#include <dirent.h>
#include <errno.h>
#include <stdatomic.h>
#include <signal.h>
#include <pthread.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "shmlock.h"

/* The process is gone, or has no memory any more (a zombie: exited, not
 * yet reaped; its main thread alone having exited is not enough, the
 * others keep the memory).  Unknown (another user's) counts as there. */
int rpc_links_pid_gone(int pid)
{
	if (kill(pid, 0) < 0)
		return errno == ESRCH;
	char path[32], c;
	snprintf(path, sizeof path, "/proc/%d/maps", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT;
	ssize_t n = read(fd, &c, 1);
	close(fd);
	return n == 0;
}

/* shm endpoints of processes that ended without closing them stay in
 * /dev/shm (SIGKILL, exec; and a normal exit: the runtime keeps its
 * endpoints open to the end, for destructors that touch remote memory);
 * ours are named lego-c.<pid>.<image>.<n>, where <image> is random per
 * program image, so remove those whose process is gone, and (image not
 * 0) our own pid's from the image before an exec. */
static void links_gc_shm(unsigned image)
{
	DIR *d = opendir("/dev/shm");
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		int pid;
		unsigned img;
		if (strncmp(e->d_name, "lego.", 5) == 0) {
			lf_bell_gc(dirfd(d), e->d_name); /* a daemon's, if killed */
			continue;
		}
		if (sscanf(e->d_name, "lego-c.%d.%x.", &pid, &img) != 2 || pid <= 0)
			continue;
		if ((pid != getpid() && rpc_links_pid_gone(pid)) || (image && pid == getpid() && img != image))
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

static int links_ep(struct rpc_links *l, enum lego_prov prov, const char *host,
		    const char *port, struct lf_ep **out)
{
	if (l->ep[prov]) {
		*out = l->ep[prov];
		return 0;
	}
	char name[64];
	struct lf_ep_conf c = {.prov = prov, .rx_bufs = l->rx_bufs, .rx_size = l->rx_size,
			       .on_recv = rpc_client_on_recv, .on_data = rpc_client_on_data,
			       .arg = l->cl};
	if (prov == LEGO_PROV_SHM) {
		/* named so that leftovers of killed processes can be found */
		static unsigned seq, image;
		static pid_t image_pid;
		if (image_pid != getpid()) { /* first use in this image, or a forked child */
			if (getrandom(&image, sizeof image, GRND_NONBLOCK) != sizeof image)
				image = (unsigned)lg_now_ns();
			image |= 1; /* never 0: links_gc_shm(0) spares our own */
			image_pid = getpid();
			seq = 0;
			links_gc_shm(image);
		}
		snprintf(name, sizeof name, "lego-c.%d.%08x.%u", (int)getpid(), image, seq++);
		c.node = name;
	} else {
		c.node = host;
		c.service = port;
		c.peer_hint = 1;
	}
	int r = lf_ep_open(&c, &l->ep[prov]);
	if (r)
		return r;
	r = rpc_client_add_ep(l->cl, l->ep[prov]);
	if (r)
		return r;
	if (prov == LEGO_PROV_SHM && l->shm_doctor) {
		int d = lf_shm_doctor_start(l->shm_doctor);
		if (d < 0 && d != -ENOTSUP)
			lg_log(LG_WARN, "fabric", "no shm doctor thread (%s): a queue lock a dead "
			       "process left taken will stop this process", strerror(-d));
	}
	*out = l->ep[prov];
	return 0;
}

/* The bell of an shm daemon, opened once per name and kept (NULL if it has
 * none: then it polls and needs no ringing). */
static struct lf_bell *links_bell(const char *name)
{
	static struct lf_bell bells[16];
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	struct lf_bell *b = NULL;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < LG_ARRAY_SIZE(bells) && !b; i++)
		if (bells[i].sleeping && strcmp(bells[i].name, name) == 0) {
			if (lf_bell_stale(&bells[i])) /* a restarted daemon: its new bell */
				lf_bell_close(&bells[i]);
			else
				b = &bells[i];
		}
	for (size_t i = 0; i < LG_ARRAY_SIZE(bells) && !b; i++)
		if (!bells[i].sleeping && lf_bell_open(&bells[i], name) == 0)
			b = &bells[i];
	pthread_mutex_unlock(&lock);
	return b;
}

/* May this process reach the daemon whose shm endpoint is `shm` over shm
 * (lf_shm_peer_ok)?  One that belongs to another user it may not: say so,
 * as an error when shm was asked for (must), else once as information
 * (the caller goes over the network instead).  0 or -errno. */
static int links_shm_ok(const char *shm, const char *name, int must)
{
	static _Atomic int said;
	int r = lf_shm_peer_ok(shm);
	if (r == -EPERM && must)
		lg_log(LG_ERROR, "link", "%s: its shm endpoint %s belongs to another user, and "
		       "libfabric's shm needs both ends to be the same user: use tcp", name, shm);
	else if (r == -EPERM && !atomic_exchange(&said, 1))
		lg_log(LG_INFO, "link", "%s: its shm endpoint %s belongs to another user; going "
		       "over the network instead (libfabric's shm needs both ends to be the same "
		       "user)", name, shm);
	else if (r == -ENOENT && must)
		lg_log(LG_ERROR, "link", "%s: no shm endpoint %s on this host", name, shm);
	return r;
}

int rpc_links_peer_hostport(struct rpc_links *l, const char *hostport, struct rpc_peer *p,
			    const char *name, struct lego_node_addr *out)
{
	char host[256], port[16];
	if (lg_split_hostport(hostport, host, sizeof host, port, sizeof port) < 0) {
		lg_log(LG_ERROR, "link", "%s: expected HOST:PORT", hostport);
		return -EINVAL;
	}
	char shm[64];
	lf_shm_name_for_port((unsigned)strtoul(port, NULL, 10), shm, sizeof shm);
	enum lego_prov prov;
	int r = 0;
	switch (l->fab) {
	case LF_FAB_TCP: prov = LEGO_PROV_TCP; break;
	case LF_FAB_SHM:
		prov = LEGO_PROV_SHM;
		r = links_shm_ok(shm, name, 1);
		break;
	case LF_FAB_VERBS: prov = LEGO_PROV_VERBS; break;
	default:
		prov = lf_host_is_local(host) && links_shm_ok(shm, name, 0) == 0 ? LEGO_PROV_SHM
		       : lf_prov_available(LEGO_PROV_VERBS, NULL) ? LEGO_PROV_VERBS : LEGO_PROV_TCP;
	}
	struct lf_ep *ep;
	uint8_t addr[LEGO_ADDR_MAX];
	size_t alen = sizeof addr;
	if (r == 0)
		r = prov == LEGO_PROV_SHM ? lf_resolve_shm(shm, addr, &alen)
					  : lf_resolve_tcp(host, port, addr, &alen);
	if (r == 0)
		r = links_ep(l, prov, host, port, &ep);
	if (r == 0)
		r = rpc_peer_init(p, l->cl, ep, addr, alen, name);
	if (r == 0 && prov == LEGO_PROV_SHM)
		p->bell = links_bell(shm);
	if (r == 0 && out) { /* the same peer, for rpc_links_peer_node later */
		memset(out, 0, sizeof *out);
		if (prov == LEGO_PROV_SHM) {
			snprintf(out->shm, sizeof out->shm, "%s", shm);
			snprintf(out->host_id, sizeof out->host_id, "%s", lg_host_id());
		} else {
			out->net_prov = (uint16_t)prov;
			out->net_len = (uint16_t)alen;
			memcpy(out->net, addr, alen);
		}
	}
	if (r)
		lg_log(LG_ERROR, "link", "cannot reach %s over %s: %s", hostport, lf_prov_name(prov),
		       strerror(-r));
	return r;
}

int rpc_links_peer_node(struct rpc_links *l, const struct lego_node_addr *a,
			struct rpc_peer *p, const char *name)
{
	int same_host = strncmp(a->host_id, lg_host_id(), sizeof a->host_id) == 0;
	char shm[LEGO_HOST_MAX + 1];
	snprintf(shm, sizeof shm, "%.*s", (int)sizeof a->shm, a->shm);
	enum lego_prov prov = a->net_prov == LEGO_PROV_VERBS ? LEGO_PROV_VERBS : LEGO_PROV_TCP;
	if (l->fab == LF_FAB_SHM ||
	    (l->fab == LF_FAB_AUTO && same_host && shm[0] && links_shm_ok(shm, name, 0) == 0))
		prov = LEGO_PROV_SHM;
	else if (l->fab == LF_FAB_TCP)
		prov = LEGO_PROV_TCP;
	if (prov == LEGO_PROV_SHM && !shm[0]) {
		lg_log(LG_ERROR, "link", "%s offers no shm endpoint", name);
		return -EHOSTUNREACH;
	}
	uint8_t addr[LEGO_ADDR_MAX];
	size_t alen = sizeof addr;
	int r;
	struct lf_ep *ep;
	if (prov == LEGO_PROV_SHM) {
		r = l->fab == LF_FAB_SHM ? links_shm_ok(shm, name, 1) : 0;
		if (r == 0)
			r = lf_resolve_shm(shm, addr, &alen);
	} else {
		if (a->net_len > sizeof addr || a->net_len == 0)
			return -EINVAL;
		memcpy(addr, a->net, a->net_len);
		alen = a->net_len;
		r = 0;
	}
	if (r == 0)
		r = links_ep(l, prov, NULL, NULL, &ep);
	if (r == 0)
		r = rpc_peer_init(p, l->cl, ep, addr, alen, name);
	if (r == 0 && prov == LEGO_PROV_SHM)
		p->bell = links_bell(shm);
	if (r)
		lg_log(LG_ERROR, "link", "cannot reach %s over %s: %s", name, lf_prov_name(prov),
		       strerror(-r));
	return r;
}

void rpc_links_close(struct rpc_links *l)
{
	for (size_t i = 0; i < LG_ARRAY_SIZE(l->ep); i++) {
		if (!l->ep[i])
			continue;
		if (l->cl)
			rpc_client_remove_ep(l->cl, l->ep[i]);
		lf_ep_close(l->ep[i]);
		l->ep[i] = NULL;
	}
}

int rpc_links_eps(const struct rpc_links *l, struct lf_ep **eps, int n)
{
	for (size_t i = 0; i < LG_ARRAY_SIZE(l->ep); i++)
		if (l->ep[i])
			eps[n++] = l->ep[i];
	return n;
}

void rpc_links_gc_shm(void) { links_gc_shm(0); }
