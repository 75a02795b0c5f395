#!/bin/sh
# A C program whose threads allocate, realloc, free and fork at the same
# time (tests/integration/prog_threads_fork.c), under LD_PRELOAD with a
# small ExCache: same output as natively, every check holds in parents and
# children.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
P=$BIN/lego-test-prog_threads_fork
R=3000
"$P" $R >"$T/native.out" 2>"$T/native.log" || fail "native: $(cat "$T/native.out" "$T/native.log")"
start_monitor
start_memnode a --capacity 2G
LD_PRELOAD=$LIBLEGO LEGO_MONITOR=$MON LEGO_EXCACHE_SIZE=8M LEGO_STATS="$T/stats.json" \
	"$P" $R >"$T/lego.out" 2>"$T/lego.log" || fail "under LD_PRELOAD: $(cat "$T/lego.out")"
diff "$T/native.out" "$T/lego.out" >"$T/diff" || fail "differs from native: $(cat "$T/diff")"
out=$(json_stat "$T/stats.json" net.bytes_out)
[ "${out:-0}" -ge $((32 << 20)) ] || fail "only ${out:-0} bytes written back: the heap did not go remote"
pass "4 threads x $R rounds of malloc/calloc/realloc/free with forks: output equals native; $((out >> 20)) MiB written back"
