#!/bin/bash
# Harness self-test: a scenario that skips.
echo "SKIP nothing to do here"
exit 77
