/*
 * Granule placement: which memnode gets a granule that a process uses for
 * the first time.  The `placement` option picks the policy; every policy
 * considers only memnodes that are up, so a memnode that registers while
 * processes run is a candidate for the very next placement, and one that
 * is down never is.  A placement stays where it was put until a move
 * (move.c: drain, re-replication) changes it.
 */
#ifndef LEGO_MONITOR_PLACE_H
#define LEGO_MONITOR_PLACE_H

#include <stdint.h>

#include "registry.h"

/* Memnode holding the primary copy of `granule` of p, placing it now by
 * r->placement if it has no place yet.  NULL when no memnode is up (or
 * out of memory for the place table).  *replica (if not NULL) gets the
 * node of its second copy (placed by the same policy among the other
 * nodes when p->replicas is 2), or NULL. */
struct mon_node *mon_place(struct mon_reg *r, struct mon_proc *p, uint64_t granule,
			   struct mon_node **replica);

/* A memnode for a new copy by the policy: up, not draining, not `not`
 * (an id, 0: none); NULL when there is none. */
struct mon_node *mon_pick(struct mon_reg *r, uint32_t not);

/* Name of a policy (enum lego_placement): "free", "rr", "traffic", "?". */
const char *mon_placement_name(uint32_t policy);

#endif
