#!/bin/sh
# Programs with their own fault handlers behave under Lego as natively:
# tests/integration/prog_sighandler.c catches deliberate SIGSEGV/SIGBUS
# faults (guard page repaired by the handler, read-only memory, NULL,
# unmapped, past the end of a file, a read-only page of the remote heap)
# and finally dies of SIGSEGV; `python3 -X faulthandler` reports a fatal
# fault the same way; SIGINT and SIGTERM look and act as natively.  ^C
# as a terminal sends it, to the whole process group of lego-run: a
# program that catches it and then reads all its remote memory (saving
# its work) does so; before, the embedded memnode died of the same ^C and
# the program hung in its next fault.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
P=$BIN/lego-test-prog_sighandler
# the faults are on remote memory: runtimes start before main, not when
# these small programs would have taken LEGO_LOCAL_START
export LEGO_LOCAL_START=0
"$P" >"$T/native.out" 2>&1 || fail "native: $(cat "$T/native.out")"
"$BIN/lego-run" --excache 4M -- "$P" >"$T/lego.out" 2>"$T/lego.log" || fail "under lego-run: $(cat "$T/lego.out")"
diff "$T/native.out" "$T/lego.out" >"$T/diff" || fail "differs from native: $(cat "$T/diff")"

# death by the default action: same status natively, under LD_PRELOAD
# (embedded daemons) and through lego-run (which dies of the same signal)
"$P" die >/dev/null 2>&1; n=$?
LD_PRELOAD=$LIBLEGO "$P" die >"$T/die.out" 2>"$T/die.log"; l=$?
"$BIN/lego-run" -- "$P" die >/dev/null 2>>"$T/die.log"; r=$?
[ "$n" -eq 139 ] && [ "$l" -eq 139 ] && [ "$r" -eq 139 ] ||
	fail "deliberate SIGSEGV: status native $n, LD_PRELOAD $l, lego-run $r (want 139)"
grep -q '^dying$' "$T/die.out" || fail "LD_PRELOAD run did not get to its crash"

# Python's faulthandler: a fatal fault prints the Python traceback
cat >"$T/crash.py" <<'PY'
import ctypes, sys
data = [str(i) * 3 for i in range(200000)]
print(len(data), sum(map(len, data)), flush=True)
def deep(n):
    return deep(n - 1) if n else ctypes.string_at(0)
deep(3)
PY
# (the shell's own "Segmentation fault" for the native run goes too)
norm() { sed -e 's/0x[0-9a-f]*/ADDR/g' -e '/^Extension modules/d' -e '/^Segmentation fault$/d' "$1"; }
$PY -X faulthandler "$T/crash.py" >"$T/py.native" 2>&1; pn=$?
"$BIN/lego-run" --excache 8M -- $PY -X faulthandler "$T/crash.py" >"$T/py.lego" 2>&1; pl=$?
[ "$pn" -eq 139 ] && [ "$pl" -eq 139 ] || fail "python faulthandler: status native $pn, lego $pl"
norm "$T/py.native" >"$T/a"; norm "$T/py.lego" >"$T/b"
diff "$T/a" "$T/b" >"$T/diff" || fail "faulthandler output differs: $(cat "$T/diff")"
grep -q "Fatal Python error: Segmentation fault" "$T/b" || fail "no faulthandler report: $(cat "$T/b")"
grep -q 'line 5 in deep' "$T/b" || fail "no traceback: $(cat "$T/b")"
# terminating signals: Python sees SIGINT at its default and installs its
# KeyboardInterrupt handler; SIGTERM kills with the native status.  (From
# a suite run in the background SIGINT comes ignored, natively too: env
# gives it its default.  Until 2026-12-02 the program saw the handler of
# libinfinipath, which liblego's libfabric brought into every process,
# and Lego's removal of it gave back the default.)
out=$(env --default-signal=INT "$BIN/lego-run" -- $PY -c 'import os, signal
print(signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)
try:
    os.kill(os.getpid(), signal.SIGINT)
except KeyboardInterrupt:
    print("KeyboardInterrupt")' 2>&1)
[ "$out" = "$(printf 'True\nKeyboardInterrupt')" ] || fail "SIGINT/SIGTERM as Python sees them: $out"
"$BIN/lego-run" -- sh -c 'kill -TERM $$'; r=$?
[ "$r" -eq 143 ] || fail "death by SIGTERM under lego-run: status $r, want 143"
cat >"$T/ctrlc.py" <<'PY'
import sys, time
data = [bytearray(4096) for _ in range(20000)]  # 80 MiB through 8 MiB
for i, b in enumerate(data):
    b[0] = i % 251
open(sys.argv[1], "w").write("ready")
try:
    while True:
        time.sleep(0.05)
except KeyboardInterrupt:
    print("saved", sum(b[0] for b in data), flush=True)
PY
want=$($PY -c 'print("saved", sum(i % 251 for i in range(20000)))')
# (a job started with & has SIGINT ignored, and so would the program,
# natively too: env gives it back its default action)
setsid sh -c 'echo $$ >"$1/grp"; exec env --default-signal=INT "$2" --excache 8M -- "$3" "$1/ctrlc.py" "$1/ready"' \
	sh "$T" "$BIN/lego-run" "$PY" >"$T/ctrlc.out" 2>"$T/ctrlc.log" &
r=$!
PIDS="$PIDS $r"
wait_file "$T/ready" 60 || fail "the ^C program did not get ready: $(tail -3 "$T/ctrlc.log")"
kill -INT -"$(cat "$T/grp")"
n=0
while kill -0 $r 2>/dev/null && [ $n -lt 300 ]; do sleep 0.1; n=$((n + 1)); done
kill -0 $r 2>/dev/null && fail "^C to the process group: still running after 30 s"
wait $r || fail "^C to the process group: status $? ($(tail -3 "$T/ctrlc.log"))"
[ "$(cat "$T/ctrlc.out")" = "$want" ] || fail "^C: printed '$(cat "$T/ctrlc.out")', want '$want'"
pass "own SIGSEGV/SIGBUS handlers, default-action death and python3 -X faulthandler behave as natively; ^C to lego-run's process group is the program's to handle"

