#!/bin/sh
# Lego against Linux swapping, side by side, in one run.
#
#   bench/compare.sh [BUILD]     (root: it sets up and removes a swap device
#                                 and a memory cgroup itself)
#
# The workload (bench/workload.c, an ordinary program) runs with a working
# set W under: native (all memory local); Lego with an ExCache of LOCAL over
# shm (and tcp for the uniform read case); Linux swapping with a cgroup
# memory limit of LOCAL and swap on a RAM-backed device (zram), and on a
# swap file on disk.
#
# Why zram and not a loop device over a file in /dev/shm: the loop device
# charges its writes to the swapping process's memory cgroup, and the
# file's own tmpfs pages are swappable, so reclaim (this VM runs DAMON
# reclaim) can push them out to the very device they back.  The loop
# worker then waits to swap in the page it is writing, forever: the
# workload and the loop device were left in uninterruptible sleep here.
# zram keeps its pages outside the LRU; it compresses them, which makes
# it faster, not slower, than an uncompressed RAM disk.
#
# Patterns: seq, uniform, zipf(0.99); 0% and 50% writes; 1 and 2 threads.
# Every system must print native's checksum.
#
# Prints a table of ops/s, page-GB/s (4 KiB per operation) and the ratios
# to native and to RAM-backed swap; writes CSV and, with gnuplot, a PNG.
# Also the floors measured in the same run and Lego's miss median as a
# multiple of their sum, and of a userfaultfd miss with no fetch (the
# mechanism Lego installs lines with) plus the shm RPC.
#
# Application: examples/train.py (NumPy, about 1 GiB of data) natively, under
# Lego with an ExCache of a quarter of its native peak RSS, and under a
# cgroup limit of the same size swapping to zram; wall time and the
# ratios, and the outputs (losses, accuracy) must be equal.  Once more
# under Lego with TRAIN_LINE (2M) lines and an ExCache of TRAIN_LINE_LOCAL
# (70) percent of that quarter, which keeps the process's peak RSS at the
# default run's (larger lines keep a larger victim buffer and write-back
# buffers beside the ExCache); each Lego run's peak RSS is printed.  And
# redis-server with REDIS_KEYS (262144) values of 4 KiB (1 GiB): load time,
# GET/s of random loaded keys and SET/s of new 4 KiB values
# (redis-benchmark), the same three ways; every value must read back.
# And xz -T2 -6 compressing XZ_MB (48) MB of text, whose match-finder
# tables are read and written at random, with local memory XZ_LOCAL (75)
# percent of its native peak: time, misses (Linux: major faults), and the
# output's checksum against native's.
#
# Rounds: this VM's figures swing by up to a third from one run to the
# next (docs/benchmarks.md), so the pair compared, lego-shm and swap-ram,
# runs ROUNDS times (default 3), alternating, and the table shows each
# configuration's median with the lowest and highest run; every run's
# checksum must equal native's.  The other systems run once.
#
# Lego's options come from the environment as for any Lego process, so
# `LEGO_FAULT=sigbus sh bench/compare.sh` compares that mode (its train.py
# and redis runs included; docs/architecture.md).
#
# Environment: W (1G), LOCAL (256M), OPS (300000), OUT (bench/results),
# ROUNDS (3), SYSTEMS ("native lego-shm lego-tcp swap-ram swap-disk"), TRAIN_SAMPLES
# (1048576; 0 skips the application run), TRAIN_LINE (2M; empty skips
# that run), TRAIN_LINE_LOCAL (70), REDIS_KEYS (262144; 0 skips
# redis), REDIS_REQUESTS (100000 per redis-benchmark run), XZ_MB (48; 0
# skips xz), XZ_LOCAL (75).
set -u
B=${1:-build}
W=${W:-1G} LOCAL=${LOCAL:-256M} OPS=${OPS:-300000} ROUNDS=${ROUNDS:-3}
OUT=${OUT:-bench/results}
SYSTEMS=${SYSTEMS:-native lego-shm lego-tcp swap-ram swap-disk}
WL=$B/bin/lego-bench-workload
mkdir -p "$OUT"
CSV=$OUT/compare.csv
TMP=$(mktemp -d /tmp/lego-cmp.XXXXXX)
CG=/sys/fs/cgroup/memory/lego-bench.$$
SWAPDEV=""
SWAPFILE=""
# IN_CG CMD...: run CMD in the memory cgroup (an executable, so that
# /usr/bin/time and the harness's helpers can put it in front of a command)
IN_CG=$TMP/in-cg
printf '#!/bin/sh\necho $$ >"%s/cgroup.procs" && exec "$@"\n' "$CG" >"$IN_CG"
chmod +x "$IN_CG"

bytes() { numfmt --from=iec "$1"; }

# Stopped halfway (Ctrl-C, kill): the processes in the benchmark's
# cgroup still hold swapped pages, and swapoff fails while they live, so
# they are killed (by PID, from cgroup.procs) and waited for first.  The
# runs happen in a subshell (the pipe into tee), so the swap device in use
# is noted in $TMP for this shell's trap to find.
cg_stop() {
	[ -f "$CG/cgroup.procs" ] || return 0
	for p in $(cat "$CG/cgroup.procs"); do kill -9 "$p" 2>/dev/null; done
	n=0 # (cgroup files have no size: read them)
	while [ -n "$(cat "$CG/cgroup.procs" 2>/dev/null)" ] && [ $n -lt 100 ]; do
		sleep 0.1
		n=$((n + 1))
	done
}

cleanup() {
	cg_stop
	SWAPDEV=$(cat "$TMP/swapdev" 2>/dev/null) SWAPFILE=$(cat "$TMP/swapfile" 2>/dev/null)
	swap_down
	[ -d "$CG" ] && rmdir "$CG" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

swap_up() { # ram|disk [LIMIT (default LOCAL)]
	swap_down
	sz=$(( $(bytes "$W") * 3 / 2 ))
	if [ "$1" = ram ]; then
		[ -w /sys/class/zram-control/hot_add ] || return 1
		n=$(cat /sys/class/zram-control/hot_add) || return 1
		SWAPDEV=/dev/zram$n
		echo "$SWAPDEV" >"$TMP/swapdev"
		echo lz4 >/sys/block/zram$n/comp_algorithm 2>/dev/null
		# (zram takes memory only as pages come in: a size to spare
		# costs nothing, and the applications' runs need more than W)
		[ "$sz" -lt $((4 << 30)) ] && sz=$((4 << 30))
		echo "$sz" >/sys/block/zram$n/disksize || return 1
	else
		SWAPFILE=/var/tmp/lego-bench-swap.$$
		echo "$SWAPFILE" >"$TMP/swapfile"
		fallocate -l "$sz" "$SWAPFILE" && chmod 600 "$SWAPFILE" || return 1
		SWAPDEV=$SWAPFILE
		echo "$SWAPDEV" >"$TMP/swapdev"
	fi
	mkswap "$SWAPDEV" >/dev/null && swapon -p 32767 "$SWAPDEV" || return 1
	mkdir -p "$CG" && echo "$(bytes "${2:-$LOCAL}")" >"$CG/memory.limit_in_bytes" &&
		echo 100 >"$CG/memory.swappiness" 2>/dev/null
	return 0
}

swap_down() {
	# a process just killed may still be freeing its swapped pages: swapoff
	# fails until it has (a few seconds for 1 GiB)
	n=0
	while [ -n "$SWAPDEV" ] && grep -q "^$SWAPDEV " /proc/swaps && ! swapoff "$SWAPDEV" 2>/dev/null &&
		[ $n -lt 100 ]; do
		sleep 0.2
		n=$((n + 1))
	done
	case "$SWAPDEV" in /dev/zram*)
		n=${SWAPDEV#/dev/zram}
		echo 1 >/sys/block/zram$n/reset 2>/dev/null
		echo "$n" >/sys/class/zram-control/hot_remove 2>/dev/null ;;
	esac
	[ -n "$SWAPFILE" ] && rm -f "$SWAPFILE"
	SWAPDEV="" SWAPFILE=""
	rm -f "$TMP/swapdev" "$TMP/swapfile"
}

# run SYSTEM ARGS...: one workload line on stdout
run() {
	sys=$1; shift
	case $sys in
	native) "$WL" --ws "$W" --ops "$OPS" "$@" ;;
	lego-shm | lego-tcp)
		"$B/bin/lego-run" --excache "$LOCAL" --fabric "${sys#lego-}" --stats="$TMP/stats.json" -- \
			"$WL" --ws "$W" --ops "$OPS" "$@"
		sed -n 's/.*"latency.miss":{"count":[0-9]*,"p50_ns":\([0-9]*\).*/\1/p' "$TMP/stats.json" >"$TMP/miss_p50" ;;
	swap-*) "$IN_CG" "$WL" --ws "$W" --ops "$OPS" "$@" ;;
	esac
}

CONFIGS="seq:0:1 uniform:0:1 zipf:0:1 seq:50:1 uniform:50:1 zipf:50:1 uniform:0:2 zipf:0:2 uniform:50:2"
echo "system,pattern,writes,threads,ops_per_s,gb_per_s,checksum,checksum_ok,runs,ops_min,ops_max" >"$CSV"
{
echo "== Lego vs Linux swap  $(date -u +%Y-%m-%dT%H:%MZ)  $(nproc) CPUs  W=$W local=$LOCAL ops=$OPS  LEGO_FAULT=${LEGO_FAULT:-uffd}"
echo "-- floors, this run"
LEGO_EXCACHE_SIZE=64M "$B/bin/lego-bench-excache" --floors --ws 0 2>/dev/null | grep floor | tee "$TMP/floors"
LEGO_FABRIC=shm "$B/bin/lego-bench-rpc" --count 3000 --batch 16 2>/dev/null | grep "read 1 x" | tee "$TMP/rpc"
: >"$TMP/runs"
for round in $(seq 1 "$ROUNDS"); do
for sys in $SYSTEMS; do
	case $sys in lego-shm | swap-ram) ;; *) [ "$round" -gt 1 ] && continue ;; esac
	case $sys in
	none) continue ;; # SYSTEMS=none: the application run only
	swap-ram) swap_up ram || { echo "-- $sys: cannot set up swap (root needed); skipped"; continue; } ;;
	swap-disk) swap_up disk || { echo "-- $sys: cannot set up swap on disk; skipped"; continue; } ;;
	*) swap_down ;;
	esac
	for c in $CONFIGS; do
		pat=${c%%:*} rest=${c#*:}; wr=${rest%%:*} th=${rest#*:}
		[ "$sys" = lego-tcp ] && [ "$c" != uniform:0:1 ] && continue
		line=$(run "$sys" --pattern "$pat" --writes "$wr" --threads "$th" 2>"$TMP/err" | grep '^workload')
		if [ -z "$line" ]; then
			echo "-- $sys $c: failed: $(tail -2 "$TMP/err")"; continue
		fi
		ops=$(echo "$line" | sed 's/.*ops_per_s=\([0-9]*\).*/\1/')
		gbs=$(echo "$line" | sed 's/.*gb_per_s=\([0-9.]*\).*/\1/')
		ck=$(echo "$line" | sed 's/.*checksum=\([0-9a-f]*\).*/\1/')
		ref=$(awk -F, -v p="$pat" -v w="$wr" -v t="$th" '$1=="native" && $2==p && $3==w && $4==t {print $7}' "$TMP/runs")
		ok=yes; [ -n "$ref" ] && [ "$ref" != "$ck" ] && ok=NO
		echo "$sys,$pat,$wr,$th,$ops,$gbs,$ck,$ok" >>"$TMP/runs"
		[ "$sys" = lego-shm ] && [ "$c" = uniform:0:1 ] && cat "$TMP/miss_p50" >>"$TMP/miss_uniform"
		printf '   %-9s %-8s writes %2s%% threads %s: %10s ops/s %8s page-GB/s checksum %s  (round %s)\n' \
			"$sys" "$pat" "$wr" "$th" "$ops" "$gbs" "$ok" "$round"
	done
done
done
swap_down
# one row per system and configuration: the median run (by ops/s), its
# checksum verdict "yes" only if every run's matched, and the spread
sort -t, -k1,4 -k5,5n "$TMP/runs" | awk -F, -v OFS=, '
	function flush() {
		if (!n) return
		m = int((n + 1) / 2)
		print row[m], all, n, ops[1], ops[n]
	}
	{ k = $1 FS $2 FS $3 FS $4 }
	k != last { flush(); n = 0; all = "yes"; last = k }
	{ n++; ops[n] = $5; if ($8 != "yes") all = "NO"; row[n] = $1 OFS $2 OFS $3 OFS $4 OFS $5 OFS $6 OFS $7 }
	END { flush() }' >>"$CSV"
TRAIN_SAMPLES=${TRAIN_SAMPLES:-1048576}
TRAIN_LINE=${TRAIN_LINE-2M} TRAIN_LINE_LOCAL=${TRAIN_LINE_LOCAL:-70}
PY=/usr/bin/python3
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
if [ "$TRAIN_SAMPLES" -gt 0 ] && $PY -c 'import numpy' 2>/dev/null; then
	echo "-- application: examples/train.py --samples $TRAIN_SAMPLES, local memory = 1/4 of native peak"
	TR="examples/train.py --samples $TRAIN_SAMPLES --timing"
	strip() { sed -e 's/ ([0-9.]* s)//' -e '/^data generation/d' -e '/peak RSS/d' "$1"; }
	t0=$(date +%s.%N); $PY $TR >"$TMP/tr.native"; tn=$(since "$t0")
	peak=$(sed -n 's/.*peak RSS \([0-9]*\) MiB/\1/p' "$TMP/tr.native")
	[ -n "$peak" ] || { echo "   train.py printed no peak RSS: $(tail -2 "$TMP/tr.native")"; peak=0; }
	q=$((peak / 4))
	t0=$(date +%s.%N)
	"$B/bin/lego-run" --excache ${q}M -- $PY $TR >"$TMP/tr.lego" 2>"$TMP/tr.err"
	tl=$(since "$t0")
	# large lines, with a smaller ExCache so that the process's peak RSS
	# (ExCache, victim buffer and the rest) stays at the default run's
	tb=- qb=$((q * TRAIN_LINE_LOCAL / 100))
	if [ -n "$TRAIN_LINE" ]; then
		t0=$(date +%s.%N)
		"$B/bin/lego-run" --excache ${qb}M --line "$TRAIN_LINE" -- $PY $TR >"$TMP/tr.big" 2>>"$TMP/tr.err"
		tb=$(since "$t0")
	fi
	ts=-
	if swap_up ram ${q}M; then
		t0=$(date +%s.%N)
		"$IN_CG" $PY $TR >"$TMP/tr.swap" 2>>"$TMP/tr.err"
		ts=$(since "$t0")
		swap_down
	fi
	strip "$TMP/tr.native" >"$TMP/s1"
	for f in lego swap big; do
		strip "$TMP/tr.$f" >"$TMP/s2" 2>/dev/null
		eval "ok_$f=\$(cmp -s \"\$TMP/s1\" \"\$TMP/s2\" && echo same || echo DIFFERENT)"
	done
	rss() { sed -n 's/.*peak RSS \([0-9]*\) MiB/\1/p' "$1" 2>/dev/null; }
	rl=$(rss "$TMP/tr.lego") rb=$(rss "$TMP/tr.big")
	printf '   native %.1f s (peak %s MiB); lego-shm %.1f s (peak RSS %s MiB), output %s; swap-ram %s s, output %s\n' \
		"$tn" "$peak" "$tl" "${rl:-?}" "$ok_lego" "$ts" "$ok_swap"
	ratios() { # LABEL LEGO-TIME
		awk -v w="$1" -v n="$tn" -v l="$2" -v s="$ts" 'BEGIN {
			printf "   train.py%s: Lego/native time %.2fx", w, l / n
			if (s != "-") printf ", Lego/swap time %.2fx (below 1: Lego faster)", l / s
			printf "\n" }'
	}
	ratios "" "$tl"
	if [ "$tb" != - ]; then
		printf '   lego-shm, %s lines, ExCache %s MiB: %.1f s (peak RSS %s MiB), output %s\n' \
			"$TRAIN_LINE" "$qb" "$tb" "${rb:-?}" "$ok_big"
		ratios ", $TRAIN_LINE lines" "$tb"
	fi
	echo "train,$tn,$tl,$ts,$peak,$q,$ok_lego,$ok_swap,${rl:-},$TRAIN_LINE,$qb,$tb,${rb:-},${ok_big:-}" \
		>"$OUT/compare-train.csv"
fi
XZ_MB=${XZ_MB:-48} XZ_LOCAL=${XZ_LOCAL:-75}
if [ "$XZ_MB" -gt 0 ] && command -v xz >/dev/null && [ -x /usr/bin/time ]; then
	echo "-- application: xz -T2 -6 of $XZ_MB MB of base64 text, local memory = $XZ_LOCAL% of native peak"
	echo "   (two threads, each with ~94 MiB of match-finder tables read and written at random)"
	head -c $((XZ_MB * 3 / 4 * 1000000)) /dev/urandom | base64 >"$TMP/xz.in"
	# xz_run NAME PREFIX...: compress under PREFIX; prints
	# "NAME seconds peak_kib major_faults exit md5"
	xz_run() {
		_n=$1; shift
		/usr/bin/time -f '%e %M %F %x' -o "$TMP/$_n.time" "$@" xz -T2 -6 -c <"$TMP/xz.in" >"$TMP/$_n.xz" 2>"$TMP/$_n.err"
		_md5=$(md5sum <"$TMP/$_n.xz" | cut -c1-12)
		_t=$(tail -1 "$TMP/$_n.time")
		# (time says so on a line of its own when a signal killed it)
		grep -q '^Command terminated by signal' "$TMP/$_n.time" && _t="${_t% *} killed"
		echo "$_n $_t $_md5"
	}
	xz_run native env >"$TMP/x.native"
	xpeak=$(awk '{ print int($3 / 1024) }' "$TMP/x.native")
	xq=$((xpeak * XZ_LOCAL / 100))
	xz_run lego-shm "$B/bin/lego-run" --excache ${xq}M --stats="$TMP/x.stats" -- >"$TMP/x.lego"
	xmiss=$(sed -n 's/.*"excache.misses":\([0-9]*\).*/\1/p' "$TMP/x.stats" 2>/dev/null)
	if swap_up ram ${xq}M; then
		xz_run swap-ram "$IN_CG" >"$TMP/x.swap"
		swap_down
	fi
	xmd5=$(awk '{ print $6 }' "$TMP/x.native")
	printf '   %-9s %9s %10s  %s\n' system seconds misses output
	for f in native lego swap; do
		[ -s "$TMP/x.$f" ] || continue
		awk -v m="$xmd5" -v lm="${xmiss:--}" '{
			miss = $1 == "lego-shm" ? lm : $1 == "native" ? "-" : $4
			if ($5 == "killed") out = "killed by a signal (the memory cgroup OOM killer, if swap-ram)"
			else if ($5 != 0) out = "exit " $5
			else if ($1 == "native") out = "(the reference)"
			else out = $6 == m ? "same as native" : "DIFFERENT"
			printf "   %-9s %9s %10s  %s\n", $1, $2, miss, out }' "$TMP/x.$f"
	done
	echo "   (misses: Lego's excache.misses; for swap-ram, xz's major faults)"
	cat "$TMP"/x.native "$TMP"/x.lego "$TMP"/x.swap 2>/dev/null | awk -v local=$xq '
		{ t[$1] = $5 == 0 ? $2 : "" }
		function r(a, b) { return (a + 0 > 0 && b + 0 > 0) ? sprintf("%.2fx", a / b) : "-" }
		END { printf "   xz (local %d MiB): Lego/native time %s, Lego/swap time %s (below 1: Lego faster)\n",
			local, r(t["lego-shm"], t["native"]), r(t["lego-shm"], t["swap-ram"]) }'
	cat "$TMP"/x.native "$TMP"/x.lego "$TMP"/x.swap 2>/dev/null | tr ' ' , >"$OUT/compare-xz.csv"
	rm -f "$TMP"/xz.in "$TMP"/*.xz
fi
REDIS_KEYS=${REDIS_KEYS:-262144}
if [ "$REDIS_KEYS" -gt 0 ] && command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null; then
	echo "-- application: redis-server, $REDIS_KEYS values of 4 KiB, local memory = 1/4 of native peak"
	echo "   load: SET every value (pipelined); get: redis-benchmark GET of random loaded keys;"
	echo "   set: redis-benchmark SET of 4 KiB values to random new keys; then every loaded value read back"
	RCHECK="$PY tests/integration/redis_check.py"
	RN=${REDIS_REQUESTS:-100000}
	# redis_run NAME PREFIX...: start redis-server under PREFIX, load,
	# benchmark, check, stop; prints "NAME load_s get_rps set_rps peak_mib intact"
	redis_run() {
		_n=$1; shift
		_port=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
		"$@" redis-server --port "$_port" --bind 127.0.0.1 --save "" --appendonly no \
			--daemonize no --logfile "$TMP/$_n-redis.log" >"$TMP/$_n-redis.out" 2>&1 &
		_rp=$!
		_k=0
		until redis-cli -p "$_port" ping >/dev/null 2>&1; do
			_k=$((_k + 1)); [ $_k -gt 300 ] && { kill $_rp; echo "$_n - - - - failed-to-start"; return; }
			sleep 0.1
		done
		_t0=$(date +%s.%N)
		$RCHECK load "$_port" "$REDIS_KEYS" 4096 >"$TMP/$_n.load" 2>&1
		_load=$(since "$_t0")
		_get=$(redis-benchmark -p "$_port" -q -n "$RN" -r "$REDIS_KEYS" -c 8 GET 'k:__rand_int__' 2>&1 |
			tr '\r' '\n' | sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p' | tail -1)
		_set=$(redis-benchmark -p "$_port" -q -n "$RN" -r "$REDIS_KEYS" -c 8 -d 4096 -t set 2>&1 |
			tr '\r' '\n' | sed -n 's/.*: \([0-9.]*\) requests per second.*/\1/p' | tail -1)
		_ok=intact
		$RCHECK check "$_port" "$REDIS_KEYS" 4096 >"$TMP/$_n.check" 2>&1 || _ok=DIFFERENT
		_sp=$_rp # the server: $_rp, or lego-run's child
		for _c in $(cat /proc/"$_rp"/task/*/children 2>/dev/null); do
			[ "$(cat /proc/"$_c"/comm 2>/dev/null)" = redis-server ] && _sp=$_c
		done
		_peak=$(awk '/^VmHWM/ { print int($2 / 1024) }' /proc/"$_sp"/status 2>/dev/null)
		redis-cli -p "$_port" shutdown nosave >/dev/null 2>&1
		wait $_rp
		echo "$_n $_load ${_get:--} ${_set:--} ${_peak:--} $_ok"
	}
	redis_run native env >"$TMP/r.native"
	rpeak=$(awk '{ print $5 }' "$TMP/r.native")
	case $rpeak in '' | - | *[!0-9]*) rpeak=0 ;; esac
	rq=$((rpeak / 4))
	if [ "$rq" -gt 0 ]; then
		redis_run lego-shm "$B/bin/lego-run" --excache ${rq}M -- >"$TMP/r.lego"
		if swap_up ram ${rq}M; then
			redis_run swap-ram "$IN_CG" >"$TMP/r.swap"
			swap_down
		fi
	fi
	printf '   %-9s %8s %12s %12s %9s  %s\n' system "load s" "GET/s" "SET/s" "peak MiB" values
	cat "$TMP"/r.native "$TMP"/r.lego "$TMP"/r.swap 2>/dev/null |
		awk '{ printf "   %-9s %8s %12s %12s %9s  %s\n", $1, $2, $3, $4, $5, $6 }'
	cat "$TMP"/r.native "$TMP"/r.lego "$TMP"/r.swap 2>/dev/null | awk -v local=$rq '
		{ load[$1] = $2; get[$1] = $3; set[$1] = $4 }
		function r(a, b) { return (a + 0 > 0 && b + 0 > 0) ? sprintf("%.2fx", a / b) : "-" }
		END {
			printf "   redis (local %d MiB): Lego/native GET %s SET %s load time %s; Lego/swap GET %s SET %s load time %s\n",
				local, r(get["lego-shm"], get["native"]), r(set["lego-shm"], set["native"]),
				r(load["lego-shm"], load["native"]), r(get["lego-shm"], get["swap-ram"]),
				r(set["lego-shm"], set["swap-ram"]), r(load["lego-shm"], load["swap-ram"]) }'
	cat "$TMP"/r.native "$TMP"/r.lego "$TMP"/r.swap 2>/dev/null | tr ' ' , >"$OUT/compare-redis.csv"
fi
echo
echo "-- ratios (ops/s, median of $ROUNDS alternating runs; lowest-highest): Lego over shm vs native and vs RAM-backed swap"
awk -F, 'NR > 1 { k = $2 ":" $3 ":" $4; v[$1, k] = $5; r[$1, k] = $9 > 1 ? $10 "-" $11 : ""; keys[k] = 1 }
	END {
		printf "   %-14s %10s %10s %15s %10s %15s %8s %9s\n", "pattern:wr:thr", "native", "lego-shm", "", "swap-ram", "", "lego/nat", "lego/swap"
		for (k in keys) {
			n = v["native", k]; l = v["lego-shm", k]; s = v["swap-ram", k]
			printf "   %-14s %10s %10s %15s %10s %15s %8s %9s\n", k, n, l, r["lego-shm", k], s, r["swap-ram", k],
				(n && l) ? sprintf("%.3f", l / n) : "-", (s && l) ? sprintf("%.2fx", l / s) : "-"
		}
	}' "$CSV" | sort
seg=$(awk '/SIGSEGV/ { print $(NF-5) }' "$TMP/floors")
rpc=$(awk '{ print $7 }' "$TMP/rpc")
if [ -s "$TMP/miss_uniform" ] && [ -n "$seg" ] && [ -n "$rpc" ]; then
	m=$(sort -n "$TMP/miss_uniform" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
	awk -v m="$m" -v s="$seg" -v r="$rpc" 'BEGIN {
		printf "-- Lego miss median (uniform read, shm; median run) %.1f us = %.2fx the floor sum (SIGSEGV+mprotect %.1f us + shm 4 KiB RPC %.1f us)\n",
			m / 1000, m / 1000 / (s + r), s, r }'
	# (Lego times a miss from the fault's start as the runtime sees it:
	# in sigbus mode the handler's start, after the signal's delivery)
	[ "${LEGO_FAULT:-uffd}" = sigbus ] &&
		echo "   (LEGO_FAULT=sigbus: the median is the handler's time; the signal's delivery and return, part of the SIGBUS floor above, are not in it)"
	u=$(awk '/userfaultfd miss, no fetch/ { print $(NF-5) }' "$TMP/floors")
	[ -n "$u" ] && [ "${LEGO_FAULT:-uffd}" != sigbus ] && awk -v m="$m" -v u="$u" -v r="$rpc" 'BEGIN {
		printf "-- the same miss = %.2fx a userfaultfd miss with no fetch (%.1f us) + the shm RPC: Lego adds %.1f us to the two\n",
			m / 1000 / (u + r), u, m / 1000 - u - r }'
fi
} 2>&1 | tee "$OUT/compare.txt"
if command -v gnuplot >/dev/null; then
	awk -F, 'NR > 1 && $1 != "lego-tcp" { print $1, $2 "/" $3 "%/" $4 "t", $5 }' "$CSV" >"$TMP/plot.dat"
	gnuplot -e "set terminal png size 1200,600; set output '$OUT/compare.png'; set style data histograms;
		set style fill solid; set logscale y; set ylabel 'ops/s'; set xtics rotate by -45;
		set title 'Lego vs Linux swap, W=$W, local=$LOCAL';
		plot for [s in 'native lego-shm swap-ram swap-disk'] '< grep \"^'.s.' \" $TMP/plot.dat' using 3:xtic(2) title s" 2>/dev/null &&
		echo "(plot: $OUT/compare.png)"
fi
echo "(table: $OUT/compare.txt, data: $CSV)"
