/*
 * The interposed calls: the malloc family, memory mappings, the program
 * break, fork and the SIGSEGV action.  Thin shims: each forwards to
 * liblego (heap.h, vm.h, fork.h, sig.h), which decides, and turns its -errno results into the C
 * library's conventions.  liblego.so exports them, so they take effect
 * whether it is preloaded or linked; they change behaviour only in
 * transparent mode (LD_PRELOAD, or LEGO_TRANSPARENT=on).
 *
 * The constructor starts the runtime when transparent mode applies, so the
 * program's memory is remote from its first allocation after libc's own
 * start-up; earlier allocations stay local and are freed as such.  Under a
 * given monitor the start waits until the program has taken
 * LEGO_LOCAL_START bytes (runtime.h, lg_rt_defer).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "fabric/fabric.h"
#include "liblego/elfneed.h"
#include "liblego/file.h"
#include "liblego/fork.h"
#include "liblego/heap.h"
#include "liblego/runtime.h"
#include "liblego/sig.h"
#include "liblego/trace.h"
#include "liblego/vm.h"

#define LG_EXPORT __attribute__((visibility("default")))

/* Not all of these have prototypes in the C library's headers. */
void *memalign(size_t alignment, size_t n);
void *pvalloc(size_t n);
size_t malloc_usable_size(void *p);
void *__libc_malloc(size_t n);
void __libc_free(void *p);
void *__libc_calloc(size_t n, size_t s);
void *__libc_realloc(void *p, size_t n);
void *__libc_memalign(size_t a, size_t n);
int __sigaction(int sig, const struct sigaction *act, struct sigaction *old);
sighandler_t bsd_signal(int sig, sighandler_t h);

/* ------------------------------------------------------------ allocation */

static inline void *lg_nomem(void *p, size_t n)
{
	if (!p && n)
		errno = ENOMEM;
	return p;
}

LG_EXPORT void *malloc(size_t n)
{
	return lg_nomem(lg_heap_malloc(n, __builtin_return_address(0)), 1);
}

LG_EXPORT void free(void *p) { lg_heap_free(p); }

LG_EXPORT void *calloc(size_t n, size_t size)
{
	return lg_nomem(lg_heap_calloc(n, size, __builtin_return_address(0)), 1);
}

LG_EXPORT void *realloc(void *p, size_t n)
{
	return lg_nomem(lg_heap_realloc(p, n, __builtin_return_address(0)), n);
}

LG_EXPORT void *reallocarray(void *p, size_t n, size_t size)
{
	size_t total;
	if (__builtin_mul_overflow(n, size, &total)) {
		errno = ENOMEM;
		return NULL;
	}
	void *q = lg_heap_realloc(p, total, __builtin_return_address(0));
	if (!q && total)
		errno = ENOMEM;
	return q;
}

static inline int lg_pow2(size_t a) { return a && !(a & (a - 1)); }

LG_EXPORT int posix_memalign(void **out, size_t alignment, size_t n)
{
	if (!lg_pow2(alignment) || alignment % sizeof(void *))
		return EINVAL;
	void *p = lg_heap_aligned(alignment, n, __builtin_return_address(0));
	if (!p)
		return ENOMEM;
	*out = p;
	return 0;
}

/* glibc's memalign, and aligned_alloc up to glibc 2.37, round an alignment
 * that is not a power of two up to the next one. */
static void *lg_memalign(size_t alignment, size_t n, const void *caller)
{
	size_t a = 1;
	while (a < alignment && a)
		a <<= 1;
	if (!a) {
		errno = EINVAL;
		return NULL;
	}
	void *p = lg_heap_aligned(a, n, caller);
	if (!p)
		errno = ENOMEM;
	return p;
}

LG_EXPORT void *aligned_alloc(size_t alignment, size_t n)
{
	return lg_memalign(alignment, n, __builtin_return_address(0));
}

LG_EXPORT void *memalign(size_t alignment, size_t n)
{
	return lg_memalign(alignment, n, __builtin_return_address(0));
}

LG_EXPORT void *valloc(size_t n)
{
	return lg_memalign((size_t)sysconf(_SC_PAGESIZE), n, __builtin_return_address(0));
}

LG_EXPORT void *pvalloc(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t r = (n + pg - 1) & ~(pg - 1);
	if (r < n) {
		errno = ENOMEM;
		return NULL;
	}
	return lg_memalign(pg, r ? r : pg, __builtin_return_address(0));
}

LG_EXPORT size_t malloc_usable_size(void *p) { return lg_heap_usable_size(p); }

/* Callers of glibc's internal names get the same heap. */
LG_EXPORT void *__libc_malloc(size_t n) { return malloc(n); }
LG_EXPORT void __libc_free(void *p) { free(p); }
LG_EXPORT void *__libc_calloc(size_t n, size_t s) { return calloc(n, s); }
LG_EXPORT void *__libc_realloc(void *p, size_t n) { return realloc(p, n); }
LG_EXPORT void *__libc_memalign(size_t a, size_t n)
{
	return lg_memalign(a, n, __builtin_return_address(0));
}

/* -------------------------------------------------------------- mappings */

static inline long lg_errno_long(long r)
{
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

LG_EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	if (flags & MAP_FIXED) /* (MAP_FIXED_NOREPLACE replaces nothing) */
		lg_fmap_unmap(addr, len);
	long r = LG_TRACED("pdxxdd",
			   !(flags & MAP_ANONYMOUS) && lg_file_mmap_fd(fd)
				   ? lg_file_mmap(addr, len, prot, flags, fd, off)
				   : lg_vm_mmap(addr, len, prot, flags, fd, off),
			   TL(addr), TL(len), TL(prot), TL(flags), TL(fd), TL(off));
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return MAP_FAILED;
	}
	return (void *)r;
}

LG_EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap(addr, len, prot, flags, fd, off);
}

LG_EXPORT int munmap(void *addr, size_t len)
{
	lg_fmap_unmap(addr, len);
	return (int)lg_errno_long(LG_TRACED("pd", lg_vm_munmap(addr, len), TL(addr), TL(len)));
}

LG_EXPORT void *mremap(void *old, size_t old_len, size_t new_len, int flags, ...)
{
	void *new_addr = NULL;
	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		new_addr = va_arg(ap, void *);
		va_end(ap);
	}
	lg_fmap_remap(old, old_len, NULL, 0, 0);
	long r = LG_TRACED("pddxp", lg_vm_mremap(old, old_len, new_len, flags, new_addr), TL(old),
			   TL(old_len), TL(new_len), TL(flags), TL(new_addr));
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return MAP_FAILED;
	}
	lg_fmap_remap(old, old_len, (void *)r, new_len, 1);
	return (void *)r;
}

/* msync of a writable shared mapping of a Lego file writes back what this
 * process wrote there (fmap.c); of anything else, the kernel's. */
LG_EXPORT int msync(void *addr, size_t len, int flags)
{
	int r = lg_fmap_msync(addr, len, flags);
	if (r == 1)
		return (int)lg_errno_long(lg_syscall(SYS_msync, addr, len, flags) < 0 ? -errno : 0);
	return (int)lg_errno_long(r);
}

LG_EXPORT int mprotect(void *addr, size_t len, int prot)
{
	return (int)lg_errno_long(
		LG_TRACED("pdx", lg_vm_mprotect(addr, len, prot), TL(addr), TL(len), TL(prot)));
}

LG_EXPORT int madvise(void *addr, size_t len, int advice)
{
	return (int)lg_errno_long(
		LG_TRACED("pdd", lg_vm_madvise(addr, len, advice), TL(addr), TL(len), TL(advice)));
}

LG_EXPORT int mlock(const void *addr, size_t len)
{
	return (int)lg_errno_long(LG_TRACED("pd", lg_vm_mlock(addr, len, 0), TL(addr), TL(len)));
}

LG_EXPORT int mlock2(const void *addr, size_t len, unsigned flags)
{
	return (int)lg_errno_long(
		LG_TRACED("pdx", lg_vm_mlock(addr, len, flags), TL(addr), TL(len), TL(flags)));
}

LG_EXPORT int munlock(const void *addr, size_t len)
{
	return (int)lg_errno_long(LG_TRACED("pd", lg_vm_munlock(addr, len), TL(addr), TL(len)));
}

LG_EXPORT int mlockall(int flags)
{
	return (int)lg_errno_long(LG_TRACED("x", lg_vm_mlockall(flags), TL(flags)));
}

LG_EXPORT int munlockall(void)
{
	return (int)lg_errno_long(lg_vm_munlockall());
}

/* posix_madvise only gives hints (glibc ignores POSIX_MADV_DONTNEED). */
LG_EXPORT int posix_madvise(void *addr, size_t len, int advice)
{
	if (advice == POSIX_MADV_DONTNEED)
		return 0;
	long r = lg_vm_madvise(addr, len, advice);
	return r < 0 ? (int)-r : 0;
}

/* ------------------------------------------------------------- the break */

LG_EXPORT int brk(void *addr)
{
	long r = LG_TRACED("p", lg_vm_brk(addr), TL(addr));
	if (r == -ENOSYS) { /* not transparent: the kernel's break */
		void *cur = (void *)lg_syscall(SYS_brk, addr);
		if (cur < addr) {
			errno = ENOMEM;
			return -1;
		}
		return 0;
	}
	return (int)lg_errno_long(r);
}

LG_EXPORT void *sbrk(intptr_t incr)
{
	long r = LG_TRACED("d", lg_vm_sbrk(incr), TL(incr));
	if (r == -ENOSYS) {
		static void *(*real)(intptr_t);
		if (!real)
			real = (void *(*)(intptr_t))dlsym(RTLD_NEXT, "sbrk");
		return real ? real(incr) : (void *)-1;
	}
	if (r < 0 && r > -4096) {
		errno = (int)-r;
		return (void *)-1;
	}
	return (void *)r;
}

/* --------------------------------------------------------------- threads */

/* pthread_exit on the main thread parks it instead: libfabric's shm
 * provider reaches this process by its pid (process_vm_readv/writev),
 * which fails once the main thread is gone, and the remote memory the
 * other threads still use would become unreachable.  The process ends
 * with exit(0) when its last other thread ends, as it would have (see
 * runtime.c).  What differs: the main thread's cleanup handlers and
 * thread-specific data destructors do not run, and joining it waits. */
LG_EXPORT void pthread_exit(void *ret)
{
	static void (*real)(void *);
	if (!real)
		real = (void (*)(void *))dlsym(RTLD_NEXT, "pthread_exit");
	/* (a runtime still to start on demand starts now: one that started
	 * once the main thread had gone could not reach this process, and it
	 * is what ends the process after the last thread) */
	if (gettid() == getpid() && atomic_load(&lg_rt_deferred))
		lg_rt_start();
	if (gettid() == getpid() && atomic_load(&lg_rt.state) == LG_RT_RUNNING) {
		atomic_store(&lg_main_parked, 1);
		for (;;)
			pause();
	}
	real(ret);
	for (;;) /* (real does not return) */
		lg_syscall(SYS_exit, 0);
}

/* ------------------------------------------------------------------ fork */

LG_EXPORT pid_t fork(void)
{
	static pid_t (*real)(void);
	if (!real)
		real = (pid_t(*)(void))dlsym(RTLD_NEXT, "fork");
	pid_t r = (pid_t)LG_TRACED("", lg_fork(real), 0); /* one line in each process */
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return r;
}

/* ----------------------------------------------------------------- vfork */

/*
 * A vforked child runs on its parent's memory, so Lego's too, but not with
 * its threads, descriptors or process id.  Once the runtime runs, the child
 * may use it (a chdir or exec into /lego asks the memnode over the
 * parent's connections).  While its start is deferred it cannot start
 * there (runtime.h, lg_rt_vforked), so then, with Lego files on, vfork is
 * a fork (cheap: the memory is all local) and the child may start its own.
 * (Python's subprocess vforks; a first `subprocess.run(cwd="/lego/x")`
 * started the runtime in the child, which the exec then took away.)
 *
 * vfork cannot be wrapped by a C function: the child would return through
 * the wrapper's frame, which the parent then finds overwritten.  So vfork
 * asks lg_vfork_how which to run and jumps there with the stack as the
 * caller left it.
 */
void *lg_vfork_how(void);
void *lg_vfork_how(void)
{
	static void *real;
	if (!real)
		real = dlsym(RTLD_NEXT, "vfork");
	if (atomic_load(&lg_rt_deferred) && atomic_load(&lg_rt.state) != LG_RT_RUNNING &&
	    lg_file_active())
		return (void *)fork;
	return real;
}

#if defined(__x86_64__)
__asm__(".text\n"
	".globl vfork\n"
	".type vfork, @function\n"
	"vfork:\n"
	"	endbr64\n" /* (reached through the PLT: an indirect branch) */
	"	sub $8, %rsp\n" /* (the call's alignment) */
	"	call lg_vfork_how\n"
	"	add $8, %rsp\n"
	"	jmp *%rax\n"
	".size vfork, .-vfork\n");
#elif defined(__aarch64__)
__asm__(".text\n"
	".globl vfork\n"
	".type vfork, %function\n"
	"vfork:\n"
	"	stp x29, x30, [sp, #-16]!\n"
	"	bl lg_vfork_how\n"
	"	ldp x29, x30, [sp], #16\n"
	"	br x0\n"
	".size vfork, .-vfork\n");
#endif

/* ---------------------------------------------------------------- dlopen */

/*
 * dlopen of a library in the store (a Python extension module in a venv
 * in /lego, ctypes.CDLL("/lego/lib/libx.so")): the C library's loader
 * opens files itself, so it loads a memfd copy instead (lg_file_lib).
 * Every other dlopen must reach the C library's as if called directly:
 * the loader searches a name without '/' in the caller's RUNPATH and
 * RPATH, and knows the caller by the return address.  So dlopen asks
 * lg_dlopen_how which to run and jumps there with the caller's frame, as
 * vfork above.  The dynamic loader's own loading (DT_NEEDED) does not come
 * here: what a library in the store needs from the store is loaded first
 * (lg_dlopen_needed).
 */
static void *lg_dlopen_lego(const char *path, int flags, int depth);

/*
 * The libraries a library in the store needs (DT_NEEDED) that are in the
 * store too, found through LD_LIBRARY_PATH and its DT_RUNPATH (or
 * DT_RPATH) with $ORIGIN the library's own directory in the store (a
 * wheel's bundled libraries: numpy's numpy.libs/): the dynamic loader
 * cannot open them, so they are loaded first, each from its own copy, and
 * the loader then finds them loaded by their SONAME.  copy is the
 * library's copy, path its Lego name.
 */
static void lg_dlopen_one(void *depth, const char *name, const char *found)
{
	(void)name;
	lg_dlopen_lego(found, RTLD_LAZY | RTLD_LOCAL, *(int *)depth + 1);
}

static void lg_dlopen_needed(const char *copy, const char *path, int depth)
{
	int fd = open(copy, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		lg_elf_store_needs(fd, path, getenv("LD_LIBRARY_PATH"), lg_dlopen_one, &depth);
		close(fd);
	}
}

static void *lg_dlopen_lego(const char *path, int flags, int depth)
{
	static void *(*real)(const char *, int);
	if (!real)
		real = (void *(*)(const char *, int))dlsym(RTLD_NEXT, "dlopen");
	char name[PATH_MAX];
	int r = lg_file_lib(path, name, sizeof name);
	if (r > 0 && depth < 8 && strncmp(name, "/proc/self/fd/", 14) == 0)
		lg_dlopen_needed(name, path, depth);
	/* (failed: the loader's own error for the name, "cannot open shared
	 * object file") */
	return real(r > 0 ? name : path, flags);
}

static void *lg_dlopen_top(const char *path, int flags) { return lg_dlopen_lego(path, flags, 0); }

void *lg_dlopen_how(const char *path);
void *lg_dlopen_how(const char *path)
{
	static void *real;
	if (!real)
		real = dlsym(RTLD_NEXT, "dlopen");
	if (path && strchr(path, '/') && lg_file_path(AT_FDCWD, path))
		return (void *)lg_dlopen_top;
	return real;
}

#if defined(__x86_64__)
__asm__(".text\n"
	".globl dlopen\n"
	".type dlopen, @function\n"
	"dlopen:\n"
	"	endbr64\n"
	"	push %rdi\n"
	"	push %rsi\n"
	"	sub $8, %rsp\n" /* (the call's alignment) */
	"	call lg_dlopen_how\n"
	"	add $8, %rsp\n"
	"	pop %rsi\n"
	"	pop %rdi\n"
	"	jmp *%rax\n"
	".size dlopen, .-dlopen\n");
#elif defined(__aarch64__)
__asm__(".text\n"
	".globl dlopen\n"
	".type dlopen, %function\n"
	"dlopen:\n"
	"	stp x29, x30, [sp, #-32]!\n"
	"	stp x0, x1, [sp, #16]\n"
	"	bl lg_dlopen_how\n"
	"	mov x16, x0\n"
	"	ldp x0, x1, [sp, #16]\n"
	"	ldp x29, x30, [sp], #32\n"
	"	br x16\n"
	".size dlopen, .-dlopen\n");
#endif

/* ------------------------------------------------------------------ exit */

/* _exit and _Exit: let the requests in flight finish first (sig.h). */
static __attribute__((noreturn)) void lg_exit_now(const char *name, int status)
{
	lg_fmap_exit(); /* (multiprocessing's workers end with os._exit) */
	lg_quiesce();
	void (*real)(int) = (void (*)(int))dlsym(RTLD_NEXT, name);
	if (real)
		real(status);
	for (;;)
		lg_syscall(SYS_exit_group, status);
}

LG_EXPORT void _exit(int status) { lg_exit_now("_exit", status); }
LG_EXPORT void _Exit(int status) { lg_exit_now("_Exit", status); }

/* --------------------------------------------------------------- signals */

LG_EXPORT int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	int r = lg_sig_action(sig, act, old);
	if (r) {
		errno = -r;
		return -1;
	}
	return 0;
}

LG_EXPORT int __sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	return sigaction(sig, act, old);
}

/* glibc's signal(): BSD semantics */
LG_EXPORT sighandler_t signal(int sig, sighandler_t h)
{
	struct sigaction act, old;
	memset(&act, 0, sizeof act);
	act.sa_handler = h;
	sigemptyset(&act.sa_mask);
	if (sigaddset(&act.sa_mask, sig) < 0)
		return SIG_ERR;
	act.sa_flags = SA_RESTART;
	if (sigaction(sig, &act, &old) < 0)
		return SIG_ERR;
	return old.sa_handler;
}

LG_EXPORT sighandler_t bsd_signal(int sig, sighandler_t h) { return signal(sig, h); }

/* LEGO_FAULT=sigbus: a thread that blocks SIGBUS would be killed by its
 * next miss, so SIGBUS stays unblocked (lg_sig_mask). */
typedef int (*sigmask_fn)(int, const sigset_t *, sigset_t *);

LG_EXPORT int pthread_sigmask(int how, const sigset_t *set, sigset_t *old)
{
	static sigmask_fn real;
	if (!real && !(real = (sigmask_fn)dlsym(RTLD_NEXT, "pthread_sigmask")))
		return ENOSYS;
	sigset_t copy;
	return real(how, lg_sig_mask(how, set, &copy), old);
}

/* (the C library's is the same call, with errno) */
LG_EXPORT int sigprocmask(int how, const sigset_t *set, sigset_t *old)
{
	int r = pthread_sigmask(how, set, old);
	if (r) {
		errno = r;
		return -1;
	}
	return 0;
}

/* ----------------------------------------------------------- start-up */

/*
 * A program that defines the malloc family itself (rustc and other Rust
 * programs link jemalloc into the executable; a preloaded tcmalloc) is not
 * run under Lego.  Its definitions come before ours, so its heap would be
 * remote through its own mmaps, which it makes holding its locks, and the
 * runtime's and libfabric's allocations would reach that allocator too:
 * from inside such an mmap (placing the memory opened a connection, whose
 * calloc waited for the lock its own thread held), and into remote memory
 * (a forked child opened its endpoints on memory it could not yet fault
 * in).  cargo build hung both ways (2026-12-01).  The file that defines
 * the malloc in use ("" for the program itself) if it is not liblego;
 * NULL if it is.
 */
static const char *lg_foreign_malloc(void)
{
	Dl_info m, self;
	const ElfW(Sym) *sym = NULL;
	void *f = dlsym(RTLD_DEFAULT, "malloc");
	if (!f || !dladdr1(f, &m, (void **)&sym, RTLD_DL_SYMENT) || !dladdr((void *)lg_nomem, &self) ||
	    m.dli_fbase == self.dli_fbase)
		return NULL;
	/* a program that takes malloc's address without PIC (python3, node)
	 * has a canonical PLT entry for it: an undefined symbol with a value,
	 * which calls ours */
	if (!sym || sym->st_shndx == SHN_UNDEF)
		return NULL;
	return m.dli_fname ? m.dli_fname : "";
}

__attribute__((constructor(200))) static void lg_preload_start(void)
{
	const char *pre = getenv("LD_PRELOAD");
	const char *tr = getenv("LEGO_TRANSPARENT");
	int want = tr ? (strcmp(tr, "on") == 0 || (strcmp(tr, "auto") == 0 && pre && strstr(pre, "liblego")))
		      : (pre && strstr(pre, "liblego"));
	const char *who = want ? lg_foreign_malloc() : NULL;
	if (who) {
		lg_log(LG_WARN, "runtime", "%s brings its own malloc (defined in %s): Lego is off for "
		       "this process, its memory stays local (docs/limits.md, \"Programs with "
		       "their own allocator\")", program_invocation_name,
		       *who && strcmp(who, program_invocation_name) ? who : "the program");
		return;
	}
	if (want)
		lf_tune_env(); /* (now, before main: fabric.h) */
	if (want && !lg_rt_defer())
		lg_rt_start(); /* a failure says why once, and leaves Lego off */
}
