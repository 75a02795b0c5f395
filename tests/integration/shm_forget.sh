#!/bin/sh
# The daemons let go of the shm regions of processes that have ended.
# Over shm a peer's address holds its region mapped in the daemon; the
# addresses of processes that ended cleanly stayed until their connection
# slot was needed again, so each Lego process that had run left about
# 7.7 MiB of /dev/shm pinned in the memnode and the monitor (40 short
# processes: 307 MB, given back only when the daemons ended).  Then a
# closed connection's address went 30 s after its bye, which let a shell
# loop under lego-run fill the daemons' shm tables (256 peers) in 30 s
# (it_fork_storm).  Now a connection whose process of this host is gone
# is dropped within a second, and its address removed 5 s later
# (fabric/rpc.c, "Addresses").
#
# Twenty short Lego processes; 12 s after the last one the memnode and
# the monitor must map no region of a process that is gone (the 30 s of
# before kept all of them), and a process after them still computes
# native's checksum.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized # (the processes run under LD_PRELOAD)
start_monitor
start_memnode a
export LEGO_MONITOR="$MON"
WL=$BIN/lego-bench-workload
# mappings in daemon $1 of shm regions of Lego processes that are gone
# (the region itself, and the lock doctor's view of its first page)
gone_maps() {
	sed -n 's|.*/dev/shm/lego-c\.\([0-9]*\)\..*|\1|p' "/proc/$1/maps" |
		while read -r pid; do kill -0 "$pid" 2>/dev/null || echo "$pid"; done | wc -l
}
for i in $(seq 1 20); do
	LD_PRELOAD=$LIBLEGO LEGO_EXCACHE_SIZE=8M "$WL" --ws 8M --ops 1000 --pattern uniform \
		>/dev/null 2>"$T/wl$i.log" || fail "short process $i: $(tail -2 "$T/wl$i.log")"
done
m1=$(gone_maps "$MEMPID_a") n1=$(gone_maps "$MON_PID")
t=0
while { [ "$(gone_maps "$MEMPID_a")" -gt 0 ] || [ "$(gone_maps "$MON_PID")" -gt 0 ]; } && [ $t -lt 120 ]; do
	sleep 0.1
	t=$((t + 1))
done
m2=$(gone_maps "$MEMPID_a") n2=$(gone_maps "$MON_PID")
[ "$m2" -eq 0 ] && [ "$n2" -eq 0 ] ||
	fail "12 s after 20 processes ended, the memnode still maps $m2 of their regions, the monitor $n2"
pass "20 processes' regions let go: memnode $m1 -> $m2, monitor $n1 -> $n2 mappings in $t/10 s"
ARGS="--ws 48M --ops 50000 --pattern uniform --writes 50"
native=$("$WL" $ARGS | sed -n 's/.*checksum=//p')
got=$(LD_PRELOAD=$LIBLEGO LEGO_EXCACHE_SIZE=8M "$WL" $ARGS 2>"$T/after.log" | sed -n 's/.*checksum=//p')
[ "$got" = "$native" ] || fail "a process after them: checksum $got, native's $native: $(tail -2 "$T/after.log")"
pass "a process after them: checksum equal to native's"
