/*
 * Linked into the daemons and legoctl (liblego.so has its own fopen, in
 * preload/file.c): fopen as libfabric sees it, refusing the one read of
 * /proc/kallsyms that lf_fi_probe_refused names (fabric/fiload.h).  Every
 * other call goes to the C library's.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>

#include "fiload.h"

static FILE *real_fopen(const char *path, const char *mode)
{
	static FILE *(*real)(const char *, const char *);
	if (!real)
		real = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen");
	if (!real) {
		errno = ENOSYS;
		return NULL;
	}
	return real(path, mode);
}

FILE *fopen(const char *path, const char *mode)
{
	if (lf_fi_probe_refused(path)) {
		errno = EACCES;
		return NULL;
	}
	return real_fopen(path, mode);
}

FILE *fopen64(const char *path, const char *mode) { return fopen(path, mode); }
