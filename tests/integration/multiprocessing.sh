#!/bin/sh
# A Python multiprocessing pool (fork start method) under lego-run: workers
# are forked children that read the parent's data through their own copy of
# its remote memory; the result equals the native run's, every time.  And
# subprocess's vforked children whose exec fails, and dash's.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized

# bounded NAME OUT LOG CMD...: CMD under lego-run (--excache 16M), output
# to OUT and LOG; fails if it runs over 60 s (hung: its children are
# stopped by PID at exit too) or fails
bounded() {
	name=$1 out=$2 log=$3
	shift 3
	"$BIN/lego-run" --excache 16M -- "$@" >"$out" 2>"$log" &
	LR=$!
	PIDS="$PIDS $LR"
	n=0
	while kill -0 $LR 2>/dev/null && [ $n -lt 600 ]; do sleep 0.1; n=$((n + 1)); done
	if kill -0 $LR 2>/dev/null; then
		for c in $(pgrep -P $LR); do PIDS="$PIDS $c"; done
		fail "$name: hung (over 60 s): $(tail -3 "$out")"
	fi
	wait $LR || fail "$name: status $? under lego-run: $(tail -3 "$out" "$log")"
}
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
# Workers ended by Pool.terminate() (SIGTERM) while their fault thread was
# inside a one-sided read used to leave the memnode's shm queue lock taken,
# and the parent then spun for ever (1 run in 4 to 13); a run taking over
# 60 s counts as hung.  One run here (13 s; IT_MP_ROUNDS=N for more):
# it_kill_reads kills 30 readers in the middle of their reads, the cause
# itself.
ROUNDS=${IT_MP_ROUNDS:-1}
i=0
while [ $i -lt $ROUNDS ]; do
	i=$((i + 1))
	bounded "run $i of $ROUNDS" "$T/lego.out" "$T/lego.log" $PY "$T/pool.py"
	cmp -s "$T/native.out" "$T/lego.out" ||
		fail "outputs differ (run $i): $(diff "$T/native.out" "$T/lego.out")"
done
pass "multiprocessing pool (fork), 2 rounds x 4 workers, run $ROUNDS time(s): output equals native"

# subprocess vforks; a child whose exec fails (no such program) calls
# _exit, which let requests in flight end and parked the runtime's threads
# for the process's death: in a vforked child they are the parent's, so
# the parent hung at its next miss (until 2026-12-07, with any program
# not found).  dash vforks too (a command not found, in a shell whose
# runtime had started).
cat >"$T/vfork.py" <<'PY'
import subprocess
big = bytearray(96 << 20)
for i in range(0, len(big), 4096):
    big[i] = i // 4096 % 251
for k in range(3):
    try:
        subprocess.run(["/nonexistent/prog"])
    except FileNotFoundError:
        print("not found", k)
print(sum(big[::4096]))
PY
bounded "a program after subprocess.run of a missing one" "$T/vfork.out" "$T/vfork.log" \
	$PY "$T/vfork.py"
[ "$(cat "$T/vfork.out")" = "$(printf 'not found 0\nnot found 1\nnot found 2\n3069481')" ] ||
	fail "vfork.py gave: $(cat "$T/vfork.out")"
bounded "sh after two commands not found" "$T/dash.out" "$T/dash.log" \
	sh -c 'x=$(head -c 40000000 /dev/zero | tr "\\0" a); /none/a; /none/b; echo ${#x}'
[ "$(cat "$T/dash.out")" = 40000000 ] || fail "sh gave: $(cat "$T/dash.out") $(tail -3 "$T/dash.log")"
pass "vforked children whose exec fails (subprocess, sh): the parent goes on"
