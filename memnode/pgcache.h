/*
 * The memnode's page cache (docs/storage.md): file blocks of 64 KiB shared
 * by every process this memnode serves, filled from and written back to the
 * storenode.  Reads and writes are answered from the cache; the other file
 * operations pass through, and the cache follows what they change (sizes,
 * names, deleted files).
 *
 * Single-threaded (the memnode's event loop).  The storenode is reached
 * through a call function, so tests can stand in for it.
 */
#ifndef LEGO_MEMNODE_PGCACHE_H
#define LEGO_MEMNODE_PGCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "fabric/rpc.h"

#define PGC_BLOCK (64u * 1024)

/* Send op with body iov[0..n) to the storenode; the reply body is copied
 * into rep (repcap bytes, *replen its full length).  0 or -errno; -EIO
 * when the storenode cannot be reached. */
typedef int (*pgc_call_fn)(void *user, uint16_t op, const struct iovec *iov, int n, void *rep,
			   size_t repcap, size_t *replen);

struct pgc_conf {
	uint64_t size;      /* bytes of file data held at most */
	uint64_t dirty_max; /* dirty bytes before write-back starts on its own */
	uint64_t expire_ns; /* dirty data older than this is written back */
	pgc_call_fn call;
	void *user;
};

struct pgc_stats {
	uint64_t files, blocks, bytes, dirty;
	uint64_t hits, misses, fills, writebacks, wb_bytes, wb_errors, dropped, evictions;
	uint64_t store_errors;
};

struct pgc;

int pgc_new(const struct pgc_conf *conf, struct pgc **out);
/* Forget the files of `buckets` of the cache's file table (round robin)
 * that have nothing cached: every file ever opened had an entry for good
 * (a memnode whose processes made 20 000 files kept 20 000).  Their
 * close-to-open figures go with them; with no block held, a later open
 * has nothing stale to drop.  Between requests only. */
void pgc_gc(struct pgc *c, unsigned buckets);
void pgc_free(struct pgc *c);

/* Serve one X2F_* request (ctx->hdr->opcode); the reply body, if any, is
 * allocated with rpc_reply_alloc.  Returns the reply status. */
int pgc_handle(struct pgc *c, struct rpc_ctx *ctx);

/* Write back dirty data that is older than the expiry or over the dirty
 * bound (the memnode's tick).  Returns the first error, 0 if none. */
int pgc_tick(struct pgc *c);

/* Write back everything dirty (shutdown).  0 or the first -errno. */
int pgc_flush_all(struct pgc *c);

void pgc_get_stats(const struct pgc *c, struct pgc_stats *st);

#endif
