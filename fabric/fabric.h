/*
 * fabric: one libfabric FI_EP_RDM endpoint with its completion queues,
 * address vector and a pool of posted receive buffers.
 *
 * Providers: tcp ("tcp;ofi_rxm"), shm, verbs ("verbs;ofi_rxm").  Messages
 * are untagged sends; the RPC layer (rpc.h) matches replies to requests by
 * the id in the header.  Received messages are handed to the endpoint's
 * on_recv callback, whose buffer is valid only during the call; the payload
 * after the 48-byte header starts on a page boundary, so a line can be
 * installed straight from the receive buffer.
 *
 * Thread safety: the endpoint is opened FI_THREAD_SAFE; lf_progress and
 * lf_send may be called from any thread at once.  Callbacks run in the
 * thread that called lf_progress.
 */
#ifndef LEGO_FABRIC_H
#define LEGO_FABRIC_H

#include <rdma/fabric.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "lego/proto.h"

struct lf_ep;

typedef void (*lf_recv_fn)(struct lf_ep *ep, void *msg, size_t len, void *arg);
/* A message sent with lf_sendv_nb_data: its 64 bits of data beside it. */
typedef void (*lf_recv_data_fn)(struct lf_ep *ep, void *msg, size_t len, uint64_t data,
				void *arg);

/* Send context; embed it in the caller's object.  done() runs once, in a
 * progress call, when libfabric no longer needs the sent buffers. */
struct lf_tx {
	struct fi_context2 fctx; /* must be first */
	void (*done)(struct lf_tx *tx, int err);
	uint64_t deadline; /* lg_now_ns() after which a send that cannot start
			      gives up with -ETIMEDOUT; 0: in 10 s */
	/* the peer's doorbell (bell.h), or NULL: a send the provider could
	 * not take at once rings it when it goes out from progress, as the
	 * sender rang it after the first try (the peer may have gone back to
	 * sleep since: it had nothing to read then) */
	struct lf_bell *bell;
	/* the fabric's own: the lane a send went out on (below), if any; the
	 * data of lf_sendv_nb_data */
	struct lf_lane *lane;
	struct lf_tx *lnext, *lprev;
	uint64_t data;
	int with_data;
	/* lf_read_nb's buffer (fault injection may damage what it read),
	 * its result, and the next read done */
	void *rbuf;
	size_t rlen;
	int rerr;
	struct lf_tx *rnext;
};

struct lf_ep_conf {
	enum lego_prov prov;
	const char *node;    /* tcp: address to bind; shm: endpoint name */
	const char *service; /* tcp: port ("0": any) */
	int peer_hint;       /* node/service name a peer to reach, not our own
				address: the provider picks a route to it */
	unsigned rx_bufs;    /* receive buffers kept posted */
	size_t rx_size;      /* largest message accepted */
	lf_recv_fn on_recv;
	void *arg;
	int lanes;           /* shm: each peer's large messages on a lane (below) */
	lf_recv_data_fn on_data; /* messages sent with data (NULL: to on_recv, data lost) */
};

/* libfabric's tuning, which it reads from the environment (the first
 * endpoint sets it, setenv without replacing a user's value).  A process
 * under LD_PRELOAD sets it from its constructor instead, before main: a
 * setenv later, when a deferred start opens the first endpoint, moves
 * environ from under the program (strace freed the array it had read as
 * environ, on the stack, when a stat of a /lego path started the runtime)
 * and races with its threads' getenv. */
void lf_tune_env(void);

/* Open an endpoint.  0, or -errno with a log line naming the provider.
 * Signal dispositions are as they were before the call. */
int lf_ep_open(const struct lf_ep_conf *conf, struct lf_ep **out);
void lf_ep_close(struct lf_ep *ep);

enum lego_prov lf_ep_prov(const struct lf_ep *ep);
const char *lf_prov_name(enum lego_prov prov);
/* Is this provider installed and usable for `node` (may be NULL)? */
int lf_prov_available(enum lego_prov prov, const char *node);

/* The endpoint's raw address, as peers pass to lf_av_insert. */
int lf_ep_name(struct lf_ep *ep, void *buf, size_t *len);
/* Printable form of a raw address of this endpoint's provider. */
const char *lf_addr_str(struct lf_ep *ep, const void *addr, size_t len, char *buf,
			size_t buflen);

/*
 * Lanes (shm).  libfabric's shm provider completes an endpoint's large
 * sends (longer than its inject size, 4 KiB: the receiver copies them out)
 * through one queue, strictly in order, and each receiver marks its entry
 * done; a receiver killed before taking its message leaves its entry busy,
 * and no later large send of that endpoint, to any peer, ever completes.
 * An endpoint opened with conf.lanes sends each peer's large messages
 * from a send-only endpoint of that peer's own (its lane, made on first
 * use, named after the endpoint: NAME.lN), which shares the endpoint's
 * address vector and completions; a dead peer then holds up only its own
 * lane.  Daemons' endpoints have lanes (they send replies; a lane is a
 * 16 MiB region of /dev/shm, about 4 MiB of it resident).  Messages to one peer still arrive in the
 * order sent (one queue at the receiver), lane or not.
 */

/* Close peer fi_addr's lane, if it has one (the peer is gone, or done with
 * us): the sends still on it are given up (done(tx, -EPIPE)).  Only when
 * no other thread sends to that peer. */
void lf_lane_close(struct lf_ep *ep, uint64_t fi_addr);
/* Lanes open now in this process (a gauge). */
unsigned lf_lanes_open(void);

/* Add a peer's raw address; *fi_addr receives its handle.  0 or -errno. */
int lf_av_insert(struct lf_ep *ep, const void *addr, size_t len, uint64_t *fi_addr);
/* Remove a peer: its lane closes, and its sends still waiting for room
 * are given up (done(tx, -EPIPE)). */
void lf_av_remove(struct lf_ep *ep, uint64_t fi_addr);
/* Peers inserted and not removed (an address inserted twice counts
 * twice), and the most the provider holds (0: no limit known).  shm's
 * limit binds more than it says: libfabric 1.17 also enters there every
 * peer that sends to the endpoint, without looking for room (rpc.c,
 * "Addresses"). */
unsigned lf_av_used(struct lf_ep *ep);
unsigned lf_av_max(const struct lf_ep *ep);

/* Compact messages.  shm copies a message of up to its inject size
 * (4 KiB) through a buffer in the receiver's memory, and a longer one by a
 * system call of the receiver (process_vm_readv, ~1 us more for 4 KiB
 * here); 64 bits of data can travel beside a message, in the receiver's
 * completion.  lf_compact_size is that size when ep can send data so
 * (shm), else 0; lf_sendv_nb_data sends like lf_sendv_nb, with data. */
size_t lf_compact_size(const struct lf_ep *ep);
int lf_sendv_nb_data(struct lf_ep *ep, uint64_t dest, const struct iovec *iov, int n,
		     uint64_t data, struct lf_tx *tx);
/* May a peer answer ep compactly: ep is shm, hands messages with data to
 * an on_data of its own, and fault injection (lf_faults_set, which works
 * on headers) is off? */
int lf_takes_compact(const struct lf_ep *ep);

/* One-sided reads (shm only: the peer is a process of this host).
 * lf_can_read: ep can.  lf_read_nb reads len bytes at address raddr of
 * process pid (the peer, which says its pid) into buf, with
 * process_vm_readv, no thread of the peer involved; done then runs from
 * lf_progress with 0 or -errno (-EPERM: this host does not let the
 * process read the peer's memory, see ptrace(2); -ESRCH: no such
 * process; -EFAULT: the address is not mapped).  -ENOTSUP: ep cannot
 * (and done never runs). */
int lf_can_read(const struct lf_ep *ep);
int lf_read_nb(struct lf_ep *ep, int pid, void *buf, size_t len, uint64_t raddr,
	       struct lf_tx *tx);
/* The same, at once and gathered: the n ranges of process pid in `from`
 * (at most IOV_MAX), back to back into buf; 0, or -errno as above (-EIO:
 * fewer bytes, a range ends unmapped).  LEGO_FAULTS damages what it read
 * as it does lf_read_nb's. */
int lf_readv(struct lf_ep *ep, int pid, void *buf, const struct iovec *from, int n);

/* One-sided reads over the network (a provider with FI_RMA: tcp through
 * rxm, verbs).  The serving side registers memory with lf_expose (for
 * remote reads only; want_key is the key asked for where the provider
 * does not choose its own) and tells readers the key and, where
 * lf_expose_virtual says so, the virtual address, else the offset from
 * the registration's start.  lf_read_key_nb reads len bytes there from
 * peer dest into buf; done then runs from lf_progress with 0 or -errno.
 * -EAGAIN: the provider's queue is full now; -ENOTSUP: ep cannot.  A
 * registration lives until the endpoint closes. */
int lf_can_read_net(const struct lf_ep *ep);
int lf_expose(struct lf_ep *ep, void *addr, size_t len, uint64_t want_key, uint64_t *key);
int lf_expose_virtual(const struct lf_ep *ep);
int lf_read_key_nb(struct lf_ep *ep, uint64_t dest, void *buf, size_t len, uint64_t raddr,
		   uint64_t key, struct lf_tx *tx);

/* Like lf_sendv, but never waits: when the provider cannot take the
 * message now (the peer's queue is full: it is busy, or dead with requests
 * in flight), it is kept and sent by a later lf_progress, or given up with
 * tx->done(tx, -ETIMEDOUT) once tx->deadline (required) has passed.  For
 * servers, whose one thread must keep serving every other peer meanwhile.
 * 0 (sent or kept) or -errno; n <= 4. */
int lf_sendv_nb(struct lf_ep *ep, uint64_t dest, const struct iovec *iov, int n,
		struct lf_tx *tx);

/* Queue a message made of iov[0..n) to dest.  The buffers must stay valid
 * until tx->done runs.  Retries while the provider's queue is full (making
 * progress on send completions only).  0 or -errno. */
int lf_sendv(struct lf_ep *ep, uint64_t dest, const struct iovec *iov, int n,
	     struct lf_tx *tx);

/* Reap completions: received messages go to on_recv, finished sends and
 * one-sided reads to their done().  Returns the number handled, plus one
 * if peers read this endpoint's memory one-sided since the last call (the
 * provider counts those: a server polls on while it is read), or -errno. */
int lf_progress(struct lf_ep *ep);
/* Sends the provider could not take yet, kept to be retried by progress. */
unsigned lf_ep_pending(const struct lf_ep *ep);

/* A file descriptor that becomes readable when a message arrives, or -1 if
 * the provider has none (shm): then poll lf_progress instead.  Call
 * lf_wait_arm() before blocking on it; it returns -EAGAIN when completions
 * are already queued. */
int lf_wait_fd(struct lf_ep *ep);
int lf_wait_arm(struct lf_ep *ep);

/* Around fork: no libfabric call is in progress in any thread between
 * lf_fork_prepare and lf_fork_done (parent) or lf_fork_child (child). */
void lf_fork_prepare(void);
void lf_fork_done(void);
void lf_fork_child(void);

/* Fault injection, for tests (LEGO_FAULTS): every message this process
 * receives is dropped, duplicated (the copy handed over again within the
 * delay), damaged (one bit flipped) or delayed (held back for a random
 * time up to MS, default 10 ms; so messages also arrive out of order) with
 * the given probabilities: "drop=1,dup=1,corrupt=0.1,delay=1:20" (percent).
 * "" turns it off.  0, or -EINVAL with a log line. */
int lf_faults_set(const char *spec);
/* Received messages the injection dropped, duplicated, damaged or delayed. */
uint64_t lf_faults_injected(void);

/* Resolve a tcp HOST:PORT to a raw address for lf_av_insert. */
int lf_resolve_tcp(const char *host, const char *port, void *addr, size_t *len);
/* The shm endpoint name a daemon listening on tcp port `port` uses. */
void lf_shm_name_for_port(unsigned port, char *buf, size_t len);
/* Raw shm address of the endpoint named `name`. */
int lf_resolve_shm(const char *name, void *addr, size_t *len);
/* Can this process talk over shm to the owner of endpoint `name`?  Each
 * side must open the other's region (/dev/shm, mode 0600), so the owner
 * must be this process's effective user: libfabric 1.17's shm provider
 * crashes a process that cannot open a peer's region (a memnode of another
 * user that root's legoctl reached died of SIGSEGV), and a process that
 * cannot open the daemon's fails to connect.  0; -ENOENT (no such
 * endpoint: the daemon has no shm, or is gone); -EPERM (another user's). */
int lf_shm_peer_ok(const char *name);

/* Port of a raw tcp address, or 0. */
unsigned lf_tcp_port(const void *addr, size_t len);

#endif
