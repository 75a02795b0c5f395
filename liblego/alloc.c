/*
 * Allocation of remote memory: a jemalloc arena whose extents come from the
 * remote address space.  jemalloc decides sizes, reuse and decay; these
 * hooks map its extent operations onto the space:
 *   alloc     -> carve address space, commit it (place, reserve, allow)
 *   dalloc    -> refuse (jemalloc keeps the address range for reuse)
 *   commit    -> reserve capacity and allow access
 *   decommit  -> drop the contents, release the reservation, forbid access
 *   purge     -> drop the contents (the pages read as zeros again)
 * The hooks run in the allocating thread, with jemalloc's arena lock held;
 * they wait for RPCs but never allocate from this arena.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <jemalloc/jemalloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>

#include "common/log.h"
#include "common/util.h"
#include "lego/lego.h"
#include "runtime.h"
#include "stats.h"
#include "tls.h"

static void *h_alloc(extent_hooks_t *h, void *new_addr, size_t size, size_t align, bool *zero,
		     bool *commit, unsigned arena)
{
	(void)h, (void)arena;
	struct lg_space *sp = &lg_rt.sp;
	void *p = sp_va_alloc(sp, new_addr, size, align);
	if (!p)
		return NULL;
	if (sp_commit(sp, p, size, 1, PROT_READ | PROT_WRITE) != 0) {
		sp_va_free(sp, p, size);
		return NULL;
	}
	/* fresh address space was never written, or was purged when freed */
	*zero = true;
	*commit = true;
	return p;
}

static bool h_dalloc(extent_hooks_t *h, void *addr, size_t size, bool committed, unsigned arena)
{
	(void)h, (void)addr, (void)size, (void)committed, (void)arena;
	return true; /* keep it: jemalloc retains and reuses the range */
}

static void h_destroy(extent_hooks_t *h, void *addr, size_t size, bool committed, unsigned arena)
{
	(void)h, (void)arena;
	if (committed)
		sp_decommit(&lg_rt.sp, addr, size);
	sp_va_free(&lg_rt.sp, addr, size);
}

static bool h_commit(extent_hooks_t *h, void *addr, size_t size, size_t off, size_t len,
		     unsigned arena)
{
	(void)h, (void)size, (void)arena;
	return sp_commit(&lg_rt.sp, (uint8_t *)addr + off, len, 1, PROT_READ | PROT_WRITE) != 0;
}

/*
 * Releasing remote memory takes requests to its memnode.  When jemalloc
 * asks for it from inside Lego's own code (lg_nested: a flush of the
 * thread cache set off by an allocation libfabric made while this thread
 * was sending, or setting up a forked child's connections), the requests
 * would re-enter the fabric path this thread is in the middle of, on a
 * connection that may be half made: decline (true), and jemalloc keeps
 * the pages as they are, committed and not known to be zero, to reuse.
 */
static bool h_decommit(extent_hooks_t *h, void *addr, size_t size, size_t off, size_t len,
		       unsigned arena)
{
	(void)h, (void)size, (void)arena;
	if (lg_nested())
		return true;
	return sp_decommit(&lg_rt.sp, (uint8_t *)addr + off, len) != 0;
}

static bool h_purge(extent_hooks_t *h, void *addr, size_t size, size_t off, size_t len,
		    unsigned arena)
{
	(void)h, (void)size, (void)arena;
	if (lg_nested()) /* as h_decommit */
		return true;
	return sp_purge(&lg_rt.sp, (uint8_t *)addr + off, len) != 0;
}

static bool h_split(extent_hooks_t *h, void *addr, size_t size, size_t a, size_t b,
		    bool committed, unsigned arena)
{
	(void)h, (void)addr, (void)size, (void)a, (void)b, (void)committed, (void)arena;
	return false;
}

static bool h_merge(extent_hooks_t *h, void *a, size_t sa, void *b, size_t sb, bool committed,
		    unsigned arena)
{
	(void)h, (void)a, (void)sa, (void)b, (void)sb, (void)committed, (void)arena;
	return false;
}

static extent_hooks_t lg_hooks = {h_alloc, h_dalloc, h_destroy, h_commit, h_decommit,
				  NULL /* no lazy purge */, h_purge, h_split, h_merge};

/*
 * The arena is created with jemalloc's own hooks and given ours after:
 * its first metadata block (the arena itself, its locks and bins) is then
 * local memory.  fork needs that: jemalloc's fork handlers take and reset
 * those locks while the runtime cannot serve faults.
 */
int lg_alloc_init(unsigned *arena)
{
	size_t sz = sizeof *arena;
	int r = mallctl("arenas.create", arena, &sz, NULL, 0);
	if (r) {
		lg_log(LG_ERROR, "alloc", "jemalloc arenas.create failed: %s", strerror(r));
		return -r;
	}
	char name[64];
	snprintf(name, sizeof name, "arena.%u.extent_hooks", *arena);
	extent_hooks_t *hp = &lg_hooks;
	r = mallctl(name, NULL, NULL, &hp, sizeof hp);
	if (r) {
		lg_log(LG_ERROR, "alloc", "jemalloc %s failed: %s", name, strerror(r));
		return -r;
	}
	return 0;
}

static inline int lg_flags(void) { return MALLOCX_ARENA(lg_rt.arena) | MALLOCX_TCACHE_NONE; }

static void *lg_alloc_flags(size_t size, int extra)
{
	int r = lg_rt_ready();
	if (r) {
		errno = -r;
		return NULL;
	}
	lg_enter(); /* what the hooks allocate (libfabric's buffers) stays local */
	void *p = mallocx(size ? size : 1, lg_flags() | extra);
	lg_leave();
	if (!p) {
		errno = ENOMEM;
		return NULL;
	}
	lg_stat_add(LEGO_STAT_ALLOCS, 1);
	return p;
}

void *lego_alloc(size_t size) { return lg_alloc_flags(size, 0); }

void *lego_calloc(size_t n, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	return lg_alloc_flags(total, MALLOCX_ZERO);
}

void *lego_alloc_aligned(size_t alignment, size_t size)
{
	if (!alignment || (alignment & (alignment - 1))) {
		errno = EINVAL;
		return NULL;
	}
	return lg_alloc_flags(size, MALLOCX_ALIGN(alignment));
}

void lego_free(void *p)
{
	if (!p)
		return;
	if (atomic_load(&lg_rt.state) != LG_RT_RUNNING)
		return; /* stopped: the memory is gone with the address space */
	if (!sp_contains(&lg_rt.sp, p)) {
		lg_log_rl(LG_ERROR, "alloc", "lego_free(%p): not memory from lego_alloc; ignored", p);
		return;
	}
	lg_enter();
	dallocx(p, lg_flags());
	lg_leave();
	lg_stat_add(LEGO_STAT_FREES, 1);
}

void *lego_realloc(void *p, size_t size)
{
	if (!p)
		return lego_alloc(size);
	if (!size) {
		lego_free(p);
		return NULL;
	}
	if (lg_rt_ready() != 0 || !sp_contains(&lg_rt.sp, p)) {
		errno = EINVAL;
		return NULL;
	}
	lg_enter();
	void *q = rallocx(p, size, lg_flags());
	lg_leave();
	if (!q)
		errno = ENOMEM;
	return q;
}

int lego_is_remote(const void *p)
{
	return atomic_load(&lg_rt.state) == LG_RT_RUNNING && sp_contains(&lg_rt.sp, p);
}
