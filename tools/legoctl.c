/*
 * legoctl: look at a running Lego cluster.
 *
 *   legoctl [--monitor HOST:PORT] [--json] stats [HOST:PORT | PID]
 *   legoctl [--monitor HOST:PORT] [--json] top [--once]
 *   legoctl [--monitor HOST:PORT] [--json] status | nodes | procs [PID]
 *   legoctl options [--markdown]
 *
 * stats: the counters of the daemon at HOST:PORT (default: the monitor),
 * or of the running Lego process PID (as it last reported them to the
 * monitor, at most a second ago), as "key: value" lines or one JSON object.
 * top: a table of every Lego process the monitor knows, refreshed each
 * second (--once: one table).  status, nodes, procs: the cluster as the
 * monitor sees it (legoctl_views.c).  options: the option table.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/options.h"
#include "common/util.h"
#include "fabric/link.h"
#include "legoctl.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: legoctl [--monitor HOST:PORT] [--fabric tcp|shm|auto] [--json] COMMAND\n"
		   "commands:\n"
		   "  stats [HOST:PORT]     counters of a daemon (default: the monitor)\n"
		   "  stats PID             counters of a running Lego process (via the monitor)\n"
		   "  top [--once]          every Lego process: memory, misses, fault latency\n"
		   "  status                the cluster: nodes up and down, processes, capacity\n"
		   "  nodes                 every memnode and storenode: address, state, capacity,\n"
		   "                        reserved, stored, granules placed, traffic\n"
		   "  procs [PID]           every Lego process and where its memory lives\n"
		   "  drain NODE [--no-wait] move every granule copy off memnode NODE, then let\n"
		   "                        it leave (waits until it has, printing progress)\n"
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

/* Value of key in "key:value" lines, into out ("" if absent). */
static const char *kvs(const char *text, const char *key, char *out, size_t cap)
{
	size_t kl = strlen(key);
	out[0] = 0;
	for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (strncmp(p, key, kl) == 0 && p[kl] == ':') {
			const char *e = strchr(p, '\n');
			snprintf(out, cap, "%.*s", (int)((e ? e : p + strlen(p)) - (p + kl + 1)), p + kl + 1);
			break;
		}
	return out;
}

/* ... as a number (0 if absent). */
static unsigned long long kv(const char *text, const char *key)
{
	char v[32];
	return strtoull(kvs(text, key, v, sizeof v), NULL, 10);
}

/* One table of the processes in the monitor's reply (records separated by
 * an empty line); rates against the previous table. */
#define TOP_MAX 256
static struct { unsigned long long pid, misses; } top_prev[TOP_MAX];
static int top_nprev;

static void print_top(char *text, int json, double secs)
{
	char name[LEGO_HOST_MAX + 1], sz1[32], sz2[32];
	struct { unsigned long long pid, misses; } cur[TOP_MAX];
	int ncur = 0;
	if (json)
		putchar('[');
	else
		printf("%8s %-16s %10s %10s %10s %12s %12s\n", "PID", "HOST", "LOCAL", "REMOTE",
		       "MISSES/S", "MISS p50 us", "MISS mean us");
	for (char *rec = text; rec && *rec && ncur < TOP_MAX;) {
		char *end = strstr(rec, "\n\n");
		if (end)
			*end = 0;
		unsigned long long pid = kv(rec, "proc"), misses = kv(rec, "excache.misses");
		double rate = 0;
		for (int i = 0; i < top_nprev; i++)
			if (top_prev[i].pid == pid && secs > 0 && misses >= top_prev[i].misses)
				rate = (double)(misses - top_prev[i].misses) / secs;
		cur[ncur].pid = pid;
		cur[ncur++].misses = misses;
		unsigned long long local = kv(rec, "mem.resident_lines") * kv(rec, "excache.line_bytes");
		unsigned long long remote = kv(rec, "mem.reserved_bytes");
		double p50 = kv(rec, "latency.miss.p50_ns") / 1e3, mean = kv(rec, "latency.miss.mean_ns") / 1e3;
		kvs(rec, "host", name, sizeof name);
		if (json)
			printf("%s{\"pid\":%llu,\"host\":\"%s\",\"local_bytes\":%llu,\"remote_bytes\":%llu,"
			       "\"misses\":%llu,\"misses_per_s\":%.0f,\"miss_p50_us\":%.1f,\"miss_mean_us\":%.1f}",
			       ncur > 1 ? "," : "", pid, name, local, remote, misses, rate, p50, mean);
		else
			printf("%8llu %-16.16s %10s %10s %10.0f %12.1f %12.1f\n", pid, name,
			       lg_format_size(local, sz1, sizeof sz1), lg_format_size(remote, sz2, sizeof sz2),
			       rate, p50, mean);
		rec = end ? end + 2 : NULL;
	}
	if (json)
		printf("]\n");
	memcpy(top_prev, cur, sizeof cur[0] * (size_t)ncur);
	top_nprev = ncur;
	fflush(stdout);
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
	int top = i < argc && strcmp(argv[i], "top") == 0;
	int once = top && i + 1 < argc && strcmp(argv[i + 1], "--once") == 0;
	int view = i < argc && ctl_is_view(argv[i]);
	const char *arg = !top && i + 1 < argc ? argv[i + 1] : NULL;
	int numeric = arg && arg[0] && arg[strspn(arg, "0123456789")] == 0;
	int drain = i < argc && strcmp(argv[i], "drain") == 0;
	int nowait = drain && argc - i == 3 && strcmp(argv[i + 2], "--no-wait") == 0;
	if (drain && (!numeric || (argc - i != 2 && !nowait))) {
		usage(stderr);
		return 2;
	}
	if (i >= argc || (!top && !view && !drain && strcmp(argv[i], "stats") != 0) ||
	    (argc - i > 2 && !nowait) ||
	    (top && argc - i == 2 && !once) ||
	    (view && arg && (strcmp(argv[i], "procs") != 0 || !numeric))) {
		usage(stderr);
		return 2;
	}
	/* a process is asked about through the monitor */
	int by_pid = top || (numeric && !drain);
	const char *target = arg && !by_pid && !drain ? arg : lg_opt_s(&o, LG_OPT_monitor);
	if (!target[0]) {
		fprintf(stderr, "legoctl: no address: give HOST:PORT or --monitor (LEGO_MONITOR)\n");
		return 2;
	}
	if (rpc_options_apply(&o) != 0)
		return 2;
	struct rpc_client *cl;
	if (rpc_client_new(lg_opt_s(&o, LG_OPT_cluster_key), LEGO_ROLE_TOOL, &cl) < 0)
		return 1;
	struct rpc_links links = {.cl = cl, .rx_bufs = 2, .rx_size = LEGO_MSG_MAX, /* top: every process */
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
	static char buf[LEGO_MSG_PAYLOAD_MAX + 1];
	size_t len = 0;
	int status = 0;
	if (view) {
		status = ctl_view(&peer, target, argv[i], arg, json, to);
	} else if (drain) {
		status = ctl_drain(&peer, target, (uint32_t)strtoul(arg, NULL, 10), !nowait, json, to);
	} else if (by_pid) {
		struct lego_procs_req req = {.pid = top ? 0 : (uint32_t)strtoul(arg, NULL, 10)};
		uint64_t last = 0;
		for (;;) {
			r = rpc_call(&peer, T2MON_PROCS, &req, sizeof req, buf, sizeof buf - 1, &len, to);
			if (r) {
				fprintf(stderr, "legoctl: %s%s from monitor %s: %s\n", top ? "processes" : "process ",
					top ? "" : arg, target, r == -ESRCH ? "no such Lego process" : strerror(-r));
				return 1;
			}
			buf[LG_MIN(len, sizeof buf - 1)] = 0;
			if (!top) {
				print_stats(buf, strlen(buf), json);
				break;
			}
			uint64_t now = lg_now_ns();
			if (!once && !json)
				printf("\033[H\033[J");
			print_top(buf, json, last ? (double)(now - last) / 1e9 : 0);
			last = now;
			if (once)
				break;
			sleep(1);
		}
	} else {
		r = rpc_call(&peer, X2X_STATS, NULL, 0, buf, sizeof buf, &len, to);
		if (r) {
			fprintf(stderr, "legoctl: stats from %s: %s\n", target, strerror(-r));
			return 1;
		}
		print_stats(buf, LG_MIN(len, sizeof buf), json);
	}
	rpc_call(&peer, X2X_BYE, NULL, 0, NULL, 0, NULL, to);
	rpc_links_close(&links);
	return status;
}
