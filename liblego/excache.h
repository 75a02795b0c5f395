/*
 * The ExCache: a set-associative cache of remote lines, kept in the
 * process's own address space.
 *
 * Mechanism (see docs/architecture.md): the remote address space is one
 * anonymous mapping registered with userfaultfd for missing and
 * write-protect faults.  A line is installed whole and atomically with
 * UFFDIO_COPY (so no thread ever sees a partly filled line), write-protected
 * when the access was a read; the first write to it raises a write-protect
 * fault that marks it dirty.  Eviction write-protects a dirty line, copies
 * it to the victim buffer and drops its pages with MADV_DONTNEED; the victim
 * buffer is written back in batches, asynchronously.  A miss on a line
 * still in the victim buffer is served from there; a line never written
 * back is zero-filled locally.
 *
 * Locking: one spinlock per set, held only for short, non-blocking work
 * (state changes, ioctls, madvise, a line copy); never across an RPC.  The
 * victim buffer has its own spinlock, taken after a set lock when both are
 * needed.  No lock here is ever held by application code.
 */
#ifndef LEGO_EXCACHE_H
#define LEGO_EXCACHE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

struct lg_space;
struct excache;

/* INVALID: free.  FILLING: a fetch is on its way.  CLEAN/DIRTY: resident
 * (write-protected / writable).  EVICTING: chosen by reclaim, its pages
 * about to be dropped; neither usable nor evictable until that is done. */
enum xc_state { XC_INVALID = 0, XC_FILLING, XC_CLEAN, XC_DIRTY, XC_EVICTING };

struct xc_way {
	uint64_t line;
	uint64_t stamp;
	uint8_t state;
	uint8_t heat;     /* ghost hits: level (high nibble), chances left (low) (xc_pick_victim) */
	uint8_t probe;    /* a read miss installed write-protected to measure (xc_read_writable) */
	uint8_t shared;   /* its page may still be shared with a forked process (xc_pipe_ok) */
	uint32_t waiters; /* faults seen while EVICTING: wake them after */
};

struct xc_set {
	/* its index; its lock is apart from it, in one small array (xc_slock):
	 * a fork takes every set's lock and releases it in both processes,
	 * and a lock in the set's own page made that a copy of every page
	 * of the tables in each (10 ms in the parent, 2.5 in the child) */
	uint32_t id;
	_Atomic uint32_t queued; /* on the reclaim queue */
	struct xc_way way[];
};

/* Eviction policy: picks the way to evict among CLEAN and DIRTY ways (a
 * FILLING way is never evicted).  Chosen at run time (LEGO_EVICT). */
struct xc_policy {
	const char *name;
	/* A way was filled (fill) or used again (touch). */
	void (*fill)(struct xc_way *w, uint64_t tick);
	void (*touch)(struct xc_way *w, uint64_t tick);
	/* Index of the way to evict, or -1 if none can be. */
	int (*victim)(const struct xc_set *s, uint32_t ways);
};

extern const struct xc_policy xc_policy_fifo;
extern const struct xc_policy xc_policy_lru;

/* The evictable way with the oldest stamp, or -1 (shared by the policies). */
int xc_oldest_way(const struct xc_set *s, uint32_t ways);

/* The ghost table (evict_ghost.c): lines evicted lately, so that one
 * missed again soon gets passed over by the policy's order. */
struct xc_ghost {
	_Atomic uint64_t *slot; /* NULL: off */
	uint32_t bits;          /* 2^bits slots */
};
/* A slot per line the cache holds (rounded up).  0 or -ENOMEM (then off). */
int xc_ghost_init(struct xc_ghost *g, uint64_t lines);
void xc_ghost_fini(struct xc_ghost *g);
/* The heat of `line`, being filled: if it was evicted lately, a level one
 * above the one it left with (at most XC_GHOST_LEVEL_MAX) in the high
 * nibble and as many chances in the low one; else 0. */
#define XC_GHOST_LEVEL_MAX 3
uint8_t xc_ghost_take(struct xc_ghost *g, uint64_t line);
/* The way of set s (locked) to evict, or -1, in stamp order (both
 * policies' order), passing over ways with chances left; the one picked
 * goes in the table.  Passed ways lose a chance and get a new stamp from
 * tick. */
int xc_ghost_victim(struct xc_ghost *g, struct xc_set *s, uint32_t ways, _Atomic uint64_t *tick);

struct xc_conf {
	uint64_t size;       /* bytes of local memory for lines */
	uint32_t line_order; /* log2 line size */
	uint32_t ways;
	uint32_t victim_lines;
	uint32_t retries;     /* fetch/write-back retries before giving up */
	uint64_t timeout_ns;  /* per request */
	const struct xc_policy *policy;
	int prefetch;            /* enum pf_mode */
	uint64_t prefetch_bytes; /* most bytes one miss prefetches */
	int rma;                 /* one-sided reads where the fabric allows:
				    0 off, 1 on, 2 auto (not over tcp) */
	int ghost;               /* keep the ghost table (xc_pick_victim) */
	int huge;                /* 2 MiB lines as transparent huge pages */
	int in_thread;           /* misses are served on the faulting thread
				  * (LEGO_FAULT=sigbus), which never sleeps
				  * on one */
};

/* Set up the cache over space sp; uffd is the registered userfaultfd.
 * 0 or -errno. */
int xc_init(struct excache **out, const struct xc_conf *conf, struct lg_space *sp, int uffd);
void xc_destroy(struct excache *xc);

/* Handle one userfaultfd fault at addr by thread tid (write: the access
 * was a write; wp: a write-protect fault).  Never blocks on the network: a
 * fetch (and any prefetch it triggers) is started and completes in a later
 * progress call. */
void xc_fault(struct excache *xc, uint64_t addr, int write, int wp, uint32_t tid,
	      uint64_t drop_seq);
/* LEGO_FAULT=sigbus: a fault this thread took reading a dirty line to
 * evict it is a hole (excache.c, "Holes"): filled with zeros, returns 1. */
int xc_own_read_fault(struct excache *xc, uint64_t addr);
/* A read of a dirty line (to evict it) that has lasted over 10 ms has met
 * a hole: fill its lines' holes, which lets it go on.  Called by the
 * housekeeping thread (xc_tick), and by a thread waiting for the runtime's
 * threads to park (a fork), which waits for that reader too. */
void xc_rescue_reads(struct excache *xc);
/* The drop sequence to pass to xc_fault for fault events read after this. */
uint64_t xc_drop_seq(struct excache *xc);

/* Reclaim: give every set that filled up a free way again, evicting one
 * line from each (at most 256) in one batch, with one TLB shoot-down for
 * all.  Called by a miss that finds its set full, and by the fault service
 * before it sleeps.  Returns lines evicted. */
int xc_reclaim(struct excache *xc);

/* Reclaim ahead of misses: only when no fetch is outstanding (no thread
 * waits on this one) and a quarter of the sets a miss would reclaim are
 * queued, so the batch pays for its shoot-down.  Returns lines evicted. */
int xc_reclaim_early(struct excache *xc);

/* Start write-backs of pending victims (all of them if force, else only
 * full batches).  Non-blocking. */
void xc_writeback_kick(struct excache *xc, int force);

/* Housekeeping, every few tens of ms: send again the fetches that failed
 * at once, and the write-backs left pending (below a batch, or held back
 * after a failure). */
void xc_tick(struct excache *xc);

/* Write back every dirty line and wait until memnodes acknowledge.
 * Lines stay cached (clean).  0 or the first write-back error. */
int xc_flush(struct excache *xc);

/* Forget lines [first, first + n): resident copies and pending write-backs
 * are dropped (the caller frees them remotely).  Waits for write-backs of
 * those lines already on the wire.  Returns how many had ever been
 * written back (so the caller knows whether to free remotely). */
uint64_t xc_drop_lines(struct excache *xc, uint64_t first, uint64_t n);

/* Evict lines [first, first + n): dirty ones go to the victim buffer and
 * are written back, all are dropped locally.  For a caller about to take
 * the program's access to them away. */
void xc_evict_lines(struct excache *xc, uint64_t first, uint64_t n);

/* Change where lines are written back: fn(arg) runs under the lock that
 * write-backs pick their memnodes under, then this waits until every
 * write-back that picked before it has finished (stored, or failed and
 * pending again, so it goes to the new memnodes).  One caller at a time. */
void xc_retarget(struct excache *xc, void (*fn)(void *), void *arg);

/* fork: from when the memnodes clone the address space until the fork
 * itself, write-backs also go to the child's copy (child: its as_ref, or
 * NULL to stop).  Starting waits, like xc_retarget, for the write-backs
 * that did not pick the twin: they must be stored before the clone.
 * xc_twin_wait drives progress until the twins are acknowledged and
 * returns the first error (0 if none); xc_twin_of gives the child's
 * as_ref while twinning is on (1), else 0. */
struct lego_as_ref;
void xc_twin(struct excache *xc, const struct lego_as_ref *child);
int xc_twin_wait(struct excache *xc);
int xc_twin_of(struct excache *xc, struct lego_as_ref *child);

/* fork: take every ExCache lock (runtime threads parked), and let go in
 * the parent; in the child, xc_fork_child first turns the copy into the
 * child's cache (on userfaultfd uffd): every resident line dirty (its
 * write-protection did not survive the fork), fills in flight forgotten,
 * the victim buffer all pending (written back to the child's own address
 * space), counters reset.  Then xc_fork_unlock. */
void xc_fork_lock(struct excache *xc);
void xc_fork_unlock(struct excache *xc);
void xc_fork_child(struct excache *xc, int uffd);
/* The child's write-backs wait, from xc_fork_child until this. */
void xc_writeback_resume(struct excache *xc);

/* Lines resident now, and victims not yet acknowledged. */
uint64_t xc_resident(struct excache *xc);
uint32_t xc_victims_busy(struct excache *xc);
/* Fetches on the wire (each has a thread blocked on it). */
uint32_t xc_fetching(struct excache *xc);
/* addr's line, as a thread that serves its own miss (LEGO_FAULT=sigbus)
 * waits for it: 1 resident (clean or dirty), -1 on its way in or out
 * (filling, evicting), 0 not in the cache.  A hint, read without lock. */
int xc_line_state(struct excache *xc, uint64_t addr);
/* Whether a prefetch window was issued in the last XC_STREAM_NS before
 * `now`: a stream runs, and a second service thread has work. */
#define XC_STREAM_NS 1000000
int xc_streaming(struct excache *xc, uint64_t now);
/* Does this process hold the line's data locally: resident, being filled
 * or evicted, or in the victim buffer (not yet written back)?  No locks:
 * for core dumps (core.c). */
int xc_line_held(struct excache *xc, uint64_t line);

/* Index of the set holding `line` (exposed for tests). */
uint64_t xc_set_index(const struct excache *xc, uint64_t line);
uint64_t xc_nsets(const struct excache *xc);

#endif
