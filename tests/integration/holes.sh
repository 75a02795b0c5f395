#!/bin/sh
# Pages dropped behind Lego's back (excache.c, "Holes"): prog_holes drops
# pages of lines the ExCache holds dirty with madvise made through
# syscall(2), as the Go runtime does, and goes on until those lines are
# evicted; every page must end as natively (zeros where dropped) and the
# process must finish.  It hung for good before (an eviction that read
# such a line waited in the kernel for the fault service: itself).  Both
# fault modes, 4 KiB and 64 KiB lines, one thread and two (drops racing
# the writes and evictions), and a fork every 2 MiB (a fork waits for the
# runtime's threads to park, housekeeping first, while one of them may be
# stuck on a hole: 2 runs of 3 hung so before the parking thread rescued
# it).
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
P=$BIN/lego-test-prog_holes
"$P" 64 3 2 >"$T/native.out" 2>"$T/native.log" || fail "natively: $(cat "$T/native.out")"
start_monitor
# (capacity is accounting: each address space reserves whole 1 GiB
# granules, and a forked child's copy goes only once the monitor finds the
# child (which ends with _exit) gone, so with 2G a fork here was refused
# (ENOMEM) in 1 run of 10 with one-sided reads off, 5 of 10 with them)
start_memnode a --capacity 16G
msg=""
for c in uffd:4K:1:0 uffd:64K:2:0 sigbus:4K:2:0 uffd:4K:1:2; do
	IFS=: read -r mode line th forks <<EOF
$c
EOF
	LEGO_MONITOR=$MON timeout 120 "$BIN/lego-run" --local-start 0 --excache 16M --line "$line" \
		--fault "$mode" --log-level info --stats="$T/$c.json" -- \
		"$P" 64 3 "$th" "$forks" >"$T/$c.out" 2>"$T/$c.log" ||
		fail "$c (fault mode, line, threads, forks): status $? $(cat "$T/$c.out")"
	# (one thread or two: the same pages dropped)
	diff "$T/native.out" "$T/$c.out" >"$T/diff" || fail "$c differs from native: $(cat "$T/diff")"
	h=$(json_stat "$T/$c.json" excache.holes)
	[ "${h:-0}" -gt 0 ] || fail "$c: no hole counted"
	msg="$msg; $c: $h holes"
done
grep -q '"stats.at_exit":1' "$T/uffd:4K:1:0.json" || fail "the counters are not the ones at exit"
# the first hole an eviction met, before any was known, was rescued
grep -q "behind the runtime's back" "$T/uffd:4K:1:0.log" ||
	fail "uffd:4K:1:0: no eviction was rescued from a hole: $(tail -5 "$T/uffd:4K:1:0.log")"
pass "every page as natively, $(awk '{n += $5} END {print n}' "$T/native.out") pages dropped in each run$msg"
