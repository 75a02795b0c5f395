/*
 * Signals in transparent mode (see sig.h).
 */
#define _GNU_SOURCE
#include "sig.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <ucontext.h>

#include "common/util.h"
#include "core.h"
#include "fabric/rpc.h"
#include "fault.h"
#include "profile.h"
#include "runtime.h"
#include "space.h"

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);

/* SIGSEGV, SIGBUS and the other signals whose default action dumps core
 * (but SIGTRAP, a debugger's), then those that only terminate */
static const int lg_sig_managed[] = {SIGSEGV, SIGBUS, SIGABRT, SIGILL, SIGFPE, SIGQUIT, SIGSYS,
				     SIGXCPU, SIGXFSZ, SIGTERM, SIGINT, SIGHUP};

static int lg_sig_dumps(int sig) { return sig != SIGTERM && sig != SIGINT && sig != SIGHUP; }

static struct {
	pthread_mutex_t lock;
	sigaction_fn real;
	int known[32];              /* user[sig] holds the program's action */
	struct sigaction user[32];  /* what the program installed */
} sg = {.lock = PTHREAD_MUTEX_INITIALIZER};

static sigaction_fn lg_sig_real(void)
{
	if (!sg.real)
		sg.real = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
	return sg.real;
}

/* LEGO_FAULT=sigbus: misses come as SIGBUS, served by lg_sig_bus */
static int lg_sig_bus_on(void) { return lg_rt.fault.sigbus; }

static int lg_sig_is_managed(int sig)
{
	for (size_t i = 0; i < LG_ARRAY_SIZE(lg_sig_managed); i++)
		if (lg_sig_managed[i] == sig)
			return 1;
	return 0;
}

static struct sigaction lg_sig_kernel_action(int sig, const struct sigaction *a);

/*
 * In front of the program's handler of SIGSEGV, and of another signal
 * that dumps core when the handler is SA_RESETHAND (crash reporters'
 * habit).  The kernel's action leaves SA_RESETHAND out: the default
 * action put back here is Lego's (lg_sig_core), so that the core file of
 * the fault that comes again, or of the signal raised again, holds the
 * remote memory.
 */
static void lg_sig_tramp(int sig, siginfo_t *si, void *uc)
{
	struct sigaction u = sg.user[sig]; /* a copy: SA_RESETHAND below */
	if (sig == SIGSEGV && si->si_code == SEGV_ACCERR && sp_contains(&lg_rt.sp, si->si_addr) &&
	    sp_va_is_free(&lg_rt.sp, si->si_addr) == 1)
		si->si_code = SEGV_MAPERR; /* not mapped, as the program knows it */
	if (u.sa_flags & SA_RESETHAND) { /* as the kernel would have */
		sg.user[sig].sa_handler = SIG_DFL;
		sg.user[sig].sa_flags &= ~SA_SIGINFO;
		struct sigaction k = lg_sig_kernel_action(sig, &sg.user[sig]);
		sg.real(sig, &k, NULL);
	}
	if (u.sa_flags & SA_SIGINFO)
		u.sa_sigaction(sig, si, uc);
	else if (u.sa_handler != SIG_DFL && u.sa_handler != SIG_IGN)
		u.sa_handler(sig);
}

/* The error code of the fault that raised a signal says whether it was a
 * write (x86-64: bit 1 of the page fault's error code); the kernel's
 * SIGBUS for a userfaultfd miss carries nothing else that does. */
static int lg_sig_fault_write(const void *ucv)
{
#if defined(__x86_64__)
	const ucontext_t *uc = ucv;
	return !!(uc->uc_mcontext.gregs[REG_ERR] & 2);
#else
	(void)ucv;
	return 1;
#endif
}

/*
 * Dying of a signal.  The handler may run on an alternate signal stack
 * the program allocated in remote memory (Python's faulthandler, Rust's
 * runtime): once the runtime's threads are parked, a miss there would
 * never be served, nor would the kernel's read of the signal frame on
 * return (seen: it_signals hung in 1 run of 6).  On such a stack the part
 * after the parking runs on a local stack of Lego's (x86-64; elsewhere on
 * the handler's own) and never returns: it queues the signal again with
 * its siginfo and unblocks it.  The core file then shows the crash below
 * Lego's frames (lg_sig_switch keeps them unwindable).  On a local stack
 * (a thread's own, or a local alternate stack) the handler returns, and
 * the default action takes place where the signal came.
 */
static struct {
	_Atomic long owner; /* the thread dying, or 0 */
	int sig;
	siginfo_t si;
	struct lg_core core; /* what lg_core_collect copied, if anything */
} dy;

#define LG_SIG_STACK (64u << 10)

/* After the collection, the runtime still running: park it, put the
 * remote memory back. */
static void lg_sig_settle(void)
{
	lg_quiesce();
	lg_core_restore(&dy.core);
}

/* For the signal about to kill the process. */
static void lg_sig_await_death(void)
{
	for (;;) {
		struct timespec ts = {1, 0};
		nanosleep(&ts, NULL);
	}
}

static void lg_sig_finish(void *arg)
{
	(void)arg;
	lg_sig_settle();
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sg.real(dy.sig, &dfl, NULL);
	long pid = lg_syscall(SYS_getpid), tid = lg_syscall(SYS_gettid);
	if (lg_syscall(SYS_rt_tgsigqueueinfo, pid, tid, dy.sig, &dy.si) != 0)
		lg_syscall(SYS_tgkill, pid, tid, dy.sig);
	uint64_t set = 1ull << (dy.sig - 1);
	lg_syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &set, NULL, sizeof set);
	lg_sig_await_death(); /* (dead by now) */
}

#if defined(__x86_64__)
/* fn(arg) on the stack ending at top.  The old stack pointer stays in
 * rbp, and the unwind information says so: a debugger reading the core
 * file walks from fn's frames back to the handler and the crash. */
void lg_sig_switch(void (*fn)(void *), void *arg, uint8_t *top);
__asm__(".text\n"
	".globl lg_sig_switch\n"
	".hidden lg_sig_switch\n"
	".type lg_sig_switch, @function\n"
	"lg_sig_switch:\n"
	".cfi_startproc\n"
	"push %rbp\n"
	".cfi_def_cfa_offset 16\n"
	".cfi_offset %rbp, -16\n"
	"mov %rsp, %rbp\n"
	".cfi_def_cfa_register %rbp\n"
	"mov %rdx, %rsp\n"
	"and $-16, %rsp\n"
	"mov %rdi, %rax\n"
	"mov %rsi, %rdi\n"
	"call *%rax\n"
	"mov %rbp, %rsp\n"
	"pop %rbp\n"
	".cfi_def_cfa %rsp, 8\n"
	"ret\n"
	".cfi_endproc\n"
	".size lg_sig_switch, .-lg_sig_switch\n");

/* LG_SIG_STACK bytes of local memory for lg_sig_finish, or NULL; below
 * the remote range if it can be: a debugger takes a caller's frame on a
 * higher stack than its callee's for a corrupt stack, and stops there. */
static uint8_t *lg_sig_stack(void)
{
	uintptr_t base = (uintptr_t)lg_rt.sp.base;
	for (uintptr_t at = base - 2 * LG_SIG_STACK; at > (64u << 20) && base - at <= (1u << 30);
	     at -= 16 * LG_SIG_STACK) {
		long m = lg_sys_mmap((void *)at, LG_SIG_STACK, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (m >= 0)
			return (uint8_t *)m;
	}
	long m = lg_sys_mmap(NULL, LG_SIG_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return m >= 0 ? (uint8_t *)m : NULL;
}
#endif

/* Quiesce the runtime before sig's default action, after bringing the
 * remote memory back for a core file (`dumps`).  Returns when the caller
 * is to apply the default action itself: the handler's stack is local,
 * or the runtime is not running, or this thread is dying already (a
 * fault of its own on the way).  Another thread that gets here waits for
 * the process to die. */
static void lg_sig_die(int sig, const siginfo_t *si, int dumps)
{
	if (atomic_load_explicit(&lg_rt.state, memory_order_acquire) != LG_RT_RUNNING)
		return;
	long me = lg_syscall(SYS_gettid), none = 0;
	if (!atomic_compare_exchange_strong(&dy.owner, &none, me)) {
		if (none == me)
			return;
		lg_sig_await_death();
	}
	dy.sig = sig;
	dy.si = *si;
	if (dumps)
		lg_core_collect(&dy.core);
	if (!sp_contains(&lg_rt.sp, &me)) {
		lg_sig_settle();
		return;
	}
#if defined(__x86_64__)
	uint8_t *stack = lg_sig_stack();
	if (stack)
		lg_sig_switch(lg_sig_finish, NULL, stack + LG_SIG_STACK);
#endif
	lg_sig_finish(NULL);
}

/*
 * SIGBUS in SIGBUS mode: a miss on Lego memory is served here, on the
 * faulting thread (lg_fault_bus), and the access is made again on return.
 * Any other SIGBUS (a file mapping past its end, kill -BUS) goes to the
 * program's action as it installed it; the default action is made the
 * kernel's and the fault made again (or the signal raised again), so the
 * process dies of it as it would without Lego.
 */
static void lg_sig_bus(int sig, siginfo_t *si, void *uc)
{
	if (si->si_code == BUS_ADRERR &&
	    lg_fault_bus(&lg_rt.fault, &lg_rt.sp, si->si_addr, lg_sig_fault_write(uc)))
		return;
	struct sigaction u = sg.user[sig]; /* a copy: SA_RESETHAND below */
	int sent = si->si_code <= 0, fn = (u.sa_flags & SA_SIGINFO) ||
					    (u.sa_handler != SIG_DFL && u.sa_handler != SIG_IGN);
	if (!fn && u.sa_handler == SIG_IGN && sent)
		return; /* ignored, as natively (a fault's is not: it kills) */
	if (!fn) { /* the default action: the kernel's, then the fault again */
		lg_sig_die(sig, si, 1);
		struct sigaction dfl = {.sa_handler = SIG_DFL};
		sg.real(sig, &dfl, NULL);
		if (sent)
			raise(sig); /* (unblocked: SA_NODEFER) */
		return;
	}
	if (u.sa_flags & SA_RESETHAND) { /* for the program; ours stays for misses */
		sg.user[sig].sa_handler = SIG_DFL;
		sg.user[sig].sa_flags &= ~SA_SIGINFO;
	}
	if (u.sa_flags & SA_SIGINFO)
		u.sa_sigaction(sig, si, uc);
	else
		u.sa_handler(sig);
}

/* Default action of a terminating signal, after the requests in flight
 * are answered.  Then the runtime's threads are parked, where they hold
 * nothing: a thread killed inside libfabric's shm provider can leave the
 * spinlock of a peer's shared queue taken (a send holds the memnode's
 * while it queues its message), and every other process using that
 * memnode would spin on it for ever (seen: Python multiprocessing workers
 * ended by Pool.terminate() hung the parent, it_multiprocessing, when
 * one-sided reads still went through shm).  Never
 * released: the process dies next.  Async-signal-safe: atomics,
 * clock_gettime, nanosleep, sched_yield, write, sigaction, raise. */
void lg_quiesce(void)
{
	if (atomic_load_explicit(&lg_rt.state, memory_order_acquire) != LG_RT_RUNNING ||
	    lg_rt_vforked())
		return; /* (a vforked child's end is not its parent's) */
	struct rpc_client *cl = lg_rt.lc.cl;
	uint64_t end = lg_now_ns() + LG_SIG_QUIESCE_MS * 1000000ull;
	while (cl && rpc_client_inflight(cl) && lg_now_ns() < end) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	lg_park_all_for(&lg_rt.park, lg_rt_nthreads(), lg_rt_kick, &lg_rt, 100 * 1000000ull);
}

static void lg_sig_quiesce(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	lg_sig_die(sig, si, 0); /* (returns if the runtime is not running) */
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sg.real(sig, &dfl, NULL);
	raise(sig); /* blocked while we run: delivered, by default, on return */
}

/* Default action of a signal that dumps core: the remote memory is
 * brought back first if the kernel is to write a core file (core.c), the
 * runtime quiesced as for lg_sig_quiesce (lg_sig_die).  If the runtime
 * is not running, a fault is made again and any other signal raised
 * again. */
static void lg_sig_core(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	lg_sig_die(sig, si, 1);
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sg.real(sig, &dfl, NULL);
	if (si->si_code > 0 && (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE))
		return;
	raise(sig); /* blocked while we run: delivered, by default, on return */
}

/* The action the kernel gets for the program's action `a` on sig. */
static struct sigaction lg_sig_kernel_action(int sig, const struct sigaction *a)
{
	struct sigaction k = *a;
	if (sig == SIGBUS && lg_sig_bus_on()) {
		/* ours whatever the program's: it is called from ours.  Not
		 * deferred: a handler of the program's that touches remote
		 * memory takes a miss of its own. */
		k.sa_sigaction = lg_sig_bus;
		k.sa_flags = (a->sa_flags & SA_ONSTACK) | SA_SIGINFO | SA_NODEFER | SA_RESTART;
	} else if ((sig == SIGSEGV || (lg_sig_dumps(sig) && (a->sa_flags & SA_RESETHAND))) &&
		   a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN) {
		k.sa_sigaction = lg_sig_tramp;
		k.sa_flags = (a->sa_flags | SA_SIGINFO) & ~SA_RESETHAND;
	} else if (lg_sig_dumps(sig) && a->sa_handler == SIG_DFL && !(a->sa_flags & SA_SIGINFO)) {
		k.sa_sigaction = lg_sig_core;
		k.sa_flags = SA_SIGINFO | SA_ONSTACK;
		sigfillset(&k.sa_mask);
	} else if (!lg_sig_dumps(sig) && a->sa_handler == SIG_DFL && !(a->sa_flags & SA_SIGINFO)) {
		k.sa_sigaction = lg_sig_quiesce;
		k.sa_flags = SA_SIGINFO | SA_RESTART;
		sigfillset(&k.sa_mask);
	}
	if (lg_sig_bus_on()) /* a miss while SIGBUS is blocked would kill */
		sigdelset(&k.sa_mask, SIGBUS);
	return k;
}

static int lg_sig_on(void)
{
	return lg_rt.transparent &&
	       atomic_load_explicit(&lg_rt.state, memory_order_acquire) == LG_RT_RUNNING;
}

/* With sg.lock held. */
static int lg_sig_learn(sigaction_fn real, int sig)
{
	if (sg.known[sig])
		return 0;
	if (real(sig, NULL, &sg.user[sig]))
		return -errno;
	sg.known[sig] = 1;
	return 0;
}

int lg_sig_action(int sig, const struct sigaction *act, struct sigaction *old)
{
	sigaction_fn real = lg_sig_real();
	if (!real)
		return -ENOSYS;
	if (lg_prof_owns_signal(sig, act != NULL)) { /* LEGO_PROFILE's: the program sees the default */
		if (old) {
			memset(old, 0, sizeof *old);
			old->sa_handler = SIG_DFL;
		}
		return 0;
	}
	if (sig <= 0 || sig >= 32 || !lg_sig_is_managed(sig) || (!lg_sig_on() && !sg.known[sig])) {
		struct sigaction k;
		if (act && lg_sig_bus_on()) { /* a miss while SIGBUS is blocked would kill */
			k = *act;
			sigdelset(&k.sa_mask, SIGBUS);
			act = &k;
		}
		return real(sig, act, old) ? -errno : 0;
	}
	pthread_mutex_lock(&sg.lock);
	int r = lg_sig_learn(real, sig);
	if (r)
		goto out;
	struct sigaction was = sg.user[sig];
	if (act) {
		struct sigaction k = lg_sig_kernel_action(sig, act);
		sg.user[sig] = *act; /* recorded before the kernel may use it */
		if (real(sig, &k, NULL)) {
			r = -errno;
			sg.user[sig] = was;
			goto out;
		}
	}
	if (old)
		*old = was;
out:
	pthread_mutex_unlock(&sg.lock);
	return r;
}

int lg_sig_bus_start(void)
{
	sigaction_fn real = lg_sig_real();
	if (!real)
		return -ENOSYS;
	pthread_mutex_lock(&sg.lock);
	int r = lg_sig_learn(real, SIGBUS);
	if (!r) {
		struct sigaction k = lg_sig_kernel_action(SIGBUS, &sg.user[SIGBUS]);
		r = real(SIGBUS, &k, NULL) ? -errno : 0;
	}
	pthread_mutex_unlock(&sg.lock);
	return r;
}

const sigset_t *lg_sig_mask(int how, const sigset_t *set, sigset_t *copy)
{
	if (!set || how == SIG_UNBLOCK || !lg_sig_bus_on() || !sigismember(set, SIGBUS))
		return set;
	*copy = *set;
	sigdelset(copy, SIGBUS);
	return copy;
}

void lg_sig_start(void)
{
	sigaction_fn real = lg_sig_real();
	if (!real)
		return;
	pthread_mutex_lock(&sg.lock);
	for (size_t i = 0; i < LG_ARRAY_SIZE(lg_sig_managed); i++) {
		int sig = lg_sig_managed[i];
		if ((sig == SIGBUS && lg_sig_bus_on()) || lg_sig_learn(real, sig))
			continue; /* (lg_sig_bus_start's) */
		struct sigaction k = lg_sig_kernel_action(sig, &sg.user[sig]);
		if (k.sa_sigaction == lg_sig_quiesce || k.sa_sigaction == lg_sig_core)
			real(sig, &k, NULL);
	}
	pthread_mutex_unlock(&sg.lock);
}
