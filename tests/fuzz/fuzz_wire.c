/*
 * fuzz_wire: what a process or daemon does with a message it receives as
 * a client: lw_check on the raw input, then rpc_client_on_recv with
 * replies to requests in flight.
 *
 * One client for the whole run (it is 2 MiB of request slots) with a test
 * peer (no endpoint: requests are "sent" at once and wait for the replies
 * the harness hands in).  Each input is a run of steps:
 *
 *   u8 step: CALL (start a request, opcode from the input), REPLY (a reply
 *   whose header is valid except as the input says, to the request picked
 *   by the input, or to a made-up id, with a body of input bytes), RAW (the
 *   input bytes as a whole message), EXPIRE (time out all in flight).
 *
 * At the end every request still waiting times out.  Each request must
 * have been answered exactly once, and no slot may stay taken.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>

#include "common/log.h"
#include "common/util.h"
#include "fabric/fabric.h"
#include "fabric/rpc.h"
#include "fuzz_input.h"

#define MAXCALLS 64

/* The client's request ids, as rpc.c hands them out: slot | generation
 * << 16, slots from a LIFO free list (0, 1, 2... at first), the slot's
 * generation one up at every use.  The harness keeps the same books, so a
 * reply can name a request in flight; a valid reply that does not answer
 * its request means the books (or the client) went wrong. */
#define SLOTS 4096
#define GEN_MAX (1u << 24)

struct call {
	uint16_t op;
	uint32_t slot;
	uint64_t req_id;
	int answers;
};

static struct rpc_client *cl;
static struct rpc_peer peer;
static struct call calls[MAXCALLS];
static uint32_t free_stack[SLOTS], nfree, gen[SLOTS];
static _Alignas(64) uint8_t msg[70000];

static void on_reply(void *arg, int status, const void *body, size_t len)
{
	struct call *c = arg;
	(void)status;
	c->answers++;
	free_stack[nfree++] = c->slot; /* the client frees it right after */
	/* the body must be readable to its last byte (ASan watches) */
	const volatile uint8_t *b = body;
	uint8_t sum = 0;
	for (size_t i = 0; i < len; i++)
		sum += b[i];
	(void)sum;
	FUZZ_CHECK(body || len == 0);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_lego_init();
	FUZZ_CHECK(rpc_client_new("fuzz", LEGO_ROLE_PROCESS, &cl) == 0);
	peer.cl = cl; /* ep NULL: a test peer */
	snprintf(peer.name, sizeof peer.name, "fuzz peer");
	peer.conn = 1;
	peer.session = 42;
	peer.connected = 1;
	for (uint32_t i = 0; i < SLOTS; i++) {
		free_stack[i] = SLOTS - 1 - i;
		gen[i] = 1;
	}
	nfree = SLOTS;
	return 0;
}

/* Start a request (opcode and a short body from the input). */
static void start_call(struct fin *f, struct call *c)
{
	uint16_t op = fin_u8(f) % LEGO_OPCODE_MAX;
	uint8_t body[64];
	size_t blen = fin_u8(f) % sizeof body;
	fin_bytes(f, body, blen);
	struct iovec iov = {body, blen};
	FUZZ_CHECK(nfree > 0);
	uint32_t slot = free_stack[--nfree];
	gen[slot] = gen[slot] + 1 >= GEN_MAX ? 1 : gen[slot] + 1;
	*c = (struct call){.op = op, .slot = slot, .req_id = (uint64_t)gen[slot] << 16 | slot};
	/* a long timeout: only EXPIRE and the end time calls out */
	int r = rpc_call_async(&peer, op, &iov, blen ? 1 : 0, 3600ull * 1000000000, on_reply, c);
	FUZZ_CHECK(r == 0);
}

/* A request id to reply to: a call's, or made up. */
static int pick_call(struct fin *f, int ncalls, uint64_t *id)
{
	uint8_t b = fin_u8(f);
	if (!ncalls || (b & 0x80)) {
		*id = b & 0x40 ? fin_u64(f) : b;
		for (int i = 0; i < ncalls; i++)
			if (calls[i].req_id == *id && !calls[i].answers)
				return i;
		return -1;
	}
	int k = b % ncalls;
	*id = calls[k].req_id;
	return calls[k].answers ? -1 : k;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	lw_check(data, size);
	struct fin f = {data, size};
	int ncalls = 0;
	for (int steps = 0; fin_left(&f) && steps < 128; steps++) {
		uint8_t step = fin_u8(&f);
		switch (step & 3) {
		case 0: /* CALL */
			if (ncalls < MAXCALLS) {
				unsigned before = rpc_client_inflight(cl);
				start_call(&f, &calls[ncalls++]);
				FUZZ_CHECK(rpc_client_inflight(cl) == before + 1);
			}
			break;
		case 1: { /* REPLY */
			struct lego_hdr h;
			uint64_t id;
			int k = pick_call(&f, ncalls, &id);
			uint8_t how = fin_u8(&f);
			uint16_t op = k >= 0 && !(how & 1) ? calls[k].op : fin_u8(&f);
			size_t blen = fin_u16(&f) % (sizeof msg - sizeof h);
			lw_hdr_init(&h, op, (uint32_t)(sizeof h + blen), id);
			h.flags = how & 2 ? 0 : LEGO_F_REPLY;
			h.status = how & 4 ? -(int32_t)fin_u8(&f) : 0;
			if (how & 8)
				h.version = (uint16_t)fin_u8(&f);
			if (how & 16)
				h.len = fin_u32(&f);
			if (how & 32)
				h.flags |= (uint32_t)fin_u8(&f) << 1;
			memcpy(msg, &h, sizeof h);
			fin_bytes(&f, msg + sizeof h, blen);
			if (!(how & 128)) { /* else as damaged on the way: no CRC */
				struct iovec body = {msg + sizeof h, blen};
				lw_seal((struct lego_hdr *)msg, &body, 1);
			}
			size_t len = sizeof h + blen;
			if (how & 64)
				len = fin_u8(&f) % (len + 1); /* cut short */
			int was = k >= 0 ? calls[k].answers : 0;
			rpc_client_on_recv(NULL, msg, len, cl);
			/* a reply to it, of its opcode and well formed, answers it
			 * (another version is a refusal, and counts too) */
			if (k >= 0 && lw_check(msg, len) == LW_OK && h.flags == LEGO_F_REPLY &&
			    h.opcode == calls[k].op)
				FUZZ_CHECK(calls[k].answers == was + 1);
			break;
		}
		case 2: { /* RAW */
			size_t len = fin_u16(&f) % sizeof msg;
			fin_bytes(&f, msg, len);
			rpc_client_on_recv(NULL, msg, len, cl);
			break;
		}
		case 3: /* EXPIRE */
			rpc_peer_expire(&peer);
			rpc_client_progress(cl);
			for (int i = 0; i < ncalls; i++)
				FUZZ_CHECK(calls[i].answers == 1);
			break;
		}
		for (int i = 0; i < ncalls; i++)
			FUZZ_CHECK(calls[i].answers <= 1);
	}
	/* the end: everything still waiting times out, every slot is free */
	rpc_peer_expire(&peer);
	rpc_client_progress(cl);
	for (int i = 0; i < ncalls; i++)
		FUZZ_CHECK(calls[i].answers == 1);
	FUZZ_CHECK(rpc_client_inflight(cl) == 0);
	FUZZ_CHECK(nfree == SLOTS);
	return 0;
}
