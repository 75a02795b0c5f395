#!/bin/sh
# legoctl drain under writes (issue 6), on loopback: three memnodes, a
# process writing at random (50% writes) over 256 MiB with a 32 MiB
# ExCache.  One memnode is drained while the process runs: its granules
# are copied elsewhere while write-backs keep coming (a write-back that
# overtakes the copy must win), the memnode leaves, the process goes on
# writing for 2 s more and stops (--stop-file), with the checksum of a
# native run of as many operations.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
export LEGO_VM_GRANULARITY_ORDER=24 LEGO_LOG_LEVEL=info # 16 granules of 16 MiB
unset LEGO_MONITOR
start_monitor
for n in 1 2 3; do start_memnode "$n" --capacity 1G; done
WL=$BIN/lego-bench-workload
WL_ARGS="--ws 256M --pattern uniform --writes 50"
LEGO_MONITOR=$MON LEGO_EXCACHE_SIZE=32M "$BIN/lego-run" -- "$WL" $WL_ARGS --ops 1000000000 \
	--stop-file "$T/stop" >"$T/wl.out" 2>"$T/wl.log" &
RUNPID=$!
PIDS="$PIDS $RUNPID"
# drain the memnode that holds the most granules once it holds written lines
n=0
while :; do
	w=$(node_stat "$MEM_1" write_lines 2>/dev/null)
	[ "${w:-0}" -gt 20000 ] && break
	n=$((n + 1)); [ $n -gt 300 ] && fail "no write-backs reach memnode 1: $(tail -3 "$T/wl.log")"
	kill -0 $RUNPID 2>/dev/null || fail "the workload ended early: $(tail -3 "$T/wl.log")"
	sleep 0.1
done
"$BIN/legoctl" --monitor "$MON" drain 1 >"$T/drain.txt" 2>&1 || fail "legoctl drain 1: $(cat "$T/drain.txt")"
kill -0 $RUNPID 2>/dev/null || fail "the workload ended before the drain did: $(tail -3 "$T/wl.log")"
grep -q 'drained, it has left the cluster' "$T/drain.txt" || fail "drain: $(cat "$T/drain.txt")"
for _ in $(seq 50); do kill -0 "$MEMPID_1" 2>/dev/null || break; sleep 0.1; done
kill -0 "$MEMPID_1" 2>/dev/null && fail "memnode 1 was drained but did not leave: $(tail -3 "$T/memnode_1.log")"
sleep 2 # writes after the drain too
touch "$T/stop"
wait $RUNPID || fail "the workload failed after the drain: $(grep -v watchdog "$T/wl.log" | tail -5)"
wl_same "$T/wl.out"
moved=$(grep -c 'copy made on memnode' "$T/wl.log")
pass "memnode 1 drained while the process wrote: $moved granules moved ($(tail -1 "$T/drain.txt" | sed 's/.*moved (\(.*\))/\1/')); it left; checksum $GOT equals native's after $OPS operations; $(sed -n 's/.*\(ops_per_s=[0-9]*\).*/\1/p' "$T/wl.out")"
