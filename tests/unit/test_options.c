/*
 * Unit tests for the option table and its parsers (common/options.h) and
 * the text helpers they rest on (common/util.h): defaults, lg_opts_set on
 * every option type with range and choice checks, lg_opts_load from the
 * environment and a LEGO_CONF file (long lines too), lg_opts_parse_argv,
 * lg_parse_size, lg_format_size, lg_split_hostport and lg_opt_enum_name, and
 * the record of the runtime's own descriptors (lg_fd_own and the rest).
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/daemon.h"
#include "common/options.h"
#include "common/util.h"

extern char **environ;

/* Remove every LEGO_* variable so a test sees only what it sets. */
static void clear_lego_env(void)
{
	for (;;) {
		char name[256] = "";
		for (char **e = environ; e && *e; e++) {
			if (strncmp(*e, "LEGO_", 5) != 0)
				continue;
			const char *eq = strchr(*e, '=');
			size_t n = eq ? (size_t)(eq - *e) : strlen(*e);
			if (n >= sizeof name)
				n = sizeof name - 1;
			memcpy(name, *e, n);
			name[n] = 0;
			break;
		}
		if (!name[0])
			return;
		unsetenv(name);
	}
}

/* The config file of the load tests: a fresh directory made by the
 * (unchecked, so parent-side) fixture, removed even when a test fails. */
static char conf_dir[64];

static void conf_setup(void)
{
	snprintf(conf_dir, sizeof conf_dir, "/tmp/lego-test-options.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(conf_dir));
}

static void conf_teardown(void)
{
	char p[96];
	snprintf(p, sizeof p, "%s/lego.conf", conf_dir);
	unlink(p);
	rmdir(conf_dir);
}

/* Write text to the config file; its path goes to path. */
static void write_conf(char *path, size_t len, const char *text)
{
	snprintf(path, len, "%s/lego.conf", conf_dir);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

/* --- defaults ---------------------------------------------------------- */

START_TEST(test_defaults_all_parse)
{
	/* Every default in the table must be accepted by its own parser. */
	for (int i = 0; i < LG_OPT__COUNT; i++) {
		struct lg_opts o;
		char err[256] = "";
		memset(&o, 0, sizeof o);
		int r = lg_opts_set(&o, lg_opt_table[i].name, lg_opt_table[i].dflt, 0, err,
				    sizeof err);
		ck_assert_msg(r == 0, "default of %s (%s) rejected: %s", lg_opt_table[i].name,
			      lg_opt_table[i].dflt, err);
	}
}
END_TEST

START_TEST(test_defaults_values)
{
	struct lg_opts o;
	memset(&o, 0xa5, sizeof o);
	lg_opts_defaults(&o);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_excache_size), 67108864ull);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_excache_line), 4096);
	ck_assert_int_eq(lg_opt_i(&o, LG_OPT_excache_ways), 16);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_evict), 0); /* fifo */
	ck_assert_str_eq(lg_opt_s(&o, LG_OPT_monitor), "");
	ck_assert_str_eq(lg_opt_s(&o, LG_OPT_listen), "127.0.0.1:0");
	ck_assert_int_eq(lg_opt_i(&o, LG_OPT_parent_fd), -1);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_vm_size), 1ull << 40);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_capacity), 4ull << 30);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_log_level), 1); /* warn */
	for (int i = 0; i < LG_OPT__COUNT; i++)
		ck_assert_msg(o.set_by[i] == 0, "set_by[%s] = %d after defaults",
			      lg_opt_table[i].name, o.set_by[i]);
}
END_TEST

/* --- lg_opts_set: sizes ------------------------------------------------ */

START_TEST(test_set_sizes)
{
	struct lg_opts o;
	char err[256] = "";
	lg_opts_defaults(&o);
	ck_assert_int_eq(lg_opts_set(&o, "excache_size", "256M", 3, err, sizeof err), 0);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_excache_size), 256ull << 20);
	ck_assert_int_eq(o.set_by[LG_OPT_excache_size], 3);
	ck_assert_int_eq(lg_opts_set(&o, "excache_size", "1G", 3, err, sizeof err), 0);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_excache_size), 1ull << 30);
	ck_assert_int_eq(lg_opts_set(&o, "excache_size", "1.5G", 3, err, sizeof err), 0);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_excache_size), 1610612736ull);
	ck_assert_int_eq(lg_opts_set(&o, "excache_line", "4096", 3, err, sizeof err), 0);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_excache_line), 4096);
	ck_assert_int_eq(lg_opts_set(&o, "excache_line", "2M", 3, err, sizeof err), 0);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_excache_line), 2u << 20);
}
END_TEST

START_TEST(test_set_size_bad)
{
	struct lg_opts o;
	char err[256] = "";
	lg_opts_defaults(&o);
	ck_assert_int_eq(lg_opts_set(&o, "excache_size", "12Q", 1, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "excache_size"));
	ck_assert_ptr_nonnull(strstr(err, "not a size"));
	ck_assert_ptr_nonnull(strstr(err, "12Q"));
	/* the old value is kept */
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_excache_size), 64ull << 20);
	ck_assert_int_eq(o.set_by[LG_OPT_excache_size], 0);

	/* the origin is named as the user wrote it */
	err[0] = 0;
	ck_assert_int_eq(lg_opts_set(&o, "excache_size", "12Q", 2, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "LEGO_EXCACHE_SIZE=12Q"));
	err[0] = 0;
	ck_assert_int_eq(lg_opts_set(&o, "excache_size", "", 1, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a size"));
	ck_assert_int_eq(lg_opts_set(&o, "excache_size", "-1G", 1, err, sizeof err), -EINVAL);
}
END_TEST

START_TEST(test_set_size_range)
{
	struct lg_opts o;
	char err[256] = "";
	lg_opts_defaults(&o);
	/* excache_size: 64K .. 16T */
	ck_assert_int_eq(lg_opts_set(&o, "excache_size", "32K", 1, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "out of range"));
	ck_assert_ptr_nonnull(strstr(err, "64K"));
	ck_assert_ptr_nonnull(strstr(err, "16T"));
	ck_assert_int_eq(lg_opts_set(&o, "excache_size", "64K", 1, err, sizeof err), 0);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_excache_size), 65536);
	ck_assert_int_eq(lg_opts_set(&o, "excache_size", "16T", 1, err, sizeof err), 0);
	ck_assert_int_eq(lg_opts_set(&o, "excache_size", "17T", 1, err, sizeof err), -EINVAL);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_excache_size), 1ull << 44);
	/* excache_line: 4K .. 2M */
	ck_assert_int_eq(lg_opts_set(&o, "excache_line", "4095", 1, err, sizeof err), -EINVAL);
	ck_assert_int_eq(lg_opts_set(&o, "excache_line", "4M", 1, err, sizeof err), -EINVAL);
}
END_TEST

/* --- lg_opts_set: integers --------------------------------------------- */

START_TEST(test_set_int_range)
{
	struct lg_opts o;
	char err[256] = "";
	lg_opts_defaults(&o);
	ck_assert_int_eq(lg_opts_set(&o, "excache_ways", "0", 1, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "excache_ways"));
	ck_assert_ptr_nonnull(strstr(err, "out of range"));
	ck_assert_ptr_nonnull(strstr(err, "1 to 64"));
	ck_assert_int_eq(lg_opts_set(&o, "excache_ways", "65", 1, err, sizeof err), -EINVAL);
	ck_assert_int_eq(lg_opt_i(&o, LG_OPT_excache_ways), 16);
	ck_assert_int_eq(lg_opts_set(&o, "excache_ways", "1", 1, err, sizeof err), 0);
	ck_assert_int_eq(lg_opt_i(&o, LG_OPT_excache_ways), 1);
	ck_assert_int_eq(lg_opts_set(&o, "excache_ways", "64", 1, err, sizeof err), 0);
	ck_assert_int_eq(lg_opt_i(&o, LG_OPT_excache_ways), 64);
	/* negative integers where the range allows them */
	ck_assert_int_eq(lg_opts_set(&o, "parent_fd", "-1", 1, err, sizeof err), 0);
	ck_assert_int_eq(lg_opt_i(&o, LG_OPT_parent_fd), -1);
	ck_assert_int_eq(lg_opts_set(&o, "parent_fd", "-2", 1, err, sizeof err), -EINVAL);
}
END_TEST

START_TEST(test_set_int_bad)
{
	struct lg_opts o;
	char err[256] = "";
	lg_opts_defaults(&o);
	ck_assert_int_eq(lg_opts_set(&o, "excache_ways", "8x", 1, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not an integer"));
	ck_assert_int_eq(lg_opts_set(&o, "excache_ways", "", 1, err, sizeof err), -EINVAL);
	ck_assert_int_eq(lg_opts_set(&o, "excache_ways", "99999999999999999999", 1, err,
				     sizeof err), -EINVAL);
	ck_assert_int_eq(lg_opt_i(&o, LG_OPT_excache_ways), 16);
}
END_TEST

/* --- lg_opts_set: enums and strings ------------------------------------ */

START_TEST(test_set_enum)
{
	struct lg_opts o;
	char err[256] = "", buf[32];
	lg_opts_defaults(&o);
	ck_assert_int_eq(lg_opts_set(&o, "evict", "lru", 3, err, sizeof err), 0);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_evict), 1);
	ck_assert_str_eq(lg_opt_enum_name(&o, LG_OPT_evict, buf, sizeof buf), "lru");
	ck_assert_int_eq(lg_opts_set(&o, "evict", "FIFO", 3, err, sizeof err), 0);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_evict), 0);
	ck_assert_int_eq(lg_opts_set(&o, "fabric", "verbs", 3, err, sizeof err), 0);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_fabric), 3);

	ck_assert_int_eq(lg_opts_set(&o, "evict", "bogus", 3, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "evict"));
	ck_assert_ptr_nonnull(strstr(err, "fifo|lru"));
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_evict), 0);
	/* a prefix of a choice is not that choice */
	ck_assert_int_eq(lg_opts_set(&o, "evict", "lr", 3, err, sizeof err), -EINVAL);
	ck_assert_int_eq(lg_opts_set(&o, "evict", "lrux", 3, err, sizeof err), -EINVAL);
	ck_assert_int_eq(lg_opts_set(&o, "evict", "", 3, err, sizeof err), -EINVAL);
}
END_TEST

START_TEST(test_set_string)
{
	struct lg_opts o;
	char err[256] = "", big[LG_OPT_STR_MAX + 8];
	lg_opts_defaults(&o);
	ck_assert_int_eq(lg_opts_set(&o, "monitor", "10.0.0.1:7000", 2, err, sizeof err), 0);
	ck_assert_str_eq(lg_opt_s(&o, LG_OPT_monitor), "10.0.0.1:7000");
	ck_assert_int_eq(o.set_by[LG_OPT_monitor], 2);

	memset(big, 'a', LG_OPT_STR_MAX - 1);
	big[LG_OPT_STR_MAX - 1] = 0; /* longest that fits */
	ck_assert_int_eq(lg_opts_set(&o, "monitor", big, 2, err, sizeof err), 0);
	ck_assert_uint_eq(strlen(lg_opt_s(&o, LG_OPT_monitor)), LG_OPT_STR_MAX - 1);
	big[LG_OPT_STR_MAX - 1] = 'a';
	big[LG_OPT_STR_MAX] = 0;
	ck_assert_int_eq(lg_opts_set(&o, "monitor", big, 2, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "longer than"));
	ck_assert_uint_eq(strlen(lg_opt_s(&o, LG_OPT_monitor)), LG_OPT_STR_MAX - 1);
}
END_TEST

/* --- lg_opts_set: names ------------------------------------------------ */

START_TEST(test_set_unknown)
{
	struct lg_opts o;
	char err[256] = "";
	lg_opts_defaults(&o);
	ck_assert_int_eq(lg_opts_set(&o, "no_such_option", "1", 1, err, sizeof err), -ENOENT);
	ck_assert_ptr_nonnull(strstr(err, "no_such_option"));
	/* a prefix or an extension of a real name is not that name */
	ck_assert_int_eq(lg_opts_set(&o, "excache", "1", 1, err, sizeof err), -ENOENT);
	ck_assert_int_eq(lg_opts_set(&o, "excache_sizes", "1G", 1, err, sizeof err), -ENOENT);
	ck_assert_int_eq(lg_opts_set(&o, "", "1", 1, err, sizeof err), -ENOENT);
}
END_TEST

START_TEST(test_set_name_spelling)
{
	struct lg_opts o;
	char err[256] = "";
	lg_opts_defaults(&o);
	ck_assert_int_eq(lg_opts_set(&o, "excache-size", "128M", 3, err, sizeof err), 0);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_excache_size), 128ull << 20);
	ck_assert_int_eq(lg_opts_set(&o, "excache_size", "256M", 3, err, sizeof err), 0);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_excache_size), 256ull << 20);
	ck_assert_int_eq(lg_opts_set(&o, "EXCACHE_SIZE", "512M", 3, err, sizeof err), 0);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_excache_size), 512ull << 20);
	ck_assert_int_eq(lg_opts_set(&o, "vm-granularity-order", "25", 3, err, sizeof err), 0);
	ck_assert_int_eq(lg_opt_i(&o, LG_OPT_vm_granularity_order), 25);
}
END_TEST

/* --- lg_opts_load: environment ----------------------------------------- */

START_TEST(test_load_env)
{
	struct lg_opts o;
	char err[256] = "", conf[96];
	clear_lego_env();
	write_conf(conf, sizeof conf, "");
	setenv("LEGO_CONF", conf, 1);
	setenv("LEGO_EXCACHE_SIZE", "128M", 1);
	setenv("LEGO_EVICT", "lru", 1);
	int r = lg_opts_load(&o, 'C', err, sizeof err);
	unlink(conf);
	ck_assert_msg(r == 0, "load failed: %s", err);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_excache_size), 128ull << 20);
	ck_assert_int_eq(o.set_by[LG_OPT_excache_size], 2);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_evict), 1);
	/* untouched options keep their defaults */
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_excache_line), 4096);
	ck_assert_int_eq(o.set_by[LG_OPT_excache_line], 0);
}
END_TEST

START_TEST(test_load_env_bad_value)
{
	struct lg_opts o;
	char err[256] = "", conf[96];
	clear_lego_env();
	write_conf(conf, sizeof conf, "");
	setenv("LEGO_CONF", conf, 1);
	setenv("LEGO_EXCACHE_SIZE", "12Q", 1);
	int r = lg_opts_load(&o, 'C', err, sizeof err);
	unlink(conf);
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "LEGO_EXCACHE_SIZE=12Q"));
	ck_assert_ptr_nonnull(strstr(err, "not a size"));
}
END_TEST

START_TEST(test_load_env_unknown)
{
	struct lg_opts o;
	char err[256] = "", conf[96];
	clear_lego_env();
	write_conf(conf, sizeof conf, "");
	setenv("LEGO_CONF", conf, 1);
	setenv("LEGO_FOO", "1", 1);
	int r = lg_opts_load(&o, 'C', err, sizeof err);
	unlink(conf);
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "LEGO_FOO"));
	ck_assert_ptr_nonnull(strstr(err, "unknown"));
}
END_TEST

/* Regression test (the bug is fixed): common/options.c lg_opts_load: for an unknown LEGO_* variable whose
 * name is 64 characters or longer the error message is never written
 * (the snprintf is guarded by `if (nl < 64)`), so it returns -EINVAL with
 * err left as it was; options.h promises "-EINVAL with err set". */
START_TEST(test_load_env_unknown_long_name)
{
	struct lg_opts o;
	char err[256] = "", conf[96], name[128];
	clear_lego_env();
	write_conf(conf, sizeof conf, "");
	setenv("LEGO_CONF", conf, 1);
	memset(name, 'X', sizeof name);
	memcpy(name, "LEGO_", 5);
	name[5 + 80] = 0;
	setenv(name, "1", 1);
	int r = lg_opts_load(&o, 'C', err, sizeof err);
	unlink(conf);
	ck_assert_int_eq(r, -EINVAL);
	ck_assert_msg(err[0] != 0, "lg_opts_load failed without saying why");
}
END_TEST

START_TEST(test_load_env_scope)
{
	struct lg_opts oc, om, oc2;
	char err[256] = "", conf[96];
	clear_lego_env();
	write_conf(conf, sizeof conf, "");
	setenv("LEGO_CONF", conf, 1);
	/* capacity is a memnode option (scope M); excache_size a process one */
	setenv("LEGO_CAPACITY", "8G", 1);
	setenv("LEGO_EXCACHE_SIZE", "128M", 1);
	int rc = lg_opts_load(&oc, 'C', err, sizeof err);
	int rm = lg_opts_load(&om, 'M', err, sizeof err);
	/* a bad value of another scope's option is not ours to reject */
	setenv("LEGO_CAPACITY", "lots", 1);
	int rc2 = lg_opts_load(&oc2, 'C', err, sizeof err);
	unlink(conf);

	ck_assert_int_eq(rc, 0);
	ck_assert_uint_eq(lg_opt_u(&oc, LG_OPT_capacity), 4ull << 30);
	ck_assert_int_eq(oc.set_by[LG_OPT_capacity], 0);
	ck_assert_uint_eq(lg_opt_u(&oc, LG_OPT_excache_size), 128ull << 20);

	ck_assert_int_eq(rm, 0);
	ck_assert_uint_eq(lg_opt_u(&om, LG_OPT_capacity), 8ull << 30);
	ck_assert_uint_eq(lg_opt_u(&om, LG_OPT_excache_size), 64ull << 20);

	ck_assert_int_eq(rc2, 0);
}
END_TEST

/* --- lg_opts_load: config file ----------------------------------------- */

START_TEST(test_load_file)
{
	struct lg_opts o;
	char err[256] = "", conf[96];
	clear_lego_env();
	write_conf(conf, sizeof conf,
		   "# Lego configuration\n"
		   "\n"
		   "   \n"
		   "excache_line = 64K\n"
		   "  # indented comment\n"
		   "LEGO_EVICT=lru\n"
		   "\tmonitor\t=\t10.1.2.3:7000  \n"
		   "capacity = 2G\n");
	setenv("LEGO_CONF", conf, 1);
	int r = lg_opts_load(&o, 'C', err, sizeof err);
	unlink(conf);
	ck_assert_msg(r == 0, "load failed: %s", err);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_excache_line), 64 * 1024);
	ck_assert_int_eq(o.set_by[LG_OPT_excache_line], 1);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_evict), 1);
	ck_assert_str_eq(lg_opt_s(&o, LG_OPT_monitor), "10.1.2.3:7000");
	/* the file is shared by every program: all scopes are read from it */
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_capacity), 2ull << 30);
}
END_TEST

START_TEST(test_load_file_malformed)
{
	struct lg_opts o;
	char err[256] = "", conf[96], want[128];
	clear_lego_env();
	write_conf(conf, sizeof conf,
		   "# comment\n"
		   "\n"
		   "excache_line = 64K\n"
		   "this line has no equals sign\n"
		   "excache_ways = 4\n");
	setenv("LEGO_CONF", conf, 1);
	int r = lg_opts_load(&o, 'C', err, sizeof err);
	ck_assert_int_eq(r, -EINVAL);
	snprintf(want, sizeof want, "%s:4", conf);
	ck_assert_msg(strstr(err, want) != NULL, "'%s' does not name %s", err, want);

	/* a bad value names file, line and option */
	FILE *f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fputs("excache_line = 64K\nevict = random\n", f);
	fclose(f);
	err[0] = 0;
	r = lg_opts_load(&o, 'C', err, sizeof err);
	ck_assert_int_eq(r, -EINVAL);
	snprintf(want, sizeof want, "%s:2", conf);
	ck_assert_msg(strstr(err, want) != NULL, "'%s' does not name %s", err, want);
	ck_assert_ptr_nonnull(strstr(err, "fifo|lru"));

	/* an unknown key too */
	f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fputs("excache_colour = blue\n", f);
	fclose(f);
	err[0] = 0;
	r = lg_opts_load(&o, 'C', err, sizeof err);
	unlink(conf);
	ck_assert_int_eq(r, -EINVAL);
	snprintf(want, sizeof want, "%s:1", conf);
	ck_assert_ptr_nonnull(strstr(err, want));
	ck_assert_ptr_nonnull(strstr(err, "excache_colour"));
}
END_TEST

/* A line longer than the parser's buffer: its rest once read as a line
 * of its own, so a long comment was an error (or set an option). */
START_TEST(test_load_file_long_lines)
{
	struct lg_opts o;
	char err[256] = "", conf[96], want[128];
	static char text[2048];
	clear_lego_env();
	memset(text, 'x', 1000);
	memcpy(text, "# ", 2);
	snprintf(text + 1000, sizeof text - 1000, " excache_ways = 2\nexcache_ways = 4\n");
	write_conf(conf, sizeof conf, text);
	setenv("LEGO_CONF", conf, 1);
	ck_assert_int_eq(lg_opts_load(&o, 'C', err, sizeof err), 0);
	ck_assert_int_eq(lg_opt_u(&o, LG_OPT_excache_ways), 4);
	/* a setting that long is refused, naming its line */
	memcpy(text, "ex", 2);
	snprintf(text + 1000, sizeof text - 1000, "= 2\n");
	write_conf(conf, sizeof conf, text);
	ck_assert_int_eq(lg_opts_load(&o, 'C', err, sizeof err), -EINVAL);
	snprintf(want, sizeof want, "%s:1: line longer than", conf);
	ck_assert_msg(strstr(err, want) != NULL, "'%s' does not say %s", err, want);
	/* 510 characters and a newline still fit */
	memset(text, ' ', 510);
	memcpy(text, "excache_ways=8", 14);
	snprintf(text + 510, sizeof text - 510, "\n");
	write_conf(conf, sizeof conf, text);
	ck_assert_int_eq(lg_opts_load(&o, 'C', err, sizeof err), 0);
	unlink(conf);
	ck_assert_int_eq(lg_opt_u(&o, LG_OPT_excache_ways), 8);
}
END_TEST

START_TEST(test_load_file_missing)
{
	struct lg_opts o;
	char err[256] = "";
	clear_lego_env();
	/* LEGO_CONF set explicitly: the file must exist */
	setenv("LEGO_CONF", "/nonexistent/lego-test/lego.conf", 1);
	ck_assert_int_eq(lg_opts_load(&o, 'C', err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/lego-test/lego.conf"));
}
END_TEST

START_TEST(test_load_env_over_file)
{
	struct lg_opts o;
	char err[256] = "", conf[96];
	clear_lego_env();
	write_conf(conf, sizeof conf, "excache_line = 64K\nexcache_ways = 4\n");
	setenv("LEGO_CONF", conf, 1);
	setenv("LEGO_EXCACHE_LINE", "128K", 1);
	int r = lg_opts_load(&o, 'C', err, sizeof err);
	unlink(conf);
	ck_assert_msg(r == 0, "load failed: %s", err);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_excache_line), 128 * 1024);
	ck_assert_int_eq(o.set_by[LG_OPT_excache_line], 2);
	ck_assert_int_eq(lg_opt_i(&o, LG_OPT_excache_ways), 4);
	ck_assert_int_eq(o.set_by[LG_OPT_excache_ways], 1);
}
END_TEST

/* --- lg_opts_parse_argv ------------------------------------------------ */

START_TEST(test_argv_forms)
{
	struct lg_opts o;
	char err[256] = "";
	char *argv[] = {"prog", "--excache-size=128M", "--evict", "lru", "--excache_ways=4",
			"--", "app", "--excache-size=1G", NULL};
	lg_opts_defaults(&o);
	int r = lg_opts_parse_argv(&o, 'C', 8, argv, err, sizeof err);
	ck_assert_msg(r == 6, "returned %d (%s)", r, err);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_excache_size), 128ull << 20);
	ck_assert_int_eq(o.set_by[LG_OPT_excache_size], 3);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_evict), 1);
	ck_assert_int_eq(lg_opt_i(&o, LG_OPT_excache_ways), 4);
}
END_TEST

/* An INT option from 0 to 1 is a switch: the bare flag sets it and takes
 * no value; =0 and =1 still work. */
START_TEST(test_argv_switch)
{
	struct lg_opts o;
	char err[256] = "";
	char *argv[] = {"prog", "--insecure", "--listen", "h:1", NULL};
	lg_opts_defaults(&o);
	ck_assert_int_eq(lg_opt_u(&o, LG_OPT_insecure), 0);
	int r = lg_opts_parse_argv(&o, 'N', 4, argv, err, sizeof err);
	ck_assert_msg(r == 4, "returned %d (%s)", r, err);
	ck_assert_int_eq(lg_opt_u(&o, LG_OPT_insecure), 1);
	ck_assert_str_eq(lg_opt_s(&o, LG_OPT_listen), "h:1");
	char *argv2[] = {"prog", "--insecure=0", NULL};
	ck_assert_int_eq(lg_opts_parse_argv(&o, 'N', 2, argv2, err, sizeof err), 2);
	ck_assert_int_eq(lg_opt_u(&o, LG_OPT_insecure), 0);
	/* not a process option */
	ck_assert_int_eq(lg_opts_parse_argv(&o, 'C', 2, argv, err, sizeof err), -EINVAL);
}
END_TEST

START_TEST(test_argv_stops_at_nonflag)
{
	struct lg_opts o;
	char err[256] = "";
	char *argv[] = {"prog", "--evict=lru", "app", "--excache-size=1G", NULL};
	lg_opts_defaults(&o);
	ck_assert_int_eq(lg_opts_parse_argv(&o, 'C', 4, argv, err, sizeof err), 2);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_evict), 1);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_excache_size), 64ull << 20);

	/* a single dash is not a flag either */
	char *argv2[] = {"prog", "-v", NULL};
	ck_assert_int_eq(lg_opts_parse_argv(&o, 'C', 2, argv2, err, sizeof err), 1);
	/* no arguments at all */
	char *argv3[] = {"prog", NULL};
	ck_assert_int_eq(lg_opts_parse_argv(&o, 'C', 1, argv3, err, sizeof err), 1);
	/* only flags: the index past the end */
	char *argv4[] = {"prog", "--evict", "fifo", NULL};
	ck_assert_int_eq(lg_opts_parse_argv(&o, 'C', 3, argv4, err, sizeof err), 3);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_evict), 0);
}
END_TEST

START_TEST(test_argv_errors)
{
	struct lg_opts o;
	char err[256] = "";
	lg_opts_defaults(&o);

	char *a1[] = {"prog", "--bogus=1", NULL};
	ck_assert_int_eq(lg_opts_parse_argv(&o, 'C', 2, a1, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "unknown option --bogus"));

	/* an option of another program's scope is unknown here */
	char *a2[] = {"prog", "--capacity=8G", NULL};
	err[0] = 0;
	ck_assert_int_eq(lg_opts_parse_argv(&o, 'C', 2, a2, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "capacity"));
	ck_assert_int_eq(lg_opts_parse_argv(&o, 'M', 2, a2, err, sizeof err), 2);
	ck_assert_uint_eq(lg_opt_u(&o, LG_OPT_capacity), 8ull << 30);

	char *a3[] = {"prog", "--evict", NULL};
	err[0] = 0;
	ck_assert_int_eq(lg_opts_parse_argv(&o, 'C', 2, a3, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "needs a value"));
	ck_assert_ptr_nonnull(strstr(err, "evict"));

	char *a4[] = {"prog", "--excache-ways=0", NULL};
	err[0] = 0;
	ck_assert_int_eq(lg_opts_parse_argv(&o, 'C', 2, a4, err, sizeof err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "out of range"));

	char *a5[] = {"prog", "--evict=lru", "--help", NULL};
	ck_assert_int_eq(lg_opts_parse_argv(&o, 'C', 3, a5, err, sizeof err), -ENOENT);
}
END_TEST

/* --- lg_parse_size / lg_format_size ------------------------------------ */

START_TEST(test_parse_size)
{
	uint64_t v = 0;
	ck_assert_int_eq(lg_parse_size("4096", &v), 0);
	ck_assert_uint_eq(v, 4096);
	ck_assert_int_eq(lg_parse_size("0", &v), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_int_eq(lg_parse_size("64K", &v), 0);
	ck_assert_uint_eq(v, 65536);
	ck_assert_int_eq(lg_parse_size("64k", &v), 0);
	ck_assert_uint_eq(v, 65536);
	ck_assert_int_eq(lg_parse_size("256M", &v), 0);
	ck_assert_uint_eq(v, 256ull << 20);
	ck_assert_int_eq(lg_parse_size("1G", &v), 0);
	ck_assert_uint_eq(v, 1ull << 30);
	ck_assert_int_eq(lg_parse_size("2.5G", &v), 0);
	ck_assert_uint_eq(v, 5ull << 29);
	ck_assert_int_eq(lg_parse_size("1T", &v), 0);
	ck_assert_uint_eq(v, 1ull << 40);
	ck_assert_int_eq(lg_parse_size("64MiB", &v), 0);
	ck_assert_uint_eq(v, 64ull << 20);
	ck_assert_int_eq(lg_parse_size("64MB", &v), 0);
	ck_assert_uint_eq(v, 64ull << 20);

	v = 12345;
	ck_assert_int_eq(lg_parse_size("12Q", &v), -EINVAL);
	ck_assert_int_eq(lg_parse_size("", &v), -EINVAL);
	ck_assert_int_eq(lg_parse_size(NULL, &v), -EINVAL);
	ck_assert_int_eq(lg_parse_size("-1", &v), -EINVAL);
	ck_assert_int_eq(lg_parse_size("M", &v), -EINVAL);
	ck_assert_int_eq(lg_parse_size("1GG", &v), -EINVAL);
	ck_assert_int_eq(lg_parse_size("1 G", &v), -EINVAL);
	ck_assert_int_eq(lg_parse_size("99999999T", &v), -EINVAL); /* > 2^64 */
	ck_assert_int_eq(lg_parse_size("inf", &v), -EINVAL);
	ck_assert_uint_eq(v, 12345); /* untouched on failure */
}
END_TEST

/* Regression test (the bug is fixed): common/util.c lg_parse_size accepts "nan" (strtod parses it, and
 * neither `v < 0` nor `v >= 2^64` is true for NaN), then converts NaN to
 * uint64_t, which is undefined behaviour (0x8000000000000000 on x86). */
START_TEST(test_parse_size_nan)
{
	uint64_t v = 12345;
	ck_assert_int_eq(lg_parse_size("nan", &v), -EINVAL);
	ck_assert_int_eq(lg_parse_size("NaNG", &v), -EINVAL);
	ck_assert_uint_eq(v, 12345);
}
END_TEST

START_TEST(test_format_size)
{
	char buf[32];
	ck_assert_str_eq(lg_format_size(0, buf, sizeof buf), "0B");
	ck_assert_str_eq(lg_format_size(1000, buf, sizeof buf), "1000B");
	ck_assert_str_eq(lg_format_size(1024, buf, sizeof buf), "1K");
	ck_assert_str_eq(lg_format_size(1536, buf, sizeof buf), "1.5K");
	ck_assert_str_eq(lg_format_size(64ull << 20, buf, sizeof buf), "64M");
	ck_assert_str_eq(lg_format_size(1610612736ull, buf, sizeof buf), "1.5G");
	ck_assert_str_eq(lg_format_size(1ull << 44, buf, sizeof buf), "16T");
	ck_assert_str_eq(lg_format_size(1ull << 50, buf, sizeof buf), "1P");
	ck_assert_str_eq(lg_format_size(1ull << 60, buf, sizeof buf), "1024P");
	/* the result is the buffer */
	ck_assert_ptr_eq(lg_format_size(4096, buf, sizeof buf), buf);

	/* whole-unit sizes parse back to themselves */
	static const uint64_t rt[] = {1024, 65536, 4096ull << 20, 3ull << 30, 1ull << 44,
				      1610612736ull};
	for (size_t i = 0; i < LG_ARRAY_SIZE(rt); i++) {
		uint64_t v = 0;
		lg_format_size(rt[i], buf, sizeof buf);
		ck_assert_int_eq(lg_parse_size(buf, &v), 0);
		ck_assert_uint_eq(v, rt[i]);
	}
}
END_TEST

/* --- lg_split_hostport ------------------------------------------------- */

START_TEST(test_split_hostport)
{
	char host[64], port[16];
	ck_assert_int_eq(lg_split_hostport("127.0.0.1:7000", host, sizeof host, port,
					   sizeof port), 0);
	ck_assert_str_eq(host, "127.0.0.1");
	ck_assert_str_eq(port, "7000");
	ck_assert_int_eq(lg_split_hostport("[::1]:7000", host, sizeof host, port, sizeof port), 0);
	ck_assert_str_eq(host, "::1");
	ck_assert_str_eq(port, "7000");
	ck_assert_int_eq(lg_split_hostport("node-3.example:0", host, sizeof host, port,
					   sizeof port), 0);
	ck_assert_str_eq(host, "node-3.example");
	ck_assert_str_eq(port, "0");

	ck_assert_int_eq(lg_split_hostport("nocolon", host, sizeof host, port, sizeof port),
			 -EINVAL);
	ck_assert_int_eq(lg_split_hostport("host:", host, sizeof host, port, sizeof port),
			 -EINVAL);
	ck_assert_int_eq(lg_split_hostport("host:12x", host, sizeof host, port, sizeof port),
			 -EINVAL);
	ck_assert_int_eq(lg_split_hostport(":7000", host, sizeof host, port, sizeof port),
			 -EINVAL);
	ck_assert_int_eq(lg_split_hostport("[::1]", host, sizeof host, port, sizeof port),
			 -EINVAL);
	ck_assert_int_eq(lg_split_hostport(NULL, host, sizeof host, port, sizeof port), -EINVAL);
	/* too long for the buffers */
	ck_assert_int_eq(lg_split_hostport("abcdefgh:1", host, 8, port, sizeof port), -EINVAL);
	ck_assert_int_eq(lg_split_hostport("abcdefg:1", host, 8, port, sizeof port), 0);
	ck_assert_str_eq(host, "abcdefg");
	ck_assert_int_eq(lg_split_hostport("h:123456", host, sizeof host, port, 6), -EINVAL);
	ck_assert_int_eq(lg_split_hostport("h:12345", host, sizeof host, port, 6), 0);
	ck_assert_str_eq(port, "12345");
}
END_TEST

/* --- lg_opt_enum_name -------------------------------------------------- */

START_TEST(test_enum_name)
{
	struct lg_opts o;
	char buf[32];
	lg_opts_defaults(&o);
	ck_assert_str_eq(lg_opt_enum_name(&o, LG_OPT_evict, buf, sizeof buf), "fifo");
	ck_assert_str_eq(lg_opt_enum_name(&o, LG_OPT_fabric, buf, sizeof buf), "auto");
	ck_assert_str_eq(lg_opt_enum_name(&o, LG_OPT_log_level, buf, sizeof buf), "warn");
	o.num[LG_OPT_log_level] = 3;
	ck_assert_str_eq(lg_opt_enum_name(&o, LG_OPT_log_level, buf, sizeof buf), "debug");
	o.num[LG_OPT_fabric] = 2;
	ck_assert_str_eq(lg_opt_enum_name(&o, LG_OPT_fabric, buf, sizeof buf), "shm");
	/* truncated to the buffer */
	ck_assert_str_eq(lg_opt_enum_name(&o, LG_OPT_log_level, buf, 3), "de");
	/* an index past the choices */
	o.num[LG_OPT_evict] = 7;
	ck_assert_str_eq(lg_opt_enum_name(&o, LG_OPT_evict, buf, sizeof buf), "?");
	/* every choice of every enum round-trips through lg_opts_set */
	for (int i = 0; i < LG_OPT__COUNT; i++) {
		if (lg_opt_table[i].type != LG_OPT_T_ENUM)
			continue;
		char err[256];
		for (uint64_t k = 0;; k++) {
			o.num[i] = k;
			const char *nm = lg_opt_enum_name(&o, (enum lg_opt_id)i, buf, sizeof buf);
			if (strcmp(nm, "?") == 0)
				break;
			ck_assert_uint_lt(k, 8);
			char name[32];
			snprintf(name, sizeof name, "%s", nm);
			o.num[i] = 99;
			ck_assert_int_eq(lg_opts_set(&o, lg_opt_table[i].name, name, 3, err,
						     sizeof err), 0);
			ck_assert_uint_eq(o.num[i], k);
		}
	}
}
END_TEST

/* --- lg_opts_monitor: --monitor, or the address sent on --monitor-fd */

START_TEST(test_daemon_monitor)
{
	struct lg_opts o;
	volatile int stop = 0;
	lg_opts_defaults(&o);
	ck_assert_ptr_null(lg_opts_monitor(&o, &stop)); /* neither option */
	char err[256];
	ck_assert_int_eq(lg_opts_set(&o, "monitor", "127.0.0.1:7000", 3, err, sizeof err), 0);
	ck_assert_str_eq(lg_opts_monitor(&o, &stop), "127.0.0.1:7000");

	/* the line, in two pieces, replaces --monitor; the descriptor is closed */
	int sp[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	o.num[LG_OPT_monitor_fd] = (uint64_t)sp[0];
	ck_assert_int_eq(write(sp[1], "127.0.0.1:", 10), 10);
	ck_assert_int_eq(write(sp[1], "4242\nrest", 9), 9);
	ck_assert_str_eq(lg_opts_monitor(&o, &stop), "127.0.0.1:4242");
	ck_assert_int_eq(lg_opt_i(&o, LG_OPT_monitor_fd), -1);
	ck_assert_int_eq(fcntl(sp[0], F_GETFD), -1);
	close(sp[1]);

	/* the sender closes before a whole line: none */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	o.num[LG_OPT_monitor_fd] = (uint64_t)sp[0];
	ck_assert_int_eq(write(sp[1], "127.0.0.1", 9), 9);
	close(sp[1]);
	ck_assert_ptr_null(lg_opts_monitor(&o, &stop));

	/* a stop request ends the wait */
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	o.num[LG_OPT_monitor_fd] = (uint64_t)sp[0];
	stop = 1;
	uint64_t t0 = lg_now_ns();
	ck_assert_ptr_null(lg_opts_monitor(&o, &stop));
	ck_assert_uint_lt(lg_now_ns() - t0, 1000000000ull);
	close(sp[1]);

	/* lg_read_line's other ends: nothing within the time, a line too long */
	char buf[8];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), 0);
	t0 = lg_now_ns();
	ck_assert_int_eq(lg_read_line(sp[0], buf, sizeof buf, 50, NULL), -ETIMEDOUT);
	ck_assert_uint_ge(lg_now_ns() - t0, 50000000ull);
	ck_assert_int_eq(write(sp[1], "127.0.0.1:1\n", 12), 12);
	ck_assert_int_eq(lg_read_line(sp[0], buf, sizeof buf, 1000, NULL), -EOVERFLOW);
	close(sp[0]);
	close(sp[1]);
}
END_TEST

/* --- lg_opts_print ----------------------------------------------------- */

START_TEST(test_print)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	lg_opts_print(f, 'C', 0);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(text, "--excache-size"));
	ck_assert_ptr_nonnull(strstr(text, "fifo|lru"));
	ck_assert_ptr_null(strstr(text, "--capacity")); /* memnode only */
	free(text);

	f = open_memstream(&text, &len);
	ck_assert_ptr_nonnull(f);
	lg_opts_print(f, 0, 1);
	fclose(f);
	ck_assert_ptr_nonnull(strstr(text, "`LEGO_EXCACHE_SIZE`"));
	ck_assert_ptr_nonnull(strstr(text, "`--capacity`"));
	free(text);
}
END_TEST

/* The runtime's own descriptors: recorded with their file's identity, so
 * a number reused for another file is not taken for one of them. */
START_TEST(test_fd_owned)
{
	int fd = lg_fd_raise(open("/dev/null", O_RDONLY | O_CLOEXEC));
	ck_assert_int_ge(fd, LG_FD_LOW);
	ck_assert_int_eq(lg_fd_owned(fd), 1);
	ck_assert_int_eq(lg_fd_next_owned(0), fd);
	ck_assert_int_eq(lg_fd_next_owned(fd + 1), -1);
	/* the number now names another file: not ours */
	int pp[2];
	ck_assert_int_eq(pipe(pp), 0);
	ck_assert_int_eq(dup2(pp[0], fd), fd);
	ck_assert_int_eq(lg_fd_owned(fd), 0);
	ck_assert_int_eq(lg_fd_next_owned(0), -1);
	close(fd);
	ck_assert_int_eq(lg_fd_owned(fd), 0);

	/* what a reservation window opens is ours; what was open before is not */
	int before = fcntl(pp[1], F_DUPFD_CLOEXEC, 200);
	ck_assert_int_ge(before, 200);
	struct lg_fd_resv r;
	lg_fd_reserve(&r);
	int in = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	ck_assert_int_ge(in, LG_FD_LOW); /* the numbers below are taken */
	lg_fd_release(&r);
	ck_assert_int_eq(lg_fd_owned(in), 1);
	ck_assert_int_eq(lg_fd_owned(before), 0);
	ck_assert_int_eq(lg_fd_next_owned(0), in);
	close(in);
	close(before);
	close(pp[0]);
	close(pp[1]);
}
END_TEST

static Suite *options_suite(void)
{
	Suite *s = suite_create("options");
	TCase *tc;

	tc = tcase_create("defaults");
	tcase_add_test(tc, test_defaults_all_parse);
	tcase_add_test(tc, test_defaults_values);
	suite_add_tcase(s, tc);

	tc = tcase_create("set_size");
	tcase_add_test(tc, test_set_sizes);
	tcase_add_test(tc, test_set_size_bad);
	tcase_add_test(tc, test_set_size_range);
	suite_add_tcase(s, tc);

	tc = tcase_create("set_int");
	tcase_add_test(tc, test_set_int_range);
	tcase_add_test(tc, test_set_int_bad);
	suite_add_tcase(s, tc);

	tc = tcase_create("set_enum_string");
	tcase_add_test(tc, test_set_enum);
	tcase_add_test(tc, test_set_string);
	suite_add_tcase(s, tc);

	tc = tcase_create("set_names");
	tcase_add_test(tc, test_set_unknown);
	tcase_add_test(tc, test_set_name_spelling);
	suite_add_tcase(s, tc);

	tc = tcase_create("load_env");
	tcase_add_unchecked_fixture(tc, conf_setup, conf_teardown);
	tcase_add_test(tc, test_load_env);
	tcase_add_test(tc, test_load_env_bad_value);
	tcase_add_test(tc, test_load_env_unknown);
	tcase_add_test(tc, test_load_env_unknown_long_name);
	tcase_add_test(tc, test_load_env_scope);
	suite_add_tcase(s, tc);

	tc = tcase_create("load_file");
	tcase_add_unchecked_fixture(tc, conf_setup, conf_teardown);
	tcase_add_test(tc, test_load_file);
	tcase_add_test(tc, test_load_file_malformed);
	tcase_add_test(tc, test_load_file_long_lines);
	tcase_add_test(tc, test_load_file_missing);
	tcase_add_test(tc, test_load_env_over_file);
	suite_add_tcase(s, tc);

	tc = tcase_create("fd_owned");
	tcase_add_test(tc, test_fd_owned);
	suite_add_tcase(s, tc);

	tc = tcase_create("argv");
	tcase_add_test(tc, test_argv_forms);
	tcase_add_test(tc, test_argv_stops_at_nonflag);
	tcase_add_test(tc, test_argv_switch);
	tcase_add_test(tc, test_argv_errors);
	suite_add_tcase(s, tc);

	tc = tcase_create("sizes");
	tcase_add_test(tc, test_parse_size);
	tcase_add_test(tc, test_parse_size_nan);
	tcase_add_test(tc, test_format_size);
	suite_add_tcase(s, tc);

	tc = tcase_create("hostport");
	tcase_add_test(tc, test_split_hostport);
	suite_add_tcase(s, tc);

	tc = tcase_create("enum_name");
	tcase_add_test(tc, test_enum_name);
	tcase_add_test(tc, test_daemon_monitor);
	suite_add_tcase(s, tc);

	tc = tcase_create("print");
	tcase_add_test(tc, test_print);
	suite_add_tcase(s, tc);

	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(options_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
