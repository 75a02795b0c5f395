#!/bin/sh
# The daemons let go of the shm regions of processes that said bye.  Over
# shm a peer's address holds its region mapped in the daemon; the
# addresses of processes that ended cleanly stayed until their connection
# slot was needed again, so each Lego process that had run left about
# 7.7 MiB of /dev/shm pinned in the memnode and the monitor (40 short
# processes: 307 MB, given back only when the daemons ended).  Now a
# closed connection's address goes 30 s after its bye, like a dropped
# one's.
#
# Twenty short Lego processes; the memnode's and monitor's mappings of
# removed /dev/shm files must fall back within 60 s, and a process after
# them still computes native's checksum.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized # (the processes run under LD_PRELOAD)
start_monitor
start_memnode a
export LEGO_MONITOR="$MON"
WL=$BIN/lego-bench-workload
# mapped shm files of process $1 that have been removed
gone_maps() { grep -c "/dev/shm/lego-c.* (deleted)" "/proc/$1/maps"; }
m0=$(gone_maps "$MEMPID_a")
for i in $(seq 1 20); do
	LD_PRELOAD=$LIBLEGO LEGO_EXCACHE_SIZE=8M "$WL" --ws 8M --ops 1000 --pattern uniform \
		>/dev/null 2>"$T/wl$i.log" || fail "short process $i: $(tail -2 "$T/wl$i.log")"
done
# (the files go within 10 s, the daemons' clean-up; their mappings stay)
t=0
while [ "$(gone_maps "$MEMPID_a")" -lt 10 ] && [ $t -lt 150 ]; do sleep 0.1; t=$((t + 1)); done
m1=$(gone_maps "$MEMPID_a") n1=$(gone_maps "$MON_PID")
[ "$m1" -ge 10 ] || fail "the memnode maps only $m1 removed regions of the 20 processes (before: $m0)"
t=0
while { [ "$(gone_maps "$MEMPID_a")" -gt 2 ] || [ "$(gone_maps "$MON_PID")" -gt 2 ]; } && [ $t -lt 600 ]; do
	sleep 0.1
	t=$((t + 1))
done
m2=$(gone_maps "$MEMPID_a") n2=$(gone_maps "$MON_PID")
[ "$m2" -le 2 ] && [ "$n2" -le 2 ] ||
	fail "60 s after 20 processes ended, the memnode still maps $m2 of their regions, the monitor $n2"
pass "20 processes' regions let go: memnode $m1 -> $m2, monitor $n1 -> $n2 in $((t / 10)) s"
ARGS="--ws 48M --ops 50000 --pattern uniform --writes 50"
native=$("$WL" $ARGS | sed -n 's/.*checksum=//p')
got=$(LD_PRELOAD=$LIBLEGO LEGO_EXCACHE_SIZE=8M "$WL" $ARGS 2>"$T/after.log" | sed -n 's/.*checksum=//p')
[ "$got" = "$native" ] || fail "a process after them: checksum $got, native's $native: $(tail -2 "$T/after.log")"
pass "a process after them: checksum equal to native's"
