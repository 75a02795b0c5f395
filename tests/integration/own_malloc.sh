#!/bin/sh
# A program that defines malloc, calloc, realloc and free itself
# (tests/integration/prog_own_malloc.c, as rustc does with jemalloc), under
# LD_PRELOAD: Lego says it is off for that process and the program runs,
# output equal to native, in bounded time.  (Before, the runtime's own
# allocations went to the program's allocator from inside its mmap, and
# libfabric's put the runtime's structures in remote memory: cargo build
# hung.)  And, the control, a program with the usual malloc against the
# same daemons runs under Lego.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
P=$BIN/lego-test-prog_own_malloc
"$P" >"$T/native.out" || fail "native run failed"
start_monitor
start_memnode a --capacity 2G
timeout 60 env LD_PRELOAD="$LIBLEGO" LEGO_MONITOR="$MON" LEGO_FABRIC=shm LEGO_EXCACHE_SIZE=8M \
	"$P" >"$T/lego.out" 2>"$T/lego.log"
st=$?
[ $st -eq 124 ] && fail "still running 60 s later"
[ $st -eq 0 ] || fail "exit status $st: $(tail -3 "$T/lego.log")"
diff "$T/native.out" "$T/lego.out" >"$T/diff" || fail "differs from native: $(cat "$T/diff")"
grep -q "brings its own malloc" "$T/lego.log" || fail "no word that Lego is off: $(tail -3 "$T/lego.log")"
n=$(grep -c "brings its own malloc" "$T/lego.log")
# the usual malloc: Lego on (its memory written back through an 8 MiB ExCache)
timeout 60 env LD_PRELOAD="$LIBLEGO" LEGO_MONITOR="$MON" LEGO_FABRIC=shm LEGO_EXCACHE_SIZE=8M \
	LEGO_STATS="$T/stats.json" "$BIN/lego-bench-workload" --ws 64M --ops 10000 >"$T/wl.out" 2>"$T/wl.log" ||
	fail "workload under LD_PRELOAD: $(tail -3 "$T/wl.log")"
out=$(json_stat "$T/stats.json" net.bytes_out)
[ "${out:-0}" -gt 0 ] || fail "the workload wrote nothing back: Lego was off for it too"
pass "own malloc: Lego off ($n notice(s)), output equals native, exit 0; usual malloc: $((out >> 20)) MiB written back"
