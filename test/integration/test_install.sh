#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# `make install DESTDIR=... PREFIX=...` puts both programs, the systemd unit and the docs where they belong;
# the unit runs the installed cvpnd with only CAP_NET_ADMIN, CAP_NET_BIND_SERVICE and CAP_BPF (the tun's
# steering program) and reloads with SIGHUP.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

dest="$TMPD/root"
make -s -C "$CVPN_ROOT" install DESTDIR="$dest" PREFIX=/opt/cvpn >"$TMPD/make.log" 2>&1 ||
	fail "make install failed: $(tail -n 5 "$TMPD/make.log")"
ok "make install DESTDIR=$dest PREFIX=/opt/cvpn"
for f in opt/cvpn/sbin/cvpnd opt/cvpn/bin/cvpnctl; do
	[ -x "$dest/$f" ] || fail "$f not installed as an executable"
	ok "$f installed"
done
"$dest/opt/cvpn/sbin/cvpnd" --help >/dev/null || fail "installed cvpnd --help fails"
"$dest/opt/cvpn/bin/cvpnctl" --help >/dev/null || fail "installed cvpnctl --help fails"
ok "installed programs run"
unit="$dest/lib/systemd/system/cvpnd.service"
[ -f "$unit" ] || fail "no $unit"
assert_eq "$(stat -c %a "$unit")" 644 "unit installed 0644"
assert_eq "$(grep '^CapabilityBoundingSet=' "$unit")" "CapabilityBoundingSet=CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_BPF" \
	"unit: bounding set is exactly NET_ADMIN, NET_BIND_SERVICE and BPF"
assert_eq "$(grep '^AmbientCapabilities=' "$unit")" "AmbientCapabilities=CAP_NET_ADMIN CAP_NET_BIND_SERVICE CAP_BPF" \
	"unit: ambient capabilities"
assert_eq "$(grep '^ExecReload=' "$unit")" 'ExecReload=/bin/kill -HUP $MAINPID' "unit: reload sends SIGHUP"
assert_eq "$(grep '^ExecStart=' "$unit")" "ExecStart=/opt/cvpn/sbin/cvpnd -c /etc/cvpn/endpoint.yaml" \
	"unit: starts the installed cvpnd"
assert_eq "$(grep '^ExecStopPost=' "$unit")" "ExecStopPost=/opt/cvpn/sbin/cvpnd --after-exit -c /etc/cvpn/endpoint.yaml" \
	"unit: after any exit, what a killed cvpnd left forwarding goes"
assert_no_log "$unit" "@[A-Z]+@" "unit: every placeholder filled in"
for f in README.md endpoint.yaml endpoint-reference.yaml; do
	[ -f "$dest/opt/cvpn/share/doc/cvpn/$f" ] || fail "doc $f not installed"
done
ok "docs installed"
if command -v systemd-analyze >/dev/null 2>&1; then
	# verify resolves ExecStart against the real root: point it at the staged binary
	sed "s|/opt/cvpn/sbin/cvpnd|$dest/opt/cvpn/sbin/cvpnd|g" "$unit" >"$TMPD/cvpnd.service"
	systemd-analyze verify "$TMPD/cvpnd.service" >"$TMPD/verify.log" 2>&1 ||
		fail "systemd-analyze verify: $(cat "$TMPD/verify.log")"
	ok "systemd-analyze verify accepts the unit"
fi
summary
