/*
 * Logging: lg_log(level, subsys, fmt, ...) checks the level before
 * formatting, keeps errno, never allocates, and writes each message with
 * one write(2) from a stack buffer, so it is safe on the fault path.
 */
#ifndef LEGO_LOG_H
#define LEGO_LOG_H

#include <stdatomic.h>
#include <stdint.h>

enum lg_level { LG_ERROR = 0, LG_WARN = 1, LG_INFO = 2, LG_DEBUG = 3 };

extern int lg_level_cur;

/* Program name shown in each line ("lego", "lego-memnode", ...). */
void lg_set_prog(const char *prog);
void lg_set_level(int level);
/* Send messages to fd instead of stderr (e.g. a log file). */
void lg_set_fd(int fd);

void lg_logf(int level, const char *subsys, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#define lg_log(level, subsys, ...)                                             \
	do {                                                                   \
		if ((level) <= lg_level_cur)                                   \
			lg_logf((level), (subsys), __VA_ARGS__);               \
	} while (0)

/* At most one message per second from this call site; says how many were
 * suppressed in between. */
struct lg_ratelimit {
	_Atomic uint64_t next_ns;
	_Atomic uint64_t suppressed;
};
int lg_ratelimit_ok(struct lg_ratelimit *rl, uint64_t *suppressed);

#define lg_log_rl(level, subsys, fmt, ...)                                     \
	do {                                                                   \
		static struct lg_ratelimit rl_;                                \
		uint64_t supp_;                                                \
		if ((level) <= lg_level_cur && lg_ratelimit_ok(&rl_, &supp_))  \
			lg_logf((level), (subsys), fmt " (%llu similar suppressed)", \
				##__VA_ARGS__, (unsigned long long)supp_);     \
	} while (0)

#endif
