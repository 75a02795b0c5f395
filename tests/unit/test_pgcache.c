/*
 * Unit tests for the memnode page cache (memnode/pgcache.h) against a fake
 * storenode holding one file in memory: reads through the cache, partial
 * and unaligned writes, writes past the end, write-back on fsync and close
 * (and not before), truncate, eviction of dirty blocks under a small cache,
 * a change of times after a write (the data goes first), close-to-open by
 * the change time, appends at the cached end,
 * the dirty bound, a storenode outage (EIO, dirty data kept, written after
 * it returns), a file renamed or deleted behind the cache (ESTALE), and
 * malformed requests.
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "memnode/pgcache.h"

#define INO 42u
#define FMAX (8u << 20)

/* The fake storenode: one regular file "f" (inode INO). */
static uint8_t sdata[FMAX];
static uint64_t ssize, smtime, sctime;
static int sdown, sgone;
static unsigned sreads, swrites, sfsyncs;
static unsigned swrites_at_setattr; /* swrites when the last SETATTR came */

static int fake_call(void *user, uint16_t op, const struct iovec *iov, int n, void *rep,
		     size_t repcap, size_t *replen)
{
	(void)user;
	static uint8_t body[FMAX + 8192];
	size_t len = 0;
	for (int i = 0; i < n; i++) {
		memcpy(body + len, iov[i].iov_base, iov[i].iov_len);
		len += iov[i].iov_len;
	}
	*replen = 0;
	if (sdown)
		return -EIO;
	struct lego_file_req q;
	memcpy(&q, body, sizeof q);
	const char *path = (const char *)body + sizeof q;
	int is_f = q.path_len == 1 && path[0] == 'f';
	if (sgone || !is_f)
		return op == X2F_READ || op == X2F_WRITE || op == X2F_TRUNCATE ? -ESTALE : -ENOENT;
	if (q.ino && q.ino != INO)
		return -ESTALE;
	const uint8_t *data = body + sizeof q + q.path_len + q.path2_len;
	switch (op) {
	case X2F_OPEN:
	case X2F_STAT: {
		if ((q.flags & O_TRUNC) && op == X2F_OPEN) {
			ssize = 0;
			smtime++;
			sctime++;
		}
		struct lego_fstat st = {.ino = INO, .size = ssize, .mode = S_IFREG | 0644,
					.nlink = 1, .mtime_ns = smtime, .ctime_ns = sctime};
		memcpy(rep, &st, LG_MIN(sizeof st, repcap));
		*replen = sizeof st;
		return 0;
	}
	case X2F_READ: {
		sreads++;
		size_t k = q.off >= ssize ? 0 : LG_MIN(q.len, ssize - q.off);
		memcpy(rep, sdata + q.off, LG_MIN(k, repcap));
		*replen = k;
		return 0;
	}
	case X2F_WRITE:
		swrites++;
		ck_assert_uint_le(q.off + q.len, FMAX);
		memcpy(sdata + q.off, data, q.len);
		ssize = LG_MAX(ssize, q.off + q.len);
		smtime++;
		sctime++;
		return 0;
	case X2F_TRUNCATE:
		if (q.off < ssize)
			memset(sdata + q.off, 0, ssize - q.off);
		ssize = q.off;
		smtime++;
		sctime++;
		return 0;
	case X2F_FSYNC:
		sfsyncs++;
		return 0;
	case X2F_SETATTR: {
		swrites_at_setattr = swrites;
		if (q.flags & LEGO_SA_MTIME)
			smtime = q.len;
		sctime++;
		struct lego_fstat st = {.ino = INO, .size = ssize, .mode = S_IFREG | 0644,
					.nlink = 1, .mtime_ns = smtime, .ctime_ns = sctime};
		memcpy(rep, &st, LG_MIN(sizeof st, repcap));
		*replen = sizeof st;
		return 0;
	}
	}
	return -EOPNOTSUPP;
}

static struct pgc *pc;

static void start(uint64_t size, uint64_t dirty)
{
	memset(sdata, 0, sizeof sdata);
	ssize = smtime = sctime = 0;
	swrites_at_setattr = 0;
	sdown = sgone = 0;
	sreads = swrites = sfsyncs = 0;
	struct pgc_conf conf = {.size = size, .dirty_max = dirty, .expire_ns = 60ull * 1000000000,
				.call = fake_call};
	ck_assert_int_eq(pgc_new(&conf, &pc), 0);
}

static void setup(void) { start(64u << 20, 32u << 20); }

static void teardown(void)
{
	pgc_free(pc);
	pc = NULL;
}

/* Send one request to the cache; *out (if given) gets a copy of the reply. */
static int req(uint16_t op, uint64_t ino, uint64_t off, uint64_t len, uint32_t flags,
	       const void *data, void *out, size_t outcap, size_t *outlen)
{
	static uint8_t body[FMAX + 8192];
	struct lego_file_req q = {.ino = ino, .off = off, .len = len, .flags = flags, .path_len = 1};
	memcpy(body, &q, sizeof q);
	body[sizeof q] = 'f';
	size_t blen = sizeof q + 1;
	if (op == X2F_WRITE) {
		memcpy(body + blen, data, len);
		blen += len;
	}
	struct lego_hdr h = {.opcode = op};
	struct rpc_ctx ctx = {.hdr = &h, .body = body, .body_len = blen};
	int r = pgc_handle(pc, &ctx);
	if (outlen)
		*outlen = ctx.rep_len;
	if (out && ctx.rep_buf)
		memcpy(out, rpc_reply_body(&ctx), LG_MIN(ctx.rep_len, outcap));
	rpc_reply_discard(&ctx);
	return r;
}

static void pattern(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed + (i >> 12));
}

START_TEST(read_through_cache)
{
	pattern(sdata, 300000, 1);
	ssize = 300000;
	struct lego_fstat st;
	ck_assert_int_eq(req(X2F_OPEN, 0, 0, 0, O_RDONLY, NULL, &st, sizeof st, NULL), 0);
	ck_assert_uint_eq(st.ino, INO);
	ck_assert_uint_eq(st.size, 300000);
	static uint8_t buf[400000];
	size_t n;
	ck_assert_int_eq(req(X2F_READ, INO, 1000, 200000, 0, NULL, buf, sizeof buf, &n), 0);
	ck_assert_uint_eq(n, 200000);
	ck_assert_int_eq(memcmp(buf, sdata + 1000, n), 0);
	unsigned reads = sreads;
	ck_assert_int_eq(req(X2F_READ, INO, 5000, 100000, 0, NULL, buf, sizeof buf, &n), 0);
	ck_assert_uint_eq(sreads, reads); /* served from the cache */
	ck_assert_int_eq(memcmp(buf, sdata + 5000, n), 0);
	/* short read at the end, nothing past it */
	ck_assert_int_eq(req(X2F_READ, INO, 299990, 100, 0, NULL, buf, sizeof buf, &n), 0);
	ck_assert_uint_eq(n, 10);
	ck_assert_int_eq(req(X2F_READ, INO, 300000, 100, 0, NULL, buf, sizeof buf, &n), 0);
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(writes_stay_until_fsync_or_close)
{
	pattern(sdata, 200000, 2);
	ssize = 200000;
	static uint8_t want[400000], buf[400000], w[100000];
	memcpy(want, sdata, 200000);
	ck_assert_int_eq(req(X2F_OPEN, 0, 0, 0, O_RDWR, NULL, NULL, 0, NULL), 0);
	/* unaligned, across blocks, and past the end */
	pattern(w, sizeof w, 9);
	ck_assert_int_eq(req(X2F_WRITE, INO, 65000, 3000, 0, w, NULL, 0, NULL), 0);
	memcpy(want + 65000, w, 3000);
	ck_assert_int_eq(req(X2F_WRITE, INO, 180000, 100000, 0, w, NULL, 0, NULL), 0);
	memcpy(want + 180000, w, 100000);
	ck_assert_uint_eq(swrites, 0);
	struct lego_fstat st;
	ck_assert_int_eq(req(X2F_STAT, 0, 0, 0, 0, NULL, &st, sizeof st, NULL), 0);
	ck_assert_uint_eq(st.size, 280000); /* the cache's size, not the store's */
	size_t n;
	ck_assert_int_eq(req(X2F_READ, INO, 0, 400000, 0, NULL, buf, sizeof buf, &n), 0);
	ck_assert_uint_eq(n, 280000);
	ck_assert_int_eq(memcmp(buf, want, n), 0);
	ck_assert_int_eq(req(X2F_FSYNC, INO, 0, 0, 0, NULL, NULL, 0, NULL), 0);
	ck_assert_uint_eq(sfsyncs, 1);
	ck_assert_uint_eq(ssize, 280000);
	ck_assert_int_eq(memcmp(sdata, want, 280000), 0);
	/* close writes back too */
	ck_assert_int_eq(req(X2F_WRITE, INO, 10, 5, 0, "hello", NULL, 0, NULL), 0);
	ck_assert_int_eq(req(X2F_CLOSE, INO, 0, 0, 0, NULL, NULL, 0, NULL), 0);
	ck_assert_int_eq(memcmp(sdata + 10, "hello", 5), 0);
	struct pgc_stats ps;
	pgc_get_stats(pc, &ps);
	ck_assert_uint_eq(ps.dirty, 0);
}
END_TEST

/* utimensat after a write: the dirty data reaches the store before the
 * new times, so its later write-back cannot undo them; a mode change
 * alone writes nothing back. */
START_TEST(times_after_dirty_data)
{
	ck_assert_int_eq(req(X2F_OPEN, 0, 0, 0, O_RDWR, NULL, NULL, 0, NULL), 0);
	ck_assert_int_eq(req(X2F_WRITE, INO, 0, 5, 0, "hello", NULL, 0, NULL), 0);
	ck_assert_int_eq(req(X2F_SETATTR, INO, 0, 0, LEGO_SA_MODE, NULL, NULL, 0, NULL), 0);
	ck_assert_uint_eq(swrites_at_setattr, 0); /* (the mode alone) */
	struct lego_fstat st;
	ck_assert_int_eq(req(X2F_SETATTR, INO, 0, 777, LEGO_SA_MTIME, NULL, &st, sizeof st, NULL), 0);
	ck_assert_uint_eq(swrites_at_setattr, 1);
	ck_assert_uint_eq(st.mtime_ns, 777);
	ck_assert_uint_eq(st.size, 5);
	ck_assert_int_eq(req(X2F_CLOSE, INO, 0, 0, 0, NULL, NULL, 0, NULL), 0);
	ck_assert_uint_eq(swrites, 1);
	ck_assert_uint_eq(smtime, 777);
	/* by path (ino 0): found through a STAT */
	ck_assert_int_eq(req(X2F_OPEN, 0, 0, 0, O_RDWR, NULL, NULL, 0, NULL), 0);
	ck_assert_int_eq(req(X2F_WRITE, INO, 5, 6, 0, " world", NULL, 0, NULL), 0);
	ck_assert_int_eq(req(X2F_SETATTR, 0, 0, 0, LEGO_SA_MTIME_NOW, NULL, NULL, 0, NULL), 0);
	ck_assert_uint_eq(swrites_at_setattr, 2);
	ck_assert_int_eq(memcmp(sdata, "hello world", 11), 0);
}
END_TEST

/* Appends go at the end as the cache sees it (dirty data included), each
 * reply saying where; unknown write flags are refused. */
START_TEST(appends_at_the_cached_end)
{
	pattern(sdata, 1000, 5);
	ssize = 1000;
	ck_assert_int_eq(req(X2F_OPEN, 0, 0, 0, O_RDWR, NULL, NULL, 0, NULL), 0);
	struct lego_append_rep ar;
	size_t n;
	ck_assert_int_eq(req(X2F_WRITE, INO, 5, 3, LEGO_F_APPEND, "abc", &ar, sizeof ar, &n), 0);
	ck_assert_uint_eq(n, sizeof ar);
	ck_assert_uint_eq(ar.count, 3);
	ck_assert_uint_eq(ar.off, 1000); /* (off 5 ignored) */
	ck_assert_int_eq(req(X2F_WRITE, INO, 0, 2, LEGO_F_APPEND, "de", &ar, sizeof ar, &n), 0);
	ck_assert_uint_eq(ar.off, 1003);
	ck_assert_uint_eq(swrites, 0); /* both still dirty here */
	ck_assert_int_eq(req(X2F_WRITE, INO, 0, 1, 0, "!", NULL, 0, &n), 0);
	ck_assert_uint_eq(n, sizeof(struct lego_count_rep)); /* a plain write's reply */
	ck_assert_int_eq(req(X2F_WRITE, INO, 0, 1, 0x80, "?", NULL, 0, NULL), -EINVAL);
	ck_assert_int_eq(req(X2F_CLOSE, INO, 0, 0, 0, NULL, NULL, 0, NULL), 0);
	ck_assert_uint_eq(ssize, 1005);
	ck_assert_int_eq(memcmp(sdata + 1000, "abcde", 5), 0);
}
END_TEST

/* An extending truncate (fallocate) never cuts: measured against the size
 * processes see, dirty data included, it is not even sent when shorter. */
START_TEST(extend_never_cuts)
{
	static uint8_t w[5000];
	pattern(w, sizeof w, 6);
	ck_assert_int_eq(req(X2F_OPEN, 0, 0, 0, O_RDWR, NULL, NULL, 0, NULL), 0);
	ck_assert_int_eq(req(X2F_WRITE, INO, 0, sizeof w, 0, w, NULL, 0, NULL), 0);
	ck_assert_int_eq(req(X2F_TRUNCATE, INO, 100, 0, LEGO_F_EXTEND, NULL, NULL, 0, NULL), 0);
	struct lego_fstat st;
	ck_assert_int_eq(req(X2F_STAT, 0, 0, 0, 0, NULL, &st, sizeof st, NULL), 0);
	ck_assert_uint_eq(st.size, sizeof w);
	ck_assert_int_eq(req(X2F_TRUNCATE, INO, 10000, 0, LEGO_F_EXTEND, NULL, NULL, 0, NULL), 0);
	ck_assert_uint_eq(ssize, 10000);
	ck_assert_int_eq(req(X2F_TRUNCATE, INO, 10, 0, 0x80, NULL, NULL, 0, NULL), -EINVAL);
	ck_assert_int_eq(req(X2F_CLOSE, INO, 0, 0, 0, NULL, NULL, 0, NULL), 0);
	ck_assert_uint_eq(ssize, 10000);
	ck_assert_int_eq(memcmp(sdata, w, sizeof w), 0);
}
END_TEST

/* The store's file holds `size` bytes of pattern `seed`; open it. */
static void stored_and_opened(uint64_t size, unsigned seed, int flags)
{
	pattern(sdata, size, seed);
	ssize = size;
	ck_assert_int_eq(req(X2F_OPEN, 0, 0, 0, (uint32_t)flags, NULL, NULL, 0, NULL), 0);
}

/* A file with nothing cached is forgotten by pgc_gc (every file opened
 * used to keep an entry for good) and comes back at its next request. */
START_TEST(gc_forgets_empty_files)
{
	static uint8_t buf[100000];
	size_t n;
	struct pgc_stats ps;
	stored_and_opened(100000, 7, O_RDWR);
	ck_assert_int_eq(req(X2F_READ, INO, 0, 1000, 0, NULL, buf, sizeof buf, &n), 0);
	pgc_gc(pc, 4096);
	pgc_get_stats(pc, &ps);
	ck_assert_uint_eq(ps.files, 1); /* (it holds a block) */
	ck_assert_int_eq(req(X2F_TRUNCATE, INO, 0, 0, 0, NULL, NULL, 0, NULL), 0);
	pgc_gc(pc, 4096);
	pgc_get_stats(pc, &ps);
	ck_assert_uint_eq(ps.files, 0);
	ck_assert_int_eq(req(X2F_WRITE, INO, 0, 5, 0, "hello", NULL, 0, NULL), 0);
	ck_assert_int_eq(req(X2F_CLOSE, INO, 0, 0, 0, NULL, NULL, 0, NULL), 0);
	ck_assert_int_eq(memcmp(sdata, "hello", 5), 0);
	ck_assert_uint_eq(ssize, 5);
}
END_TEST

/* Close-to-open: a file changed behind the cache is read again even when
 * its size and modification time are back to what the cache saw (a
 * same-size rewrite, then utimensat to the old time: `touch -r`, rsync). */
START_TEST(reopen_sees_change_time)
{
	static uint8_t buf[100000];
	size_t n;
	stored_and_opened(100000, 3, O_RDONLY);
	ck_assert_int_eq(req(X2F_READ, INO, 0, 100000, 0, NULL, buf, sizeof buf, &n), 0);
	ck_assert_int_eq(req(X2F_CLOSE, INO, 0, 0, 0, NULL, NULL, 0, NULL), 0);
	pattern(sdata, 100000, 4); /* another memnode's process rewrote it... */
	sctime++;                  /* ...and set its modification time back */
	ck_assert_int_eq(req(X2F_OPEN, 0, 0, 0, O_RDONLY, NULL, NULL, 0, NULL), 0);
	ck_assert_int_eq(req(X2F_READ, INO, 0, 100000, 0, NULL, buf, sizeof buf, &n), 0);
	ck_assert_uint_eq(n, 100000);
	ck_assert_int_eq(memcmp(buf, sdata, n), 0);
}
END_TEST

START_TEST(truncate_drops_and_zeroes)
{
	static uint8_t w[200000], buf[200000];
	pattern(w, sizeof w, 3);
	ck_assert_int_eq(req(X2F_OPEN, 0, 0, 0, O_RDWR | O_CREAT, NULL, NULL, 0, NULL), 0);
	ck_assert_int_eq(req(X2F_WRITE, INO, 0, 200000, 0, w, NULL, 0, NULL), 0);
	ck_assert_int_eq(req(X2F_TRUNCATE, INO, 70000, 0, 0, NULL, NULL, 0, NULL), 0);
	/* grow again with a write: the gap reads as zeros */
	ck_assert_int_eq(req(X2F_WRITE, INO, 150000, 10, 0, w, NULL, 0, NULL), 0);
	size_t n;
	ck_assert_int_eq(req(X2F_READ, INO, 0, 200000, 0, NULL, buf, sizeof buf, &n), 0);
	ck_assert_uint_eq(n, 150010);
	ck_assert_int_eq(memcmp(buf, w, 70000), 0);
	for (size_t i = 70000; i < 150000; i++)
		ck_assert_uint_eq(buf[i], 0);
	ck_assert_int_eq(req(X2F_FSYNC, INO, 0, 0, 0, NULL, NULL, 0, NULL), 0);
	ck_assert_uint_eq(ssize, 150010);
	ck_assert_int_eq(memcmp(sdata, w, 70000), 0);
	for (size_t i = 70000; i < 150000; i++)
		ck_assert_uint_eq(sdata[i], 0);
	/* O_TRUNC at open empties the cached copy as well */
	ck_assert_int_eq(req(X2F_OPEN, 0, 0, 0, O_RDWR | O_TRUNC, NULL, NULL, 0, NULL), 0);
	ck_assert_int_eq(req(X2F_READ, INO, 0, 100, 0, NULL, buf, sizeof buf, &n), 0);
	ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(small_cache_evicts_dirty_blocks_safely)
{
	teardown();
	start(1u << 20, 512u << 10); /* 16 blocks, 8 of them dirty at most */
	static uint8_t w[4u << 20], buf[4u << 20];
	pattern(w, sizeof w, 4);
	ck_assert_int_eq(req(X2F_OPEN, 0, 0, 0, O_RDWR | O_CREAT, NULL, NULL, 0, NULL), 0);
	for (uint64_t off = 0; off < sizeof w; off += 100000) {
		uint64_t k = LG_MIN(100000, sizeof w - off);
		ck_assert_int_eq(req(X2F_WRITE, INO, off, k, 0, w + off, NULL, 0, NULL), 0);
		struct pgc_stats ps;
		pgc_get_stats(pc, &ps);
		ck_assert_uint_le(ps.bytes, (1u << 20) + 2 * PGC_BLOCK);
		ck_assert_uint_le(ps.dirty, (512u << 10) + 2 * PGC_BLOCK);
	}
	for (uint64_t off = 0; off < sizeof w; off += LEGO_FILE_IO_MAX) {
		size_t n;
		ck_assert_int_eq(req(X2F_READ, INO, off, LEGO_FILE_IO_MAX, 0, NULL, buf, sizeof buf, &n), 0);
		ck_assert_uint_eq(n, LEGO_FILE_IO_MAX);
		ck_assert_int_eq(memcmp(buf, w + off, n), 0);
	}
	ck_assert_int_eq(pgc_flush_all(pc), 0);
	ck_assert_int_eq(memcmp(sdata, w, sizeof w), 0);
}
END_TEST

START_TEST(outage_keeps_dirty_data)
{
	ck_assert_int_eq(req(X2F_OPEN, 0, 0, 0, O_RDWR | O_CREAT, NULL, NULL, 0, NULL), 0);
	sdown = 1;
	/* a write the cache can take succeeds; fsync cannot */
	ck_assert_int_eq(req(X2F_WRITE, INO, 0, 5, 0, "abcde", NULL, 0, NULL), 0);
	ck_assert_int_eq(req(X2F_FSYNC, INO, 0, 0, 0, NULL, NULL, 0, NULL), -EIO);
	ck_assert_int_eq(pgc_tick(pc), 0); /* nothing expired yet */
	struct pgc_stats ps;
	pgc_get_stats(pc, &ps);
	ck_assert_uint_eq(ps.dirty, PGC_BLOCK);
	sdown = 0;
	ck_assert_int_eq(req(X2F_FSYNC, INO, 0, 0, 0, NULL, NULL, 0, NULL), 0);
	ck_assert_int_eq(memcmp(sdata, "abcde", 5), 0);
	ck_assert_uint_eq(ssize, 5);
}
END_TEST

START_TEST(file_gone_behind_the_cache)
{
	ck_assert_int_eq(req(X2F_OPEN, 0, 0, 0, O_RDWR | O_CREAT, NULL, NULL, 0, NULL), 0);
	ck_assert_int_eq(req(X2F_WRITE, INO, 0, 5, 0, "abcde", NULL, 0, NULL), 0);
	sgone = 1; /* renamed or deleted through another memnode */
	ck_assert_int_eq(req(X2F_FSYNC, INO, 0, 0, 0, NULL, NULL, 0, NULL), -ENOENT);
	struct pgc_stats ps;
	pgc_get_stats(pc, &ps);
	ck_assert_uint_eq(ps.dirty, 0);
	ck_assert_uint_eq(ps.dropped, 5);
	/* a file the cache does not know, whose path names another inode */
	ck_assert_int_eq(req(X2F_READ, 77, 0, 5, 0, NULL, NULL, 0, NULL), -ENOENT);
}
END_TEST

START_TEST(bad_requests)
{
	struct lego_hdr h = {.opcode = X2F_WRITE};
	struct lego_file_req q = {.ino = INO, .len = 100, .path_len = 1};
	uint8_t body[sizeof q + 1 + 10];
	memcpy(body, &q, sizeof q);
	struct rpc_ctx ctx = {.hdr = &h, .body = body, .body_len = sizeof body};
	ck_assert_int_eq(pgc_handle(pc, &ctx), -EBADMSG); /* data shorter than len */
	q.len = 0;
	q.path_len = LEGO_PATH_MAX + 1;
	memcpy(body, &q, sizeof q);
	ck_assert_int_eq(pgc_handle(pc, &ctx), -ENAMETOOLONG);
	ctx.body_len = sizeof q - 1;
	ck_assert_int_eq(pgc_handle(pc, &ctx), -EBADMSG);
	h.opcode = X2F_READ;
	q.path_len = 1;
	q.len = LEGO_FILE_IO_MAX + 1;
	memcpy(body, &q, sizeof q);
	ctx.body_len = sizeof q + 1;
	ck_assert_int_eq(pgc_handle(pc, &ctx), -EMSGSIZE);
}
END_TEST

/* A write past the largest file offset (a signed 64 bits) is refused; it
 * once went into the cache and its write-back's offset and length added
 * up past 2^64 (fuzz_memnode). */
START_TEST(write_beyond_max_offset)
{
	ck_assert_int_eq(req(X2F_WRITE, INO, (uint64_t)INT64_MAX - 2, 5, 0, "hello", NULL, 0, NULL),
			 -EFBIG);
	ck_assert_int_eq(req(X2F_WRITE, INO, UINT64_MAX - 4095, 5, 0, "hello", NULL, 0, NULL),
			 -EFBIG);
}
END_TEST

static Suite *pgcache_suite(void)
{
	Suite *s = suite_create("pgcache");
	TCase *tc = tcase_create("core");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, read_through_cache);
	tcase_add_test(tc, writes_stay_until_fsync_or_close);
	tcase_add_test(tc, truncate_drops_and_zeroes);
	tcase_add_test(tc, times_after_dirty_data);
	tcase_add_test(tc, reopen_sees_change_time);
	tcase_add_test(tc, appends_at_the_cached_end);
	tcase_add_test(tc, extend_never_cuts);
	tcase_add_test(tc, gc_forgets_empty_files);
	tcase_add_test(tc, small_cache_evicts_dirty_blocks_safely);
	tcase_add_test(tc, outage_keeps_dirty_data);
	tcase_add_test(tc, file_gone_behind_the_cache);
	tcase_add_test(tc, bad_requests);
	tcase_add_test(tc, write_beyond_max_offset);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(pgcache_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
