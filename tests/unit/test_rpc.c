/*
 * The RPC client's bookkeeping, with test peers (no endpoint): a request
 * that times out before its send has finished is reported only once the
 * send is over (the provider may still read the caller's buffers), or at
 * once when the peer is declared dead; a forked child's copy of its
 * parent's client (rpc_client_orphan) sends and polls nothing.  And the
 * signal hold (common/util.h) the client's entries take in a Lego
 * process: nested, the synchronous signals left open, a long wait
 * letting signals in unless a caller holds them too.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <signal.h>
#include <sys/time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/auth.h"
#include "common/util.h"
#include "fabric/rpc.h"
#include "srv_stat.h"
#include "fabric/wire.h"
#include "lego/proto.h"

struct answer {
	int calls, status;
};

static void on_answer(void *arg, int status, const void *body, size_t len)
{
	(void)body, (void)len;
	struct answer *a = arg;
	a->calls++;
	a->status = status;
}

static struct rpc_client *cl;
static struct rpc_peer peer;

static void setup(void)
{
	ck_assert_int_eq(rpc_client_new("", LEGO_ROLE_PROCESS, &cl), 0);
	memset(&peer, 0, sizeof peer);
	peer.cl = cl;
	peer.test_hold = 1;
	snprintf(peer.name, sizeof peer.name, "test peer");
}

static void teardown(void) { rpc_client_free(cl); }

/* Drive progress until the request's deadline (1 ms) has passed and the
 * expiry scan (every 2 ms) has looked at it. */
static void run_past_deadline(void)
{
	struct timespec ts = {0, 5000000};
	for (int i = 0; i < 3; i++) {
		nanosleep(&ts, NULL);
		rpc_client_progress(cl);
	}
}

static int send_one(struct answer *a)
{
	struct lego_p2mon_as_req req = {.pid = 1};
	struct iovec iov = {&req, sizeof req};
	return rpc_call_async(&peer, P2MON_HEARTBEAT, &iov, 1, 1000000, on_answer, a);
}

START_TEST(test_timeout_waits_for_send)
{
	struct answer a = {0};
	ck_assert_int_eq(send_one(&a), 0);
	run_past_deadline();
	ck_assert_int_eq(a.calls, 0); /* timed out, but still being sent */
	ck_assert_uint_eq(rpc_client_inflight(cl), 1);
	rpc_test_sends_done(cl);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.status, -ETIMEDOUT);
	ck_assert_uint_eq(rpc_client_inflight(cl), 0);
	struct rpc_client_stats st;
	rpc_client_get_stats(cl, &st);
	ck_assert_uint_eq(st.timeouts, 1);
}
END_TEST

START_TEST(test_sent_then_timeout)
{
	struct answer a = {0};
	ck_assert_int_eq(send_one(&a), 0);
	rpc_test_sends_done(cl);
	run_past_deadline();
	ck_assert_int_eq(a.calls, 1); /* nothing held: told at the deadline */
	ck_assert_int_eq(a.status, -ETIMEDOUT);
	ck_assert_uint_eq(rpc_client_inflight(cl), 0);
}
END_TEST

START_TEST(test_dead_peer_lets_go)
{
	struct answer a = {0};
	ck_assert_int_eq(send_one(&a), 0);
	run_past_deadline();
	ck_assert_int_eq(a.calls, 0);
	rpc_peer_expire(&peer); /* the cluster says it is dead */
	rpc_client_progress(cl);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.status, -ETIMEDOUT);
	/* the send ends later: the slot is free then, the caller not told twice */
	ck_assert_uint_eq(rpc_client_inflight(cl), 1);
	rpc_test_sends_done(cl);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_uint_eq(rpc_client_inflight(cl), 0);
}
END_TEST

START_TEST(test_orphan_sends_nothing)
{
	struct answer a = {0};
	rpc_client_orphan(cl);
	ck_assert_int_eq(send_one(&a), -ECHILD);
	ck_assert_int_eq(rpc_client_progress(cl), 0);
	ck_assert_uint_eq(rpc_client_inflight(cl), 0);
	ck_assert_int_eq(a.calls, 0);
}
END_TEST

/* ------------------------------------------------------------- server */


/* A ping from test connection (id, session), request n (a new id each). */
static void ping(struct rpc_server *srv, uint32_t id, uint64_t session, uint32_t n)
{
	static _Alignas(64) struct lego_hdr h;
	lw_hdr_init(&h, X2X_PING, sizeof h, (uint64_t)(n / LEGO_REQ_SLOTS + 1) << 16 |
						   n % LEGO_REQ_SLOTS);
	h.conn = id;
	h.session = session;
	lw_seal(&h, NULL, 0);
	rpc_server_on_recv(NULL, &h, sizeof h, srv);
}

/* A peer that takes none of its replies gets at most 256 in flight; the
 * rest are not sent (replies_over_limit), and another peer is not held
 * back by it; once its replies go out, it gets replies again. */
START_TEST(test_replies_in_flight_bounded)
{
	struct rpc_server_conf sc = {.name = "test"};
	struct rpc_server *srv;
	ck_assert_int_eq(rpc_server_new(&sc, &srv), 0);
	uint32_t a, b;
	uint64_t sa, sb;
	ck_assert_int_eq(rpc_server_test_conn(srv, LEGO_ROLE_TOOL, &a, &sa), 0);
	ck_assert_int_eq(rpc_server_test_conn(srv, LEGO_ROLE_TOOL, &b, &sb), 0);
	rpc_server_test_hold_replies(srv, 1);
	for (uint32_t i = 0; i < 300; i++)
		ping(srv, a, sa, i);
	ck_assert_uint_eq(srv_stat(srv, "replies_over_limit"), 300 - 256);
	for (uint32_t i = 0; i < 100; i++)
		ping(srv, b, sb, i);
	ck_assert_uint_eq(srv_stat(srv, "replies_over_limit"), 300 - 256);
	rpc_server_test_hold_replies(srv, 0); /* they went out */
	rpc_server_test_hold_replies(srv, 1);
	for (uint32_t i = 300; i < 400; i++)
		ping(srv, a, sa, i);
	ck_assert_uint_eq(srv_stat(srv, "replies_over_limit"), 300 - 256);
	rpc_server_free(srv); /* (frees the held ones) */
}
END_TEST

/* Handshake messages as a peer sends them, with no endpoint. */
static void send_hello(struct rpc_server *srv, uint8_t nonce, uint64_t req_id)
{
	static _Alignas(64) uint8_t msg[sizeof(struct lego_hdr) + sizeof(struct lego_hello_req)];
	struct lego_hdr *h = (struct lego_hdr *)msg;
	struct lego_hello_req req = {.role = LEGO_ROLE_TOOL, .prov = LEGO_PROV_TCP, .addr_len = 16};
	memset(req.nonce, nonce, sizeof req.nonce);
	lw_hdr_init(h, X2X_HELLO, sizeof msg, req_id);
	memcpy(msg + sizeof *h, &req, sizeof req);
	struct iovec body = {msg + sizeof *h, sizeof req};
	lw_seal(h, &body, 1);
	rpc_server_on_recv(NULL, msg, sizeof msg, srv);
}

/* AUTH for connection id, whose client nonce was all `nonce` bytes, with
 * the proof for key. */
static void send_auth(struct rpc_server *srv, uint32_t id, uint8_t nonce, const char *key)
{
	uint8_t sn[LEGO_NONCE_LEN] = {0}, cn[LEGO_NONCE_LEN];
	memcpy(sn, &id, sizeof id); /* (rpc.h: a test handshake's server nonce) */
	memset(cn, nonce, sizeof cn);
	struct lego_auth_req auth;
	lg_hmac(key, strlen(key), "lego-c", sn, LEGO_NONCE_LEN, cn, LEGO_NONCE_LEN, auth.proof);
	static _Alignas(64) uint8_t msg[sizeof(struct lego_hdr) + sizeof(struct lego_auth_req)];
	struct lego_hdr *h = (struct lego_hdr *)msg;
	lw_hdr_init(h, X2X_AUTH, sizeof msg, 2ull << 16 | id);
	h->conn = id;
	memcpy(msg + sizeof *h, &auth, sizeof auth);
	struct iovec body = {msg + sizeof *h, sizeof auth};
	lw_seal(h, &body, 1);
	rpc_server_on_recv(NULL, msg, sizeof msg, srv);
}

/* A handshake with no endpoint (what fuzzers drive): a HELLO opens the
 * next connection, the same HELLO again is a repeat, an AUTH with the
 * proof for the key completes it; one with a wrong proof is refused and
 * its connection dropped. */
START_TEST(test_handshake_without_endpoint)
{
	struct rpc_server_conf sc = {.name = "test", .key = "k"};
	struct rpc_server *srv;
	ck_assert_int_eq(rpc_server_new(&sc, &srv), 0);
	uint32_t a;
	uint64_t sa;
	ck_assert_int_eq(rpc_server_test_conn(srv, LEGO_ROLE_TOOL, &a, &sa), 0); /* id 1 */
	send_hello(srv, 0x11, 1ull << 16 | 1);
	send_hello(srv, 0x11, 1ull << 16 | 1); /* our answer was lost */
	ck_assert_uint_eq(srv_stat(srv, "repeats"), 1);
	ck_assert_uint_eq(srv_stat(srv, "connections"), 2);
	send_auth(srv, 2, 0x11, "k");
	ck_assert_uint_eq(srv_stat(srv, "handshakes"), 1);
	send_hello(srv, 0x22, 1ull << 16 | 2);
	ck_assert_uint_eq(srv_stat(srv, "connections"), 3);
	send_auth(srv, 3, 0x22, "another key");
	ck_assert_uint_eq(srv_stat(srv, "rejects.auth"), 1);
	ck_assert_uint_eq(srv_stat(srv, "handshakes"), 1);
	ck_assert_uint_eq(srv_stat(srv, "connections"), 2);
	rpc_server_free(srv);
}
END_TEST

/* ------------------------------------------------------------ signals */

static int blocked(int sig)
{
	sigset_t m;
	pthread_sigmask(SIG_BLOCK, NULL, &m);
	return sigismember(&m, sig);
}

static volatile sig_atomic_t got;
static _Atomic uint32_t got_flag;

static void on_sig(int sig)
{
	(void)sig;
	got++;
	atomic_store(&got_flag, 1);
}

START_TEST(test_hold_nested)
{
	lg_sig_hold_enable();
	signal(SIGUSR1, on_sig);
	got = 0;
	lg_sig_hold();
	ck_assert(blocked(SIGUSR1) && blocked(SIGTERM) && blocked(SIGURG));
	ck_assert(!blocked(SIGSEGV) && !blocked(SIGBUS) && !blocked(SIGFPE));
	raise(SIGUSR1);
	lg_sig_hold();
	lg_sig_release();
	ck_assert(blocked(SIGUSR1)); /* the inner release leaves it held */
	ck_assert_int_eq(got, 0);
	lg_sig_release();
	ck_assert(!blocked(SIGUSR1));
	ck_assert_int_eq(got, 1); /* delivered once let in */
	/* a signal the thread blocked itself stays blocked */
	sigset_t m;
	sigemptyset(&m);
	sigaddset(&m, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &m, NULL);
	lg_sig_hold();
	lg_sig_release();
	ck_assert(blocked(SIGUSR2));
}
END_TEST

START_TEST(test_hold_off)
{
	/* not a Lego process (a daemon): nothing changes */
	lg_sig_hold();
	ck_assert(!blocked(SIGUSR1));
	lg_sig_release();
}
END_TEST

static void check_held(void *arg, int status, const void *body, size_t len)
{
	(void)status, (void)body, (void)len;
	*(int *)arg = blocked(SIGUSR1) ? 1 : -1;
}

START_TEST(test_callback_held)
{
	lg_sig_hold_enable();
	int seen = 0;
	struct lego_p2mon_as_req req = {.pid = 1};
	struct iovec iov = {&req, sizeof req};
	ck_assert_int_eq(
	    rpc_call_async(&peer, P2MON_HEARTBEAT, &iov, 1, 1000000, check_held, &seen), 0);
	ck_assert(!blocked(SIGUSR1));
	rpc_test_sends_done(cl);
	run_past_deadline(); /* the timeout is told from progress */
	ck_assert_int_eq(seen, 1);
	ck_assert(!blocked(SIGUSR1));
}
END_TEST

/* SIGALRM in 20 ms while the thread waits up to 2 s for a flag it sets. */
static int wait_for_alarm(uint64_t wait_ns)
{
	signal(SIGALRM, on_sig);
	got = 0;
	atomic_store(&got_flag, 0);
	struct itimerval it = {.it_value = {0, 20000}};
	setitimer(ITIMER_REAL, &it, NULL);
	return rpc_client_wait(cl, &got_flag, lg_now_ns() + wait_ns);
}

START_TEST(test_wait_lets_signals_in)
{
	lg_sig_hold_enable();
	uint64_t t0 = lg_now_ns();
	ck_assert_int_eq(wait_for_alarm(2000000000ull), 0);
	ck_assert_uint_lt(lg_now_ns() - t0, 1000000000ull);
	ck_assert_int_eq(got, 1);
	ck_assert(!blocked(SIGALRM));
	/* a caller that holds them (it may hold the fault thread's locks):
	 * not in the wait */
	lg_sig_hold();
	ck_assert_int_eq(wait_for_alarm(200000000ull), -ETIMEDOUT);
	ck_assert_int_eq(got, 0);
	lg_sig_release();
	ck_assert_int_eq(got, 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rpc");
	TCase *tc = tcase_create("client");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_timeout_waits_for_send);
	tcase_add_test(tc, test_sent_then_timeout);
	tcase_add_test(tc, test_dead_peer_lets_go);
	tcase_add_test(tc, test_orphan_sends_nothing);
	suite_add_tcase(s, tc);
	tc = tcase_create("server");
	tcase_add_test(tc, test_replies_in_flight_bounded);
	tcase_add_test(tc, test_handshake_without_endpoint);
	suite_add_tcase(s, tc);
	tc = tcase_create("signals");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_hold_nested);
	tcase_add_test(tc, test_hold_off);
	tcase_add_test(tc, test_callback_held);
	tcase_add_test(tc, test_wait_lets_signals_in);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
