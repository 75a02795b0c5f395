/*
 * Allocator and mapping semantics, as an ordinary program.  Every check
 * prints one line "label: value" made of values only (never addresses), so
 * the output of a native run and of a run under LD_PRELOAD=liblego.so can
 * be compared with diff.  Exit status 0 when every check printed what
 * Linux/glibc semantics promise; the comparison with the native output is
 * the real test (semantics.sh).
 *
 * Knows nothing about Lego.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "pattern.h"

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static int failures;
static size_t pg;

/* One check: print it, count it as failed when it is not what Linux says. */
static void out(const char *label, const char *got, const char *want)
{
	printf("%s: %s\n", label, got);
	if (want && strcmp(got, want) != 0) {
		failures++;
		fprintf(stderr, "unexpected: %s: %s (expected %s)\n", label, got, want);
	}
	fflush(stdout);
}

static void yes(const char *label, int cond) { out(label, cond ? "yes" : "no", "yes"); }

static const char *ename(int e)
{
	switch (e) {
	case 0: return "0";
	case EINVAL: return "EINVAL";
	case ENOMEM: return "ENOMEM";
	case EEXIST: return "EEXIST";
	case EFAULT: return "EFAULT";
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	default: {
		static char b[32];
		snprintf(b, sizeof b, "errno%d", e);
		return b;
	}
	}
}

/* ------------------------------------------------------------ SIGSEGV */

static sigjmp_buf jb;
static volatile sig_atomic_t in_probe;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)si, (void)uc;
	if (!in_probe) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	siglongjmp(jb, sig);
}

/* Touch p (read, or write v when write): "ok", "segv" or "sigbus". */
static const char *probe(volatile char *p, int write, char v)
{
	int s = sigsetjmp(jb, 1);
	if (s == 0) {
		in_probe = 1;
		if (write)
			*p = v;
		else
			(void)*p;
		in_probe = 0;
		return "ok";
	}
	in_probe = 0;
	return s == SIGSEGV ? "segv" : s == SIGBUS ? "sigbus" : "other-signal";
}

/* ----------------------------------------------------------- patterns */

static int same_sparse(const void *p, size_t n, uint64_t seed, size_t off)
{
	for (size_t i = 0; i + 8 <= n; i += 512)
		if (*(const uint64_t *)((const char *)p + i) != mix(seed + off + i))
			return 0;
	return 1;
}

static int zero(const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		if (c[i])
			return 0;
	return 1;
}

static char label[256];
#define L(...) (snprintf(label, sizeof label, __VA_ARGS__), label)

/* -------------------------------------------------------------- malloc */

static void t_alignment(void)
{
	static const size_t sizes[] = {1, 7, 16, 24, 100, 1000, 4096, 5000, 65536, 100000, MiB + 1, 8 * MiB};
	int ok = 1;
	void *keep[64];
	int k = 0;
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
		for (int rep = 0; rep < 4; rep++) {
			void *p = malloc(sizes[i]);
			if (!p || (uintptr_t)p % 16)
				ok = 0;
			if (p)
				memset(p, 1, sizes[i]);
			keep[k++] = p;
		}
	for (int i = 0; i < k; i++)
		free(keep[i]);
	yes("malloc 16-byte aligned for all sizes", ok);
	void *z = malloc(0);
	yes("malloc(0) non-NULL", z != NULL);
	free(z);
	free(NULL);
	out("free(NULL)", "ok", "ok");

	static const size_t aligns[] = {16, 32, 64, 256, 4096, 65536, MiB};
	static const size_t asz[] = {1, 100, 5000, 3 * MiB};
	for (size_t i = 0; i < sizeof aligns / sizeof aligns[0]; i++) {
		size_t a = aligns[i];
		int pm = 1, aa = 1, ma = 1;
		for (size_t j = 0; j < sizeof asz / sizeof asz[0]; j++) {
			void *p = NULL;
			int r = posix_memalign(&p, a, asz[j]);
			if (r || !p || (uintptr_t)p % a || malloc_usable_size(p) < asz[j])
				pm = 0;
			if (p)
				memset(p, 2, asz[j]);
			free(p);
			size_t n = (asz[j] + a - 1) / a * a; /* C11: a multiple of a */
			p = aligned_alloc(a, n);
			if (!p || (uintptr_t)p % a || malloc_usable_size(p) < n)
				aa = 0;
			if (p)
				memset(p, 3, n);
			free(p);
			p = memalign(a, asz[j]);
			if (!p || (uintptr_t)p % a || malloc_usable_size(p) < asz[j])
				ma = 0;
			if (p)
				memset(p, 4, asz[j]);
			free(p);
		}
		yes(L("posix_memalign align %zu", a), pm);
		yes(L("aligned_alloc align %zu", a), aa);
		yes(L("memalign align %zu", a), ma);
	}
	int va = 1, pv = 1;
	for (size_t j = 0; j < sizeof asz / sizeof asz[0]; j++) {
		void *p = valloc(asz[j]);
		if (!p || (uintptr_t)p % pg || malloc_usable_size(p) < asz[j])
			va = 0;
		if (p)
			memset(p, 5, asz[j]);
		free(p);
		p = pvalloc(asz[j]);
		size_t r = (asz[j] + pg - 1) / pg * pg;
		if (!p || (uintptr_t)p % pg || malloc_usable_size(p) < r)
			pv = 0;
		if (p)
			memset(p, 6, r); /* pvalloc rounds up to whole pages */
		free(p);
	}
	yes("valloc page aligned", va);
	yes("pvalloc page aligned, rounded to pages", pv);
	void *p = memalign(24, 100); /* glibc rounds the alignment up to 32 */
	yes("memalign(24) 32-aligned", p && (uintptr_t)p % 32 == 0);
	free(p);
}

static void t_errors(void)
{
	void *p = (void *)1;
	static const size_t bad[] = {0, 3, 4, 24, 48, 100};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		p = (void *)1;
		int r = posix_memalign(&p, bad[i], 64);
		out(L("posix_memalign alignment %zu", bad[i]), ename(r), "EINVAL");
		yes(L("posix_memalign alignment %zu leaves *out", bad[i]), p == (void *)1);
	}
	errno = 0;
	p = malloc(SIZE_MAX);
	out("malloc(SIZE_MAX)", p ? "non-NULL" : ename(errno), "ENOMEM");
	errno = 0;
	p = malloc(SIZE_MAX / 2);
	out("malloc(SIZE_MAX/2)", p ? "non-NULL" : ename(errno), "ENOMEM");
	errno = 0;
	p = malloc((size_t)1 << 50); /* 1 PiB */
	out("malloc(1 PiB)", p ? "non-NULL" : ename(errno), "ENOMEM");
	errno = 0;
	p = calloc(SIZE_MAX / 2, 4);
	out("calloc overflow", p ? "non-NULL" : ename(errno), "ENOMEM");
	errno = 0;
	p = reallocarray(NULL, SIZE_MAX / 2, 4);
	out("reallocarray overflow", p ? "non-NULL" : ename(errno), "ENOMEM");
	void *q = malloc(100);
	memset(q, 7, 100);
	errno = 0;
	p = reallocarray(q, SIZE_MAX / 16, 32);
	out("reallocarray overflow on a block", p ? "non-NULL" : ename(errno), "ENOMEM");
	int intact = 1;
	for (int i = 0; i < 100; i++)
		intact &= ((unsigned char *)q)[i] == 7;
	yes("block intact after failed reallocarray", intact);
	errno = 0;
	p = realloc(q, SIZE_MAX - 4096);
	out("realloc(SIZE_MAX-4096)", p ? "non-NULL" : ename(errno), "ENOMEM");
	intact = 1;
	for (int i = 0; i < 100; i++)
		intact &= ((unsigned char *)q)[i] == 7;
	yes("block intact after failed realloc", intact);
	p = reallocarray(q, 50, 4);
	yes("reallocarray 50x4 ok", p && ((unsigned char *)p)[99] == 7);
	free(p);
	p = malloc(10);
	p = realloc(p, 0); /* glibc: frees, returns NULL */
	yes("realloc(p, 0) returns NULL", p == NULL);
	p = realloc(NULL, 1000);
	yes("realloc(NULL, n) allocates", p != NULL);
	if (p)
		memset(p, 1, 1000);
	free(p);
	/* glibc rounds a non-power-of-two alignment up (2.36); newer glibc
	 * says EINVAL: print what happens, native output decides */
	errno = 0;
	p = aligned_alloc(24, 48);
	out("aligned_alloc(24, 48)", p ? ((uintptr_t)p % 8 ? "unaligned" : "non-NULL") : ename(errno), NULL);
	free(p);
}

static void t_calloc(void)
{
	static const size_t sizes[] = {16, 100, 4096, 10000, 200000, MiB + 4096, 3 * MiB, 24 * MiB};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		size_t n = sizes[i];
		int ok = 1;
		for (int rep = 0; rep < 3; rep++) {
			unsigned char *p = malloc(n);
			memset(p, 0xa5, n);
			free(p);
			p = calloc(1, n);
			if (!p || !zero(p, n))
				ok = 0;
			if (p)
				memset(p, 0x5a, n);
			free(p);
			p = calloc(n / 8 ? n / 8 : 1, 8);
			if (!p || !zero(p, n / 8 ? n / 8 * 8 : 8))
				ok = 0;
			free(p);
		}
		yes(L("calloc %zu zero after reuse", n), ok);
	}
	/* many small blocks in the same size class */
	enum { N = 2000 };
	static void *b[N];
	for (int i = 0; i < N; i++) {
		b[i] = malloc(48);
		memset(b[i], 0xff, 48);
	}
	for (int i = 0; i < N; i++)
		free(b[i]);
	int ok = 1;
	for (int i = 0; i < N; i++) {
		b[i] = calloc(6, 8);
		if (!b[i] || !zero(b[i], 48))
			ok = 0;
	}
	for (int i = 0; i < N; i++)
		free(b[i]);
	yes("calloc 2000x48 zero after reuse", ok);
}

static void t_realloc(void)
{
	static const size_t steps[] = {24, 200, 5000, 70000, 600 * KiB, 3 * MiB, 40 * MiB, 3 * MiB, 70000, 100, 8};
	size_t n = steps[0];
	unsigned char *p = malloc(n);
	fill(p, n, 11);
	for (size_t i = 1; i < sizeof steps / sizeof steps[0]; i++) {
		size_t m = steps[i];
		unsigned char *q = realloc(p, m);
		if (!q) {
			out(L("realloc %zu -> %zu", n, m), "NULL", "kept");
			free(p);
			return;
		}
		size_t keep = n < m ? n : m;
		out(L("realloc %zu -> %zu", n, m),
		    same(q, keep, 11, 0) && malloc_usable_size(q) >= m ? "kept" : "lost", "kept");
		/* the grown part continues the pattern */
		for (size_t j = n; j < m; j++)
			q[j] = pat(11, j);
		p = q;
		n = m;
	}
	free(p);
	static const size_t us[] = {1, 13, 100, 4000, 4097, 65537, MiB + 3, 9 * MiB};
	int ok = 1;
	for (size_t i = 0; i < sizeof us / sizeof us[0]; i++) {
		void *q = malloc(us[i]);
		size_t u = malloc_usable_size(q);
		if (u < us[i])
			ok = 0;
		memset(q, 9, u); /* all of it is usable */
		free(q);
	}
	yes("malloc_usable_size >= requested", ok);
	out("malloc_usable_size(NULL)", malloc_usable_size(NULL) == 0 ? "0" : "non-zero", "0");
}

/* ------------------------------------------------------------ mappings */

static void t_munmap_middle(void)
{
	size_t n = 64 * MiB;
	char *p = map(n);
	fill_sparse(p, n, 21);
	for (size_t i = 0; i < n; i += pg)
		p[i + 100] = (char)(i / pg);
	yes("64M mapping pattern", same_sparse(p, n, 21, 0));
	int r = munmap(p + 20 * MiB, 12 * MiB);
	out("munmap middle 12M", r ? ename(errno) : "0", "0");
	int ok = same_sparse(p, 20 * MiB, 21, 0) && same_sparse(p + 32 * MiB, 32 * MiB, 21, 32 * MiB);
	for (size_t i = 0; i < n; i += pg)
		if ((i < 20 * MiB || i >= 32 * MiB) && p[i + 100] != (char)(i / pg))
			ok = 0;
	yes("parts around the hole keep data", ok);
	out("touch hole start", probe(p + 20 * MiB, 0, 0), "segv");
	out("touch hole middle (write)", probe(p + 26 * MiB + 123, 1, 1), "segv");
	out("touch hole last byte", probe(p + 32 * MiB - 1, 0, 0), "segv");
	out("touch byte before hole", probe(p + 20 * MiB - 1, 0, 0), "ok");
	out("touch first byte after hole", probe(p + 32 * MiB, 0, 0), "ok");
	/* write through the pieces, then read again */
	p[0] = 1;
	p[n - 1] = 2;
	yes("ends writable", p[0] == 1 && p[n - 1] == 2);
	/* unmap a range that spans the hole and part of the tail */
	r = munmap(p + 16 * MiB, 32 * MiB);
	out("munmap across the hole", r ? ename(errno) : "0", "0");
	out("touch after second munmap", probe(p + 40 * MiB, 0, 0), "segv");
	yes("tail keeps data", same_sparse(p + 48 * MiB + pg, 16 * MiB - pg, 21, 48 * MiB + pg));
	yes("head keeps data", same_sparse(p + pg, 16 * MiB - pg, 21, pg)); /* p[0] was written */
	munmap(p, n);
	out("touch after full munmap", probe(p + 100, 0, 0), "segv");
	out("munmap of nothing mapped", munmap(p, n) ? ename(errno) : "0", "0");

	/* a fresh mapping of the same size reads zeros */
	char *q = map(8 * MiB);
	memset(q, 0x77, 8 * MiB);
	munmap(q, 8 * MiB);
	q = map(8 * MiB);
	yes("new mapping after munmap reads zero", zero(q, 8 * MiB));
	munmap(q, 8 * MiB);
	/* the same over more than a memnode frees before it answers (4 096
	 * lines): the rest is freed while the new mapping is written */
	q = map(64 * MiB);
	fill_sparse(q, 64 * MiB, 25);
	munmap(q, 64 * MiB);
	q = map(64 * MiB);
	yes("new mapping after a large munmap reads zero", zero(q, 64 * MiB));
	fill_sparse(q, 64 * MiB, 26);
	yes("and keeps what is written next", same_sparse(q, 64 * MiB, 26, 0));
	munmap(q, 64 * MiB);

	/* the munmaps above covered holes earlier ones made: the address
	 * space they free must not be handed out twice (it was: two later
	 * mappings shared addresses, and one overwrote the other) */
	char *a1 = map(48 * MiB), *a2 = map(32 * MiB);
	yes("mappings made after a munmap over a hole are apart",
	    a1 + 48 * MiB <= a2 || a2 + 32 * MiB <= a1);
	fill_sparse(a1, 48 * MiB, 23);
	fill_sparse(a2, 32 * MiB, 24);
	yes("and keep their data", same_sparse(a1, 48 * MiB, 23, 0) && same_sparse(a2, 32 * MiB, 24, 0));
	munmap(a2, 32 * MiB);
	munmap(a1, 48 * MiB);
}

static void t_mremap(void)
{
	/* grow, moving allowed */
	char *p = map(4 * MiB);
	fill_sparse(p, 4 * MiB, 31);
	char *q = mremap(p, 4 * MiB, 16 * MiB, MREMAP_MAYMOVE);
	out("mremap grow maymove", q == MAP_FAILED ? ename(errno) : "ok", "ok");
	if (q == MAP_FAILED)
		return;
	yes("mremap grow keeps contents", same_sparse(q, 4 * MiB, 31, 0));
	yes("mremap grown part zero", zero(q + 4 * MiB, 12 * MiB));
	fill_sparse(q + 4 * MiB, 12 * MiB, 32);
	/* shrink in place */
	char *s = mremap(q, 16 * MiB, 6 * MiB, 0);
	out("mremap shrink", s == MAP_FAILED ? ename(errno) : s == q ? "same address" : "moved", "same address");
	yes("mremap shrink keeps contents", same_sparse(q, 4 * MiB, 31, 0) && same_sparse(q + 4 * MiB, 2 * MiB, 32, 0));
	out("touch beyond shrunk end", probe(q + 6 * MiB + 10, 0, 0), "segv");
	munmap(q, 6 * MiB);

	/* grow in place into a free neighbour */
	p = map(3 * MiB);
	munmap(p + 2 * MiB, MiB);
	fill_sparse(p, 2 * MiB, 33);
	q = mremap(p, 2 * MiB, 3 * MiB, 0);
	out("mremap grow in place (free neighbour)", q == MAP_FAILED ? ename(errno) : q == p ? "same address" : "moved",
	    "same address");
	if (q != MAP_FAILED) {
		yes("grown in place keeps contents", same_sparse(p, 2 * MiB, 33, 0));
		yes("grown in place new part zero", zero(p + 2 * MiB, MiB));
		munmap(q, 3 * MiB);
	}

	/* cannot grow in place: a neighbour right after it */
	p = map(3 * MiB);
	munmap(p + 2 * MiB, MiB);
	char *nb = mmap(p + 2 * MiB, MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	out("MAP_FIXED_NOREPLACE into a hole", nb == MAP_FAILED ? ename(errno) : nb == p + 2 * MiB ? "ok" : "elsewhere", "ok");
	if (nb == p + 2 * MiB)
		memset(nb, 0x44, MiB);
	fill_sparse(p, 2 * MiB, 34);
	errno = 0;
	q = mremap(p, 2 * MiB, 3 * MiB, 0);
	out("mremap grow without MAYMOVE, neighbour", q == MAP_FAILED ? ename(errno) : "ok", "ENOMEM");
	yes("contents intact after failed mremap", same_sparse(p, 2 * MiB, 34, 0));
	q = mremap(p, 2 * MiB, 5 * MiB, MREMAP_MAYMOVE);
	out("mremap grow with MAYMOVE, neighbour", q == MAP_FAILED ? ename(errno) : q == p ? "same address" : "moved",
	    "moved");
	if (q != MAP_FAILED) {
		yes("moved mapping keeps contents", same_sparse(q, 2 * MiB, 34, 0));
		yes("moved mapping new part zero", zero(q + 2 * MiB, 3 * MiB));
		out("touch old address after move", probe(p + 4096, 0, 0), "segv");
		munmap(q, 5 * MiB);
	}
	int nok = 1;
	for (size_t i = 0; i < MiB; i++)
		nok &= (unsigned char)nb[i] == 0x44;
	yes("neighbour keeps its data", nok);
	munmap(nb, MiB);

	/* shrink to nothing and bad arguments */
	p = map(MiB);
	errno = 0;
	q = mremap(p, MiB, 0, MREMAP_MAYMOVE);
	out("mremap to length 0", q == MAP_FAILED ? ename(errno) : "ok", "EINVAL");
	q = mremap(p + 1, 4096, 8192, MREMAP_MAYMOVE);
	out("mremap unaligned", q == MAP_FAILED ? ename(errno) : "ok", "EINVAL");
	/* MREMAP_FIXED to a chosen address */
	char *dst = map(4 * MiB);
	munmap(dst, 4 * MiB);
	memset(p, 0x3c, MiB);
	q = mremap(p, MiB, 2 * MiB, MREMAP_MAYMOVE | MREMAP_FIXED, dst);
	out("mremap MREMAP_FIXED", q == MAP_FAILED ? ename(errno) : q == dst ? "at target" : "elsewhere", "at target");
	if (q != MAP_FAILED) {
		int ok = zero(q + MiB, MiB);
		for (size_t i = 0; i < MiB; i++)
			ok &= (unsigned char)q[i] == 0x3c;
		yes("MREMAP_FIXED keeps contents", ok);
		munmap(q, 2 * MiB);
	}
}

static void t_fixed(void)
{
	char *p = map(4 * MiB);
	memset(p, 0x11, 4 * MiB);
	char *q = mmap(p + MiB, MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	out("MAP_FIXED over a mapping", q == MAP_FAILED ? ename(errno) : q == p + MiB ? "at address" : "elsewhere",
	    "at address");
	yes("MAP_FIXED range reads zero", zero(p + MiB, MiB));
	int ok = 1;
	for (size_t i = 0; i < 4 * MiB; i++)
		if ((i < MiB || i >= 2 * MiB) && p[i] != 0x11)
			ok = 0;
	yes("around MAP_FIXED keeps data", ok);
	errno = 0;
	q = mmap(p + 2 * MiB, MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	out("MAP_FIXED_NOREPLACE over a mapping", q == MAP_FAILED ? ename(errno) : "ok", "EEXIST");
	q = mmap(p + 3 * MiB + 4096, 2 * MiB, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	out("MAP_FIXED_NOREPLACE partly over a mapping", q == MAP_FAILED ? ename(errno) : "ok", "EEXIST");
	yes("data after NOREPLACE failures", p[2 * MiB] == 0x11 && p[3 * MiB + 4096] == 0x11);
	errno = 0;
	q = mmap(p + 1, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	out("MAP_FIXED unaligned", q == MAP_FAILED ? ename(errno) : "ok", "EINVAL");
	munmap(p, 4 * MiB);

	errno = 0;
	q = mmap(NULL, 0, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	out("mmap length 0", q == MAP_FAILED ? ename(errno) : "ok", "EINVAL");
	errno = 0;
	q = mmap(NULL, MiB, PROT_READ | PROT_WRITE, MAP_ANONYMOUS, -1, 0); /* neither SHARED nor PRIVATE */
	out("mmap without a type", q == MAP_FAILED ? ename(errno) : "ok", "EINVAL");
	errno = 0;
	q = mmap(NULL, (size_t)1 << 50, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	out("mmap 1 PiB", q == MAP_FAILED ? ename(errno) : "ok", "ENOMEM");

	p = map(MiB);
	errno = 0;
	out("munmap unaligned", munmap(p + 1, 4096) ? ename(errno) : "0", "EINVAL");
	errno = 0;
	out("munmap length 0", munmap(p, 0) ? ename(errno) : "0", "EINVAL");
	errno = 0;
	out("mprotect unaligned", mprotect(p + 1, 4096, PROT_READ) ? ename(errno) : "0", "EINVAL");
	errno = 0;
	out("madvise unaligned", madvise(p + 1, 4096, MADV_DONTNEED) ? ename(errno) : "0", "EINVAL");
	munmap(p, MiB);

	/* a big MAP_NORESERVE mapping touched sparsely */
	size_t big = (size_t)1 << 30;
	p = mmap(NULL, big, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	out("mmap 1G NORESERVE", p == MAP_FAILED ? ename(errno) : "ok", "ok");
	if (p != MAP_FAILED) {
		for (size_t i = 0; i < big; i += 16 * MiB)
			*(uint64_t *)(p + i + 8) = mix(i);
		ok = 1;
		for (size_t i = 0; i < big; i += 16 * MiB)
			ok &= *(uint64_t *)(p + i + 8) == mix(i) && *(uint64_t *)(p + i + 4096) == 0;
		yes("1G sparse touches", ok);
		munmap(p, big);
	}
}

static void t_madvise(void)
{
	size_t n = 8 * MiB;
	char *p = map(n);
	memset(p, 0x22, n);
	int r = madvise(p + 2 * MiB, 3 * MiB, MADV_DONTNEED);
	out("madvise DONTNEED", r ? ename(errno) : "0", "0");
	yes("DONTNEED range reads zero", zero(p + 2 * MiB, 3 * MiB));
	int ok = 1;
	for (size_t i = 0; i < n; i++)
		if ((i < 2 * MiB || i >= 5 * MiB) && p[i] != 0x22)
			ok = 0;
	yes("outside DONTNEED keeps data", ok);
	memset(p + 2 * MiB, 0x23, 4096);
	yes("DONTNEED range writable again", p[2 * MiB + 4095] == 0x23 && p[2 * MiB + 4096] == 0);
	/* one page in the middle of a 2M stretch */
	r = madvise(p + 6 * MiB + 8192, 4096, MADV_DONTNEED);
	yes("DONTNEED one page", r == 0 && zero(p + 6 * MiB + 8192, 4096) && p[6 * MiB + 8191] == 0x22 &&
					  p[6 * MiB + 12288] == 0x22);
	r = madvise(p, MiB, MADV_FREE);
	out("madvise FREE", r ? ename(errno) : "0", "0");
	ok = 1;
	for (size_t i = 0; i < MiB; i++)
		if (p[i] != 0x22 && p[i] != 0)
			ok = 0;
	yes("FREE range reads old data or zero", ok);
	ok = 1;
	for (size_t i = MiB; i < 2 * MiB; i++)
		ok &= p[i] == 0x22;
	yes("outside FREE keeps data", ok);
	r = madvise(p, n, MADV_WILLNEED);
	out("madvise WILLNEED", r ? ename(errno) : "0", "0");
	r = madvise(p, n, MADV_SEQUENTIAL);
	out("madvise SEQUENTIAL", r ? ename(errno) : "0", "0");
	r = madvise(p, n, MADV_NORMAL);
	out("madvise NORMAL", r ? ename(errno) : "0", "0");
	yes("data after hints", p[7 * MiB] == 0x22);
	r = posix_madvise(p, n, POSIX_MADV_DONTNEED);
	out("posix_madvise DONTNEED", r ? ename(r) : "0", "0");
	yes("data after posix_madvise DONTNEED (glibc: a no-op)", p[7 * MiB] == 0x22);
	munmap(p, n);
}

/* Memory read in order, larger than Lego's ExCache (prefetch streams, and
 * their marker lines kept aside), then dropped: it must read as zeros
 * again, in order too, not as what the streams had prefetched.  Each
 * stream stops short of the end, so what it prefetched ahead is still
 * kept when the range is dropped. */
static void t_stream_drop(void)
{
	size_t n = 48 * MiB;
	char *p = map(n);
	fill_sparse(p, n, 61);
	int ok = 1;
	for (size_t stop = n / 2; stop < n; stop += 5 * MiB + 12288)
		ok &= same_sparse(p, stop, 61, 0);
	yes("streamed data reads back", ok);
	int r = madvise(p, n, MADV_DONTNEED);
	out("madvise DONTNEED after streaming", r ? ename(errno) : "0", "0");
	ok = 1;
	for (size_t i = 0; i + 8 <= n; i += 512)
		ok &= *(uint64_t *)(p + i) == 0;
	yes("streamed range reads zero after DONTNEED", ok);
	fill_sparse(p, n, 62);
	ok &= same_sparse(p, n, 62, 0);
	ok &= same_sparse(p, n / 2 + 12288, 62, 0);
	munmap(p, n);
	char *q = map(n);
	for (size_t i = 0; i + 8 <= n; i += 512)
		ok &= *(uint64_t *)(q + i) == 0;
	yes("streamed, unmapped, mapped again: zeros", ok);
	munmap(q, n);
}

static void t_mprotect(void)
{
	size_t n = 4 * MiB;
	char *p = map(n);
	fill(p, n, 41);
	int r = mprotect(p + MiB, MiB, PROT_READ);
	out("mprotect READ", r ? ename(errno) : "0", "0");
	out("write to read-only", probe(p + MiB + 5, 1, 9), "segv");
	out("read read-only", probe(p + MiB + 5, 0, 0), "ok");
	out("write next to read-only", probe(p + 2 * MiB, 1, (char)pat(41, 2 * MiB)), "ok");
	r = mprotect(p + MiB, MiB, PROT_READ | PROT_WRITE);
	out("mprotect back to RW", r ? ename(errno) : "0", "0");
	yes("data intact after READ", same(p, n, 41, 0));
	out("write after RW", probe(p + MiB + 5, 1, (char)pat(41, MiB + 5)), "ok");

	r = mprotect(p, 2 * MiB, PROT_NONE);
	out("mprotect NONE", r ? ename(errno) : "0", "0");
	out("read PROT_NONE", probe(p + 100, 0, 0), "segv");
	out("write PROT_NONE", probe(p + MiB + 100, 1, 0), "segv");
	/* the kernel reading it fails too */
	int pfd[2];
	if (pipe(pfd))
		exit(2);
	errno = 0;
	ssize_t w = write(pfd[1], p, 100); /* a pipe copies the bytes: /dev/null would not */
	out("write(2) from PROT_NONE", w < 0 ? ename(errno) : "ok", "EFAULT");
	close(pfd[0]);
	close(pfd[1]);
	r = mprotect(p, 2 * MiB, PROT_READ | PROT_WRITE);
	yes("data intact after NONE", r == 0 && same(p, n, 41, 0));
	/* whole mapping PROT_READ, then munmap works */
	r = mprotect(p, n, PROT_READ);
	yes("read whole read-only mapping", r == 0 && same(p, n, 41, 0));
	out("munmap read-only", munmap(p, n) ? ename(errno) : "0", "0");

	/* a mapping made PROT_NONE, then given access */
	p = mmap(NULL, MiB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	out("mmap PROT_NONE", p == MAP_FAILED ? ename(errno) : "ok", "ok");
	out("touch PROT_NONE mapping", probe(p + 4096, 0, 0), "segv");
	r = mprotect(p, MiB, PROT_READ | PROT_WRITE);
	yes("PROT_NONE mapping made RW reads zero", r == 0 && zero(p, MiB));
	memset(p, 1, MiB);
	yes("and is writable", p[MiB - 1] == 1);
	munmap(p, MiB);
}

/*
 * A reservation as a JVM or V8 makes one: a large PROT_NONE mapping whose
 * parts are committed later with MAP_FIXED and uncommitted the same way.
 * Streams that write up to the end of a committed part must not carry the
 * runtime's prefetch into the reserved rest (it once installed writable
 * lines there, which the runtime could not read back to evict: the program
 * died of a SIGSEGV in the runtime's own thread).
 */
static void t_reserve(void)
{
	size_t n = 64 * MiB, part = 8 * MiB;
	char *r = mmap(NULL, n, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	out("reserve PROT_NONE", r == MAP_FAILED ? ename(errno) : "ok", "ok");
	if (r == MAP_FAILED)
		return;
	int ok = 1;
	for (int k = 0; k < 2; k++) { /* two committed parts, a gap after each */
		char *c = r + (size_t)k * 3 * part;
		char *m = mmap(c, part, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		ok &= m == c;
		if (m != c)
			break;
		for (size_t i = 0; i < part; i += 64) /* every line written, in order */
			*(uint64_t *)(c + i) = mix(i + (uint64_t)k);
	}
	yes("commit parts of a reservation", ok);
	char *other = map(48 * MiB); /* pushes the parts out of the ExCache */
	fill_sparse(other, 48 * MiB, 71);
	for (int k = 0; ok && k < 2; k++) {
		char *c = r + (size_t)k * 3 * part;
		for (size_t i = 0; i < part; i += 64)
			ok &= *(uint64_t *)(c + i) == mix(i + (uint64_t)k);
	}
	yes("committed parts read back", ok && same_sparse(other, 48 * MiB, 71, 0));
	out("touch reserved gap", probe(r + part + 4096, 0, 0), "segv");
	out("touch end of reservation", probe(r + n - 4096, 1, 1), "segv");
	/* uncommit the first part as a JVM shrinking its heap does */
	char *u = mmap(r, part, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
		       -1, 0);
	out("uncommit with MAP_FIXED PROT_NONE", u == r ? "ok" : ename(errno), "ok");
	out("touch uncommitted part", probe(r + 4096, 0, 0), "segv");
	fill_sparse(other, 48 * MiB, 72);
	u = mmap(r, part, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	yes("committed again: zeros", u == r && zero(r, part));
	yes("the other part intact", same_sparse(other, 48 * MiB, 72, 0) &&
					  *(uint64_t *)(r + 3 * part + 64) == mix(64 + 1));
	munmap(other, 48 * MiB);
	out("munmap reservation", munmap(r, n) ? ename(errno) : "0", "0");

	/* one page reserved, committed, written, protected and mapped over
	 * again, as a JVM does with its polling pages (with lines over a page
	 * it shares a line with nothing the program mapped) */
	char *g = mmap(NULL, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *gm = g == MAP_FAILED ? g : mmap(g, pg, PROT_READ | PROT_WRITE,
					      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	yes("a reserved page committed reads zero", gm == g && g != MAP_FAILED && zero(g, pg));
	if (gm != g || g == MAP_FAILED)
		return;
	memset(g, 7, pg);
	out("protect it", mprotect(g, pg, PROT_NONE) ? ename(errno) : "0", "0");
	out("touch it", probe(g + 8, 0, 0), "segv");
	gm = mmap(g, pg, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	yes("mapped over read-only: zeros", gm == g && zero(g, pg));
	out("write to it", probe(g + 8, 1, 1), "segv");
	out("munmap it", munmap(g, pg) ? ename(errno) : "0", "0");
}

/*
 * A page made PROT_NONE inside data the program keeps writing around it
 * (with lines over a page, the same line): what the runtime must write back
 * then includes a page neither it nor the program may read.
 */
static void t_protect_page(void)
{
	size_t n = 4 * MiB;
	char *p = map(n);
	fill(p, n, 81);
	int r = mprotect(p + 3 * pg, pg, PROT_NONE);
	out("mprotect one page NONE", r ? ename(errno) : "0", "0");
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < n; i += 512) /* rewrite the rest, as it was */
			if (i < 3 * pg || i >= 4 * pg)
				p[i] = (char)pat(81, i);
		char *other = map(48 * MiB); /* pushes p out of the ExCache */
		fill_sparse(other, 48 * MiB, 82 + (uint64_t)round);
		munmap(other, 48 * MiB);
	}
	out("read the protected page", probe(p + 3 * pg + 8, 0, 0), "segv");
	r = mprotect(p + 3 * pg, pg, PROT_READ | PROT_WRITE);
	yes("data intact around and in the protected page", r == 0 && same(p, n, 81, 0));
	munmap(p, n);
}

static void t_brk(void)
{
	char *b0 = sbrk(0);
	char *b1 = sbrk(65536);
	char *b2 = sbrk(0);
	yes("sbrk(+64K) returns the old break", b1 == b0);
	yes("sbrk grows by 65536", b2 - b0 == 65536);
	memset(b0, 0x6b, 65536);
	int ok = 1;
	for (size_t i = 0; i < 65536; i++)
		ok &= b0[i] == 0x6b;
	yes("new break area writable", ok);
	char *b3 = sbrk(-65536);
	char *b4 = sbrk(0);
	yes("sbrk(-64K) returns the grown break", b3 == b2);
	yes("break back where it was", b4 == b0);
	char *page = (char *)(((uintptr_t)b0 + pg - 1) / pg * pg);
	out("touch above shrunk break", probe(page + pg, 0, 0), "segv");
	/* grow again: the new area is zero where it was released */
	b1 = sbrk(65536);
	yes("regrown break area zero", b1 == b0 && zero(page + pg, 65536 - (size_t)(page - b0) - pg));
	sbrk(-65536);
	yes("brk(current) works", brk(sbrk(0)) == 0);
	/* by one page (inside a line when lines are larger) */
	b1 = sbrk((intptr_t)pg);
	page = (char *)(((uintptr_t)b1 + pg - 1) / pg * pg);
	out("write below a one-page break", probe(b1, 1, 9), "ok");
	out("touch a page above a one-page break", probe(page + pg, 0, 0), "segv");
	out("write a page above a one-page break", probe(page + pg, 1, 9), "segv");
	sbrk(-(intptr_t)pg);
	out("write above the break shrunk back", probe(page, 1, 9), "segv");
}

static void t_big(void)
{
	size_t n = 256 * MiB;
	uint64_t *p = (uint64_t *)map(n);
	size_t w = n / 8;
	uint64_t want = 0;
	for (size_t i = 0; i < w; i++) {
		uint64_t v = mix(i ^ 0x5151);
		p[i] = v;
		want += v * (i | 1);
	}
	uint64_t got = 0;
	for (size_t i = 0; i < w; i++)
		got += p[i] * (i | 1);
	char b[64];
	snprintf(b, sizeof b, "%016llx", (unsigned long long)got);
	out("256M checksum", b, NULL);
	yes("256M checksum matches", got == want);
	/* and backwards, a page at a time */
	int ok = 1;
	for (size_t i = w; i >= 512; i -= 512)
		ok &= p[i - 1] == mix((i - 1) ^ 0x5151);
	yes("256M backward page read", ok);
	munmap(p, n);
}

static void t_files(void)
{
	char path[] = "/tmp/lego-semantics.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0) {
		out("mkstemp", ename(errno), "0");
		return;
	}
	unlink(path);
	size_t n = 3 * MiB + 100;
	unsigned char *buf = malloc(n); /* the heap buffer goes through write(2) */
	fill(buf, n, 51);
	out("write file from heap", write(fd, buf, n) == (ssize_t)n ? "ok" : ename(errno), "ok");
	char *s = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	char *pv = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	out("mmap file shared", s == MAP_FAILED ? ename(errno) : "ok", "ok");
	out("mmap file private", pv == MAP_FAILED ? ename(errno) : "ok", "ok");
	if (s == MAP_FAILED || pv == MAP_FAILED)
		return;
	yes("shared mapping reads file", same(s, n, 51, 0));
	yes("private mapping reads file", same(pv, n, 51, 0));
	pv[10] = 0;
	s[20] = 0;
	unsigned char c1, c2;
	pread(fd, &c1, 1, 10);
	pread(fd, &c2, 1, 20);
	yes("private write stays private", c1 == pat(51, 10));
	yes("shared write reaches the file", c2 == 0);
	s[20] = (char)pat(51, 20);
	madvise(pv, MiB, MADV_DONTNEED);
	yes("private file mapping after DONTNEED reads the file", same(pv, n, 51, 0));
	/* read(2) into heap memory */
	memset(buf, 0, n);
	out("pread into heap", pread(fd, buf, n, 0) == (ssize_t)n ? "ok" : ename(errno), "ok");
	yes("pread data", same(buf, n, 51, 0));
	munmap(pv, n);

	/* a file mapped MAP_FIXED over part of an anonymous mapping */
	char *a = map(8 * MiB);
	memset(a, 0x33, 8 * MiB);
	char *f = mmap(a + 2 * MiB, 2 * MiB, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
	out("file MAP_FIXED over anonymous", f == MAP_FAILED ? ename(errno) : f == a + 2 * MiB ? "at address" : "elsewhere",
	    "at address");
	yes("it reads the file", same(a + 2 * MiB, 2 * MiB, 51, 0));
	out("it is read-only", probe(a + 2 * MiB + 10, 1, 0), "segv");
	yes("anonymous around it intact", a[2 * MiB - 1] == 0x33 && a[4 * MiB] == 0x33);
	out("mprotect file part RW", mprotect(a + 2 * MiB, MiB, PROT_READ | PROT_WRITE) ? ename(errno) : "0", "0");
	a[2 * MiB + 10] = 0x12;
	pread(fd, &c1, 1, 10);
	yes("private write to file part not in the file", c1 == pat(51, 10) && a[2 * MiB + 10] == 0x12);
	out("munmap part of the file part", munmap(a + 3 * MiB, MiB) ? ename(errno) : "0", "0");
	out("touch unmapped file part", probe(a + 3 * MiB + 5, 0, 0), "segv");
	f = mmap(a + 2 * MiB, 2 * MiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	yes("anonymous MAP_FIXED over the file part reads zero", f == a + 2 * MiB && zero(a + 2 * MiB, 2 * MiB));
	memset(a + 2 * MiB, 0x34, 2 * MiB);
	yes("whole mapping consistent", a[0] == 0x33 && a[2 * MiB] == 0x34 && a[4 * MiB - 1] == 0x34 &&
					    a[8 * MiB - 1] == 0x33);
	munmap(a, 8 * MiB);
	munmap(s, n);
	free(buf);
	close(fd);
}

static void t_fork(void)
{
	size_t n = 32 * MiB;
	unsigned char *h = malloc(n);
	fill_sparse(h, n, 61);
	for (size_t i = 0; i < n; i += 4096)
		h[i + 100] = (unsigned char)(i >> 12);
	enum { NS = 5000 };
	static uint64_t *small[NS];
	for (int i = 0; i < NS; i++) {
		small[i] = malloc(8 * (1 + i % 40));
		for (int j = 0; j < 1 + i % 40; j++)
			small[i][j] = mix((uint64_t)i * 64 + j);
	}
	int *shared = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	*shared = 0;
	int go[2], done[2];
	if (pipe(go) || pipe(done))
		exit(2);
	fflush(stdout);
	pid_t pid = fork();
	if (pid < 0) {
		out("fork", ename(errno), "ok");
		return;
	}
	if (pid == 0) {
		int bad = 0;
		for (size_t i = 0; i < n; i += 4096)
			if (h[i + 100] != (unsigned char)(i >> 12))
				bad |= 1;
		if (!same_sparse(h, n, 61, 0))
			bad |= 1;
		for (int i = 0; i < NS; i++)
			for (int j = 0; j < 1 + i % 40; j++)
				if (small[i][j] != mix((uint64_t)i * 64 + j))
					bad |= 2;
		/* modify half of it, and read the modification back */
		memset(h, 0xee, n / 2);
		for (size_t i = 0; i < n / 2; i += 4096)
			if (h[i] != 0xee)
				bad |= 4;
		for (int i = 0; i < NS; i += 2)
			free(small[i]);
		void *m = malloc(4 * MiB);
		memset(m, 1, 4 * MiB);
		free(m);
		*shared = 4242;
		/* wait until the parent has written its half after the fork */
		char c;
		if (write(done[1], "x", 1) != 1 || read(go[0], &c, 1) != 1)
			bad |= 16;
		for (size_t i = n / 2; i < n; i += 4096)
			if (h[i + 100] != (unsigned char)(i >> 12))
				bad |= 8; /* the parent's writes leaked in */
		_exit(bad);
	}
	char c;
	if (read(done[0], &c, 1) != 1)
		out("child ready", "no", "yes");
	memset(h + n / 2, 0xdd, n / 2); /* after the child's snapshot */
	if (write(go[1], "x", 1) != 1)
		out("signal child", "no", "yes");
	int st = 0;
	waitpid(pid, &st, 0);
	char b[64];
	if (WIFEXITED(st))
		snprintf(b, sizeof b, "exit %d", WEXITSTATUS(st));
	else
		snprintf(b, sizeof b, "signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
	out("fork child view (0 = right)", b, "exit 0");
	int ok = same_sparse(h, n / 2, 61, 0);
	for (size_t i = 0; i < n / 2; i += 4096)
		ok &= h[i + 100] == (unsigned char)(i >> 12);
	yes("parent data unchanged by child", ok);
	ok = 1;
	for (int i = 0; i < NS; i++)
		for (int j = 0; j < 1 + i % 40; j++)
			ok &= small[i][j] == mix((uint64_t)i * 64 + j);
	yes("parent small blocks unchanged", ok);
	ok = 1;
	for (size_t i = n / 2; i < n; i++)
		ok &= h[i] == 0xdd;
	yes("parent's own post-fork writes", ok);
	out("shared anonymous page written by child", *shared == 4242 ? "4242" : "other", "4242");
	for (int i = 0; i < NS; i++)
		free(small[i]);
	free(h);
	munmap(shared, 4096);
}

/* mlock and mlockall on remote memory: the program's data stays intact and
 * the ExCache still evicts (mlockall once made every committed line fault
 * in at once, with no eviction possible: the program spun for ever). */
static void t_mlock(void)
{
	size_t n = 48 * MiB, m = 32 * MiB;
	char *p = map(n);
	fill_sparse(p, n, 95);
	out("mlock", mlock(p, MiB) ? ename(errno) : "0", "0");
	out("munlock", munlock(p, MiB) ? ename(errno) : "0", "0");
	out("mlockall", mlockall(MCL_CURRENT | MCL_FUTURE) ? ename(errno) : "0", "0");
	char *q = map(m); /* made under MCL_FUTURE */
	fill_sparse(q, m, 96);
	yes("data intact under mlockall", same_sparse(p, n, 95, 0) && same_sparse(q, m, 96, 0));
	out("munlockall", munlockall() ? ename(errno) : "0", "0");
	munmap(q, m);
	munmap(p, n);
}

/*
 * Advice about forks: a child sees zeros in a MADV_WIPEONFORK range (a
 * random generator's state, BoringSSL's fork detection) and has no
 * MADV_DONTFORK range at all, even after the ExCache evicted them; the
 * parent keeps both.  (Before, a child saw the parent's data in a
 * MADV_WIPEONFORK range.)
 */
/* a fork-advice child's failure bits, 8 if it did not exit (the signal
 * goes to stderr: stdout must equal native's) */
static int child_bits(pid_t pid, const char *what)
{
	int st = 0;
	if (waitpid(pid, &st, 0) != pid) {
		fprintf(stderr, "%s: waitpid: %s\n", what, strerror(errno));
		return 8;
	}
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	fprintf(stderr, "%s: child killed by signal %d (%s)\n", what, WTERMSIG(st), strsignal(WTERMSIG(st)));
	return 8;
}

static void t_fork_advice(void)
{
	size_t n = MiB, big = 48 * MiB;
	unsigned char *w = map(n), *d = map(n), *k = map(n), *b = map(big);
	memset(w, 0x77, n);
	memset(d, 0x55, n);
	fill_sparse(k, n, 71);
	out("madvise MADV_WIPEONFORK", madvise(w, n, MADV_WIPEONFORK) ? ename(errno) : "0", "0");
	out("madvise MADV_DONTFORK", madvise(d, n, MADV_DONTFORK) ? ename(errno) : "0", "0");
	fill_sparse(b, big, 72); /* evicts them, as far as they can be */
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		int bad = 0;
		for (size_t i = 0; i < n; i++)
			if (w[i])
				bad |= 1;
		if (strcmp(probe((volatile char *)d + 4096, 0, 0), "segv"))
			bad |= 2;
		if (!same_sparse(k, n, 71, 0) || !same_sparse(b, big, 72, 0))
			bad |= 4;
		_exit(bad);
	}
	int bad = child_bits(pid, "fork advice");
	yes("child: MADV_WIPEONFORK range reads zeros", !(bad & 9));
	yes("child: MADV_DONTFORK range not mapped", !(bad & 10));
	yes("child: other memory intact", !(bad & 12));
	int kept = 1;
	for (size_t i = 0; i < n; i++)
		kept &= w[i] == 0x77 && d[i] == 0x55;
	yes("parent keeps both ranges", kept && same_sparse(k, n, 71, 0));
	munmap(b, big);
	munmap(k, n);
	munmap(d, n);
	munmap(w, n);
}

/*
 * A MADV_DONTFORK range unmapped, and memory mapped there again: a child
 * has that memory.  (Before, the kernel kept the advice on the remote
 * space's reservation under the new mapping, and the child died of
 * SIGSEGV there: node's environment, put where V8 had kept a reservation
 * from its children, killed its forked children in execvp's getenv.)
 */
static void t_fork_advice_gone(void)
{
	size_t n = 4 * MiB;
	unsigned char *d = map(n);
	memset(d, 0x31, n);
	out("madvise MADV_DONTFORK, then munmap", madvise(d, n, MADV_DONTFORK) ? ename(errno) : "0", "0");
	munmap(d, n);
	unsigned char *a = mmap(d, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
				-1, 0);
	if (a == MAP_FAILED) {
		out("mmap where it was", ename(errno), "0");
		return;
	}
	fill_sparse(a, n, 73);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0)
		_exit(same_sparse(a, n, 73, 0) ? 0 : 4);
	yes("child: memory mapped where a MADV_DONTFORK range was is there",
	    child_bits(pid, "fork advice gone") == 0);
	munmap(a, n);
}

/*
 * madvise(MADV_DONTNEED) made with syscall(2), behind the C library's back
 * (and Lego's wrapper): the page reads zeros, its neighbours keep their
 * data, and what is written there afterwards stays, through eviction.
 * (A process used to hang on that page: the runtime took the line for
 * resident and only woke the thread.)
 */
static void t_raw_dontneed(void)
{
	size_t n = MiB, big = 48 * MiB;
	unsigned char *p = map(n), *b = map(big);
	memset(p, 0x21, n);
	out("MADV_DONTNEED through syscall(2)",
	    syscall(SYS_madvise, p + 3 * pg, pg, MADV_DONTNEED) ? ename(errno) : "0", "0");
	yes("that page reads zeros, its neighbours their data",
	    zero(p + 3 * pg, pg) && p[3 * pg - 1] == 0x21 && p[4 * pg] == 0x21);
	memset(p + 3 * pg, 0x22, pg);
	fill_sparse(b, big, 74); /* evicts it */
	int ok = 1;
	for (size_t i = 0; i < n; i++)
		ok &= p[i] == (i / pg == 3 ? 0x22 : 0x21);
	yes("what is written there stays, through eviction", ok);
	munmap(b, big);
	munmap(p, n);
}

/*
 * MADV_WIPEONFORK over parts of mappings, as programs give it (one page for
 * a generator's state: BoringSSL's habit), so over part of a line when
 * lines are larger than pages: in a line resident at the fork and in lines
 * evicted before it; taken back in part (MADV_KEEPONFORK); and a mapping
 * that carries the advice moved and grown (mremap: the advice goes along).
 * (With 64 KiB lines a child used to hang on the first of these; with
 * 2 MiB lines it read the parent's data in all of them.)
 */
static void t_fork_wipe_parts(void)
{
	size_t n = MiB, big = 48 * MiB, np = n / pg;
	unsigned char *o = map(n), *m = map(n), *b = map(big);
	memset(o, 0x33, n);
	memset(m, 0x44, n);
	out("MADV_WIPEONFORK, one page", madvise(o + 5 * pg, pg, MADV_WIPEONFORK) ? ename(errno) : "0",
	    "0");
	out("MADV_WIPEONFORK, two pages", madvise(o + n / 2 + pg, 2 * pg, MADV_WIPEONFORK) ? ename(errno) : "0",
	    "0");
	out("MADV_WIPEONFORK, the last four pages",
	    madvise(o + n - 4 * pg, 4 * pg, MADV_WIPEONFORK) ? ename(errno) : "0", "0");
	out("MADV_KEEPONFORK, one of them", madvise(o + n - 3 * pg, pg, MADV_KEEPONFORK) ? ename(errno) : "0",
	    "0");
	out("MADV_WIPEONFORK, a whole mapping", madvise(m, n, MADV_WIPEONFORK) ? ename(errno) : "0", "0");
	unsigned char *m2 = mremap(m, n, 2 * n, MREMAP_MAYMOVE);
	yes("mremap grows it", m2 != MAP_FAILED);
	if (m2 == MAP_FAILED)
		m2 = m;
	else
		memset(m2 + n, 0x45, n);
	fill_sparse(b, big, 73); /* evicts them, as far as they can be */
	(void)*(volatile unsigned char *)(o + 5 * pg - 1); /* that line back */
	/* and a MADV_DONTFORK range written just before the fork */
	unsigned char *df = map(n);
	out("MADV_DONTFORK, a mapping", madvise(df, n, MADV_DONTFORK) ? ename(errno) : "0", "0");
	memset(df, 0x66, n);
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		int bad = 0;
		for (size_t i = 0; i < n; i++) {
			size_t p = i / pg;
			int wiped = p == 5 || p == np / 2 + 1 || p == np / 2 + 2 ||
				    (p >= np - 4 && p != np - 3);
			if (o[i] != (wiped ? 0 : 0x33))
				bad |= 1;
		}
		if (m2 == m || !zero(m2, 2 * n))
			bad |= 2;
		if (!same_sparse(b, big, 73, 0))
			bad |= 4;
		if (strcmp(probe((volatile char *)df + n / 2, 0, 0), "segv"))
			bad |= 16;
		if (!same_sparse(b, big, 73, 0)) /* (evicts again, after the probe) */
			bad |= 4;
		_exit(bad);
	}
	int bad = child_bits(pid, "fork wipe parts");
	yes("child: the wiped pages read zeros, the rest of their mapping intact", !(bad & 9));
	yes("child: the moved and grown mapping reads zeros", !(bad & 10));
	yes("child: other memory intact", !(bad & 12));
	yes("child: the MADV_DONTFORK range written before the fork is not there", !(bad & 24));
	int kept = 1;
	for (size_t i = 0; i < n; i++)
		kept &= o[i] == 0x33 && df[i] == 0x66 &&
			(m2 == m || (m2[i] == 0x44 && m2[n + i] == 0x45));
	yes("parent keeps its data", kept);
	munmap(b, big);
	munmap(df, n);
	munmap(m2, m2 == m ? n : 2 * n);
	munmap(o, n);
}

/*
 * A program that closes every descriptor it did not open itself, as
 * daemons do when they start: three ways (closefrom, close_range, close in
 * a loop).  Its memory must stay: the runtime's own descriptors (the
 * userfaultfd, libfabric's endpoints) stay open.  Last: nothing after it
 * may rely on a descriptor.
 */
static void t_closefds(void)
{
	size_t n = 48 * MiB;
	char *p = map(n);
	fill_sparse(p, n, 91);
	closefrom(3);
	yes("data intact after closefrom(3)", same_sparse(p, n, 91, 0));
	fill_sparse(p, n, 92);
	close_range(3, ~0u, 0);
	yes("data intact after close_range(3, ~0)", same_sparse(p, n, 92, 0));
	fill_sparse(p, n, 93);
	for (int fd = 3; fd < 4096; fd++)
		close(fd);
	yes("data intact after close(3..4095)", same_sparse(p, n, 93, 0));
	/* the same through syscall(2), as libuv closes */
	fill_sparse(p, n, 94);
	syscall(SYS_close_range, 3, ~0u, 0);
	yes("data intact after syscall(SYS_close_range, 3, ~0)", same_sparse(p, n, 94, 0));
	fill_sparse(p, n, 95);
	for (int fd = 3; fd < 4096; fd++)
		syscall(SYS_close, fd);
	yes("data intact after syscall(SYS_close, 3..4095)", same_sparse(p, n, 95, 0));
	int fd = open("/dev/null", O_RDONLY);
	out("next descriptor opened", fd == 3 ? "3" : ename(errno), "3");
	close(fd);
	munmap(p, n);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	pg = (size_t)sysconf(_SC_PAGESIZE);
	struct sigaction sa = {0};
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);

	t_alignment();
	t_errors();
	t_calloc();
	t_realloc();
	t_munmap_middle();
	t_mremap();
	t_fixed();
	t_madvise();
	t_stream_drop();
	t_mprotect();
	t_reserve();
	t_protect_page();
	t_brk();
	t_big();
	t_files();
	t_fork();
	t_mlock();
	t_fork_advice();
	t_fork_advice_gone();
	t_fork_wipe_parts();
	t_raw_dontneed();
	t_closefds();
	printf("failures: %d\n", failures);
	return failures ? 1 : 0;
}
