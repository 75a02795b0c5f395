#!/bin/sh
# What a fork costs under Lego, against native, in one run: the program of
# tests/integration/prog_fork_churn.c (each round churns the heap, forks a
# child that checks the parent's blocks, allocates its own and exits; the
# parent checks its blocks after) natively and under LD_PRELOAD against a
# monitor and memnodes on this host, ROUNDS times each, alternating.  The
# outputs must equal native's.  Per fork, from LEGO_TRACE: the parent's
# part (register and clone the address space, fork) and the child's (its
# own endpoints, userfaultfd and threads) up to fork's return in each.
#
#   bench/fork.sh [BUILD]   (BENCH_FORKS: forks per run, 30;
#                            BENCH_ROUNDS: 3; BENCH_OUT)
set -e
. "$(dirname "$0")/lib.sh"
bench_paths "${1:-build}"
P=$BIN/lego-test-prog_fork_churn
N=${BENCH_FORKS:-30}
ROUNDS=${BENCH_ROUNDS:-3}
bench_cluster 4G
now() { date +%s.%N; }
# median of the fork() durations (us) in trace $1 whose result matches $2
med() {
	grep "fork() = $2" "$1" | sed 's/.*<\([0-9.]*\) us>.*/\1/' | sort -n |
		awk '{ a[NR] = $1 } END { if (NR) printf "%.1f", a[int((NR + 1) / 2)] / 1000; else print "-" }'
}
echo "round,native_s,lego_s,ratio,child_fork_ms,parent_fork_ms" >"$OUT/fork.csv"
echo "== fork: $N forks a run, $ROUNDS rounds  $(date -u +%Y-%m-%dT%H:%MZ)  $(nproc) CPUs"
printf '%-6s %9s %9s %7s %15s %16s\n' round native_s lego_s ratio child_fork_ms parent_fork_ms
r=0
while [ $r -lt "$ROUNDS" ]; do
	r=$((r + 1))
	t0=$(now)
	"$P" "$N" >"$T/native.out"
	t1=$(now)
	rm -f "$T/trace"
	LD_PRELOAD=$LIB LEGO_MONITOR=$MON LEGO_TRACE="$T/trace" "$P" "$N" >"$T/lego.out" 2>"$T/lego.log" ||
		{ echo "bench: the run under Lego failed: $(tail -3 "$T/lego.log")" >&2; exit 1; }
	t2=$(now)
	cmp -s "$T/native.out" "$T/lego.out" ||
		{ echo "bench: output differs from native's" >&2; diff "$T/native.out" "$T/lego.out" >&2; exit 1; }
	row=$(awk -v a="$t0" -v b="$t1" -v c="$t2" 'BEGIN { printf "%.2f %.2f %.2f", b - a, c - b, (c - b) / (b - a) }')
	set -- $row
	child=$(med "$T/trace" 0)
	parent=$(med "$T/trace" "[1-9]")
	printf '%-6s %9s %9s %6sx %15s %16s\n' "$r" "$1" "$2" "$3" "$child" "$parent"
	echo "$r,$1,$2,$3,$child,$parent" >>"$OUT/fork.csv"
done
echo "(outputs equal to native's; the Lego runs include the process's start, ~0.35 s)"
