#!/bin/sh
# The storenode is killed with SIGKILL during a write workload and
# restarted, then stopped with SIGTERM and restarted again (a stopped
# storenode removes its shm endpoint, and its successor makes a new one
# under the same name).  Everything written before an acknowledged fsync is in the
# storenode's files even while it is down; operations during the outage
# fail with EIO within the timeout instead of hanging; after the restart
# the writer's retried fsync succeeds and the file holds every line.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
mkdir -p "$T/root/w"
start_monitor
start_memnode m --store-timeout-ms 1000
start_storenode "$T/root"
STO_LISTEN=$STO # a restart listens where the memnode knows it
export LEGO_MONITOR=$MON
cat >"$T/writer.py" <<'PY'
import errno, os, sys, time
N = 4000
fd = os.open("/lego/w/log", os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
worst = 0.0
errors = 0
i = 0
while i < N:
    line = b"line %06d\n" % i
    t = time.monotonic()
    try:
        os.write(fd, line)
        i += 1
        if i % 50 == 0:
            os.fsync(fd)
            print("synced", i, flush=True)
    except OSError as e:
        errors += 1
        print("error", errno.errorcode[e.errno], i, flush=True)
        if e.errno != errno.EIO or errors > 300:
            sys.exit(1)
        time.sleep(0.2)  # a failed write did not land: it is retried
    worst = max(worst, time.monotonic() - t)
    time.sleep(0.001)
while True:
    try:
        os.fsync(fd)
        break
    except OSError as e:
        errors += 1
        if errors > 300:  # a minute of EIO: the storenode is never reached again
            print("gave up", errno.errorcode[e.errno], flush=True)
            sys.exit(1)
        time.sleep(0.2)
os.close(fd)
print("done", N, "errors", errors, "worst %.2f" % worst, flush=True)
PY
"$BIN/lego-run" -- $PY "$T/writer.py" >"$T/writer.out" 2>"$T/writer.log" &
RUNPID=$!
PIDS="$PIDS $RUNPID"
n=0
until grep -q "^synced 1000$" "$T/writer.out"; do
	n=$((n + 1)); [ $n -gt 600 ] && fail "writer made no progress: $(tail -3 "$T/writer.log")"
	sleep 0.1
done
kill -9 "$STO_PID"
wait "$STO_PID" 2>/dev/null
ACK=$(awk '$1 == "synced" { n = $2 } END { print n }' "$T/writer.out")
# what was acknowledged is on the storenode's disk, with the storenode down
$PY - "$T/root/w/log" "$ACK" <<'PY' || fail "acknowledged data missing after the kill"
import sys
data = open(sys.argv[1], "rb").read()
n = int(sys.argv[2])
want = b"".join(b"line %06d\n" % i for i in range(n))
sys.exit(0 if data[:len(want)] == want else 1)
PY
sleep 3
grep -q "^error EIO" "$T/writer.out" || fail "no EIO during a 3 s outage: $(tail -3 "$T/writer.out")"
start_storenode "$T/root"
# the second outage: SIGTERM, a clean stop
n=0
until grep -q "^synced 2500$" "$T/writer.out"; do
	n=$((n + 1)); [ $n -gt 600 ] && fail "writer made no progress after the restart: $(tail -3 "$T/writer.out") $(tail -3 "$T/memnode_m.log")"
	sleep 0.1
done
kill "$STO_PID"
wait "$STO_PID" 2>/dev/null
sleep 2
start_storenode "$T/root"
wait $RUNPID || fail "writer failed: $(tail -5 "$T/writer.out") $(tail -3 "$T/writer.log")"
set -- $(tail -1 "$T/writer.out")
[ "$1" = done ] || fail "writer: $(tail -3 "$T/writer.out")"
WORST=$6
$PY - "$T/root/w/log" <<'PY' || fail "the file after the restart is not every line once, in order"
import sys
data = open(sys.argv[1], "rb").read()
want = b"".join(b"line %06d\n" % i for i in range(4000))
sys.exit(0 if data == want else 1)
PY
awk -v w="$WORST" 'BEGIN { exit !(w < 5) }' || fail "an operation waited $WORST s (timeout 1 s)"
pass "storenode killed after fsync of $ACK lines: they were on disk; outage gave EIO ($4 errors, longest call $WORST s); after the restart, a second outage (SIGTERM) and restart, all 4000 lines are there"
