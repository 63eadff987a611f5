#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Runs each libFuzzer harness for SECONDS and prints executions and crashes per harness (make fuzz).
#   test/fuzz/run.sh BUILDDIR SECONDS NAME...
# Each harness NAME reads the committed seeds in test/fuzz/corpus/NAME and grows a working corpus in
# BUILDDIR/corpus/NAME (kept between runs, so long runs build on earlier ones). Crashing inputs land in
# BUILDDIR/artifacts/NAME/ (cleared at the start of each run); the full log is BUILDDIR/NAME.log.
# FUZZ_JOBS harnesses run at once (default: one per core), each for the full SECONDS; a harness is one
# process on one core, so this shortens the run without shortening any harness's time.
# Exits 1 when any harness found a crash, leak or timeout.
set -u
build=$1
secs=$2
shift 2
here=$(dirname "$0")
# nproc counts the CPUs we may run on, not a container's CPU quota (cgroup v2 cpu.max): take the smaller
jobs=$(nproc 2>/dev/null || echo 1)
if [ -r /sys/fs/cgroup/cpu.max ] && read -r quota period </sys/fs/cgroup/cpu.max && [ "$quota" != max ] && [ "${period:-0}" -gt 0 ]; then
	cap=$(( (quota + period - 1) / period ))
	[ "$cap" -lt "$jobs" ] && jobs=$cap
fi
jobs=${FUZZ_JOBS:-$jobs}
case "$jobs" in
'' | *[!0-9]* | 0) echo "run.sh: FUZZ_JOBS must be a positive number, not '$jobs'" >&2; exit 2 ;;
esac
status=0

# Symbolized stacks need llvm-symbolizer; Debian's llvm-14 installs it under a versioned name only.
if [ -z "${ASAN_SYMBOLIZER_PATH:-}" ] && [ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]; then
	export ASAN_SYMBOLIZER_PATH=/usr/lib/llvm-14/bin/llvm-symbolizer
fi
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

# run_one NAME: runs one harness and leaves its exit status in BUILDDIR/NAME.rc.
run_one() {
	mkdir -p "$build/corpus/$1" "$build/artifacts/$1"
	rm -f "$build/artifacts/$1"/*
	# -timeout: one input taking 10 s is a hang worth reporting; -rss_limit_mb keeps a leak from taking the host.
	"$build/fuzz_$1" -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
		-artifact_prefix="$build/artifacts/$1/" "$build/corpus/$1" "$here/corpus/$1" \
		>"$build/$1.log" 2>&1
	echo $? >"$build/$1.rc"
}

# report NAME: prints the harness's line and, when it failed, how to reproduce; returns 1 on failure.
report() {
	log="$build/$1.log"
	art="$build/artifacts/$1"
	rc=$(cat "$build/$1.rc" 2>/dev/null || echo '?')
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
	crashes=$(find "$art" -type f | wc -l)
	printf '%-16s %12s %10s %8s\n' "fuzz_$1" "${execs:-?}" "${rate:-?}" "$crashes"
	if [ "$rc" = 0 ] && [ "$crashes" = 0 ]; then
		return 0
	fi
	echo "  fuzz_$1 failed (exit $rc); reproduce with: $build/fuzz_$1 $art/<file>   (log: $log)"
	grep -E -m 3 'ERROR: |SUMMARY: |invariant failed|runtime error' "$log" | sed 's/^/  /'
	find "$art" -type f | sed 's/^/  artifact: /'
	return 1
}

printf '%-16s %12s %10s %8s\n' harness executions exec/s crashes
# Batches of $jobs harnesses; every harness runs for the same time, so little waits on the slowest.
set -- "$@" ""
batch=""
for name in "$@"; do
	if [ -n "$name" ]; then
		rm -f "$build/$name.rc"
		run_one "$name" &
		batch="$batch $name"
		set -- $batch
		[ $# -lt "$jobs" ] && continue
	fi
	wait
	for done_name in $batch; do
		report "$done_name" || status=1
	done
	batch=""
done
exit $status
