#!/bin/sh
# `make demo`: the main job on the embedded default (no daemons to start).
# An unmodified Python training loop (examples/train.py, NumPy, about 1 GiB
# of data) runs under lego-run with a 256 MiB ExCache; the memory beyond it
# lives on the private memnode lego-run starts.  Then the explicit API, and
# files under /lego (sqlite3 and a shell) on the embedded storenode.
set -e
B=${1:-build}
PY=/usr/bin/python3
echo "== Lego demo 1: lego-run --excache 256M --stats -- $PY examples/train.py"
"$B/bin/lego-run" --excache 256M --stats -- $PY "$(dirname "$0")/../examples/train.py"
echo
echo "== Lego demo 2: the explicit API: 512 MiB array, 4 threads, 64 MiB ExCache"
LEGO_EXCACHE_SIZE=64M "$B/bin/lego-example-bigarray" 512M 4
echo
D=$(mktemp -d /tmp/lego-demo.XXXXXX)
trap 'rm -rf "$D"' EXIT
echo "== Lego demo 3: files under /lego (kept by the embedded storenode in $D)"
LEGO_STORE_ROOT=$D "$B/bin/lego-run" -- sh -c \
	"sqlite3 /lego/demo.db 'CREATE TABLE t(x); INSERT INTO t VALUES (42);' &&
	 sqlite3 /lego/demo.db 'SELECT x FROM t' && sort /etc/services > /lego/sorted && ls -l /lego"
