/*
 * Storenode path resolver (see resolve.h).
 *
 * The syntax checks run first so a malformed path never reaches the kernel;
 * confinement is the kernel's: openat2 with RESOLVE_BENEATH checks every
 * step of the walk (including "..", absolute symlinks and symlinks whose
 * target climbs out) against root_fd, with no window between check and
 * use.  RESOLVE_NO_MAGICLINKS also refuses /proc-style links.
 */
#define _GNU_SOURCE
#include "resolve.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lego/proto.h"

/* openat2 answers -EAGAIN when a rename or mount raced with a ".." step;
 * the walk is then simply retried. */
#define SN_RETRIES 16

/* Bounds of the last component of p[0..len) after trailing slashes. */
static void sn_last(const char *p, size_t len, size_t *start, size_t *end)
{
	size_t e = len;
	while (e && p[e - 1] == '/')
		e--;
	size_t s = e;
	while (s && p[s - 1] != '/')
		s--;
	*start = s;
	*end = e;
}

static int sn_is_dots(const char *n, size_t len)
{
	return (len == 1 && n[0] == '.') || (len == 2 && n[0] == '.' && n[1] == '.');
}

int sn_path_check(const void *path, size_t len, int name_op)
{
	const char *p = path;
	if (len > LEGO_PATH_MAX)
		return -ENAMETOOLONG;
	if (len && memchr(p, 0, len))
		return -EINVAL;
	if (len && p[0] == '/')
		return -EXDEV;
	size_t comp = 0;
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '/')
			comp = 0;
		else if (++comp > NAME_MAX)
			return -ENAMETOOLONG;
	}
	if (!name_op)
		return 0;
	size_t s, e;
	sn_last(p, len, &s, &e);
	if (e == 0)
		return -EBUSY;
	if (sn_is_dots(p + s, e - s))
		return -EINVAL;
	return 0;
}

/* openat2 beneath dirfd; cpath is NUL-terminated and already checked. */
static int sn_openat2(int dirfd, const char *cpath, int flags, unsigned mode)
{
	struct open_how how;
	memset(&how, 0, sizeof how);
	how.flags = (uint64_t)(unsigned)(flags | O_CLOEXEC);
	/* openat2, unlike open, refuses a mode it will not use; no client
	 * makes a set-user-ID or set-group-ID file here (SN_MODE_BITS) */
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		how.mode = mode & SN_MODE_BITS;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	for (int tries = 0;; tries++) {
		long fd = syscall(SYS_openat2, dirfd, cpath, &how, sizeof how);
		if (fd >= 0)
			return (int)fd;
		int e = errno;
		if (e == EINTR || (e == EAGAIN && tries < SN_RETRIES))
			continue;
		return -e;
	}
}

/* Copy p[0..len) into buf as a C string; "" becomes "." (the root). */
static void sn_cpath(char buf[LEGO_PATH_MAX + 2], const char *p, size_t len)
{
	if (len == 0) {
		buf[0] = '.';
		buf[1] = 0;
		return;
	}
	memcpy(buf, p, len);
	buf[len] = 0;
}

int sn_resolve_open(int root_fd, const void *path, size_t len, int flags, unsigned mode)
{
	int r = sn_path_check(path, len, 0);
	if (r)
		return r;
	char buf[LEGO_PATH_MAX + 2];
	sn_cpath(buf, path, len);
	return sn_openat2(root_fd, buf, flags, mode);
}

int sn_resolve_parent(int root_fd, const void *path, size_t len, char name[NAME_MAX + 1])
{
	int r = sn_path_check(path, len, 1);
	if (r)
		return r;
	const char *p = path;
	size_t s, e;
	sn_last(p, len, &s, &e);
	memcpy(name, p + s, e - s); /* e - s <= NAME_MAX: checked above */
	name[e - s] = 0;
	char buf[LEGO_PATH_MAX + 2];
	sn_cpath(buf, p, s);
	return sn_openat2(root_fd, buf, O_RDONLY | O_DIRECTORY, 0);
}
