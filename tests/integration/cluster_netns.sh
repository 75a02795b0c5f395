#!/bin/sh
# A cluster of hosts emulated by network namespaces (issue 6): a monitor,
# three memnodes and a client host, each in its own namespace, joined by
# veth pairs to a bridge, everything over the tcp provider.  One process
# with a 2 GiB working set and a 128 MiB ExCache spreads its memory over
# the three memnodes (legoctl --json procs) and its checksum verifies; a
# fourth memnode that joins while the process runs, between its two
# halves, receives placements of the second half.  Then memnode 2 is
# drained (legoctl drain) while the process reads everything back: its
# granules move to the others, it leaves the cluster (exits by itself),
# and the checksum still verifies.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_netns.sh"
ns_require
SIZE=${IT_CLUSTER_SIZE:-2G}
[ -n "${IT_SANITIZED:-}" ] && SIZE=256M # ASan: correctness only, smaller (16 granules)
T0=$(date +%s)

# Every Lego program here speaks tcp: on one machine `auto` would pick shm.
# 16 MiB granules: 2 GiB spans 128 of them.  256K lines keep the 2 GiB
# pass short over tcp.
export LEGO_FABRIC=tcp LEGO_VM_GRANULARITY_ORDER=24 LEGO_LOG_LEVEL=info
unset LEGO_MONITOR

ns_switch
ns_host mon 1
for n in 1 2 3 4; do ns_host "m$n" $((10 + n)); done
ns_host cl 100
MON=$(ns_addr 1):7000

ns_start mon "$T/monitor.log" "$BIN/lego-monitor" --listen "$MON" --addr-file "$T/mon.addr" \
	--placement free
wait_file "$T/mon.addr" || fail "monitor did not start"

start_mem() { # start_mem N: memnode N on host mN (pid in MPID_N)
	ns_start "m$1" "$T/memnode_m$1.log" "$BIN/lego-memnode" --monitor "$MON" \
		--listen "$(ns_addr $((10 + $1))):7100" --capacity 2G --addr-file "$T/m$1.addr"
	eval "MPID_$1=$NS_PID"
	wait_file "$T/m$1.addr" || fail "memnode $1 did not start"
}
ctl() { ns_exec cl "$BIN/legoctl" --monitor "$MON" "$@"; }
# up N: wait until the monitor counts N memnodes up
up() {
	for _ in $(seq 100); do
		_u=$(ctl --json status 2>/dev/null | sed -n 's/.*"memnodes_up":\([0-9]*\).*/\1/p')
		[ "${_u:-0}" -ge "$1" ] && return 0
		sleep 0.1
	done
	fail "the monitor sees ${_u:-no} memnodes up, not $1: $(ctl status 2>&1)"
}
for n in 1 2 3; do start_mem $n; done
up 3

# the workload waits on a fifo between its halves and before it frees
mkfifo "$T/wl.in"
LEGO_MONITOR=$MON LEGO_EXCACHE_SIZE=128M LEGO_EXCACHE_LINE=256K \
	ip netns exec "$(ns_name cl)" "$BIN/lego-test-cluster_fill" "$SIZE" 2 7 \
	<"$T/wl.in" >"$T/wl.out" 2>"$T/wl.log" &
WL=$!
PIDS="$PIDS $WL"
exec 9>"$T/wl.in"
# until WORD: wait for the workload to print WORD
until_wl() {
	for _ in $(seq 1200); do
		grep -q "^$1" "$T/wl.out" && return 0
		kill -0 $WL 2>/dev/null || fail "workload died: $(cat "$T/wl.out" "$T/wl.log" | tail -5)"
		sleep 0.1
	done
	fail "workload did not print $1 in 120 s"
}

# check_procs FILE NODES: the workload's granules are on each memnode of
# NODES (space-separated ids), and the counts add up
check_procs() {
	$PY - "$1" "$WL" "$2" <<'EOF' || fail "legoctl --json procs: $(cat "$1")"
import json, sys
procs = json.load(open(sys.argv[1]))
p = [p for p in procs if p["pid"] == int(sys.argv[2])]
if len(p) != 1:
    sys.exit("pid %s is not listed once" % sys.argv[2])
p = p[0]
on = {n["node"]: n["granules"] for n in p["nodes"]}
want = [int(x) for x in sys.argv[3].split()]
missing = [n for n in want if on.get(n, 0) == 0]
if missing:
    sys.exit("no granules on memnode(s) %s: %s" % (missing, on))
if sum(on.values()) != p["granules"]:
    sys.exit("per-node counts %s do not add up to %d" % (on, p["granules"]))
print(" ".join("%d:%d" % kv for kv in sorted(on.items())))
EOF
}

until_wl half
ctl --json procs >"$T/procs1.json" || fail "legoctl --json procs failed"
D1=$(check_procs "$T/procs1.json" "1 2 3")

# a fourth memnode joins mid-run; the second half is placed after it is up
start_mem 4
up 4
echo >&9
# while the second half is written, the memnodes report traffic (the
# rates placement "traffic" uses)
busy=0
for _ in $(seq 50); do
	grep -q '^paused' "$T/wl.out" && break
	ctl --json nodes >"$T/nodes_busy.json" 2>/dev/null &&
		$PY -c 'import json, sys; sys.exit(0 if sum(n["traffic"] for n in json.load(open(sys.argv[1]))) > 0 else 1)' \
			"$T/nodes_busy.json" && { busy=1; ctl nodes >"$T/nodes_busy.txt" 2>&1; break; }
	sleep 0.1
done
grep -q '^paused' "$T/wl.out" || [ $busy = 1 ] || fail "no memnode reports traffic while the workload writes: $(ctl nodes 2>&1)"
until_wl paused
ctl --json procs >"$T/procs2.json" || fail "legoctl --json procs failed"
D2=$(check_procs "$T/procs2.json" "1 2 3 4")
ctl nodes >"$T/nodes.txt" 2>&1
ctl procs >"$T/procs.txt" 2>&1
ctl status >"$T/status.txt" 2>&1

# drain memnode 2 while the workload reads everything back, then read it
# all again from where it went
ctl drain 2 >"$T/drain.txt" 2>&1 &
DR=$!
PIDS="$PIDS $DR"
echo again >&9
wait $DR || fail "legoctl drain 2: $(cat "$T/drain.txt")"
until_wl "reread 1"
echo again >&9
until_wl "reread 2"
echo >&9
exec 9>&-
grep -q 'drained, it has left the cluster' "$T/drain.txt" || fail "drain did not finish: $(cat "$T/drain.txt")"
for _ in $(seq 50); do kill -0 "$MPID_2" 2>/dev/null || break; sleep 0.1; done
kill -0 "$MPID_2" 2>/dev/null && fail "memnode 2 was drained but did not leave: $(tail -3 "$T/memnode_m2.log")"
ctl --json nodes | $PY -c 'import json, sys; n = {x["id"]: x["state"] for x in json.load(sys.stdin) if x["role"] == "memnode"}; sys.exit(0 if n[2] == "left" else "memnode 2 is %s" % n[2])' ||
	fail "legoctl nodes does not show memnode 2 as left: $(ctl nodes 2>&1)"
wait $WL || fail "workload exit status $?: $(cat "$T/wl.out")"
grep -q '^OK' "$T/wl.out" || fail "checksum after the drain: $(cat "$T/wl.out")"
grep -q '^reread 2: .* 0 bad words' "$T/wl.out" || fail "read back after the drain: $(cat "$T/wl.out")"
moved=$(grep -c 'copy made on memnode' "$T/wl.log")
[ "$moved" -gt 0 ] || fail "the drain moved nothing while the process ran: $(cat "$T/drain.txt")"
DRAIN="memnode 2 drained mid-run: $moved granules moved by the process ($(tail -1 "$T/drain.txt" | sed 's/.*moved (\(.*\))/\1/'))"
[ -f "$T/nodes_busy.txt" ] && sed 's/^/  /' "$T/nodes_busy.txt"
sed 's/^/  /' "$T/status.txt" "$T/nodes.txt" "$T/procs.txt"
pass "$(grep ^size "$T/wl.out"); $(grep ^checksum "$T/wl.out" | cut -d, -f1); granules per memnode: $D1 after the first half, $D2 after memnode 4 joined; $DRAIN; $(($(date +%s) - T0)) s"
