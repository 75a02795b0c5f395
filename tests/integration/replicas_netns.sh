#!/bin/sh
# Replication (issue 6) across hosts emulated by network namespaces, over
# tcp: a monitor, three memnodes and a client host.  A process with
# LEGO_REPLICAS=2 has every granule on two memnodes and every write-back
# stored on both.  One memnode holding its copies is killed with SIGKILL
# mid-run: the process goes on with the replicas, and the monitor has the
# lost copies made again on the third memnode while the process writes
# (re-replication: legoctl shows two copies of every granule again, none
# on the dead node).  Then a second memnode is killed: what is left is
# one copy of each granule, many of them made by re-replication; the
# process goes on until the last memnode has served 5 000 more lines, and
# stops (--stop-file) with the checksum of a native run of as many
# operations.  Prints the time from the
# kill to the first miss a replica served and to two copies again.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_netns.sh"
skip_if_sanitized
ns_require
# 16 MiB granules: the 256 MiB working set is 16 granules to re-replicate
export LEGO_FABRIC=tcp LEGO_VM_GRANULARITY_ORDER=24 LEGO_LOG_LEVEL=info
unset LEGO_MONITOR
ns_switch
ns_host mon 1
for n in 1 2 3; do ns_host "m$n" $((10 + n)); done
ns_host cl 100
MON=$(ns_addr 1):7000
ns_start mon "$T/monitor.log" "$BIN/lego-monitor" --listen "$MON" --addr-file "$T/mon.addr"
wait_file "$T/mon.addr" || fail "monitor did not start"
for n in 1 2 3; do
	ns_start "m$n" "$T/memnode_m$n.log" "$BIN/lego-memnode" --monitor "$MON" \
		--listen "$(ns_addr $((10 + n))):7100" --capacity 2G --addr-file "$T/m$n.addr"
	eval "MPID_$n=$NS_PID"
	wait_file "$T/m$n.addr" || fail "memnode $n did not start"
done
ctl() { ns_exec cl "$BIN/legoctl" "$@"; }
WL=$BIN/lego-bench-workload
WL_ARGS="--ws 256M --pattern uniform --writes 50"
LEGO_MONITOR=$MON LEGO_REPLICAS=2 LEGO_EXCACHE_SIZE=32M \
	ip netns exec "$(ns_name cl)" "$BIN/lego-run" -- "$WL" $WL_ARGS --ops 1000000000 \
	--stop-file "$T/stop" >"$T/wl.out" 2>"$T/wl.log" &
RUNPID=$!
PIDS="$PIDS $RUNPID"
# wait until two memnodes hold written lines: the copies
n=0
while :; do
	holders=""
	for m in 1 2 3; do
		w=$(ctl stats "$(cat "$T/m$m.addr")" 2>/dev/null | awk '$1 == "write_lines" { print $2 }')
		[ "${w:-0}" -gt 3000 ] && holders="$holders $m"
	done
	[ "$(echo $holders | wc -w)" -ge 2 ] && break
	n=$((n + 1)); [ $n -gt 300 ] && fail "no two memnodes with write-backs (have:$holders): $(tail -3 "$T/wl.log")"
	kill -0 $RUNPID 2>/dev/null || fail "the workload ended early: $(tail -3 "$T/wl.log")"
	sleep 0.1
done
victim=$(echo $holders | cut -d' ' -f1)
eval vpid=\$MPID_$victim
kill -9 "$vpid"
t_kill=$(date +%s%N)
# copies: "N:C ..." copies per memnode of the workload, or "" (a python
# check of legoctl --json procs); two copies of each granule, none on the
# victim, is re-replication done
copies() {
	ctl --monitor "$MON" --json procs 2>/dev/null | $PY -c '
import json, sys
v, = sys.argv[1:]
for p in json.load(sys.stdin):
    c = {n["node"]: n["copies"] for n in p["nodes"]}
    done = sum(c.values()) == 2 * p["granules"] and c.get(int(v), 0) == 0
    print(("done " if done else "") + " ".join("%d:%d" % kv for kv in sorted(c.items())))
' "$victim"
}
rerep=""
for _ in $(seq 600); do
	kill -0 $RUNPID 2>/dev/null || break
	c=$(copies)
	case "$c" in done*) rerep=${c#done }; t_rerep=$(date +%s%N); break ;; esac
	sleep 0.05
done
[ -n "$rerep" ] || fail "two copies of every granule were not restored while the workload ran (last: ${c:-none}): $(grep -i 'move\|copy' "$T/wl.log" | tail -3)"
# the second death: one copy of everything is left, much of it made by
# re-replication
second=""
for m in $holders; do [ "$m" != "$victim" ] && { second=$m; break; }; done
eval vpid2=\$MPID_$second
kill -0 $RUNPID 2>/dev/null || fail "the workload ended before the second kill: $(tail -3 "$T/wl.log")"
kill -9 "$vpid2"
# misses with one memnode of the three left: the survivor serves 5 000
# lines more before the process stops
last=""
for m in 1 2 3; do [ "$m" != "$victim" ] && [ "$m" != "$second" ] && last=$m; done
r0=$(ctl stats "$(cat "$T/m$last.addr")" | awk '$1 == "read_lines" { print $2 }')
n=0
while :; do
	r=$(ctl stats "$(cat "$T/m$last.addr")" 2>/dev/null | awk '$1 == "read_lines" { print $2 }')
	[ "${r:-0}" -ge $((r0 + 5000)) ] && break
	n=$((n + 1)); [ $n -gt 600 ] && fail "memnode $last served $((${r:-0} - r0)) lines in 60 s after the second kill: $(tail -3 "$T/wl.log")"
	kill -0 $RUNPID 2>/dev/null || fail "the workload ended after the second kill: $(grep -v watchdog "$T/wl.log" | tail -3)"
	sleep 0.1
done
touch "$T/stop"
wait $RUNPID || fail "the workload failed after memnode $victim died: $(grep -v watchdog "$T/wl.log" | tail -5)"
wl_same "$T/wl.out"
grep -q "is down: its granules go on with their replicas" "$T/wl.log" ||
	fail "the process was not told that memnode $victim is down: $(tail -3 "$T/wl.log")"
line=$(grep -m1 "failover: first miss served by the replica" "$T/wl.log") ||
	fail "no miss served by a replica: $(tail -3 "$T/wl.log")"
at=$(echo "$line" | sed -n 's/.*(at \([0-9]*\)\.\([0-9]*\)).*/\1\2/p')
moved=$(grep -c 'copy made on memnode' "$T/wl.log")
pass "replicas 2 over tcp: memnode $victim of {$holders } killed; first miss served by a replica $((at - t_kill / 1000000)) ms after the kill; two copies of every granule again $(((t_rerep - t_kill) / 1000000)) ms after it ($moved granule copies made; copies per memnode $rerep); then memnode $second killed too, memnode $last served $((r - r0)) lines more; checksum $GOT equals native's after $OPS operations; $(sed -n 's/.*\(ops_per_s=[0-9]*\).*/\1/p' "$T/wl.out")"
