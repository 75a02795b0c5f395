#!/bin/sh
# The ExCache holds what it is given: a program reading a working set four
# times its ExCache at random (prefetch off, nothing to predict) must end
# with the ExCache full to its budget (LEGO_EXCACHE_SIZE in lines), within
# the lines that may wait on the reclaim queue (a thirty-second of the
# sets).  Sets sized for all their ways, with reclaim keeping one free,
# held 7/8 of it.  And about a quarter of the reads must hit (so the
# lines held are lines used), the checksum equal to native's.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
XC_MIB=16
LINES=$((XC_MIB * 256)) # 4 KiB lines
OPS=60000
WL_ARGS="--ws $((4 * XC_MIB))M --ops $OPS --pattern uniform --writes 0"
wl_native
wl_lego fill LEGO_EXCACHE_SIZE=${XC_MIB}M LEGO_PREFETCH=off
R=$(json_stat "$T/fill.json" mem.resident_lines)
M=$(json_stat "$T/fill.json" excache.misses)
[ -n "$R" ] && [ -n "$M" ] || fail "no mem.resident_lines or excache.misses in the stats"
[ "$R" -ge $((LINES * 97 / 100)) ] ||
	fail "the ExCache holds $R lines at the end, budget $LINES (less than 97% used)"
[ "$R" -le $((LINES + LINES / 32)) ] ||
	fail "the ExCache holds $R lines at the end, budget $LINES (over by more than 1/32)"
# a quarter of the reads hit at best (75% misses); 7/8 of the budget held
# gave 78%
[ "$M" -le $((OPS * 77 / 100)) ] ||
	fail "$M misses in $OPS uniform reads over 4x the ExCache (more than 77%)"
pass "ExCache of $LINES lines holds $R at the end; $M misses in $OPS reads (at best $((OPS * 3 / 4))), checksum equals native"
