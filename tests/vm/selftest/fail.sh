#!/bin/bash
# Harness self-test: a scenario that fails in a named step with status 3
# after leaving a result file.
. "$SBVM_REPO/tests/vm/lib.sh"
vmg_step writes-result
mkdir -p "$SBVM_OUT/results"
echo 42 >"$SBVM_OUT/results/answer"
vmg_step fails-here
echo "about to fail"
exit 3
