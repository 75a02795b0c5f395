/*
 * LEGO_TRACE: one line per call Lego handles (the Lego-file calls and the
 * memory calls of transparent mode), like strace:
 *
 *   lego[1234] open("/lego/x", 0x241, 0x1b6) = 3 <85.2 us>
 *   lego[1234] write(3, 0x7f..., 1) = 1 <14.1 us>
 *
 * LEGO_TRACE=1 writes to standard error, any other value is a file that
 * lines are appended to.  Off, a call pays one predictable branch.
 */
#ifndef LEGO_TRACE_H
#define LEGO_TRACE_H

#include <stdint.h>

#include "common/options.h"
#include "common/util.h"

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
 * of the enclosing function (its name without a "lg_" prefix). */
#define LG_TRACED(spec, expr, ...)                                               \
	({                                                                       \
		uint64_t t0_ = lg_trace_t0();                                    \
		long r_ = (long)(expr);                                          \
		if (lg_unlikely(lg_trace_fd >= 0))                               \
			lg_trace_emit(__func__, spec, r_, t0_, __VA_ARGS__);     \
		r_;                                                              \
	})

/* An argument for LG_TRACED (integers and pointers alike). */
#define TL(x) ((long)(uintptr_t)(x))

#endif
