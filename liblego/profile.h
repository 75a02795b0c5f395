/*
 * LEGO_PROFILE: where a program's ExCache misses come from.
 *
 * Every LEGO_PROFILE_PERIOD-th miss that a thread waits for is sampled.
 * When its line arrives, the fault service thread, before it wakes the
 * faulting thread, queues a signal to that thread carrying the time the
 * miss waited.  The thread, still stopped at the faulting instruction,
 * takes the signal first: the handler walks its stack with libunwind from
 * the signal's context (the faulting pc, then its callers) and adds one
 * sample and the wait to that stack's entry in a fixed table.  Nothing in
 * the handler allocates or locks: the table is preallocated and claimed
 * with atomics.
 *
 * At exit the stacks are symbolized with elfutils' libdwfl (function,
 * source file and line where debug information exists) and written as a
 * report: the top call sites by misses and by time waiting, and a
 * folded-stacks file ("main;f;g 12" lines) that flame-graph tools read.
 *
 * Off (the default), a miss pays one predictable branch.
 */
#ifndef LEGO_PROFILE_H
#define LEGO_PROFILE_H

#include <stdint.h>

#include "common/options.h"
#include "common/util.h"

extern uint32_t lg_prof_period; /* 0: off */

/* Set up from the profile options: the table and the signal handler.
 * 0 or -errno (logged; profiling stays off). */
int lg_prof_init(const struct lg_opts *o);

/* Fault service thread, for a demand miss that waited wait_ns, before the
 * faulting thread tid is woken: sample it if its turn has come. */
void lg_prof_miss_slow(uint32_t tid, uint64_t wait_ns);

static inline void lg_prof_miss(uint32_t tid, uint64_t wait_ns)
{
	if (lg_unlikely(lg_prof_period) && tid)
		lg_prof_miss_slow(tid, wait_ns);
}

/* Is sig the profiler's signal (which the program may not take over)?
 * Warns, once, when the program tries to set it. */
int lg_prof_owns_signal(int sig, int setting);

/* In a forked child: forget the parent's samples. */
void lg_prof_fork_child(void);

/* At exit: write the report and the folded stacks, if any samples. */
void lg_prof_report(void);

#endif
