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
#   durable: the 4 KiB random and 1 MiB sequential writes plain, with
#            --fua and with --flush-every FLUSH_EVERY (default 32), each
#            round running the three back to back (the order rotating),
#            DSECS seconds each (default 5); ratios to the plain run of
#            the same round. On the nodes' data folder (the file system
#            of TMPDIR, default /var/tmp) and again on a second cluster
#            in DURABLE_TMPFS (default /dev/shm) when that is a tmpfs,
#            where fdatasync costs next to nothing. DURABLE=0 skips it.
# Each measurement runs ROUNDS times (default 3); medians are reported.
# The whole run takes about 10 minutes (SECS=8, DSECS=5, ROUNDS=3).
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
DSECS=${DSECS:-5}
FLUSH_EVERY=${FLUSH_EVERY:-32}
DURABLE=${DURABLE:-1}
DURABLE_TMPFS=${DURABLE_TMPFS-/dev/shm}
mkdir -p "$OUT"
# shellcheck source=scripts/lib/cluster.sh
. scripts/lib/cluster.sh

DIR=$(mktemp -d "${TMPDIR:-/var/tmp}/spanblk-bench-XXXXXX")
TDIR=
IPERF_PID=
cleanup() {
	sbc_stop
	[ -n "$IPERF_PID" ] && kill "$IPERF_PID" 2>/dev/null
	rm -rf "$DIR"
	[ -z "$TDIR" ] || rm -rf "$TDIR"
}
trap cleanup EXIT

HZ=$(getconf CLK_TCK)
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
field() { sed -nE "s/.*[ ]$1=([^ ]+).*/\1/p"; }
log() { echo "$*" | tee -a "$OUT/results.txt"; }
: >"$OUT/results.txt"

log "# spanblk benchmark $(date -u +%F) on $(nproc) cores, kernel $(uname -r)"
log "# rounds=$ROUNDS seconds=$SECS; medians of the rounds"
log "# data folder $DIR on $(findmnt -nf -o FSTYPE -T "$DIR")"

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
			sed -n 1,8p | sed 's/ *$//' | tee -a "$OUT/results.txt"
		log "perf: $rw $bs, top symbols"
		perf report -i "$OUT/perf-$rw.data" --no-children --stdio \
			--sort comm,symbol 2>/dev/null | grep -E '^ +[0-9.]+%' |
			sed -n 1,8p | sed 's/ *- *- *$//' | tee -a "$OUT/results.txt"
	done
fi

# ---- durable writes --------------------------------------------------------
# durable_rows FS: on the cluster of SBC_CONF (LUN bench written once),
# 4 KiB random and 1 MiB sequential writes at QD 32: plain, --fua and
# --flush-every FLUSH_EVERY back to back in each round, the first of the
# three rotating with the round. Per variant: medians of IOPS, MiB/s,
# write latency, FLUSH count and latency over the rounds, and the median
# of the per-round ratio of its IOPS to the plain run's.
# dmed KEY: the median of the words of V[KEY] (durable_rows' values).
dmed() { tr ' ' '\n' <<<"${V[$1]}" | grep . | median; }

durable_rows() {
	local fs=$1 spec rw bs qd r k v f line ios
	local vs=(none fua "flush$FLUSH_EVERY")
	local -A V=()
	for spec in randwrite:4k:32 write:1M:32; do
		IFS=: read -r rw bs qd <<<"$spec"
		V=()
		for r in $(seq "$ROUNDS"); do
			for k in 0 1 2; do
				v=${vs[$(((k + r) % 3))]}
				case $v in
				none) set -- ;;
				fua) set -- --fua ;;
				*) set -- --flush-every "$FLUSH_EVERY" ;;
				esac
				line=$(sbc_bench_one "$rw" "$bs" "$qd" "$DSECS" "$@")
				echo "durable fs=$fs round=$r $line" >>"$OUT/raw.txt"
				ios=$(echo " $line" | field ios)
				if [ "$(echo " $line" | field errors)" != 0 ] ||
					[ "${ios:-0}" -eq 0 ]; then
					echo "durable $fs $rw $v: $line" >&2
					return 1
				fi
				for f in iops mib_s lat_p50_us lat_p99_us flushes \
					flush_p50_us flush_p99_us; do
					V[$v.$f]+="$(echo " $line" | field "$f") "
				done
				V[$v.$r]=$(echo " $line" | field iops)
			done
			for v in "${vs[@]}"; do
				V[$v.ratio]+="$(awk -v a="${V[$v.$r]}" -v b="${V[none.$r]}" \
					'BEGIN {printf "%.3f", a / b}') "
			done
		done
		for v in "${vs[@]}"; do
			log "durable_${fs}_${rw}_${bs}_qd${qd}_${v}: iops=$(dmed "$v.iops") mib_s=$(dmed "$v.mib_s") p50_us=$(dmed "$v.lat_p50_us") p99_us=$(dmed "$v.lat_p99_us") ratio=$(dmed "$v.ratio") flushes=$(dmed "$v.flushes") flush_p50_us=$(dmed "$v.flush_p50_us") flush_p99_us=$(dmed "$v.flush_p99_us")"
		done
	done
}

if [ "$DURABLE" = 1 ]; then
	log ""
	log "durable writes: plain, --fua, --flush-every $FLUSH_EVERY; rounds=$ROUNDS seconds=$DSECS; ratio = IOPS / the plain run's in the same round"
	log "# load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
	fs=$(findmnt -nf -o FSTYPE -T "$DIR")
	log "# data folder $DIR on $fs ($(findmnt -nf -o SOURCE -T "$DIR"))"
	durable_rows "$fs"
	sbc_stop
	if [ -n "$DURABLE_TMPFS" ] &&
		[ "$(findmnt -nf -o FSTYPE -T "$DURABLE_TMPFS")" = tmpfs ]; then
		TDIR=$(mktemp -d "$DURABLE_TMPFS/spanblk-bench-XXXXXX")
		sbc_start "$TDIR/cluster" 3 2 1M 64
		"$BIN/spanblkctl" -c "$SBC_CONF" lun create bench 1G >/dev/null
		"$BIN/spanblk-bench" -c "$SBC_CONF" --lun bench --rw write \
			--bs 1M --qd 8 --time 0.1 --prefill >/dev/null
		log "# data folder $TDIR on tmpfs: fdatasync and RWF_DSYNC cost next to nothing"
		durable_rows tmpfs
		sbc_stop
	else
		log "# no tmpfs at DURABLE_TMPFS='$DURABLE_TMPFS': the tmpfs rows skipped"
	fi
	log "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
fi
