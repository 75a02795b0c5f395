#!/bin/sh
# scripts/shm-kill-repro.sh [BUILD] [ROUNDS]: Lego processes killed with
# SIGKILL in the middle of their reads must not stop the memnode for
# anyone else (docs/architecture.md, "Failure handling", lanes).  Before
# daemons had lanes, libfabric's shm provider left the memnode unable to
# complete any later large send, to any process, after such a death.
#
# One memnode and monitor on loopback; each round starts a process that
# streams writes through a small ExCache (4 KiB lines, so many replies are
# in flight), kills it with SIGKILL 1-3 s in, then runs a short probe
# process (2-3 s).  One that has not finished after 15 s is the wedge: the
# script prints the memnode's stack, its replies_over_limit counter and
# stops (and so does a probe that fails, with the memnode's stack).  The
# build before lanes wedged in round 1 here (1 round in 6 to 40 at earlier
# stops); with lanes, none in 180 rounds; docs/architecture.md says what
# is still open; since the shm doctor (fabric/shmlock.h) a lock left
# taken is released and counted (shown at the end).  Not part of make test
# (minutes per run; it_shm_deadpeer checks the same deterministically).
set -u
BUILD=${1:-build}
ROUNDS=${2:-60}
IT_BUILD=$(cd "$BUILD" && pwd)
export IT_BUILD
. "$(dirname "$0")/../tests/integration/lib.sh"
start_monitor
start_memnode a
WL=$BIN/lego-bench-workload
export LEGO_MONITOR="$MON"
i=0
while [ $i -lt "$ROUNDS" ]; do
	i=$((i + 1))
	LD_PRELOAD=$LIBLEGO LEGO_EXCACHE_SIZE=32M LEGO_EXCACHE_LINE=4K "$WL" --ws 512M \
		--ops 100000000 --pattern seq --writes 50 >/dev/null 2>&1 &
	v=$!
	sleep "$(awk -v s=$i 'BEGIN { srand(s); printf "%.2f", 1 + rand() * 2 }')"
	kill -9 $v
	wait $v 2>/dev/null
	LD_PRELOAD=$LIBLEGO LEGO_EXCACHE_SIZE=16M "$WL" --ws 64M --ops 20000 --pattern uniform \
		--writes 50 >/dev/null 2>"$T/probe.log" &
	p=$!
	PIDS="$PIDS $p"
	n=0
	while kill -0 $p 2>/dev/null && [ $n -lt 150 ]; do sleep 0.1; n=$((n + 1)); done
	if kill -0 $p 2>/dev/null; then
		echo "round $i: the probe is still waiting after 15 s: the memnode's shm endpoint is wedged"
		echo "memnode replies_over_limit: $(node_stat "$MEM_a" replies_over_limit)"
		gdb -q -batch -p "$MEMPID_a" -ex "thread apply all bt" 2>/dev/null | grep -E "^#"
		tail -3 "$T/memnode_a.log"
		exit 1
	fi
	if ! wait $p; then
		echo "round $i: the probe failed: $(tail -2 "$T/probe.log")"
		gdb -q -batch -p "$MEMPID_a" -ex "thread apply all bt" 2>/dev/null | grep -E "^#"
		exit 1
	fi
	echo "round $i: probe done in $((n / 10)).$((n % 10)) s"
done
echo "no wedge in $ROUNDS rounds; queue locks left by killed processes, released by the memnode:" \
	"$(node_stat "$MEM_a" shm_locks_released)"
grep "was held for" "$T/memnode_a.log"
