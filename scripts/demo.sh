#!/bin/sh
# `make demo`: the main job on the embedded default (no daemons to start).
set -e
B=${1:-build}
echo "== Lego demo: 512 MiB array, 4 threads, 64 MiB ExCache, embedded monitor + memnode"
LEGO_EXCACHE_SIZE=64M LEGO_STATS=1 "$B/bin/lego-example-bigarray" 512M 4
