/*
 * The remote address space (see space.h): virtual ranges, granule
 * placement, capacity reservation and the written-line bitmap.
 */
#define _GNU_SOURCE
#include "space.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "client.h"
#include "common/log.h"
#include "common/util.h"
#include "excache.h"
#include "stats.h"

int sp_init(struct lg_space *sp, size_t size, uint32_t line_order, uint32_t granule_order,
	    struct lc *lc)
{
	memset(sp, 0, sizeof *sp);
	size_t gsz = (size_t)1 << granule_order;
	size = LG_ALIGN_UP(size, gsz);
	/* reserve size + one granule so the base can be granule-aligned */
	long r = lg_sys_mmap(NULL, size + gsz, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r < 0 && r > -4096) {
		lg_log(LG_ERROR, "space", "cannot reserve %zu bytes of address space: %s", size,
		       strerror((int)-r));
		return (int)r;
	}
	uintptr_t raw = (uintptr_t)r, base = LG_ALIGN_UP(raw, gsz);
	if (base > raw)
		lg_sys_munmap((void *)raw, base - raw);
	if (raw + gsz > base)
		lg_sys_munmap((void *)(base + size), raw + gsz - base);
	sp->base = (uint8_t *)base;
	sp->size = size;
	sp->line_order = line_order;
	sp->granule_order = granule_order;
	sp->lc = lc;
	/* no transparent huge pages: lines are installed page by page */
	lg_sys_madvise(sp->base, size, MADV_NOHUGEPAGE);
	size_t lines = size >> line_order;
	size_t bm = LG_ALIGN_UP((lines + 63) / 64 * 8, LG_PAGE_SIZE);
	r = lg_sys_mmap(NULL, bm, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			-1, 0);
	if (r < 0 && r > -4096)
		return (int)r;
	sp->written = (_Atomic uint64_t *)r;
	r = lg_sys_mmap(NULL, bm, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			-1, 0);
	if (r < 0 && r > -4096)
		return (int)r;
	sp->committed = (_Atomic uint64_t *)r;
	sp->ngran = size >> granule_order;
	sp->gran = lg_local_alloc(sp->ngran * sizeof *sp->gran);
	sp->capfree = 64;
	sp->free = lg_local_alloc(sp->capfree * sizeof *sp->free);
	if (!sp->gran || !sp->free)
		return -ENOMEM;
	sp->free[0] = (struct sp_range){base, base + size};
	sp->nfree = 1;
	pthread_mutex_init(&sp->lock, NULL);
	return 0;
}

void sp_destroy(struct lg_space *sp)
{
	if (!sp->base)
		return;
	lg_sys_munmap(sp->base, sp->size);
	size_t lines = sp->size >> sp->line_order;
	lg_sys_munmap((void *)sp->written, LG_ALIGN_UP((lines + 63) / 64 * 8, LG_PAGE_SIZE));
	lg_sys_munmap((void *)sp->committed, LG_ALIGN_UP((lines + 63) / 64 * 8, LG_PAGE_SIZE));
	lg_local_free(sp->gran, sp->ngran * sizeof *sp->gran);
	lg_local_free(sp->free, sp->capfree * sizeof *sp->free);
	sp->base = NULL;
}

/* Set (or clear) bits [first, first+n) of a bitmap; returns how many of
 * them were set before. */
static uint64_t sp_bits(_Atomic uint64_t *bm, uint64_t first, uint64_t n, int set)
{
	uint64_t was = 0;
	for (uint64_t l = first; l < first + n;) {
		uint64_t bit = l % 64, cnt = LG_MIN(64 - bit, first + n - l);
		uint64_t mask = (cnt == 64 ? ~0ull : ((1ull << cnt) - 1)) << bit;
		uint64_t old = set ? atomic_fetch_or(&bm[l / 64], mask)
				   : atomic_fetch_and(&bm[l / 64], ~mask);
		was += (uint64_t)__builtin_popcountll(old & mask);
		l += cnt;
	}
	return was;
}

uint64_t sp_clear_written(struct lg_space *sp, uint64_t first, uint64_t n)
{
	return sp_bits(sp->written, first, n, 0);
}

/* ------------------------------------------------------- virtual ranges */

static int sp_free_insert(struct lg_space *sp, size_t at, struct sp_range r)
{
	if (sp->nfree == sp->capfree) {
		size_t nc = sp->capfree * 2;
		struct sp_range *nf = lg_local_alloc(nc * sizeof *nf);
		if (!nf)
			return -ENOMEM;
		memcpy(nf, sp->free, sp->nfree * sizeof *nf);
		lg_local_free(sp->free, sp->capfree * sizeof *nf);
		sp->free = nf;
		sp->capfree = nc;
	}
	memmove(&sp->free[at + 1], &sp->free[at], (sp->nfree - at) * sizeof *sp->free);
	sp->free[at] = r;
	sp->nfree++;
	return 0;
}

static void sp_free_remove(struct lg_space *sp, size_t at)
{
	memmove(&sp->free[at], &sp->free[at + 1], (sp->nfree - at - 1) * sizeof *sp->free);
	sp->nfree--;
}

/* Carve [a, a+size) out of free range i (which contains it). */
static int sp_carve(struct lg_space *sp, size_t i, uintptr_t a, size_t size)
{
	struct sp_range r = sp->free[i];
	int has_left = a > r.start, has_right = a + size < r.end;
	if (has_left && has_right) {
		sp->free[i].end = a;
		return sp_free_insert(sp, i + 1, (struct sp_range){a + size, r.end});
	}
	if (has_left)
		sp->free[i].end = a;
	else if (has_right)
		sp->free[i].start = a + size;
	else
		sp_free_remove(sp, i);
	return 0;
}

void *sp_va_alloc(struct lg_space *sp, void *want, size_t size, size_t align)
{
	size = LG_ALIGN_UP(size, LG_PAGE_SIZE);
	if (align < LG_PAGE_SIZE)
		align = LG_PAGE_SIZE;
	void *res = NULL;
	pthread_mutex_lock(&sp->lock);
	for (size_t i = 0; i < sp->nfree; i++) {
		struct sp_range r = sp->free[i];
		uintptr_t a = want ? (uintptr_t)want : LG_ALIGN_UP(r.start, align);
		if (a < r.start || a + size > r.end || a + size < a) {
			if (want && (uintptr_t)want < r.start)
				break; /* sorted: no later range can hold it */
			continue;
		}
		if (sp_carve(sp, i, a, size) == 0)
			res = (void *)a;
		break;
	}
	pthread_mutex_unlock(&sp->lock);
	return res;
}

void sp_va_free(struct lg_space *sp, void *p, size_t size)
{
	uintptr_t a = (uintptr_t)p, e = a + LG_ALIGN_UP(size, LG_PAGE_SIZE);
	pthread_mutex_lock(&sp->lock);
	size_t i = 0;
	while (i < sp->nfree && sp->free[i].start < a)
		i++;
	int merge_left = i > 0 && sp->free[i - 1].end == a;
	int merge_right = i < sp->nfree && sp->free[i].start == e;
	if (merge_left && merge_right) {
		sp->free[i - 1].end = sp->free[i].end;
		sp_free_remove(sp, i);
	} else if (merge_left) {
		sp->free[i - 1].end = e;
	} else if (merge_right) {
		sp->free[i].start = a;
	} else if (sp_free_insert(sp, i, (struct sp_range){a, e}) < 0) {
		lg_log_rl(LG_WARN, "space", "lost track of %zu bytes of address space", size);
	}
	pthread_mutex_unlock(&sp->lock);
}

/* ------------------------------------------------- commit and release */

static int sp_reserve(struct lg_space *sp, struct rpc_peer *peer, int64_t delta)
{
	struct lego_reserve_req req = {.as = sp->lc->as, .delta = delta};
	struct lego_reserve_rep rep;
	size_t rl;
	return rpc_call(peer, P2M_RESERVE, &req, sizeof req, &rep, sizeof rep, &rl,
			sp->lc->timeout_ns);
}

/* Call fn on each granule piece of [p, p+len). */
#define SP_FOR_PIECES(sp, p, len, g, off, n)                                              \
	for (uintptr_t a_ = (uintptr_t)(p), e_ = a_ + (len), g = 0, off = 0, n = 0;       \
	     a_ < e_ && ((g = (a_ - (uintptr_t)(sp)->base) >> (sp)->granule_order),        \
			 (off = a_), (n = LG_MIN(e_, (uintptr_t)(sp)->base +                \
						  ((g + 1) << (sp)->granule_order)) - a_), 1); \
	     a_ += n)

static int sp_reserve_range(struct lg_space *sp, void *p, size_t len, int sign)
{
	uintptr_t done_to = (uintptr_t)p;
	int r = 0;
	SP_FOR_PIECES(sp, p, len, g, off, n)
	{
		struct sp_granule *gr = &sp->gran[g];
		struct rpc_peer *peer = atomic_load(&gr->peer);
		if (!peer) {
			peer = lc_place(sp->lc, g, &r);
			if (!peer)
				break;
			atomic_store_explicit(&gr->peer, peer, memory_order_release);
		}
		r = sp_reserve(sp, peer, sign * (int64_t)n);
		if (r) {
			if (r != -ENOMEM)
				lg_log(LG_ERROR, "space", "reservation on %s failed: %s", peer->name,
				       strerror(-r));
			break;
		}
		if (sign > 0) {
			gr->reserved += n;
			lg_stat_add(LEGO_STAT_RESERVED, n);
		} else {
			gr->reserved -= LG_MIN(gr->reserved, n);
			lg_stat_sub(LEGO_STAT_RESERVED, n);
		}
		done_to = off + n;
	}
	if (r && sign > 0 && done_to > (uintptr_t)p)
		sp_reserve_range(sp, p, done_to - (uintptr_t)p, -1); /* undo */
	return r;
}

/*
 * Protection changes cover whole lines: a line is installed with one
 * UFFDIO_COPY, which needs it inside one mapping.  Committing rounds out
 * (a line shared with a neighbour becomes accessible whole); decommitting
 * rounds in (a line still partly in use stays accessible).
 */
static void sp_line_round(struct lg_space *sp, void *p, size_t len, int out, uintptr_t *a,
			  uintptr_t *e)
{
	uintptr_t base = (uintptr_t)sp->base, ls = (uintptr_t)1 << sp->line_order;
	uintptr_t s = (uintptr_t)p - base, t = s + len;
	*a = base + (out ? LG_ALIGN_DOWN(s, ls) : LG_ALIGN_UP(s, ls));
	*e = base + (out ? LG_ALIGN_UP(t, ls) : LG_ALIGN_DOWN(t, ls));
}

int sp_commit(struct lg_space *sp, void *p, size_t len)
{
	pthread_mutex_lock(&sp->lock);
	int r = sp_reserve_range(sp, p, len, +1);
	pthread_mutex_unlock(&sp->lock);
	if (r)
		return r;
	uintptr_t a, e;
	sp_line_round(sp, p, len, 1, &a, &e);
	long m = lg_sys_mprotect((void *)a, e - a, PROT_READ | PROT_WRITE);
	if (m == 0)
		sp_bits(sp->committed, (a - (uintptr_t)sp->base) >> sp->line_order,
			(e - a) >> sp->line_order, 1);
	if (m < 0) {
		pthread_mutex_lock(&sp->lock);
		sp_reserve_range(sp, p, len, -1);
		pthread_mutex_unlock(&sp->lock);
		return (int)m;
	}
	return 0;
}

int sp_purge(struct lg_space *sp, void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p, e = a + len;
	uintptr_t la, le;
	sp_line_round(sp, p, len, 0, &la, &le);
	if (la >= le) { /* inside one line: just zero it */
		memset(p, 0, len);
		return 0;
	}
	/* Parts of lines shared with other data are zeroed in place (this
	 * thread may fault them in); whole lines are dropped. */
	if (a < la)
		memset(p, 0, la - a);
	if (le < e)
		memset((void *)le, 0, e - le);
	uint64_t first = (la - (uintptr_t)sp->base) >> sp->line_order;
	uint64_t n = (le - la) >> sp->line_order;
	uint64_t was_written = xc_drop_lines(sp->xc, first, n);
	lg_sys_madvise((void *)la, le - la, MADV_DONTNEED);
	if (!was_written)
		return 0;
	/* free them on their memnodes, piece by piece */
	SP_FOR_PIECES(sp, la, le - la, g, off, cnt)
	{
		struct rpc_peer *peer = atomic_load(&sp->gran[g].peer);
		if (!peer)
			continue;
		struct lego_free_req req = {.as = sp->lc->as,
					    .first_line = (off - (uintptr_t)sp->base) >> sp->line_order,
					    .nr_lines = cnt >> sp->line_order};
		int r = rpc_call(peer, P2M_FREE, &req, sizeof req, NULL, 0, NULL, sp->lc->timeout_ns);
		if (r)
			lg_log_rl(LG_WARN, "space", "freeing lines on %s failed: %s", peer->name,
				  strerror(-r));
	}
	return 0;
}

int sp_decommit(struct lg_space *sp, void *p, size_t len)
{
	uintptr_t a, e;
	sp_line_round(sp, p, len, 0, &a, &e);
	/* not committed first, so prefetch stays out while the lines go */
	if (e > a)
		sp_bits(sp->committed, (a - (uintptr_t)sp->base) >> sp->line_order,
			(e - a) >> sp->line_order, 0);
	sp_purge(sp, p, len);
	if (e > a)
		lg_sys_mprotect((void *)a, e - a, PROT_NONE);
	pthread_mutex_lock(&sp->lock);
	int r = sp_reserve_range(sp, p, len, -1);
	pthread_mutex_unlock(&sp->lock);
	if (r) /* the pages are gone either way; only the accounting lags */
		lg_log_rl(LG_WARN, "space", "releasing a reservation failed: %s", strerror(-r));
	return 0;
}

uint64_t sp_reserved(struct lg_space *sp)
{
	uint64_t t = 0;
	pthread_mutex_lock(&sp->lock);
	for (size_t g = 0; g < sp->ngran; g++)
		t += sp->gran[g].reserved;
	pthread_mutex_unlock(&sp->lock);
	return t;
}
