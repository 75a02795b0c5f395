/*
 * lego-bench-files PATH [SIZE_MB]: file throughput on one file, as an
 * ordinary program (bench/files.sh runs it on a local file and on a /lego
 * file under lego-run, in the same run).  Phases: sequential write in 1 MiB
 * calls then fsync, sequential read, random 4 KiB writes then fsync,
 * random 4 KiB reads.  Prints "phase MB/s ops/s" lines and a checksum of
 * the file, which must agree between the two runs.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void report(const char *phase, double secs, uint64_t bytes, uint64_t ops)
{
	printf("%-12s %9.1f MB/s %10.0f ops/s\n", phase, bytes / secs / 1e6, ops / secs);
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	uint64_t size = (argc > 2 ? strtoull(argv[2], NULL, 10) : 256) << 20;
	size_t big = 1 << 20;
	char *buf = malloc(big);
	for (size_t i = 0; i < big; i++)
		buf[i] = (char)(i * 13 + 7);
	int fd = open(argv[1], O_CREAT | O_RDWR | O_TRUNC, 0644);
	if (fd < 0) {
		perror(argv[1]);
		return 1;
	}
	double t = now();
	for (uint64_t off = 0; off < size; off += big)
		if (write(fd, buf, big) != (ssize_t)big)
			return perror("write"), 1;
	if (fsync(fd))
		return perror("fsync"), 1;
	report("seq-write", now() - t, size, size / big);
	lseek(fd, 0, SEEK_SET);
	t = now();
	uint64_t got = 0;
	ssize_t r;
	while ((r = read(fd, buf, big)) > 0)
		got += (uint64_t)r;
	if (got != size)
		return fprintf(stderr, "read %llu of %llu\n", (unsigned long long)got,
			       (unsigned long long)size), 1;
	report("seq-read", now() - t, size, size / big);
	uint64_t nops = size / 4096 / 4, pages = size / 4096;
	t = now();
	for (uint64_t i = 0; i < nops; i++) {
		uint64_t p = next() % pages;
		memcpy(buf, &i, sizeof i);
		if (pwrite(fd, buf, 4096, (off_t)(p * 4096)) != 4096)
			return perror("pwrite"), 1;
	}
	if (fsync(fd))
		return perror("fsync"), 1;
	report("rand-write", now() - t, nops * 4096, nops);
	t = now();
	for (uint64_t i = 0; i < nops; i++)
		if (pread(fd, buf, 4096, (off_t)(next() % pages * 4096)) != 4096)
			return perror("pread"), 1;
	report("rand-read", now() - t, nops * 4096, nops);
	uint64_t sum = 0;
	lseek(fd, 0, SEEK_SET);
	while ((r = read(fd, buf, big)) > 0)
		for (ssize_t i = 0; i < r; i += 8)
			sum = sum * 31 + (uint64_t)(unsigned char)buf[i];
	printf("checksum %016llx\n", (unsigned long long)sum);
	close(fd);
	unlink(argv[1]);
	return 0;
}
