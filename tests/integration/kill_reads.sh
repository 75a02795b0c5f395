#!/bin/sh
# A Lego process killed with SIGKILL in the middle of its one-sided reads
# stops no one else.  libfabric 1.17's shm provider makes fi_read's copy
# (process_vm_readv) while holding the spinlock of the target's shared
# queue; a reader killed there left the memnode's lock taken, and the
# memnode itself, and every process using it, spun on it for good: their
# memory was declared lost.  Lego now reads a memnode of the same host
# with process_vm_readv itself, outside the provider and any shared lock
# (docs/architecture.md, "One-sided reads").
#
# Each round starts a process whose misses are all one-sided reads (16 MiB
# of random reads through a 4 MiB ExCache, prefetch off: its table knows
# where every line is), kills it with SIGKILL 0.05-0.35 s after it has
# filled its memory and begun reading, then a probe process must do its
# own 2 000 reads and writes (8 MiB) against the same memnode within 30 s.
# With the provider's fi_read, 5 of 53 such kills wedged the memnode (runs
# stopped at rounds 8, 3, 5, 25 and 12) when the kill came 0.6-1.2 s after
# the start, often still during the fill (a process start takes 0.3 s
# here, the fill as much again): that code would pass 30 rounds by chance
# about 1 time in 20, and fewer now that every kill lands among the reads.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized # (under the sanitizers the memnode offers no one-sided reads)
ROUNDS=${KILL_ROUNDS:-30}
start_monitor
start_memnode a
export LEGO_MONITOR="$MON"
WL=$BIN/lego-bench-workload
VICTIM="LD_PRELOAD=$LIBLEGO LEGO_EXCACHE_SIZE=4M LEGO_PREFETCH=off"

# the victims' reads are one-sided: the same run, not killed
env $VICTIM LEGO_STATS="$T/whole.json" "$WL" --ws 16M --ops 20000 --pattern uniform \
	>/dev/null 2>"$T/whole.log" || fail "a whole run failed: $(tail -3 "$T/whole.log")"
M=$(json_stat "$T/whole.json" excache.misses)
R=$(json_stat "$T/whole.json" excache.rma_reads)
[ "$R" -ge $((M * 9 / 10)) ] || fail "only $R of $M misses were one-sided reads"

i=0
while [ $i -lt "$ROUNDS" ]; do
	i=$((i + 1))
	env $VICTIM "$WL" --ws 16M --ops 1000000000 --pattern uniform --ready-file "$T/ready$i" \
		>/dev/null 2>&1 &
	v=$!
	PIDS="$PIDS $v"
	wait_file "$T/ready$i" 30 || fail "round $i: the reader did not fill its memory in 30 s"
	sleep "$(awk -v s=$i 'BEGIN { srand(s); printf "%.2f", 0.05 + rand() * 0.3 }')"
	kill -9 $v
	wait $v 2>/dev/null
	env $VICTIM "$WL" --ws 8M --ops 2000 --pattern uniform --writes 50 \
		>"$T/probe.out" 2>"$T/probe.log" &
	p=$!
	PIDS="$PIDS $p"
	n=0
	while kill -0 $p 2>/dev/null && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
	if kill -0 $p 2>/dev/null; then
		gdb -q -batch -p "$MEMPID_a" -ex "thread apply all bt" 2>/dev/null | grep -E "^#" | head -12
		fail "round $i: the probe still runs after 30 s: the memnode is stuck"
	fi
	wait $p || fail "round $i: the probe failed: $(tail -3 "$T/probe.log")"
	grep -q checksum= "$T/probe.out" || fail "round $i: the probe printed no checksum"
done
pass "$R of $M misses one-sided; $ROUNDS readers killed mid-read, each followed by a probe that finished"
