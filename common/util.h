/*
 * Small shared helpers: clocks, sizes, addresses, randomness, futexes and
 * raw system calls.  Nothing here knows about memnodes or files.  All of it
 * is async-signal-safe unless marked otherwise.
 */
#ifndef LEGO_UTIL_H
#define LEGO_UTIL_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define LG_MIN(a, b) ((a) < (b) ? (a) : (b))
#define LG_MAX(a, b) ((a) > (b) ? (a) : (b))
#define LG_ALIGN_UP(x, a) (((x) + (a)-1) & ~((__typeof__(x))(a)-1))
#define LG_ALIGN_DOWN(x, a) ((x) & ~((__typeof__(x))(a)-1))
#define lg_likely(x) __builtin_expect(!!(x), 1)
#define lg_unlikely(x) __builtin_expect(!!(x), 0)

#define LG_PAGE_SIZE 4096ul

/* syscall(2) as the C library's: the value, or -1 and errno.  Lego's own
 * code makes its raw system calls with this, never with syscall(), which
 * in transparent mode is the interposed one (preload/file.c: programs
 * that close or statx a Lego file through syscall(), as libuv does). */
long lg_syscall(long nr, ...);

uint64_t lg_now_ns(void);

/* "64M", "1G", "4096", "2.5G" -> bytes.  0 or -EINVAL. */
int lg_parse_size(const char *s, uint64_t *out);
/* Bytes as "1.5G" style text into buf. */
const char *lg_format_size(uint64_t bytes, char *buf, size_t len);
/* Decimal integer with optional sign; 0 or -EINVAL. */
int lg_parse_int(const char *s, int64_t *out);

/* "host:port" -> host and port parts.  0 or -EINVAL (no colon, too long). */
int lg_split_hostport(const char *addr, char *host, size_t hostlen, char *port,
		      size_t portlen);

/* Fill buf from the kernel's random source.  0 or -errno. */
int lg_random(void *buf, size_t len);

/* A string that is the same for every process on this host and differs
 * between hosts (the boot id, made unique per network namespace). */
const char *lg_host_id(void);
/* Read up to cap - 1 bytes of a small file (/proc's) with one read into
 * buf, NUL-terminated ("" on failure).  Bytes read, or -errno (errno
 * itself left alone).  Raw openat, read and close: safe in a signal
 * handler, and never through the interposed open of transparent mode. */
ssize_t lg_read_small(const char *path, char *buf, size_t cap);
/* Read one line ("HOST:PORT\n", say) from a pipe or socket into buf,
 * without its newline, within timeout_ms, and (stop not NULL) until *stop
 * is set.  0, or -EPIPE (end of file first), -ETIMEDOUT, -EINTR (stopped),
 * -EOVERFLOW (no newline in len - 1 bytes).  Not async-signal-safe in
 * spirit: it may wait. */
int lg_read_line(int fd, char *buf, size_t len, int timeout_ms, volatile int *stop);

/* futex wait while *addr == val (timeout_ns 0 = forever); wake n waiters. */
int lg_futex_wait(_Atomic uint32_t *addr, uint32_t val, uint64_t timeout_ns);
void lg_futex_wake(_Atomic uint32_t *addr, int n);

static inline void lg_cpu_relax(void) { __builtin_ia32_pause(); }

/*
 * Asynchronous signals held while a thread of the program runs runtime
 * code that takes what the fault service needs: libfabric's locks and the
 * RPC client's (every request), the ExCache's set locks (a free, a fork).
 * A signal delivered meanwhile has its frame written on the thread's
 * signal stack, which may be remote memory not resident (the Go runtime
 * allocates its threads' signal stacks in its heap and preempts them with
 * SIGURG every 10 ms); the thread then waits for the fault thread, which
 * waits for the lock the thread holds, for good (it_runtimes' Go program).
 * So they wait until the thread is out; the synchronous ones (a fault's,
 * which SIGBUS mode needs) and the C library's two stay open.  Nested
 * holds cost nothing; only in a Lego process (lg_sig_hold_enable), and
 * never on a runtime thread (lg_sig_block_all: everything blocked for
 * good).  Raw system calls: transparent mode's pthread_sigmask is not in
 * the way.  About 0.37 us for the pair on the reference VM.
 */
extern __thread unsigned lg_tls_sig_depth __attribute__((tls_model("initial-exec")));
extern __thread int lg_tls_sig_saved __attribute__((tls_model("initial-exec")));
extern _Atomic int lg_sig_hold_on;
void lg_sig_hold_slow(void);
void lg_sig_release_slow(void);
static inline void lg_sig_hold_enable(void) { atomic_store(&lg_sig_hold_on, 1); }
static inline void lg_sig_hold(void)
{
	if (lg_tls_sig_depth++ == 0 && atomic_load_explicit(&lg_sig_hold_on, memory_order_relaxed))
		lg_sig_hold_slow();
}
static inline void lg_sig_release(void)
{
	if (--lg_tls_sig_depth == 0 && lg_tls_sig_saved)
		lg_sig_release_slow();
}
/* Held by this thread's one hold only (nothing it called from holds). */
static inline int lg_sig_held_once(void) { return lg_tls_sig_depth == 1 && lg_tls_sig_saved; }
/* Already held by a signal handler's mask: holds inside cost nothing. */
static inline void lg_sig_held_note(void) { lg_tls_sig_depth++; }
static inline void lg_sig_held_unnote(void) { lg_tls_sig_depth--; }
/* A runtime thread's start: every signal blocked for good. */
void lg_sig_block_all(void);

/* Raw system calls that interposition can never see (used by the runtime
 * for its own memory).  Return the kernel's result: value or -errno. */
long lg_sys_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
long lg_sys_munmap(void *addr, size_t len);
long lg_sys_mprotect(void *addr, size_t len, int prot);
long lg_sys_madvise(void *addr, size_t len, int advice);
long lg_sys_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr);

/* Local memory for the runtime's own use (never remote): zeroed pages. */
void *lg_local_alloc(size_t len);
void lg_local_free(void *p, size_t len);

/* Append printf-style text at buf+n (capacity cap); returns the new n,
 * never more than cap. */
size_t lg_bprintf(char *buf, size_t cap, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Descriptors the runtime opens are kept at or above lg_fd_low(), out of
 * the way of programs that use small fixed numbers (a shell's `exec
 * 3>file` would otherwise replace a runtime descriptor).  lg_fd_reserve
 * occupies the free numbers below it with /dev/null until lg_fd_release,
 * so that whatever is opened meanwhile (also inside libfabric) lands
 * above; lg_fd_raise moves one descriptor up (returns the new number, or
 * fd).  lg_fd_low() is LG_FD_LOW, or lower under a descriptor limit
 * (RLIMIT_NOFILE, read once) that leaves fewer than LG_FD_ROOM numbers
 * above it: the runtime's descriptors then take the top LG_FD_ROOM (with
 * `ulimit -n 64` it could open none, and Lego turned itself off). */
#define LG_FD_LOW 64
#define LG_FD_ROOM 16
int lg_fd_low(void);
struct lg_fd_resv {
	uint64_t mask;
	uint64_t *before; /* descriptors open at lg_fd_reserve (a bitmap) */
};
void lg_fd_reserve(struct lg_fd_resv *r);
void lg_fd_release(struct lg_fd_resv *r);
int lg_fd_raise(int fd);

/* The runtime's own descriptors (libfabric's among them) are recorded, with
 * the identity of their files: those lg_fd_raise moves, lg_fd_own names,
 * and every one opened between lg_fd_reserve and lg_fd_release.  A program
 * that closes every descriptor (closefrom(3), a daemon starting) leaves
 * them open: lg_fd_owned(fd) is 1 while fd is still that file.
 * lg_fd_next_owned gives the smallest owned descriptor >= fd, or -1. */
void lg_fd_own(int fd);
int lg_fd_owned(int fd);
int lg_fd_next_owned(int fd);
/* In a forked child: the record's lock may have been held by another
 * thread of the parent. */
void lg_fd_own_fork_child(void);

/* Call fn(lo, hi, prot, arg) for each mapping in /proc/self/maps, in
 * order, until it returns nonzero.  0, or -errno if the file cannot be
 * opened. */
int lg_maps_each(int (*fn)(uintptr_t lo, uintptr_t hi, int prot, void *arg), void *arg);

/* Constant-time comparison; 0 when equal. */
int lg_memeq_ct(const void *a, const void *b, size_t len);

#endif
