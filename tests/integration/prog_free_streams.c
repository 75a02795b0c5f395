/*
 * Streams of writes into memory that is then freed, over and over: a
 * 4 MiB region with a PROT_NONE page in it is rewritten while 48 MiB
 * regions are filled and unmapped (each push the other out of a small
 * ExCache), then the region is checked.  Under Lego, a fault served late
 * (after the program, woken by a prefetch, had gone on and unmapped the
 * memory) once filled a line of an unmapped range, which then lost its
 * page while still counted resident: evicting it faulted in the runtime's
 * own thread and the program hung.  Prints "ok N" when every round's data
 * is right; exit 1 and the first bad offset otherwise.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

static sigjmp_buf jb;

static void on_segv(int s) { siglongjmp(jb, s); }

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

static char *map(size_t n)
{
	char *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	return p;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 40;
	const size_t pg = 4096, n = 4u << 20, big = 48u << 20;
	struct sigaction sa = {.sa_handler = on_segv};
	sigaction(SIGSEGV, &sa, NULL);
	for (volatile int r = 0; r < rounds; r++) {
		char *p = map(n);
		for (size_t i = 0; i < n; i++)
			p[i] = (char)pat(81, i);
		if (mprotect(p + 3 * pg, pg, PROT_NONE))
			return 2;
		for (int k = 0; k < 3; k++) {
			for (size_t i = 0; i < n; i += 512)
				if (i < 3 * pg || i >= 4 * pg)
					p[i] = (char)pat(81, i);
			char *o = map(big);
			for (size_t i = 0; i + 8 <= big; i += 512)
				*(uint64_t *)(o + i) = mix(82 + (uint64_t)k + i);
			munmap(o, big);
		}
		if (sigsetjmp(jb, 1) == 0) {
			(void)*(volatile char *)(p + 3 * pg + 8);
			printf("round %d: the PROT_NONE page was readable\n", r);
			return 1;
		}
		if (mprotect(p + 3 * pg, pg, PROT_READ | PROT_WRITE))
			return 2;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)p[i] != pat(81, i)) {
				printf("round %d: wrong byte at %zu\n", r, i);
				return 1;
			}
		munmap(p, n);
	}
	printf("ok %d\n", rounds);
	return 0;
}
