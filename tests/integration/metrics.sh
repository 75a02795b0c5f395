#!/bin/sh
# Prometheus metrics (--metrics HOST:PORT): the monitor, a memnode and a
# storenode serve GET /metrics in the text format 0.0.4 (every line parses,
# each family's # TYPE line comes before its samples, all of a family's
# samples together); the memnode's read_lines and write_lines counters grow
# across a workload and agree with `legoctl stats`; a bad or busy --metrics
# address stops a daemon at start with a message and a nonzero status;
# embedded daemons ignore LEGO_METRICS.  Loopback only.  The workload
# uses the explicit API, so this also runs under sanitizers.
. "$(dirname "$0")/lib.sh"

# Ports nobody listens on now: bound to port 0 together, then released.
set -- $($PY -c '
import socket
s = [socket.socket() for _ in range(4)]
for x in s: x.bind(("127.0.0.1", 0))
print(" ".join(str(x.getsockname()[1]) for x in s))')
P_MON=$1 P_MEM=$2 P_STO=$3 P_FREE=$4

# scrape URL ROLE [NAME...]: fetch URL, check the exposition format (and,
# for a memnode or storenode, the node label on every sample), print the
# value of each sample NAME (name and labels exactly as exposed).
cat >"$T/scrape.py" <<'EOF'
import re, sys, urllib.request
url, role, want = sys.argv[1], sys.argv[2], sys.argv[3:]
with urllib.request.urlopen(url, timeout=10) as r:
    ctype = r.headers.get("Content-Type", "")
    text = r.read().decode()
def bad(why, line=""):
    sys.exit("%s: %s%s" % (url, why, (": " + repr(line)) if line else ""))
if not ctype.startswith("text/plain; version=0.0.4"):
    bad("Content-Type " + ctype)
if not text.endswith("\n"):
    bad("no final newline")
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
SAMPLE = re.compile(r"^(%s)(\{(?:%s(?:,%s)*)?\})? (-?[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?|NaN|[+-]Inf)$"
                    % (NAME, LABEL, LABEL))
types, current, values = {}, None, {}
for line in text[:-1].split("\n"):
    if line.startswith("# TYPE "):
        f = line.split()
        if len(f) != 4 or f[3] not in ("counter", "gauge", "untyped"):
            bad("bad TYPE line", line)
        if f[2] in types:
            bad("family %s typed twice (its samples are not together)" % f[2])
        types[f[2]] = f[3]
        current = f[2]
        continue
    if line.startswith("#"):
        continue
    m = SAMPLE.match(line)
    if not m:
        bad("sample does not parse", line)
    if m.group(1) != current:
        bad("sample not after its family's TYPE line", line)
    if not m.group(1).startswith("lego_%s_" % role):
        bad("name without lego_%s_" % role, line)
    if role in ("memnode", "storenode") and 'node="' not in (m.group(2) or ""):
        bad("no node label", line)
    values[m.group(1) + (m.group(2) or "")] = m.group(3)
if len(values) < 10:
    bad("only %d samples" % len(values))
for w in want:
    if w not in values:
        bad("no sample " + w)
    print(values[w])
EOF
scrape() { $PY "$T/scrape.py" "http://127.0.0.1:$@"; }

start_monitor --metrics 127.0.0.1:$P_MON
start_memnode a --capacity 1G --metrics 127.0.0.1:$P_MEM
mkdir "$T/store"
start_storenode "$T/store" --metrics 127.0.0.1:$P_STO
NODE=$("$BIN/legoctl" stats "$MEM_a" | awk '$1 == "node_id" { print $2 }')
[ -n "$NODE" ] || fail "memnode has no node_id"

# The monitor names each memnode by a label, not in the metric name.
V=$(scrape $P_MON/metrics monitor "lego_monitor_node_capacity{node=\"$NODE\"}" \
	lego_monitor_processes_registered) || fail "monitor /metrics"
set -- $V
[ "$1" = 1073741824 ] || fail "monitor: memnode $NODE capacity $1, not 1G"
PR1=$2
scrape $P_STO/metrics storenode >/dev/null || fail "storenode /metrics"
$PY -c 'import sys, urllib.request; sys.exit(0 if "lego_storenode_root_info{" in
	urllib.request.urlopen(sys.argv[1]).read().decode() else 1)' \
	http://127.0.0.1:$P_STO/metrics || fail "storenode: no root_info sample"

M="lego_memnode_read_lines{node=\"$NODE\"} lego_memnode_write_lines{node=\"$NODE\"}"
V=$(scrape $P_MEM/metrics memnode $M) || fail "memnode /metrics"
set -- $V
R1=$1 W1=$2
# 64 MiB through an 8 MiB ExCache: lines go to the memnode and come back,
# by request (LEGO_RMA=off): one-sided reads never reach the memnode's
# counters, and with them on only the reads that race a write-back's reply
# are requests (30-469 in six runs here, 0 once under ctest -j2).
LEGO_MONITOR=$MON LEGO_EXCACHE_SIZE=8M LEGO_RMA=off "$BIN/lego-example-bigarray" 64M 2 7 \
	>"$T/bigarray.out" 2>"$T/bigarray.log" || fail "bigarray: $(cat "$T/bigarray.out")"
V=$(scrape $P_MEM/metrics memnode $M) || fail "memnode /metrics after the workload"
set -- $V
R2=$1 W2=$2
[ "$R2" -gt "$R1" ] || fail "memnode read_lines did not grow: $R1 then $R2"
[ "$W2" -gt "$W1" ] || fail "memnode write_lines did not grow: $W1 then $W2"
# the same counters as legoctl stats (the workload is over: they hold still)
[ "$(node_stat "$MEM_a" read_lines)" = "$R2" ] ||
	fail "read_lines: /metrics $R2, legoctl stats $(node_stat "$MEM_a" read_lines)"
PR2=$(scrape $P_MON/metrics monitor lego_monitor_processes_registered) || fail "monitor /metrics"
[ "$PR2" -gt "$PR1" ] || fail "monitor processes_registered did not grow: $PR1 then $PR2"

# Only GET /metrics is served.
$PY -c 'import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=10)
except urllib.error.HTTPError as e:
    sys.exit(0 if e.code == 404 else 1)
sys.exit(1)' http://127.0.0.1:$P_MEM/ || fail "GET / is not 404"

# A bad address stops the daemon at start, with the reason.
bad_metrics() { # bad_metrics WHAT PATTERN DAEMON ARGS...: must exit nonzero saying PATTERN
	_what=$1 _pat=$2; shift 2
	timeout 20 "$@" >"$T/bad.out" 2>&1
	_rc=$?
	[ $_rc -ne 0 ] && [ $_rc -ne 124 ] || fail "$_what: exit status $_rc: $(cat "$T/bad.out")"
	grep -q -- "$_pat" "$T/bad.out" || fail "$_what: no '$_pat' in: $(cat "$T/bad.out")"
	echo "  $_what: exit $_rc: $(head -1 "$T/bad.out")"
}
bad_metrics "port in use" "cannot listen" "$BIN/lego-monitor" --metrics 127.0.0.1:$P_MON
bad_metrics "not HOST:PORT" "expected HOST:PORT" \
	"$BIN/lego-memnode" --monitor "$MON" --metrics localhost
bad_metrics "address of no interface" "cannot listen" \
	"$BIN/lego-storenode" --monitor "$MON" --root "$T/store" --metrics 192.0.2.1:$P_FREE
# Embedded daemons leave LEGO_METRICS alone: all three would want the port.
env -u LEGO_MONITOR LEGO_METRICS=127.0.0.1:$P_FREE LEGO_EXCACHE_SIZE=8M \
	"$BIN/lego-example-bigarray" 16M 1 1 >"$T/embedded.out" 2>&1 ||
	fail "embedded default with LEGO_METRICS set: $(cat "$T/embedded.out")"
for p in $MON_PID $MEMPID_a $STO_PID; do
	kill -0 "$p" 2>/dev/null || fail "a daemon died (pid $p)"
done
pass "metrics of monitor, memnode $NODE and storenode parse; read_lines $R1 -> $R2, write_lines $W1 -> $W2, processes_registered $PR1 -> $PR2"
