/* Daemon start-up helpers (see daemon.h). */
#define _GNU_SOURCE
#include "daemon.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static void lg_usage(FILE *f, const char *prog, const char *synopsis, char scope)
{
	fprintf(f, "usage: %s %s\n\noptions (also LEGO_<NAME> environment variables):\n", prog,
		synopsis);
	lg_opts_print(f, scope, 0);
}

void lg_daemon_options(int argc, char **argv, char scope, const char *prog,
		       const char *synopsis, struct lg_opts *o)
{
	char err[320];
	lg_set_prog(prog);
	if (lg_opts_load(o, scope, err, sizeof err) < 0) {
		fprintf(stderr, "%s: %s\n", prog, err);
		exit(2);
	}
	int i = lg_opts_parse_argv(o, scope, argc, argv, err, sizeof err);
	if (i == -ENOENT) {
		lg_usage(stdout, prog, synopsis, scope);
		exit(0);
	}
	if (i < 0 || i < argc) {
		fprintf(stderr, "%s: %s\n", prog, i < 0 ? err : "unexpected argument");
		lg_usage(stderr, prog, synopsis, scope);
		exit(2);
	}
	lg_set_level((int)lg_opt_u(o, LG_OPT_log_level));
}

const char *lg_daemon_metrics_addr(const struct lg_opts *o)
{
	const char *a = lg_opt_s(o, LG_OPT_metrics);
	/* set_by 3: given as a flag */
	if (a[0] && lg_opt_i(o, LG_OPT_parent_fd) >= 0 && o->set_by[LG_OPT_metrics] != 3) {
		lg_log(LG_INFO, "metrics", "embedded: not serving metrics on %s (LEGO_METRICS "
		       "applies to daemons started by hand)", a);
		return "";
	}
	return a;
}

static volatile int *lg_stop_flag;

static void lg_on_signal(int sig)
{
	(void)sig;
	if (lg_stop_flag)
		*lg_stop_flag = 1;
}

void lg_daemon_signals(volatile int *stop)
{
	lg_stop_flag = stop;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = lg_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}
