#!/bin/sh
# The watchdog: a memnode paused with SIGSTOP during a run is named by the
# process within 3 s (LEGO_WATCHDOG_MS=1000); after SIGCONT the workload
# finishes with native's checksum.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
start_monitor
start_memnode a
WL=$BIN/lego-bench-workload
ARGS="--ws 256M --ops 80000 --pattern uniform --writes 50"
want=$("$WL" $ARGS | sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p')
LEGO_WATCHDOG_MS=1000 "$BIN/lego-run" --monitor "$MON" --excache 32M -- "$WL" $ARGS \
	>"$T/wl.out" 2>"$T/wl.log" &
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
wait $RUNPID || fail "the workload failed after SIGCONT: $(tail -5 "$T/wl.log")"
got=$(sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p' "$T/wl.out")
[ "$got" = "$want" ] || fail "checksum $got, native $want"
line=$(grep -m1 "watchdog: memnode" "$T/wl.log")
echo "$line" | grep -Eq "has not answered p2m_(read|write)" || fail "watchdog line names no request: $line"
pass "watchdog named the paused memnode after $seen ms: ${line#*watchdog: }; checksum equal after SIGCONT"
