#!/bin/sh
# Prefetch: a program that reads its memory sequentially, twice over, with
# a working set four times its ExCache (every page leaves the cache before
# it is read again), must mostly find its pages prefetched: with
# LEGO_PREFETCH=off every page read is a miss; with the default, at most
# one page in 16 (a stream's window is up to 64 lines; the stream must make
# room for it in sets that are full, or most of it finds no way and comes
# back as demand misses, about one in 8); and the stream's marker lines
# (one fetched line per window kept aside) must be what its thread faults
# on instead.  Then half the pages written as well: the stream must notice
# that it writes what it reads and get its windows writable (all but one
# window in 8, which stays write-protected to measure), so at most one
# page in 8 takes a write-protect fault (about half did with no estimate;
# 14-32% while windows planned again over lines that found no way, and
# the writable windows of the program's fill, counted as write-protected
# lines never written; 6-9% since).  The
# fault-service helper (LEGO_FAULT_THREADS=2, the default) serves streams
# only: woken when prefetching is on, never when it is off, and not started
# in a process pinned to one CPU.  All runs print native's checksum.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
PAGES=8192 # 32 MiB of 4 KiB pages
WL_ARGS="--ws 32M --ops $((2 * PAGES)) --pattern seq --writes 0"
wl_native

run() { # name, then env assignments: sets M, U, K, W from its stats
	wl_lego "$@" LEGO_EXCACHE_SIZE=8M
	M=$(json_stat "$T/$1.json" excache.misses)
	U=$(json_stat "$T/$1.json" excache.prefetch_useful)
	K=$(json_stat "$T/$1.json" excache.prefetch_markers)
	W=$(json_stat "$T/$1.json" excache.write_upgrades)
	H=$(json_stat "$T/$1.json" fault.helper_wakes)
}
CPUS=$(nproc)

run off LEGO_PREFETCH=off LEGO_FAULT_THREADS=2
[ "$M" -ge $((2 * PAGES * 9 / 10)) ] ||
	fail "prefetch off: $M misses for $((2 * PAGES)) pages read; the set-up is wrong"
[ "$H" -eq 0 ] || fail "prefetch off: the fault-service helper woke $H times with no stream"
pass "prefetch off: $M misses for $((2 * PAGES)) pages read, helper never woken, checksum equals native"
run auto LEGO_FAULT_THREADS=2
[ "$M" -le $((2 * PAGES / 16)) ] ||
	fail "prefetch on: $M misses for $((2 * PAGES)) pages read (more than 1 in 16)"
[ "$K" -gt 0 ] || fail "prefetch on: no fault on a marker line ($M misses)"
if [ "$CPUS" -ge 2 ]; then
	[ "$H" -gt 0 ] || fail "prefetch on: the fault-service helper never woke for the stream"
fi
pass "prefetch on: $M misses, $K marker faults, $U useful prefetches for $((2 * PAGES)) pages read, helper woken $H times ($CPUS CPUs), checksum equals native"

# env runs taskset, which runs lego-run on CPU 0 only
wl_lego pinned LEGO_EXCACHE_SIZE=8M LEGO_FAULT_THREADS=2 LEGO_LOG_LEVEL=info taskset -c 0
M=$(json_stat "$T/pinned.json" excache.misses)
H=$(json_stat "$T/pinned.json" fault.helper_wakes)
grep -q "1 service threads, not 2" "$T/pinned.log" ||
	fail "pinned to one CPU: no word of fewer service threads: $(grep fault "$T/pinned.log" | head -3)"
[ "$H" -eq 0 ] || fail "pinned to one CPU: a helper woke $H times"
pass "pinned to one CPU: one service thread, $M misses, checksum equals native"

WL_ARGS="--ws 32M --ops $((2 * PAGES)) --pattern seq --writes 50"
wl_native
run writes
[ "$W" -le $((2 * PAGES / 8)) ] ||
	fail "half the pages written: $W write-protect faults for $((2 * PAGES)) pages (more than 1 in 8)"
pass "half the pages written: $W write-protect faults for $((2 * PAGES)) pages, checksum equals native"
