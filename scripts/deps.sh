#!/bin/sh
# Install the Debian packages Lego needs to build, test and benchmark.
# As root, installs what is missing with apt-get; otherwise prints the
# exact command to run.  Used by `make demo`, `make test` and `make bench`;
# arguments are more packages (`make fuzz`: clang).
set -e

PKGS="gcc make cmake pkg-config
      libfabric-dev libfabric-bin libisal-dev libjemalloc-dev libunwind-dev libdw-dev libmicrohttpd-dev libssl-dev
      check libsubunit-dev
      procps iproute2 util-linux time xz-utils
      python3 python3-numpy python3-venv python3-dev python3-lmdb lmdb-utils sqlite3 redis-server redis-tools openjdk-17-jdk-headless nodejs golang-go $*"

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing="$missing $p"
	fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
	echo "deps: installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y --no-install-recommends $missing ||
		{ apt-get update && apt-get install -y --no-install-recommends $missing; }
else
	echo "deps: missing Debian packages:$missing" >&2
	echo "deps: run:  sudo apt-get install -y$missing" >&2
	exit 1
fi
