#!/bin/sh
# Managed runtimes under lego-run: a JVM (heap, card tables, guard pages
# and polling pages made with PROT_NONE reservations, MAP_FIXED commits
# and mprotect) and Node.js (V8's code range) with four times their
# ExCache in arrays and objects: the output must equal the native run's and
# the memory must have gone to the memnode.  The JVM also runs with the
# serial collector and 64 KiB lines (lines spanning several of its
# mappings), and in SIGBUS mode without its class-data archive (class
# files then come from its modules file, read into its heap with pread:
# the kernel stops at the first page it cannot fault in there, and the
# read must still be whole).  And a Go program linked with the C library
# (cgo), whose runtime gives memory back with madvise made through raw
# system calls (excache.c, "Holes").  Each skipped without java/javac,
# node or go.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
D=$(dirname "$0")
ran=""

# lego NAME LEGO-RUN-ARGS... -- CMD...: run under lego-run, compare with
# $T/native.out, check that at least 128 MiB were written back
lego() {
	name=$1; shift
	"$BIN/lego-run" --stats="$T/$name.json" "$@" >"$T/$name.out" 2>"$T/$name.log" ||
		fail "$name: status $? under lego-run: $(tail -n 3 "$T/$name.out" "$T/$name.log")"
	diff "$T/native.out" "$T/$name.out" >"$T/diff" || fail "$name: output differs from native: $(cat "$T/diff")"
	out=$(json_stat "$T/$name.json" net.bytes_out)
	[ "${out:-0}" -ge $((128 << 20)) ] || fail "$name: only ${out:-0} bytes written back"
	ran="$ran $name ($((out >> 20)) MiB out)"
}

if command -v java >/dev/null && command -v javac >/dev/null; then
	javac -d "$T" "$D/Runtimes.java" || fail "javac"
	J="java -Xmx1g -Xss1m -cp $T Runtimes 256"
	$J >"$T/native.out" 2>"$T/native.log" || fail "java natively: $(tail -n 3 "$T/native.log")"
	lego java-g1 --excache 64M -- $J
	# (one run for both the serial collector and 64 KiB lines: apart,
	# with 4 KiB lines the serial one took 16.6 s here, G1 with 64 KiB
	# lines 6.8 s)
	lego java-serial-64k --excache 64M --line 64K -- java -XX:+UseSerialGC -Xmx1g -cp "$T" Runtimes 256
	export LEGO_FAULT=sigbus
	lego java-sigbus --excache 64M -- java -Xshare:off -Xmx1g -cp "$T" Runtimes 256
	unset LEGO_FAULT
fi
if command -v node >/dev/null; then
	node "$D/runtimes.js" 256 >"$T/native.out" 2>"$T/native.log" || fail "node natively"
	lego node --excache 64M -- node "$D/runtimes.js" 256
fi
if command -v go >/dev/null; then
	# (its exit is a raw exit_group: no destructor runs, so the counters
	# are the last second's; its own peak resident memory shows where the
	# heap went)
	(cd "$D/gomem" && GOCACHE="$T/gocache" GOPATH="$T/gopath" GOFLAGS=-mod=mod GOTOOLCHAIN=local \
		go build -o "$T/gomem" .) >"$T/go-build.log" 2>&1 || fail "go build: $(tail -3 "$T/go-build.log")"
	"$T/gomem" 256 >"$T/native.out" 2>"$T/go-native.hwm" || fail "gomem natively"
	# (bounded, its threads shown if it hangs: it hung once in CI, its
	# fault thread busy and two of its threads waiting on a fault)
	"$BIN/lego-run" --excache 64M --stats="$T/go.json" -- "$T/gomem" 256 >"$T/go.out" 2>"$T/go.log" &
	gp=$!
	PIDS="$PIDS $gp"
	wait_gone 120 "$gp" >/dev/null || fail "go: still running after 120 s (natively: a second): $(threads "$gp")"
	wait "$gp" || fail "go: status $? under lego-run: $(tail -n 3 "$T/go.out" "$T/go.log")"
	diff "$T/native.out" "$T/go.out" >"$T/diff" || fail "go: output differs from native: $(cat "$T/diff")"
	nh=$(($(tail -1 "$T/go-native.hwm") >> 10)) lh=$(($(tail -1 "$T/go.log") >> 10))
	[ "$lh" -le $((64 + 100)) ] || fail "go: peak resident memory $lh MiB under lego-run (natively $nh MiB)"
	grep -q '"stats.at_exit":0' "$T/go.json" || fail "go: no counters of a running process: $(head -c 200 "$T/go.json")"
	out=$(json_stat "$T/go.json" net.bytes_out)
	[ "${out:-0}" -ge $((128 << 20)) ] || fail "go: only ${out:-0} bytes written back"
	ran="$ran go ($((out >> 20)) MiB out by its last second; peak $lh MiB, natively $nh)"
fi
[ -n "$ran" ] || { echo "SKIP: none of java and javac, node, go"; exit 77; }
pass "output equal to native's:$ran"
