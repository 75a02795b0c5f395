/*
 * lego-run: run an unmodified program with its memory on memnodes.
 *
 *   lego-run [--excache SIZE] [--line SIZE] [--ways N] [--evict fifo|lru]
 *            [--monitor HOST:PORT] [--fabric PROV] [--stats[=FILE]]
 *            [--OPTION VALUE ...] [--] CMD [ARGS...]
 *
 * --OPTION is any option a Lego process reads (docs/options.md), by its
 * name: --prefetch off sets LEGO_PREFETCH=off.
 *
 * Sets the LEGO_* environment and LD_PRELOAD=liblego.so, and runs CMD.
 * With no monitor given (here or in LEGO_MONITOR) it starts a private
 * monitor and memnode first, shares them with everything CMD starts, and
 * stops them after CMD exits.  The configuration is checked, and the
 * monitor reached, before CMD's main runs: a problem is one message and
 * exit status 2 (usage, configuration) or 1 (cluster).  Otherwise lego-run
 * exits with CMD's status, and dies of CMD's signal if CMD was killed.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/options.h"
#include "common/util.h"
#include "liblego/elfdyn.h"
#include "liblego/embed.h"
#include "liblego/fault.h"

static void usage(FILE *f)
{
	fprintf(f,
		"usage: lego-run [--excache SIZE] [--line SIZE] [--ways N] [--evict fifo|lru]\n"
		"                [--monitor HOST:PORT] [--fabric auto|tcp|shm|verbs]\n"
		"                [--stats[=FILE]] [--OPTION VALUE ...] [--] CMD [ARGS...]\n"
		"Runs CMD with its heap and anonymous memory on Lego memnodes, keeping at most\n"
		"SIZE of it locally (the ExCache).  Without a monitor (--monitor or\n"
		"LEGO_MONITOR) it starts a private monitor and memnode for CMD.  --OPTION is\n"
		"any option a Lego process reads, by its name (--prefetch off, --excache-line 2M);\n"
		"every LEGO_* variable applies as well; see docs/options.md.\n");
}

/* lego-run's own short names, and the variable each one sets; every other
 * option of a Lego process goes by its own name (process_option). */
static const struct {
	const char *flag, *var;
	int has_value;
} flags[] = {
	{"excache", "LEGO_EXCACHE_SIZE", 1}, {"line", "LEGO_EXCACHE_LINE", 1},
	{"ways", "LEGO_EXCACHE_WAYS", 1},    {"evict", "LEGO_EVICT", 1},
	{"monitor", "LEGO_MONITOR", 1},      {"fabric", "LEGO_FABRIC", 1},
	{"stats", "LEGO_STATS", 0},
};

extern char **environ;

/* The option --name (nl characters) if a Lego process reads it, else -1.
 * LEGO_STATS_PID and LEGO_MONITOR_FD are lego-run's to set for CMD. */
static int process_option(const char *name, size_t nl)
{
	int id = lg_opts_find(name, nl);
	if (id < 0 || !strchr(lg_opt_table[id].scope, 'C') || id == LG_OPT_stats_pid ||
	    id == LG_OPT_monitor_fd)
		return -1;
	return id;
}


static pid_t child_pid;

static void forward(int sig)
{
	if (child_pid > 0)
		kill(child_pid, sig);
}

/* Is an entry of the colon-separated list (or, one 0, list itself) in
 * the store under prefix? */
static int in_list(const char *list, const char *prefix, int one)
{
	size_t pl = strlen(prefix);
	while (pl > 1 && prefix[pl - 1] == '/')
		pl--;
	if (prefix[0] != '/' || pl < 2)
		return 0;
	for (const char *p = list; p; p = one ? NULL : strchr(p, ':')) {
		p += *p == ':';
		if (strncmp(p, prefix, pl) == 0 && (p[pl] == '/' || p[pl] == ':' || !p[pl]))
			return 1;
	}
	return 0;
}

/* Could CMD be a program in the store under prefix: named by a path
 * there, or with a PATH entry there? */
static int in_store(const char *cmd, const char *prefix)
{
	return strchr(cmd, '/') ? in_list(cmd, prefix, 1) : in_list(getenv("PATH"), prefix, 0);
}

/* Does the local program path look for libraries in the store (an entry of
 * LD_LIBRARY_PATH, or of its DT_RUNPATH or DT_RPATH, there)?  The loader
 * cannot open them: a preloaded shell runs it, whose exec gives the loader
 * local copies (docs/storage.md, "Running programs from the store"). */
static int store_libs(const char *path, const char *prefix)
{
	if (in_list(getenv("LD_LIBRARY_PATH"), prefix, 0))
		return 1;
	int fd = path[0] ? open(path, O_RDONLY | O_CLOEXEC) : -1;
	char run[PATH_MAX];
	int yes = fd >= 0 && lg_elf_dynamic(fd, run, sizeof run, NULL, NULL) == 0 &&
		  in_list(run, prefix, 0);
	if (fd >= 0)
		close(fd);
	return yes;
}

/* CMD's file as execvp will find it: out gets the path, or "" if none. */
static void find_program(const char *cmd, char *out, size_t len)
{
	out[0] = 0;
	if (strchr(cmd, '/')) {
		snprintf(out, len, "%s", cmd);
		return;
	}
	const char *path = getenv("PATH");
	if (!path)
		path = "/usr/local/bin:/usr/bin:/bin";
	for (const char *p = path;; p++) {
		const char *e = strchrnul(p, ':');
		char cand[PATH_MAX];
		struct stat st;
		/* (an empty entry is the current directory, as for execvp) */
		if (snprintf(cand, sizeof cand, "%.*s%s%s", (int)(e - p), p, e > p ? "/" : "", cmd) <
			    (int)sizeof cand &&
		    stat(cand, &st) == 0 && S_ISREG(st.st_mode) && access(cand, X_OK) == 0) {
			snprintf(out, len, "%s", cand);
			return;
		}
		if (!*e)
			return;
		p = e;
	}
}

#if defined(__x86_64__)
#define LG_EM_SELF EM_X86_64
#elif defined(__aarch64__)
#define LG_EM_SELF EM_AARCH64
#else
#define LG_EM_SELF EM_NONE /* (no architecture check) */
#endif

/* Why LD_PRELOAD will not reach the program in file `path` (NULL: it
 * will, or we cannot tell).  The dynamic loader preloads liblego.so, so a
 * program it does not run (linked statically: Go's default, busybox) or
 * that it cannot load our library into (another architecture, 32-bit)
 * keeps all its memory
 * local; and in a set-user-ID or set-group-ID program run by another user
 * the loader ignores LD_PRELOAD (secure execution, ld.so(8)).  A script
 * is judged by its interpreter.  Its children are Lego processes as usual:
 * they inherit the environment. */
static const char *preload_blocked(const char *path, int depth)
{
	static char said[PATH_MAX + 160];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	struct stat st;
	unsigned char buf[4096];
	ssize_t n = fstat(fd, &st) == 0 ? pread(fd, buf, sizeof buf - 1, 0) : -1;
	const char *why = NULL;
	if (n >= 2 && buf[0] == '#' && buf[1] == '!' && depth == 0) {
		/* "#!INTERP [ARG]" */
		buf[n] = 0;
		char *p = (char *)buf + 2;
		p += strspn(p, " \t");
		p[strcspn(p, " \t\n")] = 0;
		close(fd);
		char interp[PATH_MAX];
		snprintf(interp, sizeof interp, "%s", p);
		why = *p == '/' ? preload_blocked(interp, 1) : NULL;
		if (!why)
			return NULL;
		/* (depth 1 returns only constant strings, never said) */
		snprintf(said, sizeof said, "runs under %s, which %s", interp, why);
		return said;
	}
	if (n >= (ssize_t)sizeof(Elf64_Ehdr) && memcmp(buf, ELFMAG, SELFMAG) == 0) {
		const Elf64_Ehdr *eh = (const Elf64_Ehdr *)buf;
		if (LG_EM_SELF != EM_NONE &&
		    (eh->e_ident[EI_CLASS] != ELFCLASS64 || eh->e_machine != LG_EM_SELF)) {
			why = "is built for another architecture or word size than liblego.so";
		} else {
			int interp = 0, ok = 0;
			for (unsigned i = 0; i < eh->e_phnum && eh->e_phentsize == sizeof(Elf64_Phdr); i++) {
				Elf64_Phdr ph;
				if (pread(fd, &ph, sizeof ph, (off_t)(eh->e_phoff + i * sizeof ph)) !=
				    (ssize_t)sizeof ph)
					break;
				interp |= ph.p_type == PT_INTERP;
				ok = i + 1 == eh->e_phnum;
			}
			if (ok && !interp)
				why = "is linked statically (no dynamic loader runs for it)";
		}
	}
	if (!why && ((st.st_mode & S_ISUID && st.st_uid != getuid()) ||
		     (st.st_mode & S_ISGID && st.st_gid != getgid())))
		why = "is set-user-ID or set-group-ID (the dynamic loader ignores LD_PRELOAD)";
	close(fd);
	return why;
}

/* liblego.so next to our binary (build tree or install), else where it
 * was installed. */
static int find_liblego(char *out, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n > 0) {
		self[n] = 0;
		char *slash = strrchr(self, '/');
		if (slash) {
			*slash = 0;
			const char *rel[] = {"../lib/liblego.so", "../lib64/liblego.so",
					     "../lib/x86_64-linux-gnu/liblego.so"};
			for (size_t i = 0; i < LG_ARRAY_SIZE(rel); i++) {
				char cand[PATH_MAX + 64], real[PATH_MAX];
				snprintf(cand, sizeof cand, "%s/%s", self, rel[i]);
				if (realpath(cand, real) && access(real, R_OK) == 0 &&
				    strlen(real) < len) {
					strcpy(out, real);
					return 0;
				}
			}
		}
	}
	snprintf(out, len, "%s/liblego.so", LEGO_INSTALL_LIBDIR);
	return access(out, R_OK) == 0 ? 0 : -ENOENT;
}

/* Does the cluster's monitor (LEGO_MONITOR, set from --monitor, with
 * LEGO_FABRIC and the cluster key) answer?  legoctl asks it: it connects
 * as every Lego process will, then says bye.  lego-run links no libfabric
 * itself: loading it takes ~0.25 s before main on the machines here
 * (libinfinipath calibrates a clock), and all of that was on the way to
 * every command's start. */
static int check_monitor(const struct lg_opts *o)
{
	char dir[PATH_MAX], path[PATH_MAX + 16];
	if (lg_embed_bindir(o, dir, sizeof dir) < 0)
		return -ENOENT;
	snprintf(path, sizeof path, "%s/legoctl", dir);
	char *const args[] = {"legoctl", "status", NULL};
	posix_spawn_file_actions_t fa;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0); /* its errors stay */
	pid_t pid;
	int r = posix_spawn(&pid, path, &fa, NULL, args, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (r) {
		fprintf(stderr, "lego-run: cannot run %s: %s\n", path, strerror(r));
		return -r;
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -EHOSTUNREACH;
}

/*
 * --stats (text on standard error): CMD writes its counters to a file,
 * which lego-run prints in CMD's text form once CMD has ended.  So a CMD
 * that ends without running destructors (a Go program's runtime makes its
 * own exit_group; _exit; a signal), which could not print them itself,
 * gets those of its last second (api.c, lg_stats_snapshot), said so.
 */
static void stats_print(const char *path, const char *cmd, const char *blocked)
{
	static char buf[1 << 16];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		/* (CMD never started its runtime: it said so, or lego-run did) */
		if (blocked)
			fprintf(stderr, "(%s ran without Lego: no counters)\n", cmd);
		return;
	}
	/* (read as it stands: a snapshot is renamed over it whole) */
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	unlink(path); /* (first: printing may end this process, SIGPIPE) */
	if (n <= 0)
		return;
	buf[n] = 0;
	int at_exit = -1;
	for (char *p = buf; (p = strchr(p, '"')) != NULL;) {
		char *k = p + 1, *ke = strchr(k, '"');
		if (!ke || ke[1] != ':')
			break;
		*ke = 0;
		char *v = ke + 2;
		unsigned long long c, p50, p99, p999, max, mean;
		if (*v == '{') {
			if (sscanf(v, "{\"count\":%llu,\"p50_ns\":%llu,\"p99_ns\":%llu,\"p999_ns\":%llu,"
				   "\"max_ns\":%llu,\"mean_ns\":%llu}", &c, &p50, &p99, &p999, &max, &mean) == 6)
				fprintf(stderr, "%-28s n=%llu p50=%.1fus p99=%.1fus p99.9=%.1fus max=%.1fus "
					"mean=%.1fus\n", k, c, p50 / 1e3, p99 / 1e3, p999 / 1e3, max / 1e3,
					mean / 1e3);
			p = strchr(v, '}');
			if (!p)
				break;
			continue;
		}
		c = strtoull(v, &p, 10);
		if (strcmp(k, "stats.at_exit") == 0)
			at_exit = (int)c;
		else
			fprintf(stderr, "%-28s %llu\n", k, c);
	}
	if (at_exit == 0)
		fprintf(stderr, "(%s ended without running its destructors: its counters as of its last "
			"second)\n", cmd);
}

int main(int argc, char **argv)
{
	lg_set_prog("lego-run");
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0) {
			i++;
			break;
		}
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strncmp(a, "--", 2) != 0)
			break;
		const char *eq = strchr(a, '=');
		size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
		size_t k = 0;
		while (k < LG_ARRAY_SIZE(flags) &&
		       !(strlen(flags[k].flag) == nl && strncmp(flags[k].flag, a + 2, nl) == 0))
			k++;
		int id = k < LG_ARRAY_SIZE(flags) ? -1 : process_option(a + 2, nl);
		if (k == LG_ARRAY_SIZE(flags) && id < 0) {
			fprintf(stderr, "lego-run: unknown option %s\n", a);
			usage(stderr);
			return 2;
		}
		const char *val;
		if (eq)
			val = eq + 1;
		else if (k < LG_ARRAY_SIZE(flags) && !flags[k].has_value)
			val = "1";
		else if (i + 1 < argc && strcmp(argv[i + 1], "--") != 0)
			val = argv[++i];
		else {
			fprintf(stderr, "lego-run: %s needs a value\n", a);
			usage(stderr);
			return 2;
		}
		char var[80]; /* (checked with the rest of the configuration below) */
		setenv(k < LG_ARRAY_SIZE(flags) ? flags[k].var
						: lg_opts_env_name(lg_opt_table[id].name, var, sizeof var),
		       val, 1);
	}
	if (i >= argc) {
		fprintf(stderr, "lego-run: no command given\n");
		usage(stderr);
		return 2;
	}
	/* Check the configuration CMD will see, now, with one clear message. */
	struct lg_opts o;
	char err[320];
	if (lg_opts_load(&o, 'C', err, sizeof err) < 0) {
		fprintf(stderr, "lego-run: %s\n", err);
		return 2;
	}
	if (lg_opts_check_excache(&o, err, sizeof err) < 0) {
		/* (the runtime would run CMD with Lego off) */
		fprintf(stderr, "lego-run: %s; %s not started\n", err, argv[i]);
		return 2;
	}
	lg_set_level((int)lg_opt_u(&o, LG_OPT_log_level));
	char lib[PATH_MAX];
	if (find_liblego(lib, sizeof lib) < 0) {
		fprintf(stderr, "lego-run: cannot find liblego.so (looked next to lego-run and in %s)\n",
			LEGO_INSTALL_LIBDIR);
		return 1;
	}
	/* A program the loader will not preload liblego.so into runs all the
	 * same (its children may be reached), with one warning. */
	char prog[PATH_MAX];
	find_program(argv[i], prog, sizeof prog);
	const char *blocked = prog[0] ? preload_blocked(prog, 0) : NULL;
	if (blocked)
		fprintf(stderr, "lego-run: warning: %s %s: Lego cannot reach it, and its own memory "
			"stays local (docs/lego-run.md, \"Programs Lego cannot reach\")\n", prog,
			blocked);
	/* userfaultfd, which every Lego process needs (a user other than
	 * root may not have it): say so now, before starting anything */
	int ufd = lg_uffd_open();
	if (ufd < 0) {
		fprintf(stderr, "lego-run: Lego cannot run here without userfaultfd (see "
			"docs/limits.md, \"Users other than root\"); %s not started\n", argv[i]);
		return 1;
	}
	close(ufd);
	/* The cluster: given, or our own for CMD and everything it starts,
	 * serving before CMD starts.  CMD's runtime starts when CMD first
	 * needs remote memory (LEGO_LOCAL_START), its children's likewise,
	 * each with the address in LEGO_MONITOR; a short CMD never loads
	 * libfabric at all (docs/lego-run.md). */
	struct lg_embed emb = {.parent_w = -1};
	if (!lg_opt_s(&o, LG_OPT_monitor)[0]) {
		if (lg_embed_spawn(&emb, &o, 0) < 0 || lg_embed_wait(&emb) < 0) {
			lg_embed_stop(&emb);
			fprintf(stderr, "lego-run: cannot start the embedded monitor and memnode; %s "
				"not run\n", argv[i]);
			return 1;
		}
		setenv("LEGO_MONITOR", emb.addr, 1);
	} else if (check_monitor(&o) != 0) {
		fprintf(stderr, "lego-run: monitor %s cannot be reached; %s not started\n",
			lg_opt_s(&o, LG_OPT_monitor), argv[i]);
		return 1;
	}
	const char *pre = getenv("LD_PRELOAD");
	char preload[PATH_MAX * 2];
	snprintf(preload, sizeof preload, "%s%s%s", lib, pre && *pre ? ":" : "", pre ? pre : "");
	setenv("LD_PRELOAD", preload, 1);
	char stats_tmp[PATH_MAX] = "";
	const char *stv = getenv("LEGO_STATS");
	if (stv && strcmp(stv, "1") == 0) {
		const char *td = getenv("TMPDIR");
		snprintf(stats_tmp, sizeof stats_tmp, "%s/lego-run-stats.%d.json", td && *td ? td : "/tmp",
			 (int)getpid());
		setenv("LEGO_STATS", stats_tmp, 1);
	}
	fflush(NULL);
	child_pid = fork();
	if (child_pid < 0) {
		fprintf(stderr, "lego-run: fork: %s\n", strerror(errno));
		lg_embed_stop(&emb);
		return 1;
	}
	if (child_pid == 0) {
		char pid[32];
		snprintf(pid, sizeof pid, "%d", (int)getpid());
		setenv("LEGO_STATS_PID", pid, 1); /* counters from CMD itself */
		const char *prefix = lg_opt_s(&o, LG_OPT_store_prefix);
		int e = ENOENT; /* (prog: CMD's file, found above) */
		if (!store_libs(prog, prefix)) {
			execvp(argv[i], &argv[i]);
			e = errno;
		}
		if (store_libs(prog, prefix) || in_store(argv[i], prefix)) {
			/* A program in the store (or found on PATH there): the
			 * kernel cannot open it, so a preloaded shell runs it
			 * (docs/storage.md, "Running programs from the store"). */
			char *sh[argc - i + 4];
			int k = 0;
			sh[k++] = "sh";
			sh[k++] = "-c";
			sh[k++] = "exec \"$0\" \"$@\"";
			for (int j = i; j < argc; j++)
				sh[k++] = argv[j];
			sh[k] = NULL;
			execv("/bin/sh", sh);
		}
		fprintf(stderr, "lego-run: %s: %s\n", argv[i], strerror(e));
		_exit(127);
	}
	struct sigaction sa = {0};
	sa.sa_handler = forward;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGINT, SIG_IGN); /* the terminal sends it to CMD as well */
	int st = 0;
	while (waitpid(child_pid, &st, 0) < 0 && errno == EINTR)
		;
	if (stats_tmp[0])
		stats_print(stats_tmp, argv[i], blocked);
	lg_embed_stop(&emb);
	if (WIFSIGNALED(st)) {
		/* die of the same signal, so that a shell reports it as it would
		 * for CMD itself ("Segmentation fault") and a parent's waitpid
		 * sees the same status; no core file of our own */
		int sig = WTERMSIG(st);
		struct rlimit none = {0, 0};
		setrlimit(RLIMIT_CORE, &none);
		signal(sig, SIG_DFL);
		sigset_t one;
		sigemptyset(&one);
		sigaddset(&one, sig);
		sigprocmask(SIG_UNBLOCK, &one, NULL);
		raise(sig);
		return 128 + sig; /* a signal whose default is not to end */
	}
	return WEXITSTATUS(st);
}
