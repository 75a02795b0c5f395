#!/bin/sh
# A peer killed (SIGKILL) while a daemon sends it a large reply over shm
# stops no one else (docs/architecture.md, "Failure handling").  libfabric's
# shm provider completes an endpoint's large sends in order through one
# queue that each receiver marks; the dead peer's entry stays busy, and a
# daemon sending from one endpoint finished no large send after it: the
# 257th reply to anyone else was never sent (256 may be in flight per
# connection).  Daemons now send each peer's large replies from a lane of
# its own, closed when the peer says bye or is found gone.
#
# For the storenode and the memnode: two tools ask for a 12 KiB directory
# listing and die before they take it; a third then lists 2000 times; the
# daemons drop the dead tools and close their lanes within their 10 s
# clean-up.  A Lego process reading lines through the memnode (4 KiB
# lines: every reply is large) is killed in the middle: once the memnode
# has found it gone and dropped it, its lane is gone too, and another
# process runs.  A live tool's lane outlives every clean-up.
. "$(dirname "$0")/lib.sh"
mkdir -p "$T/root"
for i in $(seq 1 200); do : >"$T/root/a-file-with-a-rather-long-name-number-$i"; done
start_monitor --lease-ms 1000
start_storenode "$T/root" --log-level info
start_memnode a --log-level info
DP=$BIN/lego-test-deadpeer
# lane N of the daemon at HOST:PORT: its shm file
lane() { echo "/dev/shm/lego.${1##*:}.l$2"; }
# wait_gone FILE SECONDS
wait_gone() {
	n=0
	while [ -e "$1" ]; do n=$((n + 1)); [ $n -gt $(($2 * 10)) ] && return 1; sleep 0.1; done
}
for d in "storenode $STO" "memnode $MEM_a"; do
	set -- $d
	# lanes l0 and l1
	for k in 1 2; do
		"$DP" "$2" die 2>/dev/null
		st=$?
		[ $st -eq 137 ] || fail "$1: the dying tool ended with status $st, not SIGKILL"
	done
	out=$("$DP" "$2" probe 2000) || fail "$1 stopped answering after a peer died: $out"
	pass "$1: $out after two peers died waiting for large replies"
	[ -e "$(lane "$2" 2)" ] && fail "$1: the probe said bye, its lane l2 is still open"
done
# lane l3 of the memnode: a live tool's
"$DP" "$MEM_a" hold >"$T/hold.out" 2>&1 &
HOLD=$!
PIDS="$PIDS $HOLD"
wait_file "$T/hold.out" || fail "the holding tool did not list"

if [ -z "${IT_SANITIZED:-}" ]; then
	# lane l4 of the memnode: its replies of prefetched lines (LEGO_RMA=off:
	# by request, not read one-sided)
	WL=$BIN/lego-bench-workload
	LD_PRELOAD=$LIBLEGO LEGO_MONITOR=$MON LEGO_EXCACHE_SIZE=16M LEGO_EXCACHE_LINE=4K LEGO_RMA=off \
		"$WL" --ws 256M --ops 100000000 --pattern seq --writes 50 >/dev/null 2>"$T/victim.log" &
	v=$!
	PIDS="$PIDS $v"
	wait_file "$(lane "$MEM_a" 4)" || fail "no lane for the process after 15 s: $(tail -3 "$T/victim.log")"
	sleep 1
	kill -9 $v
	wait $v 2>/dev/null
	wait_gone "$(lane "$MEM_a" 4)" 20 || fail "the killed process's lane is still open after 20 s"
	grep -q "dropped: its process is gone" "$T/memnode_a.log" ||
		fail "the killed process's lane closed, but the memnode did not drop it"
	LD_PRELOAD=$LIBLEGO LEGO_MONITOR=$MON LEGO_EXCACHE_SIZE=8M "$WL" --ws 64M --ops 20000 \
		--pattern uniform --writes 50 >"$T/after.out" 2>"$T/after.log" &
	p=$!
	PIDS="$PIDS $p"
	wait $p || fail "a process after the killed one: $(tail -3 "$T/after.log")"
	pass "a Lego process killed in its reads: its lane closed when the memnode dropped it; the next one ran"
fi

for d in "storenode $STO storenode" "memnode $MEM_a memnode_a"; do
	set -- $d
	for k in 0 1; do
		wait_gone "$(lane "$2" $k)" 12 || fail "$1: a dead tool's lane l$k is still open after 12 s"
	done
	[ "$(grep -c "dropped: the tool is gone" "$T/$3.log")" -eq 2 ] ||
		fail "$1: the dead tools' connections were not dropped"
done
# the clean-ups (the daemons' every 10 s, a Lego process's at start) spare
# a live tool's lane
[ -e "$(lane "$MEM_a" 3)" ] || fail "the live tool's lane was removed"
[ "$(node_stat "$MEM_a" lanes)" -ge 1 ] || fail "the memnode's stats count no lane"
pass "dead tools dropped and their lanes closed by the daemons' clean-up; a live tool's kept"
