#!/bin/sh
# lego-run killed with SIGKILL while its command runs: the command keeps
# all its memory and finishes as it would have, and the embedded daemons,
# which stayed for it, end once it has.  (Before, the daemons ended with
# lego-run, their lifeline, and the command stopped about 30 s later:
# "remote memory of this process is unreachable".)  A Python program
# fills 96 MiB through an 8 MiB ExCache, waits until lego-run is gone,
# then checks every byte, rewrites it and checks it again.  And a program
# under LD_PRELOAD inside a shell's `$(...)` ends, output and all.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
cat >"$T/prog.py" <<'PY'
import os, sys, time
go = sys.argv[1]
blocks = [bytearray(b"%07d." % i * (1 << 17)) for i in range(96)]
print("filled", flush=True)
while not os.path.exists(go):
    time.sleep(0.05)
bad = sum(b != b"%07d." % i * (1 << 17) for i, b in enumerate(blocks))
for i, b in enumerate(blocks):
    b[:] = b"%07d," % (i * 3) * (1 << 17)
bad += sum(b != b"%07d," % (i * 3) * (1 << 17) for i, b in enumerate(blocks))
print("bad blocks", bad, flush=True)
PY
LEGO_LOG_LEVEL=info "$BIN/lego-run" --excache 8M -- $PY "$T/prog.py" "$T/go" \
	>"$T/prog.out" 2>"$T/run.log" &
RUN=$!
PIDS="$PIDS $RUN"
wait_file "$T/prog.out" 60 || fail "the program did not fill its memory within 60 s"
pids=$(sed -n 's/.*embedded monitor .* (pid \([0-9]*\)), memnode pid \([0-9]*\), storenode pid \([0-9]*\).*/\1 \2 \3/p' "$T/run.log")
[ -n "$pids" ] || fail "no embedded daemons: $(tail -3 "$T/run.log")"
PIDS="$PIDS $pids"
prog=$(pgrep -P $RUN -f prog.py)
[ -n "$prog" ] || fail "no command under lego-run"
PIDS="$PIDS $prog"
kill -9 $RUN
wait $RUN 2>/dev/null
touch "$T/go"
# the command is no longer our child: wait for its pid to go
wait_gone 120 "$prog" >/dev/null || fail "the command still runs 120 s after lego-run was killed"
grep -q "^bad blocks 0$" "$T/prog.out" ||
	fail "the command did not finish with its memory intact: $(cat "$T/prog.out"); $(grep -i "error\|unreachable" "$T/run.log" | tail -3)"
grep -qi "unreachable\|lost" "$T/run.log" && fail "memory was reported lost: $(grep -i "unreachable\|lost" "$T/run.log" | tail -2)"
grep -q "staying for the 1 processes still registered" "$T/run.log" ||
	fail "the monitor did not say it stayed: $(grep monitor "$T/run.log" | tail -3)"
# and the daemons, their command gone, end
left=$(wait_gone 10 $pids) || fail "daemon $left still running 10 s after the command ended"
pass "lego-run killed with SIGKILL: its command checked and rewrote 96 MiB (8 MiB ExCache) afterwards, every block intact; the embedded daemons ended with it"

# A program under LD_PRELOAD, with the embedded default, inside `$(...)`
# of dash (Debian's sh): the shell reads the output to its end before it
# reaps the program.  The daemons held that output open (their stdout,
# and stderr with 2>&1), and the monitor took the unreaped program, a
# zombie, for a process still running and kept the cluster for it: the
# shell waited for ever.
printf 'hello\n' >"$T/hello"
for mode in stdout both; do
	r="2>'$T/dash_$mode.log'"
	[ $mode = both ] && r="2>&1"
	timeout 30 env -u LEGO_MONITOR dash -c "x=\$(LD_PRELOAD='$LIBLEGO' LEGO_LOG_LEVEL=info cat '$T/hello' $r); printf '%s\n' \"\$x\"" \
		>"$T/dash_$mode.out" 2>&1
	st=$?
	pids=$(cat "$T/dash_$mode.out" "$T/dash_$mode.log" 2>/dev/null |
		sed -n 's/.*embedded monitor .* (pid \([0-9]*\)), memnode pid \([0-9]*\), storenode pid \([0-9]*\).*/\1 \2 \3/p')
	PIDS="$PIDS $pids"
	[ $st -eq 0 ] || fail "dash, x=\$(LD_PRELOAD=... cat ...${r:+ $mode}): status $st (124: still waiting after 30 s)"
	[ -n "$pids" ] || fail "dash, $mode: Lego was not on: $(tail -3 "$T/dash_$mode.out")"
	grep -qx hello "$T/dash_$mode.out" || fail "dash, $mode: the output did not come back: $(cat "$T/dash_$mode.out")"
	left=$(wait_gone 10 $pids) || fail "dash, $mode: daemon $left still running 10 s after the program"
done
pass "x=\$(LD_PRELOAD=liblego.so cat FILE) in dash, with stderr apart and with 2>&1: the output comes back, the daemons end"
