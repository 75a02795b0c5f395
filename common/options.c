/*
 * Option table and parsers (see options.h).  One table, options.def,
 * generates the environment lookup, the daemons' flags and the docs.
 */
#define _GNU_SOURCE
#include "options.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

const struct lg_opt_desc lg_opt_table[LG_OPT__COUNT] = {
#define OPT(name_, type_, dflt_, min_, max_, choices_, scope_, help_)          \
	[LG_OPT_##name_] = {#name_, LG_OPT_T_##type_, dflt_, (long long)(min_), \
			    (long long)(max_), choices_, scope_, help_},
#include "options.def"
#undef OPT
};

int lg_opts_find(const char *name, size_t len)
{
	for (int i = 0; i < LG_OPT__COUNT; i++) {
		const char *n = lg_opt_table[i].name;
		size_t j = 0;
		for (; j < len && n[j]; j++) {
			char c = name[j] == '-' ? '_' : (char)tolower((unsigned char)name[j]);
			if (c != n[j])
				break;
		}
		if (j == len && !n[j])
			return i;
	}
	return -1;
}

/* Index of `value` among the '|'-separated choices, or -1. */
static int lg_enum_index(const char *choices, const char *value)
{
	int idx = 0;
	size_t vl = strlen(value);
	for (const char *p = choices; *p; idx++) {
		const char *bar = strchr(p, '|');
		size_t l = bar ? (size_t)(bar - p) : strlen(p);
		if (l == vl && strncasecmp(p, value, l) == 0)
			return idx;
		if (!bar)
			break;
		p = bar + 1;
	}
	return -1;
}

const char *lg_opt_enum_name(const struct lg_opts *o, enum lg_opt_id id, char *buf, size_t len)
{
	const char *p = lg_opt_table[id].choices;
	for (uint64_t i = 0; i < o->num[id]; i++) {
		p = strchr(p, '|');
		if (!p)
			return "?";
		p++;
	}
	const char *bar = strchr(p, '|');
	size_t l = bar ? (size_t)(bar - p) : strlen(p);
	if (l >= len)
		l = len - 1;
	memcpy(buf, p, l);
	buf[l] = 0;
	return buf;
}

const char *lg_opts_env_name(const char *name, char *buf, size_t len)
{
	size_t n = (size_t)snprintf(buf, len, "LEGO_");
	for (const char *p = name; *p && n + 1 < len; p++)
		buf[n++] = (char)toupper((unsigned char)*p);
	buf[n] = 0;
	return buf;
}

static const char *lg_origin(int set_by, const char *name, char *buf, size_t len)
{
	if (set_by == 2) {
		lg_opts_env_name(name, buf, len);
	} else if (set_by == 3) {
		snprintf(buf, len, "--%s", name);
	} else {
		snprintf(buf, len, "%s", name);
	}
	return buf;
}

static int lg_opt_assign(struct lg_opts *o, int id, const char *value, int set_by,
			 char *err, size_t errlen)
{
	const struct lg_opt_desc *d = &lg_opt_table[id];
	char org[64];
	lg_origin(set_by, d->name, org, sizeof org);
	switch (d->type) {
	case LG_OPT_T_SIZE: {
		uint64_t v;
		if (lg_parse_size(value, &v) < 0) {
			snprintf(err, errlen, "%s=%s: not a size (use e.g. 256M, 2G)", org, value);
			return -EINVAL;
		}
		if (v < (uint64_t)d->min || v > (uint64_t)d->max) {
			char a[32], b[32];
			snprintf(err, errlen, "%s=%s: out of range (%s to %s)", org, value,
				 lg_format_size((uint64_t)d->min, a, sizeof a),
				 lg_format_size((uint64_t)d->max, b, sizeof b));
			return -EINVAL;
		}
		o->num[id] = v;
		break;
	}
	case LG_OPT_T_INT: {
		int64_t v;
		if (lg_parse_int(value, &v) < 0) {
			snprintf(err, errlen, "%s=%s: not an integer", org, value);
			return -EINVAL;
		}
		if (v < d->min || v > d->max) {
			snprintf(err, errlen, "%s=%s: out of range (%lld to %lld)", org, value,
				 d->min, d->max);
			return -EINVAL;
		}
		o->num[id] = (uint64_t)v;
		break;
	}
	case LG_OPT_T_ENUM: {
		int idx = lg_enum_index(d->choices, value);
		if (idx < 0) {
			snprintf(err, errlen, "%s=%s: must be one of %s", org, value, d->choices);
			return -EINVAL;
		}
		o->num[id] = (uint64_t)idx;
		break;
	}
	case LG_OPT_T_STR:
		if (strlen(value) >= LG_OPT_STR_MAX) {
			snprintf(err, errlen, "%s: value longer than %d characters", org,
				 LG_OPT_STR_MAX - 1);
			return -EINVAL;
		}
		strcpy(o->str[id], value);
		break;
	}
	o->set_by[id] = (uint8_t)set_by;
	return 0;
}

void lg_opts_defaults(struct lg_opts *o)
{
	char err[256];
	memset(o, 0, sizeof *o);
	for (int i = 0; i < LG_OPT__COUNT; i++) {
		int r = lg_opt_assign(o, i, lg_opt_table[i].dflt, 0, err, sizeof err);
		(void)r; /* defaults are valid by construction (unit-tested) */
		o->set_by[i] = 0;
	}
}

int lg_opts_set(struct lg_opts *o, const char *name, const char *value, int set_by,
		char *err, size_t errlen)
{
	int id = lg_opts_find(name, strlen(name));
	if (id < 0) {
		snprintf(err, errlen, "unknown option '%s'", name);
		return -ENOENT;
	}
	return lg_opt_assign(o, id, value, set_by, err, errlen);
}

static char *lg_trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = 0;
	return s;
}

static int lg_opts_load_file(struct lg_opts *o, const char *path, int must_exist,
			     char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (!f) {
		if (!must_exist && errno == ENOENT)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -EINVAL;
	}
	char line[512];
	int lineno = 0, r = 0;
	while (fgets(line, sizeof line, f)) {
		lineno++;
		size_t ll = strlen(line);
		int cut = 0;
		if (ll == sizeof line - 1 && line[ll - 1] != '\n') {
			/* the rest of a long line must not read as a line of its
			 * own: skip it (a comment may be long, a setting may not) */
			for (int c; (c = getc(f)) != EOF && c != '\n';)
				cut = 1;
		}
		char *s = lg_trim(line);
		if (!*s || *s == '#')
			continue;
		if (cut) {
			snprintf(err, errlen, "%s:%d: line longer than %d characters", path, lineno,
				 (int)sizeof line - 2);
			r = -EINVAL;
			break;
		}
		char *eq = strchr(s, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%d: expected name = value", path, lineno);
			r = -EINVAL;
			break;
		}
		*eq = 0;
		char *name = lg_trim(s), *val = lg_trim(eq + 1);
		if (strncasecmp(name, "LEGO_", 5) == 0)
			name += 5;
		char e2[256];
		if (lg_opts_set(o, name, val, 1, e2, sizeof e2) < 0) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, e2);
			r = -EINVAL;
			break;
		}
	}
	fclose(f);
	return r;
}

int lg_opts_check_excache(const struct lg_opts *o, char *err, size_t errlen)
{
	uint64_t line = lg_opt_u(o, LG_OPT_excache_line);
	if (line & (line - 1)) {
		snprintf(err, errlen, "LEGO_EXCACHE_LINE=%llu: not a power of two",
			 (unsigned long long)line);
		return -EINVAL;
	}
	uint64_t need = line * lg_opt_u(o, LG_OPT_excache_ways);
	if (lg_opt_u(o, LG_OPT_excache_size) < need) {
		snprintf(err, errlen, "LEGO_EXCACHE_SIZE must hold at least one set (%llu bytes: "
			 "LEGO_EXCACHE_WAYS lines of LEGO_EXCACHE_LINE)", (unsigned long long)need);
		return -EINVAL;
	}
	return 0;
}

extern char **environ;

int lg_opts_load(struct lg_opts *o, char scope, char *err, size_t errlen)
{
	lg_opts_defaults(o);
	const char *conf = getenv("LEGO_CONF");
	int r = lg_opts_load_file(o, conf && *conf ? conf : "/etc/lego/lego.conf",
				  conf && *conf, err, errlen);
	if (r < 0)
		return r;
	for (char **e = environ; e && *e; e++) {
		if (strncmp(*e, "LEGO_", 5) != 0)
			continue;
		const char *name = *e + 5, *eq = strchr(name, '=');
		if (!eq)
			continue;
		size_t nl = (size_t)(eq - name);
		if (nl == 4 && strncmp(name, "CONF", 4) == 0)
			continue;
		int id = lg_opts_find(name, nl);
		if (id < 0) {
			/* Variables of later releases or of other tools are not ours
			 * to reject, but a typo of ours should be loud. */
			snprintf(err, errlen, "%.*s: unknown Lego option", (int)LG_MIN(nl + 5, 96), *e);
			return -EINVAL;
		}
		if (!strchr(lg_opt_table[id].scope, scope))
			continue;
		r = lg_opt_assign(o, id, eq + 1, 2, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

int lg_opts_parse_argv(struct lg_opts *o, char scope, int argc, char **argv, char *err,
		       size_t errlen)
{
	int i = 1;
	for (; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0)
			return i + 1;
		if (strncmp(a, "--", 2) != 0)
			return i;
		a += 2;
		if (strcmp(a, "help") == 0)
			return -ENOENT;
		const char *eq = strchr(a, '=');
		size_t nl = eq ? (size_t)(eq - a) : strlen(a);
		int id = lg_opts_find(a, nl);
		if (id < 0 || !strchr(lg_opt_table[id].scope, scope)) {
			snprintf(err, errlen, "unknown option --%.*s", (int)nl, a);
			return -EINVAL;
		}
		const struct lg_opt_desc *d = &lg_opt_table[id];
		const char *val;
		if (eq) {
			val = eq + 1;
		} else if (d->type == LG_OPT_T_INT && d->min == 0 && d->max == 1) {
			val = "1"; /* a switch: --insecure */
		} else {
			if (i + 1 >= argc) {
				snprintf(err, errlen, "--%s needs a value", lg_opt_table[id].name);
				return -EINVAL;
			}
			val = argv[++i];
		}
		int r = lg_opt_assign(o, id, val, 3, err, errlen);
		if (r < 0)
			return r;
	}
	return i;
}

void lg_opts_print(FILE *f, char scope, int markdown)
{
	static const char *const tn[] = {"size", "int", "string", "enum"};
	if (markdown) {
		fprintf(f, "| option | environment | type | default | used by | meaning |\n");
		fprintf(f, "|---|---|---|---|---|---|\n");
	}
	for (int i = 0; i < LG_OPT__COUNT; i++) {
		const struct lg_opt_desc *d = &lg_opt_table[i];
		if (scope && !strchr(d->scope, scope))
			continue;
		char env[72], flag[64];
		lg_opts_env_name(d->name, env, sizeof env);
		snprintf(flag, sizeof flag, "--%s", d->name);
		for (char *p = flag + 2; *p; p++)
			if (*p == '_')
				*p = '-';
		char ty[96];
		if (d->type == LG_OPT_T_ENUM) {
			/* "a|b|c", or "a, b, c" where '|' would split a table */
			size_t k = 0;
			for (const char *c = d->choices; *c && k + 3 < sizeof ty; c++) {
				if (*c == '|' && markdown) {
					ty[k++] = ',';
					ty[k++] = ' ';
				} else {
					ty[k++] = *c;
				}
			}
			ty[k] = 0;
		} else {
			snprintf(ty, sizeof ty, "%s", tn[d->type]);
		}
		if (markdown) {
			char who[64] = "";
			for (const char *s = d->scope; *s; s++) {
				const char *w = *s == 'C' ? "process" : *s == 'M' ? "memnode"
					      : *s == 'N' ? "monitor" : *s == 'S' ? "storenode" : "tools";
				if (who[0])
					strcat(who, ", ");
				strcat(who, w);
			}
			fprintf(f, "| `%s` | `%s` | %s | `%s` | %s | %s |\n", flag, env, ty,
				d->dflt[0] ? d->dflt : "\"\"", who, d->help);
		} else {
			fprintf(f, "  %-24s %s (default %s)\n      %s\n", flag, ty,
				d->dflt[0] ? d->dflt : "empty", d->help);
		}
	}
}

const char *lg_opts_monitor(struct lg_opts *o, volatile int *stop)
{
	int fd = (int)lg_opt_i(o, LG_OPT_monitor_fd);
	if (fd < 0) {
		if (!lg_opt_s(o, LG_OPT_monitor)[0]) {
			lg_log(LG_ERROR, "monitor", "--monitor HOST:PORT is required");
			return NULL;
		}
		return lg_opt_s(o, LG_OPT_monitor);
	}
	char line[256], err[320];
	int r = lg_read_line(fd, line, sizeof line, 30000, stop);
	close(fd);
	o->num[LG_OPT_monitor_fd] = (uint64_t)-1;
	if (r) {
		if (r != -EINTR)
			lg_log(LG_ERROR, "monitor", "no monitor address came on descriptor %d (%s)", fd,
			       r == -EPIPE ? "it closed" : r == -ETIMEDOUT ? "30 s went by" : strerror(-r));
		return NULL;
	}
	if (lg_opts_set(o, "monitor", line, 3, err, sizeof err) < 0) {
		lg_log(LG_ERROR, "monitor", "%s", err);
		return NULL;
	}
	return lg_opt_s(o, LG_OPT_monitor);
}
