/* Transparent-mode heap (see heap.h). */
#define _GNU_SOURCE
#include "heap.h"

#include <jemalloc/jemalloc.h>
#include <link.h>
#include <stdatomic.h>
#include <string.h>
#include <stdint.h>

#include "common/util.h"

#include "fork.h"
#include "runtime.h"
#include "tls.h"

__thread int lg_tls_inside __attribute__((tls_model("initial-exec")));

/*
 * The C library's and the dynamic loader's own allocations stay local:
 * locale data, stdio and directory buffers, resolver state, environment
 * strings.  The kernel reads and writes many of them directly, and a
 * forked child reads them before it can fetch remote memory (a new
 * thread's start reads the locale).  A caller's return address inside
 * their code tells.
 */
static uintptr_t lg_sys_lo[2], lg_sys_hi[2];

static int lg_find_text(struct dl_phdr_info *info, size_t size, void *arg)
{
	(void)size, (void)arg;
	const char *n = info->dlpi_name ? info->dlpi_name : "";
	int k = strstr(n, "/libc.so") ? 0 : strstr(n, "/ld-linux") ? 1 : -1;
	if (k < 0)
		return 0;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			lg_sys_lo[k] = info->dlpi_addr + ph->p_vaddr;
			lg_sys_hi[k] = lg_sys_lo[k] + ph->p_memsz;
		}
	}
	return 0;
}

void lg_heap_init(void) { dl_iterate_phdr(lg_find_text, NULL); }

static inline int lg_from_system(const void *ret)
{
	uintptr_t a = (uintptr_t)ret;
	return (a >= lg_sys_lo[0] && a < lg_sys_hi[0]) || (a >= lg_sys_lo[1] && a < lg_sys_hi[1]);
}

/* Before the runtime starts on demand (runtime.h): what the program takes
 * and gives back, in jemalloc's size classes so that both agree. */
static void lg_heap_charge(size_t n)
{
	lg_enter();
	size_t c = nallocx(n < 16 ? 16 : n, 0);
	lg_leave();
	lg_rt_charge(c ? (int64_t)c : (int64_t)n);
}

static void lg_heap_credit(void *p)
{
	if (lg_inside())
		return;
	lg_enter();
	size_t c = sallocx(p, 0);
	lg_leave();
	lg_rt_charge(-(int64_t)c);
}

/* jemalloc flags for a request of n bytes made from code at `caller`. */
static inline int lg_heap_flags(size_t n, const void *caller)
{
	static int registered;
	if (lg_unlikely(!registered)) {
		registered = 1; /* before jemalloc's first call registers its own */
		lg_fork_register();
	}
	if (lg_inside())
		return MALLOCX_TCACHE_NONE; /* the runtime's own: local */
	if (lg_unlikely(atomic_load_explicit(&lg_rt_deferred, memory_order_relaxed)))
		lg_heap_charge(n); /* may start the runtime */
	if (!lg_rt.transparent ||
	    atomic_load_explicit(&lg_rt.state, memory_order_acquire) != LG_RT_RUNNING)
		return 0; /* Lego off: a plain local allocation */
	if (n < lg_rt.remote_min || lg_from_system(caller))
		return MALLOCX_TCACHE_NONE; /* stays local, kept out of the thread
					     * cache, which holds remote memory */
	return MALLOCX_ARENA(lg_rt.arena);
}

/*
 * Allocations while this thread runs the runtime's fork handlers.  glibc
 * runs prepare handlers in the reverse order of their registration, and
 * ours is registered before jemalloc's (lg_heap_flags): jemalloc's locks
 * are held when ours runs, and until after our parent and child handlers.
 * Those must not enter jemalloc, but the prepare handler drives the last
 * write-backs, and libfabric may allocate while it progresses them (a
 * buffer pool grows): such a malloc waited for a lock its own thread held
 * (it_rma's fork churn hung).  They come from a static region instead and
 * are never given back; a free of one does nothing.
 */
#define LG_FORK_HEAP (256u << 10)
#define LG_FORK_HDR 16u /* the block's size, before it */
static uint8_t lg_fork_heap[LG_FORK_HEAP] __attribute__((aligned(64)));
static _Atomic size_t lg_fork_heap_used;
static __thread int lg_tls_forking __attribute__((tls_model("initial-exec")));

void lg_heap_fork_enter(void) { lg_tls_forking++; }
void lg_heap_fork_leave(void) { lg_tls_forking--; }

static inline int lg_fork_heap_has(const void *p)
{
	return (const uint8_t *)p >= lg_fork_heap && (const uint8_t *)p < lg_fork_heap + LG_FORK_HEAP;
}

static void *lg_fork_heap_alloc(size_t n, size_t align)
{
	align = LG_MAX(align, (size_t)LG_FORK_HDR);
	size_t used = atomic_load(&lg_fork_heap_used), start, end;
	do {
		start = LG_ALIGN_UP(used + LG_FORK_HDR, align);
		end = start + LG_ALIGN_UP(n ? n : 1, LG_FORK_HDR);
		if (end > LG_FORK_HEAP || end < start)
			return NULL;
	} while (!atomic_compare_exchange_weak(&lg_fork_heap_used, &used, end));
	*(size_t *)(lg_fork_heap + start - LG_FORK_HDR) = n;
	return lg_fork_heap + start;
}

static inline size_t lg_fork_heap_size(const void *p)
{
	return *(const size_t *)((const uint8_t *)p - LG_FORK_HDR);
}

/* Flags to free p: remote memory may go to the thread cache; local memory
 * must not (the cache serves remote requests). */
static inline int lg_free_flags(void *p)
{
	if (atomic_load_explicit(&lg_rt.state, memory_order_acquire) == LG_RT_RUNNING &&
	    lg_rt.transparent && !sp_contains(&lg_rt.sp, p))
		return MALLOCX_TCACHE_NONE;
	return 0;
}

/* glibc aligns every block to 16 bytes and programs rely on it (SSE
 * stores into malloc(8)); jemalloc's 8-byte class is only 8-aligned, so
 * requests below 16 bytes are served from the 16-byte class. */
static inline size_t lg_heap_size(size_t n) { return n < 16 ? 16 : n; }

void *lg_heap_malloc(size_t n, const void *caller)
{
	if (lg_unlikely(lg_tls_forking))
		return lg_fork_heap_alloc(n, 16);
	int fl = lg_heap_flags(n, caller);
	lg_enter();
	void *p = mallocx(lg_heap_size(n), fl);
	lg_leave();
	return p;
}

void *lg_heap_calloc(size_t n, size_t size, const void *caller)
{
	size_t total;
	if (__builtin_mul_overflow(n, size, &total))
		return NULL;
	if (lg_unlikely(lg_tls_forking)) {
		void *p = lg_fork_heap_alloc(total, 16);
		return p ? memset(p, 0, total) : NULL;
	}
	int fl = lg_heap_flags(total, caller);
	lg_enter();
	void *p = mallocx(lg_heap_size(total), fl | MALLOCX_ZERO);
	lg_leave();
	return p;
}

void lg_heap_free(void *p)
{
	if (!p || lg_unlikely(lg_fork_heap_has(p) || lg_tls_forking))
		return; /* (a jemalloc block freed while forking is left: its locks are taken) */
	if (lg_unlikely(atomic_load_explicit(&lg_rt_deferred, memory_order_relaxed)))
		lg_heap_credit(p);
	int fl = lg_free_flags(p);
	lg_enter();
	dallocx(p, fl);
	lg_leave();
}

void *lg_heap_realloc(void *p, size_t n, const void *caller)
{
	if (!p)
		return lg_heap_malloc(n, caller);
	if (!n) {
		lg_heap_free(p);
		return NULL;
	}
	if (lg_unlikely(lg_tls_forking || lg_fork_heap_has(p))) { /* a fresh block, a copy */
		void *q = lg_tls_forking ? lg_fork_heap_alloc(n, 16) : lg_heap_malloc(n, caller);
		size_t old = lg_fork_heap_has(p) ? lg_fork_heap_size(p) : lg_heap_usable_size(p);
		if (q)
			__builtin_memcpy(q, p, old < n ? old : n);
		if (q)
			lg_heap_free(p);
		return q;
	}
	if (lg_unlikely(atomic_load_explicit(&lg_rt_deferred, memory_order_relaxed)))
		lg_heap_credit(p); /* (the new size is charged by lg_heap_flags) */
	int want = lg_heap_flags(n, caller);
	int want_remote = want == (int)MALLOCX_ARENA(lg_rt.arena) && !lg_inside() &&
			  lg_rt.transparent && lg_rt.state == LG_RT_RUNNING;
	int is_remote = lg_rt.sp.base && sp_contains(&lg_rt.sp, p);
	if (want_remote == is_remote) { /* stays on its side: jemalloc resizes */
		lg_enter();
		void *q = rallocx(p, lg_heap_size(n), want);
		lg_leave();
		return q;
	}
	/* crosses between local and remote: a fresh block and a copy */
	void *q = lg_heap_malloc(n, caller);
	if (!q)
		return NULL;
	lg_enter();
	size_t old = sallocx(p, 0);
	lg_leave();
	__builtin_memcpy(q, p, old < n ? old : n);
	lg_heap_free(p);
	return q;
}

void *lg_heap_aligned(size_t alignment, size_t n, const void *caller)
{
	if (lg_unlikely(lg_tls_forking))
		return lg_fork_heap_alloc(n, alignment);
	size_t as = n; /* (charged as its aligned size class: what free credits) */
	if (lg_unlikely(atomic_load_explicit(&lg_rt_deferred, memory_order_relaxed))) {
		lg_enter();
		as = nallocx(lg_heap_size(n), MALLOCX_ALIGN(alignment));
		lg_leave();
		as = LG_MAX(as, n);
	}
	int fl = lg_heap_flags(as, caller);
	lg_enter();
	void *p = mallocx(lg_heap_size(n), fl | MALLOCX_ALIGN(alignment));
	lg_leave();
	return p;
}

size_t lg_heap_usable_size(void *p)
{
	if (!p)
		return 0;
	if (lg_unlikely(lg_fork_heap_has(p)))
		return lg_fork_heap_size(p);
	lg_enter();
	size_t s = sallocx(p, 0);
	lg_leave();
	return s;
}
