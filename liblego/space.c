/*
 * The remote address space (see space.h): virtual ranges, granule
 * placement, capacity reservation and the written-line bitmap.
 */
#define _GNU_SOURCE
#include "space.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "client.h"
#include "common/log.h"
#include "common/util.h"
#include "excache.h"
#include "stats.h"

static int sp_mem_open(void);

void sp_thp_mark(const struct lg_space *sp, void *a, size_t len)
{
	/* no transparent huge pages where lines are installed page by page:
	 * khugepaged would join lines that are then dropped one by one */
	if (sp->line_order < SP_HUGE_ORDER)
		lg_sys_madvise(a, len, MADV_NOHUGEPAGE);
}

int sp_init(struct lg_space *sp, size_t size, uint32_t line_order, uint32_t granule_order,
	    struct lc *lc)
{
	memset(sp, 0, sizeof *sp);
	sp->mem_fd = -1;
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
	sp_thp_mark(sp, sp->base, size);
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
	r = lg_sys_mmap(NULL, bm, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			-1, 0);
	if (r < 0 && r > -4096)
		return (int)r;
	sp->reserved = (_Atomic uint64_t *)r;
	sp->ngran = size >> granule_order;
	sp->gran = lg_local_alloc(sp->ngran * sizeof *sp->gran);
	sp->capfree = 64;
	sp->free = lg_local_alloc(sp->capfree * sizeof *sp->free);
	if (!sp->gran || !sp->free)
		return -ENOMEM;
	sp->free[0] = (struct sp_range){base, base + size};
	sp->nfree = 1;
	pthread_mutex_init(&sp->lock, NULL);
	sp_fork_child(sp);
	return 0;
}

void sp_fork_hold(struct lg_space *sp) { pthread_rwlock_wrlock(&sp->purge_lock); }
void sp_fork_release(struct lg_space *sp) { pthread_rwlock_unlock(&sp->purge_lock); }

void sp_fork_child(struct lg_space *sp)
{
	/* a fork must not wait behind a stream of purges */
	pthread_rwlockattr_t a;
	pthread_rwlockattr_init(&a);
	pthread_rwlockattr_setkind_np(&a, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&sp->purge_lock, &a);
	pthread_rwlockattr_destroy(&a);
	/* (a forked child's copy of the descriptor is its parent's memory) */
	if (sp->mem_fd >= 0)
		close(sp->mem_fd);
	sp->mem_fd = sp_mem_open();
}

/* /proc/self/mem, open for reading and writing, recorded as the runtime's
 * own descriptor (lg_fd_raise). */
static int sp_mem_open(void)
{
	int fd = (int)lg_syscall(SYS_openat, AT_FDCWD, "/proc/self/mem", O_RDWR | O_CLOEXEC);
	return fd < 0 ? -errno : lg_fd_raise(fd);
}

static int sp_mem_io_fd(int fd, uint8_t *p, uint8_t *buf, size_t n, int write)
{
	size_t done = 0;
	while (done < n) {
		long r = lg_syscall(write ? SYS_pwrite64 : SYS_pread64, fd, buf + done, n - done,
				 (off_t)(uintptr_t)(p + done));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO;
		done += (size_t)r;
	}
	return 0;
}

int sp_mem_io(struct lg_space *sp, void *p, void *buf, size_t n, int write)
{
	/* Still this file?  (A raw close(2) the runtime did not see, and a
	 * file of the program's under the number, would otherwise be written
	 * through.)  Else a fresh descriptor. */
	if (sp->mem_fd >= 0 && lg_fd_owned(sp->mem_fd))
		return sp_mem_io_fd(sp->mem_fd, p, buf, n, write);
	int fd = sp_mem_open();
	if (fd < 0)
		return fd;
	int r = sp_mem_io_fd(fd, p, buf, n, write);
	close(fd);
	return r;
}

void sp_destroy(struct lg_space *sp)
{
	if (!sp->base)
		return;
	if (sp->mem_fd >= 0)
		close(sp->mem_fd);
	sp->mem_fd = -1;
	lg_sys_munmap(sp->base, sp->size);
	size_t lines = sp->size >> sp->line_order;
	lg_sys_munmap((void *)sp->written, LG_ALIGN_UP((lines + 63) / 64 * 8, LG_PAGE_SIZE));
	lg_sys_munmap((void *)sp->committed, LG_ALIGN_UP((lines + 63) / 64 * 8, LG_PAGE_SIZE));
	lg_sys_munmap((void *)sp->reserved, LG_ALIGN_UP((lines + 63) / 64 * 8, LG_PAGE_SIZE));
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

void sp_va_claim(struct lg_space *sp, void *p, size_t size)
{
	uintptr_t a = (uintptr_t)p, e = a + LG_ALIGN_UP(size, LG_PAGE_SIZE);
	pthread_mutex_lock(&sp->lock);
	for (size_t i = 0; i < sp->nfree;) {
		struct sp_range r = sp->free[i];
		uintptr_t s = LG_MAX(r.start, a), t = LG_MIN(r.end, e);
		if (s < t) {
			size_t before = sp->nfree;
			sp_carve(sp, i, s, t - s);
			if (sp->nfree < before)
				continue; /* range i is gone: look at the new i */
		}
		i++;
	}
	pthread_mutex_unlock(&sp->lock);
}

int sp_va_is_free(struct lg_space *sp, const void *p)
{
	uintptr_t a = (uintptr_t)p;
	if (pthread_mutex_trylock(&sp->lock))
		return -1;
	int r = 0;
	for (size_t i = 0; i < sp->nfree && sp->free[i].start <= a; i++)
		if (a < sp->free[i].end) {
			r = 1;
			break;
		}
	pthread_mutex_unlock(&sp->lock);
	return r;
}

void sp_va_free(struct lg_space *sp, void *p, size_t size)
{
	uintptr_t a = (uintptr_t)p, e = a + LG_ALIGN_UP(size, LG_PAGE_SIZE);
	pthread_mutex_lock(&sp->lock);
	/* Parts of [a, e) may be free already (a munmap over a hole an
	 * earlier munmap made): the free ranges it touches or overlaps
	 * become one with it.  (Inserting it beside them made two free
	 * ranges overlap, and two later mappings share addresses.) */
	size_t i = 0;
	while (i < sp->nfree && sp->free[i].end < a)
		i++;
	size_t j = i;
	while (j < sp->nfree && sp->free[j].start <= e) {
		a = LG_MIN(a, sp->free[j].start);
		e = LG_MAX(e, sp->free[j].end);
		j++;
	}
	if (j > i) {
		sp->free[i] = (struct sp_range){a, e};
		while (j-- > i + 1)
			sp_free_remove(sp, i + 1);
	} else if (sp_free_insert(sp, i, (struct sp_range){a, e}) < 0) {
		lg_log_rl(LG_WARN, "space", "lost track of %zu bytes of address space", size);
	}
	pthread_mutex_unlock(&sp->lock);
}

/* ------------------------------------------------- commit and release */

static void sp_release(struct lg_space *sp, uintptr_t a, uintptr_t e);

int sp_reserve_on(struct lg_space *sp, struct rpc_peer *peer, int64_t delta)
{
	struct lego_reserve_req req = {.as = sp->lc->as, .delta = delta};
	struct lego_reserve_rep rep;
	size_t rl;
	return rpc_call(peer, P2M_RESERVE, &req, sizeof req, &rep, sizeof rep, &rl,
			sp->lc->timeout_ns);
}

/* Reserve (delta > 0) or release capacity for granule g on every live
 * memnode holding a copy; a refused reservation is undone everywhere. */
static int sp_reserve(struct lg_space *sp, uint64_t g, int64_t delta)
{
	struct rpc_peer *copy[2] = {atomic_load(&sp->gran[g].peer), atomic_load(&sp->gran[g].mirror)};
	int r = 0, done = 0;
	for (; done < 2 && !r; done++) {
		if (!copy[done] || atomic_load(&copy[done]->down))
			continue;
		r = sp_reserve_on(sp, copy[done], delta);
		if (r && delta < 0) { /* the lines are gone either way */
			if (r != -ECHILD)
				lg_log_rl(LG_WARN, "space", "releasing a reservation on %s failed: %s",
					  copy[done]->name, strerror(-r));
			r = 0;
		} else if (r && r != -ENOMEM) {
			lg_log(LG_ERROR, "space", "reservation on %s failed: %s", copy[done]->name,
			       strerror(-r));
		}
	}
	if (r && delta > 0) /* the copy that failed is copy[done - 1] */
		for (int i = 0; i < done - 1; i++)
			if (copy[i] && !atomic_load(&copy[i]->down))
				sp_reserve_on(sp, copy[i], -delta);
	return r;
}

/* Call fn on each granule piece of [p, p+len). */
#define SP_FOR_PIECES(sp, p, len, g, off, n)                                              \
	for (uintptr_t a_ = (uintptr_t)(p), e_ = a_ + (len), g = 0, off = 0, n = 0;       \
	     a_ < e_ && ((g = (a_ - (uintptr_t)(sp)->base) >> (sp)->granule_order),        \
			 (off = a_), (n = LG_MIN(e_, (uintptr_t)(sp)->base +                \
						  ((g + 1) << (sp)->granule_order)) - a_), 1); \
	     a_ += n)

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

static uint64_t sp_count_bits(_Atomic uint64_t *bm, uint64_t first, uint64_t n)
{
	uint64_t c = 0;
	for (uint64_t l = first; l < first + n;) {
		uint64_t bit = l % 64, cnt = LG_MIN(64 - bit, first + n - l);
		uint64_t mask = (cnt == 64 ? ~0ull : ((1ull << cnt) - 1)) << bit;
		c += (uint64_t)__builtin_popcountll(atomic_load(&bm[l / 64]) & mask);
		l += cnt;
	}
	return c;
}

static inline uint64_t sp_line_idx(const struct lg_space *sp, uintptr_t a)
{
	return (a - (uintptr_t)sp->base) >> sp->line_order;
}

/* The memnode of granule g, placing it now if needed (sp->lock held). */
static struct rpc_peer *sp_place(struct lg_space *sp, uint64_t g, int *err)
{
	struct rpc_peer *peer = atomic_load(&sp->gran[g].peer);
	if (!peer) {
		struct rpc_peer *mirror = NULL;
		peer = lc_place(sp->lc, g, &mirror, err);
		if (peer) {
			atomic_store_explicit(&sp->gran[g].mirror, mirror, memory_order_release);
			atomic_store_explicit(&sp->gran[g].peer, peer, memory_order_release);
		}
	}
	return peer;
}

static void sp_account(struct lg_space *sp, uint64_t g, int64_t bytes)
{
	if (bytes > 0) {
		sp->gran[g].reserved += (uint64_t)bytes;
		sp->reserved_bytes += (uint64_t)bytes;
		lg_stat_add(LEGO_STAT_RESERVED, (uint64_t)bytes);
	} else {
		uint64_t b = LG_MIN(sp->gran[g].reserved, (uint64_t)-bytes);
		sp->gran[g].reserved -= b;
		sp->reserved_bytes -= b;
		lg_stat_sub(LEGO_STAT_RESERVED, b);
	}
}

/*
 * Capacity is accounted per line, with a bitmap of the lines whose
 * capacity is reserved: committing reserves the lines not reserved yet,
 * decommitting releases the lines that were.  All RPCs of a commit happen
 * before any bit changes, so a refusal is undone exactly.
 */
int sp_commit(struct lg_space *sp, void *p, size_t len, int reserve, int prot)
{
	uintptr_t a, e;
	sp_line_round(sp, p, len, 1, &a, &e);
	size_t ls = (size_t)1 << sp->line_order;
	int r = 0;
	uintptr_t done = a;
	uint64_t quota = sp->lc->as.quota; /* the monitor's grant, signed: memnodes check it too */
	pthread_mutex_lock(&sp->lock);
	SP_FOR_PIECES(sp, a, e - a, g, off, n)
	{
		struct rpc_peer *peer = sp_place(sp, g, &r);
		if (!peer)
			break;
		uint64_t nl = n >> sp->line_order;
		uint64_t fresh = reserve ? nl - sp_count_bits(sp->reserved, sp_line_idx(sp, off), nl) : 0;
		if (fresh && quota && sp->reserved_bytes + fresh * ls > quota) {
			r = -ENOMEM;
			lg_stat_add(LEGO_STAT_QUOTA_REFUSALS, 1);
			break;
		}
		if (fresh && (r = sp_reserve(sp, g, (int64_t)(fresh * ls))) != 0)
			break;
		sp_account(sp, g, (int64_t)(fresh * ls));
		done = off + n;
	}
	if (r) { /* undo the pieces reserved so far */
		SP_FOR_PIECES(sp, a, done - a, g, off, n)
		{
			uint64_t nl = n >> sp->line_order;
			uint64_t fresh = nl - sp_count_bits(sp->reserved, sp_line_idx(sp, off), nl);
			if (reserve && fresh) {
				sp_reserve(sp, g, -(int64_t)(fresh * ls));
				sp_account(sp, g, -(int64_t)(fresh * ls));
			}
		}
		pthread_mutex_unlock(&sp->lock);
		return r;
	}
	if (reserve)
		sp_bits(sp->reserved, sp_line_idx(sp, a), (e - a) >> sp->line_order, 1);
	pthread_mutex_unlock(&sp->lock);
	long m;
	if (prot == (PROT_READ | PROT_WRITE)) {
		m = lg_sys_mprotect((void *)a, e - a, prot);
	} else {
		/* only its own pages: the rest of a line partly in it may be
		 * the program's memory in use */
		uintptr_t pa = LG_ALIGN_DOWN((uintptr_t)p, LG_PAGE_SIZE);
		uintptr_t pe = LG_ALIGN_UP((uintptr_t)p + len, LG_PAGE_SIZE);
		sp_line_round(sp, (void *)pa, pe - pa, 0, &a, &e);
		if (!(prot & PROT_READ)) {
			/* a line partly in it (lines over a page) is no longer
			 * all readable; the lines wholly in it are fresh */
			if (e <= a) {
				sp_access(sp, (void *)pa, pe - pa, 0);
			} else {
				if (pa < a)
					sp_access(sp, (void *)pa, a - pa, 0);
				if (e < pe)
					sp_access(sp, (void *)e, pe - e, 0);
			}
			e = a;
		}
		m = lg_sys_mprotect((void *)pa, pe - pa, prot);
	}
	if (m < 0) {
		sp_line_round(sp, p, len, 1, &a, &e);
		sp_release(sp, a, e);
		return (int)m;
	}
	/* accessible first, then known as such (prefetch trusts the bit) */
	if (e > a)
		sp_bits(sp->committed, sp_line_idx(sp, a), (e - a) >> sp->line_order, 1);
	return 0;
}

/* Release the reservations of the lines of [a, e) (line-aligned). */
static void sp_release(struct lg_space *sp, uintptr_t a, uintptr_t e)
{
	size_t ls = (size_t)1 << sp->line_order;
	pthread_mutex_lock(&sp->lock);
	SP_FOR_PIECES(sp, a, e - a, g, off, n)
	{
		uint64_t held = sp_bits(sp->reserved, sp_line_idx(sp, off), n >> sp->line_order, 0);
		if (!held || !atomic_load(&sp->gran[g].peer))
			continue;
		sp_reserve(sp, g, -(int64_t)(held * ls)); /* failures only logged */
		sp_account(sp, g, -(int64_t)(held * ls));
	}
	pthread_mutex_unlock(&sp->lock);
}

/* Frees lines [first, first + n) of one piece on its copies, and on the
 * forked child's copies when a fork is between its clone and the fork
 * itself (twin: the child's address space). */
static void sp_free_remote(struct lg_space *sp, size_t g, uint64_t first, uint64_t n,
			   const struct lego_as_ref *twin)
{
	struct rpc_peer *copy[2] = {atomic_load(&sp->gran[g].peer),
				    atomic_load(&sp->gran[g].mirror)};
	for (int i = 0; i < 2; i++) {
		if (!copy[i] || atomic_load(&copy[i]->down))
			continue;
		for (int t = 0; t < 1 + (twin != NULL); t++) {
			struct lego_free_req req = {.as = t ? *twin : sp->lc->as,
						    .first_line = first,
						    .nr_lines = n};
			int r = rpc_call(copy[i], P2M_FREE, &req, sizeof req, NULL, 0, NULL,
					 sp->lc->timeout_ns);
			/* (-ECHILD: a forked child not connected yet; the lines
			 * read as zeros, their written bits being clear) */
			if (r && r != -ECHILD)
				lg_log_rl(LG_WARN, "space", "freeing lines on %s%s failed: %s",
					  copy[i]->name, t ? " (a forked child's copy)" : "",
					  strerror(-r));
		}
	}
}

struct sp_prot_of {
	uintptr_t a;
	int prot;
};

static int sp_prot_hit(uintptr_t lo, uintptr_t hi, int prot, void *arg)
{
	struct sp_prot_of *q = arg;
	if (lo <= q->a && q->a < hi)
		q->prot = prot;
	return q->prot >= 0;
}

/* The protection of the page at a (/proc/self/maps), or -1. */
static int sp_prot_of(uintptr_t a)
{
	struct sp_prot_of q = {a, -1};
	lg_maps_each(sp_prot_hit, &q);
	return q.prot;
}

/*
 * Zero [x, x+n), part of a line that also holds other data (lines over a
 * page), whatever its pages' protection: a JVM maps with MAP_FIXED over
 * single pages of a PROT_NONE reservation.  A writable page is written
 * through the kernel (process_vm_writev faults it in as an access would:
 * this is an application thread); a protected one is written as a debugger
 * writes if it is resident, else made writable for the moment.
 */
static void sp_zero_part(struct lg_space *sp, uintptr_t x, size_t n)
{
	static const uint8_t zeros[LG_PAGE_SIZE];
	struct iovec liov[64];
	for (int i = 0; i < 64; i++)
		liov[i] = (struct iovec){(void *)zeros, LG_PAGE_SIZE};
	pid_t pid = (pid_t)lg_syscall(SYS_getpid);
	while (n) {
		size_t k = LG_MIN(n, 64 * LG_PAGE_SIZE);
		struct iovec r = {(void *)x, k};
		long w = lg_syscall(SYS_process_vm_writev, pid, liov, (k + LG_PAGE_SIZE - 1) / LG_PAGE_SIZE,
				 &r, 1, 0);
		if (w > 0) {
			x += (size_t)w;
			n -= (size_t)w;
			continue;
		}
		/* this page is not writable */
		uintptr_t pg = LG_ALIGN_DOWN(x, LG_PAGE_SIZE);
		k = LG_MIN(n, pg + LG_PAGE_SIZE - x);
		if (sp_mem_io(sp, (void *)x, (void *)zeros, k, 1) != 0) {
			int prot = sp_prot_of(x);
			if (prot >= 0 && lg_sys_mprotect((void *)pg, LG_PAGE_SIZE, PROT_READ | PROT_WRITE) == 0) {
				memset((void *)x, 0, k);
				lg_sys_mprotect((void *)pg, LG_PAGE_SIZE, prot);
			} else {
				lg_log_rl(LG_ERROR, "space", "cannot clear %zu bytes at %p", k, (void *)x);
			}
		}
		x += k;
		n -= k;
	}
}

/* sp_purge under purge_lock (read).  sp_purge, sp_decommit and sp_access
 * are how program threads (munmap, madvise, a large free) come into the
 * ExCache's set locks: asynchronous signals held (lg_sig_hold). */
static void sp_purge_locked(struct lg_space *sp, void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p, e = a + len;
	uintptr_t la, le;
	sp_line_round(sp, p, len, 0, &la, &le);
	if (la >= le) { /* inside one line: just zero it */
		sp_zero_part(sp, a, len);
		return;
	}
	/* Parts of lines shared with other data are zeroed in place (this
	 * thread may fault them in); whole lines are dropped. */
	if (a < la)
		sp_zero_part(sp, a, la - a);
	if (le < e)
		sp_zero_part(sp, le, e - le);
	uint64_t first = (la - (uintptr_t)sp->base) >> sp->line_order;
	uint64_t n = (le - la) >> sp->line_order;
	uint64_t was_written = xc_drop_lines(sp->xc, first, n);
	lg_sys_madvise((void *)la, le - la, MADV_DONTNEED);
	if (!was_written) /* (a forked child's copy has only lines this one had) */
		return;
	/* free them on their memnodes, piece by piece */
	struct lego_as_ref twin;
	int twinned = xc_twin_of(sp->xc, &twin);
	SP_FOR_PIECES(sp, la, le - la, g, off, cnt)
	sp_free_remote(sp, g, (off - (uintptr_t)sp->base) >> sp->line_order,
		       cnt >> sp->line_order, twinned ? &twin : NULL);
}

int sp_purge(struct lg_space *sp, void *p, size_t len)
{
	lg_sig_hold();
	pthread_rwlock_rdlock(&sp->purge_lock);
	sp_purge_locked(sp, p, len);
	pthread_rwlock_unlock(&sp->purge_lock);
	lg_sig_release();
	return 0;
}

int sp_decommit(struct lg_space *sp, void *p, size_t len)
{
	uintptr_t a, e;
	sp_line_round(sp, p, len, 0, &a, &e);
	/* not committed first, so prefetch stays out while the lines go */
	if (e > a)
		sp_bits(sp->committed, sp_line_idx(sp, a), (e - a) >> sp->line_order, 0);
	lg_sig_hold();
	pthread_rwlock_rdlock(&sp->purge_lock);
	sp_purge_locked(sp, p, len);
	/* nothing of the fault thread's is held from here: the release of
	 * the reservation (a request) waits with signals let in, as a ^C to a
	 * program whose memnode stopped answering expects */
	lg_sig_release();
	if (e > a) {
		lg_sys_mprotect((void *)a, e - a, PROT_NONE);
		sp_release(sp, a, e);
	}
	pthread_rwlock_unlock(&sp->purge_lock);
	return 0;
}

void sp_access(struct lg_space *sp, void *p, size_t len, int readable)
{
	uintptr_t a, e;
	sp_line_round(sp, p, len, !readable, &a, &e);
	if (e <= a)
		return;
	uint64_t first = sp_line_idx(sp, a), n = (e - a) >> sp->line_order;
	if (readable) {
		sp_bits(sp->committed, first, n, 1);
		return;
	}
	sp_bits(sp->committed, first, n, 0); /* prefetch stays out */
	lg_sig_hold();
	xc_evict_lines(sp->xc, first, n);
	lg_sig_release();
}

uint64_t sp_reserved(struct lg_space *sp)
{
	pthread_mutex_lock(&sp->lock);
	uint64_t t = sp->reserved_bytes;
	pthread_mutex_unlock(&sp->lock);
	return t;
}
