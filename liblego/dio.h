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

/* io_submit(2) as libaio's (the result or -errno), with every O_DIRECT
 * read into remote memory made at once through lg_dio_readv and a write
 * of its result's size to /dev/null submitted in its place. */
struct iocb;
long lg_dio_aio_submit(unsigned long ctx, long nr, struct iocb **cbs);

#endif
