/* Daemon start-up helpers (see daemon.h). */
#define _GNU_SOURCE
#include "daemon.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

static void lg_usage(FILE *f, const char *prog, const char *synopsis, char scope)
{
	fprintf(f, "usage: %s %s\n\noptions (also LEGO_<NAME> environment variables):\n", prog,
		synopsis);
	lg_opts_print(f, scope, 0);
}

/* Whether every address HOST (of HOST:PORT) resolves to is a loopback one. */
static int lg_loopback_only(const char *hostport)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	size_t n = colon ? (size_t)(colon - hostport) : strlen(hostport);
	if (n >= sizeof host)
		return 0;
	memcpy(host, hostport, n);
	host[n] = 0;
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = 0;
	}
	if (!host[0])
		return 0; /* every interface */
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
	if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
		return 0;
	int loop = 1;
	for (struct addrinfo *a = res; a && loop; a = a->ai_next) {
		if (a->ai_family == AF_INET)
			loop = (ntohl(((struct sockaddr_in *)a->ai_addr)->sin_addr.s_addr) >> 24) == 127;
		else if (a->ai_family == AF_INET6)
			loop = IN6_IS_ADDR_LOOPBACK(&((struct sockaddr_in6 *)a->ai_addr)->sin6_addr);
		else
			loop = 0;
	}
	freeaddrinfo(res);
	return loop;
}

/* Beyond loopback: a cluster key, or --insecure and a warning; else exit 2. */
static void lg_daemon_check_exposure(const struct lg_opts *o, const char *prog)
{
	const char *listen = lg_opt_s(o, LG_OPT_listen);
	if (lg_opt_s(o, LG_OPT_cluster_key)[0] || lg_loopback_only(listen))
		return;
	if (!lg_opt_u(o, LG_OPT_insecure)) {
		fprintf(stderr, "%s: refusing to listen on %s without a cluster key: anyone who can "
			"reach it could read and write the memory and files it holds.  Set "
			"LEGO_CLUSTER_KEY (the same secret on every node and process), or give "
			"--insecure on a network you trust\n", prog, listen);
		exit(2);
	}
	lg_log(LG_WARN, prog, "listening on %s without a cluster key (--insecure): anyone who "
	       "can reach it can use it", listen);
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
	lg_daemon_check_exposure(o, prog);
	/* a connection takes at least one descriptor: use what the hard
	 * limit allows (the soft one is often 1 024, as --max-clients) */
	struct rlimit rl;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
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
