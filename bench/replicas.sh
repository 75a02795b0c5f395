#!/bin/sh
# The cost of replication (issue 6), in one run: a write-heavy workload
# (every op writes, working set 8x the ExCache, so nearly every line is
# written back) with LEGO_REPLICAS=1 and 2, against one monitor and two
# memnodes on this host.  Prints ops/s, write-back throughput (MB/s of
# line data written back, counting each line once) and the write-back
# round trip, and the ratio of 2 copies to 1.
#   bench/replicas.sh [BUILD]   (BENCH_WS, BENCH_CACHE, BENCH_OPS, BENCH_OUT)
set -e
B=${1:-build}
BIN=$(cd "$B/bin" && pwd)
WS=${BENCH_WS:-512M}
CACHE=${BENCH_CACHE:-64M}
OPS=${BENCH_OPS:-300000}
OUT=${BENCH_OUT:-bench/results}
mkdir -p "$OUT"
. "$(dirname "$0")/lib.sh"
bench_cluster 4G
sleep 1 # both memnodes heart-beating, so the monitor can place two copies
ARGS="--ws $WS --ops $OPS --pattern seq --writes 100"
want=$("$BIN/lego-bench-workload" $ARGS | sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p')
json() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1"; }
{
echo "== Lego replication cost  $(date -u +%Y-%m-%dT%H:%MZ)  $(nproc) CPUs, working set $WS, ExCache $CACHE, 4 KiB lines, shm"
printf '%-9s %10s %14s %14s %10s\n' copies ops/s wb_MB/s wb_rtt_us checksum
for r in 1 2; do
	LEGO_REPLICAS=$r LEGO_STATS="$T/st$r.json" "$BIN/lego-run" --monitor "$MON" --excache "$CACHE" -- \
		"$BIN/lego-bench-workload" $ARGS >"$T/w$r.out" 2>"$T/w$r.log"
	ops=$(sed -n 's/.*ops_per_s=\([0-9]*\).*/\1/p' "$T/w$r.out")
	secs=$(sed -n 's/.*secs=\([0-9.]*\).*/\1/p' "$T/w$r.out")
	sum=$(sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p' "$T/w$r.out")
	out=$(json "$T/st$r.json" net.bytes_out)
	rtt=$(sed -n 's/.*"latency.writeback":{[^}]*"mean_ns":\([0-9]*\).*/\1/p' "$T/st$r.json")
	[ "$sum" = "$want" ] || { echo "bench: checksum $sum with $r copies, native $want" >&2; exit 1; }
	eval "ops$r=$ops"
	printf '%-9s %10s %14s %14s %10s\n' "$r" "$ops" \
		"$(awk -v b="$out" -v s="$secs" 'BEGIN { printf "%.1f", b / 1e6 / s }')" \
		"$(awk -v n="$rtt" 'BEGIN { printf "%.1f", n / 1e3 }')" "$sum"
done
echo "2 copies / 1 copy, ops/s: $(awk -v a="$ops2" -v b="$ops1" 'BEGIN { printf "%.2f", a / b }')"
} 2>&1 | tee "$OUT/replicas.txt"
echo "(saved in $OUT/replicas.txt)"
