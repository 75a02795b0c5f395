/*
 * Unit tests for the wire codec (fabric/wire.h) and the message layout
 * (include/lego/proto.h): lw_check on valid and malformed headers, a
 * random-bytes loop against an independent reference check (CRC32C
 * included, from a bitwise reference), lw_hdr_init,
 * lw_opcode_name, the reject names, and the size and field offsets of every
 * wire struct.
 */
#define _GNU_SOURCE
#include <check.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fabric/wire.h"
#include "lego/proto.h"

/* A message buffer big enough for a header plus a small body. */
static _Alignas(8) uint8_t msgbuf[256];

static struct lego_hdr *valid_msg(uint16_t opcode, uint32_t len)
{
	memset(msgbuf, 0, sizeof msgbuf);
	lw_hdr_init((struct lego_hdr *)msgbuf, opcode, len, 42);
	return (struct lego_hdr *)msgbuf;
}

/* Set the CRC of the len-byte message at m (header, then body). */
static void seal(void *m, size_t len)
{
	struct iovec b = {(uint8_t *)m + sizeof(struct lego_hdr), len - sizeof(struct lego_hdr)};
	lw_seal(m, &b, 1);
}

/* CRC32C bit by bit (reflected polynomial 0x82f63b78), for reference. */
static uint32_t ref_crc32c(const uint8_t *p, size_t n)
{
	uint32_t c = 0xffffffffu;
	for (size_t i = 0; i < n; i++) {
		c ^= p[i];
		for (int k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
	}
	return ~c;
}

/* --- lw_check ---------------------------------------------------------- */

START_TEST(test_check_valid)
{
	valid_msg(P2M_READ, sizeof(struct lego_hdr));
	seal(msgbuf, sizeof(struct lego_hdr));
	ck_assert_int_eq(lw_check(msgbuf, sizeof(struct lego_hdr)), LW_OK);
	valid_msg(X2X_PING, 100);
	seal(msgbuf, 100);
	ck_assert_int_eq(lw_check(msgbuf, 100), LW_OK);
	/* a reply is valid too */
	struct lego_hdr *h = valid_msg(X2X_HELLO, 64);
	h->flags = LEGO_F_REPLY;
	h->status = -5;
	seal(msgbuf, 64);
	ck_assert_int_eq(lw_check(msgbuf, 64), LW_OK);
	/* the largest opcode in range */
	valid_msg(LEGO_OPCODE_MAX - 1, 48);
	seal(msgbuf, 48);
	ck_assert_int_eq(lw_check(msgbuf, 48), LW_OK);
	/* without its CRC, no */
	h->crc = 0;
	ck_assert_int_eq(lw_check(msgbuf, 48), LW_CRC);
}
END_TEST

START_TEST(test_check_short)
{
	valid_msg(X2X_PING, 48);
	ck_assert_int_eq(lw_check(msgbuf, 0), LW_SHORT);
	ck_assert_int_eq(lw_check(msgbuf, 1), LW_SHORT);
	ck_assert_int_eq(lw_check(msgbuf, 47), LW_SHORT);
	/* even when the header claims that short length */
	valid_msg(X2X_PING, 47);
	ck_assert_int_eq(lw_check(msgbuf, 47), LW_SHORT);
}
END_TEST

START_TEST(test_check_magic)
{
	struct lego_hdr *h = valid_msg(X2X_PING, 48);
	h->magic = 0;
	ck_assert_int_eq(lw_check(msgbuf, 48), LW_MAGIC);
	h->magic = LEGO_PROTO_MAGIC ^ 0x01000000u;
	ck_assert_int_eq(lw_check(msgbuf, 48), LW_MAGIC);
	h->magic = __builtin_bswap32(LEGO_PROTO_MAGIC); /* other byte order */
	ck_assert_int_eq(lw_check(msgbuf, 48), LW_MAGIC);
	/* the magic is "LEGO" in memory, little-endian */
	valid_msg(X2X_PING, 48);
	ck_assert_int_eq(memcmp(msgbuf, "LEGO", 4), 0);
}
END_TEST

START_TEST(test_check_version)
{
	struct lego_hdr *h = valid_msg(X2X_PING, 48);
	h->version = 0;
	ck_assert_int_eq(lw_check(msgbuf, 48), LW_VERSION);
	h->version = LEGO_PROTO_VERSION + 1;
	ck_assert_int_eq(lw_check(msgbuf, 48), LW_VERSION);
	h->version = 0xffff;
	ck_assert_int_eq(lw_check(msgbuf, 48), LW_VERSION);
}
END_TEST

START_TEST(test_check_length)
{
	valid_msg(X2X_PING, 100);
	ck_assert_int_eq(lw_check(msgbuf, 99), LW_LENGTH);
	ck_assert_int_eq(lw_check(msgbuf, 101), LW_LENGTH);
	ck_assert_int_eq(lw_check(msgbuf, 48), LW_LENGTH);
	valid_msg(X2X_PING, 0);
	ck_assert_int_eq(lw_check(msgbuf, 48), LW_LENGTH);
	valid_msg(X2X_PING, 48);
	ck_assert_int_eq(lw_check(msgbuf, 100), LW_LENGTH);
}
END_TEST

START_TEST(test_check_too_long)
{
	/* declared and received lengths agree but exceed LEGO_MSG_MAX */
	size_t big = (size_t)LEGO_MSG_MAX + 1;
	uint8_t *m = calloc(1, big);
	ck_assert_ptr_nonnull(m);
	lw_hdr_init((struct lego_hdr *)m, P2M_WRITE, (uint32_t)big, 1);
	ck_assert_int_eq(lw_check(m, big), LW_LENGTH);
	/* exactly LEGO_MSG_MAX is fine */
	lw_hdr_init((struct lego_hdr *)m, P2M_WRITE, LEGO_MSG_MAX, 1);
	seal(m, LEGO_MSG_MAX);
	ck_assert_int_eq(lw_check(m, LEGO_MSG_MAX), LW_OK);
	free(m);
	/* a received length that wraps the 32-bit field never matches */
	valid_msg(X2X_PING, 48);
	ck_assert_int_eq(lw_check(msgbuf, (size_t)48 + (1ull << 32)), LW_LENGTH);
}
END_TEST

START_TEST(test_check_flags)
{
	struct lego_hdr *h = valid_msg(X2X_PING, 48);
	h->flags = 0x4;
	ck_assert_int_eq(lw_check(msgbuf, 48), LW_FLAGS);
	h->flags = LEGO_F_REPLY | LEGO_F_COMPACT; /* compact is for requests */
	ck_assert_int_eq(lw_check(msgbuf, 48), LW_FLAGS);
	h->flags = LEGO_F_COMPACT;
	lw_seal(h, NULL, 0);
	ck_assert_int_eq(lw_check(msgbuf, 48), LW_OK);
	h->flags = LEGO_F_REPLY | 0x80000000u;
	ck_assert_int_eq(lw_check(msgbuf, 48), LW_FLAGS);
	h->flags = 0xffffffffu;
	ck_assert_int_eq(lw_check(msgbuf, 48), LW_FLAGS);
}
END_TEST

START_TEST(test_check_opcode)
{
	valid_msg(0, 48);
	ck_assert_int_eq(lw_check(msgbuf, 48), LW_OPCODE);
	valid_msg(LEGO_OPCODE_MAX, 48);
	ck_assert_int_eq(lw_check(msgbuf, 48), LW_OPCODE);
	valid_msg(LEGO_OPCODE_MAX + 1, 48);
	ck_assert_int_eq(lw_check(msgbuf, 48), LW_OPCODE);
	valid_msg(0xffff, 48);
	ck_assert_int_eq(lw_check(msgbuf, 48), LW_OPCODE);
}
END_TEST

START_TEST(test_check_unaligned)
{
	/* lw_check copies the header: any alignment of the buffer works */
	static uint8_t raw[64 + 8];
	for (int off = 0; off < 8; off++) {
		static _Alignas(8) uint8_t m[64];
		memset(m, 0, sizeof m);
		lw_hdr_init((struct lego_hdr *)m, P2M_FREE, 64, 7);
		seal(m, 64); /* (an aligned header: lw_seal's is a struct) */
		memset(raw, 0, sizeof raw);
		memcpy(raw + off, m, sizeof m);
		ck_assert_int_eq(lw_check(raw + off, 64), LW_OK);
	}
}
END_TEST

/* Reference check written from proto.h, independent of lw_check. */
static enum lw_reject ref_check(const uint8_t *m, size_t len)
{
	if (len < 48)
		return LW_SHORT;
	uint32_t magic = (uint32_t)m[0] | (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 |
			 (uint32_t)m[3] << 24;
	uint16_t version = (uint16_t)(m[4] | m[5] << 8);
	uint16_t opcode = (uint16_t)(m[6] | m[7] << 8);
	uint32_t hlen = (uint32_t)m[8] | (uint32_t)m[9] << 8 | (uint32_t)m[10] << 16 |
			(uint32_t)m[11] << 24;
	uint32_t flags = (uint32_t)m[28] | (uint32_t)m[29] << 8 | (uint32_t)m[30] << 16 |
			 (uint32_t)m[31] << 24;
	uint32_t crc = (uint32_t)m[40] | (uint32_t)m[41] << 8 | (uint32_t)m[42] << 16 |
		       (uint32_t)m[43] << 24;
	uint8_t *z = malloc(len);
	memcpy(z, m, len);
	memset(z + 40, 0, 4);
	int crc_ok = ref_crc32c(z, len) == crc;
	free(z);
	if (magic != 0x4f47454cu)
		return LW_MAGIC;
	if (version != LEGO_PROTO_VERSION)
		return crc == 0 || (hlen == len && crc_ok) ? LW_VERSION : LW_CRC;
	if (hlen != len || len > LEGO_MSG_MAX)
		return LW_LENGTH;
	/* known: 1 (reply) and 2 (compact, requests only) */
	if ((flags & ~3u) || flags == 3)
		return LW_FLAGS;
	if (opcode == 0 || opcode >= 96)
		return LW_OPCODE;
	return crc_ok ? LW_OK : LW_CRC;
}

START_TEST(test_check_fuzz)
{
	/* Random bytes of random length, and random mutations of a valid
	 * header: lw_check never crashes or reads past len (each message sits
	 * in its own exactly-sized allocation) and agrees with ref_check. */
	uint64_t x = 0x9e3779b97f4a7c15ull;
	int ok = 0;
	for (int it = 0; it < 200000; it++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size_t len = (size_t)(x % 160);
		uint8_t *m = malloc(len ? len : 1);
		ck_assert_ptr_nonnull(m);
		uint64_t y = x;
		for (size_t i = 0; i < len; i++) {
			y = y * 6364136223846793005ull + 1442695040888963407ull;
			m[i] = (uint8_t)(y >> 56);
		}
		if ((it & 1) && len >= 48) {
			/* mostly valid: then flip zero or one field */
			struct lego_hdr h;
			lw_hdr_init(&h, (uint16_t)(y >> 8) % 110, (uint32_t)len, y);
			h.flags = (y >> 20) & 3 ? (uint32_t)((y >> 22) & 1) : (uint32_t)(y >> 24);
			memcpy(m, &h, sizeof h);
			seal(m, len);
			switch ((y >> 40) % 8) {
			case 0: m[(y >> 44) % 48] ^= (uint8_t)(1u << ((y >> 50) % 8)); break;
			case 1: m[8] ^= 1; break;
			case 2: m[(y >> 44) % len] ^= (uint8_t)(1u << ((y >> 50) % 8)); break;
			default: break;
			}
		}
		enum lw_reject want = ref_check(m, len);
		enum lw_reject got = lw_check(m, len);
		ck_assert_msg(got == want, "iteration %d len %zu: lw_check %d, expected %d", it,
			      len, got, want);
		ok += got == LW_OK;
		free(m);
	}
	/* the loop did exercise the accepting path */
	ck_assert_int_gt(ok, 1000);
}
END_TEST

/* --- lw_hdr_init ------------------------------------------------------- */

START_TEST(test_hdr_init)
{
	struct lego_hdr h;
	memset(&h, 0xee, sizeof h);
	lw_hdr_init(&h, P2M_WRITE, 4096 + 64, 0x1122334455667788ull);
	ck_assert_uint_eq(h.magic, LEGO_PROTO_MAGIC);
	ck_assert_uint_eq(h.version, LEGO_PROTO_VERSION);
	ck_assert_uint_eq(h.opcode, P2M_WRITE);
	ck_assert_uint_eq(h.len, 4096 + 64);
	ck_assert_uint_eq(h.req_id, 0x1122334455667788ull);
	ck_assert_int_eq(h.status, 0);
	ck_assert_uint_eq(h.conn, 0);
	ck_assert_uint_eq(h.flags, 0);
	ck_assert_uint_eq(h.session, 0);
	ck_assert_uint_eq(h.crc, 0);
	ck_assert_uint_eq(h.pad, 0);
	/* and what it builds passes the check */
	uint8_t *m = calloc(1, 4096 + 64);
	ck_assert_ptr_nonnull(m);
	memcpy(m, &h, sizeof h);
	seal(m, 4096 + 64);
	ck_assert_int_eq(lw_check(m, 4096 + 64), LW_OK);
	free(m);
}
END_TEST

/* --- CRC32C ------------------------------------------------------------ */

START_TEST(test_crc32c)
{
	/* the check value of CRC32C (iSCSI, RFC 3720) */
	ck_assert_uint_eq(lw_crc32c(0, "123456789", 9), 0xe3069283u);
	ck_assert_uint_eq(lw_crc32c(0, "", 0), 0);
	/* continued in pieces = at once = the bitwise reference */
	static uint8_t b[10000];
	for (size_t i = 0; i < sizeof b; i++)
		b[i] = (uint8_t)(i * 7 + (i >> 5));
	uint32_t whole = lw_crc32c(0, b, sizeof b);
	ck_assert_uint_eq(whole, ref_crc32c(b, sizeof b));
	uint32_t part = lw_crc32c(0, b, 1);
	part = lw_crc32c(part, b + 1, 4095);
	part = lw_crc32c(part, b + 4096, sizeof b - 4096);
	ck_assert_uint_eq(part, whole);
	/* lw_seal over pieces of a body = over the message at once */
	uint8_t *m = calloc(1, 48 + sizeof b);
	ck_assert_ptr_nonnull(m);
	lw_hdr_init((struct lego_hdr *)m, P2M_WRITE, 48 + sizeof b, 9);
	memcpy(m + 48, b, sizeof b);
	struct iovec v[2] = {{b, 100}, {b + 100, sizeof b - 100}};
	lw_seal((struct lego_hdr *)m, v, 2);
	uint32_t got = ((struct lego_hdr *)m)->crc;
	((struct lego_hdr *)m)->crc = 0;
	ck_assert_uint_eq(got, ref_crc32c(m, 48 + sizeof b));
	((struct lego_hdr *)m)->crc = got;
	ck_assert_int_eq(lw_check(m, 48 + sizeof b), LW_OK);
	/* any one bit flipped anywhere is caught */
	for (size_t bit = 0; bit < (48 + sizeof b) * 8; bit += 97) {
		m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		ck_assert_int_ne(lw_check(m, 48 + sizeof b), LW_OK);
		m[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	ck_assert_int_eq(lw_check(m, 48 + sizeof b), LW_OK);
	free(m);
}
END_TEST

/* Joined CRCs equal the CRC over the concatenation: a buffer of 10 000
 * bytes cut in two at ten places from 0 to 10 000 (around 4 KiB too), and
 * cut into 4 KiB lines joined one by one, by polynomial and by table; and
 * lw_seal_known seals exactly as lw_seal. */
START_TEST(test_crc32c_join)
{
	static uint8_t b[10000];
	for (size_t i = 0; i < sizeof b; i++)
		b[i] = (uint8_t)(i * 13 + (i >> 7) + 1);
	uint32_t whole = lw_crc32c(0, b, sizeof b);
	ck_assert_uint_eq(lw_crc32c_shift(0), 1u << 31); /* x^0: joining nothing */
	size_t cuts[] = {0, 1, 7, 100, 4095, 4096, 4097, 5000, 9999, sizeof b};
	for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
		size_t k = cuts[i];
		uint32_t a = lw_crc32c(0, b, k), z = lw_crc32c(0, b + k, sizeof b - k);
		ck_assert_uint_eq(lw_crc32c_join(a, z, lw_crc32c_shift(sizeof b - k)), whole);
	}
	/* lines of 4 KiB joined one by one, as a write-back does */
	uint32_t sh = lw_crc32c_shift(4096), acc = lw_crc32c(0, b, 1808);
	for (size_t at = 1808; at < sizeof b; at += 4096)
		acc = lw_crc32c_join(acc, lw_crc32c(0, b + at, 4096), sh);
	ck_assert_uint_eq(acc, whole);
	/* the same by table */
	static struct lw_crc_joiner j;
	lw_crc32c_joiner_init(&j, 4096);
	acc = lw_crc32c(0, b, 1808);
	for (size_t at = 1808; at < sizeof b; at += 4096)
		acc = lw_crc32c_join_fixed(&j, acc, lw_crc32c(0, b + at, 4096));
	ck_assert_uint_eq(acc, whole);
	/* a wrong part gives a wrong whole */
	ck_assert_uint_ne(lw_crc32c_join(lw_crc32c(0, b, 5000), lw_crc32c(0, b + 5000, 4999),
					 lw_crc32c_shift(5000)),
			  whole);
	struct lego_hdr h1, h2;
	lw_hdr_init(&h1, P2M_WRITE, sizeof h1 + sizeof b, 11);
	h2 = h1;
	struct iovec v[3] = {{b, 24}, {b + 24, 40}, {b + 64, sizeof b - 64}};
	lw_seal(&h1, v, 3);
	lw_seal_known(&h2, v, 3, lw_crc32c(0, b + 64, sizeof b - 64));
	ck_assert_uint_eq(h2.crc, h1.crc);
	h2.crc = 0;
	lw_seal_known(&h2, v, 1, lw_crc32c(0, b, 24));
	lw_seal(&h1, v, 1);
	ck_assert_uint_eq(h2.crc, h1.crc);
}
END_TEST

START_TEST(test_check_crc_version)
{
	/* an older peer (no CRC) is told about versions; a version changed
	 * on the way (the CRC no longer holds) is damage */
	struct lego_hdr *h = valid_msg(X2X_HELLO, 64);
	h->version = 4;
	ck_assert_int_eq(lw_check(msgbuf, 64), LW_VERSION);
	h = valid_msg(X2X_HELLO, 64);
	seal(msgbuf, 64);
	h->version ^= 1;
	ck_assert_int_eq(lw_check(msgbuf, 64), LW_CRC);
	/* a newer peer with a valid CRC: a version matter */
	h = valid_msg(X2X_HELLO, 64);
	h->version = LEGO_PROTO_VERSION + 1;
	seal(msgbuf, 64);
	ck_assert_int_eq(lw_check(msgbuf, 64), LW_VERSION);
}
END_TEST

/* --- names ------------------------------------------------------------- */

START_TEST(test_opcode_name)
{
	ck_assert_str_eq(lw_opcode_name(X2X_HELLO), "hello");
	ck_assert_str_eq(lw_opcode_name(X2X_AUTH), "auth");
	ck_assert_str_eq(lw_opcode_name(X2X_PING), "ping");
	ck_assert_str_eq(lw_opcode_name(P2MON_REGISTER), "p2mon_register");
	ck_assert_str_eq(lw_opcode_name(M2MON_HEARTBEAT), "m2mon_heartbeat");
	ck_assert_str_eq(lw_opcode_name(P2M_READ), "p2m_read");
	ck_assert_str_eq(lw_opcode_name(P2M_WRITE), "p2m_write");
	ck_assert_str_eq(lw_opcode_name(P2M_AS_EXIT), "p2m_as_exit");
	ck_assert_str_eq(lw_opcode_name(0), "?");
	ck_assert_str_eq(lw_opcode_name(6), "?");
	ck_assert_str_eq(lw_opcode_name(LEGO_OPCODE_MAX), "?");
	ck_assert_str_eq(lw_opcode_name(0xffffffffu), "?");
	/* every opcode below the maximum has a distinct name or "?" */
	int named = 0;
	for (unsigned a = 0; a < LEGO_OPCODE_MAX; a++) {
		const char *na = lw_opcode_name(a);
		ck_assert_ptr_nonnull(na);
		if (strcmp(na, "?") == 0)
			continue;
		named++;
		for (unsigned b = a + 1; b < LEGO_OPCODE_MAX; b++)
			ck_assert_str_ne(na, lw_opcode_name(b));
	}
	ck_assert_int_eq(named, 44);
}
END_TEST

START_TEST(test_reject_names)
{
	for (int i = 0; i < LW_REJECT__COUNT; i++) {
		ck_assert_ptr_nonnull(lw_reject_names[i]);
		ck_assert_int_gt(strlen(lw_reject_names[i]), 0);
	}
	ck_assert_str_eq(lw_reject_names[LW_OK], "ok");
	ck_assert_str_eq(lw_reject_names[LW_SHORT], "short");
	ck_assert_str_eq(lw_reject_names[LW_FLAGS], "flags");
}
END_TEST

/* --- struct layout ----------------------------------------------------- */

START_TEST(test_struct_sizes)
{
	ck_assert_uint_eq(sizeof(struct lego_hdr), 48);
	ck_assert_uint_eq(sizeof(struct lego_hello_req), 144);
	ck_assert_uint_eq(sizeof(struct lego_hello_rep), 72);
	ck_assert_uint_eq(sizeof(struct lego_auth_req), 32);
	ck_assert_uint_eq(sizeof(struct lego_node_addr), 208);
	ck_assert_uint_eq(sizeof(struct lego_p2mon_register_req), 128);
	ck_assert_uint_eq(sizeof(struct lego_as_ref), 40);
	ck_assert_uint_eq(sizeof(struct lego_p2mon_register_rep), 48);
	ck_assert_uint_eq(sizeof(struct lego_p2mon_as_req), 48);
	ck_assert_uint_eq(sizeof(struct lego_clone_req), 80);
	ck_assert_uint_eq(sizeof(struct lego_p2mon_place_req), 48);
	ck_assert_uint_eq(sizeof(struct lego_p2mon_place_rep), 424);
	ck_assert_uint_eq(sizeof(struct lego_m2mon_register_req), 216);
	ck_assert_uint_eq(sizeof(struct lego_m2mon_register_rep), 40);
	ck_assert_uint_eq(sizeof(struct lego_m2mon_heartbeat_req), 56);
	ck_assert_uint_eq(sizeof(struct lego_m2mon_heartbeat_rep), 520);
	ck_assert_uint_eq(sizeof(struct lego_line_ref), 16);
	ck_assert_uint_eq(sizeof(struct lego_lines_req), 48);
	ck_assert_uint_eq(sizeof(struct lego_free_req), 56);
	ck_assert_uint_eq(sizeof(struct lego_reserve_req), 48);
	ck_assert_uint_eq(sizeof(struct lego_reserve_rep), 8);
	ck_assert_uint_eq(sizeof(struct lego_count_rep), 8);
}
END_TEST

START_TEST(test_struct_offsets)
{
	/* The header's fields sit where the protocol says, with no holes. */
	ck_assert_uint_eq(offsetof(struct lego_hdr, magic), 0);
	ck_assert_uint_eq(offsetof(struct lego_hdr, version), 4);
	ck_assert_uint_eq(offsetof(struct lego_hdr, opcode), 6);
	ck_assert_uint_eq(offsetof(struct lego_hdr, len), 8);
	ck_assert_uint_eq(offsetof(struct lego_hdr, status), 12);
	ck_assert_uint_eq(offsetof(struct lego_hdr, req_id), 16);
	ck_assert_uint_eq(offsetof(struct lego_hdr, conn), 24);
	ck_assert_uint_eq(offsetof(struct lego_hdr, flags), 28);
	ck_assert_uint_eq(offsetof(struct lego_hdr, session), 32);
	ck_assert_uint_eq(offsetof(struct lego_hdr, crc), 40);
	ck_assert_uint_eq(offsetof(struct lego_hdr, pad), 44);

	ck_assert_uint_eq(offsetof(struct lego_as_ref, cap), 8);
	ck_assert_uint_eq(offsetof(struct lego_as_ref, line_order), 24);
	ck_assert_uint_eq(offsetof(struct lego_as_ref, quota), 32);
	ck_assert_uint_eq(offsetof(struct lego_hello_req, nonce), 16);
	ck_assert_uint_eq(offsetof(struct lego_hello_req, addr), 48);
	ck_assert_uint_eq(offsetof(struct lego_node_addr, net), 8);
	ck_assert_uint_eq(offsetof(struct lego_node_addr, shm), 104);
	ck_assert_uint_eq(offsetof(struct lego_node_addr, host_id), 168);
	ck_assert_uint_eq(offsetof(struct lego_lines_req, count), 40);
	ck_assert_uint_eq(offsetof(struct lego_free_req, first_line), 40);
	ck_assert_uint_eq(offsetof(struct lego_free_req, nr_lines), 48);
	ck_assert_uint_eq(offsetof(struct lego_reserve_req, delta), 40);
	ck_assert_uint_eq(offsetof(struct lego_m2mon_heartbeat_rep, free_as), 8);
	ck_assert_uint_eq(offsetof(struct lego_p2mon_place_rep, node), 8);

	/* limits the rest of the code relies on */
	ck_assert_uint_ge(LEGO_MSG_MAX, LEGO_MSG_PAYLOAD_MAX + sizeof(struct lego_hdr) +
						sizeof(struct lego_lines_req) +
						LEGO_BATCH_MAX * sizeof(struct lego_line_ref));
	ck_assert_uint_eq(LEGO_MSG_PAYLOAD_MAX, 2u << 20);
}
END_TEST

static Suite *wire_suite(void)
{
	Suite *s = suite_create("wire");
	TCase *tc;

	tc = tcase_create("check_valid");
	tcase_add_test(tc, test_check_valid);
	tcase_add_test(tc, test_check_unaligned);
	suite_add_tcase(s, tc);

	tc = tcase_create("check_short");
	tcase_add_test(tc, test_check_short);
	suite_add_tcase(s, tc);

	tc = tcase_create("check_magic_version");
	tcase_add_test(tc, test_check_magic);
	tcase_add_test(tc, test_check_version);
	suite_add_tcase(s, tc);

	tc = tcase_create("check_length");
	tcase_add_test(tc, test_check_length);
	tcase_add_test(tc, test_check_too_long);
	suite_add_tcase(s, tc);

	tc = tcase_create("check_flags");
	tcase_add_test(tc, test_check_flags);
	suite_add_tcase(s, tc);

	tc = tcase_create("check_opcode");
	tcase_add_test(tc, test_check_opcode);
	suite_add_tcase(s, tc);

	tc = tcase_create("check_fuzz");
	tcase_add_test(tc, test_check_fuzz);
	suite_add_tcase(s, tc);

	tc = tcase_create("hdr_init");
	tcase_add_test(tc, test_hdr_init);
	tcase_add_test(tc, test_crc32c);
	tcase_add_test(tc, test_crc32c_join);
	tcase_add_test(tc, test_check_crc_version);
	suite_add_tcase(s, tc);

	tc = tcase_create("names");
	tcase_add_test(tc, test_opcode_name);
	tcase_add_test(tc, test_reject_names);
	suite_add_tcase(s, tc);

	tc = tcase_create("layout");
	tcase_add_test(tc, test_struct_sizes);
	tcase_add_test(tc, test_struct_offsets);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(wire_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
