/*
 * Driving a daemon's RPC server without a fabric: test connections
 * (rpc_server_test_conn) of each role, and messages built as a peer would,
 * their header valid (CRC included) unless the input asks for one corruption
 * or another.
 * Replies go nowhere (the server drops them: no endpoint).
 */
#ifndef LEGO_FUZZ_SERVER_H
#define LEGO_FUZZ_SERVER_H

#include "common/auth.h"
#include "fabric/rpc.h"
#include "fuzz_input.h"

struct fz_conn {
	uint32_t id;
	uint64_t session;
};

/* The message buffer: header, then the body the harness writes at
 * fz_body(). */
static _Alignas(64) uint8_t fz_msg[LEGO_MSG_MAX + 64];

static inline uint8_t *fz_body(void) { return fz_msg + sizeof(struct lego_hdr); }

/* A pick byte (each message's first) of 0xff is always a raw message: an
 * opcode byte and a raw body follow.  Seeds recorded from real traffic
 * (scripts/fuzz-seeds.py) are made of those. */
#define FZ_PICK_RAW 0xff

/* A body of raw input bytes: u16 length (below max), then the bytes. */
static inline size_t fz_raw_body(struct fin *f, size_t max)
{
	size_t blen = fin_u16(f) % max;
	fin_bytes(f, fz_body(), blen);
	return blen;
}

/* Open one test connection per entry of roles[]; abort if the table is
 * too small (a harness bug). */
static inline void fz_conns_open(struct rpc_server *srv, const uint32_t *roles, int n,
				 struct fz_conn *out)
{
	for (int i = 0; i < n; i++)
		FUZZ_CHECK(rpc_server_test_conn(srv, roles[i], &out[i].id, &out[i].session) == 0);
}

/* Hand opcode op with the blen-byte body at fz_body() to the server, as
 * connection c sends it.  bad != 0 corrupts the header, the way its low
 * four bits say (the rest is a parameter). */
static inline void fz_send(struct rpc_server *srv, const struct fz_conn *c, uint16_t op,
			   size_t blen, uint8_t bad)
{
	struct lego_hdr *h = (struct lego_hdr *)fz_msg;
	size_t len = sizeof *h + blen;
	static uint64_t n;
	/* request ids as a client makes them (proto.h): each a new one */
	n++;
	lw_hdr_init(h, op, (uint32_t)len,
		    (n / LEGO_REQ_SLOTS % 0xffffff + 1) << 16 | n % LEGO_REQ_SLOTS);
	h->conn = c->id;
	h->session = c->session;
	switch (bad & 15) {
	case 0: break;
	case 1: h->session ^= 1ull << (bad >> 4); break;
	case 2: h->conn = bad >> 4; break; /* 0, another's, or none */
	case 3: h->len += 1u + (bad >> 4); break;
	case 4: h->flags = LEGO_F_REPLY; break;
	case 5: h->flags = 1u << (bad >> 4); break;
	case 6: h->version = (uint16_t)(LEGO_PROTO_VERSION + 1 + (bad >> 4)); break;
	case 7: h->magic ^= 1u << (bad >> 4); break;
	case 8: len = (bad >> 4) * 3u; break; /* shorter than a header */
	case 9: h->opcode = (bad >> 4) & 1 ? 0 : (uint16_t)(LEGO_OPCODE_MAX + (bad >> 4)); break;
	case 10: h->opcode = (uint16_t)(bad >> 4); break; /* a low opcode, HELLO aside */
	case 11: h->req_id ^= 1ull << (bad >> 4 << 2); break; /* a repeat, or no such id */
	case 12: break; /* damaged after the CRC, below */
	default: len = len > sizeof *h ? len - 1 : len; break; /* one byte short */
	}
	struct iovec body = {fz_body(), blen};
	lw_seal(h, &body, 1);
	if ((bad & 15) == 12) /* damaged on the way */
		fz_msg[(bad >> 4) % len] ^= 0x20;
	rpc_server_on_recv(NULL, fz_msg, len, srv);
}

/* A handshake as a peer makes it, from input bytes: a HELLO (a role, an
 * address of any length, a nonce; its header corrupted if the input says
 * so), then, unless the input says not, an AUTH to connection first_free
 * or the one after (the HELLO's, if the table had no gap) with the proof
 * for key (rpc.h: a test handshake's server nonce is its connection id),
 * or a wrong one. */
static inline void fz_handshake(struct rpc_server *srv, struct fin *f, const char *key,
				uint32_t first_free)
{
	uint8_t b = fin_u8(f);
	struct lego_hello_req req;
	memset(&req, 0, sizeof req);
	req.role = 1u + b % 5u; /* 5: no such role */
	req.prov = LEGO_PROV_TCP;
	req.addr_len = b & 0x80 ? fin_u16(f) : 16;
	fin_bytes(f, req.addr, sizeof req.addr);
	fin_bytes(f, req.nonce, LEGO_NONCE_LEN);
	memcpy(fz_body(), &req, sizeof req);
	struct fz_conn none = {0, 0};
	fz_send(srv, &none, X2X_HELLO, sizeof req, b & 0x40 ? fin_u8(f) : 0);
	if (b & 0x20)
		return;
	uint32_t id = first_free + ((b >> 3) & 1u);
	uint8_t sn[LEGO_NONCE_LEN] = {0};
	memcpy(sn, &id, sizeof id);
	struct lego_auth_req auth;
	lg_hmac(key, strlen(key), "lego-c", sn, LEGO_NONCE_LEN, req.nonce, LEGO_NONCE_LEN,
		auth.proof);
	if (b & 0x10)
		auth.proof[0] ^= 1; /* a peer without the key */
	memcpy(fz_body(), &auth, sizeof auth);
	struct fz_conn c = {id, 0};
	fz_send(srv, &c, X2X_AUTH, sizeof auth, 0);
}

#endif
