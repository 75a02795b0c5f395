/*
 * Lanes (fabric.h), with two real shm endpoints in this process: a
 * "daemon" endpoint with lanes and a "client" endpoint.  The daemon's large
 * messages go on the client's lane and small ones from the endpoint itself,
 * and the client still gets them all in the order sent; closing the lane
 * removes its shm file, and a large message after that makes a new lane.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "fabric/fabric.h"

#define NMSG 64

static int got[NMSG], ngot;

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
			       .rx_size = 64 * 1024, .on_recv = on_recv};
	ck_assert_int_eq(lf_ep_open(&d, &daemon_ep), 0);
	ck_assert_int_eq(lf_ep_open(&c, &client_ep), 0);
	uint8_t addr[LEGO_ADDR_MAX];
	size_t len = sizeof addr;
	ck_assert_int_eq(lf_ep_name(client_ep, addr, &len), 0);
	ck_assert_int_eq(lf_av_insert(daemon_ep, addr, len, &to_client), 0);
	ngot = 0;
}

static void teardown(void)
{
	lf_ep_close(daemon_ep);
	lf_ep_close(client_ep);
}

/* Send seq with len bytes from the daemon and wait for the send to finish
 * (driving both endpoints, as both processes would). */
static void send_wait(uint32_t seq, size_t len)
{
	static uint8_t buf[16384];
	memset(buf, (uint8_t)seq, len);
	memcpy(buf, &seq, sizeof seq);
	struct sent s = {.tx = {.done = sent_done, .deadline = lg_now_ns() + 2000000000ull}};
	struct iovec iov = {buf, len};
	ck_assert_int_eq(lf_sendv_nb(daemon_ep, to_client, &iov, 1, &s.tx), 0);
	for (uint64_t until = lg_now_ns() + 2000000000ull; !s.done && lg_now_ns() < until;) {
		lf_progress(client_ep);
		lf_progress(daemon_ep);
	}
	ck_assert_int_eq(s.done, 1);
	ck_assert_int_eq(s.err, 0);
}

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
		ck_assert_uint_eq(lf_lanes_open(daemon_ep), i % 6 >= 1 || i >= 6 ? 1 : 0);
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
	ck_assert_uint_eq(lf_lanes_open(daemon_ep), 0); /* small: no lane */
	ck_assert(!lane_file(0));
	send_wait(1, 8192);
	ck_assert_uint_eq(lf_lanes_open(daemon_ep), 1);
	ck_assert(lane_file(0));
	lf_lane_close(daemon_ep, to_client);
	ck_assert_uint_eq(lf_lanes_open(daemon_ep), 0);
	ck_assert(!lane_file(0));
	send_wait(2, 8192); /* a new one */
	ck_assert_uint_eq(lf_lanes_open(daemon_ep), 1);
	ck_assert(lane_file(1));
	for (uint64_t until = lg_now_ns() + 1000000000ull; ngot < 3 && lg_now_ns() < until;)
		lf_progress(client_ep);
	ck_assert_int_eq(ngot, 3);
	ck_assert_int_eq(got[2], 2);
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
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
