/*
 * The rest of the explicit API: start and stop, flush, counters, errors.
 * Also the exit hook: a Lego process frees its remote memory when it exits
 * (and, if it prints counters, does that first).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "lego/lego.h"
#include "runtime.h"
#include "stats.h"
#include "profile.h"

static const char *const lg_stat_names[] = {
#define N_(id, name, desc) name,
	LEGO_STATS_LIST(N_)
#undef N_
};

static const char *const lg_stat_descs[] = {
#define D_(id, name, desc) desc,
	LEGO_STATS_LIST(D_)
#undef D_
};

static const char *const lg_lat_names[LEGO_LAT__COUNT] = {"latency.miss", "latency.zero_fill",
							   "latency.writeback", "latency.rpc"};

int lego_init(void) { return lg_rt_start(); }

void lego_fini(void) { lg_rt_stop(); }

int lego_flush(void)
{
	int r = lg_rt_ready();
	if (r)
		return r;
	lg_sig_hold(); /* it takes the ExCache's set locks */
	r = xc_flush(lg_rt.xc);
	lg_sig_release();
	return r;
}

/* VmHWM of /proc/self/status, in bytes (0 if unreadable). */
static uint64_t lg_peak_rss(void)
{
	char buf[4096];
	if (lg_read_small("/proc/self/status", buf, sizeof buf) <= 0)
		return 0;
	const char *h = strstr(buf, "VmHWM:");
	return h ? strtoull(h + 6, NULL, 10) << 10 : 0;
}

int lego_stats(struct lego_stats *out)
{
	for (int i = 0; i < LEGO_STAT__COUNT; i++)
		out->v[i] = atomic_load_explicit(&lg_stat[i], memory_order_relaxed);
	out->v[LEGO_STAT_PEAK_RSS] = lg_peak_rss();
	/* the RPC counters are the client's own */
	int st = atomic_load_explicit(&lg_rt.state, memory_order_acquire);
	if ((st == LG_RT_RUNNING || st == LG_RT_STOPPED) && lg_rt.lc.cl) {
		struct rpc_client_stats rs;
		rpc_client_get_stats(lg_rt.lc.cl, &rs);
		out->v[LEGO_STAT_RPC_ERRORS] = rs.errors;
		out->v[LEGO_STAT_RPC_TIMEOUTS] = rs.timeouts;
		out->v[LEGO_STAT_RPC_STALE] = rs.stale;
		out->v[LEGO_STAT_RPC_RESENDS] = rs.resends;
		out->v[LEGO_STAT_RPC_DAMAGED] = rs.corrupt;
	}
	for (int i = 0; i < LEGO_LAT__COUNT; i++)
		lg_lat_summary((enum lego_lat)i, &out->lat[i]);
	return 0;
}

const char *lego_stat_name(enum lego_stat s)
{
	return (unsigned)s < LEGO_STAT__COUNT ? lg_stat_names[s] : "?";
}

const char *lego_stat_desc(enum lego_stat s)
{
	return (unsigned)s < LEGO_STAT__COUNT ? lg_stat_descs[s] : "?";
}

/* Per memnode: requests answered, failed, timed out, mean round trip; each
 * as fmt(key, value), whole entries only. */
static size_t lg_stats_per_node(char *buf, size_t cap, const char *fmt)
{
	size_t n = 0;
	if (atomic_load(&lg_rt.state) != LG_RT_RUNNING)
		return 0;
	for (int k = 0; k < lg_rt.lc.nmem && k < LC_MAX_MEMNODES; k++) {
		const struct lc_mem *m = &lg_rt.lc.mem[k];
		uint64_t calls = atomic_load(&m->peer.n_calls), busy = atomic_load(&m->peer.busy_ns);
		const struct {
			const char *name;
			uint64_t v;
		} kv[] = {{"rpcs", calls},
			  {"rpc_errors", atomic_load(&m->peer.n_errors)},
			  {"rpc_timeouts", atomic_load(&m->peer.n_timeouts)},
			  {"rpc_mean_ns", calls ? busy / calls : 0}};
		for (size_t i = 0; i < LG_ARRAY_SIZE(kv); i++) {
			char key[48];
			snprintf(key, sizeof key, "memnode.%u.%s", m->node_id, kv[i].name);
			size_t was = n;
			n = lg_bprintf(buf, cap, n, fmt, key, (unsigned long long)kv[i].v);
			if (n >= cap)
				return was;
		}
	}
	return n;
}

/* The counters as lego_stats_print prints them, into buf; at_exit (JSON
 * only, when not -1): whether they are the process's last (see
 * lg_stats_snapshot). */
static size_t lg_stats_format(char *buf, size_t cap, int json, int at_exit)
{
	struct lego_stats st;
	lego_stats(&st);
	size_t n = 0;
	if (json && at_exit >= 0)
		n = lg_bprintf(buf, cap, n, "{\"stats.at_exit\":%d,", at_exit);
	else if (json)
		n = lg_bprintf(buf, cap, n, "{");
	for (int i = 0; i < LEGO_STAT__COUNT; i++) {
		if (json)
			n = lg_bprintf(buf, cap, n, "%s\"%s\":%llu", i ? "," : "", lg_stat_names[i],
				       (unsigned long long)st.v[i]);
		else
			n = lg_bprintf(buf, cap, n, "%-28s %llu\n", lg_stat_names[i],
				       (unsigned long long)st.v[i]);
	}
	if (n < cap)
		n += lg_stats_per_node(buf + n, cap - n, json ? ",\"%s\":%llu" : "%-28s %llu\n");
	for (int i = 0; i < LEGO_LAT__COUNT; i++) {
		const struct lego_lat_summary *l = &st.lat[i];
		if (json)
			n = lg_bprintf(buf, cap, n,
				       ",\"%s\":{\"count\":%llu,\"p50_ns\":%llu,\"p99_ns\":%llu,"
				       "\"p999_ns\":%llu,\"max_ns\":%llu,\"mean_ns\":%llu}",
				       lg_lat_names[i], (unsigned long long)l->count,
				       (unsigned long long)l->p50_ns, (unsigned long long)l->p99_ns,
				       (unsigned long long)l->p999_ns, (unsigned long long)l->max_ns,
				       (unsigned long long)l->mean_ns);
		else
			n = lg_bprintf(buf, cap, n,
				       "%-28s n=%llu p50=%.1fus p99=%.1fus p99.9=%.1fus max=%.1fus "
				       "mean=%.1fus\n",
				       lg_lat_names[i], (unsigned long long)l->count, l->p50_ns / 1e3,
				       l->p99_ns / 1e3, l->p999_ns / 1e3, l->max_ns / 1e3, l->mean_ns / 1e3);
	}
	return json ? lg_bprintf(buf, cap, n, "}\n") : n;
}

#define LG_STATS_CAP 32768

void lego_stats_print(FILE *f, int json)
{
	char *buf = lg_local_alloc(LG_STATS_CAP);
	if (!buf)
		return;
	size_t n = lg_stats_format(buf, LG_STATS_CAP, json, -1);
	fwrite(buf, 1, LG_MIN(n, (size_t)LG_STATS_CAP - 1), f);
	lg_local_free(buf, LG_STATS_CAP);
}

/*
 * LEGO_STATS=FILE: the housekeeping thread writes the counters there every
 * second while the process runs ("stats.at_exit":0), and the process's
 * destructor the last ones ("stats.at_exit":1).  A program that ends
 * without running destructors (a Go program, whose runtime makes its own
 * exit_group; one that calls _exit) leaves the last second's.  Written to
 * a temporary file and renamed, so a reader never sees half of one; system
 * calls only (the housekeeping thread must not allocate).
 */
static pthread_mutex_t lg_snap_lock = PTHREAD_MUTEX_INITIALIZER;
static int lg_snap_done; /* the last ones are written: no more snapshots */
static char lg_snap_buf[LG_STATS_CAP];

/* LEGO_STATS if this process is to report (LEGO_STATS_PID), else NULL. */
static const char *lg_stats_mine(void)
{
	const char *st = lg_opt_s(&lg_rt.opts, LG_OPT_stats);
	int64_t only = lg_opt_i(&lg_rt.opts, LG_OPT_stats_pid);
	return st[0] && (!only || only == getpid()) ? st : NULL;
}

/* The file of LEGO_STATS=FILE, or NULL. */
static const char *lg_stats_file(void)
{
	const char *st = lg_stats_mine();
	return st && strcmp(st, "1") != 0 ? st : NULL;
}

static void lg_stats_write(const char *path, int at_exit)
{
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid()) >= sizeof tmp)
		return;
	size_t n = LG_MIN(lg_stats_format(lg_snap_buf, sizeof lg_snap_buf, 1, at_exit),
			  sizeof lg_snap_buf - 1);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		if (at_exit)
			lg_log(LG_WARN, "stats", "cannot write %s: %s", tmp, strerror(errno));
		return;
	}
	int ok = write(fd, lg_snap_buf, n) == (ssize_t)n;
	ok &= close(fd) == 0;
	if (ok && rename(tmp, path) == 0)
		return;
	if (at_exit)
		lg_log(LG_WARN, "stats", "cannot write %s: %s", path, strerror(errno));
	unlink(tmp);
}

void lg_stats_snapshot(void)
{
	const char *path = lg_stats_file();
	if (!path)
		return;
	pthread_mutex_lock(&lg_snap_lock);
	if (!lg_snap_done)
		lg_stats_write(path, 0);
	pthread_mutex_unlock(&lg_snap_lock);
}

size_t lg_stats_text(char *buf, size_t cap)
{
	struct lego_stats st;
	lego_stats(&st);
	size_t n = lg_bprintf(buf, cap, 0, "excache.line_bytes:%llu\nexcache.capacity_bytes:%llu\n",
			      (unsigned long long)lg_opt_u(&lg_rt.opts, LG_OPT_excache_line),
			      (unsigned long long)lg_opt_u(&lg_rt.opts, LG_OPT_excache_size));
	for (int i = 0; i < LEGO_STAT__COUNT; i++)
		n = lg_bprintf(buf, cap, n, "%s:%llu\n", lg_stat_names[i],
			       (unsigned long long)st.v[i]);
	for (int i = 0; i < LEGO_LAT__COUNT; i++) {
		const struct lego_lat_summary *l = &st.lat[i];
		n = lg_bprintf(buf, cap, n, "%s.count:%llu\n%s.p50_ns:%llu\n%s.p99_ns:%llu\n"
			       "%s.mean_ns:%llu\n", lg_lat_names[i], (unsigned long long)l->count,
			       lg_lat_names[i], (unsigned long long)l->p50_ns, lg_lat_names[i],
			       (unsigned long long)l->p99_ns, lg_lat_names[i],
			       (unsigned long long)l->mean_ns);
	}
	return n + lg_stats_per_node(buf + n, cap - n, "%s:%llu\n");
}

const char *lego_strerror(int err)
{
	if (err < 0)
		err = -err;
	switch (err) {
	case 0: return "success";
	case ENOMEM: return "no memnode has room for this memory";
	case ETIMEDOUT: return "a memnode or the monitor did not answer in time";
	case EACCES: return "refused: cluster key or capability mismatch";
	case ESHUTDOWN: return "Lego has been stopped";
	case EPROTONOSUPPORT: return "peer speaks another Lego protocol version";
	}
	return strerror(err);
}

/*
 * At exit: the fault-site profile and the counters, if asked for.  The
 * runtime keeps serving faults: destructors that run after this one (other
 * libraries', in any order) may still touch remote memory.  The memory is
 * freed once the process is gone: a monitor on the same host sees that at
 * once, one elsewhere when the lease runs out.  lego_fini() frees it at once.
 */
__attribute__((destructor(101))) static void lg_at_exit(void)
{
	if (lg_rt_vforked())
		return; /* a vforked child's exit: the counters are its parent's */
	if (atomic_load(&lg_rt_deferred)) {
		/* never started (runtime.h): there are no counters to print */
		if (lg_stats_mine())
			lg_log(LG_WARN, "stats", "%s took less than LEGO_LOCAL_START and never started "
			       "its runtime: all its memory was local, and there are no counters",
			       program_invocation_short_name);
		return;
	}
	if (atomic_load(&lg_rt.state) != LG_RT_RUNNING)
		return;
	lg_prof_report();
	const char *st = lg_stats_mine(), *path = lg_stats_file();
	if (path) {
		pthread_mutex_lock(&lg_snap_lock);
		lg_snap_done = 1;
		lg_stats_write(path, 1);
		pthread_mutex_unlock(&lg_snap_lock);
	} else if (st) {
		FILE *f = fdopen(dup(lg_rt.err_fd), "w");
		if (f) {
			lego_stats_print(f, 0);
			fclose(f);
		}
	}
}
