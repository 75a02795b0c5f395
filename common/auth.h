/*
 * Keyed proofs for the connection handshake and capabilities: HMAC-SHA256
 * over a label and byte strings.  Not async-signal-safe (OpenSSL).
 */
#ifndef LEGO_AUTH_H
#define LEGO_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define LG_MAC_LEN 32

/* out = HMAC-SHA256(key, label || a || b).  0 or -EIO. */
int lg_hmac(const void *key, size_t keylen, const char *label, const void *a,
	    size_t alen, const void *b, size_t blen, uint8_t out[LG_MAC_LEN]);

/* Capability of an address space: HMAC(secret, as_id, line_order, quota),
 * truncated to 16 bytes.  The monitor makes it, memnodes check it. */
int lg_cap_make(const uint8_t secret[LG_MAC_LEN], uint64_t as_id, uint32_t line_order,
		uint64_t quota, uint8_t cap[16]);

#endif
