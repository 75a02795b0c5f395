/*
 * Core dumps with the remote memory in them (see core.h).
 *
 * The kernel writes a core file from the pages the process has; a page of
 * Lego memory that is on a memnode is not one of them (a userfaultfd miss
 * of a dumping process is refused), so the core would show zeros there,
 * silently.  Before the default action of a fatal signal, then:
 *
 *   1. count the lines that hold data: written back once (sp.written) or
 *      held locally (resident, or evicted and not yet written back); if
 *      the host has not that much memory available, say so and go on
 *      with what is local;
 *   2. copy each into a local buffer, reading it as the program would
 *      (misses served as usual, with the ExCache's eviction);
 *   3. (sig.c) quiesce the runtime: its threads parked;
 *   4. put each line that is not resident any more back into its place
 *      with UFFDIO_COPY, which needs no fault thread and refuses a page
 *      that is present (-EEXIST: resident, hence newest, left as it is).
 *
 * The program's other threads run on meanwhile, as they would until the
 * kernel stops them: a line one of them writes after its copy is in the
 * core as it was copied or later.  Nothing here allocates or takes a lock
 * of the C library: raw system calls only.
 */
#define _GNU_SOURCE
#include "core.h"

#include <linux/userfaultfd.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"
#include "excache.h"
#include "runtime.h"
#include "space.h"
#include "tls.h"

/* Memory left to the rest of the host after the buffer (bytes). */
#define LG_CORE_SPARE (64ull << 20)

/* ------------------------------------------------ async-signal-safe text */

/* write(2) of a, the number x, b */
static void lg_core_say(const char *a, uint64_t x, const char *b)
{
	char buf[256], num[24];
	size_t n = 0, k = sizeof num;
	do
		num[--k] = (char)('0' + x % 10);
	while ((x /= 10) && k);
	for (; *a && n < sizeof buf; a++)
		buf[n++] = *a;
	for (; k < sizeof num && n < sizeof buf; k++)
		buf[n++] = num[k];
	for (; *b && n < sizeof buf; b++)
		buf[n++] = *b;
	lg_syscall(SYS_write, 2, buf, n);
}

/* Would the kernel write a core file for a fatal signal now? */
static int lg_core_wanted(void)
{
	if (lg_syscall(SYS_prctl, PR_GET_DUMPABLE, 0, 0, 0, 0) <= 0)
		return 0;
	struct rlimit rl;
	if (lg_syscall(SYS_getrlimit, RLIMIT_CORE, &rl) != 0)
		return 0;
	char pat[2];
	lg_read_small("/proc/sys/kernel/core_pattern", pat, sizeof pat);
	if (pat[0] == '|') /* a pipe: any limit but 1 (the kernel's recursion guard) */
		return rl.rlim_cur != 1;
	return rl.rlim_cur > 0 && pat[0] && pat[0] != '\n';
}

/* MemAvailable in bytes, or 0 if unknown. */
static uint64_t lg_core_avail(void)
{
	char buf[4096];
	if (lg_read_small("/proc/meminfo", buf, sizeof buf) <= 0)
		return 0;
	const char *p = strstr(buf, "MemAvailable:");
	if (!p)
		return 0;
	uint64_t kb = 0;
	for (p += 13; *p == ' '; p++)
		;
	for (; *p >= '0' && *p <= '9'; p++)
		kb = kb * 10 + (uint64_t)(*p - '0');
	return kb << 10;
}

/* ------------------------------------------------------------ the copy */

/* Does the line hold data: written back once, or held locally? */
static int lg_core_has_data(struct lg_space *sp, uint64_t line)
{
	return sp_written(sp, line) || xc_line_held(sp->xc, line);
}

/* Call fn(line, arg) for every line with data, in address order; stops
 * when fn returns nonzero. */
static void lg_core_each(struct lg_space *sp, int (*fn)(uint64_t, void *), void *arg)
{
	uint64_t nlines = sp->size >> sp->line_order;
	for (uint64_t w = 0; w < (nlines + 63) / 64; w++) {
		/* a line with data was committed when it got it; one since made
		 * PROT_NONE by the program is not committed now, but written */
		uint64_t m = atomic_load_explicit(&sp->committed[w], memory_order_acquire) |
			     atomic_load_explicit(&sp->written[w], memory_order_acquire);
		for (; m; m &= m - 1) {
			uint64_t line = w * 64 + (uint64_t)__builtin_ctzll(m);
			if (line < nlines && lg_core_has_data(sp, line) && fn(line, arg))
				return;
		}
	}
}

struct lg_core_walk {
	struct lg_space *sp;
	struct lg_core c;  /* the copies so far (c.n: lines counted, then copied) */
	uint64_t cap;      /* room for */
	uint64_t skipped;  /* not readable here (SIGBUS mode, protected) */
};

static int lg_core_count(uint64_t line, void *arg)
{
	(void)line;
	((struct lg_core_walk *)arg)->c.n++;
	return 0;
}

static int lg_core_copy(uint64_t line, void *arg)
{
	struct lg_core_walk *w = arg;
	if (w->c.n == w->cap)
		return 1; /* lines got data since the count: the core has the rest as they are */
	size_t len = (size_t)1 << w->sp->line_order;
	uint8_t *la = sp_line_addr(w->sp, line), *dst = w->c.data + w->c.n * len;
	if (sp_committed(w->sp, line))
		memcpy(dst, la, len); /* a miss, served as any other */
	else if (lg_rt.fault.sigbus || sp_mem_io(w->sp, la, dst, len, 0)) {
		w->skipped++; /* the kernel cannot bring it in for us */
		return 0;
	}
	w->c.lines[w->c.n++] = line;
	return 0;
}

/* Put a copy back where its line is not resident any more. */
static void lg_core_put(int uffd, uint8_t *la, const uint8_t *src, size_t len)
{
	struct uffdio_copy c = {.dst = (uintptr_t)la, .src = (uintptr_t)src, .len = len};
	if (ioctl(uffd, UFFDIO_COPY, &c) == 0)
		return;
	/* a page of it is present (EEXIST; resident, so the newest data: it
	 * stays), the others one by one */
	for (size_t off = c.copy > 0 ? (size_t)c.copy : 0; off < len; off += 4096) {
		struct uffdio_copy p = {.dst = (uintptr_t)(la + off), .src = (uintptr_t)(src + off),
					.len = 4096};
		ioctl(uffd, UFFDIO_COPY, &p);
	}
}

void lg_core_collect(struct lg_core *c)
{
	struct lg_space *sp = &lg_rt.sp;
	memset(c, 0, sizeof *c);
	if (!sp->xc || lg_inside() || !lg_core_wanted() || lg_opt_u(&lg_rt.opts, LG_OPT_core) != 1)
		return; /* no core; a runtime thread failed (its locks may be
			 * held: no reads); or LEGO_CORE=local */
	size_t len = (size_t)1 << sp->line_order;
	struct lg_core_walk w = {.sp = sp};
	lg_core_each(sp, lg_core_count, &w);
	uint64_t need = w.c.n * (len + sizeof *w.c.lines), avail = lg_core_avail();
	if (!w.c.n)
		return;
	if (need + LG_CORE_SPARE > avail) {
		lg_core_say("lego: the core file lacks the process's remote memory: ", need >> 20,
			    " MiB would not fit in the memory available on this host\n");
		return;
	}
	lg_core_say("lego: bringing back ", need >> 20, " MiB of remote memory for the core file\n");
	long m = lg_sys_mmap(NULL, need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
			     -1, 0);
	if (m < 0 && m > -4096) {
		lg_core_say("lego: the core file lacks the process's remote memory: no room for its ",
			    need >> 20, " MiB\n");
		return;
	}
	w.cap = w.c.n;
	w.c = (struct lg_core){.data = (uint8_t *)m, .lines = (uint64_t *)((uint8_t *)m + w.cap * len),
			       .bytes = need};
	lg_core_each(sp, lg_core_copy, &w);
	if (w.skipped)
		lg_core_say("lego: the core file lacks ", w.skipped,
			    " remote lines the program made unreadable\n");
	*c = w.c;
}

void lg_core_restore(struct lg_core *c)
{
	if (!c->data)
		return;
	struct lg_space *sp = &lg_rt.sp;
	size_t len = (size_t)1 << sp->line_order;
	for (uint64_t i = 0; i < c->n; i++)
		lg_core_put(lg_rt.uffd, sp_line_addr(sp, c->lines[i]), c->data + i * len, len);
	lg_sys_munmap(c->data, c->bytes);
	c->data = NULL;
}
