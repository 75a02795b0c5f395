/*
 * The interposed file calls (docs/storage.md, "The client side").  Thin
 * shims: each asks liblego/file.h whether the path, descriptor or DIR is
 * Lego's; if so it forwards there and turns -errno into errno and the
 * C library's failure value, otherwise it calls the C library's own
 * function (dlsym(RTLD_NEXT)).  Nothing changes unless the runtime runs in
 * transparent mode with a store prefix (lg_file_init decides, once).
 *
 * The C library's internal callers (its own fopen, scandir, glob, the
 * dynamic loader) do not come through here: Lego files are reached by what
 * programs call, and stdio on them goes through fopencookie.
 */
#undef _FORTIFY_SOURCE
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <limits.h>
#include <poll.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/random.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <utime.h>

#include "common/log.h"
#include "common/util.h"
#include "fabric/fiload.h"
#include "liblego/dio.h"
#include "liblego/file.h"
#include "liblego/trace.h"
#include "lego/proto.h"

#define LG_EXPORT __attribute__((visibility("default")))

/* The C library's definition of fn. */
#define REAL(fn)                                                               \
	({                                                                     \
		static __typeof__(&fn) real_;                                  \
		if (!real_)                                                    \
			real_ = (__typeof__(&fn))dlsym(RTLD_NEXT, #fn);        \
		real_;                                                         \
	})

/* Names without prototypes in the C library's headers. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen);
ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen);
void __chk_fail(void) __attribute__((noreturn));
char *__getcwd_chk(char *buf, size_t size, size_t buflen);
char *__realpath_chk(const char *path, char *resolved, size_t rlen);
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *ss,
		size_t fdslen);
ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
		       struct sockaddr *addr, socklen_t *alen);
size_t __fread_chk(void *p, size_t plen, size_t size, size_t n, FILE *f);
size_t __fread_unlocked_chk(void *p, size_t plen, size_t size, size_t n, FILE *f);
int __xstat(int ver, const char *path, struct stat *st);
int __xstat64(int ver, const char *path, struct stat64 *st);
int __lxstat(int ver, const char *path, struct stat *st);
int __lxstat64(int ver, const char *path, struct stat64 *st);
int __fxstat(int ver, int fd, struct stat *st);
int __fxstat64(int ver, int fd, struct stat64 *st);
int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags);
int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags);

static inline int lg_ret(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return (int)r;
}

static inline long lg_retl(long r)
{
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	return r;
}

#define LG_MODE_ARG(flags, mode)                                               \
	do {                                                                   \
		if ((flags) & O_CREAT || ((flags) & __O_TMPFILE) == __O_TMPFILE) { \
			va_list ap;                                            \
			va_start(ap, flags);                                   \
			mode = va_arg(ap, mode_t);                             \
			va_end(ap);                                            \
		}                                                              \
	} while (0)

/* --------------------------------------------------------------------- open */

static void lg_std_sync(int fd);

static int lg_openat(int dirfd, const char *path, int flags, mode_t mode, int at)
{
	if (lg_file_path(dirfd, path)) {
		int r = lg_ret(LG_TRACED("dsxx", lg_file_open(dirfd, path, flags, mode),
				TL(dirfd), TL(path), TL(flags), TL(mode)));
		if (r >= 0 && r <= 2) /* close(1); open(...) */
			lg_std_sync(r);
		return r;
	}
	int fd = (int)LG_TRACED_LIBC("dsxx", at ? REAL(openat)(dirfd, path, flags, mode)
						: REAL(open)(path, flags, mode),
				     TL(dirfd), TL(path), TL(flags), TL(mode));
	if (fd >= 0)
		lg_file_fresh(fd);
	return fd;
}

LG_EXPORT int open(const char *path, int flags, ...)
{
	mode_t mode = 0;
	LG_MODE_ARG(flags, mode);
	return lg_openat(AT_FDCWD, path, flags, mode, 0);
}

LG_EXPORT int open64(const char *path, int flags, ...)
{
	mode_t mode = 0;
	LG_MODE_ARG(flags, mode);
	return lg_openat(AT_FDCWD, path, flags, mode, 0);
}

LG_EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	LG_MODE_ARG(flags, mode);
	return lg_openat(dirfd, path, flags, mode, 1);
}

LG_EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
	mode_t mode = 0;
	LG_MODE_ARG(flags, mode);
	return lg_openat(dirfd, path, flags, mode, 1);
}

LG_EXPORT int __open_2(const char *path, int flags) { return lg_openat(AT_FDCWD, path, flags, 0, 0); }
LG_EXPORT int __open64_2(const char *path, int flags) { return lg_openat(AT_FDCWD, path, flags, 0, 0); }
LG_EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
	return lg_openat(dirfd, path, flags, 0, 1);
}
LG_EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
	return lg_openat(dirfd, path, flags, 0, 1);
}

LG_EXPORT int creat(const char *path, mode_t mode)
{
	return lg_openat(AT_FDCWD, path, O_WRONLY | O_CREAT | O_TRUNC, mode, 0);
}

LG_EXPORT int creat64(const char *path, mode_t mode) { return creat(path, mode); }

/* ------------------------------------------------------------ read, write */

/* The result r of a call on iov, or what SIGBUS mode makes of it where it
 * failed with EFAULT or stopped short at remote memory (lg_dio_after). */
#define LG_BOUNCED(r, fd, iov, cnt, off, flags, out)                                    \
	({                                                                              \
		ssize_t lg_b_ = (r);                                                      \
		lg_b_ < 0 && errno != EFAULT ? lg_b_                                      \
			: lg_retl(lg_dio_after(lg_b_ < 0 ? -EFAULT : lg_b_, fd, iov, cnt, off, \
					       flags, out));                                 \
	})

LG_EXPORT ssize_t read(int fd, void *buf, size_t n)
{
	if (lg_file_fd(fd))
		return lg_retl(LG_TRACED("dpd", lg_file_read(fd, buf, n), TL(fd), TL(buf), TL(n)));
	struct iovec v = {buf, n};
	if (lg_dio_needed(fd, &v, 1))
		return lg_retl(lg_dio_readv(fd, &v, 1, -1, 0));
	return LG_BOUNCED(LG_TRACED_LIBC("dpd", REAL(read)(fd, buf, n), TL(fd), TL(buf), TL(n)),
			  fd, &v, 1, -1, 0, 0);
}

LG_EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	if (n > buflen)
		__chk_fail();
	return read(fd, buf, n);
}

LG_EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
	if (lg_file_fd(fd))
		return lg_retl(LG_TRACED("dpd", lg_file_write(fd, buf, n), TL(fd), TL(buf), TL(n)));
	struct iovec v = {(void *)buf, n};
	return LG_BOUNCED(LG_TRACED_LIBC("dpd", REAL(write)(fd, buf, n), TL(fd), TL(buf), TL(n)),
			  fd, &v, 1, -1, 0, 1);
}

LG_EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
	if (lg_file_fd(fd))
		return lg_retl(LG_TRACED("dpdd", lg_file_pread(fd, buf, n, off),
				TL(fd), TL(buf), TL(n), TL(off)));
	struct iovec v = {buf, n};
	if (lg_dio_needed(fd, &v, 1))
		return lg_retl(off < 0 ? -EINVAL : lg_dio_readv(fd, &v, 1, off, 0));
	return LG_BOUNCED(LG_TRACED_LIBC("dpdd", REAL(pread)(fd, buf, n, off), TL(fd), TL(buf),
					 TL(n), TL(off)),
			  fd, &v, 1, off, 0, 0);
}

LG_EXPORT ssize_t pread64(int fd, void *buf, size_t n, off64_t off) { return pread(fd, buf, n, off); }

LG_EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
	if (n > buflen)
		__chk_fail();
	return pread(fd, buf, n, off);
}

LG_EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen)
{
	return __pread_chk(fd, buf, n, off, buflen);
}

LG_EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
	if (lg_file_fd(fd))
		return lg_retl(LG_TRACED("dpdd", lg_file_pwrite(fd, buf, n, off),
				TL(fd), TL(buf), TL(n), TL(off)));
	struct iovec v = {(void *)buf, n};
	return LG_BOUNCED(LG_TRACED_LIBC("dpdd", REAL(pwrite)(fd, buf, n, off), TL(fd), TL(buf),
					 TL(n), TL(off)),
			  fd, &v, 1, off, 0, 1);
}

LG_EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	return pwrite(fd, buf, n, off);
}

LG_EXPORT ssize_t readv(int fd, const struct iovec *iov, int cnt)
{
	if (lg_file_fd(fd))
		return lg_retl(LG_TRACED("dpdd", lg_file_readv(fd, iov, cnt, -1),
				TL(fd), TL(iov), TL(cnt), TL(-1)));
	if (lg_dio_needed(fd, iov, cnt))
		return lg_retl(lg_dio_readv(fd, iov, cnt, -1, 0));
	return LG_BOUNCED(LG_TRACED_LIBC("dpd", REAL(readv)(fd, iov, cnt), TL(fd), TL(iov), TL(cnt)),
			  fd, iov, cnt, -1, 0, 0);
}

LG_EXPORT ssize_t writev(int fd, const struct iovec *iov, int cnt)
{
	if (lg_file_fd(fd))
		return lg_retl(LG_TRACED("dpdd", lg_file_writev(fd, iov, cnt, -1),
				TL(fd), TL(iov), TL(cnt), TL(-1)));
	return LG_BOUNCED(LG_TRACED_LIBC("dpd", REAL(writev)(fd, iov, cnt), TL(fd), TL(iov), TL(cnt)),
			  fd, iov, cnt, -1, 0, 1);
}

LG_EXPORT ssize_t preadv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	if (lg_file_fd(fd))
		return lg_retl(off < 0 ? -EINVAL : lg_file_readv(fd, iov, cnt, off));
	if (lg_dio_needed(fd, iov, cnt))
		return lg_retl(off < 0 ? -EINVAL : lg_dio_readv(fd, iov, cnt, off, 0));
	return LG_BOUNCED(REAL(preadv)(fd, iov, cnt, off), fd, iov, cnt, off, 0, 0);
}

LG_EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
	return preadv(fd, iov, cnt, off);
}

/* Lego files take no flags: RWF_* are hints or ask for what they always
 * do (RWF_NOWAIT may fail with EAGAIN and they never need to). */
LG_EXPORT ssize_t preadv2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	if (lg_file_fd(fd))
		return lg_retl(off < -1 ? -EINVAL : lg_file_readv(fd, iov, cnt, off));
	if (lg_dio_needed(fd, iov, cnt))
		return lg_retl(off < -1 ? -EINVAL : lg_dio_readv(fd, iov, cnt, off, flags));
	return LG_BOUNCED(REAL(preadv2)(fd, iov, cnt, off, flags), fd, iov, cnt, off, flags, 0);
}

LG_EXPORT ssize_t preadv64v2(int fd, const struct iovec *iov, int cnt, off64_t off, int flags)
{
	return preadv2(fd, iov, cnt, off, flags);
}

LG_EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	if (lg_file_fd(fd))
		return lg_retl(off < 0 ? -EINVAL : lg_file_writev(fd, iov, cnt, off));
	return LG_BOUNCED(REAL(pwritev)(fd, iov, cnt, off), fd, iov, cnt, off, 0, 1);
}

LG_EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off64_t off)
{
	return pwritev(fd, iov, cnt, off);
}

LG_EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	if (lg_file_fd(fd))
		return lg_retl(off < -1 ? -EINVAL : lg_file_writev(fd, iov, cnt, off));
	return LG_BOUNCED(REAL(pwritev2)(fd, iov, cnt, off, flags), fd, iov, cnt, off, flags, 1);
}

LG_EXPORT ssize_t pwritev64v2(int fd, const struct iovec *iov, int cnt, off64_t off, int flags)
{
	return pwritev2(fd, iov, cnt, off, flags);
}

/* libaio's io_submit (it returns the result or -errno; the C library has
 * none).  A program linked with libaio calls this one first. */
struct iocb;
int io_submit(unsigned long ctx, long nr, struct iocb **cbs);
LG_EXPORT int io_submit(unsigned long ctx, long nr, struct iocb **cbs)
{
	return (int)lg_dio_aio_submit(ctx, nr, cbs);
}

LG_EXPORT off_t lseek(int fd, off_t off, int whence)
{
	if (lg_file_fd(fd))
		return lg_retl(LG_TRACED("ddd", lg_file_lseek(fd, off, whence),
				TL(fd), TL(off), TL(whence)));
	return LG_TRACED_LIBC("ddd", REAL(lseek)(fd, off, whence), TL(fd), TL(off), TL(whence));
}

LG_EXPORT off64_t lseek64(int fd, off64_t off, int whence) { return lseek(fd, off, whence); }

/* ----------------------------------------------------------- event waits */

/*
 * epoll_wait and poll in SIGBUS mode: the kernel writes events into the
 * program's array, and in remote memory that is not resident it cannot
 * (EFAULT), so they go through an array on the stack (epoll: at most
 * LG_EVENTS_VIA events a call, the rest on the next; poll: copied in
 * and out, a local buffer for more than LG_EVENTS_VIA descriptors).
 */
#define LG_EVENTS_VIA 256

static int lg_epoll_via(int epfd, struct epoll_event *ev, int max, int timeout,
			const sigset_t *ss, int pwait)
{
	struct epoll_event b[LG_EVENTS_VIA];
	int cap = max < LG_EVENTS_VIA ? max : LG_EVENTS_VIA;
	int r = pwait ? REAL(epoll_pwait)(epfd, b, cap, timeout, ss)
		      : REAL(epoll_wait)(epfd, b, cap, timeout);
	if (r > 0)
		memcpy(ev, b, (size_t)r * sizeof *b);
	return r;
}

LG_EXPORT int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	if (max <= 0 || !lg_dio_bounce(&(struct iovec){ev, (size_t)max * sizeof *ev}, 1))
		return REAL(epoll_wait)(epfd, ev, max, timeout);
	return lg_epoll_via(epfd, ev, max, timeout, NULL, 0);
}

LG_EXPORT int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout,
			  const sigset_t *ss)
{
	if (max <= 0 || !lg_dio_bounce(&(struct iovec){ev, (size_t)max * sizeof *ev}, 1))
		return REAL(epoll_pwait)(epfd, ev, max, timeout, ss);
	return lg_epoll_via(epfd, ev, max, timeout, ss, 1);
}

static int lg_poll_via(struct pollfd *fds, nfds_t n, int timeout, const struct timespec *tmo,
		       const sigset_t *ss, int pp)
{
	struct pollfd stack[LG_EVENTS_VIA], *b = stack;
	int slot = -1;
	if (n > LG_EVENTS_VIA && (n > LG_DIO_PIECE / sizeof *b || !(b = lg_dio_buf(&slot))))
		return pp ? REAL(ppoll)(fds, n, tmo, ss) : REAL(poll)(fds, n, timeout);
	memcpy(b, fds, n * sizeof *b);
	int r = pp ? REAL(ppoll)(b, n, tmo, ss) : REAL(poll)(b, n, timeout);
	int e = errno;
	if (r >= 0)
		for (nfds_t i = 0; i < n; i++)
			fds[i].revents = b[i].revents;
	if (b != stack)
		lg_dio_buf_put(b, slot);
	errno = e;
	return r;
}

LG_EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (!n || !lg_dio_bounce(&(struct iovec){fds, n * sizeof *fds}, 1))
		return REAL(poll)(fds, n, timeout);
	return lg_poll_via(fds, n, timeout, NULL, NULL, 0);
}

LG_EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	if (fdslen / sizeof *fds < n)
		__chk_fail();
	return poll(fds, n, timeout);
}

LG_EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *tmo, const sigset_t *ss)
{
	if (!n || !lg_dio_bounce(&(struct iovec){fds, n * sizeof *fds}, 1))
		return REAL(ppoll)(fds, n, tmo, ss);
	return lg_poll_via(fds, n, 0, tmo, ss, 1);
}

LG_EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *tmo,
			  const sigset_t *ss, size_t fdslen)
{
	if (fdslen / sizeof *fds < n)
		__chk_fail();
	return ppoll(fds, n, tmo, ss);
}

/* select and pselect: the sets (and select's timeout, which Linux
 * changes) through copies on the stack when any lies in remote memory. */
static int lg_select_remote(int n, fd_set *r, fd_set *w, fd_set *x, void *tmo, size_t tlen)
{
	size_t len = n <= 0 ? 0 : ((size_t)n + 63) / 64 * 8;
	if (len > sizeof(fd_set))
		return 0;
	struct iovec v[4] = {{r, r ? len : 0}, {w, w ? len : 0}, {x, x ? len : 0},
			     {tmo, tmo ? tlen : 0}};
	return lg_dio_bounce(v, 4);
}

static int lg_select_via(int n, fd_set *r, fd_set *w, fd_set *x, struct timeval *tv,
			 const struct timespec *ts, const sigset_t *ss, int ps)
{
	size_t len = n <= 0 ? 0 : ((size_t)n + 63) / 64 * 8;
	fd_set l[3];
	fd_set *s[3] = {r, w, x}, *p[3];
	for (int i = 0; i < 3; i++) {
		p[i] = s[i] ? &l[i] : NULL;
		if (s[i])
			memcpy(&l[i], s[i], len);
	}
	struct timeval ltv;
	struct timespec lts;
	if (tv)
		ltv = *tv;
	if (ts)
		lts = *ts;
	int ret = ps ? REAL(pselect)(n, p[0], p[1], p[2], ts ? &lts : NULL, ss)
		     : REAL(select)(n, p[0], p[1], p[2], tv ? &ltv : NULL);
	int e = errno;
	for (int i = 0; i < 3 && ret >= 0; i++)
		if (s[i])
			memcpy(s[i], &l[i], len);
	if (tv && !ps)
		*tv = ltv;
	errno = e;
	return ret;
}

LG_EXPORT int select(int n, fd_set *r, fd_set *w, fd_set *x, struct timeval *tv)
{
	if (!lg_select_remote(n, r, w, x, tv, sizeof *tv))
		return REAL(select)(n, r, w, x, tv);
	return lg_select_via(n, r, w, x, tv, NULL, NULL, 0);
}

LG_EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *x, const struct timespec *ts,
		      const sigset_t *ss)
{
	if (!lg_select_remote(n, r, w, x, (void *)ts, sizeof *ts))
		return REAL(pselect)(n, r, w, x, ts, ss);
	return lg_select_via(n, r, w, x, NULL, ts, ss, 1);
}

/* ----------------------------------------------------------------- sockets */

/*
 * In SIGBUS mode the kernel cannot copy a socket's data into or out of
 * remote memory that is not resident, and a datagram whose copy fails is
 * gone, so these go through a local buffer whenever their data lies in
 * remote memory (lg_dio_msg).  Otherwise, and in uffd mode, they are the
 * C library's.
 */
static ssize_t lg_sock_via(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
			   socklen_t *alen, int out)
{
	struct iovec v = {buf, n};
	struct msghdr m = {.msg_name = addr, .msg_namelen = alen ? *alen : 0, .msg_iov = &v,
			   .msg_iovlen = 1};
	ssize_t r = lg_dio_msg(fd, &m, flags, out);
	if (r >= 0 && alen && !out)
		*alen = m.msg_namelen;
	return lg_retl(r);
}

LG_EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	if (!lg_dio_bounce(&(struct iovec){buf, n}, 1))
		return REAL(recv)(fd, buf, n, flags);
	return lg_sock_via(fd, buf, n, flags, NULL, NULL, 0);
}

LG_EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
	if (n > buflen)
		__chk_fail();
	return recv(fd, buf, n, flags);
}

LG_EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr,
			   socklen_t *alen)
{
	if (!lg_dio_bounce(&(struct iovec){buf, n}, 1))
		return REAL(recvfrom)(fd, buf, n, flags, addr, alen);
	return lg_sock_via(fd, buf, n, flags, addr, addr ? alen : NULL, 0);
}

LG_EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
				 struct sockaddr *addr, socklen_t *alen)
{
	if (n > buflen)
		__chk_fail();
	return recvfrom(fd, buf, n, flags, addr, alen);
}

/* Descriptors received (SCM_RIGHTS) that are another process's Lego files
 * become ours too, as descriptors inherited across exec do. */
static ssize_t lg_recv_fds(ssize_t r, const struct msghdr *m)
{
	if (r < 0 || !m || !m->msg_control || !lg_file_active())
		return r;
	int e = errno;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR((struct msghdr *)m, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
			lg_file_received(fd);
		}
	}
	errno = e;
	return r;
}

LG_EXPORT ssize_t recvmsg(int fd, struct msghdr *m, int flags)
{
	if (!m || m->msg_iovlen > INT_MAX || !lg_dio_bounce(m->msg_iov, (int)m->msg_iovlen))
		return lg_recv_fds(REAL(recvmsg)(fd, m, flags), m);
	return lg_recv_fds(lg_retl(lg_dio_msg(fd, m, flags, 0)), m);
}

LG_EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	if (!lg_dio_bounce(&(struct iovec){(void *)buf, n}, 1))
		return REAL(send)(fd, buf, n, flags);
	return lg_sock_via(fd, (void *)buf, n, flags, NULL, NULL, 1);
}

LG_EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags,
			 const struct sockaddr *addr, socklen_t alen)
{
	if (!lg_dio_bounce(&(struct iovec){(void *)buf, n}, 1))
		return REAL(sendto)(fd, buf, n, flags, addr, alen);
	return lg_sock_via(fd, (void *)buf, n, flags, (struct sockaddr *)addr, &alen, 1);
}

LG_EXPORT ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	if (!m || m->msg_iovlen > INT_MAX || !lg_dio_bounce(m->msg_iov, (int)m->msg_iovlen))
		return REAL(sendmsg)(fd, m, flags);
	struct msghdr c = *m;
	return lg_retl(lg_dio_msg(fd, &c, flags, 1));
}

/* ------------------------------------------------------- standard streams */

/* When descriptor 0, 1 or 2 is a Lego file (a shell's "cmd >/lego/f", or
 * dup2 in the program), stdin/stdout/stderr are switched to a cookie stream
 * on it: the C library's own stream would write to the placeholder with
 * its internal write(), which nothing here can see.  Switched back when the
 * descriptor is a kernel file again. */
static FILE *lg_std_orig[3]; /* the C library's stream while ours stands in */

static ssize_t lg_std_read(void *c, char *buf, size_t n)
{
	int fd = (int)(intptr_t)c;
	return lg_file_fd(fd) ? lg_retl(LG_TRACED("dpd", lg_file_read(fd, buf, n),
			TL(fd), TL(buf), TL(n))) : REAL(read)(fd, buf, n);
}

static ssize_t lg_std_write(void *c, const char *buf, size_t n)
{
	int fd = (int)(intptr_t)c;
	ssize_t r = lg_file_fd(fd) ? lg_retl(LG_TRACED("dpd", lg_file_write(fd, buf, n),
			TL(fd), TL(buf), TL(n))) : REAL(write)(fd, buf, n);
	return r < 0 ? 0 : r; /* the C library's "nothing written" */
}

static int lg_std_seek(void *c, off64_t *pos, int whence)
{
	int fd = (int)(intptr_t)c;
	off_t r = lg_file_fd(fd) ? lg_retl(lg_file_lseek(fd, *pos, whence))
				 : REAL(lseek)(fd, *pos, whence);
	if (r < 0)
		return -1;
	*pos = r;
	return 0;
}

static int lg_std_close(void *c) { return 0; } /* the descriptor is not the stream's */

static const cookie_io_functions_t lg_std_ck = {lg_std_read, lg_std_write, lg_std_seek,
						lg_std_close};

static FILE **lg_std_var(int fd) { return fd == 0 ? &stdin : fd == 1 ? &stdout : &stderr; }

/* Before descriptor fd (0..2) changes: what its stream holds belongs to
 * the old file. */
static void lg_std_before(int fd, int from)
{
	if (fd >= 1 && fd <= 2 && (lg_std_orig[fd] || lg_file_fd(from)))
		fflush(*lg_std_var(fd));
}

/* After: the stream to match what descriptor fd now is. */
static void lg_std_sync(int fd)
{
	if (fd < 0 || fd > 2)
		return;
	FILE **v = lg_std_var(fd);
	if (lg_file_fd(fd)) {
		if (lg_std_orig[fd] || !*v || fileno(*v) != fd)
			return; /* ours already, or the program's own choice */
		FILE *f = fopencookie((void *)(intptr_t)fd, fd ? "w" : "r", lg_std_ck);
		if (!f)
			return;
		f->_fileno = fd;
		if (fd == 2)
			setvbuf(f, NULL, _IONBF, 0);
		lg_std_orig[fd] = *v;
		*v = f;
	} else if (lg_std_orig[fd]) {
		FILE *f = *v;
		*v = lg_std_orig[fd];
		lg_std_orig[fd] = NULL;
		fclose(f);
	}
}

/* ------------------------------------------------------------ descriptors */

LG_EXPORT int close(int fd)
{
	if (lg_fd_kept(fd))
		return 0;
	if (lg_file_fd(fd))
		return lg_ret(LG_TRACED("d", lg_file_close(fd), TL(fd)));
	return (int)LG_TRACED_LIBC("d", REAL(close)(fd), TL(fd));
}

LG_EXPORT int close_range(unsigned first, unsigned last, int flags)
{
	return lg_ret(LG_TRACED("ddx", lg_file_close_range(first, last, flags),
			TL(first), TL(last), TL(flags)));
}

LG_EXPORT void closefrom(int low)
{
	if (low < 0 || lg_file_close_range((unsigned)low, ~0u, 0) < 0)
		REAL(closefrom)(low); /* its own fallback, without close_range */
}

LG_EXPORT int dup(int fd)
{
	if (lg_file_fd(fd))
		return lg_ret(LG_TRACED("ddd", lg_file_dup(fd, -1, 0), TL(fd), TL(-1), TL(0)));
	int r = REAL(dup)(fd);
	if (r >= 0)
		lg_file_fresh(r);
	return r;
}

LG_EXPORT int dup2(int fd, int to)
{
	if (fd != to && lg_fd_kept(to))
		return errno = EBUSY, -1;
	lg_std_before(to, fd);
	int r = lg_file_fd(fd) || lg_file_fd(to) ? lg_ret(lg_file_dup(fd, to, 0))
						 : REAL(dup2)(fd, to);
	if (r >= 0)
		lg_std_sync(r);
	return r;
}

LG_EXPORT int dup3(int fd, int to, int flags)
{
	if (fd != to && lg_fd_kept(to))
		return errno = EBUSY, -1;
	lg_std_before(to, fd);
	int r = lg_file_fd(fd) || lg_file_fd(to) ? lg_ret(lg_file_dup(fd, to, flags))
						 : REAL(dup3)(fd, to, flags);
	if (r >= 0)
		lg_std_sync(r);
	return r;
}

/* Every fcntl command takes at most one argument, an int or a pointer:
 * reading it as unsigned long is what the C library itself does. */
static int lg_fcntl(int fd, int cmd, unsigned long arg)
{
	if (lg_file_fd(fd))
		return lg_ret(LG_TRACED("dxx", lg_file_fcntl(fd, cmd, arg),
				TL(fd), TL(cmd), TL(arg)));
	int r = REAL(fcntl)(fd, cmd, arg);
	if (r >= 0 && (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC))
		lg_file_fresh(r);
	return r;
}

LG_EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	unsigned long arg = va_arg(ap, unsigned long);
	va_end(ap);
	return lg_fcntl(fd, cmd, arg);
}

LG_EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	unsigned long arg = va_arg(ap, unsigned long);
	va_end(ap);
	return lg_fcntl(fd, cmd, arg);
}

LG_EXPORT int fsync(int fd)
{
	if (lg_file_fd(fd))
		return lg_ret(LG_TRACED("dd", lg_file_fsync(fd, 0), TL(fd), TL(0)));
	return REAL(fsync)(fd);
}

LG_EXPORT int fdatasync(int fd)
{
	if (lg_file_fd(fd))
		return lg_ret(LG_TRACED("dd", lg_file_fsync(fd, 1), TL(fd), TL(1)));
	return REAL(fdatasync)(fd);
}

LG_EXPORT int ftruncate(int fd, off_t len)
{
	if (lg_file_fd(fd))
		return lg_ret(LG_TRACED("dd", lg_file_ftruncate(fd, len), TL(fd), TL(len)));
	return REAL(ftruncate)(fd, len);
}

LG_EXPORT int ftruncate64(int fd, off64_t len) { return ftruncate(fd, len); }

LG_EXPORT int fallocate(int fd, int mode, off_t off, off_t len)
{
	if (lg_file_fd(fd))
		return lg_ret(LG_TRACED("dxdd", lg_file_fallocate(fd, mode, off, len), TL(fd), TL(mode),
				TL(off), TL(len)));
	return REAL(fallocate)(fd, mode, off, len);
}

LG_EXPORT int fallocate64(int fd, int mode, off64_t off, off64_t len)
{
	return fallocate(fd, mode, off, len);
}

/* posix_fallocate returns the error number. */
LG_EXPORT int posix_fallocate(int fd, off_t off, off_t len)
{
	if (lg_file_fd(fd))
		return -LG_TRACED("ddd", lg_file_fallocate(fd, 0, off, len), TL(fd), TL(off), TL(len));
	return REAL(posix_fallocate)(fd, off, len);
}

LG_EXPORT int posix_fallocate64(int fd, off64_t off, off64_t len)
{
	return posix_fallocate(fd, off, len);
}

/* ------------------------------------------------------------ attributes */

/* call, which has the kernel write *out; in SIGBUS mode, where out lies in
 * remote memory (the kernel cannot fault it in: lg_dio_bounce), into a
 * copy on the stack that is copied to out if the call returns 0. */
#define LG_OUT_VIA(out, call)                                                  \
	({                                                                     \
		int lg_o_r_;                                                   \
		if (lg_dio_bounce(&(struct iovec){(void *)(out), sizeof *(out)}, 1)) { \
			__typeof__(*(out)) lg_o_l_, *lg_o_p_ = (out);          \
			(out) = &lg_o_l_;                                      \
			lg_o_r_ = (call);                                      \
			(out) = lg_o_p_;                                       \
			if (lg_o_r_ == 0)                                      \
				memcpy(lg_o_p_, &lg_o_l_, sizeof lg_o_l_);    \
		} else {                                                       \
			lg_o_r_ = (call);                                      \
		}                                                              \
		lg_o_r_;                                                       \
	})

/* call, which has the kernel write up to n bytes at buf and returns how
 * many (or -1); in SIGBUS mode, where buf lies in remote memory, into a
 * local buffer of at most LG_DIO_PIECE bytes (a shorter count, which
 * these calls may give anyway), copied to buf. */
#define LG_BUF_VIA(buf, n, call)                                               \
	({                                                                     \
		ssize_t lg_v_r_;                                               \
		int lg_v_s_;                                                   \
		uint8_t *lg_v_b_;                                              \
		__typeof__(buf) lg_v_u_ = (buf);                               \
		size_t lg_v_n_ = (n);                                          \
		if (!lg_dio_bounce(&(struct iovec){(void *)lg_v_u_, lg_v_n_}, 1) || \
		    !(lg_v_b_ = lg_dio_buf(&lg_v_s_))) {                       \
			lg_v_r_ = (call);                                      \
		} else {                                                       \
			(buf) = (__typeof__(buf))lg_v_b_;                      \
			(n) = LG_MIN(lg_v_n_, LG_DIO_PIECE);                   \
			lg_v_r_ = (call);                                      \
			(buf) = lg_v_u_;                                       \
			(n) = lg_v_n_;                                         \
			int lg_v_e_ = errno;                                   \
			if (lg_v_r_ > 0)                                       \
				memcpy((void *)lg_v_u_, lg_v_b_, (size_t)lg_v_r_); \
			lg_dio_buf_put(lg_v_b_, lg_v_s_);                      \
			errno = lg_v_e_;                                       \
		}                                                              \
		lg_v_r_;                                                       \
	})

LG_EXPORT int fstat(int fd, struct stat *st)
{
	if (lg_file_fd(fd))
		return lg_ret(LG_TRACED("dp", lg_file_fstat(fd, st), TL(fd), TL(st)));
	return LG_OUT_VIA(st, REAL(fstat)(fd, st));
}

LG_EXPORT int fstat64(int fd, struct stat64 *st) { return fstat(fd, (struct stat *)st); }

LG_EXPORT int fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	if (lg_file_path_flags(dirfd, path, flags))
		return lg_ret(LG_TRACED("dspx", lg_file_stat(dirfd, path, st, flags),
				TL(dirfd), TL(path), TL(st), TL(flags)));
	return LG_OUT_VIA(st, REAL(fstatat)(dirfd, path, st, flags));
}

LG_EXPORT int fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	return fstatat(dirfd, path, (struct stat *)st, flags);
}

LG_EXPORT int stat(const char *path, struct stat *st)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_ret(LG_TRACED("xspd", lg_file_stat(AT_FDCWD, path, st, 0),
				TL(AT_FDCWD), TL(path), TL(st), TL(0)));
	return LG_OUT_VIA(st, REAL(stat)(path, st));
}

LG_EXPORT int stat64(const char *path, struct stat64 *st) { return stat(path, (struct stat *)st); }

LG_EXPORT int lstat(const char *path, struct stat *st)
{
	if (lg_file_path_flags(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW))
		return lg_ret(LG_TRACED("xspx", lg_file_stat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW),
				TL(AT_FDCWD), TL(path), TL(st), TL(AT_SYMLINK_NOFOLLOW)));
	return LG_OUT_VIA(st, REAL(lstat)(path, st));
}

LG_EXPORT int lstat64(const char *path, struct stat64 *st) { return lstat(path, (struct stat *)st); }

/* The pre-2.33 names, for programs built against an older C library. */
LG_EXPORT int __xstat(int ver, const char *path, struct stat *st)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_ret(LG_TRACED("xspd", lg_file_stat(AT_FDCWD, path, st, 0),
				TL(AT_FDCWD), TL(path), TL(st), TL(0)));
	return LG_OUT_VIA(st, REAL(__xstat)(ver, path, st));
}

LG_EXPORT int __xstat64(int ver, const char *path, struct stat64 *st)
{
	return __xstat(ver, path, (struct stat *)st);
}

LG_EXPORT int __lxstat(int ver, const char *path, struct stat *st)
{
	if (lg_file_path_flags(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW))
		return lg_ret(LG_TRACED("xspx", lg_file_stat(AT_FDCWD, path, st, AT_SYMLINK_NOFOLLOW),
				TL(AT_FDCWD), TL(path), TL(st), TL(AT_SYMLINK_NOFOLLOW)));
	return LG_OUT_VIA(st, REAL(__lxstat)(ver, path, st));
}

LG_EXPORT int __lxstat64(int ver, const char *path, struct stat64 *st)
{
	return __lxstat(ver, path, (struct stat *)st);
}

LG_EXPORT int __fxstat(int ver, int fd, struct stat *st)
{
	if (lg_file_fd(fd))
		return lg_ret(LG_TRACED("dp", lg_file_fstat(fd, st), TL(fd), TL(st)));
	return LG_OUT_VIA(st, REAL(__fxstat)(ver, fd, st));
}

LG_EXPORT int __fxstat64(int ver, int fd, struct stat64 *st)
{
	return __fxstat(ver, fd, (struct stat *)st);
}

LG_EXPORT int __fxstatat(int ver, int dirfd, const char *path, struct stat *st, int flags)
{
	if (lg_file_path_flags(dirfd, path, flags))
		return lg_ret(LG_TRACED("dspx", lg_file_stat(dirfd, path, st, flags),
				TL(dirfd), TL(path), TL(st), TL(flags)));
	return LG_OUT_VIA(st, REAL(__fxstatat)(ver, dirfd, path, st, flags));
}

LG_EXPORT int __fxstatat64(int ver, int dirfd, const char *path, struct stat64 *st, int flags)
{
	return __fxstatat(ver, dirfd, path, (struct stat *)st, flags);
}

LG_EXPORT int statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *stx)
{
	if (lg_file_path_flags(dirfd, path, flags))
		return lg_ret(LG_TRACED("dsxxp", lg_file_statx(dirfd, path, flags, mask, stx),
				TL(dirfd), TL(path), TL(flags), TL(mask), TL(stx)));
	return LG_OUT_VIA(stx, REAL(statx)(dirfd, path, flags, mask, stx));
}

LG_EXPORT int access(const char *path, int mode)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_ret(LG_TRACED("xsxd", lg_file_access(AT_FDCWD, path, mode, 0),
				TL(AT_FDCWD), TL(path), TL(mode), TL(0)));
	return REAL(access)(path, mode);
}

/* euidaccess (eaccess): the C library's makes its own fstatat, which Lego
 * does not see (sort checks its inputs with it: "cannot read"). */
LG_EXPORT int euidaccess(const char *path, int mode)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_ret(LG_TRACED("xsxx", lg_file_access(AT_FDCWD, path, mode, AT_EACCESS),
				TL(AT_FDCWD), TL(path), TL(mode), TL(AT_EACCESS)));
	return REAL(euidaccess)(path, mode);
}

LG_EXPORT int eaccess(const char *path, int mode) { return euidaccess(path, mode); }

LG_EXPORT int faccessat(int dirfd, const char *path, int mode, int flags)
{
	if (lg_file_path(dirfd, path))
		return lg_ret(LG_TRACED("dsxx", lg_file_access(dirfd, path, mode, flags),
				TL(dirfd), TL(path), TL(mode), TL(flags)));
	return REAL(faccessat)(dirfd, path, mode, flags);
}

/* Modes and times are the storenode's file's own (set there); owners
 * are not: the store's files all belong to the storenode's user, so on a
 * Lego path the chown calls succeed when it exists and change nothing. */
LG_EXPORT int chmod(const char *path, mode_t mode)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_ret(LG_TRACED("xsxd", lg_file_chmod(AT_FDCWD, path, mode, 0), TL(AT_FDCWD),
				TL(path), TL(mode), TL(0)));
	return REAL(chmod)(path, mode);
}

LG_EXPORT int fchmod(int fd, mode_t mode)
{
	if (lg_file_fd(fd))
		return lg_ret(LG_TRACED("dsxx", lg_file_chmod(fd, "", mode, AT_EMPTY_PATH), TL(fd),
				TL(""), TL(mode), TL(AT_EMPTY_PATH)));
	return REAL(fchmod)(fd, mode);
}

LG_EXPORT int fchmodat(int dirfd, const char *path, mode_t mode, int flags)
{
	if (lg_file_path(dirfd, path))
		return lg_ret(LG_TRACED("dsxx", lg_file_chmod(dirfd, path, mode, flags),
				TL(dirfd), TL(path), TL(mode), TL(flags)));
	return REAL(fchmodat)(dirfd, path, mode, flags);
}

LG_EXPORT int utimensat(int dirfd, const char *path, const struct timespec ts[2], int flags)
{
	const char *p = path;
	__asm__("" : "+r"(p)); /* declared nonnull, but NULL means dirfd itself */
	if (p ? lg_file_path(dirfd, p) : lg_file_fd(dirfd))
		return lg_ret(LG_TRACED("dsx", lg_file_utimens(dirfd, p ? p : "", ts,
							      p ? flags : flags | AT_EMPTY_PATH),
				TL(dirfd), TL(p ? p : ""), TL(p ? flags : flags | AT_EMPTY_PATH)));
	return REAL(utimensat)(dirfd, path, ts, flags);
}

LG_EXPORT int futimens(int fd, const struct timespec ts[2])
{
	if (lg_file_fd(fd))
		return lg_ret(LG_TRACED("dsx", lg_file_utimens(fd, "", ts, AT_EMPTY_PATH), TL(fd),
				TL(""), TL(AT_EMPTY_PATH)));
	return REAL(futimens)(fd, ts);
}

/* utimes and its kin in microseconds (NULL: now), as utimensat's times;
 * -EINVAL for microseconds out of range, as Linux. */
static int lg_tv_ts(const struct timeval tv[2], struct timespec ts[2])
{
	for (int i = 0; tv && i < 2; i++) {
		if (tv[i].tv_usec < 0 || tv[i].tv_usec >= 1000000)
			return -EINVAL;
		ts[i] = (struct timespec){tv[i].tv_sec, tv[i].tv_usec * 1000};
	}
	return 0;
}

static int lg_utimes_at(int dirfd, const char *path, const struct timeval tv[2], int flags)
{
	struct timespec ts[2];
	int r = lg_tv_ts(tv, ts);
	return r ? r : lg_file_utimens(dirfd, path, tv ? ts : NULL, flags);
}

LG_EXPORT int utimes(const char *path, const struct timeval tv[2])
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_ret(LG_TRACED("xsd", lg_utimes_at(AT_FDCWD, path, tv, 0), TL(AT_FDCWD),
				TL(path), TL(0)));
	return REAL(utimes)(path, tv);
}

LG_EXPORT int lutimes(const char *path, const struct timeval tv[2])
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_ret(LG_TRACED("xsx", lg_utimes_at(AT_FDCWD, path, tv, AT_SYMLINK_NOFOLLOW),
				TL(AT_FDCWD), TL(path), TL(AT_SYMLINK_NOFOLLOW)));
	return REAL(lutimes)(path, tv);
}

LG_EXPORT int futimes(int fd, const struct timeval tv[2])
{
	if (lg_file_fd(fd))
		return lg_ret(LG_TRACED("dsx", lg_utimes_at(fd, "", tv, AT_EMPTY_PATH), TL(fd), TL(""),
				TL(AT_EMPTY_PATH)));
	return REAL(futimes)(fd, tv);
}

LG_EXPORT int utime(const char *path, const struct utimbuf *t)
{
	if (lg_file_path(AT_FDCWD, path)) {
		struct timespec ts[2];
		if (t) {
			ts[0] = (struct timespec){t->actime, 0};
			ts[1] = (struct timespec){t->modtime, 0};
		}
		return lg_ret(LG_TRACED("xsd", lg_file_utimens(AT_FDCWD, path, t ? ts : NULL, 0),
				TL(AT_FDCWD), TL(path), TL(0)));
	}
	return REAL(utime)(path, t);
}

LG_EXPORT int chown(const char *path, uid_t owner, gid_t group)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_ret(LG_TRACED("xsd", lg_file_chown(AT_FDCWD, path, owner, group, 0),
				TL(AT_FDCWD), TL(path), TL(0)));
	return REAL(chown)(path, owner, group);
}

LG_EXPORT int lchown(const char *path, uid_t owner, gid_t group)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_ret(LG_TRACED("xsx", lg_file_chown(AT_FDCWD, path, owner, group,
							AT_SYMLINK_NOFOLLOW),
				TL(AT_FDCWD), TL(path), TL(AT_SYMLINK_NOFOLLOW)));
	return REAL(lchown)(path, owner, group);
}

LG_EXPORT int fchown(int fd, uid_t owner, gid_t group)
{
	if (lg_file_fd(fd))
		return lg_ret(LG_TRACED("dsx", lg_file_chown(fd, "", owner, group, AT_EMPTY_PATH),
				TL(fd), TL(""), TL(AT_EMPTY_PATH)));
	return REAL(fchown)(fd, owner, group);
}

LG_EXPORT int fchownat(int dirfd, const char *path, uid_t owner, gid_t group, int flags)
{
	if (path[0] ? lg_file_path(dirfd, path) : (flags & AT_EMPTY_PATH) && lg_file_fd(dirfd))
		return lg_ret(LG_TRACED("dsx", lg_file_chown(dirfd, path, owner, group, flags),
				TL(dirfd), TL(path), TL(flags)));
	return REAL(fchownat)(dirfd, path, owner, group, flags);
}

LG_EXPORT ssize_t readlinkat(int dirfd, const char *path, char *buf, size_t n)
{
	size_t len = 0;
	int k = lg_file_fdlink(path, buf, n, &len);
	if (k == 2)
		return (ssize_t)len;
	if (k == 0 && lg_file_path(dirfd, path))
		return lg_retl(LG_TRACED("dsd", lg_file_readlink(dirfd, path, buf, n), TL(dirfd),
				TL(path), TL(n)));
	return LG_BUF_VIA(buf, n, REAL(readlinkat)(dirfd, path, buf, n));
}

LG_EXPORT ssize_t readlink(const char *path, char *buf, size_t n)
{
	return readlinkat(AT_FDCWD, path, buf, n);
}

/*
 * getcwd: in SIGBUS mode the kernel cannot write the path into remote
 * memory that is not resident (Python's os.getcwd, on an import, failed
 * with EFAULT), so it goes into a buffer on the stack and is copied.
 * (With no buffer the C library allocates one, locally: lg_heap_flags.)
 */
LG_EXPORT char *getcwd(char *buf, size_t size)
{
	char lego[PATH_MAX];
	int l = lg_file_active() ? lg_file_getcwd(lego, sizeof lego) : 0;
	if (l) { /* a Lego working directory */
		size_t len = strlen(lego) + 1;
		if (l < 0 || (buf && size < len) || (!buf && size && size < len)) {
			errno = ERANGE;
			return NULL;
		}
		if (!buf && !(buf = malloc(size ? size : len)))
			return NULL;
		return memcpy(buf, lego, len);
	}
	if (!buf || !lg_dio_bounce(&(struct iovec){buf, size}, 1))
		return REAL(getcwd)(buf, size);
	char tmp[PATH_MAX];
	if (!REAL(getcwd)(tmp, sizeof tmp))
		return NULL;
	size_t len = strlen(tmp) + 1;
	if (size < len) {
		errno = ERANGE;
		return NULL;
	}
	return memcpy(buf, tmp, len);
}

/* chdir and fchdir into Lego directories (lg_file_chdir); any other
 * change of directory leaves the Lego one. */
LG_EXPORT int chdir(const char *path)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_ret(LG_TRACED("xs", lg_file_chdir(AT_FDCWD, path), TL(AT_FDCWD), TL(path)));
	int r = REAL(chdir)(path);
	if (r == 0 && lg_file_active())
		lg_file_cwd_local();
	return r;
}

LG_EXPORT int fchdir(int fd)
{
	if (lg_file_fd(fd))
		return lg_ret(LG_TRACED("d", lg_file_chdir(fd, NULL), TL(fd)));
	int r = REAL(fchdir)(fd);
	if (r == 0 && lg_file_active())
		lg_file_cwd_local();
	return r;
}

LG_EXPORT char *__getcwd_chk(char *buf, size_t size, size_t buflen)
{
	if (size > buflen)
		__chk_fail();
	return getcwd(buf, size);
}

/* getrandom and getentropy, the same way in SIGBUS mode (Python's
 * os.urandom of 1 MiB failed with EFAULT): LG_BUF_VIA. */
LG_EXPORT ssize_t getrandom(void *buf, size_t n, unsigned flags)
{
	return LG_BUF_VIA(buf, n, REAL(getrandom)(buf, n, flags));
}

LG_EXPORT int getentropy(void *buf, size_t n)
{
	uint8_t b[256];
	if (n > sizeof b || !lg_dio_bounce(&(struct iovec){buf, n}, 1))
		return REAL(getentropy)(buf, n);
	int r = REAL(getentropy)(b, n);
	if (r == 0)
		memcpy(buf, b, n);
	return r;
}

/* No extended attributes (Python's shutil.copy2 expects ENOTSUP). */
LG_EXPORT ssize_t listxattr(const char *path, char *list, size_t n)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_retl(-ENOTSUP);
	return REAL(listxattr)(path, list, n);
}

LG_EXPORT ssize_t llistxattr(const char *path, char *list, size_t n)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_retl(-ENOTSUP);
	return REAL(llistxattr)(path, list, n);
}

LG_EXPORT ssize_t flistxattr(int fd, char *list, size_t n)
{
	if (lg_file_fd(fd))
		return lg_retl(-ENOTSUP);
	return REAL(flistxattr)(fd, list, n);
}

LG_EXPORT ssize_t getxattr(const char *path, const char *name, void *v, size_t n)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_retl(-ENOTSUP);
	return REAL(getxattr)(path, name, v, n);
}

LG_EXPORT ssize_t lgetxattr(const char *path, const char *name, void *v, size_t n)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_retl(-ENOTSUP);
	return REAL(lgetxattr)(path, name, v, n);
}

LG_EXPORT ssize_t fgetxattr(int fd, const char *name, void *v, size_t n)
{
	if (lg_file_fd(fd))
		return lg_retl(-ENOTSUP);
	return REAL(fgetxattr)(fd, name, v, n);
}

/* Setting or removing one fails the same way, so that a program copying
 * an ACL (libacl's acl_set_fd, as sed -i does) falls back to fchmod: the
 * call used to reach the local placeholder, succeed, and leave the store's
 * file with its temporary 0600. */
LG_EXPORT int setxattr(const char *path, const char *name, const void *v, size_t n, int flags)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_ret(-ENOTSUP);
	return REAL(setxattr)(path, name, v, n, flags);
}

LG_EXPORT int lsetxattr(const char *path, const char *name, const void *v, size_t n, int flags)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_ret(-ENOTSUP);
	return REAL(lsetxattr)(path, name, v, n, flags);
}

LG_EXPORT int fsetxattr(int fd, const char *name, const void *v, size_t n, int flags)
{
	if (lg_file_fd(fd))
		return lg_ret(-ENOTSUP);
	return REAL(fsetxattr)(fd, name, v, n, flags);
}

LG_EXPORT int removexattr(const char *path, const char *name)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_ret(-ENOTSUP);
	return REAL(removexattr)(path, name);
}

LG_EXPORT int lremovexattr(const char *path, const char *name)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_ret(-ENOTSUP);
	return REAL(lremovexattr)(path, name);
}

LG_EXPORT int fremovexattr(int fd, const char *name)
{
	if (lg_file_fd(fd))
		return lg_ret(-ENOTSUP);
	return REAL(fremovexattr)(fd, name);
}

/* statfs and statvfs (the C library's statvfs calls its own statfs) of a
 * Lego path: the file system holding the store, at the storenode, so df
 * and shutil.disk_usage see its room. */
static int lg_statfs_fill(int fd, const char *path, struct statfs *sf, struct statvfs *sv)
{
	struct lego_statfs l;
	int r = lg_file_statfs(fd, path, &l);
	if (r)
		return lg_ret(r);
	if (sf) {
		memset(sf, 0, sizeof *sf);
		sf->f_type = (__fsword_t)l.type;
		sf->f_bsize = (__fsword_t)l.bsize;
		sf->f_frsize = (__fsword_t)l.frsize;
		sf->f_blocks = l.blocks;
		sf->f_bfree = l.bfree;
		sf->f_bavail = l.bavail;
		sf->f_files = l.files;
		sf->f_ffree = l.ffree;
		memcpy(&sf->f_fsid, &l.fsid, LG_MIN(sizeof sf->f_fsid, sizeof l.fsid));
		sf->f_namelen = (__fsword_t)l.namemax;
		sf->f_flags = (__fsword_t)l.flag;
	}
	if (sv) {
		memset(sv, 0, sizeof *sv);
		sv->f_bsize = l.bsize;
		sv->f_frsize = l.frsize;
		sv->f_blocks = l.blocks;
		sv->f_bfree = l.bfree;
		sv->f_bavail = l.bavail;
		sv->f_files = l.files;
		sv->f_ffree = l.ffree;
		sv->f_favail = l.favail;
		sv->f_fsid = l.fsid;
		sv->f_flag = l.flag;
		sv->f_namemax = l.namemax;
	}
	return 0;
}

LG_EXPORT int statfs(const char *path, struct statfs *b)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_statfs_fill(-1, path, b, NULL);
	return REAL(statfs)(path, b);
}

LG_EXPORT int fstatfs(int fd, struct statfs *b)
{
	if (lg_file_fd(fd))
		return lg_statfs_fill(fd, NULL, b, NULL);
	return REAL(fstatfs)(fd, b);
}

LG_EXPORT int statvfs(const char *path, struct statvfs *b)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_statfs_fill(-1, path, NULL, b);
	return REAL(statvfs)(path, b);
}

LG_EXPORT int fstatvfs(int fd, struct statvfs *b)
{
	if (lg_file_fd(fd))
		return lg_statfs_fill(fd, NULL, NULL, b);
	return REAL(fstatvfs)(fd, b);
}

/* (the same structures on 64-bit Linux) */
LG_EXPORT int statfs64(const char *path, struct statfs64 *b)
{
	return statfs(path, (struct statfs *)(void *)b);
}
LG_EXPORT int fstatfs64(int fd, struct statfs64 *b) { return fstatfs(fd, (struct statfs *)(void *)b); }
LG_EXPORT int statvfs64(const char *path, struct statvfs64 *b)
{
	return statvfs(path, (struct statvfs *)(void *)b);
}
LG_EXPORT int fstatvfs64(int fd, struct statvfs64 *b)
{
	return fstatvfs(fd, (struct statvfs *)(void *)b);
}
_Static_assert(sizeof(struct statfs64) == sizeof(struct statfs), "statfs64");
_Static_assert(sizeof(struct statvfs64) == sizeof(struct statvfs), "statvfs64");

/* ------------------------------------------------------------ names */

/* The store has symbolic and hard links (a hard link between a Lego path
 * and a local one: EXDEV), but no FIFOs or device nodes: EPERM, as Linux
 * says for a file system that cannot make them.  Before, they were made in
 * the local file system (relative to a Lego working directory: in its
 * placeholder).  1 if path is not Lego (the C library's to make). */
static int lg_nonode(int dirfd, const char *path)
{
	return lg_file_path(dirfd, path) ? lg_ret(-EPERM) : 1;
}

LG_EXPORT int symlinkat(const char *target, int dirfd, const char *path)
{
	if (lg_file_path(dirfd, path))
		return lg_ret(LG_TRACED("sds", lg_file_symlink(target, dirfd, path), TL(target),
				TL(dirfd), TL(path)));
	return REAL(symlinkat)(target, dirfd, path);
}

LG_EXPORT int symlink(const char *target, const char *path)
{
	return symlinkat(target, AT_FDCWD, path);
}

LG_EXPORT int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
		     int flags)
{
	int a = !oldpath[0] && (flags & AT_EMPTY_PATH) ? lg_file_fd(olddirfd)
						       : lg_file_path(olddirfd, oldpath);
	if (a || lg_file_path(newdirfd, newpath))
		return lg_ret(LG_TRACED("dsdsx",
				lg_file_link(olddirfd, oldpath, newdirfd, newpath, flags),
				TL(olddirfd), TL(oldpath), TL(newdirfd), TL(newpath), TL(flags)));
	return REAL(linkat)(olddirfd, oldpath, newdirfd, newpath, flags);
}

LG_EXPORT int link(const char *oldpath, const char *newpath)
{
	return linkat(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0);
}

LG_EXPORT int mknod(const char *path, mode_t mode, dev_t dev)
{
	int r = lg_nonode(AT_FDCWD, path);
	return r <= 0 ? r : REAL(mknod)(path, mode, dev);
}

LG_EXPORT int mknodat(int dirfd, const char *path, mode_t mode, dev_t dev)
{
	int r = lg_nonode(dirfd, path);
	return r <= 0 ? r : REAL(mknodat)(dirfd, path, mode, dev);
}

LG_EXPORT int mkfifo(const char *path, mode_t mode)
{
	int r = lg_nonode(AT_FDCWD, path);
	return r <= 0 ? r : REAL(mkfifo)(path, mode);
}

LG_EXPORT int mkfifoat(int dirfd, const char *path, mode_t mode)
{
	int r = lg_nonode(dirfd, path);
	return r <= 0 ? r : REAL(mkfifoat)(dirfd, path, mode);
}

LG_EXPORT int truncate(const char *path, off_t len)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_ret(LG_TRACED("sd", lg_file_truncate(path, len), TL(path), TL(len)));
	return REAL(truncate)(path, len);
}

LG_EXPORT int truncate64(const char *path, off64_t len) { return truncate(path, len); }

LG_EXPORT int unlink(const char *path)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_ret(LG_TRACED("xsd", lg_file_unlink(AT_FDCWD, path, 0),
				TL(AT_FDCWD), TL(path), TL(0)));
	return REAL(unlink)(path);
}

LG_EXPORT int unlinkat(int dirfd, const char *path, int flags)
{
	if (lg_file_path(dirfd, path))
		return lg_ret(LG_TRACED("dsx", lg_file_unlink(dirfd, path, flags),
				TL(dirfd), TL(path), TL(flags)));
	return REAL(unlinkat)(dirfd, path, flags);
}

LG_EXPORT int rmdir(const char *path)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_ret(LG_TRACED("xsx", lg_file_unlink(AT_FDCWD, path, AT_REMOVEDIR),
				TL(AT_FDCWD), TL(path), TL(AT_REMOVEDIR)));
	return REAL(rmdir)(path);
}

LG_EXPORT int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
			unsigned flags)
{
	if (lg_file_path(olddirfd, oldpath) || lg_file_path(newdirfd, newpath))
		return lg_ret(LG_TRACED("dsdsx", lg_file_rename(olddirfd, oldpath, newdirfd, newpath, flags),
				TL(olddirfd), TL(oldpath), TL(newdirfd), TL(newpath), TL(flags)));
	return REAL(renameat2)(olddirfd, oldpath, newdirfd, newpath, flags);
}

LG_EXPORT int renameat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath)
{
	if (lg_file_path(olddirfd, oldpath) || lg_file_path(newdirfd, newpath))
		return lg_ret(LG_TRACED("dsdsd", lg_file_rename(olddirfd, oldpath, newdirfd, newpath, 0),
				TL(olddirfd), TL(oldpath), TL(newdirfd), TL(newpath), TL(0)));
	return REAL(renameat)(olddirfd, oldpath, newdirfd, newpath);
}

LG_EXPORT int rename(const char *oldpath, const char *newpath)
{
	if (lg_file_path(AT_FDCWD, oldpath) || lg_file_path(AT_FDCWD, newpath))
		return lg_ret(LG_TRACED("xsxsd", lg_file_rename(AT_FDCWD, oldpath, AT_FDCWD, newpath, 0),
				TL(AT_FDCWD), TL(oldpath), TL(AT_FDCWD), TL(newpath), TL(0)));
	return REAL(rename)(oldpath, newpath);
}

LG_EXPORT int mkdir(const char *path, mode_t mode)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_ret(LG_TRACED("xsx", lg_file_mkdir(AT_FDCWD, path, mode),
				TL(AT_FDCWD), TL(path), TL(mode)));
	return REAL(mkdir)(path, mode);
}

/* mkstemp's family and mkdtemp: the C library makes the file or directory
 * through internal calls, which Lego does not see. */
LG_EXPORT int mkstemp(char *tmpl)
{
	if (lg_file_path(AT_FDCWD, tmpl))
		return lg_ret(LG_TRACED("sdx", lg_file_mktemp(tmpl, 0, 0, 0), TL(tmpl), TL(0), TL(0)));
	return REAL(mkstemp)(tmpl);
}

LG_EXPORT int mkostemp(char *tmpl, int flags)
{
	if (lg_file_path(AT_FDCWD, tmpl))
		return lg_ret(LG_TRACED("sdx", lg_file_mktemp(tmpl, 0, flags, 0), TL(tmpl), TL(0),
				TL(flags)));
	return REAL(mkostemp)(tmpl, flags);
}

LG_EXPORT int mkstemps(char *tmpl, int suffixlen)
{
	if (lg_file_path(AT_FDCWD, tmpl))
		return lg_ret(LG_TRACED("sdx", lg_file_mktemp(tmpl, suffixlen, 0, 0), TL(tmpl),
				TL(suffixlen), TL(0)));
	return REAL(mkstemps)(tmpl, suffixlen);
}

LG_EXPORT int mkostemps(char *tmpl, int suffixlen, int flags)
{
	if (lg_file_path(AT_FDCWD, tmpl))
		return lg_ret(LG_TRACED("sdx", lg_file_mktemp(tmpl, suffixlen, flags, 0), TL(tmpl),
				TL(suffixlen), TL(flags)));
	return REAL(mkostemps)(tmpl, suffixlen, flags);
}

LG_EXPORT int mkstemp64(char *tmpl) { return mkstemp(tmpl); }
LG_EXPORT int mkostemp64(char *tmpl, int flags) { return mkostemp(tmpl, flags); }
LG_EXPORT int mkstemps64(char *tmpl, int suffixlen) { return mkstemps(tmpl, suffixlen); }
LG_EXPORT int mkostemps64(char *tmpl, int suffixlen, int flags)
{
	return mkostemps(tmpl, suffixlen, flags);
}

LG_EXPORT char *mkdtemp(char *tmpl)
{
	if (lg_file_path(AT_FDCWD, tmpl)) {
		int r = LG_TRACED("sdx", lg_file_mktemp(tmpl, 0, 0, 1), TL(tmpl), TL(0), TL(1));
		return lg_ret(r) < 0 ? NULL : tmpl;
	}
	return REAL(mkdtemp)(tmpl);
}

LG_EXPORT int mkdirat(int dirfd, const char *path, mode_t mode)
{
	if (lg_file_path(dirfd, path))
		return lg_ret(LG_TRACED("dsx", lg_file_mkdir(dirfd, path, mode),
				TL(dirfd), TL(path), TL(mode)));
	return REAL(mkdirat)(dirfd, path, mode);
}

/* ------------------------------------------------------------ directories */

LG_EXPORT ssize_t getdents64(int fd, void *buf, size_t len)
{
	if (lg_file_fd(fd))
		return lg_retl(LG_TRACED("dpd", lg_file_getdents(fd, buf, len),
				TL(fd), TL(buf), TL(len)));
	return LG_BUF_VIA(buf, len, REAL(getdents64)(fd, buf, len));
}

LG_EXPORT DIR *opendir(const char *path)
{
	if (lg_file_path(AT_FDCWD, path)) {
		DIR *d = NULL;
		int r = lg_file_opendir(path, &d);
		return r ? (errno = -r, NULL) : d;
	}
	return REAL(opendir)(path);
}

LG_EXPORT DIR *fdopendir(int fd)
{
	if (lg_file_fd(fd)) {
		DIR *d = NULL;
		int r = lg_file_fdopendir(fd, &d);
		return r ? (errno = -r, NULL) : d;
	}
	return REAL(fdopendir)(fd);
}

LG_EXPORT struct dirent *readdir(DIR *d)
{
	if (lg_file_dir(d)) {
		struct dirent *e;
		int r = lg_file_readdir(d, &e);
		return r ? (errno = -r, NULL) : e; /* at the end errno stays */
	}
	return REAL(readdir)(d);
}

LG_EXPORT struct dirent64 *readdir64(DIR *d)
{
	if (lg_file_dir(d)) /* the same layout on 64-bit Linux */
		return (struct dirent64 *)readdir(d);
	return REAL(readdir64)(d);
}

LG_EXPORT int closedir(DIR *d)
{
	if (lg_file_dir(d))
		return lg_ret(LG_TRACED("p", lg_file_closedir(d), TL(d)));
	return REAL(closedir)(d);
}

LG_EXPORT int dirfd(DIR *d)
{
	if (lg_file_dir(d))
		return lg_file_dirfd(d);
	return REAL(dirfd)(d);
}

LG_EXPORT void rewinddir(DIR *d)
{
	if (lg_file_dir(d))
		lg_file_rewinddir(d);
	else
		REAL(rewinddir)(d);
}

LG_EXPORT long telldir(DIR *d)
{
	if (lg_file_dir(d))
		return lg_file_telldir(d);
	return REAL(telldir)(d);
}

LG_EXPORT void seekdir(DIR *d, long pos)
{
	if (lg_file_dir(d))
		lg_file_seekdir(d, pos);
	else
		REAL(seekdir)(d, pos);
}

/* scandir and its kin on a Lego directory: the C library's open the
 * directory with an internal call, which does not see /lego (libuv's
 * fs.readdir, so node's).  The same, through the interposed opendir and
 * readdir: entries copied with malloc, filtered, sorted. */
typedef int (*lg_dsel)(const struct dirent *);
typedef int (*lg_dcmp)(const struct dirent **, const struct dirent **);

static int lg_scan(DIR *d, struct dirent ***out, lg_dsel sel, lg_dcmp cmp)
{
	if (!d)
		return -1;
	struct dirent **v = NULL, *e;
	size_t n = 0, cap = 0;
	int err = 0;
	errno = 0;
	while (!err && (e = readdir(d)) != NULL) {
		if (sel && !sel(e))
			continue;
		struct dirent *c = malloc(sizeof *c);
		struct dirent **nv = n < cap ? v : realloc(v, (cap = cap ? 2 * cap : 32) * sizeof *v);
		if (!c || !nv) {
			free(c);
			err = ENOMEM;
			break;
		}
		memcpy(c, e, sizeof *c);
		v = nv;
		v[n++] = c;
	}
	err = err ? err : errno;
	closedir(d);
	if (err) {
		while (n)
			free(v[--n]);
		free(v);
		errno = err;
		return -1;
	}
	if (cmp)
		qsort(v, n, sizeof *v, (int (*)(const void *, const void *))cmp);
	*out = v;
	return (int)n;
}

LG_EXPORT int scandirat(int dirfd, const char *path, struct dirent ***out, lg_dsel sel, lg_dcmp cmp)
{
	if (lg_file_path(dirfd, path)) {
		int fd = openat(dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = fd < 0 ? NULL : fdopendir(fd);
		if (fd >= 0 && !d)
			close(fd);
		return lg_scan(d, out, sel, cmp);
	}
	return REAL(scandirat)(dirfd, path, out, sel, cmp);
}

LG_EXPORT int scandir(const char *path, struct dirent ***out, lg_dsel sel, lg_dcmp cmp)
{
	if (lg_file_path(AT_FDCWD, path))
		return lg_scan(opendir(path), out, sel, cmp);
	return REAL(scandir)(path, out, sel, cmp);
}

/* (the same structures on 64-bit Linux) */
_Static_assert(sizeof(struct dirent64) == sizeof(struct dirent), "dirent64");
LG_EXPORT int scandir64(const char *path, struct dirent64 ***out,
			int (*sel)(const struct dirent64 *),
			int (*cmp)(const struct dirent64 **, const struct dirent64 **))
{
	return scandir(path, (struct dirent ***)out, (lg_dsel)sel, (lg_dcmp)cmp);
}

LG_EXPORT int scandirat64(int dirfd, const char *path, struct dirent64 ***out,
			  int (*sel)(const struct dirent64 *),
			  int (*cmp)(const struct dirent64 **, const struct dirent64 **))
{
	return scandirat(dirfd, path, (struct dirent ***)out, (lg_dsel)sel, (lg_dcmp)cmp);
}

/* remove: the C library's unlinks, or removes a directory, with internal
 * calls. */
LG_EXPORT int remove(const char *path)
{
	if (!lg_file_path(AT_FDCWD, path))
		return REAL(remove)(path);
	int r = lg_file_unlink(AT_FDCWD, path, 0);
	if (r == -EISDIR)
		r = lg_file_unlink(AT_FDCWD, path, AT_REMOVEDIR);
	return lg_ret(r);
}

/* glob of a Lego pattern: the C library's, reading directories through
 * the interposed functions (GLOB_ALTDIRFUNC). */
static void *lg_glob_opendir(const char *p) { return opendir(p); }
static struct dirent *lg_glob_readdir(void *d) { return readdir(d); }
static void lg_glob_closedir(void *d) { closedir(d); }
static int lg_glob_lstat(const char *restrict p, struct stat *restrict st) { return lstat(p, st); }
static int lg_glob_stat(const char *restrict p, struct stat *restrict st) { return stat(p, st); }

LG_EXPORT int glob(const char *pat, int flags, int (*errfn)(const char *, int), glob_t *g)
{
	if ((flags & GLOB_ALTDIRFUNC) || !lg_file_path(AT_FDCWD, pat))
		return REAL(glob)(pat, flags, errfn, g);
	g->gl_opendir = lg_glob_opendir;
	g->gl_readdir = lg_glob_readdir;
	g->gl_closedir = lg_glob_closedir;
	g->gl_lstat = lg_glob_lstat;
	g->gl_stat = lg_glob_stat;
	return REAL(glob)(pat, flags | GLOB_ALTDIRFUNC, errfn, g);
}

/* (the same structures on 64-bit Linux) */
_Static_assert(sizeof(glob64_t) == sizeof(glob_t), "glob64_t");
LG_EXPORT int glob64(const char *pat, int flags, int (*errfn)(const char *, int), glob64_t *g)
{
	return glob(pat, flags, errfn, (glob_t *)(void *)g);
}

/* nftw and ftw on a Lego tree: the C library's walk with internal calls.
 * The same walk through the interposed lstat, stat, opendir and readdir:
 * each entry reported with its type and a struct FTW (FTW_PHYS: links
 * reported as links, else followed; FTW_DEPTH: a directory after what it
 * holds; FTW_MOUNT: not into another file system; FTW_CHDIR: the callback
 * runs in the entry's directory; FTW_ACTIONRETVAL: FTW_SKIP_SUBTREE,
 * FTW_SKIP_SIBLINGS, FTW_STOP); a non-zero return ends the walk. */
typedef int (*lg_nftw_fn)(const char *, const struct stat *, int, struct FTW *);

/* One walk: its callback and flags, and (following links) the
 * directories visited, each entered once, as the C library's (a link to an
 * ancestor would otherwise loop). */
struct lg_walk {
	lg_nftw_fn fn;
	int flags;
	dev_t dev;
	size_t nseen, capseen;
	struct {
		dev_t dev;
		ino_t ino;
	} *seen;
};

/* The callback, with FTW_CHDIR in the directory dir (then back). */
static int lg_walk_call(struct lg_walk *w, const char *dir, const char *path, const struct stat *st,
			int type, struct FTW *f)
{
	char here[PATH_MAX];
	if (!(w->flags & FTW_CHDIR))
		return w->fn(path, st, type, f);
	if (!getcwd(here, sizeof here) || chdir(dir) < 0)
		return -1;
	int r = w->fn(path, st, type, f);
	return chdir(here) < 0 ? -1 : r;
}

static int lg_walk_one(struct lg_walk *w, char *path, size_t len, size_t base, int level)
{
	struct stat st;
	int phys = w->flags & FTW_PHYS, type;
	if ((phys ? lstat(path, &st) : stat(path, &st)) < 0)
		type = !phys && lstat(path, &st) == 0 && S_ISLNK(st.st_mode) ? FTW_SLN : FTW_NS;
	else
		type = S_ISLNK(st.st_mode) ? FTW_SL : S_ISDIR(st.st_mode) ? FTW_D : FTW_F;
	if (level == 0)
		w->dev = st.st_dev;
	if (type == FTW_D && level && (w->flags & FTW_MOUNT) && st.st_dev != w->dev)
		return 0;
	if (type == FTW_D && !phys) {
		for (size_t i = 0; i < w->nseen; i++)
			if (w->seen[i].dev == st.st_dev && w->seen[i].ino == st.st_ino)
				return 0;
		if (w->nseen == w->capseen) {
			void *n = realloc(w->seen, (w->capseen = w->capseen ? 2 * w->capseen : 16) *
							   sizeof *w->seen);
			if (!n)
				return -1;
			w->seen = n;
		}
		w->seen[w->nseen].dev = st.st_dev;
		w->seen[w->nseen++].ino = st.st_ino;
	}
	struct FTW f = {.base = (int)base, .level = level};
	char parent[PATH_MAX];
	snprintf(parent, sizeof parent, "%.*s", base ? (int)base : 1, base ? path : ".");
	DIR *d = type == FTW_D ? opendir(path) : NULL;
	if (type == FTW_D && !d)
		type = FTW_DNR;
	int depth = (w->flags & FTW_DEPTH) && d;
	int act = depth ? 0 : lg_walk_call(w, parent, path, &st, type, &f);
	int retval = w->flags & FTW_ACTIONRETVAL, skip = retval && act == FTW_SKIP_SUBTREE;
	if (skip)
		act = 0; /* (for a file, the same as FTW_CONTINUE) */
	if (d && act == 0 && !skip) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			const char *n = e->d_name;
			if (n[0] == '.' && (!n[1] || (n[1] == '.' && !n[2])))
				continue;
			size_t nl = strlen(n), at = len + (path[len - 1] != '/');
			if (at + nl >= PATH_MAX) {
				errno = ENAMETOOLONG;
				act = -1;
				break;
			}
			path[len] = '/';
			memcpy(path + at, n, nl + 1);
			int r = lg_walk_one(w, path, at + nl, at, level + 1);
			path[len] = 0;
			if (retval && r == FTW_SKIP_SIBLINGS)
				break;
			if (r) {
				act = r;
				break;
			}
		}
		if (act == 0 && depth) /* (in the directory itself, as the C library) */
			act = lg_walk_call(w, path, path, &st, FTW_DP, &f);
		if (retval && act == FTW_SKIP_SUBTREE)
			act = 0;
	}
	if (d)
		closedir(d);
	return act;
}

LG_EXPORT int nftw(const char *dir, lg_nftw_fn fn, int nopenfd, int flags)
{
	if (!lg_file_path(AT_FDCWD, dir))
		return REAL(nftw)(dir, fn, nopenfd, flags);
	char path[PATH_MAX];
	size_t len = strlen(dir);
	if (len >= PATH_MAX)
		return errno = ENAMETOOLONG, -1;
	memcpy(path, dir, len + 1);
	size_t base = len;
	while (base > 0 && path[base - 1] == '/')
		base--;
	while (base > 0 && path[base - 1] != '/')
		base--;
	struct lg_walk w = {.fn = fn, .flags = flags};
	int r = lg_walk_one(&w, path, len, base, 0);
	free(w.seen);
	return (flags & FTW_ACTIONRETVAL) && r == FTW_SKIP_SIBLINGS ? 0 : r;
}

_Static_assert(sizeof(struct stat64) == sizeof(struct stat), "stat64");
LG_EXPORT int nftw64(const char *dir,
		     int (*fn)(const char *, const struct stat64 *, int, struct FTW *), int nopenfd,
		     int flags)
{
	return nftw(dir, (lg_nftw_fn)(void *)fn, nopenfd, flags);
}

/* ftw: nftw that follows links and calls back without a struct FTW. */
static __thread int (*lg_ftw_fn)(const char *, const struct stat *, int)
	__attribute__((tls_model("initial-exec")));
static int lg_ftw_call(const char *p, const struct stat *st, int type, struct FTW *f)
{
	(void)f;
	return lg_ftw_fn(p, st, type == FTW_SLN ? FTW_NS : type);
}

LG_EXPORT int ftw(const char *dir, int (*fn)(const char *, const struct stat *, int), int nopenfd)
{
	if (!lg_file_path(AT_FDCWD, dir))
		return REAL(ftw)(dir, fn, nopenfd);
	int (*saved)(const char *, const struct stat *, int) = lg_ftw_fn;
	lg_ftw_fn = fn;
	int r = nftw(dir, lg_ftw_call, nopenfd, 0);
	lg_ftw_fn = saved;
	return r;
}

LG_EXPORT int ftw64(const char *dir, int (*fn)(const char *, const struct stat64 *, int),
		    int nopenfd)
{
	return ftw(dir, (int (*)(const char *, const struct stat *, int))(void *)fn, nopenfd);
}

/* realpath of a Lego path: the C library's reads links with internal calls.
 * The same walk through the interposed lstat and readlink (so a link out
 * of the store, or back in, is followed too): each component after the
 * resolved prefix, ".." taken off by name, a link's target put in front of
 * what is left (40 at most, then ELOOP). */
static int lg_realpath_walk(const char *path, char *out)
{
	char rest[2 * PATH_MAX + 2], link[PATH_MAX];
	size_t o = 0, links = 0;
	if (path[0] != '/') {
		if (!getcwd(out, PATH_MAX))
			return -1;
		o = strlen(out);
		if (o == 1)
			o = 0; /* "/" */
	}
	if (snprintf(rest, sizeof rest, "%s", path) >= (int)sizeof rest)
		return errno = ENAMETOOLONG, -1;
	for (char *s = rest; *s;) {
		while (*s == '/')
			s++;
		char *c = s;
		while (*s && *s != '/')
			s++;
		size_t l = (size_t)(s - c);
		if (l == 0 || (l == 1 && c[0] == '.'))
			continue;
		if (l == 2 && c[0] == '.' && c[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			continue;
		}
		if (o + 1 + l >= PATH_MAX)
			return errno = ENAMETOOLONG, -1;
		size_t at = o;
		out[o++] = '/';
		memcpy(out + o, c, l);
		o += l;
		out[o] = 0;
		struct stat st;
		if (lstat(out, &st) < 0)
			return -1;
		if (S_ISLNK(st.st_mode)) {
			ssize_t n = readlink(out, link, sizeof link - 1);
			if (n < 0)
				return -1;
			if (++links > 40)
				return errno = ELOOP, -1;
			link[n] = 0;
			/* the target, then what was left after the link */
			char tail[sizeof rest];
			snprintf(tail, sizeof tail, "%s", s);
			if (snprintf(rest, sizeof rest, "%s%s", link, tail) >= (int)sizeof rest)
				return errno = ENAMETOOLONG, -1;
			s = rest;
			o = link[0] == '/' ? 0 : at;
		} else if (*s && !S_ISDIR(st.st_mode)) {
			return errno = ENOTDIR, -1;
		}
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = 0;
	return 0;
}

LG_EXPORT char *realpath(const char *path, char *resolved)
{
	if (!path || !lg_file_path(AT_FDCWD, path))
		return REAL(realpath)(path, resolved);
	char buf[PATH_MAX];
	if (lg_realpath_walk(path, buf) < 0)
		return NULL;
	if (!resolved)
		return strdup(buf);
	memcpy(resolved, buf, strlen(buf) + 1);
	return resolved;
}

/* (the form _FORTIFY_SOURCE calls: Java's libnio) */
LG_EXPORT char *__realpath_chk(const char *path, char *resolved, size_t rlen)
{
	if (!path || !lg_file_path(AT_FDCWD, path))
		return REAL(__realpath_chk)(path, resolved, rlen);
	if (resolved && rlen < PATH_MAX)
		__chk_fail();
	return realpath(path, resolved);
}

LG_EXPORT char *canonicalize_file_name(const char *path)
{
	if (!lg_file_path(AT_FDCWD, path))
		return REAL(canonicalize_file_name)(path);
	return realpath(path, NULL);
}

/* ---------------------------------------------------------------- syscall */

/* Programs that make system calls through syscall(2) (libuv, so node:
 * close and statx) reach their Lego files too: close, close_range and
 * statx go to the interposed functions (which also keep the runtime's own
 * descriptors from a daemon's close-everything loop), everything else to
 * the kernel as it would (Lego's own calls use lg_syscall, never this). */
#if defined(__x86_64__) || defined(__aarch64__)
LG_EXPORT long syscall(long nr, ...)
{
	va_list ap;
	va_start(ap, nr);
	long a[6];
	for (int i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (nr == SYS_close)
		return close((int)a[0]);
	if (nr == SYS_close_range)
		return close_range((unsigned)a[0], (unsigned)a[1], (int)a[2]);
	if (nr == SYS_statx)
		return statx((int)a[0], (const char *)a[1], (int)a[2], (unsigned)a[3],
			     (struct statx *)a[4]);
	return lg_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}
#endif

/* ------------------------------------------------------------------ stdio */

/* fopencookie's callbacks: the cookie is the descriptor. */
static ssize_t lg_ck_read(void *c, char *buf, size_t n)
{
	return lg_retl(LG_TRACED("dpd", lg_file_read((int)(intptr_t)c, buf, n),
			TL((int)(intptr_t)c), TL(buf), TL(n)));
}

static ssize_t lg_ck_write(void *c, const char *buf, size_t n)
{
	ssize_t r = lg_file_write((int)(intptr_t)c, buf, n);
	if (r < 0) {
		errno = (int)-r;
		return 0; /* the C library's "nothing written" */
	}
	return r;
}

static int lg_ck_seek(void *c, off64_t *pos, int whence)
{
	off_t r = lg_file_lseek((int)(intptr_t)c, *pos, whence);
	if (r < 0) {
		errno = (int)-r;
		return -1;
	}
	*pos = r;
	return 0;
}

static int lg_ck_close(void *c) { return lg_ret(LG_TRACED("d", lg_file_close((int)(intptr_t)c),
		TL((int)(intptr_t)c))); }

static const cookie_io_functions_t lg_ck = {lg_ck_read, lg_ck_write, lg_ck_seek, lg_ck_close};

/* A stream on Lego descriptor fd; fileno() gives fd. */
static FILE *lg_stream(int fd, const char *mode)
{
	FILE *f = fopencookie((void *)(intptr_t)fd, mode, lg_ck);
	if (f)
		f->_fileno = fd;
	return f;
}

/*
 * fread and fwrite (and their unlocked and checked forms) read into and
 * write from the program's buffer with the C library's own read(2) and
 * write(2) when the request is large, which nothing here sees.  In SIGBUS
 * mode those would fail with EFAULT on a remote line not resident, so a
 * request whose buffer is remote goes through a local one (lg_dio_bounce
 * says when), a piece at a time.  The stream's state (position, error,
 * end of file) is the C library's, as without Lego.
 */
typedef size_t (*lg_stdio_fn)(void *, size_t, size_t, FILE *);
#undef fread_unlocked /* (macros of the C library's headers) */
#undef fwrite_unlocked

/* fread (in 1) or fwrite (in 0) by real, through a local buffer when p is
 * remote in SIGBUS mode. */
static size_t lg_stdio_via(lg_stdio_fn real, void *p, size_t size, size_t n, FILE *f, int in)
{
	size_t want;
	int slot;
	uint8_t *b;
	if (!size || !n || __builtin_mul_overflow(size, n, &want) ||
	    !lg_dio_bounce(&(struct iovec){p, want}, 1) || !(b = lg_dio_buf(&slot)))
		return real(p, size, n, f);
	size_t done = 0;
	while (done < want) {
		size_t k = LG_MIN(want - done, LG_DIO_PIECE);
		if (!in)
			memcpy(b, (uint8_t *)p + done, k);
		size_t r = real(b, 1, k, f);
		if (in)
			memcpy((uint8_t *)p + done, b, r);
		done += r;
		if (r < k)
			break;
	}
	lg_dio_buf_put(b, slot);
	return done / size;
}

LG_EXPORT size_t fread(void *p, size_t size, size_t n, FILE *f)
{
	return lg_stdio_via((lg_stdio_fn)REAL(fread), p, size, n, f, 1);
}

LG_EXPORT size_t fread_unlocked(void *p, size_t size, size_t n, FILE *f)
{
	return lg_stdio_via((lg_stdio_fn)REAL(fread_unlocked), p, size, n, f, 1);
}

LG_EXPORT size_t __fread_chk(void *p, size_t plen, size_t size, size_t n, FILE *f)
{
	size_t want;
	if (__builtin_mul_overflow(size, n, &want) || want > plen)
		__chk_fail();
	return fread(p, size, n, f);
}

LG_EXPORT size_t __fread_unlocked_chk(void *p, size_t plen, size_t size, size_t n, FILE *f)
{
	size_t want;
	if (__builtin_mul_overflow(size, n, &want) || want > plen)
		__chk_fail();
	return fread_unlocked(p, size, n, f);
}

LG_EXPORT size_t fwrite(const void *p, size_t size, size_t n, FILE *f)
{
	return lg_stdio_via((lg_stdio_fn)REAL(fwrite), (void *)p, size, n, f, 0);
}

LG_EXPORT size_t fwrite_unlocked(const void *p, size_t size, size_t n, FILE *f)
{
	return lg_stdio_via((lg_stdio_fn)REAL(fwrite_unlocked), (void *)p, size, n, f, 0);
}

LG_EXPORT FILE *fopen(const char *path, const char *mode)
{
	if (lf_fi_probe_refused(path)) { /* libfabric's needless probe (fabric/fiload.h) */
		errno = EACCES;
		return NULL;
	}
	if (!lg_file_path(AT_FDCWD, path))
		return REAL(fopen)(path, mode);
	int flags, fd = lg_file_fopen_flags(mode, &flags);
	if (fd == 0)
		fd = lg_file_open(AT_FDCWD, path, flags, 0666);
	if (fd < 0) {
		errno = -fd;
		return NULL;
	}
	FILE *f = lg_stream(fd, mode);
	if (!f) {
		lg_file_close(fd);
		errno = ENOMEM;
	}
	return f;
}

LG_EXPORT FILE *fopen64(const char *path, const char *mode) { return fopen(path, mode); }

LG_EXPORT FILE *fdopen(int fd, const char *mode)
{
	if (!lg_file_fd(fd))
		return REAL(fdopen)(fd, mode);
	int flags, r = lg_file_fopen_flags(mode, &flags);
	FILE *f = r ? NULL : lg_stream(fd, mode);
	if (!f)
		errno = r ? -r : ENOMEM;
	return f;
}

/* A stream cannot change its nature: reopening onto a Lego file is not
 * supported (stdin and friends keep their kernel descriptors). */
LG_EXPORT FILE *freopen(const char *path, const char *mode, FILE *f)
{
	if (path && lg_file_path(AT_FDCWD, path)) {
		errno = EOPNOTSUPP;
		return NULL;
	}
	return REAL(freopen)(path, mode, f);
}

LG_EXPORT FILE *freopen64(const char *path, const char *mode, FILE *f)
{
	return freopen(path, mode, f);
}

/* ------------------------------------------------------------------ copies */

LG_EXPORT ssize_t sendfile(int out, int in, off_t *off, size_t n)
{
	if (lg_file_fd(in) || lg_file_fd(out))
		return lg_retl(LG_TRACED("dddd", lg_file_sendfile(out, in, off, n),
				TL(out), TL(in), TL(off), TL(n)));
	return LG_TRACED_LIBC("ddpd", REAL(sendfile)(out, in, off, n), TL(out), TL(in), TL(off), TL(n));
}

LG_EXPORT ssize_t sendfile64(int out, int in, off64_t *off, size_t n)
{
	return sendfile(out, in, off, n);
}

LG_EXPORT ssize_t copy_file_range(int in, off64_t *off_in, int out, off64_t *off_out, size_t n,
				  unsigned flags)
{
	if (lg_file_fd(in) || lg_file_fd(out))
		return lg_retl(LG_TRACED("dpdpdx", lg_file_copy_range(in, off_in, out, off_out, n, flags),
				TL(in), TL(off_in), TL(out), TL(off_out), TL(n), TL(flags)));
	return LG_TRACED_LIBC("dpdpdx", REAL(copy_file_range)(in, off_in, out, off_out, n, flags),
			      TL(in), TL(off_in), TL(out), TL(off_out), TL(n), TL(flags));
}

/* --------------------------------------------------------------------- exec */

/* Programs in the store (lg_file_exec_prep): the kernel cannot open a Lego
 * path, so exec runs a copy of the program from a memfd, or a #! script's
 * interpreter on the script's name, as the kernel would.  execvp's and
 * posix_spawnp's search of PATH stays the C library's unless PATH names a
 * Lego directory.  system and popen run /bin/sh, whose exec comes here. */

#define LG_EXEC_NEST 4 /* interpreters of interpreters: the kernel's limit */

/* Does envp preload this library (so that a script's interpreter, started
 * with it, opens the script by its Lego name)? */
static int lg_env_preloads(char *const envp[])
{
	Dl_info di;
	if (!dladdr((void *)lg_env_preloads, &di) || !di.dli_fname)
		return 0;
	const char *self = strrchr(di.dli_fname, '/');
	self = self ? self + 1 : di.dli_fname;
	for (; envp && *envp; envp++)
		if (strncmp(*envp, "LD_PRELOAD=", 11) == 0)
			return strstr(*envp + 11, self) != NULL;
	return 0;
}

static int lg_execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
		       int flags, int nest);

/* argv for a script's interpreter: interp [arg] name argv[1]...; nv has
 * room for argc + 3. */
static void lg_script_argv(const struct lg_exec *x, const char *name, char *const argv[],
			   char **nv)
{
	size_t n = 0;
	nv[n++] = (char *)x->interp;
	if (x->arg)
		nv[n++] = (char *)x->arg;
	nv[n++] = (char *)name;
	for (size_t i = 1; argv && argv[0] && argv[i]; i++)
		nv[n++] = argv[i];
	nv[n] = NULL;
}

static size_t lg_argc(char *const argv[])
{
	size_t n = 0;
	while (argv && argv[n])
		n++;
	return n;
}

/* The libraries a program (the ELF file fd, named name) needs from the
 * store, for the loader: envp becomes one whose LD_LIBRARY_PATH starts with
 * a directory of local copies of them (lg_file_exec_libs), if it needs any.
 * A macro: the new environment lives in the caller's frame (a vforked
 * child allocates nothing). */
#define LG_EXEC_LIBS(fd, name, envp)                                                       \
	size_t lx_n = 0, lx_at = (size_t)-1;                                                \
	for (; (envp) && (envp)[lx_n]; lx_n++)                                             \
		if (strncmp((envp)[lx_n], "LD_LIBRARY_PATH=", 16) == 0)                     \
			lx_at = lx_n;                                                       \
	const char *lx_llp = lx_at != (size_t)-1 ? (envp)[lx_at] + 16 : NULL;              \
	char lx_dir[PATH_MAX], lx_ll[sizeof lx_dir + 18 + (lx_llp ? strlen(lx_llp) : 0)];   \
	char *lx_nv[lx_n + 2];                                                              \
	if ((fd) >= 0 && lg_exec_libs(fd, name, envp, lx_n, lx_at, lx_llp, lx_dir, lx_ll,    \
				      sizeof lx_ll, lx_nv))                                 \
		envp = lx_nv

static int lg_exec_libs(int fd, const char *name, char *const envp[], size_t n, size_t at,
			const char *llp, char *dir, char *ll, size_t llsz, char **nv)
{
	int k = lg_file_exec_libs(fd, name, llp, dir, PATH_MAX);
	if (k < 0)
		lg_log_rl(LG_WARN, "file", "%s: the libraries it needs from the store could not be "
			  "copied for the loader: %s", name, strerror(-k));
	size_t dl = k > 0 ? strlen(dir) : 0;
	if (k <= 0 || (llp && strncmp(llp, dir, dl) == 0 && (!llp[dl] || llp[dl] == ':')))
		return 0; /* (none, or first already: a store program run by another) */
	snprintf(ll, llsz, "LD_LIBRARY_PATH=%s%s%s", dir, llp && *llp ? ":" : "", llp ? llp : "");
	if (n)
		memcpy(nv, envp, n * sizeof *nv);
	nv[at != (size_t)-1 ? at : n] = ll;
	nv[at != (size_t)-1 ? n : n + 1] = NULL;
	return 1;
}

/* Run the Lego program (dirfd, path): returns only on failure, -errno. */
static int lg_exec_lego(int dirfd, const char *path, char *const argv[], char *const envp[],
			int flags, int nest)
{
	struct lg_exec x;
	int r = lg_file_exec_prep(dirfd, path, flags, lg_env_preloads(envp), &x);
	if (r)
		return r;
	if (x.local) { /* (its argv[0] stays the name it was run by, as the kernel's) */
		REAL(execve)(x.name, argv, envp);
		return -errno;
	}
	if (x.fd >= 0) {
		LG_EXEC_LIBS(x.fd, x.name, envp);
		lg_syscall(SYS_execveat, x.fd, "", argv, envp, AT_EMPTY_PATH);
		r = -errno;
		close(x.fd);
		return r;
	}
	if (nest >= LG_EXEC_NEST)
		return -ELOOP;
	char *nv[lg_argc(argv) + 3];
	/* (the kernel gives the name as execve had it; from a directory
	 * descriptor, the whole name) */
	lg_script_argv(&x, path[0] == '/' || (path[0] && dirfd == AT_FDCWD) ? path : x.name, argv, nv);
	return lg_execveat(AT_FDCWD, x.interp, nv, envp, 0, nest + 1);
}

static int lg_execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
		       int flags, int nest)
{
	if (nest == 0) /* what shared mappings of Lego files hold goes first */
		lg_fmap_exec(0);
	int r;
	if (lg_file_exec_path(dirfd, path, flags)) {
		r = lg_exec_lego(dirfd, path, argv, envp, flags, nest);
	} else {
		/* a local program may need libraries from the store too (an
		 * RUNPATH or LD_LIBRARY_PATH entry there) */
		long pfd = lg_file_active() ? lg_syscall(SYS_openat, dirfd, path,
							 O_RDONLY | O_CLOEXEC) : -1;
		char *const *ev = envp;
		LG_EXEC_LIBS((int)pfd, path, ev);
		if (pfd >= 0)
			lg_syscall(SYS_close, pfd);
		if (dirfd == AT_FDCWD && flags == 0)
			REAL(execve)(path, argv, ev);
		else
			lg_syscall(SYS_execveat, dirfd, path, argv, ev, flags);
		r = -errno;
	}
	if (nest == 0)
		lg_fmap_exec(1);
	return r;
}

LG_EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	return lg_ret(lg_execveat(AT_FDCWD, path, argv, envp, 0, 0));
}

LG_EXPORT int execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
		       int flags)
{
	return lg_ret(lg_execveat(dirfd, path, argv, envp, flags, 0));
}

LG_EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	return lg_ret(lg_execveat(fd, "", argv, envp, AT_EMPTY_PATH, 0));
}

LG_EXPORT int execv(const char *path, char *const argv[])
{
	return execve(path, argv, environ);
}

/* The candidates for file along a search path, in turn: with *c at the
 * path first, the next one into buf (1), or 0 after the last.  One too
 * long for buf is skipped, as the C library skips it. */
static int lg_path_next(const char **c, const char *file, char *buf, size_t cap)
{
	while (*c) {
		const char *s = *c, *e = strchrnul(s, ':');
		*c = *e ? e + 1 : NULL;
		int l = snprintf(buf, cap, "%.*s%s%s", (int)(e - s), s, e > s ? "/" : "", file);
		if (l > 0 && (size_t)l < cap)
			return 1;
	}
	return 0;
}

/* Does the search path p name a Lego directory? */
static int lg_path_lego(const char *p)
{
	char dir[PATH_MAX];
	for (const char *c = p; lg_path_next(&c, ".", dir, sizeof dir);)
		if (lg_file_exec_path(AT_FDCWD, dir, 0))
			return 1;
	return 0;
}

/* After a candidate failed with errno e, does the search go on (EACCES
 * noted, as the C library notes it)? */
static int lg_path_goes_on(int e, int *eacces)
{
	*eacces |= e == EACCES;
	return e == ENOENT || e == ENOTDIR || e == ESTALE || e == ENODEV || e == ETIMEDOUT ||
	       e == EACCES;
}

static const char *lg_path_env(void)
{
	const char *p = getenv("PATH");
	return p ? p : "/bin:/usr/bin"; /* (the C library's default) */
}

/* exec of one candidate, or of /bin/sh on it when the kernel calls it
 * ENOEXEC (a file without #! that is not a program), as execvp does. */
static int lg_execvp_one(const char *path, char *const argv[], char *const envp[])
{
	int r = lg_execveat(AT_FDCWD, path, argv, envp, 0, 0);
	if (r != -ENOEXEC)
		return r;
	char *nv[lg_argc(argv) + 3];
	struct lg_exec sh = {.interp = "/bin/sh"};
	lg_script_argv(&sh, path, argv, nv);
	return lg_execveat(AT_FDCWD, "/bin/sh", nv, envp, 0, 0);
}

/* execvpe: the C library's, unless PATH names a Lego directory, or the
 * file is a Lego path. */
static int lg_execvpe(const char *file, char *const argv[], char *const envp[])
{
	if (!file[0])
		return -ENOENT;
	if (strchr(file, '/'))
		return lg_execvp_one(file, argv, envp);
	const char *p = lg_path_env();
	if (!lg_path_lego(p)) {
		REAL(execvpe)(file, argv, envp);
		return -errno;
	}
	char buf[PATH_MAX];
	int eacces = 0;
	for (const char *c = p; lg_path_next(&c, file, buf, sizeof buf);) {
		int r = lg_execvp_one(buf, argv, envp);
		if (!lg_path_goes_on(-r, &eacces))
			return r;
	}
	return eacces ? -EACCES : -ENOENT;
}

LG_EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	return lg_ret(lg_execvpe(file, argv, envp));
}

LG_EXPORT int execvp(const char *file, char *const argv[])
{
	return lg_ret(lg_execvpe(file, argv, environ));
}

/* execl's family: the arguments from arg0 up to the NULL as an array
 * argv; with env, envp = the one after the NULL (execle's). */
#define LG_VA_ARGV(arg0, argv, env, envp)                                      \
	va_list ap;                                                            \
	size_t n_ = 1;                                                         \
	va_start(ap, arg0);                                                    \
	while (va_arg(ap, char *))                                             \
		n_++;                                                          \
	va_end(ap);                                                            \
	char *argv[n_ + 1];                                                    \
	argv[0] = (char *)arg0;                                                \
	va_start(ap, arg0);                                                    \
	for (size_t i_ = 1; i_ <= n_; i_++)                                    \
		argv[i_] = va_arg(ap, char *);                                 \
	char *const *envp = (env) ? va_arg(ap, char *const *) : environ;       \
	va_end(ap)

LG_EXPORT int execl(const char *path, const char *arg0, ...)
{
	LG_VA_ARGV(arg0, argv, 0, envp);
	return execve(path, argv, envp);
}

LG_EXPORT int execle(const char *path, const char *arg0, ...)
{
	LG_VA_ARGV(arg0, argv, 1, envp);
	return execve(path, argv, envp);
}

LG_EXPORT int execlp(const char *file, const char *arg0, ...)
{
	LG_VA_ARGV(arg0, argv, 0, envp);
	return lg_ret(lg_execvpe(file, argv, envp));
}

/* posix_spawn of a Lego program: its memfd by /proc/self/fd/N (opened by
 * the child's exec before close-on-exec closes it), or its interpreter.
 * An error number, as posix_spawn returns. */
static int lg_spawn_lego(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			 const posix_spawnattr_t *at, char *const argv[], char *const envp[],
			 int nest)
{
	struct lg_exec x;
	int r = lg_file_exec_prep(AT_FDCWD, path, 0, lg_env_preloads(envp), &x);
	if (r)
		return -r;
	if (x.local)
		return REAL(posix_spawn)(pid, x.name, fa, at, argv, envp);
	if (x.fd >= 0) {
		char fdp[32];
		snprintf(fdp, sizeof fdp, "/proc/self/fd/%d", x.fd);
		r = REAL(posix_spawn)(pid, fdp, fa, at, argv, envp);
		close(x.fd);
		return r;
	}
	if (nest >= LG_EXEC_NEST)
		return ELOOP;
	char *nv[lg_argc(argv) + 3];
	lg_script_argv(&x, path, argv, nv);
	if (lg_file_exec_path(AT_FDCWD, x.interp, 0))
		return lg_spawn_lego(pid, x.interp, fa, at, nv, envp, nest + 1);
	return REAL(posix_spawn)(pid, x.interp, fa, at, nv, envp);
}

LG_EXPORT int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *fa,
			  const posix_spawnattr_t *at, char *const argv[], char *const envp[])
{
	if (lg_file_exec_path(AT_FDCWD, path, 0))
		return lg_spawn_lego(pid, path, fa, at, argv, envp, 0);
	return REAL(posix_spawn)(pid, path, fa, at, argv, envp);
}

LG_EXPORT int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
			   const posix_spawnattr_t *at, char *const argv[], char *const envp[])
{
	const char *p = lg_path_env();
	if (strchr(file, '/'))
		return posix_spawn(pid, file, fa, at, argv, envp);
	if (!lg_path_lego(p))
		return REAL(posix_spawnp)(pid, file, fa, at, argv, envp);
	char buf[PATH_MAX];
	int eacces = 0;
	for (const char *c = p; lg_path_next(&c, file, buf, sizeof buf);) {
		int r = posix_spawn(pid, buf, fa, at, argv, envp);
		if (!lg_path_goes_on(r, &eacces))
			return r;
	}
	return eacces ? EACCES : ENOENT;
}

/* -------------------------------------------------------- ioctl, splice */

/* ioctl on a Lego descriptor would reach its placeholder (lg_file_ioctl).
 * One check of the descriptor otherwise. */
LG_EXPORT int ioctl(int fd, unsigned long req, ...)
{
	va_list ap;
	va_start(ap, req);
	void *arg = va_arg(ap, void *);
	va_end(ap);
	int r;
	/* (the runtime's own userfaultfd requests come here too: straight on) */
	if (_IOC_TYPE(req) != UFFDIO && lg_file_active() && lg_file_ioctl(fd, req, arg, &r))
		return lg_ret(LG_TRACED("dxp", r, TL(fd), TL(req), TL(arg)));
	return REAL(ioctl)(fd, req, arg);
}

/* splice between a pipe and a Lego file: through a buffer, as sendfile
 * (the kernel's would move the placeholder's bytes). */
LG_EXPORT ssize_t splice(int in, off64_t *off_in, int out, off64_t *off_out, size_t n,
			 unsigned flags)
{
	if (lg_file_fd(in) || lg_file_fd(out))
		return lg_retl(LG_TRACED("dpdpdx", lg_file_copy_range(in, off_in, out, off_out, n, 0),
				TL(in), TL(off_in), TL(out), TL(off_out), TL(n), TL(flags)));
	return REAL(splice)(in, off_in, out, off_out, n, flags);
}

/* ----------------------------------------------------------------- start-up */

/* After preload.c's constructor (200) has started the runtime. */
__attribute__((constructor(201))) static void lg_file_start(void)
{
	lg_file_init();
	for (int fd = 0; fd <= 2; fd++) /* inherited across exec */
		lg_std_sync(fd);
}

/* At exit (before the runtime's own destructor, 101): stdio buffers out,
 * then what Lego files hold back to the store. */
__attribute__((destructor(150))) static void lg_file_stop(void)
{
	if (!lg_file_active())
		return;
	fflush(NULL);
	lg_file_exit();
}
