/*
 * lego-storenode request handlers: the X2F_* file operations on the files
 * beneath the store root (docs/storage.md, include/lego/proto.h).
 *
 * Stateless: every request names its file by path, resolved anew beneath
 * the root (resolve.h), and every descriptor a request opens is closed
 * before its handler returns.  Symbolic links are followed while they stay
 * beneath the root; where a path leaves it, READLINK with LEGO_F_WALK
 * tells the client where it goes (proto.h, "Symbolic links").  READ, WRITE, TRUNCATE, FSYNC, CLOSE and
 * SETATTR with ino != 0 answer -ESTALE when the path no longer names that inode (also
 * when it names nothing any more).
 *
 * The RPC server has checked header, session, role and the body's size
 * limits from the table.  sn_run() then checks the body's layout (the
 * paths and data add up to the body exactly) and the paths' syntax before
 * an operation runs, and counts requests, refused paths and errors in one
 * place.  Errors are the Linux errno values of the real system calls.
 *
 * Durability: created files and changed directories have their directory
 * fsync'ed before the reply; FSYNC syncs the file and its directory.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "common/log.h"
#include "common/stats_list.h"
#include "common/util.h"
#include "resolve.h"
#include "storenode.h"

/* A parsed X2F_* request; the pointers point into the request body. */
struct sn_req {
	struct lego_file_req f;
	const char *path;  /* f.path_len bytes */
	const char *path2; /* f.path2_len bytes (RENAME: the new name) */
	const uint8_t *data; /* WRITE: f.len bytes */
};

typedef int (*sn_op_fn)(struct storenode *s, const struct sn_req *q, struct rpc_ctx *ctx);

/* Largest body: both paths at the most their u16 lengths allow (so an
 * overlong path is answered -ENAMETOOLONG, not -EBADMSG) and WRITE data. */
#define SN_PATHS_MAX (2u * UINT16_MAX)
#define SN_DENTS_BUF (64u * 1024)
_Static_assert(LEGO_LIST_MAX + SN_DENTS_BUF <= LEGO_FILE_IO_MAX, "LIST staging fits io_buf");

static const char *sn_op_name(uint16_t op)
{
	static const char *const names[] = {"OPEN",	"STAT",	 "READ",  "WRITE",
					    "TRUNCATE", "FSYNC", "UNLINK", "RMDIR",
					    "MKDIR",	"RENAME", "LIST",  "CLOSE",
					    "SETATTR", "STATFS", "SYMLINK", "READLINK", "LINK"};
	return op >= X2F_OPEN && op <= X2F_LINK ? names[op - X2F_OPEN] : "?";
}

static int sn_is_name_op(uint16_t op)
{
	return op == X2F_UNLINK || op == X2F_RMDIR || op == X2F_MKDIR || op == X2F_RENAME ||
	       op == X2F_SYMLINK || op == X2F_LINK;
}

/* A wire path made printable for a log line. */
static const char *sn_show(const char *p, size_t len, char *buf, size_t cap)
{
	size_t n = 0, i = 0;
	for (; i < len && n + 4 < cap; i++)
		buf[n++] = p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?';
	if (i < len)
		for (int k = 0; k < 3; k++)
			buf[n++] = '.';
	buf[n] = 0;
	return buf;
}

/* Check that the paths and the data fill the body exactly. */
static int sn_parse(const struct rpc_ctx *ctx, struct sn_req *q)
{
	uint16_t op = ctx->hdr->opcode;
	memcpy(&q->f, ctx->body, sizeof q->f);
	size_t rest = ctx->body_len - sizeof q->f;
	uint64_t data = op == X2F_WRITE ? q->f.len : 0;
	if (op == X2F_WRITE && q->f.len > LEGO_FILE_IO_MAX)
		return -EBADMSG;
	if (op != X2F_RENAME && op != X2F_SYMLINK && op != X2F_LINK && q->f.path2_len)
		return -EBADMSG;
	if ((uint64_t)q->f.path_len + q->f.path2_len + data != rest)
		return -EBADMSG;
	q->path = (const char *)ctx->body + sizeof q->f;
	q->path2 = q->path + q->f.path_len;
	q->data = (const uint8_t *)q->path2 + q->f.path2_len;
	return 0;
}

/* Parse, check the paths, run fn, count.  A path is "refused" when its
 * syntax is rejected or resolving it would leave the root (-EXDEV). */
static int sn_run(struct rpc_ctx *ctx, sn_op_fn fn)
{
	struct storenode *s = ctx->user;
	uint16_t op = ctx->hdr->opcode;
	struct sn_req q;
	s->requests++;
	int r = sn_parse(ctx, &q);
	if (r) {
		lg_log_rl(LG_WARN, "storenode", "malformed %s request from connection %u: path and "
			  "data lengths do not add up to the body (%zu bytes)", sn_op_name(op),
			  rpc_sconn_id(ctx->conn), ctx->body_len);
		s->errors++;
		return r;
	}
	const char *bad = q.path;
	size_t bad_len = q.f.path_len;
	r = sn_path_check(q.path, q.f.path_len, sn_is_name_op(op));
	if (r == 0 && (op == X2F_RENAME || op == X2F_LINK)) {
		bad = q.path2;
		bad_len = q.f.path2_len;
		r = sn_path_check(q.path2, q.f.path2_len, 1);
	} else if (r == 0 && op == X2F_SYMLINK) { /* a target is any bytes but NUL */
		bad = q.path2;
		bad_len = q.f.path2_len;
		r = !bad_len ? -ENOENT
		    : bad_len > LEGO_PATH_MAX ? -ENAMETOOLONG
		    : memchr(bad, 0, bad_len) ? -EINVAL : 0;
	}
	int refused = r != 0;
	if (r == 0) {
		bad = q.path;
		bad_len = q.f.path_len;
		r = fn(s, &q, ctx);
		refused = r == -EXDEV;
	}
	if (r >= 0)
		return r;
	s->errors++;
	if (r == -ESTALE)
		s->stale++;
	char shown[96];
	if (refused) {
		/* (a link out of the store is ordinary: the client follows it
		 * itself, so only a malformed path is worth a warning) */
		s->refused_paths++;
		lg_log_rl(r == -EXDEV ? LG_DEBUG : LG_WARN, "storenode",
			  "%s \"%s\" from connection %u refused: %s%s", sn_op_name(op),
			  sn_show(bad, bad_len, shown, sizeof shown), rpc_sconn_id(ctx->conn),
			  strerror(-r), r == -EXDEV ? " (the path leaves the store root)" : "");
	} else {
		lg_log(LG_DEBUG, "storenode", "%s \"%s\": %s", sn_op_name(op),
		       sn_show(q.path, q.f.path_len, shown, sizeof shown), strerror(-r));
	}
	return r;
}

/* ----------------------------------------------------------- helpers */

/* Reply with st as a lego_fstat, then plen bytes of path. */
static int sn_reply_fstat_path(struct rpc_ctx *ctx, const struct stat *st, const char *path,
			       size_t plen)
{
	struct lego_fstat *o = rpc_reply_alloc(ctx, sizeof *o + plen);
	if (!o)
		return -ENOMEM;
	if (plen)
		memcpy(o + 1, path, plen);
	memset(o, 0, sizeof *o);
	o->ino = st->st_ino;
	o->dev = st->st_dev;
	o->size = (uint64_t)st->st_size;
	o->blocks = (uint64_t)st->st_blocks;
	o->atime_ns = lego_time_wire(st->st_atim);
	o->mtime_ns = lego_time_wire(st->st_mtim);
	o->ctime_ns = lego_time_wire(st->st_ctim);
	o->mode = st->st_mode;
	o->nlink = (uint32_t)st->st_nlink;
	o->uid = st->st_uid;
	o->gid = st->st_gid;
	o->blksize = (uint32_t)st->st_blksize;
	return 0;
}

static int sn_reply_fstat(struct rpc_ctx *ctx, const struct stat *st)
{
	return sn_reply_fstat_path(ctx, st, NULL, 0);
}

/* The path of the file fd from the root, as the kernel names it (the
 * links on the way followed): its length in out, or -1 if it cannot be
 * told (the file is no longer beneath the root by that name). */
static int sn_canon(struct storenode *s, int fd, char *out, size_t cap)
{
	char self[40], got[PATH_MAX];
	if (!s->root_read) { /* (once: if the root moves later, names stop matching: -1) */
		snprintf(self, sizeof self, "/proc/self/fd/%d", s->root_fd);
		ssize_t n = readlink(self, s->root_real, sizeof s->root_real);
		s->root_len = n <= 0 || n >= (ssize_t)sizeof s->root_real ? -1 : n == 1 ? 0 : n;
		s->root_read = 1;
	}
	ssize_t rl = s->root_len;
	snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
	ssize_t gl = readlink(self, got, sizeof got);
	if (rl < 0 || gl <= 0 || gl >= (ssize_t)sizeof got)
		return -1;
	if (gl < rl || memcmp(got, s->root_real, (size_t)rl) != 0)
		return -1;
	if (gl == rl)
		return 0;
	size_t n = (size_t)(gl - rl - 1);
	if (got[rl] != '/' || n > cap)
		return -1;
	memcpy(out, got + rl + 1, n);
	return (int)n;
}

static int sn_reply_count(struct rpc_ctx *ctx, uint64_t count)
{
	struct lego_count_rep *rep = rpc_reply_alloc(ctx, sizeof *rep);
	if (!rep)
		return -ENOMEM;
	rep->count = count;
	return 0;
}

/* Open q's path with flags, fstat it into st and check q's inode.
 * The descriptor, or -errno (-ESTALE: the path names another file, or with
 * ino != 0 none at all). */
static int sn_open_ino(struct storenode *s, const struct sn_req *q, int flags, struct stat *st)
{
	int fd = sn_resolve_open(s->root_fd, q->path, q->f.path_len, flags, 0);
	if (fd < 0)
		return fd == -ENOENT && q->f.ino ? -ESTALE : fd;
	if (fstat(fd, st) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	if (q->f.ino && st->st_ino != q->f.ino) {
		close(fd);
		return -ESTALE;
	}
	return fd;
}

/* fsync a directory descriptor. */
static int sn_fsync_dir(int dfd)
{
	return fsync(dfd) < 0 ? -errno : 0;
}

/* fsync the directory holding path's last component.  Nothing to do for
 * the root itself or a path ending in "." or ".." (a directory that the
 * caller synced itself). */
static int sn_sync_parent(struct storenode *s, const char *path, size_t len)
{
	char name[NAME_MAX + 1];
	int dfd = sn_resolve_parent(s->root_fd, path, len, name);
	if (dfd == -EBUSY || dfd == -EINVAL)
		return 0;
	if (dfd < 0)
		return dfd;
	int r = sn_fsync_dir(dfd);
	close(dfd);
	return r;
}

static int sn_has_trailing_slash(const char *p, size_t len)
{
	return len && p[len - 1] == '/';
}

static uint8_t *sn_io_buf(struct storenode *s)
{
	if (!s->io_buf)
		s->io_buf = malloc(LEGO_FILE_IO_MAX);
	return s->io_buf;
}

/* -------------------------------------------------------- operations */

/* OPEN: the kernel applies O_CREAT, O_EXCL, O_TRUNC, O_DIRECTORY,
 * O_NOFOLLOW and the access mode; the other flags describe the client's
 * descriptor and are ignored, except O_PATH and O_TMPFILE, which a
 * stateless server cannot honour (-EINVAL). */
static int op_open(struct storenode *s, const struct sn_req *q, struct rpc_ctx *ctx)
{
	uint32_t fl = q->f.flags;
	if ((fl & O_ACCMODE) == O_ACCMODE || (fl & O_PATH) || (fl & O_TMPFILE) == O_TMPFILE)
		return -EINVAL;
	/* O_NONBLOCK: a FIFO must not stall the server's only thread */
	int flags = (int)(fl & (O_ACCMODE | O_CREAT | O_EXCL | O_TRUNC | O_DIRECTORY | O_NOFOLLOW)) |
		    O_NONBLOCK | O_NOCTTY;
	const char *p = q->path;
	size_t len = q->f.path_len;
	int fd, created;
	if ((flags & (O_CREAT | O_EXCL)) == O_CREAT) {
		/* Only a file this open creates needs its directory synced:
		 * try exclusively first to learn which case this is. */
		fd = sn_resolve_open(s->root_fd, p, len, flags | O_EXCL, q->f.mode);
		created = fd >= 0;
		if (fd == -EEXIST) {
			fd = sn_resolve_open(s->root_fd, p, len, flags & ~O_CREAT, 0);
			if (fd == -ENOENT) { /* removed meanwhile, or a dangling symlink */
				fd = sn_resolve_open(s->root_fd, p, len, flags, q->f.mode);
				created = fd >= 0;
			}
		}
	} else {
		fd = sn_resolve_open(s->root_fd, p, len, flags, q->f.mode);
		created = fd >= 0 && (flags & O_CREAT);
	}
	if (fd < 0)
		return fd;
	struct stat st;
	int r = fstat(fd, &st) < 0 ? -errno : 0;
	char canon[LEGO_PATH_MAX];
	int cl = r ? -1 : sn_canon(s, fd, canon, sizeof canon);
	close(fd);
	if (r == 0 && (flags & O_CREAT) && S_ISDIR(st.st_mode))
		r = -EISDIR; /* as Linux: O_CREAT never opens a directory */
	if (r == 0 && created)
		r = sn_sync_parent(s, p, len);
	if (r)
		return r;
	return cl >= 0 ? sn_reply_fstat_path(ctx, &st, canon, (size_t)cl)
		       : sn_reply_fstat_path(ctx, &st, p, len);
}

static int op_stat(struct storenode *s, const struct sn_req *q, struct rpc_ctx *ctx)
{
	if (q->f.flags & ~LEGO_F_NOFOLLOW)
		return -EINVAL;
	int flags = O_PATH | (q->f.flags & LEGO_F_NOFOLLOW ? O_NOFOLLOW : 0);
	int fd = sn_resolve_open(s->root_fd, q->path, q->f.path_len, flags, 0);
	if (fd < 0)
		return fd;
	struct stat st;
	int r = fstat(fd, &st) < 0 ? -errno : 0;
	close(fd);
	return r ? r : sn_reply_fstat(ctx, &st);
}

static int op_read(struct storenode *s, const struct sn_req *q, struct rpc_ctx *ctx)
{
	if (q->f.len > LEGO_FILE_IO_MAX || q->f.off > INT64_MAX)
		return -EINVAL;
	uint8_t *buf = sn_io_buf(s);
	if (!buf)
		return -ENOMEM;
	struct stat st;
	int fd = sn_open_ino(s, q, O_RDONLY | O_NONBLOCK | O_NOCTTY, &st);
	if (fd < 0)
		return fd;
	/* Read into staging first: the reply's size must be known when it is
	 * allocated, and a file may be shorter than fstat said a moment ago. */
	size_t got = 0;
	int r = 0;
	while (got < q->f.len) {
		ssize_t n = pread(fd, buf + got, q->f.len - got, (off_t)(q->f.off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (r && got == 0)
		return r;
	s->bytes_read += got;
	if (got == 0)
		return 0;
	uint8_t *out = rpc_reply_alloc(ctx, got);
	if (!out)
		return -ENOMEM;
	memcpy(out, buf, got);
	return 0;
}

/* WRITE: all len bytes, or as many as went in before an error (then the
 * count says how many; an error with nothing written is the reply).  With
 * LEGO_F_APPEND at the file's end, one request at a time (the server has
 * one thread), so appends do not overwrite each other. */
static int op_write(struct storenode *s, const struct sn_req *q, struct rpc_ctx *ctx)
{
	int append = q->f.flags & LEGO_F_APPEND;
	if (q->f.flags & ~LEGO_F_APPEND)
		return -EINVAL;
	if (!append && q->f.off > INT64_MAX)
		return -EINVAL;
	struct stat st;
	int fd = sn_open_ino(s, q, O_WRONLY | O_NONBLOCK | O_NOCTTY, &st);
	if (fd < 0)
		return fd;
	uint64_t off = append ? (uint64_t)st.st_size : q->f.off;
	if (off + q->f.len > INT64_MAX) {
		close(fd);
		return -EFBIG;
	}
	size_t done = 0;
	int r = 0;
	while (done < q->f.len) {
		ssize_t n = pwrite(fd, q->data + done, q->f.len - done, (off_t)(off + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)n;
	}
	close(fd);
	if (r && done == 0)
		return r;
	s->bytes_written += done;
	if (!append)
		return sn_reply_count(ctx, done);
	struct lego_append_rep *rep = rpc_reply_alloc(ctx, sizeof *rep);
	if (!rep)
		return -ENOMEM;
	*rep = (struct lego_append_rep){done, off};
	return 0;
}

/* TRUNCATE; with LEGO_F_EXTEND only if that makes the file longer (one
 * request at a time here, so a file another request made longer since is
 * never cut back). */
static int op_truncate(struct storenode *s, const struct sn_req *q, struct rpc_ctx *ctx)
{
	if (q->f.off > INT64_MAX || (q->f.flags & ~LEGO_F_EXTEND))
		return -EINVAL;
	struct stat st;
	int fd = sn_open_ino(s, q, O_WRONLY | O_NONBLOCK | O_NOCTTY, &st);
	if (fd < 0)
		return fd;
	int r = (q->f.flags & LEGO_F_EXTEND) && (uint64_t)st.st_size >= q->f.off ? 0
		: ftruncate(fd, (off_t)q->f.off) < 0				     ? -errno
										     : 0;
	close(fd);
	return r;
}

static int op_fsync(struct storenode *s, const struct sn_req *q, struct rpc_ctx *ctx)
{
	if (q->f.flags & ~LEGO_F_DATASYNC)
		return -EINVAL;
	struct stat st;
	int fd = sn_open_ino(s, q, O_RDONLY | O_NONBLOCK | O_NOCTTY, &st);
	if (fd == -EACCES) /* a write-only file */
		fd = sn_open_ino(s, q, O_WRONLY | O_NONBLOCK | O_NOCTTY, &st);
	if (fd < 0)
		return fd;
	int r = (q->f.flags & LEGO_F_DATASYNC ? fdatasync(fd) : fsync(fd)) < 0 ? -errno : 0;
	close(fd);
	return r ? r : sn_sync_parent(s, q->path, q->f.path_len);
}

/* CLOSE: nothing is open here; check that the file is still the same. */
static int op_close(struct storenode *s, const struct sn_req *q, struct rpc_ctx *ctx)
{
	struct stat st;
	int fd = sn_open_ino(s, q, O_PATH, &st);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

static int op_unlink(struct storenode *s, const struct sn_req *q, struct rpc_ctx *ctx)
{
	char name[NAME_MAX + 1];
	int dfd = sn_resolve_parent(s->root_fd, q->path, q->f.path_len, name);
	if (dfd < 0)
		return dfd;
	struct stat st;
	int r = fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
	/* as Linux: "file/" names a directory, and a file is not one */
	if (r == 0 && sn_has_trailing_slash(q->path, q->f.path_len) && !S_ISDIR(st.st_mode))
		r = -ENOTDIR;
	if (r == 0 && unlinkat(dfd, name, 0) < 0)
		r = -errno;
	if (r == 0)
		r = sn_fsync_dir(dfd);
	close(dfd);
	if (r)
		return r;
	struct lego_unlink_rep *rep = rpc_reply_alloc(ctx, sizeof *rep);
	if (!rep)
		return -ENOMEM;
	*rep = (struct lego_unlink_rep){st.st_ino, st.st_nlink ? (uint64_t)st.st_nlink - 1 : 0};
	return 0;
}

/* A change to the name q's path ends in: fn on its directory and the
 * name, then that directory synced. */
static int sn_in_dir(struct storenode *s, const struct sn_req *q,
		     int (*fn)(int dfd, const char *name, const struct sn_req *q))
{
	char name[NAME_MAX + 1];
	int dfd = sn_resolve_parent(s->root_fd, q->path, q->f.path_len, name);
	if (dfd < 0)
		return dfd;
	int r = fn(dfd, name, q);
	if (r == 0)
		r = sn_fsync_dir(dfd);
	close(dfd);
	return r;
}

static int sn_rmdir_at(int dfd, const char *name, const struct sn_req *q)
{
	(void)q;
	return unlinkat(dfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

static int sn_mkdir_at(int dfd, const char *name, const struct sn_req *q)
{
	return mkdirat(dfd, name, q->f.mode & SN_MODE_BITS) < 0 ? -errno : 0;
}

static int sn_symlink_at(int dfd, const char *name, const struct sn_req *q)
{
	char target[LEGO_PATH_MAX + 1];
	memcpy(target, q->path2, q->f.path2_len);
	target[q->f.path2_len] = 0;
	return symlinkat(target, dfd, name) < 0 ? -errno : 0;
}

static int op_rmdir(struct storenode *s, const struct sn_req *q, struct rpc_ctx *ctx)
{
	return sn_in_dir(s, q, sn_rmdir_at);
}

/* LINK: path2 a new name of path's file; with LEGO_F_FOLLOW of the file a
 * link at path leads to, which must be beneath the root too (the kernel's
 * linkat would follow it anywhere: it is resolved here first, then linked
 * by its /proc name). */
static int op_link(struct storenode *s, const struct sn_req *q, struct rpc_ctx *ctx)
{
	if (q->f.flags & ~LEGO_F_FOLLOW)
		return -EINVAL;
	char from[NAME_MAX + 1], to[NAME_MAX + 1], self[40];
	int ofd = q->f.flags & LEGO_F_FOLLOW
			  ? sn_resolve_open(s->root_fd, q->path, q->f.path_len, O_PATH, 0)
			  : sn_resolve_parent(s->root_fd, q->path, q->f.path_len, from);
	if (ofd < 0)
		return ofd;
	int ndir = sn_resolve_parent(s->root_fd, q->path2, q->f.path2_len, to);
	if (ndir < 0) {
		close(ofd);
		return ndir;
	}
	snprintf(self, sizeof self, "/proc/self/fd/%d", ofd);
	int r = (q->f.flags & LEGO_F_FOLLOW ? linkat(AT_FDCWD, self, ndir, to, AT_SYMLINK_FOLLOW)
					    : linkat(ofd, from, ndir, to, 0)) < 0
			? -errno
			: 0;
	if (r == 0)
		r = sn_fsync_dir(ndir);
	close(ndir);
	close(ofd);
	return r;
}

static int op_mkdir(struct storenode *s, const struct sn_req *q, struct rpc_ctx *ctx)
{
	return sn_in_dir(s, q, sn_mkdir_at);
}

static int op_symlink(struct storenode *s, const struct sn_req *q, struct rpc_ctx *ctx)
{
	return sn_in_dir(s, q, sn_symlink_at);
}

static int op_rename(struct storenode *s, const struct sn_req *q, struct rpc_ctx *ctx)
{
	char from[NAME_MAX + 1], to[NAME_MAX + 1];
	int fdir = sn_resolve_parent(s->root_fd, q->path, q->f.path_len, from);
	if (fdir < 0)
		return fdir;
	int tdir = sn_resolve_parent(s->root_fd, q->path2, q->f.path2_len, to);
	if (tdir < 0) {
		close(fdir);
		return tdir;
	}
	int r = renameat(fdir, from, tdir, to) < 0 ? -errno : 0;
	if (r == 0)
		r = sn_fsync_dir(tdir);
	struct stat a, b;
	if (r == 0 && fstat(fdir, &a) == 0 && fstat(tdir, &b) == 0 &&
	    (a.st_dev != b.st_dev || a.st_ino != b.st_ino))
		r = sn_fsync_dir(fdir);
	close(tdir);
	close(fdir);
	return r;
}

/* READLINK with LEGO_F_WALK: the first component through which the path
 * leaves the root (proto.h).  Each prefix of the path is resolved in turn
 * until one is refused; the one before it is then a directory beneath the
 * root, and the refused component a link (or ".."). */
static int sn_walk(struct storenode *s, const struct sn_req *q, struct rpc_ctx *ctx)
{
	const char *p = q->path;
	size_t len = q->f.path_len, i = 0, done = 0;
	int nofollow = q->f.flags & LEGO_F_NOFOLLOW;
	for (;;) {
		while (i < len && p[i] == '/')
			i++;
		size_t cs = i;
		while (i < len && p[i] != '/')
			i++;
		size_t ce = i, j = ce;
		while (j < len && p[j] == '/')
			j++;
		if (cs == ce || (j == len && nofollow))
			return -EXDEV; /* no component leaves the root */
		int fd = sn_resolve_open(s->root_fd, p, ce, O_PATH, 0);
		if (fd >= 0) {
			close(fd);
			done = ce;
			continue;
		}
		if (fd != -EXDEV)
			return fd;
		int dfd = sn_resolve_open(s->root_fd, p, done, O_PATH | O_DIRECTORY, 0);
		if (dfd < 0)
			return dfd;
		char target[LEGO_PATH_MAX + 1], base[LEGO_PATH_MAX];
		ssize_t tl = 2;
		if (ce - cs == 2 && p[cs] == '.' && p[cs + 1] == '.') {
			memcpy(target, "..", 2);
		} else {
			char name[NAME_MAX + 1];
			memcpy(name, p + cs, ce - cs); /* <= NAME_MAX: checked */
			name[ce - cs] = 0;
			tl = readlinkat(dfd, name, target, sizeof target);
			if (tl < 0 || tl > LEGO_PATH_MAX) /* (EINVAL: it left by a mount) */
				tl = tl < 0 && errno != EINVAL ? -errno : -EXDEV;
		}
		int bl = tl < 0 ? -1 : sn_canon(s, dfd, base, sizeof base);
		close(dfd);
		if (tl < 0)
			return (int)tl;
		if (bl < 0)
			return -ESTALE; /* (its directory moved meanwhile) */
		struct lego_walk_rep *w = rpc_reply_alloc(ctx, sizeof *w + (size_t)bl + (size_t)tl);
		if (!w)
			return -ENOMEM;
		*w = (struct lego_walk_rep){.consumed = (uint32_t)ce, .base_len = (uint16_t)bl,
					    .target_len = (uint16_t)tl};
		memcpy(w + 1, base, (size_t)bl);
		memcpy((char *)(w + 1) + bl, target, (size_t)tl);
		return 0;
	}
}

/* READLINK: the target of the link the path names (-EINVAL: not a link,
 * as for the root and a path with a trailing slash, which follows it). */
static int op_readlink(struct storenode *s, const struct sn_req *q, struct rpc_ctx *ctx)
{
	if (q->f.flags & ~(LEGO_F_WALK | LEGO_F_NOFOLLOW))
		return -EINVAL;
	if (q->f.flags & LEGO_F_WALK)
		return sn_walk(s, q, ctx);
	if (q->f.flags)
		return -EINVAL;
	char name[NAME_MAX + 1], target[LEGO_PATH_MAX + 1];
	if (sn_has_trailing_slash(q->path, q->f.path_len)) {
		int fd = sn_resolve_open(s->root_fd, q->path, q->f.path_len, O_PATH, 0);
		if (fd >= 0)
			close(fd);
		return fd < 0 ? fd : -EINVAL;
	}
	int dfd = sn_resolve_parent(s->root_fd, q->path, q->f.path_len, name);
	if (dfd < 0)
		return dfd == -EBUSY ? -EINVAL : dfd;
	ssize_t tl = readlinkat(dfd, name, target, sizeof target);
	int r = tl < 0 ? -errno : tl > LEGO_PATH_MAX ? -ENAMETOOLONG : 0;
	close(dfd);
	if (r)
		return r;
	char *out = rpc_reply_alloc(ctx, (size_t)tl);
	if (!out)
		return -ENOMEM;
	memcpy(out, target, (size_t)tl);
	return 0;
}

static struct timespec sn_ts(uint32_t flags, uint32_t set, uint32_t now, uint64_t ns)
{
	if (flags & now)
		return (struct timespec){0, UTIME_NOW};
	if (!(flags & set))
		return (struct timespec){0, UTIME_OMIT};
	return lego_time_ts(ns);
}

/* SETATTR: chmod and utimensat, on the file itself (the descriptor is
 * O_PATH: chmod through its /proc name, which the kernel follows to the
 * inode; utimensat with AT_EMPTY_PATH); a symbolic link's mode cannot
 * change (-EOPNOTSUPP, as Linux's fchmodat with AT_SYMLINK_NOFOLLOW), its
 * times can. */
static int op_setattr(struct storenode *s, const struct sn_req *q, struct rpc_ctx *ctx)
{
	uint32_t fl = q->f.flags;
	if (fl & ~LEGO_SA_ALL)
		return -EINVAL;
	struct stat st;
	int fd = sn_open_ino(s, q, O_PATH | (fl & LEGO_F_NOFOLLOW ? O_NOFOLLOW : 0), &st);
	if (fd < 0)
		return fd;
	char self[40];
	snprintf(self, sizeof self, "/proc/self/fd/%d", fd);
	int r = 0;
	if (fl & LEGO_SA_MODE)
		r = S_ISLNK(st.st_mode)			     ? -EOPNOTSUPP
		    : chmod(self, q->f.mode & SN_MODE_BITS) < 0 ? -errno
							     : 0;
	struct timespec ts[2] = {sn_ts(fl, LEGO_SA_ATIME, LEGO_SA_ATIME_NOW, q->f.off),
				 sn_ts(fl, LEGO_SA_MTIME, LEGO_SA_MTIME_NOW, q->f.len)};
	if (r == 0 && (ts[0].tv_nsec != UTIME_OMIT || ts[1].tv_nsec != UTIME_OMIT))
		r = utimensat(fd, "", ts, AT_EMPTY_PATH) < 0 ? -errno : 0;
	if (r == 0 && fstat(fd, &st) < 0)
		r = -errno;
	close(fd);
	return r ? r : sn_reply_fstat(ctx, &st);
}

/* STATFS: the file system under the store's root, as seen from the file
 * the path names (the storenode sets no set-ID bits: ST_NOSUID). */
static int op_statfs(struct storenode *s, const struct sn_req *q, struct rpc_ctx *ctx)
{
	if (q->f.flags)
		return -EINVAL;
	int fd = sn_resolve_open(s->root_fd, q->path, q->f.path_len, O_PATH, 0);
	if (fd < 0)
		return fd;
	struct statvfs v;
	struct statfs f;
	int r = fstatvfs(fd, &v) < 0 || fstatfs(fd, &f) < 0 ? -errno : 0;
	close(fd);
	if (r)
		return r;
	struct lego_statfs *o = rpc_reply_alloc(ctx, sizeof *o);
	if (!o)
		return -ENOMEM;
	*o = (struct lego_statfs){.type = (uint64_t)f.f_type, .bsize = v.f_bsize,
				  .frsize = v.f_frsize, .blocks = v.f_blocks, .bfree = v.f_bfree,
				  .bavail = v.f_bavail, .files = v.f_files, .ffree = v.f_ffree,
				  .favail = v.f_favail, .fsid = v.f_fsid,
				  .flag = v.f_flag | ST_NOSUID, .namemax = v.f_namemax};
	return 0;
}

/* LIST: records from the position `off` (a cookie from an earlier reply,
 * 0 = the start) until LEGO_LIST_MAX bytes or the end.  A cookie is the
 * entry's d_off, the directory position just after it. */
static int op_list(struct storenode *s, const struct sn_req *q, struct rpc_ctx *ctx)
{
	if (q->f.off > INT64_MAX)
		return -EINVAL;
	uint8_t *out = sn_io_buf(s);
	if (!out)
		return -ENOMEM;
	uint8_t *dents = out + LEGO_LIST_MAX;
	int fd = sn_resolve_open(s->root_fd, q->path, q->f.path_len,
				 O_RDONLY | O_DIRECTORY | O_NONBLOCK, 0);
	if (fd < 0)
		return fd;
	int r = 0;
	if (q->f.off && lseek(fd, (off_t)q->f.off, SEEK_SET) < 0)
		r = -errno;
	size_t n = 0;
	int full = 0;
	while (r == 0 && !full) {
		ssize_t got = getdents64(fd, dents, SN_DENTS_BUF);
		if (got < 0) {
			if (n == 0)
				r = -errno;
			break; /* what was read so far is a valid reply */
		}
		if (got == 0)
			break;
		for (size_t at = 0; at < (size_t)got;) {
			struct dirent64 *d = (struct dirent64 *)(dents + at);
			at += d->d_reclen;
			size_t nl = strlen(d->d_name);
			if ((nl == 1 && d->d_name[0] == '.') ||
			    (nl == 2 && d->d_name[0] == '.' && d->d_name[1] == '.'))
				continue;
			size_t rec = LG_ALIGN_UP(sizeof(struct lego_dirent) + nl, (size_t)8);
			if (n + rec > LEGO_LIST_MAX) {
				full = 1; /* the next request resumes at the last cookie */
				break;
			}
			struct lego_dirent de = {.ino = d->d_ino, .cookie = (uint64_t)d->d_off,
						 .reclen = (uint16_t)rec, .type = d->d_type,
						 .name_len = (uint16_t)nl};
			memcpy(out + n, &de, sizeof de);
			memcpy(out + n + sizeof de, d->d_name, nl);
			memset(out + n + sizeof de + nl, 0, rec - sizeof de - nl);
			n += rec;
		}
	}
	close(fd);
	if (r)
		return r;
	if (n == 0)
		return 0; /* the end */
	uint8_t *rep = rpc_reply_alloc(ctx, n);
	if (!rep)
		return -ENOMEM;
	memcpy(rep, out, n);
	return 0;
}

/* ------------------------------------------------------------- table */

#define SN_HANDLER(name)                                                       \
	static int h_##name(struct rpc_ctx *ctx) { return sn_run(ctx, op_##name); }
SN_HANDLER(open)
SN_HANDLER(stat)
SN_HANDLER(read)
SN_HANDLER(write)
SN_HANDLER(truncate)
SN_HANDLER(fsync)
SN_HANDLER(unlink)
SN_HANDLER(rmdir)
SN_HANDLER(mkdir)
SN_HANDLER(rename)
SN_HANDLER(list)
SN_HANDLER(close)
SN_HANDLER(setattr)
SN_HANDLER(statfs)
SN_HANDLER(symlink)
SN_HANDLER(readlink)
SN_HANDLER(link)
#undef SN_HANDLER

#define MT (RPC_ROLE_BIT(LEGO_ROLE_MEMNODE) | RPC_ROLE_BIT(LEGO_ROLE_TOOL))
#define REQ sizeof(struct lego_file_req)
#define F(op, fn, flags) {op, REQ, REQ + SN_PATHS_MAX, MT, fn, flags}
const struct rpc_handler storenode_handlers[] = {
	F(X2F_OPEN, h_open, 0),
	F(X2F_STAT, h_stat, RPC_H_RERUN),
	F(X2F_READ, h_read, RPC_H_RERUN),
	{X2F_WRITE, REQ, REQ + SN_PATHS_MAX + LEGO_FILE_IO_MAX, MT, h_write, 0},
	F(X2F_TRUNCATE, h_truncate, 0),
	F(X2F_FSYNC, h_fsync, 0),
	F(X2F_UNLINK, h_unlink, 0),
	F(X2F_RMDIR, h_rmdir, 0),
	F(X2F_MKDIR, h_mkdir, 0),
	F(X2F_RENAME, h_rename, 0),
	F(X2F_LIST, h_list, RPC_H_RERUN),
	F(X2F_CLOSE, h_close, 0),
	F(X2F_SETATTR, h_setattr, 0),
	F(X2F_STATFS, h_statfs, RPC_H_RERUN),
	F(X2F_SYMLINK, h_symlink, 0),
	F(X2F_READLINK, h_readlink, RPC_H_RERUN),
	F(X2F_LINK, h_link, 0),
};
#undef F
#undef REQ
#undef MT
const size_t storenode_nhandlers = LG_ARRAY_SIZE(storenode_handlers);

int storenode_space(int fd, uint64_t *free_bytes, uint64_t *used_bytes)
{
	struct statvfs v;
	if (fstatvfs(fd, &v) < 0)
		return -errno;
	*free_bytes = (uint64_t)v.f_bavail * v.f_frsize;
	*used_bytes = (uint64_t)(v.f_blocks - v.f_bfree) * v.f_frsize;
	return 0;
}

struct storenode_values {
	STORENODE_STATS_LIST(LG_STAT_FIELD_U, LG_STAT_FIELD_S)
};

size_t storenode_stats(void *user, char *buf, size_t cap)
{
	struct storenode *s = user;
	uint64_t fr = 0, used = 0;
	storenode_space(s->root_fd, &fr, &used);
	struct storenode_values v = {
		.role = "storenode",
		.node_id = s->node_id,
		.registered = (uint64_t)s->registered,
		.root = s->root,
		.bytes_free = fr,
		.bytes_used = used,
		.requests = s->requests,
		.errors = s->errors,
		.refused_paths = s->refused_paths,
		.stale = s->stale,
		.bytes_read = s->bytes_read,
		.bytes_written = s->bytes_written,
		.heartbeat_failures = s->hb_failures,
	};
	size_t n = 0;
	STORENODE_STATS_LIST(LG_STAT_PUT_U, LG_STAT_PUT_S)
	return n;
}
