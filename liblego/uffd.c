/*
 * Opening a userfaultfd and registering a range (see fault.h), apart from
 * the fault threads so that lego-run can check for it, and
 * lego-bench-excache measure it, without linking the runtime and
 * libfabric.
 */
#define _GNU_SOURCE
#include "fault.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "pagemap.h"

#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

int lg_uffd_open(void) { return lg_uffd_open_as(0); }

/* A new userfaultfd, moved up among the runtime's descriptors: the system
 * call, or /dev/userfaultfd where the sysctl refuses it to this user. */
static int uffd_new(void)
{
	int fd = (int)lg_syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
		if (dev >= 0) {
			fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
			close(dev);
		}
	}
	return lg_fd_raise(fd);
}

int lg_uffd_open_as(int sigbus)
{
	int fd = uffd_new();
	if (fd < 0) {
		int e = errno;
		lg_log(LG_ERROR, "fault",
		       "userfaultfd is not available (%s): run as root, give this user access "
		       "to /dev/userfaultfd, or set sysctl vm.unprivileged_userfaultfd=1",
		       strerror(e));
		return -e;
	}
	struct uffdio_api api = {.api = UFFD_API, .features = UFFD_FEATURE_PAGEFAULT_FLAG_WP |
							UFFD_FEATURE_THREAD_ID};
	if (sigbus) /* the faulting thread gets SIGBUS instead of waiting */
		api.features |= UFFD_FEATURE_SIGBUS;
	if (ioctl(fd, UFFDIO_API, &api) != 0) {
		int e = errno;
		lg_log(LG_ERROR, "fault", "userfaultfd lacks write-protect support (%s); "
		       "Linux 5.7 or later is needed", strerror(e));
		close(fd);
		return -e;
	}
	return fd;
}

int lg_uffd_register(int uffd, void *base, size_t size)
{
	struct uffdio_register r = {.range = {(uint64_t)(uintptr_t)base, size},
				    .mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP};
	if (ioctl(uffd, UFFDIO_REGISTER, &r) != 0) {
		int e = errno;
		lg_log(LG_ERROR, "fault", "userfaultfd register of %zu bytes failed: %s", size,
		       strerror(e));
		return -e;
	}
	return 0;
}

int lg_uffd_open_wp_async(void)
{
	int fd = uffd_new();
	if (fd < 0)
		return -errno;
	struct uffdio_api api = {.api = UFFD_API, .features = LG_UFFD_WP_ASYNC |
							LG_UFFD_WP_UNPOPULATED |
							UFFD_FEATURE_WP_HUGETLBFS_SHMEM};
	if (ioctl(fd, UFFDIO_API, &api) != 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}
