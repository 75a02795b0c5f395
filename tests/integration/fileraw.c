/*
 * lego-test-fileraw HOST:PORT OP PATH [PATH2]: send one raw file request
 * to a storenode (or memnode) as a tool and print the result as an errno
 * name ("OK" on success).  Paths are given with C escapes (\0, \xNN) so
 * that names with NUL bytes can be sent; "@N" stands for N bytes of 'a'.
 * OP: open-creat, open, stat, lstat, mkdir, rmdir, unlink, rename, list,
 * write (writes "x" at offset 0 of the path's file).
 * lego-test-fileraw HOST:PORT -: one request per line of standard input
 * ("OP PATH [PATH2]", blank-separated), one result line each, all over one
 * connection (a process start costs 0.3 s here: libfabric's start-up).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rawpeer.h"

static size_t unescape(const char *s, char *out, size_t cap)
{
	size_t n = 0;
	for (; *s && n < cap; s++) {
		if (s[0] == '@') {
			char *end;
			size_t k = strtoul(s + 1, &end, 10);
			k = k < cap - n ? k : cap - n;
			memset(out + n, 'a', k);
			n += k;
			s = end - 1;
		} else if (s[0] == '\\' && s[1] == '0') {
			out[n++] = 0;
			s++;
		} else if (s[0] == '\\' && s[1] == 'x' && s[2] && s[3]) {
			char hex[3] = {s[2], s[3], 0};
			out[n++] = (char)strtoul(hex, NULL, 16);
			s += 3;
		} else {
			out[n++] = *s;
		}
	}
	return n;
}

static const char *const ops[] = {"open-creat", "open", "stat", "lstat", "mkdir",
				   "rmdir", "unlink", "rename", "list", "write"};
static const uint16_t codes[] = {X2F_OPEN, X2F_OPEN, X2F_STAT, X2F_STAT, X2F_MKDIR,
				 X2F_RMDIR, X2F_UNLINK, X2F_RENAME, X2F_LIST, X2F_WRITE};

/* One request; prints its result.  0, or 2 for a request this tool cannot
 * make (unknown op, path too long). */
static int one(struct rpc_peer *peer, const char *op, const char *p1, const char *p2)
{
	int k = -1;
	for (int i = 0; i < 10; i++)
		if (strcmp(op, ops[i]) == 0)
			k = i;
	if (k < 0 || !p1)
		return 2;
	static char paths[3 * 8192];
	struct lego_file_req req = {.mode = 0644};
	size_t n1 = unescape(p1, paths, 8192);
	size_t n2 = p2 ? unescape(p2, paths + n1, 8192) : 0;
	if (n1 > 0xffff || n2 > 0xffff)
		return 2;
	req.path_len = (uint16_t)n1;
	req.path2_len = (uint16_t)n2;
	if (k == 0)
		req.flags = O_CREAT | O_RDWR;
	if (k == 3)
		req.flags = LEGO_F_NOFOLLOW;
	if (k == 9)
		req.len = 1;
	struct iovec iov[3] = {{&req, sizeof req}, {paths, n1 + n2}, {"x", 1}};
	static char rep[LEGO_LIST_MAX];
	size_t rl = 0;
	int r = rpc_callv(peer, codes[k], iov, k == 9 ? 3 : 2, rep, sizeof rep, &rl, RAWPEER_TIMEOUT_NS);
	printf("%s\n", r == 0 ? "OK" : strerrorname_np(-r) ? strerrorname_np(-r) : "?");
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	int batch = argc == 3 && strcmp(argv[2], "-") == 0;
	if (argc < 4 && !batch)
		return 2;
	struct rpc_links links;
	struct rpc_peer peer;
	if (rawpeer_connect(argv[1], LF_FAB_TCP, &links, &peer))
		return 1;
	uint64_t to = RAWPEER_TIMEOUT_NS;
	int rc = 0;
	if (!batch) {
		rc = one(&peer, argv[2], argv[3], argc > 4 ? argv[4] : NULL);
	} else {
		char line[20000];
		while (rc == 0 && fgets(line, sizeof line, stdin)) {
			char *save, *op = strtok_r(line, " \t\n", &save);
			if (!op)
				continue;
			char *p1 = strtok_r(NULL, " \t\n", &save);
			rc = one(&peer, op, p1, strtok_r(NULL, " \t\n", &save));
		}
	}
	rpc_call(&peer, X2X_BYE, NULL, 0, NULL, 0, NULL, to);
	rpc_links_close(&links);
	return rc;
}
