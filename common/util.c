/* Shared helpers; see util.h. */
#define _GNU_SOURCE
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <linux/futex.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

long lg_syscall(long nr, ...)
{
	va_list ap;
	va_start(ap, nr);
	long a = va_arg(ap, long), b = va_arg(ap, long), c = va_arg(ap, long);
	long d = va_arg(ap, long), e = va_arg(ap, long), f = va_arg(ap, long);
	va_end(ap);
	long r;
#if defined(__x86_64__)
	register long r10 __asm__("r10") = d, r8 __asm__("r8") = e, r9 __asm__("r9") = f;
	__asm__ volatile("syscall"
			 : "=a"(r)
			 : "0"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
#elif defined(__aarch64__)
	register long x8 __asm__("x8") = nr, x0 __asm__("x0") = a, x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c, x3 __asm__("x3") = d, x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	__asm__ volatile("svc 0"
			 : "+r"(x0)
			 : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
			 : "memory", "cc");
	r = x0;
#else
	return syscall(nr, a, b, c, d, e, f); /* (no interposed syscall() here) */
#endif
	if ((unsigned long)r > -4096ul) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

uint64_t lg_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int lg_parse_int(const char *s, int64_t *out)
{
	if (!s || !*s)
		return -EINVAL;
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int lg_parse_size(const char *s, uint64_t *out)
{
	if (!s || !*s || *s == '-')
		return -EINVAL;
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || !(v >= 0) || v > 1e30) /* also refuses NaN */
		return -EINVAL;
	double mul = 1;
	switch (toupper((unsigned char)*end)) {
	case 0: break;
	case 'K': mul = 1024.0; end++; break;
	case 'M': mul = 1024.0 * 1024; end++; break;
	case 'G': mul = 1024.0 * 1024 * 1024; end++; break;
	case 'T': mul = 1024.0 * 1024 * 1024 * 1024; end++; break;
	default: return -EINVAL;
	}
	if (mul > 1 && (*end == 'i' || *end == 'I'))
		end++;
	if (mul > 1 && (*end == 'b' || *end == 'B'))
		end++;
	if (*end)
		return -EINVAL;
	v *= mul;
	if (v >= 18446744073709551615.0)
		return -EINVAL;
	*out = (uint64_t)v;
	return 0;
}

const char *lg_format_size(uint64_t b, char *buf, size_t len)
{
	static const char units[] = "BKMGTP";
	double v = (double)b;
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%lluB", (unsigned long long)b);
	else if (v == (double)(uint64_t)v)
		snprintf(buf, len, "%llu%c", (unsigned long long)v, units[u]);
	else
		snprintf(buf, len, "%.1f%c", v, units[u]);
	return buf;
}

int lg_split_hostport(const char *addr, char *host, size_t hostlen, char *port,
		      size_t portlen)
{
	if (!addr)
		return -EINVAL;
	const char *colon = strrchr(addr, ':');
	if (!colon || colon == addr || !colon[1])
		return -EINVAL;
	size_t hl = (size_t)(colon - addr);
	const char *h = addr;
	if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') { /* [v6]:port */
		h++;
		hl -= 2;
	}
	if (hl >= hostlen || strlen(colon + 1) >= portlen)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = 0;
	strcpy(port, colon + 1);
	for (const char *p = port; *p; p++)
		if (!isdigit((unsigned char)*p))
			return -EINVAL;
	return 0;
}

int lg_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len) {
		ssize_t n = getrandom(p, len, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

ssize_t lg_read_small(const char *path, char *buf, size_t cap)
{
	/* raw calls: no interposed open (file.c) on the way, errno kept */
	int e = errno;
	long fd = lg_syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC), n;
	if (fd >= 0) {
		n = lg_syscall(SYS_read, (int)fd, buf, cap - 1);
		if (n < 0)
			n = -errno;
		lg_syscall(SYS_close, (int)fd);
	} else {
		n = -errno;
	}
	buf[n > 0 ? n : 0] = 0;
	errno = e;
	return n;
}

int lg_read_line(int fd, char *buf, size_t len, int timeout_ms, volatile int *stop)
{
	size_t got = 0;
	uint64_t deadline = lg_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	buf[0] = 0;
	while (got + 1 < len) {
		if (stop && *stop)
			return -EINTR;
		uint64_t now = lg_now_ns();
		if (now >= deadline)
			return -ETIMEDOUT;
		int left = (int)((deadline - now + 999999) / 1000000);
		struct pollfd p = {fd, POLLIN, 0};
		if (poll(&p, 1, stop ? LG_MIN(left, 100) : left) <= 0)
			continue;
		ssize_t r = read(fd, buf + got, len - 1 - got);
		if (r <= 0)
			return -EPIPE;
		got += (size_t)r;
		buf[got] = 0;
		char *nl = strchr(buf, '\n');
		if (nl) {
			*nl = 0;
			return 0;
		}
	}
	return -EOVERFLOW;
}

const char *lg_host_id(void)
{
	static char id[40];
	if (id[0])
		return id;
	char boot[64];
	lg_read_small("/proc/sys/kernel/random/boot_id", boot, sizeof boot);
	char *nl = strchr(boot, '\n');
	if (nl)
		*nl = 0;
	/* Hosts emulated by network namespaces share a boot id; the namespace's
	 * inode tells them apart. */
	struct stat st;
	unsigned long long ns = stat("/proc/self/ns/net", &st) == 0 ? (unsigned long long)st.st_ino : 0;
	char tmp[40];
	snprintf(tmp, sizeof tmp, "%.8s-%llx", boot, ns);
	memcpy(id, tmp, sizeof id);
	return id;
}

int lg_futex_wait(_Atomic uint32_t *addr, uint32_t val, uint64_t timeout_ns)
{
	struct timespec ts, *tp = NULL;
	if (timeout_ns) {
		ts.tv_sec = (time_t)(timeout_ns / 1000000000ull);
		ts.tv_nsec = (long)(timeout_ns % 1000000000ull);
		tp = &ts;
	}
	long r = lg_syscall(SYS_futex, addr, FUTEX_WAIT_PRIVATE, val, tp, NULL, 0);
	return r < 0 ? -errno : 0;
}

void lg_futex_wake(_Atomic uint32_t *addr, int n)
{
	lg_syscall(SYS_futex, addr, FUTEX_WAKE_PRIVATE, n, NULL, NULL, 0);
}

__thread unsigned lg_tls_sig_depth __attribute__((tls_model("initial-exec")));
__thread int lg_tls_sig_saved __attribute__((tls_model("initial-exec")));
static __thread uint64_t lg_tls_sig_old __attribute__((tls_model("initial-exec")));
_Atomic int lg_sig_hold_on;

void lg_sig_hold_slow(void)
{
	static const int open_sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGTRAP, SIGSYS, 32, 33};
	uint64_t hold = ~0ull, old = 0;
	for (size_t i = 0; i < LG_ARRAY_SIZE(open_sigs); i++)
		hold &= ~(1ull << (open_sigs[i] - 1));
	if (lg_syscall(SYS_rt_sigprocmask, SIG_BLOCK, &hold, &old, sizeof hold) == 0) {
		lg_tls_sig_old = old;
		lg_tls_sig_saved = 1;
	}
}

void lg_sig_release_slow(void)
{
	lg_tls_sig_saved = 0;
	lg_syscall(SYS_rt_sigprocmask, SIG_SETMASK, &lg_tls_sig_old, NULL, sizeof lg_tls_sig_old);
}

void lg_sig_block_all(void)
{
	sigset_t all;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	lg_tls_sig_depth++; /* never back to 0 */
}

long lg_sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	long r = lg_syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	return r == -1 ? -errno : r;
}

long lg_sys_munmap(void *addr, size_t len)
{
	long r = lg_syscall(SYS_munmap, addr, len);
	return r == -1 ? -errno : r;
}

long lg_sys_mprotect(void *addr, size_t len, int prot)
{
	long r = lg_syscall(SYS_mprotect, addr, len, prot);
	return r == -1 ? -errno : r;
}

long lg_sys_madvise(void *addr, size_t len, int advice)
{
	long r = lg_syscall(SYS_madvise, addr, len, advice);
	return r == -1 ? -errno : r;
}

long lg_sys_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr)
{
	long r = lg_syscall(SYS_mremap, old, old_len, new_len, flags, new_addr);
	return r == -1 ? -errno : r;
}

void *lg_local_alloc(size_t len)
{
	len = LG_ALIGN_UP(len, LG_PAGE_SIZE);
	long r = lg_sys_mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return r < 0 && r > -4096 ? NULL : (void *)r;
}

void lg_local_free(void *p, size_t len)
{
	if (p)
		lg_sys_munmap(p, LG_ALIGN_UP(len, LG_PAGE_SIZE));
}

int lg_memeq_ct(const void *a, const void *b, size_t len)
{
	const volatile uint8_t *x = a, *y = b;
	uint8_t d = 0;
	for (size_t i = 0; i < len; i++)
		d |= x[i] ^ y[i];
	return d;
}

size_t lg_bprintf(char *buf, size_t cap, size_t n, const char *fmt, ...)
{
	if (n >= cap)
		return cap;
	va_list ap;
	va_start(ap, fmt);
	int r = vsnprintf(buf + n, cap - n, fmt, ap);
	va_end(ap);
	if (r < 0)
		return n;
	return n + (size_t)r >= cap ? cap : n + (size_t)r;
}

/* ------------------------------------------------- the runtime's descriptors */

#define LG_FD_OWN_MAX 512
#define LG_FD_SCAN_MAX 65536 /* descriptors above are not looked for */
static struct lg_fd_own_ent {
	int fd;
	dev_t dev;
	ino_t ino;
	mode_t mode;
} lg_fd_own_tab[LG_FD_OWN_MAX];
static int lg_fd_own_n;
static pthread_mutex_t lg_fd_own_lock = PTHREAD_MUTEX_INITIALIZER;

static int lg_fd_stat(int fd, struct stat *st) { return (int)lg_syscall(SYS_fstat, fd, st); }

static int lg_fd_same(const struct lg_fd_own_ent *e, const struct stat *st)
{
	return e->dev == st->st_dev && e->ino == st->st_ino && e->mode == st->st_mode;
}

void lg_fd_own(int fd)
{
	struct stat st;
	if (fd < 0 || lg_fd_stat(fd, &st) != 0)
		return;
	pthread_mutex_lock(&lg_fd_own_lock);
	int i = 0;
	while (i < lg_fd_own_n && lg_fd_own_tab[i].fd != fd)
		i++;
	int n = lg_fd_own_n;
	if (i == n) { /* a new entry, or the place of a stale one */
		for (i = 0; i < n; i++) {
			struct stat o;
			if (lg_fd_stat(lg_fd_own_tab[i].fd, &o) != 0 || !lg_fd_same(&lg_fd_own_tab[i], &o))
				break;
		}
	}
	if (i < LG_FD_OWN_MAX) {
		lg_fd_own_tab[i] = (struct lg_fd_own_ent){fd, st.st_dev, st.st_ino, st.st_mode};
		if (i == n) /* the entry before the count that shows it */
			__atomic_store_n(&lg_fd_own_n, n + 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&lg_fd_own_lock);
}

void lg_fd_own_fork_child(void) { pthread_mutex_init(&lg_fd_own_lock, NULL); }

int lg_maps_each(int (*fn)(uintptr_t lo, uintptr_t hi, int prot, void *arg), void *arg)
{
	int fd = (int)lg_syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	char buf[8192];
	size_t have = 0;
	int stop = 0;
	long got;
	while (!stop && (got = lg_syscall(SYS_read, fd, buf + have, sizeof buf - 1 - have)) > 0) {
		have += (size_t)got;
		buf[have] = 0;
		char *s = buf, *nl;
		while (!stop && (nl = strchr(s, '\n'))) { /* "start-end rwxp ..." */
			char *t;
			uintptr_t lo = strtoul(s, &t, 16), hi = strtoul(t + 1, &t, 16);
			int prot = (t[1] == 'r' ? PROT_READ : 0) | (t[2] == 'w' ? PROT_WRITE : 0) |
				   (t[3] == 'x' ? PROT_EXEC : 0);
			stop = fn(lo, hi, prot, arg);
			s = nl + 1;
		}
		have -= (size_t)(s - buf);
		memmove(buf, s, have);
	}
	lg_syscall(SYS_close, fd);
	return 0;
}

/* Readers take no lock: close(2) is async-signal-safe and so must be the
 * interposed one (a stale entry being replaced at that moment is at worst
 * not recognised). */
int lg_fd_owned(int fd)
{
	int n = __atomic_load_n(&lg_fd_own_n, __ATOMIC_ACQUIRE);
	for (int i = 0; fd >= 0 && i < n; i++) {
		struct stat st;
		if (lg_fd_own_tab[i].fd == fd && lg_fd_stat(fd, &st) == 0 &&
		    lg_fd_same(&lg_fd_own_tab[i], &st))
			return 1;
	}
	return 0;
}

int lg_fd_next_owned(int fd)
{
	int best = -1, n = __atomic_load_n(&lg_fd_own_n, __ATOMIC_ACQUIRE);
	for (int i = 0; i < n; i++) {
		int f = lg_fd_own_tab[i].fd;
		struct stat st;
		if (f >= fd && (best < 0 || f < best) && lg_fd_stat(f, &st) == 0 &&
		    lg_fd_same(&lg_fd_own_tab[i], &st))
			best = f;
	}
	return best;
}

/* The open descriptors >= lg_fd_low(), as a bitmap of LG_FD_SCAN_MAX bits
 * (NULL if /proc cannot be read or memory is short). */
static uint64_t *lg_fd_scan(void)
{
	int d = (int)lg_syscall(SYS_openat, AT_FDCWD, "/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (d < 0)
		return NULL;
	uint64_t *bm = lg_local_alloc(LG_FD_SCAN_MAX / 8);
	char buf[4096];
	long n;
	while (bm && (n = lg_syscall(SYS_getdents64, d, buf, sizeof buf)) > 0) {
		for (long off = 0; off < n;) {
			struct {
				uint64_t ino;
				int64_t off;
				unsigned short reclen;
				unsigned char type;
				char name[];
			} *e = (void *)(buf + off);
			char *end;
			long fd = strtol(e->name, &end, 10);
			if (end != e->name && !*end && fd >= lg_fd_low() && fd < LG_FD_SCAN_MAX && fd != d)
				bm[fd / 64] |= 1ull << (fd % 64);
			off += e->reclen;
		}
	}
	lg_syscall(SYS_close, d);
	return bm;
}

int lg_fd_low(void)
{
	static _Atomic int low;
	int l = atomic_load_explicit(&low, memory_order_relaxed);
	if (l)
		return l;
	struct rlimit rl;
	l = LG_FD_LOW;
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < (rlim_t)(LG_FD_LOW + LG_FD_ROOM))
		l = rl.rlim_cur > LG_FD_ROOM + 3 ? (int)rl.rlim_cur - LG_FD_ROOM : 3;
	atomic_store_explicit(&low, l, memory_order_relaxed);
	return l;
}

void lg_fd_reserve(struct lg_fd_resv *r)
{
	r->mask = 0;
	r->before = lg_fd_scan();
	int low = lg_fd_low();
	for (;;) {
		long fd = lg_syscall(SYS_openat, AT_FDCWD, "/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return;
		if (fd >= low) {
			lg_syscall(SYS_close, fd);
			return;
		}
		r->mask |= 1ull << fd;
	}
}

void lg_fd_release(struct lg_fd_resv *r)
{
	for (int fd = 0; fd < LG_FD_LOW; fd++) /* (lg_fd_low() <= LG_FD_LOW) */
		if (r->mask & (1ull << fd))
			lg_syscall(SYS_close, fd);
	r->mask = 0;
	/* what was opened meanwhile is the runtime's (another thread of the
	 * program opening one at the same moment would be taken for ours: it
	 * would then survive a closefrom, nothing worse) */
	uint64_t *now = r->before ? lg_fd_scan() : NULL;
	for (int w = 0; now && w < LG_FD_SCAN_MAX / 64; w++)
		for (uint64_t m = now[w] & ~r->before[w]; m; m &= m - 1)
			lg_fd_own(w * 64 + __builtin_ctzll(m));
	if (now)
		lg_local_free(now, LG_FD_SCAN_MAX / 8);
	if (r->before)
		lg_local_free(r->before, LG_FD_SCAN_MAX / 8);
	r->before = NULL;
}

int lg_fd_raise(int fd)
{
	if (fd < 0)
		return fd;
	if (fd >= lg_fd_low()) {
		lg_fd_own(fd);
		return fd;
	}
	long h = lg_syscall(SYS_fcntl, fd, F_DUPFD_CLOEXEC, lg_fd_low());
	if (h < 0) {
		lg_fd_own(fd);
		return fd;
	}
	lg_syscall(SYS_close, fd);
	lg_fd_own((int)h);
	return (int)h;
}
