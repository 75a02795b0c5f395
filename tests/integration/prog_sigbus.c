/*
 * What a program does that LEGO_FAULT=sigbus must keep working: threads
 * that block every signal (SIGBUS included) and then read and write
 * their heap, a fork whose child reads the parent's data, a SIGBUS
 * of the program's own (a file mapped over part of its memory, touched
 * past its end), which its handler must see, and file reads and writes
 * with buffers of which only the first page was touched (the kernel
 * copies that page, then stops at one it cannot fault in; the program
 * must still see the whole count and data), and with such buffers socket
 * calls, getcwd, getrandom, getentropy, the stat family, readlink,
 * epoll_wait and getdents64, and poll and select with arrays written
 * long before (evicted since).  Prints values only, so the output natively and under Lego
 * can be compared.
 *
 *   prog_sigbus [MiB]      the checks above, on MiB of heap (default 32)
 *   prog_sigbus syscall    write(2) into a pipe from a heap buffer of 32 MiB,
 *                          its first page long evicted under a small ExCache,
 *                          through the C library's write() and then raw
 *                          (syscall(2)): "ok" (read back equal) or the error
 *
 * Knows nothing about Lego.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static size_t n_words;
static uint64_t *data;

static uint64_t sum_range(size_t lo, size_t hi)
{
	uint64_t s = 0;
	for (size_t i = lo; i < hi; i += 512) /* a word per 4 KiB page */
		s += data[i] * (i + 1);
	return s;
}

/* Blocks every signal, as many servers' worker threads do, then writes
 * and reads its half of the heap. */
static void *blocked_worker(void *arg)
{
	size_t half = (size_t)(uintptr_t)arg;
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	size_t lo = half * (n_words / 2), hi = lo + n_words / 2;
	for (size_t i = lo; i < hi; i += 512)
		data[i] = i ^ 0x5a5a;
	return (void *)(uintptr_t)sum_range(lo, hi);
}

/* write(2) of a page into a pipe, through the C library's write() or
 * raw: "ok" if it went and reads back equal, else the error. */
static void pipe_write(const char *label, const char *page, int raw)
{
	int p[2];
	if (pipe(p))
		exit(2);
	ssize_t w = raw ? syscall(SYS_write, p[1], page, 4096) : write(p[1], page, 4096);
	char back[4096];
	if (w == 4096 && read(p[0], back, sizeof back) == 4096 && memcmp(back, page, 4096) == 0)
		printf("%s: ok\n", label);
	else
		printf("%s: %s\n", label, w < 0 ? strerror(errno) : "short or wrong");
	close(p[0]);
	close(p[1]);
}

static sigjmp_buf jb;
static volatile sig_atomic_t got_code;
static void *volatile got_addr;

static void on_bus(int sig, siginfo_t *si, void *uc)
{
	(void)sig, (void)uc;
	got_code = si->si_code;
	got_addr = si->si_addr;
	siglongjmp(jb, 1);
}

/* A file mapped (MAP_FIXED) over part of a heap-sized anonymous mapping,
 * touched past its end: the program's own SIGBUS handler sees it. */
static void file_past_end(void)
{
	struct sigaction sa = {0}, old;
	sa.sa_sigaction = on_bus;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGBUS, &sa, &old);
	size_t n = 8u << 20;
	char *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(m, 5, n);
	char path[] = "/tmp/prog_sigbus.XXXXXX";
	int fd = mkstemp(path);
	unlink(path);
	if (m == MAP_FAILED || fd < 0 || write(fd, "x", 1) != 1)
		exit(2);
	char *f = mmap(m + (1u << 20), 8192, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
	close(fd);
	got_code = 0;
	if (sigsetjmp(jb, 1) == 0)
		(void)*(volatile char *)(f + 4096 + 3);
	printf("file past its end: %s, si_addr %s; first byte %c; around it %d %d\n",
	       got_code == BUS_ADRERR ? "BUS_ADRERR" : got_code ? "other code" : "no signal",
	       got_addr == f + 4096 + 3 ? "right" : "wrong", f[0], m[0], m[n - 1]);
	sigaction(SIGBUS, &old, NULL);
	munmap(m, n);
}

/* n bytes of fresh anonymous memory (remote under Lego, never touched)
 * with only its first page written: byte i of it is (i * 7) ^ seed. */
static uint8_t *fresh(size_t n, int seed)
{
	uint8_t *m = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		exit(2);
	for (size_t i = 0; i < 4096; i++)
		m[i] = (uint8_t)((i * 7) ^ (size_t)seed);
	return m;
}

static uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return h;
}

/* pwrite, write, pread, read and preadv of a file from and into buffers
 * touched on their first page only; counts, the file's size and
 * position, and a hash of what was read. */
static void file_io(void)
{
	size_t n = 256u << 10;
	char path[] = "/tmp/prog_sigbus.XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		exit(2);
	unlink(path);
	uint8_t *a = fresh(n, 1), *b = fresh(n, 2);
	ssize_t w1 = pwrite(fd, a, n, 0);
	ssize_t w2 = write(fd, b, n); /* (at the position: 0, so over it) */
	ssize_t w3 = pwrite(fd, a, n, (off_t)n);
	struct stat st;
	fstat(fd, &st);
	printf("file writes: %zd %zd %zd, size %lld, position %lld\n", w1, w2, w3,
	       (long long)st.st_size, (long long)lseek(fd, 0, SEEK_CUR));
	uint8_t *c = fresh(2 * n, 3);
	ssize_t r1 = pread(fd, c, 2 * n, 0);
	printf("pread: %zd, %016llx\n", r1, (unsigned long long)fnv(c, 2 * n));
	uint8_t *d = fresh(2 * n, 4);
	lseek(fd, 4096, SEEK_SET);
	ssize_t r2 = read(fd, d, 2 * n); /* 4 KiB short of it: the file ends */
	printf("read: %zd, position %lld, %016llx\n", r2, (long long)lseek(fd, 0, SEEK_CUR),
	       (unsigned long long)fnv(d, 2 * n));
	uint8_t *e = fresh(n, 5), *f = fresh(n, 6);
	struct iovec v[2] = {{e, n}, {f + 4096, n - 4096}};
	ssize_t r3 = preadv(fd, v, 2, 100);
	printf("preadv: %zd, %016llx %016llx\n", r3, (unsigned long long)fnv(e, n),
	       (unsigned long long)fnv(f, n));
	close(fd);
	munmap(a, n);
	munmap(b, n);
	munmap(c, 2 * n);
	munmap(d, 2 * n);
	munmap(e, n);
	munmap(f, n);
}

/* Sends n bytes of m over fd in the background (a stream larger than a
 * socket buffer needs a reader at the same time). */
struct sender {
	int fd;
	const uint8_t *m;
	size_t n;
	ssize_t r;
};

static void *send_all(void *arg)
{
	struct sender *s = arg;
	s->r = send(s->fd, s->m, s->n, 0);
	return NULL;
}

/* send, recv, sendto, recvfrom, sendmsg and recvmsg (MSG_WAITALL, across
 * 1 MiB pieces) with buffers touched on their first page only. */
static void sockets(void)
{
	int sv[2], dv[2];
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) || socketpair(AF_UNIX, SOCK_DGRAM, 0, dv))
		exit(2);
	/* (data that never comes fails the check rather than hang it) */
	struct timeval tmo = {10, 0};
	setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof tmo);
	setsockopt(dv[1], SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof tmo);
	size_t n = 64u << 10, big = (3u << 20) + 100;
	uint8_t *a = fresh(n, 7), *b = fresh(n, 8);
	ssize_t s1 = send(sv[0], a, 8192, 0), r1 = recv(sv[1], b, 8192, 0);
	printf("stream: sent %zd, received %zd, %016llx\n", s1, r1,
	       (unsigned long long)fnv(b, 8192));
	uint8_t *c = fresh(n, 9);
	struct sockaddr_un from;
	socklen_t flen = sizeof from;
	ssize_t s2 = sendto(dv[0], a, 12000, 0, NULL, 0);
	ssize_t r2 = recvfrom(dv[1], c, n, 0, (struct sockaddr *)&from, &flen);
	ssize_t s3 = send(dv[0], a, 9000, 0), r3 = recv(dv[1], c + 4096, 100, MSG_TRUNC);
	printf("datagrams: sent %zd, received %zd (address length %u), %016llx; cut: %zd of %zd\n",
	       s2, r2, (unsigned)flen, (unsigned long long)fnv(c, 12000), r3, s3);
	uint8_t *d = fresh(big, 10), *e = fresh(big, 11);
	struct sender snd = {sv[0], d, big, 0};
	pthread_t t;
	pthread_create(&t, NULL, send_all, &snd);
	struct iovec v[2] = {{e, 5000}, {e + 5000, big - 5000}};
	struct msghdr m = {.msg_iov = v, .msg_iovlen = 2};
	ssize_t r4 = recvmsg(sv[1], &m, MSG_WAITALL);
	pthread_join(t, NULL);
	printf("big stream: sent %zd, received %zd, %016llx\n", snd.r, r4,
	       (unsigned long long)fnv(e, big));
	struct iovec w[2] = {{a, 3000}, {d + 4000, 6000}};
	struct msghdr wm = {.msg_iov = w, .msg_iovlen = 2};
	ssize_t s5 = sendmsg(dv[0], &wm, 0), r5 = recv(dv[1], b, n, 0);
	printf("sendmsg: %zd, received %zd, %016llx\n", s5, r5, (unsigned long long)fnv(b, 9000));
	close(sv[0]);
	close(sv[1]);
	close(dv[0]);
	close(dv[1]);
	munmap(a, n);
	munmap(b, n);
	munmap(c, n);
	munmap(d, big);
	munmap(e, big);
}

/* getcwd into a buffer never touched and into one it allocates;
 * getrandom and getentropy into memory never touched. */
static void cwd_random(void)
{
	char *b = (char *)fresh(8192, 0) + 4096, *own = getcwd(NULL, 0);
	char *r = getcwd(b, 4096);
	printf("getcwd: %s, %s\n", r == b && own && strcmp(b, own) == 0 ? "same" : "differs",
	       getcwd(b, 1) == NULL && errno == ERANGE ? "ERANGE" : "no ERANGE");
	free(own);
	munmap(b - 4096, 8192);
	/* random bytes into memory never touched: how many came, and
	 * whether the last 4 KiB are all zeros still (2^-32768) */
	size_t n = 64u << 10;
	uint8_t *g = fresh(n + 4096, 0) + 4096, z = 0;
	ssize_t got = getrandom(g, n, 0);
	for (size_t i = n - 4096; i < n; i++)
		z |= g[i];
	int ent = getentropy(g + 8192, 256); /* (outside the 4 KiB above) */
	printf("getrandom: %zd, %s; getentropy: %d\n", got, z ? "filled" : "zeros", ent);
	munmap(g - 4096, n + 4096);
}

/* The stat family, readlink, epoll_wait, poll, select and getdents64
 * writing into remote memory that is not resident: the same as into the
 * stack. */
static void outputs(void)
{
	struct stat want, *st = (struct stat *)(fresh(8192, 0) + 4096);
	struct statx wantx, *stx = (struct statx *)(fresh(8192, 0) + 4096);
	char lw[256], *lk = (char *)fresh(8192, 0) + 4096;
	stat("/proc/self/exe", &want);
	int s1 = stat("/proc/self/exe", st);
	int same = s1 == 0 && st->st_ino == want.st_ino && st->st_size == want.st_size;
	munmap((char *)st - 4096, 8192);
	st = (struct stat *)(fresh(8192, 0) + 4096);
	int s2 = fstat(1, st);
	struct stat w1;
	fstat(1, &w1);
	same += s2 == 0 && st->st_ino == w1.st_ino && st->st_mode == w1.st_mode;
	statx(AT_FDCWD, "/proc/self/exe", 0, STATX_SIZE | STATX_INO, &wantx);
	int s3 = statx(AT_FDCWD, "/proc/self/exe", 0, STATX_SIZE | STATX_INO, stx);
	same += s3 == 0 && stx->stx_ino == wantx.stx_ino && stx->stx_size == wantx.stx_size;
	ssize_t n = readlink("/proc/self/exe", lw, sizeof lw), m = readlink("/proc/self/exe", lk, 256);
	same += n > 0 && m == n && memcmp(lw, lk, (size_t)n) == 0;
	printf("stat, fstat, statx, readlink: %d of 4 as into the stack (%d %d %d %zd)\n", same, s1,
	       s2, s3, m);
	int p[2], ep = epoll_create1(0);
	if (pipe(p) || ep < 0 || write(p[1], "x", 1) != 1)
		exit(2);
	struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 42};
	epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
	struct epoll_event *evs = (struct epoll_event *)fresh(8192, 0) + 400; /* (page 2) */
	int e1 = epoll_wait(ep, evs, 64, 1000);
	printf("epoll_wait: %d, %s\n", e1,
	       e1 == 1 && evs[0].data.u64 == 42 && (evs[0].events & EPOLLIN) ? "right" : "wrong");
	struct pollfd *pf = (struct pollfd *)(fresh(8192, 0) + 4096);
	for (int i = 0; i < 4; i++)
		pf[i] = (struct pollfd){i == 2 ? p[0] : -1, POLLIN, 0};
	size_t big = 16u << 20; /* (past the ExCache of the test: pf goes out) */
	uint8_t *t = malloc(big);
	for (size_t i = 0; t && i < big; i += 4096)
		t[i] = (uint8_t)i;
	int q = poll(pf, 4, 1000);
	printf("poll: %d, revents %d %d\n", q, pf[2].revents & POLLIN, pf[0].revents);
	fd_set *rs = (fd_set *)(fresh(8192, 0) + 4096);
	struct timeval *tv = (struct timeval *)(fresh(8192, 0) + 4096);
	FD_SET(p[0], rs);
	for (size_t i = 0; t && i < big; i += 4096) /* (rs goes out again) */
		t[i] = (uint8_t)(i + 1);
	tv->tv_sec = 1;
	int sel = select(p[0] + 1, rs, NULL, NULL, tv);
	printf("select: %d, %s\n", sel, FD_ISSET(p[0], rs) ? "readable" : "not readable");
	int dfd = open("/proc/self", O_RDONLY | O_DIRECTORY);
	uint8_t *db = fresh(65536, 0) + 4096;
	ssize_t dn = getdents64(dfd, db, 65536 - 4096);
	printf("getdents64: %s\n", dn > 0 && memmem(db, (size_t)dn, "status", 7) ? "lists status"
										 : "wrong");
	close(dfd);
	munmap(db - 4096, 65536);
	munmap((char *)rs - 4096, 8192);
	munmap((char *)tv - 4096, 8192);
	free(t);
	munmap((char *)pf - 4096, 8192);
	close(ep);
	close(p[0]);
	close(p[1]);
	munmap((char *)st - 4096, 8192);
	munmap((char *)stx - 4096, 8192);
	munmap(lk - 4096, 8192);
	munmap((char *)(evs - 400), 8192);
}

static int syscall_check(void)
{
	size_t n = 32u << 20;
	char *buf = malloc(n);
	if (!buf)
		return 2;
	for (size_t i = 0; i < n; i += 4096)
		buf[i] = (char)(i >> 12);
	pipe_write("write", buf, 0); /* its first page: written 32 MiB ago */
	for (size_t i = 0; i < n; i += 4096) /* (and again) */
		buf[i] = (char)(i >> 11);
	pipe_write("raw write", buf, 1);
	/* read(2) into the first page, evicted again by the loop above */
	int p[2];
	char page[4096];
	memset(page, 7, sizeof page);
	if (pipe(p) || write(p[1], page, sizeof page) != (ssize_t)sizeof page)
		return 2;
	ssize_t r = read(p[0], buf, sizeof page);
	printf("read: %s\n", r == (ssize_t)sizeof page && memcmp(buf, page, sizeof page) == 0 ? "ok"
			      : r < 0 ? strerror(errno) : "short or wrong");
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc > 1 && strcmp(argv[1], "syscall") == 0)
		return syscall_check();
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 32;
	n_words = (mib << 20) / sizeof(uint64_t);
	data = malloc(n_words * sizeof *data);
	if (!data)
		return 2;
	/* 1. two threads with every signal blocked fill and sum the heap */
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, blocked_worker, (void *)(uintptr_t)i);
	uint64_t s = 0;
	for (int i = 0; i < 2; i++) {
		void *r;
		pthread_join(t[i], &r);
		s += (uint64_t)(uintptr_t)r;
	}
	printf("blocked threads: %llu\n", (unsigned long long)s);
	/* 2. the main thread, with SIGBUS blocked by sigprocmask too */
	sigset_t bus;
	sigemptyset(&bus);
	sigaddset(&bus, SIGBUS);
	sigprocmask(SIG_BLOCK, &bus, NULL);
	printf("main, SIGBUS blocked: %llu\n", (unsigned long long)sum_range(0, n_words));
	sigprocmask(SIG_UNBLOCK, &bus, NULL);
	/* 3. a forked child reads it all, changes it, reads it again */
	pid_t p = fork();
	if (p == 0) {
		uint64_t a = sum_range(0, n_words);
		for (size_t i = 0; i < n_words; i += 512)
			data[i] += 1;
		uint64_t b = sum_range(0, n_words);
		printf("child: %llu %llu\n", (unsigned long long)a, (unsigned long long)b);
		_exit(0);
	}
	int st;
	waitpid(p, &st, 0);
	printf("child status: %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	printf("parent after the child: %llu\n", (unsigned long long)sum_range(0, n_words));
	free(data);
	/* 4. the program's own SIGBUS, in the middle of remote memory */
	file_past_end();
	/* 5. files read into and written from buffers mostly not resident */
	file_io();
	/* 6. sockets, getcwd and random bytes, the same */
	sockets();
	cwd_random();
	/* 7. the stat family, readlink, epoll_wait, poll, select, getdents64 */
	outputs();
	return 0;
}
