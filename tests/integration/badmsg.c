/*
 * lego-test-badmsg: send malformed and hostile messages to a daemon, then
 * check, as a well-behaved client, that each was refused and counted and
 * that the daemon still serves.
 *
 *   lego-test-badmsg HOST:PORT KEY
 *
 * The daemon runs with LEGO_CLUSTER_KEY=KEY.  Exit 0 when every refusal was
 * counted (rejects.<reason> counters) and a normal request still works.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/auth.h"
#include "common/log.h"
#include "common/util.h"
#include "fabric/link.h"

static struct rpc_links L;
static struct lf_ep *raw_ep;
static uint64_t raw_dest;
static int last_status, got_reply;

/* Replies to the raw messages land here. */
static void raw_recv(struct lf_ep *ep, void *msg, size_t len, void *arg)
{
	(void)ep, (void)arg;
	struct lego_hdr h;
	if (len >= sizeof h) {
		memcpy(&h, msg, sizeof h);
		last_status = h.status;
		got_reply = 1;
		if (h.opcode == X2X_HELLO && len >= sizeof h + sizeof(struct lego_hello_rep)) {
			static struct lego_hello_rep rep;
			memcpy(&rep, (uint8_t *)msg + sizeof h, sizeof rep);
			last_status = h.status ? h.status : (int)rep.conn;
		}
	}
}

struct tx {
	struct lf_tx tx;
	int done;
};
static void tx_done(struct lf_tx *t, int err)
{
	(void)err;
	((struct tx *)t)->done = 1;
}

/* Send raw bytes (with a valid CRC when longer than a header, unless
 * damage) and wait up to 1 s for a reply; returns 1 if one came. */
static int send_raw_crc(void *buf, size_t len, int damage)
{
	struct tx t = {.tx.done = tx_done};
	if (len >= sizeof(struct lego_hdr)) {
		struct iovec body = {(uint8_t *)buf + sizeof(struct lego_hdr),
				     len - sizeof(struct lego_hdr)};
		lw_seal(buf, &body, 1);
		if (damage)
			((uint8_t *)buf)[len - 1] ^= 1;
	}
	struct iovec iov = {(void *)buf, len};
	got_reply = 0;
	if (lf_sendv(raw_ep, raw_dest, &iov, 1, &t.tx) != 0)
		return 0;
	uint64_t end = lg_now_ns() + 300000000ull;
	while (lg_now_ns() < end && !(t.done && got_reply))
		lf_progress(raw_ep);
	while (!t.done && lg_now_ns() < end + 1000000000ull)
		lf_progress(raw_ep);
	return got_reply;
}

static int send_raw(void *buf, size_t len) { return send_raw_crc(buf, len, 0); }

static void hdr(struct lego_hdr *h, uint16_t op, uint32_t len)
{
	lw_hdr_init(h, op, len, 1ull << 16 | 0x123);
}

static int flood_ok;

static void count_answer(void *arg, int status, const void *body, size_t len)
{
	(void)body, (void)len;
	(*(int *)arg)++;
	flood_ok += status == 0;
}

/* A counter from a stats reply, or -1. */
static long stat_of(struct rpc_peer *p, const char *key)
{
	static char text[65536];
	size_t tl = 0;
	if (rpc_call(p, X2X_STATS, NULL, 0, text, sizeof text - 1, &tl, 3000000000ull))
		return -1;
	text[LG_MIN(tl, sizeof text - 1)] = 0;
	char k[80];
	snprintf(k, sizeof k, "\n%s:", key);
	const char *at = strstr(text, k);
	return at ? strtol(at + strlen(k), NULL, 10) : -1;
}

/* A client that asks for 1500 stats replies and reads none for half a
 * second: another client (good) is served all along, and the flood is
 * answered once it reads.  (Here the transport buffers every reply; a
 * peer whose replies pile up in the daemon is limited to 256 in flight,
 * replies_over_limit: test_rpc.) */
static int flood(const char *target, const char *key, struct rpc_peer *good)
{
	enum { N = 1500 };
	struct rpc_client *cl;
	rpc_client_new(key, LEGO_ROLE_TOOL, &cl);
	struct rpc_links l = {.cl = cl, .rx_bufs = 4, .rx_size = 65536, .fab = LF_FAB_TCP};
	struct rpc_peer p;
	if (rpc_links_peer_hostport(&l, target, &p, "daemon", NULL) || rpc_peer_connect(&p, 3000000000ull)) {
		fprintf(stderr, "flood: cannot connect\n");
		return 1;
	}
	long before = stat_of(good, "replies_over_limit");
	int answers = 0, sent = 0;
	for (int i = 0; i < N; i++)
		sent += rpc_call_async(&p, X2X_STATS, NULL, 0, 20000000000ull, count_answer, &answers) == 0;
	uint64_t worst = 0;
	for (int i = 0; i < 5; i++) { /* half a second of pings while the flood waits */
		uint64_t t0 = lg_now_ns();
		if (rpc_call(good, X2X_PING, NULL, 0, NULL, 0, NULL, 3000000000ull) != 0) {
			fprintf(stderr, "flood: the other client was not served\n");
			return 1;
		}
		worst = LG_MAX(worst, lg_now_ns() - t0);
		struct timespec ts = {0, 100000000};
		nanosleep(&ts, NULL);
	}
	long after = stat_of(good, "replies_over_limit");
	/* read what came, until every request is answered or timed out */
	uint64_t end = lg_now_ns() + 30000000000ull;
	while (answers < sent && lg_now_ns() < end)
		rpc_client_progress(cl);
	printf("flood: %d requests sent, %d answered (%d with a reply) or timed out; replies over "
	       "the limit %ld, dropped %ld; the other client's slowest ping %.1f ms\n", sent, answers,
	       flood_ok, after - before, stat_of(good, "replies_dropped"), (double)worst / 1e6);
	rpc_links_close(&l);
	rpc_client_free(cl);
	if (answers < sent || flood_ok < sent - (after - before)) {
		fprintf(stderr, "flood: not every request was answered\n");
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s HOST:PORT KEY\n", argv[0]);
		return 2;
	}
	const char *target = argv[1], *key = argv[2];
	lg_set_prog("badmsg");
	uint64_t to = 3000000000ull;
	/* the raw endpoint: tcp, to reach any daemon by HOST:PORT */
	char host[64], port[16];
	lg_split_hostport(target, host, sizeof host, port, sizeof port);
	struct lf_ep_conf c = {.prov = LEGO_PROV_TCP, .node = host, .service = port, .peer_hint = 1,
			       .rx_bufs = 8, .rx_size = 65536, .on_recv = raw_recv};
	if (lf_ep_open(&c, &raw_ep))
		return 1;
	uint8_t addr[LEGO_ADDR_MAX];
	size_t alen = sizeof addr;
	if (lf_resolve_tcp(host, port, addr, &alen) || lf_av_insert(raw_ep, addr, alen, &raw_dest))
		return 1;
	static uint8_t buf[LEGO_MSG_MAX + 8192];
	struct lego_hdr *h = (struct lego_hdr *)buf;

	/* 1. truncated: shorter than a header */
	memset(buf, 0x41, 20);
	send_raw(buf, 20);
	/* 2. oversized: beyond the largest message */
	hdr(h, X2X_PING, sizeof buf);
	send_raw(buf, sizeof buf);
	/* 3. not a Lego message */
	hdr(h, X2X_PING, 64);
	h->magic = 0xdeadbeef;
	send_raw(buf, 64);
	/* 4. declared length differs from what arrived */
	hdr(h, X2X_PING, 100);
	send_raw(buf, 64);
	/* 5. reply flag on a request */
	hdr(h, X2X_PING, 48);
	h->flags = LEGO_F_REPLY;
	send_raw(buf, 48);
	/* 6. unknown opcode, no session */
	hdr(h, 60, 48);
	send_raw(buf, 48);
	/* 6b. damaged on the way: the CRC does not hold */
	hdr(h, X2X_PING, 64);
	send_raw_crc(buf, 64, 1);
	/* 7. wrong protocol version in HELLO: the daemon says so */
	struct lego_hello_req hello;
	memset(&hello, 0, sizeof hello);
	hello.role = LEGO_ROLE_TOOL;
	hello.prov = LEGO_PROV_TCP;
	size_t nl = sizeof hello.addr;
	lf_ep_name(raw_ep, hello.addr, &nl);
	hello.addr_len = (uint32_t)nl;
	hdr(h, X2X_HELLO, sizeof *h + sizeof hello);
	h->version = LEGO_PROTO_VERSION + 7;
	memcpy(buf + sizeof *h, &hello, sizeof hello);
	if (!send_raw(buf, sizeof *h + sizeof hello) || last_status != -EPROTONOSUPPORT) {
		fprintf(stderr, "wrong version: expected -EPROTONOSUPPORT, got %d\n", last_status);
		return 1;
	}
	/* 8. handshake with a wrong key: HELLO, then AUTH with a bogus proof */
	hdr(h, X2X_HELLO, sizeof *h + sizeof hello);
	lg_random(hello.nonce, sizeof hello.nonce);
	memcpy(buf + sizeof *h, &hello, sizeof hello);
	if (!send_raw(buf, sizeof *h + sizeof hello) || last_status <= 0) {
		fprintf(stderr, "hello: no connection (%d)\n", last_status);
		return 1;
	}
	uint32_t conn = (uint32_t)last_status;
	struct lego_auth_req auth;
	lg_hmac("wrong key", 9, "lego-c", hello.nonce, 32, hello.nonce, 32, auth.proof);
	hdr(h, X2X_AUTH, sizeof *h + sizeof auth);
	h->conn = conn;
	memcpy(buf + sizeof *h, &auth, sizeof auth);
	if (!send_raw(buf, sizeof *h + sizeof auth) || last_status != -EACCES) {
		fprintf(stderr, "bad proof: expected -EACCES, got %d\n", last_status);
		return 1;
	}
	/* 9. a request on that (refused) connection with a guessed session */
	hdr(h, X2X_STATS, 48);
	h->conn = conn;
	h->session = 0x1122334455667788ull;
	send_raw(buf, 48);

	/* The regular client library refuses a daemon with another key. */
	struct rpc_client *badcl;
	rpc_client_new("wrong key", LEGO_ROLE_TOOL, &badcl);
	struct rpc_links bl = {.cl = badcl, .rx_bufs = 4, .rx_size = 65536, .fab = LF_FAB_TCP};
	struct rpc_peer bp;
	if (rpc_links_peer_hostport(&bl, target, &bp, "daemon", NULL) ||
	    rpc_peer_connect(&bp, to) != -EACCES) {
		fprintf(stderr, "client with the wrong key was not refused\n");
		return 1;
	}
	rpc_links_close(&bl);
	rpc_client_free(badcl);

	/* A well-behaved client: authenticated, then a body too short for its
	 * opcode and an unknown opcode, then the counters. */
	struct rpc_client *cl;
	rpc_client_new(key, LEGO_ROLE_PROCESS, &cl);
	L = (struct rpc_links){.cl = cl, .rx_bufs = 4, .rx_size = 128 * 1024, .fab = LF_FAB_TCP};
	struct rpc_peer p;
	if (rpc_links_peer_hostport(&L, target, &p, "daemon", NULL) || rpc_peer_connect(&p, to)) {
		fprintf(stderr, "good client cannot connect\n");
		return 1;
	}
	uint8_t small[10] = {0};
	int r = rpc_call(&p, P2M_READ, small, sizeof small, NULL, 0, NULL, to);
	int r2 = rpc_call(&p, P2MON_REGISTER, small, sizeof small, NULL, 0, NULL, to);
	if (r != -EBADMSG && r2 != -EBADMSG) {
		fprintf(stderr, "short body: expected -EBADMSG, got %d / %d\n", r, r2);
		return 1;
	}
	r = rpc_call(&p, 61, NULL, 0, NULL, 0, NULL, to);
	if (r != -EOPNOTSUPP) {
		fprintf(stderr, "unknown opcode: expected -EOPNOTSUPP, got %d\n", r);
		return 1;
	}
	static char text[65536];
	size_t tl = 0;
	r = rpc_call(&p, X2X_STATS, NULL, 0, text, sizeof text - 1, &tl, to);
	if (r) {
		fprintf(stderr, "stats after the abuse: %s\n", strerror(-r));
		return 1;
	}
	text[LG_MIN(tl, sizeof text - 1)] = 0;
	const char *want[] = {"short", "magic", "version", "length", "opcode", "body",
			      "session", "auth", "flags", "crc"};
	int bad = 0;
	for (size_t i = 0; i < LG_ARRAY_SIZE(want); i++) {
		char k[64];
		snprintf(k, sizeof k, "\nrejects.%s:", want[i]);
		const char *at = strstr(text, k);
		long v = at ? strtol(at + strlen(k), NULL, 10) : -1;
		printf("rejects.%-8s %ld\n", want[i], v);
		if (v < 1)
			bad = 1;
	}
	if (rpc_call(&p, X2X_PING, NULL, 0, NULL, 0, NULL, to) != 0) {
		fprintf(stderr, "ping failed after the abuse\n");
		return 1;
	}
	if (flood(target, key, &p))
		bad = 1;
	rpc_call(&p, X2X_BYE, NULL, 0, NULL, 0, NULL, to);
	rpc_links_close(&L);
	rpc_client_free(cl);
	lf_ep_close(raw_ep);
	printf(bad ? "FAILED\n" : "OK\n");
	return bad;
}
