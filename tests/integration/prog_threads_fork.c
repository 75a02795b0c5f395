/*
 * Threads that allocate, realloc, free and fork at the same time, as an
 * ordinary program.  Each worker thread runs its own deterministic sequence
 * of malloc/calloc/realloc/free on blocks from 16 bytes to 2 MiB, checking
 * every block's contents before it changes or frees it; one of the workers
 * forks now and then while the others keep going.  A child checks the
 * forking thread's blocks and a shared table made before the threads
 * started, changes its copies, allocates on its own and exits with a status
 * saying what it found; the parent then checks that its own blocks did not
 * change.  Threads are also started and joined while all this goes on.
 *
 * The output does not depend on scheduling (only on each thread's own
 * sequence), so the native run and the run under LD_PRELOAD print the same.
 * Exit status 0 when every check held.
 *
 * Knows nothing about Lego.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { WORKERS = 4, SLOTS = 256, SHARED = 2000 };

static int rounds = 20000;
static int forks_per_worker = 6;

struct block {
	unsigned char *p;
	size_t n;
	uint64_t seed;
};

struct worker {
	int id;
	uint64_t rng;
	struct block b[SLOTS];
	uint64_t sum;      /* of every block checked, order-independent */
	long errors, forks, child_errors;
	pthread_t th;
};

static struct worker workers[WORKERS];
static uint64_t *shared[SHARED];

static uint64_t next(uint64_t *s)
{
	uint64_t x = (*s += 0x9e3779b97f4a7c15ULL);
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static unsigned char byte_at(uint64_t seed, size_t i)
{
	uint64_t s = seed ^ (i / 64) * 0x2545f4914f6cdd1dULL;
	return (unsigned char)(next(&s) >> (i % 8 * 8));
}

/* Blocks are filled at 64-byte strides plus the last byte: cheap enough
 * for MiB blocks, dense enough to catch a wrong or stale line. */
static void fill(unsigned char *p, size_t from, size_t n, uint64_t seed)
{
	for (size_t i = (from + 63) / 64 * 64; i < n; i += 64)
		p[i] = byte_at(seed, i);
	if (n)
		p[n - 1] = byte_at(seed, n - 1);
}

static int check(const unsigned char *p, size_t n, uint64_t seed, uint64_t *sum)
{
	for (size_t i = 0; i < n; i += 64)
		if (p[i] != byte_at(seed, i))
			return 0;
	if (n && p[n - 1] != byte_at(seed, n - 1))
		return 0;
	*sum += seed * 31 + n;
	return 1;
}

static size_t pick_size(uint64_t *r)
{
	uint64_t x = next(r);
	switch (x % 8) {
	case 0: return 16 + x % 1024 * 1024;          /* up to 1 MiB */
	case 1: case 2: return 16 + (x >> 8) % 65536; /* medium */
	default: return 16 + (x >> 8) % 512;          /* small */
	}
}

static void fork_check(struct worker *w)
{
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		w->child_errors++;
		return;
	}
	if (pid == 0) {
		/* only this thread lives on in the child */
		int bad = 0;
		uint64_t sum = 0;
		for (int i = 0; i < SLOTS; i++)
			if (w->b[i].p && !check(w->b[i].p, w->b[i].n, w->b[i].seed, &sum))
				bad |= 1;
		for (int i = 0; i < SHARED; i++)
			if (shared[i][0] != (uint64_t)i * 7 || shared[i][1 + i % 63] != (uint64_t)i * 13)
				bad |= 2;
		/* the child's own writes and allocations */
		for (int i = 0; i < SLOTS; i++)
			if (w->b[i].p)
				memset(w->b[i].p, 0xcc, w->b[i].n);
		for (int i = 0; i < 200; i++) {
			void *p = malloc(1000 + i * 997);
			if (!p)
				bad |= 4;
			memset(p, i, 1000 + i * 997);
			free(p);
		}
		for (int i = 0; i < SHARED; i += 3) {
			free(shared[i]);
			shared[i] = NULL;
		}
		_exit(bad);
	}
	int st = 0;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "worker %d: child status %#x\n", w->id, st);
		w->child_errors++;
	}
	w->forks++;
	/* the child's writes did not reach us */
	uint64_t dummy = 0;
	for (int i = 0; i < SLOTS; i++)
		if (w->b[i].p && !check(w->b[i].p, w->b[i].n, w->b[i].seed, &dummy))
			w->errors++;
}

static void *helper(void *arg)
{
	/* a short-lived thread: allocates, hands a block back, exits */
	size_t n = (size_t)(uintptr_t)arg;
	unsigned char *p = calloc(1, n);
	for (size_t i = 0; p && i < n; i++)
		if (p[i])
			return NULL;
	if (p)
		memset(p, 0x5a, n);
	return p;
}

static void *work(void *arg)
{
	struct worker *w = arg;
	int fork_every = w->id == 0 ? rounds / forks_per_worker : 0;
	for (int r = 0; r < rounds; r++) {
		int i = (int)(next(&w->rng) % SLOTS);
		struct block *b = &w->b[i];
		uint64_t op = next(&w->rng) % 4;
		if (b->p && !check(b->p, b->n, b->seed, &w->sum))
			w->errors++;
		if (!b->p || op == 0) { /* free and allocate anew */
			free(b->p);
			b->n = pick_size(&w->rng);
			b->seed = next(&w->rng);
			if (op == 1) {
				b->p = calloc(1, b->n);
				for (size_t k = 0; b->p && k < b->n; k += 61)
					if (b->p[k])
						w->errors++;
			} else {
				b->p = malloc(b->n);
			}
			if (!b->p) {
				w->errors++;
				continue;
			}
			fill(b->p, 0, b->n, b->seed);
		} else if (op == 1 || op == 2) { /* realloc: grow or shrink */
			size_t n = pick_size(&w->rng);
			unsigned char *q = realloc(b->p, n);
			if (!q) {
				w->errors++;
				continue;
			}
			size_t keep = n < b->n ? n : b->n;
			for (size_t k = 0; k < keep; k += 64)
				if (q[k] != byte_at(b->seed, k))
					w->errors++;
			b->p = q;
			b->n = n;
			fill(q, keep, n, b->seed); /* the new part and the new last byte */
		} else if (r % 97 == 0) { /* a thread that comes and goes */
			pthread_t t;
			void *res = NULL;
			size_t n = 4096 + (size_t)(next(&w->rng) % 300000);
			if (pthread_create(&t, NULL, helper, (void *)(uintptr_t)n) == 0) {
				pthread_join(t, &res);
				unsigned char *p = res;
				if (!p || p[0] != 0x5a || p[n - 1] != 0x5a)
					w->errors++;
				free(p);
			} else {
				w->errors++;
			}
		}
		if (fork_every && r % fork_every == fork_every - 1)
			fork_check(w);
	}
	for (int i = 0; i < SLOTS; i++) {
		struct block *b = &w->b[i];
		if (b->p && !check(b->p, b->n, b->seed, &w->sum))
			w->errors++;
		free(b->p);
		b->p = NULL;
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		rounds = atoi(argv[1]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int i = 0; i < SHARED; i++) {
		shared[i] = malloc(64 * sizeof(uint64_t));
		shared[i][0] = (uint64_t)i * 7;
		shared[i][1 + i % 63] = (uint64_t)i * 13;
	}
	for (int k = 0; k < WORKERS; k++) {
		workers[k].id = k;
		workers[k].rng = 1000 + (uint64_t)k;
		if (pthread_create(&workers[k].th, NULL, work, &workers[k])) {
			perror("pthread_create");
			return 2;
		}
	}
	long errors = 0;
	for (int k = 0; k < WORKERS; k++) {
		pthread_join(workers[k].th, NULL);
		struct worker *w = &workers[k];
		printf("worker %d: %d rounds, checksum %016llx, forks %ld, errors %ld, child errors %ld\n",
		       k, rounds, (unsigned long long)w->sum, w->forks, w->errors, w->child_errors);
		errors += w->errors + w->child_errors;
	}
	int sh = 1;
	for (int i = 0; i < SHARED; i++)
		sh &= shared[i] && shared[i][0] == (uint64_t)i * 7 && shared[i][1 + i % 63] == (uint64_t)i * 13;
	printf("shared table intact: %s\n", sh ? "yes" : "no");
	for (int i = 0; i < SHARED; i++)
		free(shared[i]);
	printf("errors: %ld\n", errors + !sh);
	return errors || !sh ? 1 : 0;
}
