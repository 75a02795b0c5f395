/*
 * The comparison workload, an ordinary program that knows nothing of Lego:
 * it maps W bytes of anonymous memory, fills it, then runs OPS operations
 * on 8-byte words at page granularity, chosen sequentially, uniformly at
 * random or by a zipf(0.99) law over pages, reading or (with --writes P)
 * writing P% of the time, from 1 or more threads.  It prints one line:
 *
 *   workload <pattern> w=<MiB> threads=<n> writes=<p>% ops=<n> secs=<s>
 *            ops_per_s=<x> gb_per_s=<y> checksum=<hex>
 *
 * The checksum depends only on the arguments (each thread has its own
 * deterministic sequence over its own part of the pages), so native runs,
 * runs under Lego and runs under Linux swapping must print the same one.
 * GB/s counts a 4 KiB page per operation (what each operation makes the
 * memory system move when it misses).
 *
 * --stop-file PATH (one thread only) ends the operations early once PATH
 * exists, looked at every 4096 operations; ops= then says how many were
 * done, and a run with --ops that many prints the same checksum.  Tests
 * use it to keep a process working until what they check is over.
 * --ready-file PATH is created once the memory is filled, as the
 * operations begin (tests that act on a process in its steady state).
 */
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

enum pattern { SEQ, UNIFORM, ZIPF };

static struct {
	enum pattern pat;
	size_t w, pages;
	uint64_t ops;
	int threads, writes;
	const char *stop_file, *ready_file;
	uint64_t *mem;
	double zeta_n, zipf_eta, zipf_alpha; /* Gray et al.'s zipf generator */
} g = {.pat = UNIFORM, .w = (size_t)1 << 30, .ops = 2000000, .threads = 1};

#define THETA 0.99

static uint64_t next(uint64_t *s)
{
	uint64_t x = (*s += 0x9e3779b97f4a7c15ULL);
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static double unit(uint64_t *s) { return (double)(next(s) >> 11) * 0x1.0p-53; }

/* zipf over [0, n): rank 0 the most popular; O(1) memory (the table of a
 * 1 GiB working set would itself be memory under test) */
static void zipf_init(size_t n)
{
	double z = 0;
	for (size_t i = 1; i <= n; i++)
		z += 1.0 / pow((double)i, THETA);
	double zeta2 = 1.0 + 1.0 / pow(2.0, THETA);
	g.zeta_n = z;
	g.zipf_alpha = 1.0 / (1.0 - THETA);
	g.zipf_eta = (1.0 - pow(2.0 / (double)n, 1.0 - THETA)) / (1.0 - zeta2 / z);
}

static size_t zipf(uint64_t *s, size_t n)
{
	double u = unit(s), uz = u * g.zeta_n;
	if (uz < 1.0)
		return 0;
	if (uz < 1.0 + pow(0.5, THETA))
		return 1;
	size_t r = (size_t)((double)n * pow(g.zipf_eta * u - g.zipf_eta + 1.0, g.zipf_alpha));
	return r < n ? r : n - 1;
}

struct worker {
	int id;
	uint64_t sum;
	pthread_t th;
};

static void *run(void *arg)
{
	struct worker *wk = arg;
	uint64_t rng = 0x1234 + (uint64_t)wk->id * 7919, sum = 0;
	size_t lo = g.pages * (size_t)wk->id / (size_t)g.threads;
	size_t hi = g.pages * (size_t)(wk->id + 1) / (size_t)g.threads, n = hi - lo;
	uint64_t ops = g.ops / (uint64_t)g.threads;
	size_t seq = 0;
	for (uint64_t i = 0; i < ops; i++) {
		if (g.stop_file && i % 4096 == 0 && i && access(g.stop_file, F_OK) == 0) {
			g.ops = i;
			break;
		}
		size_t page;
		switch (g.pat) {
		case SEQ: page = seq++ % n; break;
		case UNIFORM: page = next(&rng) % n; break;
		default: /* scatter the ranks so hot pages are not neighbours */
			page = (zipf(&rng, n) * 2654435761u) % n;
		}
		uint64_t r = next(&rng);
		uint64_t *word = &g.mem[(lo + page) * 512 + r % 512];
		/* unsigned: (int)(r >> 32) % 100 was negative half the time, so
		 * "--writes 0" wrote on half the operations */
		if ((r >> 32) % 100 < (uint64_t)g.writes)
			*word += r | 1;
		else
			sum = sum * 31 + *word;
	}
	wk->sum = sum;
	return NULL;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static size_t size_arg(const char *s)
{
	char *e;
	double v = strtod(s, &e);
	switch (*e) {
	case 'G': case 'g': v *= 1024;      /* fall through */
	case 'M': case 'm': v *= 1024;      /* fall through */
	case 'K': case 'k': v *= 1024;
	}
	return (size_t)v;
}

int main(int argc, char **argv)
{
	for (int i = 1; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];
		if (!strcmp(a, "--pattern"))
			g.pat = !strcmp(v, "seq") ? SEQ : !strcmp(v, "zipf") ? ZIPF : UNIFORM;
		else if (!strcmp(a, "--ws"))
			g.w = size_arg(v);
		else if (!strcmp(a, "--ops"))
			g.ops = strtoull(v, NULL, 10);
		else if (!strcmp(a, "--threads"))
			g.threads = atoi(v);
		else if (!strcmp(a, "--writes"))
			g.writes = atoi(v);
		else if (!strcmp(a, "--stop-file"))
			g.stop_file = v;
		else if (!strcmp(a, "--ready-file"))
			g.ready_file = v;
		else {
			fprintf(stderr, "usage: %s [--pattern seq|uniform|zipf] [--ws SIZE] [--ops N] "
				"[--threads N] [--writes PCT] [--stop-file PATH] [--ready-file PATH]\n",
				argv[0]);
			return 2;
		}
	}
	if (g.threads < 1 || g.threads > 64 || g.w < 4096 * (size_t)g.threads ||
	    (g.stop_file && g.threads != 1))
		return 2;
	g.pages = g.w / 4096;
	g.mem = mmap(NULL, g.pages * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (g.mem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	for (size_t i = 0; i < g.pages * 512; i += 8) /* every page, every cache line */
		g.mem[i] = i * 0x9e3779b97f4a7c15ULL;
	if (g.pat == ZIPF)
		zipf_init(g.pages / (size_t)g.threads);
	if (g.ready_file) {
		FILE *f = fopen(g.ready_file, "w");
		if (!f) {
			perror(g.ready_file);
			return 1;
		}
		fputs("filled\n", f);
		fclose(f);
	}
	struct worker wk[64];
	double t0 = now();
	for (int i = 0; i < g.threads; i++) {
		wk[i].id = i;
		pthread_create(&wk[i].th, NULL, run, &wk[i]);
	}
	uint64_t sum = 0;
	for (int i = 0; i < g.threads; i++) {
		pthread_join(wk[i].th, NULL);
		sum ^= wk[i].sum * (uint64_t)(i + 1);
	}
	double secs = now() - t0;
	/* writes count too: fold the written words in (not timed) */
	if (g.writes)
		for (size_t i = 0; i < g.pages * 512; i += 61)
			sum = sum * 31 + g.mem[i];
	static const char *names[] = {"seq", "uniform", "zipf"};
	printf("workload %s w=%zu threads=%d writes=%d%% ops=%llu secs=%.3f ops_per_s=%.0f "
	       "gb_per_s=%.3f checksum=%016llx\n",
	       names[g.pat], g.w >> 20, g.threads, g.writes, (unsigned long long)g.ops, secs,
	       (double)g.ops / secs, (double)g.ops * 4096 / secs / 1e9, (unsigned long long)sum);
	return 0;
}
