/*
 * Prefetch: per-thread stream detection.  Each faulting thread (userfaultfd
 * reports its id) has a stream: the last missed line, a stride and a
 * confidence.  Two misses in a row at the same stride make a stream, and
 * from then on each miss asks for a window of lines ahead, doubling up to a
 * limit while the stream holds (in the spirit of Leap's majority trend,
 * kept to the last stride per thread).  Lines already asked for are not
 * asked for again.
 *
 * A prefetched line counts as useful once the stream's own misses have
 * moved past it (the thread went on to the lines after it), and as wasted
 * when the stream breaks before reaching it: user space sees no access to
 * a resident line, so this is what can be measured.
 *
 * Called only by the fault service threads, under the table's own lock.
 */
#ifndef LEGO_PREFETCH_H
#define LEGO_PREFETCH_H

#include <stdint.h>

enum pf_mode { PF_OFF = 0, PF_SEQ = 1, PF_AUTO = 2 };

struct pf_table;

/* max_window: most lines asked for by one miss. */
int pf_init(struct pf_table **out, enum pf_mode mode, uint32_t max_window);
void pf_free(struct pf_table *t);
/* Forget every stream (a forked child starts afresh). */
void pf_reset(struct pf_table *t);

struct pf_plan {
	uint64_t first;  /* first line to prefetch */
	int64_t stride;  /* in lines */
	uint32_t count;  /* 0: nothing to do */
	uint64_t useful; /* earlier prefetches this miss shows were used */
	uint64_t wasted; /* ... or abandoned by a broken stream */
	int write;       /* the stream writes much of what it reads: install writable */
};

/* A demand miss at `line` by thread `tid`, a write fault if `write`. */
void pf_on_miss(struct pf_table *t, uint32_t tid, uint64_t line, int write, struct pf_plan *plan);
/* Thread `tid` wrote to a line it had only read (a write-protect fault).
 * A stream that writes a quarter or more of the lines it passes gets its
 * windows installed writable: each such fault costs a round trip through
 * the fault thread, more than writing back a line that was not written. */
void pf_note_write(struct pf_table *t, uint32_t tid);
/* How many lines of plan `pl` (the last of thread `tid`) were really
 * prefetched (the others were present already or found no free way). */
void pf_issued(struct pf_table *t, uint32_t tid, const struct pf_plan *pl, uint32_t n);
/* `line` of that plan found no room (its set full, nothing evictable yet):
 * the stream asks for it, and what follows, again at its next miss
 * rather than leave the rest of the window to come back as demand misses
 * one by one. */
void pf_retreat(struct pf_table *t, uint32_t tid, uint64_t line);

#endif
