/*
 * Data patterns and an anonymous mapping for the prog_*.c test programs:
 * a byte pattern per seed (fill, same), a sparse one of a word per 512
 * bytes for big ranges (fill_sparse), map(), which exits with status 2 if
 * mmap fails, and tally_map(), zeroed memory that is never remote under
 * Lego (a shared memfd mapping: a file), for counts to check remote memory
 * against.  Header-only; knows nothing about Lego.
 */
#ifndef LEGO_TEST_PATTERN_H
#define LEGO_TEST_PATTERN_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static inline uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static inline unsigned char pat(uint64_t seed, size_t i)
{
	return (unsigned char)(mix(seed * 1000003u + i / 8) >> ((i % 8) * 8));
}

static inline void fill(void *p, size_t n, uint64_t seed)
{
	unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		c[i] = pat(seed, i);
}

/* 1 when [p, p+n) holds the pattern of seed from offset off on */
static inline int same(const void *p, size_t n, uint64_t seed, size_t off)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i] != pat(seed, off + i))
			return 0;
	return 1;
}

/* fast page-granular pattern for big ranges: one word per 512 bytes */
static inline void fill_sparse(void *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i + 8 <= n; i += 512)
		*(uint64_t *)((char *)p + i) = mix(seed + i);
}

static inline void *map(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		printf("mmap %zu failed: %s\n", n, strerror(errno));
		exit(2);
	}
	return p;
}

static inline void *tally_map(size_t n)
{
	int fd = (int)syscall(SYS_memfd_create, "tally", 0); /* (no _GNU_SOURCE here) */
	void *p = MAP_FAILED;
	if (fd >= 0 && ftruncate(fd, (off_t)n) == 0)
		p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		printf("tally of %zu bytes: %s\n", n, strerror(errno));
		exit(2);
	}
	close(fd);
	return p;
}

#endif
