#!/bin/sh
# Fuzzing seeds from real traffic (docs/fuzzing.md): the daemons record the
# requests of a small run (LEGO_RECORD) — a program whose heap lives on the
# memnode, file work under /lego, legoctl — and scripts/fuzz-seeds.py turns
# them into seed inputs for fuzz-memnode, fuzz-monitor and fuzz-storenode.
# The seeds are left in the build tree (fuzz-seeds/), where `make fuzz`
# takes them; when build-fuzz has the fuzzers, each runs its seeds once.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
mkdir -p "$T/rec" "$T/root"
export LEGO_RECORD=$T/rec
start_monitor
start_memnode m
start_storenode "$T/root"
unset LEGO_RECORD
export LEGO_MONITOR=$MON
# (LEGO_RMA=off: reads by request, which one-sided reads would otherwise
# take nearly all of)
LEGO_RMA=off LEGO_EXCACHE_SIZE=4M "$BIN/lego-run" -- "$BIN/lego-bench-workload" --ws 16M --ops 4000 \
	--pattern uniform --writes 50 >"$T/wl.out" 2>"$T/wl.log" || fail "workload: $(tail -3 "$T/wl.log")"
"$BIN/lego-run" -- sh -c 'echo one >/lego/r.txt; echo two >>/lego/r.txt; cat /lego/r.txt; ls /lego' \
	>"$T/files.out" 2>"$T/files.log" || fail "file work: $(tail -3 "$T/files.log")"
[ "$(head -2 "$T/files.out")" = "$(printf 'one\ntwo')" ] || fail "file work read: $(cat "$T/files.out")"
"$BIN/legoctl" --monitor "$MON" status >"$T/ctl.out" 2>&1 || fail "legoctl status: $(cat "$T/ctl.out")"
"$BIN/legoctl" stats "$MEM_m" >/dev/null 2>&1 || fail "legoctl stats of the memnode"
ls "$T/rec"/memnode-*.rec "$T/rec"/monitor-*.rec "$T/rec"/storenode-*.rec >/dev/null 2>&1 ||
	fail "not every daemon recorded: $(ls "$T/rec")"

$PY "$IT_SRC/scripts/fuzz-seeds.py" "$T/rec" "$T/seeds" >"$T/seeds.out" 2>"$T/seeds.log" ||
	fail "fuzz-seeds: $(cat "$T/seeds.log")"
cat "$T/seeds.out"
# opcodes (include/lego/proto.h) each daemon must have seen
for want in "memnode 48 49" "monitor 16 24" "storenode 64 67"; do
	set -- $want
	line=$(grep "fuzz-seeds: $1:" "$T/seeds.out")
	n=$(echo "$line" | sed -n 's/.*: \([0-9]*\) seeds.*/\1/p')
	[ "${n:-0}" -ge 1 ] || fail "no seeds for $1: $line"
	for op in $2 $3; do
		echo "$line" | grep -q " $op:[0-9]" || fail "$1 recorded no opcode $op: $line"
	done
done
rm -rf "$B/fuzz-seeds" && cp -r "$T/seeds" "$B/fuzz-seeds"
pass "recorded requests of a workload, file work and legoctl: $(grep -o '[0-9]* seeds' "$T/seeds.out" | tr '\n' ' ')in $B/fuzz-seeds"

FZ=$IT_SRC/build-fuzz/bin
if [ -x "$FZ/fuzz-memnode" ] && [ -x "$FZ/fuzz-monitor" ] && [ -x "$FZ/fuzz-storenode" ]; then
	for t in memnode monitor storenode; do
		"$FZ/fuzz-$t" -runs=0 "$T/seeds/corpus-$t" >"$T/fz-$t.log" 2>&1 ||
			fail "fuzz-$t on its recorded seeds: $(grep -m3 -E 'ERROR|invariant|runtime error' "$T/fz-$t.log")"
	done
	pass "fuzz-memnode, fuzz-monitor and fuzz-storenode run their recorded seeds clean"
else
	echo "(no fuzzers in $FZ: seeds not run; make fuzz builds them)"
fi
