#!/usr/bin/env bash
# `make bench-vm`: the guest benchmark of docs/benchmarks.md (section 2).
# Boots the guest once for tests/vm/scenarios/bench_guest.sh (spanblk, LIO
# fileio and user:qcow over iSCSI, and spanblk-bench, in one boot), notes
# the host's load before, during and after (the guest shares the host's
# cores with whatever else runs), reports the guest's perf samples
# (results/bench/perf/*.report.txt), then prints the tables of
# scripts/bench-vm-table.sh.
#
# `scripts/bench-vm.sh rdma_bench` does the same for section 3 (RDMA):
# tests/vm/scenarios/rdma_bench.sh, results in build/vm/rdma_bench/results,
# tables by scripts/rdma-bench-table.sh.
#
#   sudo scripts/bench-vm.sh                  results in build/vm/bench_guest/
#   sudo scripts/bench-vm.sh rdma_bench       results in build/vm/rdma_bench/
#   SBVM_BENCH_ROUNDS=5 sudo -E scripts/bench-vm.sh
#   scripts/bench-vm-table.sh --update docs/benchmarks.md \
#       build/vm/bench_guest/results/bench    record a run in the doc
#
# BENCH_VM_TIMEOUT (default 2400) is the guest's limit in seconds;
# SBVM_BENCH_*, SBVM_RDMA_BENCH_* (see the scenarios) and SBVM_MEM,
# SBVM_SMP reach the guest. BENCH_VM_RUN (default tests/vm/run.sh) is the
# command that boots it (same arguments; e.g. a wrapper that waits for a
# free guest slot on a shared machine).
set -u
cd "$(dirname "$0")/.." || exit 2
scenario=${1:-bench_guest}
case $scenario in
bench_guest) ;;
rdma_bench) ;;
*)
	echo "usage: $0 [bench_guest|rdma_bench]" >&2
	exit 2
	;;
esac
timeout=${BENCH_VM_TIMEOUT:-2400}
out=${SBVM_OUT_DIR:-build/vm/$scenario}
load=$(mktemp) || exit 2
samples=$(mktemp) || exit 2
trap 'rm -f "$load" "$samples"' EXIT

echo "before: $(date -u +%T) UTC, uptime:$(uptime)" >"$load"
# The 1-minute load every 30 s while the guest runs.
(while sleep 30; do
	echo "$(date -u +%T) $(cut -d' ' -f1-3 /proc/loadavg)"
done) >"$samples" &
sampler=$!
${BENCH_VM_RUN:-tests/vm/run.sh} "$scenario" "$timeout"
rc=$?
kill "$sampler" 2>/dev/null
wait "$sampler" 2>/dev/null
echo "after:  $(date -u +%T) UTC, uptime:$(uptime)" >>"$load"
awk '{ print $2 }' "$samples" | sort -g | awk '{ v[NR] = $1 } END {
	if (!NR) exit
	printf "during: 1-min load every 30 s, %d samples: min %.2f, median %.2f, max %.2f\n",
	    NR, v[1], v[int((NR + 1) / 2)], v[NR] }' >>"$load"

res=$out/results/bench
[ "$scenario" = rdma_bench ] && res=$out/results
if [ -d "$res" ]; then
	cp "$load" "$res/host-load.txt"
	cp "$samples" "$res/host-load-samples.txt"
fi
cat "$load"
# The guest's perf samples (SBVM_BENCH_PERF=1), reported here: by
# process and object, then by symbol, with the guest's kallsyms.
for data in "$res"/perf/*.data; do
	if [ ! -s "$data" ] || ! command -v perf >/dev/null; then
		continue
	fi
	{
		echo "# $(basename "$data" .data): whole guest, by process and object"
		perf report -i "$data" --kallsyms="$res/perf/kallsyms" \
			--no-children --stdio --sort comm,dso 2>/dev/null |
			grep -E '^ +[0-9.]+%' | sed 's/ *$//' | head -n 20
		echo "# $(basename "$data" .data): top symbols"
		perf report -i "$data" --kallsyms="$res/perf/kallsyms" \
			--no-children --stdio --sort comm,dso,symbol 2>/dev/null |
			grep -E '^ +[0-9.]+%' | sed 's/ *- *- *$//; s/ *$//' |
			head -n 30
	} >"${data%.data}.report.txt"
done
if [ "$rc" -eq 0 ] && [ "$scenario" = rdma_bench ]; then
	scripts/rdma-bench-table.sh "$res" || rc=1
elif [ "$rc" -eq 0 ]; then
	scripts/bench-vm-table.sh "$res" || rc=1
fi
exit "$rc"
