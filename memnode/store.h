/*
 * The memnode's page store: lines of each address space, kept in memory.
 *
 * A line costs memory only once written with non-zero data; lines never
 * written (or written as zeros, or freed) read as zeros.  Capacity is
 * enforced on reservations and on stored bytes: a write that does not fit
 * fails whole with -ENOMEM and changes nothing.  Each stored line keeps the
 * sequence number of its last write; an older or repeated write is ignored,
 * so a retried or duplicated write-back never undoes a newer one.
 *
 * Address spaces cloned at fork share line buffers until one side writes
 * (copy on write); stored bytes count buffers, not references.
 *
 * Single-threaded: called from the memnode's event loop only.
 */
#ifndef LEGO_MEMNODE_STORE_H
#define LEGO_MEMNODE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "lego/proto.h"

struct ms_store;
struct ms_as;

struct ms_totals {
	uint64_t capacity, reserved, stored, lines, nr_as;
	uint64_t as_created, as_freed, cap_rejects, enomem;
	uint64_t freed_lines;  /* stored lines dropped by frees */
	uint64_t free_pending; /* lines of frees still to walk (ms_store_work) */
	uint64_t line_pool;    /* bytes of line buffers kept for new lines */
};

int ms_store_new(uint64_t capacity, struct ms_store **out);
/* New line buffers from fn (NULL: none there now; they are malloc'd
 * then): memory registered for one-sided reads (rmem.h).  Freed with
 * free(). */
void ms_store_line_alloc(struct ms_store *st, void *(*fn)(size_t));
void ms_store_free(struct ms_store *st);

/* The capability secret the monitor handed us; until it is set, every
 * address space lookup fails with -EAGAIN. */
void ms_store_set_secret(struct ms_store *st, const uint8_t secret[32]);

/* Find (or, with a valid capability, create) the address space named by
 * ref.  0, -EACCES (bad capability), -EAGAIN (no secret yet), -ENOMEM. */
int ms_as_get(struct ms_store *st, const struct lego_as_ref *ref, struct ms_as **out);

uint32_t ms_as_line_size(const struct ms_as *as);

/* Copy line `line` into dst (line size bytes); zeros if never written.
 * Returns the sequence of its last write (0: never written). */
uint64_t ms_read_line(struct ms_as *as, uint64_t line, void *dst);
/* Store n lines; data holds n lines back to back.  0 or -ENOMEM (nothing
 * stored).  *applied gets the number actually stored (newer seq). */
int ms_write_lines(struct ms_store *st, struct ms_as *as, const struct lego_line_ref *refs,
		   uint32_t n, const uint8_t *data, uint64_t *applied);
/* The same; where[i] (where not NULL) gets the address line i is stored at
 * when this write stored it, else 0 (zeros, or a newer write is stored). */
int ms_write_lines_at(struct ms_store *st, struct ms_as *as, const struct lego_line_ref *refs,
		      uint32_t n, const uint8_t *data, uint64_t *applied, uint64_t *where);
/* Drop lines [first, first+nr); returns how many were stored. */
uint64_t ms_free_lines(struct ms_store *st, struct ms_as *as, uint64_t first, uint64_t nr);
/* Lines a free walks before its reply (about 0.8 ms at 0.2 us a line),
 * and between two passes of the event loop over its endpoints (0.2 ms):
 * how long a large free can hold up other requests. */
#define MS_FREE_NOW 4096u
#define MS_FREE_PASS 1024u
/* The same, walking at most about `budget` lines now: the rest of the
 * range stays pending, every later call behaving as if it were freed
 * already, and is walked by ms_store_work.  Returns the stored lines
 * dropped now. */
uint64_t ms_free_lines_some(struct ms_store *st, struct ms_as *as, uint64_t first, uint64_t nr,
			    uint64_t budget);
/* Walk up to about `budget` lines of pending frees; returns the lines
 * walked (0: none pending). */
uint64_t ms_store_work(struct ms_store *st, uint64_t budget);
/* Freed line buffers are kept for new lines (store.c); once no call of
 * this has seen one taken or given back for a second, free up to `budget`
 * of them.  Returns how many.  Called on every pass of the event loop. */
uint64_t ms_store_trim(struct ms_store *st, uint64_t budget);
/* While new lines are being stored, get a piece more of buffers for
 * them ready (pages populated and touched), up to a reserve of 4 MiB.
 * Returns 1 if it did, 0 if nothing is to do.  Called on every pass of
 * the event loop. */
int ms_store_prepare(struct ms_store *st);
/* Change the reservation by delta bytes.  0 or -ENOMEM. */
int ms_reserve(struct ms_store *st, struct ms_as *as, int64_t delta, uint64_t *reserved);
/* Make child_ref's address space a copy of parent: lines are shared and
 * copied on the first write to either; lines the child already holds with
 * a newer sequence stay.  The reservation is copied too.  0, -EINVAL,
 * -ENOMEM (capacity), -EACCES (capability). */
int ms_as_clone(struct ms_store *st, struct ms_as *parent, const struct lego_as_ref *child_ref);

/* Free an address space and everything in it (by id; no-op if unknown). */
/* Free an address space; returns its owner tag (0: none). */
uint64_t ms_as_destroy(struct ms_store *st, uint64_t as_id);

/* Tag an address space with its user (the memnode: the connection that
 * last used it), and ask whether any address space carries a tag. */
void ms_as_set_owner(struct ms_as *as, uint64_t owner);
int ms_owner_in_use(const struct ms_store *st, uint64_t owner);

void ms_store_totals(const struct ms_store *st, struct ms_totals *t);

#endif
