#!/bin/sh
# GNU sort of a file larger than the ExCache, under lego-run with an
# ExCache of a quarter of its native peak: the output equals the native
# sort's.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
$PY - "$T/sort.in" <<'PY'
import random, sys
random.seed(7)
with open(sys.argv[1], "w") as f:
    for i in range(100_000):
        f.write("%016x %s\n" % (random.getrandbits(64), "x" * random.randrange(60)))
PY
size=$(stat -c %s "$T/sort.in")
LC_ALL=C vs_native sort sort -S 200M
[ "$XC" -lt $((size >> 20)) ] || fail "the ExCache ($XC MiB) is not smaller than the file"
pass "sort of $((size >> 20)) MiB: output equals native; peak RSS $LPEAK MiB with a $XC MiB ExCache (native $NPEAK MiB), $WB MiB written back"
