#!/usr/bin/env bash
# spanblk demo: a three-node cluster on 127.0.0.1, a LUN, and spanblk-bench
# writing and reading it through the gateway engine. `make demo` builds
# first; this script builds nothing.
#
#   scripts/demo.sh                  5 s per benchmark phase
#   DEMO_SECONDS=2 scripts/demo.sh   shorter
#   KEEP=1 scripts/demo.sh           keep the temporary folder (logs, data)
#
# Everything lives in a temporary folder; the nodes are stopped when the
# script ends, however it ends.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-build}
SECONDS_PER_PHASE=${DEMO_SECONDS:-5}
LUN=demo
LUN_SIZE=256M

for b in spanblkd spanblkctl spanblk-bench; do
	if [ ! -x "$BIN/$b" ]; then
		echo "demo: $BIN/$b is missing; run 'make demo' (it builds first)" >&2
		exit 1
	fi
done

# shellcheck source=scripts/lib/cluster.sh
. scripts/lib/cluster.sh

DIR=$(mktemp -d "${TMPDIR:-/tmp}/spanblk-demo-XXXXXX")
cleanup() {
	local rc=$?
	sbc_stop
	if [ "${KEEP:-0}" = 1 ]; then
		echo "demo: kept $DIR"
	else
		rm -rf "$DIR"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() {
	printf '\n\033[1m==> %s\033[0m\n' "$*"
}

run() { # show the command, then run it
	printf '$ %s\n' "$*"
	"$@"
}

step "Starting three storage nodes (spanblkd) on 127.0.0.1 in $DIR"
echo "Each node stores the chunks placement gives it in sparse files under"
echo "its own data folder. The cluster file says where the nodes are, how"
echo "many copies of each chunk to keep (2) and how big a chunk is (1 MiB)."
sbc_start "$DIR" 3 2 1048576
echo
cat "$SBC_CONF"

CTL=("$BIN/spanblkctl" -c "$SBC_CONF")
BENCH=("$BIN/spanblk-bench" -c "$SBC_CONF" --lun "$LUN" --time "$SECONDS_PER_PHASE")

step "Cluster status: every node up, no LUNs yet"
run "${CTL[@]}" status

step "Creating LUN '$LUN' of $LUN_SIZE (on every node; data is spread by chunk)"
run "${CTL[@]}" lun create "$LUN" "$LUN_SIZE"

step "Writing: 4 KiB random writes, 32 in flight, ${SECONDS_PER_PHASE} s"
echo "Every write goes to both replicas of its chunk and completes when both"
echo "have acknowledged it."
run "${BENCH[@]}" --rw randwrite --bs 4k --qd 32

step "Writing: 1 MiB sequential writes, 8 in flight, ${SECONDS_PER_PHASE} s"
run "${BENCH[@]}" --rw write --bs 1M --qd 8

step "Reading: 4 KiB random reads, 32 in flight, ${SECONDS_PER_PHASE} s"
echo "A read goes to one replica (and fails over to the other if needed)."
run "${BENCH[@]}" --rw randread --bs 4k --qd 32

step "Reading: 1 MiB sequential reads, 8 in flight, ${SECONDS_PER_PHASE} s"
run "${BENCH[@]}" --rw read --bs 1M --qd 8

step "Cluster status again: bytes stored per node (two copies of everything)"
run "${CTL[@]}" status

step "Per-node counters"
run "${CTL[@]}" counters

step "Stopping the nodes"
sbc_stop
echo "done. Next: docs/tools.md for spanblkctl and spanblk-bench."
