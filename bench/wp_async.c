/*
 * lego-bench-wpasync: what userfaultfd's asynchronous write-protection
 * (Linux 6.7+: UFFD_FEATURE_WP_ASYNC, read back with PAGEMAP_SCAN) would
 * give the ExCache's dirty tracking, and the property it lacks.
 *
 *   lego-bench-wpasync [--pages N]
 *
 * Installs N pages write-protected (UFFDIO_COPY_MODE_WP) in a region
 * registered with an asynchronous-WP userfaultfd, then times the first
 * write to each (the kernel lifts the protection itself: no service
 * thread), a second write, and a PAGEMAP_SCAN of which pages were written,
 * checked against the pages really written.  Last, it moves the pages to a
 * second region with UFFDIO_MOVE and scans there: an eviction that wanted
 * to freeze a line and then learn whether it was written would need the
 * move to keep that state.  docs/benchmarks.md ("Asynchronous
 * write-protection") has the figures and why Lego keeps its synchronous
 * write-protect faults.  Prints "unsupported" and exits 0 on a kernel
 * without these calls.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "liblego/pagemap.h"


static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

/* Pages of [a, a + n pages) PAGEMAP_SCAN reports written, as a bitmap in
 * out[]; returns how many, or -errno. */
static long written_pages(int pm, char *a, size_t n, size_t ps, uint8_t *out)
{
	static struct lg_pm_region v[4096];
	struct lg_pm_scan s = {.size = sizeof s,
			     .start = (uint64_t)(uintptr_t)a,
			     .end = (uint64_t)(uintptr_t)(a + n * ps),
			     .vec = (uint64_t)(uintptr_t)v,
			     .vec_len = 4096,
			     .category_mask = LG_PAGE_IS_WRITTEN,
			     .return_mask = LG_PAGE_IS_WRITTEN};
	memset(out, 0, n);
	while (s.start < s.end) {
		long r = ioctl(pm, LG_PAGEMAP_SCAN, &s);
		if (r < 0)
			return -errno;
		for (long i = 0; i < r; i++)
			for (uint64_t p = v[i].start; p < v[i].end; p += ps)
				out[(p - (uint64_t)(uintptr_t)a) / ps] = 1;
		if (s.walk_end <= s.start)
			break;
		s.start = s.walk_end; /* the vector filled up: go on from there */
	}
	long total = 0;
	for (size_t i = 0; i < n; i++)
		total += out[i];
	return total;
}

/* Pages whose reported state is not what main wrote (every other page,
 * from the first). */
static size_t not_as_written(const uint8_t *seen, size_t n)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		k += seen[i] != (i % 2 == 0);
	return k;
}

int main(int argc, char **argv)
{
	size_t n = 65536, ps = (size_t)sysconf(_SC_PAGESIZE);
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--pages") && i + 1 < argc) {
			n = strtoull(argv[++i], NULL, 0);
		} else {
			fprintf(stderr, "usage: %s [--pages N]\n", argv[0]);
			return 2;
		}
	}
	if (n < 2) {
		fprintf(stderr, "lego-bench-wpasync: --pages %zu: need at least 2\n", n);
		return 2;
	}
	int uffd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	struct uffdio_api api = {.api = UFFD_API,
				 .features = LG_UFFD_WP_ASYNC | LG_UFFD_MOVE};
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api) != 0) {
		printf("wpasync unsupported (userfaultfd with WP_ASYNC and MOVE: %s)\n",
		       strerror(errno));
		return 0;
	}
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	char *m = mmap(NULL, 2 * n * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *src = aligned_alloc(ps, ps);
	uint8_t *seen = malloc(n);
	if (pm < 0 || m == MAP_FAILED || !src || !seen) {
		fprintf(stderr, "lego-bench-wpasync: setting up %zu pages: %s\n", n, strerror(errno));
		return 1;
	}
	char *stage = m + n * ps;
	struct uffdio_register reg = {.range = {(uint64_t)(uintptr_t)m, 2 * n * ps},
				      .mode = UFFDIO_REGISTER_MODE_MISSING |
					      UFFDIO_REGISTER_MODE_WP};
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) != 0) {
		fprintf(stderr, "lego-bench-wpasync: UFFDIO_REGISTER: %s\n", strerror(errno));
		return 1;
	}
	memset(src, 1, ps);
	uint64_t t0 = now_ns();
	for (size_t i = 0; i < n; i++) {
		struct uffdio_copy c = {.dst = (uint64_t)(uintptr_t)(m + i * ps),
					.src = (uint64_t)(uintptr_t)src,
					.len = ps,
					.mode = UFFDIO_COPY_MODE_WP};
		if (ioctl(uffd, UFFDIO_COPY, &c) != 0) {
			fprintf(stderr, "lego-bench-wpasync: UFFDIO_COPY: %s\n", strerror(errno));
			return 1;
		}
	}
	/* every other page written, twice */
	uint64_t t1 = now_ns();
	for (size_t i = 0; i < n; i += 2)
		((volatile char *)m)[i * ps] = 2;
	uint64_t t2 = now_ns();
	for (size_t i = 0; i < n; i += 2)
		((volatile char *)m)[i * ps] = 3;
	uint64_t t3 = now_ns();
	long w = written_pages(pm, m, n, ps, seen);
	uint64_t t4 = now_ns();
	if (w < 0) {
		printf("wpasync unsupported (PAGEMAP_SCAN: %s)\n", strerror((int)-w));
		return 0;
	}
	size_t wrong = not_as_written(seen, n);
	size_t nw = (n + 1) / 2;
	printf("wpasync pages=%zu install_wp_us=%.2f first_write_us=%.2f second_write_us=%.3f "
	       "scan_us_per_page=%.3f written_reported=%ld of %zu wrong=%zu\n",
	       n, (double)(t1 - t0) / 1e3 / (double)n, (double)(t2 - t1) / 1e3 / (double)nw,
	       (double)(t3 - t2) / 1e3 / (double)nw, (double)(t4 - t3) / 1e3 / (double)n, w, nw,
	       wrong);
	struct lg_uffd_move mv = {.dst = (uint64_t)(uintptr_t)stage,
			      .src = (uint64_t)(uintptr_t)m,
			      .len = n * ps};
	if (ioctl(uffd, LG_UFFDIO_MOVE, &mv) != 0) {
		printf("wpasync move unsupported (UFFDIO_MOVE: %s)\n", strerror(errno));
		return 0;
	}
	if (mv.move != (int64_t)(n * ps)) {
		fprintf(stderr, "lego-bench-wpasync: UFFDIO_MOVE moved %lld of %zu bytes\n",
			(long long)mv.move, n * ps);
		return 1;
	}
	long wm = written_pages(pm, stage, n, ps, seen);
	size_t differ = not_as_written(seen, n);
	printf("wpasync after UFFDIO_MOVE: written_reported=%ld of %zu (%s, %zu pages differ)\n",
	       wm, nw, differ ? "lost" : "kept", differ);
	return wrong ? 1 : 0;
}
