#!/bin/sh
# The ExCache holds what it is given: a program reading a working set four
# times its ExCache at random (prefetch off, nothing to predict) must end
# with the ExCache full to its budget (LEGO_EXCACHE_SIZE in lines), within
# the lines that may wait on the reclaim queue (a thirty-second of the
# sets).  Sets sized for all their ways, with reclaim keeping one free,
# held 7/8 of it.  And about a quarter of the reads must hit (so the
# lines held are lines used), the checksum equal to native's.  Between
# misses the fault thread evicts what the reclaim queue holds, so some
# evictions happen ahead of the misses (excache.evictions_early: 14-30%
# here, where the program faults again within microseconds; 71% for W =
# 1 GiB over 256 MiB).
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
E=$(json_stat "$T/fill.json" excache.evictions_early)
C=$(json_stat "$T/fill.json" excache.evictions_clean)
D=$(json_stat "$T/fill.json" excache.evictions_dirty)
[ -n "$R" ] && [ -n "$M" ] && [ -n "$E" ] || fail "no mem.resident_lines, excache.misses or _evictions_early in the stats"
[ "$E" -ge $(((C + D) / 100)) ] || fail "only $E of $((C + D)) evictions happened ahead of the misses"
[ "$R" -ge $((LINES * 97 / 100)) ] ||
	fail "the ExCache holds $R lines at the end, budget $LINES (less than 97% used)"
[ "$R" -le $((LINES + LINES / 32)) ] ||
	fail "the ExCache holds $R lines at the end, budget $LINES (over by more than 1/32)"
# a quarter of the reads hit at best (75% misses); 7/8 of the budget held
# gave 78%
[ "$M" -le $((OPS * 77 / 100)) ] ||
	fail "$M misses in $OPS uniform reads over 4x the ExCache (more than 77%)"
pass "ExCache of $LINES lines holds $R at the end; $M misses in $OPS reads (at best $((OPS * 3 / 4))), $E of $((C + D)) evictions ahead of them; checksum equals native"
