/*
 * Stats text ("key:value" lines, as `legoctl stats` shows them) to the
 * Prometheus text exposition format 0.0.4 (see metrics.h).
 *
 * Names: lego_<role>_<key>, every character outside [A-Za-z0-9_] turned
 * into '_' ("pgcache.hits" -> lego_memnode_pgcache_hits).  A key segment
 * made of digits names one of several like things (the monitor's
 * node.3.capacity, proc.77.host); it becomes a label named after the
 * segment before it (lego_monitor_node_capacity{node="3"}), so that one
 * family holds every node instead of a new metric name per node.
 *
 * Labels: node="<node_id>" on every sample of a daemon that reports a
 * node_id (memnode, storenode); the role and node_id lines themselves are
 * not samples.
 *
 * Types: the format wants all samples of a family together, after one
 * # TYPE line, so samples are sorted by family.  A key is a gauge (a level
 * that can go down) when its last segment is one of lg_gauge_words or
 * ends in one of lg_gauge_suffixes; every other key counts events since
 * the daemon started and is a counter.  A new level-type key must be added
 * to the list, or it is exposed as a counter.
 *
 * Values: numbers pass through as they are; any other value becomes an
 * info-style sample, lego_<role>_<key>_info{<last segment>="value"} 1.
 *
 * Runs on the HTTP thread, so it allocates freely.
 */
#define _GNU_SOURCE
#include "metrics.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Levels, not counts ("traffic" is the monitor's bytes/s of a memnode;
 * "bytes" alone is what the page cache holds, unlike bytes_in). */
static const char *const lg_gauge_words[] = {
	"connections", "registered", "capacity", "reserved", "stored", "lines",
	"address_spaces", "rss", "files", "bytes", "dirty", "up", "free", "used",
	"granules", "traffic", "pid", "memnodes", "storenodes", "processes",
	"storenode_serving", "metrics_age_seconds",
};
static const char *const lg_gauge_suffixes[] = {"_up", "_free", "_used", "_connected"};

/* A growing string; oom sticks, so callers check once at the end. */
struct sbuf {
	char *p;
	size_t len, cap;
	int oom;
};

static void sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 128;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) {
			b->oom = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

static void sb_puts(struct sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

/* Name characters: [A-Za-z0-9_]; everything else becomes '_'. */
static void sb_put_name(struct sbuf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c >= '0' && c <= '9') || c == '_';
		sb_put(b, ok ? &c : "_", 1);
	}
}

/* A label value: backslash, double quote and newline escaped. */
static void sb_put_lvalue(struct sbuf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '\\')
			sb_puts(b, "\\\\");
		else if (s[i] == '"')
			sb_puts(b, "\\\"");
		else if (s[i] == '\n')
			sb_puts(b, "\\n");
		else
			sb_put(b, &s[i], 1);
	}
}

static int all_digits(const char *s, size_t n)
{
	if (!n)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return 0;
	return 1;
}

/* A decimal number as the format takes it: [-]digits[.digits]. */
static int is_number(const char *s, size_t n)
{
	size_t i = (n && s[0] == '-') ? 1 : 0, digits = 0, dots = 0;
	for (; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9')
			digits++;
		else if (s[i] == '.' && !dots++)
			continue;
		else
			return 0;
	}
	return digits > 0;
}

static int is_gauge(const char *last, size_t n)
{
	for (size_t i = 0; i < LG_ARRAY_SIZE(lg_gauge_words); i++)
		if (strlen(lg_gauge_words[i]) == n && memcmp(lg_gauge_words[i], last, n) == 0)
			return 1;
	for (size_t i = 0; i < LG_ARRAY_SIZE(lg_gauge_suffixes); i++) {
		size_t k = strlen(lg_gauge_suffixes[i]);
		if (n > k && memcmp(last + n - k, lg_gauge_suffixes[i], k) == 0)
			return 1;
	}
	return 0;
}

/* A label name must not start with a digit or "__" (reserved). */
static int label_name_ok(const char *s, size_t n)
{
	return n && !(s[0] >= '0' && s[0] <= '9') && !(n >= 2 && s[0] == '_' && s[1] == '_');
}

/* Whether labels (a="1",b="2") already has a label called name[0..n). */
static int has_label(const struct sbuf *labels, const char *name, size_t n)
{
	for (const char *p = labels->p; p && *p;) {
		const char *eq = strchr(p, '=');
		if (!eq)
			break;
		if ((size_t)(eq - p) == n && memcmp(p, name, n) == 0)
			return 1;
		/* skip the quoted value, which may hold escaped quotes */
		const char *q = eq + 2;
		while (*q && *q != '"')
			q += (*q == '\\' && q[1]) ? 2 : 1;
		p = *q ? q + 1 : q;
		if (*p == ',')
			p++;
	}
	return 0;
}

static void add_label(struct sbuf *labels, const char *name, size_t nlen, const char *val,
		      size_t vlen)
{
	if (labels->len)
		sb_puts(labels, ",");
	sb_put_name(labels, name, nlen);
	sb_puts(labels, "=\"");
	sb_put_lvalue(labels, val, vlen);
	sb_puts(labels, "\"");
}

struct sample {
	char *line; /* family{labels} value\n */
	size_t fam_len; /* line[0..fam_len) is the family name */
	size_t id_len; /* line[0..id_len) names the series (family and labels) */
	int gauge;
	size_t idx; /* input order, to keep the sort stable */
};

static int sample_cmp(const void *a, const void *b)
{
	const struct sample *x = a, *y = b;
	size_t n = LG_MIN(x->fam_len, y->fam_len);
	int c = memcmp(x->line, y->line, n);
	if (c == 0 && x->fam_len != y->fam_len)
		return x->fam_len < y->fam_len ? -1 : 1;
	if (c == 0) {
		n = LG_MIN(x->id_len, y->id_len);
		c = memcmp(x->line, y->line, n);
		if (c == 0 && x->id_len != y->id_len)
			c = x->id_len < y->id_len ? -1 : 1;
	}
	if (c == 0)
		c = x->idx < y->idx ? -1 : x->idx > y->idx;
	return c;
}

/* One "key:value" line to a sample; 0, 1 when the line is not a sample
 * (role, node_id, no colon), -1 when out of memory. */
static int make_sample(const char *role, const char *node, size_t node_len, const char *key,
		       size_t klen, const char *val, size_t vlen, struct sample *s)
{
	if (!klen || (klen == 4 && memcmp(key, "role", 4) == 0) ||
	    (klen == 7 && memcmp(key, "node_id", 7) == 0))
		return 1;
	struct sbuf name = {0}, labels = {0}, line = {0};
	sb_puts(&name, "lego_");
	sb_put_name(&name, role, strlen(role));
	if (node)
		add_label(&labels, "node", 4, node, node_len);
	const char *prev = NULL, *last = key;
	size_t prev_len = 0, last_len = 0;
	for (const char *seg = key; seg < key + klen;) {
		const char *dot = memchr(seg, '.', (size_t)(key + klen - seg));
		size_t n = dot ? (size_t)(dot - seg) : (size_t)(key + klen - seg);
		if (all_digits(seg, n) && prev && label_name_ok(prev, prev_len) &&
		    !all_digits(prev, prev_len) && !has_label(&labels, prev, prev_len)) {
			add_label(&labels, prev, prev_len, seg, n);
		} else {
			sb_puts(&name, "_");
			sb_put_name(&name, seg, n);
		}
		prev = last = seg;
		prev_len = last_len = n;
		seg += n + 1;
	}
	int numeric = is_number(val, vlen);
	s->gauge = !numeric || is_gauge(last, last_len);
	if (!numeric) {
		sb_puts(&name, "_info");
		if (label_name_ok(last, last_len) && !has_label(&labels, last, last_len))
			add_label(&labels, last, last_len, val, vlen);
		else
			add_label(&labels, "value", 5, val, vlen);
	}
	sb_put(&line, name.p ? name.p : "", name.len);
	s->fam_len = line.len;
	if (labels.len) {
		sb_puts(&line, "{");
		sb_put(&line, labels.p, labels.len);
		sb_puts(&line, "}");
	}
	s->id_len = line.len;
	sb_puts(&line, " ");
	if (numeric)
		sb_put(&line, val, vlen);
	else
		sb_puts(&line, "1");
	sb_puts(&line, "\n");
	int oom = name.oom || labels.oom || line.oom;
	free(name.p);
	free(labels.p);
	if (oom) {
		free(line.p);
		return -1;
	}
	s->line = line.p;
	return 0;
}

/* The value of "node_id:" in text, if it is a number. */
static const char *find_node(const char *text, size_t len, size_t *node_len)
{
	for (const char *p = text; p < text + len;) {
		const char *nl = memchr(p, '\n', (size_t)(text + len - p));
		if (!nl)
			break;
		if ((size_t)(nl - p) > 8 && memcmp(p, "node_id:", 8) == 0 &&
		    all_digits(p + 8, (size_t)(nl - p - 8))) {
			*node_len = (size_t)(nl - p - 8);
			return p + 8;
		}
		p = nl + 1;
	}
	return NULL;
}

char *lg_metrics_format(const char *role, const char *text, size_t len, size_t *outlen)
{
	/* a stats buffer may end in a NUL (a full lg_bprintf buffer) */
	const char *nul = memchr(text, 0, len);
	if (nul)
		len = (size_t)(nul - text);
	size_t nlines = 0;
	for (size_t i = 0; i < len; i++)
		nlines += text[i] == '\n';
	struct sample *v = calloc(nlines + 1, sizeof *v);
	if (!v)
		return NULL;
	size_t node_len = 0, n = 0;
	const char *node = find_node(text, len, &node_len);
	int oom = 0;
	/* Only whole lines: a cut-off last line has no '\n' and is dropped. */
	for (const char *p = text; p < text + len && !oom;) {
		const char *nl = memchr(p, '\n', (size_t)(text + len - p));
		if (!nl)
			break;
		const char *colon = memchr(p, ':', (size_t)(nl - p));
		size_t vlen = colon ? (size_t)(nl - colon - 1) : 0;
		if (colon && vlen && colon[vlen] == '\r')
			vlen--;
		if (colon) {
			int r = make_sample(role, node, node_len, p, (size_t)(colon - p), colon + 1,
					    vlen, &v[n]);
			if (r < 0)
				oom = 1;
			else if (r == 0) {
				v[n].idx = n;
				n++;
			}
		}
		p = nl + 1;
	}
	qsort(v, n, sizeof *v, sample_cmp);
	struct sbuf out = {0};
	sb_puts(&out, "");
	for (size_t i = 0; i < n && !oom; i++) {
		struct sample *s = &v[i], *prev = i ? &v[i - 1] : NULL;
		int same_fam = prev && prev->fam_len == s->fam_len &&
			       memcmp(prev->line, s->line, s->fam_len) == 0;
		if (!same_fam) {
			sb_puts(&out, "# TYPE ");
			sb_put(&out, s->line, s->fam_len);
			sb_puts(&out, s->gauge ? " gauge\n" : " counter\n");
		} else if (prev->id_len == s->id_len &&
			   memcmp(prev->line, s->line, s->id_len) == 0) {
			continue; /* two keys that sanitise to one series: keep the first */
		}
		sb_puts(&out, s->line);
	}
	for (size_t i = 0; i < n; i++)
		free(v[i].line);
	free(v);
	if (oom || out.oom) {
		free(out.p);
		return NULL;
	}
	*outlen = out.len;
	return out.p;
}
