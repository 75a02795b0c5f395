#!/bin/sh
# Acceptance of the foundation: 1 GiB from lego_alloc, 64 MiB ExCache,
# 4 threads write a seeded pattern and read it back; peak RSS stays under
# 192 MiB while the memnode holds the whole GiB.  Runs with daemons started
# by hand over tcp and over shm, and (256 MiB) with the embedded default.
. "$(dirname "$0")/lib.sh"
SIZE=${IT_BIGARRAY_SIZE:-1G}
LIMIT_KIB=$((192 * 1024))
if [ -n "${IT_SANITIZED:-}" ]; then
	# AddressSanitizer's shadow memory and quarantine inflate RSS: check
	# correctness only, at a quarter of the size.
	SIZE=256M
	LIMIT_KIB=$((4096 * 1024))
fi
SIZE_BYTES=$(numfmt --from=iec "$SIZE")

run_one() { # label, then env assignments
	label=$1; shift
	out=$T/$label.out
	mkfifo "$T/$label.in"
	env "$@" BIGARRAY_PAUSE=1 LEGO_EXCACHE_SIZE=64M \
		"$BIN/lego-example-bigarray" "$SIZE" 4 7 <"$T/$label.in" >"$out" 2>"$T/$label.log" &
	pid=$!
	PIDS="$PIDS $pid"
	exec 9>"$T/$label.in"
	n=0
	until grep -q paused "$out"; do
		kill -0 $pid 2>/dev/null || fail "$label: program died: $(cat "$out")"
		n=$((n + 1)); [ $n -gt 6000 ] && fail "$label: timed out"; sleep 0.1
	done
	stored=$(eval "$STORED_CMD")
	echo >&9
	exec 9>&-
	wait $pid || fail "$label: exit status $? ($(cat "$out"))"
	grep -q '^OK' "$out" || fail "$label: data mismatch: $(cat "$out")"
	rss=$(peak_rss "$out")
	[ "$rss" -lt $LIMIT_KIB ] || fail "$label: peak RSS $rss KiB >= $LIMIT_KIB KiB"
	[ "${stored:-0}" -ge "$SIZE_BYTES" ] || fail "$label: memnode stored ${stored:-?} < $SIZE_BYTES"
	pass "$label: $(grep ^size "$out"); peak RSS $rss KiB; memnode stored $stored bytes"
}

start_monitor
start_memnode a --capacity 4G
STORED_CMD='node_stat $MEM_a stored'
# (not under the sanitizers: their daemons' tcp path is it_api's second
# half and it_cluster_netns)
[ -z "${IT_SANITIZED:-}" ] && run_one tcp LEGO_MONITOR="$MON" LEGO_FABRIC=tcp
run_one shm LEGO_MONITOR="$MON" LEGO_FABRIC=shm

# Embedded default: the process starts its own monitor and memnode; the
# monitor's address is in its log, and the monitor reports what the memnode
# holds (refreshed by heartbeats).  256 MiB, four times the ExCache (the
# GiB has been through tcp and shm; a GiB run took 14-16 s here).
SIZE=256M
SIZE_BYTES=$(numfmt --from=iec "$SIZE")
STORED_CMD='sleep 1; m=$(sed -n "s/.*embedded monitor \([0-9.:]*\).*/\1/p" "$T/embedded.log"); node_stat "$m" node.1.stored'
run_one embedded LEGO_LOG_LEVEL=info

# A process leaves its shm endpoint files (/dev/shm/lego-c.PID.*) at exit
# (its runtime keeps them open for the last destructors); its embedded
# daemons remove them once it is gone (external daemons within 10 s).
n=0
while ls /dev/shm/lego-c."$pid".* >/dev/null 2>&1; do
	n=$((n + 1))
	[ $n -gt 30 ] && fail "embedded: its shm endpoint files stayed: $(ls /dev/shm/lego-c."$pid".*)"
	sleep 0.1
done
pass "embedded: its shm endpoint files are gone after it"
