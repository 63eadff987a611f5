#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# cvpnd --check validates only: "configuration OK" and exit 0 for a valid file; file:line and exit 1 for a
# broken one; and it touches nothing (no nft table, no tun) in the namespace it runs in.
set -euo pipefail
# shellcheck source=test/lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"
# shellcheck source=test/lib/pki.sh
. "$(dirname "$0")/../lib/pki.sh"

topo_basic
pki_make "$TMPD/pki"

check() { # CONFIG -> sets OUT and RC
	RC=0
	OUT=$(n_exec "$NS_GW" "$CVPND" --check -c "$1" 2>&1) || RC=$?
}

write_endpoint_config "$TMPD/good.yaml"
check "$TMPD/good.yaml"
assert_eq "$RC" 0 "valid file: exit status 0"
assert_match "$OUT" "configuration OK" "valid file: prints configuration OK"
assert_eq "$(n_exec "$NS_GW" nft list tables)" "" "--check created no nft table"
assert_eq "$(n_exec "$NS_GW" ip -o link show type tun)" "" "--check created no tun interface"

# An impossible prefix length in the client CIDR.
sed 's#^\(  client-cidr:\).*#\1 100.64.0.0/33#' "$TMPD/good.yaml" >"$TMPD/bad-cidr.yaml"
line=$(grep -n 'client-cidr:' "$TMPD/bad-cidr.yaml" | cut -d: -f1)
check "$TMPD/bad-cidr.yaml"
assert_eq "$RC" 1 "bad client-cidr: exit status 1"
assert_match "$OUT" "bad-cidr\\.yaml:$line(:[0-9]+)?:" "bad client-cidr: error points at bad-cidr.yaml:$line"
assert_no_log <(printf '%s\n' "$OUT") "configuration OK" "bad client-cidr: does not claim OK"

# A route to an association that does not exist, further down the file.
sed 's#^\(    target:\).*#\1 subnet-nowhere#' "$TMPD/good.yaml" >"$TMPD/bad-target.yaml"
line=$(grep -n 'target: subnet-nowhere' "$TMPD/bad-target.yaml" | cut -d: -f1)
check "$TMPD/bad-target.yaml"
assert_eq "$RC" 1 "unknown route target: exit status 1"
assert_match "$OUT" "bad-target\\.yaml:$line(:[0-9]+)?:" "unknown route target: error points at bad-target.yaml:$line"

# Both errors in one file: every error is reported, not just the first.
sed 's#^\(  client-cidr:\).*#\1 100.64.0.0/33#' "$TMPD/bad-target.yaml" >"$TMPD/bad-two.yaml"
line_cidr=$(grep -n 'client-cidr:' "$TMPD/bad-two.yaml" | cut -d: -f1)
check "$TMPD/bad-two.yaml"
assert_eq "$RC" 1 "two errors: exit status 1"
assert_match "$OUT" "bad-two\\.yaml:$line_cidr(:[0-9]+)?:" "two errors: the client-cidr one is reported (line $line_cidr)"
assert_match "$OUT" "bad-two\\.yaml:$line(:[0-9]+)?:" "two errors: the route target one is reported too (line $line)"

assert_eq "$(n_exec "$NS_GW" nft list tables)" "" "still no nft table after the failed checks"
summary
