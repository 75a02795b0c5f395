#!/bin/sh
# Misses per second of one and of two application threads, in one run:
# uniform random reads of a working set four times the ExCache, each
# configuration with 1 and then 2 threads, the checksums equal to native's.
#
#   near:     the memnode beside the program over shm, one-sided reads on
#             (as bench/compare.sh runs Lego).  On a 2-vCPU machine the
#             application, its fault thread and the memnode already keep
#             both CPUs busy with one thread, so a second has no CPU to
#             run on: this measures the machine.
#   distant:  every message held back on arrival for 0-1 ms at random
#             (LEGO_FAULTS=delay=100:1, in the program and in the memnode
#             it starts, so a round trip takes about 1 ms; one-sided reads
#             off, as they carry no message): a memnode far away.  Misses
#             then wait on the network, not on the CPUs, and this measures
#             whether two threads' misses are in flight at once.
#
#   bench/threads.sh [BUILD]   (BENCH_WS, BENCH_CACHE, BENCH_OPS for near;
#                               BENCH_FAR_WS, BENCH_FAR_CACHE, BENCH_FAR_OPS;
#                               BENCH_OUT)
set -e
B=${1:-build}
BIN=$(cd "$B/bin" && pwd)
OUT=${BENCH_OUT:-bench/results}
mkdir -p "$OUT"
. "$(dirname "$0")/lib.sh"
WL=$BIN/lego-bench-workload
json() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1"; }
field() { sed -n "s/.*$2=\([0-9a-f.]*\).*/\1/p" "$1"; }

# run NAME WS CACHE OPS THREADS [VAR=VALUE...]: one Lego run; prints
# misses/s and checks the checksum against a native run of the same
run() {
	name=$1 ws=$2 cache=$3 ops=$4 th=$5
	shift 5
	args="--ws $ws --ops $ops --pattern uniform --threads $th"
	"$WL" $args >"$T/native.out"
	env "$@" LEGO_STATS="$T/$name.json" "$BIN/lego-run" --excache "$cache" --fabric shm -- \
		"$WL" $args >"$T/$name.out" 2>"$T/$name.log"
	want=$(field "$T/native.out" checksum)
	got=$(field "$T/$name.out" checksum)
	[ -n "$got" ] && [ "$got" = "$want" ] ||
		{ echo "bench: $name: checksum '$got', native $want" >&2; tail -3 "$T/$name.log" >&2; exit 1; }
	secs=$(field "$T/$name.out" secs)
	misses=$(json "$T/$name.json" excache.misses)
	mean=$(sed -n 's/.*"latency.miss":{[^}]*"mean_ns":\([0-9]*\).*/\1/p' "$T/$name.json")
	mps=$(awk -v m="$misses" -v s="$secs" 'BEGIN { printf "%.0f", m / s }')
	printf '%-8s %7s %10s %12s %14s %9s\n' "${name%-*}" "$th" "$misses" "$mps" \
		"$(awk -v n="$mean" 'BEGIN { printf "%.1f", n / 1e3 }')" yes
	echo "${name%-*},$th,$ws,$cache,$ops,$misses,$secs,$mps,$mean" >>"$OUT/threads.csv"
	eval "mps_$(echo "$name" | tr - _)=$mps"
}

NEAR_WS=${BENCH_WS:-1G} NEAR_CACHE=${BENCH_CACHE:-256M} NEAR_OPS=${BENCH_OPS:-300000}
FAR_WS=${BENCH_FAR_WS:-256M} FAR_CACHE=${BENCH_FAR_CACHE:-64M} FAR_OPS=${BENCH_FAR_OPS:-20000}
echo "config,threads,ws,cache,ops,misses,secs,misses_per_s,miss_mean_ns" >"$OUT/threads.csv"
{
echo "== Lego, one and two threads  $(date -u +%Y-%m-%dT%H:%MZ)  $(nproc) CPUs, uniform reads, 4 KiB lines, shm"
echo "   near: W=$NEAR_WS ExCache=$NEAR_CACHE ops=$NEAR_OPS; distant: W=$FAR_WS ExCache=$FAR_CACHE ops=$FAR_OPS, messages held 0-1 ms"
printf '%-8s %7s %10s %12s %14s %9s\n' config threads misses misses/s miss_mean_us checksum
run near-1 "$NEAR_WS" "$NEAR_CACHE" "$NEAR_OPS" 1
run near-2 "$NEAR_WS" "$NEAR_CACHE" "$NEAR_OPS" 2
run distant-1 "$FAR_WS" "$FAR_CACHE" "$FAR_OPS" 1 LEGO_FAULTS=delay=100:1 LEGO_RMA=off
run distant-2 "$FAR_WS" "$FAR_CACHE" "$FAR_OPS" 2 LEGO_FAULTS=delay=100:1 LEGO_RMA=off
awk -v a="$mps_near_2" -v b="$mps_near_1" -v c="$mps_distant_2" -v d="$mps_distant_1" 'BEGIN {
	printf "two threads / one, misses/s: near %.2fx, distant %.2fx\n", a / b, c / d }'
} | tee "$OUT/threads.txt"
