/*
 * A program that dies with a core file: it fills MIB MiB of heap, each
 * 4 KiB page starting with a tag (MAGIC, then the page's index, both as
 * 64-bit words), then crashes: "segv" dereferences NULL on the main
 * thread; "abort" calls abort() on a second thread while the main one
 * keeps reading the pages; "altstack" crashes as "segv" with a handler on
 * an alternate signal stack in mmap'd (so, under Lego, remote) memory,
 * which sets the default action back and returns, so that the fault
 * comes again, as language runtimes do; "resethand" with a handler
 * installed SA_RESETHAND that only returns, as crash reporters do.
 * core.sh counts the tags found in the core
 * file: every page's must be there.
 *
 * Knows nothing about Lego.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static uint8_t *mem;
static size_t pages;

static void again(int sig)
{
	signal(sig, SIG_DFL);
}

static void once(int sig) { (void)sig; }

static void *aborter(void *arg)
{
	(void)arg;
	abort();
}

int main(int argc, char **argv)
{
	if (argc != 4) {
		fprintf(stderr, "usage: %s MIB MAGIC segv|abort|altstack|resethand\n", argv[0]);
		return 2;
	}
	pages = strtoull(argv[1], NULL, 0) << 8;
	uint64_t magic = strtoull(argv[2], NULL, 0);
	mem = malloc(pages << 12);
	if (!mem)
		return 1;
	for (size_t i = 0; i < pages; i++) {
		uint64_t tag[2] = {magic, i};
		memset(mem + (i << 12), (int)(i & 0xff), 4096);
		memcpy(mem + (i << 12), tag, sizeof tag);
	}
	printf("filled %zu pages\n", pages);
	fflush(stdout);
	if (!strcmp(argv[3], "altstack")) {
		stack_t ss = {.ss_size = 1 << 18};
		ss.ss_sp = mmap(NULL, ss.ss_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct sigaction sa = {.sa_handler = again, .sa_flags = SA_ONSTACK};
		if (ss.ss_sp == MAP_FAILED || sigaltstack(&ss, NULL) || sigaction(SIGSEGV, &sa, NULL))
			return 1;
	}
	if (!strcmp(argv[3], "resethand")) {
		struct sigaction sa = {.sa_handler = once, .sa_flags = SA_RESETHAND};
		if (sigaction(SIGSEGV, &sa, NULL))
			return 1;
	}
	if (strcmp(argv[3], "abort")) {
		volatile uintptr_t nowhere = 8; /* (a constant NULL is UB the compiler acts on) */
		*(volatile int *)nowhere = 1;
	}
	pthread_t t;
	pthread_create(&t, NULL, aborter, NULL);
	for (volatile uint64_t s = 0;;)
		for (size_t i = 0; i < pages; i++)
			s += mem[(i << 12) + 100];
}
