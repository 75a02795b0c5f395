/*
 * lego-bench-rpc: raw request round trips to a memnode, without the
 * ExCache: 1-line READs and WRITE batches, synchronous, one at a time.
 *
 *   lego-bench-rpc [--monitor HOST:PORT] [--fabric tcp|shm] [--line SIZE]
 *                  [--count N] [--batch LINES]
 *
 * Without --monitor it starts the embedded monitor and memnode.  Prints
 * median and p99 of each request type, in microseconds.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/options.h"
#include "common/util.h"
#include "liblego/client.h"
#include "liblego/embed.h"

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *what, uint64_t *ns, size_t n)
{
	qsort(ns, n, sizeof *ns, cmp_u64);
	printf("%-28s median %8.2f us   p99 %8.2f us   (n=%zu)\n", what, ns[n / 2] / 1e3,
	       ns[n * 99 / 100] / 1e3, n);
}

int main(int argc, char **argv)
{
	struct lg_opts o;
	char err[256];
	if (lg_opts_load(&o, 'C', err, sizeof err) < 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	size_t count = 20000, batch = 16;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--count") && i + 1 < argc)
			count = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
			batch = strtoull(argv[++i], NULL, 0);
		else if (!strncmp(argv[i], "--", 2) && i + 1 < argc &&
			 lg_opts_set(&o, argv[i] + 2, argv[i + 1], 3, err, sizeof err) == 0)
			i++;
		else {
			fprintf(stderr, "usage: %s [--monitor H:P] [--fabric P] [--excache-line S] "
				"[--count N] [--batch N]\n", argv[0]);
			return 2;
		}
	}
	lg_set_level((int)lg_opt_u(&o, LG_OPT_log_level));
	struct lg_embed emb = {.parent_w = -1};
	const char *mon = lg_opt_s(&o, LG_OPT_monitor);
	if (!mon[0]) {
		if (lg_embed_start(&emb, &o, 0))
			return 1;
		mon = emb.addr;
	}
	uint64_t line = lg_opt_u(&o, LG_OPT_excache_line);
	uint32_t lo = (uint32_t)__builtin_ctzll(line);
	static struct lc lc;
	int rs = lc_start(&lc, mon, lg_opt_s(&o, LG_OPT_cluster_key), (int)lg_opt_u(&o, LG_OPT_fabric),
			 lo, 5000000000ull, 5000000000ull);
	if (rs) {
		fprintf(stderr, "rpc_bench: cannot reach the monitor at %s: %s\n", mon, strerror(-rs));
		return 1;
	}
	int e = 0;
	struct rpc_peer *mirror = NULL;
	struct rpc_peer *p = lc_place(&lc, 0, &mirror, &e);
	if (!p)
		return 1;
	struct lego_reserve_req rr = {.as = lc.as, .delta = (int64_t)(count + batch) * (int64_t)line};
	if (rpc_call(p, P2M_RESERVE, &rr, sizeof rr, NULL, 0, NULL, lc.timeout_ns))
		return 1;
	uint64_t *ns = calloc(count, sizeof *ns);
	uint8_t *buf = malloc(batch * line + 4096);
	memset(buf, 0x5a, batch * line);
	struct {
		struct lego_lines_req req;
		struct lego_line_ref refs[LEGO_BATCH_MAX];
	} w;
	w.req.as = lc.as;
	/* writes, one line per request */
	for (size_t i = 0; i < count; i++) {
		w.req.count = 1;
		w.refs[0] = (struct lego_line_ref){i, i + 1};
		struct iovec iov[2] = {{&w, sizeof w.req + sizeof w.refs[0]}, {buf, line}};
		uint8_t msg[sizeof w.req + sizeof w.refs[0]];
		memcpy(msg, iov[0].iov_base, sizeof msg);
		uint8_t *body = malloc(sizeof msg + line);
		memcpy(body, msg, sizeof msg);
		memcpy(body + sizeof msg, buf, line);
		uint64_t t0 = lg_now_ns();
		int r = rpc_call(p, P2M_WRITE, body, sizeof msg + line, NULL, 0, NULL, lc.timeout_ns);
		ns[i] = lg_now_ns() - t0;
		free(body);
		if (r) {
			fprintf(stderr, "write: %s\n", strerror(-r));
			return 1;
		}
	}
	char what[64];
	snprintf(what, sizeof what, "write 1 x %zu B", (size_t)line);
	report(what, ns, count);
	/* reads, one line per request */
	struct {
		struct lego_lines_req req;
		struct lego_line_ref ref;
	} rd = {.req = {.as = lc.as, .count = 1}};
	for (size_t i = 0; i < count; i++) {
		rd.ref.line = (i * 7919) % count;
		size_t rl = 0;
		uint64_t t0 = lg_now_ns();
		int r = rpc_call(p, P2M_READ, &rd, sizeof rd, buf, line, &rl, lc.timeout_ns);
		ns[i] = lg_now_ns() - t0;
		if (r || rl != line) {
			fprintf(stderr, "read: %s\n", strerror(-r));
			return 1;
		}
	}
	snprintf(what, sizeof what, "read 1 x %zu B", (size_t)line);
	report(what, ns, count);
	/* write batches */
	size_t nb = count / batch;
	uint8_t *body = malloc(sizeof w.req + batch * sizeof w.refs[0] + batch * line);
	for (size_t i = 0; i < nb; i++) {
		w.req.count = (uint32_t)batch;
		for (size_t k = 0; k < batch; k++)
			w.refs[k] = (struct lego_line_ref){i * batch + k, count + i + 1};
		size_t hl = sizeof w.req + batch * sizeof w.refs[0];
		memcpy(body, &w, hl);
		memcpy(body + hl, buf, batch * line);
		uint64_t t0 = lg_now_ns();
		int r = rpc_call(p, P2M_WRITE, body, hl + batch * line, NULL, 0, NULL, lc.timeout_ns);
		ns[i] = lg_now_ns() - t0;
		if (r) {
			fprintf(stderr, "write batch: %s\n", strerror(-r));
			return 1;
		}
	}
	snprintf(what, sizeof what, "write %zu x %zu B", batch, (size_t)line);
	report(what, ns, nb);
	lc_stop(&lc);
	if (!lg_opt_s(&o, LG_OPT_monitor)[0])
		lg_embed_stop(&emb);
	return 0;
}
