#!/bin/sh
# A shell running many short commands under lego-run, the runtime started
# in each at once (--local-start 0): every fork is a Lego process that
# connects to the monitor and the memnode, and every command it execs is
# another.  The daemons used to remove a gone peer's address 30 s after,
# and libfabric's shm endpoint holds 256 peers: at about the 250th command
# the memnode's table was full, every fork after that failed ("forked
# child cannot reach memnode 1"), and once the monitor died of SIGSEGV in
# the shm provider.  Now a gone process's connection and address go within
# seconds, and at once when the table is half full (fabric/rpc.c,
# "Addresses").
#
# 400 commands (a fork and an exec each) against one monitor and memnode:
# every one must run, both daemons must live, and the regions the monitor
# maps (one per peer) must stay under 192 throughout, well under the 256
# (here: at most 122-128, at 80 commands a second; the build before this
# test ran none of them past the 250th or so).
. "$(dirname "$0")/lib.sh"
skip_if_sanitized # (the commands run under LD_PRELOAD)
start_monitor
start_memnode a
N=400
# the most regions of Lego peers the monitor maps at once, sampled (each
# larger than a page; the lock doctor's one-page views are not counted)
(
	peak=0
	while [ ! -e "$T/done" ]; do
		n=$(awk '$2 == "rw-s" && /\/dev\/shm\/lego-c\./ { sub("-", " ", $1); print $1 }' \
			"/proc/$MON_PID/maps" | while read -r lo hi; do
			[ $((0x$hi - 0x$lo)) -gt 4096 ] && echo x
		done | wc -l)
		[ "$n" -gt "$peak" ] && peak=$n && echo "$peak" >"$T/peak"
		sleep 0.2
	done
) &
PIDS="$PIDS $!"
t0=$(date +%s)
LEGO_MONITOR=$MON timeout 300 "$BIN/lego-run" --local-start 0 --excache 16M -- sh -c \
	'i=0; n=0; while [ $i -lt "$1" ]; do i=$((i + 1)); /bin/true && n=$((n + 1)); done; echo $n' \
	sh "$N" >"$T/out" 2>"$T/log"
st=$?
: >"$T/done"
s=$(($(date +%s) - t0))
ran=$(cat "$T/out")
[ $st -eq 0 ] && [ "$ran" = "$N" ] ||
	fail "status $st, $ran of $N commands ran in $s s: $(sort "$T/log" | uniq -c | sort -rn | head -3)"
kill -0 "$MON_PID" 2>/dev/null || fail "the monitor died: $(tail -3 "$T/monitor.log")"
eval "kill -0 \$MEMPID_a" 2>/dev/null || fail "the memnode died: $(tail -3 "$T/memnode_a.log")"
sleep 0.3
peak=$(cat "$T/peak" 2>/dev/null || echo 0)
[ "$peak" -gt 0 ] || fail "no peer region seen in the monitor (is the check still right?)"
[ "$peak" -lt 192 ] || fail "the monitor mapped $peak peer regions at once (the shm table holds 256)"
pass "$N commands under lego-run in $s s, every one ran; the monitor mapped at most $peak peer regions at once"
