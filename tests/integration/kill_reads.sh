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
# Each round starts two processes whose misses are all one-sided reads (16
# MiB of random reads through a 4 MiB ExCache each, prefetch off: its table
# knows where every line is), kills each with SIGKILL 0.05-0.35 s after
# both have filled their memory and begun reading (the second after the
# first), then a probe process must do its own 2 000 reads and writes (8
# MiB) against the same memnode within 30 s; 15 rounds, 30 kills.
# With the provider's fi_read, 5 of 53 such kills wedged the memnode (runs
# stopped at rounds 8, 3, 5, 25 and 12) when the kill came 0.6-1.2 s after
# the start, often still during the fill (a process start takes 0.3 s
# here, the fill as much again): that code would pass 30 kills by chance
# about 1 time in 20, and fewer now that every kill lands among the reads.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized # (under the sanitizers the memnode offers no one-sided reads)
ROUNDS=${KILL_ROUNDS:-15}
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

# two readers a round, each killed at its own time among its reads (one
# probe for both: a round took ~1.7 s, most of it two process starts)
i=0
while [ $i -lt "$ROUNDS" ]; do
	i=$((i + 1))
	vs=""
	for k in a b; do
		env $VICTIM "$WL" --ws 16M --ops 1000000000 --pattern uniform --ready-file "$T/ready$i$k" \
			>/dev/null 2>&1 &
		vs="$vs $!"
		PIDS="$PIDS $!"
	done
	for k in a b; do
		wait_file "$T/ready$i$k" 30 || fail "round $i: reader $k did not fill its memory in 30 s"
	done
	j=0
	for v in $vs; do
		j=$((j + 1))
		sleep "$(awk -v s=$i$j 'BEGIN { srand(s); printf "%.2f", 0.05 + rand() * 0.3 }')"
		kill -9 $v
		wait $v 2>/dev/null
	done
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
pass "$R of $M misses one-sided; $((2 * ROUNDS)) readers killed mid-read, two by two, each pair followed by a probe that finished"
