/*
 * Moving granule copies, the process's part (docs/cluster.md "Moving
 * granules"; the monitor's part is monitor/move.c).
 *
 * When the monitor wants a copy of one of our granules made on another
 * memnode (a memnode died and the granule is down to one copy, or a
 * memnode is being drained), its lease-renewal reply says so and the
 * mover thread asks for the moves (P2MON_MOVES) and carries them out one
 * granule at a time:
 *
 *   1. reserve the granule's capacity on the new memnode N;
 *   2. under the write-back lock, make the copies {S, N}: S a complete
 *      copy (the one that stays, or the drained one itself when it is the
 *      only copy), N marked filling (written to, never read); then wait
 *      for every write-back that picked its memnodes before (xc_retarget),
 *      so each later write-back reaches N too;
 *   3. copy every line ever written back from S to N with its sequence
 *      number (P2M_READ with LEGO_LINES_SEQ, then P2M_WRITE): N keeps the
 *      newer of the copy and a write-back that overtook it;
 *   4. N is complete: clear filling (drain of a sole copy: N becomes the
 *      only copy), and report to the monitor (P2MON_MOVED).
 *
 * A fork waits for a move in progress (it would copy half of one).
 */
#ifndef LEGO_MOVE_H
#define LEGO_MOVE_H

#include <pthread.h>

struct lg_rt;

struct lg_mover {
	pthread_t thr;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int want, stop, running;
	struct lg_rt *rt;
};

/* Start the mover thread for rt (and hook it to the lease renewals).
 * 0 or -errno. */
int lg_mover_start(struct lg_mover *mv, struct lg_rt *rt);
/* Stop it (a move in progress is abandoned: the process is ending). */
void lg_mover_stop(struct lg_mover *mv);

#endif
