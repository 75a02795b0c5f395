/*
 * RPC and handshake (see rpc.h).
 *
 * Client request slots: a fixed array of calls; a request id is
 * (generation << 16 | slot).  A slot's state word packs the generation with
 * bits: IN FLIGHT; ANSWERED, claimed by a reply or a timeout by
 * compare-and-swap against the generation it expects, so a late reply can
 * never complete a newer request in the same slot; DONE once the callback
 * has returned; SENT once the provider is done with the first send; COPY
 * while a request is copied to be sent again.  Whoever sets the last of
 * DONE and SENT frees the slot.  A request unanswered after its resend
 * time is copied (the callback waits for the copy to finish, so the
 * caller's buffers are still there) and the copy sent with its own
 * completion; the server recognises the repeat by its id (proto.h).
 *
 * Lock order: the client's free-list spinlock is a leaf; no callback runs
 * under it.  The server is single-threaded (one event loop).
 */
#define _GNU_SOURCE
#include "rpc.h"
#include "shmlock.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/auth.h"
#include "common/log.h"
#include "common/options.h"
#include "common/stats_list.h"
#include "common/util.h"
#include "link.h"

/* ------------------------------------------------------------ handshake */

static void rpc_session_of(const char *key, const uint8_t *cn, const uint8_t *sn, uint64_t *out)
{
	uint8_t mac[LG_MAC_LEN];
	lg_hmac(key, strlen(key), "lego-k", cn, LEGO_NONCE_LEN, sn, LEGO_NONCE_LEN, mac);
	memcpy(out, mac, sizeof *out);
	if (*out == 0) /* 0 means "no session" on the wire */
		*out = 1;
}

/* ---------------------------------------------------------------- server */

/* SC_CLOSED: said bye; kept (its session) for a repeated bye until the
 * slot is needed again, its address for RPC_FORGET_NS (rpc_forget). */
enum { SC_FREE = 0, SC_HELLO, SC_AUTHED, SC_CLOSED };

/* The newest request seen from one slot of a client (proto.h, "Request ids
 * and repeats") and its reply, kept to answer a repeat. */
struct rpc_seen {
	uint32_t gen;    /* 0: none yet */
	int32_t status;
	uint32_t len;    /* reply body */
	uint8_t kept;    /* the reply is here (else a repeat is served again or dropped) */
	uint8_t *body;   /* malloc'd, len bytes (NULL when len is 0) */
};
#define RPC_SEEN_CHUNK 256u /* slots per lazily allocated piece of the table */
/* Reply bodies larger than this are not kept: their requests change
 * nothing (RPC_H_RERUN) or a repeat goes unanswered. */
#define RPC_SEEN_BODY_MAX (16u * 1024)
/* Bytes of kept replies a server holds at most, over all connections. */
#define RPC_SEEN_BYTES_MAX (64ull << 20)

struct rpc_sconn {
	uint32_t state;
	uint32_t role;
	uint32_t id;
	struct lf_ep *ep;
	uint64_t fi_addr;
	uint64_t session;
	uint8_t cn[LEGO_NONCE_LEN], sn[LEGO_NONCE_LEN];
	uint64_t last_ns;
	char addr[80];
	struct rpc_seen *seen[LEGO_REQ_SLOTS / RPC_SEEN_CHUNK];
	uint32_t replies; /* replies to it the provider has not finished sending */
	uint64_t epoch;   /* which use of the slot (rpc_stx.epoch) */
};

/* The address of a peer the server is done with leaves the endpoint's
 * address vector only this long after: removing a process that had just
 * exited was suspected of leaving libfabric 1.17's shm endpoint unable to
 * send to another peer (docs/architecture.md, failure handling).  A Lego
 * process of this host (shm) that is gone has its address go
 * RPC_FORGET_GONE_NS after ("Addresses"): its last replies have had their
 * chance, and its region, mapped here till then, is what tells the lock
 * doctor (shmlock.c) that a process that used this endpoint died.  At
 * most RPC_FORGET_MAX wait; beyond that the oldest goes at once. */
#define RPC_FORGET_NS (30000ull * 1000000)
#define RPC_FORGET_GONE_NS (5000ull * 1000000)
#define RPC_FORGET_MAX 512u

struct rpc_forget {
	struct lf_ep *ep;
	uint64_t fi_addr, at_ns;
	int pid; /* an shm peer's process (0: another kind of peer) */
};

struct rpc_server {
	struct rpc_server_conf conf;
	char key[256];
	const struct rpc_handler *by_op[LEGO_OPCODE_MAX];
	struct rpc_sconn *conns;
	unsigned nconns;
	unsigned active;
	uint64_t req[LEGO_OPCODE_MAX];
	uint64_t rej[LW_REJECT__COUNT];
	uint64_t bytes_in, bytes_out, nomem, handshakes, auth_fail, dropped;
	uint64_t repeats, stale_requests, seen_bytes, over_limit, epochs;
	int record_fd; /* conf.record_dir's file, or -1 */
	/* tests: replies to test connections held as if in flight */
	int test_hold;
	struct rpc_stx *test_held;
	/* addresses to remove from their endpoint's address vector */
	struct rpc_forget forget[RPC_FORGET_MAX];
	unsigned nforget;
	uint64_t gone_ns; /* the last look for a gone process's slot */
};

/* Replies one connection may have in flight (not yet taken by the
 * provider, or waiting for room): a peer that reads none cannot fill the
 * endpoint's queue of waiting sends, which every peer shares. */
#define RPC_CONN_REPLIES_MAX 256u

#define RPC_REPLY_WAIT_NS (2000ull * 1000000ull)
/* a daemon's loop that spends this long on one message or pass says so */
#define RPC_SLOW_NS (500ull * 1000000ull)
/* A pass over an endpoint (the provider's own progress: a tcp connection
 * being set up takes a few hundred ms under load) is worth a line only
 * when it is longer still. */
#define RPC_SLOW_PASS_NS (2000ull * 1000000ull)

struct rpc_stx { /* a reply in flight */
	struct lf_tx tx;
	struct rpc_server *s;
	uint32_t conn;  /* the connection it counts against (0: none) */
	uint64_t epoch; /* and that connection's use of its slot */
	struct rpc_stx *next; /* rpc_server_test_hold_replies */
	size_t len;
	uint8_t msg[]; /* header + body */
};

static void rpc_stx_done(struct lf_tx *tx, int err)
{
	struct rpc_stx *t = (struct rpc_stx *)tx;
	if (err != -ECANCELED && t->s) { /* not at close: the server may be gone */
		if (err)
			t->s->dropped++;
		struct rpc_sconn *c = t->conn ? &t->s->conns[t->conn] : NULL;
		if (c && c->epoch == t->epoch && c->replies)
			c->replies--;
	}
	free(tx);
}

/* The servers of this process, for the loop's clean-up (rpc_loop_run). */
static struct rpc_server *rpc_servers[8];

int rpc_server_new(const struct rpc_server_conf *conf, struct rpc_server **out)
{
	struct rpc_server *s = calloc(1, sizeof *s);
	if (!s)
		return -ENOMEM;
	s->conf = *conf;
	snprintf(s->key, sizeof s->key, "%s", conf->key ? conf->key : "");
	s->nconns = conf->max_conns ? conf->max_conns : 1024;
	s->conns = calloc(s->nconns + 1, sizeof *s->conns); /* id 0 is "none" */
	if (!s->conns) {
		free(s);
		return -ENOMEM;
	}
	for (size_t i = 0; i < conf->nhandlers; i++)
		s->by_op[conf->handlers[i].opcode] = &conf->handlers[i];
	s->record_fd = -1;
	if (conf->record_dir && conf->record_dir[0]) {
		char path[4096];
		snprintf(path, sizeof path, "%s/%s-%d.rec", conf->record_dir, conf->name,
			 (int)getpid());
		s->record_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (s->record_fd < 0)
			lg_log(LG_WARN, conf->name, "cannot record requests to %s: %s", path,
			       strerror(errno));
	}
	for (size_t i = 0; i < LG_ARRAY_SIZE(rpc_servers); i++)
		if (!rpc_servers[i]) {
			rpc_servers[i] = s;
			break;
		}
	*out = s;
	return 0;
}

/* One request, as rpc_server_conf.record_dir says: u16 opcode, u16 the
 * peer's role, u32 body length, the body. */
static void rpc_record(struct rpc_server *s, const struct rpc_sconn *c,
		       const struct lego_hdr *h, const void *body, size_t blen)
{
	uint16_t head16[2] = {h->opcode, (uint16_t)c->role};
	uint32_t len = (uint32_t)blen;
	struct iovec iov[3] = {{head16, sizeof head16}, {&len, sizeof len}, {(void *)body, blen}};
	if (writev(s->record_fd, iov, 3) < 0)
		lg_log_rl(LG_WARN, s->conf.name, "recording a request failed: %s", strerror(errno));
}

static void rpc_seen_free(struct rpc_server *s, struct rpc_sconn *c);

void rpc_server_free(struct rpc_server *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < LG_ARRAY_SIZE(rpc_servers); i++)
		if (rpc_servers[i] == s)
			rpc_servers[i] = NULL;
	for (unsigned i = 1; i <= s->nconns; i++)
		rpc_seen_free(s, &s->conns[i]);
	if (s->record_fd >= 0)
		close(s->record_fd);
	rpc_server_test_hold_replies(s, 0);
	free(s->conns);
	free(s);
}

uint32_t rpc_sconn_role(const struct rpc_sconn *c) { return c->role; }
uint32_t rpc_sconn_id(const struct rpc_sconn *c) { return c->id; }
uint64_t rpc_sconn_tag(const struct rpc_sconn *c) { return (uint64_t)(uint32_t)c->epoch << 32 | c->id; }

void *rpc_reply_alloc(struct rpc_ctx *ctx, size_t len)
{
	if (ctx->rep_buf) /* one reply per request */
		return NULL;
	struct rpc_stx *t = malloc(sizeof *t + sizeof(struct lego_hdr) + len);
	if (!t)
		return NULL;
	t->len = sizeof(struct lego_hdr) + len;
	ctx->rep_buf = (uint8_t *)t;
	ctx->rep_len = len;
	return t->msg + sizeof(struct lego_hdr);
}

void *rpc_reply_body(const struct rpc_ctx *ctx)
{
	return ctx->rep_buf ? ((struct rpc_stx *)ctx->rep_buf)->msg + sizeof(struct lego_hdr) : NULL;
}

void rpc_reply_discard(struct rpc_ctx *ctx)
{
	free(ctx->rep_buf);
	ctx->rep_buf = NULL;
	ctx->rep_len = 0;
}

static void rpc_server_reply(struct rpc_server *s, struct lf_ep *ep, uint64_t dest,
			     const struct lego_hdr *req, int status, struct rpc_ctx *ctx)
{
	struct rpc_stx *t = ctx ? (struct rpc_stx *)ctx->rep_buf : NULL;
	if (!t) {
		t = malloc(sizeof *t + sizeof(struct lego_hdr));
		if (!t) {
			s->nomem++;
			return;
		}
		t->len = sizeof(struct lego_hdr);
	}
	struct lego_hdr *h = (struct lego_hdr *)t->msg;
	lw_hdr_init(h, req->opcode, (uint32_t)t->len, req->req_id);
	h->flags = LEGO_F_REPLY;
	h->status = status;
	h->conn = req->conn;
	struct iovec body = {t->msg + sizeof *h, t->len - sizeof *h};
	/* a compact reply (proto.h): the body alone, its check beside it */
	size_t cs = status == 0 && (req->flags & LEGO_F_COMPACT) ? lf_compact_size(ep) : 0;
	int compact = cs && body.iov_len > cs - sizeof *h && body.iov_len <= cs;
	if (!compact)
		lw_seal(h, &body, 1);
	/* The server's one thread serves every peer: a reply the provider
	 * cannot take now (that peer's queue is full: busy, or dead with
	 * requests in flight) waits in the endpoint, and is dropped after
	 * RPC_REPLY_WAIT_NS (the client, if alive, times out and retries). */
	t->tx.done = rpc_stx_done;
	t->tx.deadline = lg_now_ns() + RPC_REPLY_WAIT_NS;
	t->tx.bell = NULL; /* (clients poll) */
	t->s = s;
	t->conn = 0;
	struct rpc_sconn *c = req->conn && req->conn <= s->nconns ? &s->conns[req->conn] : NULL;
	if (c && c->state != SC_FREE && c->ep == ep && c->fi_addr == dest) {
		if (c->replies >= RPC_CONN_REPLIES_MAX) {
			s->over_limit++; /* the client times out and sends it again */
			free(t);
			return;
		}
		t->conn = c->id;
		t->epoch = c->epoch;
	}
	struct iovec iov = {t->msg, t->len};
	s->bytes_out += t->len;
	int sent;
	if (compact) {
		uint64_t data = (uint64_t)(uint32_t)req->req_id << 32 |
				lw_crc32c(0, body.iov_base, body.iov_len);
		sent = lf_sendv_nb_data(ep, dest, &body, 1, data, &t->tx) == 0;
	} else if (ep) {
		sent = lf_sendv_nb(ep, dest, &iov, 1, &t->tx) == 0;
	} else if ((sent = s->test_hold && t->conn)) {
		/* a test connection (rpc_server_test_conn) whose replies the
		 * test holds as if the provider had them; else dropped */
		t->next = s->test_held;
		s->test_held = t;
	}
	if (!sent) {
		s->dropped++;
		free(t);
	} else if (t->conn) {
		c->replies++;
	}
}

static void rpc_seen_free(struct rpc_server *s, struct rpc_sconn *c)
{
	for (unsigned k = 0; k < LG_ARRAY_SIZE(c->seen); k++) {
		if (!c->seen[k])
			continue;
		for (unsigned i = 0; i < RPC_SEEN_CHUNK; i++) {
			s->seen_bytes -= c->seen[k][i].len;
			free(c->seen[k][i].body);
		}
		free(c->seen[k]);
		c->seen[k] = NULL;
	}
}

/* The pid of the process of this host an address names (shm addresses
 * of Lego processes and tools: lego-c.<pid>.), else 0. */
static int rpc_addr_pid(const struct lf_ep *ep, const char *addr)
{
	int pid;
	if (!ep || lf_ep_prov(ep) != LEGO_PROV_SHM || sscanf(addr, "fi_shm://lego-c.%d.", &pid) != 1)
		return 0;
	return pid > 0 ? pid : 0;
}

/* How rpc_forget_sweep chooses: the addresses whose time has come
 * (RPC_FORGET_NS, or RPC_FORGET_GONE_NS for a gone process's), also every
 * gone process's at once, or all of them. */
enum { RPC_SWEEP_DUE, RPC_SWEEP_GONE, RPC_SWEEP_ALL };
static void rpc_servers_reap(struct rpc_server *s, uint64_t now, int how, int tools);

/*
 * Addresses.  A server inserts the address of every peer that says hello
 * and removes it once done with the peer (rpc_forget).  shm bounds them:
 * libfabric 1.17's shm endpoint holds 256 peers, and it enters every peer
 * that sends to it there before the server sees the message, without
 * looking for room.  A Lego process that forks (a shell running commands:
 * every child connects, every exec'd command too) brings new peers many
 * times a second, so gone ones must go within seconds, not at the end of
 * a lease: a connection whose process of this host is gone is dropped
 * within RPC_REAP_NS (rpc_servers_gc), and its address removed
 * RPC_FORGET_GONE_NS after; when a hello finds the table half full,
 * every gone process's address goes at once, then every waiting one.
 * (A bash loop of 600 commands under lego-run: the memnode's table was
 * full at the 250th, and every fork after it failed.)  Tools keep the
 * pace of before (rpc_forget).
 */
static void rpc_forget_sweep(struct rpc_server *s, uint64_t now, int how)
{
	unsigned k = 0;
	for (unsigned i = 0; i < s->nforget; i++) {
		struct rpc_forget f = s->forget[i];
		uint64_t waited = now - f.at_ns;
		int due = how == RPC_SWEEP_ALL || waited >= RPC_FORGET_NS ||
			  (f.pid && (how == RPC_SWEEP_GONE || waited >= RPC_FORGET_GONE_NS) &&
			   rpc_links_pid_gone(f.pid));
		if (!due) {
			s->forget[k++] = f;
			continue;
		}
		int used = 0;
		for (unsigned j = 1; j <= s->nconns && !used; j++)
			used = s->conns[j].state != SC_FREE && s->conns[j].state != SC_CLOSED &&
			       s->conns[j].ep == f.ep && s->conns[j].fi_addr == f.fi_addr;
		if (!used)
			lf_av_remove(f.ep, f.fi_addr);
	}
	s->nforget = k;
}

/* The server is done with the peer at (ep, fi_addr), whose address is
 * addr and role role: the address goes RPC_FORGET_NS from now, sooner if
 * it is a Lego process's and the process is gone.  (Tools keep the 30 s:
 * the lock doctor's it_shm_locks, whose killed tools' regions must stay
 * mapped for the doctor to name a gone process, failed in CI with them
 * gone sooner, and a tool connects once, not at every fork.) */
static void rpc_forget(struct rpc_server *s, struct lf_ep *ep, uint64_t fi_addr, const char *addr,
		       uint32_t role)
{
	if (!ep)
		return;
	uint64_t now = lg_now_ns();
	rpc_forget_sweep(s, now, RPC_SWEEP_DUE);
	if (s->nforget == RPC_FORGET_MAX) { /* the oldest, now */
		struct rpc_forget old = s->forget[0];
		memmove(s->forget, s->forget + 1, (RPC_FORGET_MAX - 1) * sizeof *s->forget);
		s->nforget--;
		lf_av_remove(old.ep, old.fi_addr);
	}
	int pid = role == LEGO_ROLE_PROCESS ? rpc_addr_pid(ep, addr) : 0;
	s->forget[s->nforget++] = (struct rpc_forget){ep, fi_addr, now, pid};
}

/* Forget a connection now.  A closed one (bye) stopped counting before. */
static void rpc_sconn_drop(struct rpc_server *s, struct rpc_sconn *c)
{
	if (c->state == SC_FREE)
		return;
	lf_lane_close(c->ep, c->fi_addr); /* its replies on their way are not wanted */
	if (c->state != SC_CLOSED) /* (a closed one's went at its bye) */
		rpc_forget(s, c->ep, c->fi_addr, c->addr, c->role);
	rpc_seen_free(s, c);
	if (c->state != SC_CLOSED && s->active)
		s->active--;
	c->state = SC_FREE;
}

/* A handshake left halfway this long ago is abandoned (or lost). */
#define RPC_HELLO_ABANDON_NS (10ull * 1000000000ull)

/* A full table is searched for a gone process's slot at most this often:
 * each look costs a system call or two per connection, and hellos to a
 * full table can come as fast as a peer sends them. */
#define RPC_GONE_LOOK_NS (50ull * 1000000)

/* Whether c is an open connection from a process of this host (shm, whose
 * address names the pid: lego-c.<pid>.) that is gone. */
static int rpc_sconn_gone(const struct rpc_sconn *c)
{
	int pid = rpc_addr_pid(c->ep, c->addr);
	return (c->state == SC_AUTHED || c->state == SC_HELLO) && pid && rpc_links_pid_gone(pid);
}

/* A free connection slot: a never used one, else the longest closed one,
 * else one whose handshake was abandoned, else one whose process is gone. */
static struct rpc_sconn *rpc_sconn_alloc(struct rpc_server *s)
{
	struct rpc_sconn *pick = NULL, *closed = NULL, *hello = NULL;
	uint64_t now = lg_now_ns();
	for (unsigned i = 1; i <= s->nconns && !pick; i++) {
		struct rpc_sconn *c = &s->conns[i];
		if (c->state == SC_FREE)
			pick = c;
		else if (c->state == SC_CLOSED && (!closed || c->last_ns < closed->last_ns))
			closed = c;
		else if (c->state == SC_HELLO && now - c->last_ns > RPC_HELLO_ABANDON_NS)
			hello = c;
	}
	pick = pick ? pick : closed ? closed : hello;
	/* else one whose process is gone: a process does not say bye at exit
	 * (destructors after ours may still touch remote memory), and the
	 * monitor tells us it is gone only at its next tick */
	if (!pick && now - s->gone_ns >= RPC_GONE_LOOK_NS) {
		s->gone_ns = now;
		for (unsigned i = 1; i <= s->nconns && !pick; i++)
			if (rpc_sconn_gone(&s->conns[i]))
				pick = &s->conns[i];
		if (pick)
			lg_log(LG_INFO, s->conf.name, "connection %u from %s dropped: its process "
			       "is gone, and a new peer needs the slot", pick->id, pick->addr);
	}
	if (!pick)
		return NULL;
	rpc_sconn_drop(s, pick);
	uint32_t id = (uint32_t)(pick - s->conns);
	memset(pick, 0, sizeof *pick);
	pick->id = id;
	pick->epoch = ++s->epochs;
	return pick;
}

int rpc_server_test_conn(struct rpc_server *s, uint32_t role, uint32_t *id, uint64_t *session)
{
	struct rpc_sconn *c = rpc_sconn_alloc(s);
	if (!c)
		return -EBUSY;
	c->state = SC_AUTHED;
	c->role = role;
	c->last_ns = lg_now_ns();
	snprintf(c->addr, sizeof c->addr, "test connection %u", c->id);
	/* nonces made of the id: the same session every run (fuzzers replay) */
	memcpy(c->sn, &c->id, sizeof c->id);
	rpc_session_of(s->key, c->cn, c->sn, &c->session);
	s->active++;
	*id = c->id;
	*session = c->session;
	return 0;
}

void rpc_server_test_hold_replies(struct rpc_server *s, int hold)
{
	s->test_hold = hold;
	while (!hold && s->test_held) {
		struct rpc_stx *t = s->test_held;
		s->test_held = t->next;
		rpc_stx_done(&t->tx, 0);
	}
}

void rpc_server_drop_process(struct rpc_server *s, uint64_t tag)
{
	uint32_t id = (uint32_t)tag;
	if (id == 0 || id > s->nconns || s->conns[id].state == SC_FREE ||
	    s->conns[id].role != LEGO_ROLE_PROCESS || rpc_sconn_tag(&s->conns[id]) != tag)
		return; /* (gone already, maybe its slot taken by another peer) */
	lg_log(LG_INFO, s->conf.name, "connection %u from %s dropped: its process is gone", id,
	       s->conns[id].addr);
	rpc_sconn_drop(s, &s->conns[id]);
}

/* Drop s's connections from processes of this host that are gone, and
 * remove the addresses rpc_forget_sweep chooses (how).  Nothing more will
 * come from such a peer; its memory (a Lego process's) goes when the
 * monitor says so, which for a forked child that never spoke to this
 * server is its only trace here.  The monitor and the memnode drop it
 * again by its tag (rpc_server_drop_process), a no-op once the slot is
 * another's. */
static void rpc_servers_reap(struct rpc_server *s, uint64_t now, int how, int tools)
{
	for (unsigned i = 1; i <= s->nconns; i++) {
		struct rpc_sconn *c = &s->conns[i];
		if ((c->role != LEGO_ROLE_PROCESS && !(tools && c->role == LEGO_ROLE_TOOL)) ||
		    !rpc_sconn_gone(c))
			continue;
		lg_log(LG_INFO, s->conf.name, "connection %u from %s dropped: %s is gone", c->id,
		       c->addr, c->role == LEGO_ROLE_TOOL ? "the tool" : "its process");
		rpc_sconn_drop(s, c);
	}
	rpc_forget_sweep(s, now, how);
}

/* Every server's gone processes (rpc_servers_reap), every RPC_REAP_NS;
 * with tools, its gone tools too (every RPC_SHM_GC_NS, as before
 * 2026-12-06: see rpc_forget). */
static void rpc_servers_gc(int tools)
{
	for (size_t k = 0; k < LG_ARRAY_SIZE(rpc_servers); k++)
		if (rpc_servers[k])
			rpc_servers_reap(rpc_servers[k], lg_now_ns(), RPC_SWEEP_DUE, tools);
}

static void rpc_reject(struct rpc_server *s, enum lw_reject why, const char *peer, unsigned op)
{
	s->rej[why]++;
	lg_log_rl(LG_WARN, s->conf.name, "refused message from %s (opcode %u %s): %s",
		  peer, op, lw_opcode_name(op), lw_reject_names[why]);
}

/* Answer connection c's hello h: its id, our nonce, our proof. */
static void rpc_hello_reply(struct rpc_server *s, struct rpc_sconn *c, const struct lego_hdr *h)
{
	struct rpc_ctx ctx = {.srv = s};
	struct lego_hello_rep *rep = rpc_reply_alloc(&ctx, sizeof *rep);
	if (!rep) {
		rpc_sconn_drop(s, c);
		return;
	}
	memset(rep, 0, sizeof *rep);
	rep->conn = c->id;
	memcpy(rep->nonce, c->sn, LEGO_NONCE_LEN);
	lg_hmac(s->key, strlen(s->key), "lego-s", c->cn, LEGO_NONCE_LEN, c->sn, LEGO_NONCE_LEN,
		rep->proof);
	rpc_server_reply(s, c->ep, c->fi_addr, h, 0, &ctx);
}

static void rpc_handle_hello(struct rpc_server *s, struct lf_ep *ep, const struct lego_hdr *h,
			     const uint8_t *body, size_t blen)
{
	struct lego_hello_req req;
	if (blen < sizeof req) {
		rpc_reject(s, LW_BODY, "unknown peer", h->opcode);
		return;
	}
	memcpy(&req, body, sizeof req);
	if (req.addr_len == 0 || req.addr_len > LEGO_ADDR_MAX ||
	    (req.role != LEGO_ROLE_PROCESS && req.role != LEGO_ROLE_MEMNODE &&
	     req.role != LEGO_ROLE_TOOL && req.role != LEGO_ROLE_STORENODE)) {
		rpc_reject(s, LW_BODY, "unknown peer", h->opcode);
		return;
	}
	if (h->version == LEGO_PROTO_VERSION) {
		/* the client's nonce names its handshake: a hello sent again
		 * (our answer was lost) gets the same answer, a late copy of
		 * one already completed none */
		for (unsigned i = 1; i <= s->nconns; i++) {
			struct rpc_sconn *o = &s->conns[i];
			if (o->state == SC_FREE || o->ep != ep ||
			    memcmp(o->cn, req.nonce, LEGO_NONCE_LEN) != 0)
				continue;
			s->repeats++;
			if (o->state == SC_HELLO)
				rpc_hello_reply(s, o, h);
			return;
		}
	}
	/* ep NULL: a test or fuzzer's handshake (rpc_server_test_conn) */
	uint64_t dest = 0;
	unsigned max = ep ? lf_av_max(ep) : 0;
	if (max && lf_av_used(ep) >= max / 2) /* room first ("Addresses") */
		rpc_servers_reap(s, lg_now_ns(), RPC_SWEEP_GONE, 1);
	if (max && lf_av_used(ep) >= max / 2)
		rpc_forget_sweep(s, lg_now_ns(), RPC_SWEEP_ALL);
	int r = ep ? lf_av_insert(ep, req.addr, req.addr_len, &dest) : 0;
	if (r != 0 && s->nforget) { /* the address vector may be full of old peers */
		rpc_forget_sweep(s, lg_now_ns(), RPC_SWEEP_ALL);
		r = lf_av_insert(ep, req.addr, req.addr_len, &dest);
	}
	if (r != 0) {
		rpc_reject(s, LW_BODY, "unreachable peer", h->opcode);
		return;
	}
	char astr[80] = "test peer";
	if (ep)
		lf_addr_str(ep, req.addr, req.addr_len, astr, sizeof astr);
	if (h->version != LEGO_PROTO_VERSION) {
		s->rej[LW_VERSION]++;
		lg_log_rl(LG_WARN, s->conf.name, "peer %s speaks protocol version %u, we speak %u",
			  astr, h->version, LEGO_PROTO_VERSION);
		rpc_server_reply(s, ep, dest, h, -EPROTONOSUPPORT, NULL);
		rpc_forget(s, ep, dest, astr, req.role);
		return;
	}
	struct rpc_sconn *c = rpc_sconn_alloc(s);
	if (!c) {
		lg_log_rl(LG_WARN, s->conf.name, "connection table full (%u): refusing %s",
			  s->nconns, astr);
		rpc_server_reply(s, ep, dest, h, -EBUSY, NULL);
		rpc_forget(s, ep, dest, astr, req.role);
		return;
	}
	c->state = SC_HELLO;
	c->role = req.role;
	c->ep = ep;
	c->fi_addr = dest;
	c->last_ns = lg_now_ns();
	snprintf(c->addr, sizeof c->addr, "%s", astr);
	memcpy(c->cn, req.nonce, LEGO_NONCE_LEN);
	if (ep)
		lg_random(c->sn, LEGO_NONCE_LEN);
	else /* a test's: made of the id, so a fuzzer's input replays the same */
		memcpy(c->sn, &c->id, sizeof c->id);
	s->active++;
	rpc_hello_reply(s, c, h);
}

static void rpc_handle_auth(struct rpc_server *s, struct lego_hdr *h, const uint8_t *body,
			    size_t blen)
{
	if (h->conn == 0 || h->conn > s->nconns ||
	    (s->conns[h->conn].state != SC_HELLO && s->conns[h->conn].state != SC_AUTHED)) {
		rpc_reject(s, LW_SESSION, "unknown peer", h->opcode);
		return;
	}
	struct rpc_sconn *c = &s->conns[h->conn];
	if (c->state == SC_AUTHED) {
		/* sent again (our answer was lost): the same answer, if the
		 * proof is the one that opened the connection */
		uint8_t want[LG_MAC_LEN];
		lg_hmac(s->key, strlen(s->key), "lego-c", c->sn, LEGO_NONCE_LEN, c->cn,
			LEGO_NONCE_LEN, want);
		if (blen < sizeof(struct lego_auth_req) || lg_memeq_ct(want, body, LG_MAC_LEN) != 0) {
			rpc_reject(s, LW_AUTH, c->addr, h->opcode);
			return;
		}
		s->repeats++;
		rpc_server_reply(s, c->ep, c->fi_addr, h, 0, NULL);
		return;
	}
	if (blen < sizeof(struct lego_auth_req)) {
		rpc_reject(s, LW_BODY, c->addr, h->opcode);
		rpc_sconn_drop(s, c);
		return;
	}
	uint8_t want[LG_MAC_LEN];
	lg_hmac(s->key, strlen(s->key), "lego-c", c->sn, LEGO_NONCE_LEN, c->cn, LEGO_NONCE_LEN,
		want);
	if (lg_memeq_ct(want, body, LG_MAC_LEN) != 0) {
		s->rej[LW_AUTH]++;
		s->auth_fail++;
		lg_log_rl(LG_WARN, s->conf.name,
			  "peer %s failed the handshake: it does not know our cluster key "
			  "(LEGO_CLUSTER_KEY differs)", c->addr);
		rpc_server_reply(s, c->ep, c->fi_addr, h, -EACCES, NULL);
		rpc_sconn_drop(s, c);
		return;
	}
	rpc_session_of(s->key, c->cn, c->sn, &c->session);
	c->state = SC_AUTHED;
	s->handshakes++;
	lg_log(LG_INFO, s->conf.name, "connection %u from %s (role %u)", c->id, c->addr, c->role);
	rpc_server_reply(s, c->ep, c->fi_addr, h, 0, NULL);
}

/* The F lines of RPC_SERVER_STATS_LIST. */
static size_t rpc_stats_rejects_by_reason(const struct rpc_server *s, char *buf, size_t cap,
					  size_t n)
{
	for (int i = 1; i < LW_REJECT__COUNT; i++)
		n = lg_bprintf(buf, cap, n, "rejects.%s:%llu\n", lw_reject_names[i],
			       (unsigned long long)s->rej[i]);
	return n;
}

static size_t rpc_stats_requests_by_opcode(const struct rpc_server *s, char *buf, size_t cap,
					   size_t n)
{
	for (int i = 0; i < LEGO_OPCODE_MAX; i++)
		if (s->req[i])
			n = lg_bprintf(buf, cap, n, "requests.%s:%llu\n",
				       lw_opcode_name((unsigned)i), (unsigned long long)s->req[i]);
	return n;
}

struct rpc_server_values {
	RPC_SERVER_STATS_LIST(LG_STAT_FIELD_U, LG_STAT_NONE)
};

size_t rpc_server_stats(struct rpc_server *s, char *buf, size_t cap)
{
	struct rpc_server_values v = {
		.connections = s->active,
		.handshakes = s->handshakes,
		.bytes_in = s->bytes_in,
		.bytes_out = s->bytes_out,
		.replies_dropped = s->dropped,
		.replies_over_limit = s->over_limit,
		.repeats = s->repeats,
		.stale_requests = s->stale_requests,
		.kept_reply_bytes = s->seen_bytes,
		.faults_injected = lf_faults_injected(),
		.lanes = lf_lanes_open(),
		.shm_locks_released = lf_shm_unwedged(),
		.shm_standins = lf_shm_standins(),
		.rejects = rpc_server_rejects(s),
	};
	size_t n = 0;
#define RPC_PUT_F(id, key, doc) n = rpc_stats_##id(s, buf, cap, n);
	RPC_SERVER_STATS_LIST(LG_STAT_PUT_U, RPC_PUT_F)
#undef RPC_PUT_F
	return n;
}

uint64_t rpc_server_rejects(struct rpc_server *s)
{
	uint64_t t = 0;
	for (int i = 1; i < LW_REJECT__COUNT; i++)
		t += s->rej[i];
	return t;
}

size_t rpc_server_stats_all(void *srv, char *buf, size_t cap)
{
	struct rpc_server *s = srv;
	size_t n = rpc_server_stats(s, buf, cap);
	if (s->conf.stats_fn)
		n += s->conf.stats_fn(s->conf.user, buf + n, cap - n);
	return n;
}

static int rpc_handle_stats(struct rpc_ctx *ctx)
{
	size_t cap = 64 * 1024;
	char *buf = rpc_reply_alloc(ctx, cap);
	if (!buf)
		return -ENOMEM;
	size_t n = rpc_server_stats_all(ctx->srv, buf, cap);
	ctx->rep_len = n;
	((struct rpc_stx *)ctx->rep_buf)->len = sizeof(struct lego_hdr) + n;
	return 0;
}

/* The table entry of the request's slot on connection c, allocated on
 * first use; NULL when out of memory (then repeats are not recognised). */
static struct rpc_seen *rpc_seen_slot(struct rpc_sconn *c, uint32_t slot)
{
	struct rpc_seen **chunk = &c->seen[slot / RPC_SEEN_CHUNK];
	if (!*chunk)
		*chunk = calloc(RPC_SEEN_CHUNK, sizeof **chunk);
	return *chunk ? &(*chunk)[slot % RPC_SEEN_CHUNK] : NULL;
}

/* Is request h a repeat (proto.h, "Request ids and repeats")?  1 when it
 * has been dealt with here: answered with the kept reply, or dropped (an
 * older generation; a repeat whose reply was not kept and which must not
 * run twice).  0 to serve it: *seen is then where to keep its reply, NULL
 * for nowhere (no memory; a request that changes nothing, rerun, keeps no
 * reply and a repeat of it is served again). */
static int rpc_seen_check(struct rpc_server *s, struct rpc_sconn *c, const struct lego_hdr *h,
			  int rerun, struct rpc_seen **seen)
{
	uint32_t slot = (uint32_t)(h->req_id & 0xffff);
	uint64_t gen = h->req_id >> 16;
	*seen = NULL;
	if (slot >= LEGO_REQ_SLOTS || gen == 0 || gen >= (1u << 24)) {
		rpc_reject(s, LW_REQID, c->addr, h->opcode);
		return 1;
	}
	struct rpc_seen *e = rpc_seen_slot(c, slot);
	if (!e)
		return 0;
	if (e->gen) {
		uint32_t d = ((uint32_t)gen - e->gen) & 0xffffffu;
		if (d >= 0x800000u) { /* older than one already served: moved on */
			s->stale_requests++;
			return 1;
		}
		if (d == 0) {
			s->repeats++;
			if (e->kept) {
				struct rpc_ctx ctx = {.srv = s};
				void *b = e->len ? rpc_reply_alloc(&ctx, e->len) : NULL;
				if (e->len && !b)
					return 1;
				if (b)
					memcpy(b, e->body, e->len);
				rpc_server_reply(s, c->ep, c->fi_addr, h, e->status, &ctx);
				return 1;
			}
			return !rerun;
		}
	}
	e->gen = (uint32_t)gen;
	e->kept = 0;
	s->seen_bytes -= e->len;
	e->len = 0;
	free(e->body);
	e->body = NULL;
	*seen = rerun ? NULL : e;
	return 0;
}

/* Keep the reply (status, and the body rpc_reply_alloc gave ctx, if any)
 * of the request whose table entry is e (NULL: none), for a repeat. */
static void rpc_seen_keep(struct rpc_server *s, struct rpc_seen *e, int status,
			  const struct rpc_ctx *ctx)
{
	if (!e)
		return;
	const struct rpc_stx *t = ctx ? (const struct rpc_stx *)ctx->rep_buf : NULL;
	size_t len = t ? t->len - sizeof(struct lego_hdr) : 0;
	if (len > RPC_SEEN_BODY_MAX || s->seen_bytes + len > RPC_SEEN_BYTES_MAX)
		return; /* a repeat goes unanswered: the client gives up on it */
	if (len) {
		e->body = malloc(len);
		if (!e->body)
			return;
		memcpy(e->body, t->msg + sizeof(struct lego_hdr), len);
	}
	e->len = (uint32_t)len;
	e->status = status;
	e->kept = 1;
	s->seen_bytes += len;
}

/* Answer request h of connection c with st (and ctx's body), kept in seen
 * for a repeat. */
static void rpc_answer(struct rpc_server *s, struct rpc_sconn *c, const struct lego_hdr *h,
		       struct rpc_seen *seen, int st, struct rpc_ctx *ctx)
{
	rpc_seen_keep(s, seen, st, ctx);
	rpc_server_reply(s, c->ep, c->fi_addr, h, st, ctx);
}

void rpc_server_on_recv(struct lf_ep *ep, void *msg, size_t len, void *arg)
{
	struct rpc_server *s = arg;
	s->bytes_in += len;
	enum lw_reject why = lw_check(msg, len);
	struct lego_hdr *h = msg;
	if (why == LW_VERSION && len >= sizeof *h + sizeof(struct lego_hello_req) &&
	    h->opcode == X2X_HELLO && h->len == len) {
		rpc_handle_hello(s, ep, h, (uint8_t *)msg + sizeof *h, len - sizeof *h);
		return;
	}
	if (why != LW_OK) {
		rpc_reject(s, why, "unknown peer", len >= sizeof *h ? h->opcode : 0);
		return;
	}
	if (h->flags & LEGO_F_REPLY) {
		rpc_reject(s, LW_FLAGS, "unknown peer", h->opcode);
		return;
	}
	const uint8_t *body = (uint8_t *)msg + sizeof *h;
	size_t blen = len - sizeof *h;
	s->req[h->opcode]++;
	if (h->opcode == X2X_HELLO) {
		rpc_handle_hello(s, ep, h, body, blen);
		return;
	}
	if (h->opcode == X2X_AUTH) {
		rpc_handle_auth(s, h, body, blen);
		return;
	}
	if (h->conn == 0 || h->conn > s->nconns || s->conns[h->conn].ep != ep ||
	    (s->conns[h->conn].state != SC_AUTHED &&
	     (s->conns[h->conn].state != SC_CLOSED || h->opcode != X2X_BYE))) {
		rpc_reject(s, LW_SESSION, "unknown peer", h->opcode);
		return;
	}
	struct rpc_sconn *c = &s->conns[h->conn];
	if (lg_memeq_ct(&c->session, &h->session, sizeof c->session) != 0) {
		rpc_reject(s, LW_SESSION, c->addr, h->opcode);
		return;
	}
	c->last_ns = lg_now_ns();
	if (lg_unlikely(s->record_fd >= 0))
		rpc_record(s, c, h, body, blen);
	if (h->opcode == X2X_BYE) {
		if (c->state == SC_CLOSED) { /* sent again: our answer was lost */
			s->repeats++;
		} else {
			lg_log(LG_INFO, s->conf.name, "connection %u from %s closed", c->id, c->addr);
			lf_lane_close(ep, c->fi_addr);
			rpc_seen_free(s, c);
			c->state = SC_CLOSED;
			/* its address too, in RPC_FORGET_NS (a repeated bye is
			 * still answered till then): over shm, the address
			 * holds the peer's region mapped here, several MiB of
			 * shared memory that live on after the peer (until
			 * 2026-12-01, until the slot was needed again) */
			rpc_forget(s, ep, c->fi_addr, c->addr, c->role);
			if (s->active)
				s->active--;
		}
		rpc_server_reply(s, ep, c->fi_addr, h, 0, NULL);
		return;
	}
	const struct rpc_handler *hd = s->by_op[h->opcode];
	int rerun = h->opcode == X2X_STATS || h->opcode == X2X_PING ||
		    (hd && (hd->flags & RPC_H_RERUN));
	struct rpc_seen *seen = NULL;
	if (rpc_seen_check(s, c, h, rerun, &seen))
		return; /* a repeat, answered or dropped */
	struct rpc_ctx ctx = {.srv = s, .conn = c, .hdr = h, .body = body, .body_len = blen,
			      .user = s->conf.user};
	if (h->opcode == X2X_STATS || h->opcode == X2X_PING) {
		int st = h->opcode == X2X_STATS ? rpc_handle_stats(&ctx) : 0;
		rpc_server_reply(s, ep, c->fi_addr, h, st, &ctx);
		return;
	}
	if (!hd) {
		rpc_reject(s, LW_OPCODE, c->addr, h->opcode);
		rpc_answer(s, c, h, seen, -EOPNOTSUPP, NULL);
		return;
	}
	if (blen < hd->min_body || blen > hd->max_body) {
		rpc_reject(s, LW_BODY, c->addr, h->opcode);
		rpc_answer(s, c, h, seen, -EBADMSG, NULL);
		return;
	}
	if (!(hd->roles & RPC_ROLE_BIT(c->role))) {
		rpc_reject(s, LW_SESSION, c->addr, h->opcode);
		rpc_answer(s, c, h, seen, -EPERM, NULL);
		return;
	}
	uint64_t t0 = lg_now_ns();
	int st = hd->fn(&ctx);
	uint64_t took = lg_now_ns() - t0;
	if (lg_unlikely(took > RPC_SLOW_NS)) /* every other peer waited that long */
		lg_log_rl(LG_WARN, s->conf.name, "%s from %s took %llu ms to handle",
			  lw_opcode_name(h->opcode), c->addr, (unsigned long long)(took / 1000000));
	if (st < 0 && ctx.rep_buf) { /* error replies carry no body */
		free(ctx.rep_buf);
		ctx.rep_buf = NULL;
	}
	rpc_answer(s, c, h, seen, st, &ctx);
}

/* ---------------------------------------------------------------- client */

#define RPC_SLOTS ((uint32_t)LEGO_REQ_SLOTS)
#define RPC_GEN_SHIFT 8
enum { CS_INFLIGHT = 1, CS_ANSWERED = 2, CS_SENT = 4, CS_COPY = 8, CS_DONE = 16, CS_HELD = 32 };
/* A peer that has not taken a request this long after its deadline is
 * dead: its caller is told even though the send never finished. */
#define RPC_HOLD_MAX_NS (10000ull * 1000000)

/* A request unanswered this long is sent again (rpc_set_resend); each
 * repeat waits twice as long, up to RPC_RESEND_MAX_NS. */
static uint64_t rpc_resend_ns = 250ull * 1000000;
#define RPC_RESEND_MAX_NS (2000ull * 1000000)
/* More requests than this waiting on a peer that answers none: busy. */
#define RPC_RESEND_BUSY 4u

void rpc_set_resend(uint64_t ns) { rpc_resend_ns = ns; }

int rpc_options_apply(const struct lg_opts *o)
{
	rpc_set_resend(lg_opt_u(o, LG_OPT_rpc_resend_ms) * 1000000ull);
	return lf_faults_set(lg_opt_s(o, LG_OPT_faults));
}

struct rpc_call {
	struct lf_tx tx; /* must be first */
	struct rpc_client *cl;
	_Atomic uint32_t state; /* generation << 8 | CS_* */
	uint32_t slot;
	uint64_t req_id;
	uint64_t deadline;
	uint64_t start_ns; /* when it was sent (0: not yet), for the watchdog */
	uint64_t line;     /* P2M_READ/WRITE: the first line, for the watchdog */
	uint64_t resend_at, rto; /* next repeat, and the wait before it */
	struct lego_hdr hdr;
	struct iovec iov[4];
	int niov;
	rpc_reply_fn fn;
	void *arg;
	int held_status; /* CS_HELD: what the caller will be told */
	struct rpc_peer *peer;
	int next_free;
	uint8_t inl[256]; /* small bodies of synchronous calls are copied here */
};

struct rpc_client {
	char key[256];
	uint32_t role;
	struct lf_ep *eps[4];
	int neps;
	struct rpc_call calls[RPC_SLOTS];
	pthread_spinlock_t lock;
	int free_head;
	/* slots [0, nslots) have been used: the rest are untouched, so a
	 * process (or a forked child) does not write 2 MiB of slots it may
	 * never need when it starts (a page fault each), and the scans stop
	 * at the last slot ever used */
	_Atomic uint32_t nslots;
	_Atomic unsigned inflight;
	_Atomic uint64_t next_expire_scan;
	uint64_t last_scan; /* rpc_client_expire's last run */
	_Atomic uint64_t n_calls, n_errors, n_timeouts, n_stale, n_resends, n_corrupt;
	rpc_observe_fn observe;
	_Atomic int orphan; /* rpc_client_orphan */
};

void rpc_client_observe(struct rpc_client *cl, rpc_observe_fn fn) { cl->observe = fn; }

static uint32_t rpc_nslots(struct rpc_client *cl)
{
	return atomic_load_explicit(&cl->nslots, memory_order_acquire);
}

int rpc_client_new(const char *key, uint32_t role, struct rpc_client **out)
{
	/* The runtime's own memory is local: this is large, so mmap it. */
	struct rpc_client *cl = lg_local_alloc(sizeof *cl);
	if (!cl)
		return -ENOMEM;
	snprintf(cl->key, sizeof cl->key, "%s", key ? key : "");
	cl->role = role;
	pthread_spin_init(&cl->lock, PTHREAD_PROCESS_PRIVATE);
	cl->free_head = -1; /* (lg_local_alloc's memory is zeroed: nslots 0) */
	*out = cl;
	return 0;
}

void rpc_client_orphan(struct rpc_client *cl) { atomic_store(&cl->orphan, 1); }

static void rpc_call_sent(struct lf_tx *tx, int err);

void rpc_test_sends_done(struct rpc_client *cl)
{
	for (uint32_t i = 0, n = rpc_nslots(cl); i < n; i++) {
		struct rpc_call *c = &cl->calls[i];
		uint32_t s = atomic_load(&c->state);
		if ((s & CS_INFLIGHT) && !(s & CS_SENT) && c->peer && !c->peer->ep)
			rpc_call_sent(&c->tx, 0);
	}
}

void rpc_client_free(struct rpc_client *cl)
{
	if (cl)
		lg_local_free(cl, sizeof *cl);
}

int rpc_client_add_ep(struct rpc_client *cl, struct lf_ep *ep)
{
	if (cl->neps >= (int)LG_ARRAY_SIZE(cl->eps))
		return -ENOSPC;
	cl->eps[cl->neps++] = ep;
	return 0;
}

void rpc_client_remove_ep(struct rpc_client *cl, struct lf_ep *ep)
{
	for (int i = 0; i < cl->neps; i++)
		if (cl->eps[i] == ep) {
			cl->eps[i] = cl->eps[--cl->neps];
			return;
		}
}

static struct rpc_call *rpc_call_get(struct rpc_client *cl)
{
	pthread_spin_lock(&cl->lock);
	int i = cl->free_head;
	uint32_t n;
	if (i >= 0) {
		cl->free_head = cl->calls[i].next_free;
	} else if ((n = atomic_load_explicit(&cl->nslots, memory_order_relaxed)) < RPC_SLOTS) {
		cl->calls[n].cl = cl;
		cl->calls[n].slot = n;
		atomic_init(&cl->calls[n].state, 1u << RPC_GEN_SHIFT);
		atomic_store_explicit(&cl->nslots, n + 1, memory_order_release);
		i = (int)n;
	}
	pthread_spin_unlock(&cl->lock);
	if (i < 0)
		return NULL;
	struct rpc_call *c = &cl->calls[i];
	uint32_t gen = (atomic_load(&c->state) >> RPC_GEN_SHIFT) + 1;
	if (gen >= (1u << (32 - RPC_GEN_SHIFT)))
		gen = 1;
	c->req_id = ((uint64_t)gen << 16) | c->slot;
	/* no deadline until rpc_call_begin sets it: another thread's expiry
	 * scan must not time the call out with its previous use's deadline
	 * (0 for a slot's first use) while it is being filled in */
	c->deadline = UINT64_MAX;
	c->rto = 0;
	atomic_store(&c->state, (gen << RPC_GEN_SHIFT) | CS_INFLIGHT);
	atomic_fetch_add(&cl->inflight, 1);
	return c;
}

static void rpc_call_put(struct rpc_call *c)
{
	struct rpc_client *cl = c->cl;
	c->start_ns = 0;
	atomic_fetch_sub(&cl->inflight, 1);
	pthread_spin_lock(&cl->lock);
	c->next_free = cl->free_head;
	cl->free_head = (int)c->slot;
	pthread_spin_unlock(&cl->lock);
}

/* Set bit b in c's state if its generation is still gen.  Returns the
 * previous state, or 0 when the generation moved on. */
static uint32_t rpc_call_mark(struct rpc_call *c, uint32_t gen, uint32_t b)
{
	uint32_t s = atomic_load(&c->state);
	for (;;) {
		if ((s >> RPC_GEN_SHIFT) != gen || !(s & CS_INFLIGHT))
			return 0;
		if (atomic_compare_exchange_weak(&c->state, &s, s | b))
			return s;
	}
}

/* The callback has returned and the send completed: the slot is free. */
static void rpc_call_settle(struct rpc_call *c, uint32_t prev, uint32_t bit)
{
	uint32_t now = prev | bit;
	if ((now & (CS_DONE | CS_SENT)) == (CS_DONE | CS_SENT)) {
		atomic_store(&c->state, now & ~(uint32_t)(CS_INFLIGHT | CS_ANSWERED | CS_SENT |
							  CS_DONE));
		rpc_call_put(c);
	}
}

/* Tell the caller; the slot is free once the send has completed too. */
static void rpc_call_finish(struct rpc_call *c, uint32_t gen, int status, const void *body,
			    size_t len)
{
	/* a repeat being copied reads the caller's buffers: wait for it (no
	 * new copy starts once ANSWERED is set) */
	while (atomic_load(&c->state) & CS_COPY)
		lg_cpu_relax();
	/* The callback may start new calls; the slot stays ours until settled. */
	c->fn(c->arg, status, body, len);
	uint32_t prev = rpc_call_mark(c, gen, CS_DONE);
	rpc_call_settle(c, prev, CS_DONE);
}

/* c failed without an answer (timed out) before the provider finished
 * sending it: the provider may still read the caller's buffers (shm
 * copies a large message out of this process's memory when the peer
 * takes it), which the caller would reuse once told.  So it is told when
 * the send is over (rpc_call_sent), or RPC_HOLD_MAX_NS after the
 * deadline (rpc_client_expire).  1 if held. */
static int rpc_call_hold(struct rpc_call *c, int status)
{
	c->held_status = status;
	uint32_t s = atomic_load(&c->state);
	while (!(s & CS_SENT))
		if (atomic_compare_exchange_weak(&c->state, &s, s | CS_HELD))
			return 1;
	return 0;
}

/* Take a held call back to tell its caller: 1 for the one that did. */
static int rpc_call_unhold(struct rpc_call *c)
{
	uint32_t s = atomic_load(&c->state);
	while (s & CS_HELD)
		if (atomic_compare_exchange_weak(&c->state, &s, s & ~(uint32_t)CS_HELD))
			return 1;
	return 0;
}

static void rpc_call_answer(struct rpc_call *c, uint32_t gen, int status, const void *body,
			    size_t len)
{
	uint32_t prev = rpc_call_mark(c, gen, CS_ANSWERED);
	if (!prev || (prev & CS_ANSWERED)) {
		if (!prev || status == 0)
			atomic_fetch_add(&c->cl->n_stale, 1);
		return;
	}
	if (status < 0)
		atomic_fetch_add(&c->cl->n_errors, 1);
	if (status == -ETIMEDOUT)
		atomic_fetch_add(&c->cl->n_timeouts, 1);
	uint64_t ns = c->start_ns ? lg_now_ns() - c->start_ns : 0;
	if (c->peer) {
		struct rpc_peer *p = c->peer;
		atomic_fetch_sub_explicit(&p->inflight, 1, memory_order_relaxed);
		if (status != -ETIMEDOUT && c->start_ns)
			atomic_store_explicit(&p->last_reply_ns, lg_now_ns(), memory_order_relaxed);
		atomic_fetch_add_explicit(&p->n_calls, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&p->busy_ns, ns, memory_order_relaxed);
		if (status < 0)
			atomic_fetch_add_explicit(&p->n_errors, 1, memory_order_relaxed);
		if (status == -ETIMEDOUT)
			atomic_fetch_add_explicit(&p->n_timeouts, 1, memory_order_relaxed);
	}
	if (c->cl->observe && c->start_ns)
		c->cl->observe(c->hdr.opcode, status, ns);
	if (!body && status < 0 && rpc_call_hold(c, status))
		return;
	rpc_call_finish(c, gen, status, body, len);
}

static void rpc_call_sent(struct lf_tx *tx, int err)
{
	struct rpc_call *c = (struct rpc_call *)tx;
	uint32_t gen = atomic_load(&c->state) >> RPC_GEN_SHIFT;
	if (err)
		rpc_call_answer(c, gen, err, NULL, 0);
	uint32_t prev = rpc_call_mark(c, gen, CS_SENT);
	if ((prev & CS_HELD) && rpc_call_unhold(c))
		rpc_call_finish(c, gen, c->held_status, NULL, 0);
	else if (prev)
		rpc_call_settle(c, prev, CS_SENT);
}

void rpc_client_on_recv(struct lf_ep *ep, void *msg, size_t len, void *arg)
{
	(void)ep;
	struct rpc_client *cl = arg;
	struct lego_hdr *h = msg;
	enum lw_reject why = lw_check(msg, len);
	if (why == LW_VERSION && len >= sizeof *h && h->len == len && (h->flags & LEGO_F_REPLY))
		why = LW_OK; /* a peer refusing our version says so in a reply */
	if (why != LW_OK || !(h->flags & LEGO_F_REPLY)) {
		atomic_fetch_add(why == LW_CRC ? &cl->n_corrupt : &cl->n_stale, 1);
		lg_log_rl(LG_WARN, "rpc", "dropped %s reply (%s)",
			  why == LW_CRC ? "damaged" : "malformed", lw_reject_names[why]);
		return;
	}
	uint32_t slot = (uint32_t)(h->req_id & 0xffff);
	uint32_t gen = (uint32_t)(h->req_id >> 16);
	if (slot >= rpc_nslots(cl)) {
		atomic_fetch_add(&cl->n_stale, 1);
		return;
	}
	struct rpc_call *c = &cl->calls[slot];
	if (c->hdr.opcode != h->opcode && (atomic_load(&c->state) >> RPC_GEN_SHIFT) == gen) {
		atomic_fetch_add(&cl->n_stale, 1);
		return;
	}
	rpc_call_answer(c, gen, h->status, (uint8_t *)msg + sizeof *h, len - sizeof *h);
}

void rpc_client_on_data(struct lf_ep *ep, void *msg, size_t len, uint64_t data, void *arg)
{
	(void)ep;
	struct rpc_client *cl = arg;
	if ((uint32_t)data != lw_crc32c(0, msg, len)) {
		atomic_fetch_add(&cl->n_corrupt, 1);
		lg_log_rl(LG_WARN, "rpc", "dropped damaged reply (compact, crc)");
		return;
	}
	uint32_t req = (uint32_t)(data >> 32);
	uint32_t slot = req & 0xffff;
	if (slot >= rpc_nslots(cl)) {
		atomic_fetch_add(&cl->n_stale, 1);
		return;
	}
	struct rpc_call *c = &cl->calls[slot];
	/* the request id's low 32 bits: the generation's low 16 */
	uint32_t gen = atomic_load(&c->state) >> RPC_GEN_SHIFT;
	if ((gen & 0xffff) != req >> 16 || !(c->hdr.flags & LEGO_F_COMPACT)) {
		atomic_fetch_add(&cl->n_stale, 1);
		return;
	}
	rpc_call_answer(c, gen, 0, msg, len);
}

int rpc_peer_init(struct rpc_peer *p, struct rpc_client *cl, struct lf_ep *ep, const void *addr,
		  size_t len, const char *name)
{
	memset(p, 0, sizeof *p);
	p->cl = cl;
	p->ep = ep;
	snprintf(p->name, sizeof p->name, "%s", name);
	return lf_av_insert(ep, addr, len, &p->fi_addr);
}

static int rpc_call_begin(struct rpc_peer *p, uint16_t op, const struct iovec *iov, int n,
			  uint64_t timeout_ns, rpc_reply_fn fn, void *arg, int copy,
			  const uint32_t *last_crc)
{
	if (n > 3)
		return -EINVAL;
	struct rpc_client *cl = p->cl;
	if (lg_unlikely(atomic_load_explicit(&cl->orphan, memory_order_relaxed)))
		return -ECHILD;
	struct rpc_call *c = rpc_call_get(cl);
	if (!c)
		return -EAGAIN;
	size_t total = sizeof c->hdr;
	for (int i = 0; i < n; i++)
		total += iov[i].iov_len;
	if (total > LEGO_MSG_MAX) {
		uint32_t s = atomic_load(&c->state);
		atomic_store(&c->state, s & ~(uint32_t)CS_INFLIGHT);
		rpc_call_put(c);
		return -EMSGSIZE;
	}
	lw_hdr_init(&c->hdr, op, (uint32_t)total, c->req_id);
	c->hdr.conn = p->conn;
	c->hdr.session = p->session;
	if (p->ep && lf_takes_compact(p->ep))
		c->hdr.flags |= LEGO_F_COMPACT;
	c->iov[0].iov_base = &c->hdr;
	c->iov[0].iov_len = sizeof c->hdr;
	for (int i = 0; i < n; i++)
		c->iov[i + 1] = iov[i];
	c->niov = n + 1;
	if (copy && n == 1 && iov[0].iov_len <= sizeof c->inl) {
		/* the caller's buffer may be gone before the send completes */
		memcpy(c->inl, iov[0].iov_base, iov[0].iov_len);
		c->iov[1].iov_base = c->inl;
	}
	if (last_crc && n >= 1)
		lw_seal_known(&c->hdr, c->iov + 1, n, *last_crc);
	else
		lw_seal(&c->hdr, c->iov + 1, n);
	c->fn = fn;
	c->arg = arg;
	c->peer = p;
	c->line = UINT64_MAX;
	if ((op == P2M_READ || op == P2M_WRITE) && n >= 1) {
		/* the first line_ref follows the lines_req, in iov[0] or iov[1] */
		size_t at = sizeof(struct lego_lines_req);
		const struct iovec *v = &iov[0];
		if (v->iov_len <= at && n >= 2) {
			at -= v->iov_len;
			v = &iov[1];
		}
		if (v->iov_len >= at + sizeof(uint64_t))
			memcpy(&c->line, (const uint8_t *)v->iov_base + at, sizeof c->line);
	}
	c->start_ns = lg_now_ns();
	c->deadline = c->start_ns + timeout_ns;
	/* sent again after the resend time, or four times the peer's mean
	 * answer time if longer (a loaded peer is not sent more work) */
	uint64_t calls = atomic_load_explicit(&p->n_calls, memory_order_relaxed);
	c->rto = rpc_resend_ns;
	if (c->rto && calls)
		c->rto = LG_MAX(c->rto, 4 * (atomic_load_explicit(&p->busy_ns, memory_order_relaxed) /
					     calls));
	c->resend_at = c->start_ns + c->rto;
	atomic_fetch_add_explicit(&p->inflight, 1, memory_order_relaxed);
	c->tx.done = rpc_call_sent;
	c->tx.deadline = c->deadline;
	c->tx.bell = p->bell;
	atomic_fetch_add(&cl->n_calls, 1);
	/* Never wait long on one peer here: a request the provider cannot
	 * take now (that peer's queue is full: busy, or dead) waits in the
	 * endpoint, in order, and goes out from progress or fails at its
	 * deadline, while requests to other peers (a replica, the monitor's
	 * lease renewal) go on. */
	int r = 0;
	if (p->ep)
		r = lf_sendv_nb(p->ep, p->fi_addr, c->iov, n + 1, &c->tx);
	else if (!p->test_hold)
		rpc_call_sent(&c->tx, 0); /* a test peer: the reply comes from the test */
	if (r == 0)
		lf_bell_ring(p->bell);
	if (r) {
		uint32_t s = atomic_load(&c->state);
		atomic_store(&c->state, s & ~(uint32_t)CS_INFLIGHT);
		rpc_call_put(c);
		atomic_fetch_add(&cl->n_errors, 1);
		atomic_fetch_sub_explicit(&p->inflight, 1, memory_order_relaxed);
		return r;
	}
	return 0;
}

/* Every entry a thread of the program may take into the client (a send
 * here, a wait, progress) holds asynchronous signals: it takes the
 * client's lock and libfabric's, which the fault thread needs
 * (lg_sig_hold). */
static int rpc_call_start(struct rpc_peer *p, uint16_t op, const struct iovec *iov, int n,
			  uint64_t timeout_ns, rpc_reply_fn fn, void *arg, int copy,
			  const uint32_t *last_crc)
{
	lg_sig_hold();
	int r = rpc_call_begin(p, op, iov, n, timeout_ns, fn, arg, copy, last_crc);
	lg_sig_release();
	return r;
}

int rpc_call_async(struct rpc_peer *p, uint16_t op, const struct iovec *iov, int n,
		   uint64_t timeout_ns, rpc_reply_fn fn, void *arg)
{
	return rpc_call_start(p, op, iov, n, timeout_ns, fn, arg, 0, NULL);
}

int rpc_call_async_known(struct rpc_peer *p, uint16_t op, const struct iovec *iov, int n,
			 uint32_t last_crc, uint64_t timeout_ns, rpc_reply_fn fn, void *arg)
{
	return rpc_call_start(p, op, iov, n, timeout_ns, fn, arg, 0, &last_crc);
}

/* A request sent again.  Local memory from mmap, not malloc: in a
 * transparent-mode process any thread may get here, malloc could hand out
 * remote memory (which a peer reading it over shm would fault on), and the
 * fault thread must not take the allocator's locks (a fork holds them). */
struct rpc_rtx {
	struct lf_tx tx;
	size_t size;
	uint8_t msg[];
};

static void rpc_rtx_done(struct lf_tx *tx, int err)
{
	(void)err; /* lost like the first: the next repeat, or the timeout */
	struct rpc_rtx *t = (struct rpc_rtx *)tx;
	lg_local_free(t, t->size);
}

/* Send c (state s: in flight, unanswered, first send completed) again:
 * a copy, since the caller's buffers go away once it is answered. */
static void rpc_call_resend(struct rpc_call *c, uint32_t s, uint64_t now)
{
	struct rpc_peer *p = c->peer;
	if (!p || !p->ep || atomic_load(&p->down))
		return;
	/* A peer that has answered nothing since c went out, with many
	 * requests waiting, is busy (or dead): copies would only add to its
	 * queue (it_threads_fork once stalled that way while a memnode
	 * cloned a forked address space).  Look again later. */
	if (atomic_load_explicit(&p->last_reply_ns, memory_order_relaxed) < c->start_ns &&
	    atomic_load_explicit(&p->inflight, memory_order_relaxed) > RPC_RESEND_BUSY) {
		c->resend_at = now + c->rto;
		return;
	}
	c->rto = LG_MIN(c->rto * 2, RPC_RESEND_MAX_NS);
	c->resend_at = now + c->rto;
	uint32_t want = s;
	if (!atomic_compare_exchange_strong(&c->state, &want, s | CS_COPY))
		return; /* answered meanwhile */
	size_t len = c->hdr.len;
	uint64_t deadline = c->deadline;
	size_t size = sizeof(struct rpc_rtx) + len;
	struct rpc_rtx *t = lg_local_alloc(size);
	if (t) {
		t->size = size;
		size_t at = 0;
		for (int i = 0; i < c->niov; i++) {
			memcpy(t->msg + at, c->iov[i].iov_base, c->iov[i].iov_len);
			at += c->iov[i].iov_len;
		}
	}
	atomic_fetch_and(&c->state, ~(uint32_t)CS_COPY); /* c may be answered from here */
	if (!t)
		return;
	t->tx.done = rpc_rtx_done;
	t->tx.deadline = deadline;
	t->tx.bell = p->bell;
	struct iovec iov = {t->msg, len};
	if (lf_sendv_nb(p->ep, p->fi_addr, &iov, 1, &t->tx) != 0) {
		lg_local_free(t, size);
		return;
	}
	atomic_fetch_add(&c->cl->n_resends, 1);
	lf_bell_ring(p->bell);
}

/* The scans run every 2 ms while requests are in flight: a gap this long
 * means this process did not run (stopped by SIGSTOP or ^Z, held by a
 * debugger, a frozen cgroup, a starved or paused machine). */
#define RPC_STALL_NS (1000ull * 1000000)

static void rpc_client_expire(struct rpc_client *cl, uint64_t now)
{
	uint64_t last = cl->last_scan, stalled = 0;
	cl->last_scan = now;
	for (uint32_t i = 0, n = rpc_nslots(cl); i < n; i++) {
		struct rpc_call *c = &cl->calls[i];
		uint32_t s = atomic_load(&c->state);
		/* in flight since before the last scan, with none since for
		 * longer than a scan could be late: the time it could not be
		 * answered in does not count (a reply that came meanwhile is
		 * read at once).  (Scans stop while nothing is in flight: a
		 * request sent since the last one has waited only its age.) */
		uint64_t since = LG_MAX(last, c->start_ns);
		if ((s & CS_INFLIGHT) && c->start_ns && last && now > since + RPC_STALL_NS) {
			uint64_t d = now - since;
			c->deadline += d;
			c->resend_at += d;
			c->start_ns += d;
			stalled = LG_MAX(stalled, d);
		}
		if ((s & CS_HELD) && now > c->deadline + RPC_HOLD_MAX_NS && rpc_call_unhold(c)) {
			lg_log_rl(LG_WARN, "rpc", "%s request to %s: the peer never took it",
				  lw_opcode_name(c->hdr.opcode), c->peer ? c->peer->name : "?");
			rpc_call_finish(c, s >> RPC_GEN_SHIFT, c->held_status, NULL, 0);
			continue;
		}
		if ((s & (CS_INFLIGHT | CS_ANSWERED)) != CS_INFLIGHT)
			continue;
		if (c->deadline <= now) {
			/* One never sent is the provider's to give up on (at the
			 * same deadline, said at info level): whoever is first,
			 * the caller hears ETIMEDOUT and says what failed. */
			lg_log_rl((s & CS_SENT) ? LG_WARN : LG_INFO, "rpc", "%s request to %s timed out%s",
				  lw_opcode_name(c->hdr.opcode), c->peer ? c->peer->name : "?",
				  (s & CS_SENT) ? "" : " unsent");
			rpc_call_answer(c, s >> RPC_GEN_SHIFT, -ETIMEDOUT, NULL, 0);
		} else if (c->rto && now >= c->resend_at && (s & CS_SENT) && !(s & CS_COPY)) {
			rpc_call_resend(c, s, now);
		}
	}
	if (stalled)
		lg_log_rl(LG_WARN, "rpc", "this process did not run for %llu ms (stopped, or "
			  "starved of CPU): its requests' deadlines move on by as much",
			  (unsigned long long)(stalled / 1000000));
}

int rpc_client_progress(struct rpc_client *cl)
{
	if (lg_unlikely(atomic_load_explicit(&cl->orphan, memory_order_relaxed)))
		return 0;
	lg_sig_hold(); /* (rpc_call_start) */
	int n = 0;
	for (int i = 0; i < cl->neps; i++) {
		int r = lf_progress(cl->eps[i]);
		if (r > 0)
			n += r;
	}
	uint64_t now = lg_now_ns();
	uint64_t next = atomic_load_explicit(&cl->next_expire_scan, memory_order_relaxed);
	if (now >= next && atomic_load(&cl->inflight) &&
	    atomic_compare_exchange_strong(&cl->next_expire_scan, &next, now + 2000000ull))
		rpc_client_expire(cl, now);
	lg_sig_release();
	return n;
}

void rpc_peer_expire(struct rpc_peer *p)
{
	struct rpc_client *cl = p->cl;
	for (uint32_t i = 0, n = rpc_nslots(cl); i < n; i++) {
		struct rpc_call *c = &cl->calls[i];
		uint32_t s = atomic_load(&c->state);
		if (((s & (CS_INFLIGHT | CS_ANSWERED)) == CS_INFLIGHT || (s & CS_HELD)) &&
		    c->peer == p)
			c->deadline = 0; /* (a held call is let go at once) */
	}
	atomic_store(&cl->next_expire_scan, 0);
}

unsigned rpc_client_inflight(struct rpc_client *cl) { return atomic_load(&cl->inflight); }

void rpc_client_oldest(struct rpc_client *cl, uint64_t older_than_ns, struct rpc_wait *w)
{
	memset(w, 0, sizeof *w);
	w->line = UINT64_MAX;
	if (!atomic_load(&cl->inflight))
		return;
	uint64_t now = lg_now_ns();
	for (uint32_t i = 0, n = rpc_nslots(cl); i < n; i++) {
		struct rpc_call *c = &cl->calls[i];
		uint32_t st = atomic_load_explicit(&c->state, memory_order_acquire);
		uint64_t start = c->start_ns;
		if (!(st & CS_INFLIGHT) || (st & CS_ANSWERED) || !start || start > now ||
		    now - start < older_than_ns)
			continue;
		w->waiting++;
		if (now - start <= w->age_ns)
			continue;
		/* a snapshot: the call may finish meanwhile; nothing here is
		 * dereferenced but the peer, which outlives its calls */
		w->age_ns = now - start;
		w->opcode = c->hdr.opcode;
		w->line = c->line;
		struct rpc_peer *p = c->peer;
		snprintf(w->peer, sizeof w->peer, "%.63s", p ? p->name : "?");
	}
}

void rpc_client_get_stats(struct rpc_client *cl, struct rpc_client_stats *st)
{
	st->calls = atomic_load(&cl->n_calls);
	st->errors = atomic_load(&cl->n_errors);
	st->timeouts = atomic_load(&cl->n_timeouts);
	st->stale = atomic_load(&cl->n_stale);
	st->resends = atomic_load(&cl->n_resends);
	st->corrupt = atomic_load(&cl->n_corrupt);
}

int rpc_client_wait(struct rpc_client *cl, _Atomic uint32_t *flag, uint64_t deadline)
{
	uint64_t start = lg_now_ns(), spin_until = start + 50000;
	unsigned idle = 0;
	int r = 0;
	lg_sig_hold(); /* once for the whole wait (rpc_call_start) */
	while (!atomic_load_explicit(flag, memory_order_acquire)) {
		int n = rpc_client_progress(cl);
		if (n > 0) {
			idle = 0;
			continue;
		}
		uint64_t now = lg_now_ns();
		if (deadline && now > deadline) {
			r = -ETIMEDOUT;
			break;
		}
		if (now < spin_until) {
			lg_cpu_relax();
		} else if (++idle < 64) {
			sched_yield();
		} else {
			/* a long wait: signals come in while asleep (^C on a
			 * request to a dead peer is not put off until its
			 * timeout) unless a caller holds them, when it may
			 * hold what the fault thread needs */
			int open = lg_sig_held_once();
			struct timespec ts = {0, 20000};
			if (open)
				lg_sig_release();
			nanosleep(&ts, NULL);
			if (open)
				lg_sig_hold();
		}
	}
	lg_sig_release();
	return r;
}

struct rpc_sync {
	_Atomic uint32_t done;
	int status;
	void *rep;
	size_t repcap, replen;
};

static void rpc_sync_reply(void *arg, int status, const void *body, size_t len)
{
	struct rpc_sync *s = arg;
	s->status = status;
	s->replen = len;
	if (s->rep && body)
		memcpy(s->rep, body, LG_MIN(len, s->repcap));
	atomic_store_explicit(&s->done, 1, memory_order_release);
}

int rpc_call(struct rpc_peer *p, uint16_t op, const void *body, size_t len, void *rep,
	     size_t repcap, size_t *replen, uint64_t timeout_ns)
{
	struct iovec iov = {(void *)body, len};
	return rpc_callv(p, op, &iov, len ? 1 : 0, rep, repcap, replen, timeout_ns);
}

int rpc_callv(struct rpc_peer *p, uint16_t op, const struct iovec *iov, int n, void *rep,
	      size_t repcap, size_t *replen, uint64_t timeout_ns)
{
	struct rpc_sync s = {.rep = rep, .repcap = repcap};
	int r = rpc_call_start(p, op, iov, n, timeout_ns, rpc_sync_reply, &s, 1, NULL);
	if (r)
		return r;
	/* The request expires on its own deadline; wait a little longer. */
	rpc_client_wait(p->cl, &s.done, 0);
	if (replen)
		*replen = s.replen;
	return s.status;
}

int rpc_call_fixed(struct rpc_peer *p, uint16_t op, const void *body, size_t len, void *rep,
		   size_t replen, uint64_t timeout_ns)
{
	size_t rl = 0;
	int r = rpc_call(p, op, body, len, rep, replen, &rl, timeout_ns);
	return r == 0 && rl < replen ? -EBADMSG : r;
}

int rpc_peer_connect(struct rpc_peer *p, uint64_t timeout_ns)
{
	struct rpc_client *cl = p->cl;
	struct lego_hello_req hello;
	memset(&hello, 0, sizeof hello);
	hello.role = cl->role;
	hello.prov = lf_ep_prov(p->ep);
	size_t al = sizeof hello.addr;
	int r = lf_ep_name(p->ep, hello.addr, &al);
	if (r)
		return r;
	hello.addr_len = (uint32_t)al;
	lg_random(hello.nonce, LEGO_NONCE_LEN);
	p->conn = 0;
	p->session = 0;
	p->connected = 0;
	struct lego_hello_rep rep;
	size_t rl = 0;
	r = rpc_call(p, X2X_HELLO, &hello, sizeof hello, &rep, sizeof rep, &rl, timeout_ns);
	if (r == -EPROTONOSUPPORT) {
		lg_log(LG_ERROR, "rpc", "%s refuses our protocol version %d", p->name,
		       LEGO_PROTO_VERSION);
		return r;
	}
	if (r)
		return r;
	if (rl < sizeof rep)
		return -EBADMSG;
	uint8_t want[LG_MAC_LEN];
	lg_hmac(cl->key, strlen(cl->key), "lego-s", hello.nonce, LEGO_NONCE_LEN, rep.nonce,
		LEGO_NONCE_LEN, want);
	if (lg_memeq_ct(want, rep.proof, LG_MAC_LEN) != 0) {
		lg_log(LG_ERROR, "rpc",
		       "%s does not know our cluster key (LEGO_CLUSTER_KEY differs); not connecting",
		       p->name);
		return -EACCES;
	}
	struct lego_auth_req auth;
	lg_hmac(cl->key, strlen(cl->key), "lego-c", rep.nonce, LEGO_NONCE_LEN, hello.nonce,
		LEGO_NONCE_LEN, auth.proof);
	p->conn = rep.conn;
	r = rpc_call(p, X2X_AUTH, &auth, sizeof auth, NULL, 0, NULL, timeout_ns);
	if (r == -EACCES) {
		lg_log(LG_ERROR, "rpc", "%s refused our cluster key", p->name);
		return r;
	}
	if (r)
		return r;
	rpc_session_of(cl->key, hello.nonce, rep.nonce, &p->session);
	p->connected = 1;
	return 0;
}

/* ------------------------------------------------------------ event loop */

/* How long the loop keeps polling after its last message. */
#define RPC_LOOP_SPIN_NS 2000000ull
#define RPC_SHM_GC_NS (10000ull * 1000000ull)
#define RPC_REAP_NS (1000ull * 1000000ull) /* rpc_servers_gc */

static int (*rpc_pass_fn)(void *arg);
static void *rpc_pass_arg;
static _Atomic uint64_t rpc_passes;
static _Atomic int rpc_looping;

uint64_t rpc_loop_passes(void) { return atomic_load_explicit(&rpc_passes, memory_order_relaxed); }
int rpc_loop_running(void) { return atomic_load(&rpc_looping); }

void rpc_loop_set_pass_hook(int (*fn)(void *arg), void *arg)
{
	rpc_pass_fn = fn;
	rpc_pass_arg = arg;
}

/* The running loop's own eventfd, in its poll set: rpc_loop_wake. */
static _Atomic int rpc_wake_fd = -1;

void rpc_loop_wake(void)
{
	int fd = atomic_load(&rpc_wake_fd);
	uint64_t one = 1;
	if (fd >= 0 && write(fd, &one, sizeof one) < 0) {
		/* (full: it is awake already) */
	}
}

void rpc_loop_run(struct lf_ep **eps, int n, struct lf_bell *bell, volatile int *stop,
		  void (*tick)(void *user), void *user, uint64_t tick_ns)
{
	uint64_t next_tick = lg_now_ns() + tick_ns, last_work = 0, next_gc = 0,
		 next_reap = 0;
	uint64_t backoff_ns = 0;
	struct pollfd pfd[10];
	int nfd = 0, unwaitable = 0;
	/* An endpoint that keeps coming up empty is polled less often: some
	 * providers (tcp) make a system call per poll, which would slow the
	 * busy one (shm) down.  idle[i] is 2^k: poll every idle[i] rounds (at
	 * most 1024 rounds, about a millisecond when the loop spins). */
	unsigned idle[8], round = 0;
	for (int i = 0; i < n && i < 8; i++) {
		idle[i] = 1;
		int fd = lf_wait_fd(eps[i]);
		if (fd >= 0)
			pfd[nfd++] = (struct pollfd){fd, POLLIN, 0};
		else
			unwaitable = 1; /* shm: its bell stands in for it */
	}
	if (bell && bell->sleeping)
		pfd[nfd++] = (struct pollfd){lf_bell_fd(bell), POLLIN, 0};
	else
		bell = NULL;
	int can_block = !unwaitable || bell;
	int wfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), wi = nfd;
	if (wfd >= 0)
		pfd[nfd++] = (struct pollfd){wfd, POLLIN, 0};
	atomic_store(&rpc_wake_fd, wfd);
	uint64_t reads_seen = bell ? lf_bell_reads(bell) : 0;
	prctl(PR_SET_TIMERSLACK, 1000); /* short sleeps must be short */
	atomic_store(&rpc_looping, 1);
	while (!*stop) {
		int done = 0;
		round++;
		atomic_fetch_add_explicit(&rpc_passes, 1, memory_order_relaxed);
		uint64_t reads = bell ? lf_bell_reads(bell) : 0;
		if (reads != reads_seen) {
			reads_seen = reads;
			done++; /* clients read us one-sided: busy, even without messages */
		}
		for (int i = 0; i < n; i++) {
			if (round & (idle[i] - 1))
				continue;
			uint64_t t0 = lg_now_ns();
			int r = lf_progress(eps[i]);
			uint64_t took = lg_now_ns() - t0;
			if (lg_unlikely(took > RPC_SLOW_PASS_NS))
				lg_log_rl(LG_WARN, "rpc", "one pass over the %s endpoint took %llu ms "
					  "(%d messages)", lf_prov_name(lf_ep_prov(eps[i])),
					  (unsigned long long)(took / 1000000), r);
			if (r > 0) {
				done += r;
				idle[i] = 1;
			} else if (idle[i] < 1024) {
				idle[i] <<= 1;
			}
		}
		if (rpc_pass_fn)
			done += rpc_pass_fn(rpc_pass_arg);
		uint64_t now = lg_now_ns();
		if (tick && now >= next_tick) {
			tick(user);
			next_tick = now + tick_ns;
		}
		if (lg_unlikely(now >= next_gc)) {
			/* shm endpoint files that processes of this host left
			 * (every Lego process leaves its own at exit) */
			rpc_links_gc_shm();
			rpc_servers_gc(1);
			next_gc = now + RPC_SHM_GC_NS;
			next_reap = now + RPC_REAP_NS;
		} else if (lg_unlikely(now >= next_reap)) {
			rpc_servers_gc(0);
			next_reap = now + RPC_REAP_NS;
		}
		if (done) {
			backoff_ns = 0;
			last_work = now;
			continue;
		}
		for (int i = 0; i < n; i++)
			idle[i] = 1; /* about to sleep: look at everything first */
		uint64_t until_tick = next_tick > now ? next_tick - now : 0;
		if (now - last_work < RPC_LOOP_SPIN_NS) {
			/* Busy: poll, yielding the CPU on every round.  Any
			 * sleep, however short, costs 15-50 us on a virtual
			 * machine (nanosleep(5 us) took 50 us here), which made
			 * a 4 KiB shm round trip 66 us instead of 9 us; yielding
			 * leaves the CPU to co-located clients whenever they
			 * can run. */
			sched_yield();
			continue;
		}
		if (!can_block || (unwaitable && now - last_work < 10000000)) {
			/* shm, idle for a moment (or with no bell): sleep a
			 * little and look again, backing off, before sleeping
			 * for good on the bell (each wake-up by the bell costs
			 * the client an IPI). */
			uint64_t cap = can_block ? 50000 : 200000;
			backoff_ns = backoff_ns ? LG_MIN(backoff_ns * 2, cap) : 5000;
			uint64_t ns = LG_MIN(backoff_ns, until_tick + 1000);
			struct timespec ts = {0, (long)ns};
			nanosleep(&ts, NULL);
			continue;
		}
		/* idle for a while: sleep until a message, or a client rings */
		/* Sleep until a message or the bell: say so first, then look
		 * once more, so a request sent meanwhile is not missed. */
		if (bell)
			lf_bell_arm(bell);
		int armed = 1;
		for (int i = 0; i < n; i++) {
			if (lf_progress(eps[i]) > 0 ||
			    (lf_wait_fd(eps[i]) >= 0 && lf_wait_arm(eps[i]) != 0))
				armed = 0;
		}
		if (armed && !*stop &&
		    poll(pfd, (nfds_t)nfd, (int)LG_MIN(until_tick / 1000000 + 1, 100)) > 0 &&
		    wfd >= 0 && (pfd[wi].revents & POLLIN)) {
			uint64_t woken; /* rpc_loop_wake's count, reset by reading it */
			ssize_t r = read(wfd, &woken, sizeof woken);
			(void)r;
		}
		if (bell)
			lf_bell_awake(bell);
	}
	atomic_store(&rpc_wake_fd, -1);
	if (wfd >= 0)
		close(wfd);
	atomic_store(&rpc_looping, 0);
}
