/*
 * Forks often while the heap churns, as an ordinary program.  Each round
 * allocates and frees blocks of many sizes (so the allocator has freed
 * memory to return to the system, at times of its own choosing), then
 * forks; the child checks the live blocks, allocates and frees some of
 * its own and exits with a status saying what it found; the parent checks
 * the status and that its blocks did not change.
 *
 * Output does not depend on timing: the native run and the run under
 * LD_PRELOAD print the same.  Exit status 0 when every check held.
 *
 * Knows nothing about Lego.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { SLOTS = 128 };

static struct {
	unsigned char *p;
	size_t n;
	unsigned char v;
} blk[SLOTS];

static uint64_t rng = 42;

static uint64_t next(void)
{
	uint64_t x = (rng += 0x9e3779b97f4a7c15ULL);
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static size_t pick(void)
{
	uint64_t x = next();
	return x % 4 == 0 ? 16384 + x % 262144 : 16 + x % 4096; /* large or small */
}

/* Every 512th byte and the last one hold v. */
static int intact(int i)
{
	for (size_t k = 0; k < blk[i].n; k += 512)
		if (blk[i].p[k] != blk[i].v)
			return 0;
	return blk[i].p[blk[i].n - 1] == blk[i].v;
}

static void set(int i, unsigned char v)
{
	blk[i].v = v;
	for (size_t k = 0; k < blk[i].n; k += 512)
		blk[i].p[k] = v;
	blk[i].p[blk[i].n - 1] = v;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 200;
	long bad_parent = 0, bad_child = 0;
	for (int r = 0; r < rounds; r++) {
		for (int k = 0; k < 48; k++) { /* churn: replace a block */
			int i = (int)(next() % SLOTS);
			free(blk[i].p);
			blk[i].n = pick();
			blk[i].p = malloc(blk[i].n);
			if (!blk[i].p) {
				fprintf(stderr, "round %d: malloc failed\n", r);
				return 2;
			}
			set(i, (unsigned char)next());
		}
		/* a burst of one size, all freed: the allocator keeps them for
		 * reuse and may give their pages back at any later call */
		void *burst[64];
		size_t bs = (size_t)256 << (r % 5);
		for (int k = 0; k < 64; k++) {
			burst[k] = malloc(bs);
			if (burst[k])
				memset(burst[k], k, bs);
		}
		for (int k = 0; k < 64; k++)
			free(burst[k]);
		fflush(stdout);
		pid_t pid = fork();
		if (pid < 0) {
			perror("fork");
			return 2;
		}
		if (pid == 0) {
			int bad = 0;
			for (int i = 0; i < SLOTS; i++)
				if (blk[i].p && !intact(i))
					bad |= 1;
			for (int i = 0; i < SLOTS; i += 2) /* the child's own churn */
				if (blk[i].p) {
					free(blk[i].p);
					blk[i].p = malloc(blk[i].n);
					if (!blk[i].p) {
						bad |= 2;
						break;
					}
					set(i, 0xcc);
				}
			_exit(bad);
		}
		int st = 0;
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
			fprintf(stderr, "round %d: child status %#x\n", r, st);
			bad_child++;
		}
		for (int i = 0; i < SLOTS; i++)
			if (blk[i].p && !intact(i))
				bad_parent++;
	}
	printf("%d rounds: forks %d, children failed %ld, blocks changed in the parent %ld\n",
	       rounds, rounds, bad_child, bad_parent);
	for (int i = 0; i < SLOTS; i++)
		free(blk[i].p);
	return bad_child || bad_parent ? 1 : 0;
}
