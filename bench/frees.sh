#!/bin/sh
# How long freeing a large array holds the rest of a program up, natively
# and under Lego, in one run (lego-bench-freestall, bench/free_stall.c):
# one thread writes and unmaps a BENCH_FREE_SIZE array 3 times while a
# second reads random pages of its own 64 MiB and times every read.  Under
# Lego (lego-run, ExCache BENCH_CACHE, shm) those reads miss, one-sided
# (rma on) or by request (rma off), and the memnode that serves them also
# frees the array.  Prints munmap's mean time, the reader's longest read
# while an munmap ran and otherwise, and (Lego) the longest RPC.
#
#   bench/frees.sh [BUILD]   (BENCH_FREE_SIZE: 1G; BENCH_CACHE: 256M;
#                             BENCH_ROUNDS: 2; BENCH_OUT)
set -e
. "$(dirname "$0")/lib.sh"
bench_paths "${1:-build}"
SIZE=${BENCH_FREE_SIZE:-1G}
CACHE=${BENCH_CACHE:-256M}
ROUNDS=${BENCH_ROUNDS:-2}
# run KIND: its figures (munmap_ms during_ms other_ms rpc_ms) into $T/fig
run() {
	case $1 in
	native) set -- ;;
	rma-*) set -- env LEGO_RMA="${1#rma-}" "$BIN/lego-run" --excache "$CACHE" --fabric shm \
		--stats="$T/stats.json" -- ;;
	esac
	"$@" "$BIN/lego-bench-freestall" --size "$SIZE" --rounds 3 >"$T/out" 2>"$T/err" ||
		{ echo "bench: lego-bench-freestall failed: $(tail -3 "$T/err")" >&2; return 1; }
	rpc=-
	if [ $# -gt 0 ]; then
		rpc=$(sed -n 's/.*"latency.rpc":{[^}]*"max_ns":\([0-9]*\).*/\1/p' "$T/stats.json" |
			awk '{ printf "%.1f", $1 / 1e6 }')
	fi
	{
		sed -n 's/.*mean \([0-9.]*\) ms.*/\1/p; s/.*longest \([0-9.]*\) ms during an munmap, \([0-9.]*\) ms otherwise.*/\1 \2/p' \
			"$T/out" | tr '\n' ' '
		echo "$rpc"
	} >"$T/fig"
}
echo "round,system,munmap_ms,read_max_during_ms,read_max_other_ms,rpc_max_ms" >"$OUT/frees.csv"
echo "== large frees: $SIZE written and unmapped 3 times beside a reader, ExCache $CACHE, shm  $(date -u +%Y-%m-%dT%H:%MZ)  $(nproc) CPUs"
printf '%-6s %-8s %10s %18s %17s %11s\n' round system munmap_ms read_max_during_ms read_max_other_ms rpc_max_ms
r=0
while [ $r -lt "$ROUNDS" ]; do
	r=$((r + 1))
	for sys in native rma-on rma-off; do
		run $sys || exit 1
		set -- $(cat "$T/fig")
		printf '%-6s %-8s %10s %18s %17s %11s\n' $r $sys "$1" "$2" "$3" "$4"
		echo "$r,$sys,$1,$2,$3,$4" >>"$OUT/frees.csv"
	done
done
echo "(saved in $OUT/frees.csv)"
