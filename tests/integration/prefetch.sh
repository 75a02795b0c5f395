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
WL=$BIN/lego-bench-workload
PAGES=8192 # 32 MiB of 4 KiB pages
native() {
	want=$("$WL" $ARGS | sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p')
	[ -n "$want" ] || fail "the workload did not run natively"
}
ARGS="--ws 32M --ops $((2 * PAGES)) --pattern seq --writes 0"
native

run() { # name, then env assignments: sets M (misses) and U (useful prefetches)
	_n=$1; shift
	env "$@" "$BIN/lego-run" --excache 8M --stats="$T/$_n.json" -- "$WL" $ARGS \
		>"$T/$_n.out" 2>"$T/$_n.log" || fail "$_n: $(tail -5 "$T/$_n.log")"
	got=$(sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p' "$T/$_n.out")
	[ "$got" = "$want" ] || fail "$_n: checksum $got, native $want"
	M=$(json_stat "$T/$_n.json" excache.misses)
	U=$(json_stat "$T/$_n.json" excache.prefetch_useful)
	K=$(json_stat "$T/$_n.json" excache.prefetch_markers)
	W=$(json_stat "$T/$_n.json" excache.write_upgrades)
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

ARGS="--ws 32M --ops $((2 * PAGES)) --pattern seq --writes 50"
native
run writes
[ "$W" -le $((2 * PAGES / 4)) ] ||
	fail "half the pages written: $W write-protect faults for $((2 * PAGES)) pages (more than 1 in 4)"
pass "half the pages written: $W write-protect faults for $((2 * PAGES)) pages, checksum equals native"
