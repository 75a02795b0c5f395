/*
 * lego-test-lease_holder: allocate and write SIZE bytes (default 32M),
 * write them back, print "ready", then wait to be killed.
 */
#define _GNU_SOURCE
#include <lego/lego.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	size_t size = (size_t)(argc > 1 ? atol(argv[1]) : 32) << 20;
	char *a = lego_alloc(size);
	if (!a)
		return 1;
	memset(a, 0x77, size);
	if (lego_flush())
		return 1;
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
}
