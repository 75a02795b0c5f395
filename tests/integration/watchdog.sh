#!/bin/sh
# The watchdog: a memnode paused with SIGSTOP during a run is named by the
# process within 3 s (LEGO_WATCHDOG_MS=1000); after SIGCONT the workload
# goes on for a second and stops (--stop-file) with the checksum of a
# native run of as many operations.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
start_monitor
start_memnode a
WL=$BIN/lego-bench-workload
WL_ARGS="--ws 256M --pattern uniform --writes 50"
LEGO_WATCHDOG_MS=1000 "$BIN/lego-run" --monitor "$MON" --excache 32M -- "$WL" $WL_ARGS \
	--ops 1000000000 --stop-file "$T/stop" >"$T/wl.out" 2>"$T/wl.log" &
RUNPID=$!
PIDS="$PIDS $RUNPID"
sleep 1.5
kill -0 $RUNPID 2>/dev/null || fail "the workload ended before the pause: $(tail -3 "$T/wl.log")"
kill -STOP "$MEMPID_a"
t0=$(date +%s%N)
while ! grep -q "watchdog: memnode" "$T/wl.log"; do
	[ $(( ($(date +%s%N) - t0) / 1000000 )) -gt 3000 ] && { kill -CONT "$MEMPID_a"; fail "no watchdog line 3 s after SIGSTOP: $(tail -3 "$T/wl.log")"; }
	sleep 0.05
done
seen=$(( ($(date +%s%N) - t0) / 1000000 ))
sleep 1
kill -CONT "$MEMPID_a"
sleep 1
touch "$T/stop"
wait $RUNPID || fail "the workload failed after SIGCONT: $(tail -5 "$T/wl.log")"
wl_same "$T/wl.out"
line=$(grep -m1 "watchdog: memnode" "$T/wl.log")
echo "$line" | grep -Eq "has not answered p2m_(read|write)" || fail "watchdog line names no request: $line"
pass "watchdog named the paused memnode after $seen ms: ${line#*watchdog: }; checksum equal to native's after SIGCONT ($OPS operations)"
