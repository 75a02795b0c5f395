/*
 * The heap in transparent mode: the malloc family served by jemalloc, from
 * the remote arena for the application and from jemalloc's ordinary
 * (local) arenas for the runtime, for requests below LEGO_REMOTE_MIN, and
 * whenever Lego is not running.  free() and friends work on both: a
 * pointer's address says which it is.
 *
 * Every call enters the runtime (tls.h) while jemalloc runs, so the
 * mappings jemalloc makes for its own local arenas stay local.
 */
#ifndef LEGO_HEAP_H
#define LEGO_HEAP_H

#include <stddef.h>

/* caller: the return address of the interposed call (allocations by the
 * C library itself stay local). */
void *lg_heap_malloc(size_t n, const void *caller);
void *lg_heap_calloc(size_t n, size_t size, const void *caller);
void *lg_heap_realloc(void *p, size_t n, const void *caller);
void lg_heap_free(void *p);
/* alignment: power of two (checked by the caller). */
void *lg_heap_aligned(size_t alignment, size_t n, const void *caller);
size_t lg_heap_usable_size(void *p);
/* Around the runtime's fork handlers, which run with jemalloc's locks
 * held: this thread's allocations come from a static region (heap.c). */
void lg_heap_fork_enter(void);
void lg_heap_fork_leave(void);
/* Find the C library's code (at start, inside the runtime). */
void lg_heap_init(void);

#endif
