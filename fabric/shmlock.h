/*
 * Queue locks left taken by dead processes in libfabric's shm provider.
 *
 * Each shm endpoint is a region in /dev/shm whose header holds a spinlock:
 * a sender takes the receiver's to put a message in its queue, a receiver
 * takes its own to read the queue.  A process that dies holding one (a
 * SIGKILL or a crash inside the provider) leaves it taken, and the next
 * process to take it spins for good: a daemon that did stopped serving
 * every process of the host, and a Lego process whose memnode was killed
 * holding its own region's lock spun in a write-back, renewed no lease and
 * outlived the memory it had lost.  Every daemon and every Lego process
 * with an shm endpoint runs a thread that looks at the locks of the
 * regions mapped into it ten times a second; one held at five looks in a
 * row, then at every look, a millisecond apart, for half a second of the
 * clock, is released when its holder must be dead (see doctor_treat for
 * which).  Only for libfabric 1.17, whose header layout is checked against
 * this process's own region first.
 */
#ifndef LEGO_SHMLOCK_H
#define LEGO_SHMLOCK_H

#include <stddef.h>
#include <sys/types.h>

struct lf_shm_region {
	char path[128]; /* /dev/shm/..., maybe " (deleted)" */
	unsigned long start; /* where it is mapped here */
	size_t len;
	pid_t pid;   /* the region's owner */
	int own;     /* owned by this process */
	ino_t ino;
};

/* The shm regions of libfabric's shm provider mapped into this process
 * (at most max, in out); -errno if /proc/self/maps cannot be read, or
 * -ENOTSUP if this libfabric's region layout is not the one known here. */
int lf_shm_regions(struct lf_shm_region *out, int max);

/* Map region r's header a second time and return its lock word
 * (unlocked: 1; see pthread_spin_unlock), or NULL if r is no longer
 * mapped here; lf_shm_unmap(lock) when done. */
volatile int *lf_shm_map_lock(const struct lf_shm_region *r);
void lf_shm_unmap(volatile int *lock);
/* Raise the signal of the region whose lock lf_shm_map_lock gave, as a
 * sender does after queueing: the owner's provider reads its queue (and
 * takes the lock) only then.  For tests. */
void lf_shm_raise_signal(volatile int *lock);

/* Whether the queue lock of the region /dev/shm/name is held now: 1, 0,
 * or -errno (-EPROTO: not a region of libfabric 1.17).  Read from the
 * file; the caller needs no mapping of it.  For tests. */
int lf_shm_lock_held(const char *name);

/* Locks released so far in this process. */
unsigned long lf_shm_unwedged(void);
/* Make /dev/shm/name a stand-in for a closed endpoint's region: a copy of
 * one of this process's own regions with pid as its owner and its lock
 * free (fabric/standin.c says why).  An open descriptor, or -errno. */
int lf_shm_standin_fd(const char *name, pid_t pid);
/* Stand-ins made so far in this process. */
unsigned long lf_shm_standins(void);

/* Start the thread that watches the locks of the regions mapped into this
 * process and releases those dead processes left taken (one log line
 * each), with every signal blocked; thread_init (may be NULL) runs first
 * in it.  Once per process: again in the same process, 0 at once; in a
 * forked child, a thread of the child's own.  0, -ENOTSUP for a libfabric
 * other than 1.17 (or no shm region of this process's own to check the
 * layout against), or -errno. */
int lf_shm_doctor_start(void (*thread_init)(void));
/* The doctor's thread runs in this process. */
int lf_shm_doctor_running(void);

#endif
