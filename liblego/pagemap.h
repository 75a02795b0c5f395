/*
 * Kernel interfaces newer than Debian 12's headers (6.1's): the values are
 * the kernel's ABI.  A userfaultfd in asynchronous write-protect mode
 * (Linux 6.7) lets the kernel resolve write-protect faults itself, and
 * PAGEMAP_SCAN on /proc/self/pagemap reports the pages written since they
 * were last armed (and arms them again with LG_PM_SCAN_WP_MATCHING).
 * UFFDIO_MOVE is Linux 6.8's.  Users: fmap.c, bench/wp_async.c.
 */
#ifndef LEGO_PAGEMAP_H
#define LEGO_PAGEMAP_H

#include <linux/userfaultfd.h>
#include <stdint.h>
#include <sys/ioctl.h>

#define LG_UFFD_WP_UNPOPULATED (1ull << 13)
#define LG_UFFD_WP_ASYNC (1ull << 15)
#define LG_UFFD_MOVE (1ull << 16)

struct lg_uffd_move {
	uint64_t dst, src, len, mode;
	int64_t move;
};
#define LG_UFFDIO_MOVE _IOWR(UFFDIO, 0x05, struct lg_uffd_move)

struct lg_pm_region {
	uint64_t start, end, categories;
};
struct lg_pm_scan {
	uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
	uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
#define LG_PAGEMAP_SCAN _IOWR('f', 16, struct lg_pm_scan)
#define LG_PM_SCAN_WP_MATCHING (1ull << 0)
#define LG_PM_SCAN_CHECK_WPASYNC (1ull << 1)
#define LG_PAGE_IS_WRITTEN (1ull << 1)

#endif
