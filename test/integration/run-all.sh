#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs every test/integration/test_*.sh (or those named as arguments), each under a time limit, prints
# PASS/FAIL per test (with the output of failed ones) and ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")" || exit 2
[ "$(id -u)" = 0 ] || { echo "integration tests need root (network namespaces)" >&2; exit 2; }

limit=${CVPN_TEST_TIMEOUT:-120}
if [ $# -gt 0 ]; then tests=("$@"); else tests=(test_*.sh); fi
passed=0
failed=0
out=$(mktemp /tmp/cvpn-run-all.XXXXXX)
trap 'rm -f "$out"' EXIT
i=0
for t in "${tests[@]}"; do
	t=${t##*/}
	i=$((i + 1))
	id="$$r$i"
	start=$(date +%s)
	if CVPN_RUN_ID=$id timeout -k 5 "$limit" "./$t" >"$out" 2>&1; then
		passed=$((passed + 1))
		printf 'PASS %-24s (%ds) %s\n' "$t" $(( $(date +%s) - start )) "$(tail -n 1 "$out")"
	else
		rc=$?
		failed=$((failed + 1))
		printf 'FAIL %-24s (%ds, exit %d)\n' "$t" $(( $(date +%s) - start )) "$rc"
		[ "$rc" = 124 ] && echo "     (stopped after $limit s)"
		sed 's/^/     /' "$out"
	fi
	# A test killed by the time limit may not have cleaned up: remove what its run id left (by pid, and the
	# namespaces and temp dir named after the id).
	for ns in $(ip netns list | awk -v p="cv$id-" 'index($1, p) == 1 { print $1 }'); do
		echo "     (removing namespace $ns left by $t)"
		for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
		ip netns del "$ns" 2>/dev/null
	done
	[ "${CVPN_KEEP:-0}" = 1 ] || rm -rf /tmp/cvpn-*."$id".*
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
