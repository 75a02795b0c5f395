/*
 * ExCache (see excache.h for the mechanism and the locking rules).
 *
 * Invariants kept here:
 *  - A way in FILLING is never evicted; its fill installs the line and sets
 *    the final state under the set lock, so a fault that finds FILLING
 *    under that lock knows the coming UFFDIO_COPY will wake its thread.
 *  - Every fault handled ends in exactly one wake-up of its range: a
 *    UFFDIO_COPY, a write-protect release, an explicit UFFDIO_WAKE, or a
 *    pending fill of the same line.
 *  - A write-back's lines are marked "written" before its victim slots are
 *    freed, both under the victim lock, so a miss that finds no victim slot
 *    sees the mark and fetches instead of zero-filling.
 *  - The network is never waited on with a set lock held.
 */
#define _GNU_SOURCE
#include "excache.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "common/log.h"
#include "common/util.h"
#include "fabric/rpc.h"
#include "fabric/wire.h"
#include "space.h"
#include "prefetch.h"
#include "profile.h"
#include "stats.h"

/* Victim slot: FREE; RESERVED by reclaim, being filled; PENDING write-back;
 * WRITING, on the wire. */
enum { VS_FREE = 0, VS_RESERVED, VS_PENDING, VS_WRITING };

struct xc_victim {
	uint32_t state;
	uint32_t tries;
	/* a later write-back of its line is stored: its contents are old, so
	 * it is never installed again; its own answer frees it */
	uint32_t superseded;
	uint64_t fail_ns; /* when its first write-back failed (0: none did) */
	uint64_t line;
	uint64_t seq;
	uint8_t *data;
};

#define XC_BATCH_BYTES (64u * 1024) /* most line data in one message */

/* A READ on the wire: lines[0] is the demand miss (if any thread waits),
 * the rest prefetches to the same memnode. */
struct xc_fetch {
	struct excache *xc;
	struct rpc_peer *peer;
	uint64_t t0;
	int write0; /* lines[0] was a write fault */
	int demand; /* lines[0] is a demand miss */
	int pf_write; /* prefetched for a write stream: install them writable */
	int tries;
	uint64_t fail_ns; /* when its first try failed (0: none did) */
	uint64_t retry_ns; /* deferred: when to send again */
	uint32_t tid; /* the thread waiting for lines[0] (0: unknown) */
	int32_t hold; /* refs[hold] is a stream's marker: kept, not installed (-1: none) */
	uint64_t drop_seq; /* xc->drop_seq when it was made (see xc_fetch_done) */
	/* a one-sided read of lines[0] (xc_rma_read): into rbuf, which must
	 * then hold contents whose CRC32C is rcrc */
	struct lf_tx rtx;
	uint8_t *rbuf;
	uint32_t rcrc;
	uint32_t n;
	struct lego_lines_req req; /* req and refs are sent back to back */
	struct lego_line_ref refs[LEGO_BATCH_MAX];
	struct xc_fetch *next;
};

#define XC_WB_SLOTS 8

struct xc_wb;

/* One copy's write of a batch (replicas 2: two, both must store it). */
struct xc_wb_part {
	struct xc_wb *wb;
	struct rpc_peer *peer;
};

struct xc_wb {
	struct excache *xc;
	_Atomic int nref;  /* the writes, and their twins to a forked child's copy */
	_Atomic int parts; /* copies' writes not answered yet */
	_Atomic int err;   /* the first failure among them */
	struct xc_wb_part part[2];
	struct lego_lines_req twin_req;
	uint32_t n;
	uint64_t t0;
	struct rpc_peer *peer;   /* the copy reads go to */
	struct rpc_peer *mirror; /* the other live copy, or NULL */
	struct lego_lines_req req;
	struct lego_line_ref refs[LEGO_BATCH_MAX];
	uint32_t slot[LEGO_BATCH_MAX];
	uint32_t crc[LEGO_BATCH_MAX];   /* of each line's data (one-sided reads) */
	uint32_t dcrc;                  /* of all of it: crc[] joined, to seal the message */
	uint64_t where[LEGO_BATCH_MAX]; /* the memnode's answer: where each line is */
	uint64_t wkey[LEGO_BATCH_MAX];  /* and its key, for reads over the network */
	uint64_t rpid; /* the memnode's process, which where[] is in */
	int have_where;
	uint8_t *data;
	uint32_t epoch; /* xc->wb_epoch when it was filled (xc_retarget) */
	struct xc_wb *next;
};

#define XC_FETCH_SLOTS 256
#define XC_HELD_MAX 16
#define XC_HELD_LINE_MAX (64u * 1024) /* larger lines hold no markers */
#define XC_HELD_NONE UINT64_MAX
#define XC_MARKER_MIN_WINDOW 8
#define XC_RECLAIM_MAX 256
#define XC_STALL_SLEEP_NS 20000 /* in_thread: a miss waiting for room (xc_fault) */
/* Reclaim ahead of misses once this fraction of rq_cap sets are queued
 * (xc_reclaim_early): batches big enough to pay for one shoot-down. */
#define XC_EARLY_DIV 4
/* ...but each run of dirty victims that cannot go through the pipe (see
 * XC_PIPE_BYTES) costs a write-protect ioctl, with a shoot-down of its
 * own that interrupts the running application.  Where one takes longer
 * than this (on average; 1 us or less on one kind of VM here, 25-90 us on
 * another), early batches leave such victims to the next miss's batch,
 * which runs while the missing thread is blocked (docs/architecture.md,
 * "Eviction is batched"). */
#define XC_WP_DEAR_NS 10000ull

/*
 * One-sided reads (docs/architecture.md): where the memnode holds a line
 * this process wrote back, and the CRC32C of what it wrote.  A miss on
 * the line reads it (lf_read_nb on this host, lf_read_key_nb over the
 * network) and installs it only if the contents have that CRC; anything
 * else (the line moved, a read error) falls back to a request.
 * Direct-mapped by line, XC_WHERE_PER_LINE entries per ExCache line: a
 * process whose remote memory is up to that many times its ExCache has
 * every line it wrote back in the table.  40 bytes an entry, so the
 * table's address space is 5/32 of the ExCache's; its pages become
 * resident only as written-back lines land in them (40 bytes per line of
 * remote memory the process wrote).
 */
struct xc_where {
	uint64_t line1; /* line + 1; 0: empty */
	uint64_t addr;
	uint64_t seq;   /* of the write-back that put it there */
	uint32_t crc;
	uint32_t peer;  /* index in xc->rpeer */
	uint64_t key;   /* the registration's, for reads over the network */
};
#define XC_WHERE_PER_LINE 16
#define XC_RMA_PEERS 16
#define XC_RMA_LINE_MAX (16u * 1024) /* larger lines: by request */
#define XC_RMA_BATCH_BUFS 4 /* prefetch batches read one-sided at once */

struct xc_rvictim {
	uint64_t set, line;
	uint32_t way;
	int slot;       /* victim slot of a dirty line, or -1 */
	uint32_t piped; /* bytes of it in the pipe (xc_pipe_ok) */
};

/*
 * Holes: a page of a resident line dropped behind the runtime's back (a
 * madvise(2) made with syscall(2), as the Go runtime makes them).  A
 * program thread that meets one faults and gets zeros (xc_fill_hole), but
 * a runtime thread that reads a dirty line to evict it (a copy, vmsplice)
 * faults in the kernel and waits for the fault service, which may be that
 * very thread, or waiting for it: the process hung.  So each such read is
 * a section (xc_read_begin/end), published in a reader slot; the
 * housekeeping thread (or a thread waiting for the runtime's threads to
 * park, for a fork) fills with zeros the holes of lines whose section has
 * lasted over XC_RESCUE_NS, which wakes the reader.  Once a process has
 * shown holes, every section fills its lines' holes first (mincore, ~0.7 us
 * on this VM: not paid by processes that never drop pages that way).  A
 * section ends before its lines' pages are dropped, and waits out a rescue
 * under way, so a rescue never fills a page the eviction dropped.
 */
#define XC_READERS 8
#define XC_RESCUE_NS 10000000ull

struct xc_reader {
	_Atomic int on; /* 0 free, 1 being set up, 2 published */
	uint64_t t0;
	uint64_t line;                /* a line, or: */
	const struct xc_rvictim *rb; /* the dirty lines of a batch */
	int n;
};

/*
 * Dirty victims leave through a pipe where they can: vmsplice takes a
 * reference to each page, the drop then unmaps them all with one
 * shoot-down, and reading the pipe copies what the pages held at that
 * moment, every write before the drop included.  No write-protect ioctl,
 * so no shoot-down per run of dirty victims while the application runs
 * (25-90 us each on one kind of VM here).  Only for a page this process
 * alone maps: one still shared with a forked child would be copied on a
 * write, which the pipe's reference would not see (xc_way.shared).  The
 * pipe holds up to XC_PIPE_BYTES (less if the per-user pipe quota says
 * so); the rest of a batch's dirty lines are write-protected as before.
 */
#define XC_PIPE_BYTES (1u << 20)
#ifndef PR_GET_MEMORY_MERGE
#define PR_GET_MEMORY_MERGE 68
#endif

struct excache {
	struct lg_space *sp;
	struct lc *lc;
	int uffd;
	uint32_t lo;
	size_t line;
	uint64_t nsets;
	atomic_flag *slock; /* the sets' locks, by struct xc_set's id */
	uint32_t ways;
	size_t set_stride;
	uint8_t *sets;
	const struct xc_policy *pol;
	_Atomic uint64_t tick;
	_Atomic uint64_t pf_ns; /* when the last prefetch window was issued */
	struct xc_ghost ghost; /* lines evicted lately; slot NULL: off */
	uint32_t retries;
	uint64_t timeout_ns;
	uint8_t *zero; /* zero_len bytes of zeros: runs of zero lines come from here */
	int huge;      /* lines are huge pages' size and LEGO_HUGE_PAGES is on */
	_Atomic uint32_t huge_skip; /* runs left to install without collapsing */
	size_t zero_len;
	/* victim buffer */
	atomic_flag vlock;
	struct xc_victim *vic;
	uint32_t nvic;
	uint8_t *vic_mem;
	struct lw_crc_joiner *line_join; /* appends a line's CRC32C to another's */
	/* how many PENDING and WRITING victims' lines hash to each bucket
	 * (changed under vlock, read without it): a miss whose bucket is 0
	 * has no victim to refill from and does not scan the buffer */
	_Atomic uint32_t *vidx;
	uint32_t vidx_bits;
	_Atomic uint32_t vpending, vbusy; /* pending: not sent; busy: not free */
	_Atomic uint64_t wb_seq;
	_Atomic int wb_error;
	_Atomic uint32_t fetching; /* fetches on the wire: a thread waits for each */
	/* reclaim's write-protect ioctl, a moving average (1/8 weight) in ns
	 * (xc_reclaim_early) */
	_Atomic uint64_t wp_ns;
	struct xc_fetch *fetch_later; /* under plock: failed at once, sent again by xc_tick */
	_Atomic uint64_t wb_hold_ns; /* a write-back failed at once: none before this */
	/* a fork is under way: write-backs also go to the child's copy */
	int twin_on; /* under vlock */
	struct lego_as_ref twin;
	_Atomic uint32_t twin_outstanding;
	_Atomic int twin_error;
	_Atomic int failover_said; /* the first miss served by a replica was logged */
	/* write-back batches in flight by epoch: xc_retarget flips wb_epoch
	 * (under vlock) and waits for the old epoch's to finish */
	uint32_t wb_epoch;
	_Atomic uint32_t wb_live[2];
	/* request objects */
	atomic_flag plock;
	struct xc_fetch *fetch_free;
	struct xc_fetch *fetches;
	struct xc_wb *wb_free;
	struct xc_wb wbs[XC_WB_SLOTS];
	/* reclaim: sets that filled up, and the batch being evicted */
	atomic_flag qlock;
	atomic_flag reclaiming; /* one reclaimer at a time: it owns riov/rbatch */
	_Atomic int rbusy;      /* one is evicting (xc_fault waits for it) */
	uint32_t *rq;
	uint64_t rq_head, rq_len;
	uint32_t rq_cap; /* this many queued: the next miss reclaims */
	int pidfd;
	int pipe_r, pipe_w; /* -1: none */
	size_t pipe_cap;
	uint8_t *pipe_junk; /* a line's bytes: where a victim spliced in part goes */
	struct iovec *riov;
	struct xc_rvictim *rbatch;
	struct xc_reader rd[XC_READERS];
	_Atomic int rescuing; /* the housekeeping thread fills holes */
	_Atomic int holes_seen;
	uint32_t wb_batch; /* lines per write-back or fetch message */
	struct pf_table *pf;
	/* xc_drop_lines under way, and a count of their starts and ends:
	 * prefetches made or answered across a drop are not installed */
	_Atomic uint32_t dropping;
	_Atomic uint64_t drop_seq;
	/* held lines: stream markers (xc_held_put) */
	atomic_flag hlock;
	_Atomic uint32_t nheld;
	uint32_t held_next;
	uint64_t held_line[XC_HELD_MAX];
	uint8_t *held_mem;
	uint8_t *wb_mem;
	size_t wb_bytes;
	/* do read misses' lines come in writable? (xc_read_writable) */
	_Atomic uint32_t rw_misses, rw_probes, rw_written;
	/* one-sided reads: on (LEGO_RMA and lines small enough), the table,
	 * the memnodes it names and their keys, under wlock */
	int rma;
	int in_thread; /* conf->in_thread */
	int rma_tcp;   /* one-sided reads over tcp too (conf->rma on) */
	atomic_flag wlock;
	struct xc_where *where;
	uint64_t where_mask;
	struct rpc_peer *rpeer[XC_RMA_PEERS];
	int rpid[XC_RMA_PEERS]; /* their processes; -1: may not be read here */
	uint32_t nrpeer;
	uint8_t *rma_mem; /* the fetch records' rbuf */
	/* buffers for one-sided prefetch batches (xc_rma_batch), and which
	 * are free (bit i: buffer i) */
	uint8_t *rma_bmem;
	_Atomic uint32_t rma_bfree;
};

/* ------------------------------------------------------------- helpers */

static inline void xc_lock(atomic_flag *l)
{
	while (atomic_flag_test_and_set_explicit(l, memory_order_acquire))
		lg_cpu_relax();
}

static inline void xc_unlock(atomic_flag *l) { atomic_flag_clear_explicit(l, memory_order_release); }

static inline atomic_flag *xc_slock(struct excache *xc, const struct xc_set *s)
{
	return &xc->slock[s->id];
}

static inline struct xc_set *xc_set_of(struct excache *xc, uint64_t line)
{
	return (struct xc_set *)(xc->sets + (line % xc->nsets) * xc->set_stride);
}

uint64_t xc_set_index(const struct excache *xc, uint64_t line) { return line % xc->nsets; }

/* Under the set lock, after a fill: a set with no free way goes on the
 * reclaim queue, so the next miss there finds one. */
static void xc_note_fill(struct excache *xc, struct xc_set *s, uint64_t line)
{
	for (uint32_t i = 0; i < xc->ways; i++)
		if (s->way[i].state == XC_INVALID || s->way[i].state == XC_EVICTING)
			return;
	if (atomic_exchange(&s->queued, 1))
		return;
	xc_lock(&xc->qlock);
	xc->rq[(xc->rq_head + xc->rq_len) % xc->nsets] = (uint32_t)(line % xc->nsets);
	xc->rq_len++;
	xc_unlock(&xc->qlock);
}
uint64_t xc_nsets(const struct excache *xc) { return xc->nsets; }

static int xc_find(const struct excache *xc, const struct xc_set *s, uint64_t line)
{
	for (uint32_t i = 0; i < xc->ways; i++)
		if (s->way[i].state != XC_INVALID && s->way[i].line == line)
			return (int)i;
	return -1;
}

__attribute__((noreturn, format(printf, 2, 3))) static void xc_fatal(struct excache *xc,
								     const char *fmt, ...);

static void xc_fatal(struct excache *xc, const char *fmt, ...)
{
	(void)xc;
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	lg_logf(LG_ERROR, "excache", "%s; remote memory of this process is unreachable, stopping",
		msg);
	abort();
}

static void xc_uffd_wake(struct excache *xc, uint8_t *la)
{
	struct uffdio_range r = {(uint64_t)(uintptr_t)la, xc->line};
	ioctl(xc->uffd, UFFDIO_WAKE, &r);
}

/* Write-protect (or release) [la, la+len).  A range with pages that are
 * not the runtime's (a file mapped over part of a line over a page long)
 * is done page by page, leaving those out. */
static void xc_uffd_wp_range(struct excache *xc, uint8_t *la, size_t len, int protect)
{
	struct uffdio_writeprotect w = {{(uint64_t)(uintptr_t)la, len},
					protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0};
	if (ioctl(xc->uffd, UFFDIO_WRITEPROTECT, &w) == 0)
		return;
	int e = errno;
	for (size_t off = 0; e == ENOENT && len > LG_PAGE_SIZE && off < len; off += LG_PAGE_SIZE) {
		w.range = (struct uffdio_range){(uint64_t)(uintptr_t)(la + off), LG_PAGE_SIZE};
		if (ioctl(xc->uffd, UFFDIO_WRITEPROTECT, &w) != 0 && errno != ENOENT)
			e = errno;
	}
	if (e != ENOENT || len <= LG_PAGE_SIZE)
		lg_log_rl(LG_ERROR, "excache", "write-protect of %p failed: %s", (void *)la,
			  strerror(e));
}

static void xc_uffd_wp(struct excache *xc, uint8_t *la, int protect)
{
	xc_uffd_wp_range(xc, la, xc->line, protect);
}

/* Install a whole line from src; writable (dirty) or write-protected. */
static void xc_install(struct excache *xc, uint8_t *la, const void *src, int writable)
{
	size_t done = 0, step = 0;
	int cleared = 0;
	while (done < xc->line) {
		struct uffdio_copy c = {.dst = (uint64_t)(uintptr_t)(la + done),
					.src = (uint64_t)(uintptr_t)((const uint8_t *)src + done),
					.len = step ? step : xc->line - done,
					.mode = writable ? 0 : UFFDIO_COPY_MODE_WP};
		if (ioctl(xc->uffd, UFFDIO_COPY, &c) == 0) {
			done += (size_t)c.copy;
			continue;
		}
		if (c.copy > 0)
			done += (size_t)c.copy;
		if (errno == EAGAIN)
			continue;
		if (errno == ENOENT && xc->line > LG_PAGE_SIZE) {
			/* the line spans mappings (the program changed the
			 * protection of part of it, or mapped a file over
			 * part): one copy per page, and a page not ours (no
			 * userfaultfd there) left as it is */
			if (step)
				done += step;
			step = LG_PAGE_SIZE;
			continue;
		}
		if (errno == EEXIST && !cleared) {
			/* pages left over from a range freed under a racing fault */
			lg_sys_madvise(la, xc->line, MADV_DONTNEED);
			done = 0;
			cleared = 1;
			continue;
		}
		lg_log_rl(LG_ERROR, "excache", "installing line at %p failed: %s", (void *)la,
			  strerror(errno));
		xc_uffd_wake(xc, la);
		return;
	}
}

/*
 * Transparent huge pages for 2 MiB lines (LEGO_HUGE_PAGES).  A line
 * installed by UFFDIO_COPY is 512 small pages, and on a PVM guest the
 * program's first access to each one takes a fault hidden in the
 * hypervisor (2.5-3.9 us); MADV_COLLAPSE (Linux 6.1) makes the run one
 * huge page per line before anyone is woken.  The kernel does not collapse
 * write-protected pages, so a clean run is copied in writable, collapsed,
 * then write-protected and compared with what was fetched: another thread
 * that wrote to it in between took no fault (the pages were mapped), and
 * the comparison makes the run dirty instead of losing its write.  A
 * collapse that fails or takes over XC_HUGE_SLOW_NS (no huge page free
 * without compaction) turns collapsing off for the next XC_HUGE_BACKOFF
 * runs.
 */
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* (Linux 6.1; not in glibc 2.36's headers) */
#endif
#define XC_HUGE_SLOW_NS (20u * 1000 * 1000)
#define XC_HUGE_BACKOFF 64u

static int xc_huge_try(struct excache *xc)
{
	if (!xc->huge)
		return 0;
	uint32_t k = atomic_load_explicit(&xc->huge_skip, memory_order_relaxed);
	while (k > 0)
		if (atomic_compare_exchange_weak(&xc->huge_skip, &k, k - 1))
			return 0;
	return 1;
}

/* The run [la, la+len) was copied in writable from src, nobody woken yet.
 * Collapse it; a clean run is then write-protected.  Returns whether the
 * run is dirty. */
static int xc_huge_collapse(struct excache *xc, uint8_t *la, size_t len, const void *src,
			    int writable)
{
	uint64_t t0 = lg_now_ns();
	long r = lg_sys_madvise(la, len, MADV_COLLAPSE);
	if (r == 0)
		lg_stat_add(LEGO_STAT_HUGE_LINES, len >> xc->lo);
	if (r != 0 || lg_now_ns() - t0 > XC_HUGE_SLOW_NS) {
		atomic_store(&xc->huge_skip, XC_HUGE_BACKOFF);
		lg_log_rl(LG_INFO, "excache", "huge page for the line at %p: %s", (void *)la,
			  r ? strerror((int)-r) : "slow");
	}
	if (writable)
		return 1;
	struct uffdio_writeprotect w = {{(uint64_t)(uintptr_t)la, len}, UFFDIO_WRITEPROTECT_MODE_WP};
	if (ioctl(xc->uffd, UFFDIO_WRITEPROTECT, &w) == 0 && memcmp(la, src, len) == 0)
		return 0;
	/* written meanwhile (or not protected): dirty, so writable */
	xc_uffd_wp_range(xc, la, len, 0);
	return 1;
}

/*
 * Install n adjacent lines, already FILLING in their sets, from src with
 * one UFFDIO_COPY, then set their states and wake whoever faulted on them.
 * The copy does not wake: a thread that faulted after the copy but before
 * the state change found FILLING and went back to sleep, so the wake comes
 * only once the states say resident.
 */
static void xc_install_run(struct excache *xc, uint64_t first, uint32_t n, const void *src,
			   int writable)
{
	uint8_t *la = sp_line_addr(xc->sp, first);
	size_t len = (size_t)n * xc->line, done = 0;
	int huge = xc_huge_try(xc);
	while (done < len) {
		struct uffdio_copy c = {.dst = (uint64_t)(uintptr_t)(la + done),
					.src = (uint64_t)(uintptr_t)((const uint8_t *)src + done),
					.len = len - done,
					.mode = UFFDIO_COPY_MODE_DONTWAKE |
						(writable || huge ? 0 : UFFDIO_COPY_MODE_WP)};
		int r = ioctl(xc->uffd, UFFDIO_COPY, &c);
		if (c.copy > 0)
			done += (size_t)c.copy;
		if (r == 0 || errno == EAGAIN)
			continue;
		/* EEXIST and the like: fall back to line by line, which copes
		 * (writable if part was copied so: then the run is dirty) */
		size_t l0 = done / xc->line;
		writable |= huge;
		huge = 0;
		for (size_t l = l0; l < n; l++)
			xc_install(xc, la + l * xc->line, (const uint8_t *)src + l * xc->line, writable);
		break;
	}
	if (huge)
		writable = xc_huge_collapse(xc, la, len, src, writable);
	for (uint32_t i = 0; i < n; i++) {
		struct xc_set *s = xc_set_of(xc, first + i);
		xc_lock(xc_slock(xc, s));
		int w = xc_find(xc, s, first + i);
		if (w >= 0 && s->way[w].state == XC_FILLING) {
			s->way[w].state = writable ? XC_DIRTY : XC_CLEAN;
			xc_note_fill(xc, s, first + i);
		}
		xc_unlock(xc_slock(xc, s));
	}
	struct uffdio_range r = {(uint64_t)(uintptr_t)la, len};
	ioctl(xc->uffd, UFFDIO_WAKE, &r);
}

/*
 * Install the demand line of a fetch, FILLING in its set: one UFFDIO_COPY
 * that also wakes, with the set lock held across it and the state change,
 * so no fault sees the line FILLING once it is mapped.  One system call
 * less than xc_install_run on every miss; only for lines small enough that
 * the copy holds the lock briefly.
 */
#define XC_INSTALL_LOCKED_MAX (64u * 1024)

static void xc_install_demand(struct excache *xc, uint64_t line, const void *src, int writable)
{
	if (xc->line > XC_INSTALL_LOCKED_MAX) {
		xc_install_run(xc, line, 1, src, writable);
		return;
	}
	struct xc_set *s = xc_set_of(xc, line);
	xc_lock(xc_slock(xc, s));
	xc_install(xc, sp_line_addr(xc->sp, line), src, writable);
	int w = xc_find(xc, s, line);
	if (w >= 0 && s->way[w].state == XC_FILLING) {
		s->way[w].state = writable ? XC_DIRTY : XC_CLEAN;
		xc_note_fill(xc, s, line);
	}
	xc_unlock(xc_slock(xc, s));
}

/* The way of set s (locked) to evict, or -1: the policy's pick, or with
 * the ghost table the ghost walk (evict_ghost.c). */
static int xc_pick_victim(struct excache *xc, struct xc_set *s)
{
	if (!xc->ghost.slot)
		return xc->pol->victim(s, xc->ways);
	return xc_ghost_victim(&xc->ghost, s, xc->ways, &xc->tick);
}

/* An INVALID way, under its set lock, now holds `line` (its state is up
 * to the caller). */
static void xc_take_way(struct excache *xc, struct xc_way *way, uint64_t line)
{
	way->line = line;
	way->probe = 0;
	way->shared = 0; /* (installed by a copy: this process's page alone) */
	way->heat = xc->ghost.slot ? xc_ghost_take(&xc->ghost, line) : 0;
	xc->pol->fill(way, atomic_fetch_add(&xc->tick, 1));
	lg_stat_add(LEGO_STAT_RESIDENT, 1);
}

/* A line FILLING for a prefetch that must not be installed: free its way
 * and wake whoever faulted on it meanwhile (it faults again). */
static void xc_discard_fill(struct excache *xc, uint64_t line)
{
	struct xc_set *s = xc_set_of(xc, line);
	xc_lock(xc_slock(xc, s));
	int w = xc_find(xc, s, line), freed = 0;
	if (w >= 0 && s->way[w].state == XC_FILLING) {
		s->way[w].state = XC_INVALID;
		freed = 1;
	}
	xc_unlock(xc_slock(xc, s));
	if (freed) {
		lg_stat_sub(LEGO_STAT_RESIDENT, 1);
		xc_uffd_wake(xc, sp_line_addr(xc->sp, line));
	}
}

/* -------------------------------------------------------- held lines */

/*
 * A stream's marker: one fetched line of each prefetch window is kept
 * here instead of being installed.  The thread that reaches it faults; the
 * fault is served from here, without the network, and counts as the
 * stream's miss, so the next window is asked for while the thread still
 * has half of this one to go.  (User space sees no reads of resident
 * lines; without a marker the next window is asked for only when the
 * thread has run off the end of this one and waits for the network.)
 * A held line is a clean copy: dropping it loses nothing.
 */
static int xc_held_put(struct excache *xc, uint64_t line, const void *src)
{
	if (!xc->held_mem)
		return 0;
	xc_lock(&xc->hlock);
	uint32_t i = xc->held_next++ % XC_HELD_MAX; /* the oldest goes if all are taken */
	if (xc->held_line[i] == XC_HELD_NONE)
		atomic_fetch_add(&xc->nheld, 1);
	xc->held_line[i] = line;
	memcpy(xc->held_mem + (size_t)i * xc->line, src, xc->line);
	xc_unlock(&xc->hlock);
	return 1;
}

/* Under the line's set lock: if `line` is held, install it and return 1. */
static int xc_held_take(struct excache *xc, uint64_t line, uint8_t *la, int writable)
{
	if (!atomic_load_explicit(&xc->nheld, memory_order_relaxed))
		return 0;
	xc_lock(&xc->hlock);
	for (uint32_t i = 0; i < XC_HELD_MAX; i++) {
		if (xc->held_line[i] != line)
			continue;
		xc_install(xc, la, xc->held_mem + (size_t)i * xc->line, writable);
		xc->held_line[i] = XC_HELD_NONE;
		atomic_fetch_sub(&xc->nheld, 1);
		xc_unlock(&xc->hlock);
		return 1;
	}
	xc_unlock(&xc->hlock);
	return 0;
}

/* Forget held lines in [first, first + n) (n = 0: all of them). */
static void xc_held_drop(struct excache *xc, uint64_t first, uint64_t n)
{
	if (!atomic_load(&xc->nheld))
		return;
	xc_lock(&xc->hlock);
	for (uint32_t i = 0; i < XC_HELD_MAX; i++) {
		uint64_t l = xc->held_line[i];
		if (l != XC_HELD_NONE && (!n || (l >= first && l - first < n))) {
			xc->held_line[i] = XC_HELD_NONE;
			atomic_fetch_sub(&xc->nheld, 1);
		}
	}
	xc_unlock(&xc->hlock);
}

/* A fetched marker line, FILLING in its set: hold it and free its way
 * (waking any thread that faulted on it meanwhile: it faults again and
 * takes it from here), or install it if it cannot be held. */
static void xc_hold_line(struct excache *xc, uint64_t line, const void *src, int writable)
{
	struct xc_set *s = xc_set_of(xc, line);
	xc_lock(xc_slock(xc, s));
	int w = xc_find(xc, s, line);
	if (w >= 0 && s->way[w].state == XC_FILLING && xc_held_put(xc, line, src)) {
		s->way[w].state = XC_INVALID;
		xc_unlock(xc_slock(xc, s));
		lg_stat_sub(LEGO_STAT_RESIDENT, 1);
		xc_uffd_wake(xc, sp_line_addr(xc->sp, line));
		return;
	}
	xc_unlock(xc_slock(xc, s));
	xc_install_run(xc, line, 1, src, writable);
}

/* ------------------------------------------------------- victim buffer */

/* A free victim slot, marked busy; -1 if none. */
static int xc_victim_get(struct excache *xc)
{
	for (uint32_t i = 0; i < xc->nvic; i++) {
		if (xc->vic[i].state == VS_FREE) {
			xc->vic[i].state = VS_PENDING;
			xc->vic[i].tries = 0;
			xc->vic[i].superseded = 0;
			xc->vic[i].fail_ns = 0;
			atomic_fetch_add(&xc->vbusy, 1);
			return (int)i;
		}
	}
	return -1;
}

static _Atomic uint32_t *xc_vidx_of(struct excache *xc, uint64_t line)
{
	return &xc->vidx[(line * 0x9e3779b97f4a7c15ull) >> (64 - xc->vidx_bits)];
}

/* Under vlock (or alone, in a forked child): slot v, just taken (PENDING)
 * or RESERVED, now holds `line`'s data and is counted (xc_victim_put
 * uncounts it). */
static void xc_victim_name(struct excache *xc, struct xc_victim *v, uint64_t line)
{
	v->line = line;
	atomic_fetch_add_explicit(xc_vidx_of(xc, line), 1, memory_order_relaxed);
}

/* Under vlock: free a PENDING or WRITING slot (every one was named). */
static void xc_victim_put(struct excache *xc, uint32_t i)
{
	struct xc_victim *v = &xc->vic[i];
	/* release: whoever reads the count without the lock sees what the
	 * write-back's completion did before (the line marked written,
	 * where it is) */
	atomic_fetch_sub_explicit(xc_vidx_of(xc, v->line), 1, memory_order_release);
	v->state = VS_FREE;
	atomic_fetch_sub(&xc->vbusy, 1);
}

/*
 * Under vlock: a write-back of `line` at sequence seq is stored.  An older
 * victim of the line may still be here: its write-back is slower on the
 * wire (it waited in the endpoint's queue, or was sent again) or failed
 * and waits to be sent again.  The memnode keeps the newer contents (it
 * stores a line only at a higher sequence), so a miss must not install
 * the older victim either: its writes since would be lost
 * (docs/architecture.md, "Write-back").  One not yet sent is dropped;
 * one on the wire is marked, and freed by its own answer.
 */
static void xc_victim_supersede(struct excache *xc, uint64_t line, uint64_t seq)
{
	/* (this write-back's own victim is counted: another one of the line
	 * makes two, or a line that shares its count) */
	if (atomic_load_explicit(xc_vidx_of(xc, line), memory_order_relaxed) < 2)
		return;
	for (uint32_t i = 0; i < xc->nvic; i++) {
		struct xc_victim *v = &xc->vic[i];
		if (v->line != line || v->seq >= seq || v->superseded ||
		    (v->state != VS_PENDING && v->state != VS_WRITING))
			continue;
		v->superseded = 1;
		lg_stat_add(LEGO_STAT_VICTIMS_SUPERSEDED, 1);
		if (v->state == VS_PENDING) {
			atomic_fetch_sub(&xc->vpending, 1);
			xc_victim_put(xc, i);
		}
	}
}

/* A hole at addr's page filled with zeros (mode: UFFDIO_ZEROPAGE_MODE_*);
 * 0 if the page was there (EEXIST) or cannot be. */
static int xc_hole_zero(struct excache *xc, uint64_t addr, uint64_t mode)
{
	struct uffdio_zeropage z = {.range = {addr & ~(uint64_t)(LG_PAGE_SIZE - 1), LG_PAGE_SIZE},
				    .mode = mode};
	if (ioctl(xc->uffd, UFFDIO_ZEROPAGE, &z) != 0)
		return 0;
	lg_stat_add(LEGO_STAT_HOLES, 1);
	atomic_store(&xc->holes_seen, 1);
	return 1;
}

/* Fill the holes of a resident line with zeros, waking whoever waits on
 * them; returns how many. */
static uint32_t xc_line_holes_fill(struct excache *xc, uint64_t line)
{
	uint8_t *la = sp_line_addr(xc->sp, line);
	unsigned char vec[128];
	uint32_t n = 0;
	for (size_t off = 0; off < xc->line; off += sizeof vec * LG_PAGE_SIZE) {
		size_t k = LG_MIN(xc->line - off, sizeof vec * LG_PAGE_SIZE);
		if (mincore(la + off, k, vec) != 0)
			break;
		for (size_t i = 0; i < k / LG_PAGE_SIZE; i++)
			if (!(vec[i] & 1))
				n += (uint32_t)xc_hole_zero(
					xc, (uint64_t)(uintptr_t)(la + off + i * LG_PAGE_SIZE), 0);
	}
	return n;
}

/* The lines of a read section: one line, or a batch's piped ones. */
static uint32_t xc_read_fill(struct excache *xc, uint64_t line, const struct xc_rvictim *rb, int n)
{
	uint32_t holes = 0;
	if (!rb)
		return xc_line_holes_fill(xc, line);
	for (int i = 0; i < n; i++)
		if (rb[i].piped)
			holes += xc_line_holes_fill(xc, rb[i].line);
	return holes;
}

static __thread int xc_tls_reading __attribute__((tls_model("initial-exec")));

/* Before reading dirty lines out of the program's memory (see "Holes");
 * returns the reader slot to end, or -1 (all taken: read unwatched). */
static int xc_read_begin(struct excache *xc, uint64_t line, const struct xc_rvictim *rb, int n)
{
	xc_tls_reading++;
	if (lg_unlikely(atomic_load_explicit(&xc->holes_seen, memory_order_relaxed)))
		xc_read_fill(xc, line, rb, n);
	for (int i = 0; i < XC_READERS; i++) {
		struct xc_reader *r = &xc->rd[i];
		int free = 0;
		if (atomic_load_explicit(&r->on, memory_order_relaxed) ||
		    !atomic_compare_exchange_strong(&r->on, &free, 1))
			continue;
		r->t0 = lg_now_ns();
		r->line = line;
		r->rb = rb;
		r->n = n;
		atomic_store(&r->on, 2);
		return i;
	}
	return -1;
}

/* After the read, before the lines' pages are dropped. */
static void xc_read_end(struct excache *xc, int i)
{
	xc_tls_reading--;
	if (i < 0)
		return;
	atomic_store(&xc->rd[i].on, 0); /* (sequentially consistent: then...) */
	while (atomic_load(&xc->rescuing))
		sched_yield();
}

int xc_own_read_fault(struct excache *xc, uint64_t addr)
{
	if (!xc_tls_reading)
		return 0;
	xc_hole_zero(xc, addr, 0);
	return 1;
}

void xc_rescue_reads(struct excache *xc)
{
	uint64_t now = lg_now_ns();
	for (int i = 0; i < XC_READERS; i++) {
		struct xc_reader *r = &xc->rd[i];
		if (atomic_load(&r->on) != 2)
			continue;
		atomic_store(&xc->rescuing, 1); /* (...a reader ending now waits) */
		if (atomic_load(&r->on) == 2 && now - r->t0 > XC_RESCUE_NS &&
		    xc_read_fill(xc, r->line, r->rb, r->n))
			lg_log_rl(LG_INFO, "excache", "pages dropped behind the runtime's back (a madvise "
				  "made with syscall(2)) met while evicting: filled with zeros");
		atomic_store(&xc->rescuing, 0);
	}
}

/*
 * Copy a dirty line out of the program's memory, to write it back.  A line
 * that is not committed (a page of it PROT_NONE or write-only, or being
 * made so: sp_access) is read the way a debugger reads (sp_mem_io), which
 * ignores the protection; a plain copy would fault in the runtime.
 * Failing that, the line cannot be saved: stop with the reason rather than
 * lose it silently.
 */
static void xc_copy_out(struct excache *xc, void *dst, uint64_t line)
{
	uint8_t *la = sp_line_addr(xc->sp, line);
	int rd = xc_read_begin(xc, line, NULL, 0);
	if (lg_likely(sp_committed(xc->sp, line))) {
		memcpy(dst, la, xc->line);
		xc_read_end(xc, rd);
		return;
	}
	lg_stat_add(LEGO_STAT_COPY_PROTECTED, 1);
	int r = sp_mem_io(xc->sp, la, dst, xc->line, 0);
	if (r && xc_line_holes_fill(xc, line)) /* (sigbus mode: a hole fails the read) */
		r = sp_mem_io(xc->sp, la, dst, xc->line, 0);
	xc_read_end(xc, rd);
	if (r)
		xc_fatal(xc, "cannot read line %llu at %p (protected by the program) to write it back: %s",
			 (unsigned long long)line, (void *)la, strerror(-r));
}

/* Under the set lock: write-protect a dirty line, save it in a victim
 * slot, drop its pages. */
static int xc_evict(struct excache *xc, struct xc_way *w)
{
	uint8_t *la = sp_line_addr(xc->sp, w->line);
	if (w->state == XC_DIRTY) {
		xc_lock(&xc->vlock);
		int v = xc_victim_get(xc);
		if (v < 0) {
			xc_unlock(&xc->vlock);
			return -EAGAIN;
		}
		xc_uffd_wp(xc, la, 1);
		xc_copy_out(xc, xc->vic[v].data, w->line);
		xc_victim_name(xc, &xc->vic[v], w->line);
		xc->vic[v].seq = atomic_fetch_add(&xc->wb_seq, 1) + 1;
		atomic_fetch_add(&xc->vpending, 1);
		xc_unlock(&xc->vlock);
		lg_stat_add(LEGO_STAT_EVICT_DIRTY, 1);
	} else {
		lg_stat_add(LEGO_STAT_EVICT_CLEAN, 1);
	}
	lg_sys_madvise(la, xc->line, MADV_DONTNEED);
	w->state = XC_INVALID;
	lg_stat_sub(LEGO_STAT_RESIDENT, 1);
	return 0;
}

/* Under the set lock: if the newest copy of `line` is in the victim
 * buffer, install it (dirty) and return 1. */
static int xc_victim_refill(struct excache *xc, uint64_t line, uint8_t *la)
{
	/* Without the lock: a victim of this line was named before the way
	 * it left became free under this set's lock, which this thread holds
	 * now, so its count is seen; a count of 0 means every victim of the
	 * line has been written back, and (acquire) what followed is seen. */
	if (!atomic_load(&xc->vbusy) ||
	    !atomic_load_explicit(xc_vidx_of(xc, line), memory_order_acquire))
		return 0;
	xc_lock(&xc->vlock);
	int best = -1;
	for (uint32_t i = 0; i < xc->nvic; i++) {
		struct xc_victim *v = &xc->vic[i];
		if ((v->state == VS_PENDING || v->state == VS_WRITING) && v->line == line &&
		    !v->superseded && (best < 0 || v->seq > xc->vic[best].seq))
			best = (int)i;
	}
	if (best < 0) {
		xc_unlock(&xc->vlock);
		return 0;
	}
	xc_install(xc, la, xc->vic[best].data, 1);
	if (xc->vic[best].state == VS_PENDING) { /* not on the wire: take it back */
		atomic_fetch_sub(&xc->vpending, 1);
		xc_victim_put(xc, (uint32_t)best);
	}
	xc_unlock(&xc->vlock);
	lg_stat_add(LEGO_STAT_VICTIM_HITS, 1);
	return 1;
}

/* ------------------------------------------------------------ fetches */

static struct xc_fetch *xc_fetch_get(struct excache *xc)
{
	xc_lock(&xc->plock);
	struct xc_fetch *f = xc->fetch_free;
	if (f)
		xc->fetch_free = f->next;
	xc_unlock(&xc->plock);
	return f;
}

static void xc_fetch_put(struct excache *xc, struct xc_fetch *f)
{
	xc_lock(&xc->plock);
	f->next = xc->fetch_free;
	xc->fetch_free = f;
	xc_unlock(&xc->plock);
}

static void xc_fetch_send(struct xc_fetch *f);

/* A request that failed in transit (the memnode did not answer, or the
 * connection to it is broken), not one the memnode refused: worth another
 * try until the cluster says that memnode is down (then its replica
 * serves, or the process is told its memory is lost). */
static int xc_transient(int status)
{
	switch (-status) {
	case ETIMEDOUT: case EAGAIN: case ECONNRESET: case ECONNREFUSED: case ECONNABORTED:
	case ENOTCONN: case EPIPE: case EHOSTUNREACH: case ENETUNREACH: case EHOSTDOWN:
	case ESHUTDOWN: case EIO: case ENOBUFS:
		return 1;
	default:
		return 0;
	}
}

/* After `tries` failed tries of one request, the first at *fail_ns (set
 * now if 0): give up past the retry count and once the retries' worth of
 * timeouts has passed, however fast the failures came; that is longer
 * than the cluster takes to declare a memnode down. */
static int xc_give_up(struct excache *xc, uint32_t tries, uint64_t *fail_ns)
{
	uint64_t now = lg_now_ns();
	if (!*fail_ns)
		*fail_ns = now;
	return tries > xc->retries && now - *fail_ns >= xc->retries * xc->timeout_ns;
}

#define XC_RETRY_LATER_NS (100ull * 1000000) /* pause after a failure at once */

/* Keep a fetch that failed at once (a broken connection fails every send
 * immediately) for xc_tick to send again a little later.  It still
 * counts as on the wire: its thread waits. */
static void xc_fetch_later(struct excache *xc, struct xc_fetch *f)
{
	f->retry_ns = lg_now_ns() + XC_RETRY_LATER_NS;
	atomic_fetch_add(&xc->fetching, 1);
	xc_lock(&xc->plock);
	f->next = xc->fetch_later;
	xc->fetch_later = f;
	xc_unlock(&xc->plock);
}

void xc_tick(struct excache *xc)
{
	uint64_t now = lg_now_ns();
	xc_rescue_reads(xc);
	struct xc_fetch *due = NULL;
	xc_lock(&xc->plock);
	for (struct xc_fetch **pp = &xc->fetch_later; *pp;) {
		struct xc_fetch *f = *pp;
		if (f->retry_ns > now) {
			pp = &f->next;
			continue;
		}
		*pp = f->next;
		f->next = due;
		due = f;
	}
	xc_unlock(&xc->plock);
	while (due) {
		struct xc_fetch *f = due;
		due = f->next;
		atomic_fetch_sub(&xc->fetching, 1);
		f->peer = sp_peer_of_line(xc->sp, f->refs[0].line);
		xc_fetch_send(f);
	}
	xc_writeback_kick(xc, 1);
}

/* Once: the first miss a replica served after its peer died (the miss may
 * have been sent to the replica, or retried there), with the wall
 * clock (to compare with when the memnode was killed) and the time since
 * the process declared it down. */
static void xc_failover_said(struct excache *xc, struct xc_fetch *f)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	uint64_t since = xc->lc->failover_ns ? lg_now_ns() - xc->lc->failover_ns : 0;
	lg_logf(LG_WARN, "excache", "failover: first miss served by the replica on %s, %.1f ms "
		"after its peer was declared down (at %lld.%03ld)", f->peer->name, since / 1e6,
		(long long)ts.tv_sec, ts.tv_nsec / 1000000);
}

static void xc_fetch_done(void *arg, int status, const void *body, size_t len)
{
	struct xc_fetch *f = arg;
	struct excache *xc = f->xc;
	atomic_fetch_sub(&xc->fetching, 1);
	if (status == 0 && len != (size_t)f->n * xc->line)
		status = -EBADMSG;
	if (status) {
		if (xc_transient(status) && !xc_give_up(xc, (uint32_t)++f->tries, &f->fail_ns)) {
			struct rpc_peer *to = sp_peer_of_line(xc->sp, f->refs[0].line);
			if (to != f->peer) { /* the memnode is down: its replica has it all */
				f->peer = to;
			} else {
				lg_log_rl(LG_WARN, "excache", "fetch of line %llu from %s failed (%s); "
					  "retrying", (unsigned long long)f->refs[0].line,
					  f->peer->name, strerror(-status));
				if (status != -ETIMEDOUT) { /* failed at once: not in a loop */
					xc_fetch_later(xc, f);
					return;
				}
			}
			xc_fetch_send(f);
			return;
		}
		xc_fatal(xc, "cannot fetch line %llu from %s: %s",
			 (unsigned long long)f->refs[0].line, f->peer->name, strerror(-status));
	}
	if (f->demand) /* before the wake: the thread takes the sample first */
		lg_prof_miss(f->tid, lg_now_ns() - f->t0);
	/* the demand line alone first (a thread waits for it), then runs of
	 * adjacent prefetched lines with one copy each; a write stream gets
	 * its lines writable, sparing a write-protect fault on each.
	 * Prefetched lines made or answered while lines were being dropped
	 * (MADV_DONTNEED, free) may hold what the drop removed: they are not
	 * installed but freed (a thread waiting on one faults again). */
	int stale = atomic_load(&xc->dropping) || atomic_load(&xc->drop_seq) != f->drop_seq;
	for (uint32_t i = 0; i < f->n;) {
		uint32_t j = i + 1;
		const uint8_t *src = (const uint8_t *)body + i * xc->line;
		if (stale && !(i == 0 && f->demand)) {
			xc_discard_fill(xc, f->refs[i].line);
			i++;
			continue;
		}
		if (i == 0 && f->demand) {
			xc_install_demand(xc, f->refs[0].line, src, f->write0);
			i = 1;
			continue;
		}
		if ((int32_t)i == f->hold) {
			xc_hold_line(xc, f->refs[i].line, src, f->pf_write);
			i++;
			continue;
		}
		while (j < f->n && f->refs[j].line == f->refs[j - 1].line + 1 &&
		       (int32_t)j != f->hold)
			j++;
		xc_install_run(xc, f->refs[i].line, j - i, src, f->pf_write);
		i = j;
	}
	if (lg_unlikely(xc->lc->failover_ns) && !atomic_load(&xc->failover_said) &&
	    (f->peer != sp_primary_of_line(xc->sp, f->refs[0].line) ||
	     atomic_load(&sp_granule_of_line(xc->sp, f->refs[0].line)->promoted)) &&
	    !atomic_exchange(&xc->failover_said, 1))
		xc_failover_said(xc, f);
	if (f->demand) {
		lg_stat_add(LEGO_STAT_MISSES, 1);
		lg_lat_record(LEGO_LAT_MISS, lg_now_ns() - f->t0);
	}
	lg_stat_add(LEGO_STAT_BYTES_IN, (uint64_t)f->n * xc->line);
	xc_fetch_put(xc, f);
}

static void xc_fetch_send(struct xc_fetch *f)
{
	struct excache *xc = f->xc;
	f->req.as = xc->lc->as;
	f->req.count = f->n;
	struct iovec iov[2] = {{&f->req, sizeof f->req}, {f->refs, f->n * sizeof f->refs[0]}};
	lg_stat_add(LEGO_STAT_RPCS, 1);
	atomic_fetch_add(&xc->fetching, 1);
	int r;
	while ((r = rpc_call_async(f->peer, P2M_READ, iov, 2, xc->timeout_ns, xc_fetch_done, f)) ==
	       -EAGAIN)
		rpc_client_progress(xc->lc->cl); /* request slots are all in flight */
	if (r)
		xc_fetch_done(f, r, NULL, 0);
}

/* A fresh request record for peer, with no lines yet. */
static void xc_fetch_init(struct excache *xc, struct xc_fetch *f, struct rpc_peer *peer)
{
	f->peer = peer;
	f->n = 0;
	f->tries = 0;
	f->fail_ns = 0;
	f->demand = 0;
	f->write0 = 0;
	f->pf_write = 0;
	f->tid = 0;
	f->hold = -1;
	f->drop_seq = atomic_load(&xc->drop_seq);
	f->t0 = lg_now_ns();
}

/* ------------------------------------------------------ one-sided reads */

static inline void xc_wlock(struct excache *xc) { xc_lock(&xc->wlock); }
static inline void xc_wunlock(struct excache *xc) { xc_unlock(&xc->wlock); }

static struct xc_where *xc_where_of(struct excache *xc, uint64_t line)
{
	return &xc->where[line & xc->where_mask];
}

/* A memnode answered a write-back of `line` at sequence seq: it stored
 * the data, whose CRC32C is crc, at addr (0: not there: all zeros, or a
 * newer write-back was stored first).  Sequences only grow, so an entry
 * is replaced only by a later write-back's answer: one overtaken on the
 * way never puts back the address of older contents.  Under wlock. */
static void xc_where_note(struct excache *xc, uint64_t line, uint64_t seq, uint64_t addr,
			  uint64_t key, uint32_t crc, uint32_t peer)
{
	struct xc_where *e = xc_where_of(xc, line);
	if (seq <= e->seq)
		return;
	if (addr)
		*e = (struct xc_where){line + 1, addr, seq, crc, peer, key};
	else if (e->line1 == line + 1 || !e->line1)
		*e = (struct xc_where){0, 0, seq, 0, 0, 0};
}

/* The index of a memnode in xc->rpeer, with its process (a restarted
 * memnode has another); -1 if full.  Under wlock. */
static int xc_rma_peer(struct excache *xc, struct rpc_peer *p, int pid)
{
	for (uint32_t i = 0; i < xc->nrpeer; i++)
		if (xc->rpeer[i] == p) {
			if (xc->rpid[i] >= 0)
				xc->rpid[i] = pid;
			return (int)i;
		}
	if (xc->nrpeer == XC_RMA_PEERS)
		return -1;
	xc->rpeer[xc->nrpeer] = p;
	xc->rpid[xc->nrpeer] = pid;
	return (int)xc->nrpeer++;
}

/* This host does not let the process read f's memnode (EPERM: ptrace
 * rules, such as Yama's ptrace_scope, or another user's memnode): no more
 * one-sided reads from it. */
static void xc_rma_denied(struct excache *xc, const struct xc_fetch *f)
{
	int said = 0;
	xc_wlock(xc);
	for (uint32_t i = 0; i < xc->nrpeer; i++)
		if (xc->rpeer[i] == f->peer) {
			said = xc->rpid[i] < 0;
			xc->rpid[i] = -1;
		}
	xc_wunlock(xc);
	if (!said)
		lg_logf(LG_WARN, "excache", "this host does not let the process read %s's memory "
			"(see ptrace(2)); its misses go by message", f->peer->name);
}

/* Lines [first, first + n) were freed or dropped: forget where they were
 * (their sequences stay, so an answer still on the way cannot bring an
 * entry back). */
static void xc_where_drop(struct excache *xc, uint64_t first, uint64_t n)
{
	if (!xc->rma)
		return;
	xc_wlock(xc);
	if (n > xc->where_mask) {
		for (uint64_t i = 0; i <= xc->where_mask; i++) {
			struct xc_where *e = &xc->where[i];
			if (e->line1 && e->line1 - 1 >= first && e->line1 - 1 - first < n)
				e->line1 = 0;
		}
	} else {
		for (uint64_t l = first; l < first + n; l++) {
			struct xc_where *e = xc_where_of(xc, l);
			if (e->line1 == l + 1)
				e->line1 = 0;
		}
	}
	xc_wunlock(xc);
}

/* A one-sided read of line, made from an entry with that crc, failed or
 * found other contents: the entry (unless replaced since) goes, and the
 * line goes by request. */
static void xc_where_forget(struct excache *xc, uint64_t line, uint32_t crc)
{
	lg_stat_add(LEGO_STAT_RMA_FALLBACKS, 1);
	xc_wlock(xc);
	struct xc_where *e = xc_where_of(xc, line);
	if (e->line1 == line + 1 && e->crc == crc)
		e->line1 = 0;
	xc_wunlock(xc);
}

static void xc_rma_done(struct lf_tx *tx, int err)
{
	struct xc_fetch *f = (struct xc_fetch *)(void *)((uint8_t *)tx - offsetof(struct xc_fetch, rtx));
	struct excache *xc = f->xc;
	if (!err && lw_crc32c(0, f->rbuf, xc->line) == f->rcrc) {
		lg_stat_add(LEGO_STAT_RMA_READS, 1);
		xc_fetch_done(f, 0, f->rbuf, xc->line);
		return;
	}
	/* moved, or unreadable: forget it and ask the memnode */
	if (err == -EPERM)
		xc_rma_denied(xc, f);
	xc_where_forget(xc, f->refs[0].line, f->rcrc);
	atomic_fetch_sub(&xc->fetching, 1);
	xc_fetch_send(f);
}

/* Reads over the network from ep's memnode: where its provider reads
 * one-sided, and not over tcp unless asked (LEGO_RMA=on: over tcp a read
 * is a round trip through both tcp stacks like a request, and measured
 * no faster, docs/benchmarks.md). */
static int xc_rma_net(const struct excache *xc, const struct lf_ep *ep)
{
	return lf_can_read_net(ep) && (xc->rma_tcp || lf_ep_prov(ep) != LEGO_PROV_TCP);
}

/* Start a fetch of one line as a one-sided read when the table knows
 * where it is on that memnode; 0 if it does not (or cannot now). */
static int xc_rma_read(struct xc_fetch *f)
{
	struct excache *xc = f->xc;
	uint64_t line = f->refs[0].line;
	struct rpc_peer *p = f->peer;
	int local = lf_can_read(p->ep);
	if (!local && !xc_rma_net(xc, p->ep))
		return 0;
	xc_wlock(xc);
	struct xc_where e = *xc_where_of(xc, line);
	int pid = e.line1 == line + 1 && xc->rpeer[e.peer] == p ? xc->rpid[e.peer] : 0;
	xc_wunlock(xc);
	if (pid <= 0)
		return 0;
	f->rcrc = e.crc;
	f->rtx.done = xc_rma_done;
	atomic_fetch_add(&xc->fetching, 1);
	if (local ? lf_read_nb(p->ep, pid, f->rbuf, xc->line, e.addr, &f->rtx)
		  : lf_read_key_nb(p->ep, p->fi_addr, f->rbuf, xc->line, e.addr, e.key, &f->rtx)) {
		atomic_fetch_sub(&xc->fetching, 1);
		return 0;
	}
	/* (the memnode polls while it sees reads, so that the vCPU of a
	 * thread that sleeps on its miss is not the only one to halt; one
	 * that serves its own miss does not sleep) */
	if (local && !xc->in_thread)
		lf_bell_note_read(p->bell);
	return 1;
}

/*
 * Read a prefetch batch f one-sided, when the table knows where every one
 * of its lines is on f's memnode: one process_vm_readv for all of them,
 * each line then checked against its CRC32C, and the batch installed here
 * and now (its lines are FILLING; no thread waits for them).  0 if it
 * cannot (a line not in the table, no free buffer (none at all if they
 * could not be allocated), a read error or a line that moved: that one's
 * entry goes): then the batch goes by request.
 */
static int xc_rma_batch(struct xc_fetch *f)
{
	struct excache *xc = f->xc;
	struct rpc_peer *p = f->peer;
	if (!xc->rma || f->n * xc->line > XC_BATCH_BYTES || !lf_can_read(p->ep))
		return 0;
	struct iovec r[XC_BATCH_BYTES / LG_PAGE_SIZE]; /* (lines are pages or more) */
	uint32_t crc[XC_BATCH_BYTES / LG_PAGE_SIZE];
	int pid = 0;
	xc_wlock(xc);
	for (uint32_t i = 0; i < f->n; i++) {
		uint64_t line = f->refs[i].line;
		const struct xc_where *e = xc_where_of(xc, line);
		int ep = e->line1 == line + 1 && xc->rpeer[e->peer] == p ? xc->rpid[e->peer] : 0;
		if (ep <= 0 || (pid && ep != pid)) {
			pid = 0;
			break;
		}
		pid = ep;
		r[i] = (struct iovec){(void *)(uintptr_t)e->addr, xc->line};
		crc[i] = e->crc;
	}
	xc_wunlock(xc);
	if (pid <= 0)
		return 0;
	uint32_t fr = atomic_load(&xc->rma_bfree), b;
	do {
		if (!fr)
			return 0;
		b = (uint32_t)__builtin_ctz(fr);
	} while (!atomic_compare_exchange_weak(&xc->rma_bfree, &fr, fr & ~(1u << b)));
	uint8_t *buf = xc->rma_bmem + (size_t)b * XC_BATCH_BYTES;
	int err = lf_readv(p->ep, pid, buf, r, (int)f->n), ok = !err;
	if (err == -EPERM)
		xc_rma_denied(xc, f);
	/* a line that moved goes from the table (unless replaced since);
	 * after a read error (an address unmapped), every line of the batch */
	for (uint32_t i = 0; i < f->n && err != -EPERM; i++)
		if (err || lw_crc32c(0, buf + (size_t)i * xc->line, xc->line) != crc[i]) {
			xc_where_forget(xc, f->refs[i].line, crc[i]);
			ok = 0;
		}
	if (ok) {
		lg_stat_add(LEGO_STAT_RMA_READS, f->n);
		atomic_fetch_add(&xc->fetching, 1); /* (xc_fetch_done takes it back) */
		xc_fetch_done(f, 0, buf, (size_t)f->n * xc->line);
	}
	atomic_fetch_or(&xc->rma_bfree, 1u << b);
	return ok;
}

static struct xc_fetch *xc_fetch_new(struct excache *xc, struct rpc_peer *peer)
{
	struct xc_fetch *f;
	while (!(f = xc_fetch_get(xc)))
		rpc_client_progress(xc->lc->cl);
	xc_fetch_init(xc, f, peer);
	return f;
}

/* ----------------------------------------------------------------- fills */

/* Under the set lock, `way` just taken for `line`: install it from a copy
 * kept here, the victim buffer's (newest, dirty; returns 1) or a held
 * marker's (clean unless `write`; returns 2), if there is one. */
static int xc_fill_kept(struct excache *xc, struct xc_set *s, struct xc_way *way, uint64_t line,
			int write)
{
	uint8_t *la = sp_line_addr(xc->sp, line);
	int r = xc_victim_refill(xc, line, la) ? 1 : xc_held_take(xc, line, la, write) ? 2 : 0;
	if (r) {
		way->state = r == 1 || write ? XC_DIRTY : XC_CLEAN;
		xc_note_fill(xc, s, line);
	}
	return r;
}

/*
 * Under the set lock, with `way` just taken for `line`: fill it from the
 * victim buffer or with zeros when possible (returns 1, line resident), or
 * mark it FILLING for a fetch (returns 0).
 */
static int xc_fill_local(struct excache *xc, struct xc_set *s, struct xc_way *way, uint64_t line,
			 int write)
{
	uint8_t *la = sp_line_addr(xc->sp, line);
	xc_take_way(xc, way, line);
	int kept = xc_fill_kept(xc, s, way, line, write);
	if (kept == 2)
		lg_stat_add(LEGO_STAT_PREFETCH_MARKERS, 1);
	if (kept)
		return 1;
	if (!sp_written(xc->sp, line)) { /* p-local: never written back, so zeros */
		xc_install(xc, la, xc->zero, write);
		way->state = write ? XC_DIRTY : XC_CLEAN;
		xc_note_fill(xc, s, line);
		lg_stat_add(LEGO_STAT_ZERO_FILLS, 1);
		return 1;
	}
	way->state = XC_FILLING;
	return 0;
}

static int xc_reclaim_sets(struct excache *xc, const uint64_t *want, int nwant, int clean);

/*
 * Should a read miss's line come in writable, as a write fault's does?
 * A program that reads a line and then writes it (x += 1, a record
 * update) takes two faults on it otherwise: the miss, and a write-protect
 * fault through the fault thread on its first write.  A line installed
 * writable costs a write-back when it leaves even if it was not written.
 * Measured here (W = 1 GiB, 256 MiB local, uniform): the write-protect
 * fault costs about 6.5 us of the thread's time, a needless write-back
 * about 3.3 us of the CPUs', so writable pays once a third of the lines
 * read are written while resident.  Every XC_RW_PROBE-th read miss comes
 * in write-protected regardless, marked as a probe: the share of probes
 * later written is the estimate, halved now and then to follow the
 * program.  Process-wide: the fault thread does not know which data
 * structure a miss belongs to.
 */
#define XC_RW_PROBE 8
#define XC_RW_MIN_PROBES 64
#define XC_RW_HISTORY 4096

static int xc_read_writable(struct excache *xc, struct xc_way *way)
{
	uint32_t n = atomic_fetch_add_explicit(&xc->rw_misses, 1, memory_order_relaxed);
	uint32_t probes = atomic_load_explicit(&xc->rw_probes, memory_order_relaxed);
	uint32_t written = atomic_load_explicit(&xc->rw_written, memory_order_relaxed);
	if (n % XC_RW_PROBE && probes >= XC_RW_MIN_PROBES && (uint64_t)written * 3 >= probes) {
		lg_stat_add(LEGO_STAT_WRITABLE_READS, 1);
		return 1;
	}
	way->probe = 1;
	if (atomic_fetch_add_explicit(&xc->rw_probes, 1, memory_order_relaxed) >= XC_RW_HISTORY) {
		/* racy halving: an estimate, off by a few counts at worst */
		atomic_store_explicit(&xc->rw_probes, XC_RW_HISTORY / 2, memory_order_relaxed);
		atomic_store_explicit(&xc->rw_written, written / 2, memory_order_relaxed);
	}
	return 0;
}

/*
 * Make room for a stream's window: the sets of its lines that are full
 * (and lack the line) each give up a victim, in one reclaim batch with the
 * sets already queued.  A sequential scan otherwise finds the sets ahead
 * of it full (the reclaim queue frees ways in the sets it filled longest
 * ago, behind it), so most of its window found no way and came back as
 * demand misses.
 */
static void xc_prefetch_room(struct excache *xc, const struct pf_plan *pl)
{
	uint64_t want[XC_RECLAIM_MAX];
	int nwant = 0;
	uint64_t end = xc->sp->size >> xc->lo;
	for (uint32_t k = 0; k < pl->count && nwant < XC_RECLAIM_MAX; k++) {
		uint64_t line = pl->first + (uint64_t)(pl->stride * (int64_t)k);
		if (line >= end || !sp_committed(xc->sp, line))
			break;
		struct xc_set *s = xc_set_of(xc, line);
		xc_lock(xc_slock(xc, s));
		int full = xc_find(xc, s, line) < 0;
		for (uint32_t i = 0; full && i < xc->ways; i++)
			full = s->way[i].state != XC_INVALID && s->way[i].state != XC_EVICTING;
		xc_unlock(xc_slock(xc, s));
		if (full)
			want[nwant++] = xc_set_index(xc, line);
	}
	if (nwant)
		xc_reclaim_sets(xc, want, nwant, 0);
}

/* Prefetch the lines of a plan: each takes a free way if its set has one
 * (after xc_prefetch_room), lines needing the network join fetch batches.
 * The demand miss, if any, has gone alone already: its thread waits for
 * it, not for the eviction. */
static uint32_t xc_prefetch(struct excache *xc, const struct pf_plan *pl, int write, uint32_t tid)
{
	int unplaced = 0;
	uint64_t issued = 0, zfirst = 0;
	uint32_t zn = 0, zmax = (uint32_t)(xc->zero_len / xc->line);
	struct xc_fetch *f = NULL;
	xc_prefetch_room(xc, pl);
	for (uint32_t k = 0; k < pl->count; k++) {
		uint64_t line = pl->first + (uint64_t)(pl->stride * (int64_t)k);
		if (line >= (xc->sp->size >> xc->lo))
			break;
		struct rpc_peer *peer = sp_peer_of_line(xc->sp, line);
		if (!peer)
			break;
		struct xc_set *s = xc_set_of(xc, line);
		xc_lock(xc_slock(xc, s));
		/* Checked under the set lock: a decommit clears the bit before it
		 * drops the range's lines (under these locks), so either it sees
		 * this fill or this fill sees the bit gone. */
		if (!sp_committed(xc->sp, line) || atomic_load(&xc->dropping)) {
			xc_unlock(xc_slock(xc, s));
			break; /* beyond the memory the program may touch, or a drop runs */
		}
		int w = xc_find(xc, s, line), v = -1;
		for (uint32_t i = 0; w < 0 && i < xc->ways && v < 0; i++)
			if (s->way[i].state == XC_INVALID)
				v = (int)i;
		if (v < 0) { /* present already, or no room (yet) */
			xc_unlock(xc_slock(xc, s));
			if (w < 0 && !unplaced++)
				pf_retreat(xc->pf, tid, line);
			continue;
		}
		issued++;
		struct xc_way *way = &s->way[v];
		xc_take_way(xc, way, line);
		if (xc_fill_kept(xc, s, way, line, write)) {
			xc_unlock(xc_slock(xc, s));
			continue;
		}
		way->state = XC_FILLING;
		xc_unlock(xc_slock(xc, s));
		if (!sp_written(xc->sp, line)) {
			/* never written: zeros, installed in runs (writable for a
			 * write stream, which will write them) */
			if (zn && (line != zfirst + zn || zn == zmax)) {
				xc_install_run(xc, zfirst, zn, xc->zero, write);
				lg_stat_add(LEGO_STAT_ZERO_FILLS, zn);
				zn = 0;
			}
			if (!zn)
				zfirst = line;
			zn++;
			continue;
		}
		/* one granule per message: a retry after a memnode died goes
		 * to the replica of that granule, which holds every line */
		if (f && (f->peer != peer || f->n >= xc->wb_batch ||
			  (line ^ f->refs[0].line) >> (xc->sp->granule_order - xc->lo))) {
			if (!xc_rma_batch(f))
				xc_fetch_send(f);
			f = NULL;
		}
		if (!f)
			f = xc_fetch_new(xc, peer);
		f->pf_write = write;
		/* the marker: the line halfway through a window of 8 or more */
		if (k == pl->count / 2 && pl->count >= XC_MARKER_MIN_WINDOW)
			f->hold = (int32_t)f->n;
		f->refs[f->n++] = (struct lego_line_ref){line, 0};
	}
	if (zn) {
		xc_install_run(xc, zfirst, zn, xc->zero, write);
		lg_stat_add(LEGO_STAT_ZERO_FILLS, zn);
	}
	if (f && !xc_rma_batch(f))
		xc_fetch_send(f);
	lg_stat_add(LEGO_STAT_PREFETCH_ISSUED, issued);
	return (uint32_t)issued;
}

/* ---------------------------------------------------------- write-back */

static void xc_wb_put(struct xc_wb *wb)
{
	struct excache *xc = wb->xc;
	if (atomic_fetch_sub(&wb->nref, 1) != 1)
		return;
	xc_lock(&xc->plock);
	wb->next = xc->wb_free;
	xc->wb_free = wb;
	xc_unlock(&xc->plock);
}

static void xc_wb_done(void *arg, int status, const void *body, size_t len)
{
	struct xc_wb *wb = arg;
	struct excache *xc = wb->xc;
	(void)body;
	(void)len;
	xc_lock(&xc->vlock);
	if (status == 0) {
		for (uint32_t i = 0; i < wb->n; i++)
			sp_set_written(xc->sp, wb->refs[i].line);
		if (wb->have_where) {
			/* before the victims go: a miss until now was served
			 * from them */
			xc_wlock(xc);
			int pi = xc_rma_peer(xc, wb->peer, (int)wb->rpid);
			for (uint32_t i = 0; pi >= 0 && i < wb->n; i++)
				xc_where_note(xc, wb->refs[i].line, wb->refs[i].seq, wb->where[i],
					      wb->wkey[i], wb->crc[i], (uint32_t)pi);
			xc_wunlock(xc);
		}
		for (uint32_t i = 0; i < wb->n; i++)
			xc_victim_supersede(xc, wb->refs[i].line, wb->refs[i].seq);
		for (uint32_t i = 0; i < wb->n; i++)
			xc_victim_put(xc, wb->slot[i]);
	} else {
		/* Back to pending: the next kick sends them again.  The memnode
		 * keeps only the newest sequence, so a resend is harmless. */
		for (uint32_t i = 0; i < wb->n; i++) {
			struct xc_victim *v = &xc->vic[wb->slot[i]];
			if (v->superseded) { /* the newer one is stored: nothing to resend */
				xc_victim_put(xc, wb->slot[i]);
				continue;
			}
			int give_up = xc_transient(status)
					      ? xc_give_up(xc, ++v->tries, &v->fail_ns)
					      : ++v->tries > xc->retries && status != -ENOMEM;
			if (give_up) {
				xc_unlock(&xc->vlock);
				xc_fatal(xc, "write-back to %s failed: %s", wb->peer->name,
					 strerror(-status));
			}
			v->state = VS_PENDING;
			atomic_fetch_add(&xc->vpending, 1);
		}
		if (status != -ETIMEDOUT) /* failed at once: not in a loop */
			atomic_store(&xc->wb_hold_ns, lg_now_ns() + XC_RETRY_LATER_NS);
		atomic_store(&xc->wb_error, status);
		lg_log_rl(LG_WARN, "excache", "write-back of %u lines to %s failed: %s; will retry",
			  wb->n, wb->peer->name, strerror(-status));
	}
	xc_unlock(&xc->vlock);
	if (status == 0 && wb->n) { /* (n 0: another kick took the pending lines first) */
		lg_stat_add(LEGO_STAT_WRITEBACKS, wb->n);
		lg_stat_add(LEGO_STAT_WRITEBACK_BATCHES, 1);
		lg_stat_add(LEGO_STAT_BYTES_OUT, (uint64_t)wb->n * xc->line);
		lg_lat_record(LEGO_LAT_WRITEBACK, lg_now_ns() - wb->t0);
	}
	atomic_fetch_sub(&xc->wb_live[wb->epoch], 1);
	xc_wb_put(wb);
}

/* One copy's answer.  A copy on a memnode the cluster declared down does
 * not count (the other holds the data); the batch is done when every copy
 * has answered, and failed if a live one failed. */
static void xc_wb_part_done(void *arg, int status, const void *body, size_t len)
{
	struct xc_wb_part *pt = arg;
	struct xc_wb *wb = pt->wb;
	struct lego_where_rep wr;
	int keys = (wb->req.flags & LEGO_LINES_KEYS) != 0;
	if (status == 0 && pt == &wb->part[0] && (wb->req.flags & LEGO_LINES_WHERE) &&
	    len == sizeof wr + (size_t)wb->n * (keys ? sizeof(struct lego_where_key) : sizeof(uint64_t))) {
		/* where the copy that reads go to put each line */
		memcpy(&wr, body, sizeof wr);
		const uint8_t *at = (const uint8_t *)body + sizeof wr;
		if (wr.count == wb->n && keys) {
			for (uint32_t i = 0; i < wb->n; i++) {
				struct lego_where_key k;
				memcpy(&k, at + i * sizeof k, sizeof k);
				wb->where[i] = k.addr;
				wb->wkey[i] = k.key;
			}
			wb->rpid = 1; /* (readable: no process to name) */
			wb->have_where = 1;
		} else if (wr.count == wb->n) {
			memcpy(wb->where, at, wb->n * sizeof(uint64_t));
			memset(wb->wkey, 0, wb->n * sizeof wb->wkey[0]);
			wb->rpid = wr.pid;
			wb->have_where = 1;
		}
	}
	if (status && !atomic_load(&pt->peer->down)) {
		int zero = 0;
		atomic_compare_exchange_strong(&wb->err, &zero, status);
	}
	if (atomic_fetch_sub(&wb->parts, 1) == 1)
		xc_wb_done(wb, atomic_load(&wb->err), body, len);
}

static void xc_wb_twin_done(void *arg, int status, const void *body, size_t len)
{
	struct xc_wb *wb = arg;
	struct excache *xc = wb->xc;
	(void)body, (void)len;
	if (status) {
		lg_log(LG_ERROR, "excache", "write-back to a forked child's copy on %s failed: %s",
		       wb->peer->name, strerror(-status));
		int zero = 0;
		atomic_compare_exchange_strong(&xc->twin_error, &zero, status);
	}
	atomic_fetch_sub(&xc->twin_outstanding, 1);
	xc_wb_put(wb);
}

/* Send a batch's P2M_WRITE (iov: request, line refs, data): with one-sided
 * reads on, the data's CRC is its lines' CRCs joined, not read again. */
static int xc_wb_send(struct excache *xc, struct xc_wb *wb, struct rpc_peer *peer,
		      const struct iovec *iov, rpc_reply_fn fn, void *arg)
{
	if (xc->rma)
		return rpc_call_async_known(peer, P2M_WRITE, iov, 3, wb->dcrc, xc->timeout_ns, fn,
					    arg);
	return rpc_call_async(peer, P2M_WRITE, iov, 3, xc->timeout_ns, fn, arg);
}

void xc_writeback_kick(struct excache *xc, int force)
{
	uint64_t hold = atomic_load_explicit(&xc->wb_hold_ns, memory_order_relaxed);
	if (lg_unlikely(hold) && lg_now_ns() < hold)
		return; /* the next pass of xc_tick sends them */
	while (atomic_load(&xc->vpending) >= (force ? 1u : xc->wb_batch)) {
		xc_lock(&xc->plock);
		struct xc_wb *wb = xc->wb_free;
		if (wb)
			xc->wb_free = wb->next;
		xc_unlock(&xc->plock);
		if (!wb)
			return; /* all batches in flight; their completions kick again */
		wb->n = 0;
		wb->peer = NULL;
		wb->mirror = NULL;
		wb->have_where = 0;
		atomic_store(&wb->nref, 1);
		atomic_store(&wb->err, 0);
		xc_lock(&xc->vlock);
		wb->epoch = xc->wb_epoch;
		atomic_fetch_add(&xc->wb_live[wb->epoch], 1);
		int twin = xc->twin_on;
		if (twin)
			wb->twin_req.as = xc->twin;
		for (uint32_t i = 0; i < xc->nvic && wb->n < xc->wb_batch; i++) {
			struct xc_victim *v = &xc->vic[i];
			if (v->state != VS_PENDING)
				continue;
			struct rpc_peer *p = sp_peer_of_line(xc->sp, v->line);
			struct rpc_peer *m = sp_mirror_of_line(xc->sp, v->line);
			if (!wb->peer) {
				wb->peer = p;
				wb->mirror = m;
			} else if (p != wb->peer || m != wb->mirror) {
				continue; /* one memnode (or pair) per message */
			}
			v->state = VS_WRITING;
			wb->refs[wb->n] = (struct lego_line_ref){v->line, v->seq};
			wb->slot[wb->n] = i;
			memcpy(wb->data + (size_t)wb->n * xc->line, v->data, xc->line);
			if (xc->rma) {
				uint32_t c = lw_crc32c(0, v->data, xc->line);
				wb->crc[wb->n] = c;
				wb->dcrc = wb->n ? lw_crc32c_join_fixed(xc->line_join, wb->dcrc, c) : c;
			}
			wb->n++;
		}
		atomic_fetch_sub(&xc->vpending, wb->n);
		xc_unlock(&xc->vlock);
		if (!wb->n || !wb->peer) {
			xc_wb_done(wb, wb->n ? -EHOSTUNREACH : 0, NULL, 0);
			return;
		}
		wb->req.as = xc->lc->as;
		wb->req.count = wb->n;
		wb->req.flags = !xc->rma			       ? 0
				: lf_can_read(wb->peer->ep)	       ? LEGO_LINES_WHERE
				: xc_rma_net(xc, wb->peer->ep) ? LEGO_LINES_WHERE | LEGO_LINES_KEYS
								       : 0;
		wb->t0 = lg_now_ns();
		struct iovec iov[3] = {{&wb->req, sizeof wb->req},
				       {wb->refs, wb->n * sizeof wb->refs[0]},
				       {wb->data, (size_t)wb->n * xc->line}};
		lg_stat_add(LEGO_STAT_RPCS, 1);
		int ncopy = wb->mirror ? 2 : 1;
		wb->part[0] = (struct xc_wb_part){wb, wb->peer};
		wb->part[1] = (struct xc_wb_part){wb, wb->mirror};
		atomic_store(&wb->parts, ncopy);
		for (int c = 0; c < ncopy && twin; c++) {
			/* the same lines, into the child's copy: the clone was
			 * taken before they were written back */
			wb->twin_req.count = wb->n;
			struct iovec tv[3] = {iov[0], iov[1], iov[2]};
			tv[0].iov_base = &wb->twin_req;
			atomic_fetch_add(&wb->nref, 1);
			atomic_fetch_add(&xc->twin_outstanding, 1);
			int t = xc_wb_send(xc, wb, wb->part[c].peer, tv, xc_wb_twin_done, wb);
			if (t)
				xc_wb_twin_done(wb, t, NULL, 0);
		}
		for (int c = 0; c < ncopy; c++) {
			int r = xc_wb_send(xc, wb, wb->part[c].peer, iov, xc_wb_part_done,
					   &wb->part[c]);
			if (r)
				xc_wb_part_done(&wb->part[c], r, NULL, 0);
		}
	}
}

/* --------------------------------------------------------------- faults */

uint64_t xc_drop_seq(struct excache *xc) { return atomic_load(&xc->drop_seq); }

/*
 * Under the set lock, a fault on a resident line: mostly one that raced with
 * the line's fill (the page is there now), but it may be a hole (above),
 * and waking the thread alone would only fault again, for ever.  Linux
 * gives zeros there, so the page is filled with zeros, and the line
 * becomes dirty so that its memnode's copy gets them too.  (A page that is
 * there: EEXIST, nothing changes.)
 */
static void xc_fill_hole(struct excache *xc, struct xc_way *way, uint8_t *la, uint64_t addr)
{
	if (!xc_hole_zero(xc, addr, UFFDIO_ZEROPAGE_MODE_DONTWAKE))
		return;
	if (way->state == XC_CLEAN) {
		way->state = XC_DIRTY;
		xc_uffd_wp(xc, la, 0);
	}
}

/*
 * A fault event read at drop sequence `drop_seq`.  With two service
 * threads, an event can wait in one while the other resolves its fault
 * (a prefetch) and the program goes on, even to free the memory: a late
 * fill of a line whose range has been dropped since (or is being) would
 * leave the line resident without its page once the range's pages go,
 * and evicting it would fault in the runtime itself.  So a line that is
 * not committed is not filled for an event older than a drop: whoever
 * faulted is woken to fault again, if it still does.
 */
void xc_fault(struct excache *xc, uint64_t addr, int write, int wp, uint32_t tid,
	      uint64_t drop_seq)
{
	struct lg_space *sp = xc->sp;
	uint64_t line = sp_line_of(sp, addr);
	uint8_t *la = sp_line_addr(sp, line);
	struct xc_set *s = xc_set_of(xc, line);
	uint64_t t0 = lg_now_ns();
	int fetch = 0, batched = 0, guess = 0, waits = 0;
	lg_stat_add(LEGO_STAT_FAULTS, 1);
	for (;;) {
		xc_lock(xc_slock(xc, s));
		int w = xc_find(xc, s, line);
		if (w >= 0) {
			struct xc_way *way = &s->way[w];
			if (way->state == XC_FILLING) {
				lg_stat_add(LEGO_STAT_SHARED_FAULTS, 1);
			} else if (way->state == XC_EVICTING) {
				way->waiters++; /* reclaim wakes it when the line is gone */
			} else if (way->state == XC_CLEAN && (wp || write)) {
				way->state = XC_DIRTY;
				if (way->probe)
					atomic_fetch_add_explicit(&xc->rw_written, 1,
								  memory_order_relaxed);
				xc->pol->touch(way, atomic_fetch_add(&xc->tick, 1));
				xc_uffd_wp(xc, la, 0); /* wakes the writer */
				lg_stat_add(LEGO_STAT_WRITE_UPGRADES, 1);
				pf_note_write(xc->pf, tid);
			} else {
				/* the fault raced with a fill, or hit a hole */
				xc_fill_hole(xc, way, la, addr);
				xc_uffd_wake(xc, la);
			}
			xc_unlock(xc_slock(xc, s));
			return;
		}
		/* Miss: find a way, evicting if the set is full. */
		if (!sp_committed(sp, line) &&
		    (atomic_load(&xc->dropping) || atomic_load(&xc->drop_seq) != drop_seq)) {
			xc_unlock(xc_slock(xc, s));
			xc_uffd_wake(xc, la);
			return;
		}
		int v = -1;
		for (uint32_t i = 0; i < xc->ways && v < 0; i++)
			if (s->way[i].state == XC_INVALID)
				v = (int)i;
		if ((v < 0 || xc->rq_len >= xc->rq_cap) && !batched) {
			/* A full set is on the reclaim queue (or rq_cap sets
			 * are): evict it together with every other queued set,
			 * one TLB shoot-down for all. */
			xc_unlock(xc_slock(xc, s));
			batched = 1;
			if (!xc_reclaim(xc) && v < 0 && waits < 4 && atomic_load(&xc->rbusy)) {
				/* Another thread is evicting a batch, likely
				 * with a line of this set in it: wait for it,
				 * rather than drop a line alone (a shoot-down
				 * of its own, which would interrupt that
				 * thread's CPU), and look again. */
				while (atomic_load(&xc->rbusy))
					sched_yield();
				waits++;
				batched = 0;
			}
			continue;
		}
		if (v < 0)
			v = xc_pick_victim(xc, s);
		if (v >= 0 && s->way[v].state != XC_INVALID && xc_evict(xc, &s->way[v]) < 0) {
			v = -1; /* victim buffer full */
			lg_stat_add(LEGO_STAT_VICTIM_STALLS, 1);
		}
		if (v < 0) {
			/* every way is filling or the victim buffer is full: let
			 * fills and write-backs finish, then look again */
			xc_unlock(xc_slock(xc, s));
			xc_writeback_kick(xc, 1);
			rpc_client_progress(xc->lc->cl);
			if (xc->in_thread) {
				/* program threads that yield to each other
				 * here keep the CPUs from the memnode and the
				 * fault thread that would free the room: two
				 * threads, zipf reads 213-225k pages/s
				 * yielding, 298-300k sleeping */
				struct timespec ts = {0, XC_STALL_SLEEP_NS};
				nanosleep(&ts, NULL);
			} else {
				sched_yield();
			}
			continue;
		}
		fetch = !xc_fill_local(xc, s, &s->way[v], line, write);
		if (fetch && !write)
			guess = xc_read_writable(xc, &s->way[v]);
		xc_unlock(xc_slock(xc, s));
		if (!fetch)
			lg_lat_record(LEGO_LAT_ZERO, lg_now_ns() - t0);
		break;
	}
	struct xc_fetch *f = NULL;
	if (fetch) {
		f = xc_fetch_new(xc, sp_peer_of_line(sp, line));
		f->t0 = t0;
		f->demand = 1;
		f->tid = tid;
		f->write0 = write || guess;
		f->refs[f->n++] = (struct lego_line_ref){line, 0};
	}
	/* The demand line goes first, alone; then the prefetches. */
	if (f && !(xc->rma && xc_rma_read(f)))
		xc_fetch_send(f);
	struct pf_plan pl;
	pf_on_miss(xc->pf, tid, line, write, &pl);
	lg_stat_add(LEGO_STAT_PREFETCH_USEFUL, pl.useful);
	if (pl.count) {
		uint32_t n = xc_prefetch(xc, &pl, pl.write, tid);
		pf_issued(xc->pf, tid, &pl, n);
		if (n)
			atomic_store(&xc->pf_ns, lg_now_ns());
	}
}

/* -------------------------------------------------------------- reclaim */

/* Append [la, la+len) to an iovec list, joining it to the last entry
 * when they touch. */
static void xc_iov_add(struct iovec *iov, int *n, uint8_t *la, size_t len)
{
	if (*n && (uint8_t *)iov[*n - 1].iov_base + iov[*n - 1].iov_len == la)
		iov[*n - 1].iov_len += len;
	else
		iov[(*n)++] = (struct iovec){la, len};
}

/* A call did `bytes` of iov[*k..n): step *k past the entries it finished;
 * returns how much of iov[*k] it did besides. */
static size_t xc_iov_done(const struct iovec *iov, int n, int *k, size_t bytes)
{
	while (*k < n && bytes >= iov[*k].iov_len)
		bytes -= iov[(*k)++].iov_len;
	return *k < n ? bytes : 0;
}

/* Drop the pages of n lines with one system call where the kernel allows
 * (process_madvise on ourselves batches the TLB shoot-down), else one
 * madvise per line. */
static void xc_drop_pages(struct excache *xc, struct iovec *iov, int n)
{
	int done = 0;
	while (xc->pidfd >= 0 && done < n) {
		long r = lg_syscall(SYS_process_madvise, xc->pidfd, iov + done,
				 (size_t)LG_MIN(n - done, 1024), MADV_DONTNEED, 0);
		if (r < 0) {
			close(xc->pidfd);
			xc->pidfd = -1; /* not supported: fall back */
			break;
		}
		if (xc_iov_done(iov, n, &done, (size_t)r)) { /* a partial line: finish it by hand */
			lg_sys_madvise(iov[done].iov_base, iov[done].iov_len, MADV_DONTNEED);
			done++;
		}
	}
	for (; done < n; done++)
		lg_sys_madvise(iov[done].iov_base, iov[done].iov_len, MADV_DONTNEED);
}

/* A RESERVED victim slot now holds `line`'s data: ready for write-back. */
static void xc_victim_ready(struct excache *xc, struct xc_victim *v, uint64_t line)
{
	v->seq = atomic_fetch_add(&xc->wb_seq, 1) + 1;
	xc_lock(&xc->vlock);
	xc_victim_name(xc, v, line);
	v->state = VS_PENDING;
	xc_unlock(&xc->vlock);
	atomic_fetch_add(&xc->vpending, 1);
}

static int xc_pipe_ok(const struct excache *xc, const struct xc_way *w)
{
	return xc->pipe_w >= 0 && !w->shared && sp_committed(xc->sp, w->line);
}

static void xc_pipe_open(struct excache *xc)
{
	int p[2];
	xc->pipe_r = xc->pipe_w = -1;
	xc->pipe_cap = 0;
	if (lg_syscall(SYS_pipe2, p, O_CLOEXEC | O_NONBLOCK) != 0)
		return;
	lg_syscall(SYS_fcntl, p[1], F_SETPIPE_SZ, (int)XC_PIPE_BYTES); /* as much as is granted */
	long cap = lg_syscall(SYS_fcntl, p[1], F_GETPIPE_SZ);
	if (cap < (long)xc->line) {
		close(p[0]);
		close(p[1]);
		return;
	}
	xc->pipe_r = lg_fd_raise(p[0]);
	xc->pipe_w = lg_fd_raise(p[1]);
	xc->pipe_cap = (size_t)cap;
}

static void xc_pipe_close(struct excache *xc)
{
	if (xc->pipe_r >= 0)
		close(xc->pipe_r);
	if (xc->pipe_w >= 0)
		close(xc->pipe_w);
	xc->pipe_r = xc->pipe_w = -1;
}

/* Splice the batch's lines marked for the pipe (piped = line size), in
 * order; each gets piped = the bytes of it that went in (a page that
 * could not be taken stops it: what is left is write-protected). */
static void xc_pipe_in(struct excache *xc, struct xc_rvictim *rb, int n)
{
	struct iovec *iov = xc->riov;
	int niov = 0;
	/* KSM shares pages too, copied on a write; it merges only what a
	 * process asks for, and the runtime ignores MADV_MERGEABLE, so
	 * only a process-wide prctl can turn it on */
	int ksm = lg_syscall(SYS_prctl, PR_GET_MEMORY_MERGE, 0, 0, 0, 0) > 0;
	for (int i = 0; i < n; i++)
		if (rb[i].piped && !ksm)
			xc_iov_add(iov, &niov, sp_line_addr(xc->sp, rb[i].line), xc->line);
	size_t got = 0;
	for (int k = 0; k < niov;) {
		long r = lg_syscall(SYS_vmsplice, xc->pipe_w, iov + k, (unsigned long)(niov - k),
				 SPLICE_F_NONBLOCK);
		if (r < 0 && !got && errno != EFAULT && errno != EAGAIN) {
			/* not allowed here (a seccomp filter, say): not again */
			lg_log(LG_INFO, "excache", "vmsplice: %s; dirty lines are write-protected "
			       "to be evicted", strerror(errno));
			xc_pipe_close(xc);
		}
		if (r <= 0)
			break;
		got += (size_t)r;
		if (xc_iov_done(iov, niov, &k, (size_t)r))
			break; /* a page it could not take */
	}
	for (int i = 0; i < n; i++) {
		if (!rb[i].piped)
			continue;
		rb[i].piped = (uint32_t)LG_MIN(got, xc->line);
		got -= rb[i].piped;
	}
}

/* After the drop: read what the pipe took into the victim slots, and make
 * them ready for write-back; returns how many.  (A line that went in part
 * is read into pipe_junk: it was copied by hand.) */
static int xc_pipe_out(struct excache *xc, struct xc_rvictim *rb, int n)
{
	struct iovec *iov = xc->riov;
	int niov = 0;
	size_t want = 0;
	for (int i = 0; i < n; i++) {
		if (!rb[i].piped)
			continue;
		int whole = rb[i].piped == xc->line;
		iov[niov++] = (struct iovec){whole ? xc->vic[rb[i].slot].data : xc->pipe_junk,
					     rb[i].piped};
		want += rb[i].piped;
	}
	for (int k = 0; k < niov;) {
		long r = lg_syscall(SYS_readv, xc->pipe_r, iov + k, niov - k);
		if (r <= 0)
			xc_fatal(xc, "reading %zu bytes of evicted lines back from the pipe failed: %s",
				 want, r < 0 ? strerror(errno) : "end of file");
		want -= (size_t)r;
		size_t b = xc_iov_done(iov, niov, &k, (size_t)r);
		if (b) {
			iov[k].iov_base = (uint8_t *)iov[k].iov_base + b;
			iov[k].iov_len -= b;
		}
	}
	int ready = 0;
	for (int i = 0; i < n; i++)
		if (rb[i].piped == xc->line) {
			xc_victim_ready(xc, &xc->vic[rb[i].slot], rb[i].line);
			ready++;
		}
	return ready;
}

/* Sort a reclaim batch by line, in place.  Not qsort: glibc's qsort may
 * call malloc, and this runs in the fault thread, which must not: a fork
 * takes the allocator's locks, then waits for this thread to park (seen
 * as a hang in it_threads_fork).  Shell sort with Ciura's gaps. */
static void xc_rvictim_sort(struct xc_rvictim *v, int n)
{
	static const int gaps[] = {701, 301, 132, 57, 23, 10, 4, 1};
	for (size_t g = 0; g < LG_ARRAY_SIZE(gaps); g++) {
		int gap = gaps[g];
		for (int i = gap; i < n; i++) {
			struct xc_rvictim t = v[i];
			int j = i;
			for (; j >= gap && v[j - gap].line > t.line; j -= gap)
				v[j] = v[j - gap];
			v[j] = t;
		}
	}
}

/*
 * Reclaim in five steps, so that neighbouring lines share system calls:
 *   1. pick one victim in each queued set, mark it EVICTING and, if dirty,
 *      reserve a victim slot for it;
 *   2. sort the batch by address; splice the dirty lines the pipe can
 *      take into it with one vmsplice (XC_PIPE_BYTES), and write-protect
 *      each run of adjacent other dirty lines with one ioctl (writes after
 *      that fault and wait);
 *   3. copy those other dirty lines to their slots, ready for write-back;
 *   4. drop all the pages with one process_madvise, then read the spliced
 *      lines, as the drop left them, into their slots;
 *   5. mark the ways free and wake any thread that faulted meanwhile.
 * A dirty line may still be written between 1 and 2, and a spliced one
 * until 4; the copy in 3, or the pipe, sees it.  With `clean`, 1 stops at
 * the first queued set whose victim would need a write-protect and leaves
 * it queued (xc_reclaim_early, XC_WP_DEAR_NS).
 */
static void xc_ewma(_Atomic uint64_t *avg, uint64_t x)
{
	uint64_t a = atomic_load_explicit(avg, memory_order_relaxed);
	atomic_store_explicit(avg, a ? a - a / 8 + x / 8 : x, memory_order_relaxed);
}

static int xc_reclaim_sets(struct excache *xc, const uint64_t *want, int nwant, int clean)
{
	int n = 0, dirty = 0, npiped = 0;
	size_t pipe_left = xc->pipe_cap;
	if ((!xc->rq_len && !nwant) ||
	    atomic_flag_test_and_set_explicit(&xc->reclaiming, memory_order_acquire))
		return 0;
	atomic_store(&xc->rbusy, 1);
	struct xc_rvictim *rb = xc->rbatch;
	while (n < XC_RECLAIM_MAX) { /* 1 */
		uint64_t si;
		int from_queue = !nwant;
		if (nwant) {
			si = *want++; /* (if also queued, it is skipped there: it has room) */
			nwant--;
		} else {
			/* (only this function takes from the head: the
			 * reclaiming flag makes a look, then a take, safe) */
			xc_lock(&xc->qlock);
			if (!xc->rq_len) {
				xc_unlock(&xc->qlock);
				break;
			}
			si = xc->rq[xc->rq_head];
			xc_unlock(&xc->qlock);
		}
		struct xc_set *s = (struct xc_set *)(xc->sets + si * xc->set_stride);
		xc_lock(xc_slock(xc, s));
		int busy = 0;
		for (uint32_t i = 0; i < xc->ways && !busy; i++)
			busy = s->way[i].state == XC_INVALID || s->way[i].state == XC_EVICTING;
		int v = busy ? -1 : xc_pick_victim(xc, s);
		int pipe = v >= 0 && s->way[v].state == XC_DIRTY && pipe_left >= xc->line &&
			   xc_pipe_ok(xc, &s->way[v]);
		if (clean && v >= 0 && s->way[v].state == XC_DIRTY && !pipe) {
			xc_unlock(xc_slock(xc, s)); /* left queued, for a miss's batch */
			break;
		}
		if (from_queue) {
			xc_lock(&xc->qlock);
			xc->rq_head = (xc->rq_head + 1) % xc->nsets;
			xc->rq_len--;
			xc_unlock(&xc->qlock);
			atomic_store(&s->queued, 0);
		}
		if (v < 0) {
			xc_unlock(xc_slock(xc, s));
			continue;
		}
		struct xc_way *w = &s->way[v];
		int slot = -1;
		if (w->state == XC_DIRTY) {
			xc_lock(&xc->vlock);
			slot = xc_victim_get(xc);
			if (slot >= 0)
				xc->vic[slot].state = VS_RESERVED;
			xc_unlock(&xc->vlock);
			if (slot < 0) {
				xc_unlock(xc_slock(xc, s));
				lg_stat_add(LEGO_STAT_VICTIM_STALLS, 1);
				break; /* write-backs first; the set is queued again on its next fill */
			}
			dirty++;
		}
		if (pipe) {
			pipe_left -= xc->line;
			npiped++;
		}
		w->state = XC_EVICTING;
		w->waiters = 0;
		rb[n++] = (struct xc_rvictim){si, w->line, (uint32_t)v, slot,
					      pipe ? (uint32_t)xc->line : 0};
		xc_unlock(xc_slock(xc, s));
	}
	if (!n) {
		atomic_store(&xc->rbusy, 0);
		atomic_flag_clear_explicit(&xc->reclaiming, memory_order_release);
		return 0;
	}
	xc_rvictim_sort(rb, n);
	if (npiped) { /* 2 */
		int rd = xc_read_begin(xc, 0, rb, n);
		xc_pipe_in(xc, rb, n);
		xc_read_end(xc, rd);
	}
	uint64_t t = lg_now_ns();
	int runs = 0;
	for (int i = 0; i < n;) {
		if (rb[i].slot < 0 || rb[i].piped == xc->line) {
			i++;
			continue;
		}
		int j = i + 1;
		while (j < n && rb[j].slot >= 0 && rb[j].piped < xc->line &&
		       rb[j].line == rb[j - 1].line + 1)
			j++;
		xc_uffd_wp_range(xc, sp_line_addr(xc->sp, rb[i].line), (size_t)(j - i) * xc->line, 1);
		i = j;
		runs++;
	}
	if (runs)
		xc_ewma(&xc->wp_ns, (lg_now_ns() - t) / (uint64_t)runs);
	int niov = 0;
	for (int i = 0; i < n; i++) { /* 3, and the page ranges for 4 */
		uint8_t *la = sp_line_addr(xc->sp, rb[i].line);
		if (rb[i].slot >= 0 && rb[i].piped < xc->line) {
			xc_copy_out(xc, xc->vic[rb[i].slot].data, rb[i].line);
			xc_victim_ready(xc, &xc->vic[rb[i].slot], rb[i].line);
		}
		xc_iov_add(xc->riov, &niov, la, xc->line);
	}
	xc_drop_pages(xc, xc->riov, niov); /* 4 */
	if (npiped)
		npiped = xc_pipe_out(xc, rb, n);
	for (int i = 0; i < n; i++) { /* 5 */
		struct xc_set *s = (struct xc_set *)(xc->sets + rb[i].set * xc->set_stride);
		xc_lock(xc_slock(xc, s));
		struct xc_way *w = &s->way[rb[i].way];
		uint32_t waiters = 0;
		if (w->state == XC_EVICTING && w->line == rb[i].line) {
			w->state = XC_INVALID;
			waiters = w->waiters;
		}
		xc_unlock(xc_slock(xc, s));
		if (waiters) /* they fault again and find the line gone */
			xc_uffd_wake(xc, sp_line_addr(xc->sp, rb[i].line));
	}
	atomic_store(&xc->rbusy, 0);
	atomic_flag_clear_explicit(&xc->reclaiming, memory_order_release);
	lg_stat_sub(LEGO_STAT_RESIDENT, (uint64_t)n);
	lg_stat_add(LEGO_STAT_EVICT_DIRTY, (uint64_t)dirty);
	lg_stat_add(LEGO_STAT_EVICT_CLEAN, (uint64_t)(n - dirty));
	lg_stat_add(LEGO_STAT_EVICT_PIPED, (uint64_t)npiped);
	if (dirty)
		xc_writeback_kick(xc, 0);
	return n;
}

int xc_reclaim(struct excache *xc) { return xc_reclaim_sets(xc, NULL, 0, 0); }

int xc_reclaim_early(struct excache *xc)
{
	if (atomic_load_explicit(&xc->fetching, memory_order_relaxed) ||
	    xc->rq_len < LG_MAX(1u, xc->rq_cap / XC_EARLY_DIV))
		return 0;
	int n = xc_reclaim_sets(xc, NULL, 0,
				atomic_load_explicit(&xc->wp_ns, memory_order_relaxed) > XC_WP_DEAR_NS);
	lg_stat_add(LEGO_STAT_EVICT_EARLY, (uint64_t)n);
	return n;
}

/* ------------------------------------------------------ flush and drop */

int xc_flush(struct excache *xc)
{
	atomic_store(&xc->wb_error, 0);
	for (uint64_t si = 0; si < xc->nsets; si++) {
		struct xc_set *s = (struct xc_set *)(xc->sets + si * xc->set_stride);
		for (uint32_t w = 0; w < xc->ways; w++) {
			for (;;) {
				xc_lock(xc_slock(xc, s));
				struct xc_way *way = &s->way[w];
				if (way->state != XC_DIRTY) {
					xc_unlock(xc_slock(xc, s));
					break;
				}
				uint8_t *la = sp_line_addr(xc->sp, way->line);
				xc_lock(&xc->vlock);
				int v = xc_victim_get(xc);
				if (v >= 0) {
					xc_uffd_wp(xc, la, 1);
					xc_copy_out(xc, xc->vic[v].data, way->line);
					xc_victim_name(xc, &xc->vic[v], way->line);
					xc->vic[v].seq = atomic_fetch_add(&xc->wb_seq, 1) + 1;
					atomic_fetch_add(&xc->vpending, 1);
					way->state = XC_CLEAN;
				}
				xc_unlock(&xc->vlock);
				xc_unlock(xc_slock(xc, s));
				if (v >= 0)
					break;
				xc_writeback_kick(xc, 1);
				rpc_client_progress(xc->lc->cl);
			}
		}
		xc_writeback_kick(xc, 0);
	}
	/* wait until everything written so far is acknowledged */
	uint64_t deadline = lg_now_ns() + (xc->retries + 2) * xc->timeout_ns;
	while (atomic_load(&xc->vbusy)) {
		xc_writeback_kick(xc, 1);
		if (rpc_client_progress(xc->lc->cl) == 0)
			sched_yield();
		int e = atomic_load(&xc->wb_error);
		if (e == -ENOMEM)
			return e;
		if (lg_now_ns() > deadline)
			return -ETIMEDOUT;
	}
	return atomic_load(&xc->wb_error);
}

static uint64_t xc_drop_lines_now(struct excache *xc, uint64_t first, uint64_t n);

static void xc_drop_one(struct excache *xc, struct xc_set *s, uint32_t w)
{
	s->way[w].state = XC_INVALID;
	lg_stat_sub(LEGO_STAT_RESIDENT, 1);
}

uint64_t xc_drop_lines(struct excache *xc, uint64_t first, uint64_t n)
{
	atomic_fetch_add(&xc->dropping, 1);
	atomic_fetch_add(&xc->drop_seq, 1);
	xc_where_drop(xc, first, n);
	uint64_t r = xc_drop_lines_now(xc, first, n);
	atomic_fetch_add(&xc->drop_seq, 1);
	atomic_fetch_sub(&xc->dropping, 1);
	return r;
}

static uint64_t xc_drop_lines_now(struct excache *xc, uint64_t first, uint64_t n)
{
	uint64_t end = first + n;
	uint64_t total = xc->nsets * xc->ways;
	/* resident lines: walk the lines, or the whole cache if that is less */
	if (n <= total) {
		for (uint64_t l = first; l < end; l++) {
			struct xc_set *s = xc_set_of(xc, l);
			for (;;) {
				xc_lock(xc_slock(xc, s));
				int w = xc_find(xc, s, l);
				int filling = w >= 0 && (s->way[w].state == XC_FILLING ||
							 s->way[w].state == XC_EVICTING);
				if (w >= 0 && !filling)
					xc_drop_one(xc, s, (uint32_t)w);
				xc_unlock(xc_slock(xc, s));
				if (!filling)
					break;
				rpc_client_progress(xc->lc->cl);
			}
		}
	} else {
		for (uint64_t si = 0; si < xc->nsets; si++) {
			struct xc_set *s = (struct xc_set *)(xc->sets + si * xc->set_stride);
			for (uint32_t w = 0; w < xc->ways; w++) {
				for (;;) {
					xc_lock(xc_slock(xc, s));
					struct xc_way *way = &s->way[w];
					int in = way->state != XC_INVALID && way->line >= first &&
						 way->line < end;
					int filling = in && (way->state == XC_FILLING ||
							     way->state == XC_EVICTING);
					if (in && !filling)
						xc_drop_one(xc, s, w);
					xc_unlock(xc_slock(xc, s));
					if (!filling)
						break;
					rpc_client_progress(xc->lc->cl);
				}
			}
		}
	}
	xc_held_drop(xc, first, n);
	/* victims: cancel the unsent, wait for those on the wire */
	for (;;) {
		int wait = 0;
		xc_lock(&xc->vlock);
		for (uint32_t i = 0; i < xc->nvic; i++) {
			struct xc_victim *v = &xc->vic[i];
			if (v->state == VS_FREE || v->line < first || v->line >= end)
				continue;
			if (v->state == VS_PENDING) {
				atomic_fetch_sub(&xc->vpending, 1);
				xc_victim_put(xc, i);
			} else {
				wait = 1;
			}
		}
		xc_unlock(&xc->vlock);
		if (!wait)
			break;
		rpc_client_progress(xc->lc->cl);
	}
	return sp_clear_written(xc->sp, first, n);
}

void xc_evict_lines(struct excache *xc, uint64_t first, uint64_t n)
{
	xc_held_drop(xc, first, n);
	for (uint64_t l = first; l < first + n; l++) {
		struct xc_set *s = xc_set_of(xc, l);
		for (;;) {
			xc_lock(xc_slock(xc, s));
			int w = xc_find(xc, s, l);
			if (w < 0) {
				xc_unlock(xc_slock(xc, s));
				break;
			}
			int busy = s->way[w].state == XC_FILLING || s->way[w].state == XC_EVICTING;
			if (!busy && xc_evict(xc, &s->way[w]) == 0) {
				xc_unlock(xc_slock(xc, s));
				break;
			}
			xc_unlock(xc_slock(xc, s));
			/* a fill in flight, or no victim slot: let them finish */
			xc_writeback_kick(xc, 1);
			rpc_client_progress(xc->lc->cl);
		}
	}
	xc_writeback_kick(xc, 1);
}

struct xc_twin_arg {
	struct excache *xc;
	const struct lego_as_ref *child;
};

static void xc_twin_set(void *arg)
{
	struct xc_twin_arg *a = arg;
	a->xc->twin_on = a->child != NULL;
	if (a->child) {
		a->xc->twin = *a->child;
		atomic_store(&a->xc->twin_error, 0);
	}
}

void xc_twin(struct excache *xc, const struct lego_as_ref *child)
{
	struct xc_twin_arg a = {xc, child};
	if (child) {
		/* a batch made before may be sent after the clone: it must
		 * have arrived before the clone is asked for */
		xc_retarget(xc, xc_twin_set, &a);
		return;
	}
	xc_lock(&xc->vlock);
	xc_twin_set(&a);
	xc_unlock(&xc->vlock);
}

int xc_twin_of(struct excache *xc, struct lego_as_ref *child)
{
	xc_lock(&xc->vlock);
	int on = xc->twin_on;
	if (on)
		*child = xc->twin;
	xc_unlock(&xc->vlock);
	return on;
}

void xc_retarget(struct excache *xc, void (*fn)(void *), void *arg)
{
	xc_lock(&xc->vlock);
	fn(arg);
	uint32_t old = xc->wb_epoch;
	xc->wb_epoch ^= 1;
	xc_unlock(&xc->vlock);
	while (atomic_load(&xc->wb_live[old]))
		if (rpc_client_progress(xc->lc->cl) == 0)
			sched_yield();
}

int xc_twin_wait(struct excache *xc)
{
	while (atomic_load(&xc->twin_outstanding))
		if (rpc_client_progress(xc->lc->cl) == 0)
			sched_yield();
	return atomic_load(&xc->twin_error);
}

void xc_fork_lock(struct excache *xc)
{
	for (uint64_t si = 0; si < xc->nsets; si++) {
		struct xc_set *s = (struct xc_set *)(xc->sets + si * xc->set_stride);
		xc_lock(xc_slock(xc, s));
		for (uint32_t w = 0; w < xc->ways; w++) /* both sides' pages, copied on a write */
			s->way[w].shared = 1;
	}
	xc_lock(&xc->vlock);
	xc_lock(&xc->plock);
	xc_lock(&xc->qlock);
}

void xc_fork_unlock(struct excache *xc)
{
	xc_unlock(&xc->qlock);
	xc_unlock(&xc->plock);
	xc_unlock(&xc->vlock);
	for (uint64_t si = 0; si < xc->nsets; si++)
		xc_unlock(&xc->slock[si]);
}

/* A forked child's free list of n slots of `size` bytes (each with its
 * list link at offset `link`): the slots not on it were the parent's
 * requests in flight, which the child does not have; put them on it,
 * writing only those (the others stay the parent's pages, uncopied). */
_Static_assert(XC_WB_SLOTS <= XC_FETCH_SLOTS, "xc_free_others sizes its marks for the fetches");
static void xc_free_others(void *slots, size_t size, unsigned n, void **head, size_t link)
{
	uint8_t on[XC_FETCH_SLOTS] = {0};
	for (uint8_t *p = *head; p; p = *(void **)(p + link)) {
		size_t i = (size_t)(p - (uint8_t *)slots) / size;
		if (i >= n || on[i])
			break; /* (cannot happen: the list is the runtime's own) */
		on[i] = 1;
	}
	for (unsigned i = 0; i < n; i++) {
		if (on[i])
			continue;
		uint8_t *p = (uint8_t *)slots + i * size;
		*(void **)(p + link) = *head;
		*head = p;
	}
}

void xc_fork_child(struct excache *xc, int uffd)
{
	xc->uffd = uffd;
	if (xc->rma) { /* the child's address space is a copy of its own */
		/* zeros without touching (or copying) the table's pages */
		lg_sys_madvise(xc->where, (xc->where_mask + 1) * sizeof *xc->where, MADV_DONTNEED);
		xc->nrpeer = 0;
		atomic_flag_clear(&xc->wlock);
	}
	xc_held_drop(xc, 0, 0); /* clean copies; the child starts without them */
	/* The tables are the parent's pages, copied on write: below, only
	 * what changes is written, so a page with nothing to change is not
	 * copied (each copy is a page fault, ~10 us on a small VM). */
	uint64_t resident = 0;
	for (uint64_t si = 0; si < xc->nsets; si++) {
		struct xc_set *s = (struct xc_set *)(xc->sets + si * xc->set_stride);
		if (atomic_load(&s->queued))
			atomic_store(&s->queued, 0);
		for (uint32_t w = 0; w < xc->ways; w++) {
			struct xc_way *way = &s->way[w];
			if (way->state == XC_CLEAN || way->state == XC_DIRTY) {
				/* the child's copy of a page lost its write-protection,
				 * and may be newer than what the memnode has */
				if (way->state != XC_DIRTY)
					way->state = XC_DIRTY;
				resident++;
			} else if (way->state != XC_INVALID) {
				/* a fetch in flight belongs to the parent */
				way->state = XC_INVALID;
			}
			if (way->waiters)
				way->waiters = 0;
		}
	}
	xc->rq_head = xc->rq_len = 0;
	xc->twin_on = 0;
	atomic_store(&xc->twin_outstanding, 0);
	atomic_flag_clear(&xc->reclaiming);
	atomic_store(&xc->rbusy, 0);
	/* what the parent had not written back yet, the child writes back
	 * into its own address space */
	uint32_t busy = 0;
	memset((void *)xc->vidx, 0, sizeof *xc->vidx << xc->vidx_bits);
	for (uint32_t i = 0; i < xc->nvic; i++) {
		struct xc_victim *v = &xc->vic[i];
		if (v->state == VS_RESERVED || v->superseded) /* (superseded: the newer is stored) */
			v->state = VS_FREE;
		if (v->state == VS_FREE)
			continue;
		v->state = VS_PENDING;
		v->tries = 0;
		v->fail_ns = 0;
		busy++;
		xc_victim_name(xc, v, v->line); /* counted again: vidx was cleared */
	}
	atomic_store(&xc->vbusy, busy);
	atomic_store(&xc->vpending, busy);
	atomic_store(&xc->fetching, 0);
	atomic_store(&xc->wb_error, 0);
	/* the batches in flight are the parent's: their slots are free here */
	xc_free_others(xc->wbs, sizeof *xc->wbs, XC_WB_SLOTS, (void **)&xc->wb_free,
		       offsetof(struct xc_wb, next));
	atomic_store(&xc->wb_live[0], 0);
	atomic_store(&xc->wb_live[1], 0);
	xc_free_others(xc->fetches, sizeof *xc->fetches, XC_FETCH_SLOTS,
		       (void **)&xc->fetch_free, offsetof(struct xc_fetch, next));
	xc->fetch_later = NULL; /* the parent's, like those in flight */
	/* nothing goes out until the child has connections of its own
	 * (xc_writeback_resume) */
	atomic_store(&xc->wb_hold_ns, UINT64_MAX);
	pf_reset(xc->pf);
	if (xc->pidfd >= 0)
		close(xc->pidfd);
	xc->pidfd = lg_fd_raise((int)lg_syscall(SYS_pidfd_open, getpid(), 0));
	xc_pipe_close(xc); /* the parent's: a pipe of the child's own */
	xc_pipe_open(xc);
	lg_stats_reset();
	lg_stat_add(LEGO_STAT_RESIDENT, resident);
}

void xc_writeback_resume(struct excache *xc) { atomic_store(&xc->wb_hold_ns, 0); }

uint64_t xc_resident(struct excache *xc)
{
	(void)xc;
	return atomic_load(&lg_stat[LEGO_STAT_RESIDENT]);
}

uint32_t xc_victims_busy(struct excache *xc) { return atomic_load(&xc->vbusy); }

uint32_t xc_fetching(struct excache *xc) { return atomic_load(&xc->fetching); }

int xc_line_state(struct excache *xc, uint64_t addr)
{
	/* Read without the set's lock, which a thread waiting for a line of
	 * a prefetch window would otherwise take over and over while
	 * another thread needs it to install the window: an answer that is
	 * stale costs the caller one more fault (a line is CLEAN or DIRTY
	 * only once installed, and leaves the set only after EVICTING). */
	uint64_t line = sp_line_of(xc->sp, addr);
	const struct xc_set *s = xc_set_of(xc, line);
	for (uint32_t i = 0; i < xc->ways; i++) {
		uint8_t st = __atomic_load_n(&s->way[i].state, __ATOMIC_ACQUIRE);
		if (st == XC_INVALID || __atomic_load_n(&s->way[i].line, __ATOMIC_RELAXED) != line)
			continue;
		return st == XC_CLEAN || st == XC_DIRTY ? 1 : -1;
	}
	return 0;
}

int xc_line_held(struct excache *xc, uint64_t line)
{
	/* a hashed count: a false yes costs a copy more */
	return xc_line_state(xc, (uint64_t)(uintptr_t)sp_line_addr(xc->sp, line)) != 0 ||
	       atomic_load_explicit(xc_vidx_of(xc, line), memory_order_acquire) != 0;
}

int xc_streaming(struct excache *xc, uint64_t now)
{
	uint64_t t = atomic_load(&xc->pf_ns);
	return t && t + XC_STREAM_NS > now;
}

/* ------------------------------------------------------------ set-up */

int xc_init(struct excache **out, const struct xc_conf *conf, struct lg_space *sp, int uffd)
{
	struct excache *xc = lg_local_alloc(sizeof *xc);
	if (!xc)
		return -ENOMEM;
	xc->sp = sp;
	xc->lc = sp->lc;
	xc->uffd = uffd;
	xc->pipe_r = xc->pipe_w = -1;
	xc->lo = conf->line_order;
	xc->line = (size_t)1 << conf->line_order;
	xc->ways = conf->ways;
	uint64_t lines = conf->size >> conf->line_order;
	if (lines < xc->ways)
		lines = xc->ways;
	/* Reclaim gives each set that fills up a free way again, so between
	 * misses a set holds ways - 1 lines: sets for that many make the
	 * budget the lines held.  (As many sets as ways fit in it left an
	 * eighth of an 8-way cache empty.)  The sets full at once, waiting on
	 * the reclaim queue, hold one line more each: at most rq_cap, plus
	 * one prefetch window, before a miss reclaims. */
	xc->nsets = xc->ways > 1 ? LG_MAX((uint64_t)1, lines / (xc->ways - 1)) : lines;
	/* a line per 224 held (a thirty-second of the sets of an 8-way
	 * cache), whatever the ways: more ways must not mean smaller batches */
	xc->rq_cap = (uint32_t)LG_MAX((uint64_t)1, LG_MIN((uint64_t)XC_RECLAIM_MAX, lines / 224));
	xc->set_stride = LG_ALIGN_UP(sizeof(struct xc_set) + xc->ways * sizeof(struct xc_way), 64);
	xc->sets = lg_local_alloc(xc->nsets * xc->set_stride);
	xc->slock = lg_local_alloc(xc->nsets * sizeof *xc->slock);
	xc->pol = conf->policy;
	xc->retries = conf->retries;
	xc->timeout_ns = conf->timeout_ns;
	xc->zero_len = LG_MAX(xc->line, (size_t)XC_BATCH_BYTES);
	xc->zero = lg_local_alloc(xc->zero_len);
	/* victim buffer: at most an eighth of the cache, at least 4 lines */
	uint64_t vmax = LG_MAX((uint64_t)4, (conf->size / 8) >> conf->line_order);
	xc->nvic = (uint32_t)LG_MIN((uint64_t)conf->victim_lines, vmax);
	xc->vic = lg_local_alloc(xc->nvic * sizeof *xc->vic);
	xc->vic_mem = lg_local_alloc((size_t)xc->nvic * xc->line);
	for (xc->vidx_bits = 6; (1u << xc->vidx_bits) < 4 * xc->nvic; xc->vidx_bits++)
		; /* a quarter full at most */
	xc->vidx = lg_local_alloc(sizeof *xc->vidx << xc->vidx_bits);
	xc->line_join = lg_local_alloc(sizeof *xc->line_join);
	if (xc->line_join)
		lw_crc32c_joiner_init(xc->line_join, xc->line);
	xc->wb_batch = (uint32_t)LG_MAX((size_t)1, LG_MIN((size_t)LEGO_BATCH_MAX, XC_BATCH_BYTES / xc->line));
	xc->wb_batch = LG_MIN(xc->wb_batch, xc->nvic);
	xc->wb_bytes = (size_t)xc->wb_batch * xc->line;
	xc->wb_mem = lg_local_alloc(XC_WB_SLOTS * xc->wb_bytes);
	xc->fetches = lg_local_alloc(XC_FETCH_SLOTS * sizeof *xc->fetches);
	xc->rq = lg_local_alloc(xc->nsets * sizeof *xc->rq);
	xc->riov = lg_local_alloc(XC_RECLAIM_MAX * sizeof *xc->riov);
	xc->rbatch = lg_local_alloc(XC_RECLAIM_MAX * sizeof *xc->rbatch);
	for (int i = 0; i < XC_HELD_MAX; i++)
		xc->held_line[i] = XC_HELD_NONE;
	if (xc->line <= XC_HELD_LINE_MAX) /* (else no markers: held_mem NULL) */
		xc->held_mem = lg_local_alloc(XC_HELD_MAX * xc->line);
	xc->pidfd = lg_fd_raise((int)lg_syscall(SYS_pidfd_open, getpid(), 0));
	xc_pipe_open(xc);
	xc->pipe_junk = lg_local_alloc(xc->line);
	if (conf->ghost)
		xc_ghost_init(&xc->ghost, lines); /* (none: no ghosts, nothing else lost) */
	/* a window of at most an eighth of the ExCache: a small one would
	 * evict its own prefetches before the stream reached them */
	uint64_t pfw64 = LG_MIN(conf->prefetch_bytes, conf->size / 8) >> conf->line_order;
	uint32_t pfw = (uint32_t)LG_MAX((uint64_t)1, pfw64);
	if (pf_init(&xc->pf, (enum pf_mode)conf->prefetch, LG_MIN(pfw, (uint32_t)LEGO_BATCH_MAX)) < 0)
		xc->pf = NULL;
	xc->in_thread = conf->in_thread;
	xc->huge = conf->huge && conf->line_order == SP_HUGE_ORDER;
	if (conf->rma && xc->line <= XC_RMA_LINE_MAX) {
		/* XC_WHERE_PER_LINE entries per line held, a power of two */
		uint64_t nw = 1;
		while (nw < lines * XC_WHERE_PER_LINE)
			nw <<= 1;
		/* and a line's buffer per request record (pages are taken
		 * only by the records demand misses use) */
		xc->where = lg_local_alloc(nw * sizeof *xc->where);
		xc->where_mask = nw - 1;
		xc->rma_mem = lg_local_alloc((size_t)XC_FETCH_SLOTS * xc->line);
		xc->rma = xc->where && xc->rma_mem;
		xc->rma_tcp = conf->rma == 1;
		xc->rma_bmem = lg_local_alloc((size_t)XC_RMA_BATCH_BUFS * XC_BATCH_BYTES);
		atomic_store(&xc->rma_bfree, xc->rma_bmem ? (1u << XC_RMA_BATCH_BUFS) - 1 : 0);
	}
	if (!xc->sets || !xc->slock || !xc->zero || !xc->vic || !xc->vic_mem || !xc->vidx ||
	    !xc->line_join || !xc->wb_mem || !xc->fetches || !xc->rq || !xc->riov || !xc->rbatch ||
	    !xc->pf || !xc->pipe_junk) {
		xc_destroy(xc);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < xc->nvic; i++)
		xc->vic[i].data = xc->vic_mem + (size_t)i * xc->line;
	for (int i = 0; i < XC_WB_SLOTS; i++) {
		xc->wbs[i].xc = xc;
		xc->wbs[i].data = xc->wb_mem + (size_t)i * xc->wb_bytes;
		xc->wbs[i].next = i + 1 < XC_WB_SLOTS ? &xc->wbs[i + 1] : NULL;
	}
	xc->wb_free = &xc->wbs[0];
	atomic_store(&xc->wb_live[0], 0); /* the batches in flight are the parent's */
	atomic_store(&xc->wb_live[1], 0);
	for (int i = 0; i < XC_FETCH_SLOTS; i++) {
		xc->fetches[i].xc = xc;
		xc->fetches[i].next = i + 1 < XC_FETCH_SLOTS ? &xc->fetches[i + 1] : NULL;
		if (xc->rma)
			xc->fetches[i].rbuf = xc->rma_mem + (size_t)i * xc->line;
	}
	xc->fetch_free = &xc->fetches[0];
	atomic_flag_clear(&xc->vlock);
	atomic_flag_clear(&xc->plock);
	atomic_flag_clear(&xc->qlock);
	atomic_flag_clear(&xc->reclaiming);
	atomic_store(&xc->rbusy, 0);
	for (uint64_t i = 0; i < xc->nsets; i++) {
		((struct xc_set *)(xc->sets + i * xc->set_stride))->id = (uint32_t)i;
		atomic_flag_clear(&xc->slock[i]);
	}
	*out = xc;
	return 0;
}

void xc_destroy(struct excache *xc)
{
	if (!xc)
		return;
	lg_local_free(xc->sets, xc->nsets * xc->set_stride);
	lg_local_free(xc->slock, xc->nsets * sizeof *xc->slock);
	lg_local_free(xc->zero, xc->zero_len);
	lg_local_free(xc->vic, xc->nvic * sizeof *xc->vic);
	lg_local_free(xc->vic_mem, (size_t)xc->nvic * xc->line);
	lg_local_free(xc->vidx, sizeof *xc->vidx << xc->vidx_bits);
	lg_local_free(xc->line_join, sizeof *xc->line_join);
	lg_local_free(xc->wb_mem, XC_WB_SLOTS * xc->wb_bytes);
	if (xc->held_mem)
		lg_local_free(xc->held_mem, XC_HELD_MAX * xc->line);
	lg_local_free(xc->fetches, XC_FETCH_SLOTS * sizeof *xc->fetches);
	if (xc->where)
		lg_local_free(xc->where, (xc->where_mask + 1) * sizeof *xc->where);
	xc_ghost_fini(&xc->ghost);
	if (xc->rma_mem)
		lg_local_free(xc->rma_mem, (size_t)XC_FETCH_SLOTS * xc->line);
	if (xc->rma_bmem)
		lg_local_free(xc->rma_bmem, (size_t)XC_RMA_BATCH_BUFS * XC_BATCH_BYTES);
	lg_local_free(xc->rq, xc->nsets * sizeof *xc->rq);
	lg_local_free(xc->riov, XC_RECLAIM_MAX * sizeof *xc->riov);
	lg_local_free(xc->rbatch, XC_RECLAIM_MAX * sizeof *xc->rbatch);
	if (xc->pidfd >= 0)
		close(xc->pidfd);
	xc_pipe_close(xc);
	if (xc->pipe_junk)
		lg_local_free(xc->pipe_junk, xc->line);
	if (xc->pf)
		pf_free(xc->pf);
	lg_local_free(xc, sizeof *xc);
}

