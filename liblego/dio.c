/* Direct I/O into remote memory (see dio.h). */
#define _GNU_SOURCE
#include "dio.h"

#include <errno.h>
#include <linux/aio_abi.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime.h"
#include "space.h"
#include "stats.h"

/* Pieces of at most this much; a few buffers kept for them, so a
 * database's stream of page reads does not map and first-touch a buffer
 * each time (a first touch costs ~7 us a page here).  A call that finds
 * them all taken maps one of its own. */
#define DIO_PIECE LG_DIO_PIECE
#define DIO_BUFS 4

static struct {
	atomic_flag busy; /* held: mem is the holder's (set once, under it) */
	void *mem;
} dio_buf[DIO_BUFS];

/* The runtime runs and some of iov lies in remote memory. */
static int dio_remote(const struct iovec *iov, int cnt)
{
	if (atomic_load_explicit(&lg_rt.state, memory_order_acquire) != LG_RT_RUNNING || cnt <= 0 ||
	    cnt > IOV_MAX)
		return 0;
	uintptr_t lo = (uintptr_t)lg_rt.sp.base, hi = lo + lg_rt.sp.size;
	int remote = 0;
	for (int i = 0; i < cnt && !remote; i++) {
		uintptr_t a = (uintptr_t)iov[i].iov_base, e = a + iov[i].iov_len;
		remote = iov[i].iov_len && a < hi && (e > lo || e < a);
	}
	return remote;
}

int lg_dio_needed(int fd, const struct iovec *iov, int cnt)
{
	if (!dio_remote(iov, cnt))
		return 0;
	int e = errno;
	long fl = lg_syscall(SYS_fcntl, fd, F_GETFL);
	errno = e;
	if (fl == -1 || !(fl & O_DIRECT))
		return 0;
	lg_stat_add(LEGO_STAT_DIRECT_READS, 1);
	return 1;
}

/* A local buffer of DIO_PIECE bytes: *slot is its pool index, or -1 for
 * one mapped for this call. */
static void *dio_get(int *slot)
{
	for (int i = 0; i < DIO_BUFS; i++) {
		if (atomic_flag_test_and_set_explicit(&dio_buf[i].busy, memory_order_acquire))
			continue;
		if (!dio_buf[i].mem && !(dio_buf[i].mem = lg_local_alloc(DIO_PIECE))) {
			atomic_flag_clear_explicit(&dio_buf[i].busy, memory_order_release);
			break;
		}
		*slot = i;
		return dio_buf[i].mem;
	}
	*slot = -1;
	return lg_local_alloc(DIO_PIECE);
}

static void dio_put(void *m, int slot)
{
	if (slot >= 0)
		atomic_flag_clear_explicit(&dio_buf[slot].busy, memory_order_release);
	else
		lg_local_free(m, DIO_PIECE);
}

/* Copy n bytes between buf and the program's buffers, at iov[*vi] + *vo
 * and on: into them (in) or out of them.  Remote parts fault in as usual. */
static void dio_copy(const struct iovec *iov, int *vi, size_t *vo, uint8_t *buf, size_t n,
		     int in)
{
	for (size_t c = 0; c < n;) {
		while (*vo == iov[*vi].iov_len) {
			(*vi)++;
			*vo = 0;
		}
		size_t k = LG_MIN(iov[*vi].iov_len - *vo, n - c);
		uint8_t *p = (uint8_t *)iov[*vi].iov_base + *vo;
		if (in)
			memcpy(p, buf + c, k);
		else
			memcpy(buf + c, p, k);
		*vo += k;
		c += k;
	}
}

/* Is fd a regular file or a block device, where a short count means the
 * end of the data (fstat; errno kept)? */
static int dio_is_file(int fd)
{
	int e = errno;
	struct stat st;
	int r = fstat(fd, &st) == 0 && (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
	errno = e;
	return r;
}

/* The bytes iov holds, or SIZE_MAX if more than a call may move. */
static size_t dio_total(const struct iovec *iov, int cnt)
{
	size_t total = 0;
	for (int i = 0; i < cnt; i++) {
		if (iov[i].iov_len > SSIZE_MAX - total)
			return SIZE_MAX;
		total += iov[i].iov_len;
	}
	return total;
}

/* A local buffer for moving the *total bytes of iov; NULL if they are more
 * than a call may move (*total SIZE_MAX: EINVAL) or none could be had. */
static uint8_t *dio_begin(const struct iovec *iov, int cnt, size_t *total, int *slot)
{
	*total = dio_total(iov, cnt);
	return *total == SIZE_MAX ? NULL : dio_get(slot);
}

/* lg_dio_readv (out 0) and lg_dio_writev (out 1), from byte `done` of iov
 * on (the bytes before it moved already; off, if not -1, is where byte
 * `done` goes); what moved, `done` included, or -errno if nothing did. */
static ssize_t dio_rw(int fd, const struct iovec *iov, int cnt, off_t off, int flags, int out,
		      size_t done)
{
	size_t total;
	int slot;
	uint8_t *buf = dio_begin(iov, cnt, &total, &slot);
	if (!buf)
		return total == SIZE_MAX ? -EINVAL : -ENOMEM;
	int e = errno;
	int on = out ? 1 : -1; /* go on after a full piece (reads: below) */
	size_t vo = done;
	int vi = 0;
	while (vi < cnt && vo >= iov[vi].iov_len && vo)
		vo -= iov[vi++].iov_len;
	ssize_t err = 0;
	while (done < total || total == 0) {
		size_t n = total - done < DIO_PIECE ? total - done : DIO_PIECE;
		struct iovec b = {buf, n};
		long r;
		if (out) {
			dio_copy(iov, &vi, &vo, buf, n, 0);
			r = off < 0 && !flags ? lg_syscall(SYS_write, fd, buf, n)
					      : lg_syscall(SYS_pwritev2, fd, &b, 1, (long)off, 0L, flags);
		} else {
			r = off < 0 && !flags ? lg_syscall(SYS_read, fd, buf, n)
					      : lg_syscall(SYS_preadv2, fd, &b, 1, (long)off, 0L, flags);
		}
		if (r < 0) {
			err = -errno;
			break;
		}
		if (!out)
			dio_copy(iov, &vi, &vo, buf, (size_t)r, 1);
		done += (size_t)r;
		if (off >= 0)
			off += r;
		if ((size_t)r < n || total == 0)
			break;
		/* read on only where one read would have: a file (O_DIRECT's
		 * are), not a pipe or socket, where it could block */
		if (on < 0)
			on = dio_is_file(fd);
		if (!on)
			break;
	}
	dio_put(buf, slot);
	errno = e;
	return done ? (ssize_t)done : err;
}

ssize_t lg_dio_readv(int fd, const struct iovec *iov, int cnt, off_t off, int flags)
{
	return dio_rw(fd, iov, cnt, off, flags, 0, 0);
}

void *lg_dio_buf(int *slot) { return dio_get(slot); }

void lg_dio_buf_put(void *buf, int slot) { dio_put(buf, slot); }

ssize_t lg_dio_msg(int fd, struct msghdr *m, int flags, int out)
{
	size_t total;
	int slot;
	uint8_t *buf = dio_begin(m->msg_iov, (int)m->msg_iovlen, &total, &slot);
	if (!buf)
		return total == SIZE_MAX ? -EINVAL : -ENOMEM;
	int e = errno;
	size_t done = 0, vo = 0, k;
	int vi = 0;
	long r;
	struct msghdr mm = *m;
	do {
		k = LG_MIN(total - done, (size_t)DIO_PIECE);
		struct iovec b = {buf, k};
		mm.msg_iov = &b;
		mm.msg_iovlen = 1;
		if (out) {
			dio_copy(m->msg_iov, &vi, &vo, buf, k, 0);
			r = lg_syscall(SYS_sendmsg, fd, &mm, flags);
		} else {
			r = lg_syscall(SYS_recvmsg, fd, &mm, flags);
			if (r >= 0) { /* (more than k: a datagram cut, MSG_TRUNC) */
				dio_copy(m->msg_iov, &vi, &vo, buf, LG_MIN((size_t)r, k), 1);
				m->msg_flags = mm.msg_flags;
				if (!done) {
					m->msg_namelen = mm.msg_namelen;
					m->msg_controllen = mm.msg_controllen;
				}
			}
		}
		if (r < 0) {
			r = -errno;
			break;
		}
		done += (size_t)r;
		/* the address and control data go with the first piece only */
		mm.msg_control = NULL;
		mm.msg_controllen = 0;
		/* on where one call would have: a send of more than a piece
		 * (a stream takes it in parts; a datagram that large fails at
		 * once), a receive told to wait for all */
	} while ((size_t)r == k && done < total && (out || (flags & MSG_WAITALL)));
	dio_put(buf, slot);
	errno = e;
	return done ? (ssize_t)done : r;
}

int lg_dio_bounce(const struct iovec *iov, int cnt)
{
	if (!lg_rt.fault.sigbus || !dio_remote(iov, cnt))
		return 0;
	struct lg_space *sp = &lg_rt.sp;
	for (int i = 0; i < cnt; i++) {
		if (!iov[i].iov_len || !sp_contains(sp, iov[i].iov_base))
			continue;
		const char *a = iov[i].iov_base, *e = a + iov[i].iov_len - 1;
		if (!sp_contains(sp, e))
			return 0; /* (a buffer across the space's end) */
		for (uint64_t l = sp_line_of(sp, (uint64_t)(uintptr_t)a);
		     l <= sp_line_of(sp, (uint64_t)(uintptr_t)e); l++)
			if (!sp_committed(sp, l))
				return 0;
	}
	lg_stat_add(LEGO_STAT_BOUNCED, 1);
	return 1;
}

ssize_t lg_dio_writev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return dio_rw(fd, iov, cnt, off, 0, 1, 0);
}

ssize_t lg_dio_after(ssize_t r, int fd, const struct iovec *iov, int cnt, off_t off, int flags,
		     int out)
{
	if (r < 0)
		return r == -EFAULT && lg_dio_bounce(iov, cnt) ? dio_rw(fd, iov, cnt, off, flags, out, 0)
							      : r;
	if (!lg_rt.fault.sigbus || !r || !dio_remote(iov, cnt))
		return r;
	size_t total = dio_total(iov, cnt);
	if ((size_t)r >= total || total == SIZE_MAX)
		return r;
	/* the byte the kernel stopped at */
	size_t at = (size_t)r;
	int i = 0;
	while (i < cnt && at >= iov[i].iov_len)
		at -= iov[i++].iov_len;
	struct lg_space *sp = &lg_rt.sp;
	const uint8_t *a = (const uint8_t *)iov[i].iov_base + at;
	if (!sp_contains(sp, a) || !sp_committed(sp, sp_line_of(sp, (uint64_t)(uintptr_t)a)) ||
	    !dio_is_file(fd))
		return r;
	lg_stat_add(LEGO_STAT_BOUNCED, 1);
	return dio_rw(fd, iov, cnt, off >= 0 ? off + r : off, flags, out, (size_t)r);
}

/*
 * Linux AIO.  An IOCB_CMD_PREAD(V) of a descriptor open with O_DIRECT into
 * remote memory has the same problem, and its completion can be reaped
 * where nothing here sees it (a program's own io_getevents system call, or
 * the ring in its memory).  So such a read is made now, through
 * lg_dio_readv, and the iocb submitted in its place, for the program's
 * completion, is a write of as many bytes to /dev/null: it completes at
 * once with that result and the program's iocb address and data.  The
 * program's iocb is changed for the system call and restored after (the
 * kernel copies it).  The price: such a read no longer overlaps the
 * caller.  A read that fails here is submitted as it was.
 */
static _Atomic int dio_null = -1;

static int dio_null_fd(void)
{
	int fd = atomic_load_explicit(&dio_null, memory_order_acquire);
	if (fd >= 0)
		return fd;
	long r = lg_syscall(SYS_openat, AT_FDCWD, "/dev/null", O_WRONLY | O_CLOEXEC);
	if (r < 0)
		return -1;
	int nfd = lg_fd_raise((int)r); /* (recorded as the runtime's) */
	int want = -1;
	if (!atomic_compare_exchange_strong(&dio_null, &want, nfd)) {
		lg_syscall(SYS_close, nfd); /* another thread was first */
		return want;
	}
	return nfd;
}

#define DIO_AIO_BATCH 64

long lg_dio_aio_submit(unsigned long ctx, long nr, struct iocb **cbs)
{
	int e = errno;
	long done = 0;
	while (done < nr || nr <= 0) {
		long n = nr - done > DIO_AIO_BATCH ? DIO_AIO_BATCH : nr - done;
		struct {
			struct iocb *cb, was;
		} saved[DIO_AIO_BATCH];
		int ns = 0;
		for (long i = 0; i < n; i++) {
			struct iocb *cb = cbs[done + i];
			int vec = cb->aio_lio_opcode == IOCB_CMD_PREADV;
			if ((cb->aio_lio_opcode != IOCB_CMD_PREAD && !vec) || cb->aio_offset < 0)
				continue;
			struct iovec one = {(void *)(uintptr_t)cb->aio_buf, cb->aio_nbytes};
			const struct iovec *iov = vec ? (const struct iovec *)(uintptr_t)cb->aio_buf : &one;
			int cnt = vec ? (int)cb->aio_nbytes : 1;
			if ((vec && cb->aio_nbytes > IOV_MAX) || !lg_dio_needed((int)cb->aio_fildes, iov, cnt))
				continue;
			int nul = dio_null_fd();
			if (nul < 0)
				continue;
			ssize_t r = lg_dio_readv((int)cb->aio_fildes, iov, cnt, (off_t)cb->aio_offset,
						 (int)cb->aio_rw_flags);
			if (r < 0)
				continue;
			saved[ns].cb = cb;
			saved[ns++].was = *cb;
			static const char dio_nothing;
			cb->aio_lio_opcode = IOCB_CMD_PWRITE;
			cb->aio_fildes = (uint32_t)nul;
			cb->aio_buf = (uint64_t)(uintptr_t)&dio_nothing;
			cb->aio_nbytes = (uint64_t)r;
			cb->aio_offset = 0;
			cb->aio_rw_flags = 0;
			cb->aio_reqprio = 0;
			cb->aio_flags &= ~(uint32_t)IOCB_FLAG_IOPRIO;
		}
		long r = lg_syscall(SYS_io_submit, ctx, n, cbs + done);
		if (r < 0)
			r = -errno;
		for (int k = 0; k < ns; k++)
			*saved[k].cb = saved[k].was;
		if (r < 0) {
			errno = e;
			return done ? done : r;
		}
		done += r;
		if (r < n || nr <= 0)
			break;
	}
	errno = e;
	return done;
}
