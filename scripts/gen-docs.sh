#!/bin/sh
# Regenerate the generated parts of docs/ from the code's tables:
#   docs/options.md   from common/options.def (via legoctl options)
#   docs/counters.md  from LEGO_STATS_LIST in include/lego/lego.h
# Usage: scripts/gen-docs.sh BUILD_DIR [OUT_DIR]   (OUT_DIR defaults to docs)
set -e
B=${1:-build}
OUT=${2:-docs}
SRC=$(cd "$(dirname "$0")/.." && pwd)
{
	echo "# Lego options"
	echo
	echo "Generated from \`common/options.def\` by \`scripts/gen-docs.sh\`; do not edit by hand."
	echo "Each option is read from \`/etc/lego/lego.conf\` (or the file named by \`LEGO_CONF\`),"
	echo "then from its \`LEGO_<NAME>\` environment variable, then from a daemon's or tool's"
	echo "\`--name\` flag; the later source wins.  A bad value stops a daemon with a message"
	echo "naming the option; in a Lego process it turns Lego off with one message, and the"
	echo "program runs unmodified."
	echo
	"$B/bin/legoctl" options --markdown
} >"$OUT/options.md"
{
	echo "# Lego process counters"
	echo
	echo "Generated from \`LEGO_STATS_LIST\` in \`include/lego/lego.h\` by \`scripts/gen-docs.sh\`."
	echo "Read them with \`lego_stats()\`, or \`LEGO_STATS=1\` (text on stderr at exit) or"
	echo "\`LEGO_STATS=FILE\` (JSON)."
	echo
	echo "| counter | meaning |"
	echo "|---|---|"
	sed -n 's/^[[:space:]]*X([A-Z_0-9]*, "\([^"]*\)", "\([^"]*\)").*/| `\1` | \2 |/p' "$SRC/include/lego/lego.h"
	echo
	echo "Latency histograms (\`enum lego_lat\`; log buckets, 8 per power of two), each"
	echo "with count, p50, p99, p99.9, max and mean:"
	echo
	echo "| histogram | what is timed |"
	echo "|---|---|"
	sed -n 's|^[[:space:]]*LEGO_LAT_\([A-Z]*\), */\* \(.*\) \*/|\1 \2|p' "$SRC/include/lego/lego.h" |
		while read -r id what; do
			echo "| \`latency.$(echo "$id" | tr 'A-Z' 'a-z' | sed 's/^zero$/zero_fill/')\` | $what |"
		done
	echo
	echo "Per memnode N the process talks to: \`memnode.N.rpcs\`, \`memnode.N.rpc_errors\`,"
	echo "\`memnode.N.rpc_timeouts\` (answered requests, failed ones, timed-out ones) and"
	echo "\`memnode.N.rpc_mean_ns\` (mean round trip)."
} >"$OUT/counters.md"
