/*
 * Fault service: the userfaultfd that traps accesses to remote memory not
 * in the ExCache, and the runtime threads that serve it.
 *
 * Why userfaultfd with service threads (and not a SIGSEGV handler): the
 * kernel also faults on remote memory when a system call reads or writes a
 * user buffer (read(2) into a malloc'd buffer, a futex word in the heap...).
 * A signal-driven cache cannot serve those (the call fails with EFAULT);
 * userfaultfd serves both kinds the same way, never changes the
 * application's signal handling, and splits no mappings.
 */
#ifndef LEGO_FAULT_H
#define LEGO_FAULT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

struct excache;
struct rpc_client;

#define LG_FAULT_MAX_THREADS 16

struct lg_park;

struct lg_fault {
	int uffd;
	int stop_fd; /* written to stop, or to wake the threads to park */
	int wake_fd; /* written to wake dozing helpers when a stream starts */
	struct excache *xc;
	struct rpc_client *cl;
	struct lg_park *park;
	pthread_t thr[LG_FAULT_MAX_THREADS];
	int nthr;
	_Atomic int started; /* threads so far; the first is the main one */
	_Atomic int dozing;  /* helpers asleep until a stream starts */
	_Atomic int main_idle; /* the first thread sleeps with no timeout */
	_Atomic int stop;
	/* LEGO_FAULT=sigbus: application threads serve their own misses in
	 * a SIGBUS handler (lg_fault_bus); the threads above drive the rest */
	int sigbus;
	_Atomic int bus_busy; /* threads inside lg_fault_bus */
	_Atomic int bus_gate; /* a fork waits for them and holds new ones */
};

/* Open a userfaultfd with missing and write-protect support.  Returns the
 * descriptor or -errno with a message saying how to allow it. */
int lg_uffd_open(void);
/* The same; sigbus: in SIGBUS mode (LEGO_FAULT=sigbus, lg_fault_bus). */
int lg_uffd_open_as(int sigbus);
/* A userfaultfd in asynchronous write-protect mode (Linux 6.7): the kernel
 * resolves write-protect faults itself and PAGEMAP_SCAN reports the pages
 * written since it last armed them (fmap.c, pagemap.h).  The descriptor, or -errno
 * (quietly: the caller says what it cannot do without one). */
int lg_uffd_open_wp_async(void);
/* Register [base, base+size) for missing and write-protect faults. */
int lg_uffd_register(int uffd, void *base, size_t size);

/* Start n service threads (they park at `park` when asked).  The first
 * serves every fault; the others, helpers, serve faults only while a
 * prefetch stream runs (xc_streaming) and doze otherwise.  0 or -errno. */
int lg_fault_start(struct lg_fault *f, int uffd, struct excache *xc, struct rpc_client *cl,
		   struct lg_park *park, int n);
void lg_fault_stop(struct lg_fault *f);
/* In a forked child: the parent's threads do not exist here; close their
 * descriptors (lg_fault_start makes new ones). */
void lg_fault_forget(struct lg_fault *f);
/* Wake sleeping service threads (so they notice a park request). */
void lg_fault_kick(void *f);

struct lg_space;
/*
 * SIGBUS mode: serve the miss at addr (a write if write) on the calling
 * thread, which took SIGBUS for it; returns 0 if the SIGBUS is not a
 * miss (addr not in sp, or in a file the program mapped over it,
 * lg_vm_is_foreign), 1 once the line is resident or it is worth faulting
 * again.  Async-signal-safe as far as the runtime goes: it
 * takes no lock the interrupted program could hold (the runtime's own
 * code never touches remote memory) and allocates nothing.
 */
int lg_fault_bus(struct lg_fault *f, struct lg_space *sp, void *addr, int write);
/* Around fork, and at the runtime's end for good: wait for the threads
 * serving a miss, and hold new ones until lg_fault_bus_release (the
 * parent's; a forked child's lg_fault_start lets them go). */
void lg_fault_bus_hold(struct lg_fault *f);
void lg_fault_bus_release(struct lg_fault *f);
/* A new thread id for the calling thread's misses (a forked child's). */
void lg_fault_bus_forget_tid(void);

#endif
