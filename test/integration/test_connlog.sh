#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# The connection log, record by record and field by field: a successful attempt (checked against what the
# client sees), periodic update records with growing counters, failed attempts with bad certificates, the
# end record of a terminated connection (counters equal to cvpnctl's), reopening on SIGUSR1 after a
# logrotate-style move, and no secret anywhere in it.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/ops.sh
. "$(dirname "$0")/../lib/ops.sh"

FIELDS='["client-ip","client-openvpn-version","common-name","connection-attempt-failure-reason",
"connection-attempt-status","connection-duration-seconds","connection-end-reason","connection-end-time",
"connection-established-time","connection-id","connection-last-update-time","connection-log-type",
"connection-start-time","device-ip","device-type","egress-bytes","egress-packets","endpoint-id",
"ingress-bytes","ingress-packets","port","posture-compliance-statuses","transport-protocol","username"]'
TS='^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$'

topo_basic
topo_second_client
ipv6_off "$NS_CLI"
pki_make "$TMPD/pki"
CV_UPDATE=2s ops_config "$TMPD/endpoint.yaml" "id: cvpn-endpoint-logtest"
server_start "$TMPD/endpoint.yaml"
export_client "$TMPD/endpoint.yaml"

# --- a successful attempt
before=$(date -u +%s)
client_start alice "$NS_CLI" alice
client_wait_up alice
addr=$(client_tun "$NS_CLI" | cut -d/ -f1)
expect_log "$CONNLOG" '"connection-log-type":"connection-attempt"' 3 "attempt record written"
rec=$(connlog_select "$CONNLOG" '.["common-name"] == "alice" and .["connection-log-type"] == "connection-attempt"')
assert_eq "$(jq -c 'keys' <<<"$rec")" "$(jq -c 'sort' <<<"$FIELDS")" "attempt: exactly the documented fields"
assert_eq "$(jq -r '.["connection-attempt-status"]' <<<"$rec")" successful "attempt: status successful"
assert_eq "$(jq -r '.["connection-attempt-failure-reason"]' <<<"$rec")" NA "attempt: no failure reason"
id=$(jq -r '.["connection-id"]' <<<"$rec")
assert_match "$id" '^cvpn-conn-[0-9a-f]{16}$' "attempt: connection-id"
assert_eq "$(jq -r '.["endpoint-id"]' <<<"$rec")" cvpn-endpoint-logtest "attempt: endpoint-id"
assert_eq "$(jq -r '.["transport-protocol"]' <<<"$rec")" udp "attempt: transport"
assert_eq "$(jq -r '.["client-ip"]' <<<"$rec")" "$addr" "attempt: client-ip is the client's tunnel address"
assert_eq "$(jq -r '.["device-ip"]' <<<"$rec")" "$CLI_IP" "attempt: device-ip is the client's public address"
assert_eq "$(jq -r .port <<<"$rec")" "$(client_udp_port "$NS_CLI")" "attempt: port is the client's UDP port"
assert_eq "$(jq -r '.username' <<<"$rec")" NA "attempt: no username (certificate authentication)"
assert_eq "$(jq -r '.["device-type"]' <<<"$rec")" linux "attempt: device-type from the client's IV_PLAT"
assert_eq "$(jq -r '.["client-openvpn-version"]' <<<"$rec")" "$(openvpn --version | awk 'NR == 1 { print $2 }')" \
	"attempt: client version"
start=$(jq -r '.["connection-start-time"]' <<<"$rec")
assert_match "$start" "$TS" "attempt: start time format"
start_s=$(date -u -d "$start" +%s)
[ "$start_s" -ge "$before" ] && [ "$start_s" -le "$(date -u +%s)" ] || fail "attempt: start time $start is not now"
ok "attempt: start time is when the client connected"
assert_eq "$(jq -r '.["connection-end-time"]' <<<"$rec")" NA "attempt: no end time"
assert_eq "$(jq -c '.["posture-compliance-statuses"]' <<<"$rec")" '[]' "attempt: no posture statuses"

# --- periodic updates with the counters
assert_cmd "alice pings $RES_IP" n_exec "$NS_CLI" ping -q -c 4 -i 0.2 -W 2 -w 6 "$RES_IP"
wait_for_log "$CONNLOG" "\"connection-log-type\":\"connection-update\".*\"ingress-packets\":[1-9]" 5 ||
	fail "no update record with counters within 5 s (update-interval 2s)"
upd=$(connlog_select "$CONNLOG" '.["connection-log-type"] == "connection-update"' | tail -n 1)
assert_eq "$(jq -r '.["connection-id"]' <<<"$upd")" "$id" "update: same connection-id"
assert_eq "$(jq -c 'keys' <<<"$upd")" "$(jq -c 'sort' <<<"$FIELDS")" "update: exactly the documented fields"
[ "$(jq -r '.["ingress-packets"]' <<<"$upd")" -ge 4 ] || fail "update: fewer than 4 ingress packets after 4 pings"
ok "update: counters include the pings"
[ "$(date -u -d "$(jq -r '.["connection-last-update-time"]' <<<"$upd")" +%s)" -gt "$start_s" ] ||
	fail "update: last-update-time not after the start"
ok "update: last-update-time moves on"

# --- failed attempts: bad certificates are logged too
for c in "carol-expired|expired" "mallory-otherca|unknown ca|issuer|not signed|untrusted" \
	"dave-noclientauth|clientauth|extended key usage|purpose"; do
	cert=${c%%|*}
	reason=${c#*|}
	mark=$(log_mark "$CONNLOG")
	client_start "$cert" "$NS_CLI2" "$cert"
	wait_for_log_since "$CONNLOG" "$mark" '"connection-attempt-status":"failed"' 8 ||
		fail "$cert: no failed attempt record within 8 s"
	client_stop "$cert"
	rec=$(tail -n "+$((mark + 1))" "$CONNLOG" | jq -c 'select(.["connection-attempt-status"] == "failed")')
	assert_eq "$(jq -s length <<<"$rec")" 1 "$cert: one failed attempt record"
	assert_eq "$(jq -c 'keys' <<<"$rec")" "$(jq -c 'sort' <<<"$FIELDS")" "$cert: exactly the documented fields"
	assert_eq "$(jq -r '.["connection-log-type"]' <<<"$rec")" connection-attempt "$cert: attempt record"
	grep -Eiq -- "$reason" <<<"$(jq -r '.["connection-attempt-failure-reason"]' <<<"$rec")" ||
		fail "$cert: failure reason does not name the cause: $(jq -r '.["connection-attempt-failure-reason"]' <<<"$rec")"
	ok "$cert: failure reason names the cause"
	assert_eq "$(jq -r '.["client-ip"]' <<<"$rec")" NA "$cert: no client address was given"
	assert_eq "$(jq -r '.["device-ip"]' <<<"$rec")" "$CLI2_IP" "$cert: device-ip"
	assert_eq "$(jq -r '.["connection-end-time"]' <<<"$rec")" NA "$cert: no end time (never connected)"
done
assert_eq "$(ctl metrics | awk '$1 == "cvpn_authentication_failures_total" { print $2 }')" 3 \
	"metrics: 3 authentication failures"

# --- the end record of a terminated connection
assert_cmd "alice pings again" n_exec "$NS_CLI" ping -q -c 2 -i 0.2 -W 2 -w 6 "$RES_IP"
sleep 1.5 # the end record must show a duration of at least a few seconds
mark=$(log_mark "$CONNLOG")
ctl terminate --connection-id "$id" >/dev/null || fail "terminate failed"
bg_wait_exit alice 5 || fail "alice's client did not exit"
wait_for_log_since "$CONNLOG" "$mark" '"connection-log-type":"connection-reset"' 3 || fail "no end record"
rec=$(tail -n "+$((mark + 1))" "$CONNLOG" | jq -c 'select(.["connection-log-type"] == "connection-reset")')
final=$(ctl_json connections | jq -c --arg id "$id" '.connections[] | select(.["connection-id"] == $id)')
assert_eq "$(jq -c 'keys' <<<"$rec")" "$(jq -c 'sort' <<<"$FIELDS")" "end: exactly the documented fields"
assert_eq "$(jq -r '.["connection-id"]' <<<"$rec")" "$id" "end: same connection-id"
assert_eq "$(jq -r '.["connection-end-reason"]' <<<"$rec")" "terminated by the administrator" "end: reason"
assert_eq "$(jq -r '.["client-ip"]' <<<"$rec")" "$addr" "end: client-ip still recorded"
end=$(jq -r '.["connection-end-time"]' <<<"$rec")
assert_match "$end" "$TS" "end: end time set"
dur=$(jq -r '.["connection-duration-seconds"]' <<<"$rec")
est=$(date -u -d "$(jq -r '.["connection-established-time"]' <<<"$rec")" +%s)
assert_eq "$dur" "$(( $(date -u -d "$end" +%s) - est ))" "end: duration = end - established"
[ "$dur" -ge 3 ] || fail "end: duration $dur s is too short"
ok "end: duration $dur s"
for f in ingress-bytes egress-bytes ingress-packets egress-packets; do
	assert_eq "$(jq -r --arg f "$f" '.[$f]' <<<"$rec")" "$(jq -r --arg f "$f" '.[$f]' <<<"$final")" \
		"end: $f equals cvpnctl connections"
done
assert_eq "$(jq -r .status <<<"$final")" terminated "connections: status terminated"

# --- SIGUSR1 reopens the log after logrotate moved it
mv "$CONNLOG" "$CONNLOG.1"
kill -USR1 "$(bg_pid cvpnd)"
expect_log "$SERVER_LOG" "SIGUSR1: connection log reopened" 3 "cvpnd reopened the log on SIGUSR1"
lines_old=$(wc -l <"$CONNLOG.1")
client_start bob "$NS_CLI2" bob
client_wait_up bob
expect_log "$CONNLOG" '"common-name":"bob"' 3 "bob's attempt is in the new file"
assert_eq "$(wc -l <"$CONNLOG.1")" "$lines_old" "nothing more went to the rotated file"
client_stop bob
expect_log "$CONNLOG" '"connection-log-type":"connection-reset".*"common-name":"bob"' 5 "bob's end record in the new file"

# --- every line is one JSON object, and no secret is in any of them
cat "$CONNLOG.1" "$CONNLOG" >"$TMPD/all.log"
assert_eq "$(jq -c . "$TMPD/all.log" | wc -l)" "$(wc -l <"$TMPD/all.log")" "every line parses as one JSON object"
for key in "$PKI"/*.key; do
	while read -r l; do
		case "$l" in -----*|"") continue ;; esac
		grep -qF -- "$l" "$TMPD/all.log" && fail "key material of $(basename "$key") in the connection log"
	done <"$key"
done
assert_no_log "$TMPD/all.log" "PRIVATE|BEGIN" "no PEM block in the connection log"
server_stop
summary
