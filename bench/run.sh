#!/bin/sh
# `make bench`: the foundation's figures in one run.  For each fabric (shm,
# tcp): ExCache miss and hit costs and throughput with a working set of 4x
# the ExCache, next to the floors measured in the same run (first-touch
# page fault, SIGSEGV + mprotect round trip, a userfaultfd miss with no
# fetch and its parts, 4 KiB RPC round trip).
set -e
B=${1:-build}
CACHE=${BENCH_CACHE:-64M}
OUT=${BENCH_OUT:-bench/results}
mkdir -p "$OUT"
{
echo "== Lego foundation benchmark  $(date -u +%Y-%m-%dT%H:%MZ)  $(nproc) CPUs, ExCache $CACHE, 4 KiB lines"
echo "-- floors (no Lego)"
LEGO_EXCACHE_SIZE=$CACHE "$B/bin/lego-bench-excache" --floors --ws 0 2>/dev/null | grep floor || true
for fab in shm tcp; do
	echo "-- 4 KiB RPC round trip, $fab (lego-bench-rpc, embedded memnode)"
	LEGO_FABRIC=$fab "$B/bin/lego-bench-rpc" --count 5000 --batch 16
	echo "-- ExCache, $fab, working set 4x ExCache, prefetch auto"
	LEGO_FABRIC=$fab LEGO_EXCACHE_SIZE=$CACHE "$B/bin/lego-bench-excache"
	echo "-- ExCache, $fab, prefetch off"
	LEGO_FABRIC=$fab LEGO_PREFETCH=off LEGO_EXCACHE_SIZE=$CACHE "$B/bin/lego-bench-excache"
done
} 2>&1 | tee "$OUT/foundation.txt"
echo "(saved in $OUT/foundation.txt)"
