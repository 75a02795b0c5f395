#!/bin/sh
# Replication (issue 6) across hosts emulated by network namespaces, over
# tcp: a monitor, three memnodes and a client host.  A process with
# LEGO_REPLICAS=2 has every granule on two memnodes and every write-back
# stored on both.  One memnode holding its copies is killed with SIGKILL
# mid-run: the process goes on with the replicas, and the monitor has the
# lost copies made again on the third memnode while the process writes
# (re-replication: legoctl shows two copies of every granule again, none
# on the dead node).  Then a second memnode is killed: what is left is
# one copy of each granule, many of them made by re-replication, and the
# process still finishes with native's checksum.  Prints the time from the
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
ARGS="--ws 256M --ops ${IT_REPLICA_OPS:-150000} --pattern uniform --writes 50"
want=$("$WL" $ARGS | sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p')
LEGO_MONITOR=$MON LEGO_REPLICAS=2 LEGO_EXCACHE_SIZE=32M \
	ip netns exec "$(ns_name cl)" "$BIN/lego-run" -- "$WL" $ARGS >"$T/wl.out" 2>"$T/wl.log" &
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
kill -0 $RUNPID 2>/dev/null || fail "the workload ended before the second kill: raise IT_REPLICA_OPS"
kill -9 "$vpid2"
wait $RUNPID || fail "the workload failed after memnode $victim died: $(grep -v watchdog "$T/wl.log" | tail -5)"
got=$(sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p' "$T/wl.out")
[ "$got" = "$want" ] || fail "checksum $got, native $want"
grep -q "is down: its granules go on with their replicas" "$T/wl.log" ||
	fail "the process was not told that memnode $victim is down: $(tail -3 "$T/wl.log")"
line=$(grep -m1 "failover: first miss served by the replica" "$T/wl.log") ||
	fail "no miss served by a replica: $(tail -3 "$T/wl.log")"
at=$(echo "$line" | sed -n 's/.*(at \([0-9]*\)\.\([0-9]*\)).*/\1\2/p')
moved=$(grep -c 'copy made on memnode' "$T/wl.log")
pass "replicas 2 over tcp: memnode $victim of {$holders } killed; first miss served by a replica $((at - t_kill / 1000000)) ms after the kill; two copies of every granule again $(((t_rerep - t_kill) / 1000000)) ms after it ($moved granule copies made; copies per memnode $rerep); then memnode $second killed too; checksum $got equals native; $(sed -n 's/.*\(ops_per_s=[0-9]*\).*/\1/p' "$T/wl.out")"
