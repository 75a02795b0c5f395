/*
 * lego.h - the explicit API of Lego, a user-space memory-disaggregation
 * runtime.  Memory from lego_alloc() lives on remote memory nodes; the
 * process keeps a bounded local cache of it (the ExCache) and fetches lines
 * on demand.  Link with $(pkg-config --cflags --libs lego).
 *
 * All functions return 0 or a negative errno unless stated otherwise, and
 * are thread-safe.  The runtime starts on first use (or lego_init()) and
 * reads its configuration from LEGO_* environment variables; see lego(7)
 * in docs/.
 */
#ifndef LEGO_LEGO_H
#define LEGO_LEGO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Process counters: X(identifier, "dotted.name", "description").
 * One line per counter generates the enum, the names and the docs.
 */
#define LEGO_STATS_LIST(X)                                                         \
	X(FAULTS, "excache.faults", "faults taken on remote memory")                   \
	X(MISSES, "excache.misses", "lines fetched from a memnode")                    \
	X(ZERO_FILLS, "excache.zero_fills", "never-written lines filled locally")      \
	X(VICTIM_HITS, "excache.victim_hits", "misses served from the victim buffer")  \
	X(WRITE_UPGRADES, "excache.write_upgrades", "first writes to clean lines")     \
	X(SHARED_FAULTS, "excache.shared_faults", "faults on a line already in fill")  \
	X(EVICT_CLEAN, "excache.evictions_clean", "clean lines dropped")               \
	X(EVICT_DIRTY, "excache.evictions_dirty", "dirty lines moved to the victim buffer") \
	X(WRITEBACKS, "excache.writebacks", "lines written back to memnodes")          \
	X(WRITEBACK_BATCHES, "excache.writeback_batches", "write-back messages sent")  \
	X(VICTIM_STALLS, "excache.victim_stalls", "evictions that waited for a full victim buffer") \
	X(PREFETCH_ISSUED, "excache.prefetch_issued", "lines prefetched")                \
	X(PREFETCH_USEFUL, "excache.prefetch_useful", "prefetched lines the stream went on to use") \
	X(PREFETCH_MARKERS, "excache.prefetch_markers", "faults on a stream's marker line, served locally") \
	X(BYTES_IN, "net.bytes_in", "bytes of line data received")                     \
	X(BYTES_OUT, "net.bytes_out", "bytes of line data sent")                       \
	X(RPCS, "net.rpcs", "requests sent")                                           \
	X(RPC_ERRORS, "net.rpc_errors", "requests that failed")                        \
	X(RPC_TIMEOUTS, "net.rpc_timeouts", "requests that timed out")                 \
	X(RPC_STALE, "net.rpc_stale_replies", "replies that matched no request")       \
	X(RPC_RESENDS, "net.rpc_resends", "requests sent again: unanswered after their resend time") \
	X(RPC_DAMAGED, "net.rpc_damaged_replies", "replies dropped because their CRC32C did not hold") \
	X(RESERVED, "mem.reserved_bytes", "remote memory reserved (gauge)")            \
	X(QUOTA_REFUSALS, "mem.quota_refusals", "allocations refused: over the process's quota") \
	X(RESIDENT, "mem.resident_lines", "lines in the ExCache now (gauge)")          \
	X(PEAK_RSS, "mem.peak_rss_bytes", "the process's peak resident memory (VmHWM)") \
	X(ALLOCS, "api.allocs", "lego_alloc calls")                                    \
	X(FREES, "api.frees", "lego_free calls")                                      \
	X(MOVES, "mem.moves", "granule copies made on another memnode (re-replication, drain)") \
	X(LINES_MOVED, "mem.lines_moved", "lines copied by those moves")              \
	X(WRITABLE_READS, "excache.writable_reads", "read misses installed writable: the program writes what it reads") \
	X(RMA_READS, "excache.rma_reads", "lines read one-sided from the memnode's memory (misses and prefetches)") \
	X(RMA_FALLBACKS, "excache.rma_fallbacks", "one-sided reads that failed or found other contents (then asked for)") \
	X(EVICT_EARLY, "excache.evictions_early", "lines evicted ahead of misses, while no fetch was outstanding") \
	X(COPY_PROTECTED, "excache.protected_copies", "dirty lines the program had made unreadable (mprotect), read through /proc/self/mem to be written back") \
	X(DIRECT_READS, "io.direct_reads", "O_DIRECT reads into remote memory, made through a local buffer") \
	X(EVICT_PIPED, "excache.evictions_piped", "dirty lines evicted through a pipe (vmsplice) instead of write-protected") \
	X(HELPER_WAKES, "fault.helper_wakes", "times a prefetch stream woke a dozing fault-service helper (LEGO_FAULT_THREADS > 1)") \
	X(BOUNCED, "io.bounced", "LEGO_FAULT=sigbus: reads, writes, freads and fwrites on remote memory made through a local buffer, the kernel being unable to fault it in") \
	X(HUGE_LINES, "excache.huge_lines", "2 MiB lines brought in as one transparent huge page (LEGO_HUGE_PAGES)") \
	X(HOLES, "excache.holes", "pages of resident lines found missing (dropped by a madvise made with syscall(2)), filled with zeros") \
	X(VICTIMS_SUPERSEDED, "excache.victims_superseded", "victims whose line a later write-back stored first (never installed again)")

enum lego_stat {
#define LEGO_STAT_ENUM_(id, name, desc) LEGO_STAT_##id,
	LEGO_STATS_LIST(LEGO_STAT_ENUM_)
#undef LEGO_STAT_ENUM_
	LEGO_STAT__COUNT
};

/* Latency histograms (nanoseconds): median, p99, p99.9 and count. */
enum lego_lat {
	LEGO_LAT_MISS,      /* remote line fetch, fault to line installed */
	LEGO_LAT_ZERO,      /* zero-fill, fault to line installed */
	LEGO_LAT_WRITEBACK, /* write-back request round trip */
	LEGO_LAT_RPC,       /* any request's round trip (memnodes, monitor) */
	LEGO_LAT__COUNT
};

struct lego_lat_summary {
	uint64_t count;
	uint64_t p50_ns;
	uint64_t p99_ns;
	uint64_t p999_ns;
	uint64_t max_ns;
	uint64_t mean_ns; /* throughput depends on the mean, tails included */
};

struct lego_stats {
	uint64_t v[LEGO_STAT__COUNT];
	struct lego_lat_summary lat[LEGO_LAT__COUNT];
};

/* Start the runtime now (it also starts on first use).  Idempotent. */
int lego_init(void);

/* Write back all dirty lines, free this process's remote memory and stop
 * the runtime.  Lego memory must not be touched afterwards. */
void lego_fini(void);

/* Allocate size bytes of remote memory, 16-byte aligned; like malloc, the
 * contents are unspecified (fresh memory reads as zeros and costs nothing
 * until written).  Returns NULL with errno ENOMEM when no memnode has room,
 * or with the start-up error when Lego could not start. */
void *lego_alloc(size_t size);
/* Zeroed allocation of n * size bytes (NULL with ENOMEM on overflow). */
void *lego_calloc(size_t n, size_t size);
/* alignment: a power of two. */
void *lego_alloc_aligned(size_t alignment, size_t size);
void *lego_realloc(void *ptr, size_t size);
void lego_free(void *ptr);

/* Does ptr point into Lego's remote address space? */
int lego_is_remote(const void *ptr);

/* Write back every dirty line and wait until memnodes have stored them. */
int lego_flush(void);

/* Snapshot of this process's counters. */
int lego_stats(struct lego_stats *out);
const char *lego_stat_name(enum lego_stat s);
const char *lego_stat_desc(enum lego_stat s);
/* Print counters as "name: value" lines (json != 0: one JSON object). */
void lego_stats_print(FILE *f, int json);

/* Message for a negative errno returned by Lego (or a positive errno). */
const char *lego_strerror(int err);

#ifdef __cplusplus
}
#endif
#endif /* LEGO_LEGO_H */
