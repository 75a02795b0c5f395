#!/bin/sh
# Many processes at once (issue 8): N Lego processes (default 32) run the
# comparison workload concurrently against one monitor and two memnodes on
# this host, each with its own working set and ExCache, uniform random
# pages with 50% writes.  Every process must exit 0 with native's checksum;
# prints aggregate and per-process ops/s and the miss latency
# distribution across processes (from each process's LEGO_STATS histogram:
# the median and the spread of their p50, p99 and p99.9).  Exit 1 if any
# process failed or computed a wrong checksum.
#   bench/load.sh [BUILD]   (LOAD_N, LOAD_WS, LOAD_CACHE, LOAD_OPS, LOAD_FABRIC, BENCH_OUT)
set -e
B=${1:-build}
BIN=$(cd "$B/bin" && pwd)
N=${LOAD_N:-32}
WS=${LOAD_WS:-64M}
CACHE=${LOAD_CACHE:-16M}
OPS=${LOAD_OPS:-20000}
FAB=${LOAD_FABRIC:-auto}
OUT=${BENCH_OUT:-bench/results}
mkdir -p "$OUT"
. "$(dirname "$0")/lib.sh"
export LEGO_FABRIC=$FAB
bench_cluster 8G
ARGS="--ws $WS --ops $OPS --pattern uniform --writes 50"
want=$("$BIN/lego-bench-workload" $ARGS | sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p')
t0=$(date +%s.%N)
run=""
for i in $(seq "$N"); do
	LEGO_STATS="$T/st$i.json" "$BIN/lego-run" --monitor "$MON" --excache "$CACHE" -- \
		"$BIN/lego-bench-workload" $ARGS >"$T/w$i.out" 2>"$T/w$i.log" &
	run="$run $!"
done
PIDS="$PIDS $run"
bad=0
i=0
for p in $run; do
	i=$((i + 1))
	wait "$p" || { bad=$((bad + 1)); echo "load: process $i failed: $(tail -2 "$T/w$i.log")" >&2; }
done
t1=$(date +%s.%N)
/usr/bin/python3 - "$T" "$N" "$want" "$t0" "$t1" "$WS" "$CACHE" "$OPS" "$FAB" "$bad" >"$T/report" <<'PY' && ok=0 || ok=1
import json, re, statistics as st, sys
t, n, want, t0, t1, ws, cache, ops, fab, bad = sys.argv[1:]
n, wall, bad = int(n), float(t1) - float(t0), int(bad)
rates, p50, p99, p999, wrong = [], [], [], [], 0
for i in range(1, n + 1):
    try:
        line = open("%s/w%d.out" % (t, i)).read()
        s = json.load(open("%s/st%d.json" % (t, i)))
    except (OSError, ValueError):
        continue
    m = re.search(r"ops_per_s=(\d+).*checksum=([0-9a-f]+)", line)
    if not m:
        continue
    rates.append(int(m.group(1)))
    wrong += m.group(2) != want
    h = s["latency.miss"]
    p50.append(h["p50_ns"] / 1e3); p99.append(h["p99_ns"] / 1e3); p999.append(h["p999_ns"] / 1e3)
print("== Lego load: %d processes at once, each %s working set, %s ExCache, %s ops "
      "(uniform, 50%% writes), fabric %s, 2 memnodes" % (n, ws, cache, ops, fab))
ok = len(rates)
print("processes  %d finished with native's checksum, %d wrong checksum, %d failed"
      % (ok - wrong, wrong, bad + n - ok))
if rates:
    print("ops/s      total %.0f over %.1f s wall (start-up included); per process min %d, median %d, max %d"
          % (n * int(ops) / wall, wall, min(rates), st.median(rates), max(rates)))
    q = lambda v: "median %.0f, min %.0f, max %.0f" % (st.median(v), min(v), max(v))
    print("miss p50   us: %s" % q(p50))
    print("miss p99   us: %s" % q(p99))
    print("miss p99.9 us: %s" % q(p999))
sys.exit(0 if ok == n and not wrong and not bad else 1)
PY
cat "$T/report"
cp "$T/report" "$OUT/load.txt"
exit $ok
