/* The store libraries an ELF file needs (see elfneed.h). */
#define _GNU_SOURCE
#include "elfneed.h"

#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "elfdyn.h"
#include "file.h"

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

struct elf_needs {
	const char *first, *dirs;
	char origin[PATH_MAX];
	void (*fn)(void *arg, const char *name, const char *found);
	void *arg;
};

static void elf_need(void *arg, const char *need)
{
	struct elf_needs *e = arg;
	char found[PATH_MAX];
	if (elf_find(e->first, e->origin, need, found) || elf_find(e->dirs, e->origin, need, found))
		e->fn(e->arg, need, found);
}

int lg_elf_store_needs(int fd, const char *path, const char *first,
		       void (*fn)(void *arg, const char *name, const char *found), void *arg)
{
	char dirs[PATH_MAX];
	struct elf_needs e = {.first = first, .dirs = dirs, .fn = fn, .arg = arg};
	snprintf(e.origin, sizeof e.origin, "%s", path);
	char *slash = strrchr(e.origin, '/');
	if (slash)
		*slash = 0;
	return lg_elf_dynamic(fd, dirs, sizeof dirs, elf_need, &e);
}
