#!/usr/bin/env bash
# Builds the RDMA tables of docs/benchmarks.md (section 3) from a
# run of tests/vm/scenarios/rdma_bench.sh (`scripts/bench-vm.sh
# rdma_bench`):
#
#   scripts/rdma-bench-table.sh [--update DOC] RESULTS
#
# RESULTS is build/vm/rdma_bench/results (or a copy of it): bench.txt
# ("KEY VALUE" lines: perftest, iperf3, spanblk-bench with RDMA and TCP
# payload, its copy counters), iscsi-runs.txt (one key=value line per fio
# run over iSCSI: round= backend= job= iops= mib_s= ...), and
# host-load.txt when scripts/bench-vm.sh ran the guest.
#
# Prints, in Markdown: spanblk-bench with RDMA payload against TCP payload
# (throughput, CPU seconds per GiB); the limits on the same link (perftest,
# iperf3) and spanblk's ratios to them; the gateway's copy to and from the
# RDMA pool; fio over iSCSI on the RDMA path, the TCP path and LIO fileio
# (medians of the rounds, ratios to fileio); the aims (RDMA payload at
# >= 80% of perftest, with less CPU per GiB than TCP), checked. The
# tables are scripts/tables.py's.
#
# --update DOC replaces the text between the lines
#   <!-- rdma-bench-table: begin --> and <!-- rdma-bench-table: end -->
# of DOC with the tables (the rest of DOC is kept).
# Exit status: 0, 1 when RESULTS lacks bench.txt or a run reports I/O
# errors, 2 for usage errors.
set -eu
doc=
while [ $# -gt 1 ]; do
	case $1 in
	--update)
		doc=$2
		shift 2
		;;
	*) break ;;
	esac
done
if [ $# -ne 1 ] || [ ! -f "$1/bench.txt" ]; then
	echo "usage: $0 [--update DOC] RESULTS_DIR (with bench.txt)" >&2
	exit 2
fi
exec python3 "$(dirname "$0")/tables.py" rdma-bench "$1" "$doc"
