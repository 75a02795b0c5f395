/*
 * fork with remote memory.  The child must get a private copy of the
 * parent's memory as of the fork, but most of it lives on memnodes, in the
 * parent's address space there.  So, before forking: park the runtime's
 * threads, have the monitor register a child address space and every
 * memnode clone ours into it (copy on write, on the memnode), and hold
 * every runtime lock.  After: the parent carries on; the child, alone with
 * copies of the runtime's structures, opens its own endpoints and
 * userfaultfd, marks every resident line dirty (its copy may be newer
 * than the memnode's, and lost its write-protection), re-sends what the
 * parent had not written back, and starts its own threads.
 *
 * vfork and posix_spawn share the parent's memory: nothing to do.
 */
#ifndef LEGO_FORK_H
#define LEGO_FORK_H

#include <sys/types.h>

/* fork through real_fork.  Returns the child's pid (in the parent), 0 (in
 * the child), or -errno: from real_fork, or without forking (-ENOMEM: no
 * memnode can hold the child's copy). */
pid_t lg_fork(pid_t (*real_fork)(void));

/* Register the fork handlers.  Must run before jemalloc registers its own
 * (so ours prepare last and run first after): the heap calls it before
 * its first call into jemalloc. */
void lg_fork_register(void);

/* Keep lg_fork out while a granule copy is being moved (move.c). */
void lg_fork_hold(void);
void lg_fork_unhold(void);

#endif
