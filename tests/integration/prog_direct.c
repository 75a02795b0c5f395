/*
 * O_DIRECT reads into a buffer on the heap, by every read call: pread,
 * read, readv, preadv, preadv2, and Linux AIO (io_submit as libaio's, the
 * completions reaped with the system call, as MariaDB does).  For each, FILE is written with O_DIRECT
 * from a buffer of MiB mebibytes, then read back into another, which must
 * hold what was written.  Under Lego with a small ExCache and a slow
 * device, the destination's first pages are evicted while the device
 * still writes into them (direct_io.sh).  Exits 1 on any difference.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

/* libaio's io_submit if the process has one (liblego's, under Lego), else
 * the system call */
static long submit(aio_context_t ctx, long nr, struct iocb **cbs)
{
	long (*f)(aio_context_t, long, struct iocb **) =
		(long (*)(aio_context_t, long, struct iocb **))dlsym(RTLD_DEFAULT, "io_submit");
	if (f)
		return (int)f(ctx, nr, cbs);
	long r = syscall(SYS_io_submit, ctx, nr, cbs);
	return r < 0 ? -errno : r;
}

/* n bytes of fd into b in four requests, three reads and a vector read */
static ssize_t aio_read(int fd, char *b, size_t n)
{
	aio_context_t ctx = 0;
	if (syscall(SYS_io_setup, 8, &ctx) < 0) {
		perror("io_setup");
		return -1;
	}
	size_t q = n / 4;
	struct iovec v[2] = {{b + 3 * q, q / 2}, {b + 3 * q + q / 2, q - q / 2}};
	struct iocb cb[4], *cbs[4];
	memset(cb, 0, sizeof cb);
	for (int i = 0; i < 4; i++) {
		cb[i].aio_data = 100 + (uint64_t)i;
		cb[i].aio_lio_opcode = i < 3 ? IOCB_CMD_PREAD : IOCB_CMD_PREADV;
		cb[i].aio_fildes = (uint32_t)fd;
		cb[i].aio_buf = (uint64_t)(uintptr_t)(i < 3 ? b + i * q : (char *)v);
		cb[i].aio_nbytes = i < 3 ? q : 2;
		cb[i].aio_offset = (int64_t)(i * q);
		cbs[i] = &cb[i];
	}
	ssize_t got = -1;
	if (submit(ctx, 4, cbs) != 4) {
		fprintf(stderr, "io_submit failed\n");
	} else {
		struct io_event ev[4];
		long k = 0;
		while (k < 4) {
			long r = syscall(SYS_io_getevents, ctx, 4 - k, 4 - k, ev + k, NULL);
			if (r < 0) {
				perror("io_getevents");
				break;
			}
			k += r;
		}
		got = 0;
		for (long i = 0; i < k; i++) {
			int j = (int)(ev[i].data - 100);
			if (j < 0 || j > 3 || ev[i].obj != (uint64_t)(uintptr_t)&cb[j] ||
			    ev[i].res != (int64_t)q || cb[j].aio_fildes != (uint32_t)fd)
				fprintf(stderr, "event %ld: data %llu res %lld\n", i,
					(unsigned long long)ev[i].data, (long long)ev[i].res);
			else
				got += (ssize_t)q;
		}
	}
	syscall(SYS_io_destroy, ctx);
	return got;
}

static uint64_t word(size_t i, int mode) { return (i + 1) * 0x9e3779b97f4a7c15ull ^ (uint64_t)mode; }

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s FILE MIB\n", argv[0]);
		return 2;
	}
	size_t n = (size_t)atol(argv[2]) << 20, words = n / 8;
	static const char *name[] = {"pread", "read", "readv", "preadv", "preadv2", "io_submit"};
	uint64_t *a, *b;
	if (posix_memalign((void **)&a, 4096, n) || posix_memalign((void **)&b, 4096, n))
		return 2;
	int fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC | O_DIRECT, 0600);
	if (fd < 0) {
		perror("open O_DIRECT");
		return 2;
	}
	int bad_modes = 0;
	for (int m = 0; m < 6; m++) {
		for (size_t i = 0; i < words; i++)
			a[i] = word(i, m);
		if (pwrite(fd, a, n, 0) != (ssize_t)n) {
			perror("pwrite");
			return 2;
		}
		memset(b, 0xee, n);
		/* three pieces for the vector calls, each a multiple of 4 KiB */
		struct iovec v[3] = {{b, 1 << 20}, {(char *)b + (1 << 20), n - (2 << 20)},
				     {(char *)b + n - (1 << 20), 1 << 20}};
		ssize_t r = -1;
		off_t pos = -1;
		switch (m) {
		case 0: r = pread(fd, b, n, 0); break;
		case 1:
			lseek(fd, 0, SEEK_SET);
			r = read(fd, b, n);
			pos = lseek(fd, 0, SEEK_CUR);
			break;
		case 2:
			lseek(fd, 0, SEEK_SET);
			r = readv(fd, v, 3);
			pos = lseek(fd, 0, SEEK_CUR);
			break;
		case 3: r = preadv(fd, v, 3, 0); break;
		case 4: r = preadv2(fd, v, 3, 0, 0); break;
		case 5: r = aio_read(fd, (char *)b, n); break;
		}
		size_t bad = 0;
		for (size_t i = 0; i < words; i++)
			bad += b[i] != word(i, m);
		printf("%s of %zu MiB: returned %zd%s, %zu words differ\n", name[m], n >> 20, r,
		       pos >= 0 && pos != (off_t)n ? " (file offset wrong)" : "", bad);
		bad_modes += bad || r != (ssize_t)n || (pos >= 0 && pos != (off_t)n);
	}
	close(fd);
	unlink(argv[1]);
	return bad_modes != 0;
}
