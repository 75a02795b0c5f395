/*
 * Lego files on the client side (docs/storage.md, "The client side"): the
 * decisions behind preload/file.c.  A path is a Lego path when it is
 * absolute and lies under LEGO_STORE_PREFIX ("/lego" itself is the store's
 * root), or is relative to a Lego directory descriptor; relative paths
 * against the working directory are never Lego (there is no Lego cwd).
 * A Lego descriptor is a real descriptor on a placeholder file (one per
 * inode), so the kernel numbers, dups, forks and closes it on exec; the
 * placeholder's open file description holds the offset and status flags.
 *
 * All of this is off unless the runtime runs in transparent mode with a
 * non-empty prefix.  The predicates are cheap, take no lock on the
 * non-Lego path and never start the runtime.  Every other call returns
 * what the system call would, or -errno; preload/ turns that into errno.
 * "dirfd" arguments follow the *at convention (AT_FDCWD allowed).
 */
#ifndef LEGO_FILE_H
#define LEGO_FILE_H

#include <dirent.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Set up from the runtime's state (after it started, or failed to):
 * choose the placeholder directory and find descriptors inherited across
 * exec.  Idempotent. */
void lg_file_init(void);

/* 1 if file interposition is on (or Lego paths fail with EIO). */
int lg_file_active(void);
/* At exit: write back every Lego file still open for writing (X2F_CLOSE
 * without closing), for close-to-open consistency with processes that
 * exit without closing (shell redirections).  The caller flushes stdio
 * first. */
void lg_file_exit(void);

/* 1 if fd is a Lego descriptor.  Lock-free, async-signal-safe. */
int lg_file_fd(int fd);
/* 1 if (dirfd, path) names something in the store (then the lg_file_ call
 * decides, possibly with -ENAMETOOLONG, -ENOTDIR or -EIO).  Never fails. */
int lg_file_path(int dirfd, const char *path);
/* lg_file_path for calls with AT_SYMLINK_NOFOLLOW in flags (lstat,
 * fstatat, statx): /dev/stdin and /proc/self/fd/N are links there, the C
 * library's to answer. */
int lg_file_path_flags(int dirfd, const char *path, int flags);
/* readlink of a name of a Lego descriptor (lg_file_path also takes
 * /dev/stdin, /dev/fd/N and /proc/self/fd/N of one as its file): 2 and
 * the file's Lego name in buf (*len bytes, cut at n, no NUL) for the
 * kernel's links (/proc/.../fd/N, /dev/fd/N); 1 for /dev/stdin, stdout and
 * stderr, which are symlinks the C library's readlink reads; 0 for any
 * other path. */
int lg_file_fdlink(const char *path, char *buf, size_t n, size_t *len);
/* fd came in a message (SCM_RIGHTS): if another process's Lego file, it
 * is ours now (as one inherited across exec), else a stale record of the
 * number goes. */
void lg_file_received(int fd);
/* A real descriptor fd was just created outside this layer: forget any
 * stale record of that number (its Lego file was closed behind our back). */
void lg_file_fresh(int fd);

/* open/openat: the new descriptor or -errno (mode used with O_CREAT). */
int lg_file_open(int dirfd, const char *path, int flags, mode_t mode);
/* fopen mode string to open flags; -EINVAL if it is not one. */
int lg_file_fopen_flags(const char *mode, int *flags);

ssize_t lg_file_read(int fd, void *buf, size_t n);
ssize_t lg_file_write(int fd, const void *buf, size_t n);
/* off < 0 is -EINVAL, as for the system calls. */
ssize_t lg_file_pread(int fd, void *buf, size_t n, off_t off);
ssize_t lg_file_pwrite(int fd, const void *buf, size_t n, off_t off);
/* off == -1: at the file offset (readv/writev), else preadv/pwritev. */
ssize_t lg_file_readv(int fd, const struct iovec *iov, int cnt, off_t off);
ssize_t lg_file_writev(int fd, const struct iovec *iov, int cnt, off_t off);
off_t lg_file_lseek(int fd, off_t off, int whence);

/* close: X2F_CLOSE (write-back for close-to-open), then the placeholder;
 * the descriptor is gone even when the write-back error is returned. */
int lg_file_close(int fd);
/* close_range(first, last, flags) and closefrom: Lego files closed as by
 * close, the runtime's own descriptors left open (lg_fd_kept). */
int lg_file_close_range(unsigned first, unsigned last, int flags);
/* Is fd one of the runtime's own descriptors (the userfaultfd, libfabric's
 * endpoints, ...) that the program is closing or replacing (dup2)?  They
 * stay: the program's memory depends on them.  Calls the runtime itself
 * makes are not the program's. */
int lg_fd_kept(int fd);
/* dup (newfd < 0), dup2 (flags 0), dup3; either fd may be Lego. */
int lg_file_dup(int oldfd, int newfd, int flags);
/* fcntl on a Lego descriptor: dup commands, flags, locks (on the
 * placeholder: processes on one host exclude each other). */
int lg_file_fcntl(int fd, int cmd, unsigned long arg);

int lg_file_fstat(int fd, struct stat *st);
/* fstatat: AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH. */
int lg_file_stat(int dirfd, const char *path, struct stat *st, int flags);
struct statx;
int lg_file_statx(int dirfd, const char *path, int flags, unsigned mask, struct statx *stx);
/* faccessat (AT_EACCESS and AT_SYMLINK_NOFOLLOW accepted; the check uses
 * the effective ids, root passes except X_OK without any x bit). */
int lg_file_access(int dirfd, const char *path, int mode, int flags);

int lg_file_fsync(int fd, int datasync);
int lg_file_ftruncate(int fd, off_t len);
int lg_file_truncate(const char *path, off_t len);
/* unlinkat (AT_REMOVEDIR: rmdir). */
int lg_file_unlink(int dirfd, const char *path, int flags);
/* renameat2: -EXDEV when only one side is Lego, -EINVAL for flags. */
int lg_file_rename(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
		   unsigned flags);
int lg_file_mkdir(int dirfd, const char *path, mode_t mode);
/* mkostemps (dir 0: the descriptor) and mkdtemp (dir 1: 0) on a Lego
 * template; -errno (the template's X are then unspecified, as POSIX says). */
int lg_file_mktemp(char *tmpl, int suffixlen, int flags, int dir);
/* getdents64 on a Lego directory descriptor: bytes filled, 0 at the end. */
ssize_t lg_file_getdents(int fd, void *buf, size_t len);

/* Directory streams: Lego's own DIR objects, kept in a registry so that
 * lg_file_dir() tells them apart from the C library's (cheap when none is
 * open). */
int lg_file_dir(DIR *d);
int lg_file_opendir(const char *path, DIR **out);
int lg_file_fdopendir(int fd, DIR **out);
/* *out = the next entry, or NULL at the end (0 returned). */
int lg_file_readdir(DIR *d, struct dirent **out);
int lg_file_closedir(DIR *d);
int lg_file_dirfd(DIR *d);
void lg_file_rewinddir(DIR *d);
long lg_file_telldir(DIR *d);
void lg_file_seekdir(DIR *d, long pos);

/* sendfile and copy_file_range when either side is Lego: copied through
 * a local buffer, at most LEGO_FILE_IO_MAX bytes per call (callers loop). */
ssize_t lg_file_sendfile(int out, int in, off_t *off, size_t n);
ssize_t lg_file_copy_range(int in, off_t *off_in, int out, off_t *off_out, size_t n,
			   unsigned flags);

/* ioctl(fd, req, arg): 1 and *ret (0 or -errno) when it is Lego's to
 * answer, 0 when the C library's ioctl should run.  On a Lego descriptor:
 * its flags (FIOCLEX, FIONBIO, ...) pass, FIONREAD is what is left of the
 * file, anything else ENOTTY (it would reach the placeholder).  FICLONE,
 * FICLONERANGE, FIDEDUPERANGE with a Lego file on either side: EOPNOTSUPP
 * (both) or EXDEV (one), so that cp copies instead. */
int lg_file_ioctl(int fd, unsigned long req, void *arg, int *ret);

/* mmap of a Lego descriptor: lg_file_mmap_fd(fd) says whether mmap must
 * come here; lg_file_mmap returns the address or -errno.  MAP_PRIVATE, and
 * MAP_SHARED without PROT_WRITE of a read-only descriptor: anonymous memory
 * filled from the file; other MAP_SHARED: lg_fmap_map. */
int lg_file_mmap_fd(int fd);
long lg_file_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);

/* Shared mappings of Lego files open for writing (fmap.c): the host's copy of the
 * file in tmpfs, shared by the processes that map it, and the pages each
 * wrote written back at msync, munmap, mremap, exec and exit.  The hooks
 * cost one relaxed load while no such mapping exists (lg_fmap_live). */
extern _Atomic int lg_fmap_live;
long lg_fmap_map(void *addr, size_t len, int prot, int flags, int fd, off_t off);
/* munmap, or a MAP_FIXED mapping over [addr, addr + len): what was written
 * there goes to the file first.  0 or the write-back's -errno. */
int lg_fmap_unmap(void *addr, size_t len);
/* msync: 1 if no such mapping is in the range (the kernel's msync), else 0
 * or -errno (MS_SYNC also makes the file durable). */
int lg_fmap_msync(void *addr, size_t len, int flags);
/* mremap: phase 0 before (write back), 1 after it succeeded (the table). */
int lg_fmap_remap(void *old, size_t old_len, void *new_addr, size_t new_len, int phase);
/* read (wr 0) or write (wr 1) of n bytes at off of the Lego file ino, just
 * done: the bytes come from, or go to, its copy too if this process has one. */
void lg_fmap_io(uint64_t ino, void *buf, size_t n, uint64_t off, int wr);
void lg_fmap_truncate(uint64_t ino, uint64_t size);
/* Exit (and _exit): write back, leave the copies.  Exec: write back and
 * count this process out (failed 0), or in again when the exec failed. */
void lg_fmap_exit(void);
void lg_fmap_exec(int failed);
void lg_fmap_fork_prepare(void);
void lg_fmap_fork_release(void); /* (after fork, in both processes) */
void lg_fmap_fork_child(void);

/* A Lego descriptor's file, held beyond the descriptor (a mapping outlives
 * it): its attributes (st) and access mode (O_RDONLY, ...), or NULL.  I/O at
 * an offset, X2F_FSYNC (fsync 1) or the write-back of X2F_CLOSE (0). */
struct lf_file;
struct lego_fstat;
struct lf_file *lg_file_ref_get(int fd, struct lego_fstat *st, int *acc);
void lg_file_ref_put(struct lf_file *f);
ssize_t lg_file_ref_io(struct lf_file *f, void *buf, size_t n, off_t off, int wr);
int lg_file_ref_sync(struct lf_file *f, int fsync);
int lg_file_ref_stat(struct lf_file *f, struct lego_fstat *st);
/* its path in the store (for messages) */
const char *lg_file_ref_path(const struct lf_file *f);

/* statfs's f_type of Lego files: Lego's own, "LEGO", which tools that know
 * the local file systems take for a remote one (tail -f polls instead of
 * complaining that inotify cannot watch the file). */
#define LG_FILE_FS_MAGIC 0x4c45474fu

/* chown of a Lego path (fchownat semantics), which the store cannot
 * express (its files have one owner, the storenode's user): 0 if the path
 * exists (the change is ignored), else -errno; a local file that a link
 * out of the store leads to changes owner. */
int lg_file_chown(int dirfd, const char *path, uid_t owner, gid_t group, int flags);

/* symlinkat and readlinkat of Lego paths (the target is kept as given; an
 * absolute one names a file of this host's namespace, /lego/... again a
 * Lego file). */
int lg_file_symlink(const char *target, int dirfd, const char *path);
/* linkat of Lego paths (both in the store, else -EXDEV). */
int lg_file_link(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags);
ssize_t lg_file_readlink(int dirfd, const char *path, char *buf, size_t n);

/* fchmodat and utimensat on a Lego path beneath dirfd, or with path ""
 * and AT_EMPTY_PATH on the Lego descriptor dirfd: 0 or -errno.  The
 * storenode drops set-user-ID and set-group-ID bits; ts as utimensat's
 * (NULL: both now).  A change of times writes the file's dirty data back
 * first, so a later write-back does not undo it. */
int lg_file_chmod(int dirfd, const char *path, mode_t mode, int flags);

/* chdir to a Lego path (path absolute, or relative to a Lego working
 * directory, where ".." by name may lead back out of the store), or with
 * path NULL fchdir to the Lego descriptor fd: 0 or -errno.  After any other
 * successful chdir or fchdir, lg_file_cwd_local.  lg_file_getcwd: 1 and the
 * working directory's path in buf when it is a Lego directory, 0 when it
 * is not, -ERANGE. */
int lg_file_chdir(int fd, const char *path);

/* statfs of the file system holding the Lego path (or, path NULL, the open
 * Lego file fd) at the storenode: 0 or -errno. */
struct lego_statfs;
int lg_file_statfs(int fd, const char *path, struct lego_statfs *out);

/* fallocate (mode 0 or FALLOC_FL_KEEP_SIZE) and posix_fallocate of a Lego
 * descriptor: the file is made at least off + len long, never shorter;
 * no space is set aside (the storenode's file system may still run out
 * when the data comes).  0 or -errno. */
int lg_file_fallocate(int fd, int mode, off_t off, off_t len);
void lg_file_cwd_local(void);
int lg_file_getcwd(char *buf, size_t size);
int lg_file_utimens(int dirfd, const char *path, const struct timespec ts[2], int flags);

/* execve of a program in the store (docs/storage.md, "Running programs
 * from the store").  The kernel cannot open a Lego path, so
 * lg_file_exec_prep, for (dirfd, path) or with path "" and AT_EMPTY_PATH
 * the Lego descriptor dirfd, checks it as execve would (a regular file
 * with an x bit for the files' owner, else -EACCES) and reads its first
 * line.  A #! script, when the program to run has liblego preloaded
 * (preloaded), gets its interpreter and argument (the caller runs the
 * interpreter on the path, as the kernel does); anything else is copied
 * into a memfd (x->fd; close-on-exec unless it is a script, whose
 * interpreter the kernel gives /dev/fd/N), which the caller execs with
 * execveat(AT_EMPTY_PATH).  0 or -errno. */
struct lg_exec {
	int fd;              /* the memfd, or -1 for a script run by name */
	char interp[256];    /* a script's interpreter (NUL-terminated), */
	const char *arg;     /* and its one argument (inside interp), or NULL */
	char name[PATH_MAX];  /* "/prefix/store path" of the file, */
	int local;           /* or (1) the local program a link out of the store leads to */
};
/* Does execveat(dirfd, path, ..., flags) name a program in the store?  In a
 * vforked child, relative to the kernel's working directory (its chdir
 * moved only that). */
int lg_file_exec_path(int dirfd, const char *path, int flags);
int lg_file_exec_prep(int dirfd, const char *path, int flags, int preloaded, struct lg_exec *x);

/* The libraries a program in the store needs from the store (elfneed.h), for
 * the dynamic loader of its copy (fd, run by exec): local copies of them,
 * made once per version of each, and a directory of links to the copies by
 * the names they are needed by, to put first in LD_LIBRARY_PATH, into dir:
 * 1, or 0 when it needs none, or -errno.  name: the program's Lego name
 * ("/prefix/..."); llp: the LD_LIBRARY_PATH it will run with, or NULL. */
int lg_file_exec_libs(int fd, const char *name, const char *llp, char *dir, size_t cap);

/* dlopen of path, a Lego path (lg_file_path): the name the C library's
 * dlopen can load instead into name: /proc/self/fd/N of a memfd copy of the
 * file, the same for the same file while it is unchanged (so the loader
 * finds the object it loaded), or the local file a link out of the store
 * leads to.  1, or -errno. */
int lg_file_lib(const char *path, char *name, size_t cap);

#endif
