/*
 * lego-test-api_test: the explicit API's semantics under a small ExCache
 * (so every path evicts): realloc keeps contents, calloc zeroes, alignment,
 * frees, flush, counters; many threads faulting on the same lines at once;
 * and a random read/write stress checked word by word against a local
 * shadow copy.  Exit 0 when all hold.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <lego/lego.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
static int stress_ops = 50000;
#define CHECK(cond, ...)                                                          \
	do {                                                                      \
		if (!(cond)) {                                                    \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);       \
			fprintf(stderr, __VA_ARGS__);                              \
			fputc('\n', stderr);                                       \
			failures++;                                                \
		}                                                                 \
	} while (0)

static void test_basics(void)
{
	CHECK(lego_init() == 0, "lego_init");
	char *p = lego_alloc(100);
	CHECK(p && lego_is_remote(p), "lego_alloc(100) remote");
	CHECK(((uintptr_t)p & 15) == 0, "16-byte aligned");
	memcpy(p, "hello, remote world", 20);
	p = lego_realloc(p, 3 << 20); /* grows into a large class: moves */
	CHECK(p && strcmp(p, "hello, remote world") == 0, "realloc keeps contents");
	p = lego_realloc(p, 10);
	CHECK(p && memcmp(p, "hello, rem", 10) == 0, "realloc shrink keeps contents");
	lego_free(p);
	uint64_t *z = lego_calloc(1 << 20, 8);
	int zero = 1;
	for (size_t i = 0; z && i < (1 << 20); i++)
		zero &= z[i] == 0;
	CHECK(z && zero, "calloc memory reads zero");
	lego_free(z);
	errno = 0;
	CHECK(lego_calloc(SIZE_MAX / 2, 4) == NULL && errno == ENOMEM, "calloc overflow");
	void *al = lego_alloc_aligned(1 << 16, 5000);
	CHECK(al && ((uintptr_t)al & 0xffff) == 0, "aligned allocation");
	lego_free(al);
	errno = 0;
	CHECK(lego_alloc_aligned(3, 8) == NULL && errno == EINVAL, "bad alignment refused");
	lego_free(NULL);
	int local;
	CHECK(!lego_is_remote(&local), "stack is not remote");
	lego_free(&local); /* logged and ignored */
	CHECK(lego_realloc(NULL, 64) != NULL, "realloc(NULL) allocates");
	CHECK(lego_flush() == 0, "flush");
	CHECK(strlen(lego_strerror(-ENOMEM)) > 0, "strerror");
	struct lego_stats st;
	lego_stats(&st);
	CHECK(st.v[LEGO_STAT_ALLOCS] >= 4 && st.v[LEGO_STAT_FAULTS] > 0, "counters move");
	CHECK(strcmp(lego_stat_name(LEGO_STAT_MISSES), "excache.misses") == 0, "stat names");
}

/* ------------------------------------------------- same-line contention */

#define NT 8
static _Atomic uint64_t *shared;
static size_t nlines_shared;

static void *hammer(void *arg)
{
	long id = (long)arg;
	for (int round = 0; round < 200; round++)
		for (size_t l = 0; l < nlines_shared; l++)
			atomic_fetch_add_explicit(&shared[l * 512 + (size_t)id], 1, memory_order_relaxed);
	return NULL;
}

static void test_same_line(void)
{
	/* 64 lines x 8 threads, each thread its own word in every line, with a
	 * cache small enough that lines are evicted while others fault on them */
	nlines_shared = 512;
	shared = lego_calloc(nlines_shared * 512, 8);
	CHECK(shared != NULL, "alloc shared");
	if (!shared)
		return;
	pthread_t t[NT];
	for (long i = 0; i < NT; i++)
		pthread_create(&t[i], NULL, hammer, (void *)i);
	for (int i = 0; i < NT; i++)
		pthread_join(t[i], NULL);
	size_t bad = 0;
	for (size_t l = 0; l < nlines_shared; l++)
		for (size_t k = 0; k < NT; k++)
			bad += shared[l * 512 + k] != 200;
	CHECK(bad == 0, "%zu counters lost updates under concurrent faults", bad);
	lego_free((void *)shared);
}

/* --------------------------------------------------------- random stress */

struct region {
	uint64_t *remote, *shadow;
	size_t words;
	uint64_t seed;
	size_t errors;
};

static void *stress(void *arg)
{
	struct region *r = arg;
	uint64_t x = r->seed;
	for (int op = 0; op < stress_ops; op++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		size_t i = x % r->words;
		if (x & (1ull << 40)) {
			r->remote[i] = x;
			r->shadow[i] = x;
		} else if (r->remote[i] != r->shadow[i]) {
			r->errors++;
		}
	}
	for (size_t i = 0; i < r->words; i++)
		r->errors += r->remote[i] != r->shadow[i];
	return NULL;
}

static void test_stress(void)
{
	enum { NR = 4 };
	struct region reg[NR];
	pthread_t t[NR];
	for (int i = 0; i < NR; i++) {
		reg[i].words = (8 << 20) / 8;
		reg[i].remote = lego_calloc(reg[i].words, 8);
		reg[i].shadow = calloc(reg[i].words, 8);
		reg[i].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		reg[i].errors = 0;
		CHECK(reg[i].remote && reg[i].shadow, "alloc region");
	}
	for (int i = 0; i < NR; i++)
		pthread_create(&t[i], NULL, stress, &reg[i]);
	for (int i = 0; i < NR; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < NR; i++) {
		CHECK(reg[i].errors == 0, "region %d: %zu words differ from the shadow copy", i,
		      reg[i].errors);
		lego_free(reg[i].remote);
		free(reg[i].shadow);
	}
	struct lego_stats st;
	lego_stats(&st);
	CHECK(st.v[LEGO_STAT_EVICT_DIRTY] > 0 && st.v[LEGO_STAT_MISSES] > 0,
	      "the stress evicted and fetched (dirty %llu, misses %llu)",
	      (unsigned long long)st.v[LEGO_STAT_EVICT_DIRTY],
	      (unsigned long long)st.v[LEGO_STAT_MISSES]);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		stress_ops = atoi(argv[1]);
	test_basics();
	test_same_line();
	test_stress();
	printf("%s (%d failures)\n", failures ? "FAILED" : "OK", failures);
	return failures != 0;
}
