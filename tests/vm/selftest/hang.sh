#!/bin/bash
# Harness self-test: a scenario that hangs in a named step.
. "$SBVM_REPO/tests/vm/lib.sh"
vmg_step before-hang
vmg_step waiting-forever
sleep 100000
