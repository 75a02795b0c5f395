/* C stdio on one file: write lines, append, seek, read back, check; then
 * mkstemp, mkostemps and mkdtemp beside it (the C library makes those
 * through internal calls).  An ordinary program: files.sh runs it on a
 * local path and on a /lego path under lego-run. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* 0 if a temporary name was made from tmpl (its X replaced), is a file of
 * `size` bytes or a directory (size < 0), and is gone again. */
static int made(const char *what, const char *tmpl, const char *name, long size)
{
	struct stat st;
	if (strlen(name) != strlen(tmpl) || strstr(name, "XXXXXX") || stat(name, &st) != 0 ||
	    (size < 0 ? !S_ISDIR(st.st_mode) : st.st_size != size) ||
	    (size < 0 ? rmdir(name) : unlink(name)) != 0) {
		perror(what);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	FILE *f = fopen(argv[1], "w");
	if (!f) {
		perror(argv[1]);
		return 1;
	}
	for (int i = 0; i < 1000; i++)
		fprintf(f, "line %d\n", i);
	if (fclose(f) != 0)
		return 1;
	f = fopen(argv[1], "a+");
	if (!f || fputs("tail\n", f) < 0 || fseek(f, 0, SEEK_SET) != 0)
		return 1;
	char buf[64];
	int n = 0;
	while (fgets(buf, sizeof buf, f)) {
		char want[64];
		snprintf(want, sizeof want, n < 1000 ? "line %d\n" : "tail\n", n);
		if (strcmp(buf, want) != 0) {
			fprintf(stderr, "line %d: got '%s' want '%s'\n", n, buf, want);
			return 1;
		}
		n++;
	}
	if (n != 1001 || fseek(f, 0, SEEK_END) != 0 || ftell(f) != 8890 + 5) {
		fprintf(stderr, "%d lines, size %ld\n", n, ftell(f));
		return 1;
	}
	fclose(f);
	char tmpl[4200], t[4200];
	snprintf(tmpl, sizeof tmpl, "%s.XXXXXX", argv[1]);
	strcpy(t, tmpl);
	int fd = mkstemp(t);
	if (fd < 0 || write(fd, "tmp\n", 4) != 4 || close(fd) != 0 || made("mkstemp", tmpl, t, 4))
		return 1;
	snprintf(tmpl, sizeof tmpl, "%s.XXXXXX.sfx", argv[1]);
	strcpy(t, tmpl);
	fd = mkostemps(t, 4, O_CLOEXEC);
	if (fd < 0 || !(fcntl(fd, F_GETFD) & FD_CLOEXEC) || strcmp(t + strlen(t) - 4, ".sfx") != 0 ||
	    close(fd) != 0 || made("mkostemps", tmpl, t, 0))
		return 1;
	snprintf(tmpl, sizeof tmpl, "%s.dXXXXXX", argv[1]);
	strcpy(t, tmpl);
	if (!mkdtemp(t) || made("mkdtemp", tmpl, t, -1))
		return 1;
	strcpy(t, "/nowhere-XXXXXY");
	if (mkstemp(t) != -1) /* (not a template) */
		return 1;
	printf("ok %d lines, mkstemp, mkostemps, mkdtemp\n", n);
	return 0;
}
