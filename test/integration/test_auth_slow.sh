#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# A slow directory and a slow connect handler stall nobody else. The directory sits behind a proxy that holds
# every bind of sloane for 5 s (a directory server that is slow for her); the handler takes 5 s for carol.
# While both wait: a live session's pings keep flowing with normal round-trip times and no loss, and bob
# (fast in both) connects within seconds; then sloane and carol get their sessions too.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/ops.sh
. "$(dirname "$0")/../lib/ops.sh"
# shellcheck source=test/lib/ldap.sh
. "$(dirname "$0")/../lib/ldap.sh"

command -v python3 >/dev/null || fail "this test needs python3 (the slow-directory proxy)"
SLOW=5
PROXY_PORT=3390

# A TCP proxy in front of slapd: the first client-to-server chunk of a connection that contains MARKER is
# held DELAY seconds (her bind; the search that follows on the same connection passes).
PROXY='
import socket, sys, threading, time
lport, uport, marker, delay = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3].encode(), float(sys.argv[4])
def pump(src, dst, hold):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            if hold and marker in data:
                time.sleep(delay)
                hold = False
            dst.sendall(data)
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
def serve(c):
    u = socket.create_connection(("127.0.0.1", uport))
    threading.Thread(target=pump, args=(c, u, True), daemon=True).start()
    pump(u, c, False)
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", lport))
ls.listen(64)
print("listening", flush=True)
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
'

topo_basic
topo_second_client
topo_third_client
NS_CLI4="${PFX}cli4"
ns_create "$NS_CLI4"
veth_pair "$NS_CLI4" veth0 "$NS_GW" c4
ip -n "$NS_GW" link set c4 master outside
ip -n "$NS_CLI4" addr add 203.0.113.5/24 dev veth0
ip -n "$NS_CLI4" route add default via "$GW_OUT_IP"
ipv6_off "$NS_CLI" "$NS_CLI2" "$NS_CLI3" "$NS_CLI4"
res_addresses
pki_make "$TMPD/pki"
ldap_start
bg_start ldapproxy n_exec "$NS_GW" python3 -c "$PROXY" "$PROXY_PORT" "$LDAP_PORT" "uid=sloane," "$SLOW"
wait_for_log "$TMPD/ldapproxy.out" listening 5 || fail "the slow-directory proxy did not start"

HANDLER="$TMPD/connect-handler"
cat >"$HANDLER" <<EOF
#!/bin/sh
user=\$(jq -r .username)
[ "\$user" = carol ] && sleep $SLOW
echo '{"allow": true}'
EOF
chmod 700 "$HANDLER"
# the bind DN carries the username, so the proxy can pick sloane's binds (no StartTLS through it)
CV_STARTTLS=false CV_DIR_MODE=template CV_LDAP_URI="ldap://127.0.0.1:$PROXY_PORT" CV_HANDLER="$HANDLER" \
	CV_HANDLER_TIMEOUT=20s ldap_config "$TMPD/endpoint.yaml"
server_start "$TMPD/endpoint.yaml"
export_user_client "$TMPD/endpoint.yaml"

user_client_start alice "$NS_CLI" alice "$PW_ALICE"
client_wait_up alice
# a live session's traffic through everything that follows: 60 pings, 0.2 s apart
( exec ip netns exec "$NS_CLI" ping -n -i 0.2 -c 60 -W 1 "$RES_ALL" ) >"$TMPD/ping.out" 2>&1 &
CVPN_PIDS[ping]=$!
sleep 1

t0=$(date +%s%N)
user_client_start sloane "$NS_CLI2" sloane "$PW_SLOANE"
user_client_start carol "$NS_CLI3" carol "$PW_CAROL"
sleep 0.5
user_client_start bob "$NS_CLI4" bob "$PW_BOB"
client_wait_up bob 4
t_bob=$(( ($(date +%s%N) - t0) / 1000000 ))
for n in sloane carol; do
	if grep -q "Initialization Sequence Completed" "$(client_log "$n")"; then
		fail "$n connected before bob: the slow path was not slow ($t_bob ms)"
	fi
done
ok "bob connected $t_bob ms after sloane and carol started, while both still waited"
client_wait_up sloane 15
client_wait_up carol 15
t_slow=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$t_slow" -ge $((SLOW * 1000)) ] || fail "sloane and carol were up after $t_slow ms, less than the ${SLOW} s delay"
[ "$t_slow" -lt $((2 * SLOW * 1000)) ] || fail "the two slow logins were served one after the other ($t_slow ms)"
ok "sloane (slow directory) and carol (slow handler) connected after $t_slow ms, in parallel (< 2 x ${SLOW} s)"
expect_log "$SERVER_LOG" "login of sloane from .* accepted after [5-9][0-9]{3} ms" 2 "sloane's login took the directory's 5 s"
expect_log "$SERVER_LOG" "login of carol from .* accepted after [5-9][0-9]{3} ms" 2 "carol's login took the handler's 5 s"

bg_wait_exit ping 20 || fail "ping did not finish"
sum=$(grep -E "packets transmitted" "$TMPD/ping.out")
rtt=$(grep -E "^rtt" "$TMPD/ping.out" | awk -F'/' '{ print $(NF - 1) }')
log "live session during the slow logins: $sum; rtt max ${rtt} ms"
assert_match "$sum" "60 packets transmitted, 60 received, 0% packet loss" "alice's 60 pings all answered during the slow logins"
awk -v m="$rtt" 'BEGIN { exit !(m < 200) }' || fail "a ping took $rtt ms: the loop stalled"
ok "no ping took more than 200 ms (max $rtt ms)"
assert_eq "$(reachable "$NS_CLI2")" "eng - all" "sloane (eng) got her groups through the slow directory"

server_stop
summary
