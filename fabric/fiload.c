/* libfabric, loaded when first needed (see fiload.h). */
#define _GNU_SOURCE
#include "fiload.h"

#include <dlfcn.h>
#include <errno.h>
#include <glob.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <rdma/fi_errno.h>

#include "common/dlib.h"
#include "common/log.h"
#include "common/util.h"

/* From CMakeLists.txt (lego_dlib): the soname and each entry point's
 * version. */
#ifndef LF_SONAME
#error "LF_SONAME and LF_V_* come from CMakeLists.txt"
#endif

static struct {
	int (*getinfo)(uint32_t, const char *, const char *, uint64_t, const struct fi_info *,
		       struct fi_info **);
	void (*freeinfo)(struct fi_info *);
	struct fi_info *(*dupinfo)(const struct fi_info *);
	int (*fabric)(struct fi_fabric_attr *, struct fid_fabric **, void *);
	const char *(*strerror)(int);
	uint32_t (*version)(void);
} fi;
static int lf_loaded; /* 0, or -errno: why not */
static pthread_once_t lf_once = PTHREAD_ONCE_INIT;

void lf_sigs_save(struct lf_sigs *s)
{
	for (int sig = 1; sig < 32; sig++)
		if (lg_syscall(SYS_rt_sigaction, sig, NULL, &s->sa[sig], 8))
			s->sa[sig].handler = (void *)-1L;
}

void lf_sigs_restore(const struct lf_sigs *s)
{
	for (int sig = 1; sig < 32; sig++) {
		struct lf_ksigaction now;
		if (s->sa[sig].handler == (void *)-1L ||
		    lg_syscall(SYS_rt_sigaction, sig, NULL, &now, 8) ||
		    memcmp(&now, &s->sa[sig], sizeof now) == 0)
			continue;
		lg_syscall(SYS_rt_sigaction, sig, &s->sa[sig], NULL, 8);
	}
}

static struct lg_dlib lf_lib = LG_DLIB(LF_SONAME);

/* Whether any of the glob patterns in pats (a NULL-ended list) matches. */
static int any_path(const char *const *pats)
{
	for (; *pats; pats++) {
		glob_t g;
		int r = glob(*pats, GLOB_NOSORT, NULL, &g);
		globfree(&g);
		if (r == 0)
			return 1;
	}
	return 0;
}

/* The directory of the PSM stand-ins (fabric/psmstandin.cmake): lego/
 * beside the library this code is in (liblego.so), beside ../lib of the
 * program (the build tree's daemons and tools), or in the install's
 * libdir.  0 and dir filled, or -ENOENT. */
static int standin_dir(char *dir, size_t len, const char *first)
{
	char self[PATH_MAX] = "", exe[PATH_MAX];
	Dl_info di;
	if (dladdr((void *)standin_dir, &di) && di.dli_fname && di.dli_fname[0] == '/')
		snprintf(self, sizeof self, "%s", di.dli_fname);
	ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	exe[n > 0 ? n : 0] = '\0';
	const char *fmt[] = {"%s/lego", "%s/../lib/lego", "%s/lego"};
	const char *base[] = {self[0] ? dirname(self) : NULL, exe[0] ? dirname(exe) : NULL,
			      LEGO_INSTALL_LIBDIR};
	for (int i = 0; i < 3; i++) {
		char p[PATH_MAX + 64];
		if (!base[i])
			continue;
		snprintf(dir, len, fmt[i], base[i]);
		snprintf(p, sizeof p, "%s/%s", dir, first);
		if (access(p, R_OK) == 0)
			return 0;
	}
	return -ENOENT;
}

/* On a host without Omni-Path or TrueScale devices, load the stand-ins
 * for the PSM libraries before libfabric, which then binds to them (the
 * dynamic loader takes an object already loaded under a soname for that
 * soname): their constructors' clock calibration, 0.1 s each of usleep,
 * is most of what a runtime's start costs, and libfabric's psm and psm2
 * providers find no device there either way.  Kept only if libfabric
 * then loads with them; else the real ones load as before. */
static void load_standins(void)
{
	static const char *const devs[] = {"/dev/hfi1_*", "/dev/ipath*", NULL};
	void *h[4] = {NULL};
	char list[] = LF_STANDINS, dir[PATH_MAX], *save = NULL;
	int n = 0;
	if (!list[0] || any_path(devs))
		return;
	char first[64];
	snprintf(first, sizeof first, "%.*s", (int)strcspn(list, ":"), list);
	if (standin_dir(dir, sizeof dir, first)) {
		lg_log(LG_DEBUG, "fabric", "no PSM stand-ins found: libfabric loads the real "
		       "libraries (0.1 s each)");
		return;
	}
	for (char *so = strtok_r(list, ":", &save); so && n < 4; so = strtok_r(NULL, ":", &save)) {
		char p[PATH_MAX + 64];
		snprintf(p, sizeof p, "%s/%s", dir, so);
		if (!(h[n] = dlopen(p, RTLD_NOW | RTLD_LOCAL)))
			break;
		n++;
	}
	void *lf = h[0] ? dlopen(LF_SONAME, RTLD_NOW | RTLD_LOCAL) : NULL;
	if (lf) { /* (its reference is kept: lg_dlib_load's dlopen finds it loaded) */
		lg_log(LG_DEBUG, "fabric", "libfabric loaded with the PSM stand-ins of %s", dir);
		return;
	}
	lg_log(LG_DEBUG, "fabric", "libfabric does not load with the PSM stand-ins of %s (%s): "
	       "loading the real ones", dir, dlerror());
	while (n > 0)
		dlclose(h[--n]);
}

static void lf_load_once(void)
{
	struct lf_sigs sigs;
	lf_sigs_save(&sigs);
	load_standins();
	int r = lg_dlib_load(&lf_lib);
	lf_sigs_restore(&sigs);
	if (r) {
		lf_loaded = r;
		return;
	}
	fi.getinfo = lg_dlib_sym(&lf_lib, "fi_getinfo", LF_V_FI_GETINFO);
	fi.freeinfo = lg_dlib_sym(&lf_lib, "fi_freeinfo", LF_V_FI_FREEINFO);
	fi.dupinfo = lg_dlib_sym(&lf_lib, "fi_dupinfo", LF_V_FI_DUPINFO);
	fi.fabric = lg_dlib_sym(&lf_lib, "fi_fabric", LF_V_FI_FABRIC);
	fi.strerror = lg_dlib_sym(&lf_lib, "fi_strerror", LF_V_FI_STRERROR);
	fi.version = lg_dlib_sym(&lf_lib, "fi_version", LF_V_FI_VERSION);
	if (!fi.getinfo || !fi.freeinfo || !fi.dupinfo || !fi.fabric || !fi.strerror ||
	    !fi.version) {
		memset(&fi, 0, sizeof fi);
		lf_loaded = -ENOSYS;
	}
}

int lf_load(void)
{
	pthread_once(&lf_once, lf_load_once);
	return lf_loaded;
}

/* Inside a call into libfabric that may initialize its providers (see
 * lf_fi_probe_refused), in this thread. */
static __thread int lf_in_fi;
static _Atomic unsigned long lf_refused;

int lf_fi_probe_refused(const char *path)
{
	if (!lf_in_fi || !path || strcmp(path, "/proc/kallsyms") != 0)
		return 0;
	atomic_fetch_add_explicit(&lf_refused, 1, memory_order_relaxed);
	return 1;
}

unsigned long lf_fi_probes_refused(void) { return atomic_load_explicit(&lf_refused, memory_order_relaxed); }

int lf_fi_getinfo(uint32_t version, const char *node, const char *service, uint64_t flags,
		  const struct fi_info *hints, struct fi_info **info)
{
	if (lf_load())
		return -FI_ENOSYS;
	lf_in_fi++;
	int r = fi.getinfo(version, node, service, flags, hints, info);
	lf_in_fi--;
	return r;
}

void lf_fi_freeinfo(struct fi_info *info)
{
	if (info && lf_load() == 0)
		fi.freeinfo(info);
}

struct fi_info *lf_fi_dupinfo(const struct fi_info *info)
{
	return lf_load() ? NULL : fi.dupinfo(info);
}

int lf_fi_fabric(struct fi_fabric_attr *attr, struct fid_fabric **fabric, void *context)
{
	if (lf_load())
		return -FI_ENOSYS;
	lf_in_fi++;
	int r = fi.fabric(attr, fabric, context);
	lf_in_fi--;
	return r;
}

const char *lf_fi_strerror(int errnum)
{
	if (lf_load())
		return strerror(errnum);
	return fi.strerror(errnum);
}

uint32_t lf_fi_version(void) { return lf_load() ? 0 : fi.version(); }
