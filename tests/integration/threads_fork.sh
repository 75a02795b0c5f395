#!/bin/sh
# A C program whose threads allocate, realloc, free and fork at the same
# time (tests/integration/prog_threads_fork.c), under LD_PRELOAD with a
# small ExCache: same output as natively, every check holds in parents and
# children.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
R=2000 # (6 forks whatever R is; 3000 took 30 s of the suite)
preload_vs_native LEGO_EXCACHE_SIZE=8M -- "$BIN/lego-test-prog_threads_fork" $R
out=$(json_stat "$T/stats.json" net.bytes_out)
[ "${out:-0}" -ge $((32 << 20)) ] || fail "only ${out:-0} bytes written back: the heap did not go remote"
pass "4 threads x $R rounds of malloc/calloc/realloc/free with forks: output equals native; $((out >> 20)) MiB written back"
