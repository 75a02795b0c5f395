/*
 * Is this thread inside the runtime?  Memory the runtime allocates for
 * itself (libfabric buffers, OpenSSL state, jemalloc's own mappings) must
 * stay local (DESIGN invariant 3); the interposed malloc and mmap send a
 * request to local memory whenever the calling thread is inside the
 * runtime.  Runtime threads are inside for good; application threads are
 * inside while they run Lego code (an allocation hook, an RPC, an API
 * call).  initial-exec TLS: no allocation on first access, safe in any
 * context.
 */
#ifndef LEGO_TLS_H
#define LEGO_TLS_H

extern __thread int lg_tls_inside __attribute__((tls_model("initial-exec")));

static inline int lg_inside(void) { return lg_tls_inside != 0; }
static inline void lg_enter(void) { lg_tls_inside++; }
static inline void lg_leave(void) { lg_tls_inside--; }
/* Inside twice: Lego code running because of Lego code, such as an
 * allocation libfabric makes while this thread sends a request, and what
 * the allocator does on that occasion (its thread cache flushes freed
 * remote blocks back to the remote arena at times of its own choosing). */
static inline int lg_nested(void) { return lg_tls_inside > 1; }

#endif
