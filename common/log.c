/* Logging to stderr with one write(2) per message; see log.h. */
#define _GNU_SOURCE
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

int lg_level_cur = LG_WARN;
static const char *lg_prog = "lego";
static int lg_fd = 2;

static const char *const lg_level_names[] = {"error", "warn", "info", "debug"};

void lg_set_prog(const char *prog) { lg_prog = prog; }
void lg_set_level(int level) { lg_level_cur = level; }
void lg_set_fd(int fd) { lg_fd = fd; }

void lg_logf(int level, const char *subsys, const char *fmt, ...)
{
	int saved = errno;
	char buf[1024];
	int n = snprintf(buf, sizeof buf, "%s[%d]: %s: %s: ", lg_prog, (int)getpid(),
			 lg_level_names[level & 3], subsys);
	if (n < 0 || n >= (int)sizeof buf)
		n = 0;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(buf + n, sizeof buf - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	n += m;
	if (n > (int)sizeof buf - 2)
		n = (int)sizeof buf - 2;
	buf[n++] = '\n';
	ssize_t r = write(lg_fd, buf, (size_t)n);
	(void)r;
	errno = saved;
}

int lg_ratelimit_ok(struct lg_ratelimit *rl, uint64_t *suppressed)
{
	uint64_t now = lg_now_ns();
	uint64_t next = atomic_load_explicit(&rl->next_ns, memory_order_relaxed);
	if (now < next) {
		atomic_fetch_add_explicit(&rl->suppressed, 1, memory_order_relaxed);
		return 0;
	}
	if (!atomic_compare_exchange_strong(&rl->next_ns, &next, now + 1000000000ull)) {
		atomic_fetch_add_explicit(&rl->suppressed, 1, memory_order_relaxed);
		return 0;
	}
	*suppressed = atomic_exchange(&rl->suppressed, 0);
	return 1;
}
