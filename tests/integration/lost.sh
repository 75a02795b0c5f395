#!/bin/sh
# Every write stays (prog_lost: two threads read and add to random words
# of 48 MiB through an 8 MiB ExCache, each read checked against a shadow
# copy), in both fault modes, with other Lego processes (their own clusters)
# busy beside it, as on a shared host.  With one-sided reads on
# (LEGO_RMA=on) such runs lost writes: run in a loop beside such
# neighbours, in SIGBUS mode 36 runs of 188 (prefetch on or off) and in
# uffd mode 1 of 40 showed a word holding its value from before its last
# write; with them off none of 90.  The cause is not found; the default
# (auto) has a process not use them (docs/limits.md, "One-sided reads").
# This test runs the default.  It is a weak detector of that bug: with
# LEGO_RMA=on it failed once in 9 tries while it was written (with a third
# such loop beside it), and passed the 2 tries of this form.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
P=$BIN/lego-test-prog_lost
# LEGO_RMA, if set, is the tested processes' alone: the memnode and the
# neighbour run with the default
RMA=${LEGO_RMA:-auto}
unset LEGO_RMA
start_monitor
start_memnode a --capacity 2G
# two neighbours: workloads one after another, each under its own
# embedded cluster, until the stop file appears (one long run beside these,
# or one such loop, showed nothing)
neighbour() {
	while [ ! -e "$T/stop" ]; do
		"$BIN/lego-run" --excache 16M -- "$BIN/lego-bench-workload" --ws 64M --ops 300000 \
			--pattern uniform --writes 50 >>"$T/neighbour$1.out" 2>>"$T/neighbour$1.log" || exit 1
	done
}
neighbour 1 &
NB1=$!
neighbour 2 &
NB2=$!
PIDS="$PIDS $NB1 $NB2"
sleep 1
k=0
for c in sigbus sigbus sigbus sigbus uffd uffd; do
	k=$((k + 1))
	LEGO_MONITOR=$MON LEGO_RMA=$RMA "$BIN/lego-run" --local-start 0 --excache 8M --fault "$c" -- \
		"$P" 48 200000 >"$T/$k.out" 2>"$T/$k.log" ||
		fail "run $k ($c mode): status $?: $(cat "$T/$k.out") $(tail -n 3 "$T/$k.log")"
	grep -q '^ok: 0 words differ' "$T/$k.out" || fail "run $k ($c mode): $(cat "$T/$k.out")"
done
touch "$T/stop"
wait_gone 30 "$NB1" "$NB2" >/dev/null || fail "the neighbours did not stop"
for i in 1 2; do
	grep -q checksum= "$T/neighbour$i.out" || fail "neighbour $i failed: $(tail -n 3 "$T/neighbour$i.log")"
done
pass "6 runs (4 SIGBUS mode, 2 uffd), 200 000 checked reads and writes each, with two busy neighbours, one-sided reads $RMA: no write lost"
