#!/bin/sh
# Signals delivered on a signal stack that is not resident, while the
# thread is inside the runtime (tests/integration/prog_sigstack.c): 60
# rounds of a 48 MiB stream through a 16 MiB ExCache (the signal stack's
# lines go out), then mappings made and unmapped until a signal sent at a
# random moment has been handled on that stack.  Before asynchronous
# signals were held while a program thread sends a request, the frame of
# one that came while the thread held libfabric's lock faulted and the
# fault thread waited on that lock for good: 5 runs of 8 hung (the shape
# of it_runtimes' rare Go hang).  It must finish in bounded time with
# native's output.
# And signals still come in while a thread waits for a reply: SIGTERM to
# a program mapping and unmapping memory whose memnode stopped answering
# ends it within 2 s (0.3 s here: the quiesce's wait for requests in
# flight), not at the request's timeout (5 s; 4.1-4.4 s before, when an
# unmapping held signals while it released its reservation).
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
P=$BIN/lego-test-prog_sigstack
"$P" >"$T/native.out" 2>/dev/null || fail "native run: $(cat "$T/native.out")"
start_monitor
start_memnode a --capacity 2G
env LD_PRELOAD="$LIBLEGO" LEGO_MONITOR="$MON" LEGO_EXCACHE_SIZE=16M LEGO_LOCAL_START=0 \
	LEGO_STATS="$T/stats.json" "$P" >"$T/lego.out" 2>"$T/lego.log" &
pid=$!
n=0
while kill -0 $pid 2>/dev/null && [ $n -lt 1200 ]; do sleep 0.1; n=$((n + 1)); done
if kill -0 $pid 2>/dev/null; then
	threads $pid >"$T/threads.log" 2>&1
	kill -9 $pid
	wait $pid
	fail "still running after 120 s (natively it takes a second)"
fi
wait $pid
st=$?
[ $st -eq 0 ] || fail "exit status $st: $(cat "$T/lego.out") $(tail -3 "$T/lego.log")"
diff "$T/native.out" "$T/lego.out" >/dev/null || fail "output $(cat "$T/lego.out"), native $(cat "$T/native.out")"
wb=$(json_stat "$T/stats.json" excache.writebacks)
[ "${wb:-0}" -ge 100000 ] || fail "only ${wb:-0} lines written back: the stream did not go through the ExCache"

env LD_PRELOAD="$LIBLEGO" LEGO_MONITOR="$MON" LEGO_LOCAL_START=0 "$P" 0 >"$T/term.out" 2>"$T/term.log" &
pid=$!
wait_file "$T/term.out" || fail "the mapping loop did not start"
sleep 0.3
kill -STOP "$MEMPID_a"
sleep 0.3
t0=$(date +%s%N)
kill -TERM $pid
n=0
while kill -0 $pid 2>/dev/null && [ $n -lt 300 ]; do sleep 0.01; n=$((n + 1)); done
t1=$(date +%s%N)
kill -CONT "$MEMPID_a"
if kill -0 $pid 2>/dev/null; then
	kill -9 $pid
	wait $pid
	fail "SIGTERM: still running 3 s after (its memnode stopped)"
fi
wait $pid
st=$?
ms=$(((t1 - t0) / 1000000))
[ $st -eq 143 ] || fail "SIGTERM: exit status $st, not 143"
[ $ms -lt 2000 ] || fail "SIGTERM: took $ms ms to end (its memnode stopped; a request's timeout is 5 s)"
pass "60 signals on a cold signal stack inside the runtime: output equals native; ${wb} lines written back; SIGTERM with the memnode stopped ended the program in $ms ms"
