#!/bin/sh
# legoctl drain under writes (issue 6), on loopback: three memnodes, a
# process writing at random (50% writes) over 256 MiB with a 32 MiB
# ExCache.  One memnode is drained while the process runs: its granules
# are copied elsewhere while write-backs keep coming (a write-back that
# overtakes the copy must win), the memnode leaves, and the process
# finishes with native's checksum.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
export LEGO_VM_GRANULARITY_ORDER=24 LEGO_LOG_LEVEL=info # 16 granules of 16 MiB
unset LEGO_MONITOR
start_monitor
for n in 1 2 3; do start_memnode "$n" --capacity 1G; done
WL=$BIN/lego-bench-workload
ARGS="--ws 256M --ops ${IT_DRAIN_OPS:-600000} --pattern uniform --writes 50"
want=$("$WL" $ARGS | sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p')
LEGO_MONITOR=$MON LEGO_EXCACHE_SIZE=32M "$BIN/lego-run" -- "$WL" $ARGS >"$T/wl.out" 2>"$T/wl.log" &
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
kill -0 $RUNPID 2>/dev/null || fail "the workload ended before the drain did: raise IT_DRAIN_OPS"
grep -q 'drained, it has left the cluster' "$T/drain.txt" || fail "drain: $(cat "$T/drain.txt")"
for _ in $(seq 50); do kill -0 "$MEMPID_1" 2>/dev/null || break; sleep 0.1; done
kill -0 "$MEMPID_1" 2>/dev/null && fail "memnode 1 was drained but did not leave: $(tail -3 "$T/memnode_1.log")"
wait $RUNPID || fail "the workload failed after the drain: $(grep -v watchdog "$T/wl.log" | tail -5)"
got=$(sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p' "$T/wl.out")
[ "$got" = "$want" ] || fail "checksum $got, native $want"
moved=$(grep -c 'copy made on memnode' "$T/wl.log")
pass "memnode 1 drained while the process wrote: $moved granules moved ($(tail -1 "$T/drain.txt" | sed 's/.*moved (\(.*\))/\1/')); it left; checksum $got equals native; $(sed -n 's/.*\(ops_per_s=[0-9]*\).*/\1/p' "$T/wl.out")"
