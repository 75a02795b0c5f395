/*
 * A program that brings its own malloc family, as rustc does (jemalloc in
 * the executable): a bump allocator whose mmap is made holding its lock,
 * an error-checking mutex, so that an allocation from inside that mmap
 * (the runtime's, on the same thread) aborts instead of hanging.  It
 * fills and checks 64 MiB in allocations of 64 KiB, from a thread and
 * from a forked child too, and prints checksums.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHUNK (4u << 20)

static pthread_mutex_t lock;
static char *cur, *end;

static void lock_or_die(void)
{
	if (pthread_mutex_lock(&lock)) {
		static const char msg[] = "own malloc: re-entered while allocating\n";
		write(2, msg, sizeof msg - 1);
		abort();
	}
}

void *malloc(size_t n)
{
	n = (n + 15) & ~(size_t)15;
	lock_or_die();
	if (!cur || (size_t)(end - cur) < n + 16) {
		size_t len = n + 16 > CHUNK ? (n + 16 + CHUNK) & ~(size_t)(CHUNK - 1) : CHUNK;
		char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			pthread_mutex_unlock(&lock);
			return NULL;
		}
		memset(p, 0, 64); /* touched holding the lock, like an allocator's headers */
		cur = p, end = p + len;
	}
	char *r = cur + 16;
	*(size_t *)cur = n;
	cur += n + 16;
	pthread_mutex_unlock(&lock);
	return r;
}

void free(void *p) { (void)p; }

/* (through a volatile pointer: the compiler turns malloc + memset into a
 * call to calloc, which would be this one) */
static void *(*volatile own_malloc)(size_t) = malloc;

void *calloc(size_t a, size_t b)
{
	void *p = own_malloc(a * b);
	if (p)
		memset(p, 0, a * b);
	return p;
}

void *realloc(void *p, size_t n)
{
	void *q = malloc(n);
	if (q && p) {
		size_t old = *(size_t *)((char *)p - 16);
		memcpy(q, p, old < n ? old : n);
	}
	return q;
}

static uint64_t fill_check(unsigned seed, unsigned mib)
{
	uint64_t *blk[1024], sum = 0;
	unsigned nb = mib * 16; /* 64 KiB each */
	for (unsigned i = 0; i < nb; i++) {
		blk[i] = malloc(65536);
		for (unsigned j = 0; j < 8192; j++)
			blk[i][j] = (uint64_t)seed * 1000003u + i * 8192u + j;
	}
	for (unsigned i = 0; i < nb; i++)
		for (unsigned j = 0; j < 8192; j++)
			sum = sum * 31 + blk[i][j];
	return sum;
}

static void *worker(void *arg)
{
	*(uint64_t *)arg = fill_check(2, 16);
	return NULL;
}

int main(void)
{
	pthread_mutexattr_t a;
	pthread_mutexattr_init(&a);
	pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
	pthread_mutex_init(&lock, &a);
	printf("main %llu\n", (unsigned long long)fill_check(1, 48));
	pthread_t t;
	uint64_t ts = 0;
	pthread_create(&t, NULL, worker, &ts);
	pthread_join(t, NULL);
	printf("thread %llu\n", (unsigned long long)ts);
	fflush(stdout);
	pid_t c = fork();
	if (c == 0) {
		printf("child %llu\n", (unsigned long long)fill_check(3, 8));
		fflush(stdout);
		_exit(0);
	}
	int st;
	waitpid(c, &st, 0);
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
