/*
 * Writes lines while another thread reads them in.
 *
 * A region larger than the memory it is given is filled, then a reader
 * thread sweeps it in order, one byte a page (so lines come in clean, as
 * a stream), while writer threads add to counters, one per page: each
 * time the reader enters a new stretch of WINDOW pages (1024: 4 MiB), a
 * writer waits 0-4 ms and adds once at a random page of the stretch
 * ahead, so its first touch of a line may come just as the reader's
 * fetch of that line is being mapped, and nothing writes the line again
 * before the reader has gone round.  A local tally (a shared
 * memfd mapping: a file, never remote) counts the adds; at the end every
 * page's counter must equal its tally: a write lost because its line was
 * taken for clean shows as a counter behind.
 *
 *   lego-test-prog_line_race MIB WRITERS ADDS
 *
 * Output does not depend on timing.  Exit status 0 when every counter
 * held.  Knows nothing about Lego.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "pattern.h"

enum { PAGE = 4096 };

static uint8_t *region;
static _Atomic uint32_t *tally;
static size_t npages;
static long adds;
static atomic_int writing;
static atomic_size_t cursor; /* the reader's page */
enum { WINDOW = 1024 };

static uint64_t next(uint64_t *s)
{
	uint64_t x = (*s += 0x9e3779b97f4a7c15ULL);
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void *reader(void *arg)
{
	(void)arg;
	volatile uint64_t sum = 0;
	while (atomic_load(&writing))
		for (size_t p = 0; p < npages && atomic_load(&writing); p++) {
			atomic_store_explicit(&cursor, p, memory_order_relaxed);
			sum += region[p * PAGE + 8];
		}
	return NULL;
}

static void *writer(void *arg)
{
	uint64_t s = (uint64_t)(uintptr_t)arg;
	size_t last = SIZE_MAX;
	for (long i = 0; i < adds;) {
		/* once the reader enters a new stretch of WINDOW pages: after a
		 * pause of 0-4 ms, one add in the stretch ahead, whose lines it
		 * is about to bring in (the adds at pages it has passed need
		 * no waiting) */
		size_t c = atomic_load_explicit(&cursor, memory_order_relaxed) / WINDOW;
		if (c == last) {
			sched_yield();
			continue;
		}
		last = c;
		struct timespec ts = {0, (long)(next(&s) % 4000000)};
		nanosleep(&ts, NULL);
		size_t p = ((c + 1) * WINDOW + next(&s) % WINDOW) % npages;
		_Atomic uint32_t *ctr = (_Atomic uint32_t *)(region + p * PAGE + 64);
		atomic_fetch_add_explicit(ctr, 1, memory_order_relaxed);
		atomic_fetch_add_explicit(&tally[p], 1, memory_order_relaxed);
		i++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s MIB WRITERS ADDS\n", argv[0]);
		return 2;
	}
	size_t size = (size_t)atol(argv[1]) << 20;
	int nw = atoi(argv[2]);
	adds = atol(argv[3]);
	npages = size / PAGE;
	region = malloc(size);
	if (!region) {
		perror("malloc");
		return 2;
	}
	tally = tally_map(npages * sizeof *tally);
	for (size_t p = 0; p < npages; p++) {
		for (size_t o = 0; o < PAGE; o += 8)
			*(uint64_t *)(region + p * PAGE + o) = p * 31 + o;
		*(uint32_t *)(region + p * PAGE + 64) = 0; /* the counter */
	}
	atomic_store(&writing, 1);
	pthread_t r, w[16];
	if (nw < 1 || nw > 16)
		nw = 1;
	pthread_create(&r, NULL, reader, NULL);
	for (int i = 0; i < nw; i++)
		pthread_create(&w[i], NULL, writer, (void *)(uintptr_t)(i + 1));
	for (int i = 0; i < nw; i++)
		pthread_join(w[i], NULL);
	atomic_store(&writing, 0);
	pthread_join(r, NULL);
	size_t behind = 0, other = 0;
	uint64_t total = 0;
	for (size_t p = 0; p < npages; p++) {
		uint32_t c = *(uint32_t *)(region + p * PAGE + 64), t = atomic_load(&tally[p]);
		total += t;
		behind += c != t;
		other += *(uint64_t *)(region + p * PAGE + 8) != p * 31 + 8;
	}
	printf("pages %zu adds %llu counters off %zu data off %zu\n", npages,
	       (unsigned long long)total, behind, other);
	return behind || other ? 1 : 0;
}
