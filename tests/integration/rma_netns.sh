#!/bin/sh
# One-sided reads from a memnode on another host (hosts emulated by
# network namespaces, tcp over a veth and a bridge): a monitor and a
# memnode each on a host of their own, the process on a third.  Random
# reads and writes (50%) over four times the ExCache: nine misses in ten
# or more are fi_read of the memnode's registered line buffers across the
# emulated network, next to none fall back, and the checksum equals
# native's.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/lib_netns.sh"
skip_if_sanitized # (under the sanitizers the memnode has no jemalloc and offers none)
ns_require
# (over tcp only when asked: LEGO_RMA=on, for the memnode and the process)
export LEGO_FABRIC=tcp LEGO_LOG_LEVEL=info LEGO_RMA=on
unset LEGO_MONITOR
ns_switch
ns_host mon 1
ns_host m1 11
ns_host cl 100
MON=$(ns_addr 1):7000
ns_start mon "$T/monitor.log" "$BIN/lego-monitor" --listen "$MON" --addr-file "$T/mon.addr"
wait_file "$T/mon.addr" || fail "monitor did not start"
ns_start m1 "$T/memnode.log" "$BIN/lego-memnode" --monitor "$MON" \
	--listen "$(ns_addr 11):7100" --capacity 1G --addr-file "$T/m1.addr"
wait_file "$T/m1.addr" || fail "memnode did not start"
grep -q "network clients read lines one-sided\|clients read lines one-sided" "$T/memnode.log" ||
	fail "the memnode offers no one-sided reads: $(tail -3 "$T/memnode.log")"

WL_ARGS="--ws 64M --ops 20000 --pattern uniform --writes 50"
wl_native
LEGO_MONITOR=$MON LEGO_EXCACHE_SIZE=16M LEGO_PREFETCH=off LEGO_STATS="$T/wl.json" \
	ip netns exec "$(ns_name cl)" "$BIN/lego-run" -- "$BIN/lego-bench-workload" $WL_ARGS \
	>"$T/wl.out" 2>"$T/wl.log" || fail "workload: $(tail -5 "$T/wl.log")"
GOT=$(sed -n 's/.*checksum=\([0-9a-f]*\).*/\1/p' "$T/wl.out")
[ "$GOT" = "$WANT" ] || fail "checksum $GOT, native $WANT"
rma_share "$T/wl.json" "across the network"
pass "memnode on another (emulated) host: $R of $M misses read with fi_read, $F fell back; checksum equals native"
