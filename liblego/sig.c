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
#include <time.h>
#include <ucontext.h>

#include "common/util.h"
#include "fabric/rpc.h"
#include "fault.h"
#include "profile.h"
#include "runtime.h"
#include "space.h"

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);

static const int lg_sig_managed[] = {SIGSEGV, SIGTERM, SIGINT, SIGHUP};

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
	if (sig == SIGBUS)
		return lg_sig_bus_on();
	for (size_t i = 0; i < LG_ARRAY_SIZE(lg_sig_managed); i++)
		if (lg_sig_managed[i] == sig)
			return 1;
	return 0;
}

static void lg_sig_tramp(int sig, siginfo_t *si, void *uc)
{
	struct sigaction u = sg.user[sig]; /* a copy: SA_RESETHAND below */
	if (si->si_code == SEGV_ACCERR && sp_contains(&lg_rt.sp, si->si_addr) &&
	    sp_va_is_free(&lg_rt.sp, si->si_addr) == 1)
		si->si_code = SEGV_MAPERR; /* not mapped, as the program knows it */
	if (u.sa_flags & SA_RESETHAND) { /* the kernel reset it: so do we */
		sg.user[sig].sa_handler = SIG_DFL;
		sg.user[sig].sa_flags &= ~SA_SIGINFO;
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
	if (atomic_load_explicit(&lg_rt.state, memory_order_acquire) != LG_RT_RUNNING)
		return;
	struct rpc_client *cl = lg_rt.lc.cl;
	uint64_t end = lg_now_ns() + LG_SIG_QUIESCE_MS * 1000000ull;
	while (cl && rpc_client_inflight(cl) && lg_now_ns() < end) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	lg_park_all_for(&lg_rt.park, lg_rt_nthreads(), lg_rt_kick, &lg_rt, 100 * 1000000ull);
}

static void lg_sig_quiesce(int sig)
{
	lg_quiesce();
	struct sigaction dfl = {.sa_handler = SIG_DFL};
	sg.real(sig, &dfl, NULL); /* set before this handler was installed */
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
	} else if (sig == SIGSEGV) {
		if (a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN) {
			k.sa_sigaction = lg_sig_tramp;
			k.sa_flags |= SA_SIGINFO;
		}
	} else if (a->sa_handler == SIG_DFL && !(a->sa_flags & SA_SIGINFO)) {
		k.sa_handler = lg_sig_quiesce;
		k.sa_flags = SA_RESTART;
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
		if (sig == SIGSEGV || lg_sig_learn(real, sig))
			continue;
		struct sigaction k = lg_sig_kernel_action(sig, &sg.user[sig]);
		if (k.sa_handler == lg_sig_quiesce)
			real(sig, &k, NULL);
	}
	pthread_mutex_unlock(&sg.lock);
}
