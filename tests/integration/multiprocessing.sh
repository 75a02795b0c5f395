#!/bin/sh
# A Python multiprocessing pool (fork start method) under lego-run: workers
# are forked children that read the parent's data through their own copy of
# its remote memory; the result equals the native run's.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
cat >"$T/pool.py" <<'PY'
import multiprocessing as mp
import hashlib
N = 400_000
data = [i * i % 1_000_003 for i in range(N)]        # ~30 MB of Python objects
blob = bytearray(hashlib.sha256(str(i).encode()).digest()[0] for i in range(1 << 20))

def work(k):
    s = sum(data[k::16]) + k
    s += sum(blob[k::4096])
    data[k] = -1                                       # the child's own copy
    return s

if __name__ == "__main__":
    mp.set_start_method("fork")
    for rnd in range(2):
        with mp.Pool(4) as p:
            r = p.map(work, range(16))
        print(rnd, r, sum(r))
    print("parent data intact:", data[3] == 9)
PY
$PY "$T/pool.py" >"$T/native.out" 2>&1 || fail "native: $(cat "$T/native.out")"
"$BIN/lego-run" --excache 16M -- $PY "$T/pool.py" >"$T/lego.out" 2>"$T/lego.log" ||
	fail "under lego-run: $(cat "$T/lego.out")"
cmp -s "$T/native.out" "$T/lego.out" || fail "outputs differ: $(diff "$T/native.out" "$T/lego.out")"
pass "multiprocessing pool (fork), 2 rounds x 4 workers: output equals native"
