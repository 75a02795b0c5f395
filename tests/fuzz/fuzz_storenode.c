/*
 * fuzz_storenode: the storenode's request path and its path resolver.
 *
 * LLVMFuzzerInitialize makes a directory T with a store root T/root and,
 * beside it, T/outside holding a file the store must never reach.  Every
 * input fills the root afresh (a file, a directory with a file, symlinks
 * that lead outside by "..", by an absolute path and through a loop),
 * builds a storenode over it (an RPC server over storenode_handlers, test
 * connections of the roles that may use it and of one that may not), and
 * runs up to 48 steps, each:
 *
 *   u8 step choice (sn_ops[]: a file request, a raw opcode, OP_RESOLVE, or a
 *   handshake: fz_handshake)
 *   u8 flags: FZ_SHAPE, FZ_BAD, FZ_TWO, connection (2 bits), for the op
 *   (SYMLINK makes links to any of those paths, which the storenode must
 *   then never follow out; LINK, with LEGO_F_FOLLOW too, must never give
 *   a file outside a name inside; READLINK with LEGO_F_WALK finds where a
 *   path leaves)
 *   [u8 header corruption, with FZ_BAD]
 *   with FZ_SHAPE, a well-formed request: offsets, lengths and flags from
 *   a few input bytes, paths made of pieces (names that exist, "..", ".",
 *   the symlinks, T/outside, long names, bytes); else u16 length and raw
 *   bytes.  OP_RESOLVE calls the resolver itself on such a path.
 *
 * Checked after every step: a descriptor the resolver returns names a file
 * beneath the root (its /proc/self/fd link); and after every input, that
 * T/outside holds exactly its one file, unchanged, and T nothing new.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "fuzz_server.h"
#include "storenode/resolve.h"
#include "storenode/storenode.h"

enum {
	FZ_SHAPE = 0x01,
	FZ_BAD = 0x02,
	FZ_TWO = 0x04, /* a second path (RENAME), or the resolver's parent form */
	/* 0x18: the connection; 0xe0: for the op */
};

enum { OP_RAW = 0xff00, OP_RESOLVE, OP_HANDSHAKE };

static const uint16_t sn_ops[] = {
	X2F_OPEN,  X2F_STAT,  X2F_READ,	 X2F_WRITE, X2F_TRUNCATE, X2F_FSYNC, X2F_UNLINK,
	X2F_RMDIR, X2F_MKDIR, X2F_RENAME, X2F_LIST, X2F_CLOSE,	  X2X_PING,  X2X_STATS,
	X2F_SETATTR, X2F_STATFS, X2F_SYMLINK, X2F_READLINK, X2F_READLINK, X2F_LINK,
	X2X_BYE,   OP_RAW,    OP_RESOLVE, OP_RESOLVE, X2F_OPEN, X2F_WRITE, X2F_READ,
	OP_HANDSHAKE,
};

static const uint32_t sn_roles[] = {LEGO_ROLE_MEMNODE, LEGO_ROLE_MEMNODE, LEGO_ROLE_TOOL,
				    LEGO_ROLE_PROCESS};
#define NCONNS 4

static char T[PATH_MAX - 64], root[PATH_MAX], outside[PATH_MAX];
static int root_fd = -1;
static struct storenode S;
static struct fz_conn conns[NCONNS];
static const char secret[] = "not for the store\n";

/* ---------------------------------------------------------- the tree */

static void rm_tree(int dfd)
{
	DIR *d = fdopendir(dfd);
	FUZZ_CHECK(d != NULL);
	rewinddir(d); /* (a dup shares its offset with the root's descriptor) */
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0)
			continue;
		int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		if (sub >= 0) {
			fchmod(sub, 0700);
			rm_tree(sub);
		}
		FUZZ_CHECK(unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) == 0);
	}
	closedir(d);
}

static void put_file(int dfd, const char *name, const char *text)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(write(fd, text, strlen(text)) == (ssize_t)strlen(text));
	close(fd);
}

static void fill_root(void)
{
	fchmod(root_fd, 0755);
	rm_tree(dup(root_fd));
	put_file(root_fd, "a", "alpha\n");
	FUZZ_CHECK(mkdirat(root_fd, "d", 0755) == 0);
	put_file(root_fd, "d/b", "beta\n");
	FUZZ_CHECK(symlinkat("../outside", root_fd, "up") == 0);
	FUZZ_CHECK(symlinkat(outside, root_fd, "abs") == 0);
	FUZZ_CHECK(symlinkat("../d", root_fd, "d/back") == 0);
	FUZZ_CHECK(symlinkat("loop", root_fd, "loop") == 0);
	FUZZ_CHECK(symlinkat("a", root_fd, "ln") == 0);
}

/* T/outside is as it was made, and T holds only root and outside. */
static void check_outside(void)
{
	char buf[64];
	char p[PATH_MAX + 16];
	snprintf(p, sizeof p, "%s/secret", outside);
	int fd = open(p, O_RDONLY | O_CLOEXEC);
	FUZZ_CHECK(fd >= 0);
	ssize_t n = read(fd, buf, sizeof buf);
	close(fd);
	FUZZ_CHECK(n == (ssize_t)strlen(secret) && !memcmp(buf, secret, (size_t)n));
	struct stat st;
	FUZZ_CHECK(stat(p, &st) == 0 && (st.st_mode & 07777) == 0600);
	for (int k = 0; k < 2; k++) {
		DIR *d = opendir(k ? outside : T);
		FUZZ_CHECK(d != NULL);
		struct dirent *e;
		int others = 0;
		while ((e = readdir(d)))
			others += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
				  strcmp(e->d_name, k ? "secret" : "root") &&
				  (k || strcmp(e->d_name, "outside"));
		closedir(d);
		FUZZ_CHECK(others == 0);
	}
}

/* A descriptor from the resolver names the root or something beneath it. */
static void check_beneath(int fd)
{
	char link[64], at[PATH_MAX];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, at, sizeof at - 1);
	FUZZ_CHECK(n > 0);
	at[n] = 0;
	size_t rl = strlen(root);
	FUZZ_CHECK(!strncmp(at, root, rl) && (at[rl] == 0 || at[rl] == '/'));
}

/* ----------------------------------------------------------- requests */

/* A path from pieces: up to six components, joined by '/'. */
static size_t mk_path(struct fin *f, char *dst, size_t cap)
{
	static const char *const pieces[] = {
		"a", "d", "b", "..", ".", "", "up", "abs", "back", "loop", "ln", "new",
		"secret", "x", "outside",
	};
	uint8_t b = fin_u8(f);
	size_t n = 0;
	if (b & 0x80) { /* raw bytes */
		n = LG_MIN((size_t)fin_u8(f), cap);
		fin_bytes(f, dst, n);
		return n;
	}
	if (b & 0x40) { /* absolute: the outside directory itself */
		n = (size_t)snprintf(dst, cap, "%s/", outside);
	}
	int parts = 1 + (b & 7);
	for (int i = 0; i < parts && n + NAME_MAX + 2 < cap; i++) {
		uint8_t k = fin_u8(f);
		if (i)
			dst[n++] = '/';
		if (k == 0xff) { /* a component longer than NAME_MAX */
			memset(dst + n, 'L', NAME_MAX + 1);
			n += NAME_MAX + 1;
			continue;
		}
		const char *s = pieces[k % LG_ARRAY_SIZE(pieces)];
		size_t l = strlen(s);
		memcpy(dst + n, s, l);
		n += l;
	}
	if (b & 0x20 && n < cap)
		dst[n++] = '/';
	return n;
}

static size_t mk_request(struct fin *f, uint16_t op, uint8_t fl, uint8_t *body)
{
	struct lego_file_req q;
	memset(&q, 0, sizeof q);
	uint8_t b = fin_u8(f);
	q.ino = b & 1 ? fin_u64(f) : 0;
	q.off = b & 2 ? fin_u64(f) : fin_u16(f);
	q.len = b & 4 ? fin_u64(f) : fin_u16(f) % 8192;
	static const uint32_t oflags[] = {O_RDONLY, O_WRONLY, O_RDWR, O_RDWR | O_CREAT,
					  O_WRONLY | O_CREAT | O_TRUNC, O_RDWR | O_CREAT | O_EXCL,
					  O_WRONLY | O_APPEND, O_RDONLY | O_DIRECTORY};
	q.flags = b & 8 ? fin_u32(f) : oflags[(b >> 4) % LG_ARRAY_SIZE(oflags)];
	if (op == X2F_SETATTR && !(b & 8))
		q.flags = fin_u8(f) & LEGO_SA_ALL;
	if (op == X2F_READLINK && !(b & 8))
		q.flags = fin_u8(f) & (LEGO_F_WALK | LEGO_F_NOFOLLOW);
	if (op == X2F_LINK && !(b & 8))
		q.flags = fin_u8(f) & LEGO_F_FOLLOW;
	if ((op == X2F_WRITE || op == X2F_TRUNCATE) && !(b & 8))
		q.flags = fin_u8(f) & 1; /* (LEGO_F_APPEND, LEGO_F_EXTEND) */
	q.mode = b & 0x80 ? fin_u32(f) : 0644;
	char *path = (char *)body + sizeof q;
	size_t cap = 4096;
	q.path_len = (uint16_t)mk_path(f, path, cap);
	if (op == X2F_RENAME || op == X2F_SYMLINK || op == X2F_LINK || (fl & FZ_TWO))
		q.path2_len = (uint16_t)mk_path(f, path + q.path_len, cap);
	size_t blen = sizeof q + q.path_len + q.path2_len;
	if (op == X2F_WRITE) {
		q.len %= 8192;
		fin_bytes(f, body + blen, q.len);
		blen += q.len;
	}
	memcpy(body, &q, sizeof q);
	return blen;
}

static void resolve_one(struct fin *f, uint8_t fl)
{
	char path[8192];
	size_t n = mk_path(f, path, sizeof path);
	int check = sn_path_check(path, n, fl & FZ_TWO);
	int fd;
	if (fl & FZ_TWO) {
		char name[NAME_MAX + 1];
		fd = sn_resolve_parent(root_fd, path, n, name);
		if (fd >= 0)
			FUZZ_CHECK(name[0] && strlen(name) <= NAME_MAX && !strchr(name, '/') &&
				   strcmp(name, ".") && strcmp(name, ".."));
	} else {
		static const int oflags[] = {O_RDONLY, O_RDONLY | O_NOFOLLOW, O_PATH,
					     O_RDONLY | O_DIRECTORY};
		fd = sn_resolve_open(root_fd, path, n, oflags[(fl >> 5) & 3], 0);
	}
	if (check)
		FUZZ_CHECK(fd == check); /* refused before any system call */
	if (fd >= 0) {
		check_beneath(fd);
		close(fd);
	}
}

/* ---------------------------------------------------------------- run */

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void remove_T(void)
{
	int fd = open(T, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fchmod(root_fd, 0755);
		rm_tree(fd);
		rmdir(T);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_lego_init();
	atexit(remove_T);
	const char *tmp = getenv("TMPDIR");
	snprintf(T, sizeof T, "%s/lego-fuzz-storenode.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	FUZZ_CHECK(mkdtemp(T) != NULL);
	snprintf(root, sizeof root, "%s/root", T);
	snprintf(outside, sizeof outside, "%s/outside", T);
	FUZZ_CHECK(mkdir(root, 0755) == 0 && mkdir(outside, 0755) == 0);
	char p[PATH_MAX + 16];
	snprintf(p, sizeof p, "%s/secret", outside);
	int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	FUZZ_CHECK(fd >= 0 && write(fd, secret, strlen(secret)) == (ssize_t)strlen(secret));
	close(fd);
	root_fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	FUZZ_CHECK(root_fd >= 0);
	return 0;
}

static void sn_start(void)
{
	fill_root();
	memset(&S, 0, sizeof S);
	S.root_fd = root_fd;
	snprintf(S.root, sizeof S.root, "%s", root);
	struct rpc_server_conf sc = {.name = "storenode", .handlers = storenode_handlers,
				     .nhandlers = storenode_nhandlers, .key = "", .user = &S,
				     .stats_fn = storenode_stats, .max_conns = 8};
	FUZZ_CHECK(rpc_server_new(&sc, &S.srv) == 0);
	fz_conns_open(S.srv, sn_roles, NCONNS, conns);
}

static void sn_stop(void)
{
	rpc_server_free(S.srv);
	free(S.io_buf); /* (allocated by the handlers on first use) */
	check_outside();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fin f = {data, size};
	sn_start();
	for (int steps = 0; fin_left(&f) && steps < 48; steps++) {
		uint8_t pick = fin_u8(&f), fl = fin_u8(&f);
		uint16_t op = pick == FZ_PICK_RAW ? OP_RAW : sn_ops[pick % LG_ARRAY_SIZE(sn_ops)];
		if (op == OP_RESOLVE) {
			resolve_one(&f, fl);
			continue;
		}
		if (op == OP_HANDSHAKE) {
			fz_handshake(S.srv, &f, "", NCONNS + 1);
			continue;
		}
		if (op == OP_RAW)
			op = fin_u8(&f);
		uint8_t bad = fl & FZ_BAD ? fin_u8(&f) : 0;
		size_t blen = fl & FZ_SHAPE ? mk_request(&f, op, fl, fz_body()) : fz_raw_body(&f, 8192);
		fz_send(S.srv, &conns[(fl >> 3) & 3], op, blen, bad);
	}
	sn_stop();
	return 0;
}
