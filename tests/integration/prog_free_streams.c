/*
 * Streams of writes into memory that is then freed, over and over: a
 * 4 MiB region with a PROT_NONE page in it is rewritten while 48 MiB
 * regions are filled and unmapped (each push the other out of a small
 * ExCache), then the region is checked.  Under Lego, a fault served late
 * (after the program, woken by a prefetch, had gone on and unmapped the
 * memory) once filled a line of an unmapped range, which then lost its
 * page while still counted resident: evicting it faulted in the runtime's
 * own thread and the program hung.  Prints "ok N" when every round's data
 * is right; exit 1 and the round otherwise.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "pattern.h"

static sigjmp_buf jb;

static void on_segv(int s) { siglongjmp(jb, s); }

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 40;
	const size_t pg = 4096, n = 4u << 20, big = 48u << 20;
	struct sigaction sa = {.sa_handler = on_segv};
	sigaction(SIGSEGV, &sa, NULL);
	for (volatile int r = 0; r < rounds; r++) {
		char *p = map(n);
		fill(p, n, 81);
		if (mprotect(p + 3 * pg, pg, PROT_NONE))
			return 2;
		for (int k = 0; k < 3; k++) {
			for (size_t i = 0; i < n; i += 512)
				if (i < 3 * pg || i >= 4 * pg)
					p[i] = (char)pat(81, i);
			char *o = map(big);
			fill_sparse(o, big, 82 + (uint64_t)k);
			munmap(o, big);
		}
		if (sigsetjmp(jb, 1) == 0) {
			(void)*(volatile char *)(p + 3 * pg + 8);
			printf("round %d: the PROT_NONE page was readable\n", r);
			return 1;
		}
		if (mprotect(p + 3 * pg, pg, PROT_READ | PROT_WRITE))
			return 2;
		if (!same(p, n, 81, 0)) {
			printf("round %d: the data differs\n", r);
			return 1;
		}
		munmap(p, n);
	}
	printf("ok %d\n", rounds);
	return 0;
}
