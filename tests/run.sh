#!/usr/bin/env bash
# Runs spanblk's tests and ends with one line "N passed, N failed".
#   tests/run.sh quick   unit + host tests
#   tests/run.sh full    unit + host + fuzz (FUZZ_SECONDS each, default 60)
#                        + the guest scenarios (VM_SCENARIOS)
#   tests/run.sh fuzz    fuzz only
#   tests/run.sh vm      the guest scenarios only (tests/vm/, docs/vm.md)
# Test cases are counted from cmocka's own summaries; a binary that crashes
# or exits non-zero without a summary counts as one failure.
set -u
cd "$(dirname "$0")/.." || exit 2
mode=${1:-quick}
passed=0
failed=0
failures=()
excerpts=$(mktemp)
trap 'rm -f "$excerpts"' EXIT
logdir=${TEST_LOG_DIR:-build-san/test-logs}
mkdir -p "$logdir"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Prints stdin and keeps it, under the test's name, for the end of the run,
# so that the last lines of a long run say why a test failed.
excerpt() { # name
	local text
	text=$(cat)
	printf '%s\n' "$text"
	printf -- '-- %s\n%s\n' "$1" "$text" >>"$excerpts"
}

run_cmocka() { # name binary [args...]
	local name=$1 log="$logdir/${1//\//_}.log" rc p f
	shift
	echo "== $name"
	timeout "${TEST_TIMEOUT:-300}" "$@" >"$log" 2>&1
	rc=$?
	grep -E '^\[ *(OK|FAILED|ERROR|SKIPPED) *\]|^\[ *(PASSED|FAILED) *\] [0-9]+ test' "$log" |
		grep -vE '^\[ *(OK) *\]' | sed 's/^/   /'
	p=$(sed -nE 's/^\[  PASSED  \] ([0-9]+) test.*/\1/p' "$log" | tail -n1)
	f=$(sed -nE 's/^\[  FAILED  \] ([0-9]+) test.*/\1/p' "$log" | tail -n1)
	p=${p:-0}
	f=${f:-0}
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "   exit status $rc without a failing test: see $log"
		tail -n 20 "$log" | sed 's/^/   | /' | excerpt "$name"
	fi
	if [ "$f" -gt 0 ]; then
		failures+=("$name")
		grep -E 'ERROR|error|FAILED|Assert|Sanitizer|runtime error|seed|STALE|faults:' "$log" |
			grep -vE '^spanblk (error|warn|info)' | head -n 20 |
			sed 's/^/   ! /' | excerpt "$name"
	fi
	passed=$((passed + p))
	failed=$((failed + f))
}

run_unit() {
	local b
	for b in build-san/tests/test_*; do
		[ -x "$b" ] || continue
		run_cmocka "unit/$(basename "$b")" "$b"
	done
}

run_host() {
	local b
	for b in build-san/tests/host_test_*; do
		[ -x "$b" ] || continue
		run_cmocka "host/$(basename "$b")" "$b"
	done
	if [ -x build-san/tests/tcmu_harness ]; then
		run_cmocka host/tcmu_harness build-san/tests/tcmu_harness \
			build-san/handler_spanblk.so
	fi
}

run_fuzz() {
	local secs=${FUZZ_SECONDS:-60} b name corpus log rc
	for b in build-fuzz/fuzz_*; do
		[ -x "$b" ] || continue
		name=${b#build-fuzz/fuzz_}
		corpus=$(mktemp -d)
		[ -d "tests/fuzz/corpus/$name" ] &&
			cp -r "tests/fuzz/corpus/$name/." "$corpus/" 2>/dev/null
		log="$logdir/fuzz_$name.log"
		echo "== fuzz/$name (${secs}s)"
		"$b" -max_total_time="$secs" -rss_limit_mb=2048 \
			-timeout=10 -print_final_stats=1 "$corpus" >"$log" 2>&1
		rc=$?
		rm -rf "$corpus"
		grep -E '^stat::number_of_executed_units|^Done' "$log" | sed 's/^/   /'
		if [ $rc -eq 0 ]; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
			failures+=("fuzz/$name")
			grep -E 'ERROR|SUMMARY|crash-|Test unit written' "$log" |
				head -n 10 | sed 's/^/   ! /' | excerpt "fuzz/$name"
		fi
	done
}

# Each guest scenario counts as one test: LIO + tcmu-runner + spanblk +
# iSCSI in a QEMU guest. A skipped scenario fails the run when CI=true.
# VM_TIMEOUT (s) is a hang guard per scenario, well above their idle time
# (docs/vm.md), so a loaded machine does not fail them for being slow.
run_vm() {
	local s rc log
	for s in ${VM_SCENARIOS:-iscsi_spanblk rdma_spanblk iscsi_spanblk_rdma rdma_link iscsi_failover}; do
		log="$logdir/vm_$s.log"
		echo "== vm/$s"
		tests/vm/run.sh "$s" "${VM_TIMEOUT:-1800}" >"$log" 2>&1
		rc=$?
		grep -E '^vm: |STEP|INFO' "$log" | tail -n 40 | sed 's/^/   /'
		if [ $rc -eq 0 ]; then
			passed=$((passed + 1))
		elif [ $rc -eq 77 ] && [ "${CI:-}" != true ]; then
			echo "   skipped: $(grep -m1 SKIP "$log")"
		else
			failed=$((failed + 1))
			failures+=("vm/$s")
			tail -n 30 "$log" | sed 's/^/   ! /' | excerpt "vm/$s"
		fi
	done
}

case $mode in
quick) run_unit; run_host ;;
full) run_unit; run_host; run_fuzz; run_vm ;;
fuzz) run_fuzz ;;
vm) run_vm ;;
unit) run_unit ;;
host) run_host ;;
*) echo "usage: $0 quick|full|fuzz|vm|unit|host" >&2; exit 2 ;;
esac

echo
if [ ${#failures[@]} -gt 0 ]; then
	cat "$excerpts"
	echo "failed: ${failures[*]} (logs in $logdir)"
fi
if [ $((passed + failed)) -eq 0 ]; then
	echo "no test ran"
	echo "0 passed, 1 failed"
	exit 1
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
