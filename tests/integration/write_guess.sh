#!/bin/sh
# Read misses come in writable when the program writes what it reads
# (xc_read_writable).  Over a working set four times the ExCache, prefetch
# off: with reads alone no miss may be installed writable (each would cost
# a needless write-back); with half the operations read-modify-writes
# (x += r) most read misses must come in writable, sparing the second
# fault on the first write, and write-protect faults must drop from over
# half the misses (each write op's line read, then written) to under a
# quarter.  The checksums equal native's: a line guessed writable is dirty
# and written back like any other.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
XC_MIB=16
OPS=20000
ENV="LEGO_EXCACHE_SIZE=${XC_MIB}M LEGO_PREFETCH=off"

WL_ARGS="--ws $((4 * XC_MIB))M --ops $OPS --pattern uniform --writes 0"
wl_native
wl_lego reads $ENV
W=$(json_stat "$T/reads.json" excache.writable_reads)
[ -n "$W" ] || fail "no excache.writable_reads in the stats"
[ "$W" -eq 0 ] || fail "reads alone: $W read misses installed writable"

WL_ARGS="--ws $((4 * XC_MIB))M --ops $OPS --pattern uniform --writes 50"
wl_native
wl_lego rmw $ENV
W=$(json_stat "$T/rmw.json" excache.writable_reads)
M=$(json_stat "$T/rmw.json" excache.misses)
U=$(json_stat "$T/rmw.json" excache.write_upgrades)
[ "$W" -ge $((M / 2)) ] || fail "read-modify-writes: only $W of $M misses installed writable"
[ "$U" -le $((M / 4)) ] || fail "read-modify-writes: $U write-protect faults for $M misses"
pass "reads: no writable installs; read-modify-writes: $W of $M misses writable, $U write-protect faults; checksums equal native"
