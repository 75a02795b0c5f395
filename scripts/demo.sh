#!/bin/sh
# `make demo`: the main job on the embedded default (no daemons to start).
# An unmodified Python training loop (examples/train.py, NumPy, about 1 GiB
# of data) runs under lego-run with a 256 MiB ExCache; the memory beyond it
# lives on the private memnode lego-run starts.  Then the explicit API.
set -e
B=${1:-build}
PY=/usr/bin/python3
echo "== Lego demo 1: lego-run --excache 256M --stats -- $PY examples/train.py"
"$B/bin/lego-run" --excache 256M --stats -- $PY "$(dirname "$0")/../examples/train.py"
echo
echo "== Lego demo 2: the explicit API: 512 MiB array, 4 threads, 64 MiB ExCache"
LEGO_EXCACHE_SIZE=64M "$B/bin/lego-example-bigarray" 512M 4
