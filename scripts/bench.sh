#!/usr/bin/env bash
# The benchmark of docs/benchmarks.md, all in one run so the ratios compare
# like with like on a noisy machine:
#   limits:  iperf3 single stream over 127.0.0.1 (throughput ceiling),
#            fio on a local file, same filesystem as the nodes' data
#            (IOPS and throughput ceiling)
#   spanblk: three spanblkd on 127.0.0.1, replicas 2, chunk 1 MiB,
#            spanblk-bench 4 KiB random read/write at QD 32 and 1 MiB
#            sequential read/write, with CPU seconds of nodes + benchmark
#   perf:    where the time goes during 4 KiB random writes
# Each measurement runs ROUNDS times (default 3); medians are reported.
#
#   scripts/bench.sh                 write results to stdout and
#                                    build/bench/results.txt
#   ROUNDS=5 SECS=10 scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-build}
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-8}
OUT=${OUT:-build/bench}
mkdir -p "$OUT"
# shellcheck source=scripts/lib/cluster.sh
. scripts/lib/cluster.sh

DIR=$(mktemp -d "${TMPDIR:-/var/tmp}/spanblk-bench-XXXXXX")
IPERF_PID=
cleanup() {
	sbc_stop
	[ -n "$IPERF_PID" ] && kill "$IPERF_PID" 2>/dev/null
	rm -rf "$DIR"
}
trap cleanup EXIT

HZ=$(getconf CLK_TCK)
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
field() { sed -nE "s/.*[ ]$1=([^ ]+).*/\1/p"; }
log() { echo "$*" | tee -a "$OUT/results.txt"; }
: >"$OUT/results.txt"

log "# spanblk benchmark $(date -u +%F) on $(nproc) cores, kernel $(uname -r)"
log "# rounds=$ROUNDS seconds=$SECS; medians of the rounds"

# ---- limits: iperf3 --------------------------------------------------------
port=$((30000 + RANDOM % 20000))
iperf3 -s -p "$port" >/dev/null 2>&1 &
IPERF_PID=$!
sleep 0.5
v=()
for _ in $(seq "$ROUNDS"); do
	v+=("$(iperf3 -c 127.0.0.1 -p "$port" -t "$SECS" -J |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"]/8/2**20)')")
done
kill "$IPERF_PID" 2>/dev/null
IPERF_PID=
IPERF_MIB=$(printf '%s\n' "${v[@]}" | median)
log "iperf3_single_stream_mib_s=$IPERF_MIB"

# ---- limits: fio on a local file -------------------------------------------
fio_one() { # rw bs [direct] -> iops and MiB/s of one run ("iops mib")
	fio --name=lim --filename="$DIR/fio.dat" --size=1G --rw="$1" \
		--bs="$2" --iodepth=32 --ioengine=io_uring --direct="${3:-0}" \
		--time_based --runtime="$SECS" --group_reporting \
		--output-format=json 2>/dev/null |
		python3 -c 'import json,sys
j=json.load(sys.stdin)["jobs"][0]
k="read" if j["read"]["io_bytes"] else "write"
print(j[k]["iops"], j[k]["bw_bytes"]/2**20)'
}
# Lay the file out once so reads hit data.
fio --name=fill --filename="$DIR/fio.dat" --size=1G --rw=write --bs=1M \
	--ioengine=sync --output-format=terse >/dev/null 2>&1
declare -A LIM
for spec in randwrite:4k randread:4k write:1M read:1M; do
	rw=${spec%:*}
	bs=${spec#*:}
	iops=()
	mib=()
	for _ in $(seq "$ROUNDS"); do
		read -r a b < <(fio_one "$rw" "$bs")
		iops+=("$a")
		mib+=("$b")
	done
	LIM[$rw.iops]=$(printf '%s\n' "${iops[@]}" | median)
	LIM[$rw.mib]=$(printf '%s\n' "${mib[@]}" | median)
	log "fio_local_${rw}_${bs}: iops=${LIM[$rw.iops]} mib_s=${LIM[$rw.mib]}"
done
# The nodes write with O_DIRECT and keep every replica on this one disk:
# the disk's direct bandwidth divided by the replica count bounds
# replicated 1 MiB writes.
for rw in write read; do
	mib=()
	for _ in $(seq "$ROUNDS"); do
		read -r _ b < <(fio_one "$rw" 1M 1)
		mib+=("$b")
	done
	LIM[$rw.direct]=$(printf '%s\n' "${mib[@]}" | median)
	log "fio_local_direct_${rw}_1M: mib_s=${LIM[$rw.direct]}"
done
rm -f "$DIR/fio.dat"

# ---- spanblk ---------------------------------------------------------------
sbc_start "$DIR/cluster" 3 2 1M 64
CONF=$SBC_CONF
"$BIN/spanblkctl" -c "$CONF" lun create bench 1G >/dev/null
# Write the whole LUN once so reads find data on every replica.
"$BIN/spanblk-bench" -c "$CONF" --lun bench --rw write --bs 1M --qd 8 \
	--time 0.1 --prefill >/dev/null


declare -A SB
for spec in randwrite:4k:32 randread:4k:32 write:1M:32 read:1M:32; do
	IFS=: read -r rw bs qd <<<"$spec"
	iops=()
	mib=()
	cpu=()
	p50=()
	p99=()
	for _ in $(seq "$ROUNDS"); do
		line=$(sbc_bench_one "$rw" "$bs" "$qd" "$SECS")
		echo "$line" >>"$OUT/raw.txt"
		ios=$(echo " $line" | field ios)
		bt=$(echo " $line" | field bench_ticks)
		nt=$(echo " $line" | field node_ticks)
		iops+=("$(echo " $line" | field iops)")
		mib+=("$(echo " $line" | field mib_s)")
		p50+=("$(echo " $line" | field lat_p50_us)")
		p99+=("$(echo " $line" | field lat_p99_us)")
		cpu+=("$(awk -v b="$bt" -v n="$nt" -v hz="$HZ" -v io="$ios" \
			'BEGIN {print (b + n) / hz / io * 100000}')")
	done
	SB[$rw.iops]=$(printf '%s\n' "${iops[@]}" | median)
	SB[$rw.mib]=$(printf '%s\n' "${mib[@]}" | median)
	SB[$rw.cpu]=$(printf '%s\n' "${cpu[@]}" | median)
	log "spanblk_${rw}_${bs}_qd${qd}: iops=${SB[$rw.iops]} mib_s=${SB[$rw.mib]} cpu_s_per_100k=${SB[$rw.cpu]} p50_us=$(printf '%s\n' "${p50[@]}" | median) p99_us=$(printf '%s\n' "${p99[@]}" | median)"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
log ""
log "ratios (spanblk / limit measured in this run):"
log "  4k randwrite IOPS / fio local:    $(ratio "${SB[randwrite.iops]}" "${LIM[randwrite.iops]}")"
log "  4k randread IOPS / fio local:     $(ratio "${SB[randread.iops]}" "${LIM[randread.iops]}")"
log "  1M write MiB/s / iperf3 stream:   $(ratio "${SB[write.mib]}" "$IPERF_MIB")"
log "  1M read MiB/s / iperf3 stream:    $(ratio "${SB[read.mib]}" "$IPERF_MIB")"
log "  1M write MiB/s / fio local write: $(ratio "${SB[write.mib]}" "${LIM[write.mib]}")"
log "  1M read MiB/s / fio local read:   $(ratio "${SB[read.mib]}" "${LIM[read.mib]}")"
log "  1M write MiB/s x 2 replicas / fio direct write: $(ratio "$(awk -v a="${SB[write.mib]}" 'BEGIN {print 2 * a}')" "${LIM[write.direct]}")"
log "  1M read MiB/s / fio direct read:  $(ratio "${SB[read.mib]}" "${LIM[read.direct]}")"

# ---- perf: where the time goes ---------------------------------------------
# System-wide (nodes, benchmark, kernel threads, idle), by process and
# library, then by symbol.
if command -v perf >/dev/null && [ "${PERF:-1}" = 1 ]; then
	for spec in randwrite:4k write:1M read:1M; do
		rw=${spec%:*}
		bs=${spec#*:}
		perf record -q -a -g -F 499 -o "$OUT/perf-$rw.data" -- \
			"$BIN/spanblk-bench" -c "$CONF" --lun bench --rw "$rw" \
			--bs "$bs" --qd 32 --time "$SECS" >/dev/null 2>&1 || continue
		log ""
		log "perf: $rw $bs, whole machine, by process and library"
		perf report -i "$OUT/perf-$rw.data" --no-children --stdio \
			--sort comm,dso 2>/dev/null | grep -E '^ +[0-9.]+%' |
			head -n 8 | sed 's/ *$//' | tee -a "$OUT/results.txt"
		log "perf: $rw $bs, top symbols"
		perf report -i "$OUT/perf-$rw.data" --no-children --stdio \
			--sort comm,symbol 2>/dev/null | grep -E '^ +[0-9.]+%' |
			head -n 8 | sed 's/ *- *- *$//' | tee -a "$OUT/results.txt"
	done
fi
