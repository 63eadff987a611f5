#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs each libFuzzer harness for SECONDS and prints executions and crashes per harness (make fuzz).
#   test/fuzz/run.sh BUILDDIR SECONDS NAME...
# Each harness NAME reads the committed seeds in test/fuzz/corpus/NAME and grows a working corpus in
# BUILDDIR/corpus/NAME (kept between runs, so long runs build on earlier ones). Crashing inputs land in
# BUILDDIR/artifacts/NAME/ (cleared at the start of each run); the full log is BUILDDIR/NAME.log.
# Exits 1 when any harness found a crash, leak or timeout.
set -u
build=$1
secs=$2
shift 2
here=$(dirname "$0")
status=0

# Symbolized stacks need llvm-symbolizer; Debian's llvm-14 installs it under a versioned name only.
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && [ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]; then
	export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
fi
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

printf '%-16s %12s %10s %8s\n' harness executions exec/s crashes
for name in "$@"; do
	bin="$build/fuzz_$name"
	work="$build/corpus/$name"
	art="$build/artifacts/$name"
	log="$build/$name.log"
	mkdir -p "$work" "$art"
	rm -f "$art"/*
	# -timeout: one input taking 10 s is a hang worth reporting; -rss_limit_mb keeps a leak from taking the host.
	"$bin" -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$art/" "$work" "$here/corpus/$name" >"$log" 2>&1
	rc=$?
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	crashes=$(find "$art" -type f | wc -l)
	printf '%-16s %12s %10s %8s\n' "fuzz_$name" "${execs:-?}" "${rate:-?}" "$crashes"
	if [ "$rc" != 0 ] || [ "$crashes" != 0 ]; then
		status=1
		echo "  fuzz_$name failed (exit $rc); reproduce with: $bin $art/<file>   (log: $log)"
		grep -E -m 3 'ERROR: |SUMMARY: |invariant failed|runtime error' "$log" | sed 's/^/  /'
		find "$art" -type f | sed 's/^/  artifact: /'
	fi
done
exit $status
