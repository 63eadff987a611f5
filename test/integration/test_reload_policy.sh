#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Policy reload on real traffic (issue 3, semantics.md §2.1 "cvpn does better", §4): an invalid config -
# refused by the parser, or valid but impossible to apply - changes nothing in the kernel (table inet cvpn,
# counters aside, ip rules and routing tables identical); removing an authorization rule cuts the affected
# session at its next packet while another session's TCP transfer goes on to its last byte without a reset;
# 50 reloads in a row under traffic lose no established flow.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"
# shellcheck source=test/lib/policy.sh
. "$(dirname "$0")/../lib/policy.sh"

ENG=198.18.16.10

pol_topo
sw_attach "$NS_GW" "$ASSOC_IF" br-a "$ASSOC_IP/24"
pol_host "$NS_RES" eth0 br-a "$RES_IP/24"
ip -n "$NS_RES" addr add "$ENG/32" dev lo
ip -n "$NS_GW" route add 198.18.16.0/24 via "$RES_IP"
pol_client alice
pol_client bob
pki_make "$TMPD/pki"

reload_config() { # FILE ENG-RULE(yes|no) [extra authorization rule line]
	{
		cat <<-EOF
		associations:
		  - { name: subnet-a, interface: $ASSOC_IF, subnet: $ASSOC_NET }
		routes:
		  - { destination: 198.18.16.0/24, target: subnet-a }
		identity-groups:
		  - { identity: alice, groups: [eng] }
		  - { identity: bob, groups: [dev] }
		authorization-rules:
		  - { destination: $ASSOC_NET, all-users: true, description: "the subnet for everyone" }
		EOF
		[ "$2" = no ] || echo "  - { destination: 198.18.16.0/24, group: eng, description: \"eng network\" }"
		[ -z "${3:-}" ] || echo "  $3"
	} | pol_config "$1"
}

kernel_state() { # FILE: what the policy owns in the kernel, counters aside
	{
		nft_ruleset_nocounters
		ip -n "$NS_GW" rule show
		ip -n "$NS_GW" route show table all | grep -E 'table 51[0-9]{3}' || true
	} >"$1"
}
cfg_version() { ctl status --json | jq -r '.config.version'; }

reload_config "$POL_RUN_CONFIG" yes
cp "$POL_RUN_CONFIG" "$TMPD/good.yaml"
server_start "$POL_RUN_CONFIG"
pol_connect alice bob
NA=${POL_NS[alice]} NB=${POL_NS[bob]}
ping_ok "$NA" "$ENG" "alice (eng) reaches the eng network"
ping_ok "$NB" "$RES_IP" "bob reaches the subnet"

# 1. invalid configs change nothing
kernel_state "$TMPD/k.before"
v0=$(cfg_version)
reload_config "$TMPD/bad-parse.yaml" yes "- { destination: 198.18.16.5/24, group: dev }"
cp "$TMPD/bad-parse.yaml" "$POL_RUN_CONFIG"
if ctl reload >"$TMPD/r1.log" 2>&1; then fail "an invalid config was accepted on reload"; fi
assert_log "$TMPD/r1.log" "endpoint\.yaml:[0-9]+(:[0-9]+)?: .*198\.18\.16\.0/24" "reload refuses the invalid config with file:line and the reason"
kernel_state "$TMPD/k.after1"
cmp -s "$TMPD/k.before" "$TMPD/k.after1" || fail "a refused reload changed the kernel: $(diff "$TMPD/k.before" "$TMPD/k.after1" | head -5)"
ok "after the refused reload table inet cvpn, ip rules and routing tables are byte for byte the same (counters aside)"
m=$(log_mark "$SERVER_LOG")
kill -HUP "$(bg_pid cvpnd)"
wait_for_log_since "$SERVER_LOG" "$m" "SIGHUP: configuration not reloaded" 5 || fail "no refusal logged for SIGHUP"
ok "SIGHUP with the invalid config is refused in the log"
# valid for the parser, impossible to apply: the association's interface does not exist
reload_config "$TMPD/bad-if.yaml" yes
sed -i "s/interface: $ASSOC_IF,/interface: cvpn-zz,/" "$TMPD/bad-if.yaml"
cp "$TMPD/bad-if.yaml" "$POL_RUN_CONFIG"
if ctl reload >"$TMPD/r2.log" 2>&1; then fail "a config naming a missing interface was accepted on reload"; fi
ok "reload refuses an association on a missing interface ($(head -n 1 "$TMPD/r2.log"))"
kernel_state "$TMPD/k.after2"
cmp -s "$TMPD/k.before" "$TMPD/k.after2" || fail "a refused reload changed the kernel: $(diff "$TMPD/k.before" "$TMPD/k.after2" | head -5)"
ok "after that refused reload the kernel state is the same too"
assert_eq "$(cfg_version)" "$v0" "the config version did not change"
ping_ok "$NA" "$ENG" "alice still reaches the eng network"
cp "$TMPD/good.yaml" "$POL_RUN_CONFIG"

# A TCP transfer from bob: 80 chunks of 16 KiB, one every 0.1 s (8 s), to a one-shot receiver on the subnet.
stream_start() { # NAME CHUNKS
	( exec ip netns exec "$NS_RES" nc -n -l "$RES_IP" 9000 >"$TMPD/$1.recv" ) 2>"$TMPD/$1.rx" &
	CVPN_PIDS[$1-rx]=$!
	sleep 0.2
	bg_start "$1-tx" n_exec "$NB" bash -c "for i in \$(seq 1 $2); do dd if=/dev/zero bs=16k count=1 status=none; sleep 0.1; done | nc -n -N -w 5 $RES_IP 9000; echo nc-exit=\$?"
}
stream_check() { # NAME CHUNKS WHAT
	local size
	bg_wait_exit "$1-tx" 30 || fail "$3: the sender did not finish"
	grep -qx 'nc-exit=0' "$TMPD/$1-tx.out" || fail "$3: the sender failed: $(cat "$TMPD/$1-tx.out")"
	bg_wait_exit "$1-rx" 5 || fail "$3: the receiver did not see the end of the stream"
	size=$(stat -c %s "$TMPD/$1.recv")
	[ "$size" = $(( $2 * 16384 )) ] || fail "$3: received $size bytes of $(( $2 * 16384 )) (sender: $(cat "$TMPD/$1-tx.out"))"
	grep -qiE 'reset|refused|broken' "$TMPD/$1-tx.out" "$TMPD/$1.rx" && fail "$3: $(cat "$TMPD/$1-tx.out" "$TMPD/$1.rx")"
	ok "$3: all $size bytes arrived, no reset"
}

# 2. removing eng's rule cuts alice at the next packet; bob's transfer goes on
bg_start aping n_exec "$NA" ping -n -D -O -i 0.1 -c 60 "$ENG"
stream_start s1 60
sleep 2
reload_config "$TMPD/noeng.yaml" no
cp "$TMPD/noeng.yaml" "$POL_RUN_CONFIG"
t0=$(date +%s%N)
ctl reload >"$TMPD/r3.log" 2>&1 || fail "reload without eng's rule refused: $(cat "$TMPD/r3.log")"
t1=$(date +%s%N)
ok "reload without eng's rule applied ($(( (t1 - t0) / 1000000 )) ms)"
bg_wait_exit aping 15 || fail "alice's ping did not end"
read -r before after < <(sed -nE 's/^\[([0-9.]+)\] [0-9]+ bytes from .*/\1/p' "$TMPD/aping.out" |
	awk -v t0="$t0" -v t1="$t1" '{ t = $1 * 1e9; if (t < t0) b++; else if (t > t1 + 50e6) a++ } END { print b + 0, a + 0 }')
[ "$before" -ge 10 ] || fail "alice's ping had only $before replies before the reload"
assert_eq "$after" 0 "alice's ping (eng network) is cut from the first packet after the reload ($before replies before it)"
stream_check s1 60 "bob's TCP transfer across the reload"

# 3. 50 reloads in a row under traffic
reload_config "$TMPD/alt.yaml" no "- { destination: 198.18.17.0/24, group: dev, description: \"toggled\" }"
stream_start s2 80
bg_start bping n_exec "$NB" ping -n -D -O -i 0.05 -c 140 "$RES_IP"
sleep 0.5
t0=$(date +%s%N)
for i in $(seq 1 50); do
	if [ $((i % 2)) = 1 ]; then cp "$TMPD/alt.yaml" "$POL_RUN_CONFIG"; else cp "$TMPD/noeng.yaml" "$POL_RUN_CONFIG"; fi
	ctl reload >"$TMPD/r50.log" 2>&1 || fail "reload $i of 50 refused: $(cat "$TMPD/r50.log")"
done
t1=$(date +%s%N)
bg_alive s2-tx || fail "the transfer ended before the 50 reloads did: not under traffic"
ok "50 reloads in a row applied in $(( (t1 - t0) / 1000000 )) ms, all during bob's transfer"
assert_eq "$(( $(cfg_version) - v0 ))" 51 "the config version went up by 51"
stream_check s2 80 "bob's TCP transfer across 50 reloads"
bg_wait_exit bping 15 || fail "bob's ping did not end"
# Every echo sent while the reloads ran (and 100 ms either side) must come back. One lost well away from them
# says nothing about reloads (CI once lost one of 70 on a loaded machine): it is reported, not failed.
read -r in_window outside lost < <(awk -v t0="$t0" -v t1="$t1" -v n=140 -v gap=0.05 '
	match($0, /icmp_seq=[0-9]+/) { seq = substr($0, RSTART + 9, RLENGTH - 9) + 0 }
	/ bytes from / { got[seq] = 1 }
	/no answer yet/ { asked[seq] = substr($1, 2, length($1) - 2) - gap }
	END {
		for (i = 1; i <= n; i++) {
			if (i in got) continue
			sent = i in asked ? asked[i] * 1e9 : t1   # the last one has no "no answer yet": counted in
			if (sent >= t0 - 1e8 && sent <= t1 + 1e8) w++; else o++
			list = list sprintf("seq%d@%+.0fms,", i, (sent - t0) / 1e6)
		}
		print w + 0, o + 0, (list == "" ? "none" : list)
	}' "$TMPD/bping.out")
sent=$(grep -cE 'bytes from|no answer yet' "$TMPD/bping.out" || true)
[ "$sent" -ge 100 ] || fail "bob's ping: only $sent echoes accounted for: $(tail -n 3 "$TMPD/bping.out")"
assert_eq "$in_window" 0 "bob's pings sent during the 50 reloads all came back (lost: $lost; reloads ran $(( (t1 - t0) / 1000000 )) ms)"
[ "$outside" = 0 ] || echo "# note: $outside of bob's pings lost away from the reloads ($lost)" >&2

client_stop alice
client_stop bob
server_stop
summary
