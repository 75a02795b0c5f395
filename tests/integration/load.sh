#!/bin/sh
# 32 Lego processes at once (issue 8), reduced size: bench/load.sh with a
# small working set each (4 MiB, 1 MiB ExCache, uniform, 50% writes)
# against one monitor and two memnodes.  Every process must finish with
# native's checksum; the latency figures are printed, not judged (the full
# size is `make bench`).
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
LOAD_N=${IT_LOAD_N:-32} LOAD_WS=4M LOAD_CACHE=1M LOAD_OPS=${IT_LOAD_OPS:-500} BENCH_OUT=$T \
	"$IT_SRC/bench/load.sh" "$B" >"$T/load.out" 2>&1 || fail "$(cat "$T/load.out")"
sed 's/^/  /' "$T/load.out"
pass "$(sed -n 's/^processes *//p' "$T/load.out")"
