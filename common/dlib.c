/* Libraries loaded when first needed (see dlib.h). */
#define _GNU_SOURCE
#include "dlib.h"

#include <dlfcn.h>
#include <errno.h>

#include "log.h"

static struct lg_dlib *lg_dlib_loading; /* (pthread_once takes no argument) */
static pthread_mutex_t lg_dlib_lock = PTHREAD_MUTEX_INITIALIZER;

static void lg_dlib_open(void)
{
	struct lg_dlib *l = lg_dlib_loading;
	l->h = dlopen(l->soname, RTLD_NOW | RTLD_LOCAL);
	if (!l->h)
		lg_log(LG_ERROR, "dlib", "cannot load %s: %s (Lego needs it installed, as it was "
		       "when Lego was built)", l->soname, dlerror());
}

int lg_dlib_load(struct lg_dlib *l)
{
	pthread_mutex_lock(&lg_dlib_lock);
	lg_dlib_loading = l;
	pthread_once(&l->once, lg_dlib_open);
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
