/*
 * The libraries an ELF file in the store needs that are in the store too
 * (docs/storage.md, "Running programs from the store").  The dynamic
 * loader opens a program's and a library's DT_NEEDED itself and cannot see
 * the store, so dlopen loads them first (preload.c) and exec gives the
 * loader local copies of them (lg_file_exec_libs).
 */
#ifndef LEGO_ELFNEED_H
#define LEGO_ELFNEED_H

/* For each DT_NEEDED name of the ELF file fd (a copy of the Lego file
 * `path`, "/prefix/..."), the first place in the store that holds it, in
 * the order the loader would look: the colon-separated directories of
 * `first` (LD_LIBRARY_PATH, or NULL), then the file's DT_RUNPATH, else its
 * DT_RPATH, with $ORIGIN (and ${ORIGIN}) path's directory: fn(arg, name,
 * found).  Names found outside the store, or nowhere, are the loader's.
 * 0, or -1 if fd is not a 64-bit ELF file with a dynamic section. */
int lg_elf_store_needs(int fd, const char *path, const char *first,
		       void (*fn)(void *arg, const char *name, const char *found), void *arg);

#endif
