/*
 * bigarray: the explicit API end to end.  Allocates SIZE bytes (default
 * 1 GiB) with lego_alloc, has THREADS threads (default 4) write a seeded
 * pattern into their slices, then read everything back and check every
 * word.  With LEGO_EXCACHE_SIZE=64M the process keeps at most 64 MiB of it
 * locally; the rest lives on the memnode.
 *
 *   lego-example-bigarray [SIZE] [THREADS] [SEED]
 *
 * Exit status 0 when every word read back is the one written.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <lego/lego.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t *arr;
static size_t nwords;
static int nthreads;
static uint64_t seed;

struct part {
	size_t lo, hi;
	uint64_t sum, bad;
};

static inline uint64_t pattern(uint64_t i)
{
	uint64_t z = (seed ^ i) + 0x9e3779b97f4a7c15ull; /* splitmix64 */
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static void *writer(void *a)
{
	struct part *p = a;
	for (size_t i = p->lo; i < p->hi; i++)
		arr[i] = pattern(i);
	return NULL;
}

static void *reader(void *a)
{
	struct part *p = a;
	for (size_t i = p->lo; i < p->hi; i++) {
		uint64_t v = arr[i];
		p->sum += v;
		if (v != pattern(i))
			p->bad++;
	}
	return NULL;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static double run(void *(*fn)(void *), struct part *parts)
{
	pthread_t t[64];
	double t0 = now();
	for (int i = 0; i < nthreads; i++)
		pthread_create(&t[i], NULL, fn, &parts[i]);
	for (int i = 0; i < nthreads; i++)
		pthread_join(t[i], NULL);
	return now() - t0;
}

static long peak_rss_kib(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long v = -1;
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "VmHWM: %ld", &v) == 1)
			break;
	if (f)
		fclose(f);
	return v;
}

static size_t parse_size(const char *s)
{
	char *end;
	double v = strtod(s, &end);
	switch (*end) {
	case 'k': case 'K': v *= 1024; break;
	case 'm': case 'M': v *= 1024 * 1024; break;
	case 'g': case 'G': v *= 1024.0 * 1024 * 1024; break;
	}
	return (size_t)v;
}

int main(int argc, char **argv)
{
	size_t size = argc > 1 ? parse_size(argv[1]) : (size_t)1 << 30;
	nthreads = argc > 2 ? atoi(argv[2]) : 4;
	seed = argc > 3 ? strtoull(argv[3], NULL, 0) : 42;
	if (nthreads < 1 || nthreads > 64 || size < 4096) {
		fprintf(stderr, "usage: %s [SIZE] [THREADS 1-64] [SEED]\n", argv[0]);
		return 2;
	}
	nwords = size / sizeof(uint64_t);
	arr = lego_alloc(nwords * sizeof(uint64_t));
	if (!arr) {
		perror("lego_alloc");
		return 1;
	}
	struct part parts[64];
	for (int i = 0; i < nthreads; i++) {
		parts[i].lo = nwords * (size_t)i / (size_t)nthreads;
		parts[i].hi = nwords * (size_t)(i + 1) / (size_t)nthreads;
		parts[i].sum = parts[i].bad = 0;
	}
	double tw = run(writer, parts);
	double tr = run(reader, parts);
	uint64_t sum = 0, bad = 0, want = 0;
	for (int i = 0; i < nthreads; i++) {
		sum += parts[i].sum;
		bad += parts[i].bad;
	}
	for (size_t i = 0; i < nwords; i++)
		want += pattern(i);
	double mib = (double)size / (1 << 20);
	printf("size %.0f MiB, %d threads: write %.2f s (%.0f MiB/s), read %.2f s (%.0f MiB/s)\n",
	       mib, nthreads, tw, mib / tw, tr, mib / tr);
	printf("checksum %016" PRIx64 " expected %016" PRIx64 ", %" PRIu64 " bad words\n", sum, want,
	       bad);
	printf("peak RSS %ld KiB\n", peak_rss_kib());
	if (getenv("BIGARRAY_PAUSE")) { /* let a test inspect the memnode */
		printf("paused\n");
		fflush(stdout);
		getchar();
	}
	lego_free(arr);
	int ok = bad == 0 && sum == want;
	printf("%s\n", ok ? "OK" : "FAILED");
	return ok ? 0 : 1;
}
