#!/bin/sh
# Explicit API semantics, concurrent faults and a shadow-checked random
# stress, with a 2 MiB ExCache, on the embedded default; then with
# 64 KiB lines and LRU eviction against daemons started by hand over tcp.
# (20 000 stress operations: nearly every one misses in 2 MiB, and 50 000
# took 20 s of the suite's time, 30 s more under the sanitizers.)
. "$(dirname "$0")/lib.sh"
A=20000 B=10000
# (AddressSanitizer: memory errors, not throughput; a quarter as many)
[ -n "${IT_SANITIZED:-}" ] && A=5000 B=2500
LEGO_EXCACHE_SIZE=2M "$BIN/lego-test-api_test" $A >"$T/a.out" 2>"$T/a.log" ||
	fail "embedded, 4K lines: $(cat "$T/a.out")"
pass "embedded default, 4 KiB lines, fifo"
start_monitor
start_memnode a --capacity 2G
LEGO_MONITOR=$MON LEGO_FABRIC=tcp LEGO_EXCACHE_SIZE=8M LEGO_EXCACHE_LINE=64K LEGO_EVICT=lru \
	"$BIN/lego-test-api_test" $B >"$T/b.out" 2>"$T/b.log" || fail "tcp, 64K lines, lru: $(cat "$T/b.out")"
pass "tcp, 64 KiB lines, lru"
