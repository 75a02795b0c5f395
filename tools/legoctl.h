/* legoctl: what its command files share. */
#ifndef LEGO_LEGOCTL_H
#define LEGO_LEGOCTL_H

#include <stdint.h>

#include "fabric/rpc.h"

/* Is cmd one of the monitor's cluster views (status, nodes, procs)? */
int ctl_is_view(const char *cmd);

/* Run view cmd against the monitor `mon` (connected; named `target` in
 * messages); arg: procs' optional PID (NULL: every process).  Prints a
 * table, or JSON; returns the exit status (0, or 1 with a message on
 * stderr). */
int ctl_view(struct rpc_peer *mon, const char *target, const char *cmd, const char *arg,
	     int json, uint64_t timeout_ns);

/* legoctl drain NODE: start draining memnode `node` and, if wait, print
 * its progress each second until it has left.  Returns the exit status. */
int ctl_drain(struct rpc_peer *mon, const char *target, uint32_t node, int wait, int json,
	      uint64_t timeout_ns);

#endif
