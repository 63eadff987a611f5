# SPDX-License-Identifier: GPL-2.0-or-later
# shellcheck shell=bash
#
# Helpers for the hostile-input tests, on top of netns.sh:
#   FLOOD                         the flood tool (test/flood/flood.c, built as $CVPN_BUILD/flood)
#   gw_rss                        cvpnd's VmRSS in KiB
#   warm_handshake_threads        before a memory baseline: handshakes until a round no longer grows RSS
#   gw_udp_stat FIELD             a Udp: counter of the gateway namespace (InDatagrams, RcvbufErrors, ...)
#   res_echos                     ICMP echo requests the resource host has received (Icmp InEchos)
#   metric NAME                   a value of `cvpnctl metrics` (cvpn_NAME)
#   spoof_route                   route the spoofed range (198.51.100.0/24) from the gateway via the client
#   flood_spoofed NAME MODE COUNT PPS   start the flood tool in the client namespace as background job NAME,
#                                 random spoofed sources in 198.51.100.0/24, random ports
#   is_sanitized                  true when cvpnd is an ASan build (RSS figures then include ASan's quarantine)

FLOOD="$CVPN_BUILD/flood"
[ -x "$FLOOD" ] || { echo "no $FLOOD (make $(basename "$CVPN_BUILD")/flood)" >&2; exit 1; }
SPOOF_NET=198.51.100.0/24
SPOOF_FROM=198.51.100.1
SPOOF_TO=198.51.100.254

# Spoofed sources are off-link, as on the Internet: the gateway's answers go to a next hop that exists (the
# client namespace, which drops them). Sources on the outside /24 itself would make the gateway's kernel queue
# every answer behind an ARP request that nobody answers, and those queued packets fill the UDP socket's send
# buffer: the test would measure the ARP queue, not cvpnd.
spoof_route() {
	ip -n "$NS_GW" route add "$SPOOF_NET" via "$CLI_IP"
}

gw_rss() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$(bg_pid cvpnd)/status"
}

# shellcheck disable=SC2016 # awk's own $
gw_udp_stat() { # FIELD
	n_exec "$NS_GW" awk -v f="$1" '$1 == "Udp:" && !h { for (i = 2; i <= NF; i++) col[$i] = i; h = 1; next }
		$1 == "Udp:" && h { print $col[f]; exit }' /proc/net/snmp
}

# shellcheck disable=SC2016 # awk's own $
res_echos() {
	n_exec "$NS_RES" awk '$1 == "Icmp:" && !h { for (i = 2; i <= NF; i++) c[$i] = i; h = 1; next }
		$1 == "Icmp:" && h { print $c["InEchos"]; exit }' /proc/net/snmp
}

metric() { # NAME
	# awk reads to the end: leaving early would kill cvpnctl with SIGPIPE mid-output (pipefail: status 141)
	"$CVPNCTL" --socket "$CTL_SOCK" metrics | awk -v m="cvpn_$1" '$1 == m && !found { print $2; found = 1 }'
}

# Before a memory baseline: what handshakes allocate once per thread is in it. A handshake thread's first
# steps of each kind fill wolfSSL's thread-local ECC cache (about 2.5 MiB per thread, once: not growth), and
# which thread runs which step is the scheduler's choice; so rounds of eight load-generator handshakes at once
# until a round leaves the RSS where it was (within 256 KiB), five rounds at most.
warm_handshake_threads() {
	local i before after
	for ((i = 0; i < 5; i++)); do
		before=$(gw_rss)
		n_exec "$NS_CLI" timeout 30 "$CVPN_BUILD/loadgen" --remote "$GW_OUT_IP" --port "${CV_PORT:-1194}" \
			--ca "$PKI/ca.crt" --cert "$PKI/alice.crt" --key "$PKI/alice.key" -n 8 --timeout 20 >/dev/null 2>&1 || true
		sleep 0.5
		after=$(gw_rss)
		if [ $((after - before)) -le 256 ]; then
			ok "handshakes warm: a round of 8 left the RSS at $after KiB (from $before)"
			return 0
		fi
	done
	fail "the RSS still grew by $((after - before)) KiB in the fifth round of 8 handshakes"
}

flood_spoofed() { # NAME MODE COUNT PPS
	bg_start "$1" n_exec "$NS_CLI" "$FLOOD" --mode "$2" --dst "$GW_OUT_IP" --port "${CV_PORT:-1194}" \
		--src-from "$SPOOF_FROM" --src-to "$SPOOF_TO" --count "$3" --pps "$4" --seconds 60
}

is_sanitized() {
	grep -q __asan_init "$CVPND" 2>/dev/null
}

# Under ASan, freed memory sits in a quarantine of up to 256 MB, so RSS would measure the quarantine (the
# unknown-source path allocates per packet inside OpenSSL's HMAC) instead of what cvpnd keeps: without it,
# RSS growth is what it is in the plain build, and overflows and leaks are still caught.
if is_sanitized; then
	export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=0"
fi
