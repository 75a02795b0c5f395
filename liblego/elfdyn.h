/*
 * The dynamic section of an ELF file, read with pread (no loader, no
 * runtime): its library search path and the libraries it needs.  Used by
 * elfneed.c (the runtime) and by lego-run, which links no runtime.
 */
#ifndef LEGO_ELFDYN_H
#define LEGO_ELFDYN_H

#include <stddef.h>

/* The 64-bit ELF file fd's DT_RUNPATH, else its DT_RPATH, into runpath
 * (cap bytes; "" if it has neither), and each DT_NEEDED name without a '/'
 * to fn (if not NULL), in order.  0, or -1 if fd is not a 64-bit ELF file
 * with a dynamic section. */
int lg_elf_dynamic(int fd, char *runpath, size_t cap, void (*fn)(void *arg, const char *need),
		   void *arg);

#endif
