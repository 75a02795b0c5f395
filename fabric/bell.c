/* Doorbell for sleeping daemons (see bell.h). */
#define _GNU_SOURCE
#include "bell.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static void lf_bell_paths(const char *name, char *flag, char *fifo, size_t len)
{
	snprintf(flag, len, "/dev/shm/%s.bell", name);
	snprintf(fifo, len, "/dev/shm/%s.fifo", name);
}

/* Daemon side: open (or create) the flag file and hold a shared lock on
 * it for as long as the daemon lives.  A clean-up (lf_bell_gc) removes a
 * daemon's files only under an exclusive lock, so never a live one's; if
 * one removed this file while we waited for the lock, make another. */
static int lf_bell_lock(const char *flag)
{
	for (int tries = 0; tries < 100; tries++) {
		int fd = open(flag, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return -errno;
		struct stat ours, now;
		if (flock(fd, LOCK_SH) == 0 && fstat(fd, &ours) == 0 && ours.st_nlink > 0 &&
		    stat(flag, &now) == 0 && now.st_ino == ours.st_ino && now.st_dev == ours.st_dev)
			return fd;
		close(fd);
	}
	return -EAGAIN;
}

static int lf_bell_setup(struct lf_bell *b, const char *name, int create)
{
	memset(b, 0, sizeof *b);
	b->fifo = b->lock = -1;
	snprintf(b->name, sizeof b->name, "%s", name);
	char flag[128], fifo[128];
	lf_bell_paths(name, flag, fifo, sizeof flag);
	int fd = create ? lf_bell_lock(flag) : open(flag, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return create ? fd : -errno;
	void *p = MAP_FAILED;
	if (create && (ftruncate(fd, 0) < 0 || ftruncate(fd, 4096) < 0 ||
		       (unlink(fifo) < 0 && errno != ENOENT) || mkfifo(fifo, 0600) < 0))
		goto fail;
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED)
		goto fail;
	/* the daemon reads (O_RDWR: never end of file); clients write */
	b->fifo = open(fifo, (create ? O_RDWR : O_WRONLY) | O_NONBLOCK | O_CLOEXEC);
	if (b->fifo < 0)
		goto fail;
	if (create)
		b->lock = fd; /* held for the daemon's life */
	else
		close(fd);
	b->sleeping = p;
	b->reads = (_Atomic uint64_t *)(void *)((uint8_t *)p + 64); /* a line of its own */
	b->owner = create;
	return 0;
fail:;
	int e = errno;
	if (p != MAP_FAILED)
		munmap(p, 4096);
	if (create) { /* ours (locked): no bell, not a stale one */
		unlink(fifo);
		unlink(flag);
	}
	close(fd);
	return -e;
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
	if (b->lock >= 0)
		close(b->lock);
	b->sleeping = NULL;
	b->fifo = b->lock = -1;
}

/* "NAME.lN" (N digits): a lane of the daemon NAME (fabric.h) */
static size_t lf_lane_base(const char *name)
{
	const char *dot = strrchr(name, '.');
	if (!dot || dot[1] != 'l' || !dot[2] || strspn(dot + 2, "0123456789") != strlen(dot + 2))
		return 0;
	return (size_t)(dot - name);
}

void lf_bell_gc(int dirfd, const char *name)
{
	/* "lego.PORT.bell", or a lane "lego.PORT.lN": the daemon "lego.PORT" */
	size_t l = strlen(name), lane = lf_lane_base(name);
	if (l >= 80 || (!lane && (l <= 5 || strcmp(name + l - 5, ".bell") != 0)))
		return;
	char base[80], bell[96], fifo[96];
	snprintf(base, sizeof base, "%.*s", (int)(lane ? lane : l - 5), name);
	snprintf(bell, sizeof bell, "%s.bell", base);
	int fd = openat(dirfd, bell, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		/* a lane whose daemon's files went before it */
		if (lane && errno == ENOENT && faccessat(dirfd, base, F_OK, 0) != 0)
			unlinkat(dirfd, name, 0);
		return;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
		/* no daemon holds it: it was killed (one that ends removes
		 * its files); its shm endpoint too (16 MiB of memory) */
		if (lane) {
			unlinkat(dirfd, name, 0);
		} else {
			snprintf(fifo, sizeof fifo, "%s.fifo", base);
			unlinkat(dirfd, base, 0);
			unlinkat(dirfd, fifo, 0);
			unlinkat(dirfd, bell, 0);
		}
	}
	close(fd);
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
