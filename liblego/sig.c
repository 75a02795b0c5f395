/*
 * The program's SIGSEGV handler behind a trampoline (see sig.h).
 */
#define _GNU_SOURCE
#include "sig.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "runtime.h"
#include "space.h"

typedef int (*sigaction_fn)(int, const struct sigaction *, struct sigaction *);

static struct {
	pthread_mutex_t lock;
	sigaction_fn real;
	int known;              /* `user` holds the program's action */
	struct sigaction user;  /* what the program installed */
} sg = {.lock = PTHREAD_MUTEX_INITIALIZER};

static sigaction_fn lg_sig_real(void)
{
	if (!sg.real)
		sg.real = (sigaction_fn)dlsym(RTLD_NEXT, "sigaction");
	return sg.real;
}

static void lg_sig_tramp(int sig, siginfo_t *si, void *uc)
{
	struct sigaction u = sg.user; /* the kernel blocks SIGSEGV meanwhile,
				       * unless SA_NODEFER: a copy either way */
	if (si->si_code == SEGV_ACCERR && sp_contains(&lg_rt.sp, si->si_addr) &&
	    sp_va_is_free(&lg_rt.sp, si->si_addr) == 1)
		si->si_code = SEGV_MAPERR; /* not mapped, as the program knows it */
	if (u.sa_flags & SA_RESETHAND) { /* the kernel reset it: so do we */
		sg.user.sa_handler = SIG_DFL;
		sg.user.sa_flags &= ~SA_SIGINFO;
	}
	if (u.sa_flags & SA_SIGINFO)
		u.sa_sigaction(sig, si, uc);
	else if (u.sa_handler != SIG_DFL && u.sa_handler != SIG_IGN)
		u.sa_handler(sig);
}

static int lg_sig_on(void)
{
	return lg_rt.transparent &&
	       atomic_load_explicit(&lg_rt.state, memory_order_acquire) == LG_RT_RUNNING;
}

int lg_sig_action(int sig, const struct sigaction *act, struct sigaction *old)
{
	sigaction_fn real = lg_sig_real();
	if (!real)
		return -ENOSYS;
	if (sig != SIGSEGV || (!lg_sig_on() && !sg.known))
		return real(sig, act, old) ? -errno : 0;
	pthread_mutex_lock(&sg.lock);
	int r = 0;
	if (!sg.known) {
		if (real(SIGSEGV, NULL, &sg.user)) {
			r = -errno;
			goto out;
		}
		sg.known = 1;
	}
	struct sigaction was = sg.user;
	if (act) {
		struct sigaction k = *act;
		if (act->sa_handler != SIG_DFL && act->sa_handler != SIG_IGN) {
			k.sa_sigaction = lg_sig_tramp;
			k.sa_flags |= SA_SIGINFO;
		}
		/* the new action is recorded before the kernel may use it */
		sg.user = *act;
		if (real(SIGSEGV, &k, NULL)) {
			r = -errno;
			sg.user = was;
			goto out;
		}
	}
	if (old)
		*old = was;
out:
	pthread_mutex_unlock(&sg.lock);
	return r;
}
