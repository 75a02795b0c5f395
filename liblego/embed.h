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
	/* between lg_embed_spawn and lg_embed_wait: the pipes the daemons
	 * write their addresses to, and the sockets that take the monitor's
	 * to the memnode and the storenode (-1: none) */
	int mon_rd, mem_rd, sto_rd, mem_mon_w, sto_mon_w;
};

/* Start the daemons; e->addr gets the monitor's address.  With inherit,
 * programs this process executes keep the lifeline too (they share the
 * daemons, through LEGO_MONITOR).  0 or -errno (logged).  In two halves so
 * that the caller can do its own start-up while the daemons do theirs:
 * lg_embed_spawn starts all three, lg_embed_wait waits until they serve
 * (and stops them if one does not); lg_embed_start does both. */
/* The directory holding Lego's programs (lego-monitor, lego-memnode,
 * legoctl): LEGO_BINDIR, next to the program or library this is linked
 * into (or its ../bin), or the installed one.  0 or -ENOENT (logged). */
int lg_embed_bindir(const struct lg_opts *o, char *dir, size_t len);
int lg_embed_spawn(struct lg_embed *e, const struct lg_opts *o, int inherit);
int lg_embed_wait(struct lg_embed *e);
int lg_embed_start(struct lg_embed *e, const struct lg_opts *o, int inherit);
/* After lg_embed_wait: send the monitor's address ("HOST:PORT\n") on the
 * socket *fd, to a daemon started with --monitor-fd or lego-run's command
 * (LEGO_MONITOR_FD), and close it (*fd = -1; nothing if already -1). */
void lg_embed_tell(const struct lg_embed *e, int *fd);
/* Let the daemons go (they exit once no process holds the lifeline) and
 * reap them if they were ours. */
void lg_embed_stop(struct lg_embed *e);

#endif
