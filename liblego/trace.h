/*
 * LEGO_TRACE: one line per call Lego intercepts (file calls, on Lego files
 * and on others, and the memory calls of transparent mode), like strace:
 *
 *   lego[1234] open("/lego/x", 0x241, 0x1b6) = 3 <85.2 us>
 *   lego[1234] write(3, 0x7f..., 1) = 1 <14.1 us>
 *
 * LEGO_TRACE=1 writes to standard error, any other value is a file that
 * lines are appended to.  Off, a call pays one predictable branch.
 */
#ifndef LEGO_TRACE_H
#define LEGO_TRACE_H

#include <errno.h>
#include <stdint.h>

#include "common/options.h"
#include "common/util.h"
#include "tls.h"

extern int lg_trace_fd; /* -1: off */

/* Open the trace destination named by the trace option; err_fd is the
 * runtime's copy of stderr.  0 or -errno (logged; tracing stays off). */
int lg_trace_init(const struct lg_opts *o, int err_fd);

/* One line: call(args) = res <duration since t0>.  spec has one letter per
 * argument: s string, p pointer, x hex, d decimal; each argument is passed
 * as a long. */
void lg_trace_emit(const char *call, const char *spec, long res, uint64_t t0, ...);

static inline uint64_t lg_trace_t0(void)
{
	return lg_unlikely(lg_trace_fd >= 0) ? lg_now_ns() : 0;
}

/* Evaluate expr (a long result, -errno on failure) and trace it as a call
 * of the enclosing function (its name without a "lg_" prefix); calls the
 * runtime makes itself (lg_inside) are not the program's: not traced. */
#define LG_TRACED(spec, expr, ...)                                               \
	({                                                                       \
		uint64_t t0_ = lg_trace_t0();                                    \
		long r_ = (long)(expr);                                          \
		if (lg_unlikely(lg_trace_fd >= 0) && !lg_inside())               \
			lg_trace_emit(__func__, spec, r_, t0_, __VA_ARGS__);     \
		r_;                                                              \
	})

/* The same for a call passed on to the C library (a file that is not a
 * Lego file): expr returns -1 with errno on failure.  Calls the runtime
 * makes itself (lg_inside) are not the program's: not traced. */
#define LG_TRACED_LIBC(spec, expr, ...)                                          \
	({                                                                       \
		uint64_t t0_ = lg_trace_t0();                                    \
		long r_ = (long)(expr);                                          \
		if (lg_unlikely(lg_trace_fd >= 0) && !lg_inside()) {             \
			int e_ = errno;                                          \
			lg_trace_emit(__func__, spec, r_ == -1 ? -e_ : r_, t0_,  \
				      __VA_ARGS__);                              \
			errno = e_;                                              \
		}                                                                \
		r_;                                                              \
	})

/* An argument for LG_TRACED (integers and pointers alike). */
#define TL(x) ((long)(uintptr_t)(x))

#endif
