/*
 * fuzz_options: the option parsers (common/options.h) and the text helpers
 * under them (common/util.h).  The first input byte picks the entry point:
 *
 *   SET    lg_opts_set(name, value) for NUL-separated pairs of the input
 *   FILE   the input as a config file: lg_opts_load with LEGO_CONF naming a
 *          memfd that holds it
 *   ARGV   lg_opts_parse_argv over the NUL-separated words, for a scope
 *   TEXT   lg_parse_size, lg_parse_int, lg_split_hostport, lg_format_size
 *
 * After each, every option must be within its table's bounds: numbers in
 * [min, max], an enum index naming a choice, strings NUL-terminated.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/options.h"
#include "common/util.h"
#include "fuzz_input.h"

static int conf_fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	conf_fd = memfd_create("lego-fuzz-conf", MFD_CLOEXEC);
	FUZZ_CHECK(conf_fd >= 0);
	char path[64];
	snprintf(path, sizeof path, "/proc/self/fd/%d", conf_fd);
	/* the environment is read too: only ours may be there */
	for (char **e = environ; *e;) {
		if (strncmp(*e, "LEGO_", 5) == 0) {
			char name[256];
			snprintf(name, sizeof name, "%.*s", (int)strcspn(*e, "="), *e);
			unsetenv(name);
			continue;
		}
		e++;
	}
	setenv("LEGO_CONF", path, 1);
	return 0;
}

static size_t nchoices(const char *c)
{
	size_t n = 1;
	for (; *c; c++)
		n += *c == '|';
	return n;
}

static void check_opts(const struct lg_opts *o)
{
	for (int i = 0; i < LG_OPT__COUNT; i++) {
		const struct lg_opt_desc *d = &lg_opt_table[i];
		switch (d->type) {
		case LG_OPT_T_SIZE:
			FUZZ_CHECK(o->num[i] >= (uint64_t)d->min && o->num[i] <= (uint64_t)d->max);
			break;
		case LG_OPT_T_INT:
			FUZZ_CHECK((int64_t)o->num[i] >= d->min && (int64_t)o->num[i] <= d->max);
			break;
		case LG_OPT_T_ENUM: {
			FUZZ_CHECK(o->num[i] < nchoices(d->choices));
			char buf[32];
			FUZZ_CHECK(strcmp(lg_opt_enum_name(o, (enum lg_opt_id)i, buf, sizeof buf),
					  "?") != 0);
			break;
		}
		case LG_OPT_T_STR:
			FUZZ_CHECK(memchr(o->str[i], 0, LG_OPT_STR_MAX) != NULL);
			break;
		}
		FUZZ_CHECK(o->set_by[i] <= 3);
	}
}

/* Split the input into NUL-terminated words (a copy the caller frees). */
static int split(const uint8_t *data, size_t size, char ***words, char **buf)
{
	*buf = malloc(size + 1);
	memcpy(*buf, data, size);
	(*buf)[size] = 0;
	int n = 1;
	for (size_t i = 0; i < size; i++)
		n += (*buf)[i] == 0;
	*words = calloc((size_t)n + 1, sizeof **words);
	char *p = *buf;
	for (int i = 0; i < n; i++) {
		(*words)[i] = p;
		p += strlen(p) + 1;
	}
	return n;
}

static void fuzz_set(const uint8_t *data, size_t size, int set_by)
{
	struct lg_opts o;
	lg_opts_defaults(&o);
	char **w, *buf, err[256];
	int n = split(data, size, &w, &buf);
	for (int i = 0; i + 1 < n; i += 2) {
		err[0] = 0;
		int r = lg_opts_set(&o, w[i], w[i + 1], set_by, err, sizeof err);
		FUZZ_CHECK(r == 0 || r == -ENOENT || r == -EINVAL);
		FUZZ_CHECK(r == 0 || (err[0] && memchr(err, 0, sizeof err)));
	}
	check_opts(&o);
	free(w);
	free(buf);
}

static void fuzz_file(const uint8_t *data, size_t size, char scope)
{
	FUZZ_CHECK(ftruncate(conf_fd, 0) == 0);
	FUZZ_CHECK(pwrite(conf_fd, data, size, 0) == (ssize_t)size);
	struct lg_opts o;
	char err[256];
	err[0] = 0;
	int r = lg_opts_load(&o, scope, err, sizeof err);
	FUZZ_CHECK(r == 0 || (r == -EINVAL && err[0]));
	check_opts(&o);
}

static void fuzz_argv(const uint8_t *data, size_t size, char scope)
{
	struct lg_opts o;
	lg_opts_defaults(&o);
	char **w, *buf, err[256];
	int n = split(data, size, &w, &buf);
	/* argv[0] is the program */
	char **argv = calloc((size_t)n + 2, sizeof *argv);
	argv[0] = "lego-fuzz";
	memcpy(argv + 1, w, (size_t)n * sizeof *w);
	err[0] = 0;
	int r = lg_opts_parse_argv(&o, scope, n + 1, argv, err, sizeof err);
	FUZZ_CHECK(r == -ENOENT || (r == -EINVAL && err[0]) || (r >= 1 && r <= n + 1));
	check_opts(&o);
	free(argv);
	free(w);
	free(buf);
}

static void fuzz_text(const uint8_t *data, size_t size)
{
	char *s = strndup((const char *)data, size);
	uint64_t u;
	int64_t i;
	if (lg_parse_size(s, &u) == 0) {
		char b[32];
		lg_format_size(u, b, sizeof b);
		FUZZ_CHECK(memchr(b, 0, sizeof b));
	}
	lg_parse_int(s, &i);
	char host[64], port[16];
	if (lg_split_hostport(s, host, sizeof host, port, sizeof port) == 0) {
		FUZZ_CHECK(memchr(host, 0, sizeof host) && memchr(port, 0, sizeof port));
		FUZZ_CHECK(port[0] != 0);
	}
	if (size >= 8) {
		memcpy(&u, data, 8);
		char b[8]; /* a buffer too small: cut, still terminated */
		lg_format_size(u, b, sizeof b);
		FUZZ_CHECK(memchr(b, 0, sizeof b));
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	static const char scopes[] = "CMNST";
	uint8_t b = data[0];
	char scope = scopes[(b >> 2) % 5];
	data++;
	size--;
	switch (b & 3) {
	case 0: fuzz_set(data, size, (b >> 2) & 3); break;
	case 1: fuzz_file(data, size, scope); break;
	case 2: fuzz_argv(data, size, scope); break;
	case 3: fuzz_text(data, size); break;
	}
	return 0;
}
