#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs what building, testing and the demo need on Debian 12. Run as root; does nothing when all is present.
set -e
PKGS="build-essential pkg-config libwolfssl-dev libssl-dev libyaml-dev libjson-c-dev check libsubunit-dev
      libnftnl-dev libmnl-dev libnl-3-dev libnl-route-3-dev libnl-genl-3-dev
      openvpn openssl nftables iproute2 iputils-ping netcat-openbsd procps"
# `install-deps.sh bench` adds what the benchmarks need on top.
[ "${1:-}" = bench ] && PKGS="$PKGS iperf3 jq"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
