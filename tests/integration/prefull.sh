#!/bin/sh
# Transparent mode with a full memnode: malloc returns NULL with ENOMEM and
# mmap fails with ENOMEM in the program, which is not killed and carries
# on (frees, allocates again, finds its data intact).
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
start_monitor
start_memnode a --capacity 96M
LD_PRELOAD=$LIBLEGO LEGO_MONITOR=$MON LEGO_EXCACHE_SIZE=8M \
	"$BIN/lego-test-prog_fill" >"$T/out" 2>"$T/prog.log" || fail "program failed: $(cat "$T/out")"
cat "$T/out"
grep -q "^malloc: [0-9]* MiB, then NULL, ENOMEM$" "$T/out" || fail "malloc did not return NULL/ENOMEM"
n=$(sed -n 's/^malloc: \([0-9]*\) MiB.*/\1/p' "$T/out")
[ "$n" -ge 48 ] && [ "$n" -le 96 ] || fail "malloc stopped at $n MiB on a 96 MiB memnode"
grep -q "^mmap 64 MiB: ENOMEM$" "$T/out" || fail "mmap did not fail with ENOMEM"
grep -q "^blocks intact: yes$" "$T/out" && grep -q "^after freeing half: room again$" "$T/out" &&
	grep -q "^blocks intact at the end: yes$" "$T/out" || fail "$(cat "$T/out")"
[ "$(node_stat "$MEM_a" enomem)" -ge 1 ] || fail "memnode did not count the refusals"
pass "full memnode under LD_PRELOAD: malloc NULL/ENOMEM after $n MiB, mmap ENOMEM, program carries on"
