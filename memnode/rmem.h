/*
 * Line buffers registered for clients' one-sided reads over the network
 * (rmem.c).
 */
#ifndef LEGO_MEMNODE_RMEM_H
#define LEGO_MEMNODE_RMEM_H

#include <stddef.h>
#include <stdint.h>

#include "fabric/fabric.h"

/* Make the arena, its ranges registered with ep (a network endpoint whose
 * provider reads one-sided); `purge`: freed pages may go back to the
 * kernel (a provider that reads through the mappings, not one that pins
 * them).  0, or -ENOTSUP (no jemalloc, no FI_RMA) / -errno. */
int rmem_open(struct lf_ep *ep, int purge);
/* A buffer of len bytes there (free() frees it), or NULL. */
void *rmem_alloc(size_t len);
/* Where a reader finds p: the address its provider reads at and the
 * registration's key; -ENOENT if p is not in the arena. */
int rmem_where(const void *p, uint64_t *raddr, uint64_t *key);

#endif
