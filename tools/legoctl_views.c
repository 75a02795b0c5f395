/*
 * legoctl status, nodes and procs: the monitor's cluster views
 * (T2MON_STATUS, T2MON_NODES, T2MON_PLACES; docs/cluster.md) as tables for
 * people or JSON for scripts.  Lists come in pages of at most
 * LEGO_VIEW_MAX bytes; each page is printed as it arrives.
 */
#define _GNU_SOURCE
#include "legoctl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "lego/proto.h"

static const char *const placement_names[] = {"free", "rr", "traffic"};

static const char *placement_name(uint32_t p)
{
	return p < LG_ARRAY_SIZE(placement_names) ? placement_names[p] : "?";
}

/* s as a JSON string (names and addresses: no need for \u escapes beyond
 * control characters). */
static void json_str(const char *s, size_t max)
{
	putchar('"');
	for (size_t i = 0; i < max && s[i]; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static const char *size_str(uint64_t b, char *buf, size_t len)
{
	return lg_format_size(b, buf, len);
}

static int view_status(struct rpc_peer *mon, const char *target, int json, uint64_t to)
{
	struct lego_mon_status st;
	int r = rpc_call_fixed(mon, T2MON_STATUS, NULL, 0, &st, sizeof st, to);
	if (r) {
		fprintf(stderr, "legoctl: status from monitor %s: %s\n", target, strerror(-r));
		return 1;
	}
	uint64_t gbytes = 1ull << st.granule_order;
	if (json) {
		printf("{\"monitor\":");
		json_str(target, 256);
		printf(",\"uptime_ms\":%llu,\"placement\":\"%s\",\"granule_bytes\":%llu,"
		       "\"memnodes\":%u,\"memnodes_up\":%u,\"memnode_down_events\":%llu,"
		       "\"storenodes\":%u,\"storenodes_up\":%u,\"capacity\":%llu,\"reserved\":%llu,"
		       "\"stored\":%llu,\"processes\":%u,\"processes_registered\":%llu,"
		       "\"processes_exited\":%llu,\"processes_expired\":%llu,\"granules\":%llu}\n",
		       (unsigned long long)st.uptime_ms, placement_name(st.placement),
		       (unsigned long long)gbytes, st.memnodes, st.memnodes_up,
		       (unsigned long long)st.nodes_down, st.storenodes, st.storenodes_up,
		       (unsigned long long)st.capacity, (unsigned long long)st.reserved,
		       (unsigned long long)st.stored, st.processes,
		       (unsigned long long)st.procs_registered, (unsigned long long)st.procs_exited,
		       (unsigned long long)st.procs_expired, (unsigned long long)st.granules);
		return 0;
	}
	char a[32], b[32], c[32], g[32];
	uint64_t s = st.uptime_ms / 1000;
	printf("monitor     %s, up %lluh%02llum%02llus\n", target, (unsigned long long)(s / 3600),
	       (unsigned long long)(s / 60 % 60), (unsigned long long)(s % 60));
	printf("placement   %s, granules of %s\n", placement_name(st.placement),
	       size_str(gbytes, g, sizeof g));
	printf("memnodes    %u up, %u down (%llu down events)\n", st.memnodes_up,
	       st.memnodes - st.memnodes_up, (unsigned long long)st.nodes_down);
	printf("storenodes  %u up, %u down\n", st.storenodes_up, st.storenodes - st.storenodes_up);
	printf("capacity    %s on the memnodes up: %s reserved, %s stored\n",
	       size_str(st.capacity, a, sizeof a), size_str(st.reserved, b, sizeof b),
	       size_str(st.stored, c, sizeof c));
	printf("processes   %u running (%llu registered, %llu exited, %llu expired)\n", st.processes,
	       (unsigned long long)st.procs_registered, (unsigned long long)st.procs_exited,
	       (unsigned long long)st.procs_expired);
	printf("granules    %llu placed (%s of address space)\n", (unsigned long long)st.granules,
	       size_str(st.granules * gbytes, a, sizeof a));
	return 0;
}

static uint8_t page[LEGO_VIEW_MAX];

static const char *node_state(uint32_t up)
{
	static const char *const names[] = {[LEGO_NODE_DOWN] = "down", [LEGO_NODE_UP] = "up",
					    [LEGO_NODE_DRAINING] = "draining",
					    [LEGO_NODE_LEFT] = "left"};
	return up < LG_ARRAY_SIZE(names) ? names[up] : "?";
}

static void print_node(const struct lego_node_info *in, int json, int first)
{
	int mem = in->role == LEGO_ROLE_MEMNODE;
	const char *role = mem ? "memnode" : "storenode";
	if (json) {
		printf("%s{\"id\":%u,\"role\":\"%s\",\"addr\":", first ? "" : ",", in->id, role);
		json_str(in->addr, sizeof in->addr);
		printf(",\"up\":%s,\"state\":\"%s\",\"capacity\":%llu,\"reserved\":%llu,\"stored\":%llu,"
		       "\"granules\":%llu,\"address_spaces\":%u,\"read_bytes\":%llu,"
		       "\"write_bytes\":%llu,\"traffic\":%llu,\"heartbeat_age_ms\":%llu}",
		       in->up == LEGO_NODE_UP || in->up == LEGO_NODE_DRAINING ? "true" : "false",
		       node_state(in->up), (unsigned long long)in->capacity,
		       (unsigned long long)in->reserved, (unsigned long long)in->stored,
		       (unsigned long long)in->granules, in->nr_as, (unsigned long long)in->read_bytes,
		       (unsigned long long)in->write_bytes, (unsigned long long)in->traffic,
		       (unsigned long long)in->hb_age_ms);
		return;
	}
	/* storenodes have no reservations, granules or traffic */
	char a[32], b[32], c[32], t[40], g[24];
	snprintf(t, sizeof t, "%s/s", size_str(in->traffic, a, sizeof a));
	snprintf(g, sizeof g, "%llu", (unsigned long long)in->granules);
	printf("%4u %-9s %-22s %-8s %9s %9s %9s %9s %10s\n", in->id, role, in->addr,
	       node_state(in->up), size_str(in->capacity, a, sizeof a),
	       mem ? size_str(in->reserved, b, sizeof b) : "-", size_str(in->stored, c, sizeof c),
	       mem ? g : "-", mem ? t : "-");
}

static int view_nodes(struct rpc_peer *mon, const char *target, int json, uint64_t to)
{
	static const uint32_t roles[] = {LEGO_ROLE_MEMNODE, LEGO_ROLE_STORENODE};
	int first = 1;
	if (json)
		putchar('[');
	else
		printf("%4s %-9s %-22s %-8s %9s %9s %9s %9s %10s\n", "ID", "ROLE", "ADDRESS", "STATE",
		       "CAPACITY", "RESERVED", "STORED", "GRANULES", "TRAFFIC");
	for (size_t k = 0; k < LG_ARRAY_SIZE(roles); k++) {
		struct lego_nodes_req req = {.role = roles[k]};
		struct lego_nodes_rep rep;
		do {
			size_t len = 0;
			int r = rpc_call(mon, T2MON_NODES, &req, sizeof req, page, sizeof page, &len, to);
			memcpy(&rep, page, sizeof rep);
			if (r == 0 && (len < sizeof rep ||
				       len < sizeof rep + rep.count * sizeof(struct lego_node_info)))
				r = -EBADMSG;
			if (r) {
				fprintf(stderr, "legoctl: nodes from monitor %s: %s\n", target,
					strerror(-r));
				return 1;
			}
			for (uint32_t i = 0; i < rep.count; i++) {
				struct lego_node_info in;
				memcpy(&in, page + sizeof rep + i * sizeof in, sizeof in);
				in.addr[sizeof in.addr - 1] = 0;
				in.role = roles[k];
				print_node(&in, json, first);
				req.after = in.id;
				first = 0;
			}
		} while (rep.more && rep.count);
	}
	if (json)
		printf("]\n");
	return 0;
}

/* Print the record of one process at page + *at (its lego_proc_place and
 * place counts), moving *at past it; 0, or -EBADMSG if it is cut short. */
static int print_proc(size_t len, size_t *at, uint64_t gbytes, int json, int first,
		      uint64_t *as_id)
{
	struct lego_proc_place pp;
	if (len - *at < sizeof pp)
		return -EBADMSG;
	memcpy(&pp, page + *at, sizeof pp);
	*at += sizeof pp;
	pp.host[sizeof pp.host - 1] = 0;
	*as_id = pp.as_id;
	if ((len - *at) / sizeof(struct lego_place_count) < pp.nr_nodes)
		return -EBADMSG;
	char a[32];
	if (json) {
		printf("%s{\"pid\":%u,\"host\":", first ? "" : ",", pp.pid);
		json_str(pp.host, sizeof pp.host);
		printf(",\"as_id\":%llu,\"granules\":%llu,\"bytes\":%llu,\"nodes\":[",
		       (unsigned long long)pp.as_id, (unsigned long long)pp.granules,
		       (unsigned long long)(pp.granules * gbytes));
	} else {
		printf("%8u %-16.16s %20llu %9llu %9s  ", pp.pid, pp.host,
		       (unsigned long long)pp.as_id, (unsigned long long)pp.granules,
		       size_str(pp.granules * gbytes, a, sizeof a));
	}
	for (uint32_t k = 0; k < pp.nr_nodes; k++) {
		struct lego_place_count c;
		memcpy(&c, page + *at, sizeof c);
		*at += sizeof c;
		if (json)
			printf("%s{\"node\":%u,\"granules\":%u,\"copies\":%u,\"bytes\":%llu}",
			       k ? "," : "", c.node_id, c.granules, c.copies,
			       (unsigned long long)(c.granules * gbytes));
		else if (c.copies != c.granules) /* replicas: primaries+replicas */
			printf("%s%u:%u+%u %s", k ? "  " : "", c.node_id, c.granules,
			       c.copies - c.granules, size_str(c.copies * gbytes, a, sizeof a));
		else
			printf("%s%u:%u %s", k ? "  " : "", c.node_id, c.granules,
			       size_str(c.granules * gbytes, a, sizeof a));
	}
	printf("%s", json ? "]}" : pp.nr_nodes ? "\n" : "-\n");
	return 0;
}

static int view_procs(struct rpc_peer *mon, const char *target, const char *arg, int json,
		      uint64_t to)
{
	struct lego_places_req req = {.pid = arg ? (uint32_t)strtoul(arg, NULL, 10) : 0};
	struct lego_places_rep rep;
	int first = 1;
	do {
		size_t len = 0;
		int r = rpc_call(mon, T2MON_PLACES, &req, sizeof req, page, sizeof page, &len, to);
		if (r == 0 && len < sizeof rep)
			r = -EBADMSG;
		memcpy(&rep, page, sizeof rep);
		/* nothing printed before the first reply: a pid that is not there
		 * gets only the message */
		if (r == 0 && first && json)
			putchar('[');
		else if (r == 0 && first)
			printf("%8s %-16s %20s %9s %9s  %s\n", "PID", "HOST", "AS ID", "GRANULES",
			       "SIZE", "WHERE (memnode:granules size)");
		size_t at = sizeof rep;
		for (uint32_t i = 0; r == 0 && i < rep.count; i++) {
			r = print_proc(len, &at, 1ull << rep.granule_order, json, first, &req.after);
			first = 0;
		}
		if (r) {
			if (!first && json)
				printf("]\n");
			fprintf(stderr, "legoctl: %s%s from monitor %s: %s\n",
				arg ? "process " : "processes", arg ? arg : "", target,
				r == -ESRCH ? "no such Lego process" : strerror(-r));
			return 1;
		}
	} while (rep.more && rep.count);
	if (json)
		printf("]\n");
	return 0;
}

int ctl_is_view(const char *cmd)
{
	return !strcmp(cmd, "status") || !strcmp(cmd, "nodes") || !strcmp(cmd, "procs");
}

int ctl_view(struct rpc_peer *mon, const char *target, const char *cmd, const char *arg,
	     int json, uint64_t timeout_ns)
{
	if (!strcmp(cmd, "status"))
		return view_status(mon, target, json, timeout_ns);
	if (!strcmp(cmd, "nodes"))
		return view_nodes(mon, target, json, timeout_ns);
	return view_procs(mon, target, arg, json, timeout_ns);
}

int ctl_drain(struct rpc_peer *mon, const char *target, uint32_t node, int wait, int json,
	      uint64_t timeout_ns)
{
	struct lego_drain_req req = {.node_id = node};
	struct lego_drain_rep rep;
	uint64_t t0 = lg_now_ns();
	for (;;) {
		int r = rpc_call_fixed(mon, T2MON_DRAIN, &req, sizeof req, &rep, sizeof rep, timeout_ns);
		if (r) {
			const char *why = r == -ENOENT	  ? "no such memnode"
					  : r == -EHOSTDOWN ? "it is down (its copies are re-replicated "
							      "from their replicas, not drained)"
					  : r == -ENOSPC    ? "no other memnode is up to take its granules"
							    : strerror(-r);
			fprintf(stderr, "legoctl: drain memnode %u (monitor %s): %s\n", node, target, why);
			return 1;
		}
		double secs = (double)(lg_now_ns() - t0) / 1e9;
		int done = rep.state == LEGO_NODE_LEFT;
		if (json && (done || !wait)) {
			printf("{\"node\":%u,\"state\":\"%s\",\"remaining\":%llu,\"moved\":%llu,"
			       "\"seconds\":%.1f}\n", node, node_state(rep.state),
			       (unsigned long long)rep.remaining, (unsigned long long)rep.moved, secs);
		} else if (!json) {
			printf("memnode %u: %s, %llu granule copies to move, %llu moved (%.1f s)\n", node,
			       done ? "drained, it has left the cluster" : "draining",
			       (unsigned long long)rep.remaining, (unsigned long long)rep.moved, secs);
			fflush(stdout);
		}
		if (done || !wait)
			return 0;
		sleep(1);
	}
}
