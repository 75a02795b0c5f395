/* libfabric, loaded when first needed (see fiload.h). */
#define _GNU_SOURCE
#include "fiload.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <rdma/fi_errno.h>

#include "common/dlib.h"
#include "common/log.h"

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

static struct lg_dlib lf_lib = LG_DLIB(LF_SONAME);

static void lf_load_once(void)
{
	struct lf_sigs sigs;
	lf_sigs_save(&sigs);
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
