/*
 * A stand-in for libFuzzer's driver, for builds without clang: runs a fuzz
 * target's LLVMFuzzerTestOneInput on the inputs under the paths given
 * (directories or files; a missing one is skipped), then on inputs made
 * from them at random (bytes changed, inserted, removed, runs from another
 * input spliced in, cut short) for FUZZ_SMOKE_SECONDS seconds (default 5),
 * from a fixed seed, so a run is repeatable.  `make test-asan` runs each
 * target this way under AddressSanitizer and UBSan: the harnesses and the
 * decoders they drive get a short fuzz run in CI.  `make fuzz` (clang,
 * coverage-guided libFuzzer) is the real thing.
 *
 * Prints how many inputs ran; a crash, a sanitizer report or a harness
 * check ends the run with a failure, as under libFuzzer.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_INPUTS = 4096, MAX_LEN = 64 * 1024 };

struct input {
	uint8_t *p;
	size_t n;
};

static struct input pool[MAX_INPUTS];
static size_t npool;
static uint64_t rng = 1;

static uint64_t next(void)
{
	uint64_t x = (rng += 0x9e3779b97f4a7c15ULL);
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void add(const uint8_t *p, size_t n)
{
	if (npool == MAX_INPUTS || n > MAX_LEN)
		return;
	pool[npool].p = malloc(n ? n : 1);
	memcpy(pool[npool].p, p, n);
	pool[npool++].n = n;
}

static void load_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return;
	static uint8_t buf[MAX_LEN];
	size_t n = fread(buf, 1, sizeof buf, f);
	fclose(f);
	add(buf, n);
}

static void load(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		printf("smoke: %s: none\n", path);
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		load_file(path);
		return;
	}
	DIR *d = opendir(path);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char p[4096];
		snprintf(p, sizeof p, "%s/%s", path, e->d_name);
		load_file(p);
	}
	if (d)
		closedir(d);
}

/* One made-up input in buf from a pool input, changed 1 to 8 times. */
static size_t mutate(uint8_t *buf)
{
	const struct input *in = &pool[next() % npool];
	size_t n = in->n;
	memcpy(buf, in->p, n);
	static const uint8_t special[] = {0, 1, 0x7f, 0x80, 0xfe, 0xff};
	for (int k = 1 + (int)(next() % 8); k > 0; k--) {
		size_t at = n ? next() % n : 0;
		switch (next() % 6) {
		case 0: /* change a byte */
			if (n)
				buf[at] ^= (uint8_t)(1u << (next() % 8));
			break;
		case 1: /* a special value */
			if (n)
				buf[at] = special[next() % sizeof special];
			break;
		case 2: { /* insert random bytes */
			size_t m = 1 + next() % 16;
			if (n + m > MAX_LEN)
				break;
			memmove(buf + at + m, buf + at, n - at);
			for (size_t i = 0; i < m; i++)
				buf[at + i] = (uint8_t)next();
			n += m;
			break;
		}
		case 3: { /* remove a run */
			size_t m = n - at ? 1 + next() % (n - at) : 0;
			memmove(buf + at, buf + at + m, n - at - m);
			n -= m;
			break;
		}
		case 4: { /* a run of another input over this one */
			const struct input *o = &pool[next() % npool];
			if (!o->n)
				break;
			size_t from = next() % o->n, m = 1 + next() % (o->n - from);
			if (at + m > MAX_LEN)
				m = MAX_LEN - at;
			memcpy(buf + at, o->p + from, m);
			if (at + m > n)
				n = at + m;
			break;
		}
		default: /* cut short */
			n = at;
			break;
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++)
		load(argv[i]);
	size_t given = npool;
	for (size_t i = 0; i < given; i++)
		LLVMFuzzerTestOneInput(pool[i].p, pool[i].n);
	uint8_t seed[512];
	while (npool < 16) { /* nothing given: random inputs to start from */
		size_t n = 16 + next() % (sizeof seed - 16);
		for (size_t i = 0; i < n; i++)
			seed[i] = (uint8_t)next();
		add(seed, n);
	}
	const char *s = getenv("FUZZ_SMOKE_SECONDS");
	double secs = s && *s ? atof(s) : 5;
	struct timespec t0, t;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	static uint8_t buf[MAX_LEN];
	uint64_t runs = 0;
	for (;;) {
		for (int i = 0; i < 64; i++, runs++)
			LLVMFuzzerTestOneInput(buf, mutate(buf));
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 >= secs)
			break;
	}
	printf("smoke: %zu given inputs, then %llu made from them in %.0f s: clean\n", given,
	       (unsigned long long)runs, secs);
	for (size_t i = 0; i < npool; i++)
		free(pool[i].p);
	return 0;
}
