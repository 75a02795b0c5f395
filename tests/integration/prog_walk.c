/*
 * prog_walk DIR: the C library's tree walkers on a small tree made in DIR
 * (files, a subdirectory two deep, a link to a directory beside it, a
 * link to itself, a dangling link): glob, nftw (with FTW_PHYS, FTW_DEPTH, FTW_CHDIR,
 * FTW_ACTIONRETVAL, following links) and ftw, then a removal with nftw.
 * Prints a transcript that names nothing above DIR, sorted where the
 * directory order shows, so a run in a local directory and one in /lego
 * under lego-run print the same.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <glob.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char top[PATH_MAX];
static size_t topl;
static char *lines[256];
static int nlines;

static void line(const char *fmt, const char *p, int a, int b)
{
	char buf[PATH_MAX + 64];
	snprintf(buf, sizeof buf, fmt, p, a, b);
	if (nlines < 256)
		lines[nlines++] = strdup(buf);
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* the lines gathered since the last flush, sorted, under a heading */
static void flush(const char *what)
{
	qsort(lines, (size_t)nlines, sizeof *lines, cmp);
	printf("%s:", what);
	for (int i = 0; i < nlines; i++) {
		printf(" %s", lines[i]);
		free(lines[i]);
	}
	printf("\n");
	nlines = 0;
}

static const char *rel(const char *p) { return strncmp(p, top, topl) == 0 ? p + topl : p; }

static const char *tname(int t)
{
	switch (t) {
	case FTW_F: return "F";
	case FTW_D: return "D";
	case FTW_DNR: return "DNR";
	case FTW_NS: return "NS";
	case FTW_SL: return "SL";
	case FTW_SLN: return "SLN";
	case FTW_DP: return "DP";
	}
	return "?";
}

static int order; /* FTW_DEPTH: each directory after its entries */
static int depth_ok = 1;
static int seen_deep;

static int on_entry(const char *p, const struct stat *st, int t, struct FTW *f)
{
	(void)st;
	char buf[64];
	snprintf(buf, sizeof buf, "%%s=%s/%%d/%%d", tname(t));
	line(buf, rel(p), f->level, (int)strlen(p) - f->base);
	if (order) {
		if (strstr(p, "deep/d.c"))
			seen_deep = 1;
		if (t == FTW_DP && strstr(p, "sub/deep") && !seen_deep)
			depth_ok = 0;
	}
	return 0;
}

static int cwd_ok = 1;
static int on_chdir(const char *p, const struct stat *st, int t, struct FTW *f)
{
	(void)st;
	char cwd[PATH_MAX];
	/* the callback runs in the entry's directory (FTW_DP: in the
	 * directory itself) */
	if (!getcwd(cwd, sizeof cwd) ||
	    faccessat(AT_FDCWD, t == FTW_DP ? "." : p + f->base, F_OK, AT_SYMLINK_NOFOLLOW) != 0)
		cwd_ok = 0;
	return 0;
}

static int on_skip(const char *p, const struct stat *st, int t, struct FTW *f)
{
	(void)st;
	(void)f;
	line("%s%.0d%.0d", rel(p), 0, 0);
	return t == FTW_D && strcmp(p + f->base, "sub") == 0 ? FTW_SKIP_SUBTREE : FTW_CONTINUE;
}

static int on_ftw(const char *p, const struct stat *st, int t)
{
	(void)st;
	char buf[64];
	snprintf(buf, sizeof buf, "%%s=%s%%.0d%%.0d", tname(t));
	line(buf, rel(p), 0, 0);
	return 0;
}

static int on_remove(const char *p, const struct stat *st, int t, struct FTW *f)
{
	(void)st;
	(void)t;
	(void)f;
	return remove(p) < 0 ? -1 : 0;
}

static void mk(const char *name, const char *what)
{
	char p[PATH_MAX + 64];
	snprintf(p, sizeof p, "%s/%s", top, name);
	if (!what) {
		if (mkdir(p, 0755) < 0)
			perror(p), exit(1);
	} else if (what[0] == '>') {
		if (symlink(what + 1, p) < 0)
			perror(p), exit(1);
	} else {
		FILE *f = fopen(p, "w");
		if (!f)
			perror(p), exit(1);
		fputs(what, f);
		fclose(f);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	snprintf(top, sizeof top, "%s/w", argv[1]);
	topl = strlen(argv[1]) + 1;
	mkdir(argv[1], 0755);
	char other[PATH_MAX + 16];
	snprintf(other, sizeof other, "%s/other", argv[1]);
	mkdir(other, 0755);
	snprintf(other, sizeof other, "%s/other/e.c", argv[1]);
	FILE *o = fopen(other, "w");
	if (!o)
		return 1;
	fclose(o);
	mk("", NULL);
	mk("a.c", "a");
	mk("b.h", "b");
	mk("sub", NULL);
	mk("sub/c.c", "c");
	mk("sub/deep", NULL);
	mk("sub/deep/d.c", "d");
	mk("link", ">../other");
	mk("loop", ">.");
	mk("dang", ">nowhere");

	char pat[PATH_MAX + 16];
	glob_t g;
	const char *pats[] = {"*.c", "*/*.c", "*/*/*.c", "*/", "[ab].?", "nothing*"};
	for (size_t i = 0; i < sizeof pats / sizeof *pats; i++) {
		snprintf(pat, sizeof pat, "%s/%s", top, pats[i]);
		int r = glob(pat, GLOB_MARK, NULL, &g);
		for (size_t k = 0; r == 0 && k < g.gl_pathc; k++)
			line("%s%.0d%.0d", rel(g.gl_pathv[k]), 0, 0);
		if (r == GLOB_NOMATCH)
			line("%sNOMATCH%.0d%.0d", "", 0, 0);
		flush(pats[i]);
		if (r == 0)
			globfree(&g);
	}

	nftw(top, on_entry, 8, FTW_PHYS);
	flush("nftw FTW_PHYS");
	order = 1;
	nftw(top, on_entry, 8, FTW_PHYS | FTW_DEPTH);
	flush("nftw FTW_PHYS|FTW_DEPTH");
	printf("depth first: %d\n", depth_ok && seen_deep);
	order = 0;
	nftw(top, on_entry, 8, 0);
	flush("nftw following links");
	char here[PATH_MAX];
	if (!getcwd(here, sizeof here))
		return 1;
	nftw(top, on_chdir, 8, FTW_PHYS | FTW_CHDIR);
	nftw(top, on_chdir, 8, FTW_PHYS | FTW_CHDIR | FTW_DEPTH);
	char after[PATH_MAX];
	printf("FTW_CHDIR: in each entry's directory %d, back after %d\n", cwd_ok,
	       getcwd(after, sizeof after) && strcmp(here, after) == 0);
	nftw(top, on_skip, 8, FTW_PHYS | FTW_ACTIONRETVAL);
	flush("nftw FTW_SKIP_SUBTREE at sub");
	ftw(top, on_ftw, 8);
	flush("ftw");
	int r = nftw(top, on_remove, 8, FTW_PHYS | FTW_DEPTH);
	printf("removed with nftw: %d, left: %s\n", r, access(top, F_OK) == 0 ? "yes" : strerror(errno));
	return 0;
}
