#!/bin/sh
# Bad input: truncated, oversized, wrong-magic, wrong-length, wrong-version,
# wrong-opcode, wrong-session and wrong-key messages to the memnode and the
# monitor are each refused with a log line and a counter, and well-behaved
# clients (including a real Lego workload) keep being served.
. "$(dirname "$0")/lib.sh"
export LEGO_CLUSTER_KEY=sekrit
start_monitor
start_memnode a --capacity 1G
for target in "$MEM_a" "$MON"; do
	"$BIN/lego-test-badmsg" "$target" sekrit >"$T/bad.out" 2>&1 || fail "badmsg $target: $(cat "$T/bad.out")"
	pass "daemon $target refused and counted every bad message"
done
grep -q "refused message" "$T/memnode_a.log" || fail "memnode logged no refusal"
grep -q "does not know our cluster key" "$T/memnode_a.log" || fail "memnode did not log the key mismatch"
grep -q "refused message" "$T/monitor.log" || fail "monitor logged no refusal"
# the daemons still serve real work
LEGO_MONITOR=$MON LEGO_EXCACHE_SIZE=4M "$BIN/lego-example-bigarray" 32M 2 >"$T/work.out" 2>&1 ||
	fail "workload after the abuse: $(cat "$T/work.out")"
kill -0 "$MEMPID_a" || fail "memnode died"
pass "daemons alive and serving after the abuse"
