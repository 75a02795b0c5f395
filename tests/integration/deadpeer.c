/*
 * lego-test-deadpeer HOST:PORT die|hold|probe|lockdie|lockkill|lockhold|ownlockdie|quit|lockfree
 *                    [N]:
 * a tool that reaches a storenode
 * or memnode on this host over shm and lists the store's root directory
 * (make it hold enough names for a reply longer than shm's inject size,
 * 4 KiB: the receiver copies such a reply out of the daemon and marks it
 * taken).
 *   die: asks for the list and is killed with SIGKILL before it takes the
 *        reply.
 *   hold: asks for the list once, then waits, connected, to be killed.
 *   probe [N]: asks for the list N times (default 2000), one after the
 *        other, and prints how long that took; exit 1 if an answer did not
 *        come within 5 s.  (A daemon whose large sends no longer complete
 *        still sends the first few hundred: it stops at 256 replies in
 *        flight per connection and 1024 per endpoint.)
 *   lockdie: takes the queue lock of the daemon's shm region, as a sender
 *        does while it puts a message in, and is killed holding it.
 *   lockkill PID: takes that lock and, holding it, kills PID (the daemon)
 *        with SIGKILL, then itself: the daemon's death as if it had been
 *        reading its queue (its processes' senders spin on the lock).
 *   lockhold MS: takes that lock, holds it MS ms, alive, and lets it go;
 *        meanwhile it signals and rings the daemon, so that it comes to
 *        the lock.
 *   quit [N]: sends a request and closes its endpoint at once, so that its
 *        region is gone when the daemon reads the request; N times
 *        (default 1), each time with a new endpoint.
 *   lockfree: exit 0 if the queue lock of the daemon's shm region is free,
 *        3 if it is held (a test stops the daemon with SIGSTOP only where
 *        it does not hold it: senders would spin on it while it stays
 *        stopped).
 *   ownlockdie: takes its own region's queue lock, as a receiver does
 *        while it reads its queue, asks for the list, and is killed
 *        holding it (the daemon's reply must take that lock).
 * it_shm_deadpeer: with libfabric's shm provider, one such death used to
 * stop every later large send of the daemon (docs/architecture.md); and
 * either lock death stopped the daemon for good, and a quit crashed it
 * (fabric/shmlock.h, shmlock.c).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "fabric/bell.h"
#include "fabric/shmlock.h"
#include "rawpeer.h"

static void ignore(void *arg, int status, const void *body, size_t len)
{
	(void)arg, (void)status, (void)body, (void)len;
}

/* Take the queue lock of the shm region at path (NULL: our own) and die
 * of SIGKILL holding it, after sending req if iov is not NULL, and after
 * killing process victim if it is not 0; or, if hold_ms > 0, let it go
 * after hold_ms and return 0. */
static int take_lock(const char *path, struct rpc_peer *peer, struct iovec *iov, long hold_ms,
		     pid_t victim)
{
	struct lf_shm_region r[64];
	int n = lf_shm_regions(r, 64);
	if (n < 0) {
		fprintf(stderr, "shm regions: %s\n", strerror(-n));
		return 1;
	}
	for (int i = 0; i < n; i++) {
		if (path ? strcmp(r[i].path, path) != 0 : !r[i].own)
			continue;
		volatile int *lock = lf_shm_map_lock(&r[i]);
		if (!lock)
			break;
		pthread_spin_lock((pthread_spinlock_t *)(uintptr_t)lock);
		if (iov && rpc_call_async(peer, X2F_LIST, iov, 1, RAWPEER_TIMEOUT_NS, ignore, NULL) != 0)
			return 1;
		if (hold_ms > 0) {
			/* make the daemon come to its queue, and so to the lock,
			 * during the hold, as a sender does: the provider reads the
			 * queue only once a sender has raised the region's signal,
			 * and a daemon asleep on its bell waits for a ring.
			 * (Without this, whether it came to the lock was a race:
			 * twice in CI its clients, stuck behind the lock too,
			 * raised nothing for the whole hold.) */
			struct lf_bell bell;
			const char *slash = strrchr(r[i].path, '/');
			int rang = lf_bell_open(&bell, slash ? slash + 1 : r[i].path) == 0;
			for (long t = 0; t < hold_ms; t += 10) {
				lf_shm_raise_signal(lock);
				if (rang)
					lf_bell_ring(&bell);
				usleep(10000);
			}
			pthread_spin_unlock((pthread_spinlock_t *)(uintptr_t)lock);
			lf_shm_unmap(lock);
			if (rang)
				lf_bell_close(&bell);
			return 0;
		}
		if (victim > 0 && kill(victim, SIGKILL) != 0) {
			perror("kill");
			return 1;
		}
		usleep(200000); /* the daemon takes the lock to reply */
		kill(getpid(), SIGKILL);
	}
	fprintf(stderr, "no shm region %s mapped here\n", path ? path : "of our own");
	return 1;
}

int main(int argc, char **argv)
{
	int hold = argc >= 3 && strcmp(argv[2], "hold") == 0;
	int lockdie = argc >= 3 && strcmp(argv[2], "lockdie") == 0;
	int lockkill = argc >= 4 && strcmp(argv[2], "lockkill") == 0;
	int lockhold = argc >= 4 && strcmp(argv[2], "lockhold") == 0;
	int ownlockdie = argc >= 3 && strcmp(argv[2], "ownlockdie") == 0;
	if (argc >= 3 && strcmp(argv[2], "lockfree") == 0) {
		char name[64];
		const char *port = strrchr(argv[1], ':');
		lf_shm_name_for_port(port ? (unsigned)atoi(port + 1) : 0, name, sizeof name);
		int held = lf_shm_lock_held(name);
		if (held < 0)
			fprintf(stderr, "/dev/shm/%s: %s\n", name, strerror(-held));
		return held < 0 ? 1 : held ? 3 : 0;
	}
	if (argc >= 3 && strcmp(argv[2], "quit") == 0) {
		/* first contact, then gone: the endpoint (its region removed)
		 * closed before the daemon has read the request; N times, each
		 * with an endpoint of its own (a region of a new name) */
		long times = argc > 3 ? atol(argv[3]) : 1;
		const char *key = getenv("LEGO_CLUSTER_KEY");
		for (long i = 0; i < times; i++) {
			struct rpc_client *cl;
			if (rpc_client_new(key ? key : "", LEGO_ROLE_TOOL, &cl) < 0)
				return 1;
			struct rpc_links l = {.cl = cl, .rx_bufs = 4, .rx_size = LEGO_MSG_MAX,
					      .fab = LF_FAB_SHM};
			struct rpc_peer q;
			if (rpc_links_peer_hostport(&l, argv[1], &q, argv[1], NULL))
				return 1;
			struct lego_file_req qr = {.path_len = 0};
			struct iovec qv = {&qr, sizeof qr};
			if (rpc_call_async(&q, X2F_LIST, &qv, 1, RAWPEER_TIMEOUT_NS, ignore, NULL) != 0)
				return 1;
			rpc_links_close(&l); /* (cl: its call still pending; the
					      * process ends soon) */
		}
		return 0;
	}
	if (argc < 3 || (strcmp(argv[2], "die") && strcmp(argv[2], "probe") && !hold && !lockdie &&
			 !lockkill && !lockhold && !ownlockdie)) {
		fprintf(stderr, "usage: lego-test-deadpeer HOST:PORT "
			"die|hold|probe|lockdie|lockkill|lockhold|ownlockdie|quit|lockfree [N]\n");
		return 2;
	}
	struct rpc_links links;
	struct rpc_peer peer;
	if (rawpeer_connect(argv[1], LF_FAB_SHM, &links, &peer))
		return 1;
	uint64_t to = RAWPEER_TIMEOUT_NS;
	int r;
	struct lego_file_req req = {.path_len = 0}; /* "": the root */
	struct iovec liov = {&req, sizeof req};
	if (lockdie || lockkill || lockhold) {
		char name[64], path[96];
		const char *port = strrchr(argv[1], ':');
		lf_shm_name_for_port(port ? (unsigned)atoi(port + 1) : 0, name, sizeof name);
		snprintf(path, sizeof path, "/dev/shm/%s", name);
		r = take_lock(path, &peer, NULL, lockhold ? atol(argv[3]) : 0,
			      lockkill ? (pid_t)atol(argv[3]) : 0);
		rpc_links_close(&links); /* lockhold: alive, and done */
		return r;
	}
	if (ownlockdie)
		return take_lock(NULL, &peer, &liov, 0, 0);
	if (strcmp(argv[2], "die") == 0) {
		struct iovec iov = {&req, sizeof req};
		if (rpc_call_async(&peer, X2F_LIST, &iov, 1, to, ignore, NULL) != 0)
			return 1;
		kill(getpid(), SIGKILL);
	}
	static char rep[LEGO_LIST_MAX];
	size_t rl = 0;
	long n = hold ? 1 : argc > 3 ? atol(argv[3]) : 2000;
	uint64_t t0 = lg_now_ns();
	for (long i = 0; i < n; i++) {
		r = rpc_call(&peer, X2F_LIST, &req, sizeof req, rep, sizeof rep, &rl, to);
		if (r) {
			printf("list %ld of %ld: no answer: %s\n", i + 1, n, strerror(-r));
			return 1;
		}
	}
	printf("%ld lists of %zu bytes in %llu ms\n", n, rl,
	       (unsigned long long)((lg_now_ns() - t0) / 1000000));
	fflush(stdout);
	while (hold)
		pause();
	rpc_call(&peer, X2X_BYE, NULL, 0, NULL, 0, NULL, to);
	rpc_links_close(&links);
	return 0;
}
