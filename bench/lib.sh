# Shared by the benchmark scripts that start their own cluster (sourced):
# a scratch directory T, every started process stopped by PID on exit,
# bench_paths BUILD: B, BIN, LIB (liblego.so) and OUT (BENCH_OUT, made),
# and bench_cluster CAPACITY: a monitor and two memnodes (a, b) on this
# host, MON set to the monitor's HOST:PORT.  BIN must be set.
T=$(mktemp -d "/tmp/lego-bench-$(basename "$0" .sh).XXXXXX")
PIDS=""
trap 'for p in $PIDS; do kill $p 2>/dev/null || :; done; sleep 0.3; for p in $PIDS; do kill -9 $p 2>/dev/null || :; done; rm -rf "$T"' EXIT INT TERM
wait_file() { n=0; while [ ! -s "$1" ]; do n=$((n + 1)); [ $n -gt 150 ] && { echo "bench: $1 did not appear" >&2; exit 1; }; sleep 0.1; done; }
bench_paths() {
	B=$1
	BIN=$(cd "$B/bin" && pwd)
	LIB=$(cd "$B/lib" && pwd)/liblego.so
	OUT=${BENCH_OUT:-bench/results}
	mkdir -p "$OUT"
}
bench_cluster() {
	"$BIN/lego-monitor" --listen 127.0.0.1:0 --addr-file "$T/mon.addr" >"$T/mon.log" 2>&1 &
	PIDS="$PIDS $!"
	wait_file "$T/mon.addr"
	MON=$(cat "$T/mon.addr")
	for m in a b; do
		"$BIN/lego-memnode" --monitor "$MON" --listen 127.0.0.1:0 --capacity "$1" \
			--addr-file "$T/$m.addr" >"$T/$m.log" 2>&1 &
		PIDS="$PIDS $!"
		wait_file "$T/$m.addr"
	done
}
