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
# 4 KiB lines, then 64 KiB lines (a line is then 16 pages: protection,
# madvise, MAP_FIXED and the break split lines), then 2 MiB lines (the
# ExCache must hold a set of 16 of them; the program's ranges are parts of
# lines)
msg=""
for lc in 4K:16M 64K:16M 2M:32M; do
	line=${lc%:*}
	LD_PRELOAD=$LIBLEGO LEGO_MONITOR=$MON LEGO_EXCACHE_SIZE=${lc#*:} LEGO_EXCACHE_LINE=$line \
		LEGO_STATS="$T/stats.$line.json" "$P" >"$T/lego.$line.out" 2>"$T/lego.$line.log" ||
		fail "under LD_PRELOAD, $line lines: $(grep -v '^[a-zA-Z0-9 ]*: \(yes\|ok\|0\)$' "$T/lego.$line.out" | tail)"
	diff "$T/native.out" "$T/lego.$line.out" >"$T/diff" ||
		fail "output differs from native with $line lines: $(cat "$T/diff")"
	out=$(json_stat "$T/stats.$line.json" net.bytes_out)
	[ "${out:-0}" -ge $((200 << 20)) ] ||
		fail "only ${out:-0} bytes written back with $line lines: the memory did not go remote"
	# dirty lines the program made PROT_NONE were saved another way
	pc=$(json_stat "$T/stats.$line.json" excache.protected_copies)
	[ "${pc:-0}" -gt 0 ] || fail "with $line lines no dirty line was read back from PROT_NONE memory"
	msg="$msg; $line lines: $((out >> 20)) MiB written back, $pc lines saved from PROT_NONE memory"
done
pass "$(wc -l <"$T/native.out") semantic checks equal native through a 16 or 32 MiB ExCache$msg"
