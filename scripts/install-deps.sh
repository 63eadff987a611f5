#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Installs what building, testing and the demo need on Debian 12. Run as root; does nothing when all is present.
# `install-deps.sh fuzz` installs only what `make fuzz` needs instead: clang with its sanitizer and libFuzzer
# runtimes (libclang-rt-14-dev is only a Recommends of clang on Debian 12), llvm-14 for llvm-symbolizer (crash
# stacks with file:line), and the headers of the libraries the fuzzed modules use.
set -e
PKGS="build-essential pkg-config libwolfssl-dev libssl-dev libyaml-dev libjson-c-dev check libsubunit-dev
      libnftnl-dev libmnl-dev libnl-3-dev libnl-route-3-dev libnl-genl-3-dev
      openvpn openssl nftables iproute2 iputils-ping netcat-openbsd procps jq
      libldap-dev slapd ldap-utils oathtool python3 tcpdump bc"
[ "${1:-}" = fuzz ] && PKGS="make pkg-config clang libclang-rt-14-dev llvm-14 libssl-dev libyaml-dev"
# `install-deps.sh bench` adds what the benchmarks need on top.
[ "${1:-}" = bench ] && PKGS="$PKGS iperf3"
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
