#!/bin/sh
# sqlite keeps a database under /lego with a transaction workload.  The
# process is killed with SIGKILL mid-run; then the memnode too (its cache
# is gone).  The database must pass PRAGMA integrity_check and hold every
# transaction whose COMMIT returned, and no partial one.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
$PY -c 'import sqlite3' 2>/dev/null || { echo "SKIP: no sqlite3 module"; exit 77; }
mkdir -p "$T/root/db"
start_monitor --node-timeout-ms 1000
start_memnode m
start_storenode "$T/root"
export LEGO_MONITOR=$MON
cat >"$T/writer.py" <<'PY'
import os, sqlite3, sys, time
open(sys.argv[2], "w").write(str(os.getpid()))
w = int(sys.argv[1]) # 0: rollback journal; 1, 2: writers of wal.db (in WAL mode)
db = sqlite3.connect("/lego/db/wal.db" if w else "/lego/db/test.db", isolation_level=None,
                     timeout=60)
db.execute("PRAGMA synchronous=FULL")
db.execute("CREATE TABLE IF NOT EXISTS t(txn INTEGER, k INTEGER, v TEXT)")
txn = 0
while True:
    txn += 1
    db.execute("BEGIN IMMEDIATE")
    for k in range(10):
        db.execute("INSERT INTO t VALUES (?, ?, ?)", (w * 1000000 + txn, k, "v%d-%d" % (txn, k) * 20))
    if txn % 7 == 0:
        db.execute("DELETE FROM t WHERE txn = ? AND k = 0", (w * 1000000 + txn - 3,))
        db.execute("INSERT INTO t VALUES (?, 0, 'again')", (w * 1000000 + txn - 3,))
    db.execute("COMMIT")
    print(txn, flush=True)
    if w:
        time.sleep(0.005) # (lets the other writer in: sqlite's busy wait is not fair)
PY
cat >"$T/check.py" <<'PY'
import sqlite3, sys
w = int(sys.argv[1]) if len(sys.argv) > 1 else 0
db = sqlite3.connect("/lego/db/wal.db" if w else "/lego/db/test.db")
ok = db.execute("PRAGMA integrity_check").fetchone()[0]
rows = db.execute("SELECT txn - ?, count(*) FROM t WHERE txn / 1000000 = ? GROUP BY txn "
                  "ORDER BY txn", (w * 1000000, w)).fetchall()
bad = [t for t, n in rows if n != 10]
print(ok, len(rows), rows[-1][0] if rows else 0, len(bad))
PY
"$BIN/lego-run" -- $PY "$T/writer.py" 0 "$T/writer.pid" >"$T/writer.out" 2>"$T/writer.log" &
RUNPID=$!
PIDS="$PIDS $RUNPID"
committed() { awk 'END { print $1 + 0 }' "${1:-$T/writer.out}" 2>/dev/null || echo 0; }
n=0
while [ "$(committed)" -lt 150 ]; do
	n=$((n + 1)); [ $n -gt 600 ] && fail "writer made no progress: $(tail -3 "$T/writer.log")"
	kill -0 $RUNPID 2>/dev/null || fail "writer died: $(tail -3 "$T/writer.log")"
	sleep 0.1
done
kill -9 "$(cat "$T/writer.pid")" || fail "no writer pid"
wait $RUNPID 2>/dev/null
LAST=$(committed)
check() { # [writer id, its last commit]
	"$BIN/lego-run" -- $PY "$T/check.py" ${1:-0} >"$T/check.out" 2>"$T/check.log" ||
		fail "check: $(tail -3 "$T/check.log")"
	set -- $(cat "$T/check.out")
	[ "$1" = ok ] || fail "integrity_check: $(cat "$T/check.out")"
	[ "$4" = 0 ] || fail "$4 partial transactions"
	last=${2:-$LAST}
	[ "$3" -ge "$last" ] && [ "$3" -le $((last + 1)) ] && [ "$2" = "$3" ] ||
		fail "last committed $last, database holds $2 transactions up to $3"
	HAVE=$2
}
check
pass "SIGKILL after $LAST commits: integrity ok, $HAVE whole transactions"
kill -9 "$MEMPID_m"
wait "$MEMPID_m" 2>/dev/null
start_memnode m2
sleep 2 # the monitor notices memnode m is gone
check
pass "and after the memnode (with its cache) was killed too: integrity ok, $HAVE whole transactions"

# WAL mode, whose index (wal.db-shm) is a writable shared mapping of a Lego
# file (it_mmap_shared): two writers at once; one is killed with SIGKILL,
# the other goes on and then is killed too.  Each one's committed
# transactions are there, whole.
# (the database is put in WAL mode first: two connections switching it at
# once get "database is locked", natively too)
mode=$("$BIN/lego-run" -- $PY -c '
import sqlite3
print(sqlite3.connect("/lego/db/wal.db").execute("PRAGMA journal_mode=WAL").fetchone()[0])' \
	2>"$T/wal.log") || fail "WAL mode: $(tail -3 "$T/wal.log")"
[ "$mode" = wal ] || fail "journal_mode=WAL gave '$mode'"
for w in 1 2; do
	"$BIN/lego-run" -- $PY "$T/writer.py" $w "$T/writer$w.pid" >"$T/writer$w.out" \
		2>"$T/writer$w.log" &
	eval RUN$w=\$!
	PIDS="$PIDS $!"
done
wait_commits() { # writer, commits
	n=0
	while [ "$(committed "$T/writer$1.out")" -lt "$2" ]; do
		n=$((n + 1)); [ $n -gt 600 ] && fail "WAL writer $1 made no progress: $(tail -3 "$T/writer$1.log")"
		sleep 0.1
	done
}
wait_commits 1 60
wait_commits 2 60
kill -9 "$(cat "$T/writer1.pid")" || fail "no pid of WAL writer 1"
wait $RUN1 2>/dev/null
L1=$(committed "$T/writer1.out")
wait_commits 2 $(($(committed "$T/writer2.out") + 40))
kill -9 "$(cat "$T/writer2.pid")" || fail "no pid of WAL writer 2"
wait $RUN2 2>/dev/null
L2=$(committed "$T/writer2.out")
check 1 "$L1"
H1=$HAVE
check 2 "$L2"
pass "WAL mode, two writers killed in turn after $L1 and $L2 commits: integrity ok, $H1 and $HAVE whole transactions"
