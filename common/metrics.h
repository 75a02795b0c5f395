/*
 * Prometheus metrics for the daemons (--metrics HOST:PORT): GET /metrics
 * answers the counters a stats request returns (`legoctl stats HOST:PORT`),
 * in the Prometheus text exposition format 0.0.4.
 *
 * Threads: the counters belong to the daemon's event loop and are read
 * without locks, so the HTTP thread (libmicrohttpd's) never reads them.  A
 * scrape raises a flag and waits up to LG_METRICS_WAIT_MS; the event loop
 * sees the flag on its next pass (lg_metrics_poll), copies the stats text
 * into a snapshot under the mutex and signals.  The scrape then converts
 * that snapshot outside the lock.  An event loop busy for longer than the
 * wait leaves the scrape with the previous snapshot, whose age it reports
 * as lego_<role>_metrics_age_seconds.
 *
 * Nothing here knows about memnodes or files: the daemon hands in a
 * function that fills a buffer with "key:value\n" lines.
 */
#ifndef LEGO_METRICS_H
#define LEGO_METRICS_H

#include <stddef.h>

/* Longest wait of a scrape for the event loop's fresh snapshot. */
#define LG_METRICS_WAIT_MS 250
/* Largest stats text kept; a longer one is cut at its last full line. */
#define LG_METRICS_TEXT_MAX (256u * 1024)

struct lg_metrics;

/* Fill buf (capacity cap) with "key:value\n" lines; returns the length.
 * Runs on the event-loop thread only. */
typedef size_t (*lg_metrics_fill_fn)(void *user, char *buf, size_t cap);

/* Serve GET /metrics on addr ("HOST:PORT"; "" leaves *out NULL and returns
 * 0).  role names the metrics: lego_<role>_<key>.  The socket is bound
 * here, so a bad or busy address fails now: -EINVAL or -errno, with the
 * reason logged.  A host that is not loopback gets a warning: the metrics
 * are served to anyone who can connect. */
int lg_metrics_start(const char *addr, const char *role, lg_metrics_fill_fn fill, void *user,
		     struct lg_metrics **out);

/* Event-loop thread, on every pass: refresh the snapshot if a scrape is
 * waiting for one (returns 1), else 0, after one atomic load.  arg is the
 * struct lg_metrics * (or NULL), void so it fits rpc_loop_set_pass_hook. */
int lg_metrics_poll(void *arg);

/* Stop the HTTP server (waits for a scrape in progress, at most
 * LG_METRICS_WAIT_MS) and free m.  NULL is a no-op. */
void lg_metrics_stop(struct lg_metrics *m);

/* Convert stats text (len bytes of "key:value\n" lines) to the exposition
 * format: one family per key, grouped, each after its # TYPE line.  A
 * malloc'd NUL-terminated string (its length in *outlen) for the caller to
 * free, or NULL when out of memory.  Naming and typing rules: see
 * metrics_text.c and docs/observability.md. */
char *lg_metrics_format(const char *role, const char *text, size_t len, size_t *outlen);

#endif
