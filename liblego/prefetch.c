/* Stream detection for prefetch (see prefetch.h). */
#define _GNU_SOURCE
#include "prefetch.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

#define PF_STREAMS 64
#define PF_MAX_STRIDE 16
#define PF_WRITE_PROBE 8      /* one window in 8 is write-protected */
#define PF_WRITE_MIN_LINES 16 /* write-protected lines seen before judging */
#define PF_WRITE_HISTORY 4096
#define PF_RO_WINDOWS 4

struct pf_stream {
	uint32_t tid;
	uint64_t last;
	int64_t stride;
	uint32_t conf;
	uint32_t window;
	uint64_t next;     /* first line not yet asked for */
	uint64_t pf_lo;    /* prefetched lines [pf_lo, next) not yet passed */
	uint64_t ahead;    /* of those, how many were really prefetched */
	/* how much of what the stream installs write-protected it writes:
	 * lines so installed, and write-protect faults on them (halved
	 * together now and then, so the estimate follows the program) */
	uint32_t ro_lines, ro_writes;
	/* the last write-protected windows (end, lines): those the stream has
	 * not reached yet cannot have been written, and do not count */
	struct {
		uint64_t end;
		uint32_t n;
	} ro_win[PF_RO_WINDOWS];
	uint32_t plans;
	uint64_t age;
};

struct pf_table {
	atomic_flag lock;
	enum pf_mode mode;
	uint32_t max_window;
	uint64_t clock;
	struct pf_stream s[PF_STREAMS];
};

int pf_init(struct pf_table **out, enum pf_mode mode, uint32_t max_window)
{
	struct pf_table *t = lg_local_alloc(sizeof *t);
	if (!t)
		return -ENOMEM;
	t->mode = mode;
	t->max_window = max_window ? max_window : 1;
	atomic_flag_clear(&t->lock);
	*out = t;
	return 0;
}

void pf_free(struct pf_table *t) { lg_local_free(t, sizeof *t); }

void pf_reset(struct pf_table *t)
{
	for (int i = 0; i < PF_STREAMS; i++)
		t->s[i] = (struct pf_stream){0};
	atomic_flag_clear(&t->lock);
}

static struct pf_stream *pf_stream_of(struct pf_table *t, uint32_t tid)
{
	struct pf_stream *old = &t->s[0];
	for (int i = 0; i < PF_STREAMS; i++) {
		if (t->s[i].tid == tid)
			return &t->s[i];
		if (t->s[i].age < old->age)
			old = &t->s[i];
	}
	*old = (struct pf_stream){.tid = tid};
	return old;
}

/* Lines of a stream between a and b (exclusive), in stride steps. */
static uint64_t pf_span(uint64_t a, uint64_t b, int64_t stride)
{
	if (stride > 0 && b > a)
		return (b - a + (uint64_t)stride - 1) / (uint64_t)stride;
	if (stride < 0 && a > b)
		return (a - b + (uint64_t)-stride - 1) / (uint64_t)-stride;
	return 0;
}

void pf_on_miss(struct pf_table *t, uint32_t tid, uint64_t line, int write, struct pf_plan *plan)
{
	*plan = (struct pf_plan){0};
	if (t->mode == PF_OFF)
		return;
	while (atomic_flag_test_and_set_explicit(&t->lock, memory_order_acquire))
		lg_cpu_relax();
	struct pf_stream *s = pf_stream_of(t, tid);
	s->age = ++t->clock;
	int64_t d = (int64_t)(line - s->last);
	int64_t maxs = t->mode == PF_SEQ ? 1 : PF_MAX_STRIDE;
	/* The stream goes on if this miss is further along it, up to the edge
	 * of what was prefetched (with prefetch working, misses land there). */
	int along = s->conf && s->stride && d % s->stride == 0 && d / s->stride >= 1 &&
		    (d == s->stride || pf_span(s->last, s->next, s->stride) + 1 >= (uint64_t)(d / s->stride));
	if (along) {
		s->conf++;
	} else {
		/* the stream broke: what it prefetched and did not reach is wasted */
		plan->wasted = s->ahead;
		s->ahead = 0;
		s->stride = (d != 0 && d <= maxs && d >= -maxs && (d == 1 || t->mode == PF_AUTO)) ? d : 0;
		s->conf = s->stride ? 1 : 0;
		memset(s->ro_win, 0, sizeof s->ro_win);
		s->window = 0;
		s->next = s->pf_lo = line + (uint64_t)s->stride;
	}
	s->last = line;
	if (s->conf >= 2) {
		/* the miss moved past [pf_lo, line]: those prefetches were used */
		uint64_t reached = line + (uint64_t)s->stride;
		plan->useful = LG_MIN(pf_span(s->pf_lo, reached, s->stride), s->ahead);
		s->ahead -= plan->useful;
		s->pf_lo = reached;
		if (pf_span(reached, s->next, s->stride) == 0)
			s->next = reached; /* the miss overtook the window */
		s->window = LG_MIN(LG_MAX(s->window * 2, 4u), t->max_window);
		uint64_t want_end = line + (uint64_t)(s->stride * (int64_t)(s->window + 1));
		uint64_t n = pf_span(s->next, want_end, s->stride);
		if (n) {
			plan->first = s->next;
			plan->stride = s->stride;
			plan->count = (uint32_t)n;
			s->next = want_end;
			/* writable if a quarter or more of the lines it had
			 * write-protected and has reached were written (a
			 * window asked for ahead cannot have been written
			 * yet), but one window in PF_WRITE_PROBE stays
			 * write-protected, to measure */
			uint64_t ahead = 0;
			for (int k = 0; k < PF_RO_WINDOWS; k++)
				ahead += LG_MIN(s->ro_win[k].n,
						pf_span(reached, s->ro_win[k].end, s->stride));
			uint64_t seen = s->ro_lines - LG_MIN(ahead, (uint64_t)s->ro_lines);
			int probe = ++s->plans % PF_WRITE_PROBE == 0;
			/* a write miss's window comes writable whatever the
			 * estimate, and tells nothing of it: counted as
			 * write-protected lines never written, a program's
			 * first pass of writes (filling its memory) made its
			 * first reads take thousands of write faults */
			plan->write = write || (!probe && seen >= PF_WRITE_MIN_LINES &&
						(uint64_t)s->ro_writes * 4 >= seen);
		}
	}
	atomic_flag_clear_explicit(&t->lock, memory_order_release);
}

void pf_issued(struct pf_table *t, uint32_t tid, const struct pf_plan *pl, uint32_t n)
{
	if (t->mode == PF_OFF || !n)
		return;
	while (atomic_flag_test_and_set_explicit(&t->lock, memory_order_acquire))
		lg_cpu_relax();
	for (int i = 0; i < PF_STREAMS; i++) {
		struct pf_stream *s = &t->s[i];
		if (s->tid != tid)
			continue;
		s->ahead += n;
		/* Lines really installed write-protected, not those planned:
		 * a window planned again over lines that found no way
		 * (pf_retreat) counted them twice or more, and the share
		 * written looked like a fifth when it was a half. */
		if (!pl->write) {
			s->ro_lines += n;
			s->ro_win[s->plans % PF_RO_WINDOWS].end =
				pl->first + (uint64_t)(pl->stride * (int64_t)pl->count);
			s->ro_win[s->plans % PF_RO_WINDOWS].n = n;
			if (s->ro_lines > PF_WRITE_HISTORY) {
				s->ro_lines /= 2;
				s->ro_writes /= 2;
			}
		}
	}
	atomic_flag_clear_explicit(&t->lock, memory_order_release);
}

void pf_retreat(struct pf_table *t, uint32_t tid, uint64_t line)
{
	if (t->mode == PF_OFF)
		return;
	while (atomic_flag_test_and_set_explicit(&t->lock, memory_order_acquire))
		lg_cpu_relax();
	for (int i = 0; i < PF_STREAMS; i++) {
		struct pf_stream *s = &t->s[i];
		if (s->tid == tid && s->stride && pf_span(line, s->next, s->stride))
			s->next = line;
	}
	atomic_flag_clear_explicit(&t->lock, memory_order_release);
}

void pf_note_write(struct pf_table *t, uint32_t tid)
{
	if (t->mode == PF_OFF)
		return;
	while (atomic_flag_test_and_set_explicit(&t->lock, memory_order_acquire))
		lg_cpu_relax();
	for (int i = 0; i < PF_STREAMS; i++)
		if (t->s[i].tid == tid && t->s[i].ro_writes < t->s[i].ro_lines)
			t->s[i].ro_writes++;
	atomic_flag_clear_explicit(&t->lock, memory_order_release);
}
