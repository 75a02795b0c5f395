#!/bin/sh
# `make fuzz`: run the libFuzzer targets (tests/fuzz, built into build-fuzz
# with LEGO_FUZZ=ON) one after another, each for FUZZ_RUNS executions
# (default 10 million), or at most FUZZ_SECONDS seconds when that is set.
# Each keeps its corpus in tests/fuzz/corpus-NAME (not in git), so a run
# starts from what earlier runs found, and also reads the seeds recorded
# from real traffic by `make test` (it_record: build/fuzz-seeds/corpus-NAME,
# or FUZZ_SEEDS=DIR).  Prints each target's executions,
# speed, time and result; exits 1 if any crashed, leaked or broke an
# invariant (its input is saved as build-fuzz/fuzz-NAME-crash-*).
set -u
B=${1:-build-fuzz}
shift
RUNS=${FUZZ_RUNS:-10000000}
SECS=${FUZZ_SECONDS:-}
failed=0
for t in "$@"; do
	corpus=tests/fuzz/corpus-$t
	log=$B/fuzz-$t.log
	mkdir -p "$corpus"
	set -- "-runs=$RUNS" -print_final_stats=1 "-artifact_prefix=$B/fuzz-$t-"
	[ -n "$SECS" ] && set -- "$@" "-max_total_time=$SECS"
	seeds=${FUZZ_SEEDS:-build/fuzz-seeds}/corpus-$t
	[ -d "$seeds" ] || seeds=
	echo "fuzz: $t: $* $corpus $seeds (log $log)"
	t0=$(date +%s)
	"$B/bin/fuzz-$t" "$@" "$corpus" $seeds >"$log" 2>&1
	rc=$?
	t1=$(date +%s)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
	speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
	if [ "$rc" -eq 0 ]; then
		res=ok
	else
		res="FAILED (exit $rc): $(grep -m1 -E 'ERROR|runtime error|invariant failed' "$log")"
		failed=1
	fi
	echo "fuzz: $t: ${execs:-?} executions in $((t1 - t0)) s, ${speed:-?} exec/s," \
	     "peak RSS ${rss:-?} MB, corpus $(ls "$corpus" | wc -l) inputs: $res"
done
exit $failed
