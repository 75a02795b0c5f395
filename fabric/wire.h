/*
 * Wire codec: building and checking message headers (proto.h).  Every
 * received message goes through lw_check before any other field is read.
 */
#ifndef LEGO_WIRE_H
#define LEGO_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "lego/proto.h"

/* Why a message was refused; also the index of a reject counter. */
enum lw_reject {
	LW_OK = 0,
	LW_SHORT,       /* shorter than a header */
	LW_MAGIC,       /* not a Lego message */
	LW_VERSION,     /* other protocol version */
	LW_LENGTH,      /* declared length != received length */
	LW_OPCODE,      /* unknown opcode */
	LW_BODY,        /* body too short or too long for the opcode */
	LW_SESSION,     /* unknown connection or wrong session secret */
	LW_AUTH,        /* handshake proof did not verify */
	LW_FLAGS,       /* request with reply flag or unknown flags */
	LW_CRC,         /* CRC32C differs: damaged on the way */
	LW_REQID,       /* request id outside the scheme (proto.h) */
	LW_REJECT__COUNT
};

extern const char *const lw_reject_names[LW_REJECT__COUNT];

/* Check the header of a received message of `len` bytes, and its CRC.
 * A message of another protocol version is LW_VERSION only when it has no
 * CRC (crc 0: an older peer) or a valid one, else LW_CRC (damaged). */
enum lw_reject lw_check(const void *msg, size_t len);

/* CRC32C of p[0..n) continued from crc (start with 0). */
uint32_t lw_crc32c(uint32_t crc, const void *p, size_t n);
/* x^(8 len) modulo CRC32C's polynomial: what lw_crc32c_join shifts a CRC
 * by to append len bytes after it. */
uint32_t lw_crc32c_shift(size_t len);
/* The CRC32C of A then B, from crc1 of A, crc2 of B and B's shift
 * (lw_crc32c_shift of B's length): no byte is read again. */
uint32_t lw_crc32c_join(uint32_t crc1, uint32_t crc2, uint32_t shift2);
/* lw_crc32c_join for one fixed length of B, by table (4 KiB, made once):
 * four lookups instead of a polynomial product. */
struct lw_crc_joiner {
	uint32_t t[4][256];
};
void lw_crc32c_joiner_init(struct lw_crc_joiner *j, size_t len2);
static inline uint32_t lw_crc32c_join_fixed(const struct lw_crc_joiner *j, uint32_t crc1,
					    uint32_t crc2)
{
	return j->t[0][crc1 & 0xff] ^ j->t[1][(crc1 >> 8) & 0xff] ^
	       j->t[2][(crc1 >> 16) & 0xff] ^ j->t[3][crc1 >> 24] ^ crc2;
}
/* Set h->crc for a message of header h then body[0..n).  Call last: the
 * CRC covers every header field. */
void lw_seal(struct lego_hdr *h, const struct iovec *body, int n);
/* lw_seal, given the CRC32C of body[n - 1] (n >= 1): a large part whose
 * CRC the sender has already computed is not read again. */
void lw_seal_known(struct lego_hdr *h, const struct iovec *body, int n, uint32_t last_crc);

/* Fill a request or reply header for a message of total_len bytes. */
void lw_hdr_init(struct lego_hdr *h, uint16_t opcode, uint32_t total_len, uint64_t req_id);

/* Name of an opcode, "?" when unknown. */
const char *lw_opcode_name(unsigned opcode);

/* "HOST:PORT" of a node's network address (a sockaddr for tcp), else
 * "shm:NAME", else "-". */
void lw_node_addr_str(const struct lego_node_addr *a, char *buf, size_t len);

#endif
