/*
 * Memory mapping calls in transparent mode: anonymous private mmap,
 * munmap (also partial), mremap (grow, shrink, move), mprotect, madvise,
 * and the program break (brk/sbrk), over the remote address space.
 *
 * What becomes remote: anonymous, private mappings of at least
 * LEGO_REMOTE_MIN bytes made by the application (not by the runtime, and
 * not MAP_GROWSDOWN, MAP_STACK, MAP_HUGETLB or MAP_32BIT ones).  File and
 * shared mappings stay with the kernel, also when placed with MAP_FIXED
 * inside remote memory ("foreign" ranges); unmapping one restores the
 * remote reservation under it.  Everything else goes to the kernel as is.
 *
 * Each call returns what the system call would: an address (or 0), or
 * -errno.  preload/ turns that into the libc convention.
 */
#ifndef LEGO_VM_H
#define LEGO_VM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

long lg_vm_mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off);
long lg_vm_munmap(void *addr, size_t len);
long lg_vm_mremap(void *old, size_t old_len, size_t new_len, int flags, void *new_addr);
long lg_vm_mprotect(void *addr, size_t len, int prot);
/* [addr, addr + len), remote memory holding a copy of a file mapped
 * MAP_SHARED without PROT_WRITE (file.c), must not become writable: what
 * is written there would never reach the file.  lg_vm_mprotect then
 * refuses PROT_WRITE with EACCES; unmapping or mapping over ends it.  0 or
 * -ENOMEM. */
long lg_vm_nowrite(void *addr, size_t len);
long lg_vm_madvise(void *addr, size_t len, int advice);
/* mlock2 (flags 0 for mlock), munlock, mlockall, munlockall: local memory
 * is locked as asked, remote memory never (it lives on memnodes and the
 * ExCache must be able to evict it).  0 or -errno. */
long lg_vm_mlock(const void *addr, size_t len, unsigned flags);
long lg_vm_munlock(const void *addr, size_t len);
long lg_vm_mlockall(int flags);
long lg_vm_munlockall(void);

/* The program break: brk(addr) -> 0 or -errno; sbrk(incr) -> the old
 * break, or -errno (as a negative number cast). */
long lg_vm_brk(void *addr);
long lg_vm_sbrk(intptr_t incr);

/* Is p in a foreign range (a file or shared mapping the program placed
 * inside remote memory)?  1 or 0; -1 when the answer would mean waiting
 * (for use in signal handlers). */
int lg_vm_is_foreign(const void *p);

/* Set up the break region (called at start in transparent mode). */
int lg_vm_init(uint64_t brk_size);

/* fork: hold the mapping lock across it; register the remote space
 * (without foreign ranges) with a forked child's new userfaultfd. */
void lg_vm_fork_lock(void);
void lg_vm_fork_unlock(void);
int lg_vm_register(int uffd);
/* In a forked child: its parent's MADV_DONTFORK ranges of remote memory
 * reserved again (in the fork handler, before its userfaultfd is
 * registered), their lines dropped (once its connections work, before
 * its threads run), then zeros in its MADV_WIPEONFORK ranges (its runtime
 * runs). */
void lg_vm_fork_child_reserve(void);
void lg_vm_fork_child_dontfork(void);
void lg_vm_fork_child_wipe(void);

#endif
