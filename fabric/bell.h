/*
 * Doorbell: how a client wakes a daemon that sleeps between requests on an
 * shm endpoint.  libfabric's shm provider (1.17) has no wait object, so a
 * daemon could only poll it, and polling takes a CPU its co-located
 * clients need.  Instead the daemon sleeps in poll(2) on a FIFO named after
 * its endpoint (/dev/shm/<name>.fifo), next to its other descriptors, and
 * says so in a shared flag (/dev/shm/<name>.bell).  A client that has sent
 * it a request writes one byte to the FIFO if, and only if, the flag is
 * set, so an awake daemon costs its clients one atomic load.
 *
 * No lost wake-ups: the daemon sets the flag, then polls its queues once
 * more before it sleeps; a client sends first, then looks at the flag.
 */
#ifndef LEGO_BELL_H
#define LEGO_BELL_H

#include <stdatomic.h>
#include <stdint.h>

struct lf_bell {
	_Atomic uint32_t *sleeping; /* shared flag */
	_Atomic uint64_t *reads;    /* shared: clients' one-sided reads of the daemon */
	int fifo;
	char name[80];
	int owner;
	int lock; /* daemon: the flag file, held with a shared lock */
};

/* Daemon side: create the bell of endpoint `name`.  0 or -errno. */
int lf_bell_create(struct lf_bell *b, const char *name);
/* Client side: open it.  0 or -errno (then there is nothing to ring). */
int lf_bell_open(struct lf_bell *b, const char *name);
void lf_bell_close(struct lf_bell *b);
/* Remove the files of the daemon whose flag file is `name` ("NAME.bell"
 * in the directory dirfd): its flag, FIFO and shm endpoint NAME, if no
 * daemon holds the flag's lock (killed with SIGKILL: one that ends removes
 * its own).  A daemon takes the lock before it makes its shm endpoint, so
 * a live one's are never removed.  `name` may also be one of the daemon's
 * lanes ("NAME.lN", fabric.h), removed on the same terms. */
void lf_bell_gc(int dirfd, const char *name);
/* Client side: has the daemon been restarted since we opened its bell
 * (the FIFO under its name is another one)?  Then open it again. */
int lf_bell_stale(const struct lf_bell *b);

void lf_bell_ring_slow(struct lf_bell *b);
/* Client, after sending: wake the daemon if it sleeps. */
static inline void lf_bell_ring(struct lf_bell *b)
{
	if (!b || !b->sleeping)
		return;
	/* The daemon says it sleeps, then looks at its queue once more; we
	 * put a message in the queue, then look whether it sleeps.  Each
	 * side's store must be seen before its load, or both miss (the
	 * daemon sleeps up to 100 ms on a message sent): the provider's
	 * stores are plain ones, which x86 may let this load pass. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(b->sleeping, memory_order_relaxed))
		lf_bell_ring_slow(b);
}

/* Client, after a one-sided read of the daemon's memory (no message, so
 * nothing else tells it): count it.  The daemon counts a change of
 * lf_bell_reads as work, so it keeps polling while clients read it; on a
 * small virtual machine its vCPU halting in between makes every wake-up
 * of the reading application slower (docs/architecture.md). */
static inline void lf_bell_note_read(struct lf_bell *b)
{
	if (b && b->reads)
		atomic_fetch_add_explicit(b->reads, 1, memory_order_relaxed);
}
static inline uint64_t lf_bell_reads(const struct lf_bell *b)
{
	return atomic_load_explicit(b->reads, memory_order_relaxed);
}

/* Daemon: announce sleep (then poll queues once more, then poll(2) with
 * lf_bell_fd among the descriptors); lf_bell_awake after waking. */
void lf_bell_arm(struct lf_bell *b);
int lf_bell_fd(const struct lf_bell *b);
void lf_bell_awake(struct lf_bell *b);

#endif
