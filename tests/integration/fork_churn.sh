#!/bin/sh
# A program that forks while its heap churns (prog_fork_churn.c), under
# LD_PRELOAD, with jemalloc told to give freed memory back at once
# (MALLOC_CONF dirty_decay_ms:0): it then releases remote memory whenever
# the program or the runtime allocates, so also while a forked child sets
# up its own connections.  (A child once died there: libfabric allocated,
# jemalloc released remote memory, and the release was sent on the
# child's half-made connection: 12 children of 150 died so here.)  Every
# child's checks hold, and the output equals native.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
R=60
preload_vs_native MALLOC_CONF=dirty_decay_ms:0,muzzy_decay_ms:0 LEGO_EXCACHE_SIZE=8M -- \
	"$BIN/lego-test-prog_fork_churn" $R
out=$(json_stat "$T/stats.json" net.bytes_out)
[ "${out:-0}" -gt 0 ] || fail "nothing written back: the heap did not go remote"
pass "$R forks of a churning heap, memory released at once: every child's checks hold, output equals native"
