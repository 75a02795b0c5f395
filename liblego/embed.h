/*
 * The embedded default: with no monitor configured, a Lego process starts a
 * private lego-monitor, lego-memnode and lego-storenode on this host (loopback and shm) and
 * they exit when it and all processes forked from it are gone (they watch
 * a pipe whose write end only those processes hold).
 */
#ifndef LEGO_EMBED_H
#define LEGO_EMBED_H

#include <sys/types.h>

#include "common/options.h"

struct lg_embed {
	pid_t mon_pid, mem_pid, sto_pid; /* sto_pid 0: no file store */
	int parent_w; /* our end of the lifeline pipe */
	char addr[128]; /* monitor HOST:PORT */
};

/* Start both daemons; e->addr gets the monitor's address.  With
 * inherit, programs this process executes keep the lifeline too (they
 * share the daemons, through LEGO_MONITOR).  0 or -errno (logged). */
int lg_embed_start(struct lg_embed *e, const struct lg_opts *o, int inherit);
/* Let the daemons go (they exit once no process holds the lifeline) and
 * reap them if they were ours. */
void lg_embed_stop(struct lg_embed *e);

#endif
