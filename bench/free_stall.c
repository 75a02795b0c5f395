/*
 * lego-bench-freestall: how long freeing a large array holds up the rest
 * of a program.  An ordinary program, run natively or under lego-run.
 *
 *   lego-bench-freestall [--size SIZE] [--ws SIZE] [--rounds N]
 *
 * One thread maps SIZE (default 1 GiB), writes every page and unmaps it,
 * ROUNDS times (default 4).  A second thread meanwhile reads one word of a
 * random page of its own WS region (default 64 MiB, filled first), over and
 * over, and times every read.  Under Lego with a small ExCache the writer
 * pushes the reader's lines out, so its reads miss and go to the memnode,
 * which is also the node that frees the writer's lines.  Prints the
 * munmap times, and the reader's longest read and reads over 1 ms, apart
 * for reads that overlapped an munmap and for the rest.  Every read is
 * checked against what was written there (a wrong value: exit 1).
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define PAGE 4096ull

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 10);
	switch (*end) {
	case 'G': case 'g': return v << 30;
	case 'M': case 'm': return v << 20;
	case 'K': case 'k': return v << 10;
	default: return v;
	}
}

/* odd while an munmap runs: bumped before and after each */
static _Atomic unsigned frees;
static _Atomic int done;

struct reader {
	uint64_t ws;
	uint64_t reads;
	uint64_t max_free, max_other; /* ns */
	uint64_t slow_free, slow_other; /* reads over 1 ms */
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;
	uint64_t pages = r->ws / PAGE, x = 88172645463325252ull;
	volatile uint64_t *a = mmap(NULL, r->ws, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	for (uint64_t p = 0; p < pages; p++)
		a[p * (PAGE / 8)] = p * 2654435761u + 1;
	while (!atomic_load(&done)) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		uint64_t p = x % pages;
		unsigned f0 = atomic_load(&frees);
		uint64_t t0 = now_ns();
		uint64_t v = a[p * (PAGE / 8)];
		uint64_t took = now_ns() - t0;
		int during = (f0 & 1) || atomic_load(&frees) != f0;
		if (v != p * 2654435761u + 1) {
			fprintf(stderr, "page %llu reads %llu: wrong\n", (unsigned long long)p,
				(unsigned long long)v);
			exit(1);
		}
		r->reads++;
		uint64_t *max = during ? &r->max_free : &r->max_other;
		if (took > *max)
			*max = took;
		if (took > 1000000)
			(*(during ? &r->slow_free : &r->slow_other))++;
	}
	munmap((void *)a, r->ws);
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t size = 1ull << 30;
	struct reader r = {.ws = 64ull << 20};
	int rounds = 4;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--size") && i + 1 < argc)
			size = parse_size(argv[++i]);
		else if (!strcmp(argv[i], "--ws") && i + 1 < argc)
			r.ws = parse_size(argv[++i]);
		else if (!strcmp(argv[i], "--rounds") && i + 1 < argc)
			rounds = atoi(argv[++i]);
		else {
			fprintf(stderr, "usage: %s [--size SIZE] [--ws SIZE] [--rounds N]\n", argv[0]);
			return 2;
		}
	}
	if (size < PAGE || r.ws < PAGE || rounds < 1) {
		fprintf(stderr, "freestall: sizes of a page at least, rounds at least 1\n");
		return 2;
	}
	pthread_t th;
	if (pthread_create(&th, NULL, reader_main, &r) != 0) {
		perror("pthread_create");
		return 1;
	}
	uint64_t unmap_max = 0, unmap_sum = 0;
	for (int k = 0; k < rounds; k++) {
		uint8_t *b = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				  -1, 0);
		if (b == MAP_FAILED) {
			perror("mmap");
			return 1;
		}
		for (uint64_t o = 0; o < size; o += PAGE)
			b[o] = (uint8_t)(o / PAGE + k + 1);
		atomic_fetch_add(&frees, 1);
		uint64_t t0 = now_ns();
		munmap(b, size);
		uint64_t took = now_ns() - t0;
		atomic_fetch_add(&frees, 1);
		unmap_sum += took;
		if (took > unmap_max)
			unmap_max = took;
	}
	atomic_store(&done, 1);
	pthread_join(th, NULL);
	printf("munmap of %llu MiB: mean %.1f ms, max %.1f ms (%d rounds)\n",
	       (unsigned long long)(size >> 20), unmap_sum / 1e6 / rounds, unmap_max / 1e6, rounds);
	printf("reader: %llu reads; longest %.2f ms during an munmap, %.2f ms otherwise; "
	       "over 1 ms: %llu during, %llu otherwise\n",
	       (unsigned long long)r.reads, r.max_free / 1e6, r.max_other / 1e6,
	       (unsigned long long)r.slow_free, (unsigned long long)r.slow_other);
	return 0;
}
