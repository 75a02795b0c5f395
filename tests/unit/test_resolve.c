/*
 * Unit tests for the storenode path resolver (storenode/resolve.h): syntax
 * refusals (NUL, overlong path and component, absolute), escapes through
 * "..", through symlinks and through absolute paths (all -EXDEV), symlinks
 * that stay inside, O_NOFOLLOW, O_CREAT beneath the root, the root itself,
 * and the parent-and-name form with its "." / ".." / root refusals.  A
 * file outside the root is checked untouched after every escape attempt.
 *
 * Layout made by setup() in a fresh temporary directory T:
 *   T/outside            a file outside the root, "secret"
 *   T/root/              the store root
 *   T/root/a/b/file      "inside"
 *   T/root/out  -> ../outside        (relative symlink leaving the root)
 *   T/root/abs  -> T/outside         (absolute symlink)
 *   T/root/in   -> a/b/file          (symlink that stays inside)
 *   T/root/a/up -> ../b-sibling      (dangling, stays inside)
 */
#define _GNU_SOURCE
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lego/proto.h"
#include "storenode/resolve.h"

static char tmp[PATH_MAX], outside[PATH_MAX + 16];
static int root_fd = -1;

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	ck_assert_int_eq(fclose(f), 0);
}

static void setup(void)
{
	char p[PATH_MAX + 64];
	snprintf(tmp, sizeof tmp, "%s/lego-resolve-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	snprintf(outside, sizeof outside, "%s/outside", tmp);
	write_file(outside, "secret");
	snprintf(p, sizeof p, "%s/root", tmp);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	snprintf(p, sizeof p, "%s/root/a", tmp);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	snprintf(p, sizeof p, "%s/root/a/b", tmp);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	snprintf(p, sizeof p, "%s/root/a/b/file", tmp);
	write_file(p, "inside");
	snprintf(p, sizeof p, "%s/root/out", tmp);
	ck_assert_int_eq(symlink("../outside", p), 0);
	snprintf(p, sizeof p, "%s/root/abs", tmp);
	ck_assert_int_eq(symlink(outside, p), 0);
	snprintf(p, sizeof p, "%s/root/in", tmp);
	ck_assert_int_eq(symlink("a/b/file", p), 0);
	snprintf(p, sizeof p, "%s/root/a/up", tmp);
	ck_assert_int_eq(symlink("../b-sibling", p), 0);
	snprintf(p, sizeof p, "%s/root", tmp);
	root_fd = open(p, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	ck_assert_int_ge(root_fd, 0);
}

static void teardown(void)
{
	close(root_fd);
	root_fd = -1;
	char cmd[PATH_MAX + 32];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
	ck_assert_int_eq(system(cmd), 0);
}

/* The outside file still holds "secret" and nothing else. */
static void assert_outside_untouched(void)
{
	char buf[32] = {0};
	int fd = open(outside, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(read(fd, buf, sizeof buf - 1), 6);
	close(fd);
	ck_assert_str_eq(buf, "secret");
}

static int ropen(const char *path, int flags, unsigned mode)
{
	return sn_resolve_open(root_fd, path, strlen(path), flags, mode);
}

/* Open path read-only and return its contents ("" if empty). */
static const char *contents(const char *path)
{
	static char buf[64];
	int fd = ropen(path, O_RDONLY, 0);
	ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(-fd));
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	ck_assert_int_ge(n, 0);
	buf[n] = 0;
	return buf;
}

/* --- syntax ------------------------------------------------------------ */

START_TEST(test_nul_byte)
{
	static const char p[] = "a/b\0/file";
	ck_assert_int_eq(sn_path_check(p, sizeof p - 1, 0), -EINVAL);
	ck_assert_int_eq(sn_resolve_open(root_fd, p, sizeof p - 1, O_RDONLY, 0), -EINVAL);
	char name[NAME_MAX + 1];
	ck_assert_int_eq(sn_resolve_parent(root_fd, p, sizeof p - 1, name), -EINVAL);
	/* a NUL at the very end is refused too: the length is the path */
	ck_assert_int_eq(sn_resolve_open(root_fd, "in", 3, O_RDONLY, 0), -EINVAL);
}
END_TEST

START_TEST(test_long_component)
{
	char p[NAME_MAX + 8];
	memset(p, 'x', NAME_MAX + 1);
	p[NAME_MAX + 1] = 0;
	ck_assert_int_eq(ropen(p, O_RDONLY, 0), -ENAMETOOLONG);
	ck_assert_int_eq(ropen(p, O_RDWR | O_CREAT, 0600), -ENAMETOOLONG);
	p[NAME_MAX] = 0; /* exactly NAME_MAX: legal, just absent */
	ck_assert_int_eq(ropen(p, O_RDONLY, 0), -ENOENT);
	char name[NAME_MAX + 1];
	int fd = sn_resolve_parent(root_fd, p, strlen(p), name);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(strlen(name), NAME_MAX);
	close(fd);
}
END_TEST

START_TEST(test_long_path)
{
	static char p[LEGO_PATH_MAX + 2];
	for (size_t i = 0; i < sizeof p - 1; i++)
		p[i] = i % 2 ? '/' : 'a'; /* "a/a/a/...": short components */
	p[sizeof p - 1] = 0;
	ck_assert_int_eq(sn_resolve_open(root_fd, p, LEGO_PATH_MAX + 1, O_RDONLY, 0),
			 -ENAMETOOLONG);
	char name[NAME_MAX + 1];
	ck_assert_int_eq(sn_resolve_parent(root_fd, p, LEGO_PATH_MAX + 1, name), -ENAMETOOLONG);
	/* LEGO_PATH_MAX itself passes the syntax check */
	ck_assert_int_eq(sn_path_check(p, LEGO_PATH_MAX, 0), 0);
}
END_TEST

/* --- escapes ----------------------------------------------------------- */

START_TEST(test_dotdot)
{
	ck_assert_int_eq(ropen("..", O_RDONLY, 0), -EXDEV);
	ck_assert_int_eq(ropen("../outside", O_RDONLY, 0), -EXDEV);
	ck_assert_int_eq(ropen("../outside", O_RDWR | O_TRUNC, 0), -EXDEV);
	ck_assert_int_eq(ropen("a/../../x", O_RDWR | O_CREAT, 0600), -EXDEV);
	ck_assert_int_eq(ropen("a/b/../../../outside", O_WRONLY | O_TRUNC, 0), -EXDEV);
	char name[NAME_MAX + 1];
	ck_assert_int_eq(sn_resolve_parent(root_fd, "../outside", 10, name), -EXDEV);
	ck_assert_int_eq(sn_resolve_parent(root_fd, "a/../../x", 9, name), -EXDEV);
	assert_outside_untouched();
	char p[PATH_MAX + 16];
	snprintf(p, sizeof p, "%s/x", tmp);
	ck_assert_int_eq(access(p, F_OK), -1); /* nothing created next to the root */
}
END_TEST

START_TEST(test_absolute)
{
	ck_assert_int_eq(ropen("/etc/passwd", O_RDONLY, 0), -EXDEV);
	ck_assert_int_eq(ropen(outside, O_WRONLY | O_TRUNC, 0), -EXDEV);
	ck_assert_int_eq(ropen("/", O_RDONLY, 0), -EXDEV);
	char name[NAME_MAX + 1];
	ck_assert_int_eq(sn_resolve_parent(root_fd, "/etc/passwd", 11, name), -EXDEV);
	assert_outside_untouched();
}
END_TEST

START_TEST(test_symlink_out)
{
	ck_assert_int_eq(ropen("out", O_RDONLY, 0), -EXDEV);
	ck_assert_int_eq(ropen("out", O_WRONLY | O_TRUNC, 0), -EXDEV);
	ck_assert_int_eq(ropen("out", O_WRONLY | O_CREAT, 0600), -EXDEV);
	ck_assert_int_eq(ropen("abs", O_RDONLY, 0), -EXDEV);
	ck_assert_int_eq(ropen("abs", O_RDWR | O_TRUNC, 0), -EXDEV);
	/* O_NOFOLLOW: the last component is not followed at all */
	ck_assert_int_eq(ropen("out", O_RDONLY | O_NOFOLLOW, 0), -ELOOP);
	/* O_PATH | O_NOFOLLOW names the link itself (lstat), which is inside */
	int fd = ropen("out", O_PATH | O_NOFOLLOW, 0);
	ck_assert_int_ge(fd, 0);
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert(S_ISLNK(st.st_mode));
	close(fd);
	assert_outside_untouched();
}
END_TEST

/* --- inside ------------------------------------------------------------ */

START_TEST(test_nested)
{
	ck_assert_str_eq(contents("a/b/file"), "inside");
	ck_assert_str_eq(contents("a//b/./file"), "inside");
	ck_assert_str_eq(contents("a/b/../b/file"), "inside"); /* ".." that stays inside */
	ck_assert_str_eq(contents("./a/b/file"), "inside");
	ck_assert_int_eq(ropen("a/b/nope", O_RDONLY, 0), -ENOENT);
	ck_assert_int_eq(ropen("a/b/file/x", O_RDONLY, 0), -ENOTDIR);
	ck_assert_int_eq(ropen("a", O_WRONLY, 0), -EISDIR);
	ck_assert_int_eq(ropen("a/b/file", O_RDONLY | O_DIRECTORY, 0), -ENOTDIR);
}
END_TEST

START_TEST(test_symlink_in)
{
	ck_assert_str_eq(contents("in"), "inside");
	ck_assert_int_eq(ropen("in", O_RDONLY | O_NOFOLLOW, 0), -ELOOP);
	/* dangling but inside: O_CREAT makes its target, root/b-sibling
	 * (../ taken from root/a), and nothing beside the root */
	int fd = ropen("a/up", O_WRONLY | O_CREAT, 0600);
	ck_assert_msg(fd >= 0, "create through a/up: %s", strerror(-fd));
	close(fd);
	char p[PATH_MAX + 32];
	snprintf(p, sizeof p, "%s/root/b-sibling", tmp);
	ck_assert_int_eq(access(p, F_OK), 0);
	snprintf(p, sizeof p, "%s/b-sibling", tmp);
	ck_assert_int_eq(access(p, F_OK), -1);
}
END_TEST

START_TEST(test_create)
{
	int fd = ropen("a/new", O_RDWR | O_CREAT | O_EXCL, 0640);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, "x", 1), 1);
	close(fd);
	ck_assert_int_eq(ropen("a/new", O_RDWR | O_CREAT | O_EXCL, 0640), -EEXIST);
	ck_assert_str_eq(contents("a/new"), "x");
	char p[PATH_MAX + 32];
	snprintf(p, sizeof p, "%s/root/a/new", tmp);
	struct stat st;
	ck_assert_int_eq(stat(p, &st), 0);
	mode_t um = umask(0);
	umask(um);
	ck_assert_int_eq(st.st_mode & 0777, 0640 & ~um);
}
END_TEST

START_TEST(test_root_itself)
{
	int fd = sn_resolve_open(root_fd, "", 0, O_RDONLY | O_DIRECTORY, 0);
	ck_assert_int_ge(fd, 0);
	struct stat a, b;
	ck_assert_int_eq(fstat(fd, &a), 0);
	ck_assert_int_eq(fstat(root_fd, &b), 0);
	ck_assert(a.st_ino == b.st_ino && a.st_dev == b.st_dev);
	close(fd);
	fd = ropen(".", O_RDONLY, 0);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(sn_resolve_open(root_fd, "", 0, O_WRONLY, 0), -EISDIR);
}
END_TEST

/* --- parent and name --------------------------------------------------- */

START_TEST(test_parent)
{
	char name[NAME_MAX + 1];
	int fd = sn_resolve_parent(root_fd, "a/b/file", 8, name);
	ck_assert_int_ge(fd, 0);
	ck_assert_str_eq(name, "file");
	struct stat st;
	ck_assert_int_eq(fstatat(fd, name, &st, 0), 0);
	ck_assert(S_ISREG(st.st_mode));
	ck_assert_int_eq(fsync(fd), 0); /* a real descriptor, not O_PATH */
	close(fd);

	fd = sn_resolve_parent(root_fd, "top", 3, name); /* parent is the root */
	ck_assert_int_ge(fd, 0);
	ck_assert_str_eq(name, "top");
	ck_assert_int_eq(mkdirat(fd, name, 0700), 0);
	close(fd);

	fd = sn_resolve_parent(root_fd, "a/b/", 4, name); /* trailing slash */
	ck_assert_int_ge(fd, 0);
	ck_assert_str_eq(name, "b");
	close(fd);

	/* the last component is never followed: "out" is the link itself */
	fd = sn_resolve_parent(root_fd, "out", 3, name);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW), 0);
	ck_assert(S_ISLNK(st.st_mode));
	close(fd);

	/* a parent reached through a symlink out of the root */
	ck_assert_int_eq(sn_resolve_parent(root_fd, "out/x", 5, name), -EXDEV);
	ck_assert_int_eq(sn_resolve_parent(root_fd, "a/b/file/x", 10, name), -ENOTDIR);
	assert_outside_untouched();
}
END_TEST

START_TEST(test_parent_refusals)
{
	char name[NAME_MAX + 1];
	ck_assert_int_eq(sn_resolve_parent(root_fd, ".", 1, name), -EINVAL);
	ck_assert_int_eq(sn_resolve_parent(root_fd, "..", 2, name), -EINVAL);
	ck_assert_int_eq(sn_resolve_parent(root_fd, "a/.", 3, name), -EINVAL);
	ck_assert_int_eq(sn_resolve_parent(root_fd, "a/..", 4, name), -EINVAL);
	ck_assert_int_eq(sn_resolve_parent(root_fd, "a/b/../", 7, name), -EINVAL);
	ck_assert_int_eq(sn_resolve_parent(root_fd, "", 0, name), -EBUSY);
	ck_assert_int_eq(sn_resolve_parent(root_fd, "//", 2, name), -EXDEV);
	ck_assert_int_eq(sn_path_check(".", 1, 1), -EINVAL);
	ck_assert_int_eq(sn_path_check(".", 1, 0), 0);
	ck_assert_int_eq(sn_path_check("", 0, 1), -EBUSY);
	ck_assert_int_eq(sn_path_check("a/..x", 5, 1), 0); /* only exact dots */
}
END_TEST

static Suite *resolve_suite(void)
{
	Suite *s = suite_create("resolve");
	TCase *tc = tcase_create("syntax");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_nul_byte);
	tcase_add_test(tc, test_long_component);
	tcase_add_test(tc, test_long_path);
	suite_add_tcase(s, tc);

	tc = tcase_create("escapes");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_dotdot);
	tcase_add_test(tc, test_absolute);
	tcase_add_test(tc, test_symlink_out);
	suite_add_tcase(s, tc);

	tc = tcase_create("inside");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_nested);
	tcase_add_test(tc, test_symlink_in);
	tcase_add_test(tc, test_create);
	tcase_add_test(tc, test_root_itself);
	suite_add_tcase(s, tc);

	tc = tcase_create("parent");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_parent);
	tcase_add_test(tc, test_parent_refusals);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(resolve_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
