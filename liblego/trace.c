/* LEGO_TRACE (see trace.h). */
#define _GNU_SOURCE
#include "trace.h"
#include "tls.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

int lg_trace_fd = -1;

int lg_trace_init(const struct lg_opts *o, int err_fd)
{
	const char *want = lg_opt_s(o, LG_OPT_trace);
	if (!want[0] || strcmp(want, "0") == 0)
		return 0;
	if (strcmp(want, "1") == 0) {
		lg_trace_fd = err_fd >= 0 ? err_fd : 2;
		return 0;
	}
	int fd = open(want, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		int e = errno;
		lg_log(LG_ERROR, "trace", "LEGO_TRACE=%s: cannot open: %s; no trace", want, strerror(e));
		return -e;
	}
	lg_trace_fd = lg_fd_raise(fd);
	return 0;
}

void lg_trace_emit(const char *call, const char *spec, long res, uint64_t t0, ...)
{
	int e = errno;
	char buf[1024];
	if (strncmp(call, "lg_", 3) == 0)
		call += 3;
	size_t n = lg_bprintf(buf, sizeof buf, 0, "lego[%d] %s(", (int)getpid(), call);
	va_list ap;
	va_start(ap, t0);
	for (const char *s = spec; *s; s++) {
		long v = va_arg(ap, long);
		const char *sep = s == spec ? "" : ", ";
		switch (*s) {
		case 's':
			if (v)
				n = lg_bprintf(buf, sizeof buf, n, "%s\"%.256s\"", sep, (const char *)v);
			else
				n = lg_bprintf(buf, sizeof buf, n, "%sNULL", sep);
			break;
		case 'p': n = lg_bprintf(buf, sizeof buf, n, "%s%p", sep, (void *)v); break;
		case 'x': n = lg_bprintf(buf, sizeof buf, n, "%s%#lx", sep, v); break;
		default: n = lg_bprintf(buf, sizeof buf, n, "%s%ld", sep, v); break;
		}
	}
	va_end(ap);
	double us = (double)(lg_now_ns() - t0) / 1000.0;
	if (res < 0 && res > -4096) {
		const char *name = strerrorname_np((int)-res);
		n = lg_bprintf(buf, sizeof buf, n, ") = -1 %s (%s) <%.1f us>\n", name ? name : "?",
			       strerror((int)-res), us);
	} else if (res > 0xffffffffl) { /* an address */
		n = lg_bprintf(buf, sizeof buf, n, ") = %#lx <%.1f us>\n", res, us);
	} else {
		n = lg_bprintf(buf, sizeof buf, n, ") = %ld <%.1f us>\n", res, us);
	}
	lg_enter(); /* our own write is not traced */
	ssize_t w = write(lg_trace_fd, buf, n);
	lg_leave();
	(void)w;
	errno = e;
}
