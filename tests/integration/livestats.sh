#!/bin/sh
# Live stats: `legoctl stats PID` shows a running Lego process's counters,
# and they grow between two calls; `legoctl top --once` lists two
# concurrent Lego processes (also as JSON).
. "$(dirname "$0")/lib.sh"
start_monitor
start_memnode a
export LEGO_MONITOR=$MON
WL=$BIN/lego-bench-workload
start_wl() { # start_wl NAME: a workload under lego-run; sets WLPID_NAME to the workload's pid
	"$BIN/lego-run" --excache 16M -- "$WL" --ws 128M --ops 100000000 --pattern uniform \
		>"$T/$1.out" 2>"$T/$1.log" &
	_r=$!
	PIDS="$PIDS $_r"
	# (lego-run's first child may be legoctl, its check of the monitor)
	_c=""
	for _ in $(seq 100); do
		for _k in $(cat /proc/$_r/task/*/children 2>/dev/null); do
			case "$(cat /proc/$_k/comm 2>/dev/null)" in lego-bench-wor*) _c=$_k ;; esac
		done
		[ -n "$_c" ] && break
		sleep 0.1
	done
	[ -n "$_c" ] || fail "no workload under lego-run $_r"
	PIDS="$_c $PIDS"
	eval "WLPID_$1=$_c"
}
[ -n "${IT_SANITIZED:-}" ] && { echo "SKIP: preload under sanitizers"; exit 77; }
start_wl one
start_wl two
sleep 3
m1=$("$BIN/legoctl" --monitor "$MON" stats "$WLPID_one" | awk '$1 == "excache.misses" { print $2 }')
sleep 2
m2=$("$BIN/legoctl" --monitor "$MON" stats "$WLPID_one" | awk '$1 == "excache.misses" { print $2 }')
[ -n "$m1" ] && [ -n "$m2" ] || fail "legoctl stats $WLPID_one: no excache.misses"
[ "$m2" -gt "$m1" ] || fail "misses did not grow: $m1 then $m2"
"$BIN/legoctl" --monitor "$MON" stats 4000000 >/dev/null 2>"$T/nopid.err" && fail "stats of no process succeeded"
grep -q "no such Lego process" "$T/nopid.err" || fail "stats of no process: $(cat "$T/nopid.err")"
"$BIN/legoctl" --monitor "$MON" top --once >"$T/top.txt" || fail "legoctl top failed"
for p in $WLPID_one $WLPID_two; do
	awk -v p="$p" '$1 == p { f = 1 } END { exit !f }' "$T/top.txt" || fail "top does not list $p: $(cat "$T/top.txt")"
done
"$BIN/legoctl" --monitor "$MON" --json top --once >"$T/top.json" || fail "legoctl --json top failed"
$PY -c 'import json, sys; d = json.load(open(sys.argv[1])); sys.exit(0 if len(d) == 2 and all(p["misses"] > 0 for p in d) else 1)' \
	"$T/top.json" || fail "top --json: $(cat "$T/top.json")"
# lego-run --stats: the counters at exit, and those of the last second of
# a program that ends without running destructors (os._exit; Go's runtime)
"$BIN/lego-run" --local-start 0 --excache 16M --stats -- $PY -c 'a = bytearray(64 << 20)
a[::4096] = b"x" * (len(a) // 4096)
import os, time
time.sleep(1.5)
os._exit(0)' 2>"$T/exit.stats" || fail "lego-run --stats of os._exit: status $?"
grep -q "^net.bytes_out  *[1-9]" "$T/exit.stats" && grep -q "ended without running its destructors" "$T/exit.stats" ||
	fail "lego-run --stats of os._exit: $(cat "$T/exit.stats")"
"$BIN/lego-run" --local-start 0 --excache 16M --stats -- $PY -c 'a = bytearray(64 << 20)' 2>"$T/end.stats" ||
	fail "lego-run --stats: status $?"
grep -q "^excache.zero_fills  *[1-9]" "$T/end.stats" && ! grep -q "destructors" "$T/end.stats" ||
	fail "lego-run --stats: $(cat "$T/end.stats")"
pass "legoctl stats $WLPID_one: excache.misses $m1 -> $m2; top lists both processes: $(sed -n 2,3p "$T/top.txt" | tr -s ' ' | tr '\n' ';'); lego-run --stats after os._exit: $(grep -c . "$T/exit.stats") lines"
