#!/bin/sh
# redis-server under lego-run with an ExCache of a quarter of its native
# peak: loaded with deterministic values, hammered by redis-benchmark
# (random GET/SET on other keys), then every value read back must be the
# one written.  The same run natively gives the native peak.
# (160 MiB of values here; bench/compare.sh runs the full GiB against
# native and Linux swap.)
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
command -v redis-server >/dev/null || { echo "SKIP: no redis-server"; exit 77; }
N=${REDIS_KEYS:-40000} SIZE=4096  # REDIS_KEYS=262144: the full GiB
CHECK="$PY $(dirname "$0")/redis_check.py"
free_port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# run_redis NAME [lego-run args]: start, load, benchmark, check, stop.
run_redis() {
	name=$1; shift
	port=$(free_port)
	"$@" redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
		--daemonize no --logfile "$T/$name-redis.log" >"$T/$name-out.log" 2>&1 &
	rpid=$!
	PIDS="$PIDS $rpid"
	n=0
	until redis-cli -p "$port" ping >/dev/null 2>&1; do
		n=$((n + 1)); [ $n -gt 150 ] && fail "$name: redis did not start"; sleep 0.1
	done
	$CHECK load "$port" $N $SIZE >"$T/$name.load" || fail "$name: load: $(cat "$T/$name.load")"
	redis-benchmark -p "$port" -q -n 20000 -r 100000 -d 256 -t set,get -c 8 >"$T/$name.bench" 2>&1 ||
		fail "$name: redis-benchmark failed"
	$CHECK check "$port" $N $SIZE >"$T/$name.check" || fail "$name: $(cat "$T/$name.check")"
	# the server: $rpid itself, or lego-run's child (read from /proc rather
	# than with pgrep, which reads every process's memory for its cmdline
	# and blocks on a process stuck in the kernel)
	spid=$rpid
	for c in $(cat /proc/"$rpid"/task/*/children 2>/dev/null); do
		[ "$(cat /proc/"$c"/comm 2>/dev/null)" = redis-server ] && spid=$c
	done
	peak=$(awk '/^VmHWM/ { print int($2 / 1024) }' /proc/"$spid"/status 2>/dev/null)
	redis-cli -p "$port" shutdown nosave >/dev/null 2>&1
	wait "$rpid"
}
run_redis native env
NPEAK=$peak
XC=$((NPEAK / 4))
run_redis lego "$BIN/lego-run" --excache ${XC}M --stats="$T/lego.json" --
LPEAK=$(( $(json_stat "$T/lego.json" mem.peak_rss_bytes) >> 20 ))
WB=$(( $(json_stat "$T/lego.json" net.bytes_out) >> 20 ))
[ "$LPEAK" -le $((XC + 100)) ] || fail "peak RSS under Lego $LPEAK MiB > ExCache $XC MiB + 100"
[ "$WB" -ge $((NPEAK - XC - 100)) ] || fail "only $WB MiB written back (native peak $NPEAK MiB)"
rps() { tr '\r' '\n' <"$1" | grep -o "^[A-Z]*: [0-9.]* requests per second" | tr '\n' ' '; }
pass "redis: $N values of $SIZE bytes all read back intact after redis-benchmark; peak RSS $LPEAK MiB with a $XC MiB ExCache (native $NPEAK MiB), $WB MiB written back; Lego: $(rps "$T/lego.bench") native: $(rps "$T/native.bench")"
