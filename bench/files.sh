#!/bin/sh
# `make bench`, storage part: sequential and random read/write throughput
# on a Lego file (through the memnode page cache to the storenode) next to
# the same program on a local file, in one run.  The storenode's root is on
# the same local disk, so the ratio is the cost of Lego's path.
set -e
B=${1:-build}
MB=${BENCH_FILE_MB:-256}
OUT=${BENCH_OUT:-bench/results}
mkdir -p "$OUT"
D=$(mktemp -d /tmp/lego-bench-files.XXXXXX)
trap 'rm -rf "$D"' EXIT
{
echo "== Lego files benchmark  $(date -u +%Y-%m-%dT%H:%MZ)  $(nproc) CPUs, one ${MB} MiB file"
echo "-- local file"
"$B/bin/lego-bench-files" "$D/local.bin" "$MB" | tee "$D/local.txt"
echo "-- Lego file (/lego, embedded memnode page cache and storenode)"
LEGO_STORE_ROOT=$D/store "$B/bin/lego-run" -- "$B/bin/lego-bench-files" /lego/bench.bin "$MB" | tee "$D/lego.txt"
echo "-- Lego / local"
paste "$D/local.txt" "$D/lego.txt" | awk '$1 != "checksum" { printf "%-12s %6.2fx\n", $1, $7 / $2 }
	$1 == "checksum" { print ($2 == $4 ? "checksums equal" : "CHECKSUMS DIFFER") }'
} 2>&1 | tee "$OUT/files.txt"
echo "(saved in $OUT/files.txt)"
