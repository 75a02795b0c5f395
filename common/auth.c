/* HMAC-SHA256 proofs (see auth.h), from OpenSSL's libcrypto, loaded when
 * first needed (dlib.h: only a process that connects needs it). */
#include "auth.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/random.h>

#include "dlib.h"

#ifndef CRYPTO_SONAME
#error "CRYPTO_SONAME and CRYPTO_V_* come from CMakeLists.txt"
#endif

static struct lg_dlib lg_crypto = LG_DLIB(CRYPTO_SONAME);
static __typeof__(&HMAC) _Atomic lg_hmac_fn;
static __typeof__(&EVP_sha256) _Atomic lg_sha256_fn;

static int lg_crypto_load(void)
{
	if (atomic_load(&lg_hmac_fn))
		return 0;
	__typeof__(&EVP_sha256) sha = lg_dlib_sym(&lg_crypto, "EVP_sha256", CRYPTO_V_EVP_SHA256);
	__typeof__(&HMAC) hmac = lg_dlib_sym(&lg_crypto, "HMAC", CRYPTO_V_HMAC);
	if (!sha || !hmac)
		return -ENOSYS;
	atomic_store(&lg_sha256_fn, sha);
	atomic_store(&lg_hmac_fn, hmac);
	return 0;
}

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
	int r = lg_crypto_load();
	if (r == 0 && !atomic_load(&lg_hmac_fn)(atomic_load(&lg_sha256_fn)(), keylen ? key : &nokey,
						(int)keylen, buf, ll + alen + blen, out, &olen))
		r = -EIO;
	if (r) /* a proof that matches nothing (callers compare without checking) */
		while (getrandom(out, LG_MAC_LEN, 0) != LG_MAC_LEN)
			;
	return r;
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
