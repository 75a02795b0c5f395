/*
 * The option table (options.def) and its parsers.  Precedence, lowest
 * first: built-in default, config file (LEGO_CONF, else /etc/lego/lego.conf),
 * LEGO_<NAME> environment variables, command-line flags.
 */
#ifndef LEGO_OPTIONS_H
#define LEGO_OPTIONS_H

#include <stdint.h>
#include <stdio.h>

enum lg_opt_id {
#define OPT(name, type, dflt, min, max, choices, scope, help) LG_OPT_##name,
#include "options.def"
#undef OPT
	LG_OPT__COUNT
};

enum lg_opt_type { LG_OPT_T_SIZE, LG_OPT_T_INT, LG_OPT_T_STR, LG_OPT_T_ENUM };

struct lg_opt_desc {
	const char *name;
	enum lg_opt_type type;
	const char *dflt;
	long long min, max;
	const char *choices;
	const char *scope;
	const char *help;
};

extern const struct lg_opt_desc lg_opt_table[LG_OPT__COUNT];

#define LG_OPT_STR_MAX 256

struct lg_opts {
	uint64_t num[LG_OPT__COUNT]; /* SIZE, INT (as int64), ENUM (choice index) */
	char str[LG_OPT__COUNT][LG_OPT_STR_MAX];
	uint8_t set_by[LG_OPT__COUNT]; /* 0 default, 1 file, 2 env, 3 flag */
};

void lg_opts_defaults(struct lg_opts *o);

/* The option called by the first len characters of name (lower or upper
 * case, '-' or '_' between words), or -1. */
int lg_opts_find(const char *name, size_t len);

/* "LEGO_<NAME>" for option name into buf; returns buf. */
const char *lg_opts_env_name(const char *name, char *buf, size_t len);

/* Set option `name` (lower case, '-' or '_') from text.  `origin` names the
 * source in the message ("LEGO_X=", "--x ").  0, -ENOENT (unknown name) or
 * -EINVAL; err gets a message for a person. */
int lg_opts_set(struct lg_opts *o, const char *name, const char *value,
		int set_by, char *err, size_t errlen);

/* Defaults, then the config file, then the environment; only options whose
 * scope contains `scope` are read from the environment.  Unknown LEGO_*
 * variables are an error.  0 or -EINVAL with err set. */
int lg_opts_load(struct lg_opts *o, char scope, char *err, size_t errlen);

/* The ExCache's shape holds (a power-of-two line, room for one set of
 * LEGO_EXCACHE_WAYS lines): 0, or -EINVAL with err set.  The runtime
 * turns Lego off for a process whose shape does not hold; lego-run
 * refuses to start one. */
int lg_opts_check_excache(const struct lg_opts *o, char *err, size_t errlen);

/* Parse --name=value / --name value flags from argv[1..]; stops at "--" or
 * the first non-flag and returns its index, or -EINVAL (err set), or
 * -ENOENT for --help. */
int lg_opts_parse_argv(struct lg_opts *o, char scope, int argc, char **argv,
		       char *err, size_t errlen);

static inline uint64_t lg_opt_u(const struct lg_opts *o, enum lg_opt_id id) { return o->num[id]; }
static inline int64_t lg_opt_i(const struct lg_opts *o, enum lg_opt_id id) { return (int64_t)o->num[id]; }
static inline const char *lg_opt_s(const struct lg_opts *o, enum lg_opt_id id) { return o->str[id]; }
/* Text of the chosen ENUM value. */
const char *lg_opt_enum_name(const struct lg_opts *o, enum lg_opt_id id, char *buf, size_t len);

/* Print the options of `scope` (0: all): markdown table or --flag help. */
void lg_opts_print(FILE *f, char scope, int markdown);

/* The monitor's address (daemons, and lego-run's command): --monitor, or
 * with --monitor-fd the line read from that descriptor (waiting for it up
 * to 30 s, or until *stop), which then becomes --monitor.  Returns it, or
 * NULL (logged) when there is none: neither option, the descriptor closed
 * early, or the wait timed out. */
const char *lg_opts_monitor(struct lg_opts *o, volatile int *stop);

#endif
