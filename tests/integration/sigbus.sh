#!/bin/sh
# LEGO_FAULT=sigbus: misses are served on the faulting thread, in a SIGBUS
# handler.  Programs compute as natively: threads that block every signal
# and a fork whose child reads and changes the parent's data
# (prog_sigbus), the allocator and mapping checks of it_semantics, the
# program's own SIGSEGV and SIGBUS handlers and a death by SIGSEGV
# (prog_sighandler), and the workload's checksums with two threads and 50%
# writes.  The C library's read() into and write() from an evicted line go
# through a local buffer, and so do fread and fwrite (sort, gzip, md5sum),
# a file read or write the kernel cut short at a line it could not fault
# in, socket calls, getcwd, getrandom, stat, readlink, getdents64,
# epoll_wait, poll and select (prog_sigbus again, and a Python program:
# sigbus_py.py).
# And the mode's documented limit: a system call made otherwise on a line
# that is not resident fails with EFAULT (in uffd mode it succeeds).
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
export LEGO_LOCAL_START=0 # (the heap is remote from the start)
# one monitor and memnode for every lego-run here (each embedded start
# costs about 0.6 s more)
start_monitor
start_memnode a --capacity 2G
export LEGO_MONITOR="$MON"
P=$BIN/lego-test-prog_sigbus
S=$BIN/lego-test-prog_sighandler
run_bus() { LEGO_FAULT=sigbus "$BIN/lego-run" "$@"; }

"$P" >"$T/p.native" 2>&1 || fail "prog_sigbus natively: $(cat "$T/p.native")"
run_bus --excache 4M --stats="$T/p.json" -- "$P" >"$T/p.lego" 2>"$T/p.log" || fail "prog_sigbus under sigbus mode: status $?"
diff "$T/p.native" "$T/p.lego" >"$T/diff" || fail "prog_sigbus differs from native: $(cat "$T/diff")"
grep -q '"excache.misses":[1-9]' "$T/p.json" || fail "no misses counted: $(cat "$T/p.json")"

"$S" >"$T/s.native" 2>&1 || fail "prog_sighandler natively: $(cat "$T/s.native")"
run_bus --excache 4M -- "$S" >"$T/s.lego" 2>"$T/s.log" || fail "prog_sighandler under sigbus mode: status $?"
diff "$T/s.native" "$T/s.lego" >"$T/diff" || fail "prog_sighandler differs: $(cat "$T/diff")"
run_bus --excache 4M -- "$S" die >/dev/null 2>>"$T/s.log"; r=$?
[ "$r" -eq 139 ] || fail "deliberate SIGSEGV under sigbus mode: status $r, want 139"

# the allocator and mapping semantics of it_semantics (237 checks)
M=$BIN/lego-test-prog_semantics
"$M" >"$T/m.native" 2>&1 || fail "prog_semantics natively: $(tail -3 "$T/m.native")"
run_bus --excache 16M -- "$M" >"$T/m.lego" 2>"$T/m.log" || fail "prog_semantics in sigbus mode: status $?"
diff "$T/m.native" "$T/m.lego" >"$T/diff" || fail "prog_semantics differs: $(cat "$T/diff")"

# tools that read and write through stdio (fread/fwrite into and from
# their heap buffers): the C library's own read(2) would meet evicted lines
seq 1 300000 >"$T/seq.txt"
tools='sort -rn "$1" | md5sum; gzip -c "$1" | gunzip | md5sum; md5sum <"$1"'
want=$(sh -c "$tools" sh "$T/seq.txt")
got=$(run_bus --excache 4M -- sh -c "$tools" sh "$T/seq.txt" 2>"$T/tools.log")
[ "$got" = "$want" ] || fail "sort, gzip, md5sum in sigbus mode: '$got', natively '$want'"

# a Python program handing its heap to the kernel in every way above,
# asyncio over 127.0.0.1 included (sigbus_py.py), through an ExCache of
# a third of its heap
SPY=$IT_SRC/tests/integration/sigbus_py.py
mkdir "$T/pn" "$T/pl"
$PY "$SPY" "$T/pn" >"$T/py.native" 2>&1 || fail "sigbus_py.py natively: $(tail -3 "$T/py.native")"
run_bus --excache 8M --stats="$T/py.json" -- $PY "$SPY" "$T/pl" >"$T/py.lego" 2>"$T/py.log" ||
	fail "sigbus_py.py in sigbus mode: status $?: $(tail -n 3 "$T/py.lego" "$T/py.log")"
diff "$T/py.native" "$T/py.lego" >"$T/diff" || fail "sigbus_py.py differs: $(cat "$T/diff")"
grep -q '"io.bounced":[1-9]' "$T/py.json" || fail "sigbus_py.py: no call went through a local buffer"

WL=$BIN/lego-bench-workload
for a in "--pattern uniform --writes 50 --threads 2" "--pattern seq --writes 50"; do
	# shellcheck disable=SC2086
	want=$("$WL" --ws 48M --ops 200000 $a | sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p')
	# shellcheck disable=SC2086
	got=$(run_bus --excache 8M -- "$WL" --ws 48M --ops 200000 $a 2>"$T/w.log" |
		sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p')
	[ -n "$want" ] && [ "$got" = "$want" ] || fail "workload $a: checksum '$got', native '$want'"
done

out=$(run_bus --excache 4M --stats="$T/b.json" -- "$P" syscall 2>>"$T/p.log")
[ "$out" = "$(printf 'write: ok\nraw write: Bad address\nread: ok')" ] ||
	fail "write(2) from an evicted line in sigbus mode: '$out'"
grep -q '"io.bounced":[1-9]' "$T/b.json" || fail "no call counted as bounced: $(cat "$T/b.json")"
out=$(LEGO_FAULT=uffd "$BIN/lego-run" --excache 4M -- "$P" syscall 2>>"$T/p.log")
[ "$out" = "$(printf 'write: ok\nraw write: ok\nread: ok')" ] ||
	fail "write(2) from an evicted line in uffd mode: '$out'"
pass "sigbus mode: blocked signals, fork, the program's own handlers, read/write (cut short too), fread/fwrite, sockets, getcwd, getrandom, stat, getdents64, epoll_wait, poll, select, a Python program and the workload as natively; a raw system call on an evicted line fails with EFAULT, as documented"
