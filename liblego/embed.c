/* Embedded monitor and memnode (see embed.h). */
#define _GNU_SOURCE
#include "embed.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

extern char **environ;

int lg_embed_bindir(const struct lg_opts *o, char *dir, size_t len)
{
	const char *want = lg_opt_s(o, LG_OPT_bindir);
	char cand[4][PATH_MAX + 16];
	int nc = 0;
	if (want[0])
		snprintf(cand[nc++], sizeof cand[0], "%s", want);
	Dl_info di;
	if (dladdr((void *)lg_embed_bindir, &di) && di.dli_fname) {
		/* linked into the program (lego-run, liblego.a), dladdr names
		 * the program as it was started, maybe a bare name from PATH */
		const char *obj = strchr(di.dli_fname, '/') ? di.dli_fname : "/proc/self/exe";
		char self[PATH_MAX];
		if (realpath(obj, self)) {
			char *slash = strrchr(self, '/');
			if (slash)
				*slash = 0;
			snprintf(cand[nc++], sizeof cand[0], "%s/../bin", self);
			snprintf(cand[nc++], sizeof cand[0], "%s", self);
		}
	}
	snprintf(cand[nc++], sizeof cand[0], "%s", LEGO_INSTALL_BINDIR);
	for (int i = 0; i < nc; i++) {
		char p[sizeof cand + 32];
		snprintf(p, sizeof p, "%s/lego-memnode", cand[i]);
		if (access(p, X_OK) == 0) {
			snprintf(dir, len, "%s", cand[i]);
			return 0;
		}
		if (want[0])
			break; /* an explicit bindir must be right */
	}
	lg_log(LG_ERROR, "embed", "cannot find lego-memnode (looked next to liblego and in %s%s%s); "
	       "set LEGO_BINDIR or LEGO_MONITOR", LEGO_INSTALL_BINDIR, want[0] ? " and " : "", want);
	return -ENOENT;
}

/* The environment without LD_PRELOAD: daemons must not run under Lego. */
static char **lg_daemon_env(void)
{
	size_t n = 0;
	for (char **e = environ; e && *e; e++)
		n++;
	char **env = calloc(n + 1, sizeof *env);
	if (!env)
		return NULL;
	size_t k = 0;
	for (char **e = environ; e && *e; e++)
		if (strncmp(*e, "LD_PRELOAD=", 11) != 0 && strncmp(*e, "LEGO_MONITOR=", 13) != 0)
			env[k++] = *e;
	return env;
}

static int lg_spawn(const char *path, char *const argv[], char **env, int lifeline_r,
		    int addr_w, int linger, int mon_r, int hold, pid_t *pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, lifeline_r, 3);
	posix_spawn_file_actions_adddup2(&fa, addr_w, 4);
	if (linger >= 0)
		posix_spawn_file_actions_adddup2(&fa, linger, 5);
	if (mon_r >= 0)
		posix_spawn_file_actions_adddup2(&fa, mon_r, 6);
	if (hold >= 0) /* (kept open, unused, until the daemon exits) */
		posix_spawn_file_actions_adddup2(&fa, hold, 7);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	/* nothing on the program's output (they log to its stderr): a shell
	 * reading `$(cmd)` reads to the end, and daemons that outlive cmd a
	 * moment (or longer, for its children) would hold that end back */
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	/* A process group of its own: the terminal's ^C, ^\ and ^Z are for
	 * the program, which may catch ^C and go on using its memory (save
	 * its work); a memnode killed by the same ^C took that memory with
	 * it.  The daemon ends when the embedding process does (lifeline). */
	posix_spawnattr_t at;
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&at, 0);
	int r = posix_spawn(pid, path, &fa, &at, argv, env);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	return -r;
}

/* The embedded storenode's directory: LEGO_STORE_ROOT, or
 * ~/.local/share/lego/store, created if missing.  0 or -errno (logged). */
static int lg_embed_store_root(const struct lg_opts *o, char *root, size_t len)
{
	const char *want = lg_opt_s(o, LG_OPT_store_root);
	const char *home = getenv("HOME");
	if (want[0])
		snprintf(root, len, "%s", want);
	else if (home && home[0] == '/')
		snprintf(root, len, "%s/.local/share/lego/store", home);
	else
		snprintf(root, len, "/var/lib/lego/store");
	/* mkdir -p */
	for (char *p = root + 1;; p++) {
		if (*p == '/' || *p == 0) {
			char c = *p;
			*p = 0;
			int r = mkdir(root, 0700);
			*p = c;
			if (r < 0 && errno != EEXIST) {
				lg_log(LG_WARN, "embed", "cannot create the file store %s: %s; "
				       "files under %s are unavailable (set LEGO_STORE_ROOT)", root,
				       strerror(errno), lg_opt_s(o, LG_OPT_store_prefix));
				return -errno;
			}
			if (!c)
				break;
		}
	}
	return 0;
}

/* Spawn one daemon; *rd gets the read end of the pipe it writes its
 * address to (lg_wait_one reads it).  linger (>= 0): an end of the
 * monitor's pipe, its descriptor 5 (see lg_embed_spawn).  mon_w (not
 * NULL): the daemon learns the monitor's address later, from its
 * descriptor 6 (--monitor-fd), whose other end *mon_w gets.  hold (>= 0):
 * a pipe's write end the daemon holds as its descriptor 7 while it runs.
 * 0 or -errno (logged). */
static int lg_spawn_one(const char *bindir, const char *name, char *const extra[], char **env,
			int lifeline_r, int linger, int hold, int *mon_w, pid_t *pid, int *rd)
{
	int ap[2], mp[2] = {-1, -1};
	if (pipe2(ap, O_CLOEXEC) < 0)
		return -errno;
	/* a socket, not a pipe: a daemon that died before we write gives
	 * EPIPE with MSG_NOSIGNAL, not a SIGPIPE in the program */
	if (mon_w && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, mp) < 0) {
		int err = errno;
		close(ap[0]);
		close(ap[1]);
		return -err;
	}
	char path[PATH_MAX + 32];
	snprintf(path, sizeof path, "%s/%s", bindir, name);
	char *argv[16];
	int k = 0;
	argv[k++] = (char *)name;
	argv[k++] = "--listen=127.0.0.1:0";
	argv[k++] = "--parent-fd=3";
	argv[k++] = "--addr-file=/dev/fd/4";
	if (mon_w)
		argv[k++] = "--monitor-fd=6";
	for (int i = 0; extra[i] && k < 15; i++)
		argv[k++] = extra[i];
	argv[k] = NULL;
	int r = lg_spawn(path, argv, env, lifeline_r, ap[1], linger, mp[0], hold, pid);
	close(ap[1]);
	if (mp[0] >= 0)
		close(mp[0]);
	if (r) {
		lg_log(LG_ERROR, "embed", "cannot start %s: %s", path, strerror(-r));
		close(ap[0]);
		if (mp[1] >= 0)
			close(mp[1]);
		return r;
	}
	*rd = ap[0];
	if (mon_w)
		*mon_w = mp[1];
	return 0;
}

/* Wait for a spawned daemon's address (it is ready then). */
static int lg_wait_one(const char *name, int rd, char *addr, size_t addrlen)
{
	int r = lg_read_line(rd, addr, addrlen, 15000, NULL);
	if (r)
		lg_log(LG_ERROR, "embed", "%s did not start (%s)", name,
		       r == -EPIPE ? "it exited" : strerror(-r));
	close(rd);
	return r;
}

static void lg_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* All three daemons start at once (each spends a few hundred ms loading
 * libfabric's providers and their libraries, see docs/lego-run.md): the
 * memnode and the storenode are given the monitor's address once it
 * listens (lg_embed_wait), on a socket they read just before they
 * register. */
int lg_embed_spawn(struct lg_embed *e, const struct lg_opts *o, int inherit)
{
	memset(e, 0, sizeof *e);
	e->parent_w = e->mon_rd = e->mem_rd = e->sto_rd = e->mem_mon_w = e->sto_mon_w = -1;
	char bindir[PATH_MAX];
	int r = lg_embed_bindir(o, bindir, sizeof bindir);
	if (r)
		return r;
	/* Two pipes.  lp, the lifeline: we hold its write end (and, with
	 * inherit, the programs we execute), the daemons its read end; when
	 * every holder is gone the daemons see its end of file.  Processes
	 * may still run then (a lego-run killed with SIGKILL leaves its
	 * command running), so only the monitor, which knows them, decides
	 * when to go; mp's write end is the monitor's alone (its descriptor
	 * 5), so the memnode, reading mp, ends with it.  The storenode reads
	 * sp, whose write end the memnode holds (its descriptor 7): it ends
	 * after the memnode, which writes the file data it still holds back
	 * through it as it exits (they used to end together, and what a
	 * process had written but not closed was lost). */
	int lp[2], mp[2], sp[2];
	if (pipe2(lp, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(mp, O_CLOEXEC) < 0) {
		int err = errno;
		close(lp[0]);
		close(lp[1]);
		return -err;
	}
	int err = pipe2(sp, O_CLOEXEC) < 0 ? errno : 0;
	char **env = err ? NULL : lg_daemon_env();
	if (!env) {
		if (!err) {
			err = ENOMEM;
			close(sp[0]);
			close(sp[1]);
		}
		close(lp[0]);
		close(lp[1]);
		close(mp[0]);
		close(mp[1]);
		return -err;
	}
	char fabric[32], caparg[64], fabarg[64];
	lg_opt_enum_name(o, LG_OPT_fabric, fabric, sizeof fabric);
	snprintf(fabarg, sizeof fabarg, "--fabric=%s", strcmp(fabric, "tcp") == 0 ? "tcp" : "auto");
	char *mon_extra[] = {fabarg, NULL};
	r = lg_spawn_one(bindir, "lego-monitor", mon_extra, env, lp[0], mp[1], -1, NULL, &e->mon_pid,
			 &e->mon_rd);
	close(mp[1]);
	if (r == 0) {
		uint64_t cap = lg_opt_u(o, LG_OPT_embedded_capacity);
		if (!cap) {
			struct sysinfo si;
			sysinfo(&si);
			cap = ((uint64_t)si.totalram + si.totalswap) * si.mem_unit;
		}
		snprintf(caparg, sizeof caparg, "--capacity=%llu", (unsigned long long)cap);
		char *mem_extra[] = {caparg, fabarg, "--linger-fd=5", NULL};
		r = lg_spawn_one(bindir, "lego-memnode", mem_extra, env, lp[0], mp[0], sp[1],
				 &e->mem_mon_w, &e->mem_pid, &e->mem_rd);
		/* Files are optional: without a store directory, Lego files fail
		 * with EIO and the rest works. */
		char root[PATH_MAX], rootarg[PATH_MAX + 16];
		if (r == 0 && lg_opt_s(o, LG_OPT_store_prefix)[0] &&
		    lg_embed_store_root(o, root, sizeof root) == 0) {
			snprintf(rootarg, sizeof rootarg, "--root=%s", root);
			char *sto_extra[] = {rootarg, fabarg, "--linger-fd=5", NULL};
			if (lg_spawn_one(bindir, "lego-storenode", sto_extra, env, lp[0], sp[0], -1,
					 &e->sto_mon_w, &e->sto_pid, &e->sto_rd) < 0)
				e->sto_pid = 0;
		}
	}
	free(env);
	close(lp[0]);
	close(mp[0]);
	close(sp[0]);
	close(sp[1]);
	e->parent_w = lp[1];
	if (inherit)
		fcntl(lp[1], F_SETFD, 0);
	if (r)
		lg_embed_stop(e);
	return r;
}

void lg_embed_tell(const struct lg_embed *e, int *fd)
{
	if (*fd < 0)
		return;
	char line[sizeof e->addr + 2];
	int n = snprintf(line, sizeof line, "%s\n", e->addr);
	/* it may have died already: its wait, or waitpid, says so */
	if (send(*fd, line, (size_t)n, MSG_NOSIGNAL) != n)
		lg_log(LG_DEBUG, "embed", "cannot pass the monitor's address: %s", strerror(errno));
	lg_close_fd(fd);
}

int lg_embed_wait(struct lg_embed *e)
{
	char addr[128];
	int r = lg_wait_one("lego-monitor", e->mon_rd, e->addr, sizeof e->addr);
	e->mon_rd = -1;
	if (r == 0) {
		lg_embed_tell(e, &e->mem_mon_w);
		lg_embed_tell(e, &e->sto_mon_w);
		r = lg_wait_one("lego-memnode", e->mem_rd, addr, sizeof addr);
		e->mem_rd = -1;
	}
	if (r == 0 && e->sto_rd >= 0 &&
	    lg_wait_one("lego-storenode", e->sto_rd, addr, sizeof addr) < 0)
		e->sto_pid = 0; /* it exits with the lifeline, or has */
	e->sto_rd = -1;
	if (r) {
		lg_embed_stop(e);
		return r;
	}
	lg_log(LG_INFO, "embed", "embedded monitor %s (pid %d), memnode pid %d, storenode pid %d",
	       e->addr, (int)e->mon_pid, (int)e->mem_pid, (int)e->sto_pid);
	return 0;
}

int lg_embed_start(struct lg_embed *e, const struct lg_opts *o, int inherit)
{
	int r = lg_embed_spawn(e, o, inherit);
	return r ? r : lg_embed_wait(e);
}

/* Reap a daemon that exits within a second; one still serving processes
 * forked from us is left running (it exits when they are gone). */
static void lg_reap(pid_t pid)
{
	for (int i = 0; pid > 0 && i < 100; i++) {
		pid_t w = waitpid(pid, NULL, WNOHANG);
		if (w == pid || (w < 0 && errno == ECHILD))
			return;
		usleep(10000);
	}
}

void lg_embed_stop(struct lg_embed *e)
{
	/* a daemon still waiting for the monitor's address ends at the
	 * socket's end of file */
	lg_close_fd(&e->mem_mon_w);
	lg_close_fd(&e->sto_mon_w);
	lg_close_fd(&e->mon_rd);
	lg_close_fd(&e->mem_rd);
	lg_close_fd(&e->sto_rd);
	lg_close_fd(&e->parent_w);
	lg_reap(e->mem_pid);
	lg_reap(e->sto_pid);
	lg_reap(e->mon_pid);
	e->mon_pid = e->mem_pid = e->sto_pid = 0;
}
