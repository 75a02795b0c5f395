/*
 * For tests/integration/local_start.sh: one way of taking memory each.
 *   prog_local_start query       sbrk(0) only
 *   prog_local_start brk         moves the break by a page and writes it
 *   prog_local_start churn N     mallocs and frees 1 MiB N times (1 MiB
 *                                 held at a time)
 *   prog_local_start hold N      mallocs N MiB, writes every page, frees
 *                                 none
 *   prog_local_start align N     N blocks of 64 bytes aligned to a page
 *                                 (a page each), written, freed none
 * Prints a checksum of what it wrote, read back.  Fails (status 3) if the
 * environment array moved meanwhile: a start on demand must not setenv
 * (strace kept environ's array and freed the one it found moved).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t fill(unsigned char *p, size_t len, uint64_t seed)
{
	uint64_t sum = 0;
	for (size_t i = 0; i < len; i += 4096)
		p[i] = (unsigned char)(seed + i / 4096);
	for (size_t i = 0; i < len; i += 4096)
		sum = sum * 31 + p[i];
	return sum;
}

extern char **environ;

int main(int argc, char **argv)
{
	char **env = environ;
	const char *mode = argc > 1 ? argv[1] : "";
	long n = argc > 2 ? atol(argv[2]) : 0;
	uint64_t sum = 0;
	if (strcmp(mode, "query") == 0) {
		sum = sbrk(0) != (void *)-1;
	} else if (strcmp(mode, "brk") == 0) {
		unsigned char *p = sbrk(4096);
		if (p == (void *)-1) {
			perror("sbrk");
			return 1;
		}
		sum = fill(p, 4096, 7);
	} else if (strcmp(mode, "churn") == 0) {
		for (long i = 0; i < n; i++) {
			unsigned char *p = malloc(1 << 20);
			if (!p)
				return 1;
			sum += fill(p, 1 << 20, (uint64_t)i);
			free(p);
		}
	} else if (strcmp(mode, "hold") == 0) {
		for (long i = 0; i < n; i++) {
			unsigned char *p = malloc(1 << 20);
			if (!p)
				return 1;
			sum += fill(p, 1 << 20, (uint64_t)i);
		}
	} else if (strcmp(mode, "align") == 0) {
		for (long i = 0; i < n; i++) {
			void *p;
			if (posix_memalign(&p, 4096, 64))
				return 1;
			sum += fill(p, 64, (uint64_t)i);
		}
	} else {
		fprintf(stderr, "usage: %s query | brk | churn N | hold N | align N\n", argv[0]);
		return 2;
	}
	if (environ != env) {
		fprintf(stderr, "the environment array moved under the program\n");
		return 3;
	}
	printf("%s %llu\n", mode, (unsigned long long)sum);
	return 0;
}
