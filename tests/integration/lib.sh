# Shared helpers for integration tests (sourced).  Every process a test
# starts is recorded and stopped by PID when the test exits.
set -u
B=${IT_BUILD:?IT_BUILD must point at the build tree}
BIN=$B/bin
T=$(mktemp -d /tmp/lego-it.XXXXXX)
PIDS=""

cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$p" 2>/dev/null
	done
	rm -rf "$T"
}
trap cleanup EXIT INT TERM

fail() { echo "FAIL: $*" >&2; for f in "$T"/*.log; do [ -f "$f" ] && { echo "--- $f"; tail -20 "$f"; }; done >&2; exit 1; }
pass() { echo "PASS: $*"; }

# wait_file FILE [SECONDS]: wait until FILE is non-empty.
wait_file() {
	n=0
	while [ ! -s "$1" ]; do
		n=$((n + 1)); [ $n -gt $((${2:-15} * 10)) ] && return 1; sleep 0.1
	done
}

# start_monitor [extra flags]: sets MON (HOST:PORT).
start_monitor() {
	"$BIN/lego-monitor" --listen 127.0.0.1:0 --addr-file "$T/mon.addr" "$@" >"$T/monitor.log" 2>&1 &
	PIDS="$PIDS $!"
	MON_PID=$!
	wait_file "$T/mon.addr" || fail "monitor did not start"
	MON=$(cat "$T/mon.addr")
}

# start_memnode NAME [extra flags]: sets MEM_<NAME> (HOST:PORT) and MEMPID_<NAME>.
start_memnode() {
	name=$1; shift
	"$BIN/lego-memnode" --monitor "$MON" --listen 127.0.0.1:0 --addr-file "$T/mem_$name.addr" \
		"$@" >"$T/memnode_$name.log" 2>&1 &
	PIDS="$PIDS $!"
	eval "MEMPID_$name=$!"
	wait_file "$T/mem_$name.addr" || fail "memnode $name did not start"
	eval "MEM_$name=$(cat "$T/mem_$name.addr")"
}

# stat ADDR KEY: one counter of the daemon at ADDR.
stat() {
	"$BIN/legoctl" stats "$1" | awk -v k="$2" '$1 == k { print $2 }'
}

# peak RSS (KiB) printed by a program as "peak RSS N KiB"
peak_rss() { awk '/^peak RSS/ { print $3 }' "$1"; }
