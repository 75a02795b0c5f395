/*
 * fork with remote memory (see fork.h).
 *
 * Order in the parent:
 *   fork(): write-backs and purges under way finish, later ones go to
 *     both copies (xc_twin, sp_fork_hold); the memnodes clone our address
 *     space into the child's (runtime threads keep serving faults);
 *   the C library runs the program's and jemalloc's prepare handlers
 *     (which may fault: the runtime still serves them), and ours last
 *     (registered before jemalloc's, so it runs after it): it takes vm's
 *     lock, waits for the purges under way and keeps new ones out, takes
 *     the runtime's locks, parks the runtime threads at safe points,
 *     takes the ExCache's spinlocks and the fabric lock;
 *   the fork system call;
 *   ours first among the parent and child handlers: the parent lets go of
 *     everything; the child opens and registers its own userfaultfd at
 *     once (an access to remote memory before that would read zeros);
 *   back in fork(): the child, now that jemalloc works again, sets up its
 *     own connections and threads.
 */
#define _GNU_SOURCE
#include "fork.h"

#include <errno.h>
#include <locale.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "file.h"
#include "heap.h"
#include "profile.h"
#include "runtime.h"
#include "tls.h"
#include "vm.h"

extern char **environ;

static pthread_mutex_t lg_fork_lock = PTHREAD_MUTEX_INITIALIZER;

void lg_fork_hold(void) { pthread_mutex_lock(&lg_fork_lock); }
void lg_fork_unhold(void) { pthread_mutex_unlock(&lg_fork_lock); }

/*
 * The child sets itself up before it can read remote memory that is not
 * resident, so what that set-up reads must be local: the environment
 * (libfabric reads its variables; the program may have put the strings in
 * remote memory) is copied to local memory before the fork, and the
 * child's set-up runs in the C locale (a program's locale data are
 * allocated on its heap).
 */
static char **lg_env_copy;
static size_t lg_env_len;

static void lg_env_snapshot(void)
{
	if (lg_env_copy)
		lg_local_free(lg_env_copy, lg_env_len);
	size_t n = 0, bytes = 0;
	for (char **e = environ; e && *e; e++, n++)
		bytes += strlen(*e) + 1;
	lg_env_len = (n + 1) * sizeof(char *) + bytes;
	lg_env_copy = lg_local_alloc(lg_env_len);
	if (!lg_env_copy)
		return;
	char *s = (char *)(lg_env_copy + n + 1);
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(environ[i]) + 1;
		memcpy(s, environ[i], l);
		lg_env_copy[i] = s;
		s += l;
	}
	lg_env_copy[n] = NULL;
}
static int lg_forking; /* a fork through lg_fork is under way */
static int lg_child_uffd = -1;
static int lg_twin_error; /* the child's copy missed a write-back */

static void lg_atfork_prepare(void)
{
	struct lg_rt *rt = &lg_rt;
	if (!lg_forking)
		return;
	lg_heap_fork_enter(); /* (jemalloc's locks are taken: until the handlers end) */
	/* before any lock: a thread serving its own miss (LEGO_FAULT=sigbus)
	 * may take them; it ends, and others wait until the fork is over */
	lg_fault_bus_hold(&rt->fault);
	/* vm's lock first: munmap holds it while it purges; then a purge
	 * under way ends (holding the purge lock, it may take sp.lock) */
	lg_vm_fork_lock();
	sp_fork_hold(&rt->sp);
	pthread_mutex_lock(&rt->sp.lock);
	pthread_mutex_lock(&rt->lc.lock);
	lg_park_all(&rt->park, lg_rt_nthreads(), lg_rt_kick, rt);
	/* from here on nothing is written back: what went to the parent's
	 * copy since the clone must be in the child's too */
	lg_twin_error = xc_twin_wait(rt->xc);
	xc_twin(rt->xc, NULL);
	xc_fork_lock(rt->xc);
	lf_fork_prepare();
}

static void lg_atfork_parent(void)
{
	struct lg_rt *rt = &lg_rt;
	if (!lg_forking)
		return;
	lf_fork_done();
	xc_fork_unlock(rt->xc);
	lg_park_release(&rt->park);
	pthread_mutex_unlock(&rt->lc.lock);
	pthread_mutex_unlock(&rt->sp.lock);
	sp_fork_release(&rt->sp);
	lg_vm_fork_unlock();
	lg_fault_bus_release(&rt->fault);
	lg_heap_fork_leave();
}

static void lg_atfork_child(void)
{
	lg_rt_pid_mark();
	lg_prof_fork_child(); /* the parent's samples are the parent's */
	lg_fd_own_fork_child();
	if (!lg_forking)
		return;
	lf_fork_child();
	/* until lc_fork_child, nothing may use the parent's endpoints: a
	 * purge or a lock wait here would otherwise send or poll on them */
	rpc_client_orphan(lg_rt.lc.cl);
	sp_fork_child(&lg_rt.sp);
	if (lg_twin_error)
		_exit(127); /* its copy is incomplete: the parent reports ENOMEM */
	/* system calls only: jemalloc is still locked */
	lg_fault_bus_forget_tid();
	lg_vm_fork_child_reserve(); /* before anything maps there */
	int uffd = lg_uffd_open_as(lg_rt.fault.sigbus);
	if (uffd >= 0 && lg_vm_register(uffd) != 0) {
		close(uffd);
		uffd = -1;
	}
	lg_child_uffd = uffd;
	lg_heap_fork_leave();
}

void lg_fork_register(void)
{
	static int done;
	if (!done) {
		done = 1;
		pthread_atfork(lg_atfork_prepare, lg_atfork_parent, lg_atfork_child);
	}
}

/* In the child, back in fork(): make the copied runtime the child's. */
static void lg_fork_child(struct lg_rt *rt, const struct lego_as_ref *child)
{
	if (lg_child_uffd < 0) {
		lg_logf(LG_ERROR, "fork", "child %d cannot watch its remote memory; stopping",
			(int)getpid());
		_exit(127);
	}
	close(rt->uffd);
	rt->uffd = lg_child_uffd;
	xc_fork_child(rt->xc, rt->uffd);
	xc_fork_unlock(rt->xc);
	/* the parent's threads do not exist here */
	atomic_store(&rt->park.want, 0);
	atomic_store(&rt->park.parked, 0);
	lg_fault_forget(&rt->fault);
	atomic_store(&lg_main_parked, 0); /* this thread is the child's main one */
	close(rt->hk_fd);
	rt->hk_fd = lg_fd_raise(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
	rt->embed.mon_pid = rt->embed.mem_pid = rt->embed.sto_pid = 0; /* the parent's to reap */
	pthread_mutex_unlock(&rt->sp.lock);
	lg_vm_fork_unlock();
	char **env = environ;
	if (lg_env_copy)
		environ = lg_env_copy;
	locale_t cloc = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	locale_t oldloc = cloc ? uselocale(cloc) : (locale_t)0;
	struct lg_fd_resv fr;
	lg_fd_reserve(&fr);
	int r = lc_fork_child(&rt->lc, child); /* also re-creates lc.lock */
	if (r == 0) {
		lg_vm_fork_child_dontfork(); /* before anything reads those lines */
		xc_writeback_resume(rt->xc);
		r = lg_rt_start_threads(rt);
	}
	lg_fd_release(&fr);
	if (cloc)
		uselocale(oldloc);
	environ = env;
	if (r) {
		lg_logf(LG_ERROR, "fork", "child %d cannot reach its remote memory (%s); stopping",
			(int)getpid(), strerror(-r));
		_exit(127);
	}
	lg_vm_fork_child_wipe();
	xc_writeback_kick(rt->xc, 1);
	lg_fmap_fork_child();
}

pid_t lg_fork(pid_t (*real_fork)(void))
{
	struct lg_rt *rt = &lg_rt;
	if (atomic_load(&rt->state) != LG_RT_RUNNING && atomic_load(&lg_rt_deferred)) {
		/* a start on demand under way in another thread ends first: the
		 * child must not inherit it half done (nor its lock taken) */
		pthread_mutex_lock(&rt->lock);
		if (atomic_load(&rt->state) != LG_RT_RUNNING) {
			pid_t p = real_fork();
			int e = errno;
			pthread_mutex_unlock(&rt->lock); /* (in both processes) */
			return p < 0 ? -e : p;
		}
		pthread_mutex_unlock(&rt->lock); /* it started: as below */
	}
	if (atomic_load(&rt->state) != LG_RT_RUNNING) {
		pid_t p = real_fork();
		return p < 0 ? -errno : p;
	}
	pthread_mutex_lock(&lg_fork_lock);
	lg_fmap_fork_prepare(); /* (it may hold the lock across a write-back) */
	lg_enter();
	/* it takes every lock the fault thread needs (lg_sig_hold), and a
	 * handler that forks (fork is async-signal-safe) must not find
	 * lg_fork_lock taken by its own thread; the child, a copy of this
	 * thread, lets signals in where it returns */
	lg_sig_hold();
	lg_env_snapshot();
	struct lego_as_ref child;
	int r = lc_fork_register(&rt->lc, &child);
	if (r) {
		lg_sig_release();
		lg_leave();
		lg_fmap_fork_release();
		pthread_mutex_unlock(&lg_fork_lock);
		return r;
	}
	/* From now on write-backs and purges go to both copies; the clone
	 * then takes the rest (the write-backs and purges begun before are
	 * done before it is asked for, and a memnode keeps the newest of a
	 * line's writes in both). */
	sp_fork_hold(&rt->sp);
	xc_twin(rt->xc, &child);
	sp_fork_release(&rt->sp);
	r = lc_fork_clone(&rt->lc, &child);
	if (r) {
		xc_twin(rt->xc, NULL);
		xc_twin_wait(rt->xc);
		lc_fork_abandon(&rt->lc, &child);
		lg_sig_release();
		lg_leave();
		lg_fmap_fork_release();
		pthread_mutex_unlock(&lg_fork_lock);
		return r;
	}
	lg_forking = 1;
	lg_twin_error = 0;
	pid_t pid = real_fork();
	int e = errno;
	lg_fmap_fork_release(); /* (in both: the child's runtime maps and remaps) */
	lg_forking = 0; /* (the prepare handler has stopped the twin writes) */
	if (pid == 0) {
		lg_fork_child(rt, &child);
	} else if (pid > 0 && lg_twin_error) {
		waitpid(pid, NULL, 0); /* it exited at once */
		lc_fork_abandon(&rt->lc, &child);
		pid = -ENOMEM;
	} else if (pid < 0) {
		lc_fork_abandon(&rt->lc, &child);
		pid = -e;
	}
	lg_sig_release();
	lg_leave();
	pthread_mutex_unlock(&lg_fork_lock);
	return pid;
}
