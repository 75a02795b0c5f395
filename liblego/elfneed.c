/* The store libraries an ELF file needs (see elfneed.h). */
#define _GNU_SOURCE
#include "elfneed.h"

#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "file.h"

/* The bytes at off of the file fd into buf: 0, or -1 if short. */
static int elf_read(int fd, void *buf, size_t n, uint64_t off)
{
	return pread(fd, buf, n, (off_t)off) == (ssize_t)n ? 0 : -1;
}

/* The file offset of virtual address va in the ELF file fd (its PT_LOAD
 * segments), or 0. */
static uint64_t elf_off(int fd, const Elf64_Ehdr *eh, uint64_t va)
{
	for (int i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph;
		if (elf_read(fd, &ph, sizeof ph, eh->e_phoff + (uint64_t)i * eh->e_phentsize))
			return 0;
		if (ph.p_type == PT_LOAD && va >= ph.p_vaddr && va < ph.p_vaddr + ph.p_filesz)
			return va - ph.p_vaddr + ph.p_offset;
	}
	return 0;
}

/* The first directory of the list dirs (origin for $ORIGIN) whose need is
 * a readable Lego file, into found: 1, or 0. */
static int elf_find(const char *dirs, const char *origin, const char *need, char *found)
{
	for (const char *d = dirs; d && *d;) {
		size_t l = strcspn(d, ":");
		size_t k = strncmp(d, "$ORIGIN", 7) == 0 ? 7 : strncmp(d, "${ORIGIN}", 9) == 0 ? 9 : 0;
		int n = snprintf(found, PATH_MAX, "%s%.*s/%s", k ? origin : "", (int)(l - k), d + k,
				 need);
		if (l && n > 0 && n < PATH_MAX && lg_file_path(AT_FDCWD, found) &&
		    lg_file_access(AT_FDCWD, found, R_OK, 0) == 0)
			return 1;
		d += l + (d[l] == ':');
	}
	return 0;
}

int lg_elf_store_needs(int fd, const char *path, const char *first,
		       void (*fn)(void *arg, const char *name, const char *found), void *arg)
{
	Elf64_Ehdr eh;
	uint64_t dynoff = 0, dynsz = 0, strva = 0, run = 0, rpath = 0;
	if (elf_read(fd, &eh, sizeof eh, 0) || memcmp(eh.e_ident, ELFMAG, SELFMAG) ||
	    eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr))
		return -1;
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		if (elf_read(fd, &ph, sizeof ph, eh.e_phoff + (uint64_t)i * eh.e_phentsize))
			return -1;
		if (ph.p_type == PT_DYNAMIC) {
			dynoff = ph.p_offset;
			dynsz = ph.p_filesz;
		}
	}
	Elf64_Dyn dy;
	for (uint64_t o = 0; dynsz && o + sizeof dy <= dynsz; o += sizeof dy) {
		if (elf_read(fd, &dy, sizeof dy, dynoff + o) || dy.d_tag == DT_NULL)
			break;
		if (dy.d_tag == DT_STRTAB)
			strva = dy.d_un.d_ptr;
		else if (dy.d_tag == DT_RUNPATH)
			run = dy.d_un.d_val + 1; /* (+1: 0 is "none") */
		else if (dy.d_tag == DT_RPATH)
			rpath = dy.d_un.d_val + 1;
	}
	uint64_t str = strva ? elf_off(fd, &eh, strva) : 0;
	if (!str)
		return -1;
	uint64_t sp = run ? run : rpath;
	char dirs[PATH_MAX] = "", origin[PATH_MAX];
	ssize_t got = sp ? pread(fd, dirs, sizeof dirs - 1, (off_t)(str + sp - 1)) : 0;
	dirs[got > 0 ? got : 0] = 0;
	snprintf(origin, sizeof origin, "%s", path);
	char *slash = strrchr(origin, '/');
	if (slash)
		*slash = 0;
	for (uint64_t o = 0; o + sizeof dy <= dynsz; o += sizeof dy) {
		char need[NAME_MAX + 1], found[PATH_MAX];
		if (elf_read(fd, &dy, sizeof dy, dynoff + o) || dy.d_tag == DT_NULL)
			break;
		ssize_t nl = dy.d_tag != DT_NEEDED ? -1
			     : pread(fd, need, sizeof need - 1, (off_t)(str + dy.d_un.d_val));
		if (nl <= 0)
			continue;
		need[nl] = 0;
		if (strchr(need, '/'))
			continue;
		if (elf_find(first, origin, need, found) || elf_find(dirs, origin, need, found))
			fn(arg, need, found);
	}
	return 0;
}
