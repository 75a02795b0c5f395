#!/bin/sh
# O_DIRECT reads into remote memory.  A direct read pins its destination's
# pages and the device fills them later; an ExCache eviction meanwhile
# would leave the data in a page the program no longer maps (silent loss:
# 7.7 M of 8.4 M words wrong before Lego bounced these reads).  On a fast
# disk the reads finish before eviction reaches their pages, so the test
# makes a slow one: an ext4 file system on a loop device, reads throttled
# to 32 MiB/s by a cgroup (v1 blkio) that holds only the program.  Each
# read call (pread, read, readv, preadv, preadv2, and Linux AIO's
# io_submit) reads 24 MiB through a
# 4 MiB ExCache and must find what it wrote.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
skip() { echo "SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (loop device, mount, blkio cgroup)"
for c in losetup mkfs.ext4 mount umount; do
	command -v $c >/dev/null || skip "no $c"
done
BLK=/sys/fs/cgroup/blkio
[ -f $BLK/blkio.throttle.read_bps_device ] || skip "no cgroup v1 blkio controller"
CG=$BLK/lego-it-dio.$$
LOOP="" MNT=$T/mnt
dio_cleanup() {
	# the program has exited (lego-run waits for it) before this runs
	mountpoint -q "$MNT" && umount "$MNT"
	[ -n "$LOOP" ] && losetup -d "$LOOP"
	[ -d "$CG" ] && rmdir "$CG"
	cleanup
}
trap dio_cleanup EXIT INT TERM

truncate -s 160M "$T/disk.img"
LOOP=$(losetup -f --show "$T/disk.img") || skip "no loop device"
mkfs.ext4 -q "$LOOP" || fail "mkfs.ext4 $LOOP"
mkdir "$MNT" && mount "$LOOP" "$MNT" || fail "mount $LOOP"
mkdir "$CG" || fail "mkdir $CG"
echo "$(cat /sys/block/${LOOP#/dev/}/dev) 33554432" >"$CG/blkio.throttle.read_bps_device" ||
	fail "throttle $LOOP"

"$BIN/lego-test-prog_direct" "$MNT/native" 24 >"$T/native.out" 2>&1 ||
	fail "natively: $(cat "$T/native.out")"
sh -c 'echo $$ >"$1/cgroup.procs" && shift && exec "$@"' sh "$CG" \
	"$BIN/lego-run" --excache 4M --stats="$T/dio.json" -- \
	"$BIN/lego-test-prog_direct" "$MNT/lego" 24 >"$T/lego.out" 2>"$T/lego.log" ||
	fail "under lego-run: $(cat "$T/lego.out"; tail -3 "$T/lego.log")"
n=$(json_stat "$T/dio.json" io.direct_reads)
[ "${n:-0}" -ge 9 ] || fail "io.direct_reads $n: the reads did not go through a local buffer"
pass "O_DIRECT pread/read/readv/preadv/preadv2/io_submit of 24 MiB through a 4 MiB ExCache at 32 MiB/s: data intact ($n direct reads bounced)"
