/* The dynamic section of an ELF file (see elfdyn.h). */
#define _GNU_SOURCE
#include "elfdyn.h"

#include <elf.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

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

int lg_elf_dynamic(int fd, char *runpath, size_t cap, void (*fn)(void *arg, const char *need),
		   void *arg)
{
	Elf64_Ehdr eh;
	uint64_t dynoff = 0, dynsz = 0, strva = 0, run = 0, rpath = 0;
	if (cap)
		runpath[0] = 0;
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
	ssize_t got = sp && cap > 1 ? pread(fd, runpath, cap - 1, (off_t)(str + sp - 1)) : 0;
	if (cap)
		runpath[got > 0 ? got : 0] = 0;
	for (uint64_t o = 0; fn && o + sizeof dy <= dynsz; o += sizeof dy) {
		char need[NAME_MAX + 1];
		if (elf_read(fd, &dy, sizeof dy, dynoff + o) || dy.d_tag == DT_NULL)
			break;
		ssize_t nl = dy.d_tag != DT_NEEDED ? -1
			     : pread(fd, need, sizeof need - 1, (off_t)(str + dy.d_un.d_val));
		if (nl <= 0)
			continue;
		need[nl] = 0;
		if (!strchr(need, '/'))
			fn(arg, need);
	}
	return 0;
}
