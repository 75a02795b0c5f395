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
#include <linux/userfaultfd.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "client.h"
#include "common/log.h"
#include "common/util.h"
#include "fabric/rpc.h"
#include "space.h"
#include "stats.h"

enum { VS_FREE = 0, VS_PENDING, VS_WRITING };

struct xc_victim {
	uint32_t state;
	uint32_t tries;
	uint64_t line;
	uint64_t seq;
	uint8_t *data;
};

struct xc_read_body {
	struct lego_lines_req req;
	struct lego_line_ref ref;
};

struct xc_fetch {
	struct excache *xc;
	uint64_t line;
	uint64_t t0;
	int write;
	int tries;
	struct xc_read_body body;
	struct xc_fetch *next;
};

#define XC_WB_SLOTS 8
#define XC_WB_BYTES (256u * 1024)

struct xc_wb {
	struct excache *xc;
	uint32_t n;
	uint64_t t0;
	struct rpc_peer *peer;
	struct lego_lines_req req;
	struct lego_line_ref refs[LEGO_BATCH_MAX];
	uint32_t slot[LEGO_BATCH_MAX];
	uint8_t *data;
	struct xc_wb *next;
};

#define XC_FETCH_SLOTS 1024

struct excache {
	struct lg_space *sp;
	struct lc *lc;
	int uffd;
	uint32_t lo;
	size_t line;
	uint64_t nsets;
	uint32_t ways;
	size_t set_stride;
	uint8_t *sets;
	const struct xc_policy *pol;
	_Atomic uint64_t tick;
	uint32_t retries;
	uint64_t timeout_ns;
	uint8_t *zero;
	/* victim buffer */
	atomic_flag vlock;
	struct xc_victim *vic;
	uint32_t nvic;
	uint8_t *vic_mem;
	_Atomic uint32_t vpending, vbusy; /* pending: not sent; busy: not free */
	_Atomic uint64_t wb_seq;
	_Atomic int wb_error;
	/* request objects */
	atomic_flag plock;
	struct xc_fetch *fetch_free;
	struct xc_fetch *fetches;
	struct xc_wb *wb_free;
	struct xc_wb wbs[XC_WB_SLOTS];
	uint32_t wb_batch; /* lines per write-back message */
	uint8_t *wb_mem;
	size_t wb_bytes;
};

/* ------------------------------------------------------------- helpers */

static inline void xc_lock(atomic_flag *l)
{
	while (atomic_flag_test_and_set_explicit(l, memory_order_acquire))
		lg_cpu_relax();
}

static inline void xc_unlock(atomic_flag *l) { atomic_flag_clear_explicit(l, memory_order_release); }

static inline struct xc_set *xc_set_of(struct excache *xc, uint64_t line)
{
	return (struct xc_set *)(xc->sets + (line % xc->nsets) * xc->set_stride);
}

uint64_t xc_set_index(const struct excache *xc, uint64_t line) { return line % xc->nsets; }
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

static void xc_uffd_wp(struct excache *xc, uint8_t *la, int protect)
{
	struct uffdio_writeprotect w = {{(uint64_t)(uintptr_t)la, xc->line},
					protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0};
	if (ioctl(xc->uffd, UFFDIO_WRITEPROTECT, &w) != 0)
		lg_log_rl(LG_ERROR, "excache", "write-protect of %p failed: %s", (void *)la,
			  strerror(errno));
}

/* Install a whole line from src; writable (dirty) or write-protected. */
static void xc_install(struct excache *xc, uint8_t *la, const void *src, int writable)
{
	size_t done = 0;
	int cleared = 0;
	while (done < xc->line) {
		struct uffdio_copy c = {.dst = (uint64_t)(uintptr_t)(la + done),
					.src = (uint64_t)(uintptr_t)((const uint8_t *)src + done),
					.len = xc->line - done,
					.mode = writable ? 0 : UFFDIO_COPY_MODE_WP};
		if (ioctl(xc->uffd, UFFDIO_COPY, &c) == 0) {
			done += (size_t)c.copy;
			continue;
		}
		if (c.copy > 0)
			done += (size_t)c.copy;
		if (errno == EAGAIN)
			continue;
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

/* ------------------------------------------------------- victim buffer */

/* A free victim slot, marked busy; -1 if none. */
static int xc_victim_get(struct excache *xc)
{
	for (uint32_t i = 0; i < xc->nvic; i++) {
		if (xc->vic[i].state == VS_FREE) {
			xc->vic[i].state = VS_PENDING;
			xc->vic[i].tries = 0;
			atomic_fetch_add(&xc->vbusy, 1);
			return (int)i;
		}
	}
	return -1;
}

static void xc_victim_put(struct excache *xc, uint32_t i)
{
	xc->vic[i].state = VS_FREE;
	atomic_fetch_sub(&xc->vbusy, 1);
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
		memcpy(xc->vic[v].data, la, xc->line);
		xc->vic[v].line = w->line;
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
	if (!atomic_load(&xc->vbusy))
		return 0;
	xc_lock(&xc->vlock);
	int best = -1;
	for (uint32_t i = 0; i < xc->nvic; i++) {
		struct xc_victim *v = &xc->vic[i];
		if (v->state != VS_FREE && v->line == line && (best < 0 || v->seq > xc->vic[best].seq))
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

static void xc_fetch_done(void *arg, int status, const void *body, size_t len)
{
	struct xc_fetch *f = arg;
	struct excache *xc = f->xc;
	if (status == 0 && len != xc->line)
		status = -EBADMSG;
	if (status) {
		int retry = status == -ETIMEDOUT || status == -EAGAIN || status == -ECONNRESET;
		if (retry && f->tries++ < (int)xc->retries) {
			lg_log_rl(LG_WARN, "excache", "fetch of line %llu failed (%s); retrying",
				  (unsigned long long)f->line, strerror(-status));
			xc_fetch_send(f);
			return;
		}
		struct rpc_peer *p = sp_peer_of_line(xc->sp, f->line);
		xc_fatal(xc, "cannot fetch line %llu from %s: %s", (unsigned long long)f->line,
			 p ? p->name : "its memnode", strerror(-status));
	}
	uint8_t *la = sp_line_addr(xc->sp, f->line);
	struct xc_set *s = xc_set_of(xc, f->line);
	xc_lock(&s->lock);
	int w = xc_find(xc, s, f->line);
	if (w >= 0 && s->way[w].state == XC_FILLING) {
		xc_install(xc, la, body, f->write);
		s->way[w].state = f->write ? XC_DIRTY : XC_CLEAN;
	}
	xc_unlock(&s->lock);
	lg_stat_add(LEGO_STAT_MISSES, 1);
	lg_stat_add(LEGO_STAT_BYTES_IN, xc->line);
	lg_lat_record(LEGO_LAT_MISS, lg_now_ns() - f->t0);
	xc_fetch_put(xc, f);
}

static void xc_fetch_send(struct xc_fetch *f)
{
	struct excache *xc = f->xc;
	struct rpc_peer *p = sp_peer_of_line(xc->sp, f->line);
	if (!p)
		xc_fatal(xc, "line %llu belongs to no placed granule", (unsigned long long)f->line);
	f->body.req.as = xc->lc->as;
	f->body.req.count = 1;
	f->body.ref.line = f->line;
	f->body.ref.seq = 0;
	struct iovec iov = {&f->body, sizeof f->body};
	lg_stat_add(LEGO_STAT_RPCS, 1);
	int r;
	while ((r = rpc_call_async(p, P2M_READ, &iov, 1, xc->timeout_ns, xc_fetch_done, f)) ==
	       -EAGAIN)
		rpc_client_progress(xc->lc->cl); /* request slots are all in flight */
	if (r)
		xc_fetch_done(f, r, NULL, 0);
}

/* ---------------------------------------------------------- write-back */

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
		for (uint32_t i = 0; i < wb->n; i++)
			xc_victim_put(xc, wb->slot[i]);
	} else {
		/* Back to pending: the next kick sends them again.  The memnode
		 * keeps only the newest sequence, so a resend is harmless. */
		for (uint32_t i = 0; i < wb->n; i++) {
			struct xc_victim *v = &xc->vic[wb->slot[i]];
			if (++v->tries > xc->retries && status != -ENOMEM) {
				xc_unlock(&xc->vlock);
				xc_fatal(xc, "write-back to %s failed: %s", wb->peer->name,
					 strerror(-status));
			}
			v->state = VS_PENDING;
			atomic_fetch_add(&xc->vpending, 1);
		}
		atomic_store(&xc->wb_error, status);
		lg_log_rl(LG_WARN, "excache", "write-back of %u lines to %s failed: %s; will retry",
			  wb->n, wb->peer->name, strerror(-status));
	}
	xc_unlock(&xc->vlock);
	if (status == 0) {
		lg_stat_add(LEGO_STAT_WRITEBACKS, wb->n);
		lg_stat_add(LEGO_STAT_WRITEBACK_BATCHES, 1);
		lg_stat_add(LEGO_STAT_BYTES_OUT, (uint64_t)wb->n * xc->line);
		lg_lat_record(LEGO_LAT_WRITEBACK, lg_now_ns() - wb->t0);
	}
	xc_lock(&xc->plock);
	wb->next = xc->wb_free;
	xc->wb_free = wb;
	xc_unlock(&xc->plock);
}

void xc_writeback_kick(struct excache *xc, int force)
{
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
		xc_lock(&xc->vlock);
		for (uint32_t i = 0; i < xc->nvic && wb->n < xc->wb_batch; i++) {
			struct xc_victim *v = &xc->vic[i];
			if (v->state != VS_PENDING)
				continue;
			struct rpc_peer *p = sp_peer_of_line(xc->sp, v->line);
			if (!wb->peer)
				wb->peer = p;
			else if (p != wb->peer)
				continue; /* one memnode per message */
			v->state = VS_WRITING;
			wb->refs[wb->n] = (struct lego_line_ref){v->line, v->seq};
			wb->slot[wb->n] = i;
			memcpy(wb->data + (size_t)wb->n * xc->line, v->data, xc->line);
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
		wb->t0 = lg_now_ns();
		struct iovec iov[3] = {{&wb->req, sizeof wb->req},
				       {wb->refs, wb->n * sizeof wb->refs[0]},
				       {wb->data, (size_t)wb->n * xc->line}};
		lg_stat_add(LEGO_STAT_RPCS, 1);
		int r = rpc_call_async(wb->peer, P2M_WRITE, iov, 3, xc->timeout_ns, xc_wb_done, wb);
		if (r)
			xc_wb_done(wb, r, NULL, 0);
	}
}

/* --------------------------------------------------------------- faults */

void xc_fault(struct excache *xc, uint64_t addr, int write, int wp)
{
	struct lg_space *sp = xc->sp;
	uint64_t line = sp_line_of(sp, addr);
	uint8_t *la = sp_line_addr(sp, line);
	struct xc_set *s = xc_set_of(xc, line);
	uint64_t t0 = lg_now_ns();
	lg_stat_add(LEGO_STAT_FAULTS, 1);
	for (;;) {
		xc_lock(&s->lock);
		int w = xc_find(xc, s, line);
		if (w >= 0) {
			struct xc_way *way = &s->way[w];
			if (way->state == XC_FILLING) {
				lg_stat_add(LEGO_STAT_SHARED_FAULTS, 1);
			} else if (way->state == XC_CLEAN && (wp || write)) {
				way->state = XC_DIRTY;
				xc->pol->touch(way, atomic_fetch_add(&xc->tick, 1));
				xc_uffd_wp(xc, la, 0); /* wakes the writer */
				lg_stat_add(LEGO_STAT_WRITE_UPGRADES, 1);
			} else {
				xc_uffd_wake(xc, la); /* fault raced with a fill */
			}
			xc_unlock(&s->lock);
			return;
		}
		/* Miss: find a way, evicting if the set is full. */
		int v = -1;
		for (uint32_t i = 0; i < xc->ways && v < 0; i++)
			if (s->way[i].state == XC_INVALID)
				v = (int)i;
		if (v < 0)
			v = xc->pol->victim(s, xc->ways);
		if (v >= 0 && s->way[v].state != XC_INVALID && xc_evict(xc, &s->way[v]) < 0) {
			v = -1; /* victim buffer full */
			lg_stat_add(LEGO_STAT_VICTIM_STALLS, 1);
		}
		if (v < 0) {
			/* every way is filling or the victim buffer is full: let
			 * fills and write-backs finish, then look again */
			xc_unlock(&s->lock);
			xc_writeback_kick(xc, 1);
			rpc_client_progress(xc->lc->cl);
			sched_yield();
			continue;
		}
		struct xc_way *way = &s->way[v];
		way->line = line;
		xc->pol->fill(way, atomic_fetch_add(&xc->tick, 1));
		lg_stat_add(LEGO_STAT_RESIDENT, 1);
		if (xc_victim_refill(xc, line, la)) {
			way->state = XC_DIRTY;
			xc_unlock(&s->lock);
			return;
		}
		if (!sp_written(sp, line)) { /* p-local: never written back, so zeros */
			xc_install(xc, la, xc->zero, write);
			way->state = write ? XC_DIRTY : XC_CLEAN;
			xc_unlock(&s->lock);
			lg_stat_add(LEGO_STAT_ZERO_FILLS, 1);
			lg_lat_record(LEGO_LAT_ZERO, lg_now_ns() - t0);
			return;
		}
		way->state = XC_FILLING;
		xc_unlock(&s->lock);
		break;
	}
	struct xc_fetch *f;
	while (!(f = xc_fetch_get(xc)))
		rpc_client_progress(xc->lc->cl);
	f->line = line;
	f->write = write;
	f->tries = 0;
	f->t0 = t0;
	xc_fetch_send(f);
}

/* ------------------------------------------------------ flush and drop */

int xc_flush(struct excache *xc)
{
	atomic_store(&xc->wb_error, 0);
	for (uint64_t si = 0; si < xc->nsets; si++) {
		struct xc_set *s = (struct xc_set *)(xc->sets + si * xc->set_stride);
		for (uint32_t w = 0; w < xc->ways; w++) {
			for (;;) {
				xc_lock(&s->lock);
				struct xc_way *way = &s->way[w];
				if (way->state != XC_DIRTY) {
					xc_unlock(&s->lock);
					break;
				}
				uint8_t *la = sp_line_addr(xc->sp, way->line);
				xc_lock(&xc->vlock);
				int v = xc_victim_get(xc);
				if (v >= 0) {
					xc_uffd_wp(xc, la, 1);
					memcpy(xc->vic[v].data, la, xc->line);
					xc->vic[v].line = way->line;
					xc->vic[v].seq = atomic_fetch_add(&xc->wb_seq, 1) + 1;
					atomic_fetch_add(&xc->vpending, 1);
					way->state = XC_CLEAN;
				}
				xc_unlock(&xc->vlock);
				xc_unlock(&s->lock);
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

static void xc_drop_one(struct excache *xc, struct xc_set *s, uint32_t w)
{
	s->way[w].state = XC_INVALID;
	lg_stat_sub(LEGO_STAT_RESIDENT, 1);
}

uint64_t xc_drop_lines(struct excache *xc, uint64_t first, uint64_t n)
{
	uint64_t end = first + n;
	uint64_t total = xc->nsets * xc->ways;
	/* resident lines: walk the lines, or the whole cache if that is less */
	if (n <= total) {
		for (uint64_t l = first; l < end; l++) {
			struct xc_set *s = xc_set_of(xc, l);
			for (;;) {
				xc_lock(&s->lock);
				int w = xc_find(xc, s, l);
				int filling = w >= 0 && s->way[w].state == XC_FILLING;
				if (w >= 0 && !filling)
					xc_drop_one(xc, s, (uint32_t)w);
				xc_unlock(&s->lock);
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
					xc_lock(&s->lock);
					struct xc_way *way = &s->way[w];
					int in = way->state != XC_INVALID && way->line >= first &&
						 way->line < end;
					int filling = in && way->state == XC_FILLING;
					if (in && !filling)
						xc_drop_one(xc, s, w);
					xc_unlock(&s->lock);
					if (!filling)
						break;
					rpc_client_progress(xc->lc->cl);
				}
			}
		}
	}
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

uint64_t xc_resident(struct excache *xc)
{
	(void)xc;
	return atomic_load(&lg_stat[LEGO_STAT_RESIDENT]);
}

uint32_t xc_victims_busy(struct excache *xc) { return atomic_load(&xc->vbusy); }

/* ------------------------------------------------------------ set-up */

int xc_init(struct excache **out, const struct xc_conf *conf, struct lg_space *sp, int uffd)
{
	struct excache *xc = lg_local_alloc(sizeof *xc);
	if (!xc)
		return -ENOMEM;
	xc->sp = sp;
	xc->lc = sp->lc;
	xc->uffd = uffd;
	xc->lo = conf->line_order;
	xc->line = (size_t)1 << conf->line_order;
	xc->ways = conf->ways;
	uint64_t lines = conf->size >> conf->line_order;
	if (lines < xc->ways)
		lines = xc->ways;
	xc->nsets = lines / xc->ways;
	xc->set_stride = LG_ALIGN_UP(sizeof(struct xc_set) + xc->ways * sizeof(struct xc_way), 64);
	xc->sets = lg_local_alloc(xc->nsets * xc->set_stride);
	xc->pol = conf->policy;
	xc->retries = conf->retries;
	xc->timeout_ns = conf->timeout_ns;
	xc->zero = lg_local_alloc(xc->line);
	/* victim buffer: at most an eighth of the cache, at least 4 lines */
	uint64_t vmax = LG_MAX((uint64_t)4, (conf->size / 8) >> conf->line_order);
	xc->nvic = (uint32_t)LG_MIN((uint64_t)conf->victim_lines, vmax);
	xc->vic = lg_local_alloc(xc->nvic * sizeof *xc->vic);
	xc->vic_mem = lg_local_alloc((size_t)xc->nvic * xc->line);
	xc->wb_batch = (uint32_t)LG_MAX((size_t)1, LG_MIN((size_t)LEGO_BATCH_MAX, XC_WB_BYTES / xc->line));
	xc->wb_batch = LG_MIN(xc->wb_batch, xc->nvic);
	xc->wb_bytes = (size_t)xc->wb_batch * xc->line;
	xc->wb_mem = lg_local_alloc(XC_WB_SLOTS * xc->wb_bytes);
	xc->fetches = lg_local_alloc(XC_FETCH_SLOTS * sizeof *xc->fetches);
	if (!xc->sets || !xc->zero || !xc->vic || !xc->vic_mem || !xc->wb_mem || !xc->fetches) {
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
	for (int i = 0; i < XC_FETCH_SLOTS; i++) {
		xc->fetches[i].xc = xc;
		xc->fetches[i].next = i + 1 < XC_FETCH_SLOTS ? &xc->fetches[i + 1] : NULL;
	}
	xc->fetch_free = &xc->fetches[0];
	atomic_flag_clear(&xc->vlock);
	atomic_flag_clear(&xc->plock);
	for (uint64_t i = 0; i < xc->nsets; i++)
		atomic_flag_clear(&((struct xc_set *)(xc->sets + i * xc->set_stride))->lock);
	*out = xc;
	return 0;
}

void xc_destroy(struct excache *xc)
{
	if (!xc)
		return;
	lg_local_free(xc->sets, xc->nsets * xc->set_stride);
	lg_local_free(xc->zero, xc->line);
	lg_local_free(xc->vic, xc->nvic * sizeof *xc->vic);
	lg_local_free(xc->vic_mem, (size_t)xc->nvic * xc->line);
	lg_local_free(xc->wb_mem, XC_WB_SLOTS * xc->wb_bytes);
	lg_local_free(xc->fetches, XC_FETCH_SLOTS * sizeof *xc->fetches);
	lg_local_free(xc, sizeof *xc);
}
