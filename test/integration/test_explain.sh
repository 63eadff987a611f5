#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# `cvpnctl explain` agrees with real packets, and `cvpnctl check` / `cvpnd --check` show what a reload would
# change. Two users with groups from identity-groups (alice -> eng, bob -> finance), authorization
# 198.18.1.10/32 -> eng and 198.18.1.0/24 -> finance, a security group allowing tcp 8080 and icmp only. For
# each (identity, destination, port) case: explain's verdict and stage, then the same packet from the stock
# client (ping / TCP connect) passes or dies as explained. Then check: no change for the running file, the
# changed rule lines for an edited copy, and after reloading that copy no change again.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/ops.sh
. "$(dirname "$0")/../lib/ops.sh"

RES2_IP=198.18.1.20   # a second host in the subnet: covered by the /24 only

topo_basic
topo_second_client
ip -n "$NS_RES" addr add "$RES2_IP/24" dev eth0
pki_make "$TMPD/pki"

# The endpoint section of write_endpoint_config, then this test's policy.
policy_config() { # FILE SG_PORT [extra authorization rule lines]
	write_endpoint_config "$1.base"
	sed '/^associations:/,$d' "$1.base" >"$1"
	rm -f "$1.base"
	cat >>"$1" <<-EOF
	identity-groups:
	  - { identity: alice, groups: [eng] }
	  - { identity: bob, groups: [finance] }

	associations:
	  - name: subnet-a
	    interface: $ASSOC_IF
	    subnet: $ASSOC_NET
	    security-groups: [sg-app]

	routes:
	  - { destination: $ASSOC_NET, target: subnet-a, description: resource subnet }

	authorization-rules:
	  - { destination: $RES_IP/32, group: eng, description: "app server for eng" }
	  - { destination: $ASSOC_NET, group: finance, description: "subnet for finance" }
	EOF
	[ -z "${3:-}" ] || printf '%s\n' "$3" >>"$1"
	cat >>"$1" <<-EOF

	security-groups:
	  - name: sg-app
	    egress:
	      - { protocol: tcp, ports: $2, destination: $ASSOC_NET, description: "app port" }
	      - { protocol: icmp, destination: $ASSOC_NET, description: "ping" }
	EOF
}

policy_config "$TMPD/endpoint.yaml" 8080
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"
client_start alice "$NS_CLI" alice
client_start bob "$NS_CLI2" bob
client_wait_up alice
client_wait_up bob

# TCP servers on both hosts: the allowed port, the one the edit below allows instead, one never allowed.
for port in 8080 8443 9090; do
	bg_start "lsn$port" n_exec "$NS_RES" nc -n -d -k -l "$port"
done
sleep 0.3

declare -A NS_OF=([alice]=$NS_CLI [bob]=$NS_CLI2)

# The real packet: ICMP echo, or a TCP connection (a drop shows as a connect timeout).
real_packet() { # USER ADDR PORT|- -> 0 when it got through
	if [ "$3" = - ]; then
		n_exec "${NS_OF[$1]}" ping -q -c 1 -W 1 "$2" >/dev/null 2>&1
	else
		n_exec "${NS_OF[$1]}" timeout 3 nc -n -z -w 2 "$2" "$3" >/dev/null 2>&1
	fi
}

# explain in JSON and in text, then the same packet for real.
case_check() { # USER ADDR PORT|- pass|drop STAGE TEXT_ERE
	local user=$1 addr=$2 port=$3 want=$4 stage=$5 to j rc=0 text got=pass
	to=$addr
	[ "$port" = - ] || to="$addr:$port/tcp"
	j=$(ctl explain --user "$user" --to "$to" --json) || rc=$?
	[ "$rc" = "$([ "$want" = pass ] && echo 0 || echo 1)" ] || fail "explain $user $to --json: exit $rc for $want"
	assert_eq "$(jq -r '.verdict + " " + (."dropped-at" // "-")' <<<"$j")" "$want $stage" \
		"explain $user -> $to: $want$([ "$stage" = - ] || echo " at $stage") (exit $rc)"
	rc=0
	text=$(ctl explain --user "$user" --to "$to") || rc=$?
	[ "$rc" = "$([ "$want" = pass ] && echo 0 || echo 1)" ] || fail "explain $user $to: exit $rc for $want"
	assert_match "$text" "$6" "explain $user -> $to: text names the deciding rule"
	real_packet "$user" "$addr" "$port" || got=drop
	assert_eq "$got" "$want" "real packet $user -> $to: $got, as explained"
}

# alice (eng): the /32 is hers; the rest of the /24 is finance's only; only tcp 8080 and icmp leave.
case_check alice "$RES_IP" - pass - "authorization: allowed by the rule $(re_quote "$RES_IP")/32 -> eng: app server for eng"
case_check alice "$RES_IP" 8080 pass - "security group sg-app: allowed by egress rule tcp ports 8080-8080"
case_check alice "$RES_IP" 9090 drop security-group "no egress rule allows tcp"
case_check alice "$RES2_IP" - drop authorization "longest prefix containing the destination is $(re_quote "$ASSOC_NET"), granted only to finance"
# bob (finance): his /24 is no fallback for the /32 that only eng has.
case_check bob "$RES_IP" - drop authorization "is $(re_quote "$RES_IP")/32, granted only to eng .*no fallback"
case_check bob "$RES_IP" 8080 drop authorization "granted only to eng"
case_check bob "$RES2_IP" 8080 pass - "verdict: pass"
case_check bob "$RES2_IP" 9090 drop security-group "verdict: drop \(security-group\)"
case_check bob "$RES2_IP" - pass - "source NAT: to $(re_quote "$ASSOC_IP")"

# The details as data, and the identity they were computed for.
j=$(ctl explain --user alice --to "$RES_IP:8080/tcp" --json)
assert_eq "$(jq -r '[.identity."groups-from", (.identity.groups | join(",")), .authorization.rule.group,
	.authorization.prefix, .route.target, .association.interface, ."security-group".group, .snat] | join(" ")' <<<"$j")" \
	"live session eng eng $RES_IP/32 subnet-a $ASSOC_IF sg-app $ASSOC_IP" "explain --json: rule, route, association, SNAT"
assert_eq "$(jq -r '.authorization.rule.line' <<<"$j")" "$(grep -n "destination: $RES_IP/32" "$TMPD/endpoint.yaml" | cut -d: -f1)" \
	"explain --json: the authorization rule's line in the file"
j=$(ctl explain --group finance --to "$RES2_IP:8080/tcp" --json)
assert_eq "$(jq -r '.verdict + " " + .identity.group' <<<"$j")" "pass finance" "explain --group finance"
rc=0
ctl explain --group eng --to 198.18.2.5 >/dev/null || rc=$?
assert_eq "$rc" 1 "explain to an address no rule names: exit 1"

# No answer is never taken for a verdict: exit 2 with the reason.
rc=0
ctl explain --user nobody --to "$RES_IP" >/dev/null 2>"$TMPD/err" || rc=$?
assert_eq "$rc" 2 "explain --user nobody: exit 2"
assert_match "$(cat "$TMPD/err")" "unknown user 'nobody': no live session and no identity-groups entry" \
	"explain --user nobody: says why"
rc=0
ctl explain --user alice --to "$RES_IP:80" >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "explain --to ADDR:PORT without a protocol: usage error"
rc=0
ctl explain --user alice --group eng --to "$RES_IP" >/dev/null 2>&1 || rc=$?
assert_eq "$rc" 2 "explain with both --user and --group: usage error"

# --- check: the running file, an edited copy, cvpnd --check, no daemon
out=$(n_exec "$NS_GW" "$CVPNCTL" check "$TMPD/endpoint.yaml")
assert_eq "$out" "configuration OK
no change to the kernel policy" "check on the running file: no change"

policy_config "$TMPD/edited.yaml" 8443 "  - { destination: 198.18.1.30/32, group: eng, description: \"new host for eng\" }"
out=$(n_exec "$NS_GW" "$CVPNCTL" --socket "$CTL_SOCK" check "$TMPD/edited.yaml")
printf '%s\n' "$out" >"$TMPD/check-edited.log"
assert_match "$out" "^a reload would change table inet cvpn: [0-9]+ lines? removed, [0-9]+ added$" "check on an edited copy: summary"
assert_eq "$(grep -c '^-[^-]' "$TMPD/check-edited.log")/$(grep -c '^+[^+]' "$TMPD/check-edited.log")" \
	"$(sed -En 's/^a reload would change .*: ([0-9]+) lines? removed, ([0-9]+) added$/\1\/\2/p' <<<"$out")" \
	"check: the summary counts the diff's lines"
assert_match "$out" "^--- running \(config version 1\)$" "check: diff header names the running config"
assert_match "$out" "^\+\+\+ $(re_quote "$TMPD")/edited\.yaml$" "check: diff header names the file"
assert_match "$out" "^@@ -[0-9]+(,[0-9]+)? \+[0-9]+(,[0-9]+)? @@$" "check: a hunk header"
assert_match "$out" "^-.*tcp dport 8080 counter return comment \"sg sg-app: app port\"$" "check: the removed security-group rule (8080)"
assert_match "$out" "^\+.*tcp dport 8443 counter return comment \"sg sg-app: app port\"$" "check: the added security-group rule (8443)"
# the new /32 is a span of eng's grant, and it cuts finance's span in two
assert_match "$out" "^\+.* 198\.18\.1\.30 : jump grant_[0-9]+( }|,)$" "check: the new rule's span, to eng's grant"
assert_match "$out" "^-.* 198\.18\.1\.11-198\.18\.1\.255 : jump grant_[0-9]+( }|,)$" "check: finance's old span removed"
assert_match "$out" "^\+.* 198\.18\.1\.31-198\.18\.1\.255 : jump grant_[0-9]+( }|,)$" "check: finance's span above the new /32"
assert_no_log "$TMPD/check-edited.log" "^[-+].*comment \"sg sg-app: ping\"" "check: the unchanged rules are only context"
j=$(n_exec "$NS_GW" "$CVPNCTL" check "$TMPD/edited.yaml" --socket "$CTL_SOCK" --json)
assert_eq "$(jq -r '[.ok, .running.daemon, .running.changed, .running.removed, .running.added] | join(" ")' <<<"$j")" \
	"true true true $(grep -c '^-[^-]' "$TMPD/check-edited.log") $(grep -c '^+[^+]' "$TMPD/check-edited.log")" \
	"check --json: running.changed with the counts"
assert_eq "$(jq -r .running.diff <<<"$j")" "$(sed -n '/^--- /,$p' "$TMPD/check-edited.log")" "check --json: the same diff"

rc=0
out=$(n_exec "$NS_GW" "$CVPND" --check -c "$TMPD/edited.yaml" 2>&1) || rc=$?
assert_eq "$rc" 0 "cvpnd --check on the edited copy: exit 0"
assert_match "$out" "^\+.*tcp dport 8443 " "cvpnd --check: the same diff, through the config's control socket"

rc=0
out=$("$CVPNCTL" --socket "$TMPD/nothing.sock" check "$TMPD/edited.yaml" 2>"$TMPD/err") || rc=$?
assert_eq "$rc:$out" "0:configuration OK" "check without a daemon: validates only"
assert_match "$(cat "$TMPD/err")" "no cvpnd answers at $TMPD/nothing\.sock" "check without a daemon: says so"

# After the edit is applied, the file and the kernel agree, and so do the real packets.
cp "$TMPD/edited.yaml" "$TMPD/endpoint.yaml"
assert_match "$(ctl reload)" "configuration reloaded: version 2" "reload the edited file"
out=$(n_exec "$NS_GW" "$CVPNCTL" check "$TMPD/endpoint.yaml")
assert_eq "$out" "configuration OK
no change to the kernel policy" "check after the reload: no change"
case_check alice "$RES_IP" 8080 drop security-group "no egress rule allows tcp"
case_check alice "$RES_IP" 8443 pass - "security group sg-app: allowed by egress rule tcp ports 8443-8443"

client_stop alice
client_stop bob
server_stop
summary
