/* Parking the runtime's threads around fork (see park.h). */
#define _GNU_SOURCE
#include "park.h"

#include <sched.h>

#include "common/util.h"

void lg_park_point(struct lg_park *p)
{
	if (!atomic_load_explicit(&p->want, memory_order_acquire))
		return;
	atomic_fetch_add(&p->parked, 1);
	while (atomic_load(&p->want))
		lg_futex_wait(&p->want, 1, 0);
	atomic_fetch_sub(&p->parked, 1);
}

void lg_park_all(struct lg_park *p, uint32_t n, void (*kick)(void *), void *arg)
{
	lg_park_all_for(p, n, kick, arg, UINT64_MAX);
}

int lg_park_all_for(struct lg_park *p, uint32_t n, void (*kick)(void *), void *arg, uint64_t ns)
{
	uint64_t t0 = lg_now_ns();
	atomic_store(&p->want, 1);
	while (atomic_load(&p->parked) < n) {
		if (lg_now_ns() - t0 > ns)
			return -1;
		if (kick)
			kick(arg);
		sched_yield();
	}
	return 0;
}

void lg_park_release(struct lg_park *p)
{
	atomic_store(&p->want, 0);
	lg_futex_wake(&p->want, 1 << 30);
}
