/*
 * libfabric, loaded when first needed.
 *
 * Nothing of Lego links libfabric: loading it runs the constructors of the
 * libraries it links (libpsm2 and libinfinipath calibrate a clock, ~0.2 s
 * on the machine this was written on), and a process under Lego that never
 * opens an endpoint should not pay that.  The few entry points that are
 * real functions (the rest of libfabric's API is inline calls through the
 * objects' operation tables) are resolved here, each at the symbol version
 * a link against the libfabric built with would have bound (CMakeLists.txt
 * reads them off the library).
 */
#ifndef LEGO_FILOAD_H
#define LEGO_FILOAD_H

#include <rdma/fabric.h>
#include <stdint.h>

/* Loads libfabric once (later calls return the first result): 0, or
 * -ENOENT / -ENOSYS with the reason logged (not installed, an entry point
 * missing).  Signal dispositions are as they were before the call (a
 * provider library may install handlers when it loads). */
int lf_load(void);

/* libfabric's functions; each loads it first.  Without it, getinfo and
 * fabric return -FI_ENOSYS, dupinfo NULL, version 0, and strerror the C
 * library's text. */
int lf_fi_getinfo(uint32_t version, const char *node, const char *service, uint64_t flags,
		  const struct fi_info *hints, struct fi_info **info);
void lf_fi_freeinfo(struct fi_info *info);
struct fi_info *lf_fi_dupinfo(const struct fi_info *info);
int lf_fi_fabric(struct fi_fabric_attr *attr, struct fid_fabric **fabric, void *context);
const char *lf_fi_strerror(int errnum);
uint32_t lf_fi_version(void);

/*
 * libfabric initializes every provider built into it at its first
 * fi_getinfo, those it is not asked for too, and 1.17's verbs provider
 * then reads all of /proc/kallsyms (5 MiB here, 40 ms of kernel time)
 * looking for the kernel's peer-memory and dma-buf registration, which
 * only GPU memory (FI_HMEM) uses.  Lego asks for host memory only, so the
 * read is refused as on a system that does not show the file (80% of the
 * CPU time of starting a Lego process went there: `lego-run -- true`
 * against running daemons took 248 ms, now 28 ms; docs/benchmarks.md,
 * bench/start.sh).  lf_fi_probe_refused(path) is 1 when the
 * calling thread is inside one of libfabric's calls made here and path is
 * that file; the fopen that liblego.so exports (preload/file.c) and the
 * one the daemons and legoctl define (fabric/fiprobe.c) then fail with
 * EACCES.  Nowhere else is the file touched.
 */
int lf_fi_probe_refused(const char *path);
/* How many reads were refused so (a counter, for tests). */
unsigned long lf_fi_probes_refused(void);

/*
 * Some providers' libraries install signal handlers when they load or open
 * an endpoint (libpsm2 takes SIGSEGV, SIGBUS and more to print backtraces;
 * shm takes SIGINT, SIGBUS, SIGSEGV and SIGTERM), which would change how
 * the program dies.  The dispositions are put back as they were around
 * such calls (raw rt_sigaction, so the restorer is kept exactly and
 * transparent mode's sigaction is not in the way).
 */
struct lf_ksigaction {
	void *handler;
	unsigned long flags;
	void *restorer;
	uint64_t mask;
};

struct lf_sigs {
	struct lf_ksigaction sa[32];
};

void lf_sigs_save(struct lf_sigs *s);
void lf_sigs_restore(const struct lf_sigs *s);

#endif
