/* Wire codec (see wire.h). */
#include "wire.h"

#include <arpa/inet.h>
#include <isa-l/crc.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "common/util.h"

const char *const lw_reject_names[LW_REJECT__COUNT] = {
	[LW_OK] = "ok",           [LW_SHORT] = "short",     [LW_MAGIC] = "magic",
	[LW_VERSION] = "version", [LW_LENGTH] = "length",   [LW_OPCODE] = "opcode",
	[LW_BODY] = "body",       [LW_SESSION] = "session", [LW_AUTH] = "auth",
	[LW_FLAGS] = "flags",     [LW_CRC] = "crc",         [LW_REQID] = "reqid",
};

uint32_t lw_crc32c(uint32_t crc, const void *p, size_t n)
{
	/* ISA-L's crc32_iscsi neither inverts its start value nor its result;
	 * CRC32C does both (so "123456789" gives e3069283) */
	crc = ~crc;
	while (n) {
		int k = n > (1u << 30) ? 1 << 30 : (int)n;
		crc = crc32_iscsi((unsigned char *)p, k, crc);
		p = (const uint8_t *)p + k;
		n -= (size_t)k;
	}
	return ~crc;
}

/*
 * CRC32C's polynomial arithmetic, for joining CRCs of pieces (the method
 * of zlib's crc32_combine, for the Castagnoli polynomial; ISA-L has none).
 * Bit 31 holds x^0: the reflected order the CRC itself uses.
 */
#define LW_CRC32C_POLY 0x82f63b78u

/* a(x) * b(x) modulo the polynomial */
static uint32_t lw_crc_mult(uint32_t a, uint32_t b)
{
	uint32_t p = 0;
	for (uint32_t m = 1u << 31; a; m >>= 1) {
		if (a & m) {
			p ^= b;
			a ^= m;
		}
		b = b & 1 ? (b >> 1) ^ LW_CRC32C_POLY : b >> 1;
	}
	return p;
}

/* x^(8 * 2^k) for each bit k of a length in bytes, made once */
static uint32_t lw_x8pow2[64];
static pthread_once_t lw_x8pow2_once = PTHREAD_ONCE_INIT;

static void lw_x8pow2_init(void)
{
	uint32_t sq = 1u << 23; /* x^8 (bit 31 is x^0) */
	for (int k = 0; k < 64; k++) {
		lw_x8pow2[k] = sq;
		sq = lw_crc_mult(sq, sq);
	}
}

uint32_t lw_crc32c_shift(size_t len)
{
	/* x^(8 len): a product over the bits of len (one for a power of
	 * two, as a write-back's 64 KiB of lines) */
	pthread_once(&lw_x8pow2_once, lw_x8pow2_init);
	uint32_t p = 1u << 31; /* x^0 */
	for (int k = 0; len; k++, len >>= 1)
		if (len & 1)
			p = lw_crc_mult(lw_x8pow2[k], p);
	return p;
}

uint32_t lw_crc32c_join(uint32_t crc1, uint32_t crc2, uint32_t shift2)
{
	return lw_crc_mult(shift2, crc1) ^ crc2;
}

void lw_crc32c_joiner_init(struct lw_crc_joiner *j, size_t len2)
{
	/* the product is linear in crc1: the sum of each byte's share */
	uint32_t shift = lw_crc32c_shift(len2);
	for (int k = 0; k < 4; k++)
		for (uint32_t v = 0; v < 256; v++)
			j->t[k][v] = lw_crc_mult(shift, v << (8 * k));
}

/* CRC of header h (a copy: its crc field counts as 0) then body[0..n). */
static uint32_t lw_msg_crc(struct lego_hdr h, const struct iovec *body, int n)
{
	h.crc = 0;
	uint32_t crc = lw_crc32c(0, &h, sizeof h);
	for (int i = 0; i < n; i++)
		crc = lw_crc32c(crc, body[i].iov_base, body[i].iov_len);
	return crc;
}

void lw_seal(struct lego_hdr *h, const struct iovec *body, int n)
{
	h->crc = lw_msg_crc(*h, body, n);
}

void lw_seal_known(struct lego_hdr *h, const struct iovec *body, int n, uint32_t last_crc)
{
	uint32_t crc = lw_msg_crc(*h, body, n - 1);
	h->crc = lw_crc32c_join(crc, last_crc, lw_crc32c_shift(body[n - 1].iov_len));
}

/* Does the CRC of the len-byte message whose header is h (a copy) hold? */
static int lw_crc_ok(const struct lego_hdr *h, const void *msg, size_t len)
{
	struct iovec body = {(uint8_t *)msg + sizeof *h, len - sizeof *h};
	return lw_msg_crc(*h, &body, 1) == h->crc;
}

enum lw_reject lw_check(const void *msg, size_t len)
{
	struct lego_hdr h;
	if (len < sizeof h)
		return LW_SHORT;
	memcpy(&h, msg, sizeof h);
	if (h.magic != LEGO_PROTO_MAGIC)
		return LW_MAGIC;
	if (h.version != LEGO_PROTO_VERSION) {
		/* an older peer sends no CRC; a version changed on the way is
		 * damage, not a peer to tell that we differ */
		if (h.crc == 0 || (h.len == len && len <= LEGO_MSG_MAX && lw_crc_ok(&h, msg, len)))
			return LW_VERSION;
		return LW_CRC;
	}
	if (h.len != len || len > LEGO_MSG_MAX)
		return LW_LENGTH;
	if (h.flags & ~(LEGO_F_REPLY | LEGO_F_COMPACT) ||
	    (h.flags & (LEGO_F_REPLY | LEGO_F_COMPACT)) == (LEGO_F_REPLY | LEGO_F_COMPACT))
		return LW_FLAGS;
	if (h.opcode == 0 || h.opcode >= LEGO_OPCODE_MAX)
		return LW_OPCODE;
	if (!lw_crc_ok(&h, msg, len))
		return LW_CRC;
	return LW_OK;
}

void lw_hdr_init(struct lego_hdr *h, uint16_t opcode, uint32_t total_len, uint64_t req_id)
{
	memset(h, 0, sizeof *h);
	h->magic = LEGO_PROTO_MAGIC;
	h->version = LEGO_PROTO_VERSION;
	h->opcode = opcode;
	h->len = total_len;
	h->req_id = req_id;
}

const char *lw_opcode_name(unsigned op)
{
	switch (op) {
	case X2X_HELLO: return "hello";
	case X2X_AUTH: return "auth";
	case X2X_BYE: return "bye";
	case X2X_STATS: return "stats";
	case X2X_PING: return "ping";
	case P2MON_REGISTER: return "p2mon_register";
	case P2MON_HEARTBEAT: return "p2mon_heartbeat";
	case P2MON_EXIT: return "p2mon_exit";
	case P2MON_PLACE: return "p2mon_place";
	case P2MON_FORK: return "p2mon_fork";
	case M2MON_REGISTER: return "m2mon_register";
	case M2MON_HEARTBEAT: return "m2mon_heartbeat";
	case P2M_READ: return "p2m_read";
	case P2M_WRITE: return "p2m_write";
	case P2M_FREE: return "p2m_free";
	case P2M_RESERVE: return "p2m_reserve";
	case P2M_AS_EXIT: return "p2m_as_exit";
	case P2M_CLONE: return "p2m_clone";
	case S2MON_REGISTER: return "s2mon_register";
	case S2MON_HEARTBEAT: return "s2mon_heartbeat";
	case M2MON_STORE: return "m2mon_store";
	case P2MON_FILES: return "p2mon_files";
	case P2MON_STATS: return "p2mon_stats";
	case T2MON_PROCS: return "t2mon_procs";
	case T2MON_STATUS: return "t2mon_status";
	case T2MON_NODES: return "t2mon_nodes";
	case T2MON_PLACES: return "t2mon_places";
	case X2F_OPEN: return "f_open";
	case X2F_STAT: return "f_stat";
	case X2F_READ: return "f_read";
	case X2F_WRITE: return "f_write";
	case X2F_TRUNCATE: return "f_truncate";
	case X2F_FSYNC: return "f_fsync";
	case X2F_UNLINK: return "f_unlink";
	case X2F_RMDIR: return "f_rmdir";
	case X2F_MKDIR: return "f_mkdir";
	case X2F_RENAME: return "f_rename";
	case X2F_LIST: return "f_list";
	case X2F_CLOSE: return "f_close";
	case X2F_SETATTR: return "f_setattr";
	case X2F_STATFS: return "f_statfs";
	case X2F_SYMLINK: return "f_symlink";
	case X2F_READLINK: return "f_readlink";
	case X2F_LINK: return "f_link";
	}
	return "?";
}

/* "HOST:PORT" of a node's network address (a sockaddr for tcp), else its
 * shm endpoint. */
void lw_node_addr_str(const struct lego_node_addr *a, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	char h[INET6_ADDRSTRLEN];
	memset(&ss, 0, sizeof ss);
	memcpy(&ss, a->net, LG_MIN((size_t)a->net_len, sizeof ss));
	if (a->net_len >= sizeof(struct sockaddr_in) && ss.ss_family == AF_INET) {
		const struct sockaddr_in *s4 = (const void *)&ss;
		inet_ntop(AF_INET, &s4->sin_addr, h, sizeof h);
		snprintf(buf, len, "%s:%u", h, ntohs(s4->sin_port));
	} else if (a->net_len >= sizeof(struct sockaddr_in6) && ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)&ss;
		inet_ntop(AF_INET6, &s6->sin6_addr, h, sizeof h);
		snprintf(buf, len, "[%s]:%u", h, ntohs(s6->sin6_port));
	} else if (a->shm[0]) {
		snprintf(buf, len, "shm:%.*s", (int)strnlen(a->shm, sizeof a->shm), a->shm);
	} else {
		snprintf(buf, len, "-");
	}
}
