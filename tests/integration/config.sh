#!/bin/sh
# Bad configuration: under LD_PRELOAD the program runs unmodified with Lego
# off and one clear message; lego-run refuses with the message and a
# non-zero status (2: usage or configuration, 1: cluster unreachable).
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
P="$PY -c print(sum(range(10**6)))"
want=$($P)
# VAR=VALUE  what the message must say
while read -r setting says; do
	# (LEGO_LOCAL_START=0: the start, which says what is wrong, before main)
	out=$(env LEGO_LOCAL_START=0 "$setting" LD_PRELOAD="$LIBLEGO" $P 2>"$T/err") ||
		fail "$setting: the program failed"
	[ "$out" = "$want" ] || fail "$setting: output '$out', natively '$want'"
	[ "$(wc -l <"$T/err")" -eq 1 ] || fail "$setting: not one message: $(cat "$T/err")"
	grep -q "$says" "$T/err" && grep -q "Lego is off" "$T/err" || fail "$setting: message: $(cat "$T/err")"
done <<'CASES'
LEGO_EXCACHE_SIZE=12Q not a size
LEGO_EXCAHCE_SIZE=64M unknown Lego option
LEGO_FABRIC=carrier-pigeon must be one of
LEGO_EXCACHE_WAYS=0 LEGO_EXCACHE_WAYS
LEGO_MONITOR=127.0.0.1:1 cannot reach the monitor
CASES
# started on demand, the runtime says so when the program needs it
out=$(env LEGO_MONITOR=127.0.0.1:1 LD_PRELOAD="$LIBLEGO" $PY -c 'a = bytearray(64 << 20); print(len(a))' \
	2>"$T/err") || fail "LEGO_MONITOR=127.0.0.1:1, 64 MiB: the program failed"
[ "$out" = $((64 << 20)) ] && grep -q "cannot reach the monitor" "$T/err" ||
	fail "LEGO_MONITOR=127.0.0.1:1, 64 MiB: output '$out', message: $(cat "$T/err")"

# lego-run: usage errors exit 2 with the usage; bad values exit 2 with the
# message; an unreachable monitor exits 1; CMD never runs
touch "$T/ran"; rm "$T/ran"
expect() { # STATUS PATTERN ARGS...
	st=$1; pat=$2; shift 2
	"$BIN/lego-run" "$@" -- touch "$T/ran" 2>"$T/err"; r=$?
	[ "$r" -eq "$st" ] || fail "lego-run $*: status $r, want $st: $(cat "$T/err")"
	grep -q -- "$pat" "$T/err" || fail "lego-run $*: message: $(cat "$T/err")"
	[ ! -e "$T/ran" ] || fail "lego-run $*: ran the command anyway"
}
expect 2 "usage: lego-run" --bogus
expect 2 "usage: lego-run" --excache
expect 2 "not a size" --excache 12Q
expect 2 "must be one of" --evict random
expect 2 "LEGO_EXCACHE_WAYS" --ways 0
expect 1 "monitor 127.0.0.1:1 cannot be reached; touch not started" --monitor 127.0.0.1:1
# any option of a Lego process by its name; a daemon's or lego-run's own is
# not one (its checks come with the rest of the configuration)
expect 2 "must be one of" --prefetch sometimes
expect 2 "LEGO_EXCACHE_LINE" --excache-line=3K
expect 2 "LEGO_EXCACHE_LINE=12288: not a power of two; touch not started" --line 12K
# an ExCache smaller than one set (16 ways of 2 MiB): refused, not run
# with Lego off
expect 2 "must hold at least one set (33554432 bytes" --line 2M --excache 8M
expect 2 "unknown option --capacity" --capacity 1G
expect 2 "unknown option --stats-pid" --stats-pid 1
expect 2 "needs a value" --watchdog-ms
got=$(LEGO_PREFETCH=seq "$BIN/lego-run" --prefetch off --excache_line=64K --RPC-TIMEOUT-MS 7000 -- \
	sh -c 'echo "$LEGO_PREFETCH $LEGO_EXCACHE_LINE $LEGO_RPC_TIMEOUT_MS"' 2>"$T/err")
[ "$got" = "off 64K 7000" ] || fail "lego-run --prefetch off ...: CMD saw '$got': $(cat "$T/err")"
# CMD starts once the embedded daemons serve: daemons that do not start
# stop lego-run before CMD runs (here a monitor that exits at once)
mkdir "$T/bad-bin"
for d in lego-monitor lego-memnode lego-storenode; do
	printf '#!/bin/sh\nexit 1\n' >"$T/bad-bin/$d"
	chmod +x "$T/bad-bin/$d"
done
LEGO_BINDIR="$T/bad-bin" "$BIN/lego-run" -- touch "$T/ran" 2>"$T/err"; r=$?
[ "$r" -eq 1 ] && grep -q "cannot start the embedded monitor and memnode; touch not run" "$T/err" ||
	fail "lego-run with daemons that do not start: status $r: $(cat "$T/err")"
[ ! -e "$T/ran" ] || fail "lego-run with daemons that do not start ran the command anyway"
# and what CMD starts uses the same daemons, by address
"$BIN/lego-run" -- sh -c 'echo "fd=${LEGO_MONITOR_FD:-} mon=${LEGO_MONITOR:-}"; sh -c "exit 5"' \
	>"$T/env.out" 2>"$T/err"; r=$?
[ "$r" -eq 5 ] || fail "lego-run -- sh -c '... sh -c \"exit 5\"': status $r: $(cat "$T/err")"
grep -q "^fd= mon=127.0.0.1:[0-9]" "$T/env.out" || fail "CMD's environment: $(cat "$T/env.out")"
[ ! -s "$T/err" ] || fail "lego-run -- sh -c 'sh -c ...' said: $(cat "$T/err")"
"$BIN/lego-run" 2>"$T/err"; [ $? -eq 2 ] && grep -q "usage" "$T/err" || fail "lego-run without a command"
"$BIN/lego-run" -- "$T/no-such-program" 2>"$T/err"; r=$?
[ "$r" -eq 127 ] && grep -q "no-such-program" "$T/err" || fail "lego-run of a missing program: status $r: $(cat "$T/err")"
# and the exit status is the program's
# ...and ends with CMD: its embedded daemons exit at once (lego-run
# ended 0.24-0.35 s after CMD wrote the time here, busy CPUs or not; a
# daemon that waited for lego-run to end made it about 2 s more)
"$BIN/lego-run" -- sh -c 'date +%s%N >"$0"; exit 7' "$T/cmd.end"; r=$?
_ms=$((($(date +%s%N) - $(cat "$T/cmd.end")) / 1000000))
[ "$r" -eq 7 ] || fail "lego-run passed exit status $r, want 7"
[ "$_ms" -lt 1500 ] || fail "lego-run ended $_ms ms after its command (want < 1500)"
# a program LD_PRELOAD cannot reach runs, with one warning that says why:
# linked statically, a script whose interpreter is, set-user-ID of
# another user (the loader ignores LD_PRELOAD); an ordinary one says nothing
reach() { # WHAT PATTERN CMD...
	what=$1; pat=$2; shift 2
	"$BIN/lego-run" --stats -- "$@" 2>"$T/err"; r=$?
	[ "$r" -eq 3 ] || fail "lego-run of $what: status $r, want 3: $(cat "$T/err")"
	if [ -n "$pat" ]; then
		grep -q "warning: .*$pat.*Lego cannot reach it" "$T/err" && grep -q "ran without Lego" "$T/err" ||
			fail "lego-run of $what: message: $(cat "$T/err")"
	elif grep -q "cannot reach" "$T/err"; then
		fail "lego-run of $what: $(cat "$T/err")"
	fi
}
printf 'int main(void) { return 3; }\n' >"$T/three.c"
if cc -static -o "$T/static" "$T/three.c" 2>"$T/cc.err"; then
	reach "a static program" "is linked statically" "$T/static"
	printf '#!%s\n' "$T/static" >"$T/script" && chmod +x "$T/script"
	reach "a script run by a static interpreter" "runs under $T/static, which is linked statically" "$T/script"
	said="static, script"
else
	echo "(no static C library: static programs not tried: $(head -1 "$T/cc.err"))"
fi
cc -o "$T/dynamic" "$T/three.c" || fail "cc failed"
reach "a dynamic program" "" "$T/dynamic"
if [ "$(id -u)" -eq 0 ] && id nobody >/dev/null 2>&1; then
	chmod 755 "$T" && chown nobody "$T/dynamic" && chmod u+s "$T/dynamic" || fail "chmod u+s failed"
	reach "a set-user-ID program" "is set-user-ID" "$T/dynamic"
	said="${said:+$said, }set-user-ID"
fi
pass "bad configuration: Lego off with one message under LD_PRELOAD; lego-run exits 2/1/127 with the message; a program out of its reach runs with a warning (${said:-none tried})"
