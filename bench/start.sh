#!/bin/sh
# What starting processes costs under Lego, against native, in one run: a
# shell that runs /bin/true BENCH_PROCS times, and one that compiles a
# small C file that many times (cc -c: the driver, cc1 and as, each a
# process), natively, under LD_PRELOAD against a monitor and memnodes on
# this host with the default LEGO_LOCAL_START (a process starts its
# runtime once it has taken that much memory), and with LEGO_LOCAL_START=0
# (every process starts its runtime before main, as before 2026-12-02);
# ROUNDS times, alternating.  The compiled objects must equal native's.
#
#   bench/start.sh [BUILD]   (BENCH_PROCS: 20; BENCH_ROUNDS: 3; BENCH_OUT)
set -e
. "$(dirname "$0")/lib.sh"
bench_paths "${1:-build}"
N=${BENCH_PROCS:-20}
ROUNDS=${BENCH_ROUNDS:-3}
CC=$(command -v cc || command -v gcc)
bench_cluster 4G
now() { date +%s.%N; }
cat >"$T/small.c" <<'C'
#include <stdio.h>
int main(void) { printf("%d\n", 42); return 0; }
C
# run KIND WHAT: seconds for N processes of WHAT (true | cc) under KIND
run() {
	case $1 in
	native) set -- "$2" env ;;
	lego) set -- "$2" env LD_PRELOAD="$LIB" LEGO_MONITOR="$MON" ;;
	eager) set -- "$2" env LD_PRELOAD="$LIB" LEGO_MONITOR="$MON" LEGO_LOCAL_START=0 ;;
	esac
	w=$1
	shift
	t0=$(now)
	if [ "$w" = true ]; then
		"$@" sh -c 'i=0; while [ $i -lt "$1" ]; do /bin/true; i=$((i + 1)); done' sh "$N"
	else
		"$@" sh -c 'i=0; while [ $i -lt "$1" ]; do "$2" -O2 -c "$3" -o "$4"; i=$((i + 1)); done' \
			sh "$N" "$CC" "$T/small.c" "$T/small.$kind.o"
	fi
	t1=$(now)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }'
}
echo "round,what,native_s,lego_s,eager_s,lego_ratio,eager_ratio" >"$OUT/start.csv"
echo "== process start: $N processes a run, $ROUNDS rounds  $(date -u +%Y-%m-%dT%H:%MZ)  $(nproc) CPUs"
printf '%-6s %-5s %9s %9s %9s %11s %12s\n' round what native_s lego_s eager_s lego/native eager/native
r=0
while [ $r -lt "$ROUNDS" ]; do
	r=$((r + 1))
	for what in true cc; do
		[ "$what" = cc ] && [ -z "$CC" ] && continue
		kind=native; n=$(run native "$what")
		kind=lego; l=$(run lego "$what" 2>"$T/lego.log") ||
			{ echo "bench: the run under Lego failed: $(tail -3 "$T/lego.log")" >&2; exit 1; }
		kind=eager; e=$(run eager "$what" 2>"$T/eager.log") ||
			{ echo "bench: the run under Lego failed: $(tail -3 "$T/eager.log")" >&2; exit 1; }
		if [ "$what" = cc ]; then
			for k in lego eager; do
				cmp -s "$T/small.native.o" "$T/small.$k.o" ||
					{ echo "bench: the object built under Lego ($k) differs from native's" >&2; exit 1; }
			done
		fi
		row=$(awk -v n="$n" -v l="$l" -v e="$e" 'BEGIN { printf "%.2f %.2f", l / n, e / n }')
		set -- $row
		printf '%-6s %-5s %9s %9s %9s %10sx %11sx\n' "$r" "$what" "$n" "$l" "$e" "$1" "$2"
		echo "$r,$what,$n,$l,$e,$1,$2" >>"$OUT/start.csv"
	done
done
echo "(lego: LEGO_LOCAL_START's default; eager: LEGO_LOCAL_START=0; objects equal to native's)"
