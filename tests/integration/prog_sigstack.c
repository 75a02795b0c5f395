/*
 * Signals delivered on a signal stack that is not resident (the Go
 * runtime's way: each thread's signal stack is in its heap, and SIGURG
 * preempts it every 10 ms).  The main thread's signal stack is a
 * mapping of its own; each round the thread streams through a region
 * larger than a small ExCache (its stack lines go out), then maps and
 * unmaps memory (an allocator's growth and shrinking) until a signal
 * sent by another thread at a random moment has been handled there.
 * Under Lego, the frame of a signal that arrived while the thread was
 * inside the runtime holding a lock of the fault thread's (sending a
 * request: libfabric's) faulted, and the fault thread waited for that
 * lock for good (it_runtimes' Go program).  Prints "ok ROUNDS SUM" when
 * every round's signal was handled and the data read back right; exit 1
 * otherwise.  With ROUNDS 0: prints "mapping", then maps, touches and
 * unmaps memory until killed.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "pattern.h"

static volatile sig_atomic_t handled;
static pthread_t worker;
static atomic_int armed, done;

static void on_usr1(int s)
{
	volatile char frame[2048]; /* more of the stack written */
	frame[0] = (char)s;
	frame[sizeof frame - 1] = frame[0];
	handled++;
}

static void *sender(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;
	while (!atomic_load(&done)) {
		if (!atomic_load(&armed)) {
			sched_yield();
			continue;
		}
		struct timespec ts = {0, 1000 * (long)(rand_r(&seed) % 400)};
		nanosleep(&ts, NULL);
		atomic_store(&armed, 0);
		pthread_kill(worker, SIGUSR1);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 60;
	size_t big = (argc > 2 ? (size_t)atoi(argv[2]) : 48) << 20;
	const size_t stack_len = 256u << 10, chunk = 1u << 20;
	if (rounds == 0) {
		printf("mapping\n");
		fflush(stdout);
		for (size_t i = 0;; i++) {
			char *p = map(chunk);
			p[(i * 4096) % chunk] = 1;
			munmap(p, chunk);
		}
	}
	char *stack = map(stack_len);
	stack_t ss = {.ss_sp = stack, .ss_size = stack_len};
	if (sigaltstack(&ss, NULL))
		return 2;
	struct sigaction sa = {.sa_handler = on_usr1, .sa_flags = SA_ONSTACK | SA_RESTART};
	sigaction(SIGUSR1, &sa, NULL);
	sigset_t usr1;
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	worker = pthread_self();
	pthread_t t;
	if (pthread_create(&t, NULL, sender, (void *)(uintptr_t)getpid()))
		return 2;
	char *o = map(big);
	uint64_t sum = 0, maps = 0;
	for (int r = 0; r < rounds; r++) {
		fill_sparse(o, big, (uint64_t)r); /* the signal stack's lines go out */
		struct timespec zero = {0, 0};
		while (sigtimedwait(&usr1, NULL, &zero) == SIGUSR1)
			; /* one left from the last round: not on a cold stack */
		sig_atomic_t before = handled;
		atomic_store(&armed, 1);
		pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
		while (handled == before) {
			char *p = mmap(NULL, chunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				       -1, 0);
			if (p == MAP_FAILED)
				return 2;
			p[(maps * 4096) % chunk] = 1;
			munmap(p, chunk);
			maps++;
		}
		pthread_sigmask(SIG_BLOCK, &usr1, NULL);
		for (size_t i = 0; i + 8 <= big; i += 512) {
			uint64_t v = *(uint64_t *)(o + i);
			if (v != mix((uint64_t)r + i)) {
				printf("round %d: word at %zu wrong\n", r, i);
				return 1;
			}
			sum += v >> 48;
		}
	}
	atomic_store(&done, 1);
	pthread_join(t, NULL);
	printf("ok %d %llu\n", rounds, (unsigned long long)sum);
	fprintf(stderr, "%llu mappings\n", (unsigned long long)maps);
	return 0;
}
