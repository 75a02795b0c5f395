#!/bin/sh
# A process killed holding a queue lock of libfabric's shm provider stops
# no daemon (fabric/shmlock.h).  Each shm endpoint's region holds a
# spinlock that a sender takes to queue a message and the owner takes to
# read its queue; a process killed holding one leaves it taken, and the
# daemon spun on it for good, a whole CPU, answering no one on the host
# again (seen: 1 kill in about 150 of a busy Lego process; and a program
# that crashed inside the provider at exit).  Daemons now release such a
# lock within about 1.5 s.
#
# For the storenode and the memnode: a tool takes the daemon's queue lock
# and is killed holding it (a sender's death); another takes its own
# region's lock, asks for something and is killed (the daemon's reply must
# take that lock).  After each, a tool asks 200 times and must be answered,
# and the daemon says what it released.  Then, the daemon stopped, a tool
# sends a request and closes its endpoint at once, 30 times: each of the
# 30 is stood in for.  A live tool holding the
# memnode's lock for 5 s does not get it declared down.  Meanwhile a Lego
# process works through the memnode, which stalls it for a moment; it
# stops once all that is over (--stop-file), with the checksum of a
# native run of as many operations.
. "$(dirname "$0")/lib.sh"
mkdir -p "$T/root"
start_monitor
start_storenode "$T/root" --log-level info
start_memnode a --log-level info
DP=$BIN/lego-test-deadpeer
WL=$BIN/lego-bench-workload
WL_ARGS="--ws 96M --pattern uniform --writes 50"
if [ -z "${IT_SANITIZED:-}" ]; then
	# it works until the deaths are over (--stop-file)
	LD_PRELOAD=$LIBLEGO LEGO_MONITOR=$MON LEGO_EXCACHE_SIZE=16M "$WL" $WL_ARGS \
		--ops 1000000000 --stop-file "$T/stop" >"$T/wl.out" 2>"$T/wl.log" &
	WLPID=$!
	PIDS="$PIDS $WLPID"
fi
for d in "storenode $STO storenode $STO_PID" "memnode $MEM_a memnode_a $MEMPID_a"; do
	set -- $d
	n=0
	if [ "$1" = memnode ] && [ -n "${WLPID:-}" ]; then
		# a live tool holds the memnode's queue lock for 5 s: its loop
		# waits on the lock, silent to the monitor past the 3 s node
		# timeout; but its process runs here and its memory is intact:
		# not down (before: declared down, and the Lego process
		# stopped).  The tool raises the region's signal and rings its
		# bell meanwhile, as a sender would, so that the memnode comes
		# to the lock (before 2026-12-02 that was left to the Lego
		# process, itself stuck behind the lock: twice in CI the
		# memnode slept and heart-beat through the hold).
		"$DP" "$2" lockhold 5000 || fail "lockhold tool: status $?"
		grep -q "memnode 1 .* is running on this host: not declared down yet" "$T/monitor.log" ||
			fail "the monitor said nothing of the memnode held up 5 s: $(tail -2 "$T/monitor.log")"
		out=$(timeout 30 "$DP" "$2" probe 200) || fail "memnode after a 5 s lock hold (status $?): $out"
		pass "memnode: its queue lock held 5 s by a live tool: not declared down; answered: $out"
	fi
	for mode in lockdie ownlockdie; do
		t0=$(date +%s%N)
		"$DP" "$2" $mode 2>"$T/dp.err"
		st=$?
		[ $st -eq 137 ] || fail "$1 $mode: the tool ended with status $st, not SIGKILL: $(cat "$T/dp.err")"
		out=$(timeout 30 "$DP" "$2" probe 200) ||
			fail "$1 stopped answering after a tool died in $mode (status $?): $out"
		n=$((n + 1))
		got=$(grep -c "was held for .*: released" "$T/$3.log")
		[ "$got" -ge $n ] || fail "$1 $mode: answered, but no lock was released (log: $(tail -2 "$T/$3.log"))"
		pass "$1: a tool killed in $mode; answered again $((($(date +%s%N) - t0) / 1000000)) ms after the kill: $out"
	done
	[ "$(node_stat "$2" shm_locks_released)" -ge 2 ] || fail "$1: shm_locks_released says $(node_stat "$2" shm_locks_released)"
	# a tool that sends and closes its endpoint at once: its region is
	# gone when the daemon reads the request (the build before: the daemon
	# died of SIGSEGV inside libfabric, within 3 such tools)
	# (one tool, 30 endpoints one after the other: 30 processes took 13 s).
	# The daemon is stopped (SIGSTOP) meanwhile, so that every endpoint is
	# gone when it reads the request: left to the race, the daemon read
	# all 30 first once in CI (a third kind of VM) and stood in for none.
	# It must not be stopped holding its region's queue lock (reading its
	# queue): the tool's sends would spin on it until the end (seen: 2 in
	# 13 runs hung so, with the Lego process keeping the memnode busy).
	s0=$(node_stat "$2" shm_standins)
	t0=$(date +%s%N)
	tries=0
	while :; do
		kill -STOP "$4"
		"$DP" "$2" lockfree
		st=$?
		[ $st -eq 0 ] && break
		kill -CONT "$4"
		[ $st -eq 3 ] || fail "$1: lockfree tool: status $st"
		tries=$((tries + 1))
		[ $tries -lt 100 ] || fail "$1: its queue lock was held each of 100 times it was stopped"
		sleep 0.02
	done
	"$DP" "$2" quit 30
	st=$?
	kill -CONT "$4"
	[ $st -eq 0 ] || fail "$1: quit tool: status $st"
	stopped_ms=$((($(date +%s%N) - t0) / 1000000))
	out=$(timeout 30 "$DP" "$2" probe 200) || fail "$1 after 30 endpoints closed at once (status $?): $out"
	grep -q "terminated with signal" "$T/$3.log" && fail "$1 crashed: $(tail -5 "$T/$3.log")"
	s1=$(node_stat "$2" shm_standins)
	[ $((s1 - s0)) -eq 30 ] || fail "$1: stood in for $((s1 - s0)) of 30 closed endpoints (shm_standins $s0 -> $s1)"
	pass "$1: 30 endpoints closed before it read their first request (stopped $stopped_ms ms; $tries stops found it holding its queue lock), 30 stood in for; answered: $out"
done
grep "released" "$T/memnode_a.log" | sed 's/^/  /'
grep "missed heartbeats.*: down" "$T/monitor.log" && fail "a daemon was declared down"
if [ -n "${WLPID:-}" ]; then
	kill -0 "$WLPID" 2>/dev/null || fail "the Lego process beside the deaths ended early: $(tail -3 "$T/wl.log")"
	touch "$T/stop"
	wait $WLPID || fail "the Lego process beside the deaths: $(tail -3 "$T/wl.log")"
	wl_same "$T/wl.out"
	pass "a Lego process working through the memnode meanwhile: checksum equal to a native run of as many operations ($OPS, $GOT)"
fi
