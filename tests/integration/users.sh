#!/bin/sh
# Daemons and processes of different users on one host.  libfabric's shm
# provider makes each end open the other's region (/dev/shm, mode 0600),
# and 1.17 crashes a process that cannot: root's `legoctl stats` made a
# memnode run by another user die of SIGSEGV (and every process whose
# memory it held lose it), while legoctl spun for ever; a tool of another
# user than the monitor's could not reach it at all ("cannot reach ... over
# shm").  Now a peer of another user is reached over the network.
#
# A memnode run as nobody; root's legoctl asks it for its counters, a
# Lego process of root's keeps its memory there (native's checksum), and
# the memnode is still running, uncrashed.  A legoctl run as nobody asks
# root's monitor.  And nobody, without userfaultfd, is told so.
. "$(dirname "$0")/lib.sh"
command -v setpriv >/dev/null || { echo "SKIP: no setpriv"; exit 77; }
AS_NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"
mkdir -m 777 "$T/nobody"
chmod 711 "$T"
start_monitor --log-level info
$AS_NOBODY "$BIN/lego-memnode" --monitor "$MON" --listen 127.0.0.1:0 \
	--addr-file "$T/nobody/mem.addr" --log-level info >"$T/memnode.log" 2>&1 &
MEMPID=$!
PIDS="$PIDS $MEMPID"
wait_file "$T/nobody/mem.addr" || fail "the memnode run as nobody did not start"
MEM=$(cat "$T/nobody/mem.addr")
owner=$(stat -c %U "/dev/shm/lego.${MEM##*:}")
[ "$owner" = nobody ] || fail "the memnode's shm endpoint belongs to $owner, not nobody"

out=$(timeout 20 "$BIN/legoctl" --log-level info stats "$MEM" 2>"$T/ctl.log") ||
	fail "root's legoctl could not ask nobody's memnode (status $?): $(cat "$T/ctl.log")"
echo "$out" | grep -q "^handshakes" || fail "legoctl stats said: $out"
grep -q "belongs to another user; going over the network" "$T/ctl.log" ||
	fail "legoctl did not say why it went over the network: $(cat "$T/ctl.log")"
sleep 0.5
kill -0 $MEMPID 2>/dev/null || fail "the memnode died after root's legoctl reached it: $(tail -5 "$T/memnode.log")"
pass "root's legoctl asked nobody's memnode over tcp; the memnode lives on"

out=$(timeout 20 $AS_NOBODY "$BIN/legoctl" stats "$MON" 2>&1) ||
	fail "nobody's legoctl could not ask root's monitor (status $?): $out"
echo "$out" | grep -q "^handshakes" || fail "legoctl stats of the monitor said: $out"
pass "nobody's legoctl asked root's monitor over tcp"

if [ -z "${IT_SANITIZED:-}" ]; then
	WL=$BIN/lego-bench-workload
	ARGS="--ws 48M --ops 30000 --pattern uniform --writes 50"
	native=$("$WL" $ARGS | sed -n 's/.*checksum=//p')
	LD_PRELOAD=$LIBLEGO LEGO_MONITOR=$MON LEGO_EXCACHE_SIZE=8M "$WL" $ARGS >"$T/wl.out" 2>"$T/wl.log" ||
		fail "a Lego process with its memory on nobody's memnode: $(tail -3 "$T/wl.log")"
	got=$(sed -n 's/.*checksum=//p' "$T/wl.out")
	[ "$got" = "$native" ] || fail "checksum $got, native's $native"
	[ "$(node_stat "$MEM" connections)" -ge 0 ] || fail "the memnode stopped answering"
	pass "a Lego process of root's with its memory on nobody's memnode: checksum equal to native's"
fi
# Without userfaultfd (nobody, with /dev/userfaultfd root's and
# vm.unprivileged_userfaultfd 0): lego-run refuses at once, starting
# nothing; under LD_PRELOAD the program runs with Lego off, and registers
# with no monitor (before: registered, then left the monitor saying it
# had stopped renewing its lease).
if [ "$(cat /proc/sys/vm/unprivileged_userfaultfd 2>/dev/null)" = 0 ] &&
	! $AS_NOBODY test -w /dev/userfaultfd; then
	out=$($AS_NOBODY env HOME="$T/nobody" "$BIN/lego-run" --excache 8M -- /bin/echo ran 2>&1)
	st=$?
	[ $st -eq 1 ] || fail "nobody's lego-run without userfaultfd: status $st, not 1: $out"
	case $out in *"not started"*) ;; *) fail "lego-run did not say why: $out" ;; esac
	case $out in *ran*) fail "lego-run ran the command without Lego: $out" ;; esac
	pass "without userfaultfd: lego-run refuses at once (status 1)"
	if [ -z "${IT_SANITIZED:-}" ]; then
		before=$(grep -c "process [0-9]* on .* registered" "$T/monitor.log")
		out=$($AS_NOBODY env LD_PRELOAD=$LIBLEGO LEGO_MONITOR=$MON /bin/echo ran 2>&1) ||
			fail "nobody's program under LD_PRELOAD failed: $out"
		case $out in *"Lego is off"*ran*) ;; *) fail "nobody's program under LD_PRELOAD said: $out" ;; esac
		after=$(grep -c "process [0-9]* on .* registered" "$T/monitor.log")
		[ "$after" -eq "$before" ] || fail "a process without userfaultfd registered with the monitor"
		pass "without userfaultfd: a preloaded program runs with Lego off and never registers"
	fi
fi
kill -0 $MEMPID 2>/dev/null || fail "the memnode died: $(tail -5 "$T/memnode.log")"
grep -q "terminated with signal" "$T/memnode.log" && fail "the memnode crashed: $(tail -5 "$T/memnode.log")"
pass "the memnode ran throughout"
