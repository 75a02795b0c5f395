/* The memnode's page cache (see pgcache.h and docs/storage.md). */
#define _GNU_SOURCE
#include "pgcache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "common/util.h"

#define PGC_BATCH 16u /* blocks in one storenode READ or WRITE (1 MiB) */
#define PGC_FILE_BUCKETS 4096u

struct pgc_file;

struct pgc_block {
	struct pgc_file *f;
	uint64_t idx;
	uint8_t *data;           /* PGC_BLOCK bytes */
	uint32_t dlo, dhi;       /* dirty byte range, dlo < dhi when dirty */
	uint64_t dirty_ns;       /* when it became dirty */
	struct pgc_block *hnext; /* hash chain */
	struct pgc_block *lprev, *lnext; /* LRU, most recent first */
	struct pgc_block *dprev, *dnext; /* dirty blocks, oldest first */
	struct pgc_block *fprev, *fnext; /* the file's blocks */
};

struct pgc_file {
	uint64_t ino;
	char *path;
	uint16_t path_len;
	uint16_t prev_len;
	char *prev;          /* its name before its last rename through us, or NULL */
	uint64_t size;       /* as processes see it (dirty data included) */
	uint64_t store_size; /* at the storenode, as last seen */
	uint64_t store_mtime, store_ctime;
	int mtime_known;     /* store_[mc]time are the storenode's (no write-back since) */
	int orphan;          /* unlinked or renamed over through us: its inode number
			      * may name a new file now (pgc_file_of) */
	uint64_t ndirty;     /* dirty blocks */
	struct pgc_block *blocks;
	struct pgc_file *hnext;
};

struct pgc {
	struct pgc_conf conf;
	struct pgc_file *files[PGC_FILE_BUCKETS];
	unsigned gc_next; /* the next bucket pgc_gc looks at */
	struct pgc_block **bh;
	uint64_t nbh; /* power of two */
	struct pgc_block *lru_head, *lru_tail;
	struct pgc_block *dirty_head, *dirty_tail;
	uint8_t *scratch; /* PGC_BATCH blocks, for batched write-back */
	struct pgc_stats st;
};

/* ------------------------------------------------------------ structure */

static uint64_t pgc_hash(uint64_t ino, uint64_t idx)
{
	uint64_t h = ino * 0x9e3779b97f4a7c15ull ^ (idx + 0x632be59bd9b4e019ull) * 0xbf58476d1ce4e5b9ull;
	return h ^ (h >> 29);
}

/* The live file with inode number ino (not an orphan). */
static struct pgc_file *pgc_file_find(struct pgc *c, uint64_t ino)
{
	for (struct pgc_file *f = c->files[ino % PGC_FILE_BUCKETS]; f; f = f->hnext)
		if (f->ino == ino && !f->orphan)
			return f;
	return NULL;
}

static int pgc_path_is(const struct pgc_file *f, const char *path, size_t len)
{
	return f->path_len == len && memcmp(f->path, path, len) == 0;
}

/* The file a request names by inode and path (a descriptor's: the name it
 * was opened by): the live file with that inode at that name or at the
 * name it had before its last rename through us (a log rotated under its
 * writer), else an orphan with that inode at that name (a temporary file
 * unlinked while open), else none (the caller asks the storenode).  So a
 * new file that the file system gave a freed inode number is never taken
 * for the old one. */
static struct pgc_file *pgc_file_of(struct pgc *c, uint64_t ino, const char *path, size_t len)
{
	struct pgc_file *live = pgc_file_find(c, ino);
	if (live && (pgc_path_is(live, path, len) ||
		     (live->prev && live->prev_len == len && memcmp(live->prev, path, len) == 0)))
		return live;
	for (struct pgc_file *f = c->files[ino % PGC_FILE_BUCKETS]; f; f = f->hnext)
		if (f->ino == ino && f->orphan && pgc_path_is(f, path, len))
			return f;
	return NULL;
}

static int pgc_set_path(struct pgc_file *f, const char *path, size_t len)
{
	if (f->path && f->path_len == len && memcmp(f->path, path, len) == 0)
		return 0;
	char *p = malloc(len + 1);
	if (!p)
		return -ENOMEM;
	memcpy(p, path, len);
	p[len] = 0;
	free(f->path);
	f->path = p;
	f->path_len = (uint16_t)len;
	return 0;
}

/* The file with these attributes, created if new; its path updated. */
static struct pgc_file *pgc_file_get(struct pgc *c, const struct lego_fstat *st, const char *path,
				     size_t plen)
{
	struct pgc_file *f = pgc_file_find(c, st->ino);
	if (!f) {
		f = calloc(1, sizeof *f);
		if (!f)
			return NULL;
		f->ino = st->ino;
		f->size = f->store_size = st->size;
		f->store_mtime = st->mtime_ns;
		f->store_ctime = st->ctime_ns;
		f->mtime_known = 1;
		f->hnext = c->files[st->ino % PGC_FILE_BUCKETS];
		c->files[st->ino % PGC_FILE_BUCKETS] = f;
		c->st.files++;
	}
	if (pgc_set_path(f, path, plen) < 0)
		return NULL;
	return f;
}

static struct pgc_block *pgc_block_find(struct pgc *c, struct pgc_file *f, uint64_t idx)
{
	for (struct pgc_block *b = c->bh[pgc_hash(f->ino, idx) & (c->nbh - 1)]; b; b = b->hnext)
		if (b->f == f && b->idx == idx)
			return b;
	return NULL;
}

static void pgc_lru_unlink(struct pgc *c, struct pgc_block *b)
{
	if (b->lprev)
		b->lprev->lnext = b->lnext;
	else
		c->lru_head = b->lnext;
	if (b->lnext)
		b->lnext->lprev = b->lprev;
	else
		c->lru_tail = b->lprev;
	b->lprev = b->lnext = NULL;
}

static void pgc_lru_front(struct pgc *c, struct pgc_block *b)
{
	if (c->lru_head == b)
		return;
	if (b->lprev || b->lnext || c->lru_tail == b)
		pgc_lru_unlink(c, b);
	b->lnext = c->lru_head;
	if (c->lru_head)
		c->lru_head->lprev = b;
	c->lru_head = b;
	if (!c->lru_tail)
		c->lru_tail = b;
}

static void pgc_mark_clean(struct pgc *c, struct pgc_block *b)
{
	if (b->dlo >= b->dhi)
		return;
	if (b->dprev)
		b->dprev->dnext = b->dnext;
	else
		c->dirty_head = b->dnext;
	if (b->dnext)
		b->dnext->dprev = b->dprev;
	else
		c->dirty_tail = b->dprev;
	b->dprev = b->dnext = NULL;
	b->dlo = b->dhi = 0;
	b->f->ndirty--;
	c->st.dirty -= PGC_BLOCK;
}

static void pgc_mark_dirty(struct pgc *c, struct pgc_block *b, uint32_t lo, uint32_t hi)
{
	if (b->dlo < b->dhi) {
		b->dlo = LG_MIN(b->dlo, lo);
		b->dhi = LG_MAX(b->dhi, hi);
		return;
	}
	b->dlo = lo;
	b->dhi = hi;
	b->dirty_ns = lg_now_ns();
	b->dprev = c->dirty_tail;
	b->dnext = NULL;
	if (c->dirty_tail)
		c->dirty_tail->dnext = b;
	else
		c->dirty_head = b;
	c->dirty_tail = b;
	b->f->ndirty++;
	c->st.dirty += PGC_BLOCK;
}

static struct pgc_block *pgc_block_new(struct pgc *c, struct pgc_file *f, uint64_t idx)
{
	struct pgc_block *b = calloc(1, sizeof *b);
	if (!b)
		return NULL;
	b->data = malloc(PGC_BLOCK);
	if (!b->data) {
		free(b);
		return NULL;
	}
	b->f = f;
	b->idx = idx;
	struct pgc_block **head = &c->bh[pgc_hash(f->ino, idx) & (c->nbh - 1)];
	b->hnext = *head;
	*head = b;
	b->fnext = f->blocks;
	if (f->blocks)
		f->blocks->fprev = b;
	f->blocks = b;
	pgc_lru_front(c, b);
	c->st.blocks++;
	c->st.bytes += PGC_BLOCK;
	return b;
}

/* Forget a block, dirty or not (the caller wrote it back or knows its data
 * is void). */
static void pgc_block_drop(struct pgc *c, struct pgc_block *b)
{
	pgc_mark_clean(c, b);
	pgc_lru_unlink(c, b);
	struct pgc_block **pp = &c->bh[pgc_hash(b->f->ino, b->idx) & (c->nbh - 1)];
	while (*pp != b)
		pp = &(*pp)->hnext;
	*pp = b->hnext;
	if (b->fprev)
		b->fprev->fnext = b->fnext;
	else
		b->f->blocks = b->fnext;
	if (b->fnext)
		b->fnext->fprev = b->fprev;
	c->st.blocks--;
	c->st.bytes -= PGC_BLOCK;
	free(b->data);
	free(b);
}

/* Drop the file's blocks from index `from` on. */
static void pgc_drop_from(struct pgc *c, struct pgc_file *f, uint64_t from)
{
	struct pgc_block *b = f->blocks;
	while (b) {
		struct pgc_block *next = b->fnext;
		if (b->idx >= from)
			pgc_block_drop(c, b);
		b = next;
	}
}

/* --------------------------------------------------------- storenode I/O */

static int pgc_store(struct pgc *c, uint16_t op, struct lego_file_req *req, const char *path,
		     const void *data, size_t dlen, void *rep, size_t repcap, size_t *replen)
{
	struct iovec iov[3] = {{req, sizeof *req}, {(void *)path, req->path_len},
			       {(void *)data, dlen}};
	int n = dlen ? 3 : 2;
	size_t rl = 0;
	int r = c->conf.call(c->conf.user, op, iov, n, rep, repcap, &rl);
	if (replen)
		*replen = rl;
	if (r == -EIO || r == -ETIMEDOUT || r == -ECONNRESET)
		c->st.store_errors++;
	return r;
}

/* Read blocks [idx, idx + n) of f, none of them cached, from the storenode. */
static int pgc_fill(struct pgc *c, struct pgc_file *f, uint64_t idx, uint32_t n)
{
	uint64_t off = idx * PGC_BLOCK;
	uint8_t *buf = c->scratch;
	size_t got = 0;
	if (off < f->store_size) {
		struct lego_file_req req = {.ino = f->ino, .off = off, .len = (uint64_t)n * PGC_BLOCK,
					    .path_len = f->path_len};
		int r = pgc_store(c, X2F_READ, &req, f->path, NULL, 0, buf, req.len, &got);
		if (r)
			return r;
		got = LG_MIN(got, (size_t)req.len);
		c->st.fills++;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct pgc_block *b = pgc_block_new(c, f, idx + i);
		if (!b)
			return -ENOMEM;
		size_t have = got > (size_t)i * PGC_BLOCK ? LG_MIN(got - (size_t)i * PGC_BLOCK, PGC_BLOCK) : 0;
		memcpy(b->data, buf + (size_t)i * PGC_BLOCK, have);
		memset(b->data + have, 0, PGC_BLOCK - have);
	}
	return 0;
}

/* Write back b and the dirty blocks that follow it in the file, in one
 * message while the dirty ranges are contiguous.  A file that is gone
 * (ESTALE, ENOENT) takes its dirty data with it. */
static int pgc_writeback(struct pgc *c, struct pgc_block *b)
{
	struct pgc_file *f = b->f;
	struct pgc_block *run[PGC_BATCH];
	uint32_t n = 0;
	run[n++] = b;
	while (n < PGC_BATCH && run[n - 1]->dhi == PGC_BLOCK) {
		struct pgc_block *nx = pgc_block_find(c, f, run[n - 1]->idx + 1);
		if (!nx || nx->dlo != 0 || nx->dhi == 0)
			break;
		run[n++] = nx;
	}
	uint64_t off = b->idx * PGC_BLOCK + b->dlo;
	size_t len = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t lo = i ? 0 : b->dlo;
		memcpy(c->scratch + len, run[i]->data + lo, run[i]->dhi - lo);
		len += run[i]->dhi - lo;
	}
	/* never write past the file's end (a truncate may have shortened it) */
	if (off >= f->size)
		len = 0;
	else if (off + len > f->size)
		len = f->size - off;
	int r = 0;
	if (len) {
		struct lego_file_req req = {.ino = f->ino, .off = off, .len = len,
					    .path_len = f->path_len};
		struct lego_count_rep rep;
		r = pgc_store(c, X2F_WRITE, &req, f->path, c->scratch, len, &rep, sizeof rep, NULL);
	}
	if (r == -ESTALE || r == -ENOENT) {
		/* (expected of a file unlinked through us: a temporary file) */
		lg_log_rl(f->orphan ? LG_DEBUG : LG_WARN, "pgcache",
			  "file %s (inode %llu) is gone; %zu dirty bytes dropped", f->path,
			  (unsigned long long)f->ino, len);
		c->st.dropped += len;
		r = 0;
	} else if (r) {
		c->st.wb_errors++;
		return r;
	} else {
		c->st.writebacks++;
		c->st.wb_bytes += len;
		f->store_size = LG_MAX(f->store_size, off + len);
		f->mtime_known = 0;
	}
	for (uint32_t i = 0; i < n; i++)
		pgc_mark_clean(c, run[i]);
	return r;
}

/* Write back every dirty block of f. */
static int pgc_flush_file(struct pgc *c, struct pgc_file *f)
{
	while (f->ndirty) {
		struct pgc_block *b = f->blocks;
		while (b && b->dlo >= b->dhi)
			b = b->fnext;
		/* start a run at its lowest dirty block */
		while (b) {
			struct pgc_block *p = b->idx ? pgc_block_find(c, f, b->idx - 1) : NULL;
			if (!p || p->dlo >= p->dhi || p->dhi != PGC_BLOCK || b->dlo)
				break;
			b = p;
		}
		if (!b)
			break;
		int r = pgc_writeback(c, b);
		if (r)
			return r;
	}
	return 0;
}

/* Keep the cache within its size: drop least recently used blocks,
 * writing dirty ones back first. */
static int pgc_shrink(struct pgc *c)
{
	while (c->st.bytes > c->conf.size && c->lru_tail) {
		struct pgc_block *b = c->lru_tail;
		if (b->dlo < b->dhi) {
			int r = pgc_writeback(c, b);
			if (r)
				return r;
		}
		pgc_block_drop(c, b);
		c->st.evictions++;
	}
	return 0;
}

/* Write back the oldest dirty data until at most `keep` bytes are dirty. */
static int pgc_clean_to(struct pgc *c, uint64_t keep, uint64_t older_than_ns)
{
	while (c->dirty_head && (c->st.dirty > keep || c->dirty_head->dirty_ns < older_than_ns)) {
		int r = pgc_writeback(c, c->dirty_head);
		if (r)
			return r;
	}
	return 0;
}

/* ---------------------------------------------------------- public calls */

int pgc_new(const struct pgc_conf *conf, struct pgc **out)
{
	struct pgc *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->conf = *conf;
	c->nbh = 1024;
	while (c->nbh < conf->size / PGC_BLOCK && c->nbh < (1ull << 24))
		c->nbh <<= 1;
	c->bh = calloc(c->nbh, sizeof *c->bh);
	c->scratch = malloc((size_t)PGC_BATCH * PGC_BLOCK);
	if (!c->bh || !c->scratch) {
		pgc_free(c);
		return -ENOMEM;
	}
	*out = c;
	return 0;
}

void pgc_free(struct pgc *c)
{
	if (!c)
		return;
	for (unsigned i = 0; i < PGC_FILE_BUCKETS; i++) {
		struct pgc_file *f = c->files[i];
		while (f) {
			struct pgc_file *next = f->hnext;
			pgc_drop_from(c, f, 0);
			free(f->path);
			free(f->prev);
			free(f);
			f = next;
		}
	}
	free(c->bh);
	free(c->scratch);
	free(c);
}

void pgc_get_stats(const struct pgc *c, struct pgc_stats *st) { *st = c->st; }

int pgc_tick(struct pgc *c)
{
	uint64_t now = lg_now_ns();
	uint64_t cut = now > c->conf.expire_ns ? now - c->conf.expire_ns : 0;
	return pgc_clean_to(c, c->conf.dirty_max, cut);
}

int pgc_flush_all(struct pgc *c) { return pgc_clean_to(c, 0, 0); }

void pgc_gc(struct pgc *c, unsigned buckets)
{
	for (unsigned k = 0; k < buckets && k < PGC_FILE_BUCKETS; k++) {
		struct pgc_file **pp = &c->files[c->gc_next++ % PGC_FILE_BUCKETS];
		while (*pp) {
			struct pgc_file *f = *pp;
			if (f->blocks || f->ndirty) {
				pp = &f->hnext;
				continue;
			}
			*pp = f->hnext;
			free(f->path);
			free(f->prev);
			free(f);
			c->st.files--;
		}
	}
}

/* ------------------------------------------------------------- requests */

struct pgc_req {
	struct lego_file_req r;
	const char *path, *path2;
	const uint8_t *data;
};

static int pgc_parse(const struct rpc_ctx *ctx, struct pgc_req *q)
{
	if (ctx->body_len < sizeof q->r)
		return -EBADMSG;
	memcpy(&q->r, ctx->body, sizeof q->r);
	size_t paths = (size_t)q->r.path_len + q->r.path2_len;
	if (q->r.path_len > LEGO_PATH_MAX || q->r.path2_len > LEGO_PATH_MAX)
		return -ENAMETOOLONG;
	size_t data = ctx->hdr->opcode == X2F_WRITE ? q->r.len : 0;
	if (data > LEGO_FILE_IO_MAX || ctx->body_len != sizeof q->r + paths + data)
		return -EBADMSG;
	q->path = (const char *)ctx->body + sizeof q->r;
	q->path2 = q->path + q->r.path_len;
	q->data = (const uint8_t *)q->path2 + q->r.path2_len;
	if (ctx->hdr->opcode == X2F_READ && q->r.len > LEGO_FILE_IO_MAX)
		return -EMSGSIZE;
	return 0;
}

/* Pass the request on unchanged; the storenode's reply becomes ours. */
static int pgc_forward(struct pgc *c, struct rpc_ctx *ctx, void *rep, size_t repcap, size_t *replen)
{
	struct iovec iov = {(void *)ctx->body, ctx->body_len};
	size_t rl = 0;
	int r = c->conf.call(c->conf.user, ctx->hdr->opcode, &iov, 1, rep, repcap, &rl);
	if (r == -EIO || r == -ETIMEDOUT || r == -ECONNRESET)
		c->st.store_errors++;
	if (replen)
		*replen = LG_MIN(rl, repcap);
	return r;
}

/* Pass on a request that names an open file by inode (FSYNC, TRUNCATE,
 * SETATTR, STAT of a descriptor) under the name this cache knows for the
 * file f: a rename through us changed it, while the process's descriptor
 * keeps the name it opened. */
static int pgc_forward_as(struct pgc *c, struct rpc_ctx *ctx, const struct pgc_req *q,
			  const struct pgc_file *f, void *rep, size_t repcap, size_t *replen)
{
	if (!f || f->orphan || !q->r.ino || f->ino != q->r.ino ||
	    pgc_path_is(f, q->path, q->r.path_len))
		return pgc_forward(c, ctx, rep, repcap, replen);
	struct lego_file_req r2 = q->r;
	r2.path_len = f->path_len;
	size_t rl = 0;
	int r = pgc_store(c, ctx->hdr->opcode, &r2, f->path, NULL, 0, rep, repcap, &rl);
	if (replen)
		*replen = LG_MIN(rl, repcap);
	return r;
}

/* Forward and hand the reply body back to the process as is. */
static int pgc_forward_reply(struct pgc *c, struct rpc_ctx *ctx, size_t maxrep)
{
	uint8_t *buf = maxrep ? malloc(maxrep) : NULL;
	if (maxrep && !buf)
		return -ENOMEM;
	size_t rl = 0;
	int r = pgc_forward(c, ctx, buf, maxrep, &rl);
	if (r == 0 && rl) {
		void *out = rpc_reply_alloc(ctx, rl);
		if (out)
			memcpy(out, buf, rl);
		else
			r = -ENOMEM;
	}
	free(buf);
	return r;
}

/* st, then (OPEN) plen bytes of the file's path. */
static int pgc_reply_stat_path(struct rpc_ctx *ctx, const struct lego_fstat *st, const char *path,
			       size_t plen)
{
	struct lego_fstat *out = rpc_reply_alloc(ctx, sizeof *out + plen);
	if (!out)
		return -ENOMEM;
	*out = *st;
	if (plen)
		memcpy(out + 1, path, plen);
	return 0;
}

static int pgc_reply_stat(struct rpc_ctx *ctx, const struct lego_fstat *st)
{
	return pgc_reply_stat_path(ctx, st, NULL, 0);
}

/* The file a READ/WRITE/TRUNCATE/FSYNC names: from the cache, or from a
 * STAT at the storenode (which also proves the path still names it). */
static int pgc_file_for(struct pgc *c, const struct pgc_req *q, struct pgc_file **out)
{
	struct pgc_file *f = pgc_file_of(c, q->r.ino, q->path, q->r.path_len);
	if (f) {
		/* (its path stays the cache's: a rename through us updated it,
		 * while the process's descriptor keeps the name it opened) */
		*out = f;
		return 0;
	}
	struct lego_file_req sr = {.path_len = q->r.path_len};
	struct lego_fstat st;
	size_t rl = 0;
	int r = pgc_store(c, X2F_STAT, &sr, q->path, NULL, 0, &st, sizeof st, &rl);
	if (r)
		return r;
	if (rl < sizeof st)
		return -EBADMSG;
	if ((st.mode & S_IFMT) == S_IFDIR)
		return -EISDIR;
	if (q->r.ino && st.ino != q->r.ino)
		return -ESTALE;
	*out = pgc_file_get(c, &st, q->path, q->r.path_len);
	return *out ? 0 : -ENOMEM;
}

/* OPEN and STAT.  OPEN's reply names the file by the path the storenode
 * reached it by (links followed), and so does the cache. */
static int pgc_open(struct pgc *c, struct rpc_ctx *ctx, const struct pgc_req *q, int op)
{
	struct {
		struct lego_fstat st;
		char path[LEGO_PATH_MAX];
	} rep;
	struct lego_fstat st;
	size_t rl = 0;
	int r = op == X2F_STAT && q->r.ino
			? pgc_forward_as(c, ctx, q, pgc_file_of(c, q->r.ino, q->path, q->r.path_len),
					 &rep, sizeof rep.st, &rl)
			: pgc_forward(c, ctx, &rep, op == X2F_OPEN ? sizeof rep : sizeof rep.st, &rl);
	if (r)
		return r;
	if (rl < sizeof st)
		return -EBADMSG;
	st = rep.st;
	const char *path = op == X2F_OPEN ? rep.path : NULL;
	size_t plen = op == X2F_OPEN ? rl - sizeof st : 0;
	if (op == X2F_OPEN && plen == 0) { /* (no path in the reply: the request's) */
		path = q->path;
		plen = q->r.path_len;
	}
	if ((st.mode & S_IFMT) == S_IFREG) {
		struct pgc_file *f = op == X2F_OPEN ? pgc_file_get(c, &st, path, plen)
						   : pgc_file_find(c, st.ino);
		if (op == X2F_OPEN && !f)
			return -ENOMEM;
		if (f && op == X2F_OPEN && (q->r.flags & O_TRUNC)) {
			pgc_drop_from(c, f, 0); /* the storenode truncated it */
			f->size = 0;
		} else if (f && !f->ndirty && op == X2F_OPEN) {
			/* close-to-open: another memnode may have changed it
			 * (its times too: the change time no one can set) */
			if (f->mtime_known && (st.mtime_ns != f->store_mtime ||
					       st.ctime_ns != f->store_ctime || st.size != f->store_size))
				pgc_drop_from(c, f, 0);
			f->size = st.size;
		} else if (f && !f->ndirty) {
			f->size = st.size;
		}
		if (f) {
			f->store_size = st.size;
			f->store_mtime = st.mtime_ns;
			f->store_ctime = st.ctime_ns;
			f->mtime_known = 1;
			st.size = f->size;
			st.blocks = LG_MAX(st.blocks, LG_ALIGN_UP(f->size, 512) / 512);
		}
	}
	return pgc_reply_stat_path(ctx, &st, path, plen);
}

static int pgc_read(struct pgc *c, struct rpc_ctx *ctx, const struct pgc_req *q)
{
	struct pgc_file *f;
	int r = pgc_file_for(c, q, &f);
	if (r)
		return r;
	uint64_t off = q->r.off;
	if (off >= f->size || q->r.len == 0)
		return 0;
	size_t n = (size_t)LG_MIN(q->r.len, f->size - off);
	uint64_t first = off / PGC_BLOCK, last = (off + n - 1) / PGC_BLOCK;
	/* fill the missing blocks, contiguous runs in one message each */
	for (uint64_t i = first; i <= last;) {
		if (pgc_block_find(c, f, i)) {
			c->st.hits++;
			i++;
			continue;
		}
		uint32_t run = 1;
		while (run < PGC_BATCH && i + run <= last && !pgc_block_find(c, f, i + run))
			run++;
		c->st.misses += run;
		r = pgc_fill(c, f, i, run);
		if (r)
			return r;
		i += run;
	}
	uint8_t *out = rpc_reply_alloc(ctx, n);
	if (!out)
		return -ENOMEM;
	for (uint64_t i = first; i <= last; i++) {
		struct pgc_block *b = pgc_block_find(c, f, i);
		uint64_t bs = i * PGC_BLOCK;
		uint64_t lo = LG_MAX(off, bs), hi = LG_MIN(off + n, bs + PGC_BLOCK);
		memcpy(out + (lo - off), b->data + (lo - bs), hi - lo);
		pgc_lru_front(c, b);
	}
	pgc_shrink(c); /* trouble writing back is for later calls: the read succeeded */
	return 0;
}

static int pgc_write(struct pgc *c, struct rpc_ctx *ctx, const struct pgc_req *q)
{
	/* Over twice the dirty bound means write-back is failing: refuse
	 * rather than hold ever more data the storenode has not seen. */
	if (c->st.dirty > 2 * c->conf.dirty_max && pgc_clean_to(c, c->conf.dirty_max, 0))
		return -EIO;
	if (q->r.flags & ~LEGO_F_APPEND)
		return -EINVAL;
	struct pgc_file *f;
	int r = pgc_file_for(c, q, &f);
	if (r)
		return r;
	/* an append goes at the end as this cache sees it, dirty data
	 * included: one request at a time here, so the processes that share
	 * this memnode do not overwrite each other's appends */
	int append = q->r.flags & LEGO_F_APPEND;
	uint64_t off = append ? f->size : q->r.off, n = q->r.len;
	/* beyond the largest file Linux has (a signed 64-bit offset): the
	 * write-back's offset and length would add up past 2^64 (fuzz_memnode) */
	if (off > (uint64_t)INT64_MAX || n > (uint64_t)INT64_MAX - off)
		return -EFBIG;
	for (uint64_t i = off / PGC_BLOCK; n && i <= (off + n - 1) / PGC_BLOCK; i++) {
		uint64_t bs = i * PGC_BLOCK;
		uint64_t lo = LG_MAX(off, bs), hi = LG_MIN(off + n, bs + PGC_BLOCK);
		struct pgc_block *b = pgc_block_find(c, f, i);
		if (!b) {
			int whole = lo == bs && hi == bs + PGC_BLOCK;
			if (whole || bs >= f->store_size) {
				b = pgc_block_new(c, f, i);
				if (!b)
					return -ENOMEM;
				memset(b->data, 0, PGC_BLOCK);
			} else {
				c->st.misses++;
				r = pgc_fill(c, f, i, 1);
				if (r)
					return r;
				b = pgc_block_find(c, f, i);
			}
		} else {
			c->st.hits++;
			pgc_lru_front(c, b);
		}
		memcpy(b->data + (lo - bs), q->data + (lo - off), hi - lo);
		pgc_mark_dirty(c, b, (uint32_t)(lo - bs), (uint32_t)(hi - bs));
	}
	f->size = LG_MAX(f->size, off + n);
	struct lego_append_rep *rep = rpc_reply_alloc(ctx, append ? sizeof *rep : sizeof rep->count);
	if (!rep)
		return -ENOMEM;
	rep->count = n;
	if (append)
		rep->off = off;
	/* the data is in the cache: write-back trouble is for later calls */
	if (c->st.dirty > c->conf.dirty_max)
		pgc_clean_to(c, c->conf.dirty_max / 2, 0);
	pgc_shrink(c);
	return 0;
}

static int pgc_truncate(struct pgc *c, struct rpc_ctx *ctx, const struct pgc_req *q)
{
	if (q->r.flags & ~LEGO_F_EXTEND)
		return -EINVAL;
	struct pgc_file *f = pgc_file_of(c, q->r.ino, q->path, q->r.path_len);
	/* extending: against the size processes see here (dirty data
	 * included), in this one loop, so never a cut */
	if ((q->r.flags & LEGO_F_EXTEND) && f && f->size >= q->r.off)
		return 0;
	int r = pgc_forward_as(c, ctx, q, f, NULL, 0, NULL);
	if (r)
		return r;
	if (!f)
		return 0;
	uint64_t len = q->r.off;
	pgc_drop_from(c, f, LG_ALIGN_UP(len, PGC_BLOCK) / PGC_BLOCK);
	struct pgc_block *b = len % PGC_BLOCK ? pgc_block_find(c, f, len / PGC_BLOCK) : NULL;
	if (b) {
		uint32_t keep = (uint32_t)(len % PGC_BLOCK);
		memset(b->data + keep, 0, PGC_BLOCK - keep);
		if (b->dlo < b->dhi) {
			if (b->dlo >= keep)
				pgc_mark_clean(c, b);
			else
				b->dhi = LG_MIN(b->dhi, keep);
		}
	}
	f->size = f->store_size = len;
	f->mtime_known = 0;
	return 0;
}

static int pgc_fsync(struct pgc *c, struct rpc_ctx *ctx, const struct pgc_req *q)
{
	struct pgc_file *f = pgc_file_of(c, q->r.ino, q->path, q->r.path_len);
	if (f) {
		int r = pgc_flush_file(c, f);
		if (r)
			return r;
	}
	return pgc_forward_as(c, ctx, q, f, NULL, 0, NULL);
}

static struct pgc_file *pgc_file_by_path(struct pgc *c, const char *path, size_t len)
{
	for (unsigned i = 0; i < PGC_FILE_BUCKETS; i++)
		for (struct pgc_file *f = c->files[i]; f; f = f->hnext)
			if (!f->orphan && pgc_path_is(f, path, len))
				return f;
	return NULL;
}

static int pgc_unlink(struct pgc *c, struct rpc_ctx *ctx, const struct pgc_req *q)
{
	/* Write the file back first: another name (a hard link) may keep it. */
	struct pgc_file *f = pgc_file_by_path(c, q->path, q->r.path_len);
	if (f) {
		int r = pgc_flush_file(c, f);
		if (r)
			return r;
	}
	struct lego_unlink_rep rep = {0};
	size_t rl = 0;
	int r = pgc_forward(c, ctx, &rep, sizeof rep, &rl);
	if (r)
		return r;
	if (rl < sizeof rep.ino)
		return -EBADMSG;
	/* (the storenode names the inode the name had, and the names it has
	 * left: only a file with none is gone, an orphan) */
	if ((f = pgc_file_find(c, rep.ino)) != NULL && (rl < sizeof rep || rep.nlink == 0))
		f->orphan = 1;
	struct lego_unlink_rep *out = rpc_reply_alloc(ctx, sizeof *out);
	if (!out)
		return -ENOMEM;
	*out = rep;
	return 0;
}

static int pgc_rename(struct pgc *c, struct rpc_ctx *ctx, const struct pgc_req *q)
{
	/* A file the new name replaces: its data first (processes may still
	 * have it open), and it is an orphan after. */
	struct lego_file_req sr = {.flags = LEGO_F_NOFOLLOW, .path_len = q->r.path2_len};
	struct lego_fstat st;
	size_t rl = 0;
	struct pgc_file *gone = NULL;
	if (pgc_store(c, X2F_STAT, &sr, q->path2, NULL, 0, &st, sizeof st, &rl) == 0 &&
	    rl >= sizeof st && (gone = pgc_file_find(c, st.ino)) != NULL) {
		int r = pgc_flush_file(c, gone);
		if (r)
			return r;
	}
	int r = pgc_forward(c, ctx, NULL, 0, NULL);
	if (r)
		return r;
	struct pgc_file *moved = pgc_file_by_path(c, q->path, q->r.path_len);
	if (gone && gone != moved && (!moved || moved->ino != gone->ino) && st.nlink <= 1)
		gone->orphan = 1; /* (a file with another name stays) */
	/* the cache follows the new names, of the file or of a directory's files */
	size_t ol = q->r.path_len, nl = q->r.path2_len;
	char buf[2 * LEGO_PATH_MAX + 2];
	for (unsigned i = 0; i < PGC_FILE_BUCKETS; i++)
		for (struct pgc_file *f = c->files[i]; f; f = f->hnext) {
			if (f->orphan || f->path_len < ol || memcmp(f->path, q->path, ol) != 0 ||
			    (f->path_len > ol && f->path[ol] != '/'))
				continue;
			size_t rest = f->path_len - ol;
			if (nl + rest > LEGO_PATH_MAX)
				continue;
			memcpy(buf, q->path2, nl);
			memcpy(buf + nl, f->path + ol, rest);
			char *prev = f->path;
			uint16_t prev_len = f->path_len;
			f->path = NULL; /* (so pgc_set_path keeps the old name, for prev) */
			if (pgc_set_path(f, buf, nl + rest) < 0) {
				f->path = prev;
				return -ENOMEM;
			}
			free(f->prev);
			f->prev = prev;
			f->prev_len = prev_len;
			f->mtime_known = 0; /* (a rename changes its change time) */
		}
	return 0;
}

/* SETATTR.  New times must not be undone by the write-back of data
 * written before them, so a change of times writes the file's dirty
 * blocks back first (found by inode: the path may be a link to it).  The
 * storenode's answer is then the last this cache saw of the file. */
static int pgc_setattr(struct pgc *c, struct rpc_ctx *ctx, const struct pgc_req *q)
{
	struct lego_fstat st;
	size_t rl = 0;
	int r;
	if (q->r.flags & (LEGO_SA_ATIME | LEGO_SA_MTIME | LEGO_SA_ATIME_NOW | LEGO_SA_MTIME_NOW)) {
		uint64_t ino = q->r.ino;
		if (!ino) {
			struct lego_file_req sr = {.flags = q->r.flags & LEGO_F_NOFOLLOW,
						   .path_len = q->r.path_len};
			r = pgc_store(c, X2F_STAT, &sr, q->path, NULL, 0, &st, sizeof st, &rl);
			if (r)
				return r;
			ino = rl < sizeof st ? 0 : st.ino;
		}
		struct pgc_file *f = !ino	  ? NULL
				     : q->r.ino ? pgc_file_of(c, ino, q->path, q->r.path_len)
						: pgc_file_find(c, ino);
		if (f && (r = pgc_flush_file(c, f)) != 0)
			return r;
	}
	r = pgc_forward_as(c, ctx, q, q->r.ino ? pgc_file_of(c, q->r.ino, q->path, q->r.path_len) : NULL,
			   &st, sizeof st, &rl);
	if (r)
		return r;
	if (rl < sizeof st)
		return -EBADMSG;
	struct pgc_file *f = pgc_file_find(c, st.ino);
	if (f && !f->ndirty) {
		f->store_size = st.size;
		f->store_mtime = st.mtime_ns;
		f->store_ctime = st.ctime_ns;
		f->mtime_known = 1;
	}
	if (f) {
		st.size = f->size;
		st.blocks = LG_MAX(st.blocks, LG_ALIGN_UP(f->size, 512) / 512);
	}
	return pgc_reply_stat(ctx, &st);
}

int pgc_handle(struct pgc *c, struct rpc_ctx *ctx)
{
	struct pgc_req q;
	int r = pgc_parse(ctx, &q);
	if (r)
		return r;
	switch (ctx->hdr->opcode) {
	case X2F_OPEN:
	case X2F_STAT:
		return pgc_open(c, ctx, &q, ctx->hdr->opcode);
	case X2F_READ:
		return pgc_read(c, ctx, &q);
	case X2F_WRITE:
		return pgc_write(c, ctx, &q);
	case X2F_TRUNCATE:
		return pgc_truncate(c, ctx, &q);
	case X2F_FSYNC:
		return pgc_fsync(c, ctx, &q);
	case X2F_CLOSE: {
		struct pgc_file *f = pgc_file_of(c, q.r.ino, q.path, q.r.path_len);
		return f ? pgc_flush_file(c, f) : 0;
	}
	case X2F_UNLINK:
		return pgc_unlink(c, ctx, &q);
	case X2F_RENAME:
		return pgc_rename(c, ctx, &q);
	case X2F_LIST:
		return pgc_forward_reply(c, ctx, LEGO_LIST_MAX);
	case X2F_MKDIR:
	case X2F_RMDIR:
		return pgc_forward(c, ctx, NULL, 0, NULL);
	case X2F_SETATTR:
		return pgc_setattr(c, ctx, &q);
	case X2F_STATFS:
		return pgc_forward_reply(c, ctx, sizeof(struct lego_statfs));
	case X2F_SYMLINK: /* (never replace a file: EEXIST) */
	case X2F_LINK:
		return pgc_forward(c, ctx, NULL, 0, NULL);
	case X2F_READLINK:
		return pgc_forward_reply(c, ctx, sizeof(struct lego_walk_rep) + 2 * LEGO_PATH_MAX);
	}
	return -EOPNOTSUPP;
}
