# Hosts emulated by network namespaces, for cluster tests (sourced after
# lib.sh).  A test gets a private switch: one namespace that holds a
# bridge, and per host a namespace joined to that bridge by a veth pair,
# with an address in $NS_NET.0/24 that exists only inside these
# namespaces.  Nothing is created in, or changed about, the root namespace.
# Names carry the test's PID, so tests can run side by side; every
# namespace (and with it every veth and the bridge) is removed when the
# test exits, fails or is interrupted, after lib.sh has stopped the
# processes it started.
#
#   ns_require           exit 77 (skip) unless root with a working `ip netns`
#   ns_switch            create the switch namespace and its bridge
#   ns_host NAME N       create host NAME, address $NS_NET.N/24
#   ns_exec NAME CMD...  run CMD in host NAME
#   ns_start NAME LOG CMD...
#                        start CMD in the background in host NAME, output to
#                        LOG; its pid (ip netns exec execs CMD in place) in
#                        NS_PID and in lib.sh's PIDS, stopped at exit
#   ns_name NAME         prints the namespace of host NAME
#   ns_addr N            prints $NS_NET.N
# LEGO_CLUSTER_KEY is exported (random if unset): daemons listening on
# these addresses refuse to start without one.
NS_NET=${NS_NET:-10.213.0}
# daemons beyond loopback need a cluster key (or --insecure): the hosts
# share one, random per test
LEGO_CLUSTER_KEY=${LEGO_CLUSTER_KEY:-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')}
export LEGO_CLUSTER_KEY
NS_PRE=lego$$
NS_LIST=""

ns_cleanup() {
	for _ns in $NS_LIST; do ip netns del "$_ns" 2>/dev/null; done
	NS_LIST=""
}
# processes first (a namespace lives on while a process is in it), then
# the namespaces; INT and TERM go through the same exit path
trap 'cleanup; ns_cleanup' EXIT
trap 'exit 1' INT TERM

ns_require() {
	[ "$(id -u)" = 0 ] || { echo "SKIP: network namespaces need root"; exit 77; }
	command -v ip >/dev/null 2>&1 || { echo "SKIP: no ip(8) (iproute2)"; exit 77; }
	ip netns add "$NS_PRE-probe" 2>"$T/netns.err" ||
		{ echo "SKIP: ip netns unavailable: $(cat "$T/netns.err")"; exit 77; }
	ip netns del "$NS_PRE-probe"
}

_ns_add() {
	ip netns add "$NS_PRE-$1" || fail "ip netns add $NS_PRE-$1"
	NS_LIST="$NS_LIST $NS_PRE-$1"
	ip -n "$NS_PRE-$1" link set lo up || fail "lo up in $NS_PRE-$1"
}

ns_switch() {
	_ns_add sw
	# no STP and no forwarding delay: a port forwards as soon as it is up
	ip -n "$NS_PRE-sw" link add br0 type bridge stp_state 0 forward_delay 0 2>"$T/netns.err" ||
		{ echo "SKIP: cannot create a bridge: $(cat "$T/netns.err")"; exit 77; }
	ip -n "$NS_PRE-sw" link set br0 up || fail "bridge up"
}

# Both ends of the veth pair are created inside namespaces (the switch's
# end in the switch, the other directly in the host), never in the root.
ns_host() {
	_ns_add "$1"
	ip -n "$NS_PRE-sw" link add "p-$1" type veth peer name eth0 netns "$NS_PRE-$1" ||
		fail "veth for $1"
	ip -n "$NS_PRE-sw" link set "p-$1" master br0 up || fail "bridge port for $1"
	ip -n "$NS_PRE-$1" addr add "$NS_NET.$2/24" dev eth0 || fail "address of $1"
	ip -n "$NS_PRE-$1" link set eth0 up || fail "eth0 of $1 up"
}

ns_exec() {
	_h=$1; shift
	ip netns exec "$NS_PRE-$_h" "$@"
}

ns_start() {
	_h=$1; _log=$2; shift 2
	ip netns exec "$NS_PRE-$_h" "$@" >"$_log" 2>&1 &
	NS_PID=$!
	PIDS="$PIDS $NS_PID"
}

ns_name() { echo "$NS_PRE-$1"; }

ns_addr() { echo "$NS_NET.$1"; }
