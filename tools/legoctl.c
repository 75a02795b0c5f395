/*
 * legoctl: look at a running Lego cluster.
 *
 *   legoctl [--monitor HOST:PORT] [--json] stats [HOST:PORT]
 *   legoctl options [--markdown]
 *
 * stats: the counters of the daemon at HOST:PORT (default: the monitor),
 * as "key: value" lines or one JSON object.  options: the option table.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/options.h"
#include "common/util.h"
#include "fabric/link.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: legoctl [--monitor HOST:PORT] [--fabric tcp|shm|auto] [--json] COMMAND\n"
		   "commands:\n"
		   "  stats [HOST:PORT]     counters of a daemon (default: the monitor)\n"
		   "  options [--markdown]  every Lego option, its variable and default\n");
}

static int print_stats(const char *text, size_t len, int json)
{
	if (json)
		putchar('{');
	int first = 1;
	const char *p = text, *end = text + len;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		const char *colon = memchr(p, ':', (size_t)(nl - p));
		if (colon) {
			int kl = (int)(colon - p), vl = (int)(nl - colon - 1);
			if (json) {
				const char *v = colon + 1;
				int numeric = vl > 0;
				for (int i = 0; i < vl; i++)
					if ((v[i] < '0' || v[i] > '9') && v[i] != '-')
						numeric = 0;
				printf("%s\"%.*s\":%s%.*s%s", first ? "" : ",", kl, p, numeric ? "" : "\"",
				       vl, v, numeric ? "" : "\"");
			} else {
				printf("%-32.*s %.*s\n", kl, p, vl, colon + 1);
			}
			first = 0;
		}
		p = nl + 1;
	}
	if (json)
		printf("}\n");
	return 0;
}

int main(int argc, char **argv)
{
	lg_set_prog("legoctl");
	struct lg_opts o;
	char err[320];
	if (lg_opts_load(&o, 'T', err, sizeof err) < 0) {
		fprintf(stderr, "legoctl: %s\n", err);
		return 2;
	}
	int json = 0, i = 1;
	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--json"))
			json = 1;
		else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
			usage(stdout);
			return 0;
		} else if (!strncmp(argv[i], "--", 2) && i + 1 < argc && !strchr(argv[i], '=')) {
			if (lg_opts_set(&o, argv[i] + 2, argv[i + 1], 3, err, sizeof err) < 0) {
				fprintf(stderr, "legoctl: %s\n", err);
				usage(stderr);
				return 2;
			}
			i++;
		} else if (!strncmp(argv[i], "--", 2)) {
			char *eq = strchr(argv[i], '=');
			if (!eq) {
				fprintf(stderr, "legoctl: %s needs a value\n", argv[i]);
				return 2;
			}
			*eq = 0;
			if (lg_opts_set(&o, argv[i] + 2, eq + 1, 3, err, sizeof err) < 0) {
				fprintf(stderr, "legoctl: %s\n", err);
				return 2;
			}
		} else
			break;
	}
	lg_set_level((int)lg_opt_u(&o, LG_OPT_log_level));
	if (i < argc && strcmp(argv[i], "options") == 0) {
		int md = i + 1 < argc && strcmp(argv[i + 1], "--markdown") == 0;
		lg_opts_print(stdout, 0, md);
		return 0;
	}
	if (i >= argc || strcmp(argv[i], "stats") != 0 || argc - i > 2) {
		usage(stderr);
		return 2;
	}
	const char *target = i + 1 < argc ? argv[i + 1] : lg_opt_s(&o, LG_OPT_monitor);
	if (!target[0]) {
		fprintf(stderr, "legoctl: no address: give HOST:PORT or --monitor (LEGO_MONITOR)\n");
		return 2;
	}
	struct rpc_client *cl;
	if (rpc_client_new(lg_opt_s(&o, LG_OPT_cluster_key), LEGO_ROLE_TOOL, &cl) < 0)
		return 1;
	struct rpc_links links = {.cl = cl, .rx_bufs = 4, .rx_size = 128 * 1024,
				  .fab = (enum lf_fabric_choice)lg_opt_u(&o, LG_OPT_fabric)};
	struct rpc_peer peer;
	uint64_t to = lg_opt_u(&o, LG_OPT_rpc_timeout_ms) * 1000000ull;
	int r = rpc_links_peer_hostport(&links, target, &peer, target, NULL);
	if (r == 0)
		r = rpc_peer_connect(&peer, to);
	if (r) {
		fprintf(stderr, "legoctl: cannot connect to %s: %s\n", target, strerror(-r));
		return 1;
	}
	static char buf[64 * 1024];
	size_t len = 0;
	r = rpc_call(&peer, X2X_STATS, NULL, 0, buf, sizeof buf, &len, to);
	if (r) {
		fprintf(stderr, "legoctl: stats from %s: %s\n", target, strerror(-r));
		return 1;
	}
	print_stats(buf, LG_MIN(len, sizeof buf), json);
	rpc_call(&peer, X2X_BYE, NULL, 0, NULL, 0, NULL, to);
	rpc_links_close(&links);
	return 0;
}
