#!/bin/sh
# LEGO_TRACE: python3 -c 'open("/lego/x","w").write("y")' under lego-run
# traces the open, the write and the close with their results; a mapping
# call, the calls on an ordinary file and a fork are traced too;
# LEGO_TRACE=FILE appends to FILE.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
export LEGO_STORE_ROOT=$T/store
LEGO_TRACE=1 "$BIN/lego-run" -- $PY -c 'open("/lego/x","w").write("y")' 2>"$T/trace.err" ||
	fail "python under lego-run: $(tail -3 "$T/trace.err")"
fd=$(sed -n 's/.*open[a-z0-9]*(.*"\/lego\/x", .*) = \([0-9]*\) <.*/\1/p' "$T/trace.err" | head -1)
[ -n "$fd" ] || fail "no open of /lego/x with a result: $(head -5 "$T/trace.err")"
grep -Eq "write\($fd, 0x[0-9a-f]+, 1\) = 1 <[0-9.]+ us>" "$T/trace.err" || fail "no write($fd, ..., 1) = 1"
grep -Eq "close\($fd\) = 0 <[0-9.]+ us>" "$T/trace.err" || fail "no close($fd) = 0"
[ "$(cat "$T/store/x")" = y ] || fail "the file holds '$(cat "$T/store/x")'"
LEGO_TRACE=$T/trace.txt "$BIN/lego-run" -- $PY -c 'import os
try:
    os.open("/lego/nothere", os.O_RDONLY)
except OSError:
    pass
import mmap
m = mmap.mmap(-1, 1 << 20)' 2>"$T/e.err" || fail "second run: $(tail -3 "$T/e.err")"
grep -q '"/lego/nothere", 0x[0-9a-f]*, 0) = -1 ENOENT' "$T/trace.txt" || fail "no failed open in $T/trace.txt: $(head -3 "$T/trace.txt")"
grep -Eq "mmap\(\(nil\), 1048576, 0x3, 0x22, -1, 0\) = 0x[0-9a-f]+" "$T/trace.txt" || fail "no mmap of 1 MiB traced"
[ ! -s "$T/e.err" ] || fail "LEGO_TRACE=FILE wrote to stderr: $(head -2 "$T/e.err")"
# a file that is not a Lego file: its calls are traced too (strace-like)
LEGO_TRACE=$T/cat.txt "$BIN/lego-run" -- cat /etc/hostname 2>"$T/cat.err" | cat >"$T/cat.out" || fail "cat: $(cat "$T/cat.err")"
cfd=$(sed -n 's/.*openat(-100, "\/etc\/hostname", 0, 0) = \([0-9]*\) <.*/\1/p' "$T/cat.txt" | head -1)
[ -n "$cfd" ] || fail "no open of /etc/hostname traced: $(head -5 "$T/cat.txt")"
grep -Eq "read\($cfd, 0x[0-9a-f]+, [0-9]+\) = $(wc -c </etc/hostname) <" "$T/cat.txt" || fail "no read of /etc/hostname: $(cat "$T/cat.txt")"
grep -Eq "write\(1, 0x[0-9a-f]+, $(wc -c </etc/hostname)\) = $(wc -c </etc/hostname) <" "$T/cat.txt" || fail "no write to stdout: $(cat "$T/cat.txt")"
# fork: one line in the parent (the child's pid) and one in the child (0)
LEGO_TRACE=$T/fork.txt "$BIN/lego-run" -- $PY -c 'import os
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)' 2>"$T/f.err" || fail "fork run: $(tail -3 "$T/f.err")"
grep -Eq "fork\(\) = [1-9][0-9]* <" "$T/fork.txt" || fail "no fork() = PID in the parent: $(cat "$T/fork.txt")"
grep -Eq "fork\(\) = 0 <" "$T/fork.txt" || fail "no fork() = 0 in the child: $(cat "$T/fork.txt")"
pass "LEGO_TRACE: open/write/close of /lego/x with results (fd $fd), a failed open with ENOENT, an anonymous mmap, cat's open/read/write of an ordinary file, fork in parent and child, to stderr or a file"
