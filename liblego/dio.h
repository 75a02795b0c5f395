/*
 * Direct I/O into remote memory (docs/limits.md, "Direct I/O").  A read
 * on a descriptor opened with O_DIRECT pins the destination's pages and
 * has the device write into them after the call has started; the
 * ExCache may evict such a page meanwhile (it drops the page from the
 * mapping, not from the device's hands), and the data would land in a
 * page the program no longer sees.  So such reads whose destination lies
 * in remote memory are made into a local buffer and copied, which faults
 * the destination in the ordinary way.  Writes need nothing: a pinned
 * page the ExCache evicts keeps its contents until the device is done.
 *
 * In SIGBUS mode (LEGO_FAULT=sigbus) the kernel cannot fault remote
 * memory in at all: it stops at the first line that is not resident.
 * read(2), write(2) and their kin on any descriptor that fail with EFAULT
 * there are made again through a local buffer when their buffers lie in
 * remote memory; on a regular file or a block device, a call that moved
 * some bytes and stopped short at a remote line is finished through one
 * (lg_dio_after).
 */
#ifndef LEGO_DIO_H
#define LEGO_DIO_H

#include <sys/types.h>
#include <sys/uio.h>

/* 1 if a read into iov on fd must go through lg_dio_readv: the runtime
 * runs, some of iov lies in remote memory and fd is open with O_DIRECT.
 * One fcntl(F_GETFL) when the first two hold (~80 ns here). */
int lg_dio_needed(int fd, const struct iovec *iov, int cnt);

/* read(2) (off == -1, flags == 0), pread(2) or preadv2(2) through a local
 * buffer, in pieces of at most 1 MiB.  Bytes read, or -errno; a later
 * piece's failure or short read ends the call with what was read. */
ssize_t lg_dio_readv(int fd, const struct iovec *iov, int cnt, off_t off, int flags);

/* After a call on iov failed with EFAULT: 1 if it should be made again
 * through lg_dio_readv or lg_dio_writev.  That is in SIGBUS mode, where
 * the kernel's own access to a remote line that is not resident fails,
 * when some of iov lies in remote memory and all of that in lines the
 * program may read (otherwise the EFAULT is the program's own).  Counts
 * the call (io.bounced) when it says 1. */
int lg_dio_bounce(const struct iovec *iov, int cnt);

/* sendmsg(2) (out 1) or recvmsg(2) (out 0) of m's data through a local
 * buffer, a piece of at most 1 MiB at a time (more than one for a send,
 * or a receive with MSG_WAITALL, of more than a piece): for socket calls
 * whose buffers lie in remote memory in SIGBUS mode (lg_dio_bounce says
 * when), always, since a datagram whose copy failed with EFAULT is gone.
 * m's flags, name and control lengths are set as the call sets them.
 * Bytes moved, or -errno. */
struct msghdr;
ssize_t lg_dio_msg(int fd, struct msghdr *m, int flags, int out);

/* What a read(2) or write(2) kind of call on iov that gave r (bytes, or
 * -errno) should give the program, in SIGBUS mode: EFAULT where
 * lg_dio_bounce says so, the call made again through a local buffer; a
 * short count on a regular file or block device whose next byte lies in
 * a line of remote memory the program may read, the rest moved through a
 * local buffer, from where the call stopped (off + r, or the file's
 * position).  Programs take a short read of a file for its end (a JVM
 * read class files whose tails were missing).  Pipes and sockets give
 * short counts anyway; their next call fails with EFAULT and is made
 * again.  Otherwise r.  off and flags as for lg_dio_readv (out 0) or
 * pwritev2(2) (out 1). */
ssize_t lg_dio_after(ssize_t r, int fd, const struct iovec *iov, int cnt, off_t off, int flags,
		     int out);

/* write(2) (off == -1) or pwrite(2) from a local buffer that the program's
 * buffers are copied into, in pieces of at most 1 MiB.  As lg_dio_readv. */
ssize_t lg_dio_writev(int fd, const struct iovec *iov, int cnt, off_t off);

/* A local buffer of LG_DIO_PIECE bytes (the pieces above), or NULL; give
 * it back with lg_dio_buf_put(buf, *slot). */
#define LG_DIO_PIECE ((size_t)1 << 20)
void *lg_dio_buf(int *slot);
void lg_dio_buf_put(void *buf, int slot);

/* io_submit(2) as libaio's (the result or -errno), with every O_DIRECT
 * read into remote memory made at once through lg_dio_readv and a write
 * of its result's size to /dev/null submitted in its place. */
struct iocb;
long lg_dio_aio_submit(unsigned long ctx, long nr, struct iocb **cbs);

#endif
