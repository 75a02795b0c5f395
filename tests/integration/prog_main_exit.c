/*
 * The main thread leaves with pthread_exit while two threads go on: they
 * fill 48 MiB each with a seeded pattern after the main thread is gone,
 * read it back and print a checksum.  The process ends when the last of
 * them does (exit status 0).  An ordinary program; knows nothing about
 * Lego.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

enum { WORDS = 6 << 20 }; /* 48 MiB of uint64_t */

static void *work(void *arg)
{
	uint64_t seed = (uint64_t)(uintptr_t)arg;
	usleep(200000); /* the main thread is gone by now */
	uint64_t *a = malloc(WORDS * sizeof *a);
	if (!a) {
		printf("thread %llu: malloc failed\n", (unsigned long long)seed);
		return NULL;
	}
	for (size_t i = 0; i < WORDS; i++)
		a[i] = (i + 1) * 0x9e3779b97f4a7c15ULL ^ seed;
	uint64_t sum = 0, bad = 0;
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < WORDS; i += 7) {
			bad += a[i] != ((i + 1) * 0x9e3779b97f4a7c15ULL ^ seed);
			sum += a[i] * (uint64_t)(pass + 1);
		}
	free(a);
	printf("thread %llu: checksum %016llx, %llu wrong words\n", (unsigned long long)seed,
	       (unsigned long long)sum, (unsigned long long)bad);
	return NULL;
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		if (pthread_create(&t[i], NULL, work, (void *)(uintptr_t)(i + 1))) {
			perror("pthread_create");
			return 2;
		}
	pthread_exit(NULL);
}
