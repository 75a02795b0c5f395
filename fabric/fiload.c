/* libfabric, loaded when first needed (see fiload.h). */
#define _GNU_SOURCE
#include "fiload.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <rdma/fi_errno.h>

#include "common/log.h"

/* From CMakeLists.txt: the library's soname and, per entry point, the
 * version a link against it binds (its default, "@@"). */
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
		if (syscall(SYS_rt_sigaction, sig, NULL, &s->sa[sig], 8))
			s->sa[sig].handler = (void *)-1L;
}

void lf_sigs_restore(const struct lf_sigs *s)
{
	for (int sig = 1; sig < 32; sig++) {
		struct lf_ksigaction now;
		if (s->sa[sig].handler == (void *)-1L ||
		    syscall(SYS_rt_sigaction, sig, NULL, &now, 8) ||
		    memcmp(&now, &s->sa[sig], sizeof now) == 0)
			continue;
		syscall(SYS_rt_sigaction, sig, &s->sa[sig], NULL, 8);
	}
}

static void *lf_sym(void *h, const char *name, const char *ver)
{
	void *f = dlvsym(h, name, ver);
	if (!f)
		lg_log(LG_ERROR, "fabric", "%s has no %s@%s (Lego was built against another "
		       "libfabric; rebuild it against this one)", LF_SONAME, name, ver);
	return f;
}

static void lf_load_once(void)
{
	struct lf_sigs sigs;
	lf_sigs_save(&sigs);
	void *h = dlopen(LF_SONAME, RTLD_NOW | RTLD_LOCAL);
	lf_sigs_restore(&sigs);
	if (!h) {
		lg_log(LG_ERROR, "fabric", "cannot load %s: %s (install libfabric: "
		       "apt-get install libfabric1)", LF_SONAME, dlerror());
		lf_loaded = -ENOENT;
		return;
	}
	fi.getinfo = lf_sym(h, "fi_getinfo", LF_V_GETINFO);
	fi.freeinfo = lf_sym(h, "fi_freeinfo", LF_V_FREEINFO);
	fi.dupinfo = lf_sym(h, "fi_dupinfo", LF_V_DUPINFO);
	fi.fabric = lf_sym(h, "fi_fabric", LF_V_FABRIC);
	fi.strerror = lf_sym(h, "fi_strerror", LF_V_STRERROR);
	fi.version = lf_sym(h, "fi_version", LF_V_VERSION);
	if (!fi.getinfo || !fi.freeinfo || !fi.dupinfo || !fi.fabric || !fi.strerror ||
	    !fi.version) {
		memset(&fi, 0, sizeof fi);
		lf_loaded = -ENOSYS;
	}
	/* the library stays loaded for the life of the process: its providers
	 * keep threads and atexit handlers */
}

int lf_load(void)
{
	pthread_once(&lf_once, lf_load_once);
	return lf_loaded;
}

int lf_fi_getinfo(uint32_t version, const char *node, const char *service, uint64_t flags,
		  const struct fi_info *hints, struct fi_info **info)
{
	if (lf_load())
		return -FI_ENOSYS;
	return fi.getinfo(version, node, service, flags, hints, info);
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
	return fi.fabric(attr, fabric, context);
}

const char *lf_fi_strerror(int errnum)
{
	if (lf_load())
		return strerror(errnum);
	return fi.strerror(errnum);
}

uint32_t lf_fi_version(void) { return lf_load() ? 0 : fi.version(); }
