/*
 * RPC over fabric endpoints: request ids, many requests in flight,
 * per-request timeouts, 0/-errno results, and the connection handshake.
 *
 * Server: a table of handlers {opcode, name, body limits, roles, fn}; the
 * server checks every message (header, connection, session secret, body
 * length) before a handler sees it, counts what it refuses and why, and
 * answers the handshake itself.
 *
 * Client: rpc_call_async() sends a request and calls back exactly once
 * with the reply or an error (-ETIMEDOUT, -ECONNRESET, ...); rpc_call() is
 * the synchronous form.  Whoever waits drives progress: there is no hidden
 * progress thread, so a caller that must not be re-entered through reply
 * callbacks must not wait while holding its locks.
 */
#ifndef LEGO_RPC_H
#define LEGO_RPC_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "bell.h"
#include "fabric.h"
#include "wire.h"

/* ---------------------------------------------------------------- server */

struct rpc_server;
struct rpc_sconn;

struct rpc_ctx {
	struct rpc_server *srv;
	struct rpc_sconn *conn;
	const struct lego_hdr *hdr;
	const uint8_t *body;
	size_t body_len;
	void *user;
	/* reply, set by rpc_reply_alloc */
	uint8_t *rep_buf;
	size_t rep_len;
};

#define RPC_ROLE_BIT(r) (1u << (r))
#define RPC_ANY_ROLE (RPC_ROLE_BIT(LEGO_ROLE_PROCESS) | RPC_ROLE_BIT(LEGO_ROLE_MEMNODE) | \
		      RPC_ROLE_BIT(LEGO_ROLE_STORENODE) | \
		      RPC_ROLE_BIT(LEGO_ROLE_TOOL))

/* A handler returns the reply status (0 or -errno). */
typedef int (*rpc_handler_fn)(struct rpc_ctx *ctx);

/* rpc_handler.flags: the request changes nothing (a read), so a repeat of
 * it (proto.h) is served again instead of answered from a kept reply:
 * for requests whose replies are large. */
#define RPC_H_RERUN 0x1u

struct rpc_handler {
	uint16_t opcode;
	uint32_t min_body, max_body;
	uint32_t roles; /* RPC_ROLE_BIT()s allowed to call it */
	rpc_handler_fn fn;
	uint32_t flags; /* RPC_H_* */
};

struct rpc_server_conf {
	const char *name; /* for log lines: "memnode", "monitor" */
	const struct rpc_handler *handlers;
	size_t nhandlers;
	const char *key; /* cluster key ("" allowed) */
	unsigned max_conns;
	void *user;
	/* Append the daemon's own "key:value\n" lines to a stats reply. */
	size_t (*stats_fn)(void *user, char *buf, size_t cap);
	/* NULL or "", or a directory: every request of an authenticated peer
	 * is appended to DIR/NAME-PID.rec (LEGO_RECORD, docs/fuzzing.md) */
	const char *record_dir;
};

int rpc_server_new(const struct rpc_server_conf *conf, struct rpc_server **out);
void rpc_server_free(struct rpc_server *srv);
/* on_recv for endpoints that serve requests (arg = the server). */
void rpc_server_on_recv(struct lf_ep *ep, void *msg, size_t len, void *arg);
/* Reply body of `len` bytes, owned by the server; NULL if out of memory. */
void *rpc_reply_alloc(struct rpc_ctx *ctx, size_t len);
/* The reply body rpc_reply_alloc gave out (NULL if none), and dropping it
 * (for code that serves requests outside the server: tests, tools). */
void *rpc_reply_body(const struct rpc_ctx *ctx);
void rpc_reply_discard(struct rpc_ctx *ctx);
uint32_t rpc_sconn_role(const struct rpc_sconn *c);
uint32_t rpc_sconn_id(const struct rpc_sconn *c);
/* The connection's id and which use of its slot it is: what a daemon keeps
 * to drop it later (rpc_server_drop_process). */
uint64_t rpc_sconn_tag(const struct rpc_sconn *c);
/* For tests and fuzzers: a connection that has passed the handshake, for
 * a peer of `role` with no endpoint: rpc_server_on_recv takes its messages
 * with ep NULL, and drops (and frees) the replies.  A HELLO with ep NULL
 * opens a connection with no endpoint too, the server's nonce made of the
 * connection id (zeros after it), so a test can complete the AUTH.  0 with *id and
 * *session to put in the headers, or -EBUSY when the table is full. */
int rpc_server_test_conn(struct rpc_server *s, uint32_t role, uint32_t *id, uint64_t *session);
/* For tests: hold == 1 keeps the replies to test connections as if the
 * provider were still sending them (they count against the connection's
 * limit); 0 lets the held ones complete. */
void rpc_server_test_hold_replies(struct rpc_server *s, int hold);
/* Drop the connection tag names (rpc_sconn_tag) if a process still holds
 * it: the daemon learnt that the process is gone without a bye.  A
 * connection dropped since (its process found gone by the server itself)
 * is left alone, and so is another peer's in its slot. */
void rpc_server_drop_process(struct rpc_server *s, uint64_t tag);
/* The server's counters, the first lines of every daemon's stats reply
 * (common/stats_list.h says how to read the list).  Of the rejects, the
 * reasons are lw_reject_names from 1; of the requests, only the opcodes
 * received at least once, named by lw_opcode_name. */
#define RPC_SERVER_STATS_LIST(X, F) \
	X(connections, "connections", "connections open now (gauge)") \
	X(handshakes, "handshakes", "handshakes completed: the peer knew the cluster key") \
	X(bytes_in, "bytes_in", "bytes of messages received, refused ones included") \
	X(bytes_out, "bytes_out", "bytes of replies handed to the fabric, dropped ones included") \
	X(replies_dropped, "replies_dropped", "replies not sent: the peer took none for 2 s, or was gone") \
	X(replies_over_limit, "replies_over_limit", "replies not sent: the connection already had 256 replies in flight (a peer that reads none cannot crowd out the others; it sends the request again)") \
	X(repeats, "repeats", "requests received again (same id: the client sent it again, or the network doubled it), answered with the kept reply or served again, never applied twice") \
	X(stale_requests, "stale_requests", "requests older than a newer one from the same slot: dropped") \
	X(kept_reply_bytes, "kept_reply_bytes", "bytes of replies kept to answer repeats (gauge)") \
	X(faults_injected, "faults_injected", "received messages dropped, doubled, damaged or delayed on purpose (LEGO_FAULTS)") \
	X(lanes, "lanes", "shm lanes open: peers whose replies over 4 KiB go from an endpoint of their own, so that one dying in the middle of one stops no other (gauge)") \
	X(shm_locks_released, "shm_locks_released", "queue locks of libfabric's shm provider that a dead process had left taken (killed inside the provider), released so this daemon and the host's other processes go on") \
	X(shm_standins, "shm_standins", "shm regions of peers closed before their first message was read, stood in for so that libfabric does not crash the daemon (fabric/standin.c)") \
	F(rejects_by_reason, "rejects.REASON", "messages refused, by reason (below)") \
	X(rejects, "rejects", "messages refused, all reasons") \
	F(requests_by_opcode, "requests.OPCODE", "requests with a valid header, by opcode (`requests.p2m_read`)")

/* The server's counters as "key:value\n" text. */
size_t rpc_server_stats(struct rpc_server *srv, char *buf, size_t cap);
/* What a stats request returns: rpc_server_stats, then the daemon's
 * stats_fn lines.  srv is the struct rpc_server *; void so that it can be
 * a stats callback (lg_metrics).  Event-loop thread only. */
size_t rpc_server_stats_all(void *srv, char *buf, size_t cap);
/* Requests refused so far (all reasons). */
uint64_t rpc_server_rejects(struct rpc_server *srv);

/* ---------------------------------------------------------------- client */

struct rpc_client;

struct rpc_peer {
	struct rpc_client *cl;
	struct lf_ep *ep;
	uint64_t fi_addr;
	uint32_t conn;
	uint64_t session;
	int connected;
	struct lf_bell *bell; /* rung after each send, if the peer has one */
	char name[64]; /* for messages: "memnode 2", "monitor 127.0.0.1:7000" */
	/* answered requests: all, failed, timed out, and their total time */
	_Atomic uint64_t n_calls, n_errors, n_timeouts, busy_ns;
	/* for resends: requests in flight, and when its last reply came */
	_Atomic uint32_t inflight;
	_Atomic uint64_t last_reply_ns;
	_Atomic int down; /* the cluster declared it dead: not to be used again */
	/* a test peer (ep NULL): its sends complete at once, or, with
	 * test_hold, when the test says so (rpc_test_sends_done) */
	int test_hold;
};

typedef void (*rpc_reply_fn)(void *arg, int status, const void *body, size_t len);

int rpc_client_new(const char *key, uint32_t role, struct rpc_client **out);
/* fn(opcode, status, ns) for every answered request (latency counters). */
typedef void (*rpc_observe_fn)(uint16_t opcode, int status, uint64_t ns);
void rpc_client_observe(struct rpc_client *cl, rpc_observe_fn fn);
void rpc_client_free(struct rpc_client *cl);
/* In a forked child, the parent's client: its endpoints are the parent's
 * (the shm ones share memory with it), so from now on every call on it
 * fails at once with -ECHILD and progress does nothing. */
void rpc_client_orphan(struct rpc_client *cl);
/* Tests: complete the held sends to test peers. */
void rpc_test_sends_done(struct rpc_client *cl);
/* Register an endpoint whose on_recv is rpc_client_on_recv (arg = client). */
int rpc_client_add_ep(struct rpc_client *cl, struct lf_ep *ep);
/* Forget ep (before closing it); only when no other thread drives the
 * client's progress. */
void rpc_client_remove_ep(struct rpc_client *cl, struct lf_ep *ep);
void rpc_client_on_recv(struct lf_ep *ep, void *msg, size_t len, void *arg);
/* on_data for the same endpoints: compact replies (proto.h, LEGO_F_COMPACT). */
void rpc_client_on_data(struct lf_ep *ep, void *msg, size_t len, uint64_t data, void *arg);

/* Prepare a peer at raw address addr on ep (no traffic yet).  For tests
 * and fuzzers, a zeroed peer with cl set and ep NULL sends nothing: its
 * requests wait for replies handed to rpc_client_on_recv, or time out. */
int rpc_peer_init(struct rpc_peer *p, struct rpc_client *cl, struct lf_ep *ep,
		  const void *addr, size_t len, const char *name);
/* Handshake; 0, -EACCES (key mismatch), -EPROTONOSUPPORT, -ETIMEDOUT... */
int rpc_peer_connect(struct rpc_peer *p, uint64_t timeout_ns);
/* Let every request waiting on p time out at the next progress (p is
 * known dead: its callers retry elsewhere now, not after their timeout). */
void rpc_peer_expire(struct rpc_peer *p);

/* Send op with body iov[0..n) (n <= 3); fn(arg, status, reply, len) runs
 * once from a progress call.  The iov buffers must stay valid until then.
 * 0, or -errno if nothing was sent (fn is then not called). */
int rpc_call_async(struct rpc_peer *p, uint16_t op, const struct iovec *iov, int n,
		   uint64_t timeout_ns, rpc_reply_fn fn, void *arg);
/* rpc_call_async, given the CRC32C of iov[n - 1] (lw_crc32c): the body's
 * largest part, whose CRC the caller has computed anyway, is not read
 * again to seal the message. */
int rpc_call_async_known(struct rpc_peer *p, uint16_t op, const struct iovec *iov, int n,
			 uint32_t last_crc, uint64_t timeout_ns, rpc_reply_fn fn, void *arg);

/* Synchronous call; the reply body is copied into rep (up to repcap bytes,
 * *replen gets the full length).  Returns the reply status or -errno. */
int rpc_call(struct rpc_peer *p, uint16_t op, const void *body, size_t len, void *rep,
	     size_t repcap, size_t *replen, uint64_t timeout_ns);

/* rpc_call with the body gathered from iov[0..n) (n <= 3). */
int rpc_callv(struct rpc_peer *p, uint16_t op, const struct iovec *iov, int n, void *rep,
	      size_t repcap, size_t *replen, uint64_t timeout_ns);

/* rpc_call for a fixed-size reply: -EBADMSG if it is shorter than replen. */
int rpc_call_fixed(struct rpc_peer *p, uint16_t op, const void *body, size_t len, void *rep,
		   size_t replen, uint64_t timeout_ns);

/* A request unanswered for ns is sent again (same id), then after 2 ns, 4 ns,
 * ... (at most 2 s apart) until its timeout; 0: never.  Default 250 ms;
 * a peer's requests wait at least four times its mean answer time.  For
 * the whole process (LEGO_RPC_RESEND_MS, rpc_options_apply). */
void rpc_set_resend(uint64_t ns);

/* Apply the options every program using RPC shares: the resend time and
 * fault injection (LEGO_FAULTS).  0, or -EINVAL with a log line. */
struct lg_opts;
int rpc_options_apply(const struct lg_opts *o);

/* Reap completions on all endpoints and expire overdue requests.
 * Returns the number of events handled. */
int rpc_client_progress(struct rpc_client *cl);

/* Wait (driving progress) until *flag != 0 or the deadline passes. */
int rpc_client_wait(struct rpc_client *cl, _Atomic uint32_t *flag, uint64_t deadline_ns);

/* Requests in flight now. */
unsigned rpc_client_inflight(struct rpc_client *cl);

/* The watchdog's view: of the requests waiting for a reply longer than
 * older_than_ns, how many, and the oldest (age_ns 0 when none).  A
 * lock-free snapshot, safe from any thread. */
struct rpc_wait {
	unsigned waiting;
	uint64_t age_ns;
	uint16_t opcode;
	uint64_t line; /* P2M_READ/WRITE: its first line, else UINT64_MAX */
	char peer[64];
};
void rpc_client_oldest(struct rpc_client *cl, uint64_t older_than_ns, struct rpc_wait *w);

struct rpc_client_stats {
	uint64_t calls, errors, timeouts, stale;
	uint64_t resends; /* requests sent again, unanswered after their resend time */
	uint64_t corrupt; /* replies dropped: their CRC did not hold */
};
void rpc_client_get_stats(struct rpc_client *cl, struct rpc_client_stats *st);

/* ------------------------------------------------------------ event loop */

/* Drive endpoints until *stop: progress, call tick(user) every tick_ns,
 * and when idle sleep in poll(2) on the endpoints' wait descriptors and the
 * bell (which stands in for shm endpoints; NULL if none). */
void rpc_loop_run(struct lf_ep **eps, int n, struct lf_bell *bell, volatile int *stop,
		  void (*tick)(void *user), void *user, uint64_t tick_ns);

/* Also call fn(arg) on every pass of rpc_loop_run (at least every 100 ms,
 * busy or idle), for work another thread asks the loop to do
 * (lg_metrics_poll) or work the daemon does a piece at a time between
 * requests (the memnode's freeing of large ranges); it must be cheap when
 * there is none.  It returns how much it did: while that is not 0 the loop
 * does not sleep.  Set it before rpc_loop_run; NULL turns it off.  One per
 * process: daemons run one loop. */
void rpc_loop_set_pass_hook(int (*fn)(void *arg), void *arg);

/* Passes rpc_loop_run has made (a loop that stops counting is stuck), and
 * whether it runs. */
uint64_t rpc_loop_passes(void);
/* Wake the running loop from its sleep (after setting its stop flag from
 * another thread: it would otherwise see it within 100 ms). */
void rpc_loop_wake(void);
int rpc_loop_running(void);

#endif
