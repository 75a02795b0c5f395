/*
 * Core dumps with the remote memory in them.
 *
 * A process killed by a signal whose default action dumps core (SIGSEGV,
 * SIGABRT, SIGBUS, ...) would leave a core file with zeros wherever its
 * memory was on a memnode.  When the kernel is going to write one
 * (RLIMIT_CORE, or a core_pattern pipe) and LEGO_CORE is full, the
 * fatal signal's handler (sig.c) first brings every line with data back
 * into the process's own pages, beyond the ExCache's size, if the host
 * has the memory for it; otherwise it says what the core file lacks.
 */
#ifndef LEGO_CORE_H
#define LEGO_CORE_H

#include <stdint.h>

/* What lg_core_collect copied. */
struct lg_core {
	uint8_t *data;   /* a line each; NULL: none */
	uint64_t *lines; /* which */
	uint64_t n, bytes;
};

/* In a fatal signal's handler, the runtime still running: if the kernel
 * will write a core file and LEGO_CORE is full, copy every line with data
 * into c (local memory); else leave c empty.  Async-signal-safe. */
void lg_core_collect(struct lg_core *c);

/* With the runtime's threads parked: put back each collected line that is
 * not resident now, and free the copies (nothing if c is empty). */
void lg_core_restore(struct lg_core *c);

#endif
