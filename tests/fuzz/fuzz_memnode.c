/*
 * fuzz_memnode: the memnode's request path as the network drives it.
 *
 * Every input builds one memnode (a 64 MiB store, a 1 MiB page cache over
 * a fake storenode, made at the first file operation, an RPC server over memnode_handlers with a test
 * connection per role) and sends it a run of messages through
 * rpc_server_on_recv, so that writes, reads, frees, clones and file
 * operations meet the same address spaces, lines and files; then frees it
 * all.  A message is:
 *
 *   u8 opcode choice (mn_ops[]; OP_HANDSHAKE: a handshake, fz_handshake;
 *   OP_RAW: then u8 raw opcode; OP_FILE:
 *   then u8 which file operation, or a page-cache tick)
 *   u8 flags: FZ_CAP, FZ_SHAPE, FZ_BAD, FZ_STOFAIL, connection (2 bits)
 *   [u8 header corruption, with FZ_BAD]
 *   body: with FZ_SHAPE, a well-formed body for the opcode built from a
 *   few input bytes (small ids, lines, offsets); else u16 length and raw
 *   bytes.  FZ_CAP then writes valid capabilities into the body's
 *   address-space references, so that requests get past the check.
 *
 * The fake storenode keeps the size of up to seven files, named by a hash
 * of the path; it checks that every request the page cache sends it is
 * well formed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "common/auth.h"
#include "common/log.h"
#include "common/util.h"
#include "fabric/fabric.h"
#include "fuzz_server.h"
#include "memnode/memnode.h"

enum {
	FZ_CAP = 0x01,
	FZ_SHAPE = 0x02,
	FZ_BAD = 0x04,
	FZ_STOFAIL = 0x08,
	/* 0x30: the connection, 0x40 0x80: for the op */
};

/* Pseudo-operations besides messages.  OP_FILE: a file operation, the
 * next byte says which; one pick in five, as each input that has one pays
 * for a page cache. */
enum { OP_RAW = 0xff00, OP_TICK, OP_MONFREE, OP_FILE, OP_HANDSHAKE };

static const uint16_t mn_ops[] = {
	P2M_READ, P2M_WRITE, P2M_FREE, P2M_RESERVE, P2M_AS_EXIT, P2M_CLONE,
	P2M_READ, P2M_WRITE, /* the busy ones, twice */
	X2X_PING, X2X_STATS, X2X_BYE, OP_MONFREE, OP_RAW, OP_FILE, OP_FILE, OP_HANDSHAKE,
};

static const uint32_t mn_roles[] = {LEGO_ROLE_PROCESS, LEGO_ROLE_PROCESS, LEGO_ROLE_TOOL,
				    LEGO_ROLE_MEMNODE};
#define NCONNS 4

static const uint8_t mn_secret[32] = "fuzz-memnode-capability-secret!";

/* ------------------------------------------------------- fake storenode */

#define SF_FILES 8 /* inode 1..7 regular files; SF_DIR the directories */
#define SF_DIR 8

static struct {
	int exists[SF_FILES];
	uint64_t size[SF_FILES], mtime[SF_FILES];
	int fail; /* this message's calls fail with it (0: they do not) */
	int quirk; /* replies a little off: short stat, longer read */
} sf;

static uint32_t sf_ino(const char *path, size_t len)
{
	if (!len || path[len - 1] == '/')
		return SF_DIR;
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (uint8_t)path[i]) * 16777619u;
	return 1 + h % (SF_FILES - 1);
}

/* The bytes [at, at + len) of the request the iovs hold, into dst. */
static void sf_gather(const struct iovec *iov, int n, size_t at, void *dst, size_t len)
{
	uint8_t *d = dst;
	for (int i = 0; i < n && len; i++) {
		if (at >= iov[i].iov_len) {
			at -= iov[i].iov_len;
			continue;
		}
		size_t k = LG_MIN(len, iov[i].iov_len - at);
		memcpy(d, (const uint8_t *)iov[i].iov_base + at, k);
		d += k;
		len -= k;
		at = 0;
	}
	FUZZ_CHECK(len == 0);
}

static void sf_stat(uint32_t ino, struct lego_fstat *st)
{
	memset(st, 0, sizeof *st);
	st->ino = ino;
	st->nlink = 1;
	if (ino == SF_DIR) {
		st->mode = S_IFDIR | 0755;
		return;
	}
	st->mode = S_IFREG | 0644;
	st->size = sf.size[ino];
	st->mtime_ns = sf.mtime[ino];
	st->blocks = (st->size + 511) / 512;
}

static int sf_call(void *user, uint16_t op, const struct iovec *iov, int n, void *rep,
		   size_t repcap, size_t *replen)
{
	(void)user;
	size_t total = 0;
	for (int i = 0; i < n; i++) {
		total += iov[i].iov_len;
		if (iov[i].iov_len) /* the buffers must be there, all of them (ASan) */
			(void)((volatile const uint8_t *)iov[i].iov_base)[iov[i].iov_len - 1];
	}
	struct lego_file_req q;
	FUZZ_CHECK(total >= sizeof q);
	sf_gather(iov, n, 0, &q, sizeof q);
	FUZZ_CHECK(q.path_len <= LEGO_PATH_MAX && q.path2_len <= LEGO_PATH_MAX);
	size_t paths = (size_t)q.path_len + q.path2_len;
	FUZZ_CHECK(total == sizeof q + paths + (op == X2F_WRITE ? q.len : 0));
	char path[2 * LEGO_PATH_MAX];
	sf_gather(iov, n, sizeof q, path, paths);
	*replen = 0;
	if (sf.fail)
		return sf.fail;
	uint32_t ino = sf_ino(path, q.path_len);
	struct lego_fstat st;
	switch (op) {
	case X2F_OPEN:
	case X2F_STAT:
		if (ino != SF_DIR && !sf.exists[ino]) {
			if (op == X2F_STAT || !(q.flags & O_CREAT))
				return -ENOENT;
			sf.exists[ino] = 1;
			sf.size[ino] = 0;
		}
		if (ino != SF_DIR && op == X2F_OPEN && (q.flags & O_TRUNC)) {
			sf.size[ino] = 0;
			sf.mtime[ino]++;
		}
		sf_stat(ino, &st);
		memcpy(rep, &st, LG_MIN(sizeof st, repcap));
		*replen = sf.quirk ? sizeof st - 8 : sizeof st;
		if (op == X2F_OPEN && !sf.quirk && sizeof st + q.path_len <= repcap) {
			/* (the file's path, as a storenode names it) */
			memcpy((uint8_t *)rep + sizeof st, path, q.path_len);
			*replen += q.path_len;
		}
		return 0;
	case X2F_SYMLINK:
	case X2F_LINK:
		return ino == SF_DIR || sf.exists[ino] ? -EEXIST : 0;
	case X2F_READLINK: {
		size_t k = LG_MIN(repcap, (size_t)(q.off % 64) + 1);
		memset(rep, 't', k);
		*replen = k + (sf.quirk ? 7 : 0);
		return q.flags & LEGO_F_WALK && q.off & 1 ? -EXDEV : 0;
	}
	case X2F_READ: {
		if (ino == SF_DIR)
			return -EISDIR;
		if (!sf.exists[ino] || (q.ino && q.ino != ino))
			return -ESTALE;
		uint64_t k = q.off >= sf.size[ino] ? 0 : LG_MIN(q.len, sf.size[ino] - q.off);
		memset(rep, (int)(ino + q.off), LG_MIN(k, repcap));
		*replen = k + (sf.quirk ? 100 : 0);
		return 0;
	}
	case X2F_WRITE:
		if (ino == SF_DIR)
			return -EISDIR;
		if (!sf.exists[ino] || (q.ino && q.ino != ino))
			return -ESTALE;
		FUZZ_CHECK(q.off + q.len >= q.off);
		sf.size[ino] = LG_MAX(sf.size[ino], q.off + q.len);
		sf.mtime[ino]++;
		if (repcap >= 8)
			memcpy(rep, &q.len, 8);
		*replen = 8;
		return 0;
	case X2F_TRUNCATE:
		if (ino == SF_DIR || !sf.exists[ino] || (q.ino && q.ino != ino))
			return -ESTALE;
		sf.size[ino] = q.off;
		sf.mtime[ino]++;
		return 0;
	case X2F_FSYNC:
	case X2F_MKDIR:
	case X2F_RMDIR:
		return 0;
	case X2F_UNLINK:
		if (ino == SF_DIR || !sf.exists[ino])
			return -ENOENT;
		sf.exists[ino] = 0;
		/* (the inode and the names left: the file may have another) */
		struct lego_unlink_rep ur = {ino, sf.quirk};
		memcpy(rep, &ur, LG_MIN(sizeof ur, repcap));
		*replen = q.off & 1 ? sizeof ur.ino : sizeof ur;
		return 0;
	case X2F_RENAME: {
		uint32_t to = sf_ino(path + q.path_len, q.path2_len);
		if (ino == SF_DIR || to == SF_DIR || !sf.exists[ino])
			return ino == SF_DIR ? 0 : -ENOENT;
		if (to != ino) {
			sf.exists[to] = 1;
			sf.size[to] = sf.size[ino];
			sf.mtime[to]++;
			sf.exists[ino] = 0;
		}
		return 0;
	}
	case X2F_SETATTR:
		if (ino != SF_DIR && (!sf.exists[ino] || (q.ino && q.ino != ino)))
			return q.ino ? -ESTALE : -ENOENT;
		if (ino != SF_DIR && (q.flags & (LEGO_SA_MTIME | LEGO_SA_MTIME_NOW)))
			sf.mtime[ino] = q.flags & LEGO_SA_MTIME ? q.len : sf.mtime[ino] + 1;
		sf_stat(ino, &st);
		memcpy(rep, &st, LG_MIN(sizeof st, repcap));
		*replen = sf.quirk ? sizeof st - 8 : sizeof st;
		return 0;
	case X2F_STATFS: {
		struct lego_statfs sfs = {.bsize = 4096, .frsize = 4096, .blocks = 1000, .bfree = 500};
		memcpy(rep, &sfs, LG_MIN(sizeof sfs, repcap));
		*replen = sf.quirk ? sizeof sfs - 8 : sizeof sfs;
		return 0;
	}
	case X2F_LIST: {
		size_t k = LG_MIN(repcap, (size_t)(q.off % 512));
		memset(rep, 'x', k);
		*replen = k + (sf.quirk ? 7 : 0);
		return 0;
	}
	}
	FUZZ_CHECK(!"the page cache sent an opcode a storenode does not serve");
	return -EOPNOTSUPP;
}

/* ------------------------------------------------------- body builders */

/* A reference to one of four address spaces, line sizes 4K..16K, and 2M
 * for one of them (rarely: each such line read or written costs 2 MiB of
 * copying and a fresh mapping under ASan). */
static void mk_ref(struct fin *f, struct lego_as_ref *ref)
{
	uint8_t b = fin_u8(f);
	uint32_t lo = (b >> 2) & 7;
	memset(ref, 0, sizeof *ref);
	ref->as_id = 1 + (b & 3);
	ref->line_order = lo < 3 ? 12 + lo : 12;
	if ((b & 0x7f) == 0x7c)
		ref->line_order = 21;
	ref->quota = b & 0x80 ? 1u << 20 : 0;
}

static void fix_cap(struct lego_as_ref *ref)
{
	lg_cap_make(mn_secret, ref->as_id, ref->line_order, ref->quota, ref->cap);
}

/* In a raw body, the refs at `at` (if the body holds them) get valid caps. */
static void fix_cap_at(uint8_t *body, size_t blen, size_t at)
{
	struct lego_as_ref ref;
	if (blen < at + sizeof ref)
		return;
	memcpy(&ref, body + at, sizeof ref);
	fix_cap(&ref);
	memcpy(body + at, &ref, sizeof ref);
}

static size_t mk_lines(struct fin *f, uint16_t op, uint8_t *body)
{
	struct lego_lines_req req;
	mk_ref(f, &req.as);
	uint8_t b = fin_u8(f);
	size_t ls = (size_t)1 << req.as.line_order;
	req.count = ls > 65536 ? 1 : 1 + (b & 3);
	req.flags = b & 4 ? LEGO_LINES_SEQ : 0;
	if ((b & 8) && ls <= 65536) /* a count that does not match the body */
		req.count += b >> 4;
	if (b & 0x80)
		req.flags |= (uint32_t)b << 24;
	memcpy(body, &req, sizeof req);
	size_t nref = LG_MIN(req.count, (uint32_t)LEGO_BATCH_MAX);
	size_t len = sizeof req;
	for (size_t i = 0; i < nref; i++) {
		struct lego_line_ref r = {.line = fin_u8(f) % 16, .seq = fin_u8(f)};
		if (r.line == 15) /* the empty marker of the store's tables, and others */
			r.line = fin_u8(f) & 1 ? UINT64_MAX : fin_u64(f);
		memcpy(body + len, &r, sizeof r);
		len += sizeof r;
	}
	if (op == P2M_WRITE) {
		for (size_t i = 0; i < nref; i++) {
			uint8_t fill = fin_u8(f);
			memset(body + len, fill & 0x80 ? 0 : fill, ls);
			if (fill & 0x40) /* mostly zeros: one byte set */
				body[len + fin_u16(f) % ls] = 1;
			len += ls;
		}
	}
	return len;
}

static const char *const paths[] = {"", "a", "b", "d/", "d/a", "d/b", "c", "d"};

static size_t mk_path(struct fin *f, char *dst)
{
	uint8_t b = fin_u8(f);
	if (b & 0x80) { /* raw, up to 31 bytes */
		size_t n = b & 31;
		fin_bytes(f, dst, n);
		return n;
	}
	const char *p = paths[b % LG_ARRAY_SIZE(paths)];
	memcpy(dst, p, strlen(p));
	return strlen(p);
}

static size_t mk_file(struct fin *f, uint16_t op, uint8_t *body)
{
	struct lego_file_req q;
	memset(&q, 0, sizeof q);
	uint8_t b = fin_u8(f), o = fin_u8(f), l = fin_u8(f);
	q.ino = b & 7;
	q.off = (uint64_t)(o & 31) * 16384 + (o & 32 ? fin_u16(f) : 0);
	if (o == 0xff)
		q.off = fin_u64(f);
	q.len = (uint64_t)(l & 15) * 16384 + (l & 16 ? fin_u16(f) : 0);
	if (op == X2F_READ && (l & 0x80))
		q.len = l & 0x40 ? LEGO_FILE_IO_MAX : fin_u64(f);
	if (op == X2F_WRITE)
		q.len = LG_MIN(q.len, (uint64_t)LEGO_FILE_IO_MAX);
	q.flags = (b & 8 ? O_TRUNC : 0) | (b & 16 ? O_CREAT : 0) | (b & 32 ? O_RDWR : 0);
	if (op == X2F_SETATTR)
		q.flags = (b >> 2) & LEGO_SA_ALL;
	if (op == X2F_WRITE)
		q.flags = b & 32 ? LEGO_F_APPEND : 0;
	if (op == X2F_TRUNCATE)
		q.flags = b & 32 ? LEGO_F_EXTEND : 0;
	char *path = (char *)body + sizeof q;
	q.path_len = (uint16_t)mk_path(f, path);
	if (op == X2F_RENAME || op == X2F_SYMLINK || op == X2F_LINK || (b & 64))
		q.path2_len = (uint16_t)mk_path(f, path + q.path_len);
	size_t len = sizeof q + q.path_len + q.path2_len;
	if (op == X2F_WRITE) {
		memset(body + len, fin_u8(f), q.len);
		len += q.len;
	}
	if (b & 0x80) /* lengths off by a little */
		len -= LG_MIN(len, (size_t)(l & 3));
	memcpy(body, &q, sizeof q);
	return len;
}

/* A well-formed body for op (or nearly: the builders leave some fields
 * wrong on purpose). */
static size_t mk_body(struct fin *f, uint16_t op, uint8_t *body, int cap)
{
	size_t len = 0;
	switch (op) {
	case P2M_READ:
	case P2M_WRITE:
		len = mk_lines(f, op, body);
		break;
	case P2M_FREE: {
		struct lego_free_req q;
		mk_ref(f, &q.as);
		uint8_t b = fin_u8(f);
		q.first_line = b & 15;
		q.nr_lines = b & 0x80 ? UINT64_MAX - (b & 0x40 ? 0 : q.first_line) : (b >> 4) & 7;
		if ((b & 0x70) == 0x70)
			q.nr_lines = fin_u64(f);
		memcpy(body, &q, sizeof q);
		len = sizeof q;
		break;
	}
	case P2M_RESERVE: {
		struct lego_reserve_req q;
		mk_ref(f, &q.as);
		int8_t d = (int8_t)fin_u8(f);
		q.delta = d == INT8_MIN ? INT64_MIN : (int64_t)d * (1 << 20);
		memcpy(body, &q, sizeof q);
		len = sizeof q;
		break;
	}
	case P2M_AS_EXIT: {
		struct lego_p2mon_as_req q = {0};
		mk_ref(f, &q.as);
		memcpy(body, &q, sizeof q);
		len = sizeof q;
		break;
	}
	case P2M_CLONE: {
		struct lego_clone_req q;
		mk_ref(f, &q.parent);
		mk_ref(f, &q.child);
		memcpy(body, &q, sizeof q);
		len = sizeof q;
		break;
	}
	case X2F_OPEN: case X2F_STAT: case X2F_READ: case X2F_WRITE: case X2F_TRUNCATE:
	case X2F_FSYNC: case X2F_UNLINK: case X2F_RMDIR: case X2F_MKDIR: case X2F_RENAME:
	case X2F_LIST: case X2F_CLOSE: case X2F_SETATTR: case X2F_STATFS: case X2F_SYMLINK:
	case X2F_READLINK: case X2F_LINK:
		return mk_file(f, op, body);
	default:
		len = fin_u8(f) & 15;
		fin_bytes(f, body, len);
		return len;
	}
	if (cap) {
		fix_cap_at(body, len, 0);
		if (op == P2M_CLONE)
			fix_cap_at(body, len, sizeof(struct lego_as_ref));
	}
	return len;
}

/* ------------------------------------------------------------- the run */

static struct memnode M;
static struct fz_conn conns[NCONNS];

static void mn_start(void)
{
	memset(&M, 0, sizeof M);
	memset(&sf, 0, sizeof sf);
	FUZZ_CHECK(ms_store_new(64u << 20, &M.store) == 0);
	ms_store_set_secret(M.store, mn_secret);
	struct rpc_server_conf sc = {.name = "memnode", .handlers = memnode_handlers,
				     .nhandlers = memnode_nhandlers, .key = "fuzz", .user = &M,
				     .stats_fn = memnode_stats, .max_conns = 8};
	FUZZ_CHECK(rpc_server_new(&sc, &M.srv) == 0);
	fz_conns_open(M.srv, mn_roles, NCONNS, conns);
}

/* The page cache, made at the first file operation of an input: its
 * megabyte of scratch costs a mapping under ASan, and most inputs never
 * need it. */
static void mn_pgc(void)
{
	if (M.pgc)
		return;
	struct pgc_conf pc = {.size = 1u << 20, .dirty_max = 256u << 10,
			      .expire_ns = 1000000000ull, .call = sf_call, .user = &M};
	FUZZ_CHECK(pgc_new(&pc, &M.pgc) == 0);
}

static void mn_stop(void)
{
	struct ms_totals t;
	ms_store_totals(M.store, &t);
	FUZZ_CHECK(t.stored <= t.capacity);
	FUZZ_CHECK(t.reserved <= t.capacity);
	rpc_server_free(M.srv);
	pgc_free(M.pgc);
	ms_store_free(M.store);
}

/* What the memnode does with the address spaces a heartbeat reply says
 * are gone (memnode/main.c hb_reply). */
static void mn_monfree(uint64_t as_id)
{
	uint64_t conn = ms_as_destroy(M.store, as_id);
	if (conn && !ms_owner_in_use(M.store, conn))
		rpc_server_drop_process(M.srv, conn);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_lego_init();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fin f = {data, size};
	mn_start();
	for (int msgs = 0; fin_left(&f) && msgs < 64; msgs++) {
		uint8_t pick = fin_u8(&f), fl = fin_u8(&f);
		uint16_t op = pick == FZ_PICK_RAW ? OP_RAW : mn_ops[pick % LG_ARRAY_SIZE(mn_ops)];
		if (op == OP_FILE) { /* the byte read as flags said which */
			op = X2F_OPEN + fl % (X2F_LINK - X2F_OPEN + 2);
			if (op > X2F_LINK)
				op = OP_TICK;
			fl = fin_u8(&f);
		}
		if (op == OP_TICK) {
			mn_pgc();
			sf.fail = fl & FZ_STOFAIL ? -EIO : 0;
			pgc_tick(M.pgc);
			pgc_gc(M.pgc, fl & 1 ? 4096 : 64); /* (as the memnode's tick) */
			if (fl & FZ_BAD)
				pgc_flush_all(M.pgc);
			continue;
		}
		if (op == OP_MONFREE) {
			mn_monfree(1 + (fl & 3));
			continue;
		}
		if (op == OP_HANDSHAKE) {
			fz_handshake(M.srv, &f, "fuzz", NCONNS + 1);
			continue;
		}
		if (op == OP_RAW)
			op = fin_u8(&f);
		if (op >= X2F_OPEN && op <= X2F_LINK)
			mn_pgc();
		uint8_t bad = fl & FZ_BAD ? fin_u8(&f) : 0;
		uint8_t *body = fz_body();
		size_t blen;
		if (fl & FZ_SHAPE) {
			blen = mk_body(&f, op, body, fl & FZ_CAP);
		} else {
			blen = fz_raw_body(&f, 4096);
			if (fl & FZ_CAP) {
				fix_cap_at(body, blen, 0);
				if (op == P2M_CLONE)
					fix_cap_at(body, blen, sizeof(struct lego_as_ref));
			}
		}
		static const int fails[] = {-EIO, -ESTALE, -ENOENT, -ETIMEDOUT};
		sf.fail = fl & FZ_STOFAIL ? fails[(fl >> 6) & 3] : 0;
		sf.quirk = (fl & 0xc0) == 0xc0 && !(fl & FZ_STOFAIL);
		fz_send(M.srv, &conns[(fl >> 4) & 3], op, blen, bad);
	}
	sf.fail = 0;
	mn_stop();
	return 0;
}
