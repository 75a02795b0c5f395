/*
 * cluster_fill: a working set filled in two halves, with a pause between
 * them, so a test can change the cluster (a memnode joins) before the
 * second half is placed.
 *
 *   lego-test-cluster_fill SIZE [THREADS] [SEED]
 *
 * Allocates SIZE/2 with lego_alloc (its granules are placed now), has
 * THREADS threads write a seeded pattern into it, prints "half" and waits
 * for a line on stdin.  Then allocates and writes the second half, reads
 * both back (with an ExCache smaller than SIZE, from the memnodes) and
 * checks every word and the checksum, prints "paused" and waits for a line
 * again (the memory is still placed: a test can look at it), frees it and
 * prints OK or FAILED.  Exit status 0 when every word read back is right.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <lego/lego.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t seed;
static int nthreads;

struct part {
	uint64_t *base;
	size_t first;   /* index of base[0] in the whole working set */
	size_t lo, hi;  /* slice of base */
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
		p->base[i] = pattern(p->first + i);
	return NULL;
}

static void *reader(void *a)
{
	struct part *p = a;
	for (size_t i = p->lo; i < p->hi; i++) {
		uint64_t v = p->base[i];
		p->sum += v;
		p->bad += v != pattern(p->first + i);
	}
	return NULL;
}

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Run fn over words [0, n) of base (word `first` of the set) in
 * nthreads slices; adds the slices' sums and bad words. */
static double run(void *(*fn)(void *), uint64_t *base, size_t first, size_t n, uint64_t *sum,
		  uint64_t *bad)
{
	pthread_t t[64];
	struct part parts[64];
	double t0 = now();
	for (int i = 0; i < nthreads; i++) {
		parts[i] = (struct part){.base = base, .first = first,
					 .lo = n * (size_t)i / (size_t)nthreads,
					 .hi = n * (size_t)(i + 1) / (size_t)nthreads};
		pthread_create(&t[i], NULL, fn, &parts[i]);
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(t[i], NULL);
		*sum += parts[i].sum;
		*bad += parts[i].bad;
	}
	return now() - t0;
}

/* Say `say`, then wait for a line on stdin; 1 if it is "again". */
static int wait_line(const char *say)
{
	char line[16];
	printf("%s\n", say);
	fflush(stdout);
	if (!fgets(line, sizeof line, stdin)) {
		fprintf(stderr, "cluster_fill: stdin closed; going on\n");
		return 0;
	}
	return strncmp(line, "again", 5) == 0;
}

int main(int argc, char **argv)
{
	char *end = NULL;
	double v = argc > 1 ? strtod(argv[1], &end) : 0;
	if (end && (*end == 'G' || *end == 'g'))
		v *= 1024.0 * 1024 * 1024;
	else if (end && (*end == 'M' || *end == 'm'))
		v *= 1024.0 * 1024;
	size_t size = (size_t)v & ~(size_t)8191;
	nthreads = argc > 2 ? atoi(argv[2]) : 2;
	seed = argc > 3 ? strtoull(argv[3], NULL, 0) : 42;
	if (size < 8192 || nthreads < 1 || nthreads > 64) {
		fprintf(stderr, "usage: %s SIZE[M|G] [THREADS 1-64] [SEED]\n", argv[0]);
		return 2;
	}
	size_t half = size / 2 / sizeof(uint64_t); /* words in each half */
	uint64_t sum = 0, bad = 0, want = 0, unused = 0;
	uint64_t *a = lego_alloc(half * sizeof(uint64_t));
	if (!a) {
		fprintf(stderr, "cluster_fill: lego_alloc of the first half: %s\n", lego_strerror(errno));
		return 1;
	}
	double tw = run(writer, a, 0, half, &unused, &unused);
	wait_line("half");
	uint64_t *b = lego_alloc(half * sizeof(uint64_t));
	if (!b) {
		fprintf(stderr, "cluster_fill: lego_alloc of the second half: %s\n", lego_strerror(errno));
		return 1;
	}
	tw += run(writer, b, half, half, &unused, &unused);
	double tr = run(reader, a, 0, half, &sum, &bad);
	tr += run(reader, b, half, half, &sum, &bad);
	for (size_t i = 0; i < 2 * half; i++)
		want += pattern(i);
	double mib = (double)size / (1 << 20);
	printf("size %.0f MiB, %d threads: write %.1f s (%.0f MiB/s), read %.1f s (%.0f MiB/s)\n", mib,
	       nthreads, tw, mib / tw, tr, mib / tr);
	printf("checksum %016" PRIx64 " expected %016" PRIx64 ", %" PRIu64 " bad words\n", sum, want,
	       bad);
	/* "again": read everything back once more (while the cluster moves
	 * the memory around, say) */
	for (int n = 1; wait_line("paused"); n++) {
		uint64_t s2 = 0, b2 = 0;
		double t = run(reader, a, 0, half, &s2, &b2);
		t += run(reader, b, half, half, &s2, &b2);
		printf("reread %d: %.1f s, checksum %016" PRIx64 ", %" PRIu64 " bad words\n", n, t, s2,
		       b2);
		bad += b2;
		if (s2 != want)
			sum = 0;
	}
	lego_free(a);
	lego_free(b);
	int ok = bad == 0 && sum == want;
	printf("%s\n", ok ? "OK" : "FAILED");
	return ok ? 0 : 1;
}
