#!/bin/sh
# An embedded daemon whose event loop is stuck exits once its embedder has
# gone.  A Python program under `ulimit -n 64` that then opens every
# descriptor left makes libfabric 1.17's shm provider crash the process at
# exit (SIGSEGV in its progress: a new connection finds no descriptor),
# often holding its own queue's lock; the memnode, replying to it, spun on
# that lock for ever, a whole CPU, after lego-run had gone (3 runs in 4
# here).  Now the daemon's shm doctor releases a lock whose owner has gone
# (fabric/shmlock.h; it_shm_locks), and, should the loop still be stuck,
# its lifeline watcher sees it make no pass for 10 s and ends it.  Three
# runs; every daemon must be gone 20 s after lego-run.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
cat >"$T/fdx.py" <<'PY'
import os
a = [bytearray(1 << 20) for _ in range(128)]
fds = []
try:
    while True:
        fds.append(os.open("/dev/null", os.O_RDONLY))
except OSError:
    pass
for x in a:
    x[0] = 1
print("opened", len(fds), sum(x[0] for x in a), flush=True)
PY
stuck=0 released=0
for run in 1 2 3; do
	(ulimit -n 64 && LEGO_LOG_LEVEL=info "$BIN/lego-run" --excache 16M -- $PY "$T/fdx.py" \
		>"$T/run$run.log" 2>&1)
	pids=$(sed -n 's/.*embedded monitor .* (pid \([0-9]*\)), memnode pid \([0-9]*\), storenode pid \([0-9]*\).*/\1 \2 \3/p' "$T/run$run.log")
	[ -n "$pids" ] || fail "run $run: no embedded daemons: $(tail -3 "$T/run$run.log")"
	PIDS="$PIDS $pids"
	# (the crash may come before the program's last line: Lego must have
	# been on, which is all this needs)
	grep -q "client: registered as address space" "$T/run$run.log" ||
		fail "run $run: Lego was not on: $(tail -3 "$T/run$run.log")"
	left=$(wait_gone 20 $pids) ||
		fail "run $run: daemon $left still running 20 s after lego-run ended: $(grep -i "lego-" "$T/run$run.log" | tail -3)"
	grep -q "no pass for" "$T/run$run.log" && stuck=$((stuck + 1))
	grep -q "was held for .*: released" "$T/run$run.log" && released=$((released + 1))
done
pass "3 runs of a program that used up its descriptors: every embedded daemon gone within 20 s ($released with a lock the program left taken, released; $stuck stuck and ended by the watcher)"
