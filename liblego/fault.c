/*
 * Fault service threads (see fault.h).
 *
 * Each thread reads fault events from the userfaultfd, hands them to the
 * ExCache (which starts fetches without waiting), and drives RPC progress
 * so fetches complete.  While requests are in flight it polls; when idle it
 * sleeps in poll(2) on the userfaultfd.  Sleeping matters on small
 * machines: a spinning thread of the process makes every page-table change
 * (eviction, write-protect) pay a cross-CPU TLB shoot-down.  The first
 * thread serves all faults; any others are helpers, awake only while a
 * prefetch stream runs (lg_fault_doze).
 */
#define _GNU_SOURCE
#include "fault.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "excache.h"
#include "fabric/rpc.h"
#include "park.h"
#include "space.h"
#include "vm.h"
#include "stats.h"
#include "tls.h"


static void lg_fault_events(struct lg_fault *f, struct uffd_msg *msg, int n, uint64_t drop_seq)
{
	for (int i = 0; i < n; i++) {
		if (msg[i].event != UFFD_EVENT_PAGEFAULT)
			continue;
		uint64_t fl = msg[i].arg.pagefault.flags;
		xc_fault(f->xc, msg[i].arg.pagefault.address, !!(fl & UFFD_PAGEFAULT_FLAG_WRITE),
			 !!(fl & UFFD_PAGEFAULT_FLAG_WP), msg[i].arg.pagefault.feat.ptid, drop_seq);
	}
	/* After xc_fault's store of the window's time: a helper that counted
	 * itself dozing before it looked at that time is seen here. */
	if (atomic_load(&f->dozing) && xc_streaming(f->xc, lg_now_ns())) {
		uint64_t one = 1;
		ssize_t w = write(f->wake_fd, &one, sizeof one);
		(void)w;
	}
}

static void lg_fault_drain(int fd)
{
	uint64_t v;
	ssize_t r = read(fd, &v, sizeof v);
	(void)r;
}

/* Drain a kick.  A stop's write may have come with it (lg_fault_stop sets
 * f->stop first): then it stays readable, or a thread asleep on stop_fd
 * would sleep through the stop and lg_fault_stop wait for it for ever. */
static void lg_fault_unkick(struct lg_fault *f)
{
	lg_fault_drain(f->stop_fd);
	if (atomic_load(&f->stop))
		lg_fault_kick(f);
}

/* Whether a helper that dozed now could leave work unfinished: requests or
 * fetches in flight (it may have started them) while the first thread
 * sleeps with no timeout, so that no thread would reap their replies and
 * the threads waiting on them would wait for ever.  The first thread says
 * it is idle before it looks at what is in flight; the fences make one of
 * the two see the other. */
static int lg_fault_orphans(struct lg_fault *f)
{
	atomic_thread_fence(memory_order_seq_cst);
	return atomic_load(&f->main_idle) &&
	       (rpc_client_inflight(f->cl) || xc_fetching(f->xc));
}

/*
 * A helper with no stream to serve sleeps until the main thread sees one
 * start (or a park or stop request).  Helpers serving random misses beside
 * the main thread only take CPU from the application and the memnode on
 * small machines (uniform reads 22-57% longer with two threads), while a
 * stream, whose prefetch windows each cost a read, a CRC32C per line and
 * an install, keeps two busy (sequential reads ~1.4x as fast).
 */
static void lg_fault_doze(struct lg_fault *f)
{
	atomic_fetch_add(&f->dozing, 1);
	if (!xc_streaming(f->xc, lg_now_ns())) {
		struct pollfd pfd[2] = {{f->wake_fd, POLLIN, 0}, {f->stop_fd, POLLIN, 0}};
		if (poll(pfd, 2, -1) > 0) {
			if (pfd[0].revents & POLLIN) {
				lg_fault_drain(f->wake_fd);
				lg_stat_add(LEGO_STAT_HELPER_WAKES, 1);
			}
			if (pfd[1].revents & POLLIN)
				lg_fault_unkick(f);
		}
	}
	atomic_fetch_sub(&f->dozing, 1);
}

/*
 * The loop, in order of urgency: replies (each may complete a fault), new
 * faults, write-backs, reclaim.  While faults come, eviction happens in
 * batches: the miss that finds its set full evicts every set queued so far
 * with one shoot-down, while the application thread is blocked (so no
 * other CPU runs this process and needs the shoot-down's interrupt, which
 * costs tens of microseconds on a virtual machine).  After any activity
 * the thread keeps polling for 200 us, yielding the CPU on every round: a
 * program that faults tends to fault again soon, and waking a sleeping
 * thread costs far more than a fault on small virtual machines, while
 * yielding leaves the CPU to the application or a co-located memnode
 * whenever they can run.  While it polls with no fetch outstanding, it
 * evicts the queued sets once a quarter of a miss's batch is queued
 * (xc_reclaim_early: such a batch pays for its interrupt), so misses find
 * free ways instead of waiting for eviction.  Then it sleeps in poll(2) on
 * the userfaultfd, having given every full set a free way
 * (waking every 100 us to reap replies if requests are outstanding).
 */
static void *lg_fault_main(void *arg)
{
	struct lg_fault *f = arg;
	int helper = atomic_fetch_add(&f->started, 1) > 0;
	lg_sig_block_all();
	lg_enter(); /* a runtime thread, for good: its own memory is local */
	/* Every application thread that faults waits on this one: when the
	 * program keeps all CPUs busy, it must not wait behind them.  (Not
	 * allowed without CAP_SYS_NICE or a raised RLIMIT_NICE; then it
	 * simply runs at the normal priority.) */
	setpriority(PRIO_PROCESS, (id_t)gettid(), -10);
	struct uffd_msg msg[32];
	struct pollfd pfd[2] = {{f->uffd, POLLIN, 0}, {f->stop_fd, POLLIN, 0}};
	uint64_t busy_until = 0;
	while (!atomic_load_explicit(&f->stop, memory_order_relaxed)) {
		lg_park_point(f->park);
		if (helper && !xc_streaming(f->xc, lg_now_ns())) {
			xc_writeback_kick(f->xc, 1); /* what it evicted goes now */
			if (!lg_fault_orphans(f)) {
				lg_fault_doze(f);
				busy_until = 0;
				continue;
			}
		}
		if (rpc_client_progress(f->cl) > 0) {
			busy_until = lg_now_ns() + 200000;
			continue;
		}
		uint64_t drop_seq = xc_drop_seq(f->xc); /* (before the read) */
		ssize_t n = f->sigbus ? 0 : read(f->uffd, msg, sizeof msg); /* (none come then) */
		if (n > 0) {
			lg_fault_events(f, msg, (int)(n / (ssize_t)sizeof msg[0]), drop_seq);
			busy_until = lg_now_ns() + 200000;
			continue;
		}
		if (xc_fetching(f->xc) || lg_now_ns() < busy_until) {
			if (xc_reclaim_early(f->xc) > 0)
				continue;
			sched_yield();
			continue;
		}
		xc_writeback_kick(f->xc, 1);
		if (xc_reclaim(f->xc) > 0)
			continue; /* about to sleep: give every full set a free way */
		struct timespec ts = {0, 100000};
		if (!helper) {
			atomic_store(&f->main_idle, 1);
			atomic_thread_fence(memory_order_seq_cst);
		}
		int out = rpc_client_inflight(f->cl) || xc_fetching(f->xc);
		if (ppoll(pfd, 2, out ? &ts : NULL, NULL) > 0 && (pfd[1].revents & POLLIN))
			lg_fault_unkick(f);
		if (!helper)
			atomic_store(&f->main_idle, 0);
	}
	return NULL;
}

/* ------------------------------------------------------- SIGBUS mode */

/* The calling thread's id, for prefetch streams: gettid is a system
 * call (about 1 us here), a miss need not pay it every time. */
static __thread uint32_t lg_bus_tid __attribute__((tls_model("initial-exec")));

void lg_fault_bus_forget_tid(void) { lg_bus_tid = 0; }

int lg_fault_bus(struct lg_fault *f, struct lg_space *sp, void *addr, int write)
{
	/* (a file the program mapped over its remote memory, touched past
	 * its end, is the program's own SIGBUS; while the mapping list is
	 * busy, it is served as a miss, which comes back until it is not) */
	if (!f->sigbus || !f->xc || !sp_contains(sp, addr) || lg_vm_is_foreign(addr) == 1)
		return 0;
	int e = errno;
	for (;;) {
		atomic_fetch_add(&f->bus_busy, 1);
		if (!atomic_load(&f->bus_gate))
			break;
		atomic_fetch_sub(&f->bus_busy, 1); /* a fork or the end is under way */
		for (int i = 0; atomic_load(&f->bus_gate); i++) {
			struct timespec ts = {0, 100000};
			if (i < 100)
				sched_yield();
			else
				nanosleep(&ts, NULL);
		}
	}
	if (xc_own_read_fault(f->xc, (uint64_t)(uintptr_t)addr)) {
		atomic_fetch_sub(&f->bus_busy, 1);
		errno = e;
		return 1;
	}
	lg_enter(); /* anything allocated here is local */
	lg_sig_held_note(); /* by the handler's mask (sig.c) */
	if (!lg_bus_tid)
		lg_bus_tid = (uint32_t)gettid();
	uint64_t a = (uint64_t)(uintptr_t)addr;
	/* a write to a resident, write-protected line is a write-protect
	 * fault; xc_fault tells the two apart by the line's state */
	xc_fault(f->xc, a, write, write, lg_bus_tid, xc_drop_seq(f->xc));
	/* Wait here, driving replies, while the line is being filled (by
	 * this thread's fetch or another's) or evicted: returning earlier
	 * only faults again.  A line not in the cache (its eviction over)
	 * is faulted for again at once; after a while, anything is: the
	 * fault finds the line's state as it is then. */
	uint64_t t0 = 0;
	for (int i = 0; xc_line_state(f->xc, a) < 0; i++) {
		rpc_client_progress(f->cl);
		if (i < 64)
			continue;
		uint64_t now = lg_now_ns();
		if (!t0)
			t0 = now;
		else if (now - t0 > 2000000)
			break;
		sched_yield();
	}
	/* what this miss left in flight (prefetches, write-backs) needs the
	 * fault thread awake: it may be asleep with no timeout */
	if (lg_fault_orphans(f))
		lg_fault_kick(f);
	lg_sig_held_unnote();
	lg_leave();
	atomic_fetch_sub(&f->bus_busy, 1);
	errno = e;
	return 1;
}

void lg_fault_bus_hold(struct lg_fault *f)
{
	atomic_store(&f->bus_gate, 1);
	while (atomic_load(&f->bus_busy))
		sched_yield();
}

void lg_fault_bus_release(struct lg_fault *f) { atomic_store(&f->bus_gate, 0); }

void lg_fault_kick(void *arg)
{
	struct lg_fault *f = arg;
	uint64_t one = 1;
	ssize_t w = write(f->stop_fd, &one, sizeof one);
	(void)w;
}

int lg_fault_start(struct lg_fault *f, int uffd, struct excache *xc, struct rpc_client *cl,
		   struct lg_park *park, int n)
{
	f->uffd = uffd;
	f->park = park;
	f->xc = xc;
	f->cl = cl;
	f->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->stop_fd < 0)
		return -errno;
	f->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (f->wake_fd < 0) {
		int e = errno;
		close(f->stop_fd);
		return -e;
	}
	atomic_store(&f->stop, 0);
	atomic_store(&f->started, 0);
	atomic_store(&f->dozing, 0);
	atomic_store(&f->main_idle, 0);
	atomic_store(&f->bus_busy, 0);
	atomic_store(&f->bus_gate, 0);
	if (n > LG_FAULT_MAX_THREADS)
		n = LG_FAULT_MAX_THREADS;
	if (f->sigbus)
		n = 1; /* helpers serve faults, and none come to them */
	/* A helper on a CPU it shares with the main thread only slows it
	 * (sequential reads pinned to one CPU: 97-99k pages/s with a helper,
	 * 215-221k without): no more threads than CPUs the process may use. */
	cpu_set_t cpus;
	if (n > 1 && sched_getaffinity(0, sizeof cpus, &cpus) == 0 && CPU_COUNT(&cpus) < n) {
		lg_log(LG_INFO, "fault", "%d service threads, not %d: one per CPU the process may use",
		       CPU_COUNT(&cpus), n);
		n = CPU_COUNT(&cpus);
	}
	for (f->nthr = 0; f->nthr < n; f->nthr++) {
		int r = pthread_create(&f->thr[f->nthr], NULL, lg_fault_main, f);
		if (r) {
			lg_fault_stop(f);
			return -r;
		}
		pthread_setname_np(f->thr[f->nthr], "lego-fault");
	}
	return 0;
}

void lg_fault_stop(struct lg_fault *f)
{
	atomic_store(&f->stop, 1);
	uint64_t one = 1;
	ssize_t w = write(f->stop_fd, &one, sizeof one);
	(void)w;
	for (int i = 0; i < f->nthr; i++)
		pthread_join(f->thr[i], NULL);
	lg_fault_forget(f);
}

void lg_fault_forget(struct lg_fault *f)
{
	f->nthr = 0;
	close(f->stop_fd);
	close(f->wake_fd);
	f->stop_fd = f->wake_fd = -1;
}
