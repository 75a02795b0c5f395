#!/bin/sh
# Allocator and mapping semantics: tests/integration/prog_semantics.c prints
# one line per check; under LD_PRELOAD=liblego.so (real monitor and memnode,
# an ExCache much smaller than what the program touches) the output must be
# the native output, line for line, and the memory must really have gone to
# the memnode.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
P=$BIN/lego-test-prog_semantics
"$P" >"$T/native.out" 2>"$T/native.log" || fail "native run: $(tail -5 "$T/native.out")"
start_monitor
start_memnode a --capacity 2G
LD_PRELOAD=$LIBLEGO LEGO_MONITOR=$MON LEGO_EXCACHE_SIZE=16M LEGO_STATS="$T/stats.json" \
	"$P" >"$T/lego.out" 2>"$T/lego.log" || fail "under LD_PRELOAD: $(grep -v '^[a-zA-Z0-9 ]*: \(yes\|ok\|0\)$' "$T/lego.out" | tail)"
diff "$T/native.out" "$T/lego.out" >"$T/diff" || fail "output differs from native: $(cat "$T/diff")"
out=$(json_stat "$T/stats.json" net.bytes_out)
[ "${out:-0}" -ge $((200 << 20)) ] || fail "only ${out:-0} bytes written back: the memory did not go remote"
pass "$(wc -l <"$T/lego.out") semantic checks equal native; $((out >> 20)) MiB written back through a 16 MiB ExCache"
