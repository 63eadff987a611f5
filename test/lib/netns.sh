# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# Network-namespace harness for the cvpn integration tests and the demo, in the spirit of WireGuard's
# tools/testing/selftests/wireguard/netns.sh: short helpers, `set -e` in the callers, one cleanup trap.
#
# Source it from bash (after `set -euo pipefail`). It creates a per-run temp dir ($TMPD) and a per-run
# namespace prefix ($PFX = cv<pid>-) so concurrent runs never collide; interfaces are created directly inside
# their namespaces, so their names (all <= 15 chars) only need to be unique per namespace.
#
#   topo_basic              client ns <-> gateway ns <-> resource ns (topo_second_client adds a client)
#   n_exec NS cmd...        run cmd inside namespace NS
#   bg_start NAME cmd...    start cmd in the background (stdout+stderr -> $TMPD/NAME.out), remember its pid
#   bg_stop NAME            SIGTERM, wait (bounded), SIGKILL if still there
#   wait_for_log FILE REGEX TIMEOUT    poll until an extended regex shows up in FILE
#   ok / fail / assert_*    checks that print one line each; fail exits 1 (the EXIT trap cleans up)
#
# Environment: CVPN_BUILD (default build) holds cvpnd and cvpnctl; CVPN_KEEP=1 keeps $TMPD for inspection.

CVPN_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CVPN_ROOT=$(cd "$CVPN_LIB_DIR/../.." && pwd)
CVPN_BUILD=${CVPN_BUILD:-build}
case "$CVPN_BUILD" in /*) ;; *) CVPN_BUILD="$CVPN_ROOT/$CVPN_BUILD" ;; esac
CVPND="$CVPN_BUILD/cvpnd"
CVPNCTL="$CVPN_BUILD/cvpnctl"

TEST_NAME=$(basename "$0" .sh)
# run-all.sh hands each test a run id, so it can reap what a test killed by its time limit left behind.
CVPN_RUN_ID=${CVPN_RUN_ID:-$$}
PFX="cv$CVPN_RUN_ID-"
TMPD=$(mktemp -d "/tmp/cvpn-${TEST_NAME}.$CVPN_RUN_ID.XXXXXX")
chmod 700 "$TMPD"

NS_CLI="${PFX}cli"
NS_CLI2="${PFX}cli2"
NS_GW="${PFX}gw"
NS_RES="${PFX}res"

# Addresses of topo_basic (all from the documentation / benchmarking ranges).
GW_OUT_IP=203.0.113.1
CLI_IP=203.0.113.2
CLI2_IP=203.0.113.3
ASSOC_IF=cvpn-a
ASSOC_IP=198.18.1.1
ASSOC_NET=198.18.1.0/24
RES_IP=198.18.1.10

declare -a CVPN_NAMESPACES=()
declare -A CVPN_PIDS=()
CVPN_CHECKS=0

# --- output and assertions ---------------------------------------------------------------------------------

log() { printf '[%s] %s\n' "$TEST_NAME" "$*"; }
ok() { CVPN_CHECKS=$((CVPN_CHECKS + 1)); printf '  ok %d - %s\n' "$CVPN_CHECKS" "$*"; }

# Prints the reason, then the tail of every log of this run so a failure can be understood from CI output.
fail() {
	printf '  FAIL - %s\n' "$*" >&2
	dump_logs >&2
	exit 1
}

dump_logs() {
	local f
	for f in "$TMPD"/*.out "$TMPD"/*.log; do
		[ -s "$f" ] || continue
		printf -- '---- %s (last 25 lines)\n' "${f#"$TMPD"/}"
		tail -n 25 "$f"
	done
}

# The last line of every test: how many checks passed.
summary() {
	printf '%s: %d checks passed\n' "$TEST_NAME" "$CVPN_CHECKS"
}

assert_eq() { # ACTUAL EXPECTED WHAT
	[ "$1" = "$2" ] || fail "$3: got '$1', expected '$2'"
	ok "$3"
}

assert_ne() { # ACTUAL UNEXPECTED WHAT
	[ "$1" != "$2" ] || fail "$3: both are '$1'"
	ok "$3"
}

assert_match() { # STRING REGEX WHAT
	printf '%s\n' "$1" | grep -Eq -- "$2" || fail "$3: '$1' does not match /$2/"
	ok "$3"
}

assert_log() { # FILE REGEX WHAT
	grep -Eq -- "$2" "$1" 2>/dev/null || fail "$3: no line matching /$2/ in ${1#"$TMPD"/}"
	ok "$3"
}

assert_no_log() { # FILE REGEX WHAT
	if grep -Eq -- "$2" "$1" 2>/dev/null; then
		fail "$3: unexpected line in ${1#"$TMPD"/}: $(grep -E -m1 -- "$2" "$1")"
	fi
	ok "$3"
}

assert_cmd() { # WHAT cmd...
	local what=$1
	shift
	"$@" >"$TMPD/last-cmd.log" 2>&1 || fail "$what: '$*' failed: $(tail -n 5 "$TMPD/last-cmd.log")"
	ok "$what"
}

# Polls FILE until a line matches the extended REGEX; 0 when found, 1 after TIMEOUT seconds (may be fractional).
wait_for_log() { # FILE REGEX TIMEOUT
	local file=$1 re=$2 deadline
	deadline=$(( $(date +%s%N) + ${3%.*} * 1000000000 ))
	while :; do
		grep -Eq -- "$re" "$file" 2>/dev/null && return 0
		[ "$(date +%s%N)" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

# Number of lines in FILE now, to look only at what gets logged after this point (wait_for_log_since).
log_mark() { # FILE
	if [ -e "$1" ]; then wc -l <"$1"; else echo 0; fi
}

# wait_for_log restricted to the lines after MARK (from log_mark).
wait_for_log_since() { # FILE MARK REGEX TIMEOUT
	local file=$1 from=$(( $2 + 1 )) re=$3 deadline
	deadline=$(( $(date +%s%N) + ${4%.*} * 1000000000 ))
	while :; do
		tail -n "+$from" "$file" 2>/dev/null | grep -Eq -- "$re" && return 0
		[ "$(date +%s%N)" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

# Like wait_for_log, but an assertion.
expect_log() { # FILE REGEX TIMEOUT WHAT
	wait_for_log "$1" "$2" "$3" || fail "$4: no line matching /$2/ in ${1#"$TMPD"/} within $3 s"
	ok "$4"
}

# Escapes the dots of an address for use in an extended regex.
re_quote() { printf '%s' "$1" | sed 's/\./\\./g'; }

# Is ADDR (dotted quad) inside CIDR (a.b.c.d/n)?
ip_in_cidr() { # ADDR CIDR
	local a b c d n ip net mask
	IFS=. read -r a b c d <<<"$1"
	ip=$(( (a << 24) | (b << 16) | (c << 8) | d ))
	IFS=./ read -r a b c d n <<<"$2"
	net=$(( (a << 24) | (b << 16) | (c << 8) | d ))
	mask=$(( n == 0 ? 0 : (0xffffffff << (32 - n)) & 0xffffffff ))
	[ $(( ip & mask )) -eq $(( net & mask )) ]
}

# Position of ADDR inside CIDR (0 = network address).
ip_offset() { # ADDR CIDR
	local a b c d n ip
	IFS=. read -r a b c d <<<"$1"
	ip=$(( (a << 24) | (b << 16) | (c << 8) | d ))
	n=${2#*/}
	echo $(( ip & ((1 << (32 - n)) - 1) ))
}

# --- namespaces and processes --------------------------------------------------------------------------------

n_exec() { # NS cmd...
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}

ns_create() { # NS...
	local ns
	for ns in "$@"; do
		ip netns add "$ns"
		CVPN_NAMESPACES+=("$ns")
		ip -n "$ns" link set lo up
	done
}

# Creates a veth pair with each end directly in its namespace and brings both up.
veth_pair() { # NS1 IF1 NS2 IF2
	ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
	ip -n "$1" link set "$2" up
	ip -n "$3" link set "$4" up
}

# Starts cmd in the background with stdout and stderr in $TMPD/NAME.out and records its pid under NAME.
# `bg_start NAME n_exec NS cmd...` runs cmd in NS; the subshell execs `ip netns exec`, which execs cmd, so the
# recorded pid is the pid of cmd itself and killing it never needs a process name.
bg_start() { # NAME cmd...
	local name=$1
	shift
	# A pid recorded in a subshell (e.g. `server_start | sed`) would be lost to cleanup: refuse.
	if [ "$BASH_SUBSHELL" != 0 ]; then
		echo "bg_start $name: called in a subshell; its pid would escape cleanup" >&2
		exit 1
	fi
	[ "$1" = n_exec ] && set -- ip netns exec "${@:2}"
	( exec "$@" ) </dev/null >"$TMPD/$name.out" 2>&1 &
	CVPN_PIDS[$name]=$!
}

bg_pid() { echo "${CVPN_PIDS[$1]:-}"; }

bg_alive() { # NAME
	local pid=${CVPN_PIDS[$1]:-}
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

# Stops NAME: SIGTERM (or SIG), waits up to 5 s, then SIGKILL. Returns the process's exit status
# (or 0 if it was already gone).
bg_stop() { # NAME [SIG]
	local name=$1 sig=${2:-TERM} pid i rc=0
	pid=${CVPN_PIDS[$name]:-}
	[ -n "$pid" ] || return 0
	unset "CVPN_PIDS[$name]"
	kill "-$sig" "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || rc=$?
	return "$rc"
}

# Waits (bounded) until NAME exits by itself; 0 if it did.
bg_wait_exit() { # NAME TIMEOUT
	local pid=${CVPN_PIDS[$1]:-} i
	[ -n "$pid" ] || return 0
	for ((i = 0; i < $2 * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; unset "CVPN_PIDS[$1]"; return 0; }
		sleep 0.1
	done
	return 1
}

# Kills whatever still runs inside NS (children of recorded processes, e.g.), by pid.
ns_kill_all() { # NS
	local pid
	for pid in $(ip netns pids "$1" 2>/dev/null); do
		kill -KILL "$pid" 2>/dev/null
	done
}

# AddressSanitizer, LeakSanitizer, UBSan and ThreadSanitizer reports in the logs of this run (cvpnd.out and the previous
# starts' logs, loadgen and tool output): prints the first one and returns 1.
CVPN_SAN_RE='==[0-9]+==ERROR: (Address|Leak)Sanitizer|runtime error: |SUMMARY: (Address|Leak|UndefinedBehavior|Thread)Sanitizer|WARNING: ThreadSanitizer'
sanitizer_check() {
	local files f
	files=$(grep -rlIE -- "$CVPN_SAN_RE" "$TMPD" 2>/dev/null) || return 0
	for f in $files; do
		printf '  FAIL - sanitizer report in %s:\n' "${f#"$TMPD"/}" >&2
		grep -m1 -A 30 -E -- "$CVPN_SAN_RE" "$f" | sed 's/^/    /' >&2
	done
	return 1
}

cleanup() {
	local rc=$? name ns
	trap - EXIT INT TERM
	set +e
	# Processes first (SIGTERM so cvpnd removes its nft table and tun), then the namespaces they lived in.
	for name in "${!CVPN_PIDS[@]}"; do
		kill -TERM "${CVPN_PIDS[$name]}" 2>/dev/null
	done
	for name in "${!CVPN_PIDS[@]}"; do
		bg_stop "$name" >/dev/null 2>&1
	done
	for ns in "${CVPN_NAMESPACES[@]}"; do
		ns_kill_all "$ns"
		ip netns del "$ns" 2>/dev/null
	done
	# Sanitized builds (make test SANITIZE=1): any report in any log of the run fails the test, even one
	# printed at exit (LeakSanitizer) after the test's own checks passed.
	sanitizer_check || rc=1
	if [ "${CVPN_KEEP:-0}" = 1 ]; then
		echo "[$TEST_NAME] kept $TMPD" >&2
	else
		rm -rf "$TMPD"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- topology ------------------------------------------------------------------------------------------------

# client ns  veth0 203.0.113.2/24, default via 203.0.113.1 (so redirect-gateway has a gateway to keep)
#     |
# gateway ns bridge "outside" 203.0.113.1/24 (port c1, and c2 for the second client); association
#            interface cvpn-a 198.18.1.1/24; IPv4 forwarding on, as on any gateway host
#     |
# resource ns eth0 198.18.1.10/24 with no default route and no route to 100.64.0.0/10: replies from
#            the resource reach clients only if the gateway source-NATs client traffic to 198.18.1.1.
#
topo_basic() {
	ns_create "$NS_CLI" "$NS_GW" "$NS_RES"

	# A bridge takes the lowest MAC of its ports unless given one: pin it, or adding a client port later could
	# change the gateway's MAC under the ARP caches of the clients already there.
	ip -n "$NS_GW" link add outside address 02:00:00:c5:00:01 type bridge
	ip -n "$NS_GW" addr add "$GW_OUT_IP/24" dev outside
	ip -n "$NS_GW" link set outside up

	veth_pair "$NS_CLI" veth0 "$NS_GW" c1
	ip -n "$NS_GW" link set c1 master outside
	ip -n "$NS_CLI" addr add "$CLI_IP/24" dev veth0
	ip -n "$NS_CLI" route add default via "$GW_OUT_IP"

	veth_pair "$NS_GW" "$ASSOC_IF" "$NS_RES" eth0
	ip -n "$NS_GW" addr add "$ASSOC_IP/24" dev "$ASSOC_IF"
	ip -n "$NS_RES" addr add "$RES_IP/24" dev eth0

	n_exec "$NS_GW" sysctl -qw net.ipv4.ip_forward=1
	# The bridge only carries client <-> gateway traffic; keep br_netfilter (if loaded) out of the way.
	n_exec "$NS_GW" sysctl -qw net.bridge.bridge-nf-call-iptables=0 2>/dev/null || true

	# Fail early if the wiring itself is wrong, so later failures point at cvpn, not at the harness.
	n_exec "$NS_CLI" ping -q -c 1 -W 2 "$GW_OUT_IP" >/dev/null || fail "topology: client cannot reach gateway"
	n_exec "$NS_GW" ping -q -c 1 -W 2 "$RES_IP" >/dev/null || fail "topology: gateway cannot reach resource"
}

# After topo_basic: a second client ns (veth0 203.0.113.3/24) on the same outside bridge.
topo_second_client() {
	ns_create "$NS_CLI2"
	veth_pair "$NS_CLI2" veth0 "$NS_GW" c2
	ip -n "$NS_GW" link set c2 master outside
	ip -n "$NS_CLI2" addr add "$CLI2_IP/24" dev veth0
	ip -n "$NS_CLI2" route add default via "$GW_OUT_IP"
	n_exec "$NS_CLI2" ping -q -c 1 -W 2 "$GW_OUT_IP" >/dev/null || fail "topology: client 2 cannot reach gateway"
}

# --- cvpnd and clients ---------------------------------------------------------------------------------------

# Writes an endpoint config to FILE in the format of examples/endpoint.yaml. Knobs (environment variables,
# each with the default used when unset): CV_LISTEN=$GW_OUT_IP (the listen address) CV_TRANSPORT=udp CV_PORT=1194 CV_CLIENT_CIDR=100.64.0.0/22
# CV_SPLIT=true CV_TLS_EKM=true CV_CIPHERS="AES-256-GCM, AES-128-GCM, CHACHA20-POLY1305" CV_RENEG="" CV_RENEG_PKTS=""
# (e.g. "5s"; empty = daemon default) CV_WORKERS="" (data-workers; empty = one per CPU) CV_HS_THREADS=""
# (handshake-threads; empty = one per CPU, 0 = on the control thread; `make integration` runs the suite with
# 2 and 2, and its data-path tests again with 1 and 0) CV_DATA_CHANNEL="" (data-channel: userspace or kernel;
# empty = the default). PKI paths come from $PKI (see pki.sh).
write_endpoint_config() { # FILE
	{
		cat <<-EOF
		endpoint:
		  listen:
		    address: ${CV_LISTEN:-$GW_OUT_IP}
		    port: ${CV_PORT:-1194}
		    transport: ${CV_TRANSPORT:-udp}
		  remote: $GW_OUT_IP
		  control-socket: $CTL_SOCK
		  server-certificate: $PKI/server.crt
		  server-key: $PKI/server.key
		  client-ca: $PKI/ca.crt
		  tls-ekm: ${CV_TLS_EKM:-true}
		  client-cidr: ${CV_CLIENT_CIDR:-100.64.0.0/22}
		  split-tunnel: ${CV_SPLIT:-true}
		  dns-servers: [${CV_DNS:-198.18.1.53}]
		  data-ciphers: [${CV_CIPHERS:-AES-256-GCM, AES-128-GCM, CHACHA20-POLY1305}]
		EOF
		[ -n "${CV_RENEG:-}" ] && echo "  renegotiate-after: $CV_RENEG"
		[ -n "${CV_RENEG_PKTS:-}" ] && echo "  renegotiate-after-packets: $CV_RENEG_PKTS"
		[ -n "${CV_KEEPALIVE:-}" ] && echo "  keepalive: $CV_KEEPALIVE"
		[ -n "${CV_WORKERS:-}" ] && echo "  data-workers: $CV_WORKERS"
		[ -n "${CV_HS_THREADS:-}" ] && echo "  handshake-threads: $CV_HS_THREADS"
		[ -n "${CV_DATA_CHANNEL:-}" ] && echo "  data-channel: $CV_DATA_CHANNEL"
		cat <<-EOF

		associations:
		  - name: subnet-a
		    interface: $ASSOC_IF
		    subnet: $ASSOC_NET

		routes:
		  - destination: $ASSOC_NET
		    target: subnet-a
		    description: resource subnet

		authorization-rules:
		  - destination: $ASSOC_NET
		    all-users: true
		EOF
	} >"$1"
}

SERVER_LOG="$TMPD/cvpnd.out"
# Per run, so two runs (or a gateway on the test machine) never share a control socket.
CTL_SOCK="$TMPD/run/cvpnd.sock"

# Starts cvpnd in the gateway namespace with CONFIG and waits for its `ready` line. Any earlier instance must
# have been stopped (server_stop). The log of each start is kept as cvpnd.out (the previous one is renamed).
server_start() { # CONFIG
	[ -e "$SERVER_LOG" ] && mv "$SERVER_LOG" "$TMPD/cvpnd.$(date +%s%N).old"
	[ -x "$CVPND" ] || fail "no $CVPND (build first, or set CVPN_BUILD)"
	bg_start cvpnd n_exec "$NS_GW" "$CVPND" -c "$1" -v
	local i
	for ((i = 0; i < 100; i++)); do
		grep -Eq '(^|[^[:alnum:]_-])ready([^[:alnum:]_-]|$)' "$SERVER_LOG" && break
		bg_alive cvpnd || fail "cvpnd exited during start-up"
		sleep 0.1
	done
	[ "$i" -lt 100 ] || fail "cvpnd did not print 'ready' within 10 s"
	ok "cvpnd started ($(basename "$1"))"
}

# SIGTERM, and the clean stop the interface promises: exit status 0 and no table inet cvpn left behind.
server_stop() {
	local rc=0
	bg_stop cvpnd || rc=$?
	[ "$rc" = 0 ] || fail "cvpnd exited with status $rc on SIGTERM"
	if n_exec "$NS_GW" nft list table inet cvpn >/dev/null 2>&1; then
		fail "cvpnd left table inet cvpn behind after SIGTERM"
	fi
	ok "cvpnd stopped cleanly"
}

# Exports the client configuration with cvpnctl into $TMPD/client.ovpn.
export_client() { # CONFIG
	"$CVPNCTL" export-client-config -c "$1" -o "$TMPD/client.ovpn" >"$TMPD/cvpnctl.out" 2>&1 ||
		fail "cvpnctl export-client-config failed: $(tail -n 5 "$TMPD/cvpnctl.out")"
	ok "client configuration exported"
}

# Starts the stock openvpn client NAME in NS with certificate CERT from $PKI and the exported file, exactly
# as a user would, plus $CV_CLIENT_OPTS and extra command-line options. Its log is $TMPD/NAME.log.
client_start() { # NAME NS CERT [openvpn options...]
	local name=$1 ns=$2 cert=$3
	shift 3
	: >"$TMPD/$name.log"
	bg_start "$name" n_exec "$ns" openvpn --config "$TMPD/client.ovpn" --cert "$PKI/$cert.crt" \
		--key "$PKI/$cert.key" --log "$TMPD/$name.log" --verb 3 ${CV_CLIENT_OPTS:-} "$@"
}

client_log() { echo "$TMPD/$1.log"; }

# Waits for the client to finish connecting; fails early when it was refused or died.
client_wait_up() { # NAME [TIMEOUT]
	local name=$1 t=${2:-10} f
	f=$(client_log "$name")
	if ! wait_for_log "$f" 'Initialization Sequence Completed|AUTH_FAILED|Exiting due to fatal error' "$t"; then
		fail "client $name did not connect within $t s"
	fi
	grep -q 'Initialization Sequence Completed' "$f" || fail "client $name was refused: $(grep -E -m1 'AUTH_FAILED|fatal' "$f")"
	ok "client $name connected"
}

# Prints the tunnel address of the (only) openvpn client in NS, as "ADDR/LEN DEV".
client_tun() { # NS
	n_exec "$1" ip -o -4 addr show | awk '$2 ~ /^tun/ && !found { print $4, $2; found = 1 }'
}

# Stops client NAME with SIGTERM (over UDP that sends explicit-exit-notify) and checks that it exited.
client_stop() { # NAME
	bg_stop "$1" || fail "client $1 did not exit cleanly on SIGTERM"
}

# Sets CLIENT_ADDR and CLIENT_DEV from the tunnel interface of the openvpn client in NS and checks the
# address against CIDR and against the server's `established` line for CN.
client_address() { # NS CN CIDR
	local tun
	tun=$(client_tun "$1")
	[ -n "$tun" ] || fail "$2: no tun interface with an IPv4 address in the client namespace"
	CLIENT_ADDR=${tun%%/*}
	CLIENT_DEV=${tun##* }
	ip_in_cidr "$CLIENT_ADDR" "$3" || fail "$2: tunnel address $CLIENT_ADDR is outside the client CIDR $3"
	if [ "${3#*/}" -le 30 ]; then
		local off
		off=$(ip_offset "$CLIENT_ADDR" "$3")
		if [ "$off" = 0 ] || [ "$off" = $(( (1 << (32 - ${3#*/})) - 1 )) ]; then
			fail "$2: tunnel address $CLIENT_ADDR is the network or broadcast address of $3"
		fi
	fi
	ok "$2: tunnel address $CLIENT_ADDR on $CLIENT_DEV is inside $3"
	expect_log "$SERVER_LOG" "session [^ ]+ $2 .*established address $(re_quote "$CLIENT_ADDR")( |\$)" 3 \
		"$2: server logged the session established with address $CLIENT_ADDR"
}

# Split tunnel: address from CIDR, the association subnet routed into the tun, the DNS server pushed, and no
# default route taken over.
check_split_tunnel() { # NS CN CIDR
	local ns=$1 cn=$2 f
	f=$(client_log "$cn")
	client_address "$ns" "$cn" "$3"
	assert_match "$(n_exec "$ns" ip -4 route show "$ASSOC_NET")" "dev $CLIENT_DEV( |\$)" \
		"$cn: pushed route $ASSOC_NET goes through $CLIENT_DEV"
	assert_log "$f" "PUSH_REPLY.*dhcp-option DNS 198\.18\.1\.53" "$cn: DNS server 198.18.1.53 pushed"
	assert_eq "$(n_exec "$ns" ip -4 route show 0.0.0.0/1)" "" "$cn: split tunnel leaves 0.0.0.0/1 alone"
	assert_match "$(n_exec "$ns" ip -4 route show default)" "via $GW_OUT_IP dev veth0" \
		"$cn: default route still via the local network"
}

# Starts a one-shot TCP listener in NS on ADDR:PORT that answers REPLY and records what it receives in
# $TMPD/NAME.recv; nc -v writes "Connection received on <peer address> <port>" to $TMPD/NAME.out.
tcp_listen() { # NAME NS ADDR PORT REPLY
	local name=$1
	[ "$BASH_SUBSHELL" = 0 ] || { echo "tcp_listen $name: called in a subshell" >&2; exit 1; }
	printf '%s\n' "$5" >"$TMPD/$name.reply"
	( exec ip netns exec "$2" nc -n -v -l -N "$3" "$4" <"$TMPD/$name.reply" >"$TMPD/$name.recv" ) \
		2>"$TMPD/$name.out" &
	CVPN_PIDS[$name]=$!
	wait_for_log "$TMPD/$name.out" 'Listening on' 3 || fail "tcp listener $name did not start"
}

# Connects from NS to ADDR:PORT, sends MSG, prints what came back (bounded by 5 s).
tcp_send() { # NS ADDR PORT MSG
	printf '%s\n' "$4" | n_exec "$1" timeout 5 nc -n -N -w 3 "$2" "$3"
}

# Full check of the data path from a connected client: ping and a TCP exchange with the resource host, and
# the source address the resource host saw (must be the association address: only SNAT makes replies work).
check_data_path() { # NS LABEL
	local ns=$1 label=$2 msg reply got
	assert_cmd "$label: ping $RES_IP" n_exec "$ns" ping -q -c 3 -i 0.2 -W 2 -w 6 "$RES_IP"
	msg="hello-$RANDOM-$label"
	reply="reply-$RANDOM"
	tcp_listen "lsn-$label" "$NS_RES" "$RES_IP" 8080 "$reply"
	got=$(tcp_send "$ns" "$RES_IP" 8080 "$msg") || true
	bg_wait_exit "lsn-$label" 3 || bg_stop "lsn-$label" || true
	assert_eq "$got" "$reply" "$label: TCP reply from the resource host"
	assert_eq "$(cat "$TMPD/lsn-$label.recv")" "$msg" "$label: resource host received the client's data"
	assert_log "$TMPD/lsn-$label.out" "Connection received on $ASSOC_IP [0-9]+" \
		"$label: resource host saw the association address $ASSOC_IP as source"
}

# --- stock OpenVPN server (stand-in and benchmark baseline, not used by the cvpnd tests) -------------------

# Starts the Debian openvpn 2.6 server in the gateway namespace as the background process "openvpn-server"
# with a configuration equivalent to write_endpoint_config's defaults (split tunnel, DNS 198.18.1.53, the
# three AEAD ciphers), and source-NATs client traffic leaving the association interface with an nft table of
# its own (ip cvpnstock), since the stock server does no NAT. Extra arguments are appended as openvpn options.
# Its log is $TMPD/openvpn-server.log; returns after "Initialization Sequence Completed".
start_stock_openvpn_server() { # udp|tcp [openvpn options...]
	local proto=$1 conf="$TMPD/openvpn-server.conf"
	shift
	[ "$proto" = tcp ] && proto=tcp-server
	cat >"$conf" <<-EOF
	mode server
	tls-server
	proto $proto
	local $GW_OUT_IP
	port ${CV_PORT:-1194}
	dev tun
	topology subnet
	server 100.64.0.0 255.255.252.0
	push "route ${ASSOC_NET%/*} 255.255.255.0"
	push "dhcp-option DNS 198.18.1.53"
	data-ciphers AES-256-GCM:AES-128-GCM:CHACHA20-POLY1305
	ca $PKI/ca.crt
	cert $PKI/server.crt
	key $PKI/server.key
	dh none
	remote-cert-tls client
	keepalive 10 60
	reneg-sec 0
	verb 3
	EOF
	n_exec "$NS_GW" nft -f - <<-EOF
	table ip cvpnstock {
		chain post {
			type nat hook postrouting priority srcnat; policy accept;
			ip saddr 100.64.0.0/10 oifname "$ASSOC_IF" snat to $ASSOC_IP
		}
	}
	EOF
	: >"$TMPD/openvpn-server.log"
	bg_start openvpn-server n_exec "$NS_GW" openvpn --config "$conf" --log "$TMPD/openvpn-server.log" "$@"
	wait_for_log "$TMPD/openvpn-server.log" 'Initialization Sequence Completed' 10 ||
		fail "stock openvpn server did not start"
}

# --- many client source addresses (load generation) ---------------------------------------------------

# Adds N (at most 127) addresses 203.0.113.128.. to NS's veth0, on the outside link itself so the gateway
# needs no route, and prints the --source-range argument for build/loadgen. The gateway limits handshakes
# and cookie replies per source address, as a gateway facing the internet must; real clients come from
# many addresses, so a load generator has to as well.
client_add_sources() { # NS N
	local ns=$1 n=$2 i
	[ "$n" -ge 1 ] && [ "$n" -le 127 ] || fail "client_add_sources: 1..127 addresses, not $n"
	for ((i = 0; i < n; i++)); do
		ip -n "$ns" addr add "203.0.113.$((128 + i))/32" dev veth0
	done
	echo "203.0.113.128/$n"
}
