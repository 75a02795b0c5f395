/*
 * lego-bench-excache: what an ExCache miss and hit cost, seen from the
 * application, next to the floors measured in the same run.
 *
 *   lego-bench-excache [--ws SIZE] [--floors]
 *
 * The ExCache size, line size and fabric come from LEGO_* variables.  The
 * working set defaults to 4x LEGO_EXCACHE_SIZE.  Prints, per phase, the
 * median and p99 in microseconds and throughput; --floors adds the raw
 * costs: first touch of an anonymous page, SIGSEGV + mprotect round trip,
 * and (via lego-bench-rpc) a 4 KiB RPC; and what a miss through
 * userfaultfd costs without any fetch, as Lego installs a read line (a
 * service thread copies the page in, write-protected, which wakes the
 * faulting thread), whole and in its parts: the copy, the wake-up, and the
 * first read of a page so installed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <lego/lego.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "liblego/fault.h"

static inline uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void report(const char *what, uint64_t *ns, size_t n)
{
	qsort(ns, n, sizeof *ns, cmp);
	printf("  %-34s median %8.2f us  p99 %8.2f us  (n=%zu)\n", what, ns[n / 2] / 1e3,
	       ns[n * 99 / 100] / 1e3, n);
}

static uint64_t rng = 88172645463325252ull;
static inline uint64_t xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static size_t env_size(const char *name, size_t dflt)
{
	const char *s = getenv(name);
	if (!s)
		return dflt;
	char *e;
	double v = strtod(s, &e);
	switch (*e) {
	case 'K': case 'k': v *= 1024; break;
	case 'M': case 'm': v *= 1048576; break;
	case 'G': case 'g': v *= 1073741824.0; break;
	}
	return (size_t)v;
}

/* ------------------------------------------------------------- floors */

static void uffd_floors(size_t n, uint64_t *ns);

static volatile char *segv_page;
static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	mprotect((void *)((uintptr_t)si->si_addr & ~4095ul), 4096, PROT_READ | PROT_WRITE);
}

static void floors(void)
{
	const size_t n = 20000;
	uint64_t *ns = malloc(n * sizeof *ns);
	char *m = mmap(NULL, n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	for (size_t i = 0; i < n; i++) {
		uint64_t t = now_ns();
		m[i * 4096] = 1;
		ns[i] = now_ns() - t;
	}
	report("floor: first-touch page fault", ns, n);
	munmap(m, n * 4096);
	struct sigaction sa = {0}, old;
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, &old);
	m = mmap(NULL, n * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(m, 1, n * 4096);
	mprotect(m, n * 4096, PROT_NONE);
	for (size_t i = 0; i < n; i++) {
		segv_page = m + i * 4096;
		uint64_t t = now_ns();
		(void)*segv_page;
		ns[i] = now_ns() - t;
	}
	report("floor: SIGSEGV + mprotect round trip", ns, n);
	sigaction(SIGSEGV, &old, NULL);
	munmap(m, n * 4096);
	uffd_floors(n, ns);
	free(ns);
}

/* A mapping registered with userfaultfd fd as Lego registers its own
 * (liblego/uffd.c, which opened fd too), or NULL. */
static char *uffd_region(int fd, size_t len)
{
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return NULL;
	if (lg_uffd_register(fd, m, len) != 0) {
		munmap(m, len);
		return NULL;
	}
	return m;
}

/* The service thread: polls the descriptor, yielding between polls (as
 * Lego's does while faults come), and copies a page in for each fault. */
struct uffd_srv {
	int fd, split; /* split: copy without waking, then wake apart */
	const char *page;
	atomic_int stop;
	uint64_t *copy_ns, *wake_ns;
	size_t n, cap;
};

static void *uffd_serve(void *arg)
{
	struct uffd_srv *s = arg;
	struct uffd_msg m;
	while (!atomic_load(&s->stop)) {
		if (read(s->fd, &m, sizeof m) != (ssize_t)sizeof m) {
			sched_yield();
			continue;
		}
		if (m.event != UFFD_EVENT_PAGEFAULT)
			continue;
		uint64_t at = m.arg.pagefault.address & ~4095ull, t0 = now_ns();
		struct uffdio_copy c = {.dst = at, .src = (uint64_t)(uintptr_t)s->page, .len = 4096,
					.mode = UFFDIO_COPY_MODE_WP |
						(s->split ? UFFDIO_COPY_MODE_DONTWAKE : 0)};
		if (ioctl(s->fd, UFFDIO_COPY, &c) != 0 && errno != EEXIST) {
			perror("UFFDIO_COPY");
			exit(1);
		}
		uint64_t t1 = now_ns();
		if (s->split) {
			struct uffdio_range w = {at, 4096};
			ioctl(s->fd, UFFDIO_WAKE, &w);
		}
		if (s->n < s->cap) {
			s->copy_ns[s->n] = t1 - t0;
			s->wake_ns[s->n++] = now_ns() - t1;
		}
	}
	return NULL;
}

/* LEGO_FAULT=sigbus's way: the faulting thread itself takes SIGBUS and
 * copies the page in (no hand-off, no wake-up). */
static int bus_fd = -1;
static const char *bus_page;
static void on_bus(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	struct uffdio_copy c = {.dst = (uint64_t)(uintptr_t)si->si_addr & ~4095ull,
				.src = (uint64_t)(uintptr_t)bus_page, .len = 4096,
				.mode = UFFDIO_COPY_MODE_WP | UFFDIO_COPY_MODE_DONTWAKE};
	if (ioctl(bus_fd, UFFDIO_COPY, &c) != 0 && errno != EEXIST)
		abort();
}

static void uffd_sigbus_floor(size_t n, uint64_t *ns, const char *page)
{
	bus_fd = lg_uffd_open_as(1);
	char *m = bus_fd >= 0 ? uffd_region(bus_fd, n * 4096) : NULL;
	struct sigaction sa = {0}, old;
	sa.sa_sigaction = on_bus;
	sa.sa_flags = SA_SIGINFO;
	if (m && sigaction(SIGBUS, &sa, &old) == 0) {
		bus_page = page;
		uint64_t sum = 0;
		for (size_t i = 0; i < n; i++) {
			uint64_t t0 = now_ns();
			sum += *(volatile char *)(m + i * 4096);
			ns[i] = now_ns() - t0;
		}
		sigaction(SIGBUS, &old, NULL);
		if (sum != n * (uint64_t)page[0])
			printf("  (userfaultfd SIGBUS floor: wrong data read)\n");
		report("floor: userfaultfd SIGBUS miss, no fetch", ns, n);
	}
	if (m)
		munmap(m, n * 4096);
	if (bus_fd >= 0)
		close(bus_fd);
}

/* One pass: the main thread reads n fresh pages, one fault each. */
static int uffd_pass(struct uffd_srv *s, char *m, size_t n, uint64_t *ns)
{
	pthread_t t;
	atomic_store(&s->stop, 0);
	s->n = 0;
	if (pthread_create(&t, NULL, uffd_serve, s) != 0)
		return -1;
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = now_ns();
		sum += *(volatile char *)(m + i * 4096);
		ns[i] = now_ns() - t0;
	}
	atomic_store(&s->stop, 1);
	pthread_join(t, NULL);
	return sum == n * (uint64_t)s->page[0] ? 0 : -1;
}

static void uffd_floors(size_t n, uint64_t *ns)
{
	struct uffd_srv s = {.cap = n};
	s.fd = lg_uffd_open();
	char *page = aligned_alloc(4096, 4096);
	s.copy_ns = malloc(n * sizeof *s.copy_ns);
	s.wake_ns = malloc(n * sizeof *s.wake_ns);
	char *a = s.fd >= 0 ? uffd_region(s.fd, n * 4096) : NULL;
	char *b = a ? uffd_region(s.fd, n * 4096) : NULL;
	if (!b || !page || !s.copy_ns || !s.wake_ns) {
		printf("  (no userfaultfd floors: %s)\n", s.fd < 0 ? strerror(-s.fd) : strerror(errno));
		if (a)
			munmap(a, n * 4096);
		goto out;
	}
	memset(page, 1, 4096);
	s.page = page;
	/* whole, as Lego's demand install: one copy that also wakes */
	if (uffd_pass(&s, a, n, ns) != 0)
		printf("  (userfaultfd floor: wrong data read)\n");
	report("floor: userfaultfd miss, no fetch", ns, n);
	/* its parts: the copy without waking, the wake-up apart */
	s.split = 1;
	if (uffd_pass(&s, b, n, ns) != 0)
		printf("  (userfaultfd floor: wrong data read)\n");
	size_t k = s.n;
	report("floor part: UFFDIO_COPY (no wake)", s.copy_ns, k);
	report("floor part: UFFDIO_WAKE", s.wake_ns, k);
	munmap(a, n * 4096);
	munmap(b, n * 4096);
	/* the first read of a page installed with no one waiting for it */
	a = uffd_region(s.fd, n * 4096);
	size_t i = 0;
	for (; a && i < n; i++) {
		struct uffdio_copy c = {.dst = (uint64_t)(uintptr_t)(a + i * 4096),
					.src = (uint64_t)(uintptr_t)page, .len = 4096,
					.mode = UFFDIO_COPY_MODE_WP};
		if (ioctl(s.fd, UFFDIO_COPY, &c) != 0)
			break;
		uint64_t t0 = now_ns();
		(void)*(volatile char *)(a + i * 4096);
		ns[i] = now_ns() - t0;
	}
	if (i)
		report("floor part: first read after copy", ns, i);
	if (a)
		munmap(a, n * 4096);
	uffd_sigbus_floor(n, ns, page);
out:
	if (s.fd >= 0)
		close(s.fd);
	free(s.copy_ns);
	free(s.wake_ns);
	free(page);
}

/* ------------------------------------------------------------- phases */

int main(int argc, char **argv)
{
	size_t cache = env_size("LEGO_EXCACHE_SIZE", 64 << 20);
	size_t line = env_size("LEGO_EXCACHE_LINE", 4096);
	size_t ws = 4 * cache;
	int do_floors = 0;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--ws") && i + 1 < argc) {
			setenv("LEGO_BENCH_WS", argv[++i], 1);
			ws = strcmp(argv[i], "0") ? env_size("LEGO_BENCH_WS", ws) : 0;
			unsetenv("LEGO_BENCH_WS");
		} else if (!strcmp(argv[i], "--floors")) {
			do_floors = 1;
		} else {
			fprintf(stderr, "usage: %s [--ws SIZE] [--floors]\n", argv[0]);
			return 2;
		}
	}
	if (do_floors)
		floors();
	if (!ws)
		return 0;
	volatile uint8_t *a = lego_alloc(ws);
	if (!a) {
		perror("lego_alloc");
		return 1;
	}
	size_t nl = ws / line;
	uint64_t *ns = malloc(nl * sizeof *ns);
	/* 1: first write of each line: zero-fill locally (no network) */
	for (size_t i = 0; i < nl; i++) {
		uint64_t t = now_ns();
		a[i * line] = (uint8_t)i;
		ns[i] = now_ns() - t;
	}
	report("first write (zero-fill, evicting)", ns, nl);
	/* 2: read miss: every line once, in random order (no stream for the
	 * prefetcher to follow), over 4x the cache, so every access misses */
	uint64_t sum = 0;
	size_t *perm = malloc(nl * sizeof *perm);
	for (size_t i = 0; i < nl; i++)
		perm[i] = i;
	for (size_t i = nl - 1; i > 0; i--) {
		size_t j = xorshift() % (i + 1), t = perm[i];
		perm[i] = perm[j];
		perm[j] = t;
	}
	for (size_t i = 0; i < nl; i++) {
		uint64_t t = now_ns();
		sum += a[perm[i] * line];
		ns[i] = now_ns() - t;
	}
	report("read miss (fetch, random order)", ns, nl);
	free(perm);
	/* 3: write miss: random lines not in the cache */
	size_t nw = nl / 2;
	for (size_t i = 0; i < nw; i++) {
		size_t l = xorshift() % nl;
		uint64_t t = now_ns();
		a[l * line + 1] = (uint8_t)i;
		ns[i] = now_ns() - t;
	}
	report("write miss (random line)", ns, nw);
	/* 4: hits: a working set of half the cache, touched until it stays put
	 * (FIFO may evict a line that was resident before the warm-up began) */
	size_t hl = cache / line / 2, reps = 20;
	struct lego_stats st0, st1;
	for (int pass = 0; pass < 10; pass++) {
		lego_stats(&st0);
		for (size_t i = 0; i < hl; i++)
			sum += a[i * line];
		lego_stats(&st1);
		if (st1.v[LEGO_STAT_FAULTS] == st0.v[LEGO_STAT_FAULTS])
			break;
	}
	lego_stats(&st0);
	uint64_t t0 = now_ns();
	for (size_t r = 0; r < reps; r++)
		for (size_t i = 0; i < hl; i++)
			sum += a[i * line + (r & 63)];
	double hit_ns = (double)(now_ns() - t0) / (double)(hl * reps);
	lego_stats(&st1);
	printf("  %-34s %8.2f ns per access (%llu faults in %zu accesses)\n", "hit (line resident)",
	       hit_ns, (unsigned long long)(st1.v[LEGO_STAT_FAULTS] - st0.v[LEGO_STAT_FAULTS]),
	       hl * reps);
	/* 5: sequential throughput over the whole working set, 8-byte words */
	const volatile uint64_t *w = (const volatile uint64_t *)a;
	t0 = now_ns();
	for (size_t i = 0; i < ws / 8; i++)
		sum += w[i];
	double s = (double)(now_ns() - t0) / 1e9;
	printf("  %-34s %8.1f MiB/s\n", "sequential read, ws = 4x cache", (double)ws / s / 1048576);
	t0 = now_ns();
	for (size_t i = 0; i < ws / 8; i++)
		((volatile uint64_t *)a)[i] = i;
	s = (double)(now_ns() - t0) / 1e9;
	printf("  %-34s %8.1f MiB/s\n", "sequential write, ws = 4x cache", (double)ws / s / 1048576);
	/* 6: random line reads */
	size_t nr = nl;
	t0 = now_ns();
	for (size_t i = 0; i < nr; i++)
		sum += a[(xorshift() % nl) * line];
	s = (double)(now_ns() - t0) / 1e9;
	printf("  %-34s %8.0f ops/s\n", "random line read, ws = 4x cache", (double)nr / s);
	printf("  (checksum %llu)\n", (unsigned long long)sum);
	struct lego_stats st;
	lego_stats(&st);
	printf("  misses %llu, zero-fills %llu, write-backs %llu, victim stalls %llu\n",
	       (unsigned long long)st.v[LEGO_STAT_MISSES], (unsigned long long)st.v[LEGO_STAT_ZERO_FILLS],
	       (unsigned long long)st.v[LEGO_STAT_WRITEBACKS],
	       (unsigned long long)st.v[LEGO_STAT_VICTIM_STALLS]);
	lego_free((void *)a);
	free(ns);
	return 0;
}
