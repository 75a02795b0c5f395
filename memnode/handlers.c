/*
 * lego-memnode request handlers.  The RPC server has checked the header,
 * the connection's session and the body's size limits from this table
 * before a handler runs; handlers check what depends on the body itself
 * (counts against the length, the address-space capability).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/stats_list.h"
#include "common/util.h"
#include "memnode.h"
#include "rmem.h"

/* The address space a request names (its capability checked), tagged
 * with the connection using it: that connection is dropped when the
 * monitor says the process is gone. */
static int mn_as_get(struct rpc_ctx *ctx, const struct lego_as_ref *ref, struct ms_as **as)
{
	struct memnode *m = ctx->user;
	int r = ms_as_get(m->store, ref, as);
	if (r == 0)
		ms_as_set_owner(*as, rpc_sconn_tag(ctx->conn));
	return r;
}

static int h_read(struct rpc_ctx *ctx)
{
	struct memnode *m = ctx->user;
	struct lego_lines_req req;
	memcpy(&req, ctx->body, sizeof req);
	if (req.count == 0 || req.count > LEGO_BATCH_MAX ||
	    ctx->body_len != sizeof req + (size_t)req.count * sizeof(struct lego_line_ref))
		return -EBADMSG;
	struct ms_as *as;
	int r = mn_as_get(ctx, &req.as, &as);
	if (r)
		return r;
	size_t ls = ms_as_line_size(as);
	if ((size_t)req.count * ls > LEGO_MSG_PAYLOAD_MAX)
		return -EMSGSIZE;
	/* with LEGO_LINES_SEQ the refs come back first, with their sequences */
	size_t refs_len = req.flags & LEGO_LINES_SEQ ? req.count * sizeof(struct lego_line_ref) : 0;
	uint8_t *out = rpc_reply_alloc(ctx, refs_len + req.count * ls);
	if (!out)
		return -ENOMEM;
	const uint8_t *p = ctx->body + sizeof req;
	for (uint32_t i = 0; i < req.count; i++) {
		struct lego_line_ref ref;
		memcpy(&ref, p + i * sizeof ref, sizeof ref);
		ref.seq = ms_read_line(as, ref.line, out + refs_len + i * ls);
		if (refs_len)
			memcpy(out + i * sizeof ref, &ref, sizeof ref);
	}
	m->read_lines += req.count;
	m->read_bytes += req.count * ls;
	return 0;
}

static int h_write(struct rpc_ctx *ctx)
{
	struct memnode *m = ctx->user;
	struct lego_lines_req req;
	memcpy(&req, ctx->body, sizeof req);
	if (req.count == 0 || req.count > LEGO_BATCH_MAX)
		return -EBADMSG;
	struct ms_as *as;
	int r = mn_as_get(ctx, &req.as, &as);
	if (r)
		return r;
	size_t ls = ms_as_line_size(as);
	size_t refs_len = (size_t)req.count * sizeof(struct lego_line_ref);
	if (ctx->body_len != sizeof req + refs_len + req.count * ls)
		return -EBADMSG;
	struct lego_line_ref refs[LEGO_BATCH_MAX];
	memcpy(refs, ctx->body + sizeof req, refs_len);
	uint64_t applied = 0, *where = NULL, at[LEGO_BATCH_MAX];
	struct lego_where_key *keys = NULL;
	if ((req.flags & LEGO_LINES_WHERE) && (req.flags & LEGO_LINES_KEYS) && m->rma_net) {
		/* where each line now is and its registration's key, for the
		 * client's one-sided reads over the network */
		uint8_t *out = rpc_reply_alloc(ctx, sizeof(struct lego_where_rep) +
							    req.count * sizeof *keys);
		if (!out)
			return -ENOMEM;
		struct lego_where_rep wr = {req.count, 0};
		memcpy(out, &wr, sizeof wr);
		keys = (struct lego_where_key *)(void *)(out + sizeof wr);
		where = at;
	} else if ((req.flags & LEGO_LINES_WHERE) && !(req.flags & LEGO_LINES_KEYS) && m->rma) {
		/* where each line now is, for the client's one-sided reads */
		uint8_t *out = rpc_reply_alloc(ctx, sizeof(struct lego_where_rep) +
							    req.count * sizeof(uint64_t));
		if (!out)
			return -ENOMEM;
		struct lego_where_rep wr = {req.count, (uint64_t)getpid()};
		memcpy(out, &wr, sizeof wr);
		where = (uint64_t *)(void *)(out + sizeof wr);
	}
	r = ms_write_lines_at(m->store, as, refs, req.count, ctx->body + sizeof req + refs_len,
			      &applied, where);
	if (r)
		return r;
	for (uint32_t i = 0; keys && i < req.count; i++) {
		keys[i] = (struct lego_where_key){0, 0};
		if (at[i] && rmem_where((const void *)(uintptr_t)at[i], &keys[i].addr, &keys[i].key) != 0)
			keys[i].addr = 0; /* (a buffer from before, or malloc'd) */
	}
	m->write_lines += req.count;
	m->write_bytes += req.count * ls;
	m->write_applied += applied;
	return 0;
}

static int h_free(struct rpc_ctx *ctx)
{
	struct memnode *m = ctx->user;
	struct lego_free_req req;
	memcpy(&req, ctx->body, sizeof req);
	struct ms_as *as;
	int r = mn_as_get(ctx, &req.as, &as);
	if (r)
		return r;
	if (req.first_line + req.nr_lines < req.first_line)
		return -EINVAL;
	/* the rest of a large range is freed between later requests */
	uint64_t n = ms_free_lines_some(m->store, as, req.first_line, req.nr_lines, MS_FREE_NOW);
	struct lego_count_rep *rep = rpc_reply_alloc(ctx, sizeof *rep);
	if (!rep)
		return -ENOMEM;
	rep->count = n;
	return 0;
}

static int h_reserve(struct rpc_ctx *ctx)
{
	struct memnode *m = ctx->user;
	struct lego_reserve_req req;
	memcpy(&req, ctx->body, sizeof req);
	struct ms_as *as;
	int r = mn_as_get(ctx, &req.as, &as);
	if (r)
		return r;
	m->reserve_calls++;
	uint64_t reserved = 0;
	r = ms_reserve(m->store, as, req.delta, &reserved);
	struct lego_reserve_rep *rep = rpc_reply_alloc(ctx, sizeof *rep);
	if (rep)
		rep->reserved = reserved;
	return r;
}

static int h_as_exit(struct rpc_ctx *ctx)
{
	struct memnode *m = ctx->user;
	struct lego_p2mon_as_req req;
	memcpy(&req, ctx->body, sizeof req);
	struct ms_as *as;
	int r = ms_as_get(m->store, &req.as, &as);
	if (r == -EAGAIN)
		return r;
	if (r == 0)
		ms_as_destroy(m->store, req.as.as_id);
	return r == -EACCES ? r : 0;
}

static int h_clone(struct rpc_ctx *ctx)
{
	struct memnode *m = ctx->user;
	struct lego_clone_req req;
	memcpy(&req, ctx->body, sizeof req);
	struct ms_as *parent;
	int r = ms_as_get(m->store, &req.parent, &parent);
	if (r)
		return r;
	return ms_as_clone(m->store, parent, &req.child);
}

static int h_file(struct rpc_ctx *ctx)
{
	struct memnode *m = ctx->user;
	return pgc_handle(m->pgc, ctx);
}

int memnode_store_call(void *user, uint16_t op, const struct iovec *iov, int n, void *rep,
		       size_t repcap, size_t *replen)
{
	struct memnode *m = user;
	uint64_t now = lg_now_ns();
	if (!m->sto_ok) {
		if (now < m->store_retry_ns)
			return -EIO;
		struct lego_node_addr a;
		int r = rpc_call_fixed(&m->mon, M2MON_STORE, NULL, 0, &a, sizeof a,
				       m->store_timeout_ns);
		if (r == 0) {
			/* a fresh endpoint: the old one would keep reaching the
			 * region of a storenode restarted under the same name */
			rpc_links_close(&m->sto_links);
			r = rpc_links_peer_node(&m->sto_links, &a, &m->sto, "storenode");
		}
		if (r == 0)
			r = rpc_peer_connect(&m->sto, m->store_timeout_ns);
		if (r) {
			lg_log_rl(LG_ERROR, "memnode", "no storenode for files: %s%s", strerror(-r),
				  r == -ENOENT ? " (none registered with the monitor)" : "");
			m->store_retry_ns = lg_now_ns() + 1000000000ull;
			return -EIO;
		}
		lg_log(LG_INFO, "memnode", "connected to the storenode");
		m->sto_ok = 1;
	}
	int r = rpc_callv(&m->sto, op, iov, n, rep, repcap, replen, m->store_timeout_ns);
	if (r == -ETIMEDOUT || r == -ECONNRESET || r == -ECONNREFUSED || r == -EHOSTUNREACH) {
		lg_log_rl(LG_ERROR, "memnode", "storenode %s failed: %s; file operations fail "
			  "with EIO until it is back", lw_opcode_name(op), strerror(-r));
		m->sto_ok = 0;
		m->sto.connected = 0;
		m->store_retry_ns = lg_now_ns() + 1000000000ull;
		return -EIO;
	}
	return r;
}

#define P RPC_ROLE_BIT(LEGO_ROLE_PROCESS)
#define FILE_OP(op, extra, flags) \
	{op, sizeof(struct lego_file_req), sizeof(struct lego_file_req) + 2 * LEGO_PATH_MAX + (extra), \
	 P | RPC_ROLE_BIT(LEGO_ROLE_TOOL), h_file, flags}
const struct rpc_handler memnode_handlers[] = {
	{P2M_READ, sizeof(struct lego_lines_req) + sizeof(struct lego_line_ref),
	 sizeof(struct lego_lines_req) + LEGO_BATCH_MAX * sizeof(struct lego_line_ref), P, h_read,
	 RPC_H_RERUN},
	{P2M_WRITE, sizeof(struct lego_lines_req) + sizeof(struct lego_line_ref) + 4096,
	 LEGO_MSG_MAX, P, h_write, 0},
	{P2M_FREE, sizeof(struct lego_free_req), sizeof(struct lego_free_req), P, h_free, 0},
	{P2M_RESERVE, sizeof(struct lego_reserve_req), sizeof(struct lego_reserve_req), P, h_reserve,
	 0},
	{P2M_AS_EXIT, sizeof(struct lego_p2mon_as_req), sizeof(struct lego_p2mon_as_req), P,
	 h_as_exit, 0},
	{P2M_CLONE, sizeof(struct lego_clone_req), sizeof(struct lego_clone_req), P, h_clone, 0},
	FILE_OP(X2F_OPEN, 0, 0), FILE_OP(X2F_STAT, 0, RPC_H_RERUN), FILE_OP(X2F_READ, 0, RPC_H_RERUN),
	FILE_OP(X2F_WRITE, LEGO_FILE_IO_MAX, 0), FILE_OP(X2F_TRUNCATE, 0, 0),
	FILE_OP(X2F_FSYNC, 0, 0), FILE_OP(X2F_UNLINK, 0, 0), FILE_OP(X2F_RMDIR, 0, 0),
	FILE_OP(X2F_MKDIR, 0, 0), FILE_OP(X2F_RENAME, 0, 0), FILE_OP(X2F_LIST, 0, RPC_H_RERUN),
	FILE_OP(X2F_CLOSE, 0, 0), FILE_OP(X2F_SETATTR, 0, 0), FILE_OP(X2F_STATFS, 0, RPC_H_RERUN),
	FILE_OP(X2F_SYMLINK, 0, 0), FILE_OP(X2F_READLINK, 0, RPC_H_RERUN), FILE_OP(X2F_LINK, 0, 0),
};
#undef P
const size_t memnode_nhandlers = LG_ARRAY_SIZE(memnode_handlers);

uint64_t memnode_rss(void)
{
	FILE *f = fopen("/proc/self/statm", "re");
	unsigned long long size = 0, rss = 0;
	if (f) {
		if (fscanf(f, "%llu %llu", &size, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

struct memnode_values {
	MEMNODE_STATS_LIST(LG_STAT_FIELD_U, LG_STAT_FIELD_S)
};

size_t memnode_stats(void *user, char *buf, size_t cap)
{
	struct memnode *m = user;
	struct ms_totals t;
	ms_store_totals(m->store, &t);
	struct pgc_stats p = {0};
	if (m->pgc)
		pgc_get_stats(m->pgc, &p);
	struct memnode_values v = {
		.role = "memnode",
		.node_id = m->node_id,
		.registered = (uint64_t)m->registered,
		.capacity = t.capacity,
		.reserved = t.reserved,
		.stored = t.stored,
		.lines = t.lines,
		.address_spaces = t.nr_as,
		.as_created = t.as_created,
		.as_freed = t.as_freed,
		.cap_rejects = t.cap_rejects,
		.enomem = t.enomem,
		.read_lines = m->read_lines,
		.write_lines = m->write_lines,
		.write_applied = m->write_applied,
		.free_lines = t.freed_lines,
		.free_pending = t.free_pending,
		.line_pool = t.line_pool,
		.heartbeat_failures = m->hb_failures,
		.rss = memnode_rss(),
		.pgcache_files = p.files,
		.pgcache_bytes = p.bytes,
		.pgcache_dirty = p.dirty,
		.pgcache_hits = p.hits,
		.pgcache_misses = p.misses,
		.pgcache_fills = p.fills,
		.pgcache_writebacks = p.writebacks,
		.pgcache_writeback_bytes = p.wb_bytes,
		.pgcache_writeback_errors = p.wb_errors,
		.pgcache_dropped_bytes = p.dropped,
		.pgcache_evictions = p.evictions,
		.pgcache_store_errors = p.store_errors,
		.store_connected = (uint64_t)m->sto_ok,
	};
	size_t n = 0;
	MEMNODE_STATS_LIST(LG_STAT_PUT_U, LG_STAT_PUT_S)
	return n;
}
