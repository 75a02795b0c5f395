#!/bin/sh
# A memnode that holds the only copy of a running process's memory dies
# (SIGKILL): the process ends within the detection time (the monitor's
# node timeout, default 3 s, plus one lease renewal, 1.25 s) with exit
# status 69 and a message naming the memnode; it never hangs.  Another
# process whose memory is on a surviving memnode is unaffected.  The killed
# memnode's shm files (16 MiB of memory) go with the next Lego process's
# start; the live one's stay and it goes on serving.  Then a memnode killed
# holding its own shm queue lock (as while it reads its queue): the
# process's senders spin on that lock, and the process ends as above all
# the same, its shm doctor having released the lock (fabric/shmlock.h;
# before, it spun there renewing no lease: 1 death in about 20).
. "$(dirname "$0")/lib.sh"
skip_if_sanitized

# ends_lost PID LOG WHAT: the process (its memnode just killed) ends within
# 5.5 s with status 69 (never waited for past 8 s); sets ms
ends_lost() {
	t0=$(date +%s%N)
	while kill -0 "$1" 2>/dev/null; do
		[ $(( ($(date +%s%N) - t0) / 1000000 )) -gt 8000 ] &&
			fail "the process still runs 8 s after $3: $(threads "$1")"
		sleep 0.05
	done
	ms=$(( ($(date +%s%N) - t0) / 1000000 ))
	wait "$1"
	st=$?
	[ $st -eq 69 ] || fail "exit status $st, want 69: $(tail -3 "$2")"
	[ $ms -le 5500 ] || fail "ended $ms ms after the kill (detection time is at most 5 s)"
}

start_monitor
start_memnode a
WL=$BIN/lego-bench-workload
ARGS="--ws 256M --ops 100000000 --pattern uniform --writes 50"
# start_busy NAME MEMADDR: a process working through the memnode at
# MEMADDR (placed there: the most free capacity), its output in
# $T/NAME.out and .log; waits until its memory is there; sets BUSY (pid)
start_busy() {
	"$BIN/lego-run" --monitor "$MON" --excache 32M -- "$WL" $ARGS >"$T/$1.out" 2>"$T/$1.log" &
	BUSY=$!
	PIDS="$PIDS $BUSY"
	n=0
	until [ "$(node_stat "$2" write_lines)" -gt 1000 ] 2>/dev/null; do
		n=$((n + 1)); [ $n -gt 150 ] && fail "no write-backs to $2: $(tail -3 "$T/$1.log")"
		sleep 0.1
	done
}
start_busy wl "$MEM_a"
RUNPID=$BUSY
# then a second memnode, for a second process placed there
start_memnode b --capacity 8G
"$BIN/lego-run" --monitor "$MON" --excache 16M -- "$WL" --ws 64M --ops 100000 --pattern uniform \
	--writes 50 >"$T/wl2.out" 2>"$T/wl2.log" &
RUN2=$!
PIDS="$PIDS $RUN2"
sleep 1
kill -9 "$MEMPID_a"
ends_lost $RUNPID "$T/wl.log" "its memnode died"
grep -q "memnode 1 (.*), which held .* is down .*memory is lost" "$T/wl.log" ||
	fail "no message naming memnode 1: $(tail -3 "$T/wl.log")"
wait $RUN2 || fail "the process on memnode b failed: $(tail -3 "$T/wl2.log")"
grep -q "checksum=" "$T/wl2.out" || fail "no result from the process on memnode b"
pass "memnode killed: its process ended in $ms ms with status 69 and '$(grep -o 'memnode 1 ([^)]*)' "$T/wl.log" | head -1) ... is down'; a process on another memnode finished"

# memnode a's shm endpoint, doorbell and FIFO stay behind (SIGKILL) until
# a daemon's periodic clean-up (every 10 s) or a Lego process's start
pa=${MEM_a##*:} pb=${MEM_b##*:}
"$BIN/lego-run" --monitor "$MON" --excache 16M -- "$WL" --ws 32M --ops 20000 --pattern uniform \
	--writes 50 >"$T/wl3.out" 2>"$T/wl3.log" || fail "a process after the clean-up: $(tail -3 "$T/wl3.log")"
grep -q "checksum=" "$T/wl3.out" || fail "no result from the process after the clean-up"
left=$(ls /dev/shm | grep -E "^lego\.$pa(\.|$)")
[ -z "$left" ] || fail "memnode a's shm files stayed: $left"
for f in lego.$pb lego.$pb.bell lego.$pb.fifo; do
	[ -e "/dev/shm/$f" ] || fail "the live memnode b's /dev/shm/$f was removed"
done
pass "the killed memnode's shm files removed by the next process; the live memnode's kept and in use"

# a memnode killed holding its own queue lock (lego-test-deadpeer takes it
# and kills the memnode, then itself)
start_memnode c --capacity 16G
start_busy wl4 "$MEM_c"
RUN4=$BUSY
"$BIN/lego-test-deadpeer" "$MEM_c" lockkill "$MEMPID_c" 2>"$T/deadpeer.log"
ends_lost $RUN4 "$T/wl4.log" "its memnode died holding its lock"
pc=${MEM_c##*:}
# (the file may be gone: "(deleted)")
grep -Eq "shm: the queue lock of /dev/shm/lego\.$pc( \(deleted\))? \(process $MEMPID_c\) was held .*its owner has gone: released" \
	"$T/wl4.log" || fail "the process did not say it released memnode c's lock: $(tail -3 "$T/wl4.log")"
pass "memnode killed holding its queue lock: its process released the lock and ended in $ms ms with status 69"
