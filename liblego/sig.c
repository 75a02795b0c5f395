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

#include "common/util.h"
#include "fabric/rpc.h"
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

static int lg_sig_is_managed(int sig)
{
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
	if (sig == SIGSEGV) {
		if (a->sa_handler != SIG_DFL && a->sa_handler != SIG_IGN) {
			k.sa_sigaction = lg_sig_tramp;
			k.sa_flags |= SA_SIGINFO;
		}
	} else if (a->sa_handler == SIG_DFL && !(a->sa_flags & SA_SIGINFO)) {
		k.sa_handler = lg_sig_quiesce;
		k.sa_flags = SA_RESTART;
		sigfillset(&k.sa_mask);
	}
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
	if (sig <= 0 || sig >= 32 || !lg_sig_is_managed(sig) || (!lg_sig_on() && !sg.known[sig]))
		return real(sig, act, old) ? -errno : 0;
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
