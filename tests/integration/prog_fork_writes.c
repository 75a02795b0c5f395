/*
 * Writes pages a forked child still shares, while they are evicted.
 *
 * Each round forks a child that only waits (so every page of the parent
 * stays shared with it, copied on the parent's next write), then two
 * threads of the parent add to counters, one per page, over a region
 * larger than the memory it is given, each thread its own pages.  A local
 * tally (a shared memfd mapping: a file, never remote) counts the adds.
 * After the round the child exits and every page's counter must equal
 * its tally: a write lost while its page was evicted shows as a counter
 * behind.
 *
 *   lego-test-prog_fork_writes MIB ROUNDS ADDS
 *
 * Output does not depend on timing.  Exit status 0 when every counter
 * held.  Knows nothing about Lego.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "pattern.h"

enum { PAGE = 4096 };

static uint8_t *region;
static uint32_t *tally;
static size_t npages;
static long adds;

static uint64_t next(uint64_t *s)
{
	uint64_t x = (*s += 0x9e3779b97f4a7c15ULL);
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

struct arg {
	int t;
	uint64_t seed;
};

static void *writer(void *p)
{
	struct arg *a = p;
	for (long i = 0; i < adds; i++) {
		size_t pg = (next(&a->seed) % (npages / 2)) * 2 + (size_t)a->t;
		(*(uint32_t *)(region + pg * PAGE))++;
		tally[pg]++;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s MIB ROUNDS ADDS\n", argv[0]);
		return 2;
	}
	npages = (size_t)atol(argv[1]) * (1024 * 1024 / PAGE);
	int rounds = atoi(argv[2]);
	adds = atol(argv[3]);
	region = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		      -1, 0);
	if (region == MAP_FAILED) {
		perror("set-up");
		return 1;
	}
	tally = tally_map(npages * sizeof *tally);
	for (size_t pg = 0; pg < npages; pg++) /* every page written: all dirty */
		*(uint32_t *)(region + pg * PAGE) = 0;
	long bad = 0;
	for (int r = 0; r < rounds; r++) {
		int gate[2];
		if (pipe(gate) != 0) {
			perror("pipe");
			return 1;
		}
		pid_t c = fork();
		if (c < 0) {
			perror("fork");
			return 1;
		}
		if (c == 0) { /* shares the pages until it exits */
			char b;
			close(gate[1]);
			_exit(read(gate[0], &b, 1) == 0 ? 0 : 1);
		}
		close(gate[0]);
		pthread_t th[2];
		struct arg a[2] = {{0, 1000u + (uint64_t)r}, {1, 2000u + (uint64_t)r}};
		for (int t = 0; t < 2; t++)
			pthread_create(&th[t], NULL, writer, &a[t]);
		for (int t = 0; t < 2; t++)
			pthread_join(th[t], NULL);
		close(gate[1]);
		int st;
		if (waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "round %d: the child failed\n", r);
			return 1;
		}
		for (size_t pg = 0; pg < npages; pg++)
			if (*(uint32_t *)(region + pg * PAGE) != tally[pg]) {
				if (bad < 5)
					fprintf(stderr, "round %d: page %zu holds %u, %u were added\n", r,
						pg, *(uint32_t *)(region + pg * PAGE), tally[pg]);
				bad++;
			}
	}
	printf("%d rounds of %ld adds by 2 threads over %zu pages shared with a child: %ld counters wrong\n",
	       rounds, adds, npages, bad);
	return bad != 0;
}
