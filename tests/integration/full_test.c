/*
 * lego-test-full_test: what a program sees when the memnode is full.
 * Run against a memnode with --capacity 64M.  An allocation that does not
 * fit returns NULL with ENOMEM, the program is not killed, and everything
 * stored before is intact; after a free, allocation works again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <lego/lego.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define MIB (1024 * 1024)

static int check(uint64_t *a, size_t n, uint64_t tag)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != (i ^ tag)) {
			fprintf(stderr, "word %zu: %llx != %llx\n", i, (unsigned long long)a[i],
				(unsigned long long)(i ^ tag));
			return 1;
		}
	return 0;
}

int main(void)
{
	size_t n = 40 * MIB / 8;
	uint64_t *a = lego_alloc(n * 8);
	if (!a) {
		perror("first lego_alloc(40M)");
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		a[i] = i ^ 0xabc;
	int r = lego_flush();
	if (r) {
		fprintf(stderr, "lego_flush: %s\n", lego_strerror(r));
		return 1;
	}
	errno = 0;
	void *b = lego_alloc(40 * MIB);
	if (b || errno != ENOMEM) {
		fprintf(stderr, "second lego_alloc(40M) on a 64M memnode: %p, errno %d (want NULL, "
			"ENOMEM)\n", b, errno);
		return 1;
	}
	printf("second 40M allocation refused: %s\n", strerror(errno));
	/* small allocations until the memnode is full: each either works or
	 * fails cleanly */
	void *small[4096];
	int ns = 0;
	while (ns < 4096 && (small[ns] = lego_alloc(1 * MIB)) != NULL) {
		memset(small[ns], 0x5a, MIB);
		ns++;
	}
	if (ns == 4096 || errno != ENOMEM) {
		fprintf(stderr, "filling with 1M allocations: %d made, errno %d\n", ns, errno);
		return 1;
	}
	printf("%d more 1M allocations fit, then ENOMEM\n", ns);
	if (check(a, n, 0xabc))
		return 1;
	printf("first 40M intact after ENOMEM\n");
	for (int i = 0; i < ns; i++)
		lego_free(small[i]);
	lego_free(a);
	/* jemalloc keeps freed ranges for reuse; their contents are released,
	 * so a new allocation of the same size fits again */
	uint64_t *c = lego_alloc(n * 8);
	if (!c) {
		perror("lego_alloc after free");
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		c[i] = i ^ 0xdef;
	if (lego_flush() || check(c, n, 0xdef))
		return 1;
	printf("OK\n");
	return 0;
}
