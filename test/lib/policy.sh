# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# Helpers for the policy tests (issue 3: the kernel enforces the endpoint's policy), on top of netns.sh and
# pki.sh (source those first). Every wait is bounded.
#
#   pol_topo                      gateway ns with the outside bridge (203.0.113.1/24) and a switch ns that
#                                 holds one bridge per subnet; nothing else yet
#   sw_attach NS IF BR ADDR/LEN   a veth IF in NS (up, with ADDR) whose peer is a port of bridge BR in the
#                                 switch ns (BR is created on first use)
#   pol_client NAME               a client namespace ${PFX}NAME on the outside bridge, its own 203.0.113.x;
#                                 sets POL_NS[NAME]
#   pki_clients NAME...           more good client certificates (CN = NAME) in $PKI
#   pol_config FILE               endpoint section (full tunnel unless CV_SPLIT=true) + the policy YAML read
#                                 from stdin
#   pol_connect NAME...           starts the stock openvpn client NAME (cert NAME) in POL_NS[NAME] for each,
#                                 waits until all are up, sets POL_ADDR[NAME] (tunnel address)
#   ctl ARGS...                   cvpnctl against this run's daemon
#   reload_ok CONFIG WHAT         copies CONFIG over the running config file and reloads (must succeed)
#   ping_ok / ping_denied NS DST WHAT         one ICMP probe that must pass / must die
#   tcp_ok / tcp_denied NS DST PORT WHAT      a TCP exchange with a pol_listen listener that must pass / die
#   pol_listen NS ADDR PORT                   a TCP server (answers every connection, forever) in NS
#   nft_rule_packets COMMENT_ERE  sum of the packet counters of the rules of table inet cvpn whose comment
#                                 matches
#   nft_ruleset_nocounters        `nft list table inet cvpn` with counters and handles stripped
#   assoc_mark_of ADDR            the sess_assoc map's mark for a client address (e.g. 0x00c50001)
#   ping_expect_all               many ping probes at once ("CLIENT DST ok|denied WHAT" lines on stdin)
#   pol_listen_udp, udp_ok, udp_denied        the same as the TCP ones over UDP
#   soft_assert_eq, pol_summary   a failed check that lets the rest of the test run; pol_summary fails then

command -v jq >/dev/null || { echo "these tests parse JSON with jq: apt-get install jq" >&2; exit 1; }

NS_SW="${PFX}sw"
POL_RUN_CONFIG="$TMPD/endpoint.yaml"   # the file cvpnd runs with; reload_ok copies new versions over it
declare -A POL_NS=()
# shellcheck disable=SC2034 # read by the tests
declare -A POL_ADDR=()
POL_NEXT_CLIENT=20
POL_NEXT_PORT=0

ctl() { "$CVPNCTL" --socket "$CTL_SOCK" "$@"; }

pol_topo() {
	# shellcheck disable=SC2153 # NS_GW comes from netns.sh
	ns_create "$NS_GW" "$NS_SW"
	ip -n "$NS_GW" link add outside address 02:00:00:c5:00:01 type bridge
	ip -n "$NS_GW" addr add "$GW_OUT_IP/24" dev outside
	ip -n "$NS_GW" link set outside up
	n_exec "$NS_GW" sysctl -qw net.ipv4.ip_forward=1
	n_exec "$NS_GW" sysctl -qw net.bridge.bridge-nf-call-iptables=0 2>/dev/null || true
	n_exec "$NS_SW" sysctl -qw net.bridge.bridge-nf-call-iptables=0 2>/dev/null || true
}

sw_attach() { # NS IF BR ADDR/LEN
	local ns=$1 ifn=$2 br=$3 addr=$4 peer
	POL_NEXT_PORT=$((POL_NEXT_PORT + 1))
	peer="p$POL_NEXT_PORT"
	if ! ip -n "$NS_SW" link show "$br" >/dev/null 2>&1; then
		ip -n "$NS_SW" link add "$br" type bridge
		ip -n "$NS_SW" link set "$br" up
	fi
	veth_pair "$ns" "$ifn" "$NS_SW" "$peer"
	ip -n "$NS_SW" link set "$peer" master "$br"
	[ -z "$addr" ] || ip -n "$ns" addr add "$addr" dev "$ifn"
}

# A host namespace (created when missing) with IF in bridge BR at ADDR/LEN.
pol_host() { # NS IF BR ADDR/LEN
	ip netns list | grep -qw -- "$1" || ns_create "$1"
	sw_attach "$@"
}

pol_client() { # NAME
	local name=$1 ns="${PFX}$1" ip
	POL_NEXT_CLIENT=$((POL_NEXT_CLIENT + 1))
	ip="203.0.113.$POL_NEXT_CLIENT"
	ns_create "$ns"
	veth_pair "$ns" veth0 "$NS_GW" "c-$name"
	ip -n "$NS_GW" link set "c-$name" master outside
	ip -n "$ns" addr add "$ip/24" dev veth0
	ip -n "$ns" route add default via "$GW_OUT_IP"
	# IPv6 off: nothing but the probes of the test goes through the tunnel
	n_exec "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
	n_exec "$ns" ping -q -c 1 -W 2 "$GW_OUT_IP" >/dev/null || fail "topology: client $name cannot reach the gateway"
	POL_NS[$name]=$ns
}

pki_clients() { # NAME...
	local n
	for n in "$@"; do
		pki_leaf "$PKI" ca "$n" "$n" clientAuth
	done
	rm -f "$PKI"/*.srl
}

pol_config() { # FILE (policy YAML on stdin)
	{
		cat <<-EOF
		endpoint:
		  listen: { address: $GW_OUT_IP, port: ${CV_PORT:-1194}, transport: ${CV_TRANSPORT:-udp} }
		  remote: $GW_OUT_IP
		  control-socket: $CTL_SOCK
		  server-certificate: $PKI/server.crt
		  server-key: $PKI/server.key
		  client-ca: $PKI/ca.crt
		  client-cidr: ${CV_CLIENT_CIDR:-100.64.0.0/22}
		  split-tunnel: ${CV_SPLIT:-false}
		  keepalive: { interval: 2s, timeout: 20s }
		EOF
		[ -n "${CV_WORKERS:-}" ] && echo "  data-workers: $CV_WORKERS"
		[ -n "${CV_HS_THREADS:-}" ] && echo "  handshake-threads: $CV_HS_THREADS"
		[ -n "${CV_DATA_CHANNEL:-}" ] && echo "  data-channel: $CV_DATA_CHANNEL"
		echo
		cat
	} >"$1"
}

pol_connect() { # NAME...
	local n tun
	[ -e "$TMPD/client.ovpn" ] || export_client "$POL_RUN_CONFIG"
	for n in "$@"; do
		client_start "$n" "${POL_NS[$n]}" "$n"
	done
	for n in "$@"; do
		client_wait_up "$n" 15
		tun=$(client_tun "${POL_NS[$n]}")
		[ -n "$tun" ] || fail "$n: no tunnel address"
		# shellcheck disable=SC2034 # read by the tests
		POL_ADDR[$n]=${tun%%/*}
	done
}

reload_ok() { # CONFIG WHAT
	cp "$1" "$POL_RUN_CONFIG"
	ctl reload >"$TMPD/reload.log" 2>&1 || fail "$2: reload refused: $(cat "$TMPD/reload.log")"
	ok "$2: reloaded"
}

# One probe (two echo requests 0.3 s apart, 2 s for a reply): passes if any reply comes back.
probe_ping() { # NS DST
	n_exec "$1" ping -n -q -c 2 -i 0.3 -W 2 "$2" >/dev/null 2>&1
}

ping_ok() { # NS DST WHAT
	probe_ping "$1" "$2" || fail "$3: no reply from $2"
	ok "$3"
}

ping_denied() { # NS DST WHAT
	if probe_ping "$1" "$2"; then fail "$3: $2 answered, expected no reply"; fi
	ok "$3"
}

# A TCP server in NS on ADDR:PORT that answers "pong-PORT" to every connection (a loop of one-shot nc).
pol_listen() { # NS ADDR PORT
	local name="lsn-$1-$2-$3"
	bg_start "$name" n_exec "$1" bash -c "while :; do echo pong-$3 | nc -n -l -N $2 $3 >/dev/null 2>&1; done"
	sleep 0.1
}

probe_tcp() { # NS DST PORT [nc options]
	local ns=$1 dst=$2 port=$3
	local out
	shift 3
	out=$(echo ping | n_exec "$ns" timeout 5 nc -n -N -w 2 "$@" "$dst" "$port" 2>/dev/null) || true
	[ "$out" = "pong-$port" ]
}

tcp_ok() { # NS DST PORT WHAT
	probe_tcp "$1" "$2" "$3" || fail "$4: no TCP answer from $2:$3"
	ok "$4"
}

tcp_denied() { # NS DST PORT WHAT
	if probe_tcp "$1" "$2" "$3"; then fail "$4: $2:$3 answered over TCP, expected it to be blocked"; fi
	ok "$4"
}

nft_rule_packets() { # COMMENT_ERE
	n_exec "$NS_GW" nft list table inet cvpn 2>/dev/null |
		awk -v re="$1" '/comment "/ && match($0, /comment "[^"]*"/) {
				c = substr($0, RSTART + 9, RLENGTH - 10)
				if (c ~ re && match($0, /counter packets [0-9]+/)) { split(substr($0, RSTART, RLENGTH), a, " "); n += a[3] }
			}
			END { print n + 0 }'
}

nft_ruleset_nocounters() {
	n_exec "$NS_GW" nft list table inet cvpn | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'
}

assoc_mark_of() { # ADDR
	n_exec "$NS_GW" nft -j list map inet cvpn sess_assoc |
		jq -r --arg a "$1" '.nftables[] | select(.map) | .map.elem[]? | select(.[0] == $a) | .[1]' |
		awk '{ printf "0x%08x\n", $1 }'
}

# Runs a list of ping probes all at once, then checks each. One probe a line on stdin:
#   CLIENT DST ok|denied WHAT...
# (parallel because a denied probe costs its full 2 s timeout)
ping_expect_all() {
	local i=0 n c d e w
	local -a pids=() what=() expect=() dst=()
	while read -r c d e w; do
		[ -n "$c" ] || continue
		[ -n "${POL_NS[$c]:-}" ] || fail "ping_expect_all: unknown client $c"
		i=$((i + 1))
		( if probe_ping "${POL_NS[$c]}" "$d"; then echo pass; else echo dead; fi ) >"$TMPD/probe.$i" &
		pids[i]=$!
		what[i]="$c -> $d: $w"
		expect[i]=$e
		dst[i]=$d
	done
	for ((n = 1; n <= i; n++)); do
		wait "${pids[n]}" || true
	done
	for ((n = 1; n <= i; n++)); do
		case "${expect[n]}:$(cat "$TMPD/probe.$n")" in
		ok:pass | denied:dead) ok "${what[n]}" ;;
		ok:*) fail "${what[n]}: no reply from ${dst[n]}" ;;
		denied:*) fail "${what[n]}: ${dst[n]} answered, expected the packets to be dropped" ;;
		esac
	done
}

# A UDP server in NS on ADDR:PORT that answers "pong-PORT" to the first datagram of each exchange.
pol_listen_udp() { # NS ADDR PORT
	local name="ulsn-$1-$2-$3"
	bg_start "$name" n_exec "$1" bash -c "while :; do echo pong-$3 | nc -u -n -l -W 1 $2 $3 >/dev/null 2>&1; done"
	sleep 0.1
}

probe_udp() { # NS DST PORT
	local out
	out=$(echo ping | n_exec "$1" timeout 4 nc -u -n -w 2 "$2" "$3" 2>/dev/null) || true
	[ "$out" = "pong-$3" ]
}

udp_ok() { # NS DST PORT WHAT
	probe_udp "$1" "$2" "$3" || fail "$4: no UDP answer from $2:$3"
	ok "$4"
}

udp_denied() { # NS DST PORT WHAT
	if probe_udp "$1" "$2" "$3"; then fail "$4: $2:$3 answered over UDP, expected it to be blocked"; fi
	ok "$4"
}

# A check whose failure is reported at once but does not stop the test, so that the checks after it still
# run and tell what else holds; pol_summary then fails the test. For independent findings only.
declare -a POL_SOFT_FAILS=()
soft_assert_eq() { # ACTUAL EXPECTED WHAT
	if [ "$1" = "$2" ]; then
		ok "$3"
	else
		printf '  FAIL - %s: got %s, expected %s (continuing)\n' "$3" "'$1'" "'$2'" >&2
		POL_SOFT_FAILS+=("$3")
	fi
}

pol_summary() {
	local f
	if [ "${#POL_SOFT_FAILS[@]}" -gt 0 ]; then
		for f in "${POL_SOFT_FAILS[@]}"; do printf '  failed earlier: %s\n' "$f" >&2; done
		fail "${#POL_SOFT_FAILS[@]} check(s) failed"
	fi
	summary
}
