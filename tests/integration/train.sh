#!/bin/sh
# examples/train.py under lego-run gives exactly the native output, with an
# ExCache of at most a quarter of the native peak, and its peak RSS stays
# within ExCache + 100 MiB while the native peak is at least 4x the ExCache.
# (A quarter of the default data size here, 262 144 samples: native peak
# ~350 MiB, over a 64 MiB ExCache; make demo and bench run the full GiB.)
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
have_numpy || { echo "SKIP: no numpy for $PY"; exit 77; }
SRC=${IT_SRC:?}
ARGS="--samples 262144 --timing"
$PY "$SRC/examples/train.py" $ARGS >"$T/native.out" || fail "native run"
"$BIN/lego-run" --excache 64M -- $PY "$SRC/examples/train.py" $ARGS >"$T/lego.out" 2>"$T/lego.log" ||
	fail "under lego-run: $(cat "$T/lego.out")"
# the numbers that must match: every line but the timings
strip() { sed -e 's/ ([0-9.]* s)//' -e '/^data generation/d' "$1"; }
strip "$T/native.out" >"$T/a"
strip "$T/lego.out" >"$T/b"
diff "$T/a" "$T/b" >/dev/null || fail "outputs differ: $(diff "$T/a" "$T/b")"
npeak=$(sed -n 's/.*peak RSS \([0-9]*\) MiB/\1/p' "$T/native.out")
lpeak=$(sed -n 's/.*peak RSS \([0-9]*\) MiB/\1/p' "$T/lego.out")
[ "$npeak" -ge 256 ] || fail "native peak $npeak MiB is not 4x the 64 MiB ExCache"
[ "$lpeak" -le 164 ] || fail "peak RSS under Lego $lpeak MiB > ExCache + 100 MiB"
pass "train.py: same output; peak RSS $lpeak MiB under Lego (ExCache 64 MiB) vs $npeak MiB native"
cat "$T/lego.out"
