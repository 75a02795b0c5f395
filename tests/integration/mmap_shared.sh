#!/bin/sh
# Shared mappings of Lego files open for writing (docs/storage.md, "Shared
# mappings of files open for writing"): mmap_ops.py prints the same
# transcript in /lego as in a local directory (stores seen by read and
# other openers, resize, partial munmap, msync, fork children, another
# program mapping the file at once, np.memmap, sqlite WAL from two
# processes and with mmap_size, LMDB, a process killed after writing);
# the storenode's files hold what was written (mdb_stat counts LMDB's
# entries there); no host copy is left in /dev/shm.
. "$(dirname "$0")/lib.sh"
skip_if_sanitized
mkdir -p "$T/root" "$T/local"
start_monitor
start_memnode m
start_storenode "$T/root"
export LEGO_MONITOR=$MON
OPS=$IT_SRC/tests/integration/mmap_ops.py
copies() { ls /dev/shm 2>/dev/null | grep -c "^lego-map-$(id -u)-" ; }
before=$(copies)

$PY "$OPS" "$T/local/m" >"$T/native.out" 2>"$T/native.log" ||
	fail "mmap_ops natively: $(tail -5 "$T/native.log")"
"$BIN/lego-run" -- $PY "$OPS" /lego/m >"$T/lego.out" 2>"$T/lego.log" ||
	fail "mmap_ops under lego-run: $(tail -5 "$T/lego.log")"
if grep -q "Linux 6.7" "$T/lego.log"; then
	echo "SKIP: this kernel cannot track written pages: $(grep "Linux 6.7" "$T/lego.log" | head -1)"
	exit 77
fi
cmp -s "$T/native.out" "$T/lego.out" ||
	fail "transcripts differ: $(diff "$T/native.out" "$T/lego.out" | head -20)"
pass "shared mappings of files open for writing in /lego: $(wc -l <"$T/lego.out") transcript lines equal to a local directory's"

# the store's own files (not only what the client sees)
[ "$(dd if="$T/root/m/c.bin" bs=1 skip=8192 count=5 2>/dev/null)" = again ] ||
	fail "c.bin in the store lacks the last write through the mapping"
[ "$(stat -c %s "$T/root/m/a.bin")" = 20000 ] || fail "a.bin in the store is not 20000 bytes"
[ "$(dd if="$T/root/m/k.bin" bs=1 skip=100 count=4 2>/dev/null)" = kill ] ||
	fail "k.bin in the store lacks what the killed process wrote"
# msync alone (Python's flush: MS_SYNC) puts the stores in the store's file,
# while the file is still mapped (the transcript's readers in the process
# see the host's copy, not the file)
got=$("$BIN/lego-run" -- $PY -c '
import mmap, sys
f = open("/lego/m/ms.bin", "w+b")
f.write(bytes(8192))
f.flush()
m = mmap.mmap(f.fileno(), 0)
m[4096:4101] = b"msync"
print(open(sys.argv[1], "rb").read()[4096:4101], end=" ")
m.flush()
print(open(sys.argv[1], "rb").read()[4096:4101])
m.close()' "$T/root/m/ms.bin" 2>"$T/msync.log") || fail "msync check: $(tail -3 "$T/msync.log")"
[ "${got##* }" = "b'msync'" ] && [ "${got%% *}" != "b'msync'" ] ||
	fail "the store's file before and after msync: $got"
for wm in 0 1; do
	n=$(mdb_stat -e "$T/root/m/lmdb-$wm" 2>/dev/null | awk '/Entries:/ { print $2 }')
	[ "$n" = 3000 ] || fail "mdb_stat of the store's LMDB environment $wm: '$n' entries, want 3000"
done
grep -q "ended without writing it back: 1 page" "$T/lego.log" ||
	fail "no word of the killed process's page written back: $(tail -3 "$T/lego.log")"
[ "$(copies)" = "$before" ] || fail "host copies left in /dev/shm: $(ls /dev/shm | grep lego-map)"
pass "the store holds what went through the mappings, at msync already (LMDB's entries, the killed process's page too); no copy left in /dev/shm"
