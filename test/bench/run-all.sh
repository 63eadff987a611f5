#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs every benchmark in test/bench/ (each bounded in time) and leaves the figures in bench-results.json.
set -uo pipefail
cd "$(dirname "$0")/../.."
rc=0
for b in test/bench/tunnel.sh test/bench/connect.sh test/bench/aggregate.sh test/bench/forward.sh; do
	echo "== $b"
	bash "$b" || rc=1
done
echo "== bench-results.json"
cat bench-results.json
exit $rc
