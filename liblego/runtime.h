/*
 * The process runtime: configuration, the link to the cluster, the remote
 * address space, the ExCache and its threads.  Started once, on first use
 * or by lego_init(); a failed start leaves Lego off for good (with one
 * message), and the program keeps running without it.
 */
#ifndef LEGO_RUNTIME_H
#define LEGO_RUNTIME_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "client.h"
#include "common/options.h"
#include "embed.h"
#include "excache.h"
#include "fault.h"
#include "move.h"
#include "park.h"
#include "space.h"

enum lg_rt_state { LG_RT_NEW = 0, LG_RT_RUNNING = 1, LG_RT_OFF = 2, LG_RT_STOPPED = 3 };

struct lg_rt {
	_Atomic int state;
	int err; /* why it is off */
	int said; /* the reason was logged already */
	pthread_mutex_t lock;
	struct lg_opts opts;
	struct lc lc;
	struct lg_space sp;
	struct excache *xc;
	struct lg_fault fault;
	struct lg_embed embed;
	int uffd;
	int uffd_err; /* lg_rt_defer found no userfaultfd: why (logged) */
	unsigned arena; /* jemalloc arena whose extents are remote */
	int transparent; /* the whole heap is remote (LD_PRELOAD or LEGO_TRANSPARENT=on) */
	uint64_t remote_min;
	struct lg_park park; /* fault and housekeeping threads, around fork */
	pthread_t hk;
	struct lg_mover mover; /* granule copies the monitor asks us to move */
	int hk_fd;
	int err_fd; /* our copy of stderr */
	_Atomic int hk_stop;
};

extern struct lg_rt lg_rt;

/* Start the runtime if needed.  0, or the -errno it failed with. */
int lg_rt_start(void);

/*
 * Transparent mode's start on demand (LEGO_LOCAL_START, runtime.c).
 * lg_rt_defer, from the constructor: 1 if the start waits for the program
 * to take local_start bytes (options loaded and valid, a monitor given),
 * 0 if it must start now.  While lg_rt_deferred is set, the program's
 * allocations, frees (negative) and anonymous mappings are charged with
 * lg_rt_charge, which starts the runtime once they reach it;
 * lg_rt_start_now starts it at once (brk: with INT64_MAX bytes).  If
 * another thread is starting it, both return, for a request under 256 KiB
 * at once, for a larger one once it has started or after 10 s; the
 * memory asked for is then local.
 */
extern _Atomic int lg_rt_deferred;
/* 1 in a vforked child (or one made by posix_spawn), which shares the
 * process's memory, so the runtime's structures, but not its threads or
 * descriptors: the runtime does not start there (lg_rt_start returns
 * -EAGAIN), nor stop, nor park its threads on the way out (lg_quiesce).
 * preload's vfork forks instead while the start is deferred and Lego
 * files are on, so that a child's exec or chdir into /lego can start the
 * child's own.  lg_rt_pid_mark: this process is the runtime's (at its
 * start, and in a forked child).  Async-signal-safe. */
int lg_rt_vforked(void);
void lg_rt_pid_mark(void);
int lg_rt_defer(void);
void lg_rt_charge(int64_t bytes);
void lg_rt_start_now(int64_t bytes);

static inline int lg_rt_ready(void)
{
	int s = atomic_load_explicit(&lg_rt.state, memory_order_acquire);
	if (s == LG_RT_RUNNING)
		return 0;
	return s == LG_RT_NEW ? lg_rt_start() : (lg_rt.err ? lg_rt.err : -ESHUTDOWN);
}

/* Free remote memory and stop the threads (process exit or lego_fini). */
void lg_rt_stop(void);

/* The process's counters as "key:value\n" lines (api.c); bytes written. */
size_t lg_stats_text(char *buf, size_t cap);
/* LEGO_STATS=FILE: the counters written there now (api.c); the
 * housekeeping thread's, every second. */
void lg_stats_snapshot(void);

/* Create the remote jemalloc arena (alloc.c). */
int lg_alloc_init(unsigned *arena);

/* Threads the runtime runs (they park around fork). */
uint32_t lg_rt_nthreads(void);
/* The main thread called pthread_exit and is parked instead (preload.c);
 * the process then ends with exit(0) once its last other thread ends. */
extern _Atomic int lg_main_parked;
void lg_rt_kick(void *arg);
/* (Re)start the fault and housekeeping threads. */
int lg_rt_start_threads(struct lg_rt *rt);

#endif
