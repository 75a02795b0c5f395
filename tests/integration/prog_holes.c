/*
 * Pages dropped behind Lego's back: madvise(MADV_DONTNEED) made with
 * syscall(2), as the Go runtime makes it (its scavenger), on pages of lines
 * the ExCache holds dirty, which later accesses then evict.  Every page
 * must end as Linux leaves it (zeros where dropped, else what was written
 * last), and the process must finish: it used to hang for good the first
 * time an eviction read such a line.
 *
 *   prog_holes [MiB [rounds [threads [forks]]]]   (default 64 4 1 0)
 *
 * Each round writes every page with a value of its own, 1 MiB at a time,
 * and drops about one page in five of each MiB: with one thread right
 * after writing it, with two a second thread drops them while the first
 * writes the next MiB (drops racing evictions).  Then it checks every
 * page.  With forks, it also forks a child (which exits at once) every
 * so many MiB: a fork waits for the runtime's threads, one of which may be
 * stuck on a hole.  Prints one line per round; the output is the same
 * natively.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define PG 4096
#define CHUNK (256 * PG)

static uint8_t *mem;
static size_t npages;
static int round_no;
static _Atomic size_t written, done; /* chunks written, and dropped, in this round */

static uint8_t value(size_t page) { return (uint8_t)((round_no * 31 + page * 7) % 251 + 1); }

static int dropped(size_t page) { return (page * 2654435761u + (size_t)round_no * 40503u) % 5 == 0; }

static void drop_chunk(size_t c)
{
	for (size_t p = c * (CHUNK / PG); p < (c + 1) * (CHUNK / PG); p++)
		if (dropped(p) && syscall(SYS_madvise, mem + p * PG, PG, MADV_DONTNEED) != 0) {
			perror("madvise");
			exit(1);
		}
}

/* the second thread: drops the pages of each chunk once it is written */
static void *dropper(void *arg)
{
	(void)arg;
	size_t next = 0;
	for (;;) {
		if (next < atomic_load(&written))
			atomic_store(&done, (drop_chunk(next), ++next));
		else if (next == npages / (CHUNK / PG))
			break;
		else
			sched_yield();
	}
	return NULL;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
	int rounds = argc > 2 ? atoi(argv[2]) : 4, threads = argc > 3 ? atoi(argv[3]) : 1;
	int forks = argc > 4 ? atoi(argv[4]) : 0;
	size_t len = mib << 20;
	npages = len / PG;
	mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	int bad_rounds = 0;
	for (round_no = 0; round_no < rounds; round_no++) {
		atomic_store(&written, 0);
		atomic_store(&done, 0);
		pthread_t t;
		if (threads > 1 && pthread_create(&t, NULL, dropper, NULL) != 0)
			return 1;
		for (size_t c = 0; c < len / CHUNK; c++) {
			for (size_t p = c * (CHUNK / PG); p < (c + 1) * (CHUNK / PG); p++)
				for (size_t o = 0; o < PG; o += 512)
					mem[p * PG + o] = value(p);
			if (threads > 1) {
				atomic_store(&written, c + 1);
				/* drops stay near the writes: into lines still held */
				while (c + 1 - atomic_load(&done) > 4)
					sched_yield();
			} else {
				drop_chunk(c);
			}
			if (forks && c % (size_t)forks == 0) {
				pid_t pid = fork();
				if (pid == 0)
					_exit(0);
				if (pid < 0 || waitpid(pid, NULL, 0) != pid) {
					perror("fork");
					return 1;
				}
			}
		}
		if (threads > 1)
			pthread_join(t, NULL);
		size_t wrong = 0, zeros = 0;
		for (size_t p = 0; p < npages; p++) {
			uint8_t want = dropped(p) ? 0 : value(p);
			zeros += want == 0;
			for (size_t o = 0; o < PG; o += 512)
				if (mem[p * PG + o] != want) {
					wrong++;
					break;
				}
		}
		printf("round %d: %zu pages, %zu dropped, %zu wrong\n", round_no, npages, zeros, wrong);
		bad_rounds += wrong != 0;
	}
	return bad_rounds != 0;
}
