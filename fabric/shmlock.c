/* Queue locks left taken by dead processes in libfabric's shm provider
 * (see shmlock.h). */
#define _GNU_SOURCE
#include "shmlock.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <rdma/fabric.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "fiload.h"

/* The head of libfabric 1.17's struct smr_region (prov/shm/src/
 * smr_util.h): a version byte, the owner's pid, the owner's address of the
 * region, the queue's pthread spinlock and the region's size.  Read, never
 * written, except the lock; checked against a region of our own before use
 * (lf_shm_regions). */
#define SMR_V117 4
#define SMR_OFF_PID 4
#define SMR_OFF_BASE 16
#define SMR_OFF_LOCK 24
#define SMR_OFF_SIGNAL 28 /* a sender raises it after queueing */
#define SMR_OFF_SIZE 40
#define SMR_HEAD 64

#define MAX_REGIONS 1024 /* 256 peers (shm's most) on an endpoint and its lanes */
#define LF_TICK_MS 100
#define LF_REFRESH_TICKS 10    /* look for new regions every second */
#define LF_SUSPECT_TICKS 5     /* held at 5 ticks in a row: look closer */
#define LF_HELD_MS 500         /* held at every look for this long */
#define LF_HELD_LOOKS 50       /* and at this many looks at least */
#define UNNAMED_HOLDER_MS 10000 /* see doctor_treat */

static _Atomic unsigned long unwedged;

unsigned long lf_shm_unwedged(void) { return atomic_load_explicit(&unwedged, memory_order_relaxed); }

struct head {
	uint8_t version;
	int32_t pid;
	uint64_t base;
	uint64_t size;
};

static struct head head_of(const unsigned char *p)
{
	struct head h;
	h.version = p[0];
	memcpy(&h.pid, p + SMR_OFF_PID, sizeof h.pid);
	memcpy(&h.base, p + SMR_OFF_BASE, sizeof h.base);
	memcpy(&h.size, p + SMR_OFF_SIZE, sizeof h.size);
	return h;
}

/* A second mapping of the region's first page, mapped at start: ours,
 * which stays valid when the provider unmaps its own (a peer dropped), and
 * which needs no file (a dead process's may have been removed).  NULL if
 * start maps nothing shared any more, or no region of this length from
 * pid (0: any) is there. */
static unsigned char *map_head(unsigned long start, size_t len, pid_t pid)
{
	void *p = mremap((void *)start, 0, SMR_HEAD, MREMAP_MAYMOVE);
	if (p == MAP_FAILED)
		return NULL;
	struct head h = head_of(p);
	if (h.version != SMR_V117 || h.size != len || h.pid <= 0 || (pid && h.pid != pid)) {
		munmap(p, SMR_HEAD);
		return NULL;
	}
	return p;
}

/* One line of /proc/self/maps, if it maps the start of a file in
 * /dev/shm (maybe removed since) shared and writable, as the shm provider
 * maps a region: 1 with r's path, inode, start and length filled. */
static int maps_region(const char *line, struct lf_shm_region *r)
{
	unsigned long start, end, off, ino;
	char perms[8], dev[16];
	int at = 0;
	if (sscanf(line, "%lx-%lx %7s %lx %15s %lu %n", &start, &end, perms, &off, dev, &ino, &at) < 6 ||
	    at == 0)
		return 0;
	const char *path = line + at;
	if (strncmp(path, "/dev/shm/", 9) || strcmp(perms, "rw-s") || off != 0 || end - start < SMR_HEAD)
		return 0;
	size_t pl = LG_MIN(strcspn(path, "\n"), sizeof r->path - 1);
	memcpy(r->path, path, pl);
	r->path[pl] = 0;
	r->ino = (ino_t)ino;
	r->start = start;
	r->len = end - start;
	return 1;
}

/* The owner of r, whose header (version 4, r's length: map_head checked)
 * is mapped at p.  Our own region also has its start in its header: that
 * it does tells the layout is the one known here (*own_ok, if not NULL). */
static void region_owner(struct lf_shm_region *r, const unsigned char *p, int *own_ok)
{
	struct head h = head_of(p);
	r->pid = h.pid;
	r->own = h.pid == getpid();
	if (own_ok && r->own && h.base == r->start)
		*own_ok = 1;
}

int lf_shm_regions(struct lf_shm_region *out, int max)
{
	uint32_t v = lf_fi_version();
	if (FI_MAJOR(v) != 1 || FI_MINOR(v) != 17)
		return -ENOTSUP;
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return -errno;
	char line[512];
	int n = 0, own_ok = 0;
	while (n < max && fgets(line, sizeof line, f)) {
		unsigned char *p;
		if (!maps_region(line, &out[n]) || !(p = map_head(out[n].start, out[n].len, 0)))
			continue;
		region_owner(&out[n++], p, &own_ok);
		munmap(p, SMR_HEAD);
	}
	fclose(f);
	/* the layout is right only if one of our own regions says so */
	return own_ok ? n : -ENOTSUP;
}

volatile int *lf_shm_map_lock(const struct lf_shm_region *r)
{
	unsigned char *p = map_head(r->start, r->len, r->pid);
	return p ? (volatile int *)(void *)(p + SMR_OFF_LOCK) : NULL;
}

void lf_shm_raise_signal(volatile int *lock)
{
	__atomic_store_n((volatile int *)(void *)((char *)(uintptr_t)lock - SMR_OFF_LOCK +
						 SMR_OFF_SIGNAL),
			 1, __ATOMIC_SEQ_CST);
}

void lf_shm_unmap(volatile int *lock)
{
	if (lock)
		munmap((char *)(uintptr_t)lock - SMR_OFF_LOCK, SMR_HEAD);
}

/* A process's state letter from /proc/PID/stat; 0 if it has gone. */
static char proc_state(pid_t pid)
{
	char path[32], buf[256];
	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if (lg_read_small(path, buf, sizeof buf) <= 0)
		return 0;
	const char *p = strrchr(buf, ')'); /* the name may hold anything */
	return p && p[1] == ' ' ? p[2] : 0;
}

static int gone(char st) { return st == 0 || st == 'Z' || st == 'X' || st == 'x'; }
static int stopped(char st) { return st == 'T' || st == 't'; }

/* ------------------------------------------------------------ the doctor */

/* The regions watched: our own mapping of each one's header (the
 * provider may unmap its own at any time), and for how many ticks in a
 * row its lock was seen held. */
struct watched {
	struct lf_shm_region r;
	volatile int *lock;
	unsigned held; /* ticks */
	uint64_t since_ns; /* first seen held, this time */
	int seen;
	char st; /* its owner's state (proc_state), when treated */
};

static struct watched wr[MAX_REGIONS];
static int nwr;

/* Watch the regions mapped now, and only those: a new one's header is
 * checked and mapped once, a known one (same file, same place) is not
 * looked at again. */
static void doctor_refresh(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return;
	for (int k = 0; k < nwr; k++)
		wr[k].seen = 0;
	char line[512];
	struct lf_shm_region r;
	while (fgets(line, sizeof line, f)) {
		if (!maps_region(line, &r))
			continue;
		int k = 0;
		while (k < nwr && (wr[k].r.ino != r.ino || wr[k].r.start != r.start))
			k++;
		if (k == nwr) {
			unsigned char *p;
			if (nwr == MAX_REGIONS || !(p = map_head(r.start, r.len, 0)))
				continue;
			region_owner(&r, p, NULL);
			wr[nwr++] = (struct watched){.r = r, .lock = (volatile int *)(void *)(p + SMR_OFF_LOCK)};
		}
		wr[k].seen = 1;
	}
	fclose(f);
	for (int k = 0; k < nwr;) {
		if (wr[k].seen) {
			k++;
			continue;
		}
		lf_shm_unmap(wr[k].lock);
		wr[k] = wr[--nwr];
	}
}

/*
 * Who may hold a region's lock: its owner (reading its queue) and whoever
 * sends to it, each for the copy of at most 4 KiB.  Held without a break
 * for half a second by a process still running is not plausible; but a
 * process stopped (SIGSTOP, a debugger) inside the provider holds it
 * legitimately, and releasing it would let two senders write one queue
 * slot.  So, of the locks held throughout LF_HELD_MS:
 *  1. one whose region's owner is gone is released: a dead receiver's
 *     queue is written to but never read;
 *  2. only when there was none (a thread of ours may hold another lock
 *     while it spins on a dead receiver's: it lets go once that one is
 *     released), our own region's is released if no process whose region
 *     is mapped here is stopped, and either one of them is gone (the
 *     holder, most likely: a sender cannot be named) or the lock has been
 *     held for UNNAMED_HOLDER_MS.  A live process's lock only by its own
 *     doctor: every process that sends to a region watches its lock, and
 *     a second doctor that released it after the first (its looks a
 *     millisecond apart miss the moment it was free: a spinning sender
 *     takes it at once) would let a second holder in.  A dead owner's
 *     queue is never read, so two holders there harm no one.
 * A holder killed before it committed its message leaves that queue slot
 * uncommitted, and the next sender writes over it; at worst one of the
 * region's inject buffers is lost.
 */
static void doctor_treat(void)
{
	int any = 0;
	for (int k = 0; k < nwr; k++)
		any |= wr[k].held >= LF_SUSPECT_TICKS;
	/* confirm: held at every look, a millisecond apart, for LF_HELD_MS of
	 * the clock and LF_HELD_LOOKS looks.  Bounded by the clock, not by a
	 * count of sleeps: on a host whose CPUs are busy (the holder's victim
	 * spins on one) a 1 ms sleep can last several, and 500 of them took
	 * over 3 s, long enough for the monitor to declare a memnode whose
	 * loop waited on the lock down. */
	uint64_t t0 = lg_now_ns();
	for (unsigned t = 0; any && (t < LF_HELD_LOOKS || lg_now_ns() - t0 < LF_HELD_MS * 1000000ull);
	     t++) {
		usleep(1000);
		any = 0;
		for (int k = 0; k < nwr; k++) {
			if (wr[k].held >= LF_SUSPECT_TICKS && *wr[k].lock > 0)
				wr[k].held = 0;
			any |= wr[k].held >= LF_SUSPECT_TICKS;
		}
	}
	if (!any)
		return;
	/* the regions mapped since the last refresh too: the dead holder's
	 * own, mapped when its first message was read, names it as gone */
	doctor_refresh();
	int dead_owner = 0, some_gone = 0, some_stopped = 0;
	for (int k = 0; k < nwr; k++) {
		wr[k].st = wr[k].r.own ? 'R' : proc_state(wr[k].r.pid);
		some_gone |= gone(wr[k].st);
		some_stopped |= stopped(wr[k].st);
		dead_owner |= gone(wr[k].st) && wr[k].held >= LF_SUSPECT_TICKS;
	}
	int released = 0;
	for (int k = 0; k < nwr; k++) {
		struct watched *w = &wr[k];
		if (w->held < LF_SUSPECT_TICKS)
			continue;
		unsigned ms = (unsigned)((lg_now_ns() - w->since_ns) / 1000000);
		const char *why;
		if (gone(w->st))
			why = "its owner has gone";
		else if (!w->r.own || dead_owner || some_stopped)
			continue;
		else if (some_gone)
			why = "a process of this host that used it has gone";
		else if (ms >= UNNAMED_HOLDER_MS)
			why = "no process can be named as its holder";
		else
			continue;
		__atomic_store_n(w->lock, 1, __ATOMIC_RELEASE);
		w->held = 0;
		released++;
		atomic_fetch_add_explicit(&unwedged, 1, memory_order_relaxed);
		lg_log(LG_WARN, "fabric", "shm: the queue lock of %s (process %d%s) was held for %u ms; "
		       "%s: released", w->r.path, (int)w->r.pid, w->r.own ? ", this one" : "", ms, why);
	}
	if (!released && some_stopped)
		lg_log_rl(LG_WARN, "fabric", "shm: a queue lock has been held for over a second and a "
			  "process of this host using it is stopped (SIGSTOP, a debugger): waiting");
}

static void (*doctor_init)(void);
static _Atomic pid_t doctor_pid; /* the process whose doctor runs */

static void *doctor_main(void *arg)
{
	(void)arg;
	prctl(PR_SET_NAME, "lego-shmdoc");
	if (doctor_init)
		doctor_init();
	for (unsigned tick = 0;; tick++) {
		if (tick % LF_REFRESH_TICKS == 0)
			doctor_refresh();
		int suspect = 0;
		for (int k = 0; k < nwr; k++) {
			if (*wr[k].lock > 0)
				wr[k].held = 0;
			else if (!wr[k].held++)
				wr[k].since_ns = lg_now_ns();
			suspect |= wr[k].held >= LF_SUSPECT_TICKS;
		}
		if (suspect)
			doctor_treat();
		usleep(LF_TICK_MS * 1000);
	}
	return NULL;
}

int lf_shm_doctor_running(void) { return atomic_load(&doctor_pid) == getpid(); }

static int doctor_spawn(void (*thread_init)(void))
{
	/* a forked child: the table is the parent's, copied at any point of
	 * its doctor's work; its header mappings are left mapped (a few pages)
	 * rather than unmapped through pointers that may be stale */
	nwr = 0;
	/* the layout, once: checked against our own region */
	struct lf_shm_region *reg = calloc(MAX_REGIONS, sizeof *reg);
	if (!reg)
		return -ENOMEM;
	int n = lf_shm_regions(reg, MAX_REGIONS);
	free(reg);
	if (n == -ENOTSUP) {
		uint32_t v = lf_fi_version();
		lg_log(LG_INFO, "fabric", "libfabric %u.%u: its shm regions are not the ones known "
		       "here (1.17's); a queue lock left by a dead process will not be released",
		       FI_MAJOR(v), FI_MINOR(v));
	}
	if (n < 0)
		return n;
	doctor_init = thread_init;
	/* no signal for it: they are the program's (it starts with all blocked) */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	pthread_t t;
	int r = pthread_create(&t, NULL, doctor_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	pthread_detach(t);
	return 0;
}

int lf_shm_doctor_start(void (*thread_init)(void))
{
	/* claimed for this process first: two threads opening endpoints start
	 * one doctor (a lock would stay taken in a child forked meanwhile) */
	pid_t me = getpid(), cur = atomic_load(&doctor_pid);
	do {
		if (cur == me)
			return 0;
	} while (!atomic_compare_exchange_weak(&doctor_pid, &cur, me));
	int r = doctor_spawn(thread_init);
	if (r)
		atomic_store(&doctor_pid, 0);
	return r;
}

/* ------------------------------------------------------- stand-in regions */

int lf_shm_lock_held(const char *name)
{
	char path[128];
	unsigned char h[SMR_HEAD];
	snprintf(path, sizeof path, "/dev/shm/%s", name);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	ssize_t got = pread(fd, h, sizeof h, 0);
	close(fd);
	if (got != (ssize_t)sizeof h || h[0] != SMR_V117)
		return -EPROTO;
	int32_t lock;
	memcpy(&lock, h + SMR_OFF_LOCK, sizeof lock);
	return lock <= 0; /* pthread_spin_unlock leaves 1 */
}

/* See shmlock.h and fabric/standin.c. */
static _Atomic unsigned long standins;

unsigned long lf_shm_standins(void) { return atomic_load_explicit(&standins, memory_order_relaxed); }

int lf_shm_standin_fd(const char *name, pid_t pid)
{
	struct lf_shm_region *r = calloc(MAX_REGIONS, sizeof *r);
	if (!r)
		return -ENOMEM;
	int n = lf_shm_regions(r, MAX_REGIONS), k = 0;
	while (k < n && !r[k].own)
		k++;
	unsigned char *src = k < n ? mremap((void *)r[k].start, 0, r[k].len, MREMAP_MAYMOVE) : MAP_FAILED;
	size_t len = k < n ? r[k].len : 0;
	free(r);
	if (src == MAP_FAILED)
		return k < n ? -errno : -ENOENT;
	char path[128];
	snprintf(path, sizeof path, "/dev/shm/%s", name);
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	int r2 = fd < 0 ? -errno : ftruncate(fd, (off_t)len) ? -errno : 0;
	/* only the pages holding something: the rest stays a hole */
	static const unsigned char zero[4096];
	for (size_t o = 0; r2 == 0 && o < len; o += sizeof zero)
		if (memcmp(src + o, zero, sizeof zero) &&
		    pwrite(fd, src + o, sizeof zero, (off_t)o) != (ssize_t)sizeof zero)
			r2 = -EIO;
	munmap(src, len);
	int32_t p = (int32_t)pid, unlocked = 1;
	if (r2 == 0 && (pwrite(fd, &p, sizeof p, SMR_OFF_PID) != sizeof p ||
			pwrite(fd, &unlocked, sizeof unlocked, SMR_OFF_LOCK) != sizeof unlocked))
		r2 = -EIO;
	if (r2 < 0) {
		if (fd >= 0) {
			unlink(path);
			close(fd);
		}
		return r2;
	}
	atomic_fetch_add_explicit(&standins, 1, memory_order_relaxed);
	return fd;
}

