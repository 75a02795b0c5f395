#!/bin/sh
# The runtime's start on demand (LEGO_LOCAL_START, docs/lego-run.md "Short
# processes"): under a monitor, a process that takes less than its room
# (here a quarter of a 16 MiB ExCache: 4 MiB) never registers, whatever
# it allocated and freed on the way; one that holds more, or moves the
# program break, registers and its memory goes remote; LEGO_LOCAL_START=0
# registers before main.  Outputs equal native.  Then libfabric is loaded
# only when needed, with the PSM stand-ins on a host without their devices
# (fabric/fiload.c), and one without Lego's entry points is refused with
# its name.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
P=$BIN/lego-test-prog_local_start
start_monitor
start_memnode a --capacity 1G

# lego CASE ARGS...: run P under Lego; $T/CASE.log and .out, .json
lego() {
	c=$1
	shift
	timeout 60 env LD_PRELOAD="$LIBLEGO" LEGO_MONITOR="$MON" LEGO_FABRIC=shm \
		LEGO_EXCACHE_SIZE=16M LEGO_LOG_LEVEL=info LEGO_STATS="$T/$c.json" "$@" \
		>"$T/$c.out" 2>"$T/$c.log" || fail "$c: exit status $?"
}
registered() { grep -q "registered as address space" "$T/$1.log"; }
same() { "$P" "$@" >"$T/native.out" && cmp -s "$T/native.out" "$T/$c.out" ||
	fail "$c: output $(cat "$T/$c.out") against native $(cat "$T/native.out")"; }

lego query "$P" query
same query
registered query && fail "sbrk(0) alone started the runtime"
lego churn "$P" churn 200
same churn 200
registered churn && fail "200 MiB taken and freed 1 MiB at a time started the runtime"
lego brk "$P" brk
same brk
registered brk || fail "moving the break did not start the runtime: $(tail -3 "$T/brk.log")"
lego hold "$P" hold 64
same hold 64
registered hold || fail "64 MiB held did not start the runtime: $(tail -3 "$T/hold.log")"
out=$(json_stat "$T/hold.json" net.bytes_out)
[ "${out:-0}" -ge $((32 << 20)) ] || fail "hold: only ${out:-0} bytes written back"
# 4 000 page-aligned blocks of 64 bytes hold 16 MiB: counted as pages
lego align "$P" align 4000
same align 4000
registered align || fail "16 MiB in page-aligned 64-byte blocks did not start the runtime"
lego zero env LEGO_LOCAL_START=0 "$P" query
registered zero || fail "LEGO_LOCAL_START=0 did not start the runtime before main"

# a process that does not start its runtime does not load libfabric
lego maps sh -c 'cat /proc/$$/maps'
grep -q libfabric "$T/maps.out" && fail "libfabric loaded in a process that never started"

# a process that starts loads libfabric with the PSM stand-ins (no
# Omni-Path or TrueScale device here), not the real libpsm2 and
# libpsm_infinipath, whose constructors sleep 0.1 s each
psm="libpsm2.so.2 libpsm_infinipath.so.1"
lego psm env LEGO_LOCAL_START=0 sh -c 'cat /proc/$$/maps'
registered psm || fail "LEGO_LOCAL_START=0 did not start the runtime before main"
psm_dev=$(ls /dev/hfi1_* /dev/ipath* 2>/dev/null)
if [ -n "$psm_dev" ]; then
	psm_said="(an Omni-Path or TrueScale device here: the real PSM libraries)"
else
	for so in $psm; do
		objdump -p "$(ls /usr/lib/*/libfabric.so.1 | head -1)" | grep -q "NEEDED *$so" || continue
		grep -q " $(dirname "$LIBLEGO")/lego/$so\$" "$T/psm.out" ||
			fail "no stand-in for $so mapped: $(grep -E 'psm|infinipath' "$T/psm.out" | head -3)"
		grep "/$so" "$T/psm.out" | grep -qv "/lego/$so" && fail "the real $so loaded too"
	done
	psm_said="libfabric loaded with the PSM stand-ins"
fi

# a libfabric without the entry points Lego was built against: its name
if command -v cc >/dev/null 2>&1; then
	mkdir "$T/fake"
	echo 'int lego_test_not_libfabric;' | cc -shared -x c - -o "$T/fake/libfabric.so.1" ||
		fail "cannot build the stand-in library"
	LD_LIBRARY_PATH=$T/fake timeout 30 "$BIN/legoctl" --monitor "$MON" status >"$T/fake.log" 2>&1 &&
		fail "legoctl worked without libfabric's functions"
	grep -q "libfabric.so.1 has no fi_getinfo@FABRIC_" "$T/fake.log" ||
		fail "no message naming the missing function: $(tail -2 "$T/fake.log")"
	# one that imports a PSM function the stand-ins lack: loaded with the
	# real library (here a fake one beside it) once the stand-ins fail
	if [ -z "$psm_dev" ]; then
		mkdir "$T/fake2"
		printf 'PSM2_1.0 { global: *; };\n' >"$T/fake2/v.map"
		echo 'long psm2_lego_test(void) { return 0; }' |
			cc -shared -fPIC -x c - -o "$T/fake2/libpsm2.so.2" -Wl,-soname,libpsm2.so.2 \
				-Wl,--version-script="$T/fake2/v.map" &&
			echo 'long psm2_lego_test(void); long lego_test_f(void) { return psm2_lego_test(); }' |
			cc -shared -fPIC -x c - -o "$T/fake2/libfabric.so.1" -Wl,-soname,libfabric.so.1 \
				-L"$T/fake2" -l:libpsm2.so.2 || fail "cannot build the second stand-in library"
		LD_LIBRARY_PATH=$T/fake2 LEGO_LOG_LEVEL=debug timeout 30 "$BIN/legoctl" --monitor "$MON" \
			status >"$T/fake2.log" 2>&1 && fail "legoctl worked without libfabric's functions"
		grep -q "does not load with the PSM stand-ins.*psm2_lego_test.*loading the real ones" \
			"$T/fake2.log" && grep -q "libfabric.so.1 has no fi_getinfo@FABRIC_" "$T/fake2.log" ||
			fail "libfabric not loaded with the real PSM library: $(head -3 "$T/fake2.log")"
		psm_said="$psm_said (one that needs more: with the real ones)"
	fi
fi
pass "sbrk(0) and 200 MiB churned in 1 MiB: no start; brk, 64 MiB held ($((out >> 20)) MiB written back), 16 MiB of page-aligned blocks and LEGO_LOCAL_START=0: started; outputs equal native; libfabric loaded only on start, a wrong one named; $psm_said"
