/*
 * Memnode page store (see store.h).
 *
 * Tables are open-addressing hash tables keyed by a 64-bit id (line index
 * or address-space id) with linear probing and backward-shift deletion, so
 * they never fill with tombstones.  Line data is malloc'd at exactly the
 * line size (the memnode runs on jemalloc, whose size classes fit lines),
 * or, where network clients read lines one-sided, taken from jemalloc's
 * arena of registered memory (ms_store_line_alloc, rmem.c).
 *
 * Freeing a large range costs about 0.2 us a line (55 ms a GiB of 4 KiB
 * lines), and the memnode's one thread serves nobody meanwhile.  So a free
 * does MS_FREE_NOW lines at once and leaves the rest of its range pending
 * on the address space, walked MS_FREE_PASS lines at a time between
 * requests (ms_store_work).  The result must be the free's as if done
 * whole on arrival, so a pending range [next, end) is settled first
 * wherever a line in it is used: a write to line L frees [next, L] and
 * moves next past L (the walk never reaches a line written after the
 * free); a read of L reads zeros, as a freed line does; a clone, and a
 * write the capacity would refuse, settle everything first.
 *
 * New lines take their buffers from a pool of their size.  While new
 * lines come, the event loop keeps MS_RESERVE_BYTES of them ready,
 * populated and touched a piece a pass (ms_store_prepare): the memnode
 * polls between messages anyway, and a first touch in the middle of a
 * write-back cost 9-13 us a page on a VM here.  An empty pool is refilled
 * a MiB at once, populated but not touched (ms_pool_refill).  A freed line
 * buffer goes back to the pool, for the next write of a new line, and is
 * given back to jemalloc only once the pool has gone
 * unused for MS_POOL_KEEP_NS, MS_FREE_PASS buffers a pass.  Programs free
 * large arrays and make new ones of the same size; giving back and taking
 * again hundreds of thousands of buffers at once kept jemalloc's
 * background thread busy on a mutex the event loop then waited for (16-76
 * ms, docs/benchmarks.md).
 */
#define _GNU_SOURCE
#include "store.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "common/auth.h"
#include "common/log.h"
#include "common/util.h"

#define TAB_EMPTY UINT64_MAX

struct ms_slot {
	uint64_t key;
	uint64_t seq;
	void *val;
};

struct ms_tab {
	struct ms_slot *s;
	uint64_t mask; /* capacity - 1 */
	uint64_t n;
};

/* The part [next, end) of a free not done yet. */
struct ms_pending {
	uint64_t next, end;
};
#define MS_PENDING_MAX 16

struct ms_as {
	uint64_t id;
	uint8_t cap[LEGO_CAP_LEN];
	uint32_t line_order;
	uint64_t quota;
	uint64_t reserved;
	uint64_t ndata; /* lines holding data (others are zero, kept for their seq) */
	uint64_t owner; /* the caller's tag: the connection that last used it */
	struct ms_tab lines;
	/* bounds of every line ever stored (a free's range is cut to them) */
	uint64_t key_lo, key_hi;
	uint32_t npending; /* oldest first */
	struct ms_pending pending[MS_PENDING_MAX];
};

struct ms_store {
	uint64_t capacity, reserved, stored;
	uint8_t secret[32];
	int have_secret;
	struct ms_tab as;
	/* line buffers shared by forked address spaces: buffer -> extra owners */
	struct ms_tab shared;
	uint64_t as_created, as_freed, cap_rejects, enomem;
	uint64_t pending_lines; /* lines of pending ranges, all spaces */
	uint64_t freed_lines;   /* stored lines a free has dropped */
	/* freed line buffers by line order (12-21); whether one was taken or
	 * put since the last trim, and when a trim last saw that */
	struct ms_pool {
		void **buf;
		uint64_t n, cap;
	} pool[10];
	uint64_t pool_bytes, pool_seen_ns;
	void *(*alloc)(size_t); /* new line buffers (ms_store_line_alloc) */
	int pool_used;
	int no_populate; /* MADV_POPULATE_WRITE refused: not again */
	/* new lines of this size were being stored, at new_ns, with their
	 * pool at or under its reserve (ms_store_prepare) */
	size_t new_ls;
	uint64_t new_ns;
};

#define MS_POOL_KEEP_NS (1000ull * 1000000)

static inline uint64_t tab_hash(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	k *= 0xc4ceb9fe1a85ec53ull;
	k ^= k >> 33;
	return k;
}

static int tab_init(struct ms_tab *t, uint64_t cap)
{
	t->s = malloc(cap * sizeof *t->s);
	if (!t->s)
		return -ENOMEM;
	for (uint64_t i = 0; i < cap; i++)
		t->s[i].key = TAB_EMPTY;
	t->mask = cap - 1;
	t->n = 0;
	return 0;
}

static struct ms_slot *tab_find(const struct ms_tab *t, uint64_t key)
{
	if (key == TAB_EMPTY) /* the empty marker is never a key */
		return NULL;
	for (uint64_t i = tab_hash(key) & t->mask;; i = (i + 1) & t->mask) {
		if (t->s[i].key == key)
			return &t->s[i];
		if (t->s[i].key == TAB_EMPTY)
			return NULL;
	}
}

static int tab_grow(struct ms_tab *t)
{
	struct ms_tab nt;
	if (tab_init(&nt, (t->mask + 1) * 2) < 0)
		return -ENOMEM;
	for (uint64_t i = 0; i <= t->mask; i++) {
		if (t->s[i].key == TAB_EMPTY)
			continue;
		uint64_t j = tab_hash(t->s[i].key) & nt.mask;
		while (nt.s[j].key != TAB_EMPTY)
			j = (j + 1) & nt.mask;
		nt.s[j] = t->s[i];
	}
	nt.n = t->n;
	free(t->s);
	*t = nt;
	return 0;
}

/* Slot for key, inserted empty (val NULL, seq 0) if absent. */
static struct ms_slot *tab_insert(struct ms_tab *t, uint64_t key)
{
	if (key == TAB_EMPTY)
		return NULL;
	if ((t->n + 1) * 4 > (t->mask + 1) * 3 && tab_grow(t) < 0)
		return NULL;
	uint64_t i = tab_hash(key) & t->mask;
	for (;; i = (i + 1) & t->mask) {
		if (t->s[i].key == key)
			return &t->s[i];
		if (t->s[i].key == TAB_EMPTY)
			break;
	}
	t->s[i].key = key;
	t->s[i].seq = 0;
	t->s[i].val = NULL;
	t->n++;
	return &t->s[i];
}

static void tab_delete(struct ms_tab *t, struct ms_slot *slot)
{
	uint64_t i = (uint64_t)(slot - t->s);
	t->s[i].key = TAB_EMPTY;
	t->n--;
	/* backward shift: move later entries of the cluster into the hole */
	for (uint64_t j = (i + 1) & t->mask; t->s[j].key != TAB_EMPTY; j = (j + 1) & t->mask) {
		uint64_t home = tab_hash(t->s[j].key) & t->mask;
		/* entry j may move to i if its home is not in (i, j] cyclically */
		int stays = i <= j ? (home > i && home <= j) : (home > i || home <= j);
		if (stays)
			continue;
		t->s[i] = t->s[j];
		t->s[j].key = TAB_EMPTY;
		i = j;
	}
}

/* Slot for a line of as, inserted empty if absent. */
static struct ms_slot *ms_line_slot(struct ms_as *as, uint64_t line)
{
	struct ms_slot *s = tab_insert(&as->lines, line);
	if (s) {
		as->key_lo = LG_MIN(as->key_lo, line);
		as->key_hi = LG_MAX(as->key_hi, line);
	}
	return s;
}

/* A line buffer gets another owner (a clone). */
static int ms_line_share(struct ms_store *st, void *buf)
{
	struct ms_slot *s = tab_insert(&st->shared, (uint64_t)(uintptr_t)buf);
	if (!s)
		return -ENOMEM;
	s->seq++;
	return 0;
}

static int ms_line_is_shared(const struct ms_store *st, void *buf)
{
	return tab_find(&st->shared, (uint64_t)(uintptr_t)buf) != NULL;
}

static struct ms_pool *ms_pool_of(struct ms_store *st, size_t ls)
{
	return &st->pool[__builtin_ctzll(ls) - 12];
}

/* Put a buffer of ls bytes in its pool; 0, or -1 if the pool cannot grow. */
static int ms_pool_put(struct ms_store *st, void *buf, size_t ls)
{
	struct ms_pool *p = ms_pool_of(st, ls);
	if (p->n == p->cap) {
		uint64_t cap = p->cap ? p->cap * 2 : 1024;
		void **nb = realloc(p->buf, cap * sizeof *nb);
		if (!nb)
			return -1;
		p->buf = nb;
		p->cap = cap;
	}
	p->buf[p->n++] = buf;
	st->pool_bytes += ls;
	st->pool_used = 1;
	return 0;
}

static int ms_addr_cmp(const void *a, const void *b)
{
	uintptr_t x = (uintptr_t)*(void *const *)a, y = (uintptr_t)*(void *const *)b;
	return x < y ? -1 : x > y;
}

/*
 * Add `bytes` of new buffers of ls bytes to their pool, their pages
 * populated at once (MADV_POPULATE_WRITE over each run of adjacent
 * buffers), so the first write of a new line does not take a page fault
 * per page: on a 2-vCPU VM a first touch costs 9-13 us a page, populating
 * 0.5-0.7 us (docs/benchmarks.md, "New lines' pages").  With `touch`, each
 * page is also written once, which takes the hypervisor's own first-access
 * cost (4-6 us there) too.  Where the kernel lacks MADV_POPULATE_WRITE
 * (before 5.14) the pages fault in as they are written.
 */
#define MS_REFILL_BYTES (1u << 20) /* an empty pool, while a write waits */
#define MS_RESERVE_BYTES (4u << 20) /* kept ready while new lines come */
#define MS_PREPARE_BYTES (64u * 1024) /* prepared per pass of the loop */
#define MS_PREPARE_NS (100ull * 1000000) /* ...until new lines stop this long */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static void ms_pool_refill(struct ms_store *st, size_t ls, size_t bytes, int touch)
{
	void *b[MS_REFILL_BYTES / 4096];
	size_t n = 0, want = LG_MIN(LG_ARRAY_SIZE(b), LG_MAX((size_t)1, bytes / ls));
	for (; n < want; n++) {
		void *x = st->alloc ? st->alloc(ls) : NULL;
		if (!x && !(x = malloc(ls)))
			break;
		b[n] = x;
	}
	qsort(b, n, sizeof *b, ms_addr_cmp);
	for (size_t i = 0; i < n;) {
		size_t j = i + 1;
		while (j < n && (uint8_t *)b[j - 1] + ls == b[j])
			j++;
		/* whole pages only: a buffer shares no page with others' data
		 * (jemalloc's page-sized classes), but be safe */
		uintptr_t lo = LG_ALIGN_UP((uintptr_t)b[i], LG_PAGE_SIZE);
		uintptr_t hi = LG_ALIGN_DOWN((uintptr_t)b[j - 1] + ls, LG_PAGE_SIZE);
		if (hi > lo && !st->no_populate &&
		    madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE) != 0 &&
		    (errno == EINVAL || errno == ENOSYS))
			st->no_populate = 1;
		i = j;
	}
	for (size_t i = 0; i < n; i++) {
		for (size_t o = 0; touch && o < ls; o += LG_PAGE_SIZE)
			((volatile uint8_t *)b[i])[o] = 0; /* (zero already) */
		if (ms_pool_put(st, b[i], ls) != 0)
			free(b[i]);
	}
}

/* A buffer for a new line of ls bytes: from the pool, refilled when
 * empty (st->alloc's, ms_store_line_alloc, else malloc'd). */
static void *ms_line_alloc(struct ms_store *st, size_t ls)
{
	struct ms_pool *p = ms_pool_of(st, ls);
	if (p->n * ls <= MS_RESERVE_BYTES) {
		st->new_ls = ls;
		st->new_ns = lg_now_ns();
	}
	if (!p->n)
		ms_pool_refill(st, ls, MS_REFILL_BYTES, 0);
	if (!p->n)
		return NULL;
	st->pool_bytes -= ls;
	st->pool_used = 1;
	return p->buf[--p->n];
}

/* An owner lets go of a line buffer: the last one puts it in the pool
 * (or frees it, when the pool cannot grow). */
static void ms_line_release(struct ms_store *st, void *buf, size_t ls)
{
	struct ms_slot *s = tab_find(&st->shared, (uint64_t)(uintptr_t)buf);
	if (s) {
		if (--s->seq == 0)
			tab_delete(&st->shared, s);
		return;
	}
	st->stored -= ls;
	if (ms_pool_put(st, buf, ls) != 0)
		free(buf);
}

/* Give back up to `budget` pooled buffers, once the pools have gone
 * unused for MS_POOL_KEEP_NS (or at once: force); returns how many.  The
 * clock is read here, once a pass, not on every line taken or put. */
static uint64_t ms_pool_trim(struct ms_store *st, uint64_t budget, int force)
{
	if (!st->pool_bytes)
		return 0;
	if (!force) {
		uint64_t now = lg_now_ns();
		if (st->pool_used) {
			st->pool_used = 0;
			st->pool_seen_ns = now;
			return 0;
		}
		if (now - st->pool_seen_ns < MS_POOL_KEEP_NS)
			return 0;
	}
	uint64_t done = 0;
	for (size_t i = 0; i < LG_ARRAY_SIZE(st->pool) && done < budget; i++) {
		struct ms_pool *p = &st->pool[i];
		while (p->n && done < budget) {
			free(p->buf[--p->n]);
			st->pool_bytes -= (uint64_t)1 << (i + 12);
			done++;
		}
		if (!p->n) {
			free(p->buf);
			p->buf = NULL;
			p->cap = 0;
		}
	}
	return done;
}

int ms_store_new(uint64_t capacity, struct ms_store **out)
{
	struct ms_store *st = calloc(1, sizeof *st);
	if (!st)
		return -ENOMEM;
	st->capacity = capacity;
	if (tab_init(&st->as, 64) < 0 || tab_init(&st->shared, 64) < 0) {
		free(st->as.s);
		free(st);
		return -ENOMEM;
	}
	*out = st;
	return 0;
}

static void ms_as_free_data(struct ms_store *st, struct ms_as *as)
{
	uint64_t ls = 1ull << as->line_order;
	for (uint32_t i = 0; i < as->npending; i++)
		st->pending_lines -= as->pending[i].end - as->pending[i].next;
	for (uint64_t i = 0; i <= as->lines.mask; i++)
		if (as->lines.s[i].key != TAB_EMPTY && as->lines.s[i].val)
			ms_line_release(st, as->lines.s[i].val, ls);
	st->reserved -= LG_MIN(st->reserved, as->reserved);
	free(as->lines.s);
	free(as);
}

void ms_store_free(struct ms_store *st)
{
	if (!st)
		return;
	for (uint64_t i = 0; i <= st->as.mask; i++)
		if (st->as.s[i].key != TAB_EMPTY)
			ms_as_free_data(st, st->as.s[i].val);
	ms_pool_trim(st, UINT64_MAX, 1);
	free(st->as.s);
	free(st->shared.s);
	free(st);
}

void ms_store_set_secret(struct ms_store *st, const uint8_t secret[32])
{
	memcpy(st->secret, secret, 32);
	st->have_secret = 1;
}

int ms_as_get(struct ms_store *st, const struct lego_as_ref *ref, struct ms_as **out)
{
	struct ms_slot *s = tab_find(&st->as, ref->as_id);
	if (s) {
		struct ms_as *as = s->val;
		if (lg_memeq_ct(as->cap, ref->cap, LEGO_CAP_LEN) != 0 ||
		    as->line_order != ref->line_order || as->quota != ref->quota) {
			st->cap_rejects++;
			return -EACCES;
		}
		*out = as;
		return 0;
	}
	if (!st->have_secret)
		return -EAGAIN;
	if (ref->as_id == TAB_EMPTY || ref->line_order < 12 || ref->line_order > 21) {
		st->cap_rejects++;
		return -EACCES;
	}
	uint8_t want[LEGO_CAP_LEN];
	lg_cap_make(st->secret, ref->as_id, ref->line_order, ref->quota, want);
	if (lg_memeq_ct(want, ref->cap, LEGO_CAP_LEN) != 0) {
		st->cap_rejects++;
		return -EACCES;
	}
	struct ms_as *as = calloc(1, sizeof *as);
	if (!as || tab_init(&as->lines, 1024) < 0) {
		free(as);
		return -ENOMEM;
	}
	as->id = ref->as_id;
	as->key_lo = UINT64_MAX;
	memcpy(as->cap, ref->cap, LEGO_CAP_LEN);
	as->line_order = ref->line_order;
	as->quota = ref->quota;
	s = tab_insert(&st->as, as->id);
	if (!s) {
		free(as->lines.s);
		free(as);
		return -ENOMEM;
	}
	s->val = as;
	st->as_created++;
	lg_log(LG_INFO, "memnode", "address space %llu created (line %u bytes)",
	       (unsigned long long)as->id, 1u << as->line_order);
	*out = as;
	return 0;
}

/* Drop a line's slot; 1 if it held data. */
static int ms_slot_drop(struct ms_store *st, struct ms_as *as, struct ms_slot *s)
{
	int had = s->val != NULL;
	if (had) {
		ms_line_release(st, s->val, (size_t)1 << as->line_order);
		as->ndata--;
		st->freed_lines++;
	}
	tab_delete(&as->lines, s);
	return had;
}

/* Drop what lines [lo, hi) hold, looking each up; returns how many held data. */
static uint64_t ms_free_range(struct ms_store *st, struct ms_as *as, uint64_t lo, uint64_t hi)
{
	uint64_t freed = 0;
	for (uint64_t l = lo; l < hi; l++) {
		struct ms_slot *s = tab_find(&as->lines, l);
		if (s)
			freed += ms_slot_drop(st, as, s);
	}
	return freed;
}

/* The same by walking the table: for a range far wider than what is
 * stored (its cost is the table's size, not the range's). */
static uint64_t ms_free_walk(struct ms_store *st, struct ms_as *as, uint64_t lo, uint64_t hi)
{
	uint64_t freed = 0;
	for (uint64_t i = 0; i <= as->lines.mask;) {
		struct ms_slot *s = &as->lines.s[i];
		if (s->key != TAB_EMPTY && s->key >= lo && s->key < hi) {
			freed += ms_slot_drop(st, as, s); /* may shift a later entry into i */
			continue;
		}
		i++;
	}
	return freed;
}

static int ms_pending_covers(const struct ms_pending *p, uint64_t line)
{
	return p->next <= line && line < p->end;
}

/* Walk pending range i of as up to line `to` (exclusive); a range walked
 * to its end is removed.  Returns the lines walked. */
static uint64_t ms_pending_step(struct ms_store *st, struct ms_as *as, uint32_t i, uint64_t to)
{
	struct ms_pending *p = &as->pending[i];
	to = LG_MIN(to, p->end);
	uint64_t n = to - p->next;
	ms_free_range(st, as, p->next, to);
	p->next = to;
	st->pending_lines -= n;
	if (p->next == p->end) {
		memmove(p, p + 1, (as->npending - i - 1) * sizeof *p);
		as->npending--;
	}
	return n;
}

/* Line `line` is about to be written: finish, up to it, every pending
 * free that covers it. */
static void ms_settle_line(struct ms_store *st, struct ms_as *as, uint64_t line)
{
	for (uint32_t i = 0; i < as->npending;) {
		struct ms_pending *p = &as->pending[i];
		uint32_t had = as->npending;
		if (ms_pending_covers(p, line))
			ms_pending_step(st, as, i, line + 1);
		if (as->npending == had)
			i++; /* (else the next range moved into slot i) */
	}
}

static void ms_settle_as(struct ms_store *st, struct ms_as *as)
{
	while (as->npending)
		ms_pending_step(st, as, 0, UINT64_MAX);
}

static int ms_is_pending(const struct ms_as *as, uint64_t line)
{
	for (uint32_t i = 0; i < as->npending; i++)
		if (ms_pending_covers(&as->pending[i], line))
			return 1;
	return 0;
}

static void ms_settle_store(struct ms_store *st)
{
	for (uint64_t i = 0; st->pending_lines && i <= st->as.mask; i++)
		if (st->as.s[i].key != TAB_EMPTY)
			ms_settle_as(st, st->as.s[i].val);
}

uint32_t ms_as_line_size(const struct ms_as *as) { return 1u << as->line_order; }

uint64_t ms_read_line(struct ms_as *as, uint64_t line, void *dst)
{
	struct ms_slot *s = as->npending && ms_is_pending(as, line) ? NULL
								   : tab_find(&as->lines, line);
	size_t ls = (size_t)1 << as->line_order;
	if (s && s->val)
		memcpy(dst, s->val, ls);
	else
		memset(dst, 0, ls);
	return s ? s->seq : 0;
}

static int ms_is_zero(const uint8_t *p, size_t len)
{
	const uint64_t *q = (const uint64_t *)(const void *)p;
	for (size_t i = 0; i < len / 8; i++)
		if (q[i])
			return 0;
	return 1;
}

int ms_write_lines(struct ms_store *st, struct ms_as *as, const struct lego_line_ref *refs,
		   uint32_t n, const uint8_t *data, uint64_t *applied)
{
	return ms_write_lines_at(st, as, refs, n, data, applied, NULL);
}

int ms_write_lines_at(struct ms_store *st, struct ms_as *as, const struct lego_line_ref *refs,
		      uint32_t n, const uint8_t *data, uint64_t *applied, uint64_t *where)
{
	size_t ls = (size_t)1 << as->line_order;
	for (uint32_t i = 0; as->npending && i < n; i++)
		ms_settle_line(st, as, refs[i].line);
	/* First pass: how much new memory does this need?  All or nothing.
	 * A line named twice in one batch is charged once. */
	uint64_t grow = 0;
	for (uint32_t i = 0; i < n; i++) {
		if (refs[i].line == TAB_EMPTY)
			return -EINVAL;
		struct ms_slot *s = tab_find(&as->lines, refs[i].line);
		if ((s && s->val && !ms_line_is_shared(st, s->val)) || ms_is_zero(data + i * ls, ls))
			continue;
		int dup = 0;
		for (uint32_t k = 0; k < i && !dup; k++)
			dup = refs[k].line == refs[i].line && !ms_is_zero(data + k * ls, ls);
		if (!dup)
			grow += ls;
	}
	if (grow && st->stored + grow > st->capacity && st->pending_lines)
		ms_settle_store(st); /* frees not finished may make room */
	if (grow && st->stored + grow > st->capacity) {
		st->enomem++;
		lg_log_rl(LG_WARN, "memnode", "full: %llu bytes stored of %llu; write of %llu refused",
			  (unsigned long long)st->stored, (unsigned long long)st->capacity,
			  (unsigned long long)grow);
		return -ENOMEM;
	}
	uint64_t done = 0;
	if (where)
		memset(where, 0, n * sizeof *where);
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *src = data + i * ls;
		struct ms_slot *s = tab_find(&as->lines, refs[i].line);
		if (s && refs[i].seq <= s->seq)
			continue; /* a newer write is already stored */
		if (!s && !(s = ms_line_slot(as, refs[i].line)))
			return -ENOMEM;
		if (ms_is_zero(src, ls)) {
			/* zeros cost no memory, but the slot keeps the sequence */
			if (s->val) {
				ms_line_release(st, s->val, ls);
				s->val = NULL;
				as->ndata--;
			}
		} else {
			if (s->val && ms_line_is_shared(st, s->val)) {
				/* copy on write: a fork's clone keeps the old line */
				ms_line_release(st, s->val, ls);
				s->val = NULL;
				as->ndata--;
			}
			if (!s->val) {
				if (!(s->val = ms_line_alloc(st, ls)))
					return -ENOMEM;
				st->stored += ls;
				as->ndata++;
			}
			memcpy(s->val, src, ls);
			if (where)
				where[i] = (uint64_t)(uintptr_t)s->val;
		}
		s->seq = refs[i].seq;
		done++;
	}
	*applied = done;
	return 0;
}

uint64_t ms_free_lines_some(struct ms_store *st, struct ms_as *as, uint64_t first, uint64_t nr,
			    uint64_t budget)
{
	uint64_t end = first + nr < first ? UINT64_MAX : first + nr;
	/* nothing was ever stored outside [key_lo, key_hi] */
	uint64_t lo = LG_MAX(first, as->key_lo);
	uint64_t hi = LG_MIN(end, as->key_hi + 1); /* (a key is never UINT64_MAX) */
	if (lo >= hi || as->lines.n == 0)
		return 0;
	if (hi - lo > as->lines.n * 2)
		return ms_free_walk(st, as, lo, hi);
	if (hi - lo <= budget)
		return ms_free_range(st, as, lo, hi);
	if (as->npending == MS_PENDING_MAX) /* (16 large frees at once) */
		ms_pending_step(st, as, 0, UINT64_MAX); /* the oldest, whole */
	uint64_t freed = ms_free_range(st, as, lo, lo + budget);
	as->pending[as->npending++] = (struct ms_pending){lo + budget, hi};
	st->pending_lines += hi - lo - budget;
	return freed;
}

uint64_t ms_free_lines(struct ms_store *st, struct ms_as *as, uint64_t first, uint64_t nr)
{
	return ms_free_lines_some(st, as, first, nr, UINT64_MAX);
}

uint64_t ms_store_work(struct ms_store *st, uint64_t budget)
{
	uint64_t done = 0;
	for (uint64_t i = 0; st->pending_lines && done < budget && i <= st->as.mask; i++) {
		if (st->as.s[i].key == TAB_EMPTY)
			continue;
		struct ms_as *as = st->as.s[i].val;
		while (as->npending && done < budget) {
			const struct ms_pending *p = &as->pending[0];
			done += ms_pending_step(st, as, 0, p->next + LG_MIN(budget - done, p->end - p->next));
		}
	}
	return done;
}

void ms_store_line_alloc(struct ms_store *st, void *(*fn)(size_t)) { st->alloc = fn; }

uint64_t ms_store_trim(struct ms_store *st, uint64_t budget) { return ms_pool_trim(st, budget, 0); }

int ms_store_prepare(struct ms_store *st)
{
	size_t ls = st->new_ls;
	if (!ls)
		return 0;
	if (ms_pool_of(st, ls)->n * ls >= MS_RESERVE_BYTES ||
	    lg_now_ns() - st->new_ns > MS_PREPARE_NS) {
		st->new_ls = 0;
		return 0;
	}
	ms_pool_refill(st, ls, MS_PREPARE_BYTES, 1);
	return 1;
}

int ms_reserve(struct ms_store *st, struct ms_as *as, int64_t delta, uint64_t *reserved)
{
	if (delta > 0) {
		uint64_t d = (uint64_t)delta;
		if (st->reserved + d > st->capacity || (as->quota && as->reserved + d > as->quota)) {
			st->enomem++;
			lg_log_rl(LG_WARN, "memnode",
				  "reservation of %llu bytes refused: %llu of %llu reserved",
				  (unsigned long long)d, (unsigned long long)st->reserved,
				  (unsigned long long)st->capacity);
			*reserved = as->reserved;
			return -ENOMEM;
		}
		st->reserved += d;
		as->reserved += d;
	} else {
		/* negated as unsigned: -INT64_MIN (from the wire) is no int64_t */
		uint64_t d = LG_MIN(0 - (uint64_t)delta, as->reserved);
		as->reserved -= d;
		st->reserved -= LG_MIN(d, st->reserved);
	}
	*reserved = as->reserved;
	return 0;
}

void ms_as_set_owner(struct ms_as *as, uint64_t owner) { as->owner = owner; }

int ms_owner_in_use(const struct ms_store *st, uint64_t owner)
{
	for (uint64_t i = 0; i <= st->as.mask; i++)
		if (st->as.s[i].key != TAB_EMPTY && ((struct ms_as *)st->as.s[i].val)->owner == owner)
			return 1;
	return 0;
}

uint64_t ms_as_destroy(struct ms_store *st, uint64_t as_id)
{
	struct ms_slot *s = tab_find(&st->as, as_id);
	if (!s)
		return 0;
	struct ms_as *as = s->val;
	uint64_t owner = as->owner;
	tab_delete(&st->as, s);
	lg_log(LG_INFO, "memnode", "address space %llu freed (%llu lines)",
	       (unsigned long long)as_id, (unsigned long long)as->ndata);
	ms_as_free_data(st, as);
	st->as_freed++;
	return owner;
}

int ms_as_clone(struct ms_store *st, struct ms_as *parent, const struct lego_as_ref *child_ref)
{
	if (child_ref->line_order != parent->line_order || child_ref->as_id == parent->id)
		return -EINVAL;
	/* The child may exist already: a write-back into it can come first
	 * (the parent writes back into both copies from just before the
	 * clone).  Lines it has with a newer sequence stay. */
	struct ms_slot *cs0 = tab_find(&st->as, child_ref->as_id);
	uint64_t had = cs0 ? ((struct ms_as *)cs0->val)->reserved : 0;
	if (parent->reserved > had && st->reserved + parent->reserved - had > st->capacity) {
		st->enomem++;
		return -ENOMEM;
	}
	struct ms_as *child;
	int r = ms_as_get(st, child_ref, &child);
	if (r)
		return r;
	ms_settle_as(st, parent);
	ms_settle_as(st, child);
	size_t ls = (size_t)1 << parent->line_order;
	for (uint64_t i = 0; i <= parent->lines.mask; i++) {
		struct ms_slot *ps = &parent->lines.s[i];
		if (ps->key == TAB_EMPTY)
			continue;
		struct ms_slot *cs = tab_find(&child->lines, ps->key);
		if (cs && cs->seq >= ps->seq)
			continue; /* the child's copy is newer */
		if (!cs && !(cs = ms_line_slot(child, ps->key)))
			goto nomem;
		if (ps->val && ms_line_share(st, ps->val) < 0)
			goto nomem;
		if (cs->val) {
			ms_line_release(st, cs->val, ls);
			child->ndata--;
		}
		cs->seq = ps->seq;
		cs->val = ps->val;
		child->ndata += ps->val != NULL;
	}
	if (parent->reserved > child->reserved) {
		st->reserved += parent->reserved - child->reserved;
		child->reserved = parent->reserved;
	}
	lg_log(LG_INFO, "memnode", "address space %llu cloned into %llu (%llu lines shared)",
	       (unsigned long long)parent->id, (unsigned long long)child->id,
	       (unsigned long long)child->ndata);
	return 0;
nomem:
	ms_as_destroy(st, child_ref->as_id);
	return -ENOMEM;
}

void ms_store_totals(const struct ms_store *st, struct ms_totals *t)
{
	t->capacity = st->capacity;
	t->reserved = st->reserved;
	t->stored = st->stored;
	t->nr_as = st->as.n;
	uint64_t lines = 0;
	for (uint64_t i = 0; i <= st->as.mask; i++)
		if (st->as.s[i].key != TAB_EMPTY)
			lines += ((struct ms_as *)st->as.s[i].val)->ndata;
	t->lines = lines;
	t->as_created = st->as_created;
	t->as_freed = st->as_freed;
	t->cap_rejects = st->cap_rejects;
	t->enomem = st->enomem;
	t->freed_lines = st->freed_lines;
	t->free_pending = st->pending_lines;
	t->line_pool = st->pool_bytes;
}
