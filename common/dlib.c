/* Libraries loaded when first needed (see dlib.h). */
#define _GNU_SOURCE
#include "dlib.h"

#include <dlfcn.h>
#include <errno.h>

#include "log.h"

static pthread_mutex_t lg_dlib_lock = PTHREAD_MUTEX_INITIALIZER;

int lg_dlib_load(struct lg_dlib *l)
{
	pthread_mutex_lock(&lg_dlib_lock);
	if (!l->tried) {
		l->tried = 1;
		l->h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
		if (!l->h)
			lg_log(LG_ERROR, "dlib", "cannot load %s: %s (Lego needs it installed, as it "
			       "was when Lego was built)", l->soname, dlerror());
	}
	pthread_mutex_unlock(&lg_dlib_lock);
	return l->h ? 0 : -ENOENT;
}

void *lg_dlib_sym(struct lg_dlib *l, const char *name, const char *ver)
{
	if (lg_dlib_load(l))
		return NULL;
	void *f = ver && ver[0] ? dlvsym(l->h, name, ver) : dlsym(l->h, name);
	if (!f)
		lg_log(LG_ERROR, "dlib", "%s has no %s%s%s (Lego was built against another %s; "
		       "rebuild it against this one)", l->soname, name, ver && ver[0] ? "@" : "",
		       ver ? ver : "", l->soname);
	return f;
}
