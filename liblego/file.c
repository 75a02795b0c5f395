/*
 * Lego files, client side (file.h, docs/storage.md "The client side").
 *
 * A Lego descriptor is a real descriptor on a placeholder file, one per
 * inode, in lf.phdir (/run/lego/files, or $TMPDIR/lego-UID/files).  It is
 * opened with the caller's access mode and status flags, so the kernel's
 * open file description keeps what Linux keeps there: the offset (moved
 * with lseek on the placeholder), O_APPEND, O_NONBLOCK, O_SYNC, and
 * F_GETFL reports them; dup, fork and close-on-exec need nothing from us,
 * and fcntl locks lock the placeholder.  The placeholder's contents, at
 * LF_META_OFF (beyond any offset a stray write could reach), are
 * "lego-fd 1\n<ino> <mode>\n<store path>": after exec, lg_file_init finds
 * inherited descriptors in /proc/self/fd by their placeholder path and
 * rebuilds their records from it.
 *
 * Per descriptor we keep a record (struct lf_file: store path, inode,
 * type, access mode), shared by dup'ed descriptors and reference counted.
 * The table is two-level, in local memory, and read without a lock: a
 * NULL slot is the fast "not Lego" answer every read() and write() of
 * the program gets.  Taking a reference on a record happens under
 * lf.lock, so close cannot free one under a concurrent user.
 *
 * Data crosses the network only through local bounce buffers: the RPC
 * layer may copy replies (and read request bodies) from other runtime
 * threads, which must never touch the program's (remote) memory.
 *
 * Lock order: lf.lock is a leaf (no RPC, no allocation from the remote
 * heap under it).  All placeholder work uses raw system calls, never the
 * interposed functions, and keeps errno as it was.
 *
 * The working directory may be a Lego directory (chdir, fchdir): its record
 * is lf.cwd, relative paths then resolve beneath it, and the kernel's
 * working directory is a local placeholder directory naming it, so a
 * program exec'd there finds it again (lf_cwd_adopt).
 *
 * Paths are resolved by the storenode, links and ".." included; where one
 * leaves the store it answers -EXDEV and the client follows the rest
 * itself (lf_walk, lf_call_path: docs/storage.md "Symbolic links").  chdir
 * to a relative path resolves ".." by name first.
 *
 * Limits: the offset update of read/write is not atomic between threads
 * sharing one description; O_APPEND writes at the end as the memnode sees
 * it, in one request (LEGO_F_APPEND: processes sharing a memnode do not
 * overwrite each other's appends; a write over LEGO_FILE_IO_MAX appends its
 * first part and writes the rest after it).
 */
#define _GNU_SOURCE
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/close_range.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "elfneed.h"
#include "lego/proto.h"
#include "runtime.h"
#include "tls.h"
#include "vm.h"

/* A raw system call: its value or -errno, errno left alone. */
#define lf_sys(...)                                                            \
	({                                                                     \
		int e_ = errno;                                                \
		long r_ = lg_syscall(__VA_ARGS__);                             \
		if (r_ == -1)                                                  \
			r_ = -errno;                                           \
		errno = e_;                                                    \
		r_;                                                            \
	})

#define LF_CHUNK 1024 /* slots per table chunk */
#define LF_NCHUNK 1024
#define LF_FD_MAX (LF_CHUNK * LF_NCHUNK)
#define LF_RW_MAX 0x7ffff000L /* Linux's largest read/write */
#define LF_POOL 8
#define LF_MAGIC "lego-fd 1\n"
/* Where the placeholder keeps its contents: far beyond any offset a stray
 * write through the descriptor (the C library's own stdio) could reach. */
#define LF_META_OFF (1LL << 40) /* within ext4's 16 TiB limit */

enum { LF_OFF = 0, LF_ON = 1, LF_DEAD = 2 /* transparent, but the runtime failed */ };

struct lf_file {
	_Atomic int ref;
	int acc;       /* O_RDONLY, O_WRONLY, O_RDWR or O_PATH */
	uint64_t ino;
	uint32_t mode; /* type and permission bits at open */
	uint16_t plen;
	char path[];   /* store path, NUL-terminated */
};

struct lf_dir {
	int fd;
	int eof;
	uint64_t cookie; /* resumes after the last entry returned */
	uint32_t pos, len;
	struct dirent ent;
	uint8_t buf[LEGO_LIST_MAX];
};

static struct {
	int mode;
	int inited;
	int links_refused; /* store_links_out=refuse */
	char prefix[LEGO_PATH_MAX + 1]; /* normalized, no leading '/' */
	char phdir[PATH_MAX + 64];
	pthread_mutex_t lock;
	_Atomic(struct lf_file *) *_Atomic chunk[LF_NCHUNK];
	void *pool[LF_POOL];
	int npool;
	struct lf_dir **dirs;
	int ndirs, capdirs;
	_Atomic int ndirs_pub;
	_Atomic int said;
	_Atomic(struct lf_file *) cwd; /* a Lego working directory, or NULL */
} lf = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ----------------------------------------------------------------- paths */

/* The next path component of *s after any slashes: its start (*c) and
 * length (returned, 0 at the end); *s moves past it. */
static size_t lf_comp(const char **s, const char **c)
{
	while (**s == '/')
		(*s)++;
	*c = *s;
	while (**s && **s != '/')
		(*s)++;
	return (size_t)(*s - *c);
}

/* Append the components of s to out (n bytes so far), skipping empty and
 * "." ones.  0 or -ENAMETOOLONG. */
static int lf_append(char *out, size_t *n, const char *s)
{
	const char *c;
	size_t l;
	while ((l = lf_comp(&s, &c)) != 0) {
		if (l == 1 && c[0] == '.')
			continue;
		if (*n + (*n ? 1 : 0) + l > LEGO_PATH_MAX)
			return -ENAMETOOLONG;
		if (*n)
			out[(*n)++] = '/';
		memcpy(out + *n, c, l);
		*n += l;
	}
	out[*n] = 0;
	return 0;
}

/* Absolute path p: 1 if it lies under the prefix (its store path into out,
 * if out), 0 if not, or -ENAMETOOLONG. */
static int lf_match(const char *p, char *out)
{
	const char *q = lf.prefix, *s = p, *c, *pc;
	size_t pl;
	while ((pl = lf_comp(&q, &pc)) != 0) {
		size_t l;
		do
			l = lf_comp(&s, &c);
		while (l == 1 && c[0] == '.');
		if (l != pl || memcmp(c, pc, l) != 0)
			return 0;
	}
	if (!out)
		return 1;
	size_t n = 0;
	int r = lf_append(out, &n, s);
	return r ? r : 1;
}

/* ----------------------------------------------------------- the table */

static _Atomic(struct lf_file *) *lf_slot(int fd, int create)
{
	if (fd < 0 || fd >= LF_FD_MAX)
		return NULL;
	_Atomic(struct lf_file *) *c = atomic_load_explicit(&lf.chunk[fd / LF_CHUNK],
							    memory_order_acquire);
	if (!c && create) { /* under lf.lock */
		c = lg_local_alloc(LF_CHUNK * sizeof *c);
		if (c)
			atomic_store_explicit(&lf.chunk[fd / LF_CHUNK], c, memory_order_release);
	}
	return c ? &c[fd % LF_CHUNK] : NULL;
}

/* a vforked child, sharing our memory (and this table) */
static int lf_vforked(void) { return lg_rt_vforked(); }

int lg_file_fd(int fd)
{
	if (lg_likely(lf.mode == LF_OFF) || fd < 0 || lg_inside())
		return 0;
	_Atomic(struct lf_file *) *s = lf_slot(fd, 0);
	return s && atomic_load_explicit(s, memory_order_relaxed) != NULL;
}

static struct lf_file *lf_get(int fd)
{
	_Atomic(struct lf_file *) *s = lf_slot(fd, 0);
	if (!s || !atomic_load_explicit(s, memory_order_relaxed))
		return NULL;
	pthread_mutex_lock(&lf.lock);
	struct lf_file *e = atomic_load(s);
	if (e)
		atomic_fetch_add(&e->ref, 1);
	pthread_mutex_unlock(&lf.lock);
	return e;
}

static void lf_put(struct lf_file *e)
{
	if (e && atomic_fetch_sub(&e->ref, 1) == 1) {
		lg_enter();
		free(e);
		lg_leave();
	}
}

/* Install e (the caller's reference) at fd; returns what was there (its
 * reference now the caller's), or e itself if fd is out of range. */
static struct lf_file *lf_set(int fd, struct lf_file *e)
{
	pthread_mutex_lock(&lf.lock);
	_Atomic(struct lf_file *) *s = lf_slot(fd, e != NULL);
	struct lf_file *old = s ? atomic_exchange(s, e) : e;
	pthread_mutex_unlock(&lf.lock);
	return old;
}

static struct lf_file *lf_new(const char *path, uint64_t ino, uint32_t mode, int acc)
{
	size_t l = strlen(path);
	lg_enter(); /* records stay local: they are read on every call */
	struct lf_file *e = malloc(sizeof *e + l + 1);
	lg_leave();
	if (!e)
		return NULL;
	atomic_init(&e->ref, 1);
	e->acc = acc;
	e->ino = ino;
	e->mode = mode;
	e->plen = (uint16_t)l;
	memcpy(e->path, path, l + 1);
	return e;
}

void lg_file_fresh(int fd)
{
	if (lg_file_fd(fd) && !lf_vforked())
		lf_put(lf_set(fd, NULL));
}

/* The Lego working directory's record (a reference), or NULL. */
static struct lf_file *lf_cwd_get(void)
{
	if (!atomic_load_explicit(&lf.cwd, memory_order_relaxed))
		return NULL;
	pthread_mutex_lock(&lf.lock);
	struct lf_file *e = atomic_load(&lf.cwd);
	if (e)
		atomic_fetch_add(&e->ref, 1);
	pthread_mutex_unlock(&lf.lock);
	return e;
}

static int lf_resolve_in(struct lf_file *e, const char *path, char *out);

/* A name of an open descriptor: /dev/stdin, /dev/stdout, /dev/stderr
 * (symlinks: *kind 1), /dev/fd/N, /proc/self/fd/N, /proc/thread-self/fd/N,
 * /proc/PID/fd/N with our own PID (the kernel's links to the descriptor's
 * file: *kind 2).  The descriptor, or -1. */
static int lf_fd_name(const char *p, int *kind)
{
	const char *n = NULL;
	*kind = 2;
	if (strncmp(p, "/dev/", 5) == 0) {
		static const char *const std[] = {"stdin", "stdout", "stderr"};
		for (int i = 0; i < 3; i++)
			if (strcmp(p + 5, std[i]) == 0) {
				*kind = 1;
				return i;
			}
		if (strncmp(p + 5, "fd/", 3) == 0)
			n = p + 8;
	} else if (strncmp(p, "/proc/", 6) == 0) {
		const char *q = p + 6;
		if (strncmp(q, "self/", 5) == 0) {
			q += 5;
		} else if (strncmp(q, "thread-self/", 12) == 0) {
			q += 12;
		} else {
			long pid = 0;
			for (; *q >= '0' && *q <= '9' && pid < INT32_MAX; q++)
				pid = pid * 10 + (*q - '0');
			if (*q != '/' || pid != lf_sys(SYS_getpid))
				return -1;
			q++;
		}
		if (strncmp(q, "fd/", 3) == 0)
			n = q + 3;
	}
	if (!n || *n < '0' || *n > '9')
		return -1;
	long fd = 0;
	for (; *n >= '0' && *n <= '9' && fd < INT32_MAX; n++)
		fd = fd * 10 + (*n - '0');
	return *n || fd >= INT32_MAX ? -1 : (int)fd;
}

/* The Lego descriptor an absolute path names (lf_fd_name), or -1. */
static int lf_fd_named(const char *p)
{
	int kind, fd;
	if ((p[1] != 'd' && p[1] != 'p') || (fd = lf_fd_name(p, &kind)) < 0)
		return -1;
	return lg_file_fd(fd) ? fd : -1;
}

/* The store path of the Lego descriptor fd into wire: 1, or -EBADF. */
static int lf_fd_wire(int fd, char *wire)
{
	struct lf_file *e = lf_get(fd);
	if (!e)
		return -EBADF;
	memcpy(wire, e->path, e->plen + 1u);
	lf_put(e);
	return 1;
}

/* The name programs see for store path wire ("/lego/a/b", "/lego") into
 * out: its length (>= cap: cut), as snprintf. */
static int lf_lego_name(const char *wire, char *out, size_t cap)
{
	return snprintf(out, cap, "/%s%s%s", lf.prefix, wire[0] ? "/" : "", wire);
}

/* (dirfd, path) -> 1 and the store path in out, 0 if not Lego, -errno. */
static int lf_resolve(int dirfd, const char *path, char *out)
{
	if (!path)
		return -EFAULT;
	if (path[0] == '/') {
		/* /dev/stdin of a Lego file: that file again (the kernel would
		 * open the placeholder: a TiB of zeros, then its metadata) */
		int fd = lf_fd_named(path);
		return fd >= 0 && lf_fd_wire(fd, out) > 0 ? 1 : lf_match(path, out);
	}
	return lf_resolve_in(dirfd == AT_FDCWD ? lf_cwd_get() : lf_get(dirfd), path, out);
}

/* path relative to the directory e (a reference, given up; NULL: not a
 * Lego directory): as lf_resolve. */
static int lf_resolve_in(struct lf_file *e, const char *path, char *out)
{
	if (!e)
		return 0;
	int r = 1;
	if (!S_ISDIR(e->mode)) {
		r = -ENOTDIR;
	} else {
		size_t n = 0;
		int a = lf_append(out, &n, e->path);
		if (a == 0)
			a = lf_append(out, &n, path);
		if (a)
			r = a;
	}
	lf_put(e);
	return r;
}

int lg_file_path(int dirfd, const char *path)
{
	if (lg_likely(lf.mode == LF_OFF) || !path || lg_inside())
		return 0;
	if (path[0] == '/')
		return lf_match(path, NULL) != 0 || lf_fd_named(path) >= 0;
	if (dirfd == AT_FDCWD)
		return atomic_load_explicit(&lf.cwd, memory_order_relaxed) != NULL;
	return lg_file_fd(dirfd);
}

/* ------------------------------------------------------- talking to the store */

static void *lf_bounce_get(void)
{
	void *b = NULL;
	pthread_mutex_lock(&lf.lock);
	if (lf.npool)
		b = lf.pool[--lf.npool];
	pthread_mutex_unlock(&lf.lock);
	return b ? b : lg_local_alloc(LEGO_FILE_IO_MAX);
}

static void lf_bounce_put(void *b)
{
	pthread_mutex_lock(&lf.lock);
	if (lf.npool < LF_POOL) {
		lf.pool[lf.npool++] = b;
		b = NULL;
	}
	pthread_mutex_unlock(&lf.lock);
	lg_local_free(b, LEGO_FILE_IO_MAX);
}

static int lf_ready(void)
{
	if (atomic_load_explicit(&lg_rt.state, memory_order_acquire) == LG_RT_RUNNING)
		return 0;
	int r = atomic_load(&lg_rt_deferred) ? lg_rt_start() : -ESHUTDOWN;
	if (r == 0)
		return 0; /* a Lego file is the first thing that needs it */
	if (r == -EAGAIN) { /* a vforked child (lg_rt_vforked) */
		lg_log_rl(LG_ERROR, "file", "a vforked child cannot reach Lego files before its "
			  "parent has: EIO");
		return -EIO;
	}
	if (!atomic_exchange(&lf.said, 1))
		lg_logf(LG_ERROR, "file", "Lego is off (%s): operations on files under /%s fail "
			"with EIO", strerror(lg_rt.err ? -lg_rt.err : ESHUTDOWN), lf.prefix);
	return -EIO;
}

/* One X2F_ request: rq, then paths (rq->path_len + rq->path2_len bytes),
 * then data.  The reply body goes to rep (local memory). */
static int lf_call(uint16_t op, struct lego_file_req *rq, const char *paths, const void *data,
		   void *rep, size_t cap, size_t *replen)
{
	int r = lf_ready();
	if (r)
		return r;
	struct iovec iov[3];
	int n = 0;
	iov[n++] = (struct iovec){rq, sizeof *rq};
	size_t pl = (size_t)rq->path_len + rq->path2_len;
	if (pl)
		iov[n++] = (struct iovec){(void *)paths, pl};
	if (data && rq->len)
		iov[n++] = (struct iovec){(void *)data, rq->len};
	size_t rl = 0;
	lg_enter();
	r = lc_file_call(&lg_rt.lc, op, iov, n, rep, cap, &rl);
	lg_leave();
	if (replen)
		*replen = rl;
	return r;
}

/*
 * Symbolic links and ".." that lead out of the store (proto.h, "Symbolic
 * links"): the storenode refuses the request with -EXDEV and tells where
 * the path leaves; the client goes on from there as the kernel's lookup
 * would, to another store path (the request again) or out to a local file
 * (LF_LOCAL: the caller does the system call's work on that name).
 */
#define LF_HOPS 40 /* links followed in one lookup, as Linux (then ELOOP) */
#define LF_LOCAL (-4096 - 1) /* not an errno: the path is the local file in local */

/* Where the store path wire (a request could not follow it) goes: 1 and
 * wire rewritten (LEGO_PATH_MAX + 1 bytes), 0 and the local name in local
 * (PATH_MAX bytes), or -errno (-EXDEV: no link or ".." of it leaves the
 * store; nofollow: its last component is not followed). */
static int lf_walk(char *wire, int nofollow, char *local)
{
	struct lego_file_req rq = {.flags = LEGO_F_WALK | (nofollow ? LEGO_F_NOFOLLOW : 0),
				   .path_len = (uint16_t)strlen(wire)};
	struct lego_walk_rep w;
	const size_t cap = sizeof w + 2 * LEGO_PATH_MAX;
	char *b = lf_bounce_get(); /* reply, name, its store path */
	if (!b)
		return -ENOMEM;
	char *name = b + cap, *nw = name + 5 * LEGO_PATH_MAX; /* (prefix, base, target, rest) */
	size_t rl = 0;
	int r = lf_call(X2F_READLINK, &rq, wire, NULL, b, cap, &rl);
	if (r == 0 && rl >= sizeof w)
		memcpy(&w, b, sizeof w);
	if (r == 0 && (rl < sizeof w || rl - sizeof w != (size_t)w.base_len + w.target_len ||
		       w.consumed > rq.path_len || !w.target_len))
		r = -EIO;
	if (r) {
		lf_bounce_put(b);
		return r;
	}
	const char *t = b + sizeof w + w.base_len;
	size_t tl = w.target_len, n = 0;
	if (t[0] != '/') {
		/* from the link's directory (no links in it: the leading ".."
		 * of the target go up by name, out of the store at its root) */
		size_t pl = strlen(lf.prefix);
		name[n++] = '/';
		memcpy(name + n, lf.prefix, pl);
		n += pl;
		if (w.base_len)
			name[n++] = '/';
		memcpy(name + n, b + sizeof w, w.base_len);
		n += w.base_len;
		while (tl >= 2 && t[0] == '.' && t[1] == '.' && (tl == 2 || t[2] == '/')) {
			while (n > 0 && name[n - 1] != '/')
				n--;
			if (n > 0)
				n--;
			for (t += 2, tl -= 2; tl && *t == '/'; t++, tl--)
				;
		}
		if (tl || n == 0)
			name[n++] = '/';
	}
	memcpy(name + n, t, tl);
	n += tl;
	size_t rest = rq.path_len - w.consumed; /* "" or from a '/' */
	memcpy(name + n, wire + w.consumed, rest);
	name[n + rest] = 0;
	r = lf_resolve(AT_FDCWD, name, nw);
	if (r > 0)
		memcpy(wire, nw, strlen(nw) + 1);
	else if (r == 0 && n + rest >= PATH_MAX)
		r = -ENAMETOOLONG;
	else if (r == 0)
		memcpy(local, name, n + rest + 1);
	lf_bounce_put(b);
	return r;
}

/* lf_call for a request that names files by the caller's paths: wire and
 * (RENAME, LINK) wire2, each LEGO_PATH_MAX + 1 bytes, which links leaving
 * the store rewrite (lf_walk; nofollow: not by their last components).
 * LF_LOCAL when they now name local files, named in local (PATH_MAX bytes
 * a path); -EXDEV if one does and the other not.  (SYMLINK's wire2 is the
 * link's target, sent as it is.) */
static int lf_call_path(uint16_t op, struct lego_file_req *rq, char *wire, char *wire2,
			int nofollow, void *rep, size_t cap, size_t *replen, char *local)
{
	for (int hop = 0;; hop++) {
		rq->path_len = (uint16_t)strlen(wire);
		rq->path2_len = wire2 ? (uint16_t)strlen(wire2) : 0;
		char *paths = wire;
		if (wire2) { /* (both paths one after the other) */
			if (!(paths = lf_bounce_get()))
				return -ENOMEM;
			memcpy(paths, wire, rq->path_len);
			memcpy(paths + rq->path_len, wire2, rq->path2_len);
		}
		int r = lf_call(op, rq, paths, NULL, rep, cap, replen);
		if (wire2)
			lf_bounce_put(paths);
		if (r != -EXDEV || rq->ino)
			return r;
		if (hop == LF_HOPS)
			return -ELOOP;
		int moved = 0, out = 0;
		char *w[2] = {wire, op == X2F_SYMLINK ? NULL : wire2};
		for (int i = 0; i < 2 && w[i]; i++) {
			local[i * PATH_MAX] = 0;
			int k = lf_walk(w[i], nofollow, local + i * PATH_MAX);
			if (k < 0 && k != -EXDEV)
				return k;
			moved |= k == 1;
			out += k == 0;
		}
		if (out)
			return (w[1] && out == 1) || lf.links_refused ? -EXDEV : LF_LOCAL;
		if (!moved)
			return -EXDEV;
	}
}

/* -1 and errno of a system call made on a local name -> -errno. */
static long lf_neg(long r) { return r < 0 ? -errno : r; }

static int lf_open_wire(char *wire, int flags, mode_t mode, struct lego_fstat *st, char *local);

/* STAT of the open file that had store path wire (the memnode knows its
 * new name if it was renamed through it). */
static int lf_stat_ino(const char *wire, uint64_t ino, struct lego_fstat *f)
{
	struct lego_file_req rq = {.ino = ino, .path_len = (uint16_t)strlen(wire)};
	size_t rl = 0;
	int r = lf_call(X2F_STAT, &rq, wire, NULL, f, sizeof *f, &rl);
	return r ? r : rl < sizeof *f ? -EIO : 0;
}

/* STAT of a store path (nofollow: lstat); LF_LOCAL and its name in local
 * (PATH_MAX bytes) if it leads out of the store. */
static int lf_stat_wire(char *wire, int nofollow, struct lego_fstat *f, char *local)
{
	struct lego_file_req rq = {.flags = nofollow ? LEGO_F_NOFOLLOW : 0};
	size_t rl = 0;
	int r = lf_call_path(X2F_STAT, &rq, wire, NULL, nofollow, f, sizeof *f, &rl, local);
	return r ? r : rl < sizeof *f ? -EIO : 0;
}

/* STAT of an open file: -ESTALE once its path names another inode. */
static int lf_stat_file(const struct lf_file *e, struct lego_fstat *f)
{
	int r = lf_stat_ino(e->path, e->ino, f);
	return r ? r : f->ino != e->ino ? -ESTALE : 0;
}

static int lf_simple(uint16_t op, const struct lf_file *e, uint64_t off, uint32_t flags)
{
	struct lego_file_req rq = {.ino = e->ino, .off = off, .flags = flags, .path_len = e->plen};
	return lf_call(op, &rq, e->path, NULL, NULL, 0, NULL);
}

/* The process's umask, without changing it (from /proc; 022 if unknown). */
static mode_t lf_umask(void)
{
	char buf[2048];
	if (lg_read_small("/proc/self/status", buf, sizeof buf) <= 0)
		return 022;
	const char *u = strstr(buf, "Umask:");
	return u ? (mode_t)strtoul(u + 6, NULL, 8) & 0777 : 022;
}

/* ------------------------------------------------------------ placeholders */

static int lf_mkdir_checked(const char *d, mode_t m, int private_)
{
	long r = lf_sys(SYS_mkdir, d, m);
	if (r && r != -EEXIST)
		return (int)r;
	struct stat st;
	r = lf_sys(SYS_newfstatat, AT_FDCWD, d, &st, AT_SYMLINK_NOFOLLOW);
	if (r)
		return (int)r;
	if (!S_ISDIR(st.st_mode) || (private_ && (st.st_uid != geteuid() || (st.st_mode & 077))))
		return -EPERM;
	return 0;
}

static int lf_writable(const char *d)
{
	long r = lf_sys(SYS_faccessat2, AT_FDCWD, d, W_OK | X_OK, AT_EACCESS);
	if (r == -ENOSYS)
		r = lf_sys(SYS_faccessat, AT_FDCWD, d, W_OK | X_OK);
	return r == 0;
}

static int lf_phdir_init(void)
{
	if (lf_mkdir_checked("/run/lego", 0755, 0) == 0 &&
	    lf_mkdir_checked("/run/lego/files", 0700, 0) == 0 &&
	    lf_writable("/run/lego/files")) {
		snprintf(lf.phdir, sizeof lf.phdir, "/run/lego/files");
		return 0;
	}
	const char *t = secure_getenv("TMPDIR");
	char d[PATH_MAX];
	if (!t || t[0] != '/' || strlen(t) > sizeof d - 64)
		t = "/tmp";
	snprintf(d, sizeof d, "%s/lego-%u", t, (unsigned)geteuid());
	int r = lf_mkdir_checked(d, 0700, 1);
	if (r == 0) {
		snprintf(lf.phdir, sizeof lf.phdir, "%s/files", d);
		r = lf_mkdir_checked(lf.phdir, 0700, 1);
	}
	if (r) {
		lf.phdir[0] = 0;
		lg_logf(LG_ERROR, "file", "no directory for descriptor placeholders (/run/lego/files, "
			"%s/files: %s); opening files under /%s fails with EIO", d, strerror(-r),
			lf.prefix);
	}
	return r;
}

/* A placeholder's record of its Lego file or directory: MAGIC, then
 * "INO MODE\nSTORE-PATH", at offset off of the local file fd; written only
 * when it differs (placeholders are shared by every process of the host). */
static void lf_rec_put(int fd, off_t off, const char *magic, uint64_t ino, uint32_t mode,
		       const char *wire)
{
	char want[LEGO_PATH_MAX + 64], have[sizeof want];
	int wl = snprintf(want, sizeof want, "%s%llu %o\n%s", magic, (unsigned long long)ino,
			  (unsigned)mode, wire);
	long hl = lf_sys(SYS_pread64, fd, have, sizeof have, off);
	if (hl != wl || memcmp(have, want, (size_t)wl) != 0) {
		lf_sys(SYS_pwrite64, fd, want, (size_t)wl, off);
		lf_sys(SYS_ftruncate, fd, off + wl);
	}
}

/* The record of the local file `file` as a new lf_file (access acc), or
 * NULL if it has none. */
static struct lf_file *lf_rec_get(const char *file, off_t off, const char *magic, int acc)
{
	long fd = lf_sys(SYS_openat, AT_FDCWD, file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return NULL;
	char buf[LEGO_PATH_MAX + 64];
	long n = lf_sys(SYS_pread64, (int)fd, buf, sizeof buf - 1, off);
	lf_sys(SYS_close, (int)fd);
	size_t ml = strlen(magic);
	if (n < (long)ml || memcmp(buf, magic, ml) != 0)
		return NULL;
	buf[n] = 0;
	char *p = buf + ml, *nl = strchr(p, '\n');
	unsigned long long ino;
	unsigned mode;
	if (!nl || sscanf(p, "%llu %o", &ino, &mode) != 2)
		return NULL;
	return lf_new(nl + 1, ino, mode, acc);
}

/* The descriptor for an open store file: placeholder with its contents up
 * to date, reopened with the caller's access mode and status flags. */
static int lf_ph_open(const struct lego_fstat *st, const char *wire, int flags)
{
	if (!lf.phdir[0])
		return -EIO;
	char ph[sizeof lf.phdir + 48];
	snprintf(ph, sizeof ph, "%s/%llu-%llu", lf.phdir, (unsigned long long)st->dev,
		 (unsigned long long)st->ino);
	long fd = lf_sys(SYS_openat, AT_FDCWD, ph, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		lg_log_rl(LG_ERROR, "file", "placeholder %s: %s", ph, strerror((int)-fd));
		return fd == -EMFILE || fd == -ENFILE || fd == -ENOMEM ? (int)fd : -EIO;
	}
	lf_rec_put((int)fd, LF_META_OFF, LF_MAGIC, st->ino, st->mode, wire);
	lf_sys(SYS_close, (int)fd); /* before the reopen: the caller gets the lowest number */
	int acc = flags & O_ACCMODE;
	int pf = (flags & O_PATH) ? O_PATH : acc | (flags & (O_APPEND | O_NONBLOCK | O_SYNC));
	pf |= (flags & O_CLOEXEC) | O_NOFOLLOW;
	fd = lf_sys(SYS_openat, AT_FDCWD, ph, pf);
	return (int)fd;
}

static int lf_is_placeholder(const char *t)
{
	const char *name = strrchr(t, '/');
	if (!name || name == t)
		return 0;
	size_t dl = (size_t)(name - t);
	char own[32];
	snprintf(own, sizeof own, "/lego-%u/files", (unsigned)geteuid());
	size_t ol = strlen(own);
	int dir_ok = (dl >= 11 && memcmp(name - 11, "/lego/files", 11) == 0) ||
		     (dl >= ol && memcmp(name - ol, own, ol) == 0);
	unsigned long long a, b;
	char tail;
	return dir_ok && sscanf(name + 1, "%llu-%llu%c", &a, &b, &tail) == 2;
}

/* A descriptor inherited across exec: rebuild its record. */
static void lf_adopt(int fd, const char *target)
{
	long fl = lf_sys(SYS_fcntl, fd, F_GETFL);
	if (fl < 0)
		return;
	int acc = (fl & O_PATH) ? O_PATH : (int)(fl & O_ACCMODE);
	struct lf_file *e = lf_rec_get(target, LF_META_OFF, LF_MAGIC, acc);
	if (e)
		lf_put(lf_set(fd, e));
}

/* fn(dfd, name, type, arg) on each entry of the directory (dirfd, path),
 * "." and ".." too, until it returns nonzero: that value, 0, or -1 if the
 * directory cannot be read.  System calls only (a vforked child runs it). */
static int lf_dir_each(int dirfd, const char *path,
		       int (*fn)(int dfd, const char *name, int type, void *arg), void *arg)
{
	long dfd = lf_sys(SYS_openat, dirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -1;
	char buf[4096];
	int r = 0;
	for (long n; !r && (n = lf_sys(SYS_getdents64, (int)dfd, buf, sizeof buf)) > 0;)
		for (long o = 0; !r && o < n; o += ((struct dirent64 *)(buf + o))->d_reclen) {
			const struct dirent64 *d = (const struct dirent64 *)(buf + o);
			r = fn((int)dfd, d->d_name, d->d_type, arg);
		}
	lf_sys(SYS_close, (int)dfd);
	return r;
}

/* (lf_scan) A descriptor inherited on a placeholder gets its record. */
static int lf_scan_one(int dfd, const char *name, int type, void *arg)
{
	(void)type, (void)arg;
	char *end, target[PATH_MAX];
	long fd = strtol(name, &end, 10);
	if (*end || end == name || fd == dfd)
		return 0;
	long tl = lf_sys(SYS_readlinkat, dfd, name, target, sizeof target - 1);
	if (tl <= 0)
		return 0;
	target[tl] = 0;
	if (lf_is_placeholder(target))
		lf_adopt((int)fd, target);
	return 0;
}

static void lf_scan(void) { lf_dir_each(AT_FDCWD, "/proc/self/fd", lf_scan_one, NULL); }

void lg_file_received(int fd)
{
	char self[32], target[PATH_MAX];
	if (lf.mode != LF_ON || fd < 0 || lf_vforked())
		return;
	snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
	long tl = lf_sys(SYS_readlinkat, AT_FDCWD, self, target, sizeof target - 1);
	if (tl <= 0)
		return;
	target[tl] = 0;
	if (lf_is_placeholder(target))
		lf_adopt(fd, target);
	else
		lg_file_fresh(fd); /* (a stale record of that number goes) */
}

static void lf_atfork_prepare(void) { pthread_mutex_lock(&lf.lock); }
static void lf_atfork_parent(void) { pthread_mutex_unlock(&lf.lock); }
static void lf_atfork_child(void)
{
	pthread_mutex_init(&lf.lock, NULL);
}

static void lf_cwd_adopt(void);

void lg_file_init(void)
{
	if (lf.inited)
		return;
	lf.inited = 1;
	int s = atomic_load(&lg_rt.state), later = atomic_load(&lg_rt_deferred);
	if (!lg_rt.transparent || (s != LG_RT_RUNNING && s != LG_RT_OFF && !later))
		return;
	const char *p = lg_opt_s(&lg_rt.opts, LG_OPT_store_prefix);
	if (!p[0])
		return;
	size_t n = 0;
	if (p[0] != '/' || lf_append(lf.prefix, &n, p) || n == 0) {
		lg_logf(LG_ERROR, "config", "LEGO_STORE_PREFIX=%s: not an absolute path below / "
			"(use e.g. /lego); Lego files are off", p);
		return;
	}
	lf.links_refused = lg_opt_u(&lg_rt.opts, LG_OPT_store_links_out) == 1; /* (follow|refuse) */
	lf_phdir_init();
	pthread_atfork(lf_atfork_prepare, lf_atfork_parent, lf_atfork_child);
	lf.mode = s == LG_RT_RUNNING || later ? LF_ON : LF_DEAD;
	lf_scan();
	lf_cwd_adopt();
}

int lg_file_active(void) { return lf.mode != LF_OFF; }

void lg_file_exit(void)
{
	if (lf.mode != LF_ON || lf_vforked())
		return;
	lg_fmap_exit();
	for (int c = 0; c < LF_NCHUNK; c++) {
		_Atomic(struct lf_file *) *ch = atomic_load(&lf.chunk[c]);
		for (int i = 0; ch && i < LF_CHUNK; i++) {
			struct lf_file *e = lf_get(c * LF_CHUNK + i);
			if (e && e->acc != O_PATH && e->acc != O_RDONLY)
				lf_simple(X2F_CLOSE, e, 0, 0);
			lf_put(e);
		}
	}
}

int lg_file_statfs(int fd, const char *path, struct lego_statfs *out)
{
	char wire[LEGO_PATH_MAX + 1], local[PATH_MAX];
	int r = path ? lf_resolve(AT_FDCWD, path, wire) : lf_fd_wire(fd, wire);
	if (r <= 0)
		return r ? r : -ENOENT;
	struct lego_file_req rq = {0};
	size_t rl = 0;
	r = lf_call_path(X2F_STATFS, &rq, wire, NULL, 0, out, sizeof *out, &rl, local);
	if (r == 0 && rl >= sizeof *out)
		out->type = LG_FILE_FS_MAGIC; /* (the rest is the storenode's file system) */
	if (r == LF_LOCAL) { /* (a link out of the store) */
		struct statvfs v;
		struct statfs f;
		if (statvfs(local, &v) < 0 || statfs(local, &f) < 0)
			return -errno;
		*out = (struct lego_statfs){.type = (uint64_t)f.f_type, .bsize = v.f_bsize,
					    .frsize = v.f_frsize, .blocks = v.f_blocks,
					    .bfree = v.f_bfree, .bavail = v.f_bavail,
					    .files = v.f_files, .ffree = v.f_ffree,
					    .favail = v.f_favail, .fsid = v.f_fsid, .flag = v.f_flag,
					    .namemax = v.f_namemax};
		return 0;
	}
	return r ? r : rl < sizeof *out ? -EIO : 0;
}

/* ------------------------------------------------------ working directory */

#define LF_CWD_MAGIC "lego-cwd 1\n"

/* FNV-1a of the string s (its NUL too) continued from h (LF_HASH0 first). */
#define LF_HASH0 0xcbf29ce484222325ull
static uint64_t lf_hash(uint64_t h, const char *s)
{
	do
		h = (h ^ (uint8_t)*s) * 0x100000001b3ull;
	while (*s++);
	return h;
}

/* The local placeholder directory for a Lego working directory at wire:
 * <phdir>/cwd-<hash of wire>, holding a file ".lego" that names it. */
static void lf_cwd_dir(const char *wire, char *out, size_t cap)
{
	snprintf(out, cap, "%s/cwd-%016llx", lf.phdir, (unsigned long long)lf_hash(LF_HASH0, wire));
}

/* Make the Lego directory (wire, ino, mode) the working directory: the
 * kernel's goes to its placeholder, then lf.cwd names it. */
static int lf_cwd_set(const char *wire, uint64_t ino, uint32_t mode)
{
	if (!S_ISDIR(mode))
		return -ENOTDIR;
	if (!lf.phdir[0])
		return -EIO;
	char dir[sizeof lf.phdir + 32], file[sizeof dir + 8];
	lf_cwd_dir(wire, dir, sizeof dir);
	snprintf(file, sizeof file, "%s/.lego", dir);
	long r = lf_sys(SYS_mkdir, dir, 0700);
	if (r && r != -EEXIST)
		return -EIO;
	long fd = lf_sys(SYS_openat, AT_FDCWD, file, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -EIO;
	lf_rec_put((int)fd, 0, LF_CWD_MAGIC, ino, mode, wire);
	lf_sys(SYS_close, (int)fd);
	if (lf_vforked()) /* (before exec, which adopts it: our memory is the parent's) */
		return (int)lf_sys(SYS_chdir, dir);
	struct lf_file *e = lf_new(wire, ino, mode, O_PATH);
	if (!e)
		return -ENOMEM;
	if ((r = lf_sys(SYS_chdir, dir)) != 0) {
		lf_put(e);
		return (int)r;
	}
	pthread_mutex_lock(&lf.lock);
	struct lf_file *old = atomic_exchange(&lf.cwd, e);
	pthread_mutex_unlock(&lf.lock);
	lf_put(old);
	return 0;
}

void lg_file_cwd_local(void)
{
	if (!atomic_load_explicit(&lf.cwd, memory_order_relaxed) || lf_vforked())
		return;
	pthread_mutex_lock(&lf.lock);
	struct lf_file *old = atomic_exchange(&lf.cwd, NULL);
	pthread_mutex_unlock(&lf.lock);
	lf_put(old);
}

/* Is the kernel's working directory one of our placeholders?  1 if so,
 * and (if out) the record of the Lego directory it stands for (a
 * reference, NULL if it cannot be read), else 0. */
static int lf_cwd_kernel(struct lf_file **out)
{
	char cwd[PATH_MAX], file[PATH_MAX + 8];
	if (out)
		*out = NULL;
	if (!lf.phdir[0] || lf_sys(SYS_getcwd, cwd, sizeof cwd) <= 0)
		return 0;
	size_t pl = strlen(lf.phdir);
	if (strncmp(cwd, lf.phdir, pl) != 0 || strncmp(cwd + pl, "/cwd-", 5) != 0 ||
	    strchr(cwd + pl + 1, '/'))
		return 0;
	if (!out)
		return 1;
	snprintf(file, sizeof file, "%s/.lego", cwd);
	struct lf_file *e = lf_rec_get(file, 0, LF_CWD_MAGIC, O_PATH);
	if (e && !S_ISDIR(e->mode)) {
		lf_put(e);
		e = NULL;
	}
	*out = e;
	return 1;
}

/* After exec: a kernel working directory that is one of our placeholders
 * names a Lego working directory. */
static void lf_cwd_adopt(void)
{
	struct lf_file *e;
	if (lf_cwd_kernel(&e) && e)
		lf_put(atomic_exchange(&lf.cwd, e));
}

/* path, made absolute against the Lego working directory e and with "."
 * and ".." taken out by name, into out ("/..."); 0 or -ENAMETOOLONG. */
static int lf_cwd_join(const struct lf_file *e, const char *path, char *out, size_t cap)
{
	char whole[2 * LEGO_PATH_MAX + 8];
	int n = snprintf(whole, sizeof whole, "/%s/%s/%s", lf.prefix, e->path, path);
	if (n < 0 || (size_t)n >= sizeof whole)
		return -ENAMETOOLONG;
	size_t o = 0;
	const char *s = whole, *c;
	size_t l;
	while ((l = lf_comp(&s, &c)) != 0) {
		if (l == 1 && c[0] == '.')
			continue;
		if (l == 2 && c[0] == '.' && c[1] == '.') {
			while (o > 0 && out[o - 1] != '/')
				o--;
			if (o > 0)
				o--; /* (the slash; at "/" already: stays there) */
			continue;
		}
		if (o + 1 + l + 1 > cap)
			return -ENAMETOOLONG;
		out[o++] = '/';
		memcpy(out + o, c, l);
		o += l;
	}
	if (o == 0)
		out[o++] = '/';
	out[o] = 0;
	return 0;
}

int lg_file_chdir(int fd, const char *path)
{
	struct lego_fstat f;
	int r;
	if (!path) { /* fchdir */
		struct lf_file *e = lf_get(fd);
		if (!e)
			return -EBADF;
		r = lf_cwd_set(e->path, e->ino, e->mode);
		lf_put(e);
		return r;
	}
	char wire[LEGO_PATH_MAX + 1];
	if (path[0] != '/') {
		/* relative to a Lego working directory: by name, so that ".."
		 * may lead out of the store (cd .. from /lego) */
		struct lf_file *e = lf_cwd_get();
		if (!e)
			return -ENOENT; /* (not Lego: the caller's real chdir) */
		char abs[2 * LEGO_PATH_MAX + 8];
		r = path[0] ? lf_cwd_join(e, path, abs, sizeof abs) : -ENOENT;
		lf_put(e);
		if (r)
			return r;
		r = lf_match(abs, wire);
		if (r == 0) { /* out of the store: a local directory */
			r = (int)lf_sys(SYS_chdir, abs);
			if (r == 0)
				lg_file_cwd_local();
			return r;
		}
	} else {
		r = lf_match(path, wire);
	}
	if (r <= 0)
		return r ? r : -ENOENT;
	/* (by OPEN, which names the directory without links, as getcwd
	 * does; one that may not be read, by STAT) */
	char local[PATH_MAX];
	r = lf_open_wire(wire, O_RDONLY | O_DIRECTORY, 0, &f, local);
	if (r == -EACCES)
		r = lf_stat_wire(wire, 0, &f, local);
	if (r == LF_LOCAL) {
		r = (int)lf_sys(SYS_chdir, local);
		if (r == 0)
			lg_file_cwd_local();
		return r;
	}
	if (r)
		return r;
	return lf_cwd_set(wire, f.ino, f.mode);
}

int lg_file_getcwd(char *buf, size_t size)
{
	struct lf_file *e = lf_cwd_get();
	if (!e)
		return 0;
	int n = lf_lego_name(e->path, buf, size);
	lf_put(e);
	return n < 0 || (size_t)n >= size ? -ERANGE : 1;
}

int lg_file_path_flags(int dirfd, const char *path, int flags)
{
	if (!(flags & AT_SYMLINK_NOFOLLOW) || lg_likely(lf.mode == LF_OFF) || !path ||
	    path[0] != '/' || lg_inside() || lf_match(path, NULL) != 0)
		return lg_file_path(dirfd, path);
	return 0; /* (a name of a descriptor is a link, not followed) */
}

int lg_file_fdlink(const char *path, char *buf, size_t n, size_t *len)
{
	int kind, fd;
	char wire[LEGO_PATH_MAX + 1], full[2 * LEGO_PATH_MAX + 3];
	if (lg_likely(lf.mode == LF_OFF) || !path || path[0] != '/' || lg_inside() ||
	    (fd = lf_fd_named(path)) < 0)
		return 0;
	lf_fd_name(path, &kind);
	if (kind == 1)
		return 1;
	if (lf_fd_wire(fd, wire) < 0)
		return 0;
	int l = lf_lego_name(wire, full, sizeof full);
	*len = LG_MIN((size_t)l, n);
	memcpy(buf, full, *len);
	return 2;
}

/* ------------------------------------------------------------------- open */

/* OPEN of store path wire, which becomes the path of the file opened (its
 * links followed, as the kernel names an open file); LF_LOCAL and the name
 * in local for a link out of the store. */
static int lf_open_wire(char *wire, int flags, mode_t mode, struct lego_fstat *st, char *local)
{
	/* (O_CREAT | O_EXCL does not follow a link either) */
	int nofollow = (flags & O_NOFOLLOW) || (flags & (O_CREAT | O_EXCL)) == (O_CREAT | O_EXCL);
	struct lego_file_req rq = {.flags = (uint32_t)(flags & ~O_CLOEXEC), .mode = (uint32_t)mode};
	struct {
		struct lego_fstat st;
		char path[LEGO_PATH_MAX];
	} rep;
	size_t rl = 0;
	int r = lf_call_path(X2F_OPEN, &rq, wire, NULL, nofollow, &rep, sizeof rep, &rl, local);
	if (r)
		return r;
	if (rl < sizeof rep.st)
		return -EIO;
	*st = rep.st;
	if (rl > sizeof rep.st) {
		memcpy(wire, rep.path, rl - sizeof rep.st);
		wire[rl - sizeof rep.st] = 0;
	}
	return 0;
}

int lg_file_open(int dirfd, const char *path, int flags, mode_t mode)
{
	char wire[LEGO_PATH_MAX + 1];
	int r = lf_resolve(dirfd, path, wire);
	if (r <= 0)
		return r ? r : -EBADF;
	if ((flags & __O_TMPFILE) == __O_TMPFILE)
		return -EOPNOTSUPP;
	int acc = flags & O_ACCMODE;
	if (acc == O_ACCMODE && !(flags & O_PATH))
		return -EINVAL;
	struct lego_fstat st;
	char local[PATH_MAX];
	if (flags & O_PATH) {
		r = lf_stat_wire(wire, !!(flags & O_NOFOLLOW), &st, local);
		if (r == 0 && (flags & O_DIRECTORY) && !S_ISDIR(st.mode))
			r = -ENOTDIR;
		acc = O_PATH;
	} else {
		r = lf_open_wire(wire, flags, flags & O_CREAT ? mode & 07777 & ~lf_umask() : 0, &st,
				 local);
		if (r == 0 && S_ISDIR(st.mode) && acc != O_RDONLY)
			r = -EISDIR; /* the storenode refuses that too; be sure */
	}
	if (r == LF_LOCAL)
		return (int)lf_neg(openat(AT_FDCWD, local, flags, mode));
	if (r)
		return r;
	struct lf_file *e = lf_new(wire, st.ino, st.mode, acc);
	int fd = e ? lf_ph_open(&st, wire, flags) : -ENOMEM;
	if (fd >= LF_FD_MAX) {
		lf_sys(SYS_close, fd);
		fd = -EMFILE;
	}
	if (fd < 0) {
		if (acc != O_PATH) {
			struct lego_file_req rq = {.ino = st.ino, .path_len = (uint16_t)strlen(wire)};
			lf_call(X2F_CLOSE, &rq, wire, NULL, NULL, 0, NULL);
		}
		lf_put(e);
		return fd;
	}
	lf_put(lf_set(fd, e)); /* a stale record there (closed behind us) goes */
	return fd;
}

int lg_file_fopen_flags(const char *m, int *flags)
{
	int f;
	switch (*m++) {
	case 'r': f = O_RDONLY; break;
	case 'w': f = O_WRONLY | O_CREAT | O_TRUNC; break;
	case 'a': f = O_WRONLY | O_CREAT | O_APPEND; break;
	default: return -EINVAL;
	}
	for (; *m && *m != ','; m++) {
		if (*m == '+')
			f = (f & ~O_ACCMODE) | O_RDWR;
		else if (*m == 'x')
			f |= O_EXCL;
		else if (*m == 'e')
			f |= O_CLOEXEC;
	}
	*flags = f;
	return 0;
}

/* ------------------------------------------------------------ read, write */

/* Read or write n bytes at off (-1: at the file offset, which moves). */
static ssize_t lf_io(struct lf_file *e, int fd, void *buf, size_t n, int64_t off, int wr)
{
	if (e->acc == O_PATH || (wr ? e->acc == O_RDONLY : e->acc == O_WRONLY))
		return -EBADF;
	if (S_ISDIR(e->mode))
		return -EISDIR;
	long fl = 0;
	if (wr && fd >= 0 && (fl = lf_sys(SYS_fcntl, fd, F_GETFL)) < 0)
		return fl;
	int at_pos = off < 0, append = wr && (fl & O_APPEND);
	int64_t pos = append ? 0 : off; /* (an append learns its place from the reply) */
	if (!append && at_pos && (pos = lf_sys(SYS_lseek, fd, 0, SEEK_CUR)) < 0)
		return pos;
	if (n > LF_RW_MAX)
		n = LF_RW_MAX;
	if (n > (uint64_t)(INT64_MAX - pos)) {
		if (wr)
			return -EFBIG;
		n = (size_t)(INT64_MAX - pos);
	}
	if (n == 0)
		return 0;
	uint8_t *b = lf_bounce_get();
	if (!b)
		return -ENOMEM;
	size_t done = 0;
	int r = 0;
	while (done < n) {
		size_t c = LG_MIN(n - done, (size_t)LEGO_FILE_IO_MAX);
		struct lego_file_req rq = {.ino = e->ino, .off = (uint64_t)pos + done, .len = c,
					   .path_len = e->plen};
		size_t got = 0;
		if (wr) {
			int first = append && done == 0;
			struct lego_append_rep ar = {0};
			size_t rl = 0, want = first ? sizeof ar : sizeof ar.count;
			rq.flags = first ? LEGO_F_APPEND : 0;
			memcpy(b, (const uint8_t *)buf + done, c);
			r = lf_call(X2F_WRITE, &rq, e->path, b, &ar, sizeof ar, &rl);
			if (r == 0 && (rl < want || ar.count > c || (first && ar.off > (uint64_t)INT64_MAX)))
				r = -EIO;
			got = r ? 0 : ar.count;
			if (first && r == 0)
				pos = (int64_t)ar.off;
		} else {
			r = lf_call(X2F_READ, &rq, e->path, NULL, b, c, &got);
			if (r == 0 && got > c)
				r = -EIO;
			if (r == 0)
				memcpy((uint8_t *)buf + done, b, got);
		}
		if (r)
			break;
		done += got;
		if (got < c)
			break;
	}
	lf_bounce_put(b);
	if (done == 0 && r)
		return r;
	if (fd >= 0 && done && atomic_load_explicit(&lg_fmap_live, memory_order_relaxed))
		lg_fmap_io(e->ino, buf, done, (uint64_t)pos, wr); /* (its shared mappings') */
	if (at_pos && done)
		lf_sys(SYS_lseek, fd, pos + (int64_t)done, SEEK_SET);
	if (wr && done && (fl & O_DSYNC))
		lf_simple(X2F_FSYNC, e, 0, (fl & O_SYNC) == O_SYNC ? 0 : LEGO_F_DATASYNC);
	return (ssize_t)done;
}

struct lf_file *lg_file_ref_get(int fd, struct lego_fstat *st, int *acc)
{
	struct lf_file *e = lf_get(fd);
	if (e && lf_stat_file(e, st) != 0) {
		lf_put(e);
		return NULL;
	}
	if (e)
		*acc = e->acc;
	return e;
}

void lg_file_ref_put(struct lf_file *f) { lf_put(f); }

ssize_t lg_file_ref_io(struct lf_file *f, void *buf, size_t n, off_t off, int wr)
{
	return lf_io(f, -1, buf, n, off, wr);
}

int lg_file_ref_sync(struct lf_file *f, int fsync)
{
	int r = lf_simple(fsync ? X2F_FSYNC : X2F_CLOSE, f, 0, 0);
	return r == -ESTALE || r == -ENOENT ? 0 : r; /* (gone from the store) */
}

int lg_file_ref_stat(struct lf_file *f, struct lego_fstat *st) { return lf_stat_file(f, st); }

const char *lg_file_ref_path(const struct lf_file *f) { return f->path; }

static ssize_t lf_io_fd(int fd, void *buf, size_t n, int64_t off, int wr)
{
	struct lf_file *e = lf_get(fd);
	if (!e)
		return -EBADF;
	ssize_t r = lf_io(e, fd, buf, n, off, wr);
	lf_put(e);
	return r;
}

ssize_t lg_file_read(int fd, void *buf, size_t n) { return lf_io_fd(fd, buf, n, -1, 0); }

ssize_t lg_file_write(int fd, const void *buf, size_t n)
{
	return lf_io_fd(fd, (void *)buf, n, -1, 1);
}

ssize_t lg_file_pread(int fd, void *buf, size_t n, off_t off)
{
	return off < 0 ? -EINVAL : lf_io_fd(fd, buf, n, off, 0);
}

ssize_t lg_file_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return off < 0 ? -EINVAL : lf_io_fd(fd, (void *)buf, n, off, 1);
}

static ssize_t lf_iov(int fd, const struct iovec *iov, int cnt, off_t off, int wr)
{
	if (cnt < 0 || cnt > IOV_MAX)
		return -EINVAL;
	struct lf_file *e = lf_get(fd);
	if (!e)
		return -EBADF;
	ssize_t total = 0, r = 0;
	for (int i = 0; i < cnt; i++) {
		if (!iov[i].iov_len)
			continue;
		r = lf_io(e, fd, iov[i].iov_base, iov[i].iov_len, off < 0 ? -1 : off + total, wr);
		if (r <= 0)
			break;
		total += r;
		if ((size_t)r < iov[i].iov_len)
			break;
	}
	lf_put(e);
	return total ? total : r;
}

ssize_t lg_file_readv(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return lf_iov(fd, iov, cnt, off, 0);
}

ssize_t lg_file_writev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	return lf_iov(fd, iov, cnt, off, 1);
}

off_t lg_file_lseek(int fd, off_t off, int whence)
{
	struct lf_file *e = lf_get(fd);
	if (!e)
		return -EBADF;
	long r;
	struct lego_fstat st;
	if (e->acc == O_PATH) {
		r = -EBADF;
	} else if (whence == SEEK_SET || whence == SEEK_CUR) {
		r = lf_sys(SYS_lseek, fd, off, whence);
	} else if (whence != SEEK_END && whence != SEEK_DATA && whence != SEEK_HOLE) {
		r = -EINVAL;
	} else if ((r = lf_stat_file(e, &st)) == 0) {
		int64_t size = (int64_t)st.size, to;
		if (whence == SEEK_END)
			r = __builtin_add_overflow(size, off, &to) ? -EOVERFLOW : to < 0 ? -EINVAL : 0;
		else if (off < 0 || off >= size)
			r = -ENXIO;
		else
			to = whence == SEEK_DATA ? off : size;
		if (r == 0)
			r = lf_sys(SYS_lseek, fd, to, SEEK_SET);
	}
	lf_put(e);
	return r;
}

/* ------------------------------------------------------ descriptors */

/* The record at fd went (closed, or replaced by dup2): write-back. */
static int lf_release(struct lf_file *e)
{
	int r = 0;
	if (e && e->acc != O_PATH) {
		r = lf_simple(X2F_CLOSE, e, 0, 0);
		if (r == -ESTALE || r == -ENOENT)
			r = 0; /* gone from the store: nothing to write back to */
	}
	lf_put(e);
	return r;
}

int lg_file_close(int fd)
{
	if (lf_vforked()) /* the table is our parent's */
		return (int)lf_sys(SYS_close, fd);
	struct lf_file *e = lf_set(fd, NULL);
	int r = e ? lf_release(e) : 0;
	long c = lf_sys(SYS_close, fd);
	return c && c != -EINTR ? (int)c : r;
}

int lg_fd_kept(int fd)
{
	if (lg_inside() || fd < lg_fd_low() || !lg_fd_owned(fd))
		return 0;
	static _Atomic int said;
	if (!atomic_exchange(&said, 1))
		lg_log(LG_INFO, "file", "the program closes or replaces descriptor %d, which is "
		       "Lego's own: it stays open (so do the others)", fd);
	return 1;
}

int lg_file_close_range(unsigned first, unsigned last, int flags)
{
	if (!(flags & CLOSE_RANGE_CLOEXEC) && lf.mode != LF_OFF && first < LF_FD_MAX &&
	    !lf_vforked()) {
		unsigned hi = LG_MIN(last, (unsigned)LF_FD_MAX - 1);
		for (unsigned fd = first; fd <= hi; fd++) {
			if (fd % LF_CHUNK == 0 && !atomic_load(&lf.chunk[fd / LF_CHUNK])) {
				fd += LF_CHUNK - 1; /* a whole chunk never used */
				continue;
			}
			if (lg_file_fd((int)fd))
				lg_file_close((int)fd);
		}
	}
	if ((flags & CLOSE_RANGE_CLOEXEC) || lg_inside())
		return (int)lf_sys(SYS_close_range, first, last, flags);
	/* around the runtime's own descriptors */
	long r = 0;
	for (unsigned lo = first; r == 0 && lo <= last;) {
		unsigned low = (unsigned)lg_fd_low();
		int k = last >= low ? lg_fd_next_owned((int)LG_MAX(lo, low)) : -1;
		if (k < 0 || (unsigned)k > last) {
			r = lf_sys(SYS_close_range, lo, last, flags);
			break;
		}
		lg_fd_kept(k);
		if ((unsigned)k > lo)
			r = lf_sys(SYS_close_range, lo, (unsigned)k - 1, flags);
		flags &= ~CLOSE_RANGE_UNSHARE; /* unshared once is enough */
		if ((unsigned)k == ~0u)
			break;
		lo = (unsigned)k + 1;
	}
	return (int)r;
}

int lg_file_dup(int oldfd, int newfd, int flags)
{
	long r;
	if (newfd < 0)
		r = lf_sys(SYS_fcntl, oldfd, flags & O_CLOEXEC ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
	else if (oldfd == newfd && flags == 0) /* dup2 to itself: just check */
		r = lf_sys(SYS_fcntl, oldfd, F_GETFD) < 0 ? -EBADF : newfd;
	else
		r = lf_sys(SYS_dup3, oldfd, newfd, flags);
	if (r < 0 || r == oldfd || lf_vforked())
		return (int)r;
	struct lf_file *e = lf_get(oldfd);
	if (e && r >= LF_FD_MAX) {
		lf_sys(SYS_close, (int)r);
		lf_put(e);
		return -EMFILE;
	}
	return lf_release(lf_set((int)r, e)), (int)r;
}

int lg_file_fcntl(int fd, int cmd, unsigned long arg)
{
	switch (cmd) {
	case F_DUPFD:
	case F_DUPFD_CLOEXEC: {
		long r = lf_sys(SYS_fcntl, fd, cmd, arg);
		if (r < 0 || lf_vforked())
			return (int)r;
		struct lf_file *e = lf_get(fd);
		if (e && r >= LF_FD_MAX) {
			lf_sys(SYS_close, (int)r);
			lf_put(e);
			return -EMFILE;
		}
		lf_put(lf_set((int)r, e));
		return (int)r;
	}
	case F_SETFL:
		arg &= ~(unsigned long)O_DIRECT; /* the placeholder's filesystem may refuse it */
		break;
	}
	/* flags, descriptor flags and locks: the placeholder's */
	return (int)lf_sys(SYS_fcntl, fd, cmd, arg);
}

/* ---------------------------------------------------------- attributes */

static void lf_fill_stat(struct stat *st, const struct lego_fstat *f)
{
	memset(st, 0, sizeof *st);
	st->st_dev = f->dev;
	st->st_ino = f->ino;
	st->st_mode = f->mode;
	st->st_nlink = f->nlink;
	st->st_uid = f->uid;
	st->st_gid = f->gid;
	st->st_size = (off_t)f->size;
	st->st_blksize = f->blksize;
	st->st_blocks = (blkcnt_t)f->blocks;
	st->st_atim = lego_time_ts(f->atime_ns);
	st->st_mtim = lego_time_ts(f->mtime_ns);
	st->st_ctim = lego_time_ts(f->ctime_ns);
}

static int lf_fstat_fd(int fd, struct lego_fstat *f)
{
	struct lf_file *e = lf_get(fd);
	if (!e)
		return -EBADF;
	int r = lf_stat_file(e, f);
	lf_put(e);
	return r;
}

/* fstatat semantics into f; LF_LOCAL and the name in local (PATH_MAX
 * bytes) for a link out of the store. */
static int lf_stat_at(int dirfd, const char *path, int flags, struct lego_fstat *f, char *local)
{
	if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT |
		      AT_STATX_SYNC_TYPE))
		return -EINVAL;
	if (path && !path[0]) {
		if (!(flags & AT_EMPTY_PATH))
			return -ENOENT;
		return lf_fstat_fd(dirfd, f);
	}
	char wire[LEGO_PATH_MAX + 1];
	int r = lf_resolve(dirfd, path, wire);
	if (r <= 0)
		return r ? r : -EBADF;
	return lf_stat_wire(wire, !!(flags & AT_SYMLINK_NOFOLLOW), f, local);
}

int lg_file_fstat(int fd, struct stat *st)
{
	struct lego_fstat f;
	int r = lf_fstat_fd(fd, &f);
	if (r == 0)
		lf_fill_stat(st, &f);
	return r;
}

int lg_file_stat(int dirfd, const char *path, struct stat *st, int flags)
{
	struct lego_fstat f;
	char local[PATH_MAX];
	int r = lf_stat_at(dirfd, path, flags, &f, local);
	if (r == LF_LOCAL)
		return (int)lf_neg(fstatat(AT_FDCWD, local, st, flags & AT_SYMLINK_NOFOLLOW));
	if (r == 0)
		lf_fill_stat(st, &f);
	return r;
}

int lg_file_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *x)
{
	struct lego_fstat f;
	char local[PATH_MAX];
	int r = lf_stat_at(dirfd, path, flags, &f, local);
	if (r == LF_LOCAL)
		return (int)lf_neg(statx(AT_FDCWD, local, flags & ~AT_EMPTY_PATH, mask, x));
	if (r)
		return r;
	memset(x, 0, sizeof *x);
	x->stx_mask = STATX_BASIC_STATS;
	x->stx_blksize = f.blksize;
	x->stx_nlink = f.nlink;
	x->stx_uid = f.uid;
	x->stx_gid = f.gid;
	x->stx_mode = (uint16_t)f.mode;
	x->stx_ino = f.ino;
	x->stx_size = f.size;
	x->stx_blocks = f.blocks;
	struct statx_timestamp *t[3] = {&x->stx_atime, &x->stx_mtime, &x->stx_ctime};
	uint64_t ns[3] = {f.atime_ns, f.mtime_ns, f.ctime_ns};
	for (int i = 0; i < 3; i++) {
		struct timespec ts = lego_time_ts(ns[i]);
		t[i]->tv_sec = ts.tv_sec;
		t[i]->tv_nsec = (uint32_t)ts.tv_nsec;
	}
	x->stx_dev_major = major(f.dev);
	x->stx_dev_minor = minor(f.dev);
	return 0;
}

int lg_file_access(int dirfd, const char *path, int mode, int flags)
{
	if (mode & ~(R_OK | W_OK | X_OK) || flags & ~(AT_EACCESS | AT_SYMLINK_NOFOLLOW))
		return -EINVAL;
	struct lego_fstat f;
	char local[PATH_MAX];
	int r = lf_stat_at(dirfd, path, flags & AT_SYMLINK_NOFOLLOW, &f, local);
	if (r == LF_LOCAL)
		return (int)lf_neg(faccessat(AT_FDCWD, local, mode, flags));
	if (r || mode == F_OK)
		return r;
	/* The storenode acts as the files' owner: the owner's bits apply. */
	uid_t uid = (flags & AT_EACCESS) ? geteuid() : getuid();
	if (uid == 0)
		return !(mode & X_OK) || (f.mode & 0111) || S_ISDIR(f.mode) ? 0 : -EACCES;
	return ((f.mode >> 6) & (unsigned)mode) == (unsigned)mode ? 0 : -EACCES;
}

int lg_file_chown(int dirfd, const char *path, uid_t owner, gid_t group, int flags)
{
	struct lego_fstat f;
	char local[PATH_MAX];
	int r = lf_stat_at(dirfd, path, flags & (AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH), &f, local);
	return r == LF_LOCAL ? (int)lf_neg(fchownat(AT_FDCWD, local, owner, group,
						     flags & AT_SYMLINK_NOFOLLOW))
			     : r;
}

/* SETATTR (sa: LEGO_SA_*) of path beneath dirfd, or with "" and
 * AT_EMPTY_PATH of the open file dirfd (which must still be at its path);
 * LF_LOCAL and the name in local for a link out of the store. */
static int lf_setattr(int dirfd, const char *path, int flags, uint32_t sa, mode_t mode,
		      int64_t atime, int64_t mtime, char *local)
{
	struct lego_fstat f;
	struct lego_file_req rq = {.flags = sa | (flags & AT_SYMLINK_NOFOLLOW ? LEGO_F_NOFOLLOW : 0),
				   .mode = (uint32_t)mode,
				   .off = (uint64_t)atime,
				   .len = (uint64_t)mtime};
	if (!path[0]) {
		if (!(flags & AT_EMPTY_PATH))
			return -ENOENT;
		struct lf_file *e = lf_get(dirfd);
		if (!e)
			return -EBADF;
		rq.ino = e->ino;
		rq.path_len = e->plen;
		int r = lf_call(X2F_SETATTR, &rq, e->path, NULL, &f, sizeof f, NULL);
		lf_put(e);
		return r;
	}
	char wire[LEGO_PATH_MAX + 1];
	int r = lf_resolve(dirfd, path, wire);
	if (r <= 0)
		return r ? r : -EBADF;
	return lf_call_path(X2F_SETATTR, &rq, wire, NULL, !!(flags & AT_SYMLINK_NOFOLLOW), &f,
			    sizeof f, NULL, local);
}

int lg_file_chmod(int dirfd, const char *path, mode_t mode, int flags)
{
	if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	char local[PATH_MAX];
	int r = lf_setattr(dirfd, path, flags, LEGO_SA_MODE, mode & 07777, 0, 0, local);
	return r == LF_LOCAL ? (int)lf_neg(fchmodat(AT_FDCWD, local, mode,
						     flags & AT_SYMLINK_NOFOLLOW))
			     : r;
}

/* One of utimensat's times: its LEGO_SA_ bits and nanoseconds. */
static int lf_time(const struct timespec *t, uint32_t set, uint32_t now, uint32_t *sa, int64_t *ns)
{
	if (!t || t->tv_nsec == UTIME_NOW) {
		*sa |= now;
		return 0;
	}
	if (t->tv_nsec == UTIME_OMIT)
		return 0;
	if (t->tv_nsec < 0 || t->tv_nsec >= 1000000000 || t->tv_sec > INT64_MAX / 1000000000 - 1 ||
	    t->tv_sec < INT64_MIN / 1000000000 + 1)
		return -EINVAL; /* (beyond what the wire's nanoseconds hold: year 2262) */
	*sa |= set;
	*ns = (int64_t)lego_time_wire(*t);
	return 0;
}

int lg_file_utimens(int dirfd, const char *path, const struct timespec ts[2], int flags)
{
	if (flags & ~(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	uint32_t sa = 0;
	int64_t at = 0, mt = 0;
	int r = lf_time(ts ? &ts[0] : NULL, LEGO_SA_ATIME, LEGO_SA_ATIME_NOW, &sa, &at);
	if (r == 0)
		r = lf_time(ts ? &ts[1] : NULL, LEGO_SA_MTIME, LEGO_SA_MTIME_NOW, &sa, &mt);
	if (r)
		return r;
	if (!sa) /* both UTIME_OMIT: nothing changes, but the file must be there */
		return lg_file_chown(dirfd, path, (uid_t)-1, (gid_t)-1, flags);
	char local[PATH_MAX];
	r = lf_setattr(dirfd, path, flags, sa, 0, at, mt, local);
	return r == LF_LOCAL ? (int)lf_neg(utimensat(AT_FDCWD, local, ts,
						      flags & AT_SYMLINK_NOFOLLOW))
			     : r;
}

/* ------------------------------------------------------ changes */

int lg_file_fsync(int fd, int datasync)
{
	struct lf_file *e = lf_get(fd);
	if (!e)
		return -EBADF;
	int r = e->acc == O_PATH ? -EBADF
				 : lf_simple(X2F_FSYNC, e, 0, datasync ? LEGO_F_DATASYNC : 0);
	lf_put(e);
	return r;
}

int lg_file_ftruncate(int fd, off_t len)
{
	struct lf_file *e = lf_get(fd);
	if (!e)
		return -EBADF;
	int r;
	if (e->acc == O_PATH)
		r = -EBADF;
	else if (len < 0 || e->acc == O_RDONLY || !S_ISREG(e->mode))
		r = -EINVAL;
	else
		r = lf_simple(X2F_TRUNCATE, e, (uint64_t)len, 0);
	if (r == 0 && atomic_load_explicit(&lg_fmap_live, memory_order_relaxed))
		lg_fmap_truncate(e->ino, (uint64_t)len);
	lf_put(e);
	return r;
}

int lg_file_fallocate(int fd, int mode, off_t off, off_t len)
{
	struct lf_file *e = lf_get(fd);
	if (!e)
		return -EBADF;
	int r = 0;
	if (e->acc == O_PATH || e->acc == O_RDONLY)
		r = -EBADF;
	else if (!S_ISREG(e->mode))
		r = S_ISDIR(e->mode) ? -EISDIR : -ENODEV;
	else if (off < 0 || len <= 0)
		r = -EINVAL;
	else if (len > INT64_MAX - off)
		r = -EFBIG;
	else if (mode & ~FALLOC_FL_KEEP_SIZE)
		r = -EOPNOTSUPP; /* (punching holes, zeroing ranges) */
	else if (!(mode & FALLOC_FL_KEEP_SIZE))
		r = lf_simple(X2F_TRUNCATE, e, (uint64_t)(off + len), LEGO_F_EXTEND);
	lf_put(e);
	return r;
}

int lg_file_truncate(const char *path, off_t len)
{
	char wire[LEGO_PATH_MAX + 1];
	int r = lf_resolve(AT_FDCWD, path, wire);
	if (r <= 0)
		return r ? r : -ENOENT;
	if (len < 0)
		return -EINVAL;
	struct lego_fstat f;
	char local[PATH_MAX];
	if ((r = lf_stat_wire(wire, 0, &f, local)) == LF_LOCAL)
		return (int)lf_neg(truncate(local, len));
	if (r)
		return r;
	if (S_ISDIR(f.mode))
		return -EISDIR;
	struct lego_file_req rq = {.ino = f.ino, .off = (uint64_t)len,
				   .path_len = (uint16_t)strlen(wire)};
	return lf_call(X2F_TRUNCATE, &rq, wire, NULL, NULL, 0, NULL);
}

int lg_file_unlink(int dirfd, const char *path, int flags)
{
	if (flags & ~AT_REMOVEDIR)
		return -EINVAL;
	char wire[LEGO_PATH_MAX + 1];
	int r = lf_resolve(dirfd, path, wire);
	if (r <= 0)
		return r ? r : -EBADF;
	struct lego_file_req rq = {0};
	struct lego_unlink_rep ur;
	char local[PATH_MAX];
	r = lf_call_path(flags ? X2F_RMDIR : X2F_UNLINK, &rq, wire, NULL, 1, &ur, sizeof ur, NULL,
			 local);
	return r == LF_LOCAL ? (int)lf_neg(unlinkat(AT_FDCWD, local, flags)) : r;
}

int lg_file_rename(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
		   unsigned flags)
{
	char w1[LEGO_PATH_MAX + 1], w2[LEGO_PATH_MAX + 1];
	int a = lf_resolve(olddirfd, oldpath, w1);
	int b = lf_resolve(newdirfd, newpath, w2);
	if (a < 0 || b < 0)
		return a < 0 ? a : b;
	if (!a || !b)
		return -EXDEV; /* (mv copies then) */
	if (flags)
		return -EINVAL; /* no RENAME_NOREPLACE/EXCHANGE in the store protocol */
	char *local = lf_bounce_get();
	if (!local)
		return -ENOMEM;
	struct lego_file_req rq = {0};
	int r = lf_call_path(X2F_RENAME, &rq, w1, w2, 1, NULL, 0, NULL, local);
	if (r == LF_LOCAL)
		r = (int)lf_neg(rename(local, local + PATH_MAX));
	lf_bounce_put(local);
	return r;
}

int lg_file_mkdir(int dirfd, const char *path, mode_t mode)
{
	char wire[LEGO_PATH_MAX + 1];
	int r = lf_resolve(dirfd, path, wire);
	if (r <= 0)
		return r ? r : -EBADF;
	if (!wire[0])
		return -EEXIST; /* the prefix itself, the store's root (mkdir -p) */
	struct lego_file_req rq = {.mode = (uint32_t)(mode & 07777 & ~lf_umask())};
	char local[PATH_MAX];
	r = lf_call_path(X2F_MKDIR, &rq, wire, NULL, 1, NULL, 0, NULL, local);
	return r == LF_LOCAL ? (int)lf_neg(mkdir(local, mode)) : r;
}

int lg_file_link(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
{
	if (flags & ~(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH))
		return -EINVAL;
	char w1[LEGO_PATH_MAX + 1], w2[LEGO_PATH_MAX + 1];
	int a = oldpath && !oldpath[0] && (flags & AT_EMPTY_PATH) ? lf_fd_wire(olddirfd, w1)
								   : lf_resolve(olddirfd, oldpath, w1);
	int b = lf_resolve(newdirfd, newpath, w2);
	if (a < 0 || b < 0)
		return a < 0 ? a : b;
	if (!a || !b)
		return -EXDEV;
	char *local = lf_bounce_get();
	if (!local)
		return -ENOMEM;
	int follow = !!(flags & AT_SYMLINK_FOLLOW);
	struct lego_file_req rq = {.flags = follow ? LEGO_F_FOLLOW : 0};
	int r = lf_call_path(X2F_LINK, &rq, w1, w2, !follow, NULL, 0, NULL, local);
	if (r == LF_LOCAL)
		r = (int)lf_neg(linkat(AT_FDCWD, local, AT_FDCWD, local + PATH_MAX,
				       follow ? AT_SYMLINK_FOLLOW : 0));
	lf_bounce_put(local);
	return r;
}

int lg_file_symlink(const char *target, int dirfd, const char *path)
{
	char wire[LEGO_PATH_MAX + 1], t[LEGO_PATH_MAX + 1], local[PATH_MAX];
	int r = lf_resolve(dirfd, path, wire);
	if (r <= 0)
		return r ? r : -EBADF;
	if (!target)
		return -EFAULT;
	size_t tl = strlen(target);
	if (!tl)
		return -ENOENT;
	if (tl > LEGO_PATH_MAX)
		return -ENAMETOOLONG;
	memcpy(t, target, tl + 1); /* (any bytes: the request's second path) */
	struct lego_file_req rq = {0};
	r = lf_call_path(X2F_SYMLINK, &rq, wire, t, 1, NULL, 0, NULL, local);
	return r == LF_LOCAL ? (int)lf_neg(symlink(target, local)) : r;
}

ssize_t lg_file_readlink(int dirfd, const char *path, char *buf, size_t n)
{
	char wire[LEGO_PATH_MAX + 1], local[PATH_MAX];
	int r = lf_resolve(dirfd, path, wire);
	if (r <= 0)
		return r ? r : -EBADF;
	char *b = lf_bounce_get();
	if (!b)
		return -ENOMEM;
	struct lego_file_req rq = {0};
	size_t rl = 0;
	ssize_t got = lf_call_path(X2F_READLINK, &rq, wire, NULL, 1, b, LEGO_PATH_MAX, &rl, local);
	if (got == LF_LOCAL) {
		got = lf_neg(readlink(local, b, LEGO_PATH_MAX));
		rl = got < 0 ? 0 : (size_t)got;
	}
	if (got >= 0) { /* (cut at n, as the kernel) */
		got = (ssize_t)LG_MIN(rl, n);
		memcpy(buf, b, (size_t)got);
	}
	lf_bounce_put(b);
	return got;
}

/* mkstemp and its kin, and mkdtemp, on a Lego template: the C library's
 * own make the file with an internal open, which goes to the local file
 * system.  The six X before suffixlen bytes become letters and digits until
 * a name is free (O_EXCL); the descriptor or 0 (dir), or -errno. */
int lg_file_mktemp(char *tmpl, int suffixlen, int flags, int dir)
{
	static const char chars[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
	size_t len = strlen(tmpl);
	if (suffixlen < 0 || len < 6 + (size_t)suffixlen ||
	    memcmp(tmpl + len - suffixlen - 6, "XXXXXX", 6) != 0 ||
	    (flags & ~(O_APPEND | O_CLOEXEC | O_SYNC | O_DSYNC | O_LARGEFILE | O_NOATIME)))
		return -EINVAL;
	char *x = tmpl + len - suffixlen - 6;
	for (int tries = 0; tries < 1000; tries++) {
		uint8_t rnd[6];
		if (lf_sys(SYS_getrandom, rnd, sizeof rnd, 0) != (long)sizeof rnd)
			return -EIO;
		for (int i = 0; i < 6; i++)
			x[i] = chars[rnd[i] % (sizeof chars - 1)];
		int r = dir ? lg_file_mkdir(AT_FDCWD, tmpl, 0700)
			    : lg_file_open(AT_FDCWD, tmpl, O_RDWR | O_CREAT | O_EXCL | flags, 0600);
		if (r != -EEXIST)
			return r;
	}
	return -EEXIST;
}

/* ------------------------------------------------------------ directories */

/* The next record of a LIST reply at *pos, or NULL (end or malformed). */
static const struct lego_dirent *lf_dirent(const uint8_t *b, uint32_t len, uint32_t *pos)
{
	const struct lego_dirent *d = (const void *)(b + *pos);
	if (*pos + sizeof *d > len || d->reclen < sizeof *d || d->reclen % 8 ||
	    *pos + d->reclen > len || d->name_len == 0 || d->name_len > NAME_MAX ||
	    sizeof *d + d->name_len > d->reclen)
		return NULL;
	*pos += d->reclen;
	return d;
}

/* LIST from cookie into buf (LEGO_LIST_MAX bytes, local). */
static int lf_list(const struct lf_file *e, uint64_t cookie, void *buf, uint32_t *len)
{
	struct lego_file_req rq = {.ino = e->ino, .off = cookie, .len = LEGO_LIST_MAX,
				   .path_len = e->plen};
	size_t rl = 0;
	int r = lf_call(X2F_LIST, &rq, e->path, NULL, buf, LEGO_LIST_MAX, &rl);
	if (r == 0 && rl > LEGO_LIST_MAX)
		r = -EIO;
	*len = (uint32_t)rl;
	return r;
}

ssize_t lg_file_getdents(int fd, void *buf, size_t len)
{
	struct lf_file *e = lf_get(fd);
	if (!e)
		return -EBADF;
	long r = 0;
	uint8_t *b = NULL;
	long cookie = lf_sys(SYS_lseek, fd, 0, SEEK_CUR);
	if (e->acc == O_PATH)
		r = -EBADF;
	else if (!S_ISDIR(e->mode))
		r = -ENOTDIR;
	else if (cookie < 0)
		r = cookie;
	else if (!(b = lf_bounce_get()))
		r = -ENOMEM;
	uint32_t n = 0, pos = 0;
	if (r == 0)
		r = lf_list(e, (uint64_t)cookie, b, &n);
	size_t fill = 0;
	uint64_t last = 0;
	const struct lego_dirent *d;
	while (r == 0 && (d = lf_dirent(b, n, &pos)) != NULL) {
		size_t rl = LG_ALIGN_UP(offsetof(struct dirent64, d_name) + d->name_len + 1, 8);
		if (fill + rl > len) {
			if (fill == 0)
				r = -EINVAL;
			break;
		}
		struct dirent64 *o = (struct dirent64 *)((uint8_t *)buf + fill);
		o->d_ino = d->ino;
		o->d_off = (int64_t)d->cookie;
		o->d_reclen = (unsigned short)rl;
		o->d_type = d->type;
		memcpy(o->d_name, d + 1, d->name_len);
		memset(o->d_name + d->name_len, 0, rl - offsetof(struct dirent64, d_name) - d->name_len);
		fill += rl;
		last = d->cookie;
	}
	if (b)
		lf_bounce_put(b);
	if (r == 0 && fill)
		lf_sys(SYS_lseek, fd, (int64_t)last, SEEK_SET);
	lf_put(e);
	return r ? r : (ssize_t)fill;
}

int lg_file_dir(DIR *d)
{
	if (lg_likely(!atomic_load_explicit(&lf.ndirs_pub, memory_order_relaxed)) || !d)
		return 0;
	int found = 0;
	pthread_mutex_lock(&lf.lock);
	for (int i = 0; i < lf.ndirs && !found; i++)
		found = lf.dirs[i] == (struct lf_dir *)d;
	pthread_mutex_unlock(&lf.lock);
	return found;
}

static int lf_dir_register(struct lf_dir *d)
{
	int r = 0;
	pthread_mutex_lock(&lf.lock);
	if (lf.ndirs == lf.capdirs) {
		int cap = lf.capdirs ? 2 * lf.capdirs : 64;
		struct lf_dir **n = lg_local_alloc((size_t)cap * sizeof *n);
		if (n) {
			if (lf.dirs)
				memcpy(n, lf.dirs, (size_t)lf.ndirs * sizeof *n);
			lg_local_free(lf.dirs, (size_t)lf.capdirs * sizeof *n);
			lf.dirs = n;
			lf.capdirs = cap;
		}
	}
	if (lf.ndirs < lf.capdirs) {
		lf.dirs[lf.ndirs++] = d;
		atomic_store(&lf.ndirs_pub, lf.ndirs);
	} else {
		r = -ENOMEM;
	}
	pthread_mutex_unlock(&lf.lock);
	return r;
}

static void lf_dir_unregister(struct lf_dir *d)
{
	pthread_mutex_lock(&lf.lock);
	for (int i = 0; i < lf.ndirs; i++) {
		if (lf.dirs[i] == d) {
			lf.dirs[i] = lf.dirs[--lf.ndirs];
			break;
		}
	}
	atomic_store(&lf.ndirs_pub, lf.ndirs);
	pthread_mutex_unlock(&lf.lock);
}

int lg_file_fdopendir(int fd, DIR **out)
{
	struct lf_file *e = lf_get(fd);
	if (!e)
		return -EBADF;
	int r = e->acc == O_PATH ? -EBADF : !S_ISDIR(e->mode) ? -ENOTDIR : 0;
	lf_put(e);
	if (r)
		return r;
	long cookie = lf_sys(SYS_lseek, fd, 0, SEEK_CUR);
	struct lf_dir *d = lg_local_alloc(sizeof *d);
	if (!d)
		return -ENOMEM;
	d->fd = fd;
	d->cookie = cookie > 0 ? (uint64_t)cookie : 0;
	if ((r = lf_dir_register(d)) != 0) {
		lg_local_free(d, sizeof *d);
		return r;
	}
	*out = (DIR *)d;
	return 0;
}

int lg_file_opendir(const char *path, DIR **out)
{
	int fd = lg_file_open(AT_FDCWD, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
	if (fd < 0)
		return fd;
	if (!lg_file_fd(fd)) { /* a local directory (a link out of the store) */
		*out = fdopendir(fd);
		if (!*out) {
			int e = errno;
			close(fd);
			return -e;
		}
		return 0;
	}
	int r = lg_file_fdopendir(fd, out);
	if (r)
		lg_file_close(fd);
	return r;
}

int lg_file_readdir(DIR *dp, struct dirent **out)
{
	struct lf_dir *d = (struct lf_dir *)dp;
	*out = NULL;
	const struct lego_dirent *de = NULL;
	while (!(de = lf_dirent(d->buf, d->len, &d->pos))) {
		if (d->eof)
			return 0;
		struct lf_file *e = lf_get(d->fd);
		if (!e)
			return -EBADF;
		int r = lf_list(e, d->cookie, d->buf, &d->len);
		lf_put(e);
		d->pos = 0;
		if (r) {
			d->len = 0;
			return r;
		}
		if (d->len == 0)
			d->eof = 1;
		else if (!lf_dirent(d->buf, d->len, &(uint32_t){0}))
			return -EIO; /* a reply we cannot parse: do not loop on it */
	}
	d->ent.d_ino = de->ino;
	d->ent.d_off = (off_t)de->cookie;
	d->ent.d_reclen = sizeof d->ent;
	d->ent.d_type = de->type;
	memcpy(d->ent.d_name, de + 1, de->name_len);
	d->ent.d_name[de->name_len] = 0;
	d->cookie = de->cookie;
	*out = &d->ent;
	return 0;
}

int lg_file_closedir(DIR *dp)
{
	struct lf_dir *d = (struct lf_dir *)dp;
	lf_dir_unregister(d);
	int r = lg_file_close(d->fd);
	lg_local_free(d, sizeof *d);
	return r;
}

int lg_file_dirfd(DIR *dp) { return ((struct lf_dir *)dp)->fd; }

void lg_file_seekdir(DIR *dp, long pos)
{
	struct lf_dir *d = (struct lf_dir *)dp;
	d->cookie = (uint64_t)pos;
	d->pos = d->len = 0;
	d->eof = 0;
}

void lg_file_rewinddir(DIR *dp) { lg_file_seekdir(dp, 0); }

long lg_file_telldir(DIR *dp) { return (long)((struct lf_dir *)dp)->cookie; }

/* --------------------------------------------------------------- copies */

/* Read up to n bytes from fd (at *off if off, else at its offset). */
static ssize_t lf_copy_in(int fd, void *b, size_t n, off_t *off)
{
	if (lg_file_fd(fd))
		return off ? lg_file_pread(fd, b, n, *off) : lg_file_read(fd, b, n);
	return off ? lf_sys(SYS_pread64, fd, b, n, *off) : lf_sys(SYS_read, fd, b, n);
}

/* Write all n bytes (short only on error or a full non-blocking fd). */
static ssize_t lf_copy_out(int fd, const uint8_t *b, size_t n, off_t *off)
{
	int lego = lg_file_fd(fd);
	size_t done = 0;
	ssize_t r = 0;
	while (done < n) {
		off_t at = off ? *off + (off_t)done : -1;
		if (lego)
			r = off ? lg_file_pwrite(fd, b + done, n - done, at)
				: lg_file_write(fd, b + done, n - done);
		else
			r = off ? lf_sys(SYS_pwrite64, fd, b + done, n - done, at)
				: lf_sys(SYS_write, fd, b + done, n - done);
		if (r <= 0)
			break;
		done += (size_t)r;
	}
	return done ? (ssize_t)done : r;
}

static ssize_t lf_copy(int in, off_t *off_in, int out, off_t *off_out, size_t n)
{
	n = LG_MIN(n, (size_t)LEGO_FILE_IO_MAX);
	if (n == 0)
		return 0;
	uint8_t *b = lf_bounce_get();
	if (!b)
		return -ENOMEM;
	ssize_t r = lf_copy_in(in, b, n, off_in);
	if (r > 0) {
		ssize_t w = lf_copy_out(out, b, (size_t)r, off_out);
		if (w > 0 && w < r && !off_in) { /* give back what was not written */
			off_t back = -(off_t)(r - w);
			if (lg_file_fd(in))
				lg_file_lseek(in, back, SEEK_CUR);
			else
				lf_sys(SYS_lseek, in, back, SEEK_CUR);
		}
		r = w;
	}
	lf_bounce_put(b);
	if (r > 0) {
		if (off_in)
			*off_in += r;
		if (off_out)
			*off_out += r;
	}
	return r;
}

ssize_t lg_file_sendfile(int out, int in, off_t *off, size_t n)
{
	return lf_copy(in, off, out, NULL, n);
}

ssize_t lg_file_copy_range(int in, off_t *off_in, int out, off_t *off_out, size_t n,
			   unsigned flags)
{
	if (flags)
		return -EINVAL;
	if ((off_in && *off_in < 0) || (off_out && *off_out < 0))
		return -EINVAL;
	return lf_copy(in, off_in, out, off_out, n);
}

/* ----------------------------------------------------------------- ioctl */

int lg_file_ioctl(int fd, unsigned long req, void *arg, int *ret)
{
	/* clones between files: the kernel would clone placeholders (their
	 * metadata, a TiB out), or between a placeholder and a local file, on
	 * a file system that can (XFS, btrfs), and cp would take that for the
	 * copy it asked for */
	int src = -1;
	if (req == FICLONE)
		src = (int)(intptr_t)arg;
	else if (req == FICLONERANGE && arg)
		src = (int)((const struct file_clone_range *)arg)->src_fd;
	if (req == FICLONE || req == FICLONERANGE) {
		int a = lg_file_fd(fd), b = lg_file_fd(src);
		if (!a && !b)
			return 0;
		*ret = a && b ? -EOPNOTSUPP : -EXDEV;
		return 1;
	}
	if (req == FIDEDUPERANGE && arg) {
		const struct file_dedupe_range *d = arg;
		int any = lg_file_fd(fd);
		for (unsigned i = 0; i < d->dest_count && !any; i++)
			any = lg_file_fd((int)d->info[i].dest_fd);
		if (!any)
			return 0;
		*ret = -EOPNOTSUPP;
		return 1;
	}
	if (!lg_file_fd(fd))
		return 0;
	switch (req) {
	case FIOCLEX:
	case FIONCLEX:
	case FIONBIO:
	case FIOASYNC:
		return 0; /* the descriptor's own flags: the placeholder's are its */
	case FIONREAD: { /* what is left to read: the file's, not the placeholder's */
		struct lego_fstat f;
		int r = lf_fstat_fd(fd, &f);
		long pos = r ? 0 : lf_sys(SYS_lseek, fd, 0, SEEK_CUR);
		if (!r && pos < 0)
			r = (int)pos;
		if (!r && S_ISDIR(f.mode))
			r = -EINVAL;
		if (!r)
			*(int *)arg = f.size > (uint64_t)pos ? (int)LG_MIN(f.size - (uint64_t)pos,
									(uint64_t)INT32_MAX) : 0;
		*ret = r;
		return 1;
	}
	default: /* the placeholder's file system's (flags, extents, block size) */
		*ret = -ENOTTY;
		return 1;
	}
}

/* ------------------------------------------------------------------ mmap */

int lg_file_mmap_fd(int fd) { return lg_file_fd(fd); }

long lg_file_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	struct lf_file *e = lf_get(fd);
	if (!e)
		return -EBADF;
	long r = 0;
	int type = flags & MAP_TYPE;
	/* a shared mapping of a read-only descriptor is a copy too (np.load's
	 * mmap_mode="r", Python's ACCESS_READ), sealed against PROT_WRITE */
	int shared = type == MAP_SHARED || type == MAP_SHARED_VALIDATE;
	if (shared && ((prot & PROT_WRITE) || e->acc == O_RDWR)) { /* the host's copy (fmap.c) */
		lf_put(e);
		return lg_fmap_map(addr, len, prot, flags, fd, off);
	}
	int shared_ro = shared;
	if ((type != MAP_PRIVATE && !shared_ro) || S_ISDIR(e->mode))
		r = -ENODEV;
	else if (e->acc == O_PATH)
		r = -EBADF;
	else if (e->acc == O_WRONLY)
		r = -EACCES;
	else if (!len || off < 0 || (off & (LG_PAGE_SIZE - 1)))
		r = -EINVAL;
	if (r) {
		lf_put(e);
		return r;
	}
	int af = (flags & ~(MAP_TYPE | MAP_DENYWRITE | MAP_EXECUTABLE)) | MAP_PRIVATE | MAP_ANONYMOUS;
	long a = lg_vm_mmap(addr, len, PROT_READ | PROT_WRITE, af, -1, 0);
	if (a < 0 && a > -4096) {
		lf_put(e);
		return a;
	}
	size_t done = 0; /* past the end of the file: zeros (Linux: SIGBUS) */
	while (done < len) {
		ssize_t g = lf_io(e, fd, (uint8_t *)a + done, len - done, off + (off_t)done, 0);
		if (g < 0) {
			r = g;
			break;
		}
		if (g == 0)
			break;
		done += (size_t)g;
	}
	lf_put(e);
	if (r == 0 && prot != (PROT_READ | PROT_WRITE))
		r = lg_vm_mprotect((void *)a, len, prot);
	if (r == 0 && shared_ro)
		r = lg_vm_nowrite((void *)a, len);
	if (r) {
		lg_vm_munmap((void *)a, len);
		return r;
	}
	return a;
}

/* The store file (wire, ino) written to the descriptor fd from where it
 * stands, through b (a bounce buffer): 0 or -errno. */
static int lf_copy_wire(const char *wire, uint64_t ino, uint8_t *b, int fd)
{
	for (uint64_t off = 0;;) {
		struct lego_file_req rd = {.ino = ino, .off = off, .len = LEGO_FILE_IO_MAX,
					   .path_len = (uint16_t)strlen(wire)};
		size_t got = 0;
		int r = lf_call(X2F_READ, &rd, wire, NULL, b, LEGO_FILE_IO_MAX, &got);
		if (r)
			return r;
		ssize_t w = got > LEGO_FILE_IO_MAX ? -EIO : lf_copy_out(fd, b, got, NULL);
		if (w != (ssize_t)got)
			return w < 0 ? (int)w : -EIO;
		off += got;
		if (got < LEGO_FILE_IO_MAX)
			return 0;
	}
}

/* A copy of the store file (wire, ino) in a new memfd named name (its
 * descriptor, close-on-exec, into *fd), through b: 0 or -errno. */
static int lf_memfd_copy(const char *wire, uint64_t ino, const char *name, uint8_t *b, int *fd)
{
	long m = lf_sys(SYS_memfd_create, name, MFD_CLOEXEC);
	if (m < 0)
		return (int)m;
	int r = lf_copy_wire(wire, ino, b, (int)m);
	if (r)
		lf_sys(SYS_close, m);
	else
		*fd = (int)m;
	return r;
}

/* ------------------------------------------------- a program's libraries */

/* The libraries a program in the store needs from the store, for the
 * loader of its copy (lg_file_exec_libs): local copies in <libs>, one per
 * file version (device, inode, modification time, size), an older version's
 * removed when a newer is made; and a directory run-HASH there of links by
 * the names they are needed by, one per set (the loader searches
 * LD_LIBRARY_PATH before a program's RUNPATH).  System calls and stack
 * buffers only: a vforked child runs this. */
#define LF_LIBS_MAX 64

struct lf_libs {
	char dir[PATH_MAX + 64];
	const char *llp;
	int n, depth, err;
	char need[LF_LIBS_MAX][NAME_MAX + 1];
	char to[LF_LIBS_MAX][256]; /* "../copy", or a local library's path */
};

/* (lf_libs_prune) A link that leads nowhere: 1. */
static int lf_libs_dangling(int dfd, const char *name, int type, void *arg)
{
	(void)arg;
	return type == DT_LNK && lf_sys(SYS_faccessat, dfd, name, F_OK) != 0;
}

static int lf_libs_unlink(int dfd, const char *name, int type, void *arg)
{
	(void)type, (void)arg;
	lf_sys(SYS_unlinkat, dfd, name, 0); /* (fails on "." and "..") */
	return 0;
}

struct lf_prune {
	const char *prefix, *keep;
	int links; /* 0: the copies' pass, 1: the link directories' */
};

static int lf_libs_prune_one(int dfd, const char *name, int type, void *arg)
{
	(void)type;
	const struct lf_prune *p = arg;
	if (!p->links && strncmp(name, p->prefix, strlen(p->prefix)) == 0 && strcmp(name, p->keep))
		lf_sys(SYS_unlinkat, dfd, name, 0);
	if (p->links && strncmp(name, "run-", 4) == 0 &&
	    lf_dir_each(dfd, name, lf_libs_dangling, NULL) == 1) {
		lf_dir_each(dfd, name, lf_libs_unlink, NULL);
		lf_sys(SYS_unlinkat, dfd, name, AT_REMOVEDIR);
	}
	return 0;
}

/* Remove the copies of older versions of the file whose copies' names
 * start with prefix (all but keep), then the directories of links that
 * led to them. */
static void lf_libs_prune(const char *dir, const char *prefix, const char *keep)
{
	struct lf_prune p = {.prefix = prefix, .keep = keep};
	lf_dir_each(AT_FDCWD, dir, lf_libs_prune_one, &p);
	p.links = 1;
	lf_dir_each(AT_FDCWD, dir, lf_libs_prune_one, &p);
}

/* What the link for the Lego file path leads to, into to: "../" and the
 * name of its copy in L->dir (made if it is not there), or the local file a
 * link out of the store leads to (2).  1, 2 or -errno. */
static int lf_libs_copy(struct lf_libs *L, const char *path, char *to, size_t cap)
{
	char wire[LEGO_PATH_MAX + 1], local[PATH_MAX];
	int r = lf_resolve(AT_FDCWD, path, wire);
	if (r <= 0)
		return r ? r : -ENOENT;
	struct lego_fstat st;
	r = lf_open_wire(wire, O_RDONLY, 0, &st, local);
	if (r == LF_LOCAL)
		return snprintf(to, cap, "%s", local) < (int)cap ? 2 : -ENAMETOOLONG;
	if (r)
		return r;
	/* named by the file's path (its versions replace each other, whatever
	 * inode a rebuild gives it) and version */
	char prefix[24], key[96], dst[sizeof L->dir + 100], tmp[sizeof L->dir + 120];
	snprintf(prefix, sizeof prefix, "%016llx-", (unsigned long long)lf_hash(LF_HASH0, wire));
	snprintf(key, sizeof key, "%s%llu-%llu-%lld-%llu", prefix, (unsigned long long)st.dev,
		 (unsigned long long)st.ino, (long long)st.mtime_ns, (unsigned long long)st.size);
	snprintf(to, cap, "../%s", key);
	snprintf(dst, sizeof dst, "%s/%s", L->dir, key);
	struct stat ls;
	if (lf_sys(SYS_newfstatat, AT_FDCWD, dst, &ls, 0) == 0 && (uint64_t)ls.st_size == st.size)
		return 1;
	if ((r = lf_mkdir_checked(L->dir, 0700, 0)) != 0) /* (made when first needed) */
		return r;
	snprintf(tmp, sizeof tmp, "%s/.%s.%d", L->dir, key, (int)getpid());
	long out = lf_sys(SYS_openat, AT_FDCWD, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	if (out < 0)
		return (int)out;
	uint8_t *b = lf_bounce_get();
	r = b ? lf_copy_wire(wire, st.ino, b, (int)out) : -ENOMEM;
	if (b)
		lf_bounce_put(b);
	lf_sys(SYS_close, (int)out);
	if (r == 0)
		r = (int)lf_sys(SYS_renameat, AT_FDCWD, tmp, AT_FDCWD, dst);
	if (r) {
		lf_sys(SYS_unlinkat, AT_FDCWD, tmp, 0);
		return r;
	}
	lf_libs_prune(L->dir, prefix, key);
	return 1;
}

static void lf_libs_found(void *arg, const char *need, const char *found)
{
	struct lf_libs *L = arg;
	for (int i = 0; i < L->n; i++)
		if (strcmp(L->need[i], need) == 0)
			return; /* (the loader takes the first by that name too) */
	if (L->n == LF_LIBS_MAX || L->err)
		return;
	int i = L->n;
	int r = lf_libs_copy(L, found, L->to[i], sizeof L->to[i]);
	if (r < 0) {
		L->err = r;
		return;
	}
	snprintf(L->need[i], sizeof L->need[i], "%s", need);
	L->n++;
	char copy[sizeof L->dir + 100];
	snprintf(copy, sizeof copy, "%s/%s", L->dir, L->to[i] + 3);
	long fd = r == 1 && L->depth < 8 ? lf_sys(SYS_openat, AT_FDCWD, copy, O_RDONLY | O_CLOEXEC)
					 : -1;
	if (fd >= 0) { /* and what it needs in turn, its $ORIGIN its own directory */
		L->depth++;
		lg_elf_store_needs((int)fd, found, L->llp, lf_libs_found, L);
		L->depth--;
		lf_sys(SYS_close, (int)fd);
	}
}

int lg_file_exec_libs(int fd, const char *name, const char *llp, char *dir, size_t cap)
{
	struct lf_libs L;
	L.n = L.depth = L.err = 0;
	L.llp = llp;
	snprintf(L.dir, sizeof L.dir, "%s", lf.phdir);
	char *slash = strrchr(L.dir, '/'); /* (beside the placeholders: <phdir>/../libs) */
	if (!lf.phdir[0] || !slash)
		return -EIO;
	snprintf(slash, sizeof L.dir - (size_t)(slash - L.dir), "/libs");
	if (lg_elf_store_needs(fd, name, llp, lf_libs_found, &L) < 0 || (!L.n && !L.err))
		return 0;
	if (L.err)
		return L.err;
	uint64_t h = LF_HASH0; /* over the names and the copies */
	for (int i = 0; i < L.n; i++)
		h = lf_hash(lf_hash(h, L.need[i]), L.to[i]);
	int n = snprintf(dir, cap, "%s/run-%016llx", L.dir, (unsigned long long)h);
	if (n < 0 || (size_t)n >= cap)
		return -ENAMETOOLONG;
	struct stat st;
	if (lf_sys(SYS_newfstatat, AT_FDCWD, dir, &st, 0) == 0)
		return 1;
	char tmp[PATH_MAX + 40], link[sizeof tmp + NAME_MAX + 2];
	snprintf(tmp, sizeof tmp, "%s.%d", dir, (int)getpid());
	int r = lf_mkdir_checked(L.dir, 0700, 0);
	if (r == 0)
		r = (int)lf_sys(SYS_mkdir, tmp, 0700);
	for (int i = 0; r == 0 && i < L.n; i++) {
		snprintf(link, sizeof link, "%s/%s", tmp, L.need[i]);
		r = (int)lf_sys(SYS_symlinkat, L.to[i], AT_FDCWD, link);
	}
	if (r == 0 && lf_sys(SYS_renameat, AT_FDCWD, tmp, AT_FDCWD, dir) == 0)
		return 1;
	for (int i = 0; i < L.n; i++) { /* (failed, or made meanwhile by another) */
		snprintf(link, sizeof link, "%s/%s", tmp, L.need[i]);
		lf_sys(SYS_unlinkat, AT_FDCWD, link, 0);
	}
	lf_sys(SYS_unlinkat, AT_FDCWD, tmp, AT_REMOVEDIR);
	return r ? r : lf_sys(SYS_newfstatat, AT_FDCWD, dir, &st, 0) == 0 ? 1 : -EIO;
}

/* ------------------------------------------------------------------- exec */

#define LF_EXEC_HEAD 256 /* what the kernel reads to choose how to run a file */

/* The #! line at the start of head (n bytes) into x->interp and x->arg, as
 * the kernel parses it (one interpreter, at most one argument, spaces and
 * tabs between): -ENOEXEC without an interpreter, or when it does not end
 * within the first LF_EXEC_HEAD bytes. */
static int lf_shebang(const char *head, size_t n, struct lg_exec *x)
{
	size_t e = 2;
	while (e < n && e < LF_EXEC_HEAD && head[e] != '\n' && head[e] != 0)
		e++;
	size_t b = 2;
	while (b < e && (head[b] == ' ' || head[b] == '\t'))
		b++;
	while (e > b && (head[e - 1] == ' ' || head[e - 1] == '\t'))
		e--;
	if (b == e)
		return -ENOEXEC;
	size_t i = b;
	while (i < e && head[i] != ' ' && head[i] != '\t')
		i++;
	if (i == e && e >= LF_EXEC_HEAD - 1)
		return -ENOEXEC; /* the interpreter's name may go on: the kernel refuses */
	memcpy(x->interp, head + b, e - b);
	x->interp[e - b] = 0;
	x->interp[i - b] = 0;
	size_t a = i;
	while (a < e && (head[a] == ' ' || head[a] == '\t'))
		a++;
	x->arg = a < e ? x->interp + (a - b) : NULL;
	return 0;
}

/* ----------------------------------------------------------------- dlopen */

/* Libraries in the store that dlopen loaded: one memfd copy each, kept
 * open for the process's life, so that a second dlopen of the same file
 * finds the object loaded (the loader knows a file by its inode).  An
 * entry whose descriptor the program closed (or numbered again) is made
 * anew. */
#define LF_LIBS 256

static struct {
	pthread_mutex_t lock;
	int n;
	struct {
		uint64_t ino, mtime, size; /* the store file's */
		uint64_t mino;             /* the memfd's */
		int fd;
	} e[LF_LIBS];
} lf_libs = {.lock = PTHREAD_MUTEX_INITIALIZER};

int lg_file_lib(const char *path, char *name, size_t cap)
{
	char wire[LEGO_PATH_MAX + 1], local[PATH_MAX];
	int r = lf_resolve(AT_FDCWD, path, wire);
	if (r <= 0)
		return r;
	struct lego_fstat st;
	r = lf_open_wire(wire, O_RDONLY, 0, &st, local);
	if (r == LF_LOCAL) /* a link out of the store: that library */
		return snprintf(name, cap, "%s", local) < (int)cap ? 1 : -ENAMETOOLONG;
	if (r)
		return r;
	uint8_t *b = S_ISREG(st.mode) ? lf_bounce_get() : NULL;
	r = !S_ISREG(st.mode) ? (S_ISDIR(st.mode) ? -EISDIR : -EACCES) : b ? 0 : -ENOMEM;
	int fd = -1, i;
	struct stat ms;
	pthread_mutex_lock(&lf_libs.lock);
	for (i = 0; r == 0 && i < lf_libs.n; i++)
		if (lf_libs.e[i].ino == st.ino && lf_libs.e[i].mtime == st.mtime_ns &&
		    lf_libs.e[i].size == st.size)
			break;
	if (r == 0 && i < lf_libs.n && lf_sys(SYS_fstat, lf_libs.e[i].fd, &ms) == 0 &&
	    ms.st_ino == lf_libs.e[i].mino) {
		fd = lf_libs.e[i].fd;
	} else if (r == 0) {
		const char *base = strrchr(wire, '/');
		r = lf_memfd_copy(wire, st.ino, base ? base + 1 : wire, b, &fd);
		if (r == 0 && lf_sys(SYS_fstat, fd, &ms) == 0 && i < LF_LIBS) {
			lf_libs.e[i].ino = st.ino;
			lf_libs.e[i].mtime = st.mtime_ns;
			lf_libs.e[i].size = st.size;
			lf_libs.e[i].mino = ms.st_ino;
			lf_libs.e[i].fd = fd;
			lf_libs.n += i == lf_libs.n;
		}
	}
	pthread_mutex_unlock(&lf_libs.lock);
	if (b)
		lf_bounce_put(b);
	struct lego_file_req cl = {.ino = st.ino, .path_len = (uint16_t)strlen(wire)};
	lf_call(X2F_CLOSE, &cl, wire, NULL, NULL, 0, NULL);
	if (r)
		return r;
	snprintf(name, cap, "/proc/self/fd/%d", fd);
	return 1;
}

/* dirfd and path (or "" and AT_EMPTY_PATH: the descriptor) -> store path. */
static int lf_exec_wire(int dirfd, const char *path, int flags, char *wire)
{
	if (path && !path[0]) {
		return flags & AT_EMPTY_PATH ? lf_fd_wire(dirfd, wire) : -ENOENT;
	}
	if (path && path[0] != '/' && dirfd == AT_FDCWD && lf_vforked()) {
		/* a vforked child's chdir moved only the kernel's directory */
		struct lf_file *e;
		lf_cwd_kernel(&e);
		return lf_resolve_in(e, path, wire);
	}
	return lf_resolve(dirfd, path, wire);
}

int lg_file_exec_path(int dirfd, const char *path, int flags)
{
	if (lg_likely(lf.mode == LF_OFF) || !path || lg_inside())
		return 0;
	if (!path[0])
		return (flags & AT_EMPTY_PATH) && lg_file_fd(dirfd);
	if (path[0] != '/' && dirfd == AT_FDCWD && lf_vforked())
		return lf_cwd_kernel(NULL);
	return lg_file_path(dirfd, path);
}

int lg_file_exec_prep(int dirfd, const char *path, int flags, int preloaded, struct lg_exec *x)
{
	char wire[LEGO_PATH_MAX + 1];
	x->fd = -1;
	x->interp[0] = 0;
	x->arg = NULL;
	x->local = 0;
	int r = lf_exec_wire(dirfd, path, flags, wire);
	if (r <= 0)
		return r ? r : -ENOENT;
	struct lego_fstat st;
	r = lf_open_wire(wire, O_RDONLY | (flags & AT_SYMLINK_NOFOLLOW ? O_NOFOLLOW : 0), 0, &st,
			 x->name);
	if (r == LF_LOCAL) { /* a link out of the store: the kernel runs that */
		x->local = 1;
		return 0;
	}
	if (r)
		return r;
	r = lf_lego_name(wire, x->name, sizeof x->name);
	r = r < 0 || (size_t)r >= sizeof x->name ? -ENAMETOOLONG : 0;
	/* As execve checks: a regular file with an x bit (the owner's, which
	 * the storenode's user is; for root any). */
	if (r == 0 && (!S_ISREG(st.mode) || !(st.mode & (geteuid() == 0 ? 0111 : S_IXUSR))))
		r = -EACCES;
	uint8_t *b = r ? NULL : lf_bounce_get();
	if (!r && !b)
		r = -ENOMEM;
	if (r == 0)
		r = lf_memfd_copy(wire, st.ino, strrchr(x->name, '/') + 1, b, &x->fd);
	long n = r ? 0 : lf_sys(SYS_pread64, x->fd, b, LEGO_FILE_IO_MAX, 0);
	if (n >= 2 && b[0] == '#' && b[1] == '!') {
		if (preloaded) { /* the interpreter reads it by name */
			r = lf_shebang((const char *)b, (size_t)n, x);
			lf_sys(SYS_close, x->fd);
			x->fd = -1;
		} else { /* its interpreter is given /dev/fd/N: open across exec */
			lf_sys(SYS_fcntl, x->fd, F_SETFD, 0);
		}
	}
	if (b)
		lf_bounce_put(b);
	struct lego_file_req cl = {.ino = st.ino, .path_len = (uint16_t)strlen(wire)};
	lf_call(X2F_CLOSE, &cl, wire, NULL, NULL, 0, NULL);
	if (r && x->fd >= 0) {
		lf_sys(SYS_close, x->fd);
		x->fd = -1;
	}
	return r;
}
