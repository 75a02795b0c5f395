/*
 * Line buffers that clients read one-sided over the network
 * (docs/architecture.md, "One-sided reads"): a jemalloc arena whose
 * extent hooks register every range it maps with the memnode's network
 * endpoint, for remote reads only (lf_expose).  jemalloc keeps what it
 * once mapped (the dalloc hook declines), so an address handed out stays
 * mapped and registered: a stale read brings old bytes, which the
 * reader's CRC32C check refuses.  Ranges of two registrations never merge.
 * On tcp, whose provider reads through the memnode's mappings, freed
 * pages go back to the kernel as usual; on a provider that pins what it
 * registers (verbs) they stay, since a dropped page would leave the
 * registration reading the old one.
 */
#define _GNU_SOURCE
#include "rmem.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include <jemalloc/jemalloc.h>

#include "common/log.h"
#include "common/util.h"

/* jemalloc, where it is the allocator (not under the sanitizers) */
extern int mallctl(const char *name, void *oldp, size_t *oldlenp, void *newp, size_t newlen)
	__attribute__((weak));
extern void *mallocx(size_t size, int flags) __attribute__((weak));

struct rm_region {
	uintptr_t base;
	size_t len;
	uint64_t key;
};

/* room for the registrations: jemalloc grows what it maps exponentially,
 * so a few dozen cover any capacity */
#define RM_MAX 4096

static struct {
	struct lf_ep *ep;
	int virt, purge;
	unsigned arena;
	pthread_mutex_t lock;
	struct rm_region *r; /* sorted by base */
	size_t n;
} R = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* Index of the region holding addr, or -1.  Under R.lock. */
static long rm_find(uintptr_t addr)
{
	size_t lo = 0, hi = R.n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (addr < R.r[mid].base)
			hi = mid;
		else if (addr - R.r[mid].base >= R.r[mid].len)
			lo = mid + 1;
		else
			return (long)mid;
	}
	return -1;
}

static void *rm_alloc(extent_hooks_t *h, void *new_addr, size_t size, size_t align, bool *zero,
		      bool *commit, unsigned arena)
{
	(void)h, (void)arena;
	if (new_addr || !size) /* (only extending in place asks for an address) */
		return NULL;
	align = LG_MAX(align, (size_t)LG_PAGE_SIZE);
	size_t len = size + align - LG_PAGE_SIZE;
	uint8_t *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			  -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	uint8_t *a = (uint8_t *)LG_ALIGN_UP((uintptr_t)m, align);
	if (a > m)
		munmap(m, (size_t)(a - m));
	if (m + len > a + size)
		munmap(a + size, (size_t)(m + len - (a + size)));
	pthread_mutex_lock(&R.lock);
	uint64_t key = 0;
	int r = R.n < RM_MAX ? lf_expose(R.ep, a, size, R.n + 1, &key) : -ENOSPC;
	if (r == 0) {
		size_t i = R.n;
		while (i > 0 && R.r[i - 1].base > (uintptr_t)a) {
			R.r[i] = R.r[i - 1];
			i--;
		}
		R.r[i] = (struct rm_region){(uintptr_t)a, size, key};
		R.n++;
	}
	pthread_mutex_unlock(&R.lock);
	if (r) {
		munmap(a, size);
		return NULL;
	}
	*zero = true;
	*commit = true;
	return a;
}

/* kept mapped, and registered, for good */
static bool rm_dalloc(extent_hooks_t *h, void *addr, size_t size, bool committed, unsigned arena)
{
	(void)h, (void)addr, (void)size, (void)committed, (void)arena;
	return true;
}

static bool rm_purge(extent_hooks_t *h, void *addr, size_t size, size_t off, size_t len,
		     unsigned arena)
{
	(void)h, (void)size, (void)arena;
	if (!R.purge)
		return true;
	return madvise((uint8_t *)addr + off, len, MADV_DONTNEED) != 0;
}

static bool rm_split(extent_hooks_t *h, void *addr, size_t size, size_t a, size_t b,
		     bool committed, unsigned arena)
{
	(void)h, (void)addr, (void)size, (void)a, (void)b, (void)committed, (void)arena;
	return false;
}

/* only within one registration */
static bool rm_merge(extent_hooks_t *h, void *a, size_t sa, void *b, size_t sb, bool committed,
		     unsigned arena)
{
	(void)h, (void)sa, (void)sb, (void)committed, (void)arena;
	pthread_mutex_lock(&R.lock);
	long ia = rm_find((uintptr_t)a), ib = rm_find((uintptr_t)b);
	pthread_mutex_unlock(&R.lock);
	return ia < 0 || ia != ib;
}

static extent_hooks_t rm_hooks = {
	.alloc = rm_alloc,
	.dalloc = rm_dalloc,
	.purge_forced = rm_purge,
	.split = rm_split,
	.merge = rm_merge,
};

int rmem_open(struct lf_ep *ep, int purge)
{
	if (!mallctl || !mallocx || !lf_can_read_net(ep))
		return -ENOTSUP;
	R.r = mmap(NULL, RM_MAX * sizeof *R.r, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (R.r == MAP_FAILED) {
		R.r = NULL;
		return -ENOMEM;
	}
	R.ep = ep;
	R.virt = lf_expose_virtual(ep);
	R.purge = purge;
	extent_hooks_t *hp = &rm_hooks;
	size_t sz = sizeof R.arena;
	if (mallctl("arenas.create", &R.arena, &sz, &hp, sizeof hp) != 0) {
		lg_log(LG_WARN, "memnode", "jemalloc: no arena for one-sided reads");
		munmap(R.r, RM_MAX * sizeof *R.r);
		R.r = NULL;
		R.ep = NULL;
		return -ENOTSUP;
	}
	return 0;
}

void *rmem_alloc(size_t len)
{
	return R.ep ? mallocx(len, MALLOCX_ARENA(R.arena) | MALLOCX_TCACHE_NONE) : NULL;
}

int rmem_where(const void *p, uint64_t *raddr, uint64_t *key)
{
	if (!R.ep)
		return -ENOTSUP;
	pthread_mutex_lock(&R.lock);
	long i = rm_find((uintptr_t)p);
	if (i >= 0) {
		*raddr = R.virt ? (uint64_t)(uintptr_t)p : (uint64_t)((uintptr_t)p - R.r[i].base);
		*key = R.r[i].key;
	}
	pthread_mutex_unlock(&R.lock);
	return i >= 0 ? 0 : -ENOENT;
}
