/* Monitor registry (see registry.h). */
#define _GNU_SOURCE
#include "registry.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/auth.h"
#include "common/log.h"
#include "common/util.h"

int mon_reg_init(struct mon_reg *r, uint32_t granule_order, uint64_t lease_ns,
		 uint64_t node_timeout_ns)
{
	memset(r, 0, sizeof *r);
	int e = lg_random(r->secret, sizeof r->secret);
	if (e)
		return e;
	/* ids differ between monitor runs, so a stale capability never names a
	 * new address space */
	uint32_t hi;
	lg_random(&hi, sizeof hi);
	r->as_seq = (uint64_t)(hi | 1u) << 32;
	r->granule_order = granule_order;
	r->lease_ns = lease_ns;
	r->node_timeout_ns = node_timeout_ns;
	r->start_ns = lg_now_ns();
	return 0;
}

void mon_reg_fini(struct mon_reg *r)
{
	for (uint32_t i = 0; i < r->nprocs; i++) {
		free(r->procs[i]->places);
		free(r->procs[i]->stats);
		free(r->procs[i]);
	}
	free(r->procs);
	free(r->nodes);
	free(r->stores);
	memset(r, 0, sizeof *r);
}

static void mon_queue_free(struct mon_node *n, uint64_t as_id)
{
	if (n->npending < LG_ARRAY_SIZE(n->pending_free))
		n->pending_free[n->npending++] = as_id;
	else
		lg_log_rl(LG_WARN, "monitor", "free queue of memnode %u full; address space %llu "
			  "is freed when its memnode notices", n->id, (unsigned long long)as_id);
}

/* Queue as_id to be freed on n (if not NULL), once: address-space ids
 * never repeat, so freed_as marks the nodes already queued without a pass
 * to clear it. */
static void mon_free_once(struct mon_node *n, uint64_t as_id)
{
	if (n && n->freed_as != as_id) {
		n->freed_as = as_id;
		mon_queue_free(n, as_id);
	}
}

/* When process pid of this host started (field 22 of /proc/PID/stat, in
 * clock ticks since boot), and its state (field 3) in *state if not
 * NULL; 0 if there is no such process. */
static uint64_t mon_pid_start(uint32_t pid, char *state)
{
	char path[32], buf[1024];
	snprintf(path, sizeof path, "/proc/%u/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return 0;
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *s = strrchr(buf, ')'); /* the name may hold spaces and parentheses */
	char st = 0;
	unsigned long long start = 0;
	if (!s || sscanf(s + 1, " %c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d "
			 "%*d %*d %*d %llu", &st, &start) != 2)
		return 0;
	if (state)
		*state = st;
	return start;
}

/* Is the process that registered as pid, started at `start` (0: not on
 * this host, or unknown), still there?  Its state in *state.  A zombie is
 * not: it has exited, and its parent may not reap it before something the
 * daemons hold ends (a shell reading `$(cmd)` to its end while embedded
 * daemons kept cmd's output open waited for ever). */
static int mon_pid_is(uint32_t pid, uint64_t start, char *state)
{
	char st = 0;
	if (!pid || !start || mon_pid_start(pid, &st) != start || st == 'Z' || st == 'X')
		return 0;
	if (state)
		*state = st;
	return 1;
}

/* Add a node to a table (memnodes or storenodes); one restarting on the
 * same address replaces its old entry.  NULL if out of memory. */
static struct mon_node *mon_table_add(struct mon_node **tab, uint32_t *n, uint32_t *cap,
				      const struct lego_node_addr *a, uint64_t capacity,
				      const char *what)
{
	for (uint32_t i = 0; i < *n; i++) {
		struct mon_node *o = &(*tab)[i];
		if (o->up && o->addr.net_len == a->net_len &&
		    memcmp(o->addr.net, a->net, a->net_len) == 0) {
			lg_log(LG_WARN, "monitor", "%s %u re-registered; old entry marked down", what,
			       o->id);
			o->up = 0;
		}
	}
	if (*n == *cap) {
		uint32_t nc = *cap ? *cap * 2 : 8;
		struct mon_node *nt = realloc(*tab, nc * sizeof *nt);
		if (!nt)
			return NULL;
		*tab = nt;
		*cap = nc;
	}
	struct mon_node *e = &(*tab)[*n];
	memset(e, 0, sizeof *e);
	e->id = ++*n;
	e->up = 1;
	e->addr = *a;
	e->addr.node_id = e->id;
	e->capacity = capacity;
	e->last_hb_ns = lg_now_ns();
	return e;
}

/* A node whose process runs on this host but is silent: declared down
 * after this many timeouts. */
#define MON_RUNNING_GRACE 10

/* Mark the nodes of a table whose heartbeats stopped down. */
static void mon_table_expire(struct mon_node *tab, uint32_t n, uint64_t now, uint64_t timeout,
			     const char *what, uint64_t *down)
{
	for (uint32_t i = 0; i < n; i++) {
		struct mon_node *e = &tab[i];
		if (!e->up || now - e->last_hb_ns <= timeout)
			continue;
		/* On this host, its process says more than its silence: stopped
		 * (SIGSTOP, a debugger) or running (a loop held up by a busy
		 * host, or by a queue lock a dead process left, which the shm
		 * doctor releases within about a second), it is not dead, and
		 * declared down, every process whose only copy it holds would
		 * stop while its memory is intact.  Stopped, never; running,
		 * not for ten timeouts: silent that long, its loop is taken
		 * for stuck for good. */
		char st = 0;
		uint64_t silent = now - e->last_hb_ns;
		if (mon_pid_is(e->pid, e->start, &st)) {
			int stopped = st == 'T' || st == 't';
			if (stopped || silent <= MON_RUNNING_GRACE * timeout) {
				if (!e->stalled)
					lg_log(LG_WARN, "monitor", "%s %u (%s) missed heartbeats for %llu "
					       "ms, but its process %u is %s on this host: not declared "
					       "down%s", what, e->id, e->addr.shm[0] ? e->addr.shm : "net",
					       (unsigned long long)(silent / 1000000), e->pid,
					       stopped ? "stopped" : "running", stopped ? "" : " yet");
				e->stalled = 1;
				continue;
			}
		}
		e->up = 0;
		if (e->left)
			continue; /* drained and gone, as told */
		lg_log(LG_WARN, "monitor", "%s %u (%s) missed heartbeats for %llu ms: down", what,
		       e->id, e->addr.shm[0] ? e->addr.shm : "net",
		       (unsigned long long)(silent / 1000000));
		(*down)++;
	}
}

struct mon_node *mon_node_register(struct mon_reg *r, const struct lego_node_addr *a,
				   uint64_t capacity)
{
	return mon_table_add(&r->nodes, &r->nnodes, &r->cap_nodes, a, capacity, "memnode");
}

struct mon_node *mon_node_get(struct mon_reg *r, uint32_t id)
{
	return id >= 1 && id <= r->nnodes ? &r->nodes[id - 1] : NULL;
}

void mon_node_alive(struct mon_node *n, uint32_t pid)
{
	if (n->stalled) {
		lg_log(LG_INFO, "monitor", "node %u heart-beats again", n->id);
		n->stalled = 0;
	}
	if (pid != n->pid) {
		n->pid = pid;
		n->start = pid && strncmp(n->addr.host_id, lg_host_id(), sizeof n->addr.host_id) == 0
				   ? mon_pid_start(pid, NULL)
				   : 0;
	}
}

void mon_node_heartbeat(struct mon_node *n, const struct lego_m2mon_heartbeat_req *hb,
			uint64_t now)
{
	if (!n->up && !n->left) {
		lg_log(LG_WARN, "monitor", "memnode %u is back", n->id);
		n->up = 1;
	}
	mon_node_alive(n, hb->pid);
	/* The rate covers the interval between two reports; a counter that
	 * went backwards (it cannot, short of a bug) starts over. */
	uint64_t bytes = hb->read_bytes + hb->write_bytes;
	uint64_t prev = n->read_bytes + n->write_bytes;
	if (n->traffic_ns && now > n->traffic_ns) {
		double rate = bytes >= prev ? (double)(bytes - prev) * 1e9 /
					      (double)(now - n->traffic_ns) : 0;
		/* a memnode's figures come off the wire: any rate must fit */
		n->traffic = rate < 0x1p64 ? (uint64_t)rate : UINT64_MAX;
	}
	n->read_bytes = hb->read_bytes;
	n->write_bytes = hb->write_bytes;
	n->traffic_ns = now;
	n->last_hb_ns = now;
	n->capacity = hb->capacity;
	n->reserved = hb->reserved;
	n->stored = hb->stored;
	n->nr_as = hb->nr_as;
	n->unreported = 0; /* `reserved` now counts what was placed before */
}

struct mon_node *mon_store_register(struct mon_reg *r, const struct lego_node_addr *a,
				    uint64_t capacity)
{
	return mon_table_add(&r->stores, &r->nstores, &r->cap_stores, a, capacity, "storenode");
}

struct mon_node *mon_store_get(struct mon_reg *r, uint32_t id)
{
	return id >= 1 && id <= r->nstores ? &r->stores[id - 1] : NULL;
}

struct mon_node *mon_store_serving(struct mon_reg *r)
{
	for (uint32_t i = 0; i < r->nstores; i++)
		if (r->stores[i].up)
			return &r->stores[i];
	return NULL;
}

struct mon_node *mon_files_node(struct mon_reg *r, const char *host_id)
{
	struct mon_node *first = NULL;
	for (uint32_t i = 0; i < r->nnodes; i++) { /* ids ascend with the index */
		struct mon_node *n = &r->nodes[i];
		if (!n->up)
			continue;
		if (host_id[0] && strncmp(n->addr.host_id, host_id, sizeof n->addr.host_id) == 0)
			return n;
		if (!first)
			first = n;
	}
	return first;
}

void mon_proc_set_pid(struct mon_proc *p, uint32_t pid)
{
	p->pid = pid;
	p->start = p->local && pid ? mon_pid_start(pid, NULL) : 0;
}

struct mon_proc *mon_proc_register(struct mon_reg *r, uint32_t pid, const char *host,
				   int local, uint32_t line_order, uint64_t quota)
{
	if (r->nprocs == r->cap_procs) {
		uint32_t nc = r->cap_procs ? r->cap_procs * 2 : 16;
		struct mon_proc **np = realloc(r->procs, nc * sizeof *np);
		if (!np)
			return NULL;
		r->procs = np;
		r->cap_procs = nc;
	}
	struct mon_proc *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	p->as_id = ++r->as_seq;
	snprintf(p->host, sizeof p->host, "%.*s", (int)strnlen(host, LEGO_HOST_MAX), host);
	p->local = local;
	mon_proc_set_pid(p, pid);
	p->line_order = line_order;
	p->quota = quota;
	p->last_ns = lg_now_ns();
	/* an earlier image of this process (before an exec: same pid, same
	 * start time) is gone: its lease decides, not its pid */
	for (uint32_t i = 0; p->start && i < r->nprocs; i++)
		if (r->procs[i]->pid == p->pid && r->procs[i]->start == p->start)
			r->procs[i]->start = 0;
	r->procs[r->nprocs++] = p;
	r->procs_registered++;
	return p;
}

struct mon_proc *mon_proc_fork(struct mon_reg *r, struct mon_proc *p)
{
	struct mon_proc *c = mon_proc_register(r, 0, p->host, p->local, p->line_order, p->quota);
	if (c)
		c->replicas = p->replicas;
	if (!c)
		return NULL;
	memcpy(c->host_id, p->host_id, sizeof c->host_id);
	if (p->nplaces) {
		c->places = malloc(p->nplaces * sizeof *c->places);
		if (!c->places) {
			mon_proc_remove(r, c, "could not be created");
			return NULL;
		}
		memcpy(c->places, p->places, p->nplaces * sizeof *c->places);
		memcpy(c->gone, p->gone, sizeof c->gone);
		c->ngone = p->ngone;
		c->nplaces = c->cap_places = p->nplaces;
		for (uint32_t k = 0; k < p->nplaces; k++)
			for (int j = 0; j < MON_REPLICAS_MAX; j++) {
				struct mon_node *n = mon_node_get(r, p->places[k].node[j]);
				if (n)
					n->placed++;
			}
	}
	return c;
}

void mon_proc_cap(struct mon_reg *r, const struct mon_proc *p, struct lego_as_ref *ref)
{
	memset(ref, 0, sizeof *ref);
	ref->as_id = p->as_id;
	ref->line_order = p->line_order;
	ref->quota = p->quota;
	lg_cap_make(r->secret, p->as_id, p->line_order, p->quota, ref->cap);
}

struct mon_proc *mon_proc_find(struct mon_reg *r, const struct lego_as_ref *ref)
{
	for (uint32_t i = 0; i < r->nprocs; i++) {
		struct mon_proc *p = r->procs[i];
		if (p->as_id != ref->as_id)
			continue;
		struct lego_as_ref want;
		mon_proc_cap(r, p, &want);
		if (lg_memeq_ct(want.cap, ref->cap, LEGO_CAP_LEN) != 0 ||
		    want.line_order != ref->line_order || want.quota != ref->quota)
			return NULL;
		return p;
	}
	return NULL;
}

void mon_proc_remove(struct mon_reg *r, struct mon_proc *p, const char *why)
{
	lg_log(LG_INFO, "monitor", "process %u on %s (address space %llu) %s; freeing its memory",
	       p->pid, p->host, (unsigned long long)p->as_id, why);
	/* every memnode that holds a granule (or a replica of one) frees the
	 * address space */
	for (uint32_t k = 0; k < p->nplaces; k++)
		for (int j = 0; j < MON_REPLICAS_MAX; j++) {
			struct mon_node *n = mon_node_get(r, p->places[k].node[j]);
			if (!n)
				continue;
			n->placed -= n->placed ? 1 : 0;
			mon_free_once(n, p->as_id);
		}
	/* and the partial copies of moves under way, and the copies on
	 * memnodes that died (they may come back) */
	for (uint32_t k = 0; k < p->nplaces; k++)
		if (p->places[k].move_to)
			mon_free_once(mon_node_get(r, p->places[k].move_to), p->as_id);
	for (uint32_t i = 0; i < p->ngone; i++)
		mon_free_once(mon_node_get(r, p->gone[i]), p->as_id);
	int shared = 0;
	for (uint32_t i = 0; i < r->nprocs; i++) {
		if (r->procs[i] == p) {
			r->procs[i] = r->procs[--r->nprocs];
			i--;
		} else if (p->conn && r->procs[i]->conn == p->conn) {
			shared = 1;
		}
	}
	if (p->conn && !shared && r->conn_gone)
		r->conn_gone(r->conn_gone_arg, p->conn);
	free(p->places);
	free(p->stats);
	free(p);
}

/* The monitor did not run for `gap` ns: what it did not hear meanwhile
 * does not count against anyone. */
static void mon_reg_forgive(struct mon_reg *r, uint64_t now, uint64_t gap)
{
	lg_log(LG_WARN, "monitor", "the monitor did not run for %llu ms (a stalled or overloaded "
	       "host); leases and heartbeats are extended by as much",
	       (unsigned long long)(gap / 1000000));
	for (uint32_t i = 0; i < r->nprocs; i++)
		r->procs[i]->last_ns = LG_MIN(r->procs[i]->last_ns + gap, now);
	for (uint32_t i = 0; i < r->nnodes; i++)
		r->nodes[i].last_hb_ns = LG_MIN(r->nodes[i].last_hb_ns + gap, now);
	for (uint32_t i = 0; i < r->nstores; i++)
		r->stores[i].last_hb_ns = LG_MIN(r->stores[i].last_hb_ns + gap, now);
}

void mon_reg_tick(struct mon_reg *r, uint64_t now)
{
	if (r->last_tick_ns && now > r->last_tick_ns + MON_STALL_NS)
		mon_reg_forgive(r, now, now - r->last_tick_ns - MON_TICK_NS);
	r->last_tick_ns = now;
	for (uint32_t i = 0; i < r->nprocs;) {
		struct mon_proc *p = r->procs[i];
		if (now - p->last_ns > r->lease_ns) {
			if (!mon_pid_is(p->pid, p->start, NULL)) {
				r->procs_expired++;
				mon_proc_remove(r, p, "stopped renewing its lease");
				continue; /* the array shifted */
			}
			/* Still running here: its memory is its own for as long
			 * as it lives.  A process stopped (^Z, SIGSTOP, a
			 * debugger) renews nothing, and must find its memory
			 * when it goes on. */
			if (!p->lapsed)
				lg_log(LG_WARN, "monitor", "process %u (address space %llu) stopped "
				       "renewing its lease but is still running on this host "
				       "(stopped, or in a debugger?): its memory is kept until it "
				       "exits", p->pid, (unsigned long long)p->as_id);
			p->lapsed = 1;
		}
		/* a process on this host that is gone need not wait for its
		 * lease: its pid no longer there (looked at every tick, one
		 * system call), or, once it has missed a renewal, a zombie or
		 * the pid of a later process (/proc, only then) */
		int late = now - p->last_ns > r->lease_ns / 4; /* its interval */
		if (p->local && p->pid &&
		    ((kill((pid_t)p->pid, 0) < 0 && errno == ESRCH) ||
		     (late && p->start && !mon_pid_is(p->pid, p->start, NULL)))) {
			r->procs_exited++;
			mon_proc_remove(r, p, "is gone");
			continue;
		}
		i++;
	}
	mon_table_expire(r->nodes, r->nnodes, now, r->node_timeout_ns, "memnode", &r->nodes_down);
	mon_table_expire(r->stores, r->nstores, now, r->node_timeout_ns, "storenode",
			 &r->stores_down);
	mon_moves_plan(r, now);
}
