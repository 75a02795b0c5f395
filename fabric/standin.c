/*
 * Linked into the daemons only (not liblego.so, which interposes stat for
 * its own files): shm_open and stat as libfabric's shm provider sees them.
 *
 * libfabric 1.17's shm provider, reading a connection request, maps the
 * sender's region and dereferences it without checking that the mapping
 * worked (smr_progress_connreq; later releases check): a sender that had
 * closed its endpoint, removing its region, before the daemon read the
 * request crashed the daemon with SIGSEGV, and with it all the memory it
 * held (a tool that sends and closes at once: 3 tries in 3).  So, for a
 * region named as a Lego process's (lego-c.PID.*: never made again under
 * that name once closed, for the name holds a sequence number):
 *  - shm_open of one that is missing makes a stand-in in its place
 *    (lf_shm_standin_fd: a copy of one of our own regions, so that every
 *    offset in its header is valid, with that process's pid and its lock
 *    free).  What is sent there is never read, as to any closed endpoint;
 *    the daemons' clean-up removes the file once the process has gone
 *    (rpc_links_gc_shm);
 *  - stat of the one just opened, removed in between (the provider checks
 *    its size by path), is answered from the descriptor.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h> /* shm_open */
#include <sys/stat.h>

#include "common/log.h"
#include "shmlock.h"

/* The region libfabric last opened in this thread, our own descriptor of
 * it (see stat below). */
static __thread int opened_fd = -1;
static __thread char opened_name[96];

int shm_open(const char *name, int oflag, mode_t mode)
{
	static int (*real)(const char *, int, mode_t);
	if (!real)
		real = (int (*)(const char *, int, mode_t))dlsym(RTLD_NEXT, "shm_open");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	int fd = real(name, oflag, mode);
	int pid;
	if ((oflag & O_CREAT) || sscanf(name, "lego-c.%d.", &pid) != 1 || pid <= 0 ||
	    strlen(name) >= sizeof opened_name)
		return fd;
	if (fd < 0 && errno == ENOENT) {
		fd = lf_shm_standin_fd(name, pid);
		if (fd < 0) {
			errno = ENOENT;
			return -1;
		}
		lg_log_rl(LG_WARN, "fabric", "shm: %s (process %d) was closed before its first "
			  "message was read: a stand-in takes what is sent there", name, pid);
	}
	if (fd >= 0) {
		int d = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (opened_fd >= 0)
			close(opened_fd);
		opened_fd = d;
		strcpy(opened_name, name);
	}
	return fd;
}

/* libfabric checks the size of the region it has just opened by its path:
 * one closed in between (its file removed) is answered from our
 * descriptor of it, which goes then. */
int stat(const char *restrict path, struct stat *restrict st)
{
	static int (*real)(const char *restrict, struct stat *restrict);
	if (!real)
		real = (int (*)(const char *restrict, struct stat *restrict))dlsym(RTLD_NEXT, "stat");
	if (!real) {
		errno = ENOSYS;
		return -1;
	}
	int r = real(path, st);
	if (opened_fd < 0 || strncmp(path, "/dev/shm/", 9) || strcmp(path + 9, opened_name))
		return r;
	if (r != 0 && errno == ENOENT)
		r = fstat(opened_fd, st);
	int e = errno;
	close(opened_fd); /* needed no longer: it would keep the region alive */
	opened_fd = -1;
	errno = e;
	return r;
}
