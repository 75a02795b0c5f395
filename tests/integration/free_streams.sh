#!/bin/sh
# Late faults and freed memory (tests/integration/prog_free_streams.c):
# 40 rounds of streaming writes into memory that is then unmapped, under
# LD_PRELOAD with a 16 MiB ExCache and the default two fault-service
# threads.  A fault event one service thread held while the other
# resolved its fault by a prefetch could be served after the program had
# unmapped the memory, leaving a line resident without its page; evicting
# it faulted in the runtime itself and the program hung (about one run in
# three of this length before the fix).  It must finish in bounded time
# with native's output.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
P=$BIN/lego-test-prog_free_streams
"$P" >"$T/native.out" || fail "native run: $(cat "$T/native.out")"
start_monitor
start_memnode a --capacity 2G
timeout 120 env LD_PRELOAD="$LIBLEGO" LEGO_MONITOR="$MON" LEGO_EXCACHE_SIZE=16M \
	LEGO_FAULT_THREADS=2 LEGO_STATS="$T/stats.json" "$P" >"$T/lego.out" 2>"$T/lego.log"
st=$?
[ $st -eq 124 ] && fail "still running after 120 s (a native run takes a second or two)"
[ $st -eq 0 ] || fail "exit status $st: $(cat "$T/lego.out") $(tail -3 "$T/lego.log")"
diff "$T/native.out" "$T/lego.out" >/dev/null || fail "output $(cat "$T/lego.out"), native $(cat "$T/native.out")"
out=$(json_stat "$T/stats.json" net.bytes_out)
[ "${out:-0}" -ge $((100 << 20)) ] || fail "only ${out:-0} bytes written back: the memory did not go remote"
pass "40 rounds of streams into memory then freed: output equals native; $((out >> 20)) MiB written back"
