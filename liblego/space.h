/*
 * The remote address space: one reserved virtual range, split into lines
 * (the ExCache unit) and granules (the placement unit).
 *
 * Uncommitted parts of the range are PROT_NONE, so a stray access faults
 * exactly as it would without Lego.  Committing a range places its granules
 * on memnodes (asking the monitor), reserves capacity there, then makes the
 * range accessible; so every line the ExCache ever fetches or writes back
 * belongs to a placed granule.  A bitmap records which lines have ever been
 * written back: the others are zero-filled locally without a network trip.
 *
 * Lock order: sp.lock, then (through RPC progress) ExCache set locks.
 */
#ifndef LEGO_SPACE_H
#define LEGO_SPACE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "fabric/rpc.h"
#include "lego/proto.h"

struct lc;
struct rpc_peer;
struct excache;

struct sp_granule {
	struct rpc_peer *_Atomic peer;   /* NULL until placed */
	struct rpc_peer *_Atomic mirror; /* the second copy's memnode, or NULL */
	/* 1 while the mirror's copy is being made (move.c): write-backs go
	 * to it, reads never do */
	_Atomic int filling;
	/* the first copy was on a memnode that died, and a move made the
	 * replica the first copy (for the failover message) */
	_Atomic int promoted;
	uint64_t reserved;               /* bytes reserved on each copy's memnode */
};

struct sp_range {
	uintptr_t start, end;
};

struct lg_space {
	uint8_t *base;
	size_t size;
	uint32_t line_order;
	uint32_t granule_order;
	struct lc *lc;
	struct excache *xc;
	_Atomic uint64_t *written;   /* one bit per line: ever written back */
	_Atomic uint64_t *committed; /* one bit per line: all of it readable */
	_Atomic uint64_t *reserved;  /* one bit per line: capacity reserved */
	int mem_fd;                  /* /proc/self/mem (sp_mem_io) */
	pthread_mutex_t lock;      /* VA ranges and granules */
	/* read: a purge is under way (its local drop and remote free are
	 * one step for a fork); write: a fork changes where purges go */
	pthread_rwlock_t purge_lock;
	struct sp_range *free;     /* free VA, sorted, coalesced */
	size_t nfree, capfree;
	struct sp_granule *gran;
	size_t ngran;
	uint64_t reserved_bytes; /* under lock: the sum of gran[].reserved (quota) */
};

/* Lines of this order (2 MiB, a PMD on x86-64) may be mapped as
 * transparent huge pages (LEGO_HUGE_PAGES, excache.c); smaller lines'
 * ranges are marked MADV_NOHUGEPAGE, their pages installed one by one. */
#define SP_HUGE_ORDER 21

/* Mark a new remote range of sp as such (MADV_NOHUGEPAGE for small lines). */
void sp_thp_mark(const struct lg_space *sp, void *a, size_t len);

/* Reserve `size` bytes of address space (rounded to granules).
 * 0 or -errno. */
int sp_init(struct lg_space *sp, size_t size, uint32_t line_order, uint32_t granule_order,
	    struct lc *lc);
void sp_destroy(struct lg_space *sp);

static inline int sp_contains(const struct lg_space *sp, const void *p)
{
	return (const uint8_t *)p >= sp->base && (const uint8_t *)p < sp->base + sp->size;
}

static inline uint64_t sp_line_of(const struct lg_space *sp, uint64_t addr)
{
	return (addr - (uint64_t)(uintptr_t)sp->base) >> sp->line_order;
}

static inline uint8_t *sp_line_addr(const struct lg_space *sp, uint64_t line)
{
	return sp->base + (line << sp->line_order);
}

/* The granule holding line, or NULL beyond the address space. */
static inline struct sp_granule *sp_granule_of_line(struct lg_space *sp, uint64_t line)
{
	uint64_t g = (line << sp->line_order) >> sp->granule_order;
	return g < sp->ngran ? &sp->gran[g] : NULL;
}

/*
 * Memnode to read a line from (placed by commit), or NULL: the primary
 * copy's, or, once that memnode is down, the replica's (if it is
 * complete: not while a move fills it).  A memnode the
 * cluster declared down is never used again by this process, even if it
 * comes back: its copy missed the writes since.
 */
static inline struct rpc_peer *sp_peer_of_line(struct lg_space *sp, uint64_t line)
{
	struct sp_granule *g = sp_granule_of_line(sp, line);
	if (!g)
		return NULL;
	struct rpc_peer *p = atomic_load_explicit(&g->peer, memory_order_acquire);
	if (p && atomic_load_explicit(&p->down, memory_order_relaxed)) {
		struct rpc_peer *m = atomic_load_explicit(&g->mirror, memory_order_acquire);
		if (m && !atomic_load_explicit(&m->down, memory_order_relaxed) &&
		    !atomic_load_explicit(&g->filling, memory_order_relaxed))
			return m;
	}
	return p;
}

/* The memnode of a line's first copy (down or not), or NULL. */
static inline struct rpc_peer *sp_primary_of_line(struct lg_space *sp, uint64_t line)
{
	struct sp_granule *g = sp_granule_of_line(sp, line);
	return g ? atomic_load_explicit(&g->peer, memory_order_acquire) : NULL;
}

/* The other live copy's memnode for a write-back of line, or NULL (no
 * replica, or one of the two is down). */
static inline struct rpc_peer *sp_mirror_of_line(struct lg_space *sp, uint64_t line)
{
	struct sp_granule *g = sp_granule_of_line(sp, line);
	if (!g)
		return NULL;
	struct rpc_peer *m = atomic_load_explicit(&g->mirror, memory_order_acquire);
	struct rpc_peer *p = atomic_load_explicit(&g->peer, memory_order_relaxed);
	if (!m || atomic_load_explicit(&m->down, memory_order_relaxed) ||
	    atomic_load_explicit(&p->down, memory_order_relaxed))
		return NULL;
	return m;
}

static inline int sp_written(const struct lg_space *sp, uint64_t line)
{
	return (atomic_load_explicit(&sp->written[line / 64], memory_order_acquire) >> (line % 64)) & 1;
}

static inline void sp_set_written(struct lg_space *sp, uint64_t line)
{
	atomic_fetch_or_explicit(&sp->written[line / 64], 1ull << (line % 64), memory_order_release);
}

/* Is the line committed: every page of it mapped and readable?  Prefetch
 * stays in committed lines, and the runtime copies a dirty line that is
 * not out by a way that ignores the protection (excache.c, xc_copy_out). */
static inline int sp_committed(const struct lg_space *sp, uint64_t line)
{
	return (atomic_load_explicit(&sp->committed[line / 64], memory_order_acquire) >> (line % 64)) & 1;
}

/* Clear the written bits of [first, first+n); returns how many were set. */
uint64_t sp_clear_written(struct lg_space *sp, uint64_t first, uint64_t n);

/* Address space for size bytes at alignment `align` (at `want` if not
 * NULL, else anywhere).  Not committed.  NULL when none is left. */
void *sp_va_alloc(struct lg_space *sp, void *want, size_t size, size_t align);
void sp_va_free(struct lg_space *sp, void *p, size_t size);
/* Take [p, p+size) out of the free ranges, wherever parts of it are free
 * (a MAP_FIXED mapping over it). */
void sp_va_claim(struct lg_space *sp, void *p, size_t size);
/* Is p's page free address space (not allocated to any mapping)?  1 or
 * 0; -1 when the answer would mean waiting (for use in signal handlers). */
int sp_va_is_free(struct lg_space *sp, const void *p);

/* Make [p, p+len) usable: place granules, reserve capacity (unless
 * !reserve: overcommitted, like MAP_NORESERVE), give it protection prot
 * (PROT_READ | PROT_WRITE: its whole lines; anything else: its pages, the
 * program's mmap of a reservation or of read-only memory).
 * 0, -ENOMEM (no memnode has room), or another -errno. */
int sp_commit(struct lg_space *sp, void *p, size_t len, int reserve, int prot);
/* Drop the contents of [p, p+len), release its reservation, and make it
 * inaccessible (lines partly outside the range stay accessible).  0. */
int sp_decommit(struct lg_space *sp, void *p, size_t len);
/* Make [p, p+len) read as zeros: whole lines are dropped (locally and on
 * their memnodes), parts of lines zeroed in place by the calling thread,
 * which must be an application thread (it may fault).  Keeps the
 * reservation.  0. */
int sp_purge(struct lg_space *sp, void *p, size_t len);

/* fork: sp_fork_hold waits for the purges under way and keeps new ones
 * out until sp_fork_release (sp_fork_child in the child), so a purge is
 * wholly before or wholly after a change of the fork's twin (see
 * xc_twin).  A purge may take sp->lock and runs under vm's lock when
 * munmap asks for it: hold vm's lock, if any, before this, and take
 * sp->lock or an ExCache lock only after. */
void sp_fork_hold(struct lg_space *sp);
void sp_fork_release(struct lg_space *sp);
void sp_fork_child(struct lg_space *sp);

/* Read (write 0) or write (1) n bytes of the program's memory at p whatever
 * its protection, as a debugger does (/proc/self/mem): the runtime's way to
 * lines the program made PROT_NONE or read-only.  A page not present is
 * faulted in: not from the fault service thread.  0 or -errno. */
int sp_mem_io(struct lg_space *sp, void *p, void *buf, size_t n, int write);

/* The program changed the protection of [p, p+len): lines wholly inside
 * it that became readable may be prefetched again; before it loses read
 * access, every line with a page in it stops being committed and is
 * written back and dropped (the runtime reads a dirty line to write it
 * back). */
void sp_access(struct lg_space *sp, void *p, size_t len, int readable);

/* Reserve (delta > 0) or release capacity for this address space on one
 * memnode.  0 or -errno. */
int sp_reserve_on(struct lg_space *sp, struct rpc_peer *peer, int64_t delta);

/* Bytes reserved on memnodes now. */
uint64_t sp_reserved(struct lg_space *sp);

#endif
