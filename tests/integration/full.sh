#!/bin/sh
# Memnode full: the allocation that does not fit fails with ENOMEM in the
# program (which keeps running), everything stored before stays intact,
# and the memnode counts the refusals.
. "$(dirname "$0")/lib.sh"
start_monitor
start_memnode a --capacity 64M
LEGO_MONITOR=$MON LEGO_EXCACHE_SIZE=8M "$BIN/lego-test-full_test" >"$T/out" 2>"$T/err.log" ||
	fail "full_test: $(cat "$T/out")"
cat "$T/out"
[ "$(node_stat "$MEM_a" enomem)" -ge 1 ] || fail "memnode did not count the refusal"
pass "ENOMEM reaches the program; data intact"
