#!/bin/sh
# Limits and secure defaults (issue 8).
#  - quota: a process with LEGO_QUOTA gets ENOMEM (Python: MemoryError)
#    past it while another process on the same memnode, without one,
#    allocates four times as much; the monitor's --quota caps a process
#    that asks for more.
#  - client limit: a memnode with --max-clients 1 refuses a second process
#    with a clear message; the first is unaffected, and once it has gone
#    the slot is free again.
#  - secure default: a daemon asked to listen beyond loopback without a
#    cluster key refuses to start (exit 2, saying why); with the key, or
#    with --insecure (and a warning), it starts.  Beyond loopback means an
#    address inside a network namespace this test creates.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_netns.sh"
skip_if_sanitized
PY=/usr/bin/python3
cat >"$T/alloc.py" <<'PY'
import sys, time
n, keep = 0, []
try:
    while n < int(sys.argv[1]):
        b = bytearray(4 << 20)
        b[::4096] = b"\1" * (len(b) // 4096)
        keep.append(b)
        n += 1
    print("chunks", n, flush=True)
except MemoryError:
    print("memoryerror after", n, flush=True)
time.sleep(float(sys.argv[2]) if len(sys.argv) > 2 else 0)
PY
chunks() { sed -n 's/^chunks \([0-9]*\)$/\1/p' "$1"; }
refused_after() { sed -n 's/^memoryerror after \([0-9]*\)$/\1/p' "$1"; }

# --- quota, on one shared memnode
start_monitor
start_memnode a
export LEGO_MONITOR=$MON
LEGO_QUOTA=32M LEGO_STATS=1 "$BIN/lego-run" -- $PY "$T/alloc.py" 64 >"$T/q.out" 2>"$T/q.log" &
QP=$!
PIDS="$PIDS $QP"
"$BIN/lego-run" -- $PY "$T/alloc.py" 32 >"$T/free.out" 2>"$T/free.log" ||
	fail "the process without a quota failed: $(tail -3 "$T/free.log")"
wait $QP || fail "the process with a quota failed: $(tail -3 "$T/q.log")"
n=$(refused_after "$T/q.out")
[ -n "$n" ] && [ "$n" -lt 8 ] ||
	fail "LEGO_QUOTA=32M: expected MemoryError before 8 chunks of 4 MiB, got: $(cat "$T/q.out")"
res=$(awk '$1 == "mem.reserved_bytes" { print $2 }' "$T/q.log")
ref=$(awk '$1 == "mem.quota_refusals" { print $2 }' "$T/q.log")
[ "${ref:-0}" -ge 1 ] && [ "${res:-0}" -le $((32 << 20)) ] ||
	fail "quota counters: refusals ${ref:-?}, reserved ${res:-?} bytes (quota 32 MiB)"
[ "$(chunks "$T/free.out")" = 32 ] ||
	fail "the process without a quota was affected: $(cat "$T/free.out")"
pass "LEGO_QUOTA=32M: MemoryError after $n chunks of 4 MiB (reserved $res bytes, $ref refusals); a process without a quota on the same memnode allocated 32 chunks"

# --- the monitor's quota and a memnode's client limit, on a second cluster
kill "$MON_PID" "$MEMPID_a"
rm -f "$T/mon.addr"
start_monitor --quota 24M
start_memnode b --max-clients 1
export LEGO_MONITOR=$MON
# (small processes here must connect: no start on demand)
export LEGO_LOCAL_START=0
LEGO_QUOTA=1G "$BIN/lego-run" -- $PY "$T/alloc.py" 64 3 >"$T/mq.out" 2>"$T/mq.log" &
AP=$!
PIDS="$PIDS $AP"
n=0
until [ -s "$T/mq.out" ]; do
	n=$((n + 1)); [ $n -gt 300 ] && fail "the first process did not allocate: $(tail -3 "$T/mq.log")"
	sleep 0.1
done
n=$(refused_after "$T/mq.out")
[ -n "$n" ] && [ "$n" -lt 6 ] ||
	fail "monitor --quota 24M, LEGO_QUOTA=1G: expected MemoryError before 6 chunks, got: $(cat "$T/mq.out")"
pass "the monitor's --quota 24M caps a process asking LEGO_QUOTA=1G: MemoryError after $n chunks"
# the first process holds the memnode's one connection (sleeping 3 s)
"$BIN/lego-run" -- $PY "$T/alloc.py" 2 >"$T/second.out" 2>"$T/second.log" &&
	fail "a second process got past --max-clients 1: $(cat "$T/second.out")"
grep -q "refused this process: it holds as many connections as it accepts" "$T/second.log" ||
	fail "no clear message for the refused process: $(tail -3 "$T/second.log")"
grep -q "connection table full" "$T/memnode_b.log" || fail "the memnode did not log the refusal"
wait $AP || fail "the first process failed: $(tail -3 "$T/mq.log")"
"$BIN/lego-run" -- $PY "$T/alloc.py" 2 >"$T/third.out" 2>"$T/third.log" ||
	fail "after the first process left, a new one was still refused: $(tail -3 "$T/third.log")"
[ "$(chunks "$T/third.out")" = 2 ] || fail "third process: $(cat "$T/third.out")"
pass "--max-clients 1: a second process is refused with a clear message, the first is unaffected, the slot is free again once it exits"

# an address-space limit (ulimit -v) counts Lego's reserved range: Lego
# shrinks it to fit (it used to turn itself off) and the memory still goes
# to the memnode (an embedded one: the monitor above has a quota)
(ulimit -v 8000000 && env -u LEGO_MONITOR LEGO_STATS="$T/as.json" "$BIN/lego-run" --excache 16M -- $PY -c \
	'a = bytearray(200 << 20); a[::4096] = b"x" * len(a[::4096]); print(a.count(b"x"))' \
	>"$T/as.out" 2>"$T/as.log") || fail "under ulimit -v: $(tail -3 "$T/as.log")"
[ "$(cat "$T/as.out")" = 51200 ] || fail "under ulimit -v: $(cat "$T/as.out")"
grep -q "under an address-space limit of .* remote memory is at most" "$T/as.log" ||
	fail "no word of the limit: $(tail -3 "$T/as.log")"
out=$(json_stat "$T/as.json" net.bytes_out)
[ "${out:-0}" -ge $((100 << 20)) ] || fail "under ulimit -v only ${out:-0} bytes went to the memnode"
pass "ulimit -v 8000000: remote memory shrunk to fit, with a warning; $((out >> 20)) MiB written back"

# a descriptor limit under 64 + 16 (ulimit -n 64): the runtime's
# descriptors take the top 16 numbers; before, it filled every number
# below 64 while starting and could then open nothing: "Too many open
# files; Lego is off"
(ulimit -n 64 && env -u LEGO_MONITOR LEGO_STATS="$T/nf.json" "$BIN/lego-run" --excache 16M -- $PY -c \
	'import os
fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(30)]
a = bytearray(200 << 20); a[::4096] = b"x" * len(a[::4096]); print(a.count(b"x"), len(fds))' \
	>"$T/nf.out" 2>"$T/nf.log") || fail "under ulimit -n 64: $(tail -3 "$T/nf.log")"
[ "$(cat "$T/nf.out")" = "51200 30" ] || fail "under ulimit -n 64: $(cat "$T/nf.out"; tail -3 "$T/nf.log")"
out=$(json_stat "$T/nf.json" net.bytes_out)
[ "${out:-0}" -ge $((100 << 20)) ] || fail "under ulimit -n 64 only ${out:-0} bytes went to the memnode"
pass "ulimit -n 64: Lego runs with 30 files open, $((out >> 20)) MiB written back"
unset LEGO_MONITOR

# --- secure default, on an address beyond loopback (a namespace's own)
ns_require
ns_switch
ns_host h 1
ADDR=$(ns_addr 1):7000
ns_exec h env -u LEGO_CLUSTER_KEY "$BIN/lego-monitor" --listen "$ADDR" >"$T/open.log" 2>&1 &&
	fail "a monitor listening on $ADDR without a cluster key started"
grep -q "refusing to listen on $ADDR without a cluster key" "$T/open.log" ||
	fail "no reason given: $(cat "$T/open.log")"
for how in key insecure; do
	rm -f "$T/sec.addr"
	if [ $how = key ]; then
		ns_start h "$T/sec_$how.log" env LEGO_CLUSTER_KEY=k3y "$BIN/lego-monitor" \
			--listen "$ADDR" --addr-file "$T/sec.addr"
	else
		ns_start h "$T/sec_$how.log" env -u LEGO_CLUSTER_KEY "$BIN/lego-monitor" \
			--listen "$ADDR" --addr-file "$T/sec.addr" --insecure
	fi
	wait_file "$T/sec.addr" 5 || fail "monitor with $how did not start: $(cat "$T/sec_$how.log")"
	kill "$NS_PID"
	wait "$NS_PID" 2>/dev/null
done
grep -q "without a cluster key (--insecure)" "$T/sec_insecure.log" || fail "--insecure gave no warning"
pass "beyond loopback: refused without LEGO_CLUSTER_KEY (exit 2, reason given); starts with a key, or with --insecure and a warning"
