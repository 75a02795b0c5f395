#!/bin/sh
# Core files of programs killed under lego-run hold their remote memory:
# tests/integration/prog_core.c fills 16 MiB with a tag on every page and
# crashes (SIGSEGV on its main thread; abort() on a second thread while
# the first keeps reading) with a 4 MiB ExCache and `ulimit -c
# unlimited`; the core file must have every page's tag, in both fault
# modes, and gdb's backtrace must reach the crash, also when the fault's
# handler ran on an alternate signal stack in remote memory; also after a
# handler installed with SA_RESETHAND.  With LEGO_CORE=local it must lack most of them (the check can
# fail), and with `ulimit -c 0` nothing is brought back.  Skipped when the
# kernel's core_pattern does not write core files into the working
# directory (a pipe, or another directory): the test does not change it.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
P=$BIN/lego-test-prog_core
pat=$(cat /proc/sys/kernel/core_pattern)
case $pat in
"|"* | */* | "") echo "SKIP: core_pattern is '$pat', not a file in the working directory"; exit 77 ;;
esac
MIB=16 MAGIC=0x4c65676f436f7265
# one monitor and memnode for every lego-run here (each embedded start
# costs about 0.6 s more)
start_monitor
start_memnode a --capacity 2G
export LEGO_MONITOR="$MON"

# tags FILE: how many distinct pages' tags FILE holds
tags() {
	$PY - "$1" "$MAGIC" "$MIB" <<'PY'
import os, struct, sys
magic = struct.pack('<Q', int(sys.argv[2], 0))
pages, seen = int(sys.argv[3]) << 8, set()
fd = os.open(sys.argv[1], os.O_RDONLY)
end, off = os.fstat(fd).st_size, 0
while off < end:  # the data parts of a sparse file (the holes are zeros)
    try:
        off = os.lseek(fd, off, os.SEEK_DATA)
    except OSError:
        break
    hole = os.lseek(fd, off, os.SEEK_HOLE)
    data = os.pread(fd, hole - off + 16, off)
    i = data.find(magic)
    while i >= 0:
        if i + 17 <= len(data):
            n = struct.unpack_from('<Q', data, i + 8)[0]
            if n < pages and data[i + 16] == n & 0xff:
                seen.add(n)
        i = data.find(magic, i + 1)
    off = hole
print(len(seen))
PY
}

# crash NAME LIMIT WANT-STATUS [VAR=VALUE...]: run prog_core (MODE: NAME
# for abort, altstack and resethand, else segv) under lego-run with a 4 MiB ExCache,
# in $T/NAME with `ulimit -c LIMIT`; sets n to the number of tags in its
# core file (0 if none) and bt to gdb's backtrace of it (if gdb is here)
crash() {
	name=$1 limit=$2 want=$3
	shift 3
	mode=segv
	case $name in abort | altstack | resethand) mode=$name ;; esac
	mkdir -p "$T/$name"
	(cd "$T/$name" && ulimit -c "$limit" &&
		exec env "$@" "$BIN/lego-run" --excache 4M -- "$P" $MIB $MAGIC $mode) >"$T/$name.out" 2>"$T/$name.log"
	st=$?
	[ "$st" -eq "$want" ] || fail "$name: status $st, want $want"
	grep -q "^filled $((MIB * 256)) pages" "$T/$name.out" || fail "$name: did not fill its memory"
	c=$(ls "$T/$name"/core* 2>/dev/null | head -n 1)
	n=0 bt=""
	[ -z "$c" ] || n=$(tags "$c")
	[ -z "$c" ] || ! command -v gdb >/dev/null || bt=$(gdb -nx --batch -ex bt "$P" "$c" 2>/dev/null)
	rm -f "$T/$name"/core*
}

all=$((MIB * 256))
crash segv unlimited 139
[ "$n" -eq $all ] || fail "SIGSEGV: $n of $all pages in the core file"
grep -q "bringing back" "$T/segv.log" || fail "SIGSEGV: no word of the memory brought back"
[ -z "$bt" ] || echo "$bt" | grep -q "^#0 .* in main .*prog_core.c" || fail "SIGSEGV: the core's backtrace: $bt"
crash altstack unlimited 139
[ "$n" -eq $all ] || fail "SIGSEGV on a remote alternate signal stack: $n of $all pages in the core file"
[ -z "$bt" ] || echo "$bt" | grep -q "^#[0-9].* in main .*prog_core.c" ||
	fail "SIGSEGV on a remote alternate signal stack: the core's backtrace does not reach main: $bt"
crash resethand unlimited 139
[ "$n" -eq $all ] || fail "SIGSEGV after an SA_RESETHAND handler: $n of $all pages in the core file"
crash abort unlimited 134
[ "$n" -eq $all ] || fail "abort on a second thread: $n of $all pages in the core file"
crash sigbus unlimited 139 LEGO_FAULT=sigbus
[ "$n" -eq $all ] || fail "SIGSEGV in SIGBUS mode: $n of $all pages in the core file"
crash local unlimited 139 LEGO_CORE=local
[ "$n" -lt $((all / 2)) ] || fail "LEGO_CORE=local: $n of $all pages in the core file, want the remote ones missing"
local_n=$n
crash off 0 139
[ "$n" -eq 0 ] || fail "ulimit -c 0: a core file"
! grep -q "bringing back" "$T/off.log" || fail "ulimit -c 0: memory brought back for no core file"
pass "core files hold all $all tagged pages (SIGSEGV, on a remote alternate stack, after an SA_RESETHAND handler, abort on another thread, SIGBUS mode); $local_n without bringing the remote memory back"
