#!/bin/sh
# A client killed with SIGKILL: its memory on the memnode is freed within
# the lease (at most 10 s), as the memnode's counters show.
. "$(dirname "$0")/lib.sh"
start_monitor
start_memnode a --capacity 1G
LEGO_MONITOR=$MON LEGO_EXCACHE_SIZE=8M "$BIN/lego-test-lease_holder" 32 >"$T/out" 2>"$T/holder.log" &
pid=$!
PIDS="$PIDS $pid"
wait_file "$T/out" 30 || fail "holder did not get ready"
stored=$(node_stat "$MEM_a" stored)
[ "$stored" -ge $((32 << 20)) ] || fail "memnode holds only $stored bytes"
kill -9 $pid
t0=$(date +%s%N)
while :; do
	s=$(node_stat "$MEM_a" stored); n=$(node_stat "$MEM_a" address_spaces)
	[ "$s" -eq 0 ] && [ "$n" -eq 0 ] && break
	ms=$((($(date +%s%N) - t0) / 1000000))
	[ $ms -gt 10000 ] && fail "memory still held after $ms ms: stored $s"
	sleep 0.2
done
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$(node_stat "$MEM_a" as_freed)" -ge 1 ] || fail "as_freed not counted"
pass "32 MiB of a SIGKILLed client freed $ms ms after the kill (stored was $stored)"
