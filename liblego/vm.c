/*
 * Transparent-mode memory mapping calls (see vm.h).
 *
 * Remote mappings are ranges of the remote address space taken from its
 * allocator and committed (placed, reserved, made accessible); unmapping
 * decommits them and gives the range back.  Ranges the kernel maps over
 * remote memory with MAP_FIXED (a file, a shared mapping) are "foreign":
 * kept in a small sorted list, handed to the kernel for mprotect and
 * madvise, and replaced by a fresh PROT_NONE reservation, registered with
 * the userfaultfd again, when unmapped.
 *
 * Lock order: vm.lock (foreign list, break) before the space's lock.
 */
#define _GNU_SOURCE
#include "vm.h"

#include <errno.h>
#include <linux/mman.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime.h"
#include "tls.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4
#endif

/* A sorted list of disjoint ranges, in local memory that grows as needed
 * (a forked child has a copy). */
struct vm_list {
	struct sp_range *r;
	int n, cap;
};

static struct {
	pthread_mutex_t lock;
	struct vm_list foreign; /* the kernel's mappings inside remote memory */
	struct vm_list wipe;    /* remote ranges a forked child sees zeros in */
	struct vm_list dontfork; /* remote ranges a forked child has not */
	struct vm_list nowrite; /* copies of files mapped MAP_SHARED, read-only */
	uintptr_t brk_base, brk_end, brk_cur, brk_committed;
} vm = {.lock = PTHREAD_MUTEX_INITIALIZER};

static inline int vm_active(void)
{
	return lg_rt.transparent && !lg_inside() &&
	       atomic_load_explicit(&lg_rt.state, memory_order_acquire) == LG_RT_RUNNING;
}

/* 0: [a, a+len) is outside the remote space; 1: inside; 2: partly. */
static int vm_where(uintptr_t a, size_t len)
{
	uintptr_t b = (uintptr_t)lg_rt.sp.base, e = b + lg_rt.sp.size;
	if (a + len <= b || a >= e)
		return 0;
	return a >= b && a + len <= e ? 1 : 2;
}

static inline size_t vm_line(void) { return (size_t)1 << lg_rt.sp.line_order; }

/* ----------------------------------------------------------- range lists */

/* Add [a, e), which overlaps no range of l, merged with a range it touches.
 * -ENOMEM when the list cannot grow.  vm.lock held. */
static int vm_list_add(struct vm_list *l, uintptr_t a, uintptr_t e)
{
	int i = 0;
	while (i < l->n && l->r[i].start < a)
		i++;
	int left = i > 0 && l->r[i - 1].end == a, right = i < l->n && l->r[i].start == e;
	if (left && right) {
		l->r[i - 1].end = l->r[i].end;
		memmove(&l->r[i], &l->r[i + 1], (size_t)(l->n - i - 1) * sizeof *l->r);
		l->n--;
		return 0;
	}
	if (left || right) {
		if (left)
			l->r[i - 1].end = e;
		else
			l->r[i].start = a;
		return 0;
	}
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 64;
		struct sp_range *r = lg_local_alloc((size_t)cap * sizeof *r);
		if (!r)
			return -ENOMEM;
		if (l->n)
			memcpy(r, l->r, (size_t)l->n * sizeof *r);
		lg_local_free(l->r, (size_t)l->cap * sizeof *r);
		l->r = r;
		l->cap = cap;
	}
	memmove(&l->r[i + 1], &l->r[i], (size_t)(l->n - i) * sizeof *l->r);
	l->r[i] = (struct sp_range){a, e};
	l->n++;
	return 0;
}

/* Take [a, e) out of l, calling cut (if not NULL) on each piece taken out.
 * vm.lock held. */
static void vm_list_cut(struct vm_list *l, uintptr_t a, uintptr_t e,
			void (*cut)(uintptr_t s, uintptr_t t))
{
	for (int i = 0; i < l->n;) {
		struct sp_range f = l->r[i];
		uintptr_t s = LG_MAX(f.start, a), t = LG_MIN(f.end, e);
		if (s >= t) {
			i++;
			continue;
		}
		if (cut)
			cut(s, t);
		if (f.start < s && t < f.end) { /* split: no room, no merge */
			l->r[i].end = s;
			if (vm_list_add(l, t, f.end) != 0)
				lg_log_rl(LG_WARN, "vm", "range list full: [%p, %p) forgotten", (void *)t,
					  (void *)f.end);
			return;
		}
		if (f.start < s) {
			l->r[i].end = s;
		} else if (t < f.end) {
			l->r[i].start = t;
		} else {
			memmove(&l->r[i], &l->r[i + 1], (size_t)(l->n - i - 1) * sizeof *l->r);
			l->n--;
			continue;
		}
		i++;
	}
}

static int vm_list_overlaps(const struct vm_list *l, uintptr_t a, uintptr_t e)
{
	for (int i = 0; i < l->n && l->r[i].start < e; i++)
		if (a < l->r[i].end)
			return 1;
	return 0;
}

/* ---------------------------------------------------------- foreign list */

/* Hand a range back to the remote space: unmapped by the kernel, it gets a
 * PROT_NONE reservation registered with the userfaultfd again. */
static void vm_restore(uintptr_t a, uintptr_t e)
{
	lg_sys_munmap((void *)a, e - a);
	long r = lg_sys_mmap((void *)a, e - a, PROT_NONE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
	if (r < 0 && r > -4096) {
		lg_log(LG_ERROR, "vm", "cannot restore remote range %p: %s", (void *)a,
		       strerror((int)-r));
		return;
	}
	sp_thp_mark(&lg_rt.sp, (void *)a, e - a);
	lg_uffd_register(lg_rt.uffd, (void *)a, e - a);
}

int lg_vm_is_foreign(const void *p)
{
	uintptr_t a = (uintptr_t)p;
	if (pthread_mutex_trylock(&vm.lock))
		return -1;
	int r = vm_list_overlaps(&vm.foreign, a, a + 1);
	pthread_mutex_unlock(&vm.lock);
	return r;
}

static int vm_is_foreign(uintptr_t a, uintptr_t e) { return vm_list_overlaps(&vm.foreign, a, e); }

/* A MADV_DONTFORK range given up (unmapped, mapped over, below a
 * shrinking break): the kernel's mapping stays (the remote space's
 * reservation), and so would its advice, under memory the program gets
 * there next, which a child then lacks (node's environment, put where V8
 * had a reservation it kept from children: its forked children died of
 * SIGSEGV in execvp's getenv). */
static void vm_dofork(uintptr_t a, uintptr_t e)
{
	lg_sys_madvise((void *)a, e - a, MADV_DOFORK);
}

/* Empty [a, e): remote parts decommitted, foreign parts restored.  The
 * address range stays allocated.  vm.lock held. */
static void vm_clear(uintptr_t a, uintptr_t e)
{
	vm_list_cut(&vm.foreign, a, e, vm_restore);
	vm_list_cut(&vm.wipe, a, e, NULL);
	vm_list_cut(&vm.dontfork, a, e, vm_dofork);
	vm_list_cut(&vm.nowrite, a, e, NULL);
	sp_decommit(&lg_rt.sp, (void *)a, e - a);
}

/* Map [a, a + span) (already allocated) as the kernel's: a foreign range.
 * Returns what mmap(2) does; vm.lock held. */
static long vm_map_foreign(uintptr_t a, size_t len, size_t span, int prot, int flags, int fd,
			   off_t off)
{
	vm_clear(a, a + span);
	long r = lg_sys_mmap((void *)a, len, prot, flags | MAP_FIXED, fd, off);
	if ((r >= 0 || r < -4095) && vm_list_add(&vm.foreign, a, a + span) != 0)
		lg_log_rl(LG_WARN, "vm", "cannot note a foreign mapping inside remote memory");
	return r;
}

/* Make [a, e) (already allocated) remote memory with protection prot. */
static long vm_commit(uintptr_t a, uintptr_t e, int prot, int flags)
{
	int reserve = !(flags & MAP_NORESERVE) && prot != PROT_NONE;
	/* (not through lg_vm_mprotect, which passes calls made inside the
	 * runtime, as this one is, straight to the kernel: a PROT_NONE
	 * reservation then stayed committed, prefetch filled it, and the
	 * runtime faulted reading those lines back) */
	int r = sp_commit(&lg_rt.sp, (void *)a, e - a, reserve, prot);
	return r ? r : (long)a;
}

/* ---------------------------------------------------------------- mlock */

/*
 * Remote memory is not locked into local memory: the ExCache holds a
 * bounded part of it and evicts by dropping pages, which the kernel refuses
 * for locked ones (MADV_DONTNEED on a locked range fails).  mlockall
 * (MCL_CURRENT) used to make the kernel fault in every committed line at
 * once while no eviction could succeed: the program spun for ever.  So
 * locking applies to the program's local memory (code, stacks, files,
 * the runtime's own), with one warning; MCL_FUTURE locks local mappings
 * made later (lg_vm_mmap).
 */
static _Atomic int vm_lock_future; /* MCL_FUTURE, MCL_ONFAULT: what mlockall asked */

/* (remote memory exists in explicit mode too: lego_alloc's) */
static inline int vm_lock_active(void)
{
	return !lg_inside() && atomic_load_explicit(&lg_rt.state, memory_order_acquire) == LG_RT_RUNNING;
}

static long vm_sys_mlock2(uintptr_t a, size_t len, unsigned flags)
{
	long r = lg_syscall(SYS_mlock2, a, len, flags);
	return r < 0 ? -errno : 0;
}

static void vm_lock_said(void)
{
	static _Atomic int said;
	if (!atomic_exchange(&said, 1))
		lg_log(LG_WARN, "vm", "mlock of remote memory ignored: it lives on memnodes, with "
		       "at most the ExCache's size here; local memory is locked as asked");
}

long lg_vm_mlock(const void *addr, size_t len, unsigned flags)
{
	uintptr_t a = (uintptr_t)addr, b = (uintptr_t)lg_rt.sp.base, e = b + lg_rt.sp.size;
	if (!vm_lock_active() || !vm_where(a, len))
		return vm_sys_mlock2(a, len, flags);
	vm_lock_said();
	long r = a < b ? vm_sys_mlock2(a, b - a, flags) : 0;
	if (r == 0 && a + len > e)
		r = vm_sys_mlock2(e, a + len - e, flags);
	return r;
}

long lg_vm_munlock(const void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr, b = (uintptr_t)lg_rt.sp.base, e = b + lg_rt.sp.size;
	if (!vm_lock_active() || !vm_where(a, len))
		return lg_syscall(SYS_munlock, a, len) < 0 ? -errno : 0;
	long r = a < b && lg_syscall(SYS_munlock, a, b - a) < 0 ? -errno : 0;
	if (r == 0 && a + len > e && lg_syscall(SYS_munlock, e, a + len - e) < 0)
		r = -errno;
	return r;
}

/* The accessible mappings outside the remote range, from /proc/self/maps,
 * gathered whole before any is locked (locking changes the list), in
 * memory from lg_local_alloc. */
struct vm_maps {
	struct sp_range *v;
	size_t n, cap;
};

static int vm_maps_add(uintptr_t lo, uintptr_t hi, int prot, void *arg)
{
	struct vm_maps *m = arg;
	uintptr_t b = (uintptr_t)lg_rt.sp.base, e = b + lg_rt.sp.size;
	if (hi <= lo || !prot || (lo < e && hi > b)) /* (PROT_NONE: guard pages) */
		return 0;
	if (m->n == m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 1024;
		struct sp_range *nv = lg_local_alloc(nc * sizeof *nv);
		if (!nv)
			return 1;
		if (m->v) {
			memcpy(nv, m->v, m->n * sizeof *nv);
			lg_local_free(m->v, m->cap * sizeof *nv);
		}
		m->v = nv;
		m->cap = nc;
	}
	m->v[m->n++] = (struct sp_range){lo, hi};
	return 0;
}

long lg_vm_mlockall(int flags)
{
	if (!vm_lock_active())
		return lg_syscall(SYS_mlockall, flags) < 0 ? -errno : 0;
	if ((flags & ~(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT)) ||
	    !(flags & (MCL_CURRENT | MCL_FUTURE)))
		return -EINVAL;
	vm_lock_said();
	long r = 0;
	if (flags & MCL_CURRENT) {
		lg_enter();
		struct vm_maps m = {0};
		lg_maps_each(vm_maps_add, &m);
		struct sp_range *v = m.v;
		for (size_t i = 0; i < m.n && r == 0; i++) {
			long x = vm_sys_mlock2(v[i].start, v[i].end - v[i].start,
					       flags & MCL_ONFAULT ? MLOCK_ONFAULT : 0);
			if (x == -ENOMEM && lg_syscall(SYS_msync, v[i].start, v[i].end - v[i].start,
						    MS_ASYNC) != 0)
				x = 0; /* unmapped since /proc listed it */
			if (x == -ENOMEM || x == -EAGAIN || x == -EPERM) /* the limit */
				r = x;
			/* (others: [vsyscall] and the like, which mlockall skips) */
		}
		if (v)
			lg_local_free(v, m.cap * sizeof *v);
		lg_leave();
	}
	if (r == 0 && (flags & MCL_FUTURE))
		atomic_store(&vm_lock_future, flags & (MCL_FUTURE | MCL_ONFAULT));
	return r;
}

long lg_vm_munlockall(void)
{
	atomic_store(&vm_lock_future, 0);
	return lg_syscall(SYS_munlockall) < 0 ? -errno : 0;
}

/* A local mapping just made: locked if the program asked for MCL_FUTURE. */
static long vm_local_made(long r, size_t len)
{
	int f = atomic_load_explicit(&vm_lock_future, memory_order_relaxed);
	if (f && (r >= 0 || r < -4095) && vm_sys_mlock2((uintptr_t)r, len,
							f & MCL_ONFAULT ? MLOCK_ONFAULT : 0) != 0)
		lg_log_rl(LG_WARN, "vm", "cannot lock a new mapping (mlockall MCL_FUTURE): %s",
			  strerror(errno));
	return r;
}

/* ------------------------------------------------------------------ mmap */

long lg_vm_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	uintptr_t a = (uintptr_t)addr;
	int fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
	if (!len)
		return -EINVAL;
	if (lg_unlikely(atomic_load_explicit(&lg_rt_deferred, memory_order_relaxed)) &&
	    !lg_inside() && (flags & MAP_ANONYMOUS) && (flags & MAP_TYPE) == MAP_PRIVATE &&
	    !(flags & (MAP_GROWSDOWN | MAP_STACK | MAP_HUGETLB | MAP_32BIT)))
		lg_rt_charge((int64_t)LG_MIN(len, (size_t)INT64_MAX / 4)); /* may start it */
	if (!vm_active())
		return lg_sys_mmap(addr, len, prot, flags, fd, off);
	if ((!fixed && !(flags & MAP_ANONYMOUS)) || (fixed && !vm_where(a, len)))
		return vm_local_made(lg_sys_mmap(addr, len, prot, flags, fd, off), len);
	int remote = (flags & MAP_ANONYMOUS) && (flags & MAP_TYPE) == MAP_PRIVATE &&
		     !(flags & (MAP_GROWSDOWN | MAP_STACK | MAP_HUGETLB | MAP_32BIT)) &&
		     len >= lg_rt.remote_min;
	size_t span = LG_ALIGN_UP(len, vm_line());
	if (!fixed) {
		if (!remote)
			return vm_local_made(lg_sys_mmap(addr, len, prot, flags, fd, off), len);
		lg_enter();
		void *p = NULL;
		if (vm_where(a, span) == 1 && (a & (vm_line() - 1)) == 0) /* a usable hint */
			p = sp_va_alloc(&lg_rt.sp, addr, span, vm_line());
		if (!p)
			p = sp_va_alloc(&lg_rt.sp, NULL, span, vm_line());
		long r = p ? vm_commit((uintptr_t)p, (uintptr_t)p + span, prot, flags) : -ENOMEM;
		if (r < 0 && p)
			sp_va_free(&lg_rt.sp, p, span);
		lg_leave();
		return r;
	}
	/* MAP_FIXED inside remote memory */
	if ((a & (LG_PAGE_SIZE - 1)) || vm_where(a, len) != 1)
		return -EINVAL;
	span = LG_ALIGN_UP(len, LG_PAGE_SIZE);
	lg_enter();
	pthread_mutex_lock(&vm.lock);
	long r;
	void *claimed = (flags & MAP_FIXED_NOREPLACE) ? sp_va_alloc(&lg_rt.sp, addr, span, LG_PAGE_SIZE)
						      : NULL;
	if ((flags & MAP_FIXED_NOREPLACE) && (!claimed || vm_is_foreign(a, a + span))) {
		if (claimed)
			sp_va_free(&lg_rt.sp, claimed, span);
		r = -EEXIST;
	} else if (!remote && ((a | span) & (vm_line() - 1)) && (flags & MAP_TYPE) == MAP_PRIVATE &&
		   (prot & PROT_WRITE)) {
		/* A private, writable file mapping over part of a line: the
		 * runtime drops lines whole, and would drop the copies the
		 * program wrote of the file's pages with them.  (A read-only
		 * or shared one loses nothing: its pages come back from the
		 * file or the shared memory.) */
		if (claimed)
			sp_va_free(&lg_rt.sp, claimed, span);
		static _Atomic int said;
		if (!atomic_exchange(&said, 1))
			lg_log(LG_WARN, "vm",
			       "refused a writable private file mapping at %p (%zu bytes) over part of a "
			       "%zu-byte line of remote memory (EINVAL); with LEGO_EXCACHE_LINE=4K (the "
			       "default) such mappings work",
			       addr, len, vm_line());
		r = -EINVAL;
	} else {
		sp_va_claim(&lg_rt.sp, addr, span);
		/* whatever was there goes, as the kernel would do; the range
		 * is ours now (claimed, or already allocated by an earlier
		 * mapping this one replaces) */
		if (remote) {
			vm_clear(a, a + span);
			r = vm_commit(a, a + span, prot, flags);
		} else {
			r = vm_map_foreign(a, len, span, prot, flags & ~MAP_FIXED_NOREPLACE, fd, off);
		}
	}
	pthread_mutex_unlock(&vm.lock);
	lg_leave();
	return r;
}

long lg_vm_munmap(void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr;
	int w = vm_where(a, len);
	if (!vm_active() || !w || !len)
		return lg_sys_munmap(addr, len);
	if (a & (LG_PAGE_SIZE - 1))
		return -EINVAL;
	uintptr_t b = (uintptr_t)lg_rt.sp.base, e = b + lg_rt.sp.size;
	uintptr_t s = LG_MAX(a, b), t = LG_MIN(LG_ALIGN_UP(a + len, LG_PAGE_SIZE), e);
	if (w == 2) { /* the parts outside are the kernel's */
		if (a < s)
			lg_sys_munmap(addr, s - a);
		if (a + len > t)
			lg_sys_munmap((void *)t, a + len - t);
	}
	lg_enter();
	pthread_mutex_lock(&vm.lock);
	vm_clear(s, t);
	sp_va_free(&lg_rt.sp, (void *)s, t - s);
	pthread_mutex_unlock(&vm.lock);
	lg_leave();
	return 0;
}

/* ------------------------------------------------------------- mprotect */

long lg_vm_mprotect(void *addr, size_t len, int prot)
{
	uintptr_t a = (uintptr_t)addr;
	if (!vm_active() || vm_where(a, len) != 1 || (a & (LG_PAGE_SIZE - 1)))
		return lg_sys_mprotect(addr, len, prot);
	uintptr_t e = LG_ALIGN_UP(a + len, LG_PAGE_SIZE);
	lg_enter();
	pthread_mutex_lock(&vm.lock);
	int foreign = vm_is_foreign(a, e);
	int nowrite = (prot & PROT_WRITE) && vm_list_overlaps(&vm.nowrite, a, e);
	pthread_mutex_unlock(&vm.lock);
	long r;
	if (nowrite) {
		r = -EACCES; /* (the kernel's answer for a file opened read-only) */
	} else if (foreign) {
		r = lg_sys_mprotect(addr, len, prot);
	} else if (prot & PROT_READ) {
		r = lg_sys_mprotect(addr, len, prot);
		if (r == 0)
			sp_access(&lg_rt.sp, addr, e - a, 1);
	} else {
		/* the runtime can no longer read these lines: write back the
		 * dirty ones and drop them all first */
		sp_access(&lg_rt.sp, addr, e - a, 0);
		r = lg_sys_mprotect(addr, len, prot);
	}
	lg_leave();
	return r;
}

long lg_vm_nowrite(void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr, e = LG_ALIGN_UP(a + len, LG_PAGE_SIZE);
	if (vm_where(a, len) != 1)
		return 0; /* (local memory: the kernel's mprotect decides) */
	pthread_mutex_lock(&vm.lock);
	long r = vm_list_add(&vm.nowrite, a, e);
	pthread_mutex_unlock(&vm.lock);
	return r;
}

/* -------------------------------------------------------------- madvise */

/*
 * Advice about forks.  A forked child's remote memory is a copy of the
 * parent's, made by the memnodes, and its resident lines are the kernel's
 * copies, so the kernel cannot carry the advice out alone:
 * - MADV_WIPEONFORK (a child sees zeros there: a random generator's state
 *   must not be shared with a child, and BoringSSL detects forks that way):
 *   the kernel would leave holes in resident lines and the parent's data in
 *   the rest.  It is not given to the kernel; a child purges the ranges
 *   before fork() returns in it (lg_vm_fork_child_wipe): whole lines
 *   dropped, parts of lines zeroed, any line size.
 * - MADV_DONTFORK (a child has no such range; V8 gives it for half a
 *   gigabyte of reservation): the kernel leaves the pages out, but the
 *   child's cache and memnode copy would still hold the lines, which it
 *   would prefetch into and write back from memory it does not have.  The
 *   kernel gets it, and a child drops the ranges' lines and their copies
 *   and puts a PROT_NONE reservation there (an access faults, as in Linux).
 * Both are kept in lists: unmapping, mapping over, a shrinking break and
 * MADV_KEEPONFORK / MADV_DOFORK take ranges out, a move (mremap) takes
 * them along.
 */
static long vm_madvise_fork(uintptr_t a, size_t len, int advice)
{
	uintptr_t e = a + LG_ALIGN_UP(len, LG_PAGE_SIZE);
	int wipe = advice == MADV_WIPEONFORK || advice == MADV_KEEPONFORK;
	struct vm_list *l = wipe ? &vm.wipe : &vm.dontfork;
	long r = 0;
	if (!wipe && (r = lg_sys_madvise((void *)a, len, advice)) != 0)
		return r;
	pthread_mutex_lock(&vm.lock);
	vm_list_cut(l, a, e, NULL);
	if (advice == MADV_WIPEONFORK || advice == MADV_DONTFORK)
		r = vm_list_add(l, a, e);
	pthread_mutex_unlock(&vm.lock);
	return r;
}

/* A mapping [o, o + ol) moved (or grown in place) to [d, d + nl): the
 * ranges of l in it go along, and a part it grew by has the advice its last
 * page has, as the kernel's mapping would (vm.lock held). */
static void vm_list_move(struct vm_list *l, uintptr_t o, size_t ol, uintptr_t d, size_t nl)
{
	int grown = nl > ol && vm_list_overlaps(l, o + ol - 1, o + ol);
	size_t len = LG_MIN(ol, nl);
	int lost = 0;
	for (uintptr_t x = o; d != o;) {
		int i = 0;
		while (i < l->n && l->r[i].end <= x)
			i++;
		if (i == l->n || l->r[i].start >= o + len)
			break;
		uintptr_t s = LG_MAX(l->r[i].start, x), t = LG_MIN(l->r[i].end, o + len);
		lost |= vm_list_add(l, s - o + d, t - o + d) != 0;
		x = t;
	}
	if (grown)
		lost |= vm_list_add(l, d + ol, d + nl) != 0;
	if (lost)
		lg_log_rl(LG_WARN, "vm", "advice about forks lost by a moved mapping: no memory");
}

static void vm_advice_move(uintptr_t o, size_t ol, uintptr_t d, size_t nl)
{
	vm_list_move(&vm.wipe, o, ol, d, nl);
	vm_list_move(&vm.dontfork, o, ol, d, nl);
	vm_list_move(&vm.nowrite, o, ol, d, nl);
}

/*
 * The kernel left the MADV_DONTFORK ranges out of the child: holes in the
 * remote space's reservation, where the child's next mmap(2) may land
 * (libfabric's, as the child opens its endpoints: its memory was unmapped
 * under it when the range was restored later, and the child died of
 * SIGSEGV in the shm provider).  So they are reserved again at once, from
 * the fork handler (system calls only), before the child registers its
 * userfaultfd, which then covers them.  (vm.lock is held: the forking
 * thread took it.)
 */
void lg_vm_fork_child_reserve(void)
{
	for (int i = 0; i < vm.dontfork.n; i++) {
		uintptr_t a = vm.dontfork.r[i].start, e = vm.dontfork.r[i].end;
		long r = lg_sys_mmap((void *)a, e - a, PROT_NONE,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
		if (r == (long)a)
			sp_thp_mark(&lg_rt.sp, (void *)a, e - a);
		else /* (-EEXIST: not a hole; lg_vm_fork_child_dontfork says so) */
			vm.dontfork.r[i].end = a;
	}
}

void lg_vm_fork_child_dontfork(void)
{
	pthread_mutex_lock(&vm.lock);
	uintptr_t base = (uintptr_t)lg_rt.sp.base;
	for (int i = 0; i < vm.dontfork.n; i++) {
		uintptr_t a = vm.dontfork.r[i].start, e = vm.dontfork.r[i].end;
		if (e == a) {
			lg_log(LG_ERROR, "vm", "child: the MADV_DONTFORK range at %p was not left out "
			       "by the kernel; it keeps what it holds", (void *)a);
			continue;
		}
		uintptr_t la = base + LG_ALIGN_UP(a - base, vm_line());
		uintptr_t le = base + LG_ALIGN_DOWN(e - base, vm_line());
		if (la < le) /* whole lines: dropped, here and on the memnode */
			sp_decommit(&lg_rt.sp, (void *)la, le - la);
		else
			la = le = e;
		/* parts of lines (lines over a page): zero pages there, and
		 * the line made partly inaccessible, as mprotect would */
		uintptr_t part[2][2] = {{a, la}, {le, e}};
		for (int k = 0; k < 2; k++) {
			if (part[k][0] >= part[k][1])
				continue;
			for (uintptr_t x = part[k][0]; x < part[k][1]; x += LG_PAGE_SIZE) {
				struct uffdio_zeropage z = {.range = {x, LG_PAGE_SIZE}};
				ioctl(lg_rt.uffd, UFFDIO_ZEROPAGE, &z);
			}
			sp_access(&lg_rt.sp, (void *)part[k][0], part[k][1] - part[k][0], 0);
		}
		vm_list_cut(&vm.wipe, a, e, NULL);
	}
	vm.dontfork.n = 0;
	pthread_mutex_unlock(&vm.lock);
}

void lg_vm_fork_child_wipe(void)
{
	pthread_mutex_lock(&vm.lock);
	for (int i = 0; i < vm.wipe.n; i++)
		sp_purge(&lg_rt.sp, (void *)vm.wipe.r[i].start, vm.wipe.r[i].end - vm.wipe.r[i].start);
	pthread_mutex_unlock(&vm.lock);
}

long lg_vm_madvise(void *addr, size_t len, int advice)
{
	uintptr_t a = (uintptr_t)addr;
	if (!vm_active() || vm_where(a, len) != 1)
		return lg_sys_madvise(addr, len, advice);
	if (a & (LG_PAGE_SIZE - 1))
		return -EINVAL;
	pthread_mutex_lock(&vm.lock);
	int foreign = vm_is_foreign(a, a + len);
	pthread_mutex_unlock(&vm.lock);
	if (foreign)
		return lg_sys_madvise(addr, len, advice);
	switch (advice) {
	case MADV_DONTNEED:
	case MADV_FREE:
	case MADV_REMOVE:
		/* the contents go (reads return zeros), here and on the memnode */
		lg_enter();
		sp_purge(&lg_rt.sp, addr, LG_ALIGN_UP(len, LG_PAGE_SIZE));
		lg_leave();
		return 0;
	case MADV_WIPEONFORK:
	case MADV_KEEPONFORK:
	case MADV_DONTFORK:
	case MADV_DOFORK:
		return vm_madvise_fork(a, len, advice);
	case MADV_NORMAL:
	case MADV_RANDOM:
	case MADV_SEQUENTIAL:
	case MADV_WILLNEED:
	case MADV_HUGEPAGE:
	case MADV_NOHUGEPAGE:
	case MADV_MERGEABLE:
	case MADV_UNMERGEABLE:
	case MADV_COLD:
	case MADV_PAGEOUT:
#ifdef MADV_POPULATE_READ
	case MADV_POPULATE_READ:
	case MADV_POPULATE_WRITE:
#endif
		return 0; /* hints: the ExCache decides what is resident */
	default:
		return lg_sys_madvise(addr, len, advice);
	}
}

/* --------------------------------------------------------------- mremap */

long lg_vm_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr)
{
	uintptr_t o = (uintptr_t)old;
	if (!vm_active() || !vm_where(o, old_len ? old_len : 1)) {
		if ((flags & MREMAP_FIXED) && vm_active() && vm_where((uintptr_t)new_addr, new_len))
			return -EINVAL; /* a kernel mapping may not move into remote memory */
		return lg_sys_mremap(old, old_len, new_len, flags, new_addr);
	}
	if ((o & (LG_PAGE_SIZE - 1)) || !new_len || !old_len || (flags & MREMAP_DONTUNMAP) ||
	    ((flags & MREMAP_FIXED) && !(flags & MREMAP_MAYMOVE)))
		return -EINVAL;
	pthread_mutex_lock(&vm.lock);
	int foreign = vm_is_foreign(o, o + old_len);
	pthread_mutex_unlock(&vm.lock);
	if (foreign)
		return -EINVAL; /* moving kernel mappings inside remote memory: unsupported */
	size_t ol = LG_ALIGN_UP(old_len, LG_PAGE_SIZE), nl = LG_ALIGN_UP(new_len, LG_PAGE_SIZE);
	long r;
	lg_enter();
	if (!(flags & MREMAP_FIXED) && nl <= ol) { /* shrink in place */
		if (nl < ol) {
			pthread_mutex_lock(&vm.lock);
			vm_clear(o + nl, o + ol);
			sp_va_free(&lg_rt.sp, (void *)(o + nl), ol - nl);
			pthread_mutex_unlock(&vm.lock);
		}
		r = (long)o;
	} else if (!(flags & MREMAP_FIXED) && sp_va_alloc(&lg_rt.sp, (void *)(o + ol), nl - ol, LG_PAGE_SIZE)) {
		/* grow in place */
		r = vm_commit(o + ol, o + nl, PROT_READ | PROT_WRITE, 0);
		if (r < 0) {
			sp_va_free(&lg_rt.sp, (void *)(o + ol), nl - ol);
		} else {
			r = (long)o;
			pthread_mutex_lock(&vm.lock);
			vm_advice_move(o, ol, o, nl);
			pthread_mutex_unlock(&vm.lock);
		}
	} else if (!(flags & MREMAP_MAYMOVE)) {
		r = -ENOMEM;
	} else {
		/* move: new range, copy through the cache, old range goes */
		uintptr_t d;
		if (flags & MREMAP_FIXED) {
			d = (uintptr_t)new_addr;
			if ((d & (LG_PAGE_SIZE - 1)) || vm_where(d, nl) != 1 ||
			    (d < o + ol && o < d + nl)) {
				lg_leave();
				return -EINVAL;
			}
			pthread_mutex_lock(&vm.lock);
			sp_va_claim(&lg_rt.sp, (void *)d, nl);
			vm_clear(d, d + nl);
			pthread_mutex_unlock(&vm.lock);
		} else {
			void *p = sp_va_alloc(&lg_rt.sp, NULL, LG_ALIGN_UP(nl, vm_line()), vm_line());
			if (!p) {
				lg_leave();
				return -ENOMEM;
			}
			d = (uintptr_t)p;
		}
		r = vm_commit(d, d + nl, PROT_READ | PROT_WRITE, 0);
		if (r >= 0) {
			lg_leave(); /* the copy faults like the program's own accesses */
			memcpy((void *)d, old, LG_MIN(ol, nl));
			lg_enter();
			pthread_mutex_lock(&vm.lock);
			vm_advice_move(o, ol, d, nl);
			vm_clear(o, o + ol);
			sp_va_free(&lg_rt.sp, old, ol);
			pthread_mutex_unlock(&vm.lock);
			r = (long)d;
		} else if (!(flags & MREMAP_FIXED)) {
			sp_va_free(&lg_rt.sp, (void *)d, nl);
		}
	}
	lg_leave();
	return r;
}

/* ---------------------------------------------------------- the break */

int lg_vm_init(uint64_t brk_size)
{
	size_t g = (size_t)1 << lg_rt.sp.granule_order;
	void *p = sp_va_alloc(&lg_rt.sp, NULL, brk_size, LG_MAX(g, vm_line()));
	if (!p)
		return -ENOMEM;
	vm.brk_base = vm.brk_cur = vm.brk_committed = (uintptr_t)p;
	vm.brk_end = (uintptr_t)p + brk_size;
	return 0;
}

/* The break moves by pages, and lines may be larger: the pages of the
 * break's last line above it are made inaccessible, as the kernel's would
 * be, that line handled as any line the program made partly inaccessible
 * (sp_access: written back and dropped, then read by sp_mem_io when it is
 * written back).  With 4 KiB lines there are none.  vm.lock held. */
static void vm_brk_tail(uintptr_t want)
{
	uintptr_t base = (uintptr_t)lg_rt.sp.base;
	uintptr_t le = base + LG_ALIGN_UP(want - base, vm_line());
	if (le == want)
		return;
	sp_access(&lg_rt.sp, (void *)want, le - want, 0);
	lg_sys_mprotect((void *)want, le - want, PROT_NONE);
}

/* Move the break to b (vm.lock held): commit or decommit whole pages. */
static long vm_set_break(uintptr_t b)
{
	if (b < vm.brk_base || b > vm.brk_end)
		return -ENOMEM;
	uintptr_t want = LG_ALIGN_UP(b, LG_PAGE_SIZE);
	if (want > vm.brk_committed) {
		int r = sp_commit(&lg_rt.sp, (void *)vm.brk_committed, want - vm.brk_committed, 1,
				  PROT_READ | PROT_WRITE);
		if (r)
			return r;
	} else if (want < vm.brk_committed) {
		/* to the end of the last line: one the break leaves whole goes */
		uintptr_t base = (uintptr_t)lg_rt.sp.base;
		uintptr_t end = base + LG_ALIGN_UP(vm.brk_committed - base, vm_line());
		sp_decommit(&lg_rt.sp, (void *)want, end - want);
		vm_list_cut(&vm.wipe, want, vm.brk_committed, NULL);
		vm_list_cut(&vm.dontfork, want, vm.brk_committed, vm_dofork);
	}
	if (want != vm.brk_committed)
		vm_brk_tail(want);
	vm.brk_committed = want;
	vm.brk_cur = b;
	return 0;
}

/* A program that moves the break before the runtime has started (on
 * demand, runtime.h) starts it first: the emulated break must be the one
 * its memory comes from.  A query (sbrk(0): binutils and gcc take one at
 * start) does not; it sees the kernel's break, as before any start. */
static void vm_brk_start(int moves)
{
	if (lg_unlikely(atomic_load_explicit(&lg_rt_deferred, memory_order_relaxed)) && moves &&
	    !lg_inside())
		lg_rt_start_now(INT64_MAX); /* (waits, as for a large request) */
}

long lg_vm_brk(void *addr)
{
	vm_brk_start(addr != NULL);
	if (!vm_active() || !vm.brk_base)
		return -ENOSYS; /* the caller uses the kernel's break */
	lg_enter();
	pthread_mutex_lock(&vm.lock);
	long r = vm_set_break((uintptr_t)addr);
	pthread_mutex_unlock(&vm.lock);
	lg_leave();
	return r;
}

long lg_vm_sbrk(intptr_t incr)
{
	vm_brk_start(incr != 0);
	if (!vm_active() || !vm.brk_base)
		return -ENOSYS;
	lg_enter();
	pthread_mutex_lock(&vm.lock);
	uintptr_t old = vm.brk_cur;
	long r = incr ? vm_set_break(old + (uintptr_t)incr) : 0;
	pthread_mutex_unlock(&vm.lock);
	lg_leave();
	return r ? r : (long)old;
}

/* ----------------------------------------------------------------- fork */

void lg_vm_fork_lock(void) { pthread_mutex_lock(&vm.lock); }
void lg_vm_fork_unlock(void) { pthread_mutex_unlock(&vm.lock); }

int lg_vm_register(int uffd)
{
	uintptr_t a = (uintptr_t)lg_rt.sp.base, e = a + lg_rt.sp.size;
	for (int i = 0; i <= vm.foreign.n; i++) {
		uintptr_t t = i < vm.foreign.n ? vm.foreign.r[i].start : e;
		if (t > a) {
			int r = lg_uffd_register(uffd, (void *)a, t - a);
			if (r)
				return r;
		}
		if (i < vm.foreign.n)
			a = vm.foreign.r[i].end;
	}
	return 0;
}
