/*
 * Allocates until the allocator says no, as an ordinary program: 1 MiB
 * malloc blocks, each filled, until malloc returns NULL (or a limit is
 * reached); then an anonymous mmap of 64 MiB.  Prints what it got and
 * with which errno, frees half, allocates again, and checks that every
 * block it kept still holds its data.  Under Lego with a small memnode,
 * the memnode's capacity is the limit: malloc must return NULL with
 * ENOMEM and mmap fail with ENOMEM, and the program must carry on.
 *
 * Knows nothing about Lego.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

enum { MAXB = 4096, BS = 1 << 20 };
static unsigned char *b[MAXB];

static int holds(int i)
{
	for (size_t k = 0; k < BS; k += 4096)
		if (b[i][k] != (unsigned char)(i * 7 + k / 4096))
			return 0;
	return 1;
}

int main(int argc, char **argv)
{
	int limit = argc > 1 ? atoi(argv[1]) : MAXB;
	int n = 0, err = 0;
	for (; n < limit; n++) {
		errno = 0;
		b[n] = malloc(BS);
		if (!b[n]) {
			err = errno;
			break;
		}
		for (size_t k = 0; k < BS; k += 4096)
			b[n][k] = (unsigned char)(n * 7 + k / 4096);
	}
	printf("malloc: %d MiB, then %s\n", n, n == limit ? "limit" : err == ENOMEM ? "NULL, ENOMEM" : "NULL, other errno");
	errno = 0;
	void *m = mmap(NULL, 64 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	printf("mmap 64 MiB: %s\n", m != MAP_FAILED ? "ok" : errno == ENOMEM ? "ENOMEM" : "other errno");
	if (m != MAP_FAILED)
		munmap(m, 64 << 20);
	int ok = 1;
	for (int i = 0; i < n; i++)
		ok &= holds(i);
	printf("blocks intact: %s\n", ok ? "yes" : "no");
	for (int i = 0; i < n; i += 2) {
		free(b[i]);
		b[i] = NULL;
	}
	int again = 0;
	for (int i = 0; i < n; i += 2) {
		b[i] = malloc(BS);
		if (!b[i])
			break;
		for (size_t k = 0; k < BS; k += 4096)
			b[i][k] = (unsigned char)(i * 7 + k / 4096);
		again++;
	}
	printf("after freeing half: %s\n", again >= n / 2 - 2 ? "room again" : "still full");
	ok = 1;
	for (int i = 0; i < n; i++)
		if (b[i])
			ok &= holds(i);
	printf("blocks intact at the end: %s\n", ok ? "yes" : "no");
	return ok ? 0 : 1;
}
