#!/bin/sh
# One-sided reads (LEGO_RMA: auto by default, that is over shm and verbs;
# on: over tcp too).  A process reads the lines it
# wrote back straight out of the memnode's memory (shm: process_vm_readv;
# tcp, through rxm: fi_read of line buffers the memnode registered,
# memnode/rmem.c), and installs what it read only if it has the CRC32C of
# what it wrote; anything else is fetched by request.  Here, over shm and
# then over tcp (127.0.0.1), random reads and writes (50%) over four times
# the ExCache, prefetch off:
#   on:      (shm: auto, the default; tcp: on) nine misses in ten or more
#            are one-sided reads (the table of where lines are covers 16
#            times the ExCache), next to none fall back, and the checksum
#            equals native's;
#   off:     (shm: off; tcp: auto, the default) no one-sided read at all;
#   damaged: LEGO_FAULTS's corrupt also flips a bit of what one-sided
#            reads bring; each such read must be caught by its CRC32C and
#            fetched by request, the checksum still native's;
# then over shm only:
#   batches: sequential reads with prefetch on: most prefetched lines come
#            in batches read one-sided (one process_vm_readv a batch),
#            the checksum native's; damaged as above, a batch with a
#            line whose CRC32C fails goes by request, the checksum still
#            native's;
#   fork:    a program forking while its heap churns, process and memnode
#            both on: every child's checks hold, output equal to native
#            (a child starts without its parent's table; the parent's
#            lines move on copy-on-write).
. "$(dirname "$0")/lib.sh"
skip_if_sanitized # (under the sanitizers the memnode has no jemalloc and offers none)
XC_MIB=16
WL_ARGS="--ws $((4 * XC_MIB))M --ops 20000 --pattern uniform --writes 50"
wl_native

# onoff FABRIC ON OFF: over that fabric, the runs whose LEGO_RMA is ON
# (auto, the default, or on) must read nine misses in ten one-sided, and
# those whose LEGO_RMA is OFF none; then the damaged run (with ON).
onoff() {
	_f=$1 _on=$2 _off=$3
	_env="LEGO_FABRIC=$_f LEGO_EXCACHE_SIZE=${XC_MIB}M LEGO_PREFETCH=off"
	wl_lego "on-$_f" $_env LEGO_RMA=$_on
	rma_share "$T/on-$_f.json" "$_f, LEGO_RMA=$_on"
	wl_lego "off-$_f" $_env LEGO_RMA=$_off
	R0=$(json_stat "$T/off-$_f.json" excache.rma_reads)
	[ "$R0" -eq 0 ] || fail "$_f, LEGO_RMA=$_off: $R0 one-sided reads"
	wl_lego "damaged-$_f" $_env LEGO_RMA=$_on LEGO_FAULTS=corrupt=0.5 LEGO_RPC_RESEND_MS=20
	RD=$(json_stat "$T/damaged-$_f.json" excache.rma_reads)
	FD=$(json_stat "$T/damaged-$_f.json" excache.rma_fallbacks)
	[ "$FD" -gt 0 ] || fail "$_f, corrupt=0.5%: no one-sided read was refused ($RD read)"
	SAID="$SAID$_f: $_on: $R of $M misses one-sided, $F fell back; $_off: none; damaged: $FD of $((RD + FD)) refused by the CRC32C; "
}
SAID=""
onoff shm auto off
onoff tcp on auto

WL_ARGS="--ws $((4 * XC_MIB))M --ops 40000 --pattern seq"
wl_native
wl_lego seq LEGO_EXCACHE_SIZE=${XC_MIB}M LEGO_RMA=on
RS=$(json_stat "$T/seq.json" excache.rma_reads)
PS=$(json_stat "$T/seq.json" excache.prefetch_issued)
[ "${PS:-0}" -gt 0 ] && [ "${RS:-0}" -ge $((PS / 2)) ] ||
	fail "sequential reads: only ${RS:-?} one-sided reads for ${PS:-?} prefetched lines"
wl_lego seqdamaged LEGO_EXCACHE_SIZE=${XC_MIB}M LEGO_RMA=on LEGO_FAULTS=corrupt=0.5 \
	LEGO_RPC_RESEND_MS=20
FS=$(json_stat "$T/seqdamaged.json" excache.rma_fallbacks)
[ "${FS:-0}" -gt 0 ] || fail "sequential reads, corrupt=0.5%: no one-sided read was refused"

export LEGO_RMA=on
preload_vs_native LEGO_EXCACHE_SIZE=8M -- "$BIN/lego-test-prog_fork_churn" 30
RF=$(json_stat "$T/stats.json" excache.rma_reads)
pass "${SAID}sequential (shm): $RS one-sided reads for $PS prefetched lines, $FS refused when damaged; fork churn under LEGO_RMA=on ($RF one-sided reads in the parent); checksums and outputs equal native"
