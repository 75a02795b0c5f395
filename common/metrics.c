/*
 * The daemons' /metrics endpoint (see metrics.h): a snapshot handed from
 * the event loop to libmicrohttpd's thread.
 *
 * Invariant: fill() runs only on the event-loop thread (lg_metrics_poll);
 * the HTTP thread touches only the snapshot, under lock.
 *
 * Locks: one mutex, a leaf, held for a pointer swap (event loop) or a copy
 * of the snapshot (HTTP thread); the HTTP thread waits on the condition
 * variable with it.  No stats are formatted or converted under it.
 */
#define _GNU_SOURCE
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#if MHD_VERSION < 0x00097002
typedef int lg_mhd_result; /* before 0.9.71 handlers returned int */
#else
typedef enum MHD_Result lg_mhd_result;
#endif

struct lg_metrics {
	struct MHD_Daemon *httpd;
	char role[32];
	lg_metrics_fill_fn fill;
	void *user;
	char *scratch; /* the event loop's: filled without the lock */
	_Atomic int wanted; /* a scrape waits for a fresh snapshot */
	pthread_mutex_t lock;
	pthread_cond_t fresh; /* broadcast after each refresh */
	/* under lock */
	char *snap;
	size_t snap_len;
	uint64_t snap_ns;
	uint64_t gen; /* refreshes so far; 0: no snapshot yet */
};

int lg_metrics_poll(void *arg)
{
	struct lg_metrics *m = arg;
	if (!m || !atomic_load_explicit(&m->wanted, memory_order_acquire))
		return 0;
	atomic_store_explicit(&m->wanted, 0, memory_order_relaxed);
	size_t n = m->fill(m->user, m->scratch, LG_METRICS_TEXT_MAX);
	pthread_mutex_lock(&m->lock);
	char *old = m->snap;
	m->snap = m->scratch;
	m->snap_len = LG_MIN(n, (size_t)LG_METRICS_TEXT_MAX);
	m->snap_ns = lg_now_ns();
	m->gen++;
	m->scratch = old;
	pthread_cond_broadcast(&m->fresh);
	pthread_mutex_unlock(&m->lock);
	return 1;
}

/* A copy of a fresh snapshot (or, if the event loop does not answer in
 * LG_METRICS_WAIT_MS, of the last one) with its age appended, for the
 * caller to free; NULL with *status set when there is none. */
static char *lg_metrics_snapshot(struct lg_metrics *m, size_t *len, unsigned *status)
{
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_nsec += LG_METRICS_WAIT_MS * 1000000L;
	dl.tv_sec += dl.tv_nsec / 1000000000L;
	dl.tv_nsec %= 1000000000L;
	char *copy = malloc(LG_METRICS_TEXT_MAX + 64);
	if (!copy) {
		*status = MHD_HTTP_INTERNAL_SERVER_ERROR;
		return NULL;
	}
	pthread_mutex_lock(&m->lock);
	uint64_t gen = m->gen;
	atomic_store_explicit(&m->wanted, 1, memory_order_release);
	while (m->gen == gen && pthread_cond_timedwait(&m->fresh, &m->lock, &dl) != ETIMEDOUT)
		;
	if (m->gen == 0) { /* the event loop has not started yet */
		pthread_mutex_unlock(&m->lock);
		free(copy);
		*status = MHD_HTTP_SERVICE_UNAVAILABLE;
		return NULL;
	}
	size_t n = m->snap_len;
	memcpy(copy, m->snap, n);
	uint64_t age = lg_now_ns() - m->snap_ns;
	pthread_mutex_unlock(&m->lock);
	/* drop a cut-off last line (and a NUL a full buffer ends with) */
	while (n && copy[n - 1] != '\n')
		n--;
	n += (size_t)snprintf(copy + n, 64, "metrics_age_seconds:%.3f\n", (double)age / 1e9);
	*len = n;
	return copy;
}

static lg_mhd_result lg_metrics_reply(struct MHD_Connection *c, unsigned status, char *body,
				      size_t len, const char *type)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
	lg_mhd_result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static lg_mhd_result lg_metrics_text_reply(struct MHD_Connection *c, unsigned status,
					   const char *msg)
{
	char *body = strdup(msg);
	return body ? lg_metrics_reply(c, status, body, strlen(body), "text/plain; charset=utf-8")
		    : MHD_NO;
}

static lg_mhd_result lg_metrics_http(void *cls, struct MHD_Connection *c, const char *url,
				     const char *method, const char *version,
				     const char *upload_data, size_t *upload_data_size,
				     void **req_cls)
{
	static int seen;
	struct lg_metrics *m = cls;
	/* The first call comes with the headers only; answer on the next,
	 * once any request body (which we ignore) has been read. */
	if (!*req_cls) {
		*req_cls = &seen;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
		return lg_metrics_text_reply(c, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET\n");
	if (strcmp(url, "/metrics") != 0)
		return lg_metrics_text_reply(c, MHD_HTTP_NOT_FOUND,
					     "not found: the metrics are at /metrics\n");
	size_t len = 0;
	unsigned status = 0;
	char *text = lg_metrics_snapshot(m, &len, &status);
	if (!text)
		return lg_metrics_text_reply(c, status, status == MHD_HTTP_SERVICE_UNAVAILABLE ?
					     "the daemon is still starting; try again\n" :
					     "out of memory\n");
	size_t olen = 0;
	char *out = lg_metrics_format(m->role, text, len, &olen);
	free(text);
	if (!out)
		return lg_metrics_text_reply(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
	return lg_metrics_reply(c, MHD_HTTP_OK, out, olen,
				"text/plain; version=0.0.4; charset=utf-8");
}

/* libmicrohttpd's own complaints, into our log. */
static void lg_metrics_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[256];
	vsnprintf(msg, sizeof msg, fmt, ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = 0;
	lg_log(LG_WARN, "metrics", "http: %s", msg);
}

/* The address actually served (with port 0 the kernel picked the port). */
static void lg_metrics_log_addr(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof ss;
	char h[64], p[16];
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
	    getnameinfo((struct sockaddr *)&ss, sl, h, sizeof h, p, sizeof p,
			NI_NUMERICHOST | NI_NUMERICSERV) == 0)
		lg_log(LG_INFO, "metrics", "serving http://%s%s%s:%s/metrics",
		       strchr(h, ':') ? "[" : "", h, strchr(h, ':') ? "]" : "", p);
}

static int lg_is_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)sa)->sin6_addr);
	return 0;
}

/* Bind and listen on addr ourselves, so that a bad or busy address is an
 * error with its reason now (libmicrohttpd would only say it failed).
 * Returns the socket or -errno. */
static int lg_metrics_listen(const char *addr, int *loopback)
{
	char host[256], port[16];
	if (lg_split_hostport(addr, host, sizeof host, port, sizeof port) < 0) {
		lg_log(LG_ERROR, "metrics",
		       "--metrics %s: expected HOST:PORT (e.g. 127.0.0.1:9464)", addr);
		return -EINVAL;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai = NULL;
	int r = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (r) {
		lg_log(LG_ERROR, "metrics", "--metrics %s: %s", addr, gai_strerror(r));
		return -EINVAL;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 16) < 0) {
		r = -errno;
		lg_log(LG_ERROR, "metrics", "--metrics %s: cannot listen: %s%s", addr, strerror(-r),
		       r == -EADDRINUSE ? " (pick another port)" : "");
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return r;
	}
	*loopback = lg_is_loopback(ai->ai_addr);
	freeaddrinfo(ai);
	return fd;
}

int lg_metrics_start(const char *addr, const char *role, lg_metrics_fill_fn fill, void *user,
		     struct lg_metrics **out)
{
	*out = NULL;
	if (!addr || !addr[0])
		return 0;
	int loopback = 0;
	int fd = lg_metrics_listen(addr, &loopback);
	if (fd < 0)
		return fd;
	struct lg_metrics *m = calloc(1, sizeof *m);
	if (m) {
		m->scratch = malloc(LG_METRICS_TEXT_MAX);
		m->snap = malloc(LG_METRICS_TEXT_MAX);
	}
	if (!m || !m->scratch || !m->snap) {
		lg_log(LG_ERROR, "metrics", "--metrics %s: out of memory", addr);
		if (m) {
			free(m->scratch);
			free(m->snap);
		}
		free(m);
		close(fd);
		return -ENOMEM;
	}
	snprintf(m->role, sizeof m->role, "%s", role);
	m->fill = fill;
	m->user = user;
	pthread_mutex_init(&m->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&m->fresh, &ca);
	pthread_condattr_destroy(&ca);
	/* The HTTP thread inherits our signal mask: keep SIGTERM and SIGINT
	 * for the event-loop thread, whose poll(2) they should interrupt. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	/* One internal thread serves every connection in turn: a scrape is
	 * rare and short.  The limits keep idle or slow clients (the endpoint
	 * is unauthenticated) from holding it. */
	m->httpd = MHD_start_daemon(MHD_USE_AUTO | MHD_USE_INTERNAL_POLLING_THREAD |
				    MHD_USE_ERROR_LOG, 0, NULL, NULL, lg_metrics_http, m,
				    MHD_OPTION_EXTERNAL_LOGGER, lg_metrics_mhd_log, NULL,
				    MHD_OPTION_LISTEN_SOCKET, fd,
				    MHD_OPTION_CONNECTION_LIMIT, (unsigned)16,
				    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10,
				    MHD_OPTION_END);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!m->httpd) {
		lg_log(LG_ERROR, "metrics", "--metrics %s: cannot start the HTTP server", addr);
		close(fd);
		lg_metrics_stop(m);
		return -EIO;
	}
	if (!loopback)
		lg_log(LG_WARN, "metrics", "serving metrics on %s without authentication: anyone "
		       "who can reach it can read the counters (use a loopback address or a "
		       "firewall)", addr);
	lg_metrics_log_addr(fd);
	*out = m;
	return 0;
}

void lg_metrics_stop(struct lg_metrics *m)
{
	if (!m)
		return;
	if (m->httpd)
		MHD_stop_daemon(m->httpd); /* also closes the listening socket */
	pthread_cond_destroy(&m->fresh);
	pthread_mutex_destroy(&m->lock);
	free(m->scratch);
	free(m->snap);
	free(m);
}
