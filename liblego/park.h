/*
 * Parking the runtime's threads: fork must copy the process while no
 * runtime thread is in the middle of something (holding a lock, halfway
 * through an eviction).  Threads call lg_park_point() where they hold
 * nothing; the forking thread asks them all to park and waits until they
 * have.
 */
#ifndef LEGO_PARK_H
#define LEGO_PARK_H

#include <stdatomic.h>
#include <stdint.h>

struct lg_park {
	_Atomic uint32_t want; /* 1 while a fork wants everyone parked */
	_Atomic uint32_t parked;
};

/* Runtime threads: park here if asked. */
void lg_park_point(struct lg_park *p);
/* Ask every runtime thread to park; returns once n of them have (the
 * caller wakes sleeping ones with kick(arg) first). */
void lg_park_all(struct lg_park *p, uint32_t n, void (*kick)(void *), void *arg);
void lg_park_release(struct lg_park *p);
/* lg_park_all for at most ns nanoseconds; 0 once n have parked, -1 if they
 * had not by then.  Async-signal-safe (a dying process's last step). */
int lg_park_all_for(struct lg_park *p, uint32_t n, void (*kick)(void *), void *arg, uint64_t ns);

#endif
