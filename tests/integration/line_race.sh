#!/bin/sh
# 2 MiB lines as transparent huge pages (LEGO_HUGE_PAGES; excache.c,
# "Transparent huge pages for 2 MiB lines").  A clean line is copied in
# writable, collapsed into one huge page, write-protected and only then
# compared with what was fetched: another thread can write to it between
# the copy and the protection without a fault, and the comparison must
# make such a line dirty.  prog_line_race.c makes those writes (one add
# at a page of the line the reader is bringing in, after a random pause)
# and checks every counter against a tally in local memory.  With the
# comparison left out, 6 of 6 runs of this size ended with 3-14 counters
# behind; the test also checks that lines became huge pages (unless the
# host has transparent huge pages set to never).
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
preload_vs_native LEGO_EXCACHE_SIZE=16M LEGO_EXCACHE_LINE=2M LEGO_EXCACHE_WAYS=4 -- \
	"$BIN/lego-test-prog_line_race" 64 2 300
hl=$(json_stat "$T/stats.json" excache.huge_lines)
if grep -q '\[never\]' /sys/kernel/mm/transparent_hugepage/enabled 2>/dev/null; then
	msg="transparent huge pages are off on this host"
else
	[ "${hl:-0}" -gt 0 ] || fail "no 2 MiB line became a huge page: $(cat "$T/lego.log")"
	msg="$hl lines brought in as huge pages"
fi
pass "600 adds into lines while they were brought in: every counter right; $msg"
