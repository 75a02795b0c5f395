/*
 * prog_lost: every write must stay.  Two threads, each over its half of
 * MiB mebibytes, read or add to (half of the time) a random 8-byte word of
 * a random page, as bench/workload.c's uniform pattern with 50% writes
 * does; each word read is checked against a shadow copy in a shared
 * mapping, which Lego leaves local.  The first word that differs is
 * printed (and whether it holds the value from before its last write: a
 * lost write), and the whole region is compared at the end.
 *
 *   lego-test-prog_lost MiB OPS
 *
 * Prints "ok: 0 words differ" and exits 0, or "BAD: ..." and exits 1.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

static size_t pages;
static uint64_t *mem, *shadow, *before; /* before: a word's value before its last write */
static long ops;
static volatile int bad;

static uint64_t next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static void *run(void *arg)
{
	int id = (int)(long)arg;
	uint64_t rng = 0x1234 + (uint64_t)id * 7919;
	size_t lo = pages * (size_t)id / 2, n = pages / 2;
	for (long i = 0; i < ops / 2 && !bad; i++) {
		size_t page = lo + next(&rng) % n;
		uint64_t r = next(&rng);
		size_t w = page * 512 + r % 512;
		uint64_t v = mem[w];
		if (v != shadow[w]) {
			bad = 1;
			size_t wrong = 0;
			for (size_t k = 0; k < 512; k++)
				wrong += mem[page * 512 + k] != shadow[page * 512 + k];
			fprintf(stderr, "thread %d, operation %ld: page %zu word %zu reads %016llx, "
				"want %016llx (%s); %zu words of the page differ\n",
				id, i, page, w % 512, (unsigned long long)v, (unsigned long long)shadow[w],
				v == before[w] ? "its value before its last write: that write was lost"
					       : "not its value before its last write either",
				wrong);
			break;
		}
		if ((r >> 32) % 100 < 50) {
			before[w] = v;
			mem[w] = shadow[w] = v + (r | 1);
		}
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s MiB OPS\n", argv[0]);
		return 2;
	}
	size_t ws = (size_t)atol(argv[1]) << 20;
	ops = atol(argv[2]);
	pages = ws / 4096;
	mem = mmap(NULL, ws, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	shadow = mmap(NULL, ws, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	before = mmap(NULL, ws, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (pages < 2 || mem == MAP_FAILED || shadow == MAP_FAILED || before == MAP_FAILED) {
		perror("mmap");
		return 2;
	}
	for (size_t i = 0; i < ws / 8; i++)
		mem[i] = shadow[i] = i * 0x9e3779b97f4a7c15ull;
	pthread_t t[2];
	for (long i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, run, (void *)i);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	size_t differ = 0;
	for (size_t i = 0; i < ws / 8; i++)
		differ += mem[i] != shadow[i];
	printf("%s: %zu words differ\n", bad || differ ? "BAD" : "ok", differ);
	return bad || differ;
}
