#!/bin/sh
# Regenerate the generated parts of docs/ from the code's tables:
#   docs/options.md   from common/options.def (via legoctl options)
#   docs/counters.md  from LEGO_STATS_LIST in include/lego/lego.h and the
#                     daemons' stats lists (common/stats_list.h)
# Usage: scripts/gen-docs.sh BUILD_DIR [OUT_DIR]   (OUT_DIR defaults to docs)
set -e
B=${1:-build}
OUT=${2:-docs}
SRC=$(cd "$(dirname "$0")/.." && pwd)

# rows FILE LIST: a table row per line of the stats list LIST in FILE (the
# #define up to its first line without a backslash); a family member's
# number (%llu in its key) shows as N.
rows() {
	sed -n "/^#define $2(/,/[^\\\\]\$/p" "$SRC/$1" |
		sed -n 's/^[[:space:]]*[XSF]([A-Za-z_0-9]*, "\([^"]*\)", "\([^"]*\)").*/| `\1` | \2 |/p' |
		sed 's/%llu/N/'
}

# table FILE LIST...: one key | meaning table of the lists, in order.
table() {
	f=$1
	shift
	echo "| key | meaning |"
	echo "|---|---|"
	for l in "$@"; do
		rows "$f" "$l"
	done
}
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
	echo "# Lego counters"
	echo
	echo "Generated from the code's tables by \`scripts/gen-docs.sh\`; do not edit by hand."
	echo
	echo "## Process counters"
	echo
	echo "From \`LEGO_STATS_LIST\` in \`include/lego/lego.h\`."
	echo "Read them with \`lego_stats()\`, or \`LEGO_STATS=1\` (text on stderr at exit) or"
	echo "\`LEGO_STATS=FILE\` (JSON, rewritten every second while the process runs, with"
	echo "\`\"stats.at_exit\":1\` once it has ended: a program that ends without running"
	echo "destructors, such as a Go program, leaves the last second's, with \`0\`)."
	echo
	echo "| counter | meaning |"
	echo "|---|---|"
	rows include/lego/lego.h LEGO_STATS_LIST
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
	echo
	echo "## Daemon counters"
	echo
	echo "From the stats lists in the daemons' headers (\`common/stats_list.h\`)."
	echo "\`legoctl stats HOST:PORT\` prints a daemon's counters in this order, its RPC"
	echo "server's first, then its own; \`--metrics\` serves them to Prometheus"
	echo "([observability.md](observability.md)).  A number counts events since the daemon"
	echo "started, unless it is an id or a level marked (gauge).  Sizes are in bytes."
	echo
	echo "### RPC server counters (every daemon)"
	echo
	echo "From \`RPC_SERVER_STATS_LIST\` in \`fabric/rpc.h\`."
	echo
	table fabric/rpc.h RPC_SERVER_STATS_LIST
	echo
	echo "Reasons a message is refused (\`enum lw_reject\` in \`fabric/wire.h\`):"
	echo
	echo "| key | refused because |"
	echo "|---|---|"
	sed -n 's|^[[:space:]]*LW_\([A-Z]*\), */\* \(.*\) \*/|\1 \2|p' "$SRC/fabric/wire.h" |
		while read -r id why; do
			echo "| \`rejects.$(echo "$id" | tr 'A-Z' 'a-z')\` | $why |"
		done
	echo
	echo "### lego-memnode counters"
	echo
	echo "From \`MEMNODE_STATS_LIST\` in \`memnode/memnode.h\`, after the RPC server's."
	echo
	table memnode/memnode.h MEMNODE_STATS_LIST
	echo
	echo "### lego-monitor counters"
	echo
	echo "From \`MONITOR_STATS_LIST\` in \`monitor/monitor.h\`, after the RPC server's."
	echo
	table monitor/monitor.h MONITOR_STATS_LIST
	echo
	echo "Per memnode (\`node.N.*\`, as of its last heartbeat), storenode (\`store.N.*\`)"
	echo "and process (\`proc.N.*\`), each group in this order:"
	echo
	table monitor/monitor.h MONITOR_NODE_STATS_LIST MONITOR_STORE_STATS_LIST MONITOR_PROC_STATS_LIST
	echo
	echo "### lego-storenode counters"
	echo
	echo "From \`STORENODE_STATS_LIST\` in \`storenode/storenode.h\`, after the RPC server's."
	echo
	table storenode/storenode.h STORENODE_STATS_LIST
} >"$OUT/counters.md"
