/*
 * Libraries loaded when first needed, not linked: a process under Lego
 * that never needs one (most never start a runtime, docs/lego-run.md,
 * "Short processes") does not pay its load.  Symbols are bound with
 * dlvsym at the version a link against the library built with would
 * bind; CMakeLists.txt (lego_dlib) reads the soname and the versions off
 * that library into compile definitions.
 */
#ifndef LEGO_DLIB_H
#define LEGO_DLIB_H

#include <pthread.h>

struct lg_dlib {
	const char *soname;
	int tried;
	void *h; /* NULL: not loaded (logged once) */
};

#define LG_DLIB(soname) {(soname), 0, NULL}

/* Load it (once; later calls return the first result): 0 or -ENOENT. */
int lg_dlib_load(struct lg_dlib *l);
/* Its symbol name at version ver ("" for an unversioned symbol), loading
 * it first; NULL if either is missing (logged, naming both). */
void *lg_dlib_sym(struct lg_dlib *l, const char *name, const char *ver);

#endif
