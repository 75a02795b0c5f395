/*
 * A program with its own SIGSEGV and SIGBUS handlers, as language runtimes
 * have: it faults on purpose (a PROT_NONE guard page, a write to read-only
 * memory, a NULL pointer, a SIGBUS past the end of a file mapping) and
 * checks what its handler sees: the signal, si_code, si_addr and that
 * the handler can repair the fault (mprotect) and resume.  Heap memory is
 * used all along, so under LD_PRELOAD the program's faults and Lego's own
 * ExCache misses happen side by side.  Last, with "die" as argument, it
 * restores the default action and crashes on purpose: the exit status
 * must be death by SIGSEGV, as natively.
 *
 * Prints one line per check, values only, so the native output and the
 * output under LD_PRELOAD can be compared.
 *
 * Knows nothing about Lego.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static volatile sig_atomic_t last_sig, last_code, repairs;
static void *volatile last_addr;
static void *volatile repair_base;
static volatile size_t repair_len;
static sigjmp_buf jb;
static volatile sig_atomic_t jump_ok;

static void handler(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	last_sig = sig;
	last_code = si->si_code;
	last_addr = si->si_addr;
	if (repair_base) { /* fix the cause and return: the access is retried */
		mprotect(repair_base, repair_len, PROT_READ | PROT_WRITE);
		repair_base = NULL;
		repairs++;
		return;
	}
	if (jump_ok)
		siglongjmp(jb, 1);
	_exit(99);
}

static const char *code_name(int sig, int code)
{
	if (sig == SIGSEGV)
		return code == SEGV_MAPERR ? "SEGV_MAPERR" : code == SEGV_ACCERR ? "SEGV_ACCERR" : "other";
	if (sig == SIGBUS)
		return code == BUS_ADRERR ? "BUS_ADRERR" : "other";
	return "none";
}

/* Run access() expecting a fault caught by siglongjmp. */
#define EXPECT_FAULT(label, addr, access)                                             \
	do {                                                                          \
		last_sig = 0;                                                         \
		jump_ok = 1;                                                          \
		if (sigsetjmp(jb, 1) == 0) {                                          \
			access;                                                       \
			jump_ok = 0;                                                  \
			printf("%s: no fault\n", label);                              \
		} else {                                                              \
			jump_ok = 0;                                                  \
			printf("%s: %s %s, si_addr %s\n", label,                      \
			       last_sig == SIGSEGV ? "SIGSEGV" : last_sig == SIGBUS ? "SIGBUS" \
											      : "?", \
			       code_name(last_sig, last_code),                        \
			       last_addr == (void *)(addr) ? "right" : "wrong");      \
		}                                                                     \
	} while (0)

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	long pg = sysconf(_SC_PAGESIZE);
	struct sigaction sa = {0}, old;
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	/* what the program reads back is its own handler */
	sigaction(SIGSEGV, NULL, &old);
	printf("sigaction reads back our handler: %s\n",
	       old.sa_sigaction == handler && (old.sa_flags & SA_SIGINFO) ? "yes" : "no");

	/* heap traffic around the faults */
	size_t hn = 64 << 20;
	unsigned char *heap = malloc(hn);
	for (size_t i = 0; i < hn; i += 512)
		heap[i] = (unsigned char)(i >> 9);

	/* 1. guard page, repaired by the handler (a JIT or GC barrier) */
	char *m = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(m, 1, 4 * pg);
	mprotect(m + pg, pg, PROT_NONE);
	repair_base = m + pg;
	repair_len = pg;
	*(volatile char *)(m + pg + 10) = 42;
	printf("guard page: %s %s, repaired %d, value %d\n", last_sig == SIGSEGV ? "SIGSEGV" : "?",
	       code_name(last_sig, last_code), (int)repairs, m[pg + 10]);
	printf("guard page si_addr: %s\n", last_addr == m + pg + 10 ? "right" : "wrong");

	/* 2. write to read-only heap-sized mapping */
	char *ro = mmap(NULL, 16 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	memset(ro, 2, 16 * pg);
	mprotect(ro, 16 * pg, PROT_READ);
	EXPECT_FAULT("write to read-only", ro + 5 * pg + 3, ro[5 * pg + 3] = 1);
	printf("read-only data kept: %s\n", ro[5 * pg + 3] == 2 ? "yes" : "no");

	/* 3. NULL and unmapped addresses */
	EXPECT_FAULT("NULL read", 0, (void)*(volatile char *)0);
	char *gone = mmap(NULL, pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	munmap(gone, pg);
	EXPECT_FAULT("unmapped write", gone + 7, *(volatile char *)(gone + 7) = 1);

	/* 4. SIGBUS past the end of a file mapping */
	char path[] = "/tmp/lego-sig.XXXXXX";
	int fd = mkstemp(path);
	unlink(path);
	if (fd < 0 || write(fd, "x", 1) != 1)
		return 2;
	char *f = mmap(NULL, 2 * pg, PROT_READ, MAP_PRIVATE, fd, 0);
	EXPECT_FAULT("beyond end of file", f + pg + 1, (void)*(volatile char *)(f + pg + 1));
	close(fd);

	/* 5. a read-only page inside a heap block (remote memory under Lego),
	 * written to: the handler sees it and opens the page up again */
	unsigned char *h2 = NULL;
	if (posix_memalign((void **)&h2, (size_t)pg, 8 << 20))
		return 2;
	memset(h2, 3, 8 << 20);
	mprotect(h2 + 100 * pg, pg, PROT_READ);
	last_sig = 0;
	repair_base = h2 + 100 * pg;
	repair_len = (size_t)pg;
	*(volatile unsigned char *)(h2 + 100 * pg + 9) = 4;
	printf("read-only heap page: %s %s, si_addr %s, value %d, neighbours %d %d\n",
	       last_sig == SIGSEGV ? "SIGSEGV" : "?", code_name(last_sig, last_code),
	       last_addr == h2 + 100 * pg + 9 ? "right" : "wrong", h2[100 * pg + 9], h2[100 * pg + 8],
	       h2[101 * pg]);
	int ok = 1;
	for (size_t i = 0; i < hn; i += 512)
		ok &= heap[i] == (unsigned char)(i >> 9);
	printf("heap intact after the faults: %s\n", ok ? "yes" : "no");
	free(h2);
	free(heap);

	/* signal() returns the previous handler */
	void (*prev)(int) = signal(SIGSEGV, SIG_DFL);
	printf("signal() returns the previous handler: %s\n", (uintptr_t)prev == (uintptr_t)handler ? "yes" : "no");
	if (argc > 1 && strcmp(argv[1], "die") == 0) {
		printf("dying\n");
		int *volatile bad = (int *)16;
		*bad = 1; /* default action: killed by SIGSEGV */
	}
	printf("done\n");
	return 0;
}
