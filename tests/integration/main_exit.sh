#!/bin/sh
# A program whose main thread leaves with pthread_exit while its other
# threads fill and check 96 MiB (tests/integration/prog_main_exit.c), under
# LD_PRELOAD with an 8 MiB ExCache over shm: the threads' memory stays
# reachable after the main thread has left (libfabric's shm reaches the
# process by its pid with process_vm_readv, which fails once the main
# thread is gone: Lego parks it instead), and the process ends when its
# last thread does (the runtime's threads kept it alive).  Output equals
# native, in bounded time.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
P=$BIN/lego-test-prog_main_exit
"$P" | sort >"$T/native.out" || fail "native run failed"
start_monitor
start_memnode a --capacity 2G
timeout 60 env LD_PRELOAD="$LIBLEGO" LEGO_MONITOR="$MON" LEGO_FABRIC=shm LEGO_EXCACHE_SIZE=8M \
	LEGO_STATS="$T/stats.json" "$P" >"$T/lego.raw" 2>"$T/lego.log"
st=$?
[ $st -eq 124 ] && fail "still running 60 s later: the runtime's threads keep it alive"
[ $st -eq 0 ] || fail "exit status $st: $(tail -3 "$T/lego.log")"
sort "$T/lego.raw" >"$T/lego.out"
diff "$T/native.out" "$T/lego.out" >"$T/diff" || fail "differs from native: $(cat "$T/diff")"
out=$(json_stat "$T/stats.json" net.bytes_out)
[ "${out:-0}" -ge $((64 << 20)) ] || fail "only ${out:-0} bytes written back: the memory did not go remote"
pass "main thread gone, two threads on 96 MiB: output equals native, exit 0; $((out >> 20)) MiB written back"
