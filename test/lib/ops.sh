# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# Helpers for the operations tests (cvpnctl, connection log, limits), on top of netns.sh and pki.sh.
#
#   ops_config FILE [endpoint lines...]   write_endpoint_config plus a connection
#                                         log in $TMPD and the extra `endpoint:` lines given
#   ctl ARGS...                           cvpnctl against this run's daemon
#   ctl_json ARGS...                      the same with --json; fails the test on a non-zero exit
#   topo_third_client                     a third client namespace ($NS_CLI3, 203.0.113.4)
#   client_udp_port NS                    the public UDP port of the openvpn client in NS
#   tun_stat NS FIELD                     tx_packets/rx_packets/tx_bytes/rx_bytes of the client's tun
#   connlog_select FILE JQ-FILTER         records of the connection log that match a jq select()

command -v jq >/dev/null || { echo "these tests parse JSON with jq: apt-get install jq" >&2; exit 1; }

CONNLOG="$TMPD/connections.log"
NS_CLI3="${PFX}cli3"
CLI3_IP=203.0.113.4

ops_config() { # FILE [lines for the endpoint section...]
	local f=$1 line
	shift
	write_endpoint_config "$f"
	{
		echo "  connection-log: { path: $CONNLOG, update-interval: ${CV_UPDATE:-5m} }"
		for line in "$@"; do echo "  $line"; done
	} >"$f.extra"
	# the endpoint section is first: insert before the blank line that ends it
	awk -v extra="$f.extra" '!done && /^$/ { while ((getline l < extra) > 0) print l; done = 1 } { print }' \
		"$f" >"$f.new"
	mv "$f.new" "$f"
	rm -f "$f.extra"
}

ctl() { "$CVPNCTL" --socket "$CTL_SOCK" "$@"; }

ctl_json() {
	local out
	out=$("$CVPNCTL" --socket "$CTL_SOCK" "$@" --json 2>"$TMPD/ctl.err") ||
		fail "cvpnctl $* --json failed: $(cat "$TMPD/ctl.err")"
	printf '%s\n' "$out"
}

topo_third_client() {
	ns_create "$NS_CLI3"
	veth_pair "$NS_CLI3" veth0 "$NS_GW" c3
	ip -n "$NS_GW" link set c3 master outside
	ip -n "$NS_CLI3" addr add "$CLI3_IP/24" dev veth0
	ip -n "$NS_CLI3" route add default via "$GW_OUT_IP"
	n_exec "$NS_CLI3" ping -q -c 1 -W 2 "$GW_OUT_IP" >/dev/null || fail "topology: client 3 cannot reach gateway"
}

# No IPv6 in the client namespaces: then everything the client's tun sends is IPv4 that the gateway counts,
# and the tun's counters must equal the gateway's exactly.
ipv6_off() { # NS...
	local ns
	for ns in "$@"; do
		n_exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	done
}

client_udp_port() { # NS
	n_exec "$1" ss -Hunap | awk '/"openvpn"/ {
		n = split($4, a, ":"); print a[n]; exit }'
}

tun_stat() { # NS FIELD
	local dev
	dev=$(client_tun "$1")
	dev=${dev##* }
	n_exec "$1" cat "/sys/class/net/$dev/statistics/$2"
}

connlog_select() { # FILE FILTER
	jq -c "select($2)" "$1"
}
