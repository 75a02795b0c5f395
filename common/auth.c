/* HMAC-SHA256 proofs (see auth.h), from OpenSSL's libcrypto. */
#include "auth.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <string.h>

int lg_hmac(const void *key, size_t keylen, const char *label, const void *a, size_t alen,
	    const void *b, size_t blen, uint8_t out[LG_MAC_LEN])
{
	uint8_t buf[512];
	size_t ll = strlen(label);
	if (ll + alen + blen > sizeof buf)
		return -EINVAL;
	memcpy(buf, label, ll);
	if (alen)
		memcpy(buf + ll, a, alen);
	if (blen)
		memcpy(buf + ll + alen, b, blen);
	unsigned int olen = LG_MAC_LEN;
	static const uint8_t nokey = 0;
	if (!HMAC(EVP_sha256(), keylen ? key : &nokey, (int)keylen, buf, ll + alen + blen, out,
		  &olen))
		return -EIO;
	return 0;
}

int lg_cap_make(const uint8_t secret[LG_MAC_LEN], uint64_t as_id, uint32_t line_order,
		uint64_t quota, uint8_t cap[16])
{
	uint8_t a[12], mac[LG_MAC_LEN];
	memcpy(a, &as_id, 8);
	memcpy(a + 8, &line_order, 4);
	int r = lg_hmac(secret, LG_MAC_LEN, "lego-cap", a, sizeof a, &quota, sizeof quota, mac);
	memcpy(cap, mac, 16);
	return r;
}
