#!/usr/bin/env bash
# Checks the guest harness itself: a passing scenario passes and its result
# file comes back; a failing one returns its status and names its step; a
# skipping one returns 77; a hung one is stopped at the guest's deadline
# and names its step; a guest that never reaches the scenario is killed
# at the host's deadline. Five boots, about two minutes here.
# Ends with "N passed, N failed" like tests/run.sh.
set -u
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
passed=0
failed=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT

check() { # description command...: records pass/fail of command
	local what=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
		echo "ok   $what"
	else
		failed=$((failed + 1))
		echo "FAIL $what"
		sed 's/^/     | /' "$log" | tail -n 15
	fi
}

run() { # expected-status scenario timeout -> 0 if run.sh exits with it
	local want=$1 rc
	shift
	SBVM_OUT_DIR=$root/build/vm/selftest "$here/run.sh" "$@" >"$log" 2>&1
	rc=$?
	[ "$rc" -eq "$want" ] || { echo "exit $rc, want $want" >>"$log"; return 1; }
}
has() { grep -q -- "$1" "$log" || { echo "no '$1' in output" >>"$log"; return 1; }; }
result() { [ "$(cat "$root/build/vm/selftest/results/$1" 2>/dev/null)" = "$2" ]; }

check "boot scenario passes" run 0 boot 120
# shellcheck disable=SC2012 # one linux-image-* folder
kver=$(cd "${SBVM_CACHE:-$root/.cache/vm}" && ls -d linux-image-*-amd64 | head -n1)
check "its result file comes back" result hello.txt "hello from ${kver#linux-image-}"
check "failing scenario returns its status" run 3 "$here/selftest/fail.sh" 120
check "and names the step" has 'FAILED with status 3 in step "fails-here"'
check "and its result file still comes back" result answer 42
check "skipping scenario returns 77" run 77 "$here/selftest/skip.sh" 120
check "hung scenario stops at the guest deadline" run 124 "$here/selftest/hang.sh" 60
check "and names the step it hung in" has 'HUNG: stopped at the guest.s deadline in step "waiting-forever"'
check "hung boot is killed at the host deadline" run 124 "$here/selftest/hang.sh" 3
check "and says it never reached the scenario" has 'HUNG: guest killed after 3s; last progress: kernel boot'

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
