/* Start-up shared by the daemons: options, usage, signals. */
#ifndef LEGO_DAEMON_H
#define LEGO_DAEMON_H

#include "options.h"

/* Load options for `scope` from file, environment and argv.  Prints usage
 * and exits 0 for --help, prints the error and usage and exits 2 for bad
 * input, or for --listen beyond loopback without a cluster key or
 * --insecure (with it, a warning).  Sets the program name and log level. */
void lg_daemon_options(int argc, char **argv, char scope, const char *prog,
		       const char *synopsis, struct lg_opts *o);

/* The address to serve metrics on (--metrics), "" for none.  An embedded
 * daemon (--parent-fd) takes it only from its command line, never from
 * LEGO_METRICS or the config file: all three embedded daemons inherit
 * those, and two of them would fail to bind the one address. */
const char *lg_daemon_metrics_addr(const struct lg_opts *o);

/* SIGTERM and SIGINT set *stop; SIGPIPE is ignored. */
void lg_daemon_signals(volatile int *stop);

#endif
