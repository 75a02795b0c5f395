/*
 * Lanes and compact messages (fabric.h), with two real shm endpoints in
 * this process: a "daemon" endpoint with lanes and a "client" endpoint.
 * The daemon's large messages go on the client's lane and small ones from
 * the endpoint itself, and the client still gets them all in the order
 * sent; closing the lane removes its shm file, and a large message after
 * that makes a new lane.  A message sent with data reaches on_data with
 * it.  Then RPC over the two: replies of every size around the compact
 * size come back whole, those that fit it as compact replies.  And
 * libfabric's probe of /proc/kallsyms is refused (fabric/fiload.h).
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "fabric/bell.h"
#include "fabric/fabric.h"
#include "fabric/fiload.h"
#include "fabric/rpc.h"
#include "fabric/shmlock.h"
#include <pthread.h>

#define NMSG 64

static int got[NMSG], ngot;
static void on_recv(struct lf_ep *ep, void *msg, size_t len, void *arg);
static uint64_t got_data;
static int ndata;

static void on_data(struct lf_ep *ep, void *msg, size_t len, uint64_t data, void *arg)
{
	got_data = data;
	ndata++;
	on_recv(ep, msg, len, arg);
}

static void on_recv(struct lf_ep *ep, void *msg, size_t len, void *arg)
{
	(void)ep, (void)arg;
	uint32_t seq;
	ck_assert_uint_ge(len, sizeof seq);
	memcpy(&seq, msg, sizeof seq);
	/* the body repeats the sequence number's low byte */
	for (size_t i = sizeof seq; i < len; i++)
		ck_assert_uint_eq(((uint8_t *)msg)[i], (uint8_t)seq);
	if (ngot < NMSG)
		got[ngot++] = (int)seq;
}

struct sent {
	struct lf_tx tx;
	int done, err;
};

static void sent_done(struct lf_tx *tx, int err)
{
	struct sent *s = (struct sent *)tx;
	s->done = 1;
	s->err = err;
}

static struct lf_ep *daemon_ep, *client_ep;
static uint64_t to_client;
static char dname[64];

static void setup(void)
{
	snprintf(dname, sizeof dname, "lego-test.%d", (int)getpid());
	char cname[64];
	snprintf(cname, sizeof cname, "lego-test-c.%d", (int)getpid());
	struct lf_ep_conf d = {.prov = LEGO_PROV_SHM, .node = dname, .rx_bufs = 4,
			       .rx_size = 64 * 1024, .on_recv = on_recv, .lanes = 1};
	struct lf_ep_conf c = {.prov = LEGO_PROV_SHM, .node = cname, .rx_bufs = NMSG,
			       .rx_size = 64 * 1024, .on_recv = on_recv, .on_data = on_data};
	ck_assert_int_eq(lf_ep_open(&d, &daemon_ep), 0);
	ck_assert_int_eq(lf_ep_open(&c, &client_ep), 0);
	uint8_t addr[LEGO_ADDR_MAX];
	size_t len = sizeof addr;
	ck_assert_int_eq(lf_ep_name(client_ep, addr, &len), 0);
	ck_assert_int_eq(lf_av_insert(daemon_ep, addr, len, &to_client), 0);
	ngot = ndata = 0;
}

static void teardown(void)
{
	lf_ep_close(daemon_ep);
	lf_ep_close(client_ep);
}

/* Send seq with len bytes from the daemon and wait for the send to finish
 * (driving both endpoints, as both processes would). */
static void send_wait_data(uint32_t seq, size_t len, int with_data, uint64_t data)
{
	static uint8_t buf[16384];
	memset(buf, (uint8_t)seq, len);
	memcpy(buf, &seq, sizeof seq);
	struct sent s = {.tx = {.done = sent_done, .deadline = lg_now_ns() + 2000000000ull}};
	struct iovec iov = {buf, len};
	ck_assert_int_eq(with_data ? lf_sendv_nb_data(daemon_ep, to_client, &iov, 1, data, &s.tx)
				   : lf_sendv_nb(daemon_ep, to_client, &iov, 1, &s.tx), 0);
	for (uint64_t until = lg_now_ns() + 2000000000ull; !s.done && lg_now_ns() < until;) {
		lf_progress(client_ep);
		lf_progress(daemon_ep);
	}
	ck_assert_int_eq(s.done, 1);
	ck_assert_int_eq(s.err, 0);
}

static void send_wait(uint32_t seq, size_t len) { send_wait_data(seq, len, 0, 0); }

static int lane_file(unsigned n)
{
	char path[128];
	snprintf(path, sizeof path, "/dev/shm/%s.l%u", dname, n);
	return access(path, F_OK) == 0;
}

START_TEST(test_lane_order)
{
	/* small (inline, inject) and large (the receiver copies them out)
	 * messages mixed; the large ones on the client's lane */
	static const size_t sizes[] = {16, 9000, 4096, 4097, 200, 16384};
	for (int i = 0; i < NMSG; i++) {
		send_wait((uint32_t)i, sizes[i % 6]);
		ck_assert_uint_eq(lf_lanes_open(), i % 6 >= 1 || i >= 6 ? 1 : 0);
	}
	for (uint64_t until = lg_now_ns() + 1000000000ull; ngot < NMSG && lg_now_ns() < until;)
		lf_progress(client_ep);
	ck_assert_int_eq(ngot, NMSG);
	for (int i = 0; i < NMSG; i++)
		ck_assert_int_eq(got[i], i);
	ck_assert(lane_file(0));
}
END_TEST

START_TEST(test_lane_close)
{
	send_wait(0, 100);
	ck_assert_uint_eq(lf_lanes_open(), 0); /* small: no lane */
	ck_assert(!lane_file(0));
	send_wait(1, 8192);
	ck_assert_uint_eq(lf_lanes_open(), 1);
	ck_assert(lane_file(0));
	lf_lane_close(daemon_ep, to_client);
	ck_assert_uint_eq(lf_lanes_open(), 0);
	ck_assert(!lane_file(0));
	send_wait(2, 8192); /* a new one */
	ck_assert_uint_eq(lf_lanes_open(), 1);
	ck_assert(lane_file(1));
	for (uint64_t until = lg_now_ns() + 1000000000ull; ngot < 3 && lg_now_ns() < until;)
		lf_progress(client_ep);
	ck_assert_int_eq(ngot, 3);
	ck_assert_int_eq(got[2], 2);
}
END_TEST

/* The lock lf_shm_map_lock finds is the one the provider takes: while it
 * is held, a send to its region waits. */
static _Atomic int sender_done;

static void *send_one(void *arg)
{
	static uint8_t buf[64];
	struct sent *s = arg;
	struct iovec iov = {buf, sizeof buf};
	int r = lf_sendv_nb(daemon_ep, to_client, &iov, 1, &s->tx);
	atomic_store(&sender_done, r == 0 ? 1 : -1);
	return NULL;
}

START_TEST(test_shm_lock)
{
	struct lf_shm_region r[16];
	int n = lf_shm_regions(r, 16);
	ck_assert_int_ge(n, 2);
	char cpath[96];
	snprintf(cpath, sizeof cpath, "/dev/shm/lego-test-c.%d", (int)getpid());
	int k = 0;
	while (k < n && strcmp(r[k].path, cpath))
		k++;
	ck_assert_int_lt(k, n);
	ck_assert(r[k].own);
	ck_assert_int_eq(r[k].pid, getpid());
	volatile int *lock = lf_shm_map_lock(&r[k]);
	ck_assert(lock != NULL);
	ck_assert_int_eq(*lock, 1);
	pthread_spin_lock((pthread_spinlock_t *)(uintptr_t)lock);
	struct sent s = {.tx = {.done = sent_done, .deadline = lg_now_ns() + 2000000000ull}};
	pthread_t t;
	atomic_store(&sender_done, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, send_one, &s), 0);
	usleep(200000);
	ck_assert_int_eq(atomic_load(&sender_done), 0); /* waiting for the lock */
	pthread_spin_unlock((pthread_spinlock_t *)(uintptr_t)lock);
	pthread_join(t, NULL);
	ck_assert_int_eq(atomic_load(&sender_done), 1);
	for (uint64_t until = lg_now_ns() + 1000000000ull; ngot < 1 && lg_now_ns() < until;) {
		lf_progress(client_ep);
		lf_progress(daemon_ep);
	}
	ck_assert_int_eq(ngot, 1);
	lf_shm_unmap(lock);
}
END_TEST

START_TEST(test_data)
{
	ck_assert_uint_eq(lf_compact_size(daemon_ep), 4096);
	send_wait_data(0, 4096, 1, 0x0123456789abcdefull);
	send_wait(1, 100);
	for (uint64_t until = lg_now_ns() + 1000000000ull; ngot < 2 && lg_now_ns() < until;)
		lf_progress(client_ep);
	ck_assert_int_eq(ngot, 2);
	ck_assert_int_eq(ndata, 1); /* the second one had none */
	ck_assert_uint_eq(got_data, 0x0123456789abcdefull);
	ck_assert_uint_eq(lf_lanes_open(), 0);
}
END_TEST

/* ------------------------------------------------------------------ rpc */

/* P2M_READ stands for any request here: the reply is the number of bytes
 * the body asks for, byte i being (i * 7 + len) & 0xff. */
static int h_bytes(struct rpc_ctx *ctx)
{
	uint32_t n;
	memcpy(&n, ctx->body, sizeof n);
	uint8_t *out = rpc_reply_alloc(ctx, n);
	if (!out)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		out[i] = (uint8_t)(i * 7 + n);
	return 0;
}

static const struct rpc_handler handlers[] = {
	{P2M_READ, 4, 4, RPC_ROLE_BIT(LEGO_ROLE_TOOL), h_bytes, RPC_H_RERUN},
};

static volatile int srv_stop;
static void *srv_loop(void *arg)
{
	struct lf_ep *eps[1] = {arg};
	rpc_loop_run(eps, 1, NULL, &srv_stop, NULL, NULL, 1000000000ull);
	return NULL;
}

static int ncompact;
static void count_data(struct lf_ep *ep, void *msg, size_t len, uint64_t data, void *arg)
{
	ncompact++;
	rpc_client_on_data(ep, msg, len, data, arg);
}

/* A send the provider could not take at once (the first one to a new shm
 * peer waits for the peers to exchange names) rings the peer's bell when
 * progress sends it: the peer, woken by the sender's first ring and with
 * nothing to read then, may be asleep again (a forked child's first
 * requests waited up to 100 ms, the daemons' longest sleep). */
START_TEST(test_pending_rings)
{
	char cname[64];
	snprintf(cname, sizeof cname, "lego-test-c.%d", (int)getpid());
	struct lf_bell rb, sb;
	ck_assert_int_eq(lf_bell_create(&rb, cname), 0); /* the client's, asleep */
	ck_assert_int_eq(lf_bell_open(&sb, cname), 0);   /* the daemon's view of it */
	static uint8_t buf[64]; /* sequence 0, zeros */
	struct sent s = {.tx = {.done = sent_done, .deadline = lg_now_ns() + 2000000000ull,
				.bell = &sb}};
	struct iovec iov = {buf, sizeof buf};
	ck_assert_int_eq(lf_sendv_nb(daemon_ep, to_client, &iov, 1, &s.tx), 0);
	unsigned kept = lf_ep_pending(daemon_ep);
	lf_bell_arm(&rb);
	for (uint64_t until = lg_now_ns() + 2000000000ull; ngot < 1 && lg_now_ns() < until;) {
		lf_progress(client_ep);
		lf_progress(daemon_ep);
	}
	ck_assert_int_eq(ngot, 1);
	char c;
	ssize_t rung = read(lf_bell_fd(&rb), &c, 1);
	lf_bell_close(&sb);
	lf_bell_close(&rb);
	if (!kept) /* this provider took it at once: the sender's own ring is all */
		return;
	ck_assert_int_eq(rung, 1);
}
END_TEST

START_TEST(test_rpc_compact)
{
	char sname[64], cname[64];
	snprintf(sname, sizeof sname, "lego-test-s.%d", (int)getpid());
	snprintf(cname, sizeof cname, "lego-test-r.%d", (int)getpid());
	struct rpc_server *srv;
	struct rpc_server_conf sc = {.name = "test", .handlers = handlers, .nhandlers = 1, .key = ""};
	ck_assert_int_eq(rpc_server_new(&sc, &srv), 0);
	struct rpc_client *cl;
	ck_assert_int_eq(rpc_client_new("", LEGO_ROLE_TOOL, &cl), 0);
	struct lf_ep *sep, *cep;
	struct lf_ep_conf s = {.prov = LEGO_PROV_SHM, .node = sname, .rx_bufs = 8,
			       .rx_size = 64 * 1024, .on_recv = rpc_server_on_recv, .arg = srv,
			       .lanes = 1};
	struct lf_ep_conf c = {.prov = LEGO_PROV_SHM, .node = cname, .rx_bufs = 8,
			       .rx_size = 64 * 1024, .on_recv = rpc_client_on_recv,
			       .on_data = count_data, .arg = cl};
	ck_assert_int_eq(lf_ep_open(&s, &sep), 0);
	ck_assert_int_eq(lf_ep_open(&c, &cep), 0);
	ck_assert_int_eq(rpc_client_add_ep(cl, cep), 0);
	srv_stop = 0;
	pthread_t t;
	ck_assert_int_eq(pthread_create(&t, NULL, srv_loop, sep), 0);
	uint8_t addr[LEGO_ADDR_MAX];
	size_t alen = sizeof addr;
	ck_assert_int_eq(lf_ep_name(sep, addr, &alen), 0);
	struct rpc_peer p;
	ck_assert_int_eq(rpc_peer_init(&p, cl, cep, addr, alen, "test server"), 0);
	ck_assert_int_eq(rpc_peer_connect(&p, 5000000000ull), 0);
	/* around the compact size (4096) less a header (48) */
	static const uint32_t sizes[] = {0, 100, 4000, 4048, 4049, 4095, 4096, 4097, 8192, 4096};
	static uint8_t rep[16384];
	ncompact = 0;
	for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
		size_t rl = 0;
		ck_assert_int_eq(rpc_call(&p, P2M_READ, &sizes[k], 4, rep, sizeof rep, &rl,
					  5000000000ull), 0);
		ck_assert_uint_eq(rl, sizes[k]);
		for (uint32_t i = 0; i < sizes[k]; i++)
			ck_assert_uint_eq(rep[i], (uint8_t)(i * 7 + sizes[k]));
	}
	ck_assert_int_eq(ncompact, 4); /* 4049, 4095 and 4096 twice */
	srv_stop = 1;
	pthread_join(t, NULL);
	rpc_client_remove_ep(cl, cep);
	lf_ep_close(cep);
	lf_ep_close(sep);
	rpc_client_free(cl);
	rpc_server_free(srv);
}
END_TEST

/* libfabric's read of /proc/kallsyms at its first fi_getinfo (main's,
 * inherited by this forked test) was refused (fabric/fiload.h), and only
 * that one: the file opens outside libfabric's calls. */
START_TEST(test_kallsyms_probe)
{
	ck_assert_uint_ge(lf_fi_probes_refused(), 1);
	FILE *f = fopen("/proc/kallsyms", "r");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	ck_assert_int_eq(lf_fi_probe_refused("/proc/kallsyms"), 0);
}
END_TEST

int main(void)
{
	if (!lf_prov_available(LEGO_PROV_SHM, NULL)) {
		printf("shm provider not available: skipped\n");
		return 77;
	}
	Suite *s = suite_create("fabric");
	TCase *tc = tcase_create("lanes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_lane_order);
	tcase_add_test(tc, test_lane_close);
	tcase_add_test(tc, test_data);
	tcase_add_test(tc, test_shm_lock);
	tcase_add_test(tc, test_pending_rings);
	suite_add_tcase(s, tc);
	TCase *tr = tcase_create("rpc");
	tcase_add_test(tr, test_rpc_compact);
	tcase_add_test(tr, test_kallsyms_probe);
	suite_add_tcase(s, tr);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
