/*
 * Runtime start and stop (see runtime.h).  Start order: options, embedded
 * daemons if no monitor is configured, registration, address space,
 * userfaultfd, ExCache, service threads, allocator arena.  Stop reverses
 * it: write-backs are not needed at exit (the memory is freed), so stop
 * only tells the cluster and reaps what it started.
 */
#define _GNU_SOURCE
#include "runtime.h"
#include "trace.h"
#include "profile.h"
#include "sig.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "fabric/fabric.h"
#include "fabric/shmlock.h"
#include "common/util.h"
#include "heap.h"
#include "stats.h"
#include "tls.h"
#include "vm.h"

struct lg_rt lg_rt = {.lock = PTHREAD_MUTEX_INITIALIZER, .uffd = -1, .hk_fd = -1, .err_fd = 2};

/* The watchdog: name the node a request has waited on for over wd_ns.
 * Returns how long until the next look (at most one line a second). */
static uint64_t lg_watchdog(struct lg_rt *rt, uint64_t wd_ns)
{
	struct rpc_wait w;
	rpc_client_oldest(rt->lc.cl, wd_ns, &w);
	if (!w.waiting)
		return 250000000ull;
	char what[96] = "";
	if (w.line != UINT64_MAX)
		snprintf(what, sizeof what, " for line %llu (address %p)", (unsigned long long)w.line,
			 (void *)(rt->sp.base + (w.line << rt->sp.line_order)));
	lg_log(LG_WARN, "watchdog", "%s has not answered %s%s for %llu ms (%u request%s waiting "
	       "over %llu ms)", w.peer, lw_opcode_name(w.opcode), what,
	       (unsigned long long)(w.age_ns / 1000000), w.waiting, w.waiting == 1 ? "" : "s",
	       (unsigned long long)(wd_ns / 1000000));
	return 1000000000ull;
}

/* Every second: the counters to the monitor, for `legoctl stats PID` and
 * `legoctl top` (one report in flight at a time). */
static struct {
	struct lego_p2mon_as_req req;
	char text[LEGO_STATS_TEXT_MAX];
} lg_report;
static _Atomic int lg_report_busy;

static void lg_report_done(void *arg, int status, const void *body, size_t len)
{
	(void)arg, (void)status, (void)body, (void)len;
	atomic_store(&lg_report_busy, 0);
}

static void lg_report_stats(struct lg_rt *rt)
{
	if (atomic_exchange(&lg_report_busy, 1))
		return;
	lg_report.req.as = rt->lc.as;
	lg_report.req.pid = (uint32_t)getpid();
	size_t n = lg_stats_text(lg_report.text, sizeof lg_report.text);
	struct iovec iov = {&lg_report, sizeof lg_report.req + n};
	if (rpc_call_async(&rt->lc.monitor, P2MON_STATS, &iov, 1, rt->lc.timeout_ns, lg_report_done,
			   NULL) < 0)
		atomic_store(&lg_report_busy, 0);
}

_Atomic int lg_main_parked;

/*
 * The program's threads are all gone: its main thread left with
 * pthread_exit (and is parked, see preload.c) and the others have ended
 * since.  The C library would exit(0) when the last thread ends, but the
 * runtime's threads count as threads, so the process would live on
 * forever.  Known by the process's thread count (/proc/self/stat) being
 * the parked main thread plus the runtime's own.  Only asked once the main
 * thread is parked.  System calls only: the housekeeping thread must not
 * allocate (a fork holds the allocator's locks while it waits for this
 * thread to park).
 */
static int lg_only_runtime_left(const struct lg_rt *rt)
{
	char buf[1024];
	if (lg_read_small("/proc/self/stat", buf, sizeof buf) <= 0)
		return 0;
	/* fields after the command's closing parenthesis: state is the 3rd
	 * field of the line, num_threads the 20th */
	char *p = strrchr(buf, ')');
	for (int field = 2; p && field < 20; field++)
		p = strchr(p + 1, ' ');
	if (!p)
		return 0;
	long threads = strtol(p + 1, NULL, 10);
	return threads == 1 + (long)lg_rt_nthreads() + (rt->mover.running ? 1 : 0) +
			  lf_shm_doctor_running();
}

static void *lg_housekeeping(void *arg)
{
	struct lg_rt *rt = arg;
	lg_sig_block_all();
	uint64_t hb_every = (uint64_t)rt->lc.lease_ms * 1000000ull / 4;
	uint64_t next_hb = lg_now_ns() + hb_every;
	struct pollfd p = {rt->hk_fd, POLLIN, 0};
	uint64_t wd_ns = lg_opt_u(&rt->opts, LG_OPT_watchdog_ms) * 1000000ull, next_wd = 0;
	uint64_t next_report = 0, next_alone = 0;
	lg_enter(); /* a runtime thread, for good */
	while (!atomic_load(&rt->hk_stop)) {
		lg_park_point(&rt->park);
		if (poll(&p, 1, 50) > 0) {
			uint64_t v;
			ssize_t rr = read(rt->hk_fd, &v, sizeof v);
			(void)rr;
		}
		uint64_t now = lg_now_ns();
		if (now >= next_hb) {
			lc_heartbeat(&rt->lc);
			next_hb = now + hb_every;
		}
		xc_tick(rt->xc);
		rpc_client_progress(rt->lc.cl);
		if (wd_ns && now >= next_wd)
			next_wd = now + lg_watchdog(rt, wd_ns);
		if (now >= next_report) {
			lg_report_stats(rt);
			lg_stats_snapshot();
			next_report = now + 1000000000ull;
		}
		if (atomic_load(&lg_main_parked) && now >= next_alone) {
			if (lg_only_runtime_left(rt))
				exit(0); /* what the C library does after its last thread */
			next_alone = now + 100000000ull;
		}
	}
	return NULL;
}

/*
 * The remote range is reserved address space, which an address-space limit
 * (ulimit -v, RLIMIT_AS) counts: under one, LEGO_VM_SIZE shrinks to half of
 * what the limit leaves, in whole granules, so Lego still starts (it used
 * to turn itself off: "cannot reserve ... address space").
 */
static uint64_t lg_vm_size_fit(uint64_t want, uint32_t granule_order)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
		return want;
	char buf[128];
	lg_read_small("/proc/self/statm", buf, sizeof buf);
	uint64_t used = strtoull(buf, NULL, 10) * LG_PAGE_SIZE, g = 1ull << granule_order;
	uint64_t room = rl.rlim_cur > used ? LG_ALIGN_DOWN((rl.rlim_cur - used) / 2, g) : 0;
	if (room >= want + g || room < 2 * g) /* (too little: the reservation fails, and says so) */
		return want;
	lg_log(LG_WARN, "runtime", "under an address-space limit of %llu MiB (ulimit -v), remote "
	       "memory is at most %llu MiB", (unsigned long long)(rl.rlim_cur >> 20),
	       (unsigned long long)((room - g) >> 20));
	return room - g; /* sp_init reserves one granule more, to align */
}

static int lg_rt_start_registered(struct lg_rt *rt, struct lg_opts *o, uint32_t lo, uint64_t to,
				  const char *mon);

static int lg_rt_start_locked(struct lg_rt *rt)
{
	char err[320];
	int r = lg_opts_load(&rt->opts, 'C', err, sizeof err);
	if (r == 0)
		r = lg_opts_check_excache(&rt->opts, err, sizeof err);
	if (r) {
		lg_logf(LG_ERROR, "config", "%s; Lego is off", err);
		rt->said = 1;
		return r;
	}
	struct lg_opts *o = &rt->opts;
	lg_set_level((int)lg_opt_u(o, LG_OPT_log_level));
	/* Messages and counters go to the stderr we started with, even if the
	 * program closes its own on the way out (coreutils do). */
	int fd = fcntl(2, F_DUPFD_CLOEXEC, 100);
	if (fd >= 0) {
		lg_fd_own(fd);
		lg_set_fd(fd);
		rt->err_fd = fd;
	}
	lg_trace_init(o, rt->err_fd);
	lg_prof_init(o);
	/* transparent: auto means "loaded with LD_PRELOAD" */
	int tr = (int)lg_opt_u(o, LG_OPT_transparent);
	const char *pre = getenv("LD_PRELOAD");
	rt->transparent = tr == 1 || (tr == 0 && pre && strstr(pre, "liblego"));
	/* first what needs no one else: without userfaultfd (a user other
	 * than root, by default) there is no point starting daemons or
	 * registering */
	rt->fault.sigbus = lg_opt_u(o, LG_OPT_fault) == 1;
#if !defined(__x86_64__)
	if (rt->fault.sigbus) {
		lg_log(LG_WARN, "runtime", "LEGO_FAULT=sigbus is for x86-64 only; using uffd");
		rt->fault.sigbus = 0;
	}
#endif
	r = rt->uffd = rt->uffd_err ? rt->uffd_err : lg_uffd_open_as(rt->fault.sigbus);
	if (r < 0)
		return r;
	const char *mon = lg_opt_s(o, LG_OPT_monitor);
	if (!mon[0] && lg_opt_i(o, LG_OPT_monitor_fd) >= 0) {
		/* lego-run's command: its daemons start while the program
		 * loads, and it passes their monitor's address here (it kills
		 * the program if they do not start) */
		unsetenv("LEGO_MONITOR_FD");
		mon = lg_opts_monitor(o, NULL);
		if (!mon) {
			lg_logf(LG_ERROR, "runtime", "lego-run gave no monitor address; Lego is off");
			rt->said = 1;
			return -EPIPE;
		}
		if (rt->transparent)
			setenv("LEGO_MONITOR", mon, 1);
	} else if (!mon[0]) {
		r = lg_embed_spawn(&rt->embed, o, rt->transparent);
		if (r)
			return r;
		/* load libfabric's providers while the daemons load theirs
		 * (a tenth of a second here, most of it in the verbs
		 * provider's reading /proc/kallsyms) */
		lf_prov_available(LEGO_PROV_SHM, NULL);
		r = lg_embed_wait(&rt->embed);
		if (r)
			return r;
		mon = rt->embed.addr;
		/* programs it starts use the same daemons (and keep them up) */
		if (rt->transparent)
			setenv("LEGO_MONITOR", mon, 1);
	}
	r = rpc_options_apply(o);
	if (r)
		return r;
	lg_sig_hold_enable(); /* before the first request */
	uint32_t lo = (uint32_t)__builtin_ctzll(lg_opt_u(o, LG_OPT_excache_line));
	uint64_t to = lg_opt_u(o, LG_OPT_rpc_timeout_ms) * 1000000ull;
	rt->lc.replicas = (uint32_t)lg_opt_u(o, LG_OPT_replicas);
	rt->lc.quota = lg_opt_u(o, LG_OPT_quota);
	r = lc_start(&rt->lc, mon, lg_opt_s(o, LG_OPT_cluster_key), (int)lg_opt_u(o, LG_OPT_fabric),
		     lo, to, LG_MIN(to, lg_opt_u(o, LG_OPT_connect_timeout_ms) * 1000000ull));
	if (r) {
		lg_logf(LG_ERROR, "runtime", "cannot reach the monitor at %s (%s); Lego is off", mon,
			strerror(-r));
		rt->said = 1;
		return r;
	}
	r = lg_rt_start_registered(rt, o, lo, to, mon);
	if (r)
		lc_stop(&rt->lc); /* the monitor frees what it placed for us */
	return r;
}

/* The rest of the start, once registered with the monitor. */
static int lg_rt_start_registered(struct lg_rt *rt, struct lg_opts *o, uint32_t lo, uint64_t to,
				  const char *mon)
{
	int r = sp_init(&rt->sp, lg_vm_size_fit(lg_opt_u(o, LG_OPT_vm_size), rt->lc.granule_order), lo,
		    rt->lc.granule_order, &rt->lc);
	if (r)
		return r;
	r = lg_uffd_register(rt->uffd, rt->sp.base, rt->sp.size);
	if (r)
		return r;
	const struct xc_policy *pol = lg_opt_u(o, LG_OPT_evict) == 1 ? &xc_policy_lru
								      : &xc_policy_fifo;
	struct xc_conf xcc = {.size = lg_opt_u(o, LG_OPT_excache_size), .line_order = lo,
			      .ways = (uint32_t)lg_opt_u(o, LG_OPT_excache_ways),
			      .victim_lines = (uint32_t)lg_opt_u(o, LG_OPT_victim_lines),
			      .retries = (uint32_t)lg_opt_u(o, LG_OPT_rpc_retries),
			      .timeout_ns = to, .policy = pol,
			      .prefetch = (int)lg_opt_u(o, LG_OPT_prefetch),
			      .prefetch_bytes = lg_opt_u(o, LG_OPT_prefetch_window),
			      .rma = (int)lg_opt_u(o, LG_OPT_rma),
			      .ghost = lg_opt_u(o, LG_OPT_excache_ghost) == 1,
			      .huge = lg_opt_u(o, LG_OPT_huge_pages) == 1,
			      .in_thread = rt->fault.sigbus};
	r = xc_init(&rt->xc, &xcc, &rt->sp, rt->uffd);
	if (r)
		return r;
	rt->sp.xc = rt->xc;
	rt->hk_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r = lg_rt_start_threads(rt);
	if (r)
		return r;
	r = lg_alloc_init(&rt->arena);
	if (r)
		return r;
	lg_heap_init();
	rt->remote_min = lg_opt_u(o, LG_OPT_remote_min);
	/* (at most a quarter of the remote range: a small one, under ulimit -v,
	 * must leave room for mappings) */
	uint64_t brk = LG_MIN(lg_opt_u(o, LG_OPT_brk_size), LG_ALIGN_DOWN(rt->sp.size / 4, LG_PAGE_SIZE));
	if (rt->transparent && (r = lg_vm_init(brk)) != 0)
		return r;
	char a[32], b[32];
	lg_log(LG_INFO, "runtime", "ExCache %s in %s lines, %u ways, %s eviction; monitor %s",
	       lg_format_size(lg_opt_u(o, LG_OPT_excache_size), a, sizeof a),
	       lg_format_size(1ull << lo, b, sizeof b), (unsigned)lg_opt_u(o, LG_OPT_excache_ways),
	       pol->name, mon);
	return 0;
}

int lg_rt_start_threads(struct lg_rt *rt)
{
	atomic_store(&rt->hk_stop, 0);
	int r = lg_fault_start(&rt->fault, rt->uffd, rt->xc, rt->lc.cl, &rt->park,
			       (int)lg_opt_u(&rt->opts, LG_OPT_fault_threads));
	if (r)
		return r;
	if (rt->fault.sigbus && (r = lg_sig_bus_start()) != 0) {
		lg_logf(LG_ERROR, "runtime", "LEGO_FAULT=sigbus: cannot take SIGBUS (%s)",
			strerror(-r));
		return r;
	}
	r = pthread_create(&rt->hk, NULL, lg_housekeeping, rt);
	if (r)
		return -r;
	pthread_setname_np(rt->hk, "lego-hk");
	return lg_mover_start(&rt->mover, rt);
}

uint32_t lg_rt_nthreads(void) { return (uint32_t)lg_rt.fault.nthr + 1; }

void lg_rt_kick(void *arg)
{
	struct lg_rt *rt = arg;
	if (rt->xc) /* (a parking thread stuck on a hole: housekeeping may be parked) */
		xc_rescue_reads(rt->xc);
	lg_fault_kick(&rt->fault);
	uint64_t one = 1;
	ssize_t w = write(rt->hk_fd, &one, sizeof one);
	(void)w;
}

/* The process whose runtime this is.  A vforked child shares its memory,
 * so the runtime's structures, but not its threads, descriptors or process
 * id: it must not start the runtime (it would be the child's, and die with
 * its exec), nor park its threads or stop it on the way out. */
static pid_t lg_rt_pid;

void lg_rt_pid_mark(void) { lg_rt_pid = (pid_t)lg_syscall(SYS_getpid); }

int lg_rt_vforked(void) { return lg_rt_pid && lg_syscall(SYS_getpid) != lg_rt_pid; }

/* lg_rt_start with rt->lock held. */
static int lg_rt_start_held(struct lg_rt *rt)
{
	int s = atomic_load(&rt->state);
	if (s == LG_RT_NEW && lg_rt_vforked())
		return -EAGAIN;
	if (s == LG_RT_NEW) {
		lg_rt_pid_mark();
		lg_enter(); /* what start allocates is the runtime's: local */
		struct lg_fd_resv fr;
		lg_fd_reserve(&fr); /* our descriptors go above the program's */
		int r = lg_rt_start_locked(rt);
		lg_fd_release(&fr);
		lg_leave();
		if (r) {
			rt->err = r;
			if (!rt->said)
				lg_logf(LG_ERROR, "runtime", "start failed (%s); Lego is off",
					strerror(-r));
			if (rt->embed.mon_pid > 0)
				lg_embed_stop(&rt->embed);
			atomic_store(&rt->state, LG_RT_OFF);
		} else {
			atomic_store_explicit(&rt->state, LG_RT_RUNNING, memory_order_release);
			if (rt->transparent)
				lg_sig_start();
		}
	}
	/* only now: until the start is over, other threads' large requests
	 * wait for it (lg_rt_start_now) */
	atomic_store(&lg_rt_deferred, 0);
	s = atomic_load(&rt->state);
	return s == LG_RT_RUNNING ? 0 : (rt->err ? rt->err : -ESHUTDOWN);
}

int lg_rt_start(void)
{
	struct lg_rt *rt = &lg_rt;
	pthread_mutex_lock(&rt->lock);
	int r = lg_rt_start_held(rt);
	pthread_mutex_unlock(&rt->lock);
	return r;
}

/*
 * The start on demand (LEGO_LOCAL_START).  Loading libfabric alone costs
 * ~0.2 s before a program's main (constructors of the libraries it
 * links), then come the providers, the monitor and the memnodes: ~0.4 s
 * per process here, against a few milliseconds for `true`.  A shell
 * script, make or a compiler driver starts hundreds of processes that
 * each take a few MiB; `lego-run make` took 9 times as long as make.  So
 * under a given monitor a process starts its runtime when it has taken
 * room bytes of heap and anonymous mappings (what it frees counts back;
 * each thread adds up its own and reports every 256 KiB, so the start
 * may come up to that much per thread late).  What it took until then
 * is ordinary local memory and stays so: at most a quarter of the
 * ExCache more local memory than the ExCache alone.  Why a monitor must
 * be given: without one the runtime starts its own daemons, which the
 * program's children should share (it tells them the address); a
 * program that forked first would have each child start its own.
 */
_Atomic int lg_rt_deferred;
static _Atomic int64_t lg_rt_room;
static int64_t lg_rt_room0;
static __thread int64_t lg_charged __attribute__((tls_model("initial-exec")));
#define LG_CHARGE_BATCH (256 << 10)

int lg_rt_defer(void)
{
	struct lg_rt *rt = &lg_rt;
	char err[320];
	struct lg_opts *o = &rt->opts;
	if (lg_opts_load(o, 'C', err, sizeof err) || lg_opts_check_excache(o, err, sizeof err))
		return 0; /* the start says what is wrong */
	uint64_t room = LG_MIN(lg_opt_u(o, LG_OPT_local_start), lg_opt_u(o, LG_OPT_excache_size) / 4);
	/* (a trace or a profile is asked for from the start) */
	if (!room || !lg_opt_s(o, LG_OPT_monitor)[0] || lg_opt_i(o, LG_OPT_monitor_fd) >= 0 ||
	    lg_opt_s(o, LG_OPT_trace)[0] || lg_opt_s(o, LG_OPT_profile)[0])
		return 0;
	/* a process that cannot run Lego says so at once, as without a
	 * deferred start */
	int fd = lg_uffd_open();
	if (fd < 0) {
		rt->uffd_err = fd;
		return 0;
	}
	close(fd);
	rt->transparent = 1; /* (what the constructor checked) */
	lg_set_level((int)lg_opt_u(o, LG_OPT_log_level));
	lg_rt_pid_mark();
	lg_rt_room0 = (int64_t)LG_MIN(room, (uint64_t)INT64_MAX / 2);
	atomic_store(&lg_rt_room, lg_rt_room0);
	atomic_store(&lg_rt_deferred, 1);
	return 1;
}

void lg_rt_start_now(int64_t bytes)
{
	int wait = bytes >= LG_CHARGE_BATCH;
	struct lg_rt *rt = &lg_rt;
	/* A thread that finds another starting it may hold a lock that one
	 * waits for (the dynamic loader's, in a constructor's malloc), so
	 * small requests do not wait: they stay local, and a later one finds
	 * the runtime running.  Large ones (a thread of a program that fills
	 * its memory in parallel) would make the local part unbounded: they
	 * wait, for a while. */
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	if (wait ? pthread_mutex_timedlock(&rt->lock, &until) : pthread_mutex_trylock(&rt->lock))
		return;
	if (atomic_load(&lg_rt_deferred)) {
		long long before = lg_rt_room0 - atomic_load(&lg_rt_room);
		if (bytes == INT64_MAX)
			lg_log(LG_DEBUG, "runtime", "%s: starting on demand as it moves the break, "
			       "%lld bytes taken before", program_invocation_short_name, before);
		else
			lg_log(LG_DEBUG, "runtime", "%s: starting on demand at a request of %lld "
			       "bytes, %lld taken before it", program_invocation_short_name,
			       (long long)bytes, before - bytes);
		lg_rt_start_held(rt);
	}
	pthread_mutex_unlock(&rt->lock);
}

void lg_rt_charge(int64_t bytes)
{
	int64_t c = lg_charged + bytes;
	if (c < LG_CHARGE_BATCH && c > -LG_CHARGE_BATCH) {
		lg_charged = c;
		return;
	}
	lg_charged = 0;
	if (atomic_fetch_sub(&lg_rt_room, c) - c < 0)
		lg_rt_start_now(bytes);
}

void lg_rt_stop(void)
{
	struct lg_rt *rt = &lg_rt;
	if (lg_rt_vforked())
		return;
	pthread_mutex_lock(&rt->lock);
	if (atomic_load(&rt->state) != LG_RT_RUNNING) {
		pthread_mutex_unlock(&rt->lock);
		return;
	}
	atomic_store(&rt->state, LG_RT_STOPPED);
	atomic_store(&rt->hk_stop, 1);
	uint64_t one = 1;
	ssize_t w = write(rt->hk_fd, &one, sizeof one);
	(void)w;
	pthread_join(rt->hk, NULL);
	lg_mover_stop(&rt->mover);
	/* SIGBUS mode: misses served now end first, later ones wait for ever
	 * (as a miss does in uffd mode with no fault thread) */
	lg_fault_bus_hold(&rt->fault);
	lc_stop(&rt->lc);
	/* The remote memory is gone: stop serving faults, close the endpoints
	 * (an shm endpoint left open stays behind in /dev/shm). */
	lg_fault_stop(&rt->fault);
	rpc_links_close(&rt->lc.links);
	rpc_links_close(&rt->lc.mlinks);
	lg_embed_stop(&rt->embed);
	pthread_mutex_unlock(&rt->lock);
}
