/* Moving granule copies: the process's part (see move.h). */
#define _GNU_SOURCE
#include "move.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "fork.h"
#include "runtime.h"
#include "stats.h"
#include "tls.h"

/* The copies of one granule, as xc_retarget sets them. */
struct mv_copies {
	struct sp_granule *g;
	struct rpc_peer *peer, *mirror;
	int filling;
};

/* Readers take no lock: whenever they can see a mirror that is being
 * filled, they see `filling` too. */
static void mv_apply(void *arg)
{
	const struct mv_copies *w = arg;
	if (w->filling)
		atomic_store(&w->g->filling, 1);
	atomic_store(&w->g->peer, w->peer);
	atomic_store(&w->g->mirror, w->mirror);
	if (!w->filling)
		atomic_store(&w->g->filling, 0);
}

static int mv_down(struct rpc_peer *p)
{
	return atomic_load(&p->down);
}

/* Step 3: every line of granule g ever written back, from src to dst with
 * its sequence.  buf holds a batch's reply.  Lines copied in *nlines. */
static int mv_copy(struct lg_rt *rt, uint64_t g, struct rpc_peer *src, struct rpc_peer *dst,
		   uint8_t *buf, uint64_t *nlines)
{
	struct lg_space *sp = &rt->sp;
	size_t ls = (size_t)1 << sp->line_order;
	uint64_t per = 1ull << (sp->granule_order - sp->line_order);
	uint64_t l = g * per, end = LG_MIN(l + per, (uint64_t)(sp->size >> sp->line_order));
	uint32_t batch = (uint32_t)LG_MIN((size_t)LEGO_BATCH_MAX, LEGO_MSG_PAYLOAD_MAX / ls);
	struct lego_line_ref refs[LEGO_BATCH_MAX];
	uint64_t to = rt->lc.timeout_ns;
	while (l < end) {
		uint32_t n = 0;
		for (; l < end && n < batch; l++)
			if (sp_written(sp, l))
				refs[n++] = (struct lego_line_ref){l, 0};
		if (!n)
			continue;
		if (atomic_load(&rt->hk_stop))
			return -ECANCELED;
		struct lego_lines_req req = {.as = rt->lc.as, .count = n, .flags = LEGO_LINES_SEQ};
		struct iovec iov[3] = {{&req, sizeof req}, {refs, n * sizeof refs[0]}, {NULL, 0}};
		size_t want = n * (sizeof refs[0] + ls), len = 0;
		int r = rpc_callv(src, P2M_READ, iov, 2, buf, want, &len, to);
		if (r)
			return r;
		if (len != want)
			return -EBADMSG;
		/* lines freed meanwhile (sequence 0) stay out */
		const struct lego_line_ref *got = (const void *)buf;
		uint8_t *data = buf + n * sizeof refs[0];
		uint32_t k = 0;
		for (uint32_t i = 0; i < n; i++) {
			if (!got[i].seq)
				continue;
			refs[k] = got[i];
			if (k != i)
				memmove(data + k * ls, data + i * ls, ls);
			k++;
		}
		if (!k)
			continue;
		req.count = k;
		req.flags = 0;
		iov[1].iov_len = k * sizeof refs[0];
		iov[2] = (struct iovec){data, k * ls};
		r = rpc_callv(dst, P2M_WRITE, iov, 3, NULL, 0, NULL, to);
		if (r)
			return r;
		*nlines += k;
	}
	return 0;
}

/*
 * One move (steps 1-4 of move.h).  0: the copy on m->to is complete;
 * -ESTALE: it failed, and the copy on m->from was dropped (it missed the
 * write-backs since step 2); another -errno: it failed, the copies are
 * as they were.
 */
static int mv_one(struct lg_rt *rt, const struct lego_move *m, uint8_t *buf, uint64_t *nlines)
{
	struct lg_space *sp = &rt->sp;
	struct lc *c = &rt->lc;
	if (m->granule >= sp->ngran)
		return -EINVAL;
	struct sp_granule *g = &sp->gran[m->granule];
	int r = 0;
	struct rpc_peer *to = lc_peer(c, &m->to, &r);
	if (!to)
		return r ? r : -EHOSTUNREACH;
	struct rpc_peer *from = m->from ? lc_peer_find(c, m->from) : NULL;
	pthread_mutex_lock(&sp->lock);
	struct rpc_peer *had[2] = {atomic_load(&g->peer), atomic_load(&g->mirror)};
	if (!had[0]) {
		pthread_mutex_unlock(&sp->lock);
		return -ENOENT;
	}
	if ((to == had[0] || to == had[1]) && !atomic_load(&g->filling)) {
		pthread_mutex_unlock(&sp->lock);
		return 0; /* made before; the report was lost */
	}
	/* the copy to make it from: one that stays, or else the one that
	 * goes, if it is the only complete copy left (drain) */
	struct rpc_peer *src = NULL;
	int sole = 0;
	for (int i = 0; i < 2 && !src; i++)
		if (had[i] && had[i] != from && had[i] != to && !mv_down(had[i]))
			src = had[i];
	if (!src && from && (from == had[0] || from == had[1]) && !mv_down(from)) {
		src = from;
		sole = 1;
	}
	if (!src) {
		pthread_mutex_unlock(&sp->lock);
		return -EHOSTDOWN;
	}
	if (g->reserved && (r = sp_reserve_on(sp, to, (int64_t)g->reserved)) != 0) {
		pthread_mutex_unlock(&sp->lock);
		return r;
	}
	if (src != had[0] && mv_down(had[0]))
		atomic_store(&g->promoted, 1);
	struct mv_copies w = {g, src, to, 1};
	xc_retarget(rt->xc, mv_apply, &w);
	pthread_mutex_unlock(&sp->lock);
	r = mv_copy(rt, m->granule, src, to, buf, nlines);
	pthread_mutex_lock(&sp->lock);
	if (r == 0) {
		w = (struct mv_copies){g, sole ? to : src, sole ? NULL : to, 0};
	} else {
		w = (struct mv_copies){g, src, NULL, 0};
		if (g->reserved)
			sp_reserve_on(sp, to, -(int64_t)g->reserved); /* failure only costs room */
	}
	xc_retarget(rt->xc, mv_apply, &w);
	pthread_mutex_unlock(&sp->lock);
	if (r && !sole && from && (from == had[0] || from == had[1]) && !mv_down(from))
		r = -ESTALE;
	return r;
}

/* Ask for the moves and make them, until none is left (or one cannot be
 * reported: then at the next renewal that says there are moves). */
static void mv_run(struct lg_rt *rt, uint8_t *buf, struct lego_moves_rep *list, size_t listcap)
{
	struct lc *c = &rt->lc;
	while (!atomic_load(&rt->hk_stop)) {
		struct lego_p2mon_as_req req = {.as = c->as, .pid = (uint32_t)getpid()};
		size_t len = 0;
		int r = rpc_call(&c->monitor, P2MON_MOVES, &req, sizeof req, list, listcap, &len,
				 c->timeout_ns);
		if (r || len < sizeof *list)
			return;
		uint32_t n = (uint32_t)LG_MIN((uint64_t)list->count,
					      (len - sizeof *list) / sizeof(struct lego_move));
		if (!n)
			return;
		const struct lego_move *mv = (const struct lego_move *)(list + 1);
		for (uint32_t i = 0; i < n && !atomic_load(&rt->hk_stop); i++) {
			uint64_t t0 = lg_now_ns(), lines = 0;
			lg_fork_hold();
			int s = mv_one(rt, &mv[i], buf, &lines);
			lg_fork_unhold();
			double ms = (double)(lg_now_ns() - t0) / 1e6;
			if (s == 0) {
				lg_stat_add(LEGO_STAT_MOVES, 1);
				lg_stat_add(LEGO_STAT_LINES_MOVED, lines);
				lg_log(LG_INFO, "move", "granule %llu: copy made on memnode %u%s%.0u "
				       "(%llu lines, %.1f ms)", (unsigned long long)mv[i].granule,
				       mv[i].to.node_id, mv[i].from ? " instead of memnode " : "",
				       mv[i].from, (unsigned long long)lines, ms);
			} else {
				lg_log_rl(LG_WARN, "move", "granule %llu: copy on memnode %u failed: %s",
					  (unsigned long long)mv[i].granule, mv[i].to.node_id,
					  strerror(-s));
			}
			struct lego_p2mon_moved_req q = {.as = c->as, .granule = mv[i].granule,
							 .from = mv[i].from, .to = mv[i].to.node_id,
							 .status = s};
			if (rpc_call(&c->monitor, P2MON_MOVED, &q, sizeof q, NULL, 0, NULL,
				     c->timeout_ns) != 0)
				return;
		}
	}
}

static void *mv_main(void *arg)
{
	struct lg_mover *mv = arg;
	lg_sig_block_all();
	lg_enter(); /* a runtime thread, for good: its memory is local */
	size_t bufcap = LEGO_BATCH_MAX * sizeof(struct lego_line_ref) + LEGO_MSG_PAYLOAD_MAX;
	size_t listcap = sizeof(struct lego_moves_rep) + LEGO_MOVES_MAX * sizeof(struct lego_move);
	uint8_t *buf = malloc(bufcap);
	struct lego_moves_rep *list = malloc(listcap);
	pthread_mutex_lock(&mv->mu);
	while (!mv->stop) {
		if (!mv->want) {
			pthread_cond_wait(&mv->cv, &mv->mu);
			continue;
		}
		mv->want = 0;
		pthread_mutex_unlock(&mv->mu);
		if (buf && list)
			mv_run(mv->rt, buf, list, listcap);
		else
			lg_log_rl(LG_ERROR, "move", "out of memory: granule copies are not moved");
		pthread_mutex_lock(&mv->mu);
	}
	pthread_mutex_unlock(&mv->mu);
	free(buf);
	free(list);
	return NULL;
}

static void mv_kick(void *arg)
{
	struct lg_mover *mv = arg;
	pthread_mutex_lock(&mv->mu);
	mv->want = 1;
	pthread_cond_signal(&mv->cv);
	pthread_mutex_unlock(&mv->mu);
}

int lg_mover_start(struct lg_mover *mv, struct lg_rt *rt)
{
	/* (again in a forked child: the parent's thread is not there) */
	pthread_mutex_init(&mv->mu, NULL);
	pthread_cond_init(&mv->cv, NULL);
	mv->want = mv->stop = 0;
	mv->rt = rt;
	int r = pthread_create(&mv->thr, NULL, mv_main, mv);
	if (r)
		return -r;
	mv->running = 1;
	pthread_setname_np(mv->thr, "lego-move");
	rt->lc.moves_arg = mv;
	rt->lc.moves_kick = mv_kick;
	return 0;
}

void lg_mover_stop(struct lg_mover *mv)
{
	if (!mv->running)
		return;
	pthread_mutex_lock(&mv->mu);
	mv->stop = 1;
	pthread_cond_signal(&mv->cv);
	pthread_mutex_unlock(&mv->mu);
	pthread_join(mv->thr, NULL);
	mv->running = 0;
}
