#!/bin/sh
# Writes that land while their lines are evicted, on pages a forked child
# still shares (prog_fork_writes.c): two threads add to per-page counters
# over 32 MiB with an 8 MiB ExCache, after each fork, and every counter
# must equal the tally kept in local memory.  Dirty victims leave through
# a pipe (vmsplice, then the drop, then the read: excache.c, "Dirty
# victims leave through a pipe"); a page shared with the child is written
# back the other way, write-protected first.  The test fails if evicted
# lines lose writes (with the pipe read into the wrong buffer: 16 209
# counters wrong in 2 rounds of 8 192), and checks that the pipe was used.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
preload_vs_native LEGO_EXCACHE_SIZE=8M -- "$BIN/lego-test-prog_fork_writes" 32 3 30000
piped=$(json_stat "$T/stats.json" excache.evictions_piped)
[ "${piped:-0}" -gt 0 ] || fail "no dirty line left through the pipe"
pass "3 forks, 180 000 adds to pages shared with a child while evicted: every counter right ($piped lines piped)"
