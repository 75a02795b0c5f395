/*
 * lego-storenode: state shared by its handlers and main loop.  The
 * storenode keeps no per-client state (docs/storage.md): everything a
 * request needs is in the request and under root_fd.
 */
#ifndef LEGO_STORENODE_H
#define LEGO_STORENODE_H

#include <limits.h>
#include <stdint.h>

#include "fabric/node.h"
#include "fabric/rpc.h"

struct storenode {
	int root_fd; /* the store root, O_RDONLY | O_DIRECTORY */
	char root[PATH_MAX];
	struct rpc_server *srv;
	struct lf_node node;
	/* link to the monitor */
	struct rpc_client *mon_cl;
	struct rpc_peer mon;
	uint32_t node_id;
	int registered;
	int hb_inflight;
	uint64_t hb_failures;
	uint8_t *io_buf; /* READ and LIST staging, allocated on first use */
	/* root_fd's name (its /proc link), read on first use: root_len bytes
	 * ("/" is 0), -1 if unknown */
	int root_read;
	ssize_t root_len;
	char root_real[PATH_MAX];
	/* counters */
	uint64_t requests, errors, refused_paths, stale, bytes_read, bytes_written;
};

extern const struct rpc_handler storenode_handlers[];
extern const size_t storenode_nhandlers;

/* The storenode's counters, after the RPC server's (common/stats_list.h
 * says how to read the list).  Requests are file requests (X2F_*). */
#define STORENODE_STATS_LIST(X, S) \
	S(role, "role", "`storenode`") \
	X(node_id, "node_id", "the id the monitor gave it (0 until registered)") \
	X(registered, "registered", "1 while registered with the monitor (gauge)") \
	S(root, "root", "the store root directory (`--root`)") \
	X(bytes_free, "bytes_free", "bytes free on the root's file system (gauge)") \
	X(bytes_used, "bytes_used", "bytes used on the root's file system (gauge)") \
	X(requests, "requests", "file requests served") \
	X(errors, "errors", "file requests that failed") \
	X(refused_paths, "refused_paths", "requests refused for a path: bad syntax, or leaving the root") \
	X(stale, "stale", "requests that failed with ESTALE: the path names another file now") \
	X(bytes_read, "bytes_read", "bytes read from files") \
	X(bytes_written, "bytes_written", "bytes written to files") \
	X(heartbeat_failures, "heartbeat_failures", "heartbeats to the monitor that failed")

/* Append the storenode's counters as "key:value\n" lines (stats_fn). */
size_t storenode_stats(void *user, char *buf, size_t cap);

/* Bytes free (for unprivileged users) and used on the file system holding
 * fd, from fstatvfs.  0 or -errno. */
int storenode_space(int fd, uint64_t *free_bytes, uint64_t *used_bytes);

#endif
