#!/bin/sh
# Fault injection (issue 8): every daemon and the process drop 1%,
# duplicate 1%, damage 0.1% and delay 1% (by up to 20 ms) of the messages
# they receive (LEGO_FAULTS).  Damaged messages fail their CRC32C and are
# dropped; lost ones are sent again under the same request id; repeats are
# answered from the servers' kept replies and never applied twice.  Real
# workloads must still compute what they compute natively:
#   memory: random reads and writes (50%) over 128 MiB through a 16 MiB
#           ExCache, over tcp and over shm: checksum equal to native;
#   files:  32 MiB written to /lego (memnode page cache, storenode) and
#           read back, byte for byte; the storenode's copy equal too.
# And the faults were real: the daemons count injected faults, CRC
# rejects and repeats; the process counts resent requests.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
FAULTS="drop=1,dup=1,corrupt=0.1,delay=1:20"
export LEGO_FAULTS=$FAULTS
# a lost message costs its resend time: short here (the default, 250 ms,
# is for networks that lose messages only when something is wrong)
export LEGO_RPC_RESEND_MS=20
mkdir -p "$T/root"
start_monitor
start_memnode m --capacity 1G
start_storenode "$T/root"
export LEGO_MONITOR=$MON
WL_ARGS="--ws 128M --ops ${IT_FAULTS_OPS:-8000} --pattern uniform --writes 50"
wl_native
resends=0 damaged=0
for fab in tcp shm; do
	wl_lego "$fab" LEGO_FABRIC=$fab LEGO_EXCACHE_SIZE=16M
	r=$(json_stat "$T/$fab.json" net.rpc_resends)
	d=$(json_stat "$T/$fab.json" net.rpc_damaged_replies)
	m=$(json_stat "$T/$fab.json" excache.misses)
	resends=$((resends + r)) damaged=$((damaged + d))
	pass "$fab: checksum $WANT equals native; $m misses, $r requests sent again, $d damaged replies dropped"
done

# files: through the memnode's page cache to the storenode and back
head -c 32M /dev/urandom >"$T/data"
"$BIN/lego-run" -- sh -c "cp '$T/data' /lego/f.bin && cp /lego/f.bin '$T/back'" \
	2>"$T/files.log" || fail "copy through /lego: $(tail -5 "$T/files.log")"
cmp -s "$T/data" "$T/back" || fail "the file read back from /lego differs"
cmp -s "$T/data" "$T/root/f.bin" || fail "the storenode's copy differs"
pass "32 MiB file through /lego and back: equal, and equal in the storenode's directory"

# the faults happened, and were dealt with
export LEGO_FAULTS=
for d in monitor:$MON memnode:$MEM_m storenode:$STO; do
	name=${d%%:*} addr=${d#*:}
	"$BIN/legoctl" stats "$addr" >"$T/$name.stats" 2>&1 || fail "legoctl stats $name"
	v() { awk -v k="$1" '$1 == k { print $2 }' "$T/$name.stats"; }
	# the memnode gets thousands of messages; the monitor and the storenode
	# a few hundred, so at these rates they may, by chance, see none
	[ "$name" != memnode ] || [ "$(v faults_injected)" -gt 0 ] || fail "$name injected no faults"
	echo "$name: faults_injected $(v faults_injected), rejects.crc $(v rejects.crc)," \
	     "repeats $(v repeats), stale_requests $(v stale_requests)"
done
awk '$1 == "rejects.crc" && $2 > 0 { ok = 1 } END { exit !ok }' "$T/memnode.stats" ||
	fail "the memnode saw no damaged request"
awk '$1 == "repeats" && $2 > 0 { ok = 1 } END { exit !ok }' "$T/memnode.stats" ||
	fail "the memnode saw no repeated request"
[ "$resends" -gt 0 ] || fail "the processes sent nothing again"
pass "faults injected and handled: $resends requests resent, $damaged damaged replies dropped by the processes"
