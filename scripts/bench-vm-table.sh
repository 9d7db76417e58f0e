#!/usr/bin/env bash
# Builds the guest benchmark's tables of docs/benchmarks.md from a run of
# tests/vm/scenarios/bench_guest.sh (`make bench-vm`):
#
#   scripts/bench-vm-table.sh [--update DOC] RESULTS
#
# RESULTS is build/vm/bench_guest/results/bench (or a copy of it):
# RESULTS/runs.txt, one line of key=value per round, backend and job
# (round= backend= job= iops= mb_s= lat_p50_us= lat_p99_us= errors=
# guest_busy_pct= tcmu_cpu_pct= nodes_cpu_pct= client_cpu_pct= ...),
# RESULTS/versions.txt, and RESULTS/host-load.txt when scripts/bench-vm.sh
# ran the guest (the host's `uptime` before and after, load samples).
#
# Prints, in Markdown: the medians of the rounds for spanblk, LIO fileio
# and user:qcow with their ratios to fileio; the gateway efficiency (fio
# over iSCSI on spanblk / spanblk-bench on the same cluster); every
# round's figure with CPU use; and which of the aims the run meets
# (spanblk >= 50% of fileio at 1 MiB, ahead of user:qcow, a gateway
# efficiency far above Ceph's). The tables are scripts/tables.py's.
#
# --update DOC replaces the text between the lines
#   <!-- bench-vm-table: begin --> and <!-- bench-vm-table: end -->
# of DOC with the tables (the rest of DOC is kept).
# Exit status: 0, 1 when RESULTS holds no complete run or a run reports
# I/O errors, 2 for usage errors.
set -eu
doc=
while [ $# -gt 1 ]; do
	case $1 in
	--update) doc=$2; shift 2 ;;
	*) break ;;
	esac
done
if [ $# -ne 1 ] || [ ! -f "$1/runs.txt" ]; then
	echo "usage: $0 [--update DOC] RESULTS_DIR (with runs.txt)" >&2
	exit 2
fi
exec python3 "$(dirname "$0")/tables.py" bench-vm "$1" "$doc"
