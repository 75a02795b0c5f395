/* LEGO_PROFILE: fault-site profiling (see profile.h). */
#define _GNU_SOURCE
#include "profile.h"

#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "common/log.h"
#include "runtime.h"
#include "sig.h"
#include "tls.h"
#include "common/dlib.h"

/*
 * libunwind and libdw, loaded when a profile is asked for (common/dlib.h):
 * every process under Lego would load them otherwise.  Their functions,
 * by the names their headers give them (libunwind's are macros for
 * architecture-specific symbols, _ULx86_64_step and the like).
 */
#ifndef UNWIND_SONAME
#error "UNWIND_SONAME, DW_SONAME and DW_V_* come from CMakeLists.txt"
#endif
#define PROF_STR1(x) #x
#define PROF_STR(x) PROF_STR1(x)
static struct lg_dlib prof_unwind_lib = LG_DLIB(UNWIND_SONAME), prof_dw_lib = LG_DLIB(DW_SONAME);
static struct {
	__typeof__(&unw_init_local2) init_local2;
	__typeof__(&unw_get_reg) get_reg;
	__typeof__(&unw_step) step;
	__typeof__(&unw_set_caching_policy) set_caching_policy;
	unw_addr_space_t *local_as;
	__typeof__(&dwfl_begin) begin;
	__typeof__(&dwfl_end) end;
	__typeof__(&dwfl_report_begin) report_begin;
	__typeof__(&dwfl_report_end) report_end;
	__typeof__(&dwfl_linux_proc_report) linux_proc_report;
	__typeof__(&dwfl_linux_proc_find_elf) linux_proc_find_elf;
	__typeof__(&dwfl_standard_find_debuginfo) standard_find_debuginfo;
	__typeof__(&dwfl_addrmodule) addrmodule;
	__typeof__(&dwfl_module_info) module_info;
	__typeof__(&dwfl_module_addrname) module_addrname;
	__typeof__(&dwfl_module_getsrc) module_getsrc;
	__typeof__(&dwfl_lineinfo) lineinfo;
} pl;

/* 0, or -ENOSYS with what is missing logged. */
static int prof_libs_load(void)
{
#define PU(f, sym) (pl.f = lg_dlib_sym(&prof_unwind_lib, PROF_STR(sym), ""))
#define PD(f, sym, v) (pl.f = lg_dlib_sym(&prof_dw_lib, #sym, v))
	int ok = PU(init_local2, unw_init_local2) && PU(get_reg, unw_get_reg) &&
		 PU(step, unw_step) && PU(set_caching_policy, unw_set_caching_policy) &&
		 PU(local_as, unw_local_addr_space) &&
		 PD(begin, dwfl_begin, DW_V_DWFL_BEGIN) && PD(end, dwfl_end, DW_V_DWFL_END) &&
		 PD(report_begin, dwfl_report_begin, DW_V_DWFL_REPORT_BEGIN) &&
		 PD(report_end, dwfl_report_end, DW_V_DWFL_REPORT_END) &&
		 PD(linux_proc_report, dwfl_linux_proc_report, DW_V_DWFL_LINUX_PROC_REPORT) &&
		 PD(linux_proc_find_elf, dwfl_linux_proc_find_elf, DW_V_DWFL_LINUX_PROC_FIND_ELF) &&
		 PD(standard_find_debuginfo, dwfl_standard_find_debuginfo,
		    DW_V_DWFL_STANDARD_FIND_DEBUGINFO) &&
		 PD(addrmodule, dwfl_addrmodule, DW_V_DWFL_ADDRMODULE) &&
		 PD(module_info, dwfl_module_info, DW_V_DWFL_MODULE_INFO) &&
		 PD(module_addrname, dwfl_module_addrname, DW_V_DWFL_MODULE_ADDRNAME) &&
		 PD(module_getsrc, dwfl_module_getsrc, DW_V_DWFL_MODULE_GETSRC) &&
		 PD(lineinfo, dwfl_lineinfo, DW_V_DWFL_LINEINFO);
#undef PU
#undef PD
	return ok ? 0 : -ENOSYS;
}

#define PROF_DEPTH 48        /* frames kept per stack */
#define PROF_SLOTS 4096      /* distinct stacks (a power of two) */
#define PROF_PROBES 64       /* slots looked at before a sample is dropped */
#define PROF_OUTSTANDING 64  /* signals queued and not yet taken */
#define PROF_TOP 10          /* call sites in each ranking */

enum { SLOT_EMPTY = 0, SLOT_BUSY, SLOT_READY };

struct prof_stack {
	_Atomic uint32_t state;
	uint32_t depth;
	uint64_t hash;
	_Atomic uint64_t samples;
	_Atomic uint64_t wait_ns;
	uintptr_t pc[PROF_DEPTH];
};

uint32_t lg_prof_period;

static struct {
	struct prof_stack *tab;
	int sig;
	pid_t pid;
	_Atomic uint64_t misses;       /* demand misses seen while on */
	_Atomic uint64_t dropped;      /* samples the table had no room for */
	_Atomic int outstanding;       /* signals sent, handler not yet run */
	_Atomic int warned;
	char dest[4096];               /* "1" or the report's file name */
	int only_pid;                  /* lego-run's command (0: every process) */
} prof;

/* ------------------------------------------------------------ sampling */

static uint64_t prof_hash(const uintptr_t *pc, int n)
{
	uint64_t h = 1469598103934665603ull;
	for (int i = 0; i < n; i++)
		h = (h ^ pc[i]) * 1099511628211ull;
	return h ^ (h >> 29);
}

/* Async-signal-safe: atomics on the preallocated table only. */
static void prof_add(const uintptr_t *pc, int n, uint64_t wait_ns)
{
	uint64_t h = prof_hash(pc, n);
	for (uint32_t k = 0; k < PROF_PROBES; k++) {
		struct prof_stack *s = &prof.tab[(h + k) & (PROF_SLOTS - 1)];
		uint32_t st = atomic_load_explicit(&s->state, memory_order_acquire);
		if (st == SLOT_EMPTY) {
			uint32_t want = SLOT_EMPTY;
			if (atomic_compare_exchange_strong(&s->state, &want, SLOT_BUSY)) {
				s->hash = h;
				s->depth = (uint32_t)n;
				memcpy(s->pc, pc, (size_t)n * sizeof *pc);
				atomic_store_explicit(&s->samples, 1, memory_order_relaxed);
				atomic_store_explicit(&s->wait_ns, wait_ns, memory_order_relaxed);
				atomic_store_explicit(&s->state, SLOT_READY, memory_order_release);
				return;
			}
			st = want;
		}
		/* another thread is writing this slot: it may be our stack, but
		 * waiting here could mean waiting on a thread we interrupted */
		if (st == SLOT_BUSY)
			continue;
		if (s->hash == h && s->depth == (uint32_t)n &&
		    memcmp(s->pc, pc, (size_t)n * sizeof *pc) == 0) {
			atomic_fetch_add_explicit(&s->samples, 1, memory_order_relaxed);
			atomic_fetch_add_explicit(&s->wait_ns, wait_ns, memory_order_relaxed);
			return;
		}
	}
	atomic_fetch_add_explicit(&prof.dropped, 1, memory_order_relaxed);
}

/*
 * Runs on the thread that missed, at the faulting instruction (the fault
 * service thread queued the signal before waking it).  The walk may touch
 * remote memory (the stack) and fault again: that is served as any fault.
 */
static void prof_handler(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	if (si->si_code != SI_QUEUE || si->si_pid != prof.pid)
		return; /* not ours */
	atomic_fetch_sub_explicit(&prof.outstanding, 1, memory_order_relaxed);
	int e = errno;
	lg_enter(); /* anything libunwind maps for itself stays local */
	uintptr_t pc[PROF_DEPTH];
	int n = 0;
	unw_cursor_t c;
	if (pl.init_local2(&c, (unw_context_t *)uc, UNW_INIT_SIGNAL_FRAME) == 0) {
		do {
			unw_word_t ip;
			if (pl.get_reg(&c, UNW_REG_IP, &ip) || !ip)
				break;
			pc[n++] = (uintptr_t)ip;
		} while (n < PROF_DEPTH && pl.step(&c) > 0);
	}
	if (n)
		prof_add(pc, n, (uint64_t)(uintptr_t)si->si_value.sival_ptr);
	lg_leave();
	errno = e;
}

void lg_prof_miss_slow(uint32_t tid, uint64_t wait_ns)
{
	uint64_t k = atomic_fetch_add_explicit(&prof.misses, 1, memory_order_relaxed);
	if (k % lg_prof_period)
		return;
	/* a thread that blocks the signal leaves them queued: bound that, so
	 * the program's own queued signals never meet a full queue */
	if (atomic_fetch_add(&prof.outstanding, 1) >= PROF_OUTSTANDING) {
		atomic_fetch_sub(&prof.outstanding, 1);
		atomic_fetch_add_explicit(&prof.dropped, 1, memory_order_relaxed);
		return;
	}
	siginfo_t si;
	memset(&si, 0, sizeof si);
	si.si_signo = prof.sig;
	si.si_code = SI_QUEUE;
	si.si_pid = prof.pid;
	si.si_uid = getuid();
	si.si_value.sival_ptr = (void *)(uintptr_t)wait_ns;
	if (lg_syscall(SYS_rt_tgsigqueueinfo, prof.pid, (pid_t)tid, prof.sig, &si) != 0) {
		atomic_fetch_sub(&prof.outstanding, 1);
		atomic_fetch_add_explicit(&prof.dropped, 1, memory_order_relaxed);
	}
}

int lg_prof_owns_signal(int sig, int setting)
{
	if (!lg_prof_period || sig != prof.sig)
		return 0;
	if (setting && !atomic_exchange(&prof.warned, 1))
		lg_log(LG_WARN, "profile", "the program's action for signal %d is ignored: "
		       "LEGO_PROFILE uses that signal", sig);
	return 1;
}

int lg_prof_init(const struct lg_opts *o)
{
	const char *want = lg_opt_s(o, LG_OPT_profile);
	if (!want[0] || strcmp(want, "0") == 0)
		return 0;
	if (prof_libs_load()) {
		lg_log(LG_ERROR, "profile", "no libunwind or libdw; no profile");
		return -ENOSYS;
	}
	snprintf(prof.dest, sizeof prof.dest, "%s", want);
	prof.only_pid = (int)lg_opt_i(o, LG_OPT_stats_pid);
	prof.pid = getpid();
	/* the highest real-time signals are the least used by programs and
	 * libraries (glibc keeps the lowest for itself) */
	prof.sig = SIGRTMAX - 1;
	prof.tab = mmap(NULL, PROF_SLOTS * sizeof *prof.tab, PROT_READ | PROT_WRITE,
			MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (prof.tab == MAP_FAILED) {
		int e = errno;
		prof.tab = NULL;
		lg_log(LG_ERROR, "profile", "no memory for the profile table: %s; no profile",
		       strerror(e));
		return -e;
	}
	pl.set_caching_policy(*pl.local_as, UNW_CACHE_PER_THREAD);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = prof_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigfillset(&sa.sa_mask); /* nothing of the program's runs inside the walk */
	int r = lg_sig_action(prof.sig, &sa, NULL);
	if (r) {
		lg_log(LG_ERROR, "profile", "cannot install the profiling signal handler: %s; "
		       "no profile", strerror(-r));
		return r;
	}
	lg_prof_period = (uint32_t)lg_opt_u(o, LG_OPT_profile_period);
	return 0;
}

void lg_prof_fork_child(void)
{
	if (!prof.tab)
		return;
	prof.pid = getpid();
	memset(prof.tab, 0, PROF_SLOTS * sizeof *prof.tab);
	atomic_store(&prof.misses, 0);
	atomic_store(&prof.dropped, 0);
	atomic_store(&prof.outstanding, 0);
}

/* ------------------------------------------------------------- the report */

/* One frame, symbolized. */
struct prof_sym {
	uintptr_t pc;
	const char *func;   /* NULL when unknown */
	const char *file;   /* source file, NULL without debug information */
	int line;
	const char *module; /* the object's base name */
	uintptr_t off;      /* pc's offset in it */
	char name[128];     /* func without a symbol version, when it had one */
};

struct prof_site {
	const struct prof_sym *at;  /* the site: innermost frame of the program's code */
	const struct prof_sym *top; /* the faulting frame itself */
	uint64_t samples, wait_ns;
};

static const char *prof_base(const char *p)
{
	const char *s = p ? strrchr(p, '/') : NULL;
	return s ? s + 1 : p;
}

/*
 * Symbolize pc (a return address beyond the first frame: look up pc - 1,
 * the call instruction).  Strings live in libdwfl's memory until
 * dwfl_end().
 */
static void prof_symbolize(Dwfl *d, uintptr_t pc, int caller, struct prof_sym *out)
{
	memset(out, 0, sizeof *out);
	out->pc = pc;
	Dwarf_Addr a = caller ? pc - 1 : pc;
	Dwfl_Module *m = d ? pl.addrmodule(d, a) : NULL;
	if (!m)
		return;
	Dwarf_Addr start = 0;
	out->module = prof_base(pl.module_info(m, NULL, &start, NULL, NULL, NULL, NULL, NULL));
	out->off = (uintptr_t)(a - start);
	out->func = pl.module_addrname(m, a);
	if (out->func) { /* "memcpy@@GLIBC_2.14": the name is enough */
		const char *at = strchr(out->func, '@');
		if (at) {
			size_t n = (size_t)(at - out->func);
			char *t = n < sizeof out->name ? out->name : NULL;
			if (t) {
				memcpy(t, out->func, n);
				t[n] = 0;
				out->func = t;
			}
		}
	}
	Dwfl_Line *l = pl.module_getsrc(m, a);
	if (l) {
		int line = 0;
		const char *src = pl.lineinfo(l, NULL, &line, NULL, NULL, NULL);
		if (src && line > 0) {
			out->file = src;
			out->line = line;
		}
	}
}

/* A frame of the C library, the loader or Lego itself: the program's own
 * code that called it is the site worth naming (memcpy's caller, not
 * memcpy). */
static int prof_is_system(const struct prof_sym *s)
{
	static const char *const sys[] = {"libc.so", "ld-linux", "liblego", "libpthread.so"};
	if (!s->module)
		return 0;
	for (size_t i = 0; i < LG_ARRAY_SIZE(sys); i++)
		if (strncmp(s->module, sys[i], strlen(sys[i])) == 0)
			return 1;
	return 0;
}

static int prof_site_cmp_samples(const void *a, const void *b)
{
	const struct prof_site *x = a, *y = b;
	return x->samples < y->samples ? 1 : x->samples > y->samples ? -1 : 0;
}

static int prof_site_cmp_wait(const void *a, const void *b)
{
	const struct prof_site *x = a, *y = b;
	return x->wait_ns < y->wait_ns ? 1 : x->wait_ns > y->wait_ns ? -1 : 0;
}

static void prof_site_name(const struct prof_sym *s, char *buf, size_t len)
{
	if (s->func && s->file)
		snprintf(buf, len, "%s  %s:%d", s->func, s->file, s->line);
	else if (s->func)
		snprintf(buf, len, "%s  (%s)", s->func, s->module ? s->module : "?");
	else if (s->module)
		snprintf(buf, len, "%s+0x%lx", s->module, (unsigned long)s->off);
	else
		snprintf(buf, len, "0x%lx", (unsigned long)s->pc);
}

static void prof_rank(FILE *f, const char *title, const struct prof_site *site, size_t n,
		      uint64_t total)
{
	fprintf(f, "%s\n  %4s %12s %6s %12s %9s  %s\n", title, "rank", "misses(est)", "share",
		"wait ms(est)", "mean us", "site");
	for (size_t i = 0; i < n && i < PROF_TOP; i++) {
		char at[512], in[160] = "";
		prof_site_name(site[i].at, at, sizeof at);
		if (site[i].at != site[i].top && site[i].top->func)
			snprintf(in, sizeof in, "  (in %s)", site[i].top->func);
		fprintf(f, "  %4zu %12llu %5.1f%% %12.1f %9.1f  %s%s\n", i + 1,
			(unsigned long long)(site[i].samples * lg_prof_period),
			total ? 100.0 * (double)site[i].samples / (double)total : 0,
			(double)site[i].wait_ns * lg_prof_period / 1e6,
			(double)site[i].wait_ns / (double)site[i].samples / 1e3, at, in);
	}
}

/* Folded stacks: outermost frame first, ';' between frames, then the
 * number of samples (what flamegraph.pl and speedscope read). */
static void prof_folded(FILE *f, struct prof_stack **st, size_t n, struct prof_sym **syms)
{
	for (size_t i = 0; i < n; i++) {
		for (int k = (int)st[i]->depth - 1; k >= 0; k--) {
			const struct prof_sym *s = &syms[i][k];
			if (s->func)
				fputs(s->func, f);
			else if (s->module)
				fprintf(f, "%s+0x%lx", s->module, (unsigned long)s->off);
			else
				fprintf(f, "0x%lx", (unsigned long)s->pc);
			fputc(k ? ';' : ' ', f);
		}
		fprintf(f, "%llu\n", (unsigned long long)atomic_load(&st[i]->samples));
	}
}

/* Where the report and the folded stacks go.  Returns the report stream
 * (to be closed with fclose) or NULL. */
static FILE *prof_open(char *folded, size_t len)
{
	pid_t me = getpid();
	if (strcmp(prof.dest, "1") == 0) {
		snprintf(folded, len, "lego-profile.%d.folded", (int)me);
		return fdopen(dup(lg_rt.err_fd), "w");
	}
	char path[4200];
	if (!prof.only_pid || prof.only_pid == me)
		snprintf(path, sizeof path, "%s", prof.dest);
	else /* another process of the same run: its own file */
		snprintf(path, sizeof path, "%s.%d", prof.dest, (int)me);
	snprintf(folded, len, "%s.folded", path);
	FILE *f = fopen(path, "we");
	if (!f)
		lg_log(LG_WARN, "profile", "cannot write %s: %s", path, strerror(errno));
	return f;
}

static void prof_write(void)
{
	struct prof_stack **st = calloc(PROF_SLOTS, sizeof *st);
	struct prof_sym **syms = calloc(PROF_SLOTS, sizeof *syms);
	struct prof_site *site = calloc(PROF_SLOTS, sizeof *site);
	if (!st || !syms || !site)
		goto out;
	size_t n = 0;
	uint64_t total = 0, total_wait = 0;
	for (uint32_t i = 0; i < PROF_SLOTS; i++)
		if (atomic_load(&prof.tab[i].state) == SLOT_READY) {
			st[n++] = &prof.tab[i];
			total += atomic_load(&prof.tab[i].samples);
			total_wait += atomic_load(&prof.tab[i].wait_ns);
		}
	char folded[4300];
	FILE *f = prof_open(folded, sizeof folded);
	if (!f)
		goto out;
	fprintf(f, "lego profile: pid %d, %llu misses, %llu sampled (1 in %u), %llu ms waiting "
		"in the samples, %llu samples dropped\n", (int)getpid(),
		(unsigned long long)atomic_load(&prof.misses), (unsigned long long)total,
		lg_prof_period, (unsigned long long)(total_wait / 1000000),
		(unsigned long long)atomic_load(&prof.dropped));
	if (!n) {
		fclose(f);
		goto out;
	}
	static Dwfl_Callbacks cb; /* (the Dwfl keeps a pointer to it) */
	cb.find_elf = pl.linux_proc_find_elf;
	cb.find_debuginfo = pl.standard_find_debuginfo;
	Dwfl *d = pl.begin(&cb);
	if (d) {
		pl.report_begin(d);
		if (pl.linux_proc_report(d, getpid()) != 0 || pl.report_end(d, NULL, NULL) != 0) {
			pl.end(d);
			d = NULL;
		}
	}
	size_t nsites = 0;
	for (size_t i = 0; i < n; i++) {
		syms[i] = calloc(st[i]->depth, sizeof **syms);
		if (!syms[i])
			continue;
		for (uint32_t k = 0; k < st[i]->depth; k++)
			prof_symbolize(d, st[i]->pc[k], k > 0, &syms[i][k]);
		const struct prof_sym *at = &syms[i][0];
		for (uint32_t k = 0; k < st[i]->depth; k++)
			if (!prof_is_system(&syms[i][k])) {
				at = &syms[i][k];
				break;
			}
		/* one entry per site: same function and line, or same pc */
		size_t j;
		for (j = 0; j < nsites; j++) {
			const struct prof_sym *o = site[j].at;
			if (at->file ? o->file && o->line == at->line && strcmp(o->file, at->file) == 0 &&
					       o->func && at->func && strcmp(o->func, at->func) == 0
				     : !o->file && o->pc == at->pc)
				break;
		}
		if (j == nsites)
			site[nsites++] = (struct prof_site){at, &syms[i][0], 0, 0};
		site[j].samples += atomic_load(&st[i]->samples);
		site[j].wait_ns += atomic_load(&st[i]->wait_ns);
	}
	qsort(site, nsites, sizeof *site, prof_site_cmp_samples);
	prof_rank(f, "top call sites by misses:", site, nsites, total);
	qsort(site, nsites, sizeof *site, prof_site_cmp_wait);
	prof_rank(f, "top call sites by time waiting:", site, nsites, total);
	FILE *ff = fopen(folded, "we");
	if (ff) {
		prof_folded(ff, st, n, syms);
		fclose(ff);
		fprintf(f, "folded stacks (for flame graphs): %s\n", folded);
	} else {
		lg_log(LG_WARN, "profile", "cannot write %s: %s", folded, strerror(errno));
	}
	fclose(f);
	if (d)
		pl.end(d);
out:
	if (syms)
		for (size_t i = 0; i < PROF_SLOTS; i++)
			free(syms[i]);
	free(st);
	free(syms);
	free(site);
}

void lg_prof_report(void)
{
	if (!lg_prof_period || !prof.tab)
		return;
	lg_enter();
	prof_write();
	lg_leave();
}
