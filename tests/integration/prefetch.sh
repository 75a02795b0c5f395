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
# window in 8, which stays write-protected to measure), so at most a
# quarter of the pages take a write-protect fault (about half did).  All
# runs print native's checksum.
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
}

run off LEGO_PREFETCH=off
[ "$M" -ge $((2 * PAGES * 9 / 10)) ] ||
	fail "prefetch off: $M misses for $((2 * PAGES)) pages read; the set-up is wrong"
pass "prefetch off: $M misses for $((2 * PAGES)) pages read, checksum equals native"
run auto
[ "$M" -le $((2 * PAGES / 16)) ] ||
	fail "prefetch on: $M misses for $((2 * PAGES)) pages read (more than 1 in 16)"
[ "$K" -gt 0 ] || fail "prefetch on: no fault on a marker line ($M misses)"
pass "prefetch on: $M misses, $K marker faults, $U useful prefetches for $((2 * PAGES)) pages read, checksum equals native"

WL_ARGS="--ws 32M --ops $((2 * PAGES)) --pattern seq --writes 50"
wl_native
run writes
[ "$W" -le $((2 * PAGES / 4)) ] ||
	fail "half the pages written: $W write-protect faults for $((2 * PAGES)) pages (more than 1 in 4)"
pass "half the pages written: $W write-protect faults for $((2 * PAGES)) pages, checksum equals native"
