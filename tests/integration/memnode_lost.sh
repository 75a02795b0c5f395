#!/bin/sh
# A memnode that holds the only copy of a running process's memory dies
# (SIGKILL): the process ends within the detection time (the monitor's
# node timeout, default 3 s, plus one lease renewal, 1.25 s) with exit
# status 69 and a message naming the memnode; it never hangs.  Another
# process whose memory is on a surviving memnode is unaffected.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
start_monitor
start_memnode a
WL=$BIN/lego-bench-workload
ARGS="--ws 256M --ops 100000000 --pattern uniform --writes 50"
"$BIN/lego-run" --monitor "$MON" --excache 32M -- "$WL" $ARGS >"$T/wl.out" 2>"$T/wl.log" &
RUNPID=$!
PIDS="$PIDS $RUNPID"
# its memory is on memnode a; wait until it is there, then start a second
# memnode, for a second process placed there (the most free capacity)
n=0
until [ "$(node_stat "$MEM_a" write_lines)" -gt 1000 ] 2>/dev/null; do
	n=$((n + 1)); [ $n -gt 150 ] && fail "no write-backs to memnode a: $(tail -3 "$T/wl.log")"
	sleep 0.1
done
start_memnode b --capacity 8G
"$BIN/lego-run" --monitor "$MON" --excache 16M -- "$WL" --ws 64M --ops 100000 --pattern uniform \
	--writes 50 >"$T/wl2.out" 2>"$T/wl2.log" &
RUN2=$!
PIDS="$PIDS $RUN2"
sleep 1
kill -9 "$MEMPID_a"
t0=$(date +%s%N)
while kill -0 $RUNPID 2>/dev/null; do
	[ $(( ($(date +%s%N) - t0) / 1000000 )) -gt 8000 ] && fail "the process still runs 8 s after its memnode died"
	sleep 0.05
done
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
wait $RUNPID
st=$?
[ $st -eq 69 ] || fail "exit status $st, want 69: $(tail -3 "$T/wl.log")"
grep -q "memnode 1 (.*), which held .* is down .*memory is lost" "$T/wl.log" ||
	fail "no message naming memnode 1: $(tail -3 "$T/wl.log")"
[ $ms -le 5500 ] || fail "ended $ms ms after the kill (detection time is at most 5 s)"
wait $RUN2 || fail "the process on memnode b failed: $(tail -3 "$T/wl2.log")"
grep -q "checksum=" "$T/wl2.out" || fail "no result from the process on memnode b"
pass "memnode killed: its process ended in $ms ms with status 69 and '$(grep -o 'memnode 1 ([^)]*)' "$T/wl.log" | head -1) ... is down'; a process on another memnode finished"
