/*
 * The storenode's path resolver: turns a wire path (bytes and a length,
 * relative to the store root, '/'-separated, no NUL) into a descriptor
 * beneath the root, or refuses it.
 *
 * Refusals, checked before any system call: a NUL byte (-EINVAL), more than
 * LEGO_PATH_MAX bytes or a component longer than NAME_MAX (-ENAMETOOLONG),
 * an absolute path (-EXDEV).  Resolution itself is openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_MAGICLINKS): the kernel refuses ".." above the root and
 * symlinks leading outside it with -EXDEV, atomically.  Every escape is
 * therefore -EXDEV, whichever check catches it.
 *
 * "" (and ".", "./", ...) names the root itself.  Functions return a new
 * O_CLOEXEC descriptor the caller closes, or -errno; nothing else is kept.
 */
#ifndef LEGO_STORENODE_RESOLVE_H
#define LEGO_STORENODE_RESOLVE_H

#include <limits.h>
#include <stddef.h>

/* The permission bits a client may give a file or directory: all but
 * set-user-ID and set-group-ID.  A storenode run as root would otherwise
 * hold, under its root, programs that any client could make run as root
 * on its host. */
#define SN_MODE_BITS 01777u

/* Check a wire path's syntax without touching the file system: 0, -EINVAL
 * (NUL byte), -ENAMETOOLONG (path or component too long), -EXDEV
 * (absolute).  With name_op, also refuse what sn_resolve_parent refuses:
 * the root itself (-EBUSY) and a last component "." or ".." (-EINVAL). */
int sn_path_check(const void *path, size_t len, int name_op);

/* Open path beneath root_fd with open(2) flags (O_CLOEXEC is added; mode is
 * used only with O_CREAT or O_TMPFILE).  O_NOFOLLOW applies to the last
 * component.  Returns the descriptor or -errno: the refusals above, -EXDEV
 * for an escape, or what openat2 returned. */
int sn_resolve_open(int root_fd, const void *path, size_t len, int flags, unsigned mode);

/* For operations on a name (create, unlink, rename, mkdir, rmdir): open the
 * directory that holds path's last component (O_RDONLY | O_DIRECTORY, so it
 * can be fsync'ed) and copy that component, NUL-terminated, into name.
 * Trailing slashes are ignored.  Returns the descriptor or -errno: the
 * refusals above, -EBUSY when path names the root itself, -EINVAL when the
 * last component is "." or "..". */
int sn_resolve_parent(int root_fd, const void *path, size_t len, char name[NAME_MAX + 1]);

#endif
