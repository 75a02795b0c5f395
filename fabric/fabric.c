/*
 * libfabric RDM endpoints (see fabric.h).
 *
 * Each endpoint has two completion queues: sends and receives.  A send that
 * finds the provider's queue full reaps send completions only, so a caller
 * holding its own locks is never re-entered through on_recv.
 *
 * Receive buffers are local (mmap) memory; each is posted at an offset that
 * puts the first payload byte after the 48-byte header on a page boundary.
 */
#define _GNU_SOURCE
#include "fabric.h"
#include "bell.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <rdma/fi_cm.h>
#include <rdma/fi_domain.h>
#include <rdma/fi_endpoint.h>
#include <rdma/fi_errno.h>
#include <rdma/fi_rma.h>

#include "common/log.h"
#include "common/util.h"
#include "fiload.h"

#define LF_API FI_VERSION(1, 17)

/* Every libfabric call from here holds this for reading; fork holds it for
 * writing, so the child never inherits a libfabric lock held by another
 * thread halfway through a call.  Readers are preferred (glibc's default),
 * so a call nested in a completion callback cannot deadlock. */
static pthread_rwlock_t lf_fork_rw = PTHREAD_RWLOCK_INITIALIZER;

void lf_fork_prepare(void) { pthread_rwlock_wrlock(&lf_fork_rw); }
void lf_fork_done(void) { pthread_rwlock_unlock(&lf_fork_rw); }
/* glibc's rwlock knows its writer by thread id, which the child's thread
 * does not share: a fresh lock instead of an unlock. */
void lf_fork_child(void) { pthread_rwlock_init(&lf_fork_rw, NULL); }

struct lf_rxbuf {
	struct fi_context2 fctx; /* must be first */
	uint8_t *post;           /* where the message lands */
};

struct lf_ep {
	enum lego_prov prov;
	struct fi_info *info;
	struct fid_fabric *fabric;
	struct fid_domain *domain;
	struct fid_ep *ep;
	struct fid_av *av;
	struct fid_cq *txcq, *rxcq;
	int rx_fd; /* wait fd of rxcq or -1 */
	uint8_t name[LEGO_ADDR_MAX];
	size_t name_len;
	struct lf_rxbuf *rx;
	unsigned nrx;
	size_t rx_size, rx_stride;
	uint8_t *rx_mem;
	_Atomic unsigned av_used; /* peers inserted and not removed */
	lf_recv_fn on_recv;
	lf_recv_data_fn on_data;
	void *arg;
	pthread_mutex_t plock;     /* sends waiting for room (lf_sendv_nb) */
	struct lf_pending *pending;
	_Atomic unsigned npending;
	struct lf_pending *pfree;  /* records for them, from pchunks */
	struct lf_pchunk *pchunks;
	pthread_mutex_t hlock;     /* messages held back by fault injection */
	struct lf_held *held;
	_Atomic unsigned nheld;
	struct lf_held *hfree;     /* records kept for reuse, under hlock */
	unsigned nhfree;
	/* lanes (fabric.h): by peer, made on first use */
	int lanes;
	size_t inject_size;   /* longer messages go on the peer's lane */
	char shm_name[LEGO_ADDR_MAX];
	pthread_mutex_t llock;
	struct lf_lane **lane; /* LF_LANES_MAX, by fi_addr */
	unsigned lane_seq;
	uint64_t lane_retry_ns; /* after a lane could not be made, not before this */
	/* one-sided reads (lf_read_nb): possible (shm), and those done,
	 * their completions not yet run (under rlock) */
	int rma;
	/* one-sided reads over the network (lf_read_key_nb, lf_expose): the
	 * provider has FI_RMA; the domain's mr_mode; the registrations made
	 * (closed before the domain, under rlock) */
	int net_rma;
	uint64_t mr_mode;
	struct lf_mr *mrs;
	pthread_mutex_t rlock;
	struct lf_tx *rdone, **rdone_tail;
	_Atomic unsigned nrdone;
};

/* A registration of this endpoint's memory for peers' one-sided reads */
struct lf_mr {
	struct lf_mr *next;
	struct fid_mr *mr;
};

/* shm address vectors hold at most 256 peers (SMR_MAX_PEERS); a peer
 * beyond that has no lane */
#define LF_SHM_PEERS_MAX 256u
#define LF_LANES_MAX LF_SHM_PEERS_MAX

static _Atomic unsigned lf_nlanes; /* open, in this process */

struct lf_lane {
	struct fid_ep *ep;
	uint64_t dest;
	struct lf_tx *inflight; /* sends the provider has, not finished */
};

struct lf_pending {
	struct lf_pending *next;
	struct lf_tx *tx;
	uint64_t dest;
	struct iovec iov[4];
	int n;
};

/* Records of waiting sends come from chunks of local memory kept per
 * endpoint, not from malloc: the runtime's fault thread sends, and a
 * fork holds the allocator's locks while it waits for that thread to
 * park (it_multiprocessing hung so once sends had to wait). */
#define LF_PCHUNK_BYTES 16384u
struct lf_pchunk {
	struct lf_pchunk *next;
};

/* With ep->plock held. */
static struct lf_pending *lf_pending_get(struct lf_ep *ep)
{
	if (!ep->pfree) {
		struct lf_pchunk *c = lg_local_alloc(LF_PCHUNK_BYTES);
		if (!c)
			return NULL;
		c->next = ep->pchunks;
		ep->pchunks = c;
		struct lf_pending *r = (struct lf_pending *)(c + 1);
		for (size_t i = 0; i < (LF_PCHUNK_BYTES - sizeof *c) / sizeof *r; i++) {
			r[i].next = ep->pfree;
			ep->pfree = &r[i];
		}
	}
	struct lf_pending *pd = ep->pfree;
	ep->pfree = pd->next;
	return pd;
}

/* With ep->plock held. */
static void lf_pending_put(struct lf_ep *ep, struct lf_pending *pd)
{
	pd->next = ep->pfree;
	ep->pfree = pd;
}

static const char *lf_prov_string(enum lego_prov p, int alt)
{
	switch (p) {
	case LEGO_PROV_TCP: return alt ? "tcp" : "tcp;ofi_rxm";
	case LEGO_PROV_SHM: return "shm";
	case LEGO_PROV_VERBS: return "verbs;ofi_rxm";
	}
	return "?";
}

const char *lf_prov_name(enum lego_prov p)
{
	switch (p) {
	case LEGO_PROV_TCP: return "tcp";
	case LEGO_PROV_SHM: return "shm";
	case LEGO_PROV_VERBS: return "verbs";
	}
	return "?";
}

enum lego_prov lf_ep_prov(const struct lf_ep *ep) { return ep->prov; }

static struct fi_info *lf_hints(enum lego_prov prov, int alt, int rma)
{
	struct fi_info *h = lf_fi_dupinfo(NULL);
	if (!h)
		return NULL;
	h->ep_attr->type = FI_EP_RDM;
	h->caps = FI_MSG;
	h->mode = FI_CONTEXT | FI_CONTEXT2;
	h->domain_attr->mr_mode = 0;
	h->domain_attr->threading = FI_THREAD_SAFE;
	h->domain_attr->data_progress = FI_PROGRESS_MANUAL;
	h->tx_attr->msg_order = FI_ORDER_SAS;
	h->rx_attr->msg_order = FI_ORDER_SAS;
	h->addr_format = prov == LEGO_PROV_SHM ? FI_ADDR_STR : FI_FORMAT_UNSPEC;
	if (rma) {
		/* one-sided reads over the network (lf_read_key_nb): the
		 * registration modes lf_expose handles; tcp needs none of
		 * them, verbs all three */
		h->caps |= FI_RMA | FI_READ | FI_REMOTE_READ;
		h->domain_attr->mr_mode = FI_MR_VIRT_ADDR | FI_MR_ALLOCATED | FI_MR_PROV_KEY;
	}
	h->fabric_attr->prov_name = strdup(lf_prov_string(prov, alt));
	return h;
}

/*
 * libfabric reads its tuning from the environment.  rxm's default shared
 * receive queue holds 4096 bounce buffers of 16 KiB (64 MiB resident in
 * every process that opens a tcp endpoint); 128 is plenty for request/reply
 * traffic.  A value the user set wins.
 */
void lf_tune_env(void)
{
	static int done;
	if (done)
		return;
	done = 1;
	setenv("FI_OFI_RXM_MSG_RX_SIZE", "128", 0);
	setenv("FI_OFI_RXM_MSG_TX_SIZE", "128", 0);
}

static int lf_getinfo(enum lego_prov prov, const char *node, const char *service,
		      uint64_t flags, struct fi_info **out)
{
	int r = -FI_ENODATA;
	lf_tune_env();
	/* a network provider with one-sided reads first, then without */
	for (int i = prov == LEGO_PROV_SHM; i < 4; i++) {
		int alt = i / 2, rma = !(i & 1);
		if (alt && prov != LEGO_PROV_TCP)
			break; /* (tcp: without rxm) */
		struct fi_info *h = lf_hints(prov, alt, rma);
		if (!h)
			return -ENOMEM;
		r = lf_fi_getinfo(LF_API, node, service, flags, h, out);
		lf_fi_freeinfo(h);
		if (r == 0)
			break;
	}
	return r;
}

int lf_prov_available(enum lego_prov prov, const char *node)
{
	struct fi_info *info = NULL;
	struct lf_sigs sigs;
	lf_sigs_save(&sigs); /* loading providers may install handlers */
	int r = lf_getinfo(prov, node, NULL, node ? FI_SOURCE : 0, &info);
	lf_sigs_restore(&sigs);
	if (info)
		lf_fi_freeinfo(info);
	return r == 0;
}

static int lf_post(struct lf_ep *ep, struct lf_rxbuf *rb)
{
	for (;;) {
		ssize_t r = fi_recv(ep->ep, rb->post, ep->rx_size, NULL, FI_ADDR_UNSPEC, &rb->fctx);
		if (r == 0)
			return 0;
		if (r != -FI_EAGAIN) {
			lg_log(LG_ERROR, "fabric", "fi_recv: %s", lf_fi_strerror((int)-r));
			return (int)r;
		}
		fi_cq_read(ep->rxcq, NULL, 0);
	}
}

#define LF_CK(call)                                                                      \
	do {                                                                             \
		r = (call);                                                              \
		if (r) {                                                                 \
			lg_log(LG_ERROR, "fabric", "%s: %s: %s", lf_prov_name(conf->prov), \
			       #call, lf_fi_strerror(-r));                               \
			goto fail;                                                       \
		}                                                                        \
	} while (0)

static int lf_ep_open1(const struct lf_ep_conf *conf, struct lf_ep **out);
static int lf_fx_release(struct lf_ep *ep, int all);
static void lf_lane_free(struct lf_ep *ep, struct lf_lane *l, int err);

/* The shm provider takes SIGINT, SIGBUS, SIGSEGV and SIGTERM when it opens
 * an endpoint, to remove its files on the way out; Lego removes leftovers
 * itself (link.c), and the program's signals stay the program's. */
int lf_ep_open(const struct lf_ep_conf *conf, struct lf_ep **out)
{
	struct lf_sigs sigs;
	lf_sigs_save(&sigs);
	int r = lf_ep_open1(conf, out);
	lf_sigs_restore(&sigs);
	return r;
}

static int lf_ep_open1(const struct lf_ep_conf *conf, struct lf_ep **out)
{
	struct lf_ep *ep = calloc(1, sizeof *ep);
	if (!ep)
		return -ENOMEM;
	pthread_mutex_init(&ep->plock, NULL);
	pthread_mutex_init(&ep->hlock, NULL);
	pthread_mutex_init(&ep->llock, NULL);
	ep->prov = conf->prov;
	ep->rx_fd = -1;
	ep->on_recv = conf->on_recv;
	ep->on_data = conf->on_data;
	ep->arg = conf->arg;
	int r;
	uint64_t flags = (conf->node || conf->service) && !conf->peer_hint ? FI_SOURCE : 0;
	r = lf_getinfo(conf->prov, conf->node, conf->service, flags, &ep->info);
	if (r) {
		lg_log(LG_WARN, "fabric", "provider %s is not available%s%s: %s",
		       lf_prov_name(conf->prov), conf->node ? " for " : "",
		       conf->node ? conf->node : "", lf_fi_strerror(-r));
		free(ep);
		return r == -FI_ENODATA ? -ENODEV : r;
	}
	ep->rma = conf->prov == LEGO_PROV_SHM;
	ep->net_rma = conf->prov != LEGO_PROV_SHM && (ep->info->caps & FI_RMA) &&
		      (ep->info->caps & FI_REMOTE_READ);
	ep->mr_mode = (uint64_t)ep->info->domain_attr->mr_mode;
	pthread_mutex_init(&ep->rlock, NULL);
	ep->rdone_tail = &ep->rdone;
	LF_CK(lf_fi_fabric(ep->info->fabric_attr, &ep->fabric, NULL));
	LF_CK(fi_domain(ep->fabric, ep->info, &ep->domain, NULL));
	int can_wait = conf->prov != LEGO_PROV_SHM;
	struct fi_cq_attr cqa = {.format = FI_CQ_FORMAT_DATA, .size = 0,
				 .wait_obj = can_wait ? FI_WAIT_FD : FI_WAIT_NONE};
	LF_CK(fi_cq_open(ep->domain, &cqa, &ep->rxcq, NULL));
	cqa.format = FI_CQ_FORMAT_MSG;
	cqa.wait_obj = FI_WAIT_NONE;
	LF_CK(fi_cq_open(ep->domain, &cqa, &ep->txcq, NULL));
	if (can_wait && fi_control(&ep->rxcq->fid, FI_GETWAIT, &ep->rx_fd) != 0)
		ep->rx_fd = -1;
	struct fi_av_attr ava = {.type = FI_AV_TABLE};
	LF_CK(fi_av_open(ep->domain, &ava, &ep->av, NULL));
	LF_CK(fi_endpoint(ep->domain, ep->info, &ep->ep, NULL));
	if (conf->prov == LEGO_PROV_SHM && conf->node) {
		/* exactly this name, so peers can derive it (see lf_resolve_shm) */
		char nm[LEGO_ADDR_MAX];
		snprintf(nm, sizeof nm, "fi_shm://%s", conf->node);
		LF_CK(fi_setname(&ep->ep->fid, nm, strlen(nm) + 1));
	}
	LF_CK(fi_ep_bind(ep->ep, &ep->av->fid, 0));
	LF_CK(fi_ep_bind(ep->ep, &ep->txcq->fid, FI_TRANSMIT));
	LF_CK(fi_ep_bind(ep->ep, &ep->rxcq->fid, FI_RECV));
	LF_CK(fi_enable(ep->ep));
	ep->name_len = sizeof ep->name;
	LF_CK(fi_getname(&ep->ep->fid, ep->name, &ep->name_len));
	if (conf->lanes && conf->prov == LEGO_PROV_SHM && conf->node) {
		ep->lanes = 1;
		ep->inject_size = ep->info->tx_attr->inject_size;
		snprintf(ep->shm_name, sizeof ep->shm_name, "%s", conf->node);
	}

	ep->nrx = conf->rx_bufs ? conf->rx_bufs : 16;
	ep->rx_size = conf->rx_size ? conf->rx_size : LEGO_MSG_MAX;
	/* header in the tail of the first page, payload page-aligned after it */
	ep->rx_stride = LG_ALIGN_UP(ep->rx_size + LG_PAGE_SIZE, LG_PAGE_SIZE);
	ep->rx_mem = lg_local_alloc(ep->rx_stride * ep->nrx);
	ep->rx = calloc(ep->nrx, sizeof *ep->rx);
	if (!ep->rx_mem || !ep->rx) {
		r = -ENOMEM;
		goto fail;
	}
	for (unsigned i = 0; i < ep->nrx; i++) {
		ep->rx[i].post = ep->rx_mem + i * ep->rx_stride + LG_PAGE_SIZE - sizeof(struct lego_hdr);
		if ((r = lf_post(ep, &ep->rx[i])) != 0)
			goto fail;
	}
	*out = ep;
	return 0;
fail:
	lf_ep_close(ep);
	return r < 0 ? r : -EIO;
}

void lf_ep_close(struct lf_ep *ep)
{
	if (!ep)
		return;
	while (ep->pending) {
		struct lf_pending *pd = ep->pending;
		ep->pending = pd->next;
		if (pd->tx->done)
			pd->tx->done(pd->tx, -ECANCELED);
	}
	for (unsigned i = 0; ep->lane && i < LF_LANES_MAX; i++)
		if (ep->lane[i])
			lf_lane_free(ep, ep->lane[i], -ECANCELED);
	free(ep->lane);
	pthread_mutex_destroy(&ep->llock);
	while (ep->pchunks) {
		struct lf_pchunk *c = ep->pchunks;
		ep->pchunks = c->next;
		lg_local_free(c, LF_PCHUNK_BYTES);
	}
	pthread_mutex_destroy(&ep->plock);
	lf_fx_release(ep, 1);
	pthread_mutex_destroy(&ep->hlock);
	if (ep->ep)
		fi_close(&ep->ep->fid);
	while (ep->mrs) {
		struct lf_mr *m = ep->mrs;
		ep->mrs = m->next;
		fi_close(&m->mr->fid);
		free(m);
	}
	pthread_mutex_destroy(&ep->rlock);
	if (ep->av)
		fi_close(&ep->av->fid);
	if (ep->txcq)
		fi_close(&ep->txcq->fid);
	if (ep->rxcq)
		fi_close(&ep->rxcq->fid);
	if (ep->domain)
		fi_close(&ep->domain->fid);
	if (ep->fabric)
		fi_close(&ep->fabric->fid);
	if (ep->info)
		lf_fi_freeinfo(ep->info);
	if (ep->rx_mem)
		lg_local_free(ep->rx_mem, ep->rx_stride * ep->nrx);
	free(ep->rx);
	free(ep);
}

int lf_ep_name(struct lf_ep *ep, void *buf, size_t *len)
{
	if (*len < ep->name_len)
		return -ENOSPC;
	memcpy(buf, ep->name, ep->name_len);
	*len = ep->name_len;
	return 0;
}

const char *lf_addr_str(struct lf_ep *ep, const void *addr, size_t len, char *buf,
			size_t buflen)
{
	if (ep->prov == LEGO_PROV_SHM || !ep->av) {
		snprintf(buf, buflen, "%.*s", (int)strnlen(addr, len), (const char *)addr);
		return buf;
	}
	size_t l = buflen;
	fi_av_straddr(ep->av, addr, buf, &l);
	return buf;
}

int lf_av_insert(struct lf_ep *ep, const void *addr, size_t len, uint64_t *fi_addr)
{
	(void)len;
	fi_addr_t a = FI_ADDR_NOTAVAIL;
	int n = fi_av_insert(ep->av, addr, 1, &a, 0, NULL);
	if (n != 1 || a == FI_ADDR_NOTAVAIL)
		return -EADDRNOTAVAIL;
	*fi_addr = a;
	atomic_fetch_add_explicit(&ep->av_used, 1, memory_order_relaxed);
	return 0;
}

unsigned lf_av_used(struct lf_ep *ep) { return atomic_load_explicit(&ep->av_used, memory_order_relaxed); }

unsigned lf_av_max(const struct lf_ep *ep) { return ep->prov == LEGO_PROV_SHM ? LF_SHM_PEERS_MAX : 0; }

static void lf_pending_drop(struct lf_ep *ep, uint64_t dest, int err);

void lf_av_remove(struct lf_ep *ep, uint64_t fi_addr)
{
	lf_pending_drop(ep, fi_addr, -EPIPE);
	lf_lane_close(ep, fi_addr);
	fi_addr_t a = fi_addr;
	if (fi_av_remove(ep->av, &a, 1, 0) == 0)
		atomic_fetch_sub_explicit(&ep->av_used, 1, memory_order_relaxed);
}

/* ---------------------------------------------------------------- lanes */

/* The send-only endpoint for dest's large messages (fabric.h), made now
 * if it has none; NULL if it cannot be (the message then goes from ep
 * itself, as without lanes).  With ep->llock held. */
static struct lf_lane *lf_lane_get(struct lf_ep *ep, uint64_t dest)
{
	if (dest >= LF_LANES_MAX)
		return NULL;
	if (!ep->lane && !(ep->lane = calloc(LF_LANES_MAX, sizeof *ep->lane)))
		return NULL;
	if (ep->lane[dest])
		return ep->lane[dest];
	if (lg_now_ns() < ep->lane_retry_ns)
		return NULL;
	struct lf_lane *l = calloc(1, sizeof *l);
	char nm[LEGO_ADDR_MAX + 32];
	snprintf(nm, sizeof nm, "fi_shm://%s.l%u", ep->shm_name, ep->lane_seq++);
	int r = -ENOMEM;
	if (l) {
		struct lf_sigs sigs; /* as lf_ep_open */
		lf_sigs_save(&sigs);
		/* the endpoint's queue sizes: libfabric 1.17 zero-fills an shm
		 * region from its name to its end (a power of two), so shorter
		 * queues would cost more memory, not less (measured: 3.8 MiB
		 * resident with the default 1024 receives, 7.9 MiB with 16) */
		r = fi_endpoint(ep->domain, ep->info, &l->ep, NULL);
		if (!r)
			r = fi_setname(&l->ep->fid, nm, strlen(nm) + 1);
		if (!r)
			r = fi_ep_bind(l->ep, &ep->av->fid, 0);
		if (!r)
			r = fi_ep_bind(l->ep, &ep->txcq->fid, FI_TRANSMIT);
		if (!r)
			r = fi_ep_bind(l->ep, &ep->rxcq->fid, FI_RECV);
		if (!r)
			r = fi_enable(l->ep);
		lf_sigs_restore(&sigs);
	}
	if (r) {
		lg_log_rl(LG_WARN, "fabric", "no lane %s for a peer (%s): its large messages "
			  "share the endpoint", nm, lf_fi_strerror(r < 0 ? -r : r));
		if (l && l->ep)
			fi_close(&l->ep->fid);
		free(l);
		ep->lane_retry_ns = lg_now_ns() + 1000000000ull; /* not for every send */
		return NULL;
	}
	l->dest = dest;
	ep->lane[dest] = l;
	atomic_fetch_add(&lf_nlanes, 1);
	return l;
}

/* The endpoint to send iov to dest from: dest's lane for a large message
 * on an endpoint with lanes (tx then counts as on it), else ep's own. */
static struct fid_ep *lf_route(struct lf_ep *ep, uint64_t dest, const struct iovec *iov, int n,
			       struct lf_tx *tx)
{
	tx->lane = NULL;
	if (!ep->lanes)
		return ep->ep;
	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += iov[i].iov_len;
	if (len <= ep->inject_size)
		return ep->ep;
	pthread_mutex_lock(&ep->llock);
	struct lf_lane *l = lf_lane_get(ep, dest);
	if (l) {
		tx->lane = l;
		tx->lprev = NULL;
		tx->lnext = l->inflight;
		if (l->inflight)
			l->inflight->lprev = tx;
		l->inflight = tx;
	}
	pthread_mutex_unlock(&ep->llock);
	return l ? l->ep : ep->ep;
}

/* tx is no longer on its lane: finished, or not sent after all. */
static void lf_unroute(struct lf_ep *ep, struct lf_tx *tx)
{
	struct lf_lane *l = tx->lane;
	if (!l)
		return;
	pthread_mutex_lock(&ep->llock);
	if (tx->lprev)
		tx->lprev->lnext = tx->lnext;
	else
		l->inflight = tx->lnext;
	if (tx->lnext)
		tx->lnext->lprev = tx->lprev;
	tx->lane = NULL;
	pthread_mutex_unlock(&ep->llock);
}

static void lf_fx_damage(void *buf, size_t len);

static int lf_reap_tx(struct lf_ep *ep)
{
	struct fi_cq_msg_entry e[16];
	ssize_t n = fi_cq_read(ep->txcq, e, LG_ARRAY_SIZE(e));
	if (n > 0) {
		for (ssize_t i = 0; i < n; i++) {
			struct lf_tx *tx = e[i].op_context;
			if (!tx)
				continue;
			if (tx->rbuf)
				lf_fx_damage(tx->rbuf, tx->rlen);
			lf_unroute(ep, tx);
			if (tx->done)
				tx->done(tx, 0);
		}
		return (int)n;
	}
	if (n == -FI_EAVAIL) {
		struct fi_cq_err_entry ee = {0};
		if (fi_cq_readerr(ep->txcq, &ee, 0) == 1) {
			lg_log_rl(LG_WARN, "fabric", "%s send failed: %s", lf_prov_name(ep->prov),
				  lf_fi_strerror(ee.err));
			struct lf_tx *tx = ee.op_context;
			if (tx)
				lf_unroute(ep, tx);
			if (tx && tx->done)
				tx->done(tx, -(ee.err ? ee.err : EIO));
			return 1;
		}
	}
	return n == -FI_EAGAIN ? 0 : (int)n;
}

/* Close lane l (out of ep's table already): what it still has is never
 * finished, and its senders are told err. */
static void lf_lane_free(struct lf_ep *ep, struct lf_lane *l, int err)
{
	fi_close(&l->ep->fid); /* no send on it completes from now on */
	for (struct lf_tx *tx; (tx = l->inflight);) {
		lf_unroute(ep, tx);
		if (tx->done)
			tx->done(tx, err);
	}
	free(l);
	atomic_fetch_sub(&lf_nlanes, 1);
}

void lf_lane_close(struct lf_ep *ep, uint64_t fi_addr)
{
	if (!ep || !ep->lanes || fi_addr >= LF_LANES_MAX)
		return;
	pthread_mutex_lock(&ep->llock);
	struct lf_lane *l = ep->lane ? ep->lane[fi_addr] : NULL;
	if (l)
		ep->lane[fi_addr] = NULL;
	pthread_mutex_unlock(&ep->llock);
	if (!l)
		return;
	pthread_rwlock_rdlock(&lf_fork_rw);
	/* the sends it finished first, as finished */
	while (lf_reap_tx(ep) > 0)
		;
	lf_lane_free(ep, l, -EPIPE);
	pthread_rwlock_unlock(&lf_fork_rw);
}

unsigned lf_lanes_open(void) { return atomic_load(&lf_nlanes); }

static int lf_sendv_locked(struct lf_ep *ep, uint64_t dest, const struct iovec *iov, int n,
			   struct lf_tx *tx, uint64_t until, uint64_t wait_ns);

/* One fi_sendv, or fi_sendmsg with the tx's data. */
static ssize_t lf_post_send(struct fid_ep *fep, const struct iovec *iov, int n, uint64_t dest,
			    struct lf_tx *tx)
{
	if (!tx->with_data)
		return fi_sendv(fep, iov, NULL, (size_t)n, dest, &tx->fctx);
	struct fi_msg m = {.msg_iov = iov, .iov_count = (size_t)n, .addr = dest,
			   .context = &tx->fctx, .data = tx->data};
	return fi_sendmsg(fep, &m, FI_REMOTE_CQ_DATA);
}

int lf_can_read(const struct lf_ep *ep) { return ep && ep->rma; }

/*
 * A one-sided read from a process of this host: process_vm_readv, made by
 * the reader, into buf.  Not the shm provider's fi_read, which makes the
 * same copy while holding the spinlock of the target's shared queue: a
 * reader killed there (SIGKILL, the OOM killer) left it taken, and the
 * memnode, then every process using it, spun on it for good
 * (tests/integration/kill_reads.sh).  This copy takes no lock the target
 * or anyone else needs.  Its completion runs from lf_progress, like that
 * of a send, so callers see no difference.
 */
int lf_read_nb(struct lf_ep *ep, int pid, void *buf, size_t len, uint64_t raddr,
	       struct lf_tx *tx)
{
	if (!ep->rma || pid <= 0)
		return -ENOTSUP;
	struct iovec l = {buf, len}, r = {(void *)(uintptr_t)raddr, len};
	ssize_t got = process_vm_readv((pid_t)pid, &l, 1, &r, 1, 0);
	tx->lane = NULL;
	tx->with_data = 0;
	tx->rbuf = buf;
	tx->rlen = len;
	tx->rerr = got == (ssize_t)len ? 0 : got < 0 ? -errno : -EIO;
	tx->rnext = NULL;
	pthread_rwlock_rdlock(&lf_fork_rw); /* (a fork copies the list whole) */
	pthread_mutex_lock(&ep->rlock);
	*ep->rdone_tail = tx;
	ep->rdone_tail = &tx->rnext;
	atomic_fetch_add(&ep->nrdone, 1);
	pthread_mutex_unlock(&ep->rlock);
	pthread_rwlock_unlock(&lf_fork_rw);
	return 0;
}

int lf_can_read_net(const struct lf_ep *ep) { return ep && ep->net_rma; }

int lf_expose(struct lf_ep *ep, void *addr, size_t len, uint64_t want_key, uint64_t *key)
{
	if (!ep->net_rma)
		return -ENOTSUP;
	struct lf_mr *m = calloc(1, sizeof *m);
	if (!m)
		return -ENOMEM;
	pthread_rwlock_rdlock(&lf_fork_rw);
	int r = fi_mr_reg(ep->domain, addr, len, FI_REMOTE_READ, 0, want_key, 0, &m->mr, NULL);
	pthread_rwlock_unlock(&lf_fork_rw);
	if (r) {
		lg_log(LG_WARN, "fabric", "%s: cannot register %zu bytes for one-sided reads: %s",
		       lf_prov_name(ep->prov), len, lf_fi_strerror(-r));
		free(m);
		return r < 0 ? r : -EIO;
	}
	*key = fi_mr_key(m->mr);
	pthread_mutex_lock(&ep->rlock);
	m->next = ep->mrs;
	ep->mrs = m;
	pthread_mutex_unlock(&ep->rlock);
	return 0;
}

int lf_expose_virtual(const struct lf_ep *ep) { return (ep->mr_mode & FI_MR_VIRT_ADDR) != 0; }

int lf_read_key_nb(struct lf_ep *ep, uint64_t dest, void *buf, size_t len, uint64_t raddr,
		   uint64_t key, struct lf_tx *tx)
{
	if (!ep->net_rma)
		return -ENOTSUP;
	tx->lane = NULL;
	tx->with_data = 0;
	tx->rbuf = buf;
	tx->rlen = len;
	tx->rerr = 0;
	tx->rnext = NULL;
	pthread_rwlock_rdlock(&lf_fork_rw);
	ssize_t r = fi_read(ep->ep, buf, len, NULL, dest, raddr, key, &tx->fctx);
	pthread_rwlock_unlock(&lf_fork_rw);
	return r == -FI_EAGAIN ? -EAGAIN : r ? -EIO : 0;
}

int lf_readv(struct lf_ep *ep, int pid, void *buf, const struct iovec *from, int n)
{
	if (!ep->rma || pid <= 0)
		return -ENOTSUP;
	size_t len = 0;
	for (int i = 0; i < n; i++)
		len += from[i].iov_len;
	struct iovec l = {buf, len};
	ssize_t got = process_vm_readv((pid_t)pid, &l, 1, from, (unsigned long)n, 0);
	if (got != (ssize_t)len)
		return got < 0 ? -errno : -EIO;
	lf_fx_damage(buf, len);
	return 0;
}

/* Run the completions of the one-sided reads done (lf_read_nb). */
static int lf_reap_reads(struct lf_ep *ep)
{
	if (!atomic_load_explicit(&ep->nrdone, memory_order_relaxed))
		return 0;
	pthread_mutex_lock(&ep->rlock);
	struct lf_tx *tx = ep->rdone;
	ep->rdone = NULL;
	ep->rdone_tail = &ep->rdone;
	atomic_store(&ep->nrdone, 0);
	pthread_mutex_unlock(&ep->rlock);
	int n = 0;
	while (tx) {
		struct lf_tx *next = tx->rnext;
		if (!tx->rerr)
			lf_fx_damage(tx->rbuf, tx->rlen);
		if (tx->done)
			tx->done(tx, tx->rerr);
		tx = next;
		n++;
	}
	return n;
}

unsigned lf_ep_pending(const struct lf_ep *ep) { return atomic_load(&ep->npending); }

size_t lf_compact_size(const struct lf_ep *ep)
{
	return ep && ep->prov == LEGO_PROV_SHM && ep->info->domain_attr->cq_data_size >= 8
		       ? ep->info->tx_attr->inject_size
		       : 0;
}


int lf_sendv(struct lf_ep *ep, uint64_t dest, const struct iovec *iov, int n, struct lf_tx *tx)
{
	tx->with_data = 0;
	tx->rbuf = NULL;
	pthread_rwlock_rdlock(&lf_fork_rw);
	int r = lf_sendv_locked(ep, dest, iov, n, tx, tx->deadline, 10ull * 1000000000ull);
	pthread_rwlock_unlock(&lf_fork_rw);
	return r;
}

/* Send, retrying while the provider's queue is full (reaping send
 * completions meanwhile), until `until` (0: wait_ns after the first stall);
 * then -ETIMEDOUT. */
static int lf_sendv_locked(struct lf_ep *ep, uint64_t dest, const struct iovec *iov, int n,
			   struct lf_tx *tx, uint64_t until, uint64_t wait_ns)
{
	struct fid_ep *fep = lf_route(ep, dest, iov, n, tx);
	for (;;) {
		ssize_t r = lf_post_send(fep, iov, n, dest, tx);
		if (r == 0)
			return 0;
		if (r != -FI_EAGAIN) {
			lg_log_rl(LG_WARN, "fabric", "%s fi_sendv: %s", lf_prov_name(ep->prov),
				  lf_fi_strerror((int)-r));
			lf_unroute(ep, tx);
			return (int)r;
		}
		if (lf_reap_tx(ep) == 0) {
			uint64_t now = lg_now_ns();
			if (!until)
				until = now + wait_ns;
			else if (now > until) {
				lf_unroute(ep, tx);
				return -ETIMEDOUT;
			}
			lg_cpu_relax();
		}
	}
}

#define LF_SEND_SPIN_NS 200000ull
#define LF_PENDING_MAX 4096u /* sends one endpoint keeps waiting for room */

static int lf_sendv_nb1(struct lf_ep *ep, uint64_t dest, const struct iovec *iov, int n,
			struct lf_tx *tx)
{
	if (n > 4)
		return -EINVAL;
	pthread_rwlock_rdlock(&lf_fork_rw);
	int r = 0;
	if (!atomic_load(&ep->npending)) { /* else behind the others */
		/* a busy provider usually takes it within microseconds */
		r = lf_sendv_locked(ep, dest, iov, n, tx, 0, LF_SEND_SPIN_NS);
		if (r != -ETIMEDOUT)
			goto out;
		r = 0;
	}
	/* bounded: a peer that takes no messages (hostile, or dead with a
	 * full queue) cannot make us hold an unbounded number */
	pthread_mutex_lock(&ep->plock);
	struct lf_pending *pd =
		atomic_load(&ep->npending) < LF_PENDING_MAX ? lf_pending_get(ep) : NULL;
	if (!pd) {
		pthread_mutex_unlock(&ep->plock);
		r = -ENOBUFS;
		goto out;
	}
	*pd = (struct lf_pending){.tx = tx, .dest = dest, .n = n};
	memcpy(pd->iov, iov, sizeof *iov * (size_t)n);
	struct lf_pending **tail = &ep->pending;
	while (*tail)
		tail = &(*tail)->next;
	*tail = pd;
	atomic_fetch_add(&ep->npending, 1);
	pthread_mutex_unlock(&ep->plock);
out:
	pthread_rwlock_unlock(&lf_fork_rw);
	return r;
}

int lf_sendv_nb(struct lf_ep *ep, uint64_t dest, const struct iovec *iov, int n,
		struct lf_tx *tx)
{
	tx->with_data = 0;
	tx->rbuf = NULL;
	return lf_sendv_nb1(ep, dest, iov, n, tx);
}

int lf_sendv_nb_data(struct lf_ep *ep, uint64_t dest, const struct iovec *iov, int n,
		     uint64_t data, struct lf_tx *tx)
{
	tx->with_data = 1;
	tx->rbuf = NULL;
	tx->data = data;
	return lf_sendv_nb1(ep, dest, iov, n, tx);
}

/* Tell the senders of the waiting sends in list (taken off ep's list) that
 * they are given up, each with its record's n as the error; outside
 * ep->plock, which done() may need. */
static void lf_pending_tell(struct lf_ep *ep, struct lf_pending *list)
{
	while (list) {
		struct lf_pending *pd = list;
		list = pd->next;
		if (pd->tx->done)
			pd->tx->done(pd->tx, pd->n);
		pthread_mutex_lock(&ep->plock);
		lf_pending_put(ep, pd);
		pthread_mutex_unlock(&ep->plock);
	}
}

/* Try the kept sends again, in order; give up those past their deadline.
 * A send that still finds no room holds back the later ones to the same
 * peer: a peer gets its messages in the order they were sent (a free must
 * not overtake a write of the same line; the provider may have room for a
 * small message and none for a large one).  Returns how many left the
 * list. */
static int lf_retry_pending(struct lf_ep *ep)
{
	if (!atomic_load_explicit(&ep->npending, memory_order_relaxed))
		return 0;
	int done = 0, nheld = 0;
	uint64_t now = lg_now_ns();
	uint64_t held[16]; /* peers with a send still waiting this pass */
	struct lf_pending *give_up = NULL;
	pthread_mutex_lock(&ep->plock);
	for (struct lf_pending **pp = &ep->pending; *pp;) {
		struct lf_pending *pd = *pp;
		int behind = 0;
		for (int i = 0; i < nheld && !behind; i++)
			behind = held[i] == pd->dest;
		if (behind) {
			pp = &pd->next;
			continue;
		}
		struct fid_ep *fep = lf_route(ep, pd->dest, pd->iov, pd->n, pd->tx);
		struct lf_bell *bell = pd->tx->bell; /* (tx may be done once posted) */
		ssize_t s = lf_post_send(fep, pd->iov, pd->n, pd->dest, pd->tx);
		if (s)
			lf_unroute(ep, pd->tx);
		else
			lf_bell_ring(bell);
		if (s == -FI_EAGAIN && now < pd->tx->deadline) {
			if (nheld == (int)LG_ARRAY_SIZE(held))
				break; /* (rare) the rest waits for the next pass */
			held[nheld++] = pd->dest;
			pp = &pd->next;
			continue;
		}
		*pp = pd->next;
		atomic_fetch_sub(&ep->npending, 1);
		done++;
		if (s == 0) {
			lf_pending_put(ep, pd);
		} else {
			pd->next = give_up; /* told outside the lock */
			give_up = pd;
			pd->n = (int)(s == -FI_EAGAIN ? -ETIMEDOUT : s);
		}
	}
	pthread_mutex_unlock(&ep->plock);
	for (struct lf_pending *pd = give_up; pd; pd = pd->next)
		lg_log_rl(LG_INFO, "fabric", "%s: gave up a send to a peer that takes no messages (%s)",
			  lf_prov_name(ep->prov), strerror(-pd->n));
	lf_pending_tell(ep, give_up);
	return done;
}

/* Give up the waiting sends to dest (err), which is going away. */
static void lf_pending_drop(struct lf_ep *ep, uint64_t dest, int err)
{
	if (!atomic_load(&ep->npending))
		return;
	struct lf_pending *gone = NULL;
	pthread_mutex_lock(&ep->plock);
	for (struct lf_pending **pp = &ep->pending; *pp;) {
		struct lf_pending *pd = *pp;
		if (pd->dest != dest) {
			pp = &pd->next;
			continue;
		}
		*pp = pd->next;
		atomic_fetch_sub(&ep->npending, 1);
		pd->n = err;
		pd->next = gone;
		gone = pd;
	}
	pthread_mutex_unlock(&ep->plock);
	lf_pending_tell(ep, gone);
}

/* ------------------------------------------------------ fault injection */

/* What LEGO_FAULTS asks for, in parts per million of received messages. */
static struct {
	uint32_t drop, dup, corrupt, delay;
	uint64_t delay_ns;
	int on;
} lf_fx;
static _Atomic uint64_t lf_fx_seq, lf_fx_count;

#define LF_HELD_MAX 1024u /* held messages per endpoint; past it, no delays */
/* Records kept for reuse per endpoint: unmapping one would cost a TLB
 * shoot-down that interrupts the program's running threads (tens of
 * microseconds on a VM), a cost that delayed messages would otherwise add
 * to every round trip of a multi-threaded program. */
#define LF_HELD_KEEP 64u

/* A held message: this record in the first page of a local mapping, the
 * message at its end so that the payload is page-aligned, as received
 * (local memory from mmap, not malloc: see rpc_rtx in rpc.c). */
struct lf_held {
	struct lf_held *next;
	uint64_t due;
	size_t len, size;
	uint8_t *msg;
};

static uint64_t lf_fx_rand(void)
{
	uint64_t z = atomic_fetch_add_explicit(&lf_fx_seq, 0x9e3779b97f4a7c15ull,
					       memory_order_relaxed);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull; /* splitmix64 */
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int lf_fx_hit(uint32_t ppm) { return ppm && lf_fx_rand() % 1000000u < ppm; }

/* "12.5" percent as parts per million; -1 if not a percentage. */
static long lf_fx_ppm(const char *v, char **end)
{
	double d = strtod(v, end);
	if (*end == v || d < 0 || d > 100)
		return -1;
	return (long)(d * 10000 + 0.5);
}

int lf_faults_set(const char *spec)
{
	lf_fx.on = 0;
	lf_fx.drop = lf_fx.dup = lf_fx.corrupt = lf_fx.delay = 0;
	lf_fx.delay_ns = 10ull * 1000000;
	if (!spec || !*spec)
		return 0;
	const struct { const char *name; uint32_t *ppm; } kinds[] = {
		{"drop", &lf_fx.drop}, {"dup", &lf_fx.dup}, {"corrupt", &lf_fx.corrupt},
		{"delay", &lf_fx.delay},
	};
	char buf[256];
	snprintf(buf, sizeof buf, "%s", spec);
	char *save = NULL;
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(t, '='), *end;
		long ppm = eq ? lf_fx_ppm(eq + 1, &end) : -1;
		if (ppm >= 0 && !strncmp(t, "delay=", 6) && *end == ':') {
			char *e2;
			unsigned long ms = strtoul(end + 1, &e2, 10);
			if (e2 == end + 1 || ms == 0 || ms > 60000)
				ppm = -1;
			lf_fx.delay_ns = ms * 1000000ull;
			end = e2;
		}
		if (ppm < 0 || *end) {
			lg_log(LG_ERROR, "fabric", "LEGO_FAULTS: cannot read \"%s\" (want drop=P,dup=P,"
			       "corrupt=P,delay=P[:MS] with P a percentage)", t);
			return -EINVAL;
		}
		*eq = 0;
		size_t k = 0;
		while (k < LG_ARRAY_SIZE(kinds) && strcmp(t, kinds[k].name))
			k++;
		if (k == LG_ARRAY_SIZE(kinds)) {
			lg_log(LG_ERROR, "fabric", "LEGO_FAULTS: unknown fault \"%s\"", t);
			return -EINVAL;
		}
		*kinds[k].ppm = (uint32_t)ppm;
	}
	lf_fx_seq = lg_now_ns() ^ ((uint64_t)getpid() << 32);
	lf_fx.on = 1;
	lg_log(LG_WARN, "fabric", "injecting faults into received messages: drop %.4g%%, "
	       "duplicate %.4g%%, corrupt %.4g%%, delay %.4g%% by up to %llu ms",
	       lf_fx.drop / 1e4, lf_fx.dup / 1e4, lf_fx.corrupt / 1e4, lf_fx.delay / 1e4,
	       (unsigned long long)(lf_fx.delay_ns / 1000000));
	return 0;
}

uint64_t lf_faults_injected(void) { return atomic_load(&lf_fx_count); }

int lf_takes_compact(const struct lf_ep *ep)
{
	return lf_compact_size(ep) && ep->on_data && !lf_fx.on;
}

/* LEGO_FAULTS's corrupt: flip one bit of buf, sometimes. */
static void lf_fx_corrupt(uint8_t *buf, size_t len)
{
	if (!len || !lf_fx_hit(lf_fx.corrupt))
		return;
	atomic_fetch_add(&lf_fx_count, 1);
	uint64_t bit = lf_fx_rand() % (len * 8);
	buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
}

/* What a one-sided read brought: damaged as received messages are. */
static void lf_fx_damage(void *buf, size_t len)
{
	if (lf_fx.on)
		lf_fx_corrupt(buf, len);
}

/* Hold a copy of msg until a random time within the delay; -1 if not. */
static int lf_fx_hold(struct lf_ep *ep, const void *msg, size_t len)
{
	size_t size = LG_PAGE_SIZE + len;
	if (atomic_load(&ep->nheld) >= LF_HELD_MAX)
		return -1;
	struct lf_held *h = NULL;
	pthread_mutex_lock(&ep->hlock);
	for (struct lf_held **pp = &ep->hfree; *pp; pp = &(*pp)->next)
		if ((*pp)->size >= size) {
			h = *pp;
			*pp = h->next;
			ep->nhfree--;
			break;
		}
	pthread_mutex_unlock(&ep->hlock);
	if (!h) {
		if (!(h = lg_local_alloc(size)))
			return -1;
		h->size = size;
	}
	h->msg = (uint8_t *)h + LG_PAGE_SIZE - sizeof(struct lego_hdr);
	memcpy(h->msg, msg, len);
	h->len = len;
	h->due = lg_now_ns() + lf_fx_rand() % lf_fx.delay_ns;
	pthread_mutex_lock(&ep->hlock);
	h->next = ep->held;
	ep->held = h;
	atomic_fetch_add(&ep->nheld, 1);
	pthread_mutex_unlock(&ep->hlock);
	return 0;
}

/* A received message, through the faults asked for: dropped, damaged (one
 * bit flipped), held back, handed over, and maybe handed over again later. */
static void lf_fx_recv(struct lf_ep *ep, uint8_t *msg, size_t len)
{
	if (lf_fx_hit(lf_fx.drop)) {
		atomic_fetch_add(&lf_fx_count, 1);
		return;
	}
	if (lf_fx_hit(lf_fx.dup)) {
		atomic_fetch_add(&lf_fx_count, 1);
		lf_fx_hold(ep, msg, len);
	}
	lf_fx_corrupt(msg, len);
	if (lf_fx_hit(lf_fx.delay) && lf_fx_hold(ep, msg, len) == 0) {
		atomic_fetch_add(&lf_fx_count, 1);
		return;
	}
	ep->on_recv(ep, msg, len, ep->arg);
}

/* Hand over the held messages that are due; how many.  all: the endpoint
 * closes: drop every held message and kept record. */
static int lf_fx_release(struct lf_ep *ep, int all)
{
	if (all) { /* (closing: no other thread uses ep) */
		while (ep->hfree) {
			struct lf_held *h = ep->hfree;
			ep->hfree = h->next;
			lg_local_free(h, h->size);
		}
		ep->nhfree = 0;
	}
	if (!atomic_load_explicit(&ep->nheld, memory_order_relaxed))
		return 0;
	int n = 0;
	uint64_t now = lg_now_ns();
	for (;;) {
		struct lf_held *h = NULL;
		pthread_mutex_lock(&ep->hlock);
		for (struct lf_held **pp = &ep->held; *pp; pp = &(*pp)->next)
			if (all || (*pp)->due <= now) {
				h = *pp;
				*pp = h->next;
				atomic_fetch_sub(&ep->nheld, 1);
				break;
			}
		pthread_mutex_unlock(&ep->hlock);
		if (!h)
			return n;
		if (!all && ep->on_recv)
			ep->on_recv(ep, h->msg, h->len, ep->arg);
		pthread_mutex_lock(&ep->hlock);
		int keep = !all && ep->nhfree < LF_HELD_KEEP;
		if (keep) {
			h->next = ep->hfree;
			ep->hfree = h;
			ep->nhfree++;
		}
		pthread_mutex_unlock(&ep->hlock);
		if (!keep)
			lg_local_free(h, h->size);
		n++;
	}
}

static int lf_progress_locked(struct lf_ep *ep);

int lf_progress(struct lf_ep *ep)
{
	pthread_rwlock_rdlock(&lf_fork_rw);
	int r = lf_progress_locked(ep);
	pthread_rwlock_unlock(&lf_fork_rw);
	return r;
}

static int lf_progress_locked(struct lf_ep *ep)
{
	struct fi_cq_data_entry e[16];
	int done = lf_retry_pending(ep) + lf_reap_reads(ep);
	if (ep->mrs && ep->rx_fd >= 0) {
		/* Peers read our memory one-sided: the provider serves their
		 * reads in the call below and reports none of them (rxm has
		 * no FI_RMA_EVENT).  Data waiting on its sockets says the
		 * server is busy all the same, so it keeps polling: the wait
		 * descriptor shows it, and is armed again (which clears what
		 * it signalled) to show the next. */
		struct pollfd pf = {ep->rx_fd, POLLIN, 0};
		if (poll(&pf, 1, 0) > 0) {
			struct fid *f = &ep->rxcq->fid;
			fi_trywait(ep->fabric, &f, 1);
			done++;
		}
	}
	ssize_t n = fi_cq_read(ep->rxcq, e, LG_ARRAY_SIZE(e));
	if (n > 0) {
		for (ssize_t i = 0; i < n; i++) {
			struct lf_rxbuf *rb = e[i].op_context;
			if ((e[i].flags & FI_REMOTE_CQ_DATA) && ep->on_data)
				ep->on_data(ep, rb->post, e[i].len, e[i].data, ep->arg);
			else if (lg_unlikely(lf_fx.on) && ep->on_recv)
				lf_fx_recv(ep, rb->post, e[i].len);
			else if (ep->on_recv)
				ep->on_recv(ep, rb->post, e[i].len, ep->arg);
			lf_post(ep, rb);
		}
		done += (int)n;
	} else if (n == -FI_EAVAIL) {
		struct fi_cq_err_entry ee = {0};
		if (fi_cq_readerr(ep->rxcq, &ee, 0) == 1) {
			struct lf_rxbuf *rb = ee.op_context;
			if (ee.err == FI_ETRUNC && rb && ep->on_recv) {
				/* larger than any message we accept: hand over what
				 * arrived, whose declared length gives it away */
				ep->on_recv(ep, rb->post, ee.len, ep->arg);
				lf_post(ep, rb);
			} else if (ee.err == FI_EIO && ep->prov == LEGO_PROV_SHM) {
				/* shm copies a large message out of its sender's
				 * memory: a sender killed before that is the usual
				 * cause (its request is lost with it) */
				lg_log_rl(LG_INFO, "fabric", "shm: a message could not be copied from "
					  "its sender, which has probably exited (%s)",
					  lf_fi_strerror(ee.err));
				if (rb)
					lf_post(ep, rb);
			} else if (ee.err != FI_ECANCELED) {
				lg_log_rl(LG_WARN, "fabric", "%s receive failed: %s (%zu bytes)",
					  lf_prov_name(ep->prov), lf_fi_strerror(ee.err), ee.len);
				if (rb)
					lf_post(ep, rb);
			}
			done++;
		}
	} else if (n != -FI_EAGAIN) {
		return (int)n;
	}
	int t = lf_reap_tx(ep);
	if (t > 0)
		done += t;
	if (lg_unlikely(lf_fx.on))
		done += lf_fx_release(ep, 0);
	return done;
}

int lf_wait_fd(struct lf_ep *ep) { return ep->rx_fd; }

int lf_wait_arm(struct lf_ep *ep)
{
	if (ep->rx_fd < 0)
		return -ENOSYS;
	struct fid *f = &ep->rxcq->fid;
	int r = fi_trywait(ep->fabric, &f, 1);
	return r == 0 ? 0 : -EAGAIN;
}

int lf_resolve_tcp(const char *host, const char *port, void *addr, size_t *len)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
	struct addrinfo *res = NULL;
	int r = getaddrinfo(host, port, &hints, &res);
	if (r || !res) {
		lg_log(LG_ERROR, "fabric", "cannot resolve %s:%s: %s", host, port, gai_strerror(r));
		return -EHOSTUNREACH;
	}
	if (res->ai_addrlen > *len) {
		freeaddrinfo(res);
		return -ENOSPC;
	}
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

void lf_shm_name_for_port(unsigned port, char *buf, size_t len)
{
	snprintf(buf, len, "lego.%u", port);
}

int lf_resolve_shm(const char *name, void *addr, size_t *len)
{
	int n = snprintf(addr, *len, "fi_shm://%s", name);
	if (n < 0 || (size_t)n + 1 > *len)
		return -ENOSPC;
	*len = (size_t)n + 1;
	return 0;
}

int lf_shm_peer_ok(const char *name)
{
	char path[128];
	snprintf(path, sizeof path, "/dev/shm/%s", name);
	struct stat st;
	if (stat(path, &st) != 0)
		return -ENOENT;
	return st.st_uid == geteuid() ? 0 : -EPERM;
}

unsigned lf_tcp_port(const void *addr, size_t len)
{
	const struct sockaddr *sa = addr;
	if (len >= sizeof(struct sockaddr_in) && sa->sa_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)addr)->sin_port);
	if (len >= sizeof(struct sockaddr_in6) && sa->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
	return 0;
}
