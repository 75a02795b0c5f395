/* Doorbell for sleeping daemons (see bell.h). */
#define _GNU_SOURCE
#include "bell.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void lf_bell_paths(const char *name, char *flag, char *fifo, size_t len)
{
	snprintf(flag, len, "/dev/shm/%s.bell", name);
	snprintf(fifo, len, "/dev/shm/%s.fifo", name);
}

static int lf_bell_setup(struct lf_bell *b, const char *name, int create)
{
	memset(b, 0, sizeof *b);
	b->fifo = -1;
	snprintf(b->name, sizeof b->name, "%s", name);
	char flag[128], fifo[128];
	lf_bell_paths(name, flag, fifo, sizeof flag);
	if (create) {
		unlink(fifo);
		if (mkfifo(fifo, 0600) < 0)
			return -errno;
	}
	int fd = open(flag, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0), 0600);
	if (fd < 0)
		return -errno;
	if (create && ftruncate(fd, 4096) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	void *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return -errno;
	/* the daemon reads (O_RDWR: never end of file); clients write */
	b->fifo = open(fifo, (create ? O_RDWR : O_WRONLY) | O_NONBLOCK | O_CLOEXEC);
	if (b->fifo < 0) {
		int e = errno;
		munmap(p, 4096);
		return -e;
	}
	b->sleeping = p;
	b->owner = create;
	return 0;
}

int lf_bell_create(struct lf_bell *b, const char *name) { return lf_bell_setup(b, name, 1); }
int lf_bell_open(struct lf_bell *b, const char *name) { return lf_bell_setup(b, name, 0); }

void lf_bell_close(struct lf_bell *b)
{
	if (!b->sleeping)
		return;
	if (b->owner) {
		char flag[128], fifo[128];
		lf_bell_paths(b->name, flag, fifo, sizeof flag);
		atomic_store(b->sleeping, 0);
		unlink(flag);
		unlink(fifo);
	}
	munmap((void *)b->sleeping, 4096);
	close(b->fifo);
	b->sleeping = NULL;
	b->fifo = -1;
}

int lf_bell_stale(const struct lf_bell *b)
{
	char flag[128], fifo[128];
	lf_bell_paths(b->name, flag, fifo, sizeof flag);
	struct stat now, ours;
	if (stat(fifo, &now) < 0 || fstat(b->fifo, &ours) < 0)
		return 1;
	return now.st_ino != ours.st_ino || now.st_dev != ours.st_dev;
}

void lf_bell_ring_slow(struct lf_bell *b)
{
	if (!atomic_exchange(b->sleeping, 0))
		return; /* another client rang it already */
	char c = 1;
	ssize_t r = write(b->fifo, &c, 1); /* a full FIFO rings as well */
	(void)r;
}

void lf_bell_arm(struct lf_bell *b) { atomic_store(b->sleeping, 1); }

int lf_bell_fd(const struct lf_bell *b) { return b->fifo; }

void lf_bell_awake(struct lf_bell *b)
{
	atomic_store(b->sleeping, 0);
	char buf[64];
	while (read(b->fifo, buf, sizeof buf) > 0)
		;
}
