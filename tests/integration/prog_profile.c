/*
 * prog_profile: two functions read the same array, one at random places and
 * one in order, the same number of times.  Under LEGO_PROFILE with an
 * ExCache much smaller than the array, nearly every random read misses
 * while the in-order reads are prefetched: the profile must rank
 * touch_random first, at the line marked PROFILE-RANDOM.
 *
 *   lego-test-prog_profile [MIB]   (default 128)
 *
 * Prints the sum of what it read.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define WORDS_PER_PAGE 512

static __attribute__((noinline)) void fill(uint64_t *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		a[i] = i * 2654435761u;
}

static __attribute__((noinline)) uint64_t touch_seq(const uint64_t *a, size_t n)
{
	uint64_t s = 0;
	for (size_t i = 0; i < n; i += WORDS_PER_PAGE)
		s += a[i]; /* PROFILE-SEQ */
	return s;
}

static __attribute__((noinline)) uint64_t touch_random(const uint64_t *a, size_t n, size_t reads)
{
	uint64_t s = 0, x = 88172645463325252ull;
	for (size_t i = 0; i < reads; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		s += a[x % n]; /* PROFILE-RANDOM */
	}
	return s;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 128;
	size_t n = mib << 17; /* words */
	uint64_t *a = malloc(n * sizeof *a);
	if (!a) {
		perror("malloc");
		return 1;
	}
	fill(a, n);
	uint64_t s = touch_seq(a, n);
	s += touch_random(a, n, n / WORDS_PER_PAGE);
	printf("sum=%llu\n", (unsigned long long)s);
	free(a);
	return 0;
}
