/* C stdio on one file: write lines, append, seek, read back, check.  An
 * ordinary program: files.sh runs it on a local path and on a /lego path
 * under lego-run. */
#include <stdio.h>
#include <string.h>

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
	printf("ok %d lines\n", n);
	return 0;
}
