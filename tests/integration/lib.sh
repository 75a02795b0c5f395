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
	[ -n "${IT_KEEP:-}" ] && cp -r "$T" "$IT_KEEP" # IT_KEEP=DIR: keep the logs
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

# running PID: the process exists and is not a zombie (a daemon whose
# parent was killed waits there for init to reap it).
running() { kill -0 "$1" 2>/dev/null && [ "$(cut -d' ' -f3 "/proc/$1/stat" 2>/dev/null)" != Z ]; }

# wait_gone SECONDS PID...: wait until none of the PIDs runs, SECONDS in
# all; if one still does then, print it and return 1.
wait_gone() {
	t=0
	limit=$(($1 * 10))
	shift
	for p in "$@"; do
		while running "$p" && [ $t -lt $limit ]; do
			sleep 0.1
			t=$((t + 1))
		done
		running "$p" && { echo "$p"; return 1; }
	done
	return 0
}

# threads PID: what a process that should have ended is doing, for a
# failure message: each of its threads' name, state and kernel wait, and
# (gdb, at most 20 s: killed if a read of remote memory holds it) its
# user-space stacks.  A process started by lego-run is its child: both
# are shown.
threads() {
	for p in "$1" $(cat /proc/"$1"/task/*/children 2>/dev/null); do
		[ -d "/proc/$p" ] || continue
		echo "== process $p: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | cut -c1-100)"
		for t in /proc/"$p"/task/*; do
			echo "-- thread ${t##*/} $(cat "$t/comm" 2>/dev/null) state $(cut -d' ' -f3 "$t/stat" 2>/dev/null) wchan $(cat "$t/wchan" 2>/dev/null)"
			head -6 "$t/stack" 2>/dev/null | sed 's/^/   /'
		done
		command -v gdb >/dev/null && timeout -k 5 15 gdb -p "$p" -batch -nx -ex "thread apply all bt 12" 2>/dev/null |
			grep -E '^(Thread|#)' | cut -c1-160
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

# start_storenode ROOT [extra flags]: sets STO (HOST:PORT) and STO_PID.
start_storenode() {
	_root=$1; shift
	rm -f "$T/sto.addr"
	"$BIN/lego-storenode" --monitor "$MON" --listen "${STO_LISTEN:-127.0.0.1:0}" --root "$_root" \
		--addr-file "$T/sto.addr" "$@" >>"$T/storenode.log" 2>&1 &
	PIDS="$PIDS $!"
	STO_PID=$!
	wait_file "$T/sto.addr" || fail "storenode did not start"
	STO=$(cat "$T/sto.addr")
}

# node_stat ADDR KEY: one counter of the daemon at ADDR.
node_stat() {
	"$BIN/legoctl" stats "$1" | awk -v k="$2" '$1 == k { print $2 }'
}

# peak RSS (KiB) printed by a program as "peak RSS N KiB"
peak_rss() { awk '/^peak RSS/ { print $3 }' "$1"; }

LIBLEGO=$B/lib/liblego.so
PY=/usr/bin/python3

# Transparent-mode tests run an ordinary program under LD_PRELOAD; an
# AddressSanitizer build of liblego cannot be preloaded into programs that
# are not built with it.
skip_if_sanitized() {
	[ -n "${IT_SANITIZED:-}" ] && { echo "SKIP: preload under sanitizers"; exit 77; }
	return 0
}

# NumPy comes with Debian's python3-numpy, for /usr/bin/python3
have_numpy() { $PY -c 'import numpy' 2>/dev/null; }

# json_stat FILE KEY: one counter from a LEGO_STATS=FILE (JSON) report.
json_stat() { sed -n "s/.*\"$2\":\([0-9]*\).*/\1/p" "$1"; }

# rma_share FILE WHAT: the LEGO_STATS report FILE shows nine misses in ten
# or more read one-sided and next to none falling back (sets R, F, M).
rma_share() {
	R=$(json_stat "$1" excache.rma_reads)
	F=$(json_stat "$1" excache.rma_fallbacks)
	M=$(json_stat "$1" excache.misses)
	[ -n "$R" ] && [ -n "$F" ] && [ -n "$M" ] || fail "$2: no excache.rma_reads, _fallbacks or misses in the stats"
	[ "$R" -ge $((M * 9 / 10)) ] || fail "$2: only $R of $M misses read one-sided"
	[ "$F" -le $((M / 100 + 1)) ] || fail "$2: $F one-sided reads fell back"
}

# The comparison workload (bench/workload.c) with the arguments in WL_ARGS:
# wl_native sets WANT to its checksum run natively; wl_lego NAME
# [VAR=VALUE...] runs it under lego-run with those variables (stats in
# $T/NAME.json, output in $T/NAME.out) and fails unless it prints WANT.
wl_native() {
	WANT=$("$BIN/lego-bench-workload" $WL_ARGS | sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p')
	[ -n "$WANT" ] || fail "the workload did not run natively"
}
wl_lego() {
	_n=$1; shift
	env "$@" "$BIN/lego-run" --stats="$T/$_n.json" -- "$BIN/lego-bench-workload" $WL_ARGS \
		>"$T/$_n.out" 2>"$T/$_n.log" || fail "workload $_n: $(tail -5 "$T/$_n.log")"
	_got=$(sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p' "$T/$_n.out")
	[ "$_got" = "$WANT" ] || fail "workload $_n: checksum $_got, native $WANT"
}

# wl_same OUT: the workload run whose output is OUT (started with
# $WL_ARGS, --stop-file and more --ops than it got to) printed the
# checksum of a native run of as many operations; sets OPS and GOT.
wl_same() {
	OPS=$(sed -n 's/.* ops=\([0-9]*\) .*/\1/p' "$1")
	GOT=$(sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p' "$1")
	[ -n "$OPS" ] && [ -n "$GOT" ] || fail "no workload line in $1: $(cat "$1")"
	_want=$("$BIN/lego-bench-workload" $WL_ARGS --ops "$OPS" | sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p')
	[ "$GOT" = "$_want" ] || fail "$1: checksum $GOT after $OPS operations, native $_want"
}

# preload_vs_native VAR=VALUE... -- PROG ARGS...: run PROG natively
# (output in $T/native.out), then under LD_PRELOAD against a monitor and a
# memnode started here, with those variables (output in $T/lego.out,
# counters in $T/stats.json); fails unless both succeed and print the same.
preload_vs_native() {
	_env=""
	while [ "$1" != "--" ]; do _env="$_env $1"; shift; done
	shift
	"$@" >"$T/native.out" 2>"$T/native.log" || fail "native: $(cat "$T/native.out" "$T/native.log" | tail -5)"
	start_monitor
	start_memnode a --capacity 2G
	env $_env LD_PRELOAD="$LIBLEGO" LEGO_MONITOR="$MON" LEGO_STATS="$T/stats.json" \
		"$@" >"$T/lego.out" 2>"$T/lego.log" ||
		fail "under LD_PRELOAD: $(cat "$T/lego.out" "$T/lego.log" | tail -5)"
	diff "$T/native.out" "$T/lego.out" >"$T/diff" || fail "differs from native: $(cat "$T/diff")"
}

# vs_native NAME CMD...: run CMD natively, then under lego-run with an
# ExCache of a quarter of its native peak RSS (VS_LOCAL_PCT percent if set;
# stdin from $T/NAME.in when that exists); the outputs must be equal byte
# for byte, the peak RSS under Lego at most ExCache + 100 MiB, and most of
# the data must have gone to the memnode.  Sets NPEAK, LPEAK, XC (MiB) and WB (MiB written back).
vs_native() {
	_n=$1; shift
	_in=/dev/null; [ -f "$T/$_n.in" ] && _in=$T/$_n.in
	/usr/bin/time -f %M -o "$T/$_n.npeak" "$@" <"$_in" >"$T/$_n.native" 2>"$T/$_n-native.log" ||
		fail "$_n natively: $(tail -3 "$T/$_n-native.log")"
	NPEAK=$(( $(tail -1 "$T/$_n.npeak") >> 10 ))
	XC=$((NPEAK * ${VS_LOCAL_PCT:-25} / 100))
	"$BIN/lego-run" --excache ${XC}M --stats="$T/$_n.json" -- \
		"$@" <"$_in" >"$T/$_n.lego" 2>"$T/$_n-lego.log" || fail "$_n under lego-run"
	LPEAK=$(( $(json_stat "$T/$_n.json" mem.peak_rss_bytes) >> 20 ))
	WB=$(( $(json_stat "$T/$_n.json" net.bytes_out) >> 20 ))
	cmp -s "$T/$_n.native" "$T/$_n.lego" ||
		fail "$_n: output differs from native: $(diff "$T/$_n.native" "$T/$_n.lego" | head -5)"
	[ "$LPEAK" -le $((XC + 100)) ] || fail "$_n: peak RSS $LPEAK MiB > ExCache $XC MiB + 100 MiB"
	[ "$WB" -ge $((NPEAK - XC - 100)) ] ||
		fail "$_n: only $WB MiB written back (native peak $NPEAK MiB, ExCache $XC MiB)"
}
