/*
 * Shared mappings of Lego files open for writing (docs/storage.md, "Shared
 * mappings of files open for writing").  The kernel cannot map a Lego
 * file, so mmap(MAP_SHARED) with PROT_WRITE, or of a descriptor open for
 * reading and writing, maps a copy of it in tmpfs that every process of
 * this host mapping the file shares: /dev/shm/lego-map-UID-DEV-INO, a
 * header page and then the file's bytes.  Processes see each other's
 * stores at once, as through the kernel's page cache; what a process wrote
 * reaches the file when it calls msync, unmaps, execs or exits.  Only the
 * pages it wrote are written: the kernel tracks them, in a userfaultfd in
 * asynchronous write-protect mode, and PAGEMAP_SCAN reports them and arms
 * them again in one call (Linux 6.7).  Without those the mapping is refused
 * (ENODEV): writing back pages nobody changed could undo other writers'.
 *
 * The copy's life on the host: every process that maps it holds a shared
 * flock on it, on its own open file description; setup and teardown hold
 * an OFD lock on the header's first byte.  The first process in (LOCK_EX
 * with LOCK_NB succeeds: nobody holds the copy) fills it from the file;
 * the last one out removes it.  The header counts the processes attached
 * and not yet written back: one that ended without writing back (SIGKILL)
 * leaves the count above zero, and the next process that finds itself
 * alone with the copy first writes back every page that differs from the
 * file.
 *
 * Within a process, read and write of the file see the copy (lg_fmap_io),
 * ftruncate resizes it; processes that only read or write the file see what
 * others write through a mapping after those write it back (msync or
 * munmap), as with NFS.
 */
#define _GNU_SOURCE
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "fault.h"
#include "lego/proto.h"
#include "pagemap.h"
#include "runtime.h"
#include "tls.h"
#include "vm.h"

#define FM_HDR 4096u   /* the header page before the file's bytes */
#define FM_MAGIC 0x504d474cu
#define FM_BUF (1u << 20)
#define FM_VEC 64

struct fm_hdr {
	uint32_t magic;
	int32_t attached; /* processes attached and not written back */
};

struct fm_obj {
	struct fm_obj *next;
	uint64_t dev, ino;
	struct lf_file *file; /* (a reference) */
	int fd;               /* the copy, read-write */
	int maps;             /* entries of fm.map on it */
	uint64_t size;        /* the file's bytes the copy holds */
	char name[80];
};

struct fm_map {
	uintptr_t a, e;
	uint64_t off; /* the file's offset at a */
	struct fm_obj *o;
};

static struct {
	pthread_mutex_t lock;
	int uffd, pm; /* -1 until the first mapping */
	struct fm_obj *objs;
	struct fm_map *map;
	int n, cap;
	uint8_t *buf;
	struct lg_pm_region vec[FM_VEC];
} fm = {.lock = PTHREAD_MUTEX_INITIALIZER, .uffd = -1, .pm = -1};

_Atomic int lg_fmap_live; /* entries exist (the hooks' cheap test) */

static long fm_sys(long r) { return r < 0 ? -errno : r; }
static void fm_close(int fd)
{
	if (fd >= 0)
		lg_syscall(SYS_close, fd);
}

/* ------------------------------------------------------- the host's copy */

/* The header (OFD lock held). */
static struct fm_hdr fm_hdr_get(int fd)
{
	struct fm_hdr h = {0};
	if (pread(fd, &h, sizeof h, 0) != (ssize_t)sizeof h || h.magic != FM_MAGIC)
		h = (struct fm_hdr){0};
	return h;
}

static void fm_hdr_add(int fd, int d)
{
	struct fm_hdr h = fm_hdr_get(fd);
	h.magic = FM_MAGIC;
	h.attached += d;
	if (h.attached < 0)
		h.attached = 0;
	if (pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
		lg_log_rl(LG_WARN, "file", "shared mapping copy: header not written: %s",
			  strerror(errno));
}

static int fm_setlk(int fd, short type)
{
	struct flock lk = {.l_type = type, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
	for (;;) {
		if (fcntl(fd, F_OFD_SETLKW, &lk) == 0)
			return 0;
		if (errno != EINTR)
			return -errno;
	}
}

/* Copy the file's bytes [from, to) into the copy (zeros past its end). */
static int fm_fill(int fd, struct lf_file *f, uint64_t from, uint64_t to)
{
	for (uint64_t off = from; off < to;) {
		size_t c = (size_t)LG_MIN(to - off, (uint64_t)FM_BUF);
		ssize_t g = lg_file_ref_io(f, fm.buf, c, (off_t)off, 0);
		if (g < 0)
			return (int)g;
		if (g == 0)
			break;
		if (pwrite(fd, fm.buf, (size_t)g, FM_HDR + (off_t)off) != g)
			return -errno ? -errno : -EIO;
		off += (uint64_t)g;
	}
	return 0;
}

/* A process that had the copy mapped ended without writing back: write
 * every page of the copy that differs from the file (within the file). */
static void fm_recover(int fd, struct lf_file *f)
{
	struct stat st;
	if (fstat(fd, &st) || (uint64_t)st.st_size <= FM_HDR)
		return;
	uint64_t size = (uint64_t)st.st_size - FM_HDR, pages = 0;
	uint8_t *mine = fm.buf, *theirs = fm.buf + FM_BUF / 2;
	for (uint64_t off = 0; off < size;) {
		size_t c = (size_t)LG_MIN(size - off, (uint64_t)FM_BUF / 2);
		ssize_t g = lg_file_ref_io(f, theirs, c, (off_t)off, 0);
		if (g <= 0 || pread(fd, mine, (size_t)g, FM_HDR + (off_t)off) != g)
			break;
		for (size_t p = 0; p < (size_t)g; p += LG_PAGE_SIZE) {
			size_t l = LG_MIN((size_t)g - p, (size_t)LG_PAGE_SIZE);
			if (memcmp(mine + p, theirs + p, l) &&
			    lg_file_ref_io(f, mine + p, l, (off_t)(off + p), 1) == (ssize_t)l)
				pages++;
		}
		off += (uint64_t)g;
	}
	lg_log(LG_WARN, "file",
	       "a process that had the Lego file %s mapped shared ended without writing it "
	       "back: %llu page%s of this host's copy that differ from the file written",
	       lg_file_ref_path(f), (unsigned long long)pages, pages == 1 ? "" : "s");
}

/* Attach to this host's copy of the file (dev, ino), size bytes long now:
 * 0 and o->fd, o->size, or -errno. */
static int fm_attach(struct fm_obj *o, uint64_t size)
{
	snprintf(o->name, sizeof o->name, "/dev/shm/lego-map-%u-%llu-%llu", (unsigned)geteuid(),
		 (unsigned long long)o->dev, (unsigned long long)o->ino);
	for (int tries = 0; tries < 16; tries++) {
		int fd = lg_fd_raise((int)lg_syscall(SYS_openat, AT_FDCWD, o->name,
						     O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
		if (fd < 0)
			return -errno;
		int r = fm_setlk(fd, F_WRLCK);
		struct stat a, b;
		if (r == 0 && (fstat(fd, &a) || stat(o->name, &b) || a.st_ino != b.st_ino)) {
			fm_close(fd); /* removed by its last process meanwhile: again */
			continue;
		}
		if (r == 0 && flock(fd, LOCK_EX | LOCK_NB) == 0) { /* nobody else has it */
			if (fm_hdr_get(fd).attached > 0)
				fm_recover(fd, o->file);
			struct fm_hdr h = {.magic = FM_MAGIC};
			r = (int)fm_sys(ftruncate(fd, 0));
			if (r == 0)
				r = (int)fm_sys(ftruncate(fd, FM_HDR + (off_t)size));
			if (r == 0 && pwrite(fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
				r = -EIO;
			if (r == 0)
				r = fm_fill(fd, o->file, 0, size);
			if (r)
				unlink(o->name);
		}
		if (r == 0)
			r = (int)fm_sys(flock(fd, LOCK_SH));
		if (r == 0) {
			fm_hdr_add(fd, 1);
			r = (int)fm_sys(fstat(fd, &a));
		}
		if (r) {
			fm_close(fd);
			return r;
		}
		fm_setlk(fd, F_UNLCK);
		o->fd = fd;
		o->size = (uint64_t)a.st_size > FM_HDR ? (uint64_t)a.st_size - FM_HDR : 0;
		return 0;
	}
	return -EAGAIN;
}

/* Leave the copy (written back already); the last process out removes it. */
static void fm_detach(struct fm_obj *o)
{
	if (fm_setlk(o->fd, F_WRLCK) == 0) {
		fm_hdr_add(o->fd, -1);
		struct stat a, b;
		if (flock(o->fd, LOCK_EX | LOCK_NB) == 0) {
			if (fm_hdr_get(o->fd).attached > 0)
				fm_recover(o->fd, o->file);
			if (fstat(o->fd, &a) == 0 && stat(o->name, &b) == 0 && a.st_ino == b.st_ino)
				unlink(o->name);
		}
	}
	fm_close(o->fd); /* (its locks go with it) */
	int r = lg_file_ref_sync(o->file, 0);
	if (r)
		lg_log_rl(LG_WARN, "file", "shared mapping of a Lego file: write-back at unmap: %s",
			  strerror(-r));
	lg_file_ref_put(o->file);
}

/* The copy grows to the file's size (the file grew: sqlite adds pages to
 * its -shm file before it maps them). */
static int fm_grow(struct fm_obj *o, uint64_t size)
{
	int r = fm_setlk(o->fd, F_WRLCK);
	struct stat a;
	if (r == 0 && fstat(o->fd, &a) == 0 && (uint64_t)a.st_size < FM_HDR + size) {
		uint64_t had = (uint64_t)a.st_size > FM_HDR ? (uint64_t)a.st_size - FM_HDR : 0;
		r = (int)fm_sys(ftruncate(o->fd, FM_HDR + (off_t)size));
		if (r == 0)
			r = fm_fill(o->fd, o->file, had, size);
	}
	if (r == 0 && fstat(o->fd, &a) == 0)
		o->size = (uint64_t)a.st_size - FM_HDR;
	fm_setlk(o->fd, F_UNLCK);
	return r;
}

/* ------------------------------------------------------ written pages */

/* Arm [a, e) again and pass what was written there since the last time
 * to fn (the page-aligned ranges).  0 or -errno. */
static int fm_scan(uintptr_t a, uintptr_t e, int (*fn)(struct fm_map *, uintptr_t, uintptr_t),
		   struct fm_map *m)
{
	int first = 0;
	while (a < e) {
		struct lg_pm_scan s = {.size = sizeof s,
				    .flags = LG_PM_SCAN_WP_MATCHING | LG_PM_SCAN_CHECK_WPASYNC,
				    .start = a, .end = e, .vec = (uintptr_t)fm.vec, .vec_len = FM_VEC,
				    .category_mask = LG_PAGE_IS_WRITTEN,
				    .return_mask = LG_PAGE_IS_WRITTEN};
		long n = ioctl(fm.pm, LG_PAGEMAP_SCAN, &s);
		if (n < 0)
			return -errno;
		for (long i = 0; fn && i < n; i++) {
			int r = fn(m, (uintptr_t)fm.vec[i].start, (uintptr_t)fm.vec[i].end);
			if (r && !first)
				first = r;
		}
		if (s.walk_end <= a)
			break;
		a = (uintptr_t)s.walk_end;
	}
	return first;
}

/* Write [a, e) of mapping m (pages it wrote) to the file, from the copy. */
static int fm_write(struct fm_map *m, uintptr_t a, uintptr_t e)
{
	struct fm_obj *o = m->o;
	uint64_t off = m->off + (a - m->a), end = m->off + (e - m->a);
	struct stat st; /* (another process may have grown or cut the copy) */
	if (fstat(o->fd, &st) == 0)
		o->size = (uint64_t)st.st_size > FM_HDR ? (uint64_t)st.st_size - FM_HDR : 0;
	end = LG_MIN(end, o->size); /* (pages past the file's end cannot be written) */
	while (off < end) {
		size_t c = (size_t)LG_MIN(end - off, (uint64_t)FM_BUF);
		ssize_t g = pread(o->fd, fm.buf, c, FM_HDR + (off_t)off);
		if (g <= 0)
			return g < 0 ? -errno : -EIO;
		ssize_t w = lg_file_ref_io(o->file, fm.buf, (size_t)g, (off_t)off, 1);
		if (w == -ESTALE || w == -ENOENT)
			return 0; /* removed from the store: nothing to write to (Linux's
				   * msync succeeds on an unlinked file too) */
		if (w != g)
			return w < 0 ? (int)w : -EIO;
		off += (uint64_t)g;
	}
	return 0;
}

static int fm_register(uintptr_t a, uintptr_t e)
{
	struct uffdio_register r = {.range = {a, e - a}, .mode = UFFDIO_REGISTER_MODE_WP};
	if (ioctl(fm.uffd, UFFDIO_REGISTER, &r))
		return -errno;
	return fm_scan(a, e, NULL, NULL); /* (registered pages count as written) */
}

/* ------------------------------------------------------------ the table */

static int fm_add(uintptr_t a, uintptr_t e, uint64_t off, struct fm_obj *o)
{
	if (fm.n == fm.cap) {
		int cap = fm.cap ? fm.cap * 2 : 16;
		lg_enter();
		struct fm_map *m = realloc(fm.map, (size_t)cap * sizeof *m);
		lg_leave();
		if (!m)
			return -ENOMEM;
		fm.map = m;
		fm.cap = cap;
	}
	fm.map[fm.n++] = (struct fm_map){.a = a, .e = e, .off = off, .o = o};
	o->maps++;
	atomic_store(&lg_fmap_live, 1);
	return 0;
}

static void fm_obj_drop(struct fm_obj *o)
{
	if (--o->maps > 0)
		return;
	for (struct fm_obj **p = &fm.objs; *p; p = &(*p)->next)
		if (*p == o) {
			*p = o->next;
			break;
		}
	fm_detach(o);
	lg_enter();
	free(o);
	lg_leave();
}

/* Take [a, e) out of the table, writing back what was written there first.
 * The first write-back error, or 0. */
static int fm_cut(uintptr_t a, uintptr_t e)
{
	int first = 0;
	for (int i = 0; i < fm.n; i++) {
		struct fm_map m = fm.map[i];
		if (m.e <= a || e <= m.a)
			continue;
		int r = fm_scan(LG_MAX(a, m.a), LG_MIN(e, m.e), fm_write, &fm.map[i]);
		if (r && !first)
			first = r;
		fm.map[i] = fm.map[--fm.n];
		i--;
		/* (the pieces left hold the copy before the piece cut lets go) */
		int lost = m.a < a && fm_add(m.a, a, m.off, m.o);
		lost |= e < m.e && fm_add(e, m.e, m.off + (e - m.a), m.o);
		if (lost)
			lg_log_rl(LG_WARN, "file", "shared mapping table: out of memory");
		fm_obj_drop(m.o);
	}
	if (!fm.n)
		atomic_store(&lg_fmap_live, 0);
	return first;
}

static struct fm_map *fm_find(uintptr_t a)
{
	for (int i = 0; i < fm.n; i++)
		if (fm.map[i].a <= a && a < fm.map[i].e)
			return &fm.map[i];
	return NULL;
}

/* ------------------------------------------------------------ the calls */

static int fm_setup(void)
{
	if (fm.uffd >= 0)
		return 0;
	if (!fm.buf) {
		long b = lg_sys_mmap(NULL, FM_BUF, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (b < 0 && b > -4096)
			return (int)b;
		fm.buf = (uint8_t *)b;
	}
	int u = lg_uffd_open_wp_async();
	int pm = u < 0 ? -1
		       : lg_fd_raise((int)lg_syscall(SYS_openat, AT_FDCWD, "/proc/self/pagemap",
						     O_RDONLY | O_CLOEXEC));
	if (u < 0 || pm < 0) {
		int e = u < 0 ? -u : errno;
		fm_close(u);
		static _Atomic int said;
		if (!atomic_exchange(&said, 1))
			lg_log(LG_WARN, "file",
			       "a shared mapping of a Lego file open for writing needs a userfaultfd in "
			       "asynchronous write-protect mode (Linux 6.7): %s; refused (ENODEV)",
			       strerror(e));
		return -ENODEV;
	}
	fm.uffd = u;
	fm.pm = pm;
	return 0;
}

long lg_fmap_map(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	struct lego_fstat st;
	int acc;
	struct lf_file *f = lg_file_ref_get(fd, &st, &acc);
	if (!f)
		return -EBADF;
	long r = 0;
	if (acc != O_RDWR)
		r = -EACCES;
	else if (!S_ISREG(st.mode))
		r = -ENODEV;
	else if (!len || off < 0 || (off & (LG_PAGE_SIZE - 1)) || len > (size_t)INT64_MAX)
		r = -EINVAL;
	if (r) {
		lg_file_ref_put(f);
		return r;
	}
	size_t span = LG_ALIGN_UP(len, LG_PAGE_SIZE);
	pthread_mutex_lock(&fm.lock);
	r = fm_setup();
	struct fm_obj *o = NULL;
	for (o = fm.objs; !r && o; o = o->next)
		if (o->dev == st.dev && o->ino == st.ino)
			break;
	if (!r && o) {
		lg_file_ref_put(f); /* (the copy has one) */
		if (o->size < st.size)
			r = fm_grow(o, st.size);
	} else if (!r) {
		lg_enter();
		o = calloc(1, sizeof *o);
		lg_leave();
		if (!o) {
			r = -ENOMEM;
		} else {
			*o = (struct fm_obj){.dev = st.dev, .ino = st.ino, .file = f, .fd = -1};
			r = fm_attach(o, st.size);
			if (r) {
				lg_enter();
				free(o);
				lg_leave();
				o = NULL;
			} else {
				o->next = fm.objs;
				fm.objs = o;
			}
		}
		if (!o)
			lg_file_ref_put(f);
	} else {
		lg_file_ref_put(f);
	}
	long a = -1;
	if (!r) {
		o->maps++; /* (held until it is in the table) */
		int mf = (flags & ~(MAP_TYPE | MAP_DENYWRITE | MAP_EXECUTABLE | MAP_ANONYMOUS)) |
			 MAP_SHARED;
		a = lg_vm_mmap(addr, len, prot, mf, o->fd, (off_t)FM_HDR + off);
		if (a < 0 && a > -4096)
			r = a;
		if (!r) {
			r = fm_register((uintptr_t)a, (uintptr_t)a + span);
			if (r == -ENOTTY || r == -EINVAL || r == -EPERM) {
				static _Atomic int said;
				if (!atomic_exchange(&said, 1))
					lg_log(LG_WARN, "file",
					       "a shared mapping of a Lego file open for writing needs "
					       "PAGEMAP_SCAN (Linux 6.7): %s; refused (ENODEV)",
					       strerror((int)-r));
				r = -ENODEV;
			}
		}
		if (!r)
			r = fm_add((uintptr_t)a, (uintptr_t)a + span, (uint64_t)off, o);
		if (r && a >= 0)
			lg_vm_munmap((void *)a, span);
		fm_obj_drop(o);
	}
	pthread_mutex_unlock(&fm.lock);
	return r ? r : a;
}

int lg_fmap_unmap(void *addr, size_t len)
{
	if (!atomic_load_explicit(&lg_fmap_live, memory_order_relaxed))
		return 0;
	uintptr_t a = (uintptr_t)addr, e = a + LG_ALIGN_UP(len, LG_PAGE_SIZE);
	pthread_mutex_lock(&fm.lock);
	int r = fm_cut(a, e);
	pthread_mutex_unlock(&fm.lock);
	if (r)
		lg_log_rl(LG_WARN, "file", "shared mapping of a Lego file: write-back at unmap: %s",
			  strerror(-r));
	return r;
}

int lg_fmap_msync(void *addr, size_t len, int flags)
{
	if (!atomic_load_explicit(&lg_fmap_live, memory_order_relaxed))
		return 1;
	uintptr_t a = (uintptr_t)addr, e = a + LG_ALIGN_UP(len, LG_PAGE_SIZE);
	int ours = 0, first = 0;
	pthread_mutex_lock(&fm.lock);
	for (int i = 0; i < fm.n; i++) {
		struct fm_map *m = &fm.map[i];
		if (m->e <= a || e <= m->a)
			continue;
		ours = 1;
		int r = fm_scan(LG_MAX(a, m->a), LG_MIN(e, m->e), fm_write, m);
		if (r == 0 && (flags & MS_SYNC))
			r = lg_file_ref_sync(m->o->file, 1);
		if (r && !first)
			first = r;
	}
	pthread_mutex_unlock(&fm.lock);
	return ours ? first : 1;
}

int lg_fmap_remap(void *old, size_t old_len, void *new, size_t new_len, int phase)
{
	if (!atomic_load_explicit(&lg_fmap_live, memory_order_relaxed))
		return 0;
	uintptr_t o = (uintptr_t)old, oe = o + LG_ALIGN_UP(old_len, LG_PAGE_SIZE);
	uintptr_t d = (uintptr_t)new, de = d + LG_ALIGN_UP(new_len, LG_PAGE_SIZE);
	pthread_mutex_lock(&fm.lock);
	struct fm_map *m = fm_find(o);
	int r = 0;
	if (m && phase == 0) { /* before: write back what may go */
		r = fm_scan(o, LG_MIN(oe, m->e), fm_write, m);
	} else if (m) { /* after: the range moved, or grew or shrank in place */
		struct fm_obj *ob = m->o;
		uint64_t off = m->off + (o - m->a);
		ob->maps++;
		fm_cut(o, oe);
		if (ob->size < off + (de - d)) { /* (Python's resize: ftruncate, then mremap) */
			struct lego_fstat st;
			if (lg_file_ref_stat(ob->file, &st) == 0 && st.size > ob->size)
				fm_grow(ob, st.size);
		}
		r = fm_register(d, de); /* (a moved mapping leaves the userfaultfd) */
		if (r == 0)
			r = fm_add(d, de, off, ob);
		fm_obj_drop(ob);
	}
	pthread_mutex_unlock(&fm.lock);
	return r;
}

void lg_fmap_io(uint64_t ino, void *buf, size_t n, uint64_t off, int wr)
{
	pthread_mutex_lock(&fm.lock);
	for (struct fm_obj *o = fm.objs; o; o = o->next) {
		if (o->ino != ino || (!wr && off >= o->size))
			continue;
		/* (a write past the copy's end extends it, as it did the file:
		 * a mapping past the old end reaches the new bytes, as on Linux) */
		size_t c = wr ? n : (size_t)LG_MIN((uint64_t)n, o->size - off);
		/* through local memory: the kernel cannot touch a remote
		 * buffer that is not resident (LEGO_FAULT=sigbus: EFAULT) */
		for (size_t k = 0; k < c;) {
			size_t l = LG_MIN(c - k, (size_t)FM_BUF);
			off_t at = FM_HDR + (off_t)(off + k);
			if (wr) {
				memcpy(fm.buf, (uint8_t *)buf + k, l);
				if (pwrite(o->fd, fm.buf, l, at) != (ssize_t)l)
					break;
			} else {
				ssize_t g = pread(o->fd, fm.buf, l, at);
				if (g <= 0)
					break;
				memcpy((uint8_t *)buf + k, fm.buf, (size_t)g);
				l = (size_t)g;
			}
			k += l;
		}
		if (wr && off + c > o->size)
			o->size = off + c;
		break;
	}
	pthread_mutex_unlock(&fm.lock);
}

void lg_fmap_truncate(uint64_t ino, uint64_t size)
{
	pthread_mutex_lock(&fm.lock);
	for (struct fm_obj *o = fm.objs; o; o = o->next) {
		if (o->ino != ino)
			continue;
		if (fm_setlk(o->fd, F_WRLCK) == 0 && ftruncate(o->fd, FM_HDR + (off_t)size) == 0)
			o->size = size;
		fm_setlk(o->fd, F_UNLCK);
		break;
	}
	pthread_mutex_unlock(&fm.lock);
}

/* Write back everything written (exit, exec: leave the copies too). */
static void fm_all(int leave)
{
	for (int i = 0; i < fm.n; i++) {
		int r = fm_scan(fm.map[i].a, fm.map[i].e, fm_write, &fm.map[i]);
		if (r)
			lg_log_rl(LG_WARN, "file", "shared mapping of a Lego file: write-back: %s",
				  strerror(-r));
	}
	for (struct fm_obj *o = fm.objs; o && leave; o = o->next)
		if (fm_setlk(o->fd, F_WRLCK) == 0) {
			fm_hdr_add(o->fd, leave > 0 ? -1 : 1);
			fm_setlk(o->fd, F_UNLCK);
		}
}

void lg_fmap_exit(void)
{
	if (!atomic_load(&lg_fmap_live) || lg_rt_vforked())
		return;
	pthread_mutex_lock(&fm.lock);
	fm_all(0);
	while (fm.objs) { /* (the mappings stay until the process ends) */
		struct fm_obj *o = fm.objs;
		fm.objs = o->next;
		fm_detach(o);
	}
	fm.n = 0;
	atomic_store(&lg_fmap_live, 0);
	pthread_mutex_unlock(&fm.lock);
}

void lg_fmap_exec(int failed)
{
	if (!atomic_load(&lg_fmap_live) || lg_rt_vforked())
		return;
	pthread_mutex_lock(&fm.lock);
	if (failed)
		fm_all(-1);
	else
		fm_all(1);
	pthread_mutex_unlock(&fm.lock);
}

void lg_fmap_fork_prepare(void) { pthread_mutex_lock(&fm.lock); }
void lg_fmap_fork_release(void) { pthread_mutex_unlock(&fm.lock); }

/* The child shares the copies (its mappings are the parent's pages): it
 * attaches to them itself, with descriptors of its own, and tracks what it
 * writes with a userfaultfd of its own (the parent's does not follow it). */
void lg_fmap_fork_child(void)
{
	fm_close(fm.uffd); /* (the parent's: its pagemap is the parent's) */
	fm_close(fm.pm);
	fm.uffd = fm.pm = -1;
	if (!fm.objs)
		return;
	int r = fm_setup();
	for (struct fm_obj *o = fm.objs; !r && o; o = o->next) {
		char self[64];
		snprintf(self, sizeof self, "/proc/self/fd/%d", o->fd);
		int fd = lg_fd_raise((int)lg_syscall(SYS_openat, AT_FDCWD, self,
						     O_RDWR | O_CLOEXEC));
		if (fd < 0) {
			r = -errno;
			break;
		}
		fm_close(o->fd);
		o->fd = fd;
		if (flock(fd, LOCK_SH) || fm_setlk(fd, F_WRLCK)) {
			r = -errno;
			break;
		}
		fm_hdr_add(fd, 1);
		fm_setlk(fd, F_UNLCK);
	}
	for (int i = 0; !r && i < fm.n; i++)
		r = fm_register(fm.map[i].a, fm.map[i].e);
	if (r)
		lg_log(LG_ERROR, "file",
		       "forked child %d cannot track its writes to shared mappings of Lego files "
		       "(%s): they will not be written back", (int)getpid(), strerror(-r));
}
