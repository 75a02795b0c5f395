#!/bin/sh
# xz compressing with two threads under lego-run, with two thirds of its
# native peak local: each thread's match-finder tables are read and
# written at random, so lines are missed and evicted dirty over and over
# by two threads at once (tens of thousands of times here).  The
# compressed output must equal the native one byte for byte.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
command -v xz >/dev/null || { echo "SKIP: no xz (Debian's xz-utils)"; exit 77; }
# 3 MB of text that compresses (base64 of random bytes: 6 bits a byte)
head -c 2250000 /dev/urandom | base64 >"$T/xz.in"
VS_LOCAL_PCT=67 vs_native xz xz -T2 -3 --block-size=1MiB -c
D=$(json_stat "$T/xz.json" excache.evictions_dirty)
M=$(json_stat "$T/xz.json" excache.misses)
[ "$D" -ge 1000 ] || fail "only $D dirty evictions: the ExCache ($XC MiB) held nearly everything"
pass "xz -T2 of 3 MB: output equals native; $M misses, $D dirty evictions with a $XC MiB ExCache (native peak $NPEAK MiB)"
